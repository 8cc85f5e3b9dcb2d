import { toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Combinator, ConditionGroupSchema, Operator } from "../gen/cdp/v1/common_pb";
import { FieldType } from "../gen/cdp/v1/users_pb";
import { CATALOGUE } from "./catalogue.fixture";
import {
  decodeFilter,
  describeTree,
  emptyCondition,
  emptyGroup,
  encodeFilter,
  fieldMap,
  fromConditionGroup,
  nodeIdForPath,
  toConditionGroup,
  treeProblems,
  valueKind,
  withOperator,
  type DraftCondition,
  type DraftGroup,
} from "./conditions";

const fields = fieldMap(CATALOGUE);

function cond(field: string, operator: Operator, patch: Partial<DraftCondition> = {}): DraftCondition {
  return { ...emptyCondition(field, operator), ...patch };
}

function group(combinator: Combinator, ...nodes: DraftGroup["nodes"]): DraftGroup {
  return { ...emptyGroup(combinator), nodes };
}

describe("valueKind", () => {
  it("asks for the value each operator documents", () => {
    expect(valueKind(FieldType.NUMBER, Operator.GREATER_THAN)).toBe("number");
    expect(valueKind(FieldType.NUMBER, Operator.BETWEEN)).toBe("numberRange");
    expect(valueKind(FieldType.NUMBER, Operator.IN)).toBe("numbers");
    expect(valueKind(FieldType.TEXT, Operator.IN)).toBe("texts");
    expect(valueKind(FieldType.LIST, Operator.CONTAINS_ALL)).toBe("texts");
    expect(valueKind(FieldType.TIMESTAMP, Operator.EQUALS)).toBe("date");
    expect(valueKind(FieldType.TIMESTAMP, Operator.BETWEEN)).toBe("dateRange");
    expect(valueKind(FieldType.TIMESTAMP, Operator.WITHIN_LAST_DAYS)).toBe("days");
    expect(valueKind(FieldType.BOOLEAN, Operator.EQUALS)).toBe("flag");
    expect(valueKind(FieldType.COHORT, Operator.IN_COHORT)).toBe("cohort");
    expect(valueKind(FieldType.TEXT, Operator.IS_SET)).toBe("none");
  });
});

describe("toConditionGroup", () => {
  it("serialises a nested AND/OR tree with typed values", () => {
    const tree = group(
      Combinator.AND,
      cond("total_credits_spent", Operator.GREATER_OR_EQUAL, { value: "1,000" }),
      group(
        Combinator.OR,
        cond("verticals_listed_in", Operator.CONTAINS_ANY, { items: ["cars", "property"] }),
        cond("last_transaction_date", Operator.WITHIN_LAST_DAYS, { value: "30" }),
        cond("last_transaction_date", Operator.BETWEEN, { value: "2024-01-01", valueTo: "2024-03-31" }),
      ),
      cond("is_block", Operator.EQUALS, { value: "false" }),
      cond("cohort", Operator.IN_COHORT, { value: "42" }),
      cond("total_credits_spent", Operator.IN, { items: ["10", "20.5"] }),
      cond("user_type", Operator.IS_SET),
    );
    const message = toConditionGroup(tree, fields);
    expect(toJson(ConditionGroupSchema, message)).toEqual({
      combinator: "COMBINATOR_AND",
      nodes: [
        { condition: { field: "total_credits_spent", operator: "OPERATOR_GREATER_OR_EQUAL", value: { number: 1000 } } },
        {
          group: {
            combinator: "COMBINATOR_OR",
            nodes: [
              { condition: { field: "verticals_listed_in", operator: "OPERATOR_CONTAINS_ANY", value: { texts: { values: ["cars", "property"] } } } },
              { condition: { field: "last_transaction_date", operator: "OPERATOR_WITHIN_LAST_DAYS", value: { days: "30" } } },
              {
                condition: {
                  field: "last_transaction_date",
                  operator: "OPERATOR_BETWEEN",
                  value: { date: "2024-01-01" },
                  valueTo: { date: "2024-03-31" },
                },
              },
            ],
          },
        },
        { condition: { field: "is_block", operator: "OPERATOR_EQUALS", value: { flag: false } } },
        { condition: { field: "cohort", operator: "OPERATOR_IN_COHORT", value: { cohortId: "42" } } },
        { condition: { field: "total_credits_spent", operator: "OPERATOR_IN", value: { numbers: { values: [10, 20.5] } } } },
        { condition: { field: "user_type", operator: "OPERATOR_IS_SET" } },
      ],
    });
  });

  it("round-trips through the draft and the URL", () => {
    const tree = group(
      Combinator.OR,
      cond("user_type", Operator.EQUALS, { value: "office" }),
      group(Combinator.AND, cond("lifecycle_stage", Operator.IN, { items: ["active", "about_to_churn"] }), cond("total_credits_spent", Operator.BETWEEN, { value: "5", valueTo: "10" })),
    );
    const message = toConditionGroup(tree, fields);
    const decoded = decodeFilter(encodeFilter(message));
    expect(decoded).toBeDefined();
    const again = toConditionGroup(fromConditionGroup(decoded), fields);
    expect(toJson(ConditionGroupSchema, again)).toEqual(toJson(ConditionGroupSchema, message));
  });

  it("ignores a URL filter that is not a tree", () => {
    expect(decodeFilter("{not json")).toBeUndefined();
    expect(decodeFilter('{"combinator":"COMBINATOR_NOPE"}')).toBeUndefined();
    expect(decodeFilter("")).toBeUndefined();
  });
});

describe("treeProblems", () => {
  it("names every incomplete condition and empty nested group", () => {
    const blank = emptyCondition();
    const noNumber = cond("total_credits_spent", Operator.GREATER_THAN, { value: "abc" });
    const backwards = cond("total_credits_spent", Operator.BETWEEN, { value: "10", valueTo: "5" });
    const emptyInner = emptyGroup(Combinator.OR);
    const ok = cond("user_type", Operator.EQUALS, { value: "office" });
    const problems = treeProblems(group(Combinator.AND, blank, noNumber, backwards, emptyInner, ok), fields);
    expect(problems.get(blank.id)).toBe("Choose a field.");
    expect(problems.get(noNumber.id)).toBe("Enter a number.");
    expect(problems.get(backwards.id)).toMatch(/must not be above/);
    expect(problems.get(emptyInner.id)).toMatch(/Add a condition/);
    expect(problems.has(ok.id)).toBe(false);
  });

  it("wants a positive whole number of days", () => {
    const zero = cond("last_transaction_date", Operator.MORE_THAN_DAYS_AGO, { value: "0" });
    expect(treeProblems(group(Combinator.AND, zero), fields).get(zero.id)).toMatch(/1 or more/);
  });
});

describe("server errors", () => {
  it("maps a violation path to the node it names", () => {
    const inner = cond("user_type", Operator.EQUALS, { value: "x" });
    const g = group(Combinator.OR, cond("is_block", Operator.EQUALS), inner);
    const root = group(Combinator.AND, cond("user_type", Operator.IS_SET), g);
    expect(nodeIdForPath(root, "definition.nodes[1].group.nodes[1].condition.value")).toBe(inner.id);
    expect(nodeIdForPath(root, "definition.nodes[1].group")).toBe(g.id);
    expect(nodeIdForPath(root, "definition.combinator")).toBeUndefined();
  });
});

describe("operator changes", () => {
  it("keeps a typed value when the new operator takes the same kind", () => {
    const c = cond("total_credits_spent", Operator.GREATER_THAN, { value: "100" });
    expect(withOperator(c, Operator.LESS_THAN, FieldType.NUMBER).value).toBe("100");
    expect(withOperator(c, Operator.BETWEEN, FieldType.NUMBER).value).toBe("100");
    expect(withOperator(c, Operator.IN, FieldType.NUMBER).items).toEqual(["100"]);
    const d = cond("last_transaction_date", Operator.BEFORE, { value: "2024-01-01" });
    expect(withOperator(d, Operator.WITHIN_LAST_DAYS, FieldType.TIMESTAMP).value).toBe("");
  });
});

describe("describeTree", () => {
  it("reads like a sentence", () => {
    const tree = group(
      Combinator.AND,
      cond("total_credits_spent", Operator.GREATER_OR_EQUAL, { value: "100" }),
      group(Combinator.OR, cond("user_type", Operator.EQUALS, { value: "office" }), cond("verticals_listed_in", Operator.CONTAINS_ANY, { items: ["cars"] })),
    );
    expect(describeTree(tree, { fields })).toBe(
      "Total credits spent is at least 100 credits and (User type is office or Verticals listed in includes any of cars)",
    );
  });
});
