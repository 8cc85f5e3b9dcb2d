// The one place that turns a failed call into words a person understands and into
// per-field form errors. Pages never show raw server messages without going through here.
// Order of precedence: the ErrorInfo reason (stable, machine-readable), then BadRequest
// field violations, then the status code.
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BadRequestDesc,
  ErrorInfoDesc,
  RequestInfoDesc,
  type BadRequest,
  type ErrorInfo,
  type RequestInfo,
} from "./rpc-details";

export interface FriendlyError {
  /** Short headline, e.g. "You don't have access". */
  title: string;
  /** One or two sentences saying what happened and what to do. */
  message: string;
  /** Messages per request field, keyed by the field path the server names (e.g. `email`). */
  fieldErrors: Record<string, string>;
  code: Code;
  /** ErrorInfo reason, e.g. `INVALID_CREDENTIALS`, when the server sent one. */
  reason?: string;
  /** Request id to quote to an admin, when known. */
  requestId?: string;
  /** Worth trying again as is (network trouble, overload). */
  retryable: boolean;
}

export const NOT_AVAILABLE_MESSAGE = "This part of the CDP is not available on this server yet";

// Reasons the contract documents; anything else falls back to the status code.
const REASONS: Record<string, { title: string; message: string }> = {
  INVALID_CREDENTIALS: {
    title: "Sign-in failed",
    message: "The email or password is incorrect, or the account is not active.",
  },
  RATE_LIMITED: {
    title: "Too many attempts",
    message: "Wait a minute, then try again.",
  },
  INVALID_REFRESH_TOKEN: {
    title: "Your session has ended",
    message: "Sign in again to continue.",
  },
  WEAK_PASSWORD: {
    title: "Choose a stronger password",
    message: "The password is too short or too easy to guess.",
  },
  INVALID_RESET_TOKEN: {
    title: "This link no longer works",
    message: "It has expired or was already used. Ask an admin for a new link.",
  },
  LAST_SUPER_ADMIN: {
    title: "Keep at least one super admin",
    message: "This change would leave the platform without an active super admin. Make someone else a super admin first.",
  },
  SELF_MODIFICATION: {
    title: "You can't change your own account here",
    message: "Ask another admin to change your role or status.",
  },
  CREDENTIAL_REVOKED: {
    title: "Credential revoked",
    message: "A revoked credential can't be rotated. Create a new one instead.",
  },
};

function byCode(code: Code, serverMessage: string): { title: string; message: string; retryable: boolean } {
  switch (code) {
    case Code.Unimplemented:
      return {
        title: "Not available yet",
        message: `${NOT_AVAILABLE_MESSAGE}.`,
        retryable: false,
      };
    case Code.Unauthenticated:
      return { title: "Your session has ended", message: "Sign in again to continue.", retryable: false };
    case Code.PermissionDenied:
      return {
        title: "You don't have access",
        message: "Your role doesn't allow this. Ask an admin if you need it.",
        retryable: false,
      };
    case Code.NotFound:
      return {
        title: "Not found",
        message: "It may have been deleted, or the link is wrong.",
        retryable: false,
      };
    case Code.AlreadyExists:
      return { title: "Already exists", message: serverMessage || "Something with the same name already exists.", retryable: false };
    case Code.InvalidArgument:
      return { title: "Check the form", message: serverMessage || "Some values are not valid.", retryable: false };
    case Code.FailedPrecondition:
      return { title: "Can't do that right now", message: serverMessage || "The item is not in a state that allows this.", retryable: false };
    case Code.OutOfRange:
      return { title: "Out of range", message: serverMessage || "A value is outside the allowed range.", retryable: false };
    case Code.ResourceExhausted:
      return { title: "Too many requests", message: "Wait a moment, then try again.", retryable: true };
    case Code.Unavailable:
      return {
        title: "Can't reach the server",
        message: "Check your connection and try again in a moment.",
        retryable: true,
      };
    case Code.DeadlineExceeded:
      return { title: "The server took too long", message: "Try again in a moment.", retryable: true };
    case Code.Canceled:
      return { title: "Cancelled", message: "The request was cancelled.", retryable: true };
    case Code.Aborted:
      return { title: "Changed by someone else", message: "Reload and try again.", retryable: true };
    case Code.Internal:
    case Code.Unknown:
    case Code.DataLoss:
    default:
      return {
        title: "Something went wrong",
        message: "The server couldn't complete the request. Try again; if it keeps happening, tell an admin.",
        retryable: true,
      };
  }
}

// The grpc-web transport reports a failed fetch (server down, offline) as UNKNOWN/UNAVAILABLE
// with the browser's TypeError text; say it plainly.
function isNetworkFailure(err: ConnectError): boolean {
  return (
    (err.code === Code.Unknown || err.code === Code.Unavailable || err.code === Code.Internal) &&
    /failed to fetch|networkerror|load failed|network request failed/i.test(err.rawMessage)
  );
}

function violationsToFields(badRequest: BadRequest | undefined): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const v of badRequest?.fieldViolations ?? []) {
    if (!v.field) continue;
    fields[v.field] ??= sentence(v.description || "This value is not valid.");
  }
  return fields;
}

function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const capital = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

export interface DescribeOptions {
  /**
   * The reason to assume when the server sent none with a given code, e.g. a SignIn refused
   * with UNAUTHENTICATED means INVALID_CREDENTIALS, not an expired session.
   */
  reasonForCode?: Partial<Record<Code, string>>;
}

export function describeError(error: unknown, options: DescribeOptions = {}): FriendlyError {
  const err = ConnectError.from(error);
  const info = err.findDetails(ErrorInfoDesc)[0] as unknown as ErrorInfo | undefined;
  const badRequest = err.findDetails(BadRequestDesc)[0] as unknown as BadRequest | undefined;
  const requestInfo = err.findDetails(RequestInfoDesc)[0] as unknown as RequestInfo | undefined;
  const requestId = requestInfo?.requestId || err.metadata.get("x-request-id") || undefined;
  const fieldErrors = violationsToFields(badRequest);
  const reason = info?.reason || options.reasonForCode?.[err.code] || undefined;

  if (isNetworkFailure(err)) {
    return { ...byCode(Code.Unavailable, ""), code: Code.Unavailable, fieldErrors, reason, requestId, retryable: true };
  }
  const base = byCode(err.code, err.rawMessage ? sentence(err.rawMessage) : "");
  const known = reason ? REASONS[reason] : undefined;
  let message = known?.message ?? base.message;
  if (!known && Object.keys(fieldErrors).length > 0 && err.code === Code.InvalidArgument) {
    message = "Some fields need attention.";
  }
  if (requestId && base.retryable && err.code !== Code.Unavailable) {
    message = `${message} (Request ${requestId})`;
  }
  return {
    title: known?.title ?? base.title,
    message,
    fieldErrors,
    code: err.code,
    reason,
    requestId,
    retryable: base.retryable,
  };
}

/**
 * The message for one form field: a violation named exactly `field`, or one whose path ends
 * with `.field` (e.g. `platform_user.role` for `role`).
 */
export function fieldError(fieldErrors: Record<string, string>, field: string): string | undefined {
  if (fieldErrors[field]) return fieldErrors[field];
  const suffix = `.${field}`;
  const key = Object.keys(fieldErrors).find((k) => k.endsWith(suffix));
  return key ? fieldErrors[key] : undefined;
}

export function isUnimplemented(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.Unimplemented;
}
