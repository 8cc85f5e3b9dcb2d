import { Role } from "../gen/cdp/v1/common_pb";
import { PlatformUserStatus } from "../gen/cdp/v1/platform_users_pb";
import type { BadgeTone } from "../components/Badge";

export const ROLE_LABELS: Record<Role, string> = {
  [Role.UNSPECIFIED]: "Unknown role",
  [Role.SUPER_ADMIN]: "Super admin",
  [Role.ADMIN]: "Admin",
  [Role.GROWTH_MANAGER]: "Growth manager",
  [Role.DATA_ENGINEER]: "Data engineer",
  [Role.READ_ONLY]: "Read only",
};

export const ROLE_TONES: Record<Role, BadgeTone> = {
  [Role.UNSPECIFIED]: "neutral",
  [Role.SUPER_ADMIN]: "brand",
  [Role.ADMIN]: "brand",
  [Role.GROWTH_MANAGER]: "green",
  [Role.DATA_ENGINEER]: "amber",
  [Role.READ_ONLY]: "neutral",
};

/** Roles in order from the most to the least privileged. */
export const ASSIGNABLE_ROLES: readonly Role[] = [
  Role.SUPER_ADMIN,
  Role.ADMIN,
  Role.GROWTH_MANAGER,
  Role.DATA_ENGINEER,
  Role.READ_ONLY,
];

/** Roles the signed-in user may grant: super admin only with super_admin.grant. */
export function grantableRoles(canGrantSuperAdmin: boolean): Role[] {
  return ASSIGNABLE_ROLES.filter((r) => r !== Role.SUPER_ADMIN || canGrantSuperAdmin);
}

/** URL-friendly names for the role filter (`?role=growth_manager`). */
export const ROLE_SLUGS: Record<string, Role> = {
  super_admin: Role.SUPER_ADMIN,
  admin: Role.ADMIN,
  growth_manager: Role.GROWTH_MANAGER,
  data_engineer: Role.DATA_ENGINEER,
  read_only: Role.READ_ONLY,
};

export function roleSlug(role: Role): string {
  return Object.entries(ROLE_SLUGS).find(([, r]) => r === role)?.[0] ?? "";
}

export const STATUS_LABELS: Record<PlatformUserStatus, string> = {
  [PlatformUserStatus.UNSPECIFIED]: "Unknown",
  [PlatformUserStatus.ACTIVE]: "Active",
  [PlatformUserStatus.INVITED]: "Invited",
  [PlatformUserStatus.DISABLED]: "Disabled",
};

export const STATUS_TONES: Record<PlatformUserStatus, BadgeTone> = {
  [PlatformUserStatus.UNSPECIFIED]: "neutral",
  [PlatformUserStatus.ACTIVE]: "green",
  [PlatformUserStatus.INVITED]: "blue",
  [PlatformUserStatus.DISABLED]: "red",
};

export const STATUS_SLUGS: Record<string, PlatformUserStatus> = {
  active: PlatformUserStatus.ACTIVE,
  invited: PlatformUserStatus.INVITED,
  disabled: PlatformUserStatus.DISABLED,
};
