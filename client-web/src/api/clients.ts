// Typed clients for imperative calls (session handling). Pages use connect-query hooks.
import { createClient } from "@connectrpc/connect";
import { AuthService } from "../gen/cdp/v1/auth_pb";
import { createBareTransport } from "./transport";

/** AuthService over a transport without the session-recovery interceptor (no loops). */
export const authClient = createClient(AuthService, createBareTransport());
