// How the Integrations page words and colours what the server reports: run states, the
// health of each integration, and a DAG card's freshness. Pure functions, tested on their own.
import type { JsonObject } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { describeError, type FriendlyError } from "../../api/errors";
import type { BadgeTone } from "../../components/Badge";
import { DagRunState, IntegrationKind, type DagCard, type IntegrationHealth } from "../../gen/cdp/v1/integrations_pb";
import { toDate } from "../../lib/format";

export const RUN_STATES: Record<DagRunState, { label: string; tone: BadgeTone }> = {
  [DagRunState.UNSPECIFIED]: { label: "Unknown", tone: "neutral" },
  [DagRunState.QUEUED]: { label: "Queued", tone: "amber" },
  [DagRunState.RUNNING]: { label: "Running", tone: "blue" },
  [DagRunState.SUCCESS]: { label: "Succeeded", tone: "green" },
  [DagRunState.FAILED]: { label: "Failed", tone: "red" },
};

export const INTEGRATION_NAMES: Record<IntegrationKind, string> = {
  [IntegrationKind.UNSPECIFIED]: "Unknown",
  [IntegrationKind.AIRFLOW]: "Airflow",
  [IntegrationKind.AMPLITUDE]: "Amplitude",
  [IntegrationKind.BRAZE]: "Braze",
  [IntegrationKind.POSTGRES]: "PostgreSQL",
  [IntegrationKind.REDIS]: "Redis",
  [IntegrationKind.SUPABASE_AUTH]: "Supabase Auth",
};

/** What each integration is for, in the words of someone running the CDP. */
export const INTEGRATION_ROLES: Record<IntegrationKind, string> = {
  [IntegrationKind.UNSPECIFIED]: "",
  [IntegrationKind.AIRFLOW]: "Runs the ETL DAGs that load users, activity and identities",
  [IntegrationKind.AMPLITUDE]: "Cohort imports and uploads",
  [IntegrationKind.BRAZE]: "Cohort sync and profile enrichment",
  [IntegrationKind.POSTGRES]: "The CDP's database",
  [IntegrationKind.REDIS]: "Promotion activation state and events",
  [IntegrationKind.SUPABASE_AUTH]: "Sign-in of platform users",
};

export type HealthLevel = "ok" | "down" | "off";

export function healthLevel(health: IntegrationHealth): HealthLevel {
  if (!health.configured) return "off";
  return health.reachable ? "ok" : "down";
}

export const HEALTH_TONES: Record<HealthLevel, BadgeTone> = { ok: "green", down: "red", off: "neutral" };
export const HEALTH_LABELS: Record<HealthLevel, string> = { ok: "Healthy", down: "Unreachable", off: "Not configured" };

/**
 * The integrations the strip shows: the five the monitor is about, and Supabase Auth only
 * when it is in use (with the built-in sign-in there is nothing to watch).
 */
export function visibleIntegrations(all: readonly IntegrationHealth[]): IntegrationHealth[] {
  return all.filter((h) => h.kind !== IntegrationKind.UNSPECIFIED && (h.kind !== IntegrationKind.SUPABASE_AUTH || h.configured));
}

/** True when the latest failed sync is newer than the latest successful one. */
export function lastSyncFailed(health: IntegrationHealth): boolean {
  const failed = toDate(health.lastFailedSyncAt);
  if (!failed) return false;
  const succeeded = toDate(health.lastSuccessfulSyncAt);
  return !succeeded || failed > succeeded;
}

export type Freshness = { kind: "fresh" } | { kind: "stale"; since: Date } | { kind: "never" };

/** Whether the data a DAG feeds is up to date, as the server judged it. */
export function freshness(card: DagCard): Freshness {
  const since = toDate(card.staleSince);
  if (since) return { kind: "stale", since };
  if (!card.lastSuccessfulRunAt) return { kind: "never" };
  return { kind: "fresh" };
}

/** A run is in flight: the page polls until it ends. */
export function hasActiveRun(cards: readonly DagCard[]): boolean {
  return cards.some((c) => c.recentRuns.some((r) => r.state === DagRunState.QUEUED || r.state === DagRunState.RUNNING));
}

/**
 * The conf a user typed for a run: empty means none; otherwise it must be a JSON object.
 * Returns the object, or an error sentence for the form.
 */
export function parseConf(text: string): { conf?: JsonObject; error?: string } {
  const trimmed = text.trim();
  if (!trimmed) return {};
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return { error: "Enter valid JSON, e.g. {\"day\": \"2026-11-20\"}." };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: "The run configuration must be a JSON object, e.g. {\"day\": \"2026-11-20\"}." };
  }
  return { conf: value as JsonObject };
}

// The monitor's own refusals carry the server's words, which say what to fix (which setting,
// which DAG); the generic wording would blame the user's connection for Airflow's.
const INTEGRATION_TITLES: Record<string, string> = {
  INTEGRATION_UNREACHABLE: "Airflow is not answering",
  INTEGRATION_CREDENTIALS_REJECTED: "Airflow rejected the CDP's credentials",
  INTEGRATION_NOT_CONFIGURED: "Airflow is not configured",
  DAG_NOT_FOUND: "Airflow has no such DAG",
  ALREADY_EXISTS: "That run already exists",
};

export function describeIntegrationError(error: unknown): FriendlyError {
  const friendly = describeError(error);
  const title = friendly.reason ? INTEGRATION_TITLES[friendly.reason] : undefined;
  if (!title) return friendly;
  const raw = ConnectError.from(error).rawMessage;
  return { ...friendly, title, message: raw || friendly.message };
}
