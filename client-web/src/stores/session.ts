// The signed-in session: client state only. The access token lives here, in memory, and
// nowhere else (never localStorage, never a readable cookie); the refresh token is an
// HttpOnly cookie the browser sends to AuthService.RefreshSession by itself.
import { create } from "zustand";
import type { PlatformUser } from "../gen/cdp/v1/platform_users_pb";

export type SessionStatus = "restoring" | "signedIn" | "signedOut";

export interface SessionState {
  status: SessionStatus;
  accessToken: string | null;
  expiresAt: Date | null;
  user: PlatformUser | null;
  permissions: ReadonlySet<string>;
  /** Why the last session ended, shown once on the sign-in page. */
  endedReason: string | null;
  setSignedIn(args: { accessToken: string; expiresAt: Date | null; user: PlatformUser; permissions: readonly string[] }): void;
  setToken(accessToken: string, expiresAt: Date | null): void;
  setUser(user: PlatformUser, permissions: readonly string[]): void;
  setSignedOut(reason?: string): void;
  clearEndedReason(): void;
}

const EMPTY: ReadonlySet<string> = new Set();

export const useSession = create<SessionState>()((set) => ({
  status: "restoring",
  accessToken: null,
  expiresAt: null,
  user: null,
  permissions: EMPTY,
  endedReason: null,
  setSignedIn: ({ accessToken, expiresAt, user, permissions }) =>
    set({ status: "signedIn", accessToken, expiresAt, user, permissions: new Set(permissions), endedReason: null }),
  setToken: (accessToken, expiresAt) => set({ accessToken, expiresAt }),
  setUser: (user, permissions) => set({ user, permissions: new Set(permissions) }),
  setSignedOut: (reason) =>
    set({
      status: "signedOut",
      accessToken: null,
      expiresAt: null,
      user: null,
      permissions: EMPTY,
      endedReason: reason ?? null,
    }),
  clearEndedReason: () => set({ endedReason: null }),
}));

/** The signed-in user's permissions (empty when signed out). */
export function usePermissions(): ReadonlySet<string> {
  return useSession((s) => s.permissions);
}

export function useCan(permission: string): boolean {
  return useSession((s) => s.permissions.has(permission));
}
