import { useState } from "react";
import { create, toJson } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { describeError } from "../../api/errors";
import { BadRequestDesc } from "../../api/rpc-details";
import { PromotionSchema, PromotionStatus } from "../../gen/cdp/v1/promotions_pb";
import { editableFields, emptyPromotionDraft, promotionMessage, validatePromotion, type PromotionDraft } from "./promotion-form";
import { PromotionForm, type CohortOption } from "./PromotionForm";

const NOW = new Date("2030-06-01T12:00:00");
const COHORTS: CohortOption[] = [
  { id: "3", name: "Power sellers", hint: "2,412 users · dynamic", isStatic: false },
  { id: "7", name: "Ramadan snapshot", hint: "15,820 users · static", isStatic: true },
];

function Harness({ onSubmit = vi.fn(async () => {}), initial = emptyPromotionDraft(), failure = null, status }: {
  onSubmit?: (d: PromotionDraft) => Promise<void>;
  initial?: PromotionDraft;
  failure?: ReturnType<typeof describeError> | null;
  status?: PromotionStatus;
}) {
  const [draft, setDraft] = useState(initial);
  return (
    <PromotionForm
      draft={draft}
      onChange={setDraft}
      cohorts={COHORTS}
      addons={["pinning", "vip"]}
      editable={status ? editableFields(status) : undefined}
      onSubmit={() => onSubmit(draft)}
      onCancel={() => {}}
      failure={failure}
      submitLabel="Create draft"
      now={NOW}
    />
  );
}

const submit = () => userEvent.click(screen.getByRole("button", { name: "Create draft" }));

async function fillValid(user = userEvent.setup()) {
  await user.type(screen.getByLabelText("Name"), "Ramadan bonus");
  await user.selectOptions(screen.getByLabelText("Cohort"), "3");
  await user.type(screen.getByLabelText("Credits granted (credits)"), "500");
  return user;
}

describe("PromotionForm validation", () => {
  it("names every missing required field and does not submit", async () => {
    const onSubmit = vi.fn(async () => {});
    render(<Harness onSubmit={onSubmit} />);
    await submit();
    expect(screen.getByText("Give the promotion a name.")).toBeInTheDocument();
    expect(screen.getByText("Choose the cohort whose members get the promotion.")).toBeInTheDocument();
    expect(screen.getByText("Enter a number.")).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("wants whole credits, a discount up to 100% and an add-on slug", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await fillValid(user);
    await user.clear(screen.getByLabelText("Credits granted (credits)"));
    await user.type(screen.getByLabelText("Credits granted (credits)"), "12.5");
    await submit();
    expect(screen.getByText("Credits are a whole number.")).toBeInTheDocument();

    await user.click(screen.getByRole("radio", { name: "Credit discount" }));
    await user.clear(screen.getByLabelText("Discount (%)"));
    await user.type(screen.getByLabelText("Discount (%)"), "120");
    expect(screen.getByText("A discount is at most 100%.")).toBeInTheDocument();

    await user.click(screen.getByRole("radio", { name: "Free add-on" }));
    await user.clear(screen.getByLabelText("Free uses (uses)"));
    await user.type(screen.getByLabelText("Free uses (uses)"), "2");
    expect(screen.getByText("Choose the add-on to give.")).toBeInTheDocument();
    await user.type(screen.getByLabelText("Add-on"), "Power Pin!");
    expect(screen.getByLabelText("Add-on")).toHaveValue("power_pin!");
    expect(screen.getByText(/Use the add-on's slug/)).toBeInTheDocument();
    await user.type(screen.getByLabelText("Add-on"), "{Backspace}");
    expect(screen.queryByText(/Use the add-on's slug/)).not.toBeInTheDocument();
  });

  it("checks the shared code's shape and hides it for unique codes", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await fillValid(user);
    await user.type(screen.getByLabelText("Shared code"), "ab!");
    await submit();
    expect(screen.getByText("4 to 32 characters: letters, digits and -.")).toBeInTheDocument();
    expect(screen.getByLabelText("Shared code")).toHaveValue("AB!");
    await user.click(screen.getByRole("radio", { name: /A code per user/ }));
    expect(screen.queryByLabelText("Shared code")).not.toBeInTheDocument();
    expect(screen.queryByText("4 to 32 characters: letters, digits and -.")).not.toBeInTheDocument();
  });

  it("keeps per-user limits under the total and the budget to credit promotions", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await fillValid(user);
    await user.type(screen.getByLabelText("Total redemptions"), "10");
    await user.clear(screen.getByLabelText("Per user"));
    await user.type(screen.getByLabelText("Per user"), "20");
    await user.type(screen.getByLabelText("Credit budget"), "lots");
    await submit();
    expect(screen.getByText("Can't be above the total number of redemptions.")).toBeInTheDocument();
    expect(screen.getByText(/Enter a whole number of credits/)).toBeInTheDocument();
    await user.click(screen.getByRole("radio", { name: "Free listing days" }));
    expect(screen.queryByLabelText("Credit budget")).not.toBeInTheDocument();
  });

  it("wants the end after the start and in the future", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await fillValid(user);
    await user.type(screen.getByLabelText("Starts"), "2030-07-10T10:00");
    await user.type(screen.getByLabelText("Ends"), "2030-07-01T10:00");
    await submit();
    expect(screen.getByText("Must be after the start.")).toBeInTheDocument();
    await user.clear(screen.getByLabelText("Starts"));
    await user.clear(screen.getByLabelText("Ends"));
    await user.type(screen.getByLabelText("Ends"), "2030-05-01T10:00");
    expect(screen.getByText("Must be in the future.")).toBeInTheDocument();
  });

  it("refuses a live audience on a static cohort", async () => {
    const user = userEvent.setup();
    render(<Harness />);
    await fillValid(user);
    await user.selectOptions(screen.getByLabelText("Cohort"), "7");
    await user.click(screen.getByRole("radio", { name: /Live/ }));
    await submit();
    expect(screen.getByText(/this cohort is static/)).toBeInTheDocument();
  });

  it("submits a valid promotion as the message the server takes", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn(async () => {});
    render(<Harness onSubmit={onSubmit} />);
    await fillValid(user);
    await user.type(screen.getByLabelText("Shared code"), "ramadan-500");
    await user.type(screen.getByLabelText("Total redemptions"), "2,000");
    await user.type(screen.getByLabelText("Credit budget"), "1000000");
    await user.type(screen.getByLabelText("Time to live"), "7");
    await submit();
    expect(onSubmit).toHaveBeenCalledTimes(1);
    const draft = (onSubmit.mock.calls[0] as unknown as [PromotionDraft])[0];
    expect(toJson(PromotionSchema, create(PromotionSchema, promotionMessage(draft)))).toEqual({
      name: "Ramadan bonus",
      cohortId: "3",
      type: "PROMOTION_TYPE_BONUS_CREDITS",
      value: 500,
      codeMode: "CODE_MODE_SHARED",
      code: "RAMADAN-500",
      limits: { totalRedemptions: "2000", perUser: 1, creditBudget: "1000000" },
      ttl: "604800s",
      audience: "PROMOTION_AUDIENCE_FROZEN",
    });
  });

  it("puts the server's field violations under the fields they name", () => {
    const err = new ConnectError("invalid", Code.InvalidArgument, undefined, [
      {
        desc: BadRequestDesc,
        value: create(BadRequestDesc, { fieldViolations: [{ field: "promotion.limits.per_user", description: "must not be below what is already used (12)" }] }),
      },
    ]);
    render(<Harness failure={describeError(err)} />);
    expect(screen.getByText("Must not be below what is already used (12).")).toBeInTheDocument();
    expect(screen.getByLabelText("Per user")).toHaveAttribute("aria-invalid", "true");
  });

  it("lets a running promotion change only its name, description, end and limits", () => {
    render(<Harness status={PromotionStatus.ACTIVE} />);
    expect(screen.getByLabelText("Name")).toBeEnabled();
    expect(screen.getByLabelText("Ends")).toBeEnabled();
    expect(screen.getByLabelText("Total redemptions")).toBeEnabled();
    expect(screen.getByLabelText("Cohort")).toBeDisabled();
    expect(screen.getByLabelText("Starts")).toBeDisabled();
    expect(screen.getByRole("radio", { name: "Credit discount" })).toBeDisabled();
  });
});

describe("validatePromotion", () => {
  it("checks only what the status lets change", () => {
    const errors = validatePromotion({ ...emptyPromotionDraft(), name: "x" }, { editable: editableFields(PromotionStatus.EXPIRED), now: NOW });
    expect(errors).toEqual({});
  });
});
