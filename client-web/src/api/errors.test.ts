import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { describeError, fieldError, NOT_AVAILABLE_MESSAGE } from "./errors";
import { BadRequestDesc, ErrorInfoDesc, RequestInfoDesc } from "./rpc-details";

/** An error as the grpc-web transport parses it from `grpc-status-details-bin`. */
function wireError(code: Code, message: string, details: { desc: typeof ErrorInfoDesc; value: Record<string, unknown> }[] = []) {
  const err = new ConnectError(message, code);
  err.details = details.map((d) => ({ type: d.desc.typeName, value: toBinary(d.desc, create(d.desc, d.value)) }));
  return err;
}

describe("describeError", () => {
  it("says plainly that a service is not on this server (UNIMPLEMENTED)", () => {
    const e = describeError(new ConnectError("unknown service cdp.v1.CohortService", Code.Unimplemented));
    expect(e.message).toContain(NOT_AVAILABLE_MESSAGE);
    expect(e.message).not.toContain("cdp.v1");
    expect(e.retryable).toBe(false);
  });

  it("switches on the ErrorInfo reason before the code", () => {
    const e = describeError(
      wireError(Code.Unauthenticated, "invalid credentials", [{ desc: ErrorInfoDesc, value: { reason: "INVALID_CREDENTIALS", domain: "cdp" } }]),
    );
    expect(e.reason).toBe("INVALID_CREDENTIALS");
    expect(e.title).toBe("Sign-in failed");
    expect(e.message).toMatch(/email or password is incorrect/);
  });

  it("turns BadRequest field violations into per-field messages", () => {
    const e = describeError(
      wireError(Code.InvalidArgument, "bad request", [
        {
          desc: BadRequestDesc,
          value: {
            fieldViolations: [
              { field: "email", description: "must be a valid email address" },
              { field: "platform_user.role", description: "ROLE_SUPER_ADMIN needs super_admin.grant" },
            ],
          },
        },
      ]),
    );
    expect(e.fieldErrors.email).toBe("Must be a valid email address.");
    expect(fieldError(e.fieldErrors, "role")).toBe("ROLE_SUPER_ADMIN needs super_admin.grant.");
    expect(e.message).toBe("Some fields need attention.");
  });

  it("reads outgoing-style details too (errors built in the client)", () => {
    const err = new ConnectError("x", Code.FailedPrecondition, undefined, [
      { desc: ErrorInfoDesc, value: create(ErrorInfoDesc, { reason: "LAST_SUPER_ADMIN" }) },
    ]);
    expect(describeError(err).title).toBe("Keep at least one super admin");
  });

  it("assumes a reason the caller names when the server sent none", () => {
    const refused = new ConnectError("unauthenticated", Code.Unauthenticated);
    expect(describeError(refused).title).toBe("Your session has ended");
    expect(describeError(refused, { reasonForCode: { [Code.Unauthenticated]: "INVALID_CREDENTIALS" } }).title).toBe("Sign-in failed");
  });

  it("maps each code to words", () => {
    expect(describeError(new ConnectError("", Code.PermissionDenied)).title).toBe("You don't have access");
    expect(describeError(new ConnectError("", Code.NotFound)).title).toBe("Not found");
    expect(describeError(new ConnectError("", Code.Unauthenticated)).title).toBe("Your session has ended");
    expect(describeError(new ConnectError("", Code.ResourceExhausted)).retryable).toBe(true);
    expect(describeError(new ConnectError("name is taken", Code.AlreadyExists)).message).toBe("Name is taken.");
  });

  it("keeps internal details out of server errors but quotes the request id", () => {
    const err = wireError(Code.Internal, "db pool exhausted at store.rs:42", [
      { desc: RequestInfoDesc, value: { requestId: "req-123" } },
    ]);
    const e = describeError(err);
    expect(e.title).toBe("Something went wrong");
    expect(e.message).not.toContain("store.rs");
    expect(e.message).toContain("req-123");
  });

  it("recognises a server that can't be reached", () => {
    const e = describeError(new ConnectError("Failed to fetch", Code.Unknown));
    expect(e.title).toBe("Can't reach the server");
    expect(e.retryable).toBe(true);
  });

  it("accepts any thrown value", () => {
    expect(describeError(new Error("boom")).title).toBe("Something went wrong");
    expect(describeError("boom").code).toBe(Code.Unknown);
  });
});
