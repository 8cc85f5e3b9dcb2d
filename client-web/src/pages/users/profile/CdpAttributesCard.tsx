import { useState, type FormEvent } from "react";
import { Pencil } from "lucide-react";
import { describeError, fieldError, type FriendlyError } from "../../../api/errors";
import { Alert } from "../../../components/Alert";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Card, CardHeader } from "../../../components/Card";
import { SelectField } from "../../../components/Field";
import { TagInput } from "../../../components/TagInput";
import { TextAreaField } from "../../../components/TextArea";
import { AccountStatus, LifecycleStage, type CdpAttributes } from "../../../gen/cdp/v1/users_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { UpdateUserRequestSchema } from "../../../gen/cdp/v1/users_pb";
import { formatRelative } from "../../../lib/format";
import { draftOf, MAX_NOTES_LENGTH, MAX_TAGS, validateAttributes, type Draft } from "./attributes";
import {
  ACCOUNT_STATUSES,
  ACCOUNT_STATUS_LABELS,
  ACCOUNT_STATUS_TONES,
  LIFECYCLE_LABELS,
  LIFECYCLE_STAGES,
} from "../../../lib/labels";

/** The CDP-owned attributes: read by everyone, changed by users.write holders (UpdateUser). */
export function CdpAttributesCard({
  attributes,
  computedStage,
  canWrite,
  onSave,
}: {
  attributes: CdpAttributes | undefined;
  computedStage: LifecycleStage;
  canWrite: boolean;
  onSave: (request: MessageInitShape<typeof UpdateUserRequestSchema>) => Promise<unknown>;
}) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState<Draft>(() => draftOf(attributes));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);
  const saved = draftOf(attributes);

  const start = () => {
    setDraft(draftOf(attributes));
    setErrors({});
    setFailure(null);
    setEditing(true);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = validateAttributes(draft);
    setErrors(found);
    setFailure(null);
    if (Object.keys(found).length) return;
    const paths: string[] = [];
    if (draft.accountStatus !== saved.accountStatus) paths.push("account_status");
    if (draft.override !== saved.override) paths.push("lifecycle_stage_override");
    if (draft.tags.join("\u0000") !== saved.tags.join("\u0000")) paths.push("tags");
    if (draft.notes !== saved.notes) paths.push("notes");
    if (paths.length === 0) {
      setEditing(false);
      return;
    }
    setBusy(true);
    try {
      const request: MessageInitShape<typeof UpdateUserRequestSchema> = {
        cdpAttributes: {
          userId: attributes?.userId ?? 0n,
          accountStatus: draft.accountStatus,
          lifecycleStageOverride: draft.override,
          tags: draft.tags,
          notes: draft.notes,
        },
        updateMask: { paths },
      };
      await onSave(request);
      setEditing(false);
    } catch (err) {
      const friendly = describeError(err);
      setFailure(friendly);
      setErrors(friendly.fieldErrors);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Card className="h-full">
      <CardHeader
        title="CDP attributes"
        description="Set by the CDP's team; the marketplace's own data is read-only."
        actions={
          canWrite && !editing ? (
            <Button size="sm" icon={<Pencil className="size-3.5" />} onClick={start}>
              Edit
            </Button>
          ) : undefined
        }
      />
      {editing ? (
        <form onSubmit={submit} noValidate aria-label="Edit CDP attributes" className="space-y-4 px-5 py-4">
          {failure && (
            <Alert tone="error" title={failure.title}>
              {failure.message}
            </Alert>
          )}
          <SelectField
            label="Account status"
            value={String(draft.accountStatus)}
            onChange={(e) => setDraft({ ...draft, accountStatus: Number(e.target.value) as AccountStatus })}
            options={ACCOUNT_STATUSES.map((s) => ({ value: String(s), label: ACCOUNT_STATUS_LABELS[s] }))}
            error={fieldError(errors, "account_status")}
            hint="Suspended users are never eligible for promotions and are left out of syncs."
          />
          <SelectField
            label="Lifecycle stage override"
            value={String(draft.override)}
            onChange={(e) => setDraft({ ...draft, override: Number(e.target.value) as LifecycleStage })}
            options={[
              { value: String(LifecycleStage.UNSPECIFIED), label: `No override (computed: ${LIFECYCLE_LABELS[computedStage]})` },
              ...LIFECYCLE_STAGES.map((s) => ({ value: String(s), label: LIFECYCLE_LABELS[s] })),
            ]}
            error={fieldError(errors, "lifecycle_stage_override")}
          />
          <div className="space-y-1.5">
            <span className="block text-[13px] font-medium text-zinc-800">Tags</span>
            <TagInput
              label="Tags"
              values={draft.tags}
              onChange={(tags) => setDraft({ ...draft, tags })}
              normalize={(t) => t.trim().toLowerCase()}
              placeholder="Add a tag and press Enter"
              invalid={Boolean(fieldError(errors, "tags"))}
            />
            {fieldError(errors, "tags") ? (
              <p className="text-[13px] text-red-600">{fieldError(errors, "tags")}</p>
            ) : (
              <p className="text-[13px] text-zinc-500">Lowercase labels, at most {MAX_TAGS}.</p>
            )}
          </div>
          <TextAreaField
            label="Notes"
            rows={4}
            value={draft.notes}
            onChange={(e) => setDraft({ ...draft, notes: e.target.value })}
            error={fieldError(errors, "notes")}
            hint={`${draft.notes.length.toLocaleString()} / ${MAX_NOTES_LENGTH.toLocaleString()} characters`}
          />
          <div className="flex justify-end gap-2">
            <Button onClick={() => setEditing(false)} disabled={busy}>
              Cancel
            </Button>
            <Button type="submit" variant="primary" loading={busy}>
              Save changes
            </Button>
          </div>
        </form>
      ) : (
        <dl className="divide-y divide-zinc-100 px-5 py-1 text-[13px]">
          <div className="flex items-center justify-between gap-4 py-2.5">
            <dt className="text-zinc-500">Account status</dt>
            <dd>
              <Badge tone={ACCOUNT_STATUS_TONES[saved.accountStatus]} dot>
                {ACCOUNT_STATUS_LABELS[saved.accountStatus]}
              </Badge>
            </dd>
          </div>
          <div className="flex items-center justify-between gap-4 py-2.5">
            <dt className="text-zinc-500">Lifecycle override</dt>
            <dd className="font-medium text-zinc-900">{saved.override ? LIFECYCLE_LABELS[saved.override] : <span className="font-normal text-zinc-400">None</span>}</dd>
          </div>
          <div className="flex items-start justify-between gap-4 py-2.5">
            <dt className="text-zinc-500">Tags</dt>
            <dd className="flex flex-wrap justify-end gap-1">
              {saved.tags.length ? saved.tags.map((t) => <Badge key={t}>{t}</Badge>) : <span className="text-zinc-400">None</span>}
            </dd>
          </div>
          <div className="py-2.5">
            <dt className="text-zinc-500">Notes</dt>
            <dd className="mt-1 whitespace-pre-wrap text-zinc-800">{saved.notes || <span className="text-zinc-400">No notes</span>}</dd>
          </div>
          {attributes?.updatedAt && <p className="py-2.5 text-xs text-zinc-500">Last changed {formatRelative(attributes.updatedAt)}</p>}
        </dl>
      )}
    </Card>
  );
}

