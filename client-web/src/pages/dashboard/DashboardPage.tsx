import { useQuery } from "@connectrpc/connect-query";
import { PageHeader } from "../../components/PageHeader";
import { ServicePreview } from "../../components/ServicePreview";
import { DashboardService, DatePreset } from "../../gen/cdp/v1/dashboard_pb";
import { pluralize } from "../../lib/format";

/** KPIs and activity series: DashboardService.GetMetrics. */
export function DashboardPage() {
  const metrics = useQuery(DashboardService.method.getMetrics, { preset: DatePreset.LAST_30_DAYS }, { retry: false });
  return (
    <>
      <PageHeader
        title="Dashboard"
        description="Active users, lifecycle and engagement of the marketplace at a glance: DAU, WAU, MAU, churn, stickiness and data health."
      />
      <ServicePreview query={metrics} summary={(d) => `Metrics for the last 30 days: ${pluralize(d.kpis.length, "KPI")}`} />
    </>
  );
}
