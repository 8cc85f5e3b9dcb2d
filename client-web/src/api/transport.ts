// The grpc-web transports, created once at module level. Every request carries cookies
// (`credentials: "include"`) so AuthService can read and set the HttpOnly `cdp_refresh`
// cookie; the access token goes in the `authorization` header, from memory only.
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { apiBaseUrl } from "./config";
import { useSession } from "../stores/session";

const fetchWithCookies: typeof globalThis.fetch = (input, init) =>
  globalThis.fetch(input, { ...init, credentials: "include" });

export function createBareTransport(interceptors: Interceptor[] = []): Transport {
  return createGrpcWebTransport({
    baseUrl: apiBaseUrl(),
    fetch: fetchWithCookies,
    interceptors,
  });
}

const bearer: Interceptor = (next) => (req) => {
  const token = useSession.getState().accessToken;
  if (token && !req.header.has("authorization")) {
    req.header.set("authorization", `Bearer ${token}`);
  }
  return next(req);
};

// Public AuthService calls answer UNAUTHENTICATED for wrong passwords or used links; a
// session refresh would not help them.
const NO_RETRY_SERVICE = "cdp.v1.AuthService";

type RefreshFn = () => Promise<string | null>;
type SessionEndedFn = () => void;

let refresh: RefreshFn = async () => null;
let sessionEnded: SessionEndedFn = () => {};

/** Wired by api/session.ts at start-up (it owns the refresh logic). */
export function configureSessionRecovery(onRefresh: RefreshFn, onSessionEnded: SessionEndedFn): void {
  refresh = onRefresh;
  sessionEnded = onSessionEnded;
}

// UNAUTHENTICATED from any call: try one refresh (shared by all calls that fail at the same
// time), repeat the call once with the new token, else end the session.
const recoverSession: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (error) {
    const err = ConnectError.from(error);
    if (err.code !== Code.Unauthenticated || req.service.typeName === NO_RETRY_SERVICE) throw error;
    const token = await refresh();
    if (!token) {
      sessionEnded();
      throw error;
    }
    req.header.set("authorization", `Bearer ${token}`);
    try {
      return await next(req);
    } catch (retryError) {
      if (ConnectError.from(retryError).code === Code.Unauthenticated) sessionEnded();
      throw retryError;
    }
  }
};

/** The transport every page uses. */
export const transport: Transport = createBareTransport([recoverSession, bearer]);
