import { useState, type FormEvent } from "react";
import { describeError, fieldError, type FriendlyError } from "../../../api/errors";
import { Alert } from "../../../components/Alert";
import { Button } from "../../../components/Button";
import { Dialog } from "../../../components/Dialog";
import { Checkbox, TextField } from "../../../components/Field";
import type { Permission as PermissionInfo } from "../../../gen/cdp/v1/roles_pb";
import { validateRequired } from "../../../lib/validation";

export function CreateCredentialDialog({
  scopes,
  onClose,
  onCreate,
}: {
  /** Permissions a credential may hold, from RoleService.ListRoles. */
  scopes: readonly PermissionInfo[];
  onClose: () => void;
  onCreate: (name: string, scopes: string[]) => Promise<unknown>;
}) {
  const [name, setName] = useState("");
  const [selected, setSelected] = useState<Set<string>>(
    () => new Set(scopes.some((s) => s.name === "promotions.redeem") ? ["promotions.redeem"] : []),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);

  const toggle = (scope: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(scope);
    else next.delete(scope);
    setSelected(next);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const next: Record<string, string> = {};
    const nameError = validateRequired(name, "a name");
    if (nameError) next.name = nameError;
    if (selected.size === 0) next.scopes = "Choose at least one permission.";
    setErrors(next);
    setFailure(null);
    if (Object.keys(next).length > 0) return;
    setBusy(true);
    try {
      await onCreate(name.trim(), [...selected].sort());
    } catch (err) {
      const friendly = describeError(err);
      setFailure(friendly);
      setErrors(friendly.fieldErrors);
      setBusy(false);
    }
  };

  // Service-credential-only scopes (promotions.redeem) first: they are what credentials are for.
  const ordered = [...scopes].sort(
    (a, b) => Number(b.serviceCredentialOnly) - Number(a.serviceCredentialOnly) || a.name.localeCompare(b.name),
  );
  const scopeError = fieldError(errors, "scopes");

  return (
    <Dialog
      open
      onClose={() => !busy && onClose()}
      title="New service credential"
      description="For an internal service, such as checkout redeeming promo codes. Grant only what it needs."
      size="lg"
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" type="submit" form="credential-form" loading={busy}>
            Create credential
          </Button>
        </>
      }
    >
      <form id="credential-form" noValidate onSubmit={submit} className="space-y-5">
        {failure && (
          <Alert tone="error" title={failure.title}>
            {failure.message}
          </Alert>
        )}
        <TextField
          label="Name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(errors, "name")}
          placeholder="checkout-service (production)"
          hint="Unique among active credentials; shown in the audit log."
          autoComplete="off"
        />
        <fieldset>
          <legend className="text-[13px] font-medium text-zinc-800">Permissions</legend>
          <div className="mt-2 grid max-h-64 gap-3 overflow-y-auto rounded-lg p-3 ring-1 ring-zinc-200 sm:grid-cols-2">
            {ordered.map((s) => (
              <Checkbox
                key={s.name}
                label={<code className="font-mono text-[12.5px]">{s.name}</code>}
                description={s.description}
                checked={selected.has(s.name)}
                onChange={(e) => toggle(s.name, e.target.checked)}
              />
            ))}
          </div>
          {scopeError && <p className="mt-1.5 text-[13px] text-red-600">{scopeError}</p>}
        </fieldset>
      </form>
    </Dialog>
  );
}
