import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { CohortKind, CohortSchema } from "../../gen/cdp/v1/cohorts_pb";
import { Combinator, Operator } from "../../gen/cdp/v1/common_pb";
import { emptyCondition, fieldMap } from "../../lib/conditions";
import { CATALOGUE } from "../../lib/catalogue.fixture";
import { cohortMessage, cohortUpdateMask, draftOfCohort, validateCohort } from "./cohort-form";

const fields = fieldMap(CATALOGUE);
const saved = create(CohortSchema, {
  id: 9n,
  name: "Power sellers",
  kind: CohortKind.DYNAMIC,
  refreshInterval: { seconds: 3600n },
  definition: {
    combinator: Combinator.AND,
    nodes: [{ node: { case: "condition", value: { field: "total_credits_spent", operator: Operator.GREATER_THAN, value: { kind: { case: "number", value: 100 } } } } }],
  },
});

describe("cohort form", () => {
  it("needs a name and a condition", () => {
    const errors = validateCohort(draftOfCohort(undefined), fields);
    expect(errors.fields).toEqual({ name: "Give the cohort a name.", definition: "Add at least one condition." });
  });

  it("masks only what changed", () => {
    const before = draftOfCohort(saved);
    expect(cohortUpdateMask(before, before, fields)).toEqual([]);
    const renamed = { ...before, name: "Top sellers " };
    expect(cohortUpdateMask(renamed, before, fields)).toEqual(["name"]);
    const more = { ...before, definition: { ...before.definition, nodes: [...before.definition.nodes, { ...emptyCondition("user_type", Operator.EQUALS), value: "office" }] } };
    expect(cohortUpdateMask(more, before, fields)).toEqual(["definition"]);
    expect(cohortUpdateMask({ ...before, refreshSeconds: 0 }, before, fields)).toEqual(["refresh_interval"]);
  });

  it("sends no refresh interval for a static cohort", () => {
    const draft = { ...draftOfCohort(saved), kind: CohortKind.STATIC };
    expect(cohortMessage(draft, fields).refreshInterval).toBeUndefined();
    expect(cohortMessage(draftOfCohort(saved), fields).refreshInterval).toEqual({ seconds: 3600n });
  });
});
