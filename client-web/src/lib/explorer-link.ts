// Links into the user explorer with a filter: the dashboard's segments and distribution
// slices, and cohorts, drill down through these. The explorer reads the same params.
import type { ConditionGroup } from "../gen/cdp/v1/common_pb";
import { encodeFilter } from "./conditions";

/** URL params of the explorer (all list state lives in the URL). */
export const EXPLORER_PARAMS = {
  search: "q",
  filter: "filter",
  /** Words saying where the filter came from, e.g. "Segment: office · cars". */
  label: "from",
  sort: "sort",
  columns: "cols",
} as const;

export function explorerHref(filter: ConditionGroup | undefined, label?: string): string {
  const params = new URLSearchParams();
  if (filter) params.set(EXPLORER_PARAMS.filter, encodeFilter(filter));
  if (label) params.set(EXPLORER_PARAMS.label, label);
  const query = params.toString();
  return query ? `/users?${query}` : "/users";
}
