import { useState, type FormEvent } from "react";
import type { JsonObject } from "@bufbuild/protobuf";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Dialog } from "../../components/Dialog";
import { TextAreaField } from "../../components/TextArea";
import type { DagCard } from "../../gen/cdp/v1/integrations_pb";
import { describeIntegrationError, parseConf } from "./status";

/** The server's limit on a run's note (TriggerDagRequest.note). */
export const MAX_NOTE_LENGTH = 800;

/**
 * "Refresh now": starts a run of one DAG, with an optional reason (kept as the run's note,
 * with the caller's email) and an optional run configuration (Airflow's `conf`).
 */
export function RefreshDialog({
  card,
  onClose,
  onTrigger,
}: {
  card: DagCard | null;
  onClose: () => void;
  onTrigger: (args: { dagId: string; note: string; conf?: JsonObject }) => Promise<unknown>;
}) {
  const [note, setNote] = useState("");
  const [confText, setConfText] = useState("");
  const [fieldErrors, setFieldErrors] = useState<{ note?: string; conf?: string }>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const close = () => {
    if (busy) return;
    setNote("");
    setConfText("");
    setFieldErrors({});
    setError(null);
    onClose();
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!card) return;
    const { conf, error: confError } = parseConf(confText);
    const noteError = note.trim().length > MAX_NOTE_LENGTH ? `Keep the note under ${MAX_NOTE_LENGTH} characters.` : undefined;
    setFieldErrors({ conf: confError, note: noteError });
    if (confError || noteError) return;
    setBusy(true);
    setError(null);
    try {
      await onTrigger({ dagId: card.dagId, note: note.trim(), conf });
      setBusy(false);
      close();
    } catch (e) {
      setBusy(false);
      const friendly = describeIntegrationError(e);
      setFieldErrors({ note: friendly.fieldErrors.note, conf: friendly.fieldErrors.conf });
      setError(e);
    }
  };

  const friendly = error ? describeIntegrationError(error) : null;
  return (
    <Dialog
      open={card !== null}
      onClose={close}
      title={`Refresh ${card?.dagId ?? ""} now`}
      description={
        card?.isPaused
          ? "Starts a run in Airflow. The DAG is paused, so the run waits in the queue until someone unpauses it."
          : "Starts a run in Airflow now, next to its schedule. The card shows its progress."
      }
      footer={
        <>
          <Button onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button variant="primary" type="submit" form="refresh-dag-form" loading={busy}>
            Start run
          </Button>
        </>
      }
    >
      <form id="refresh-dag-form" className="space-y-4" onSubmit={submit} noValidate>
        <TextAreaField
          label="Reason (optional)"
          hint="Saved as the run's note in Airflow, with your email, and in the audit log."
          rows={2}
          value={note}
          onChange={(e) => setNote(e.target.value)}
          error={fieldErrors.note}
        />
        <TextAreaField
          label="Run configuration (optional)"
          hint='JSON passed to the DAG as its conf, e.g. {"day": "2026-11-20"} to load one day.'
          rows={3}
          className="font-mono text-xs"
          value={confText}
          onChange={(e) => setConfText(e.target.value)}
          error={fieldErrors.conf}
        />
        {friendly && (
          <Alert tone="error" title={friendly.title}>
            {friendly.message}
          </Alert>
        )}
      </form>
    </Dialog>
  );
}
