// The SDK as a consumer sees it: import by the package's export paths, build and encode
// messages, and (when CDP_SDK_TEST_URL points at a live server) call it over grpc-web.
import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AuthService, SignInRequestSchema, AuthProvider } from "@cdp/api/cdp/v1/auth_pb";
import { RedemptionService } from "@cdp/api/cdp/v1/redemption_pb";

test("messages round-trip through the wire format", () => {
  const request = create(SignInRequestSchema, { email: "a@example.com", password: "secret value" });
  const decoded = fromBinary(SignInRequestSchema, toBinary(SignInRequestSchema, request));
  assert.equal(decoded.email, "a@example.com");
  assert.equal(decoded.password, "secret value");
});

test("service descriptors name every RPC", () => {
  assert.deepEqual(Object.keys(RedemptionService.method).sort(), ["listUserPromotions", "redeemPromotion", "revertRedemption", "validatePromotion"]);
  assert.equal(AuthService.typeName, "cdp.v1.AuthService");
});

test("a live server answers GetAuthConfig over grpc-web", async () => {
  assert.ok(process.env.CDP_SDK_TEST_URL, "set CDP_SDK_TEST_URL to a running server (tests/interop/run.sh does)");
  const client = createClient(AuthService, createGrpcWebTransport({ baseUrl: process.env.CDP_SDK_TEST_URL }));
  const config = await client.getAuthConfig({});
  assert.equal(config.provider, AuthProvider.LOCAL);
});
