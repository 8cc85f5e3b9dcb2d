// Permission names as the server grants them (DESIGN §4). The client only uses them to
// decide what to offer; the server enforces them on every call.
export const Permission = {
  dashboardRead: "dashboard.read",
  usersRead: "users.read",
  usersReadPii: "users.read_pii",
  usersWrite: "users.write",
  cohortsRead: "cohorts.read",
  cohortsWrite: "cohorts.write",
  cohortsSync: "cohorts.sync",
  amplitudeImport: "amplitude.import",
  promotionsRead: "promotions.read",
  promotionsWrite: "promotions.write",
  promotionsActivate: "promotions.activate",
  integrationsRead: "integrations.read",
  integrationsTrigger: "integrations.trigger",
  rolesRead: "roles.read",
  platformUsersRead: "platform_users.read",
  platformUsersWrite: "platform_users.write",
  auditRead: "audit.read",
  serviceCredentialsManage: "service_credentials.manage",
  superAdminGrant: "super_admin.grant",
} as const;

export type PermissionName = (typeof Permission)[keyof typeof Permission];

/** Scopes that CreateServiceCredential refuses: never offer them for a credential. */
export const NON_GRANTABLE_SCOPES: ReadonlySet<string> = new Set([
  Permission.superAdminGrant,
  Permission.platformUsersWrite,
  Permission.serviceCredentialsManage,
]);

export function hasAny(granted: ReadonlySet<string>, needed: readonly string[]): boolean {
  return needed.length === 0 || needed.some((p) => granted.has(p));
}
