// The admin journey against a running CDP server (the Rust server serving client-web/dist):
// sign in as the bootstrap admin, visit every page, invite a read-only user who activates
// the invitation in their own browser, change that user's role, create a service credential
// and find the invitation in the audit log. Each page is saved to screenshots/<page>.png.
//
//   CDP_E2E_URL=http://127.0.0.1:8080 CDP_E2E_ADMIN_EMAIL=… CDP_E2E_ADMIN_PASSWORD=… npm test
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "../lib/browser.mjs";
import {
  assertNoPageErrors,
  config,
  navLabels,
  newPerson,
  openAdminTab,
  openNav,
  screenshot,
  settled,
  signIn,
  signOut,
  uniqueSuffix,
} from "../lib/app.mjs";

const cfg = config();
const { skip } = cfg;

describe("CDP web client: admin journey", { skip, concurrency: 1 }, () => {
  let browser;
  let admin; // the bootstrap admin's browser context
  let invitee; // the invited user's own browser context
  const suffix = uniqueSuffix();
  const invitedEmail = `e2e-${suffix}@example.com`;
  const invitedName = `E2E Reader ${suffix}`;
  const invitedPassword = `E2e-${suffix}-Passw0rd!`;
  let invitationLink = "";

  before(async () => {
    browser = await launchBrowser();
    admin = await newPerson(browser, cfg.baseUrl);
  });

  after(async () => {
    await browser?.close();
  });

  test("the signed-out pages render", async () => {
    const { page } = admin;
    await page.goto("/");
    await page.waitForURL(/\/sign-in/);
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await screenshot(page, "sign-in");

    await page.getByRole("link", { name: "Forgot password?" }).click();
    await page.waitForURL(/\/forgot-password/);
    await screenshot(page, "forgot-password");
    await page.getByLabel("Email").fill(`nobody-${suffix}@example.com`);
    await page.getByRole("button", { name: "Send reset link" }).click();
    // The same neutral words whether or not the account exists.
    await page.getByText("If an account exists for that address").waitFor();
    await screenshot(page, "forgot-password-sent");
  });

  test("a wrong password is refused in words", async () => {
    const { page } = admin;
    await page.goto("/sign-in");
    await page.getByLabel("Email").fill(cfg.adminEmail);
    await page.getByLabel("Password", { exact: true }).fill(`wrong-${suffix}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    assert.match(await page.getByRole("alert").innerText(), /sign-in failed|incorrect/i);
    await screenshot(page, "sign-in-refused");
  });

  test("the admin signs in and lands on the dashboard", async () => {
    const { page } = admin;
    await signIn(page, cfg.adminEmail, cfg.adminPassword);
    await page.waitForURL(/\/dashboard$/);
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await settled(page);
    assert.deepEqual(await navLabels(page), ["Dashboard", "Users", "Cohorts", "Promotions", "Integrations", "Admin"]);
    await screenshot(page, "dashboard");
  });

  test("the session survives a reload (refresh cookie, token in memory only)", async () => {
    const { page } = admin;
    await page.reload();
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.doesNotMatch(stored, /eyJ/, "no JWT in web storage");
    const cookies = await admin.context.cookies();
    const refresh = cookies.find((c) => c.name === "cdp_refresh");
    assert.ok(refresh, "the server set the cdp_refresh cookie");
    assert.equal(refresh.httpOnly, true, "cdp_refresh is HttpOnly");
  });

  for (const [label, name] of [
    ["Users", "users"],
    ["Cohorts", "cohorts"],
    ["Promotions", "promotions"],
    ["Integrations", "integrations"],
  ]) {
    test(`the ${label} page answers`, async () => {
      const { page } = admin;
      await openNav(page, label);
      await page.getByRole("heading", { name: label, level: 1 }).waitFor();
      await settled(page);
      await screenshot(page, name);
    });
  }

  test("every admin tab opens", async () => {
    const { page } = admin;
    await openNav(page, "Admin");
    await page.waitForURL(/\/admin\/platform-users/);
    for (const [label, name, ready] of [
      ["Platform users", "admin-platform-users", () => page.getByRole("table", { name: "Platform users" })],
      ["Roles & permissions", "admin-roles", () => page.getByRole("table", { name: "Permission matrix" })],
      ["Service credentials", "admin-service-credentials", () => page.getByRole("button", { name: "New credential" })],
      ["Audit log", "admin-audit-log", () => page.getByRole("form", { name: "Audit log filters" })],
    ]) {
      await openAdminTab(page, label);
      await ready().waitFor();
      await settled(page);
      await screenshot(page, name);
    }
  });

  test("the admin invites a read-only user and copies the invitation link", async () => {
    const { page } = admin;
    await openAdminTab(page, "Platform users");
    await page.getByRole("button", { name: "Invite user" }).click();
    const dialog = page.getByRole("dialog", { name: "Invite a platform user" });
    await dialog.getByLabel("Email").fill(invitedEmail);
    await dialog.getByLabel("Display name").fill(invitedName);
    await dialog.getByLabel("Role").selectOption({ label: "Read only" });
    await screenshot(page, "admin-invite-dialog");
    await dialog.getByRole("button", { name: "Send invitation" }).click();

    const created = page.getByRole("dialog", { name: "Invitation created" });
    await created.waitFor();
    const linkField = created.getByTestId("invitation-link");
    assert.ok(await linkField.count(), "the server returned an invitation link (local identity provider)");
    invitationLink = await linkField.inputValue();
    assert.match(invitationLink, /accept-invite\?token=/);
    await created.getByRole("button", { name: "Copy" }).click();
    await created.getByRole("button", { name: "Copied" }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
    if (copied !== null) assert.equal(copied, invitationLink, "the Copy button put the link on the clipboard");
    await screenshot(page, "admin-invitation-link");
    await created.getByRole("button", { name: "Done" }).click();

    await page.getByPlaceholder("Search name or email").fill(invitedEmail);
    const row = page.getByRole("row").filter({ hasText: invitedEmail });
    await row.waitFor();
    assert.match(await row.innerText(), /Invited/);
    assert.match(await row.innerText(), /Read only/);
  });

  test("the invitee sets a password in a fresh browser and sees no Admin", async () => {
    assert.ok(invitationLink, "needs the invitation link from the previous step");
    invitee = await newPerson(browser, cfg.baseUrl);
    const { page } = invitee;
    await page.goto(invitationLink);
    await page.getByRole("heading", { name: "Welcome to CDP" }).waitFor();
    await screenshot(page, "accept-invite");
    await page.getByLabel("New password").fill(invitedPassword);
    await page.getByLabel("Confirm password").fill(invitedPassword);
    await page.getByRole("button", { name: "Activate account" }).click();
    await page.waitForURL(/\/dashboard$/);

    // Sign out and in again with the new password.
    await signOut(page);
    await signIn(page, invitedEmail, invitedPassword);
    await page.waitForURL(/\/dashboard$/);
    const labels = await navLabels(page);
    assert.ok(!labels.includes("Admin"), `a read-only user sees no Admin (saw ${labels.join(", ")})`);
    assert.deepEqual(labels, ["Dashboard", "Users", "Cohorts", "Promotions", "Integrations"]);
    assert.match(await page.getByTestId("current-user").innerText(), /Read only/);
    await settled(page);
    await screenshot(page, "read-only-dashboard");

    await page.goto("/admin/platform-users");
    await page.getByText("You don't have access to this page").waitFor();
    await screenshot(page, "read-only-admin-refused");
    assertNoPageErrors(invitee);
  });

  test("the admin changes the invitee's role", async () => {
    const { page } = admin;
    await openAdminTab(page, "Platform users");
    await page.getByPlaceholder("Search name or email").fill(invitedEmail);
    const row = page.getByRole("row").filter({ hasText: invitedEmail });
    // The invitee is active now that they set a password.
    await row.filter({ hasText: "Active" }).waitFor();
    await row.getByRole("button", { name: `Actions for ${invitedEmail}` }).click();
    await page.getByRole("menuitem", { name: "Change role" }).click();
    const dialog = page.getByRole("dialog", { name: "Change role" });
    await dialog.getByLabel("Role").selectOption({ label: "Growth manager" });
    await screenshot(page, "admin-change-role");
    await dialog.getByRole("button", { name: "Save role" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("row").filter({ hasText: invitedEmail }).filter({ hasText: "Growth manager" }).waitFor();
    await screenshot(page, "admin-role-changed");

    // The invitee's next page load reads the new role.
    await invitee.page.reload();
    await invitee.page.getByTestId("current-user").getByText("Growth manager").waitFor();
  });

  test("the admin creates a service credential and sees its secret once", async () => {
    const { page } = admin;
    await openAdminTab(page, "Service credentials");
    await page.getByRole("button", { name: "New credential" }).click();
    const dialog = page.getByRole("dialog", { name: "New service credential" });
    const name = `e2e-checkout-${suffix}`;
    await dialog.getByLabel("Name").fill(name);
    const redeem = dialog.getByRole("checkbox", { name: /promotions\.redeem/ });
    if (!(await redeem.isChecked())) await redeem.check();
    await dialog.getByRole("button", { name: "Create credential" }).click();

    const secretDialog = page.getByRole("dialog", { name: "Copy the secret now" });
    await secretDialog.waitFor();
    const secret = await secretDialog.getByTestId("credential-secret").inputValue();
    assert.ok(secret.length >= 16, "a secret is shown");
    assert.equal(await secretDialog.getByRole("button", { name: "Done" }).isDisabled(), true, "Done waits for the acknowledgement");
    await screenshot(page, "admin-credential-secret");
    await secretDialog.getByRole("checkbox", { name: "I have stored the secret somewhere safe" }).check();
    await secretDialog.getByRole("button", { name: "Done" }).click();
    await secretDialog.waitFor({ state: "detached" });

    const row = page.getByRole("row").filter({ hasText: name });
    await row.waitFor();
    assert.ok(!(await page.content()).includes(secret), "the secret is not on the page any more");
    assert.match(await row.innerText(), /Active/);
    await screenshot(page, "admin-credential-created");
  });

  test("the audit log, filtered by action, shows the invitation", async () => {
    const { page } = admin;
    await openAdminTab(page, "Audit log");
    const filters = page.getByRole("form", { name: "Audit log filters" });
    await filters.getByLabel("Action").fill("platform_user.invite");
    await filters.getByRole("button", { name: "Apply" }).click();
    await page.waitForURL(/action=platform_user\.invite/);
    await settled(page);
    const rows = page.getByRole("table", { name: "Audit log" }).locator("tbody > tr");
    await rows.first().waitFor();
    // The unfiltered page stays on screen until the filtered one arrives: wait (bounded) for it.
    const listedActions = () => page.getByRole("table", { name: "Audit log" }).locator("tbody code").allInnerTexts();
    for (let i = 0; i < 100; i++) {
      const shown = await listedActions();
      if (shown.length > 0 && shown.every((a) => a === "platform_user.invite")) break;
      await page.waitForTimeout(200);
    }
    const actions = await listedActions();
    assert.ok(actions.length > 0 && actions.every((a) => a === "platform_user.invite"), `only invitations listed (saw ${actions})`);
    // Newest first: the invitation made above is the first entry.
    await rows.first().getByRole("button", { name: "Show changes" }).click();
    const details = page.getByRole("table", { name: "Audit log" }).locator("tbody");
    await details.getByText(invitedEmail).first().waitFor();
    await screenshot(page, "admin-audit-log-invite");
    assertNoPageErrors(admin);
  });
});
