// The colours of every chart: one accent per series, greys for comparisons and axes.
export const SERIES_COLORS = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#f43f5e", "#8b5cf6", "#14b8a6", "#64748b"] as const;
export const PREVIOUS_COLOR = "#a1a1aa";
export const GRID_COLOR = "#f4f4f5";
export const AXIS_COLOR = "#a1a1aa";

export function seriesColor(i: number): string {
  return SERIES_COLORS[i % SERIES_COLORS.length];
}
