// Formatting of instants, counts and durations for display. Instants are shown in the
// browser's time zone; the server's reporting time zone only matters for calendar days.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

const numberFormat = new Intl.NumberFormat();

export function toDate(ts: Timestamp | undefined): Date | undefined {
  return ts ? timestampDate(ts) : undefined;
}

export function formatDateTime(ts: Timestamp | Date | undefined, fallback = "—"): string {
  const date = ts instanceof Date ? ts : toDate(ts);
  return date ? dateTimeFormat.format(date) : fallback;
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

/** "3 hours ago", "in 2 days"; "just now" under a minute. */
export function formatRelative(ts: Timestamp | Date | undefined, now: Date = new Date(), fallback = "Never"): string {
  const date = ts instanceof Date ? ts : toDate(ts);
  if (!date) return fallback;
  const seconds = (date.getTime() - now.getTime()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

export function formatCount(n: number | bigint): string {
  return numberFormat.format(n);
}

/** Value of an `<input type="datetime-local">` (local time) from a Date, and back. */
export function toDateTimeLocal(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function fromDateTimeLocal(value: string): Date | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function pluralize(n: number | bigint, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 || n === 1n ? one : many}`;
}
