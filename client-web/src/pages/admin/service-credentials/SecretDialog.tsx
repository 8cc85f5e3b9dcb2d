import { useState } from "react";
import { KeyRound } from "lucide-react";
import { Alert } from "../../../components/Alert";
import { Button } from "../../../components/Button";
import { CopyField } from "../../../components/CopyField";
import { Dialog } from "../../../components/Dialog";
import { Checkbox } from "../../../components/Field";

/**
 * Shows a credential's secret, which the server never returns again. It can only be closed
 * after the admin confirms they stored it.
 */
export function SecretDialog({ name, secret, onClose }: { name: string; secret: string; onClose: () => void }) {
  const [stored, setStored] = useState(false);
  return (
    <Dialog
      open
      dismissible={false}
      onClose={onClose}
      title="Copy the secret now"
      description={`Secret of ${name}. Configure it in the service as the bearer token.`}
      icon={
        <span className="flex size-9 shrink-0 items-center justify-center rounded-full bg-brand-50 text-brand-600">
          <KeyRound className="size-4" />
        </span>
      }
      footer={
        <Button variant="primary" disabled={!stored} onClick={onClose}>
          Done
        </Button>
      }
    >
      <div className="space-y-4">
        <Alert tone="warning" title="This is the only time the secret is shown">
          The CDP stores only a hash of it. If it is lost, rotate the credential to get a new one. Never paste it
          into chats, tickets or code.
        </Alert>
        <CopyField label="Secret" value={secret} testId="credential-secret" />
        <Checkbox label="I have stored the secret somewhere safe" checked={stored} onChange={(e) => setStored(e.target.checked)} />
      </div>
    </Dialog>
  );
}
