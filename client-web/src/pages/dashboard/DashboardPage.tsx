import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { RefreshCw } from "lucide-react";
import { Card } from "../../components/Card";
import { DateRangePicker } from "../../components/DateRangePicker";
import { PageHeader } from "../../components/PageHeader";
import { SegmentedControl } from "../../components/SegmentedControl";
import { Skeleton } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { DashboardMetric, DashboardService, TimeBucket } from "../../gen/cdp/v1/dashboard_pb";
import { UserService } from "../../gen/cdp/v1/users_pb";
import { formatDayRange } from "../../lib/dates";
import { formatDateTime, formatRelative } from "../../lib/format";
import { Permission } from "../../lib/permissions";
import { useCan } from "../../stores/session";
import { rangeRequest, useDashboardState } from "./dashboard-state";
import { DataHealthSection } from "./DataHealthSection";
import { DistributionCard } from "./DistributionCard";
import { KpiGrid } from "./KpiGrid";
import { ActivityChart, CltvCard, FunnelCard, LifecycleFlowChart, SingleMetricChart, StickinessCard } from "./MetricCharts";
import { SegmentsCard } from "./SegmentsCard";

const BUCKETS = [
  { value: "auto", label: "Auto", title: "Daily up to 92 days, weekly up to a year, monthly beyond" },
  { value: "daily", label: "Daily" },
  { value: "weekly", label: "Weekly" },
  { value: "monthly", label: "Monthly" },
] as const;

const BUCKET_VALUES: Record<(typeof BUCKETS)[number]["value"], TimeBucket> = {
  auto: TimeBucket.UNSPECIFIED,
  daily: TimeBucket.DAILY,
  weekly: TimeBucket.WEEKLY,
  monthly: TimeBucket.MONTHLY,
};

function DashboardSkeleton() {
  return (
    <div aria-busy="true" aria-label="Loading" className="space-y-4">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        {Array.from({ length: 8 }, (_, i) => (
          <Card key={i} className="space-y-3 p-4">
            <Skeleton className="h-3 w-20" />
            <Skeleton className="h-7 w-28" />
            <Skeleton className="h-3 w-24" />
          </Card>
        ))}
      </div>
      <div className="grid gap-4 lg:grid-cols-3">
        <Card className="h-80 p-5 lg:col-span-2">
          <Skeleton className="h-full w-full" />
        </Card>
        <Card className="h-80 p-5">
          <Skeleton className="h-full w-full" />
        </Card>
      </div>
    </div>
  );
}

/** The dashboard: lifecycle KPIs, activity and engagement charts, segments, data health. */
export function DashboardPage() {
  const [state, update] = useDashboardState();
  const canReadUsers = useCan(Permission.usersRead);
  const metrics = useQuery(
    DashboardService.method.getMetrics,
    { ...rangeRequest(state.range), bucket: state.bucket },
    { placeholderData: keepPreviousData },
  );
  const fields = useQuery(UserService.method.listUserFields, {}, { enabled: canReadUsers, staleTime: 5 * 60_000 });
  const m = metrics.data;
  const bucketValue = (Object.entries(BUCKET_VALUES).find(([, b]) => b === state.bucket)?.[0] ?? "auto") as keyof typeof BUCKET_VALUES;

  return (
    <>
      <PageHeader
        title="Dashboard"
        description="Active users, lifecycle and engagement of the marketplace at a glance, each compared with the previous period."
        actions={<DateRangePicker value={state.range} onChange={(range) => update({ range })} resolved={m?.range} />}
      />

      <div className="mb-5 flex flex-wrap items-center gap-x-4 gap-y-2">
        <SegmentedControl label="Chart buckets" options={BUCKETS} value={bucketValue} onChange={(v) => update({ bucket: BUCKET_VALUES[v] })} />
        {m && (
          <p className="text-[13px] text-zinc-500">
            <span className="font-medium text-zinc-700">{formatDayRange(m.range?.startDate, m.range?.endDate)}</span>
            {m.previousRange && <> compared with {formatDayRange(m.previousRange.startDate, m.previousRange.endDate)}</>}
          </p>
        )}
        <div className="flex-1" />
        {m?.dataUpdatedAt && (
          <p className="flex items-center gap-1.5 text-xs text-zinc-500" title={`Rollups updated ${formatDateTime(m.dataUpdatedAt)}`}>
            <RefreshCw className={metrics.isFetching ? "size-3.5 animate-spin" : "size-3.5"} aria-hidden />
            Data updated {formatRelative(m.dataUpdatedAt)}
          </p>
        )}
      </div>

      {metrics.isPending ? (
        <DashboardSkeleton />
      ) : metrics.isError ? (
        <Card>
          <ErrorState error={metrics.error} onRetry={() => void metrics.refetch()} />
        </Card>
      ) : m ? (
        <div className="space-y-4" aria-busy={metrics.isFetching || undefined}>
          <KpiGrid metrics={m} />
          <div className="grid gap-4 lg:grid-cols-3">
            <div className="lg:col-span-2">
              <ActivityChart metrics={m} compare={state.compare} onCompare={(compare) => update({ compare })} />
            </div>
            <StickinessCard metrics={m} />
          </div>
          <div className="grid gap-4 lg:grid-cols-2">
            <LifecycleFlowChart metrics={m} />
            <FunnelCard metrics={m} />
          </div>
          <div className="grid gap-4 lg:grid-cols-3">
            <SingleMetricChart metrics={m} metric={DashboardMetric.AVG_SESSION_DURATION} color="#0ea5e9" />
            <SingleMetricChart metrics={m} metric={DashboardMetric.ACTIVE_USER_GROWTH_RATE} color="#10b981" kind="line" />
            <SingleMetricChart metrics={m} metric={DashboardMetric.CREDITS_SPENT} color="#8b5cf6" kind="bar" />
          </div>
          <div className="grid gap-4 lg:grid-cols-2">
            <SegmentsCard range={state.range} measure={state.measure} onMeasure={(measure) => update({ measure })} />
            <CltvCard metrics={m} />
          </div>
          {canReadUsers && <DistributionCard fields={fields.data?.fields ?? []} field={state.field} onField={(field) => update({ field })} />}
          <DataHealthSection range={state.range} />
        </div>
      ) : null}
    </>
  );
}
