import type { ReactNode } from "react";
import {
  Area,
  Bar,
  CartesianGrid,
  ComposedChart,
  Line,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
  type TooltipContentProps,
} from "recharts";
import { AXIS_COLOR, GRID_COLOR } from "./palette";

export interface ChartSeries {
  /** Key of the value in each row. */
  key: string;
  label: string;
  color: string;
  /** Drawn dashed and thinner (the previous period). */
  dashed?: boolean;
  kind?: "line" | "area" | "bar";
  /** Bars stack when they share a stack id. */
  stackId?: string;
  axis?: "left" | "right";
}

export type ChartRow = { x: string } & Record<string, number | string | null | undefined>;

export interface TimeSeriesChartProps {
  data: readonly ChartRow[];
  series: readonly ChartSeries[];
  /** Accessible description of the chart. */
  label: string;
  formatX?: (x: string) => string;
  formatY?: (value: number) => string;
  formatValue?: (value: number, series: ChartSeries) => string;
  /** Extra label per row in the tooltip header (e.g. the previous period's day). */
  tooltipTitle?: (row: ChartRow) => ReactNode;
  height?: number;
  formatYRight?: (value: number) => string;
  showLegend?: boolean;
  /** Room above the right axis's highest value (2 keeps its series in the lower half). */
  rightHeadroom?: number;
}

function ChartTooltip({
  active,
  payload,
  series,
  formatX,
  formatValue,
  tooltipTitle,
}: Partial<TooltipContentProps<number, string>> & Pick<TimeSeriesChartProps, "series" | "formatX" | "formatValue" | "tooltipTitle">) {
  if (!active || !payload?.length) return null;
  const row = payload[0]?.payload as ChartRow | undefined;
  if (!row) return null;
  return (
    <div className="min-w-44 rounded-lg bg-white px-3 py-2.5 text-xs shadow-lg ring-1 ring-zinc-900/10">
      <p className="mb-1.5 font-medium text-zinc-900">{tooltipTitle ? tooltipTitle(row) : formatX ? formatX(row.x) : row.x}</p>
      <ul className="space-y-1">
        {series.map((s) => {
          const v = row[s.key];
          return (
            <li key={s.key} className="flex items-center justify-between gap-4">
              <span className="flex items-center gap-1.5 text-zinc-600">
                <span aria-hidden className="inline-block h-0.5 w-3 rounded" style={{ background: s.color, opacity: s.dashed ? 0.7 : 1 }} />
                {s.label}
              </span>
              <span className="font-medium text-zinc-900 tabular-nums">
                {typeof v === "number" ? (formatValue ? formatValue(v, s) : v.toLocaleString()) : "—"}
              </span>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** Lines, areas or bars over time with a compact legend and a readable tooltip. */
export function TimeSeriesChart({
  data,
  series,
  label,
  formatX = (x) => x,
  formatY = (v) => v.toLocaleString(),
  formatValue,
  tooltipTitle,
  height = 240,
  formatYRight,
  showLegend = true,
  rightHeadroom = 1,
}: TimeSeriesChartProps) {
  const hasRight = series.some((s) => s.axis === "right");
  // With a handful of points a line has nothing to join: show the points themselves.
  const dot = data.length <= 3 ? { r: 3, strokeWidth: 0 } : false;
  return (
    <figure aria-label={label} className="w-full">
      {showLegend && series.length > 1 && (
        <figcaption className="mb-3 flex flex-wrap gap-x-4 gap-y-1 text-xs text-zinc-500">
          {series.map((s) => (
            <span key={s.key} className="inline-flex items-center gap-1.5">
              <span
                aria-hidden
                className="inline-block h-0.5 w-4 rounded"
                style={
                  s.dashed
                    ? { backgroundImage: `linear-gradient(to right, ${s.color} 60%, transparent 0)`, backgroundSize: "5px 2px" }
                    : { background: s.color, height: s.kind === "bar" ? 8 : undefined, width: s.kind === "bar" ? 8 : undefined }
                }
              />
              {s.label}
            </span>
          ))}
        </figcaption>
      )}
      <div style={{ height }} role="img" aria-label={label}>
        <ResponsiveContainer width="100%" height="100%">
          <ComposedChart data={data as ChartRow[]} margin={{ top: 4, right: hasRight ? 4 : 8, bottom: 0, left: 0 }}>
            <defs>
              {series
                .filter((s) => s.kind === "area")
                .map((s) => (
                  <linearGradient key={s.key} id={`area-${s.key}`} x1="0" x2="0" y1="0" y2="1">
                    <stop offset="0%" stopColor={s.color} stopOpacity={0.22} />
                    <stop offset="100%" stopColor={s.color} stopOpacity={0.02} />
                  </linearGradient>
                ))}
            </defs>
            <CartesianGrid vertical={false} stroke={GRID_COLOR} />
            <XAxis
              dataKey="x"
              tickFormatter={formatX}
              tick={{ fontSize: 11, fill: AXIS_COLOR }}
              tickLine={false}
              axisLine={{ stroke: "#e4e4e7" }}
              minTickGap={24}
              tickMargin={8}
            />
            <YAxis
              yAxisId="left"
              tickFormatter={formatY}
              tick={{ fontSize: 11, fill: AXIS_COLOR }}
              tickLine={false}
              axisLine={false}
              width={52}
              allowDecimals={false}
            />
            {hasRight && (
              <YAxis
                yAxisId="right"
                orientation="right"
                domain={[0, (max: number) => Math.ceil(max * rightHeadroom)]}
                tickFormatter={formatYRight ?? formatY}
                tick={{ fontSize: 11, fill: AXIS_COLOR }}
                tickLine={false}
                axisLine={false}
                width={48}
              />
            )}
            <Tooltip
              cursor={{ stroke: "#d4d4d8", strokeDasharray: "3 3", fill: "rgba(244,244,245,0.6)" }}
              content={(props) => (
                <ChartTooltip
                  {...(props as Partial<TooltipContentProps<number, string>>)}
                  series={series}
                  formatX={formatX}
                  formatValue={formatValue}
                  tooltipTitle={tooltipTitle}
                />
              )}
            />
            {series.map((s) => {
              const axis = s.axis === "right" ? "right" : "left";
              if (s.kind === "bar") {
                return (
                  <Bar
                    key={s.key}
                    yAxisId={axis}
                    dataKey={s.key}
                    name={s.label}
                    fill={s.color}
                    stackId={s.stackId}
                    radius={s.stackId ? 0 : [3, 3, 0, 0]}
                    maxBarSize={s.axis === "right" ? 10 : 28}
                    fillOpacity={s.axis === "right" ? 0.75 : 1}
                    isAnimationActive={false}
                  />
                );
              }
              if (s.kind === "area") {
                return (
                  <Area
                    key={s.key}
                    yAxisId={axis}
                    type="monotone"
                    dataKey={s.key}
                    name={s.label}
                    stroke={s.color}
                    strokeWidth={2}
                    fill={`url(#area-${s.key})`}
                    dot={dot ? { ...dot, fill: s.color } : false}
                    activeDot={{ r: 3.5 }}
                    isAnimationActive={false}
                    connectNulls
                  />
                );
              }
              return (
                <Line
                  key={s.key}
                  yAxisId={axis}
                  type="monotone"
                  dataKey={s.key}
                  name={s.label}
                  stroke={s.color}
                  strokeWidth={s.dashed ? 1.5 : 2}
                  strokeDasharray={s.dashed ? "4 4" : undefined}
                  strokeOpacity={s.dashed ? 0.8 : 1}
                  dot={dot ? { ...dot, fill: s.color } : false}
                  activeDot={{ r: 3.5 }}
                  isAnimationActive={false}
                  connectNulls
                />
              );
            })}
          </ComposedChart>
        </ResponsiveContainer>
      </div>
    </figure>
  );
}
