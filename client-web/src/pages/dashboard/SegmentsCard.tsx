import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { Badge } from "../../components/Badge";
import { BarList } from "../../components/charts/BarList";
import { SegmentedControl } from "../../components/SegmentedControl";
import { EmptyState } from "../../components/States";
import type { DateRangeValue } from "../../components/DateRangePicker";
import { DashboardService, MetricUnit, SegmentMeasure, SegmentSource } from "../../gen/cdp/v1/dashboard_pb";
import { explorerHref } from "../../lib/explorer-link";
import { formatChange, formatMetric, formatNumber } from "../../lib/numbers";
import { ChartCard, ChartSkeleton, PanelError } from "./ChartCard";
import { rangeRequest } from "./dashboard-state";

const MEASURES = [
  { value: "activity", label: "By activity" },
  { value: "value", label: "By value" },
] as const;

/** Top segments by activity or value, each opening the explorer with its condition tree. */
export function SegmentsCard({ range, measure, onMeasure }: { range: DateRangeValue; measure: SegmentMeasure; onMeasure: (m: SegmentMeasure) => void }) {
  const query = useQuery(
    DashboardService.method.getUserSegments,
    { measure, ...rangeRequest(range), limit: 8 },
    { placeholderData: keepPreviousData },
  );
  const segments = query.data?.segments ?? [];
  return (
    <ChartCard
      title="Top segments"
      definition={query.data?.description}
      actions={
        <SegmentedControl
          label="Rank segments"
          size="sm"
          options={MEASURES}
          value={measure === SegmentMeasure.VALUE ? "value" : "activity"}
          onChange={(v) => onMeasure(v === "value" ? SegmentMeasure.VALUE : SegmentMeasure.ACTIVITY)}
        />
      }
    >
      {query.isPending ? (
        <ChartSkeleton height={180} />
      ) : query.isError ? (
        <PanelError error={query.error} onRetry={() => void query.refetch()} />
      ) : segments.length === 0 ? (
        <EmptyState className="!py-10" title="No segments in this range" description="Segments appear once users are active." />
      ) : (
        <>
          <p className="mb-2 text-xs text-zinc-500">
            {measure === SegmentMeasure.VALUE ? "Credits spent" : "Active users"} in the range · click a segment to see its users
          </p>
          <BarList
            label="Top segments"
            items={segments.map((s, i) => {
              const change = s.previousValue ? (s.value - s.previousValue) / s.previousValue : undefined;
              return {
                key: `${s.name}-${i}`,
                label: (
                  <span className="inline-flex items-center gap-1.5">
                    {s.name}
                    {s.source === SegmentSource.COHORT && <Badge tone="brand">Cohort</Badge>}
                  </span>
                ),
                hint: `${formatNumber(s.users)} users${change !== undefined ? ` · ${formatChange(change)}` : ""}`,
                value: s.value,
                display: formatMetric(s.value, s.unit === MetricUnit.UNSPECIFIED ? MetricUnit.COUNT : s.unit, { compact: true }),
                href: explorerHref(s.condition, `Segment: ${s.name}`),
                linkLabel: `Explore the users of segment ${s.name}`,
                color: measure === SegmentMeasure.VALUE ? "#8b5cf6" : "#4f46e5",
              };
            })}
          />
        </>
      )}
    </ChartCard>
  );
}
