import { useEffect, useMemo, useState } from "react";
import { useNavigate } from "react-router";
import { Code } from "@connectrpc/connect";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import type { SortingState, Updater } from "@tanstack/react-table";
import { Columns3, Filter, Search, SearchX, Sparkles, X } from "lucide-react";
import { describeError } from "../../api/errors";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Card } from "../../components/Card";
import { ConditionSummary } from "../../components/conditions/ConditionSummary";
import { useConditionSources } from "../../components/conditions/useConditionSources";
import { Checkbox, TextField } from "../../components/Field";
import { PageHeader } from "../../components/PageHeader";
import { Popover } from "../../components/Popover";
import { EmptyState } from "../../components/States";
import { DataTable, Pagination } from "../../components/Table";
import { cx } from "../../components/cx";
import { UserService } from "../../gen/cdp/v1/users_pb";
import { countConditions, fromConditionGroup, nodeErrors } from "../../lib/conditions";
import { formatNumber } from "../../lib/numbers";
import { Permission } from "../../lib/permissions";
import { useCan } from "../../stores/session";
import { DEFAULT_COLUMNS, EXPLORER_COLUMNS } from "./columns";
import { useExplorerState } from "./explorer-state";
import { FilterPanel } from "./FilterPanel";

const PAGE_SIZE = 50;

/** Debounces typing into the URL's search param. */
function useSearchBox(current: string, apply: (value: string) => void) {
  const [text, setText] = useState(current);
  useEffect(() => {
    if (text.trim() === current) return;
    const t = setTimeout(() => apply(text.trim()), 300);
    return () => clearTimeout(t);
  }, [text, current, apply]);
  return [text, setText] as const;
}

function ColumnPicker({ visible, onChange }: { visible: readonly string[]; onChange: (cols: string[]) => void }) {
  return (
    <Popover
      label="Columns"
      align="right"
      trigger={({ open, toggle }) => (
        <Button icon={<Columns3 className="size-4" />} aria-expanded={open} onClick={toggle}>
          Columns
        </Button>
      )}
    >
      {() => (
        <div className="w-64 p-3">
          <p className="mb-2 text-xs font-medium tracking-wide text-zinc-400 uppercase">Show columns</p>
          <div className="max-h-80 space-y-2 overflow-y-auto">
            {EXPLORER_COLUMNS.map((c) => (
              <Checkbox
                key={c.id}
                label={c.label}
                checked={visible.includes(c.id)}
                disabled={c.id === "user_id"}
                onChange={(e) => {
                  const next = e.target.checked ? [...visible, c.id] : visible.filter((v) => v !== c.id);
                  // Keep the catalogue order whatever the order of clicks.
                  onChange(EXPLORER_COLUMNS.map((x) => x.id).filter((id) => next.includes(id)));
                }}
              />
            ))}
          </div>
          <Button size="sm" variant="link" className="mt-3" onClick={() => onChange([...DEFAULT_COLUMNS])}>
            Reset to default
          </Button>
        </div>
      )}
    </Popover>
  );
}

/** The user explorer: search, condition filters, server-side sorting and paging, all in the URL. */
export function UsersPage() {
  const navigate = useNavigate();
  const state = useExplorerState(DEFAULT_COLUMNS);
  const canReadPii = useCan(Permission.usersReadPii);
  const sources = useConditionSources();
  const [panelOpen, setPanelOpen] = useState(false);
  const [searchText, setSearchText] = useSearchBox(state.search, state.setSearch);

  const query = useQuery(
    UserService.method.listUsers,
    {
      pageSize: PAGE_SIZE,
      pageToken: state.pageToken,
      search: state.search,
      filter: state.filter,
      orderBy: state.sort ? `${state.sort.field} ${state.sort.desc ? "desc" : "asc"}` : "",
    },
    { placeholderData: keepPreviousData },
  );

  const friendly = query.isError ? describeError(query.error) : null;
  const filterRefused = friendly?.code === Code.InvalidArgument && Object.keys(friendly.fieldErrors).some((k) => k.startsWith("filter"));
  const appliedDraft = useMemo(() => fromConditionGroup(state.filter), [state.filter]);
  const conditionCount = countConditions(appliedDraft);

  const sortable = useMemo(() => new Set(sources.fields.filter((f) => f.sortable).map((f) => f.name)), [sources.fields]);
  const columns = useMemo(
    () => EXPLORER_COLUMNS.map((c) => ({ ...c.def, enableSorting: sortable.has(c.id), sortDescFirst: c.id !== "user_type" && c.id !== "favorite_vertical" })),
    [sortable],
  );
  const visibility = Object.fromEntries(EXPLORER_COLUMNS.map((c) => [c.id, state.columns.includes(c.id) || c.id === "user_id"]));
  const sorting: SortingState = state.sort ? [{ id: state.sort.field, desc: state.sort.desc }] : [];
  const onSortingChange = (updater: Updater<SortingState>) => {
    const next = typeof updater === "function" ? updater(sorting) : updater;
    state.setSort(next[0] ? { field: next[0].id, desc: next[0].desc } : undefined);
  };

  const users = query.data?.users ?? [];
  const filtered = Boolean(state.search || state.filter);

  return (
    <>
      <PageHeader title="Users" description="Search and filter marketplace users, and open a user's full profile." />
      <Card>
        <div className="flex flex-wrap items-center gap-3 border-b border-zinc-100 px-5 py-4">
          <TextField
            label={<span className="sr-only">Search users</span>}
            containerClassName="w-full max-w-xs !space-y-0"
            leading={<Search className="size-4" />}
            placeholder={canReadPii ? "User id or phone digits" : "User id"}
            inputMode="numeric"
            value={searchText}
            onChange={(e) => setSearchText(e.target.value)}
            type="search"
          />
          <Button
            icon={<Filter className="size-4" />}
            aria-expanded={panelOpen}
            onClick={() => setPanelOpen((o) => !o)}
            className={cx(conditionCount > 0 && "!ring-brand-300")}
          >
            Filters
            {conditionCount > 0 && <span className="rounded-full bg-brand-600 px-1.5 text-[11px] font-semibold text-white">{conditionCount}</span>}
          </Button>
          <ColumnPicker visible={state.columns} onChange={state.setColumns} />
          <div className="flex-1" />
          {query.data && (
            <p className="text-[13px] text-zinc-500" aria-live="polite" data-testid="users-total">
              <span className="font-semibold text-zinc-900 tabular-nums">{formatNumber(query.data.totalSize)}</span> {filtered ? "matching users" : "users"}
            </p>
          )}
        </div>

        {state.filterUnreadable && (
          <div className="border-b border-zinc-100 px-5 py-3">
            <Alert tone="warning" title="This link's filter could not be read">
              The filter in the address is not a valid condition tree, so every user is listed.
            </Alert>
          </div>
        )}

        {panelOpen && sources.fieldsQuery.isSuccess && (
          <FilterPanel
            key={state.filter ? "with" : "without"}
            applied={state.filter}
            fields={sources.fields}
            cohorts={sources.cohortChoices}
            amplitudeCohorts={sources.amplitudeChoices}
            errors={filterRefused && friendly ? (draft) => nodeErrors(draft, friendly.fieldErrors, "filter") : undefined}
            onApply={(tree) => {
              state.setFilter(tree, tree ? state.filterLabel : "");
              setPanelOpen(false);
            }}
            onClose={() => setPanelOpen(false)}
          />
        )}
        {panelOpen && sources.fieldsQuery.isError && (
          <div className="border-b border-zinc-100 px-5 py-3">
            <Alert tone="error" title="Filters are not available">
              {describeError(sources.fieldsQuery.error).message}
            </Alert>
          </div>
        )}

        {!panelOpen && state.filter && (
          <div className="flex flex-wrap items-start gap-3 border-b border-zinc-100 bg-brand-50/30 px-5 py-3" data-testid="active-filter">
            <Sparkles className="mt-0.5 size-4 shrink-0 text-brand-500" aria-hidden />
            <div className="max-w-2xl min-w-0 flex-1">
              {state.filterLabel && <p className="mb-1.5 text-[13px] font-medium text-zinc-900">{state.filterLabel}</p>}
              <ConditionSummary group={appliedDraft} names={{ fields: sources.fieldsByName, cohorts: sources.cohortNames }} />
            </div>
            <div className="flex gap-1">
              <Button size="sm" variant="ghost" onClick={() => setPanelOpen(true)}>
                Edit
              </Button>
              <Button size="sm" variant="ghost" icon={<X className="size-3.5" />} onClick={() => state.setFilter(undefined)}>
                Clear filter
              </Button>
            </div>
          </div>
        )}

        <DataTable
          caption="Users"
          columns={columns}
          data={users}
          getRowId={(u) => u.userId.toString()}
          loading={query.isPending}
          error={query.isError && !filterRefused ? query.error : undefined}
          onRetry={() => void query.refetch()}
        refreshing={query.isFetching && query.isPlaceholderData}
          sorting={sorting}
          onSortingChange={onSortingChange}
          columnVisibility={visibility}
          onRowClick={(u) => navigate(`/users/${u.userId}`)}
          density="compact"
          empty={
            filterRefused && friendly ? (
              <EmptyState
                icon={<SearchX className="size-5" />}
                title="The server refused this filter"
                description={Object.values(friendly.fieldErrors)[0] ?? friendly.message}
                action={
                  <Button size="sm" onClick={() => setPanelOpen(true)}>
                    Fix the filter
                  </Button>
                }
              />
            ) : filtered ? (
              <EmptyState
                icon={<SearchX className="size-5" />}
                title="No users match"
                description="Try another search, or loosen the filter."
                action={
                  <Button
                    size="sm"
                    onClick={() => {
                      setSearchText("");
                      state.setFilters({ q: "", filter: "", from: "" });
                    }}
                  >
                    Clear search and filters
                  </Button>
                }
              />
            ) : (
              <EmptyState title="No marketplace users yet" description="Users appear here once the ETL has loaded the users table." />
            )
          }
          footer={
            query.data && (
              <Pagination
                page={state.page}
                pageSize={PAGE_SIZE}
                rowsOnPage={users.length}
                totalSize={query.data.totalSize}
                hasPrevious={state.page > 1}
                hasNext={Boolean(query.data.nextPageToken)}
                onPrevious={state.previous}
                onNext={() => state.next(query.data.nextPageToken)}
                busy={query.isFetching}
              />
            )
          }
        />
      </Card>
    </>
  );
}
