// The explorer's state lives in the URL (STYLE: the URL owns list state): search, the
// condition tree, where it came from, the sort order, the visible columns and the pages
// walked through. Links from the dashboard and cohorts set the same params.
import { useCallback, useMemo } from "react";
import type { ConditionGroup } from "../../gen/cdp/v1/common_pb";
import { decodeFilter, encodeFilter, isEmptyTree } from "../../lib/conditions";
import { EXPLORER_PARAMS } from "../../lib/explorer-link";
import { useListState } from "../../lib/url-state";

export interface SortOrder {
  field: string;
  desc: boolean;
}

/** `total_credits_spent desc` ⇄ { field, desc }. */
export function parseOrderBy(text: string): SortOrder | undefined {
  const [field, dir] = text.trim().split(/\s+/);
  if (!field || !/^[a-z0-9_]+$/.test(field)) return undefined;
  return { field, desc: dir === "desc" };
}

export function orderByOf(sort: SortOrder | undefined): string {
  return sort ? `${sort.field} ${sort.desc ? "desc" : "asc"}` : "";
}

export function useExplorerState(defaultColumns: readonly string[]) {
  const list = useListState();
  const { filter: param, setFilters } = list;
  const search = param(EXPLORER_PARAMS.search);
  const filterText = param(EXPLORER_PARAMS.filter);
  const filter = useMemo(() => decodeFilter(filterText), [filterText]);
  const sort = parseOrderBy(param(EXPLORER_PARAMS.sort));
  const colsText = param(EXPLORER_PARAMS.columns);
  const columns = useMemo(() => (colsText ? colsText.split(",").filter(Boolean) : [...defaultColumns]), [colsText, defaultColumns]);

  const setSearch = useCallback((q: string) => setFilters({ [EXPLORER_PARAMS.search]: q }), [setFilters]);
  const setFilter = useCallback(
    (tree: ConditionGroup | undefined, label = "") =>
      setFilters({
        [EXPLORER_PARAMS.filter]: tree && !isEmptyTree(tree) ? encodeFilter(tree) : "",
        [EXPLORER_PARAMS.label]: label,
      }),
    [setFilters],
  );
  const setSort = useCallback((s: SortOrder | undefined) => setFilters({ [EXPLORER_PARAMS.sort]: orderByOf(s) }), [setFilters]);
  const setColumns = useCallback(
    (cols: readonly string[]) => {
      const same = cols.length === defaultColumns.length && cols.every((c, i) => c === defaultColumns[i]);
      setFilters({ [EXPLORER_PARAMS.columns]: same ? "" : cols.join(",") });
    },
    [setFilters, defaultColumns],
  );

  return {
    ...list,
    search,
    /** The tree in the URL; undefined when absent or unreadable. */
    filter,
    /** The URL had a filter that is not a valid tree. */
    filterUnreadable: Boolean(filterText) && !filter,
    filterLabel: param(EXPLORER_PARAMS.label),
    sort,
    columns,
    setSearch,
    setFilter,
    setSort,
    setColumns,
  };
}
