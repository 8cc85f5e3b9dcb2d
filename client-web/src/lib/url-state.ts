// The URL owns list state: filters and the page a list is on live in search params, so a
// list can be bookmarked, shared and navigated with Back/Forward. Page tokens are opaque;
// the tokens of the pages walked through are kept as repeated `page` params, which gives
// "Previous" without the server having to support it.
import { useCallback } from "react";
import { useSearchParams } from "react-router";

export interface ListState {
  /** Value of a filter param ("" when absent). */
  filter: (name: string) => string;
  /** Sets filters (empty values are removed) and goes back to the first page. */
  setFilters: (values: Record<string, string>) => void;
  pageToken: string;
  /** 1-based page number. */
  page: number;
  next: (nextPageToken: string) => void;
  previous: () => void;
}

export function useListState(): ListState {
  const [params, setParams] = useSearchParams();
  const tokens = params.getAll("page");

  const filter = useCallback((name: string) => params.get(name) ?? "", [params]);

  const setFilters = useCallback(
    (values: Record<string, string>) => {
      setParams((prev) => {
        const p = new URLSearchParams(prev);
        for (const [name, value] of Object.entries(values)) {
          if (value) p.set(name, value);
          else p.delete(name);
        }
        p.delete("page");
        return p;
      });
    },
    [setParams],
  );

  const next = useCallback(
    (token: string) =>
      setParams((prev) => {
        const p = new URLSearchParams(prev);
        p.append("page", token);
        return p;
      }),
    [setParams],
  );

  const previous = useCallback(
    () =>
      setParams((prev) => {
        const p = new URLSearchParams(prev);
        const rest = p.getAll("page").slice(0, -1);
        p.delete("page");
        for (const t of rest) p.append("page", t);
        return p;
      }),
    [setParams],
  );

  return {
    filter,
    setFilters,
    pageToken: tokens[tokens.length - 1] ?? "",
    page: tokens.length + 1,
    next,
    previous,
  };
}
