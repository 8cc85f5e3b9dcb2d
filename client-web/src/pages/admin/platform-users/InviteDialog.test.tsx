import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { BadRequestDesc } from "../../../api/rpc-details";
import { Role } from "../../../gen/cdp/v1/common_pb";
import {
  InvitePlatformUserResponseSchema,
  PlatformUserSchema,
  PlatformUserStatus,
} from "../../../gen/cdp/v1/platform_users_pb";
import { InviteDialog } from "./InviteDialog";

function setup(canGrantSuperAdmin = false, onInvite = vi.fn()) {
  render(<InviteDialog open onClose={() => {}} canGrantSuperAdmin={canGrantSuperAdmin} onInvite={onInvite} />);
  const dialog = screen.getByRole("dialog", { name: "Invite a platform user" });
  return { dialog, onInvite };
}

const submit = () => userEvent.click(screen.getByRole("button", { name: "Send invitation" }));

describe("InviteDialog", () => {
  it("requires an email and a display name", async () => {
    const { onInvite } = setup();
    await submit();
    expect(screen.getByText("Enter an email address.")).toBeInTheDocument();
    expect(screen.getByText("Enter a display name.")).toBeInTheDocument();
    expect(onInvite).not.toHaveBeenCalled();
  });

  it("rejects a malformed email", async () => {
    const { onInvite } = setup();
    await userEvent.type(screen.getByLabelText("Email"), "jane@");
    await userEvent.type(screen.getByLabelText("Display name"), "Jane");
    await submit();
    expect(screen.getByText(/Enter a valid email address/)).toBeInTheDocument();
    expect(onInvite).not.toHaveBeenCalled();
  });

  it("offers the super admin role only to users who may grant it", () => {
    setup(false);
    const roleOptions = within(screen.getByLabelText("Role")).getAllByRole("option").map((o) => o.textContent);
    expect(roleOptions).toEqual(["Admin", "Growth manager", "Data engineer", "Read only"]);
  });

  it("offers super admin with super_admin.grant", () => {
    setup(true);
    expect(within(screen.getByLabelText("Role")).getByRole("option", { name: "Super admin" })).toBeInTheDocument();
  });

  it("sends the invitation and shows the link to copy", async () => {
    const onInvite = vi.fn(async () =>
      create(InvitePlatformUserResponseSchema, {
        platformUser: create(PlatformUserSchema, {
          id: "u1",
          email: "jane@example.com",
          role: Role.GROWTH_MANAGER,
          status: PlatformUserStatus.INVITED,
        }),
        invitationLink: "https://cdp.example.com/accept-invite?token=abc",
        invitationExpiresAt: timestampFromDate(new Date("2030-01-02T03:04:05Z")),
      }),
    );
    setup(false, onInvite);
    await userEvent.type(screen.getByLabelText("Email"), "jane@example.com");
    await userEvent.type(screen.getByLabelText("Display name"), "Jane Doe");
    await userEvent.selectOptions(screen.getByLabelText("Role"), "Growth manager");
    await submit();
    expect(onInvite).toHaveBeenCalledWith({ email: "jane@example.com", displayName: "Jane Doe", role: Role.GROWTH_MANAGER });
    expect(await screen.findByRole("dialog", { name: "Invitation created" })).toBeInTheDocument();
    expect(screen.getByLabelText("Invitation link")).toHaveValue("https://cdp.example.com/accept-invite?token=abc");
    expect(screen.getByRole("button", { name: "Copy" })).toBeInTheDocument();
  });

  it("puts the server's field violations under the fields", async () => {
    const onInvite = vi.fn(async () => {
      throw new ConnectError("invalid", Code.InvalidArgument, undefined, [
        {
          desc: BadRequestDesc,
          value: create(BadRequestDesc, { fieldViolations: [{ field: "email", description: "domain is not allowed" }] }),
        },
      ]);
    });
    setup(false, onInvite);
    await userEvent.type(screen.getByLabelText("Email"), "jane@elsewhere.com");
    await userEvent.type(screen.getByLabelText("Display name"), "Jane");
    await submit();
    expect(await screen.findByText("Domain is not allowed.")).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");
  });

  it("says when the email is already taken", async () => {
    const onInvite = vi.fn(async () => {
      throw new ConnectError("a platform user with this email already exists", Code.AlreadyExists);
    });
    setup(false, onInvite);
    await userEvent.type(screen.getByLabelText("Email"), "jane@example.com");
    await userEvent.type(screen.getByLabelText("Display name"), "Jane");
    await submit();
    expect(await screen.findByRole("alert")).toHaveTextContent("A platform user with this email already exists.");
  });
});
