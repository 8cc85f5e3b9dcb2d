import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoDesc } from "../../api/rpc-details";
import {
  DagCardSchema,
  DagRunSchema,
  DagRunState,
  IntegrationHealthSchema,
  IntegrationKind,
} from "../../gen/cdp/v1/integrations_pb";
import {
  describeIntegrationError,
  freshness,
  hasActiveRun,
  healthLevel,
  lastSyncFailed,
  parseConf,
  visibleIntegrations,
} from "./status";

const at = (iso: string) => timestampFromDate(new Date(iso));

describe("freshness", () => {
  it("is stale when the server sent stale_since", () => {
    const card = create(DagCardSchema, { lastSuccessfulRunAt: at("2026-11-20T03:05:00Z"), staleSince: at("2026-11-22T03:05:00Z") });
    expect(freshness(card)).toEqual({ kind: "stale", since: new Date("2026-11-22T03:05:00Z") });
  });
  it("is never when nothing succeeded, fresh otherwise", () => {
    expect(freshness(create(DagCardSchema, {}))).toEqual({ kind: "never" });
    expect(freshness(create(DagCardSchema, { lastSuccessfulRunAt: at("2026-11-25T03:05:00Z") }))).toEqual({ kind: "fresh" });
  });
});

describe("health", () => {
  it("grades configured, reachable and not configured", () => {
    expect(healthLevel(create(IntegrationHealthSchema, { configured: true, reachable: true }))).toBe("ok");
    expect(healthLevel(create(IntegrationHealthSchema, { configured: true, reachable: false }))).toBe("down");
    expect(healthLevel(create(IntegrationHealthSchema, { configured: false }))).toBe("off");
  });
  it("flags a failure newer than the last success", () => {
    const older = at("2026-11-24T00:00:00Z");
    const newer = at("2026-11-25T00:00:00Z");
    expect(lastSyncFailed(create(IntegrationHealthSchema, { lastSuccessfulSyncAt: older, lastFailedSyncAt: newer }))).toBe(true);
    expect(lastSyncFailed(create(IntegrationHealthSchema, { lastSuccessfulSyncAt: newer, lastFailedSyncAt: older }))).toBe(false);
    expect(lastSyncFailed(create(IntegrationHealthSchema, { lastFailedSyncAt: older }))).toBe(true);
    expect(lastSyncFailed(create(IntegrationHealthSchema, {}))).toBe(false);
  });
  it("shows Supabase Auth only when it is in use", () => {
    const kinds = (configured: boolean) =>
      visibleIntegrations(
        [IntegrationKind.AIRFLOW, IntegrationKind.POSTGRES, IntegrationKind.SUPABASE_AUTH].map((kind) =>
          create(IntegrationHealthSchema, { kind, configured }),
        ),
      ).map((h) => h.kind);
    expect(kinds(false)).toEqual([IntegrationKind.AIRFLOW, IntegrationKind.POSTGRES]);
    expect(kinds(true)).toEqual([IntegrationKind.AIRFLOW, IntegrationKind.POSTGRES, IntegrationKind.SUPABASE_AUTH]);
  });
});

describe("hasActiveRun", () => {
  it("is true while any run is queued or running", () => {
    const card = (state: DagRunState) => create(DagCardSchema, { recentRuns: [create(DagRunSchema, { state })] });
    expect(hasActiveRun([card(DagRunState.SUCCESS), card(DagRunState.QUEUED)])).toBe(true);
    expect(hasActiveRun([card(DagRunState.RUNNING)])).toBe(true);
    expect(hasActiveRun([card(DagRunState.SUCCESS), card(DagRunState.FAILED)])).toBe(false);
  });
});

describe("parseConf", () => {
  it("accepts nothing or a JSON object", () => {
    expect(parseConf("  ")).toEqual({});
    expect(parseConf('{"day": "2026-11-20"}')).toEqual({ conf: { day: "2026-11-20" } });
  });
  it("refuses other JSON and broken text", () => {
    expect(parseConf("[1]").error).toMatch(/JSON object/);
    expect(parseConf("42").error).toMatch(/JSON object/);
    expect(parseConf("{day:").error).toMatch(/valid JSON/);
  });
});

describe("describeIntegrationError", () => {
  it("keeps the server's words for Airflow's own failures", () => {
    const err = new ConnectError("Airflow at http://airflow:8080 does not answer: timeout after 10 s", Code.Unavailable);
    err.details = [
      { type: ErrorInfoDesc.typeName, value: toBinary(ErrorInfoDesc, create(ErrorInfoDesc, { reason: "INTEGRATION_UNREACHABLE", domain: "cdp" })) },
    ];
    const friendly = describeIntegrationError(err);
    expect(friendly.title).toBe("Airflow is not answering");
    expect(friendly.message).toBe("Airflow at http://airflow:8080 does not answer: timeout after 10 s");
  });
  it("leaves other failures to the shared wording", () => {
    const plain = new ConnectError("permission denied", Code.PermissionDenied);
    expect(describeIntegrationError(plain).title).toBe("You don't have access");
  });
});
