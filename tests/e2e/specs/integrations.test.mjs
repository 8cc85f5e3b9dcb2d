// The Integrations monitor against a real Airflow: tests/e2e/run.sh starts Airflow 2.10.5 from
// PyPI with the project's DAGs (infra/airflow/dags, via tests/airflow/lib.sh) and points the
// server at it with CDP_AIRFLOW_*. The project's three DAGs appear as cards, paused (Airflow
// pauses new DAGs); "Refresh now" on cdp_users_load starts a run that waits, queued, while the
// DAG is paused; once the DAG is unpaused in Airflow (the CDP itself never pauses or
// unpauses), the card, which the page polls on its own, shows the same run running and then
// succeeded; the DAG is then paused again. The run is real: it loads the e2e database's users
// (the seeded ones, standing in for the marketplace's snapshot) through cdp_etl.
// Screenshots go to screenshots/integrations-*.png.
//
//   CDP_E2E_AIRFLOW_URL=http://127.0.0.1:8081 CDP_E2E_AIRFLOW_USERNAME=… CDP_E2E_AIRFLOW_PASSWORD=…
//   (Airflow's REST API v1, basic auth: the user the server signs in as; only used to unpause.)
//
// Skipped with the reason when those are not set (run.sh with CDP_E2E_AIRFLOW=0).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "../lib/browser.mjs";
import { assertNoPageErrors, config, pageScreenshot as screenshot, settled, signedInAdmin, uniqueSuffix } from "../lib/app.mjs";

const cfg = config();
const airflow = {
  url: process.env.CDP_E2E_AIRFLOW_URL?.replace(/\/+$/, ""),
  username: process.env.CDP_E2E_AIRFLOW_USERNAME,
  password: process.env.CDP_E2E_AIRFLOW_PASSWORD,
};
const airflowMissing = [
  !airflow.url && "CDP_E2E_AIRFLOW_URL",
  !airflow.username && "CDP_E2E_AIRFLOW_USERNAME",
  !airflow.password && "CDP_E2E_AIRFLOW_PASSWORD",
].filter(Boolean);
const skip =
  cfg.missing.length > 0
    ? `set ${cfg.missing.join(", ")} to run the e2e tests`
    : airflowMissing.length > 0
      ? `set ${airflowMissing.join(", ")} (a live Airflow, as tests/e2e/run.sh starts) to run the Integrations tests`
      : false;

const PROJECT_DAGS = ["cdp_activity_export", "cdp_identities_refresh", "cdp_users_load"];
const DAG = "cdp_users_load";
// Airflow parses the DAG folder on start; the scheduler of a busy machine can take a while.
const DAGS_LISTED_MS = 120_000;
// Four tasks, one after the other (SequentialExecutor on SQLite), each a new Python process.
const RUN_FINISHED_MS = 240_000;

/** Pauses or unpauses a DAG through Airflow's own REST API (PATCH /api/v1/dags/{id}). */
async function setPaused(dagId, paused) {
  const res = await fetch(`${airflow.url}/api/v1/dags/${dagId}?update_mask=is_paused`, {
    method: "PATCH",
    headers: {
      authorization: `Basic ${Buffer.from(`${airflow.username}:${airflow.password}`).toString("base64")}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ is_paused: paused }),
  });
  const body = await res.text();
  assert.equal(res.status, 200, `Airflow ${paused ? "paused" : "unpaused"} ${dagId}: ${body}`);
  assert.equal(JSON.parse(body).is_paused, paused);
}

/** The card of one DAG on the Integrations page. */
function dagCard(page, dagId) {
  return page
    .getByRole("listitem")
    .filter({ has: page.getByRole("heading", { name: dagId, exact: true }) });
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

describe("CDP web client: integrations with a live Airflow", { skip, concurrency: 1 }, () => {
  let browser;
  let admin;
  let listed = false;
  let runId = "";
  let unpaused = false;
  const suffix = uniqueSuffix();

  before(async () => {
    browser = await launchBrowser();
    admin = await signedInAdmin(browser, cfg);
  });

  after(async () => {
    // Leave the DAG as Airflow made it: paused, so nothing else runs it.
    if (unpaused) await setPaused(DAG, true).catch(() => {});
    await browser?.close();
  });

  test("the project's DAGs are cards, paused, and Airflow is healthy", async () => {
    const { page } = admin;
    await page.goto("/integrations");
    await page.getByRole("heading", { name: "Integrations", level: 1 }).waitFor();
    await settled(page);
    // Until the scheduler has parsed the DAG folder Airflow lists none: ask again, bounded.
    const deadline = Date.now() + DAGS_LISTED_MS;
    for (;;) {
      const shown = await Promise.all(PROJECT_DAGS.map((id) => dagCard(page, id).count()));
      if (shown.every((n) => n === 1)) break;
      assert.ok(Date.now() < deadline, `the three project DAGs within ${DAGS_LISTED_MS / 1000} s (cards: ${shown})`);
      await page.waitForTimeout(2_000);
      await page.getByRole("button", { name: "Check now" }).click();
      await settled(page);
    }
    listed = true;

    const airflowHealth = page
      .getByRole("list", { name: "Integration health" })
      .getByRole("listitem")
      .filter({ has: page.getByRole("heading", { name: "Airflow", exact: true }) });
    await airflowHealth.getByText("Healthy", { exact: true }).waitFor();

    for (const id of PROJECT_DAGS) {
      const card = dagCard(page, id);
      await card.getByText("Paused", { exact: true }).first().waitFor();
      await card.getByText("Owner: cdp").waitFor();
      // The admin may trigger runs (integrations.trigger): every card offers it.
      await card.getByRole("button", { name: "Refresh now" }).waitFor();
    }
    const users = dagCard(page, DAG);
    await users.getByText("public.users").first().waitFor();
    await users.getByText("0 3 * * *", { exact: true }).waitFor();
    await users.getByText("A run stays queued until the DAG is unpaused.").waitFor();
    await screenshot(page, "integrations-dags");
  });

  test("Refresh now starts a run that waits, queued, while the DAG is paused", async (t) => {
    if (!listed) return t.skip("needs the DAG cards of the previous test");
    const { page } = admin;
    const card = dagCard(page, DAG);
    await card.getByRole("button", { name: "Refresh now" }).click();
    const dialog = page.getByRole("dialog", { name: `Refresh ${DAG} now` });
    await dialog.waitFor();
    await dialog.getByText("The DAG is paused, so the run waits in the queue").waitFor();
    await dialog.getByLabel("Reason (optional)").fill(`Started by the e2e suite (${suffix})`);
    await screenshot(page, "integrations-refresh-dialog");
    await dialog.getByRole("button", { name: "Start run" }).click();

    // Feedback: a toast with the new run's id, then the card follows that run.
    const toast = page.getByRole("status").filter({ hasText: `${DAG}: run queued` });
    await toast.waitFor();
    runId = (await toast.locator("p").nth(1).innerText()).trim();
    assert.match(runId, /^manual__/, `a manual run id in the toast (saw "${runId}")`);
    await dialog.waitFor({ state: "detached" });
    await card.getByRole("img", { name: `${runId}: Queued`, exact: true }).waitFor();
    await screenshot(page, "integrations-run-queued", { keepToasts: true });

    // Paused, it stays queued: still so after the page's next polls (every 5 s while active).
    await page.waitForTimeout(6_000);
    await card.getByRole("img", { name: `${runId}: Queued`, exact: true }).waitFor({ timeout: 1_000 });
    await card.getByText("Paused", { exact: true }).first().waitFor({ timeout: 1_000 });
  });

  test("unpaused in Airflow, the run goes running then succeeded as the page polls", async (t) => {
    if (!runId) return t.skip("needs the run of the previous test");
    const { page } = admin;
    const card = dagCard(page, DAG);
    const tick = card.getByRole("img", { name: new RegExp(`^${escapeRegExp(runId)}: `) });
    const navigations = [];
    page.on("framenavigated", (frame) => frame === page.mainFrame() && navigations.push(frame.url()));

    await setPaused(DAG, false);
    unpaused = true;
    const seen = [];
    const deadline = Date.now() + RUN_FINISHED_MS;
    for (;;) {
      const label = await tick.getAttribute("aria-label", { timeout: 5_000 });
      const state = label.slice(runId.length + 2);
      if (seen.at(-1) !== state) seen.push(state);
      if (state === "Succeeded" || state === "Failed") break;
      assert.ok(Date.now() < deadline, `run ${runId} finished within ${RUN_FINISHED_MS / 1000} s (states seen: ${seen.join(" → ")})`);
      await page.waitForTimeout(250);
    }
    t.diagnostic(`states seen on the card: ${seen.join(" → ")}`);
    assert.deepEqual(navigations, [], "the page followed the run without a reload");
    assert.equal(seen[0], "Queued");
    assert.ok(seen.includes("Running"), `the card showed the run running (states seen: ${seen.join(" → ")})`);
    assert.equal(seen.at(-1), "Succeeded", `the run succeeded in Airflow (states seen: ${seen.join(" → ")})`);

    // The card's headline follows the run, the DAG is no longer paused, and it has synced.
    await card.getByText("Succeeded", { exact: true }).first().waitFor();
    await card.getByText("A run stays queued until the DAG is unpaused.").waitFor({ state: "detached" });
    assert.equal(await card.getByText("Never synced: no successful run yet.").count(), 0, "the card has a last sync");

    // Paused again in Airflow (as found, so the scheduler starts nothing else): "Check now" shows it.
    await setPaused(DAG, true);
    unpaused = false;
    await page.getByRole("button", { name: "Check now" }).click();
    await card.getByText("Paused", { exact: true }).first().waitFor();
    await card.getByRole("img", { name: `${runId}: Succeeded`, exact: true }).waitFor();
    await settled(page);
    await screenshot(page, "integrations-run-succeeded");
    assertNoPageErrors(admin);
  });
});
