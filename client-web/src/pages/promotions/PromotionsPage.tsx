import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { Megaphone, Plus, Search } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { TextField } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { EmptyState } from "../../components/States";
import { DataTable, Pagination } from "../../components/Table";
import { Tooltip } from "../../components/Tooltip";
import { cx } from "../../components/cx";
import { CodeMode, PromotionService, PromotionStatus, type Promotion } from "../../gen/cdp/v1/promotions_pb";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { formatDateTime } from "../../lib/format";
import { describeBenefit, PROMOTION_STATUS_LABELS, PROMOTION_STATUS_SLUGS, PROMOTION_STATUS_TONES } from "../../lib/labels";
import { formatNumber, formatTtl } from "../../lib/numbers";
import { Permission } from "../../lib/permissions";
import { useListState } from "../../lib/url-state";
import { useCan } from "../../stores/session";

const PAGE_SIZE = 50;
const column = createColumnHelper<Promotion>();

const FILTERS: readonly { slug: string; label: string }[] = [
  { slug: "", label: "All" },
  { slug: "active", label: "Active" },
  { slug: "scheduled", label: "Scheduled" },
  { slug: "paused", label: "Paused" },
  { slug: "draft", label: "Drafts" },
  { slug: "expired", label: "Expired" },
  { slug: "archived", label: "Archived" },
];

export function StatusBadge({ promotion }: { promotion: Promotion }) {
  const badge = (
    <Badge tone={PROMOTION_STATUS_TONES[promotion.status]} dot>
      {PROMOTION_STATUS_LABELS[promotion.status]}
    </Badge>
  );
  return promotion.statusReason ? <Tooltip content={promotion.statusReason}>{badge}</Tooltip> : badge;
}

const shortDate = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

function windowText(p: Promotion): string {
  const day = (ts: Promotion["startsAt"]) => (ts ? shortDate.format(timestampDate(ts)) : "");
  if (!p.startsAt && !p.endsAt) return p.ttl ? `${formatTtl(p.ttl.seconds)} from activation` : "No end";
  return `${p.startsAt ? day(p.startsAt) : "Activation"} → ${p.endsAt ? day(p.endsAt) : "no end"}`;
}

const columns = [
  column.accessor("name", {
    header: "Promotion",
    enableSorting: true,
    cell: ({ row }) => {
      const p = row.original;
      return (
        <div className="max-w-xs min-w-44">
          <Link to={`/promotions/${p.id}`} className="font-medium text-zinc-900 hover:text-brand-700 hover:underline">
            {p.name}
          </Link>
          <p className="truncate text-xs text-zinc-500">
            {p.codeMode === CodeMode.UNIQUE_PER_USER ? "Unique codes" : p.code ? <code className="font-mono">{p.code}</code> : "Code at activation"}
          </p>
        </div>
      );
    },
  }),
  column.accessor("status", { header: "Status", cell: ({ row }) => <StatusBadge promotion={row.original} /> }),
  column.display({ id: "benefit", header: "Benefit", cell: ({ row }) => <span className="whitespace-nowrap">{describeBenefit(row.original.type, row.original.value, row.original.addon)}</span> }),
  column.accessor("cohortName", {
    header: "Cohort",
    cell: ({ row }) => (
      <Link to={`/cohorts/${row.original.cohortId}`} className="block max-w-40 truncate text-zinc-700 hover:text-brand-700 hover:underline" title={row.original.cohortName}>
        {row.original.cohortName || `#${row.original.cohortId}`}
      </Link>
    ),
  }),
  column.accessor((p) => Number(p.audienceSize), {
    id: "audience",
    header: "Audience",
    enableSorting: true,
    meta: { className: "text-right tabular-nums" },
    cell: ({ row }) => (row.original.audienceSize ? formatNumber(row.original.audienceSize) : <span className="text-zinc-300">—</span>),
  }),
  column.accessor((p) => Number(p.redeemedCount), {
    id: "redeemed",
    header: "Redeemed",
    enableSorting: true,
    meta: { className: "text-right tabular-nums" },
    cell: ({ row }) => {
      const p = row.original;
      const cap = p.limits?.totalRedemptions ?? 0n;
      return (
        <div className="inline-flex flex-col items-end">
          <span className="font-medium text-zinc-900">{formatNumber(p.redeemedCount)}</span>
          {p.creditsGranted > 0n && <span className="text-xs whitespace-nowrap text-zinc-500">{formatNumber(p.creditsGranted)} credits</span>}
          {cap > 0n && (
            <span className="mt-1 h-1 w-16 overflow-hidden rounded-full bg-zinc-100" title={`${formatNumber(p.redeemedCount)} of ${formatNumber(cap)}`}>
              <span className="block h-full rounded-full bg-brand-500" style={{ width: `${Math.min(100, (Number(p.redeemedCount) / Number(cap)) * 100)}%` }} />
            </span>
          )}
        </div>
      );
    },
  }),
  column.display({
    id: "window",
    header: "Window",
    cell: ({ row }) => (
      <Tooltip content={`${formatDateTime(row.original.startsAt, "At activation")} → ${formatDateTime(row.original.endsAt, "no end")}`}>
        <span className="whitespace-nowrap text-zinc-600">{windowText(row.original)}</span>
      </Tooltip>
    ),
  }),
];

/** Campaigns with status filters, newest first. */
export function PromotionsPage() {
  const navigate = useNavigate();
  const list = useListState();
  const canWrite = useCan(Permission.promotionsWrite);
  const status = list.filter("status");
  const search = list.filter("q");
  const [text, setText] = useState(search);
  const { setFilters } = list;
  const applySearch = useMemo(() => (q: string) => setFilters({ q }), [setFilters]);
  useEffect(() => {
    if (text.trim() === search) return;
    const t = setTimeout(() => applySearch(text.trim()), 300);
    return () => clearTimeout(t);
  }, [text, search, applySearch]);

  const statusFilter = PROMOTION_STATUS_SLUGS[status];
  const query = useQuery(
    PromotionService.method.listPromotions,
    { pageSize: PAGE_SIZE, pageToken: list.pageToken, statuses: statusFilter ? [statusFilter] : [], search },
    { placeholderData: keepPreviousData },
  );
  const promotions = query.data?.promotions ?? [];

  return (
    <>
      <PageHeader
        title="Promotions"
        description="Cohort-based campaigns with limits and a time to live, activated in real time, and their redemptions."
        actions={
          canWrite && (
            <Button variant="primary" icon={<Plus className="size-4" />} onClick={() => navigate("/promotions/new")}>
              New promotion
            </Button>
          )
        }
      />
      <Card>
        <div className="flex flex-wrap items-center gap-3 border-b border-zinc-100 px-5 py-3">
          <nav aria-label="Promotion status" className="flex flex-wrap gap-1">
            {FILTERS.map((f) => (
              <button
                key={f.slug}
                type="button"
                aria-pressed={status === f.slug}
                onClick={() => list.setFilters({ status: f.slug })}
                className={cx(
                  "rounded-md px-2.5 py-1.5 text-[13px] font-medium transition-colors",
                  status === f.slug ? "bg-zinc-900 text-white" : "text-zinc-600 hover:bg-zinc-100",
                )}
              >
                {f.label}
              </button>
            ))}
          </nav>
          <div className="flex-1" />
          <TextField
            label={<span className="sr-only">Search promotions</span>}
            containerClassName="w-full max-w-60 !space-y-0"
            leading={<Search className="size-4" />}
            placeholder="Name or code"
            value={text}
            onChange={(e) => setText(e.target.value)}
            type="search"
          />
        </div>
        <DataTable
          caption="Promotions"
          columns={columns}
          data={promotions}
          getRowId={(p) => p.id.toString()}
          loading={query.isPending}
          error={query.isError ? query.error : undefined}
          onRetry={() => void query.refetch()}
        refreshing={query.isFetching && query.isPlaceholderData}
          onRowClick={(p) => navigate(`/promotions/${p.id}`)}
          empty={
            status || search ? (
              <EmptyState
                icon={<Search className="size-5" />}
                title={`No ${status ? PROMOTION_STATUS_LABELS[statusFilter ?? PromotionStatus.UNSPECIFIED].toLowerCase() + " " : ""}promotions${search ? " match" : ""}`}
                action={
                  <Button
                    size="sm"
                    onClick={() => {
                      setText("");
                      list.setFilters({ status: "", q: "" });
                    }}
                  >
                    Show all promotions
                  </Button>
                }
              />
            ) : (
              <EmptyState
                icon={<Megaphone className="size-5" />}
                title="No promotions yet"
                description="Give a cohort bonus credits, a discount, a free add-on or free listing days."
                action={
                  canWrite && (
                    <Button variant="primary" size="sm" icon={<Plus className="size-4" />} onClick={() => navigate("/promotions/new")}>
                      Create a promotion
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
                rowsOnPage={promotions.length}
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
    </>
  );
}
