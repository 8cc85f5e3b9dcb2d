// Reading a GetMetrics answer: the KPI or series of a metric, and chart rows that line up
// each point with the previous period's point (the server aligns them by index).
import type { ChartRow } from "../../components/charts/TimeSeriesChart";
import {
  DashboardMetric,
  TimeBucket,
  type GetMetricsResponse,
  type Kpi,
  type MetricSeries,
} from "../../gen/cdp/v1/dashboard_pb";
import { formatDay, formatMonthShort } from "../../lib/dates";

export function kpiOf(res: GetMetricsResponse | undefined, metric: DashboardMetric): Kpi | undefined {
  return res?.kpis.find((k) => k.metric === metric);
}

export function seriesOf(res: GetMetricsResponse | undefined, metric: DashboardMetric): MetricSeries | undefined {
  return res?.series.find((s) => s.metric === metric);
}

/** Key of a metric's values in chart rows. */
export function metricKey(metric: DashboardMetric): string {
  return `m${metric}`;
}

export function previousKey(metric: DashboardMetric): string {
  return `p${metric}`;
}

/** One row per bucket with every series' value and its previous-period value. */
export function chartRows(series: readonly (MetricSeries | undefined)[]): ChartRow[] {
  const present = series.filter((s): s is MetricSeries => Boolean(s));
  const length = Math.max(0, ...present.map((s) => s.points.length));
  const rows: ChartRow[] = [];
  for (let i = 0; i < length; i++) {
    const row: ChartRow = { x: present.find((s) => s.points[i])?.points[i].bucketStart ?? "" };
    for (const s of present) {
      row[metricKey(s.metric)] = s.points[i]?.value ?? null;
      row[previousKey(s.metric)] = s.previousPoints[i]?.value ?? null;
      if (s.previousPoints[i]) row.previousX = s.previousPoints[i].bucketStart;
    }
    rows.push(row);
  }
  return rows;
}

/** An x-axis tick for a bucket start. */
export function bucketTick(bucket: TimeBucket): (x: string) => string {
  return bucket === TimeBucket.MONTHLY ? formatMonthShort : (x) => formatDay(x);
}

/** The tooltip title of a row: the bucket, and the previous period's bucket it compares with. */
export function bucketTitle(bucket: TimeBucket, x: string): string {
  if (bucket === TimeBucket.MONTHLY) return formatMonthShort(x);
  if (bucket === TimeBucket.WEEKLY) return `Week of ${formatDay(x, true)}`;
  return formatDay(x, true);
}

/** Figures where a rise is bad news. */
export const LOWER_IS_BETTER: ReadonlySet<DashboardMetric> = new Set([
  DashboardMetric.CHURNED_USERS,
  DashboardMetric.ABOUT_TO_CHURN_USERS,
]);
