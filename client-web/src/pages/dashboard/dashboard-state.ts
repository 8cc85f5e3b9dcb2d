// The dashboard's filters live in the URL (`?range=last_7_days&bucket=weekly`), so a view can
// be shared and survives a reload.
import { useCallback } from "react";
import { useSearchParams } from "react-router";
import type { DateRangeValue } from "../../components/DateRangePicker";
import { DatePreset, SegmentMeasure, TimeBucket } from "../../gen/cdp/v1/dashboard_pb";
import { isIsoDay } from "../../lib/dates";

const PRESET_SLUGS: Record<string, DatePreset> = {
  today: DatePreset.TODAY,
  yesterday: DatePreset.YESTERDAY,
  last_7_days: DatePreset.LAST_7_DAYS,
  last_30_days: DatePreset.LAST_30_DAYS,
  last_90_days: DatePreset.LAST_90_DAYS,
  this_month: DatePreset.THIS_MONTH,
  last_month: DatePreset.LAST_MONTH,
  custom: DatePreset.CUSTOM,
};

const BUCKET_SLUGS: Record<string, TimeBucket> = {
  daily: TimeBucket.DAILY,
  weekly: TimeBucket.WEEKLY,
  monthly: TimeBucket.MONTHLY,
};

function slugOf<T>(map: Record<string, T>, value: T): string {
  return Object.entries(map).find(([, v]) => v === value)?.[0] ?? "";
}

export interface DashboardState {
  range: DateRangeValue;
  bucket: TimeBucket;
  measure: SegmentMeasure;
  /** Field of the distribution chart. */
  field: string;
  /** Show the previous period on the activity chart. */
  compare: boolean;
}

/** The request fields of the time filter, as every dashboard RPC takes them. */
export function rangeRequest(range: DateRangeValue): { preset: DatePreset; startDate: string; endDate: string } {
  return {
    preset: range.preset,
    startDate: range.preset === DatePreset.CUSTOM ? (range.start ?? "") : "",
    endDate: range.preset === DatePreset.CUSTOM ? (range.end ?? "") : "",
  };
}

export function useDashboardState(): [DashboardState, (patch: Partial<DashboardState>) => void] {
  const [params, setParams] = useSearchParams();
  let preset = PRESET_SLUGS[params.get("range") ?? ""] ?? DatePreset.LAST_30_DAYS;
  const start = params.get("from") ?? "";
  const end = params.get("to") ?? "";
  if (preset === DatePreset.CUSTOM && !(isIsoDay(start) && isIsoDay(end))) preset = DatePreset.LAST_30_DAYS;
  const state: DashboardState = {
    range: preset === DatePreset.CUSTOM ? { preset, start, end } : { preset },
    bucket: BUCKET_SLUGS[params.get("bucket") ?? ""] ?? TimeBucket.UNSPECIFIED,
    measure: params.get("measure") === "value" ? SegmentMeasure.VALUE : SegmentMeasure.ACTIVITY,
    field: params.get("field") ?? "",
    compare: params.get("compare") === "1",
  };

  const update = useCallback(
    (patch: Partial<DashboardState>) =>
      setParams(
        (prev) => {
          const p = new URLSearchParams(prev);
          const set = (name: string, value: string) => (value ? p.set(name, value) : p.delete(name));
          if (patch.range) {
            set("range", patch.range.preset === DatePreset.LAST_30_DAYS ? "" : slugOf(PRESET_SLUGS, patch.range.preset));
            set("from", patch.range.preset === DatePreset.CUSTOM ? (patch.range.start ?? "") : "");
            set("to", patch.range.preset === DatePreset.CUSTOM ? (patch.range.end ?? "") : "");
          }
          if (patch.bucket !== undefined) set("bucket", slugOf(BUCKET_SLUGS, patch.bucket));
          if (patch.measure !== undefined) set("measure", patch.measure === SegmentMeasure.VALUE ? "value" : "");
          if (patch.field !== undefined) set("field", patch.field);
          if (patch.compare !== undefined) set("compare", patch.compare ? "1" : "");
          return p;
        },
        { replace: true },
      ),
    [setParams],
  );
  return [state, update];
}
