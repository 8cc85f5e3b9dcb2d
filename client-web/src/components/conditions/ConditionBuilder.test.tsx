import { useState } from "react";
import { toJson } from "@bufbuild/protobuf";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { Combinator, ConditionGroupSchema } from "../../gen/cdp/v1/common_pb";
import { emptyGroup, fieldMap, toConditionGroup, treeProblems, type DraftGroup } from "../../lib/conditions";
import { CATALOGUE } from "../../lib/catalogue.fixture";
import { ConditionBuilder } from "./ConditionBuilder";

const fields = fieldMap(CATALOGUE);

/** The builder as a page uses it, with the tree's message shown for assertions. */
function Harness({ initial = emptyGroup() }: { initial?: DraftGroup }) {
  const [tree, setTree] = useState(initial);
  const problems = treeProblems(tree, fields);
  return (
    <>
      <ConditionBuilder
        value={tree}
        onChange={setTree}
        fields={CATALOGUE}
        cohorts={[{ id: "7", name: "Power sellers" }]}
        problems={problems}
      />
      <output data-testid="problems">{problems.size}</output>
      <output data-testid="message">{JSON.stringify(toJson(ConditionGroupSchema, toConditionGroup(tree, fields)))}</output>
    </>
  );
}

const message = () => JSON.parse(screen.getByTestId("message").textContent ?? "{}");
const conditions = () => screen.getAllByTestId("condition");

describe("ConditionBuilder", () => {
  it("starts empty and says that every user matches", () => {
    render(<Harness />);
    expect(screen.getByText(/every user matches/)).toBeInTheDocument();
    expect(message()).toEqual({ combinator: "COMBINATOR_AND" });
  });

  it("builds a number condition with the field's operators and unit", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    const row = conditions()[0];
    expect(within(row).getByText("Choose a field.")).toBeInTheDocument();
    await user.selectOptions(within(row).getByLabelText("Field"), "total_credits_spent");
    const operators = within(within(row).getByLabelText("Comparison")).getAllByRole("option").map((o) => o.textContent);
    expect(operators).toContain("is at least");
    expect(operators).toContain("is between");
    expect(within(row).getByText("credits")).toBeInTheDocument();
    await user.selectOptions(within(row).getByLabelText("Comparison"), "is at least");
    await user.type(within(row).getByLabelText("Value"), "250");
    expect(screen.getByTestId("problems")).toHaveTextContent("0");
    expect(message().nodes).toEqual([
      { condition: { field: "total_credits_spent", operator: "OPERATOR_GREATER_OR_EQUAL", value: { number: 250 } } },
    ]);
  });

  it("offers two bounds for between and days for relative dates", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    const row = conditions()[0];
    await user.selectOptions(within(row).getByLabelText("Field"), "total_credits_spent");
    await user.selectOptions(within(row).getByLabelText("Comparison"), "is between");
    await user.type(within(row).getByLabelText("From"), "10");
    await user.type(within(row).getByLabelText("To"), "20");
    expect(message().nodes[0].condition).toEqual({
      field: "total_credits_spent",
      operator: "OPERATOR_BETWEEN",
      value: { number: 10 },
      valueTo: { number: 20 },
    });

    await user.selectOptions(within(row).getByLabelText("Field"), "last_transaction_date");
    expect(within(row).getByLabelText("Comparison")).toHaveDisplayValue("is within the last");
    await user.type(within(row).getByLabelText("Days"), "3x0");
    expect(within(row).getByLabelText("Days")).toHaveValue("30");
    expect(message().nodes[0].condition).toEqual({ field: "last_transaction_date", operator: "OPERATOR_WITHIN_LAST_DAYS", value: { days: "30" } });

    await user.selectOptions(within(row).getByLabelText("Comparison"), "is before");
    expect(within(row).getByLabelText("Date")).toHaveAttribute("type", "date");
  });

  it("takes lists of slugs for list fields and toggles for a complete set of values", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    let row = conditions()[0];
    await user.selectOptions(within(row).getByLabelText("Field"), "verticals_listed_in");
    await user.type(within(row).getByLabelText("Values"), "Cars{Enter}Real Estate,");
    expect(message().nodes[0].condition.value).toEqual({ texts: { values: ["cars", "real_estate"] } });
    await user.click(within(row).getByRole("button", { name: "Remove real_estate" }));
    expect(message().nodes[0].condition.value).toEqual({ texts: { values: ["cars"] } });

    await user.click(screen.getAllByRole("button", { name: "Add condition" })[0]);
    row = conditions()[1];
    await user.selectOptions(within(row).getByLabelText("Field"), "lifecycle_stage");
    await user.selectOptions(within(row).getByLabelText("Comparison"), "is any of");
    await user.click(within(row).getByRole("button", { name: "About to churn" }));
    await user.click(within(row).getByRole("button", { name: "Churned" }));
    expect(within(row).getByRole("button", { name: "About to churn" })).toHaveAttribute("aria-pressed", "true");
    expect(message().nodes[1].condition).toEqual({
      field: "lifecycle_stage",
      operator: "OPERATOR_IN",
      value: { texts: { values: ["about_to_churn", "churned"] } },
    });
  });

  it("asks yes or no for flags and picks a saved cohort for membership", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    const row = conditions()[0];
    await user.selectOptions(within(row).getByLabelText("Field"), "is_block");
    await user.selectOptions(within(row).getByLabelText("Value"), "No");
    expect(message().nodes[0].condition.value).toEqual({ flag: false });
    await user.selectOptions(within(row).getByLabelText("Field"), "cohort");
    await user.selectOptions(within(row).getByLabelText("Cohort"), "Power sellers");
    expect(message().nodes[0].condition).toEqual({ field: "cohort", operator: "OPERATOR_IN_COHORT", value: { cohortId: "7" } });
  });

  it("adds and removes nested groups, each with its own AND/OR", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    const root = screen.getByTestId("condition-root");
    await user.click(within(root).getByRole("button", { name: "Add condition" }));
    await user.selectOptions(within(conditions()[0]).getByLabelText("Field"), "user_type");
    await user.type(within(conditions()[0]).getByLabelText("Value"), "office");

    // A nested group says the other thing: AND at the top, OR inside.
    await user.click(within(root).getAllByRole("button", { name: "Add group" }).at(-1)!);
    const inner = screen.getByTestId("condition-group");
    expect(within(inner).getByRole("radio", { name: "Any" })).toHaveAttribute("aria-checked", "true");
    await user.selectOptions(within(within(inner).getAllByTestId("condition")[0]).getByLabelText("Field"), "total_credits_spent");
    await user.type(within(within(inner).getAllByTestId("condition")[0]).getByLabelText("Value"), "100");
    await user.click(within(inner).getByRole("button", { name: "Add condition" }));
    await user.selectOptions(within(within(inner).getAllByTestId("condition")[1]).getByLabelText("Field"), "verticals_listed_in");
    await user.type(within(within(inner).getAllByTestId("condition")[1]).getByLabelText("Values"), "cars{Enter}");

    // A group inside the group.
    await user.click(within(inner).getByRole("button", { name: "Add group" }));
    expect(screen.getAllByTestId("condition-group")).toHaveLength(2);
    const deepest = screen.getAllByTestId("condition-group")[1];
    expect(within(deepest).getByRole("radio", { name: "All" })).toHaveAttribute("aria-checked", "true");
    expect(Number(screen.getByTestId("problems").textContent)).toBeGreaterThan(0);
    await user.click(within(deepest).getByRole("button", { name: "Remove group" }));
    expect(screen.getAllByTestId("condition-group")).toHaveLength(1);
    expect(screen.getByTestId("problems")).toHaveTextContent("0");

    expect(message()).toEqual({
      combinator: "COMBINATOR_AND",
      nodes: [
        { condition: { field: "user_type", operator: "OPERATOR_EQUALS", value: { text: "office" } } },
        {
          group: {
            combinator: "COMBINATOR_OR",
            nodes: [
              { condition: { field: "total_credits_spent", operator: "OPERATOR_EQUALS", value: { number: 100 } } },
              { condition: { field: "verticals_listed_in", operator: "OPERATOR_CONTAINS_ANY", value: { texts: { values: ["cars"] } } } },
            ],
          },
        },
      ],
    });

    // Switching the top level to OR changes the combinator only.
    await user.click(within(root).getAllByRole("radio", { name: "Any" })[0]);
    expect(message().combinator).toBe("COMBINATOR_OR");
    await user.click(within(inner).getByRole("button", { name: "Remove group" }));
    expect(screen.queryByTestId("condition-group")).not.toBeInTheDocument();
    expect(message().nodes).toHaveLength(1);
  });

  it("removes a condition", async () => {
    const user = userEvent.setup();
    render(<Harness initial={{ ...emptyGroup(Combinator.AND) }} />);
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    await user.click(screen.getByRole("button", { name: "Add condition" }));
    expect(conditions()).toHaveLength(2);
    await user.click(within(conditions()[0]).getByRole("button", { name: "Remove condition" }));
    expect(conditions()).toHaveLength(1);
  });

  it("shows the server's refusal under the condition it names", () => {
    const tree = emptyGroup();
    render(
      <ConditionBuilder
        value={{ ...tree, nodes: [{ id: "c1", type: "condition", field: "user_type", operator: 1, value: "x", valueTo: "", items: [] }] }}
        onChange={() => {}}
        fields={CATALOGUE}
        errors={new Map([["c1", "Unknown user type."]])}
      />,
    );
    expect(within(screen.getByTestId("condition")).getByText("Unknown user type.")).toBeInTheDocument();
  });
});
