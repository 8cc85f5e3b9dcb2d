import { StatCard } from "../../components/StatCard";
import { DashboardMetric, type GetMetricsResponse } from "../../gen/cdp/v1/dashboard_pb";
import { formatMetric } from "../../lib/numbers";
import { kpiOf, LOWER_IS_BETTER } from "./metrics";

/** The headline lifecycle numbers, most critical first. */
const HEADLINE: readonly DashboardMetric[] = [
  DashboardMetric.DAU,
  DashboardMetric.WAU,
  DashboardMetric.MAU,
  DashboardMetric.NEW_USERS,
  DashboardMetric.ACTIVE_USERS,
  DashboardMetric.CHURNED_USERS,
  DashboardMetric.ABOUT_TO_CHURN_USERS,
  DashboardMetric.REACTIVATED_USERS,
];

/** KPI cards with the previous period's value and the change, each with its definition. */
export function KpiGrid({ metrics }: { metrics: GetMetricsResponse }) {
  return (
    <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
      {HEADLINE.map((metric) => {
        const kpi = kpiOf(metrics, metric);
        if (!kpi) return null;
        return (
          <StatCard
            key={metric}
            testId={`kpi-${metric}`}
            label={kpi.label}
            definition={kpi.description}
            value={formatMetric(kpi.value, kpi.unit)}
            changeRatio={kpi.changeRatio}
            previous={kpi.previousValue !== undefined ? formatMetric(kpi.previousValue, kpi.unit) : undefined}
            higherIsBetter={!LOWER_IS_BETTER.has(metric)}
            compare
          />
        );
      })}
    </div>
  );
}
