import { useState, type FormEvent } from "react";
import { MailCheck } from "lucide-react";
import { describeError, fieldError, type FriendlyError } from "../../../api/errors";
import { Alert } from "../../../components/Alert";
import { Button } from "../../../components/Button";
import { CopyField } from "../../../components/CopyField";
import { Dialog } from "../../../components/Dialog";
import { SelectField, TextField } from "../../../components/Field";
import { Role } from "../../../gen/cdp/v1/common_pb";
import type { InvitePlatformUserRequest, InvitePlatformUserResponse } from "../../../gen/cdp/v1/platform_users_pb";
import { formatDateTime } from "../../../lib/format";
import { grantableRoles, ROLE_LABELS } from "../../../lib/roles";
import { validateEmail, validateRequired } from "../../../lib/validation";

type InviteInput = Pick<InvitePlatformUserRequest, "email" | "displayName" | "role">;

export interface InviteDialogProps {
  open: boolean;
  onClose: () => void;
  /** Offer the super admin role (the caller holds super_admin.grant). */
  canGrantSuperAdmin: boolean;
  /** Calls PlatformUserService.InvitePlatformUser. */
  onInvite: (input: InviteInput) => Promise<InvitePlatformUserResponse>;
}

export function InviteDialog({ open, onClose, canGrantSuperAdmin, onInvite }: InviteDialogProps) {
  const [email, setEmail] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<string>(String(Role.READ_ONLY));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<InvitePlatformUserResponse | null>(null);

  const close = () => {
    if (busy) return;
    setEmail("");
    setDisplayName("");
    setRole(String(Role.READ_ONLY));
    setErrors({});
    setFailure(null);
    setResult(null);
    onClose();
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const next: Record<string, string> = {};
    const emailError = validateEmail(email);
    if (emailError) next.email = emailError;
    const nameError = validateRequired(displayName, "a display name");
    if (nameError) next.display_name = nameError;
    if (!role || Number(role) === Role.UNSPECIFIED) next.role = "Choose a role.";
    setErrors(next);
    setFailure(null);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      setResult(await onInvite({ email: email.trim(), displayName: displayName.trim(), role: Number(role) as Role }));
    } catch (err) {
      const friendly = describeError(err);
      setFailure(friendly);
      setErrors(friendly.fieldErrors);
    } finally {
      setBusy(false);
    }
  };

  if (result) {
    const invited = result.platformUser;
    return (
      <Dialog
        open={open}
        onClose={close}
        title="Invitation created"
        description={
          result.invitationLink
            ? `Send this link to ${invited?.email ?? "the new user"} over a channel you trust. Whoever opens it can set the password.`
            : undefined
        }
        footer={
          <Button variant="primary" onClick={close}>
            Done
          </Button>
        }
      >
        {result.invitationLink ? (
          <div className="space-y-3">
            <CopyField label="Invitation link" value={result.invitationLink} testId="invitation-link" />
            {result.invitationExpiresAt && (
              <p className="text-[13px] text-zinc-500">The link works until {formatDateTime(result.invitationExpiresAt)}.</p>
            )}
          </div>
        ) : (
          <div className="flex gap-3 rounded-lg bg-zinc-50 p-4 ring-1 ring-zinc-200">
            <MailCheck className="mt-0.5 size-5 shrink-0 text-brand-600" />
            <p className="text-sm text-zinc-700">
              An invitation email is on its way to <span className="font-medium">{invited?.email}</span>.
            </p>
          </div>
        )}
      </Dialog>
    );
  }

  const roles = grantableRoles(canGrantSuperAdmin);
  return (
    <Dialog
      open={open}
      onClose={close}
      title="Invite a platform user"
      description="They get a link to set a password. Their role decides what they can see and do."
      footer={
        <>
          <Button onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" type="submit" form="invite-form" loading={busy}>
            Send invitation
          </Button>
        </>
      }
    >
      <form id="invite-form" noValidate onSubmit={submit} className="space-y-4">
        {failure && (
          <Alert tone="error" title={failure.title}>
            {failure.message}
          </Alert>
        )}
        <TextField
          label="Email"
          type="email"
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError(errors, "email")}
          placeholder="name@company.com"
          autoComplete="off"
        />
        <TextField
          label="Display name"
          value={displayName}
          onChange={(e) => setDisplayName(e.target.value)}
          error={fieldError(errors, "display_name") ?? fieldError(errors, "displayName")}
          placeholder="Jane Doe"
          autoComplete="off"
        />
        <SelectField
          label="Role"
          value={role}
          onChange={(e) => setRole(e.target.value)}
          error={fieldError(errors, "role")}
          options={roles.map((r) => ({ value: String(r), label: ROLE_LABELS[r] }))}
          hint="See Roles & permissions for what each role can do."
        />
      </form>
    </Dialog>
  );
}
