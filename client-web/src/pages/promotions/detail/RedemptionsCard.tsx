import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { Ticket } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Card, CardHeader } from "../../../components/Card";
import { SelectField } from "../../../components/Field";
import { EmptyState } from "../../../components/States";
import { DataTable, Pagination } from "../../../components/Table";
import { Tooltip } from "../../../components/Tooltip";
import { PromotionService, RedemptionStatus, type Redemption } from "../../../gen/cdp/v1/promotions_pb";
import { formatDateTime, formatRelative } from "../../../lib/format";
import { REDEMPTION_STATUS_LABELS } from "../../../lib/labels";
import { formatNumber } from "../../../lib/numbers";
import { useListState } from "../../../lib/url-state";

const PAGE_SIZE = 25;
const column = createColumnHelper<Redemption>();

const columns = [
  column.accessor((r) => r.userId.toString(), {
    id: "user",
    header: "User",
    cell: ({ row }) => (
      <Link to={`/users/${row.original.userId}`} className="font-mono font-medium text-brand-700 hover:underline">
        #{row.original.userId.toString()}
      </Link>
    ),
  }),
  column.accessor("code", { header: "Code", cell: ({ getValue }) => <code className="font-mono text-xs">{getValue()}</code> }),
  column.accessor((r) => Number(r.benefit?.credits ?? 0n), {
    id: "credits",
    header: "Credits",
    meta: { className: "text-right tabular-nums" },
    cell: ({ getValue }) => formatNumber(getValue()),
  }),
  column.accessor("status", {
    header: "Status",
    cell: ({ row }) => {
      const r = row.original;
      const badge = <Badge tone={r.status === RedemptionStatus.REVERTED ? "red" : "green"}>{REDEMPTION_STATUS_LABELS[r.status]}</Badge>;
      return r.revertReason ? <Tooltip content={`Reverted ${formatDateTime(r.revertedAt)}: ${r.revertReason}`}>{badge}</Tooltip> : badge;
    },
  }),
  column.accessor("orderReference", { header: "Order", cell: ({ getValue }) => (getValue() ? <code className="font-mono text-xs">{getValue()}</code> : <span className="text-zinc-300">—</span>) }),
  column.accessor((r) => (r.redeemedAt ? Number(r.redeemedAt.seconds) : 0), {
    id: "when",
    header: "Redeemed",
    cell: ({ row }) => (
      <Tooltip content={formatDateTime(row.original.redeemedAt)}>
        <span className="whitespace-nowrap">{formatRelative(row.original.redeemedAt)}</span>
      </Tooltip>
    ),
  }),
];

const STATUS_SLUGS: Record<string, RedemptionStatus> = { redeemed: RedemptionStatus.REDEEMED, reverted: RedemptionStatus.REVERTED };

/** The promotion's redemptions, newest first, with a state filter (in the URL). */
export function RedemptionsCard({ promotionId }: { promotionId: bigint }) {
  const list = useListState();
  const status = list.filter("redemptions");
  const query = useQuery(
    PromotionService.method.listRedemptions,
    { promotionId, pageSize: PAGE_SIZE, pageToken: list.pageToken, status: STATUS_SLUGS[status] ?? RedemptionStatus.UNSPECIFIED },
    { placeholderData: keepPreviousData },
  );
  const rows = query.data?.redemptions ?? [];
  return (
    <Card>
      <CardHeader
        title="Redemptions"
        description={query.data ? `${formatNumber(query.data.totalSize)} in total` : undefined}
        actions={
          <SelectField
            label="State"
            hideLabel
            value={status}
            onChange={(e) => list.setFilters({ redemptions: e.target.value })}
            placeholder="All states"
            options={[
              { value: "redeemed", label: "Redeemed" },
              { value: "reverted", label: "Reverted" },
            ]}
          />
        }
      />
      <DataTable
        caption="Redemptions"
        columns={columns}
        data={rows}
        getRowId={(r) => r.id.toString()}
        loading={query.isPending}
        error={query.isError ? query.error : undefined}
        onRetry={() => void query.refetch()}
        refreshing={query.isFetching && query.isPlaceholderData}
        density="compact"
        empty={<EmptyState icon={<Ticket className="size-5" />} title="No redemptions" description="Internal services redeem codes through the RedemptionService." />}
        footer={
          query.data && (
            <Pagination
              page={list.page}
              pageSize={PAGE_SIZE}
              rowsOnPage={rows.length}
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
  );
}
