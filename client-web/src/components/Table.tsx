import { Fragment, useState, type ReactNode } from "react";
import {
  flexRender,
  getCoreRowModel,
  getExpandedRowModel,
  getSortedRowModel,
  useReactTable,
  type ColumnDef,
  type OnChangeFn,
  type Row,
  type SortingState,
  type VisibilityState,
} from "@tanstack/react-table";
import { ArrowDown, ArrowUp, ChevronLeft, ChevronRight, ChevronsUpDown } from "lucide-react";
import { formatCount } from "../lib/format";
import { Button } from "./Button";
import { cx } from "./cx";
import { TableSkeleton } from "./Spinner";
import { ErrorState } from "./States";

declare module "@tanstack/react-table" {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface ColumnMeta<TData, TValue> {
    /** Extra classes for the column's cells (e.g. `text-right w-12`). */
    className?: string;
  }
}

export interface DataTableProps<T> {
  columns: ColumnDef<T, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  data: readonly T[];
  getRowId: (row: T) => string;
  loading?: boolean;
  error?: unknown;
  onRetry?: () => void;
  /** Shown when the loaded page is empty. */
  empty: ReactNode;
  /** The row's expanded content; makes rows expandable. */
  renderExpanded?: (row: Row<T>) => ReactNode;
  footer?: ReactNode;
  /**
   * Sorting applies to the rows on screen (the server orders each list as its contract
   * says); columns opt in with `enableSorting: true`.
   */
  initialSorting?: SortingState;
  caption?: string;
  /** Server-side sorting: the order the server applied, and what to do when a header is clicked. */
  sorting?: SortingState;
  onSortingChange?: OnChangeFn<SortingState>;
  /** Columns to hide, by column id. */
  columnVisibility?: VisibilityState;
  /** Makes whole rows open something (keep a link in the row for keyboard users). */
  onRowClick?: (row: T) => void;
  /** "compact" fits more rows and columns (wide data tables). */
  density?: "comfortable" | "compact";
  /** The rows on screen are being replaced (a new page, sort or filter is loading). */
  refreshing?: boolean;
}

export function DataTable<T>({
  columns,
  data,
  getRowId,
  loading,
  error,
  onRetry,
  empty,
  renderExpanded,
  footer,
  initialSorting = [],
  caption,
  sorting: serverSorting,
  onSortingChange,
  columnVisibility,
  onRowClick,
  density = "comfortable",
  refreshing = false,
}: DataTableProps<T>) {
  const cellPadding = density === "compact" ? "px-4 py-2" : "px-5 py-3";
  const [localSorting, setLocalSorting] = useState<SortingState>(initialSorting);
  const manual = serverSorting !== undefined;
  const sorting = manual ? serverSorting : localSorting;
  // TanStack Table returns fresh functions each render by design; the React Compiler lint
  // rule cannot know that, and this component does not memoise around it.
  // eslint-disable-next-line react-hooks/incompatible-library
  const table = useReactTable({
    data: data as T[],
    columns,
    getRowId,
    state: { sorting, columnVisibility: columnVisibility ?? {} },
    onSortingChange: manual && onSortingChange ? onSortingChange : setLocalSorting,
    manualSorting: manual,
    enableSortingRemoval: !manual,
    // Columns opt in with `enableSorting: true` (a table-level `false` would override them).
    defaultColumn: { enableSorting: false },
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: getSortedRowModel(),
    getExpandedRowModel: getExpandedRowModel(),
    getRowCanExpand: () => Boolean(renderExpanded),
  });
  const columnCount = table.getVisibleLeafColumns().length;

  let body: ReactNode;
  if (loading) body = <TableSkeleton columns={Math.min(columnCount, 5)} />;
  else if (error) body = <ErrorState error={error} onRetry={onRetry} />;
  else if (data.length === 0) body = empty;

  return (
    <div aria-busy={refreshing || undefined} className={cx("transition-opacity", refreshing && "opacity-60")}>
      <div className="overflow-x-auto">
        <table className="min-w-full text-left text-[13px]">
          {caption && <caption className="sr-only">{caption}</caption>}
          <thead className="border-b border-zinc-200 bg-zinc-50/80">
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => {
                  const sortable = header.column.getCanSort();
                  const sorted = header.column.getIsSorted();
                  const label = header.isPlaceholder ? null : flexRender(header.column.columnDef.header, header.getContext());
                  return (
                    <th
                      key={header.id}
                      scope="col"
                      aria-sort={sorted === "asc" ? "ascending" : sorted === "desc" ? "descending" : undefined}
                      className={cx(
                        density === "compact" ? "px-4 py-2.5" : "px-5 py-2.5",
                        "text-xs font-medium tracking-wide whitespace-nowrap text-zinc-500 uppercase",
                        header.column.columnDef.meta?.className,
                      )}
                    >
                      {sortable ? (
                        <button
                          type="button"
                          onClick={header.column.getToggleSortingHandler()}
                          className="group inline-flex items-center gap-1 uppercase hover:text-zinc-800"
                        >
                          {label}
                          {sorted === "asc" ? (
                            <ArrowUp className="size-3.5" />
                          ) : sorted === "desc" ? (
                            <ArrowDown className="size-3.5" />
                          ) : (
                            <ChevronsUpDown className="size-3.5 opacity-40 group-hover:opacity-80" />
                          )}
                        </button>
                      ) : (
                        label
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          {!body && (
            <tbody className="divide-y divide-zinc-100">
              {table.getRowModel().rows.map((row) => (
                <Fragment key={row.id}>
                  <tr
                    className={cx("transition-colors hover:bg-zinc-50/70", row.getIsExpanded() && "bg-zinc-50/70", onRowClick && "cursor-pointer")}
                    onClick={
                      onRowClick
                        ? (e) => {
                            // Links, buttons and inputs in the row keep their own behaviour.
                            if ((e.target as HTMLElement).closest("a, button, input, select, label")) return;
                            onRowClick(row.original);
                          }
                        : undefined
                    }
                  >
                    {row.getVisibleCells().map((cell) => (
                      <td key={cell.id} className={cx(cellPadding, "align-middle text-zinc-700", cell.column.columnDef.meta?.className)}>
                        {flexRender(cell.column.columnDef.cell, cell.getContext())}
                      </td>
                    ))}
                  </tr>
                  {row.getIsExpanded() && renderExpanded && (
                    <tr className="bg-zinc-50/70">
                      <td colSpan={columnCount} className="px-5 pt-1 pb-5">
                        {renderExpanded(row)}
                      </td>
                    </tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          )}
        </table>
      </div>
      {body}
      {footer}
    </div>
  );
}

export interface PaginationProps {
  /** 1-based number of the page on screen. */
  page: number;
  pageSize: number;
  rowsOnPage: number;
  totalSize?: bigint | number;
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  busy?: boolean;
}

/** Footer of a token-paged list: "51–100 of 230" with previous/next. */
export function Pagination({ page, pageSize, rowsOnPage, totalSize, hasPrevious, hasNext, onPrevious, onNext, busy }: PaginationProps) {
  const first = rowsOnPage === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = (page - 1) * pageSize + rowsOnPage;
  return (
    <nav aria-label="Pagination" className="flex items-center justify-between gap-3 border-t border-zinc-100 px-5 py-3 text-[13px] text-zinc-500">
      <p>
        {rowsOnPage === 0 ? (
          "No results"
        ) : (
          <>
            <span className="font-medium text-zinc-700">
              {formatCount(first)}–{formatCount(last)}
            </span>
            {totalSize !== undefined && (
              <>
                {" "}of <span className="font-medium text-zinc-700">{formatCount(totalSize)}</span>
              </>
            )}
          </>
        )}
      </p>
      <div className="flex gap-2">
        <Button size="sm" icon={<ChevronLeft className="size-4" />} disabled={!hasPrevious || busy} onClick={onPrevious}>
          Previous
        </Button>
        <Button size="sm" disabled={!hasNext || busy} onClick={onNext}>
          Next
          <ChevronRight className="size-4" />
        </Button>
      </div>
    </nav>
  );
}
