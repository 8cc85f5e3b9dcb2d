import { useState } from "react";
import { describeError, fieldError, type FriendlyError } from "../../../api/errors";
import { Alert } from "../../../components/Alert";
import { Button } from "../../../components/Button";
import { Dialog } from "../../../components/Dialog";
import { SelectField } from "../../../components/Field";
import type { Role } from "../../../gen/cdp/v1/common_pb";
import type { PlatformUser } from "../../../gen/cdp/v1/platform_users_pb";
import { grantableRoles, ROLE_LABELS } from "../../../lib/roles";

export function EditRoleDialog({
  user,
  onClose,
  canGrantSuperAdmin,
  onSave,
}: {
  user: PlatformUser;
  onClose: () => void;
  canGrantSuperAdmin: boolean;
  onSave: (role: Role) => Promise<unknown>;
}) {
  const [role, setRole] = useState(String(user.role));
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);
  const roles = grantableRoles(canGrantSuperAdmin);
  const unchanged = Number(role) === user.role;

  const save = async () => {
    setBusy(true);
    setFailure(null);
    try {
      await onSave(Number(role) as Role);
      onClose();
    } catch (err) {
      setFailure(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Dialog
      open
      onClose={() => !busy && onClose()}
      title="Change role"
      description={`${user.displayName || user.email} — the new role applies to their next request.`}
      size="sm"
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" onClick={save} loading={busy} disabled={unchanged}>
            Save role
          </Button>
        </>
      }
    >
      <div className="space-y-4">
        {failure && (
          <Alert tone="error" title={failure.title}>
            {failure.message}
          </Alert>
        )}
        <SelectField
          label="Role"
          value={role}
          onChange={(e) => setRole(e.target.value)}
          error={failure ? fieldError(failure.fieldErrors, "role") : undefined}
          options={roles.map((r) => ({ value: String(r), label: ROLE_LABELS[r] }))}
        />
      </div>
    </Dialog>
  );
}
