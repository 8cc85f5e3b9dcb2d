import { useState, type FormEvent } from "react";
import { Code } from "@connectrpc/connect";
import { Link } from "react-router";
import { describeError, fieldError, type FriendlyError } from "../../api/errors";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { TextField } from "../../components/Field";
import { validateEmail } from "../../lib/validation";

export interface SignInFormProps {
  /** Signs in; a rejection is shown in words above the form. */
  onSubmit: (email: string, password: string) => Promise<void>;
  notice?: string | null;
}

export function SignInForm({ onSubmit, notice }: SignInFormProps) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const next: Record<string, string> = {};
    const emailError = validateEmail(email);
    if (emailError) next.email = emailError;
    if (!password) next.password = "Enter your password.";
    setErrors(next);
    setFailure(null);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      await onSubmit(email, password);
    } catch (err) {
      const friendly = describeError(err, { reasonForCode: { [Code.Unauthenticated]: "INVALID_CREDENTIALS" } });
      setFailure(friendly);
      setErrors(friendly.fieldErrors);
      setBusy(false);
    }
  };

  return (
    <form noValidate onSubmit={submit} className="space-y-5" aria-label="Sign in">
      {notice && !failure && <Alert tone="info">{notice}</Alert>}
      {failure && (
        <Alert tone="error" title={failure.title}>
          {failure.message}
        </Alert>
      )}
      <TextField
        label="Email"
        type="email"
        name="email"
        autoComplete="username"
        autoFocus
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        error={fieldError(errors, "email")}
        placeholder="you@company.com"
      />
      <TextField
        label="Password"
        type="password"
        name="password"
        autoComplete="current-password"
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={fieldError(errors, "password")}
        labelAction={
          <Link to="/forgot-password" className="text-[13px] font-medium text-brand-700 hover:text-brand-800">
            Forgot password?
          </Link>
        }
      />
      <Button type="submit" variant="primary" className="w-full" loading={busy}>
        Sign in
      </Button>
    </form>
  );
}
