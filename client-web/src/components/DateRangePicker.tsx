import { useState } from "react";
import { CalendarDays, ChevronDown, ChevronLeft, ChevronRight } from "lucide-react";
import { DatePreset } from "../gen/cdp/v1/dashboard_pb";
import { addMonths, formatDayRange, formatMonth, isoDay, monthGrid, parseIsoDay, startOfMonth } from "../lib/dates";
import { PRESET_LABELS, QUICK_PRESETS } from "../lib/date-presets";
import { Button } from "./Button";
import { Popover } from "./Popover";
import { cx } from "./cx";

export interface DateRangeValue {
  preset: DatePreset;
  /** `YYYY-MM-DD`, only with CUSTOM. */
  start?: string;
  end?: string;
}

function Month({
  month,
  start,
  end,
  hover,
  today,
  onPick,
  onHover,
}: {
  month: Date;
  start?: string;
  end?: string;
  hover?: string;
  today: string;
  onPick: (day: string) => void;
  onHover: (day: string | undefined) => void;
}) {
  const days = monthGrid(month);
  const upper = end ?? (start && hover && hover >= start ? hover : undefined);
  return (
    <div className="w-[252px]">
      <p className="mb-2 text-center text-[13px] font-semibold text-zinc-900">{formatMonth(month)}</p>
      <div className="grid grid-cols-7 text-center text-[11px] font-medium text-zinc-400">
        {["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"].map((d) => (
          <span key={d} className="py-1">
            {d}
          </span>
        ))}
      </div>
      <div className="grid grid-cols-7" onMouseLeave={() => onHover(undefined)}>
        {days.map((d) => {
          const iso = isoDay(d);
          const inMonth = d.getMonth() === month.getMonth();
          const future = iso > today;
          const isStart = iso === start;
          const isEnd = iso === upper;
          const inRange = start && upper && iso > start && iso < upper;
          if (!inMonth) return <span key={iso} />;
          return (
            <button
              key={iso}
              type="button"
              disabled={future}
              aria-label={iso}
              aria-pressed={isStart || isEnd || undefined}
              onClick={() => onPick(iso)}
              onMouseEnter={() => onHover(iso)}
              className={cx(
                "h-9 text-[13px] tabular-nums transition-colors disabled:cursor-not-allowed disabled:text-zinc-300",
                inRange && "bg-brand-50 text-brand-800",
                (isStart || isEnd) && "rounded-md bg-brand-600 font-semibold text-white",
                !inRange && !isStart && !isEnd && "rounded-md text-zinc-700 hover:bg-zinc-100",
                iso === today && !isStart && !isEnd && "font-semibold text-brand-700",
              )}
            >
              {d.getDate()}
            </button>
          );
        })}
      </div>
    </div>
  );
}

/**
 * The dashboard's time filter: quick presets and a two-month calendar for a custom range.
 * `resolved` is the range the server answered with, shown on the button.
 */
export function DateRangePicker({
  value,
  onChange,
  resolved,
}: {
  value: DateRangeValue;
  onChange: (value: DateRangeValue) => void;
  resolved?: { startDate: string; endDate: string };
}) {
  const today = isoDay(new Date());
  const [start, setStart] = useState<string | undefined>(value.start);
  const [end, setEnd] = useState<string | undefined>(value.end);
  const [hover, setHover] = useState<string | undefined>();
  const [month, setMonth] = useState(() => addMonths(startOfMonth(parseIsoDay(value.end) ?? new Date()), -1));

  const pick = (day: string) => {
    if (!start || end) {
      setStart(day);
      setEnd(undefined);
    } else if (day < start) {
      setEnd(start);
      setStart(day);
    } else {
      setEnd(day);
    }
  };

  const current = value.preset === DatePreset.UNSPECIFIED ? DatePreset.LAST_30_DAYS : value.preset;
  const rangeText = resolved ? formatDayRange(resolved.startDate, resolved.endDate) : value.preset === DatePreset.CUSTOM ? formatDayRange(value.start, value.end) : "";

  return (
    <Popover
      label="Choose dates"
      align="right"
      trigger={({ open, toggle }) => (
        <button
          type="button"
          aria-haspopup="dialog"
          aria-expanded={open}
          onClick={() => {
            if (!open) {
              // The calendar opens on the range on screen, the preset's included.
              setStart(value.start ?? resolved?.startDate);
              setEnd(value.end ?? resolved?.endDate);
            }
            toggle();
          }}
          className="inline-flex h-9 items-center gap-2 rounded-lg bg-white px-3 text-sm text-zinc-800 shadow-xs ring-1 ring-zinc-300 ring-inset hover:bg-zinc-50"
        >
          <CalendarDays className="size-4 text-zinc-500" />
          <span className="font-medium">{PRESET_LABELS[current]}</span>
          {rangeText && <span className="hidden text-zinc-500 md:inline">· {rangeText}</span>}
          <ChevronDown className="size-4 text-zinc-400" />
        </button>
      )}
    >
      {(close) => (
        <div className="flex">
          <ul className="w-40 space-y-0.5 border-r border-zinc-100 p-2">
            {QUICK_PRESETS.map((p) => (
              <li key={p}>
                <button
                  type="button"
                  onClick={() => {
                    onChange({ preset: p });
                    close();
                  }}
                  className={cx(
                    "w-full rounded-md px-2.5 py-1.5 text-left text-[13px]",
                    p === current ? "bg-brand-50 font-medium text-brand-700" : "text-zinc-700 hover:bg-zinc-100",
                  )}
                >
                  {PRESET_LABELS[p]}
                </button>
              </li>
            ))}
            <li className="px-2.5 pt-2 text-[11px] font-medium tracking-wide text-zinc-400 uppercase">Custom</li>
            <li className="px-2.5 text-xs text-zinc-500">Pick the first and last day on the calendar.</li>
          </ul>
          <div className="p-4">
            <div className="relative flex gap-6">
              <button
                type="button"
                aria-label="Previous month"
                onClick={() => setMonth((m) => addMonths(m, -1))}
                className="absolute top-0 left-0 rounded-md p-1 text-zinc-500 hover:bg-zinc-100"
              >
                <ChevronLeft className="size-4" />
              </button>
              <button
                type="button"
                aria-label="Next month"
                onClick={() => setMonth((m) => addMonths(m, 1))}
                className="absolute top-0 right-0 rounded-md p-1 text-zinc-500 hover:bg-zinc-100"
              >
                <ChevronRight className="size-4" />
              </button>
              {[month, addMonths(month, 1)].map((m) => (
                <Month key={m.toISOString()} month={m} start={start} end={end} hover={hover} today={today} onPick={pick} onHover={setHover} />
              ))}
            </div>
            <div className="mt-4 flex items-center justify-between gap-3 border-t border-zinc-100 pt-3">
              <p className="text-[13px] text-zinc-600" aria-live="polite">
                {start && end ? formatDayRange(start, end) : start ? "Now pick the last day" : "Pick the first day"}
              </p>
              <div className="flex gap-2">
                <Button size="sm" variant="ghost" onClick={close}>
                  Cancel
                </Button>
                <Button
                  size="sm"
                  variant="primary"
                  disabled={!start || !end}
                  onClick={() => {
                    onChange({ preset: DatePreset.CUSTOM, start, end });
                    close();
                  }}
                >
                  Apply range
                </Button>
              </div>
            </div>
          </div>
        </div>
      )}
    </Popover>
  );
}
