import { Checkbox } from "../../components/Field";
import { Gauge } from "../../components/charts/Gauge";
import { Funnel } from "../../components/charts/Funnel";
import { PREVIOUS_COLOR, seriesColor } from "../../components/charts/palette";
import { TimeSeriesChart, type ChartSeries } from "../../components/charts/TimeSeriesChart";
import { EmptyState } from "../../components/States";
import { ChangeBadge } from "../../components/StatCard";
import { BarList } from "../../components/charts/BarList";
import { DashboardMetric, MetricUnit, type GetMetricsResponse } from "../../gen/cdp/v1/dashboard_pb";
import { formatDayRange } from "../../lib/dates";
import { formatMetric, formatMetricTick, formatNumber, formatPercent } from "../../lib/numbers";
import { ChartCard, Headline } from "./ChartCard";
import { bucketTick, bucketTitle, chartRows, kpiOf, LOWER_IS_BETTER, metricKey, previousKey, seriesOf } from "./metrics";

function previousLabel(metrics: GetMetricsResponse): string {
  const p = metrics.previousRange;
  return p ? `Previous period (${formatDayRange(p.startDate, p.endDate)})` : "Previous period";
}

function NoPoints() {
  return <EmptyState className="!py-10" title="No data in this range" description="Pick a longer range, or check the data health below." />;
}

/** DAU, WAU and MAU over time, optionally with the previous period dashed. */
export function ActivityChart({ metrics, compare, onCompare }: { metrics: GetMetricsResponse; compare: boolean; onCompare: (v: boolean) => void }) {
  const ids = [DashboardMetric.DAU, DashboardMetric.WAU, DashboardMetric.MAU];
  const list = ids.map((m) => seriesOf(metrics, m));
  const rows = chartRows(list);
  const series: ChartSeries[] = [];
  list.forEach((s, i) => {
    if (!s) return;
    series.push({ key: metricKey(s.metric), label: s.label, color: seriesColor(i) });
    if (compare) series.push({ key: previousKey(s.metric), label: `${s.label}, previous`, color: seriesColor(i), dashed: true });
  });
  const definition = list
    .filter(Boolean)
    .map((s) => `${s!.label}: ${s!.description}`)
    .join(" ");
  const mau = kpiOf(metrics, DashboardMetric.MAU);
  return (
    <ChartCard
      title="Active users"
      definition={definition}
      headline={
        mau && (
          <p className="text-[13px] text-zinc-500">
            MAU <span className="font-semibold text-zinc-900 tabular-nums">{formatMetric(mau.value, mau.unit)}</span>{" "}
            <ChangeBadge ratio={mau.changeRatio} className="ml-1" />
          </p>
        )
      }
      actions={<Checkbox label="Compare with previous period" checked={compare} onChange={(e) => onCompare(e.target.checked)} />}
    >
      {rows.length === 0 ? (
        <NoPoints />
      ) : (
        <TimeSeriesChart
          label="Daily, weekly and monthly active users over time"
          data={rows}
          series={series}
          height={260}
          formatX={bucketTick(metrics.bucket)}
          formatY={(v) => formatMetricTick(v, MetricUnit.COUNT)}
          formatValue={(v) => formatMetric(v, MetricUnit.COUNT)}
          tooltipTitle={(row) => bucketTitle(metrics.bucket, row.x)}
        />
      )}
    </ChartCard>
  );
}

/** New, churned and reactivated users over time: the flows in and out of the active base. */
export function LifecycleFlowChart({ metrics }: { metrics: GetMetricsResponse }) {
  const defs = [
    { metric: DashboardMetric.NEW_USERS, color: "#0ea5e9" },
    { metric: DashboardMetric.CHURNED_USERS, color: "#f43f5e" },
    { metric: DashboardMetric.REACTIVATED_USERS, color: "#10b981" },
  ];
  const list = defs.map((d) => seriesOf(metrics, d.metric));
  const rows = chartRows(list);
  const series: ChartSeries[] = defs.flatMap((d, i) => (list[i] ? [{ key: metricKey(d.metric), label: list[i]!.label, color: d.color }] : []));
  const churned = kpiOf(metrics, DashboardMetric.CHURNED_USERS);
  return (
    <ChartCard
      title="Churn and acquisition"
      definition={list
        .filter(Boolean)
        .map((s) => `${s!.label}: ${s!.description}`)
        .join(" ")}
      headline={
        churned && (
          <p className="text-[13px] text-zinc-500">
            Churned <span className="font-semibold text-zinc-900 tabular-nums">{formatMetric(churned.value, churned.unit)}</span>{" "}
            <ChangeBadge ratio={churned.changeRatio} higherIsBetter={false} className="ml-1" />
          </p>
        )
      }
    >
      {rows.length === 0 ? (
        <NoPoints />
      ) : (
        <TimeSeriesChart
          label="New, churned and reactivated users over time"
          data={rows}
          series={series}
          height={240}
          formatX={bucketTick(metrics.bucket)}
          formatY={(v) => formatMetricTick(v, MetricUnit.COUNT)}
          formatValue={(v) => formatMetric(v, MetricUnit.COUNT)}
          tooltipTitle={(row) => bucketTitle(metrics.bucket, row.x)}
        />
      )}
    </ChartCard>
  );
}

/** One metric over time against the previous period, with its KPI as the headline. */
export function SingleMetricChart({
  metrics,
  metric,
  title,
  color = "#4f46e5",
  kind = "area",
}: {
  metrics: GetMetricsResponse;
  metric: DashboardMetric;
  title?: string;
  color?: string;
  kind?: "area" | "line" | "bar";
}) {
  const series = seriesOf(metrics, metric);
  const kpi = kpiOf(metrics, metric);
  const rows = chartRows([series]);
  const unit = series?.unit ?? kpi?.unit ?? MetricUnit.COUNT;
  return (
    <ChartCard
      title={title ?? series?.label ?? kpi?.label ?? ""}
      definition={series?.description || kpi?.description}
      headline={
        kpi && (
          <Headline
            value={formatMetric(kpi.value, kpi.unit)}
            change={
              <ChangeBadge
                ratio={kpi.changeRatio}
                higherIsBetter={!LOWER_IS_BETTER.has(metric)}
                previous={kpi.previousValue !== undefined ? formatMetric(kpi.previousValue, kpi.unit) : undefined}
              />
            }
          />
        )
      }
    >
      {!series || rows.length === 0 ? (
        <NoPoints />
      ) : (
        <TimeSeriesChart
          label={`${series.label} over time`}
          data={rows}
          series={[
            { key: metricKey(metric), label: series.label, color, kind },
            { key: previousKey(metric), label: previousLabel(metrics), color: PREVIOUS_COLOR, dashed: true },
          ]}
          showLegend={false}
          height={150}
          formatX={bucketTick(metrics.bucket)}
          formatY={(v) => formatMetricTick(v, unit)}
          formatValue={(v) => formatMetric(v, unit)}
          tooltipTitle={(row) => bucketTitle(metrics.bucket, row.x)}
        />
      )}
    </ChartCard>
  );
}

/** DAU/MAU and WAU/MAU as gauges. */
export function StickinessCard({ metrics }: { metrics: GetMetricsResponse }) {
  const dauMau = kpiOf(metrics, DashboardMetric.STICKINESS_DAU_MAU);
  const wauMau = kpiOf(metrics, DashboardMetric.STICKINESS_WAU_MAU);
  return (
    <ChartCard title="Stickiness" definition={[dauMau, wauMau].filter(Boolean).map((k) => `${k!.label}: ${k!.description}`).join(" ")}>
      <div className="grid h-full grid-cols-1 content-center gap-5 sm:grid-cols-2 lg:grid-cols-1 xl:grid-cols-1">
        {[dauMau, wauMau].map(
          (k, i) =>
            k && (
              <div key={k.metric} className="flex flex-col items-center">
                <Gauge ratio={k.value} label={k.label} display={formatPercent(k.value)} color={seriesColor(i)} />
                <div className="mt-1 flex items-center gap-2 text-xs text-zinc-500">
                  <ChangeBadge ratio={k.changeRatio} />
                  {k.previousValue !== undefined && <span>vs {formatPercent(k.previousValue)}</span>}
                </div>
              </div>
            ),
        )}
      </div>
    </ChartCard>
  );
}

/** The marketplace milestone funnel for accounts created in the range. */
export function FunnelCard({ metrics }: { metrics: GetMetricsResponse }) {
  const kpi = kpiOf(metrics, DashboardMetric.KEY_EVENT_COMPLETION_RATE);
  const steps = metrics.funnel;
  return (
    <ChartCard
      title="Key event completion"
      definition={kpi?.description}
      headline={
        kpi && (
          <Headline
            value={formatPercent(kpi.value)}
            change={<ChangeBadge ratio={kpi.changeRatio} previous={kpi.previousValue !== undefined ? formatPercent(kpi.previousValue) : undefined} />}
          />
        )
      }
    >
      {steps.length === 0 ? (
        <NoPoints />
      ) : (
        <Funnel
          label="Milestone funnel"
          stages={steps.map((s) => ({
            key: s.name,
            label: s.name,
            users: Number(s.users),
            fromStart: s.conversionFromStart,
            fromPrevious: s.conversionFromPrevious,
            definition: s.description,
            note: `Previous period: ${formatNumber(s.previousUsers)}`,
          }))}
        />
      )}
    </ChartCard>
  );
}

/** Average CLTV and its breakdown by user type and vertical. */
export function CltvCard({ metrics }: { metrics: GetMetricsResponse }) {
  const cltv = metrics.cltv;
  if (!cltv) return null;
  const segments = cltv.segments.slice(0, 8);
  return (
    <ChartCard
      title="Customer lifetime value"
      definition={cltv.description}
      headline={
        <p className="flex items-baseline gap-2">
          <span className="text-2xl font-semibold tracking-tight text-zinc-900 tabular-nums">{formatNumber(Math.round(cltv.averageLtv))}</span>
          <span className="text-[13px] text-zinc-500">credits on average over {formatNumber(cltv.users)} paying users</span>
        </p>
      }
    >
      {segments.length === 0 ? (
        <NoPoints />
      ) : (
        <>
          <p className="mb-2 text-xs font-medium tracking-wide text-zinc-400 uppercase">Average by segment</p>
          <BarList
            label="Average lifetime value by user type and vertical"
            items={segments.map((s, i) => ({
              key: `${s.userType}|${s.vertical}|${i}`,
              label: [s.userType || "(no type)", s.vertical || "(no vertical)"].join(" · "),
              hint: `${formatNumber(s.users)} users`,
              value: s.averageLtv,
              display: formatNumber(Math.round(s.averageLtv)),
              color: "#8b5cf6",
            }))}
          />
        </>
      )}
    </ChartCard>
  );
}
