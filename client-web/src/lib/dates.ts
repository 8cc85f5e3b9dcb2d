// Calendar days as the contract writes them (`YYYY-MM-DD`, in the reporting time zone) and
// the little date arithmetic the calendar picker needs. The server resolves presets and
// ranges; the browser only shows them.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const ISO = /^(\d{4})-(\d{2})-(\d{2})$/;

/** The local calendar day of a Date as `YYYY-MM-DD`. */
export function isoDay(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** `YYYY-MM-DD` → a local Date at midnight; undefined when malformed. */
export function parseIsoDay(text: string | undefined | null): Date | undefined {
  const m = text ? ISO.exec(text) : null;
  if (!m) return undefined;
  const date = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return isoDay(date) === text ? date : undefined;
}

export function isIsoDay(text: string): boolean {
  return parseIsoDay(text) !== undefined;
}

export function addDays(date: Date, days: number): Date {
  const d = new Date(date);
  d.setDate(d.getDate() + days);
  return d;
}

export function addMonths(date: Date, months: number): Date {
  return new Date(date.getFullYear(), date.getMonth() + months, 1);
}

export function startOfMonth(date: Date): Date {
  return new Date(date.getFullYear(), date.getMonth(), 1);
}

/** The 6×7 grid of days shown for `month` (weeks start on Monday, ISO). */
export function monthGrid(month: Date): Date[] {
  const first = startOfMonth(month);
  const offset = (first.getDay() + 6) % 7;
  const start = addDays(first, -offset);
  return Array.from({ length: 42 }, (_, i) => addDays(start, i));
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const dayYearFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", year: "numeric" });
const monthFormat = new Intl.DateTimeFormat(undefined, { month: "long", year: "numeric" });
const monthShortFormat = new Intl.DateTimeFormat(undefined, { month: "short", year: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

/** "Mar 4" (or "Mar 4, 2023" when `withYear`). */
export function formatDay(iso: string, withYear = false): string {
  const d = parseIsoDay(iso);
  if (!d) return iso;
  return (withYear ? dayYearFormat : dayFormat).format(d);
}

export function formatMonth(date: Date): string {
  return monthFormat.format(date);
}

/** "Mar '24" for monthly buckets. */
export function formatMonthShort(iso: string): string {
  const d = parseIsoDay(iso);
  return d ? monthShortFormat.format(d) : iso;
}

/** "Mar 1 – Mar 30, 2024", with the year once when both ends share it. */
export function formatDayRange(start: string | undefined, end: string | undefined): string {
  const s = parseIsoDay(start);
  const e = parseIsoDay(end);
  if (!s || !e) return "—";
  if (start === end) return dayYearFormat.format(s);
  const sameYear = s.getFullYear() === e.getFullYear();
  return `${(sameYear ? dayFormat : dayYearFormat).format(s)} – ${dayYearFormat.format(e)}`;
}

/** A Timestamp as a calendar date, "Mar 4, 2024". */
export function formatDate(ts: Timestamp | undefined, fallback = "—"): string {
  return ts ? dateFormat.format(timestampDate(ts)) : fallback;
}
