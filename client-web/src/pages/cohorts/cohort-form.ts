// The cohort editor's form: what CreateCohort and UpdateCohort take (Cohort in cohorts.proto),
// the checks made before sending, and the update mask of an edit.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { CohortKind, type Cohort, type CohortSchema } from "../../gen/cdp/v1/cohorts_pb";
import type { UserField } from "../../gen/cdp/v1/users_pb";
import { fromConditionGroup, toConditionGroup, treeProblems, type DraftGroup } from "../../lib/conditions";

export const MAX_NAME_LENGTH = 200;

/** Refresh intervals offered for dynamic cohorts, in seconds (0: the server's default, 24 h). */
export const REFRESH_INTERVALS: readonly { seconds: number; label: string }[] = [
  { seconds: 15 * 60, label: "Every 15 minutes" },
  { seconds: 60 * 60, label: "Every hour" },
  { seconds: 6 * 3600, label: "Every 6 hours" },
  { seconds: 12 * 3600, label: "Every 12 hours" },
  { seconds: 0, label: "Every 24 hours (default)" },
];

export interface CohortDraft {
  name: string;
  description: string;
  kind: CohortKind;
  refreshSeconds: number;
  definition: DraftGroup;
}

export function draftOfCohort(c: Cohort | undefined): CohortDraft {
  const seconds = c?.refreshInterval ? Number(c.refreshInterval.seconds) : 0;
  return {
    name: c?.name ?? "",
    description: c?.description ?? "",
    kind: c?.kind === CohortKind.STATIC ? CohortKind.STATIC : CohortKind.DYNAMIC,
    refreshSeconds: seconds === 24 * 3600 ? 0 : seconds,
    definition: fromConditionGroup(c?.definition),
  };
}

export interface CohortFormErrors {
  fields: Record<string, string>;
  /** Incomplete conditions by node id. */
  nodes: Map<string, string>;
}

export function validateCohort(d: CohortDraft, catalogue: ReadonlyMap<string, UserField>): CohortFormErrors {
  const fields: Record<string, string> = {};
  const name = d.name.trim();
  if (!name) fields.name = "Give the cohort a name.";
  else if (name.length > MAX_NAME_LENGTH) fields.name = `Use at most ${MAX_NAME_LENGTH} characters.`;
  const nodes = treeProblems(d.definition, catalogue);
  if (d.definition.nodes.length === 0) fields.definition = "Add at least one condition.";
  return { fields, nodes };
}

export function cohortMessage(d: CohortDraft, catalogue: ReadonlyMap<string, UserField>): MessageInitShape<typeof CohortSchema> {
  return {
    name: d.name.trim(),
    description: d.description.trim(),
    kind: d.kind,
    definition: toConditionGroup(d.definition, catalogue),
    refreshInterval: d.kind === CohortKind.DYNAMIC && d.refreshSeconds ? { seconds: BigInt(d.refreshSeconds) } : undefined,
  };
}

/** The paths UpdateCohort should change: the fields that differ from the saved cohort. */
export function cohortUpdateMask(d: CohortDraft, saved: CohortDraft, catalogue: ReadonlyMap<string, UserField>): string[] {
  const paths: string[] = [];
  if (d.name.trim() !== saved.name) paths.push("name");
  if (d.description.trim() !== saved.description) paths.push("description");
  if (d.kind === CohortKind.DYNAMIC && d.refreshSeconds !== saved.refreshSeconds) paths.push("refresh_interval");
  const a = JSON.stringify(toConditionGroup(d.definition, catalogue), (_, v) => (typeof v === "bigint" ? v.toString() : v));
  const b = JSON.stringify(toConditionGroup(saved.definition, catalogue), (_, v) => (typeof v === "bigint" ? v.toString() : v));
  if (a !== b) paths.push("definition");
  return paths;
}
