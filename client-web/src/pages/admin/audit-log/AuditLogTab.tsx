import { useState, type FormEvent } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { ChevronRight, Filter, ScrollText, X } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Card } from "../../../components/Card";
import { SelectField, TextField } from "../../../components/Field";
import { EmptyState } from "../../../components/States";
import { DataTable, Pagination } from "../../../components/Table";
import { cx } from "../../../components/cx";
import { ActorKind, AuditLogService, type AuditLogEntry } from "../../../gen/cdp/v1/audit_pb";
import { PlatformUserService } from "../../../gen/cdp/v1/platform_users_pb";
import { formatDateTime, fromDateTimeLocal } from "../../../lib/format";
import { Permission } from "../../../lib/permissions";
import { useListState } from "../../../lib/url-state";
import { useCan } from "../../../stores/session";
import { AuditDiff } from "./AuditDiff";

const PAGE_SIZE = 50;
const column = createColumnHelper<AuditLogEntry>();

const ACTION_SUGGESTIONS = [
  "platform_user.",
  "platform_user.invite",
  "platform_user.update",
  "platform_user.delete",
  "platform_user.reset_password",
  "service_credential.",
  "cohort.",
  "promotion.",
  "user.",
];

const RESOURCE_TYPES = ["platform_user", "service_credential", "cohort", "promotion", "user"];

const ACTOR_KIND_LABELS: Record<ActorKind, string> = {
  [ActorKind.UNSPECIFIED]: "Unknown",
  [ActorKind.PLATFORM_USER]: "User",
  [ActorKind.SERVICE_CREDENTIAL]: "Service",
  [ActorKind.SYSTEM]: "System",
};

interface FilterValues {
  actor: string;
  action: string;
  resource: string;
  from: string;
  to: string;
}

export function AuditLogTab() {
  const list = useListState();
  const applied: FilterValues = {
    actor: list.filter("actor"),
    action: list.filter("action"),
    resource: list.filter("resource"),
    from: list.filter("from"),
    to: list.filter("to"),
  };
  const [draft, setDraft] = useState<FilterValues>(applied);
  const canListUsers = useCan(Permission.platformUsersRead);
  const users = useQuery(PlatformUserService.method.listPlatformUsers, { pageSize: 500 }, { enabled: canListUsers });

  const from = fromDateTimeLocal(applied.from);
  const to = fromDateTimeLocal(applied.to);
  const query = useQuery(
    AuditLogService.method.listAuditLogs,
    {
      pageSize: PAGE_SIZE,
      pageToken: list.pageToken,
      actorId: applied.actor,
      action: applied.action,
      resourceType: applied.resource,
      startTime: from ? timestampFromDate(from) : undefined,
      endTime: to ? timestampFromDate(to) : undefined,
    },
    { placeholderData: keepPreviousData },
  );

  const apply = (values: FilterValues) => {
    setDraft(values);
    list.setFilters({ ...values, action: values.action.trim() });
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    apply(draft);
  };
  const anyFilter = Object.values(applied).some(Boolean);

  const columns = [
      column.display({
        id: "expand",
        header: () => <span className="sr-only">Details</span>,
        meta: { className: "w-10 !pr-0" },
        cell: ({ row }) => (
          <button
            type="button"
            onClick={row.getToggleExpandedHandler()}
            aria-expanded={row.getIsExpanded()}
            aria-label={row.getIsExpanded() ? "Hide changes" : "Show changes"}
            className="rounded p-1 text-zinc-400 hover:bg-zinc-100 hover:text-zinc-700"
          >
            <ChevronRight className={cx("size-4 transition-transform", row.getIsExpanded() && "rotate-90")} />
          </button>
        ),
      }),
      column.accessor((e) => (e.createdAt ? Number(e.createdAt.seconds) : 0), {
        id: "time",
        header: "Time",
        cell: ({ row }) => <span className="whitespace-nowrap">{formatDateTime(row.original.createdAt)}</span>,
      }),
      column.accessor("actorEmail", {
        header: "Actor",
        cell: ({ row }) => {
          const e = row.original;
          return (
            <div className="flex items-center gap-2">
              <Badge tone={e.actorKind === ActorKind.PLATFORM_USER ? "neutral" : "amber"}>{ACTOR_KIND_LABELS[e.actorKind]}</Badge>
              {e.actorId && e.actorKind !== ActorKind.SYSTEM ? (
                <button
                  type="button"
                  className="truncate text-left text-zinc-800 hover:text-brand-700 hover:underline"
                  title="Show only this actor's changes"
                  onClick={() => apply({ ...applied, actor: e.actorId })}
                >
                  {e.actorEmail || e.actorId}
                </button>
              ) : (
                <span className="text-zinc-800">{e.actorEmail || e.actorId || "CDP"}</span>
              )}
            </div>
          );
        },
      }),
      column.accessor("action", {
        header: "Action",
        cell: ({ getValue }) => <code className="font-mono text-[12.5px] text-zinc-900">{getValue()}</code>,
      }),
      column.accessor("resourceType", {
        header: "Resource",
        cell: ({ row }) => (
          <div className="min-w-0">
            <p className="text-zinc-800">{row.original.resourceType}</p>
            <p className="max-w-56 truncate font-mono text-xs text-zinc-500" title={row.original.resourceId}>
              {row.original.resourceId}
            </p>
          </div>
        ),
      }),
  ];

  const actorOptions = (users.data?.platformUsers ?? []).map((u) => ({ value: u.id, label: u.email }));
  if (applied.actor && !actorOptions.some((o) => o.value === applied.actor)) {
    actorOptions.unshift({ value: applied.actor, label: applied.actor });
  }
  const entries = query.data?.auditLogEntries ?? [];

  return (
    <Card>
      <form onSubmit={submit} className="grid gap-3 border-b border-zinc-100 px-5 py-4 sm:grid-cols-2 xl:grid-cols-[1.2fr_1.2fr_0.9fr_1.1fr_1.1fr_auto]" aria-label="Audit log filters">
        {canListUsers ? (
          <SelectField
            label="Actor"
            value={draft.actor}
            onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
            placeholder="Anyone"
            options={actorOptions}
          />
        ) : (
          <TextField
            label="Actor id"
            value={draft.actor}
            onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
            placeholder="UUID"
          />
        )}
        <TextField
          label="Action"
          value={draft.action}
          onChange={(e) => setDraft({ ...draft, action: e.target.value })}
          placeholder="e.g. platform_user."
          list="audit-actions"
          title="An exact action, or a prefix ending in a dot"
        />
        <datalist id="audit-actions">
          {ACTION_SUGGESTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
        <SelectField
          label="Resource type"
          value={draft.resource}
          onChange={(e) => setDraft({ ...draft, resource: e.target.value })}
          placeholder="Any"
          options={RESOURCE_TYPES.map((r) => ({ value: r, label: r }))}
        />
        <TextField label="From" type="datetime-local" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        <TextField label="To" type="datetime-local" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        <div className="flex items-end gap-2">
          <Button type="submit" variant="primary" icon={<Filter className="size-4" />}>
            Apply
          </Button>
          {anyFilter && (
            <Button
              variant="ghost"
              icon={<X className="size-4" />}
              onClick={() => apply({ actor: "", action: "", resource: "", from: "", to: "" })}
            >
              Clear
            </Button>
          )}
        </div>
      </form>
      <DataTable
        caption="Audit log"
        columns={columns}
        data={entries}
        getRowId={(e) => e.id.toString()}
        loading={query.isPending}
        refreshing={query.isFetching && query.isPlaceholderData}
        error={query.isError ? query.error : undefined}
        onRetry={() => void query.refetch()}
        renderExpanded={(row) => (
          <div className="space-y-3 pl-10">
            <AuditDiff before={row.original.before} after={row.original.after} />
            <dl className="flex flex-wrap gap-x-6 gap-y-1 text-xs text-zinc-500">
              <div>
                <dt className="inline">Request </dt>
                <dd className="inline font-mono">{row.original.requestId || "—"}</dd>
              </div>
              <div>
                <dt className="inline">Client </dt>
                <dd className="inline font-mono">{row.original.clientAddress || "—"}</dd>
              </div>
              <div>
                <dt className="inline">Actor id </dt>
                <dd className="inline font-mono">{row.original.actorId || "—"}</dd>
              </div>
            </dl>
          </div>
        )}
        empty={
          <EmptyState
            icon={<ScrollText className="size-5" />}
            title={anyFilter ? "No entries match these filters" : "No changes recorded yet"}
            description={
              anyFilter ? "Widen the time range or clear a filter." : "Every change made by a platform user or service is recorded here."
            }
          />
        }
        footer={
          query.data && (
            <Pagination
              page={list.page}
              pageSize={PAGE_SIZE}
              rowsOnPage={entries.length}
              totalSize={query.data.totalSize}
              hasPrevious={list.page > 1}
              hasNext={Boolean(query.data.nextPageToken)}
              onPrevious={list.previous}
              onNext={() => list.next(query.data.nextPageToken)}
              busy={query.isFetching}
            />
          )
        }
      />
    </Card>
  );
}
