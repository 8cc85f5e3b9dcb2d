import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { BadRequestDesc } from "../../../api/rpc-details";
import { AccountStatus, CdpAttributesSchema, LifecycleStage } from "../../../gen/cdp/v1/users_pb";
import { CdpAttributesCard } from "./CdpAttributesCard";

const attributes = create(CdpAttributesSchema, { userId: 42n, accountStatus: AccountStatus.ACTIVE, tags: ["vip"], notes: "" });

function setup(onSave = vi.fn(async () => {}), canWrite = true) {
  render(<CdpAttributesCard attributes={attributes} computedStage={LifecycleStage.ACTIVE} canWrite={canWrite} onSave={onSave} />);
  return onSave;
}

describe("CdpAttributesCard", () => {
  it("offers no edit without users.write", () => {
    setup(vi.fn(), false);
    expect(screen.queryByRole("button", { name: "Edit" })).not.toBeInTheDocument();
    expect(screen.getByText("vip")).toBeInTheDocument();
  });

  it("sends only the changed attributes in the field mask", async () => {
    const user = userEvent.setup();
    const onSave = setup();
    await user.click(screen.getByRole("button", { name: "Edit" }));
    await user.selectOptions(screen.getByLabelText("Account status"), "Under review");
    await user.type(screen.getByLabelText("Tags"), "Dealer{Enter}");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(onSave).toHaveBeenCalledWith({
      cdpAttributes: { userId: 42n, accountStatus: AccountStatus.UNDER_REVIEW, lifecycleStageOverride: LifecycleStage.UNSPECIFIED, tags: ["vip", "dealer"], notes: "" },
      updateMask: { paths: ["account_status", "tags"] },
    });
  });

  it("checks tags and notes before sending", async () => {
    const user = userEvent.setup();
    const onSave = setup();
    await user.click(screen.getByRole("button", { name: "Edit" }));
    await user.type(screen.getByLabelText("Tags"), `${"x".repeat(41)}{Enter}`);
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(screen.getByText("Each tag has at most 40 characters.")).toBeInTheDocument();
    expect(onSave).not.toHaveBeenCalled();
  });

  it("shows the server's field violation under the field", async () => {
    const user = userEvent.setup();
    setup(
      vi.fn(async () => {
        throw new ConnectError("invalid", Code.InvalidArgument, undefined, [
          { desc: BadRequestDesc, value: create(BadRequestDesc, { fieldViolations: [{ field: "cdp_attributes.notes", description: "contains a phone number" }] }) },
        ]);
      }),
    );
    await user.click(screen.getByRole("button", { name: "Edit" }));
    await user.type(screen.getByLabelText("Notes"), "call 5551234");
    await user.click(screen.getByRole("button", { name: "Save changes" }));
    expect(await screen.findByText("Contains a phone number.")).toBeInTheDocument();
    expect(screen.getByLabelText("Notes")).toHaveAttribute("aria-invalid", "true");
  });
});
