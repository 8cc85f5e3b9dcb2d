import { useState } from "react";
import { Card } from "../../../components/Card";
import { SegmentedControl } from "../../../components/SegmentedControl";
import { TimeSeriesChart } from "../../../components/charts/TimeSeriesChart";
import type { UserDailyActivity } from "../../../gen/cdp/v1/users_pb";
import { formatDay } from "../../../lib/dates";
import { formatCompact, formatDuration, formatNumber } from "../../../lib/numbers";

const METRICS = [
  { value: "sessions", label: "Sessions" },
  { value: "time", label: "Session time" },
  { value: "events", label: "Events" },
  { value: "listings", label: "Listings" },
  { value: "credits", label: "Credits" },
] as const;

type MetricId = (typeof METRICS)[number]["value"];

function valueOf(d: UserDailyActivity, m: MetricId): number {
  switch (m) {
    case "sessions":
      return d.sessions;
    case "time":
      return Number(d.sessionSeconds);
    case "events":
      return d.events;
    case "listings":
      return d.listingsPosted;
    case "credits":
      return Number(d.creditsSpent);
  }
}

/** The user's daily activity over the last 90 days, one measure at a time. */
export function ActivityCard({ activity }: { activity: readonly UserDailyActivity[] }) {
  const [metric, setMetric] = useState<MetricId>("sessions");
  const activeDays = activity.filter((d) => d.sessions > 0 || d.events > 0).length;
  const sessions = activity.reduce((n, d) => n + d.sessions, 0);
  const seconds = activity.reduce((n, d) => n + Number(d.sessionSeconds), 0);
  const credits = activity.reduce((n, d) => n + Number(d.creditsSpent), 0);
  const label = METRICS.find((m) => m.value === metric)!.label;
  return (
    <Card className="flex h-full flex-col">
      <header className="flex flex-wrap items-start justify-between gap-3 px-5 pt-4">
        <div>
          <h2 className="text-[15px] font-semibold text-zinc-900">Activity, last 90 days</h2>
          <p className="mt-0.5 text-[13px] text-zinc-500">
            Active on <span className="font-medium text-zinc-800">{activeDays}</span> days · {formatNumber(sessions)} sessions ·{" "}
            {formatDuration(seconds)} in total · {formatNumber(credits)} credits spent
          </p>
        </div>
        <SegmentedControl label="Activity measure" size="sm" options={METRICS} value={metric} onChange={setMetric} />
      </header>
      <div className="flex-1 px-5 pt-3 pb-4">
        {activity.length === 0 ? (
          <p className="py-16 text-center text-[13px] text-zinc-500">No activity recorded for this user.</p>
        ) : (
          <TimeSeriesChart
            label={`${label} per day over the last 90 days`}
            data={activity.map((d) => ({ x: d.date, v: valueOf(d, metric) }))}
            series={[{ key: "v", label, color: "#4f46e5", kind: "bar" }]}
            height={210}
            showLegend={false}
            formatX={(x) => formatDay(x)}
            formatY={(v) => (metric === "time" ? formatDuration(v) : formatCompact(v))}
            formatValue={(v) => (metric === "time" ? formatDuration(v) : formatNumber(v))}
            tooltipTitle={(row) => formatDay(row.x, true)}
          />
        )}
      </div>
    </Card>
  );
}
