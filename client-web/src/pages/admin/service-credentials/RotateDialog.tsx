import { useState } from "react";
import { describeError, type FriendlyError } from "../../../api/errors";
import { Alert } from "../../../components/Alert";
import { Button } from "../../../components/Button";
import { Dialog } from "../../../components/Dialog";
import type { ServiceCredential } from "../../../gen/cdp/v1/service_credentials_pb";
import { cx } from "../../../components/cx";

/** How long the previous secret keeps working after a rotation, in seconds. */
const OVERLAP_CHOICES = [
  { seconds: 0, label: "Stop it now", hint: "For a leaked secret: the old one fails at once." },
  { seconds: 3600, label: "1 hour", hint: "Enough for a quick redeploy." },
  { seconds: 86400, label: "24 hours", hint: "The default; time to roll out everywhere." },
  { seconds: 7 * 86400, label: "7 days", hint: "For services that deploy weekly." },
] as const;

export function RotateDialog({
  credential,
  onClose,
  onRotate,
}: {
  credential: ServiceCredential;
  onClose: () => void;
  onRotate: (overlapSeconds: number) => Promise<unknown>;
}) {
  const [overlap, setOverlap] = useState<number>(86400);
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);

  const rotate = async () => {
    setBusy(true);
    setFailure(null);
    try {
      await onRotate(overlap);
    } catch (err) {
      setFailure(describeError(err));
      setBusy(false);
    }
  };

  return (
    <Dialog
      open
      onClose={() => !busy && onClose()}
      title={`Rotate ${credential.name}`}
      description="A new secret is issued and shown once. Choose how long the current secret keeps working."
      footer={
        <>
          <Button onClick={onClose} disabled={busy}>
            Cancel
          </Button>
          <Button variant={overlap === 0 ? "danger" : "primary"} onClick={rotate} loading={busy}>
            Rotate secret
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
        <fieldset className="space-y-2">
          <legend className="sr-only">Old secret keeps working for</legend>
          {OVERLAP_CHOICES.map((c) => (
            <label
              key={c.seconds}
              className={cx(
                "flex cursor-pointer items-start gap-3 rounded-lg p-3 ring-1 transition-colors",
                overlap === c.seconds ? "bg-brand-50/60 ring-brand-300" : "ring-zinc-200 hover:bg-zinc-50",
              )}
            >
              <input
                type="radio"
                name="overlap"
                className="mt-0.5 accent-brand-600"
                checked={overlap === c.seconds}
                onChange={() => setOverlap(c.seconds)}
              />
              <span>
                <span className="block text-sm font-medium text-zinc-800">{c.label}</span>
                <span className="block text-[13px] text-zinc-500">{c.hint}</span>
              </span>
            </label>
          ))}
        </fieldset>
      </div>
    </Dialog>
  );
}
