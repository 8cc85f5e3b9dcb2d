import { useQuery } from "@connectrpc/connect-query";
import { createColumnHelper } from "@tanstack/react-table";
import { RefreshCw, Send } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Card } from "../../../components/Card";
import { Spinner } from "../../../components/Spinner";
import { EmptyState } from "../../../components/States";
import { DataTable } from "../../../components/Table";
import { Tooltip } from "../../../components/Tooltip";
import { CohortService, SyncStatus, SyncTarget, type CohortSync } from "../../../gen/cdp/v1/cohorts_pb";
import { formatDateTime, formatRelative } from "../../../lib/format";
import { SYNC_STATUS_LABELS, SYNC_STATUS_TONES, SYNC_TARGET_LABELS } from "../../../lib/labels";
import { formatDuration, formatNumber } from "../../../lib/numbers";

const column = createColumnHelper<CohortSync>();
const ACTIVE = new Set([SyncStatus.QUEUED, SyncStatus.RUNNING]);
const SYNC_TARGETS = [SyncTarget.AMPLITUDE, SyncTarget.BRAZE] as const;

function StatusBadge({ run }: { run: CohortSync }) {
  return (
    <Badge tone={SYNC_STATUS_TONES[run.status]} dot={!ACTIVE.has(run.status)}>
      {ACTIVE.has(run.status) && <Spinner className="size-3" label={SYNC_STATUS_LABELS[run.status]} />}
      {SYNC_STATUS_LABELS[run.status]}
    </Badge>
  );
}

function duration(run: CohortSync): string {
  if (!run.startedAt || !run.finishedAt) return "—";
  return formatDuration(Number(run.finishedAt.seconds - run.startedAt.seconds));
}

const columns = [
  column.accessor("target", { header: "Target", cell: ({ getValue }) => <span className="font-medium text-zinc-900">{SYNC_TARGET_LABELS[getValue()]}</span> }),
  column.accessor("status", {
    header: "Status",
    cell: ({ row }) => (
      <div className="min-w-0">
        <StatusBadge run={row.original} />
        {row.original.error && <p className="mt-1 max-w-72 text-xs text-red-700">{row.original.error}</p>}
      </div>
    ),
  }),
  column.accessor((r) => Number(r.usersAdded), { id: "added", header: "Added", meta: { className: "text-right tabular-nums" }, cell: ({ getValue }) => formatNumber(getValue()) }),
  column.accessor((r) => Number(r.usersRemoved), { id: "removed", header: "Removed", meta: { className: "text-right tabular-nums" }, cell: ({ getValue }) => formatNumber(getValue()) }),
  column.accessor((r) => Number(r.usersUnmatched), {
    id: "unmatched",
    header: () => (
      <Tooltip content="Members without an id on the target (not sent)">
        <span>Unmatched</span>
      </Tooltip>
    ),
    meta: { className: "text-right tabular-nums" },
    cell: ({ getValue }) => formatNumber(getValue()),
  }),
  column.accessor("attempts", { header: "Attempts", meta: { className: "text-right tabular-nums" } }),
  column.accessor((r) => (r.queuedAt ? Number(r.queuedAt.seconds) : 0), {
    id: "queued",
    header: "Queued",
    cell: ({ row }) => (
      <Tooltip content={formatDateTime(row.original.queuedAt)}>
        <span className="whitespace-nowrap">{formatRelative(row.original.queuedAt)}</span>
      </Tooltip>
    ),
  }),
  column.display({ id: "duration", header: "Took", cell: ({ row }) => duration(row.original) }),
  column.accessor("externalId", {
    header: "Id on target",
    cell: ({ getValue }) => (getValue() ? <code className="font-mono text-xs text-zinc-600">{getValue()}</code> : <span className="text-zinc-300">—</span>),
  }),
];

/** Sync to Amplitude or Braze, the latest run per target, and the run history (polled while running). */
export function SyncsTab({
  cohortId,
  canSync,
  syncing,
  onSync,
}: {
  cohortId: bigint;
  canSync: boolean;
  syncing: SyncTarget | null;
  onSync: (target: SyncTarget) => void;
}) {
  const runs = useQuery(
    CohortService.method.listCohortSyncs,
    { cohortId, pageSize: 25 },
    { refetchInterval: (q) => (q.state.data?.syncs.some((s) => ACTIVE.has(s.status)) ? 3000 : false) },
  );
  const list = runs.data?.syncs ?? [];
  return (
    <div className="space-y-4">
      <div className="grid gap-4 sm:grid-cols-2">
        {SYNC_TARGETS.map((target) => {
          const latest = list.find((r) => r.target === target);
          return (
            <Card key={target} className="flex items-start justify-between gap-4 p-5">
              <div className="min-w-0">
                <h3 className="text-[15px] font-semibold text-zinc-900">{SYNC_TARGET_LABELS[target]}</h3>
                {latest ? (
                  <div className="mt-1.5 space-y-1 text-[13px] text-zinc-600">
                    <StatusBadge run={latest} />
                    <p>
                      {latest.finishedAt ? `Finished ${formatRelative(latest.finishedAt)}` : `Queued ${formatRelative(latest.queuedAt)}`} · +{formatNumber(latest.usersAdded)} / −
                      {formatNumber(latest.usersRemoved)}
                    </p>
                  </div>
                ) : (
                  <p className="mt-1.5 text-[13px] text-zinc-500">Never synced. Only the difference since the last sync is sent.</p>
                )}
              </div>
              {canSync && (
                <Button
                  size="sm"
                  icon={latest ? <RefreshCw className="size-3.5" /> : <Send className="size-3.5" />}
                  loading={syncing === target}
                  disabled={latest !== undefined && ACTIVE.has(latest.status)}
                  onClick={() => onSync(target)}
                >
                  Sync to {SYNC_TARGET_LABELS[target]}
                </Button>
              )}
            </Card>
          );
        })}
      </div>
      <Card>
        <header className="flex items-center justify-between border-b border-zinc-100 px-5 py-3.5">
          <h3 className="text-[15px] font-semibold text-zinc-900">Run history</h3>
          {runs.isFetching && !runs.isPending && <Spinner className="size-4 text-zinc-400" label="Refreshing" />}
        </header>
        <DataTable
          caption="Sync runs"
          columns={columns}
          data={list}
          getRowId={(r) => r.id.toString()}
          loading={runs.isPending}
          error={runs.isError ? runs.error : undefined}
          onRetry={() => void runs.refetch()}
          density="compact"
          empty={<EmptyState icon={<Send className="size-5" />} title="No syncs yet" description="Sync the cohort to Amplitude or Braze; every run is listed here." />}
        />
      </Card>
    </div>
  );
}
