import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { CloudDownload, Plus, Search, Users } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { Sparkline } from "../../components/charts/Sparkline";
import { SelectField, TextField } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState } from "../../components/States";
import { DataTable, Pagination } from "../../components/Table";
import { Tooltip } from "../../components/Tooltip";
import { CohortKind, CohortRefreshState, CohortService, type Cohort } from "../../gen/cdp/v1/cohorts_pb";
import { formatDateTime, formatRelative } from "../../lib/format";
import { COHORT_KIND_LABELS, REFRESH_STATE_LABELS, REFRESH_STATE_TONES } from "../../lib/labels";
import { formatChange, formatNumber } from "../../lib/numbers";
import { Permission } from "../../lib/permissions";
import { useListState } from "../../lib/url-state";
import { useCan } from "../../stores/session";
import { ImportAmplitudeDialog } from "./ImportAmplitudeDialog";

const PAGE_SIZE = 50;
const column = createColumnHelper<Cohort>();

const KIND_SLUGS: Record<string, CohortKind> = { dynamic: CohortKind.DYNAMIC, static: CohortKind.STATIC };

function trendChange(c: Cohort): number | undefined {
  const first = c.sizeTrend[0]?.size;
  const last = c.sizeTrend[c.sizeTrend.length - 1]?.size;
  if (first === undefined || last === undefined || first === 0n) return undefined;
  return (Number(last) - Number(first)) / Number(first);
}

const columns = [
  column.accessor("name", {
    header: "Cohort",
    enableSorting: true,
    cell: ({ row }) => {
      const c = row.original;
      return (
        <div className="min-w-0 max-w-md">
          <Link to={`/cohorts/${c.id}`} className="font-medium text-zinc-900 hover:text-brand-700 hover:underline">
            {c.name}
          </Link>
          {c.description && <p className="truncate text-zinc-500">{c.description}</p>}
        </div>
      );
    },
  }),
  column.accessor((c) => c.kind, {
    id: "kind",
    header: "Kind",
    cell: ({ row }) => (
      <span className="flex gap-1">
        <Badge>{COHORT_KIND_LABELS[row.original.kind]}</Badge>
        {row.original.amplitudeImport && <Badge tone="blue">Amplitude</Badge>}
      </span>
    ),
  }),
  column.accessor((c) => Number(c.size), {
    id: "size",
    header: "Size",
    enableSorting: true,
    meta: { className: "text-right tabular-nums" },
    cell: ({ row }) => <span className="font-medium text-zinc-900">{formatNumber(row.original.size)}</span>,
  }),
  column.display({
    id: "trend",
    header: "Last 30 days",
    cell: ({ row }) => {
      const c = row.original;
      const change = trendChange(c);
      const values = c.sizeTrend.map((p) => Number(p.size));
      return (
        <span className="flex items-center gap-2">
          <Sparkline values={values} label={`Size over the last 30 days of ${c.name}`} color={change !== undefined && change < 0 ? "#f43f5e" : "#4f46e5"} />
          {change !== undefined && <span className={change < 0 ? "text-xs text-red-600" : "text-xs text-emerald-600"}>{formatChange(change)}</span>}
        </span>
      );
    },
  }),
  column.accessor((c) => c.refreshState, {
    id: "state",
    header: "Status",
    cell: ({ row }) => {
      const c = row.original;
      const badge = (
        <Badge tone={REFRESH_STATE_TONES[c.refreshState]} dot>
          {REFRESH_STATE_LABELS[c.refreshState]}
        </Badge>
      );
      return c.refreshState === CohortRefreshState.FAILED && c.lastError ? <Tooltip content={c.lastError}>{badge}</Tooltip> : badge;
    },
  }),
  column.accessor((c) => (c.lastRefreshedAt ? Number(c.lastRefreshedAt.seconds) : 0), {
    id: "refreshed",
    header: "Refreshed",
    enableSorting: true,
    cell: ({ row }) =>
      row.original.lastRefreshedAt ? (
        <Tooltip content={formatDateTime(row.original.lastRefreshedAt)}>
          <span className="whitespace-nowrap">{formatRelative(row.original.lastRefreshedAt)}</span>
        </Tooltip>
      ) : (
        <span className="text-zinc-400">Not yet</span>
      ),
  }),
];

/** Saved cohorts with their size and 30-day trend. */
export function CohortsPage() {
  const navigate = useNavigate();
  const list = useListState();
  const canWrite = useCan(Permission.cohortsWrite);
  const canImport = useCan(Permission.amplitudeImport);
  const [importOpen, setImportOpen] = useState(false);
  const search = list.filter("q");
  const kind = list.filter("kind");
  const [text, setText] = useState(search);
  const { setFilters } = list;
  const applySearch = useMemo(() => (q: string) => setFilters({ q }), [setFilters]);
  useEffect(() => {
    if (text.trim() === search) return;
    const t = setTimeout(() => applySearch(text.trim()), 300);
    return () => clearTimeout(t);
  }, [text, search, applySearch]);

  const query = useQuery(
    CohortService.method.listCohorts,
    { pageSize: PAGE_SIZE, pageToken: list.pageToken, search, kind: KIND_SLUGS[kind] ?? CohortKind.UNSPECIFIED },
    { placeholderData: keepPreviousData },
  );
  const cohorts = query.data?.cohorts ?? [];
  const filtered = Boolean(search || kind);

  return (
    <>
      <PageHeader
        title="Cohorts"
        description="Segments of users built from profile fields, activity and Amplitude imports, synced to Amplitude and Braze."
        actions={
          <>
            {canImport && (
              <Button icon={<CloudDownload className="size-4" />} onClick={() => setImportOpen(true)}>
                Import from Amplitude
              </Button>
            )}
            {canWrite && (
              <Button variant="primary" icon={<Plus className="size-4" />} onClick={() => navigate("/cohorts/new")}>
                New cohort
              </Button>
            )}
          </>
        }
      />
      <Card>
        <div className="flex flex-wrap items-center gap-3 border-b border-zinc-100 px-5 py-4">
          <TextField
            label={<span className="sr-only">Search cohorts</span>}
            containerClassName="w-full max-w-xs !space-y-0"
            leading={<Search className="size-4" />}
            placeholder="Search by name"
            value={text}
            onChange={(e) => setText(e.target.value)}
            type="search"
          />
          <SelectField
            label="Kind"
            hideLabel
            value={kind}
            onChange={(e) => list.setFilters({ kind: e.target.value })}
            placeholder="All kinds"
            options={[
              { value: "dynamic", label: "Dynamic" },
              { value: "static", label: "Static" },
            ]}
          />
          <div className="flex-1" />
          {query.data && (
            <p className="text-[13px] text-zinc-500">
              <span className="font-semibold text-zinc-900">{formatNumber(query.data.totalSize)}</span> {query.data.totalSize === 1n ? "cohort" : "cohorts"}
            </p>
          )}
        </div>
        <DataTable
          caption="Cohorts"
          columns={columns}
          data={cohorts}
          getRowId={(c) => c.id.toString()}
          loading={query.isPending}
          error={query.isError ? query.error : undefined}
          onRetry={() => void query.refetch()}
        refreshing={query.isFetching && query.isPlaceholderData}
          onRowClick={(c) => navigate(`/cohorts/${c.id}`)}
          empty={
            filtered ? (
              <EmptyState
                icon={<Search className="size-5" />}
                title="No cohorts match"
                action={
                  <Button
                    size="sm"
                    onClick={() => {
                      setText("");
                      list.setFilters({ q: "", kind: "" });
                    }}
                  >
                    Clear filters
                  </Button>
                }
              />
            ) : (
              <EmptyState
                icon={<Users className="size-5" />}
                title="No cohorts yet"
                description="A cohort is a set of users described by conditions; promotions and syncs target cohorts."
                action={
                  canWrite && (
                    <Button variant="primary" size="sm" icon={<Plus className="size-4" />} onClick={() => navigate("/cohorts/new")}>
                      Build the first cohort
                    </Button>
                  )
                }
              />
            )
          }
          footer={
            query.data && (
              <Pagination
                page={list.page}
                pageSize={PAGE_SIZE}
                rowsOnPage={cohorts.length}
                totalSize={query.data.totalSize}
                hasPrevious={list.page > 1}
                hasNext={Boolean(query.data.nextPageToken)}
                onPrevious={list.previous}
                onNext={() => list.next(query.data.nextPageToken)}
                busy={query.isFetching}
              />
            )
          }
        />
      </Card>
      {canImport && <ImportAmplitudeDialog open={importOpen} onClose={() => setImportOpen(false)} />}
    </>
  );
}
