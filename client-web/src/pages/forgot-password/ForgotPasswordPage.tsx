import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { ArrowLeft, MailCheck } from "lucide-react";
import { authClient } from "../../api/clients";
import { describeError, fieldError, type FriendlyError } from "../../api/errors";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { AuthLayout } from "../../components/layout/AuthLayout";
import { validateEmail } from "../../lib/validation";

// The same words whatever the email: the page never reveals whether an account exists.
const NEUTRAL_MESSAGE =
  "If an account exists for that address, a link to set a new password is on its way. It can take a few minutes to arrive. If nothing comes, ask an admin of your CDP for a reset link.";

export function ForgotPasswordPage() {
  const [email, setEmail] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);
  const [sent, setSent] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const emailError = validateEmail(email);
    setError(emailError);
    setFailure(null);
    if (emailError) return;
    setBusy(true);
    try {
      await authClient.requestPasswordReset({ email: email.trim() });
      setSent(true);
    } catch (err) {
      const friendly = describeError(err);
      setFailure(friendly);
      setError(fieldError(friendly.fieldErrors, "email"));
    } finally {
      setBusy(false);
    }
  };

  return (
    <AuthLayout title="Reset your password" subtitle="Enter the email address you sign in with.">
      {sent ? (
        <div className="space-y-6">
          <div className="flex gap-3 rounded-xl bg-zinc-50 p-4 ring-1 ring-zinc-200">
            <MailCheck className="mt-0.5 size-5 shrink-0 text-brand-600" />
            <p className="text-sm leading-relaxed text-zinc-700" role="status">
              {NEUTRAL_MESSAGE}
            </p>
          </div>
          <Link to="/sign-in" className="inline-flex items-center gap-1.5 text-sm font-medium text-brand-700 hover:text-brand-800">
            <ArrowLeft className="size-4" /> Back to sign in
          </Link>
        </div>
      ) : (
        <form noValidate onSubmit={submit} className="space-y-5">
          {failure && (
            <Alert tone="error" title={failure.title}>
              {failure.message}
            </Alert>
          )}
          <TextField
            label="Email"
            type="email"
            autoComplete="username"
            autoFocus
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={error}
            placeholder="you@company.com"
          />
          <Button type="submit" variant="primary" className="w-full" loading={busy}>
            Send reset link
          </Button>
          <Link to="/sign-in" className="inline-flex items-center gap-1.5 text-sm font-medium text-zinc-600 hover:text-zinc-900">
            <ArrowLeft className="size-4" /> Back to sign in
          </Link>
        </form>
      )}
    </AuthLayout>
  );
}
