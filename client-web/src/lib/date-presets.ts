// Words of the dashboard's quick time filters (DatePreset); the server resolves them to days.
import { DatePreset } from "../gen/cdp/v1/dashboard_pb";

export const PRESET_LABELS: Record<DatePreset, string> = {
  [DatePreset.UNSPECIFIED]: "Last 30 days",
  [DatePreset.TODAY]: "Today",
  [DatePreset.YESTERDAY]: "Yesterday",
  [DatePreset.LAST_7_DAYS]: "Last 7 days",
  [DatePreset.LAST_30_DAYS]: "Last 30 days",
  [DatePreset.LAST_90_DAYS]: "Last 90 days",
  [DatePreset.THIS_MONTH]: "This month",
  [DatePreset.LAST_MONTH]: "Last month",
  [DatePreset.CUSTOM]: "Custom range",
};

export const QUICK_PRESETS: readonly DatePreset[] = [
  DatePreset.TODAY,
  DatePreset.YESTERDAY,
  DatePreset.LAST_7_DAYS,
  DatePreset.LAST_30_DAYS,
  DatePreset.LAST_90_DAYS,
  DatePreset.THIS_MONTH,
  DatePreset.LAST_MONTH,
];
