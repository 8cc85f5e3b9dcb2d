import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router";
import { describe, expect, it, vi } from "vitest";
import { ErrorInfoDesc } from "../../api/rpc-details";
import { SignInForm } from "./SignInForm";

function renderForm(onSubmit = vi.fn(async () => {})) {
  render(
    <MemoryRouter>
      <SignInForm onSubmit={onSubmit} />
    </MemoryRouter>,
  );
  return onSubmit;
}

describe("SignInForm", () => {
  it("asks for an email and a password before calling the server", async () => {
    const onSubmit = renderForm();
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(screen.getByText("Enter an email address.")).toBeInTheDocument();
    expect(screen.getByText("Enter your password.")).toBeInTheDocument();
    expect(screen.getByLabelText("Email")).toHaveAttribute("aria-invalid", "true");
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("rejects a malformed email", async () => {
    const onSubmit = renderForm();
    await userEvent.type(screen.getByLabelText("Email"), "not-an-email");
    await userEvent.type(screen.getByLabelText("Password"), "secret");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(screen.getByText(/Enter a valid email address/)).toBeInTheDocument();
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("signs in with the trimmed email and the password as typed", async () => {
    const onSubmit = renderForm();
    await userEvent.type(screen.getByLabelText("Email"), "admin@example.com");
    await userEvent.type(screen.getByLabelText("Password"), " pass word ");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(onSubmit).toHaveBeenCalledWith("admin@example.com", " pass word ");
  });

  it("shows a refused sign-in in words and lets the user try again", async () => {
    const onSubmit = vi.fn(async () => {
      throw new ConnectError("invalid credentials", Code.Unauthenticated, undefined, [
        { desc: ErrorInfoDesc, value: create(ErrorInfoDesc, { reason: "INVALID_CREDENTIALS" }) },
      ]);
    });
    renderForm(onSubmit);
    await userEvent.type(screen.getByLabelText("Email"), "admin@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "wrong");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("The email or password is incorrect");
    expect(screen.getByRole("button", { name: "Sign in" })).toBeEnabled();
  });

  it("links to the password reset page", () => {
    renderForm();
    expect(screen.getByRole("link", { name: "Forgot password?" })).toHaveAttribute("href", "/forgot-password");
  });
});
