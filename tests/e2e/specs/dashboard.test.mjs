// The dashboard against a running CDP server: KPI cards with previous-period deltas and their
// definitions, the time presets and a custom calendar range kept in the URL, the bucket
// selector, the attribute distribution's field picker, and the drill-down from a top segment
// to the user explorer with that segment's condition tree (the explorer's count must be the
// segment's size). Screenshots go to screenshots/dashboard-*.png.
//
// A server whose DashboardService is not implemented yet answers UNIMPLEMENTED; the page then
// says so and these tests are skipped with that reason.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "../lib/browser.mjs";
import { assertNoPageErrors, config, pageScreenshot as screenshot, settled, signedInAdmin } from "../lib/app.mjs";

const cfg = config();
const { skip } = cfg;

/** The page's plain "not available on this server yet" state (a service answering UNIMPLEMENTED). */
async function notAvailable(page) {
  return page
    .getByText("not available on this server yet")
    .first()
    .isVisible()
    .catch(() => false);
}

/** "1,234" → 1234. */
function count(text) {
  const digits = String(text).replace(/[^\d]/g, "");
  assert.ok(digits.length > 0, `a number in "${text}"`);
  return Number(digits);
}

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

describe("CDP web client: dashboard", { skip, concurrency: 1 }, () => {
  let browser;
  let admin;
  let missing = "";

  before(async () => {
    browser = await launchBrowser();
    admin = await signedInAdmin(browser, cfg);
    await admin.page.goto("/dashboard");
    await admin.page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await settled(admin.page);
    if (await notAvailable(admin.page)) missing = "DashboardService is not implemented on this server yet";
  });

  after(async () => {
    await browser?.close();
  });

  test("KPI cards show the previous period and each metric's definition", async (t) => {
    if (missing) return t.skip(missing);
    const { page } = admin;
    const cards = page.locator('[data-testid^="kpi-"]');
    await cards.first().waitFor();
    assert.ok((await cards.count()) >= 6, "the lifecycle KPIs are shown");
    for (const name of ["DAU", "WAU", "MAU"]) {
      const card = page.getByRole("region", { name, exact: true });
      await card.waitFor();
      const definition = await card.getByRole("tooltip").innerText();
      assert.ok(definition.trim().length > 10, `${name} has a definition from the server (saw "${definition}")`);
    }
    // Every card compares with the previous period (a change, or "No previous data").
    const firstText = await cards.first().innerText();
    assert.match(firstText, /vs |No previous data|%/);
    // The definition shows on hover.
    const dau = page.getByRole("region", { name: "DAU", exact: true });
    await dau.getByRole("button", { name: "What DAU means" }).hover();
    await page.waitForTimeout(200);
    await screenshot(page, "dashboard-overview", { keepHover: true });
  });

  test("quick presets, a custom calendar range and the bucket live in the URL", async (t) => {
    if (missing) return t.skip(missing);
    const { page } = admin;
    await page.getByRole("button", { name: /Last 30 days/ }).click();
    await page.getByRole("dialog", { name: "Choose dates" }).getByRole("button", { name: "Last 7 days" }).click();
    await page.waitForURL(/range=last_7_days/);
    await settled(page);
    await page.getByRole("button", { name: /Last 7 days/ }).waitFor();

    // A custom range: the first and last day picked on the calendar.
    const today = new Date();
    const first = isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 20));
    const last = isoDay(new Date(today.getFullYear(), today.getMonth(), today.getDate() - 6));
    await page.getByRole("button", { name: /Last 7 days/ }).click();
    const picker = page.getByRole("dialog", { name: "Choose dates" });
    await picker.getByRole("button", { name: first, exact: true }).click();
    await picker.getByRole("button", { name: last, exact: true }).click();
    await screenshot(page, "dashboard-calendar");
    await picker.getByRole("button", { name: "Apply range" }).click();
    await page.waitForURL((url) => url.searchParams.get("range") === "custom" && url.searchParams.get("from") === first && url.searchParams.get("to") === last);
    await settled(page);
    await page.getByRole("button", { name: /Custom range/ }).waitFor();

    await page.getByRole("radiogroup", { name: "Chart buckets" }).getByRole("radio", { name: "Weekly" }).click();
    await page.waitForURL(/bucket=weekly/);
    await settled(page);
    await page.locator('[data-testid^="kpi-"]').first().waitFor();
    await screenshot(page, "dashboard-custom-range");

    // Reloading keeps the view.
    await page.reload();
    await page.getByRole("button", { name: /Custom range/ }).waitFor();
    assert.equal(await page.getByRole("radio", { name: "Weekly" }).getAttribute("aria-checked"), "true");
  });

  test("the distribution follows the field picker", async (t) => {
    if (missing) return t.skip(missing);
    const { page } = admin;
    await page.goto("/dashboard");
    await page.getByRole("heading", { name: "Distribution of users" }).waitFor();
    await settled(page);
    const picker = page.getByLabel("Field");
    await picker.waitFor();
    const options = await picker.locator("option").evaluateAll((els) => els.map((e) => ({ value: e.value, label: e.textContent })));
    assert.ok(options.length > 0, "the catalogue offers distributable fields");
    const other = options.find((o) => o.value === "user_type") ?? options[options.length - 1];
    await picker.selectOption(other.value);
    await page.waitForURL((url) => url.searchParams.get("field") === other.value);
    await settled(page);
    await page.getByText(new RegExp(`users by ${other.label}`, "i")).first().waitFor();
  });

  test("a top segment drills down to the explorer with its condition tree", async (t) => {
    if (missing) return t.skip(missing);
    const { page } = admin;
    await page.goto("/dashboard");
    await page.getByRole("heading", { name: "Top segments" }).waitFor();
    await settled(page);
    const segments = page.getByRole("list", { name: "Top segments" });
    if (!(await segments.isVisible().catch(() => false))) {
      return t.skip("no segment in the range: the database has no activity (run `cdp seed` for the e2e database)");
    }
    const link = segments.getByRole("link").first();
    const text = await link.innerText();
    const size = count(/([\d,]+) users/.exec(text)?.[1] ?? "");
    const name = (await link.getAttribute("aria-label")).replace(/^Explore the users of segment /, "");
    await link.click();
    await page.waitForURL((url) => url.pathname === "/users" && url.searchParams.has("filter"));
    await settled(page);
    const banner = page.getByTestId("active-filter");
    await banner.waitFor();
    assert.match(await banner.innerText(), new RegExp(`Segment: ${name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const total = count(await page.getByTestId("users-total").innerText());
    assert.equal(total, size, `the explorer lists the segment's ${size} users`);
    await screenshot(page, "dashboard-drilldown");
    assertNoPageErrors(admin);
  });
});
