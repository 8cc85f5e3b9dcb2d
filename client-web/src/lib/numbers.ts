// Numbers as the pages show them: counts, credits, ratios, durations and changes. Values
// come from the server as computed; these functions only format them.
import { MetricUnit } from "../gen/cdp/v1/dashboard_pb";

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

function toNumber(n: number | bigint): number {
  return typeof n === "bigint" ? Number(n) : n;
}

/** 1234 → "1,234"; 12.345 → "12.35". */
export function formatNumber(n: number | bigint | undefined, fallback = "—"): string {
  if (n === undefined || (typeof n === "number" && !Number.isFinite(n))) return fallback;
  if (typeof n === "bigint") return integer.format(n);
  return Number.isInteger(n) ? integer.format(n) : decimal.format(n);
}

/** 1234567 → "1.2M" (axis ticks and tight spaces). */
export function formatCompact(n: number | bigint): string {
  return compact.format(toNumber(n));
}

/** 0.1234 → "12.3%". */
export function formatPercent(ratio: number | undefined, digits = 1, fallback = "—"): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return fallback;
  return `${(ratio * 100).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 })}%`;
}

/** 0.1234 → "+12.3%", -0.05 → "−5%". */
export function formatChange(ratio: number | undefined, digits = 1): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return "—";
  const text = formatPercent(Math.abs(ratio), digits);
  if (ratio > 0) return `+${text}`;
  if (ratio < 0) return `−${text}`;
  return text;
}

/** 272 → "4m 32s"; 3725 → "1h 2m"; 12 → "12s". */
export function formatDuration(seconds: number | bigint | undefined): string {
  if (seconds === undefined) return "—";
  const s = Math.round(toNumber(seconds));
  if (!Number.isFinite(s)) return "—";
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  return rest ? `${m}m ${rest}s` : `${m}m`;
}

/** A time to live: "7 days", "36 hours", "45 minutes". */
export function formatTtl(seconds: number | bigint): string {
  const s = Math.round(toNumber(seconds));
  const plural = (n: number, unit: string) => `${formatNumber(n)} ${unit}${n === 1 ? "" : "s"}`;
  if (s >= 86_400 && s % 86_400 === 0) return plural(s / 86_400, "day");
  if (s >= 3_600 && s % 3_600 === 0) return plural(s / 3_600, "hour");
  if (s >= 60 && s % 60 === 0) return plural(s / 60, "minute");
  return formatDuration(s);
}

/** A dashboard value in its unit. */
export function formatMetric(value: number | undefined, unit: MetricUnit, options: { compact?: boolean } = {}): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  switch (unit) {
    case MetricUnit.RATIO:
      return formatPercent(value);
    case MetricUnit.SECONDS:
      return formatDuration(value);
    case MetricUnit.CREDITS:
    case MetricUnit.COUNT:
    default:
      if (options.compact && Math.abs(value) >= 10_000) return formatCompact(value);
      return Math.abs(value) >= 100 ? integer.format(value) : formatNumber(Math.round(value * 10) / 10);
  }
}

/** A short axis tick for a unit. */
export function formatMetricTick(value: number, unit: MetricUnit): string {
  switch (unit) {
    case MetricUnit.RATIO:
      return formatPercent(value, 0);
    case MetricUnit.SECONDS:
      return formatDuration(value);
    default:
      return formatCompact(value);
  }
}
