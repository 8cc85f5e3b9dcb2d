import { Link, useNavigate } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { Users } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Card } from "../../../components/Card";
import { EmptyState } from "../../../components/States";
import { DataTable, Pagination } from "../../../components/Table";
import { Tooltip } from "../../../components/Tooltip";
import { CohortService, type CohortMember } from "../../../gen/cdp/v1/cohorts_pb";
import { formatDate } from "../../../lib/dates";
import { formatDateTime, formatRelative } from "../../../lib/format";
import { LIFECYCLE_LABELS, LIFECYCLE_TONES } from "../../../lib/labels";
import { formatNumber } from "../../../lib/numbers";
import { useListState } from "../../../lib/url-state";

const PAGE_SIZE = 50;
const column = createColumnHelper<CohortMember>();

const columns = [
  column.accessor((m) => m.userId.toString(), {
    id: "user",
    header: "User",
    cell: ({ row }) => (
      <Link to={`/users/${row.original.userId}`} className="font-mono font-medium text-brand-700 hover:underline">
        #{row.original.userId.toString()}
      </Link>
    ),
  }),
  column.accessor((m) => (m.joinedAt ? Number(m.joinedAt.seconds) : 0), {
    id: "joined",
    header: "Joined",
    cell: ({ row }) => (
      <Tooltip content={formatDateTime(row.original.joinedAt)}>
        <span className="whitespace-nowrap">{formatRelative(row.original.joinedAt)}</span>
      </Tooltip>
    ),
  }),
  column.accessor((m) => m.user?.userType ?? "", { id: "type", header: "Type", cell: ({ getValue }) => getValue() || <span className="text-zinc-300">—</span> }),
  column.accessor((m) => m.user?.favoriteVertical ?? "", { id: "vertical", header: "Vertical", cell: ({ getValue }) => getValue() || <span className="text-zinc-300">—</span> }),
  column.display({
    id: "lifecycle",
    header: "Lifecycle",
    cell: ({ row }) => {
      const stage = row.original.user?.lifecycleStage ?? 0;
      return <Badge tone={LIFECYCLE_TONES[stage]}>{LIFECYCLE_LABELS[stage]}</Badge>;
    },
  }),
  column.accessor((m) => m.user?.totalCreditsSpent ?? 0, {
    id: "spent",
    header: "Credits spent",
    meta: { className: "text-right tabular-nums" },
    cell: ({ getValue }) => formatNumber(getValue()),
  }),
  column.accessor((m) => (m.user?.lastTransactionDate ? Number(m.user.lastTransactionDate.seconds) : 0), {
    id: "last",
    header: "Last transaction",
    cell: ({ row }) => <span className="whitespace-nowrap">{formatDate(row.original.user?.lastTransactionDate)}</span>,
  }),
];

/** The cohort's current members, most recently joined first (pages in the URL). */
export function MembersTab({ cohortId }: { cohortId: bigint }) {
  const navigate = useNavigate();
  const list = useListState();
  const query = useQuery(CohortService.method.listCohortMembers, { cohortId, pageSize: PAGE_SIZE, pageToken: list.pageToken }, { placeholderData: keepPreviousData });
  const members = query.data?.members ?? [];
  return (
    <Card>
      <DataTable
        caption="Members"
        columns={columns}
        data={members}
        getRowId={(m) => m.userId.toString()}
        loading={query.isPending}
        error={query.isError ? query.error : undefined}
        onRetry={() => void query.refetch()}
        refreshing={query.isFetching && query.isPlaceholderData}
        onRowClick={(m) => navigate(`/users/${m.userId}`)}
        density="compact"
        empty={<EmptyState icon={<Users className="size-5" />} title="No members" description="Nobody matches the conditions at the last refresh." />}
        footer={
          query.data && (
            <Pagination
              page={list.page}
              pageSize={PAGE_SIZE}
              rowsOnPage={members.length}
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
