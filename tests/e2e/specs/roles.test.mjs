// The five platform roles against a running CDP server: the bootstrap super admin invites one
// platform user per role on the Admin page; each opens the invitation link the server returned
// (local identity provider) in a browser of their own, sets a password, signs out and signs in
// with it, and then sees exactly the pages of their role, is offered exactly the actions their
// role may take, and does one of them. What each role may do is not read from the UI: it is
// written out below from the server's permission table (the role_permissions seed of
// migrations/2026-11-25-000002_identity_access/up.sql) and from the permission each RPC needs
// (server/src/auth/rules.rs); the first test checks the running server reports the same table.
// Screenshots go to screenshots/role-<role>.png.
//
// The data engineer's action (Refresh now on a DAG) needs the live Airflow tests/e2e/run.sh
// starts; without one it is skipped with the reason.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchBrowser } from "../lib/browser.mjs";
import {
  assertNoPageErrors,
  config,
  navLabels,
  newPerson,
  openAdminTab,
  pageScreenshot as screenshot,
  settled,
  signedInAdmin,
  signIn,
  signOut,
  uniqueSuffix,
} from "../lib/app.mjs";

const cfg = config();
const { skip } = cfg;

// The five roles: name on the server (cdp.roles.name / RoleService), label in the web client.
const ROLES = [
  { role: "super_admin", label: "Super admin", serverName: "Super Admin", shot: "role-super-admin" },
  { role: "admin", label: "Admin", serverName: "Admin", shot: "role-admin" },
  { role: "growth_manager", label: "Growth manager", serverName: "Growth Manager", shot: "role-growth-manager" },
  { role: "data_engineer", label: "Data engineer", serverName: "Data Engineer", shot: "role-data-engineer" },
  { role: "read_only", label: "Read only", serverName: "Read Only", shot: "role-read-only" },
];
const ROLE_SHOT = Object.fromEntries(ROLES.map((r) => [r.role, r.shot]));

// cdp.role_permissions, as migrations/2026-11-25-000002_identity_access/up.sql seeds it (the
// matrix of DESIGN §4): each permission and the roles that hold it.
const EVERY_ROLE = ["super_admin", "admin", "growth_manager", "data_engineer", "read_only"];
const GRANTS = {
  "dashboard.read": EVERY_ROLE,
  "users.read": EVERY_ROLE,
  "cohorts.read": EVERY_ROLE,
  "promotions.read": EVERY_ROLE,
  "integrations.read": EVERY_ROLE,
  "roles.read": EVERY_ROLE,
  "users.read_pii": ["super_admin", "admin", "growth_manager"],
  "users.write": ["super_admin", "admin", "growth_manager"],
  "cohorts.write": ["super_admin", "admin", "growth_manager"],
  "promotions.write": ["super_admin", "admin", "growth_manager"],
  "promotions.activate": ["super_admin", "admin", "growth_manager"],
  "cohorts.sync": ["super_admin", "admin", "growth_manager", "data_engineer"],
  "amplitude.import": ["super_admin", "admin", "growth_manager", "data_engineer"],
  "integrations.trigger": ["super_admin", "admin", "data_engineer"],
  "platform_users.read": ["super_admin", "admin"],
  "audit.read": ["super_admin", "admin"],
  "platform_users.write": ["super_admin", "admin"],
  "service_credentials.manage": ["super_admin", "admin"],
  "super_admin.grant": ["super_admin"],
  // Service credentials only: no platform role holds it.
  "promotions.redeem": [],
};

function can(role, permission) {
  assert.ok(permission in GRANTS, `unknown permission ${permission}`);
  return GRANTS[permission].includes(role);
}

function canAny(role, permissions) {
  return permissions.some((p) => can(role, p));
}

// The main navigation, in order: each page and the permissions of the RPCs it is made of
// (server/src/auth/rules.rs). Every role holds roles.read, which alone does not make someone
// an administrator: Admin is for those who may see platform users, credentials or the audit.
const PAGES = [
  { label: "Dashboard", path: "/dashboard", anyOf: ["dashboard.read"] }, // DashboardService.GetMetrics
  { label: "Users", path: "/users", anyOf: ["users.read"] }, // UserService.ListUsers
  { label: "Cohorts", path: "/cohorts", anyOf: ["cohorts.read"] }, // CohortService.ListCohorts
  { label: "Promotions", path: "/promotions", anyOf: ["promotions.read"] }, // PromotionService.ListPromotions
  { label: "Integrations", path: "/integrations", anyOf: ["integrations.read"] }, // IntegrationService.ListDags
  { label: "Admin", path: "/admin", anyOf: ["platform_users.read", "audit.read", "service_credentials.manage"] },
];
const ADMIN_TABS = [
  { label: "Platform users", anyOf: ["platform_users.read"] }, // PlatformUserService.ListPlatformUsers
  { label: "Roles & permissions", anyOf: ["roles.read"] }, // RoleService.ListRoles
  { label: "Service credentials", anyOf: ["service_credentials.manage"] }, // ServiceCredentialService.*
  { label: "Audit log", anyOf: ["audit.read"] }, // AuditLogService.ListAuditLogs
];

const NO_ACCESS = "You don't have access to this page";

/**
 * What the pages offer and the permission of the RPC behind each offer. `ready` appears on the
 * page whether or not the offer is made (or the page says the role has no access to it).
 */
const OFFERS = [
  {
    what: 'the "New cohort" button', permission: "cohorts.write", path: "/cohorts", // CreateCohort
    ready: (p) => p.getByRole("heading", { name: "Cohorts", level: 1 }),
    control: (p) => p.getByRole("button", { name: "New cohort" }),
  },
  {
    what: 'the "Import from Amplitude" button', permission: "amplitude.import", path: "/cohorts", // ImportAmplitudeCohort
    ready: (p) => p.getByRole("heading", { name: "Cohorts", level: 1 }),
    control: (p) => p.getByRole("button", { name: "Import from Amplitude" }),
  },
  {
    what: "the cohort builder (/cohorts/new)", permission: "cohorts.write", path: "/cohorts/new", // CreateCohort
    ready: (p) => p.getByText(NO_ACCESS).or(p.getByRole("button", { name: "Create cohort" })),
    control: (p) => p.getByRole("button", { name: "Create cohort" }),
  },
  {
    what: 'the "New promotion" button', permission: "promotions.write", path: "/promotions", // CreatePromotion
    ready: (p) => p.getByRole("heading", { name: "Promotions", level: 1 }),
    control: (p) => p.getByRole("button", { name: "New promotion" }),
  },
  {
    what: "the promotion form (/promotions/new)", permission: "promotions.write", path: "/promotions/new", // CreatePromotion
    ready: (p) => p.getByText(NO_ACCESS).or(p.getByRole("button", { name: "Create draft" })),
    control: (p) => p.getByRole("button", { name: "Create draft" }),
  },
  {
    what: "search by phone digits", permission: "users.read_pii", path: "/users", // ListUsers on phone
    ready: (p) => p.getByRole("heading", { name: "Users", level: 1 }),
    control: (p) => p.getByPlaceholder("User id or phone digits"),
  },
  {
    what: 'the "Edit" button of CDP attributes', permission: "users.write", path: "/users/:id", // UpdateUser
    ready: (p) => p.getByRole("heading", { name: "CDP attributes", exact: true }),
    control: (p) => p.getByRole("button", { name: "Edit", exact: true }),
  },
  {
    what: '"Refresh now" on every DAG card', permission: "integrations.trigger", path: "/integrations", // TriggerDag
    ready: (p) => p.getByRole("heading", { name: "Integrations", level: 1 }),
    control: (p) => p.getByRole("button", { name: "Refresh now" }),
    needsAirflow: true,
  },
  {
    what: 'the "Invite user" button', permission: "platform_users.write", path: "/admin/platform-users", // InvitePlatformUser
    ready: (p) => p.getByText(NO_ACCESS).or(p.getByRole("table", { name: "Platform users" })),
    control: (p) => p.getByRole("button", { name: "Invite user" }),
  },
  {
    what: 'the "New credential" button', permission: "service_credentials.manage", path: "/admin/service-credentials", // CreateServiceCredential
    ready: (p) => p.getByText(NO_ACCESS).or(p.getByRole("table", { name: "Service credentials" })),
    control: (p) => p.getByRole("button", { name: "New credential" }),
  },
  {
    what: "the audit log", permission: "audit.read", path: "/admin/audit-log", // ListAuditLogs
    ready: (p) => p.getByText(NO_ACCESS).or(p.getByRole("form", { name: "Audit log filters" })),
    control: (p) => p.getByRole("form", { name: "Audit log filters" }),
  },
];

/** The DAG cards of the Integrations page (none when the server has no Airflow). */
function dagCards(page) {
  return page.getByRole("heading", { name: "Airflow DAGs" }).locator("xpath=following-sibling::ul[1]/li");
}

/** The action each role does; each ends by taking the role's screenshot. */
const ACTIONS = {
  // Grant the super admin role (super_admin.grant): invite another super admin.
  async super_admin(t, page, { suffix }) {
    const invited = `e2e-super-admin-invited-${suffix}@example.com`;
    await page.goto("/admin/platform-users");
    await page.getByRole("button", { name: "Invite user" }).click();
    const dialog = page.getByRole("dialog", { name: "Invite a platform user" });
    await dialog.getByLabel("Email").fill(invited);
    await dialog.getByLabel("Display name").fill(`E2E Second super admin ${suffix}`);
    await dialog.getByLabel("Role").selectOption({ label: "Super admin" });
    await dialog.getByRole("button", { name: "Send invitation" }).click();
    const created = page.getByRole("dialog", { name: "Invitation created" });
    await created.getByTestId("invitation-link").waitFor();
    await screenshot(page, ROLE_SHOT.super_admin);
    await created.getByRole("button", { name: "Done" }).click();
    await page.getByPlaceholder("Search name or email").fill(invited);
    const row = page.getByRole("row").filter({ hasText: invited });
    await row.filter({ hasText: "Super admin" }).filter({ hasText: "Invited" }).waitFor();
  },

  // Issue a service credential (service_credentials.manage); its secret is shown once.
  async admin(t, page, { suffix }) {
    await page.goto("/admin/service-credentials");
    await page.getByRole("button", { name: "New credential" }).click();
    const dialog = page.getByRole("dialog", { name: "New service credential" });
    const name = `e2e-admin-${suffix}`;
    await dialog.getByLabel("Name").fill(name);
    const redeem = dialog.getByRole("checkbox", { name: /promotions\.redeem/ });
    if (!(await redeem.isChecked())) await redeem.check();
    await dialog.getByRole("button", { name: "Create credential" }).click();
    const secretDialog = page.getByRole("dialog", { name: "Copy the secret now" });
    assert.ok((await secretDialog.getByTestId("credential-secret").inputValue()).length >= 16, "a secret is shown");
    await secretDialog.getByRole("checkbox", { name: "I have stored the secret somewhere safe" }).check();
    await secretDialog.getByRole("button", { name: "Done" }).click();
    await secretDialog.waitFor({ state: "detached" });
    await page.getByRole("row").filter({ hasText: name }).filter({ hasText: "Active" }).waitFor();
    await screenshot(page, ROLE_SHOT.admin);
  },

  // Build a cohort (cohorts.write) and see it evaluated.
  async growth_manager(t, page, { suffix }) {
    const name = `E2E growth cohort ${suffix}`;
    await page.goto("/cohorts");
    await page.getByRole("button", { name: "New cohort" }).click();
    await page.waitForURL(/\/cohorts\/new$/);
    await settled(page);
    await page.getByLabel("Name", { exact: true }).fill(name);
    await page.getByTestId("condition-root").getByRole("button", { name: "Add condition" }).click();
    const condition = page.getByTestId("condition").first();
    await condition.getByLabel("Field", { exact: true }).selectOption("total_listings_count");
    await condition.getByLabel("Comparison", { exact: true }).selectOption({ label: "is at least" });
    await condition.getByLabel("Value", { exact: true }).fill("1");
    await page.getByRole("button", { name: "Create cohort" }).click();
    await page.waitForURL(/\/cohorts\/\d+$/);
    await page.getByRole("heading", { name, level: 1 }).waitFor();
    await page.getByText("Up to date").first().waitFor({ timeout: 60_000 });
    // cohorts.write: the new cohort is theirs to edit.
    await page.getByRole("button", { name: "Edit", exact: true }).waitFor();
    await settled(page);
    await screenshot(page, ROLE_SHOT.growth_manager);
  },

  // Start a DAG run (integrations.trigger): it waits, queued, as the DAG is paused in Airflow.
  async data_engineer(t, page, { airflowCards }) {
    const dagId = "cdp_identities_refresh";
    if (airflowCards <= 0) {
      t.skip("no Airflow DAGs on this server (tests/e2e/run.sh starts a live Airflow): nothing to trigger");
      return;
    }
    await page.goto("/integrations");
    const card = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: dagId, exact: true }) });
    await card.getByRole("button", { name: "Refresh now" }).click();
    const dialog = page.getByRole("dialog", { name: `Refresh ${dagId} now` });
    await dialog.getByLabel("Reason (optional)").fill("Started by the e2e suite as a data engineer");
    await dialog.getByRole("button", { name: "Start run" }).click();
    const toast = page.getByRole("status").filter({ hasText: `${dagId}: run queued` });
    await toast.waitFor();
    const runId = (await toast.locator("p").nth(1).innerText()).trim();
    await card.getByRole("img", { name: `${runId}: Queued`, exact: true }).waitFor();
    await screenshot(page, ROLE_SHOT.data_engineer, { keepToasts: true });
  },

  // Read: find a user by id in the explorer and open the profile (no edit offered, see above).
  async read_only(t, page, { userId }) {
    await page.goto("/users");
    await page.getByRole("searchbox", { name: "Search users" }).fill(userId);
    await page.waitForURL((url) => url.searchParams.get("q") === userId);
    await settled(page);
    await page.getByRole("table", { name: "Users" }).getByRole("link", { name: `#${userId}`, exact: true }).click();
    await page.waitForURL(new RegExp(`/users/${userId}$`));
    await page.getByRole("heading", { name: new RegExp(`User #${userId}`), level: 1 }).waitFor();
    await page.getByRole("heading", { name: "CDP attributes", exact: true }).waitFor();
    await settled(page);
    // Without users.read_pii the phone number is masked: only its last digits show.
    const account = page.getByRole("heading", { name: "Identity & account", exact: true }).locator("xpath=ancestor::section[1]");
    await account.getByText(/^\*{4,}\d{2,4}$/).first().waitFor();
    await screenshot(page, ROLE_SHOT.read_only);
  },
};

describe("CDP web client: what each role may see and do", { skip, concurrency: 1 }, () => {
  let browser;
  let admin; // the bootstrap super admin, who invites everyone
  let userId = ""; // a marketplace user whose profile each role opens
  const suffix = uniqueSuffix();

  before(async () => {
    browser = await launchBrowser();
    admin = await signedInAdmin(browser, cfg);
    await admin.page.goto("/users");
    await settled(admin.page);
    const firstLink = admin.page.getByRole("table", { name: "Users" }).locator("tbody tr").first().getByRole("link").first();
    await firstLink.waitFor();
    userId = (await firstLink.innerText()).replace("#", "").trim();
    assert.match(userId, /^\d+$/, "a seeded marketplace user to open");
  });

  after(async () => {
    await browser?.close();
  });

  test("the server's permission matrix is the one written here", async () => {
    const { page } = admin;
    await page.goto("/admin/roles");
    const table = page.getByRole("table", { name: "Permission matrix" });
    await table.waitFor();
    await settled(page);
    const shown = await table.locator("svg[aria-label]").evaluateAll((icons) => icons.map((i) => i.getAttribute("aria-label")));
    const cells = shown.filter((label) => / (has|lacks) /.test(label)).sort();
    const expected = [];
    for (const permission of Object.keys(GRANTS)) {
      for (const r of ROLES) expected.push(`${r.serverName} ${can(r.role, permission) ? "has" : "lacks"} ${permission}`);
    }
    assert.deepEqual(cells, expected.sort(), "RoleService.ListRoles reports the role_permissions written in this spec");
  });

  for (const r of ROLES) {
    test(`${r.label}: invited, signs in, sees exactly what the role may see and do`, async (t) => {
      const email = `e2e-${r.role.replace(/_/g, "-")}-${suffix}@example.com`;
      const password = `E2e-${suffix}-${r.role}-Passw0rd!`;

      // The bootstrap super admin invites them on the Admin page and gets the link to send.
      let link = "";
      {
        const { page } = admin;
        await page.goto("/admin/platform-users");
        await openAdminTab(page, "Platform users");
        await page.getByRole("button", { name: "Invite user" }).click();
        const dialog = page.getByRole("dialog", { name: "Invite a platform user" });
        await dialog.getByLabel("Email").fill(email);
        await dialog.getByLabel("Display name").fill(`E2E ${r.label} ${suffix}`);
        await dialog.getByLabel("Role").selectOption({ label: r.label });
        await dialog.getByRole("button", { name: "Send invitation" }).click();
        await page.getByRole("dialog", { name: "Invitation created" }).waitFor();
        link = await page.getByTestId("invitation-link").inputValue();
        assert.match(link, /\/accept-invite\?token=/);
        await page.getByRole("button", { name: "Done" }).click();
      }

      const person = await newPerson(browser, cfg.baseUrl);
      const { page } = person;
      try {
        // Their own browser: set a password from the link, then sign in with it.
        await page.goto(link);
        await page.getByLabel("New password").fill(password);
        await page.getByLabel("Confirm password").fill(password);
        await page.getByRole("button", { name: "Activate account" }).click();
        await page.waitForURL(/\/dashboard$/);
        await signOut(page);
        await signIn(page, email, password);
        await page.waitForURL(/\/dashboard$/);
        await page.getByTestId("current-user").getByText(r.label, { exact: true }).waitFor();

        // The navigation lists exactly the pages of the role.
        const pages = PAGES.filter((p) => canAny(r.role, p.anyOf));
        assert.deepEqual(await navLabels(page), pages.map((p) => p.label), `${r.label}'s navigation`);
        for (const p of PAGES.filter((p) => !canAny(r.role, p.anyOf))) {
          await page.goto(p.path);
          await page.getByText(NO_ACCESS).waitFor();
        }
        if (canAny(r.role, PAGES.find((p) => p.label === "Admin").anyOf)) {
          await page.goto("/admin");
          await page.getByRole("navigation", { name: "Admin" }).getByRole("link").first().waitFor();
          const tabs = (await page.getByRole("navigation", { name: "Admin" }).getByRole("link").allInnerTexts()).map((s) => s.trim());
          assert.deepEqual(tabs, ADMIN_TABS.filter((tab) => canAny(r.role, tab.anyOf)).map((tab) => tab.label), `${r.label}'s admin tabs`);
        }

        // Each action is offered exactly when the role holds its permission.
        let airflowCards = -1;
        for (const offer of OFFERS) {
          const path = offer.path.replace(":id", userId);
          if (new URL(page.url()).pathname !== path) {
            await page.goto(path);
          }
          await offer.ready(page).first().waitFor();
          await settled(page);
          if (offer.needsAirflow) {
            if (airflowCards < 0) {
              await page.getByRole("heading", { name: "Airflow DAGs" }).waitFor();
              airflowCards = await dagCards(page).count();
            }
            if (airflowCards === 0) {
              t.diagnostic(`no Airflow DAGs on this server: ${offer.what} not checked`);
              continue;
            }
          }
          const offered = await offer.control(page).count();
          const expected = can(r.role, offer.permission) ? (offer.needsAirflow ? airflowCards : 1) : 0;
          assert.equal(offered, expected, `${r.label} ${expected ? "is" : "is not"} offered ${offer.what} (${offer.permission})`);
        }
        if (can(r.role, "platform_users.write")) {
          // Only super_admin.grant may hand out the super admin role.
          await page.goto("/admin/platform-users");
          await page.getByRole("button", { name: "Invite user" }).click();
          const dialog = page.getByRole("dialog", { name: "Invite a platform user" });
          const options = (await dialog.getByLabel("Role").locator("option").allInnerTexts()).map((s) => s.trim());
          assert.equal(options.includes("Super admin"), can(r.role, "super_admin.grant"), `${r.label} may grant Super admin: ${options}`);
          await dialog.getByRole("button", { name: "Cancel" }).click();
          await dialog.waitFor({ state: "detached" });
        }

        // One thing the role may do, done.
        await ACTIONS[r.role](t, page, { email, suffix, userId, airflowCards });
        assertNoPageErrors(person);
      } finally {
        await person.context.close();
      }
    });
  }
});
