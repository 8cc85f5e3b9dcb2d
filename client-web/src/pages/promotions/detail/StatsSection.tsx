import { useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Card } from "../../../components/Card";
import { SegmentedControl } from "../../../components/SegmentedControl";
import { Skeleton } from "../../../components/Spinner";
import { StatCard } from "../../../components/StatCard";
import { EmptyState, ErrorState } from "../../../components/States";
import { TimeSeriesChart } from "../../../components/charts/TimeSeriesChart";
import { PromotionService, PromotionStatsInterval, PromotionStatus, type Promotion } from "../../../gen/cdp/v1/promotions_pb";
import { formatDay } from "../../../lib/dates";
import { formatCompact, formatNumber, formatPercent } from "../../../lib/numbers";
import { grantsCredits } from "../../../lib/labels";

const hourFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const shortHour = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

/** Redemptions, unique users, credits, what is left and the pacing, with the series over time. */
export function StatsSection({ promotion }: { promotion: Promotion }) {
  const [interval, setInterval] = useState<"day" | "hour">("day");
  const running = promotion.status === PromotionStatus.ACTIVE;
  const query = useQuery(
    PromotionService.method.getPromotionStats,
    { promotionId: promotion.id, interval: interval === "hour" ? PromotionStatsInterval.HOUR : PromotionStatsInterval.DAY },
    { refetchInterval: running ? 15_000 : false },
  );
  const s = query.data;
  if (query.isPending) {
    return (
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6" aria-busy="true" aria-label="Loading">
        {Array.from({ length: 6 }, (_, i) => (
          <Card key={i} className="space-y-2 p-4">
            <Skeleton className="h-3 w-20" />
            <Skeleton className="h-7 w-24" />
          </Card>
        ))}
      </div>
    );
  }
  if (query.isError || !s) {
    return (
      <Card>
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      </Card>
    );
  }
  const credits = grantsCredits(promotion.type);
  const rows = s.series.map((p) => ({
    x: p.bucketStart ? timestampDate(p.bucketStart).toISOString() : "",
    redemptions: Number(p.redemptions),
    users: Number(p.uniqueUsers),
    credits: Number(p.creditsGranted),
    reverted: Number(p.reverted),
  }));
  const xLabel = (x: string) => {
    const d = new Date(x);
    if (Number.isNaN(d.getTime())) return x;
    return interval === "hour" ? shortHour.format(d) : formatDay(x.slice(0, 10));
  };
  const title = (x: string) => {
    const d = new Date(x);
    return interval === "hour" ? hourFormat.format(d) : formatDay(x.slice(0, 10), true);
  };
  return (
    <div className="space-y-4">
      <div className="grid grid-cols-2 gap-3 md:grid-cols-3 xl:grid-cols-6">
        <StatCard label="Redemptions" value={formatNumber(s.redemptions)} definition="Redemptions made; reverted ones are not counted." footer={s.reverted ? <span>{formatNumber(s.reverted)} reverted</span> : undefined} />
        <StatCard
          label="Unique users"
          value={formatNumber(s.uniqueUsers)}
          definition="Distinct users who redeemed, and their share of the audience."
          footer={<span>{formatPercent(s.redemptionRate)} of {formatNumber(s.audienceSize)}</span>}
        />
        <StatCard label="Credits granted" value={formatNumber(s.creditsGranted)} definition="Credits the redemptions were worth (bonus credits and discounts)." />
        <StatCard
          label="Budget left"
          value={s.remainingBudget !== undefined ? formatNumber(s.remainingBudget) : credits ? "No budget" : "—"}
          definition="Credits left in the credit budget."
        />
        <StatCard
          label="Redemptions left"
          value={s.remainingRedemptions !== undefined ? formatNumber(s.remainingRedemptions) : "No cap"}
          definition="Redemptions left under the total cap."
        />
        <StatCard
          label="Pacing"
          value={s.projectedExhaustionDate ? formatDay(s.projectedExhaustionDate, true) : "On track"}
          definition="At the pace of the last 24 hours, the day the budget or the total cap runs out; 'On track' when neither runs out before the end."
          footer={s.projectedExhaustionDate ? <span className="text-amber-700">Runs out before the end</span> : undefined}
        />
      </div>
      <Card>
        <header className="flex flex-wrap items-center justify-between gap-3 px-5 pt-4">
          <h2 className="text-[15px] font-semibold text-zinc-900">Redemptions over time</h2>
          <SegmentedControl
            label="Interval"
            size="sm"
            value={interval}
            onChange={setInterval}
            options={[
              { value: "day", label: "Daily" },
              { value: "hour", label: "Hourly" },
            ]}
          />
        </header>
        <div className="px-5 pt-3 pb-4">
          {rows.every((r) => !r.redemptions && !r.reverted) ? (
            <EmptyState className="!py-10" title="No redemptions yet" description={promotion.status === PromotionStatus.DRAFT ? "Activate the promotion to start." : "They appear here as consumers redeem."} />
          ) : (
            <TimeSeriesChart
              label="Redemptions and unique users over time"
              data={rows}
              series={[
                { key: "redemptions", label: "Redemptions", color: "#4f46e5", kind: "bar" },
                { key: "users", label: "Unique users", color: "#0ea5e9" },
                ...(credits ? [{ key: "credits", label: "Credits granted", color: "#8b5cf6", axis: "right" as const }] : []),
                { key: "reverted", label: "Reverted", color: "#f43f5e", kind: "bar" as const },
              ]}
              height={240}
              formatX={xLabel}
              formatY={formatCompact}
              formatValue={(v) => formatNumber(v)}
              tooltipTitle={(row) => title(row.x)}
            />
          )}
        </div>
      </Card>
    </div>
  );
}
