// The app's sections and the permissions that make each one visible. A section is shown
// when the user holds any of its permissions.
import { Permission, hasAny } from "./permissions";

export type SectionId = "dashboard" | "users" | "cohorts" | "promotions" | "integrations" | "admin";

export interface NavSection {
  id: SectionId;
  label: string;
  path: string;
  anyOf: readonly string[];
}

export interface AdminTab {
  id: "platform-users" | "roles" | "service-credentials" | "audit-log";
  label: string;
  path: string;
  anyOf: readonly string[];
}

export const ADMIN_TABS: readonly AdminTab[] = [
  { id: "platform-users", label: "Platform users", path: "/admin/platform-users", anyOf: [Permission.platformUsersRead] },
  { id: "roles", label: "Roles & permissions", path: "/admin/roles", anyOf: [Permission.rolesRead] },
  {
    id: "service-credentials",
    label: "Service credentials",
    path: "/admin/service-credentials",
    anyOf: [Permission.serviceCredentialsManage],
  },
  { id: "audit-log", label: "Audit log", path: "/admin/audit-log", anyOf: [Permission.auditRead] },
];

// Every role holds roles.read, so it alone does not open the Admin section: the section is
// for people who administer the platform (users, credentials, audit).
const ADMIN_SECTION_PERMISSIONS = [
  Permission.platformUsersRead,
  Permission.auditRead,
  Permission.serviceCredentialsManage,
] as const;

export const NAV_SECTIONS: readonly NavSection[] = [
  { id: "dashboard", label: "Dashboard", path: "/dashboard", anyOf: [Permission.dashboardRead] },
  { id: "users", label: "Users", path: "/users", anyOf: [Permission.usersRead] },
  { id: "cohorts", label: "Cohorts", path: "/cohorts", anyOf: [Permission.cohortsRead] },
  { id: "promotions", label: "Promotions", path: "/promotions", anyOf: [Permission.promotionsRead] },
  { id: "integrations", label: "Integrations", path: "/integrations", anyOf: [Permission.integrationsRead] },
  { id: "admin", label: "Admin", path: "/admin", anyOf: ADMIN_SECTION_PERMISSIONS },
];

export function visibleSections(granted: ReadonlySet<string>): NavSection[] {
  return NAV_SECTIONS.filter((s) => hasAny(granted, s.anyOf));
}

export function visibleAdminTabs(granted: ReadonlySet<string>): AdminTab[] {
  return ADMIN_TABS.filter((t) => hasAny(granted, t.anyOf));
}

/** Where to land after sign-in: the first section the user may see. */
export function homePath(granted: ReadonlySet<string>): string {
  return visibleSections(granted)[0]?.path ?? "/no-access";
}

/** Only same-app paths are followed after sign-in (no open redirect). */
export function safeNext(next: string | null): string | null {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : null;
}
