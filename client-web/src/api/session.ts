// Session lifecycle: restore on page load from the refresh cookie, refresh shortly before
// the access token expires, sign in, sign out. The refresh token in response bodies is
// ignored on purpose: the browser keeps it as the HttpOnly `cdp_refresh` cookie.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Session } from "../gen/cdp/v1/auth_pb";
import type { PlatformUser } from "../gen/cdp/v1/platform_users_pb";
import { useSession } from "../stores/session";
import { authClient } from "./clients";
import { queryClient } from "./query-client";
import { configureSessionRecovery } from "./transport";

const REFRESH_BEFORE_EXPIRY_MS = 60_000;
const MIN_REFRESH_DELAY_MS = 5_000;

let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let refreshInFlight: Promise<string | null> | null = null;

function expiry(session: Session | undefined): Date | null {
  return session?.expiresAt ? timestampDate(session.expiresAt) : null;
}

function scheduleRefresh(expiresAt: Date | null): void {
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = undefined;
  if (!expiresAt) return;
  const delay = Math.max(expiresAt.getTime() - Date.now() - REFRESH_BEFORE_EXPIRY_MS, MIN_REFRESH_DELAY_MS);
  refreshTimer = setTimeout(() => {
    void refreshAndReloadUser();
  }, delay);
}

function adopt(session: Session | undefined, user: PlatformUser | undefined, permissions: readonly string[]): void {
  if (!session?.accessToken || !user) throw new Error("the server returned no session");
  const expiresAt = expiry(session);
  useSession.getState().setSignedIn({ accessToken: session.accessToken, expiresAt, user, permissions });
  scheduleRefresh(expiresAt);
}

/**
 * Exchanges the refresh cookie for a new access token. Concurrent callers share one call,
 * because the server rotates the refresh token and a second parallel exchange would fail.
 * Resolves to the new access token, or null when there is no valid session.
 */
export function refreshAccessToken(): Promise<string | null> {
  refreshInFlight ??= (async () => {
    try {
      const res = await authClient.refreshSession({ refreshToken: "" });
      const token = res.session?.accessToken;
      if (!token) return null;
      const expiresAt = expiry(res.session);
      useSession.getState().setToken(token, expiresAt);
      scheduleRefresh(expiresAt);
      return token;
    } catch {
      return null;
    } finally {
      refreshInFlight = null;
    }
  })();
  return refreshInFlight;
}

async function loadCurrentUser(token: string): Promise<void> {
  const me = await authClient.getCurrentUser({}, { headers: { authorization: `Bearer ${token}` } });
  if (!me.user) throw new Error("the server returned no user");
  useSession.getState().setUser(me.user, me.permissions);
}

// A scheduled refresh also re-reads the user, so a role change shows up in the navigation.
async function refreshAndReloadUser(): Promise<void> {
  const token = await refreshAccessToken();
  if (!token) {
    endSession("Your session has ended. Sign in again to continue.");
    return;
  }
  try {
    await loadCurrentUser(token);
  } catch {
    // Keep the session; the next call that fails will sort it out.
  }
}

/** On page load: signed in if the refresh cookie is still good, else signed out. */
export async function restoreSession(): Promise<void> {
  const token = await refreshAccessToken();
  if (!token) {
    useSession.getState().setSignedOut();
    return;
  }
  try {
    const me = await authClient.getCurrentUser({}, { headers: { authorization: `Bearer ${token}` } });
    if (!me.user) throw new Error("no user");
    const { expiresAt } = useSession.getState();
    useSession.getState().setSignedIn({ accessToken: token, expiresAt, user: me.user, permissions: me.permissions });
  } catch {
    useSession.getState().setSignedOut();
  }
}

export async function signIn(email: string, password: string): Promise<void> {
  const res = await authClient.signIn({ email: email.trim(), password });
  queryClient.clear();
  adopt(res.session, res.user, res.permissions);
}

/** Sets a password from a recovery or invitation link; the user is signed in afterwards. */
export async function completePasswordReset(token: string, newPassword: string): Promise<void> {
  const res = await authClient.completePasswordReset({ token, newPassword });
  queryClient.clear();
  adopt(res.session, res.user, res.permissions);
}

export function endSession(reason?: string): void {
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = undefined;
  queryClient.clear();
  if (useSession.getState().status !== "signedOut") useSession.getState().setSignedOut(reason);
}

export async function signOut(): Promise<void> {
  try {
    // The refresh cookie identifies the session; the server clears it.
    await authClient.signOut({ refreshToken: "" });
  } catch {
    // Sign-out always succeeds locally.
  }
  endSession();
}

configureSessionRecovery(refreshAccessToken, () => endSession("Your session has ended. Sign in again to continue."));
