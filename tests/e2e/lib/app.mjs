// Shared steps of the e2e specs: configuration from the environment, a browser context per
// person, sign-in, navigation and screenshots.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { VIEWPORT } from "./browser.mjs";

export const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), "..", "screenshots");

/** Base URL and bootstrap admin from CDP_E2E_URL, CDP_E2E_ADMIN_EMAIL, CDP_E2E_ADMIN_PASSWORD. */
export function config() {
  const baseUrl = process.env.CDP_E2E_URL?.replace(/\/+$/, "");
  const adminEmail = process.env.CDP_E2E_ADMIN_EMAIL;
  const adminPassword = process.env.CDP_E2E_ADMIN_PASSWORD;
  const missing = [
    !baseUrl && "CDP_E2E_URL",
    !adminEmail && "CDP_E2E_ADMIN_EMAIL",
    !adminPassword && "CDP_E2E_ADMIN_PASSWORD",
  ].filter(Boolean);
  // `skip` for describe(): the reason the suite cannot run here, or false.
  const skip = missing.length > 0 ? `set ${missing.join(", ")} to run the e2e tests` : false;
  return { baseUrl, adminEmail, adminPassword, missing, skip };
}

/** A separate person: own cookies (so own refresh cookie), clipboard allowed. */
export async function newPerson(browser, baseUrl) {
  const context = await browser.newContext({ viewport: VIEWPORT, baseURL: baseUrl });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  return { context, page, problems };
}

/** A new person signed in as the bootstrap admin of `cfg` (from config()). */
export async function signedInAdmin(browser, cfg) {
  const admin = await newPerson(browser, cfg.baseUrl);
  await signIn(admin.page, cfg.adminEmail, cfg.adminPassword);
  return admin;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Let spinners and transitions settle so the picture shows the page, not its loading state.
  await page.waitForLoadState("networkidle").catch(() => {});
  await page.waitForTimeout(300);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * A full-page screenshot of what a person sees, from the top of the page (sticky bars stay
 * where they belong): transient toasts are dismissed unless `keepToasts`, and the hover and
 * focus left by the last click are cleared unless `keepHover` (a tooltip being shown).
 */
export async function pageScreenshot(page, name, { keepToasts = false, keepHover = false } = {}) {
  if (!keepToasts) {
    for (const dismiss of await page.getByRole("button", { name: "Dismiss" }).all()) await dismiss.click().catch(() => {});
  }
  if (!keepHover) {
    await page.mouse.move(0, 0);
    await page.evaluate(() => {
      document.activeElement?.blur?.();
      window.scrollTo(0, 0);
    });
  }
  await screenshot(page, name);
}

export async function signIn(page, email, password) {
  await page.goto("/sign-in");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/sign-in"));
}

export async function signOut(page) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL((url) => url.pathname.startsWith("/sign-in"));
}

/** Labels of the main navigation's links, in order. */
export async function navLabels(page) {
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link").first().waitFor();
  return (await nav.getByRole("link").allInnerTexts()).map((t) => t.trim());
}

export async function openNav(page, label) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
}

export async function openAdminTab(page, label) {
  await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: label, exact: true }).click();
}

/** Waits until the page shows content, an empty state or an error: no skeleton left. */
export async function settled(page) {
  await page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'), null, { timeout: 20_000 });
}

export function uniqueSuffix() {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export function assertNoPageErrors(person) {
  assert.deepEqual(person.problems, [], "the page threw errors");
}
