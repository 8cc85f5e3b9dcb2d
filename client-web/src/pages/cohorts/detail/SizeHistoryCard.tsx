import { useQuery } from "@connectrpc/connect-query";
import { Card, CardHeader } from "../../../components/Card";
import { TimeSeriesChart } from "../../../components/charts/TimeSeriesChart";
import { Skeleton } from "../../../components/Spinner";
import { EmptyState, ErrorState } from "../../../components/States";
import { CohortService } from "../../../gen/cdp/v1/cohorts_pb";
import { formatDay, formatDayRange } from "../../../lib/dates";
import { formatCompact, formatNumber } from "../../../lib/numbers";

/** The cohort's daily size, with the users who joined and left each day. */
export function SizeHistoryCard({ cohortId }: { cohortId: bigint }) {
  const query = useQuery(CohortService.method.getCohortSizeHistory, { cohortId });
  const points = query.data?.points ?? [];
  const joined = points.reduce((n, p) => n + Number(p.joined), 0);
  const left = points.reduce((n, p) => n + Number(p.left), 0);
  return (
    <Card>
      <CardHeader
        title="Size over time"
        description={
          query.data?.range ? (
            <>
              {formatDayRange(query.data.range.startDate, query.data.range.endDate)}
              {(joined > 0 || left > 0) && (
                <>
                  {" "}
                  · <span className="text-emerald-700">+{formatNumber(joined)} joined</span> · <span className="text-red-700">−{formatNumber(left)} left</span>
                </>
              )}
            </>
          ) : (
            "Members at the end of each day"
          )
        }
      />
      <div className="px-5 py-4">
        {query.isPending ? (
          <Skeleton className="h-56 w-full" />
        ) : query.isError ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} className="!py-8" />
        ) : points.length === 0 ? (
          <EmptyState className="!py-10" title="No history yet" description="The size is recorded at every refresh." />
        ) : points.length === 1 ? (
          <EmptyState
            className="!py-10"
            title={`${formatNumber(points[0].size)} members on ${formatDay(points[0].date, true)}`}
            description="The history builds up day by day with every refresh."
          />
        ) : (
          <TimeSeriesChart
            label="Cohort size per day, with users who joined and left"
            data={points.map((p) => ({ x: p.date, size: Number(p.size), joined: Number(p.joined), left: Number(p.left) }))}
            series={[
              { key: "size", label: "Members", color: "#4f46e5", kind: "area" },
              { key: "joined", label: "Joined", color: "#34d399", kind: "bar", axis: "right" },
              { key: "left", label: "Left", color: "#fb7185", kind: "bar", axis: "right" },
            ]}
            height={240}
            rightHeadroom={2.5}
            formatX={(x) => formatDay(x)}
            formatY={formatCompact}
            formatValue={(v) => formatNumber(v)}
            tooltipTitle={(row) => formatDay(row.x, true)}
          />
        )}
      </div>
    </Card>
  );
}
