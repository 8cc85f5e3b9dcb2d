import { useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { create } from "@bufbuild/protobuf";
import { skipToken, useMutation, useQuery } from "@connectrpc/connect-query";
import { ArrowLeft, ExternalLink, Pencil, RefreshCw, Trash2 } from "lucide-react";
import { describeError } from "../../api/errors";
import { useInvalidateService } from "../../api/invalidate";
import { Alert } from "../../components/Alert";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card, CardHeader } from "../../components/Card";
import { ConditionSummary } from "../../components/conditions/ConditionSummary";
import { useConditionSources } from "../../components/conditions/useConditionSources";
import { ConfirmDialog } from "../../components/Dialog";
import { Skeleton } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { Tabs } from "../../components/Tabs";
import { Tooltip } from "../../components/Tooltip";
import { CohortKind, CohortRefreshState, CohortService, SyncTarget, type Cohort } from "../../gen/cdp/v1/cohorts_pb";
import { Combinator, ConditionGroupSchema, Operator } from "../../gen/cdp/v1/common_pb";
import { fromConditionGroup } from "../../lib/conditions";
import { explorerHref } from "../../lib/explorer-link";
import { formatDateTime, formatRelative } from "../../lib/format";
import { COHORT_KIND_LABELS, REFRESH_STATE_LABELS, REFRESH_STATE_TONES, SYNC_TARGET_LABELS } from "../../lib/labels";
import { formatDuration, formatNumber } from "../../lib/numbers";
import { Permission } from "../../lib/permissions";
import { useCan } from "../../stores/session";
import { toast } from "../../stores/toast";
import { AudienceChangeDialog } from "./AudienceChangeDialog";
import { MembersTab } from "./detail/MembersTab";
import { SizeHistoryCard } from "./detail/SizeHistoryCard";
import { SyncsTab } from "./detail/SyncsTab";
import { UsageCard } from "./detail/UsageCard";

type TabId = "overview" | "members" | "syncs";
const BUSY_STATES = new Set([CohortRefreshState.QUEUED, CohortRefreshState.RUNNING]);

/** The tree "is a member of this cohort", for the explorer link. */
function membershipFilter(id: bigint) {
  return create(ConditionGroupSchema, {
    combinator: Combinator.AND,
    nodes: [{ node: { case: "condition", value: { field: "cohort", operator: Operator.IN_COHORT, value: { kind: { case: "cohortId", value: id } } } } }],
  });
}

function Meta({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-xs text-zinc-500">{label}</dt>
      <dd className="mt-0.5 text-[13px] font-medium text-zinc-900">{children}</dd>
    </div>
  );
}

function DefinitionCard({ cohort }: { cohort: Cohort }) {
  const sources = useConditionSources();
  const tree = useMemo(() => fromConditionGroup(cohort.definition), [cohort.definition]);
  const imported = cohort.amplitudeImport;
  return (
    <Card>
      <CardHeader
        title={imported ? "Imported from Amplitude" : "Conditions"}
        actions={
          <Link to={explorerHref(membershipFilter(cohort.id), `Cohort: ${cohort.name}`)} className="inline-flex items-center gap-1 text-[13px] font-medium text-brand-700 hover:underline">
            Explore members <ExternalLink className="size-3.5" />
          </Link>
        }
      />
      <div className="px-5 py-4">
        {imported ? (
          <dl className="grid grid-cols-2 gap-4 sm:grid-cols-4">
            <Meta label="Amplitude cohort">{imported.amplitudeCohortId}</Meta>
            <Meta label="Downloaded ids">{formatNumber(imported.downloadedIds)}</Meta>
            <Meta label="Matched users">{formatNumber(imported.matchedUsers)}</Meta>
            <Meta label="Unmatched ids">{formatNumber(imported.unmatchedIds)}</Meta>
            <Meta label="Imported">{formatRelative(imported.importedAt)}</Meta>
          </dl>
        ) : (
          <ConditionSummary group={tree} names={{ fields: sources.fieldsByName, cohorts: sources.cohortNames }} />
        )}
      </div>
    </Card>
  );
}

function HeaderSkeleton() {
  return (
    <Card className="space-y-3 p-6">
      <div aria-busy="true" aria-label="Loading" className="space-y-3">
        <Skeleton className="h-6 w-64" />
        <Skeleton className="h-4 w-96" />
        <Skeleton className="h-10 w-full" />
      </div>
    </Card>
  );
}

/** A cohort: size and history, conditions, usage, members, and syncs to Amplitude and Braze. */
export function CohortDetailPage() {
  const { cohortId = "" } = useParams();
  const valid = /^\d+$/.test(cohortId);
  const id = valid ? BigInt(cohortId) : 0n;
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const tab = (["overview", "members", "syncs"].includes(params.get("tab") ?? "") ? params.get("tab") : "overview") as TabId;
  const canWrite = useCan(Permission.cohortsWrite);
  const canSync = useCan(Permission.cohortsSync);
  const invalidate = useInvalidateService(CohortService);

  const query = useQuery(CohortService.method.getCohort, valid ? { id } : skipToken, {
    refetchInterval: (q) => (BUSY_STATES.has(q.state.data?.cohort?.refreshState ?? CohortRefreshState.IDLE) ? 3000 : false),
  });
  const refresh = useMutation(CohortService.method.refreshCohort, { onSuccess: invalidate });
  const sync = useMutation(CohortService.method.syncCohort, { onSuccess: invalidate });
  const remove = useMutation(CohortService.method.deleteCohort, { onSuccess: invalidate });
  const [syncing, setSyncing] = useState<SyncTarget | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [audienceDialog, setAudienceDialog] = useState(false);
  const cohort = query.data?.cohort;

  // A new tab starts on its first page.
  const setTab = (t: TabId) => setParams(t === "overview" ? {} : { tab: t });

  const runSync = async (target: SyncTarget) => {
    setSyncing(target);
    try {
      const res = await sync.mutateAsync({ id, target });
      toast("success", `Sync to ${SYNC_TARGET_LABELS[target]} queued`, res.sync ? `Run #${res.sync.id} sends only the changes since the last sync.` : undefined);
      setTab("syncs");
    } catch (err) {
      const f = describeError(err);
      toast("error", `Can't sync to ${SYNC_TARGET_LABELS[target]}`, f.message);
    } finally {
      setSyncing(null);
    }
  };

  const deleteCohort = async (confirmAudienceChange: boolean) => {
    await remove.mutateAsync({ id, confirmAudienceChange });
    toast("success", "Cohort deleted", cohort?.name);
    navigate("/cohorts");
  };

  const back = (
    <Link to="/cohorts" className="mb-4 inline-flex items-center gap-1.5 text-[13px] font-medium text-zinc-500 hover:text-zinc-800">
      <ArrowLeft className="size-4" />
      Cohorts
    </Link>
  );

  if (!valid) {
    return (
      <>
        {back}
        <Card>
          <ErrorState error={new Error("not a cohort id")} />
        </Card>
      </>
    );
  }
  if (query.isPending) {
    return (
      <>
        {back}
        <HeaderSkeleton />
      </>
    );
  }
  if (query.isError || !cohort) {
    return (
      <>
        {back}
        <Card>
          <ErrorState error={query.error} onRetry={() => void query.refetch()} />
        </Card>
      </>
    );
  }

  const imported = Boolean(cohort.amplitudeImport);
  const busy = BUSY_STATES.has(cohort.refreshState);
  return (
    <>
      {back}
      <Card className="mb-5">
        <div className="flex flex-wrap items-start justify-between gap-4 px-6 pt-5">
          <div className="min-w-0">
            <h1 className="flex flex-wrap items-center gap-2 text-xl font-semibold tracking-tight text-zinc-900">
              {cohort.name}
              <Badge>{COHORT_KIND_LABELS[cohort.kind]}</Badge>
              {imported && <Badge tone="blue">Amplitude import</Badge>}
              <Badge tone={REFRESH_STATE_TONES[cohort.refreshState]} dot>
                {REFRESH_STATE_LABELS[cohort.refreshState]}
              </Badge>
            </h1>
            {cohort.description && <p className="mt-1 max-w-3xl text-sm text-zinc-500">{cohort.description}</p>}
          </div>
          <div className="flex flex-wrap gap-2">
            {canWrite && !imported && (
              <Button icon={<RefreshCw className={busy ? "size-4 animate-spin" : "size-4"} />} loading={refresh.isPending} disabled={busy} onClick={() => void refresh.mutateAsync({ id }).then(() => toast("success", "Refresh queued", "The size updates when it finishes."), (err) => toast("error", "Can't refresh", describeError(err).message))}>
                {busy ? "Refreshing" : "Refresh now"}
              </Button>
            )}
            {canWrite && !imported && (
              <Button icon={<Pencil className="size-4" />} onClick={() => navigate(`/cohorts/${cohort.id}/edit`)}>
                Edit
              </Button>
            )}
            {canWrite && (
              <Button variant="ghost" icon={<Trash2 className="size-4" />} onClick={() => setConfirmDelete(true)} className="text-red-600 hover:bg-red-50">
                Delete
              </Button>
            )}
          </div>
        </div>
        <dl className="grid grid-cols-2 gap-x-6 gap-y-3 px-6 pt-4 pb-5 sm:grid-cols-3 lg:grid-cols-5">
          <div>
            <dt className="text-xs text-zinc-500">Members</dt>
            <dd className="mt-0.5 text-2xl font-semibold tracking-tight text-zinc-900 tabular-nums" data-testid="cohort-size">
              {formatNumber(cohort.size)}
            </dd>
          </div>
          <Meta label="Last refreshed">
            {cohort.lastRefreshedAt ? (
              <Tooltip content={formatDateTime(cohort.lastRefreshedAt)}>
                <span>{formatRelative(cohort.lastRefreshedAt)}</span>
              </Tooltip>
            ) : (
              "Not yet"
            )}
          </Meta>
          <Meta label="Next refresh">{cohort.kind === CohortKind.STATIC ? "Only on request" : cohort.nextRefreshAt ? formatRelative(cohort.nextRefreshAt) : "—"}</Meta>
          <Meta label="Evaluation took">
            {!cohort.lastRefreshDurationMs ? "—" : cohort.lastRefreshDurationMs < 1000n ? `${cohort.lastRefreshDurationMs} ms` : formatDuration(Number(cohort.lastRefreshDurationMs) / 1000)}
          </Meta>
          <Meta label="Created">{formatDateTime(cohort.createdAt)}</Meta>
        </dl>
        {cohort.refreshState === CohortRefreshState.FAILED && cohort.lastError && (
          <div className="px-6 pb-5">
            <Alert tone="error" title="The last refresh failed">
              {cohort.lastError} The previous members are kept and the refresh is retried.
            </Alert>
          </div>
        )}
      </Card>

      <Tabs
        label="Cohort"
        current={tab}
        onChange={setTab}
        tabs={[
          { id: "overview", label: "Overview" },
          { id: "members", label: "Members", count: formatNumber(cohort.size) },
          { id: "syncs", label: "Syncs" },
        ]}
      />
      {tab === "overview" && (
        <div className="space-y-4">
          <SizeHistoryCard cohortId={cohort.id} />
          <div className="grid items-start gap-4 lg:grid-cols-[minmax(0,3fr)_minmax(0,2fr)]">
            <DefinitionCard cohort={cohort} />
            <UsageCard cohortId={cohort.id} />
          </div>
        </div>
      )}
      {tab === "members" && <MembersTab cohortId={cohort.id} />}
      {tab === "syncs" && <SyncsTab cohortId={cohort.id} canSync={canSync} syncing={syncing} onSync={(t) => void runSync(t)} />}

      <ConfirmDialog
        open={confirmDelete}
        onClose={() => setConfirmDelete(false)}
        title={`Delete “${cohort.name}”?`}
        description="It is no longer listed, refreshed or synced. Promotions and audit entries that refer to it keep a frozen copy."
        confirmLabel="Delete cohort"
        onConfirm={async () => {
          try {
            await deleteCohort(false);
          } catch (err) {
            if (describeError(err).reason === "AUDIENCE_CHANGE_NOT_CONFIRMED") {
              setAudienceDialog(true);
              return;
            }
            throw err;
          }
        }}
      />
      <AudienceChangeDialog open={audienceDialog} cohortId={cohort.id} action="delete" onClose={() => setAudienceDialog(false)} onConfirm={() => deleteCohort(true)} />
    </>
  );
}
