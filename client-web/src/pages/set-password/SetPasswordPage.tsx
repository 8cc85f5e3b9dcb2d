import { useState, type FormEvent } from "react";
import { Code } from "@connectrpc/connect";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { completePasswordReset } from "../../api/session";
import { describeError, fieldError, type FriendlyError } from "../../api/errors";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { AuthLayout } from "../../components/layout/AuthLayout";
import { AuthService } from "../../gen/cdp/v1/auth_pb";
import { homePath } from "../../lib/navigation";
import { validateNewPassword } from "../../lib/validation";
import { useSession } from "../../stores/session";

const DEFAULT_MIN_LENGTH = 8;

/**
 * Sets a password from a link: `/reset-password?token=…` (recovery) or
 * `/accept-invite?token=…` (invitation). Signs the user in on success.
 */
export function SetPasswordPage({ mode }: { mode: "reset" | "invite" }) {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const navigate = useNavigate();
  const config = useQuery(AuthService.method.getAuthConfig, {});
  const minLength = config.data?.minPasswordLength || DEFAULT_MIN_LENGTH;
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);

  const title = mode === "invite" ? "Welcome to CDP" : "Choose a new password";
  const subtitle =
    mode === "invite"
      ? "You've been invited. Choose a password to activate your account."
      : "Choose a new password for your account.";

  if (!token) {
    return (
      <AuthLayout title={title}>
        <Alert tone="error" title="This link is incomplete">
          Open the full link you were given, or ask an admin for a new one.
        </Alert>
        <Link to="/sign-in" className="mt-6 inline-block text-sm font-medium text-brand-700">
          Back to sign in
        </Link>
      </AuthLayout>
    );
  }

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const next = validateNewPassword(password, confirm, minLength);
    setErrors(next);
    setFailure(null);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      await completePasswordReset(token, password);
      navigate(homePath(useSession.getState().permissions), { replace: true });
    } catch (err) {
      const friendly = describeError(err, { reasonForCode: { [Code.Unauthenticated]: "INVALID_RESET_TOKEN" } });
      setFailure(friendly);
      setErrors(friendly.reason === "WEAK_PASSWORD" ? { newPassword: friendly.message } : friendly.fieldErrors);
      setBusy(false);
    }
  };

  return (
    <AuthLayout title={title} subtitle={subtitle}>
      <form noValidate onSubmit={submit} className="space-y-5" aria-label="Set password">
        {failure && (
          <Alert tone="error" title={failure.title}>
            {failure.message}
          </Alert>
        )}
        <TextField
          label="New password"
          type="password"
          name="new-password"
          autoComplete="new-password"
          autoFocus
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(errors, "newPassword") ?? fieldError(errors, "new_password")}
          hint={`At least ${minLength} characters.`}
        />
        <TextField
          label="Confirm password"
          type="password"
          name="confirm-password"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          error={errors.confirmPassword}
        />
        <Button type="submit" variant="primary" className="w-full" loading={busy}>
          {mode === "invite" ? "Activate account" : "Set password and sign in"}
        </Button>
      </form>
    </AuthLayout>
  );
}
