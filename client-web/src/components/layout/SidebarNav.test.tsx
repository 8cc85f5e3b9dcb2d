import { render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { describe, expect, it } from "vitest";
import { homePath, safeNext, visibleAdminTabs } from "../../lib/navigation";
import { SidebarNav } from "./SidebarNav";

// The grants of DESIGN §4, per role.
const READ = ["dashboard.read", "users.read", "cohorts.read", "promotions.read", "integrations.read", "roles.read"];
const ROLES: Record<string, string[]> = {
  read_only: READ,
  data_engineer: [...READ, "cohorts.sync", "amplitude.import", "integrations.trigger"],
  growth_manager: [...READ, "users.read_pii", "users.write", "cohorts.write", "promotions.write", "promotions.activate", "cohorts.sync", "amplitude.import"],
  admin: [
    ...READ,
    "users.read_pii",
    "users.write",
    "cohorts.write",
    "promotions.write",
    "promotions.activate",
    "cohorts.sync",
    "amplitude.import",
    "integrations.trigger",
    "platform_users.read",
    "audit.read",
    "platform_users.write",
    "service_credentials.manage",
  ],
};

function navLinks(permissions: string[]): string[] {
  render(
    <MemoryRouter>
      <SidebarNav permissions={new Set(permissions)} />
    </MemoryRouter>,
  );
  return screen.queryAllByRole("link").map((a) => a.textContent ?? "");
}

describe("SidebarNav", () => {
  it("shows every read section but not Admin to a read-only user", () => {
    expect(navLinks(ROLES.read_only)).toEqual(["Dashboard", "Users", "Cohorts", "Promotions", "Integrations"]);
  });

  it("does not open Admin for growth managers or data engineers", () => {
    expect(navLinks(ROLES.growth_manager)).not.toContain("Admin");
  });

  it("shows Admin to admins", () => {
    expect(navLinks(ROLES.admin)).toEqual(["Dashboard", "Users", "Cohorts", "Promotions", "Integrations", "Admin"]);
    expect(screen.getByRole("link", { name: "Admin" })).toHaveAttribute("href", "/admin");
  });

  it("shows Admin to someone who may only read the audit log", () => {
    expect(navLinks(["audit.read"])).toEqual(["Admin"]);
  });

  it("shows nothing without permissions", () => {
    expect(navLinks([])).toEqual([]);
  });
});

describe("navigation helpers", () => {
  it("opens only the admin tabs a role allows", () => {
    expect(visibleAdminTabs(new Set(ROLES.admin)).map((t) => t.label)).toEqual([
      "Platform users",
      "Roles & permissions",
      "Service credentials",
      "Audit log",
    ]);
    expect(visibleAdminTabs(new Set(["audit.read"])).map((t) => t.label)).toEqual(["Audit log"]);
  });

  it("lands on the first section the user may see", () => {
    expect(homePath(new Set(ROLES.read_only))).toBe("/dashboard");
    expect(homePath(new Set(["audit.read"]))).toBe("/admin");
    expect(homePath(new Set())).toBe("/no-access");
  });

  it("follows only same-app paths after sign-in", () => {
    expect(safeNext("/admin/audit-log?action=x")).toBe("/admin/audit-log?action=x");
    expect(safeNext("//evil.example")).toBeNull();
    expect(safeNext("https://evil.example")).toBeNull();
    expect(safeNext(null)).toBeNull();
  });
});
