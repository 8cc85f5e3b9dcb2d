import { useMemo, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { skipToken, useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { ArrowLeft, Save } from "lucide-react";
import { describeError, fieldError, type FriendlyError } from "../../api/errors";
import { useInvalidateService } from "../../api/invalidate";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Card, CardHeader } from "../../components/Card";
import { ConditionBuilder } from "../../components/conditions/ConditionBuilder";
import { useConditionSources } from "../../components/conditions/useConditionSources";
import { SelectField, TextField } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { PageSpinner } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { TextAreaField } from "../../components/TextArea";
import { cx } from "../../components/cx";
import { CohortKind, CohortService, type Cohort } from "../../gen/cdp/v1/cohorts_pb";
import { Combinator, ConditionGroupSchema } from "../../gen/cdp/v1/common_pb";
import { nodeErrors, toConditionGroup, treeProblems, type DraftNode } from "../../lib/conditions";
import { formatNumber } from "../../lib/numbers";
import { useDebounced } from "../../lib/use-debounced";
import { toast } from "../../stores/toast";
import { AudienceChangeDialog } from "./AudienceChangeDialog";
import { cohortMessage, cohortUpdateMask, draftOfCohort, REFRESH_INTERVALS, validateCohort, type CohortDraft } from "./cohort-form";
import { PreviewPanel } from "./PreviewPanel";

const AUDIENCE_CHANGE = "AUDIENCE_CHANGE_NOT_CONFIRMED";

/** Field violations about the definition, whatever prefix the server used. */
function definitionErrors(fieldErrors: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(fieldErrors)
      .filter(([k]) => k.includes("definition"))
      .map(([k, v]) => [k.slice(k.indexOf("definition")), v]),
  );
}

function KindChoice({ value, onChange, disabled }: { value: CohortKind; onChange: (k: CohortKind) => void; disabled: boolean }) {
  const options = [
    { kind: CohortKind.DYNAMIC, title: "Dynamic", text: "Re-evaluated on a schedule and when new data arrives." },
    { kind: CohortKind.STATIC, title: "Static", text: "A frozen snapshot, re-evaluated only when you ask." },
  ];
  return (
    <fieldset>
      <legend className="mb-1.5 text-[13px] font-medium text-zinc-800">Membership</legend>
      <div className="grid gap-2 sm:grid-cols-2">
        {options.map((o) => (
          <label
            key={o.kind}
            className={cx(
              "flex cursor-pointer gap-3 rounded-lg p-3 ring-1 ring-inset",
              value === o.kind ? "bg-brand-50/60 ring-brand-300" : "ring-zinc-200 hover:bg-zinc-50",
              disabled && "cursor-not-allowed opacity-70",
            )}
          >
            <input type="radio" name="kind" className="mt-0.5 accent-brand-600" checked={value === o.kind} disabled={disabled} onChange={() => onChange(o.kind)} />
            <span>
              <span className="block text-[13px] font-medium text-zinc-900">{o.title}</span>
              <span className="block text-xs text-zinc-500">{o.text}</span>
            </span>
          </label>
        ))}
      </div>
      {disabled && <p className="mt-1.5 text-xs text-zinc-500">Set when the cohort was created; it can't change.</p>}
    </fieldset>
  );
}

function CohortEditor({ cohort }: { cohort: Cohort | undefined }) {
  const navigate = useNavigate();
  const sources = useConditionSources();
  const invalidate = useInvalidateService(CohortService);
  const create = useMutation(CohortService.method.createCohort, { onSuccess: invalidate });
  const update = useMutation(CohortService.method.updateCohort, { onSuccess: invalidate });
  const saved = useMemo(() => draftOfCohort(cohort), [cohort]);
  const [draft, setDraft] = useState<CohortDraft>(saved);
  const [tried, setTried] = useState(false);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [audienceDialog, setAudienceDialog] = useState(false);
  const byName = sources.fieldsByName;
  const editing = Boolean(cohort);

  const problems = treeProblems(draft.definition, byName);
  const complete = problems.size === 0;
  const definitionKey = complete ? toJsonString(ConditionGroupSchema, toConditionGroup(draft.definition, byName)) : "";
  const settledKey = useDebounced(definitionKey, 400);
  const settledDefinition = useMemo(() => (settledKey ? fromJsonString(ConditionGroupSchema, settledKey) : undefined), [settledKey]);
  const preview = useQuery(CohortService.method.previewCohort, settledDefinition ? { definition: settledDefinition, sampleSize: 10 } : skipToken, {
    placeholderData: keepPreviousData,
    retry: false,
  });
  const stale = definitionKey !== settledKey;

  const formErrors = validateCohort(draft, byName);
  const serverFields = failure?.fieldErrors ?? {};
  const previewFields = preview.isError ? describeError(preview.error).fieldErrors : {};
  const builderErrors = nodeErrors(draft.definition, { ...definitionErrors(previewFields), ...definitionErrors(serverFields) }, "definition");

  const funnel = preview.data && !stale && preview.data.funnel.length === draft.definition.nodes.length ? preview.data.funnel : undefined;
  const aside = (_node: DraftNode, index: number) => {
    const step = funnel?.[index];
    if (!step || draft.definition.nodes.length < 2) return null;
    return (
      <span className="text-xs whitespace-nowrap text-zinc-500 tabular-nums" data-testid="remaining">
        <span className="font-semibold text-zinc-700">{formatNumber(step.cumulative)}</span>
        {draft.definition.combinator === Combinator.OR ? " users so far" : " users left"}
      </span>
    );
  };

  const send = async (confirmAudienceChange: boolean) => {
    if (!cohort) {
      const res = await create.mutateAsync({ cohort: cohortMessage(draft, byName) });
      toast("success", "Cohort created", "Its first evaluation is queued; the size appears in a moment.");
      navigate(`/cohorts/${res.cohort?.id ?? ""}`);
      return;
    }
    const paths = cohortUpdateMask(draft, saved, byName);
    if (paths.length > 0) {
      await update.mutateAsync({ cohort: { ...cohortMessage(draft, byName), id: cohort.id }, updateMask: { paths }, confirmAudienceChange });
      toast("success", "Cohort saved", paths.includes("definition") ? "The new conditions are being evaluated." : undefined);
    }
    navigate(`/cohorts/${cohort.id}`);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setTried(true);
    setFailure(null);
    if (Object.keys(formErrors.fields).length > 0 || formErrors.nodes.size > 0) return;
    setBusy(true);
    try {
      await send(false);
    } catch (err) {
      const friendly = describeError(err);
      if (friendly.reason === AUDIENCE_CHANGE) setAudienceDialog(true);
      else setFailure(friendly);
    } finally {
      setBusy(false);
    }
  };

  const nameError = (tried ? formErrors.fields.name : undefined) ?? fieldError(serverFields, "name");
  const waitingFor =
    problems.size > 0 ? `Finish the ${problems.size === 1 ? "highlighted condition" : `${problems.size} highlighted conditions`} to update the preview.` : undefined;

  return (
    <form onSubmit={submit} noValidate aria-label={editing ? "Edit cohort" : "New cohort"}>
      <PageHeader
        title={editing ? `Edit “${cohort?.name}”` : "New cohort"}
        description="Describe the users with conditions on their profile, activity and memberships; the preview updates as you build."
        actions={
          <>
            <Button onClick={() => navigate(cohort ? `/cohorts/${cohort.id}` : "/cohorts")} disabled={busy}>
              Cancel
            </Button>
            <Button type="submit" variant="primary" loading={busy} icon={<Save className="size-4" />}>
              {editing ? "Save changes" : "Create cohort"}
            </Button>
          </>
        }
      />
      {failure && (
        <Alert tone="error" title={failure.title} className="mb-4">
          {failure.message}
        </Alert>
      )}
      <div className="grid items-start gap-4 lg:grid-cols-[minmax(0,1fr)_380px]">
        <div className="space-y-4">
          <Card>
            <CardHeader title="Details" />
            <div className="grid gap-4 px-5 py-4">
              <TextField label="Name" value={draft.name} onChange={(e) => setDraft({ ...draft, name: e.target.value })} error={nameError} placeholder="e.g. Car dealers at risk of churn" />
              <TextAreaField
                label="Description"
                rows={2}
                value={draft.description}
                onChange={(e) => setDraft({ ...draft, description: e.target.value })}
                error={fieldError(serverFields, "description")}
                placeholder="What the cohort is for"
              />
              <KindChoice value={draft.kind} onChange={(kind) => setDraft({ ...draft, kind })} disabled={editing} />
              {draft.kind === CohortKind.DYNAMIC && (
                <SelectField
                  label="Refresh"
                  value={String(draft.refreshSeconds)}
                  onChange={(e) => setDraft({ ...draft, refreshSeconds: Number(e.target.value) })}
                  options={REFRESH_INTERVALS.map((r) => ({ value: String(r.seconds), label: r.label }))}
                  error={fieldError(serverFields, "refresh_interval")}
                  containerClassName="max-w-xs"
                />
              )}
            </div>
          </Card>
          <Card>
            <CardHeader title="Conditions" description="Users who match are the cohort's members. Nest groups to mix AND and OR." />
            <div className="px-5 py-4">
              {tried && formErrors.fields.definition && (
                <Alert tone="warning" className="mb-3">
                  {formErrors.fields.definition}
                </Alert>
              )}
              {sources.fieldsQuery.isError ? (
                <ErrorState error={sources.fieldsQuery.error} onRetry={() => void sources.fieldsQuery.refetch()} />
              ) : (
                <ConditionBuilder
                  label="Cohort conditions"
                  value={draft.definition}
                  onChange={(definition) => setDraft({ ...draft, definition })}
                  fields={sources.fields}
                  cohorts={sources.cohortChoices.filter((c) => c.id !== cohort?.id.toString())}
                  amplitudeCohorts={sources.amplitudeChoices}
                  problems={problems}
                  errors={builderErrors}
                  topLevelAside={aside}
                />
              )}
            </div>
          </Card>
        </div>
        <div className="lg:sticky lg:top-24">
          <PreviewPanel query={preview} waitingFor={waitingFor} stale={stale} />
        </div>
      </div>
      {cohort && (
        <AudienceChangeDialog
          open={audienceDialog}
          cohortId={cohort.id}
          action="update"
          onClose={() => setAudienceDialog(false)}
          onConfirm={() => send(true)}
        />
      )}
    </form>
  );
}

/** Create a cohort, or edit one (`/cohorts/:id/edit`), with the visual builder and live preview. */
export function CohortEditorPage() {
  const { cohortId } = useParams();
  const editing = cohortId !== undefined;
  const valid = !editing || /^\d+$/.test(cohortId);
  const existing = useQuery(CohortService.method.getCohort, editing && valid ? { id: BigInt(cohortId) } : skipToken);
  const sources = useConditionSources();

  return (
    <>
      <Link to={editing && valid ? `/cohorts/${cohortId}` : "/cohorts"} className="mb-4 inline-flex items-center gap-1.5 text-[13px] font-medium text-zinc-500 hover:text-zinc-800">
        <ArrowLeft className="size-4" />
        {editing ? "Cohort" : "Cohorts"}
      </Link>
      {!valid ? (
        <Card>
          <ErrorState error={new Error("not a cohort id")} />
        </Card>
      ) : (editing && existing.isPending) || sources.fieldsQuery.isPending ? (
        <PageSpinner label="Loading the cohort" />
      ) : editing && existing.isError ? (
        <Card>
          <ErrorState error={existing.error} onRetry={() => void existing.refetch()} />
        </Card>
      ) : sources.fieldsQuery.isError ? (
        <>
          <PageHeader title={editing ? "Edit cohort" : "New cohort"} />
          <Card>
            <ErrorState error={sources.fieldsQuery.error} onRetry={() => void sources.fieldsQuery.refetch()} />
          </Card>
        </>
      ) : (
        <CohortEditor key={existing.data?.cohort?.id.toString() ?? "new"} cohort={existing.data?.cohort} />
      )}
    </>
  );
}
