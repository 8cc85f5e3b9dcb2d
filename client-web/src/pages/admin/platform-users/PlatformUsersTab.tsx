import { useEffect, useMemo, useState } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { KeyRound, Search, ShieldCheck, Trash2, UserCheck, UserPlus, UserX } from "lucide-react";
import { describeError } from "../../../api/errors";
import { useInvalidateService } from "../../../api/invalidate";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Card } from "../../../components/Card";
import { ConfirmDialog } from "../../../components/Dialog";
import { SelectField, TextField } from "../../../components/Field";
import { RowMenu } from "../../../components/Menu";
import { EmptyState } from "../../../components/States";
import { DataTable, Pagination } from "../../../components/Table";
import { Tooltip } from "../../../components/Tooltip";
import { Role } from "../../../gen/cdp/v1/common_pb";
import {
  PlatformUserService,
  PlatformUserStatus,
  type PlatformUser,
  type ResetPlatformUserPasswordResponse,
} from "../../../gen/cdp/v1/platform_users_pb";
import { formatDateTime, formatRelative } from "../../../lib/format";
import { Permission } from "../../../lib/permissions";
import {
  ASSIGNABLE_ROLES,
  ROLE_LABELS,
  ROLE_SLUGS,
  ROLE_TONES,
  roleSlug,
  STATUS_LABELS,
  STATUS_SLUGS,
  STATUS_TONES,
} from "../../../lib/roles";
import { useListState } from "../../../lib/url-state";
import { useSession } from "../../../stores/session";
import { toast } from "../../../stores/toast";
import { EditRoleDialog } from "./EditRoleDialog";
import { InviteDialog } from "./InviteDialog";
import { RecoveryLinkDialog } from "./RecoveryLinkDialog";

const PAGE_SIZE = 25;

type PendingAction =
  | { kind: "role"; user: PlatformUser }
  | { kind: "disable"; user: PlatformUser }
  | { kind: "delete"; user: PlatformUser }
  | { kind: "reset"; user: PlatformUser }
  | { kind: "recovery-link"; user: PlatformUser; result: ResetPlatformUserPasswordResponse };

const column = createColumnHelper<PlatformUser>();

/** Debounces typing into the URL's `q` param. */
function useSearchBox(current: string, apply: (value: string) => void) {
  const [text, setText] = useState(current);
  useEffect(() => {
    if (text === current) return;
    const t = setTimeout(() => apply(text.trim()), 300);
    return () => clearTimeout(t);
  }, [text, current, apply]);
  return [text, setText] as const;
}

export function PlatformUsersTab() {
  const list = useListState();
  const me = useSession((s) => s.user);
  const permissions = useSession((s) => s.permissions);
  const canWrite = permissions.has(Permission.platformUsersWrite);
  const canGrantSuperAdmin = permissions.has(Permission.superAdminGrant);
  const invalidate = useInvalidateService(PlatformUserService);

  const search = list.filter("q");
  const roleFilter = list.filter("role");
  const statusFilter = list.filter("status");
  const { setFilters } = list;
  const applySearch = useMemo(() => (q: string) => setFilters({ q }), [setFilters]);
  const [searchText, setSearchText] = useSearchBox(search, applySearch);

  const query = useQuery(
    PlatformUserService.method.listPlatformUsers,
    {
      pageSize: PAGE_SIZE,
      pageToken: list.pageToken,
      search,
      role: ROLE_SLUGS[roleFilter] ?? Role.UNSPECIFIED,
      status: STATUS_SLUGS[statusFilter] ?? PlatformUserStatus.UNSPECIFIED,
    },
    { placeholderData: keepPreviousData },
  );

  const [inviteOpen, setInviteOpen] = useState(false);
  const [action, setAction] = useState<PendingAction | null>(null);
  const invite = useMutation(PlatformUserService.method.invitePlatformUser, { onSuccess: invalidate });
  const update = useMutation(PlatformUserService.method.updatePlatformUser, { onSuccess: invalidate });
  const remove = useMutation(PlatformUserService.method.deletePlatformUser, { onSuccess: invalidate });
  const resetPassword = useMutation(PlatformUserService.method.resetPlatformUserPassword);

  const setStatus = async (user: PlatformUser, status: PlatformUserStatus) => {
    await update.mutateAsync({ platformUser: { id: user.id, status }, updateMask: { paths: ["status"] } });
    toast("success", status === PlatformUserStatus.DISABLED ? "User disabled" : "User re-enabled", user.email);
  };

  const columns = useMemo(() => {
    // A super admin can only be changed by someone who may grant that role.
    const canManage = (u: PlatformUser) => canWrite && (u.role !== Role.SUPER_ADMIN || canGrantSuperAdmin);
    return [
      column.accessor((u) => u.displayName || u.email, {
        id: "user",
        header: "User",
        enableSorting: true,
        cell: ({ row }) => {
          const u = row.original;
          return (
            <div className="min-w-0">
              <p className="flex items-center gap-2 font-medium text-zinc-900">
                {u.displayName || u.email}
                {u.id === me?.id && <Badge>You</Badge>}
              </p>
              <p className="text-zinc-500">{u.email}</p>
            </div>
          );
        },
      }),
      column.accessor("role", {
        header: "Role",
        enableSorting: true,
        cell: ({ getValue }) => <Badge tone={ROLE_TONES[getValue()]}>{ROLE_LABELS[getValue()]}</Badge>,
      }),
      column.accessor("status", {
        header: "Status",
        enableSorting: true,
        cell: ({ getValue }) => (
          <Badge tone={STATUS_TONES[getValue()]} dot>
            {STATUS_LABELS[getValue()]}
          </Badge>
        ),
      }),
      column.accessor((u) => (u.lastSignInAt ? Number(u.lastSignInAt.seconds) : 0), {
        id: "lastSignIn",
        header: "Last sign-in",
        enableSorting: true,
        cell: ({ row }) =>
          row.original.lastSignInAt ? (
            <Tooltip content={formatDateTime(row.original.lastSignInAt)}>
              <span>{formatRelative(row.original.lastSignInAt)}</span>
            </Tooltip>
          ) : (
            <span className="text-zinc-400">Never</span>
          ),
      }),
      column.accessor((u) => (u.createdAt ? Number(u.createdAt.seconds) : 0), {
        id: "created",
        header: "Invited",
        enableSorting: true,
        cell: ({ row }) => <span className="whitespace-nowrap">{formatDateTime(row.original.createdAt)}</span>,
      }),
      column.display({
        id: "actions",
        header: () => <span className="sr-only">Actions</span>,
        meta: { className: "w-12 text-right" },
        cell: ({ row }) => {
          const u = row.original;
          const self = u.id === me?.id;
          const manageable = canManage(u) && !self;
          return (
            <RowMenu
              label={`Actions for ${u.email}`}
              items={[
                {
                  label: "Change role",
                  icon: <ShieldCheck className="size-4" />,
                  onSelect: () => setAction({ kind: "role", user: u }),
                  hidden: !manageable,
                },
                {
                  label: "Reset password",
                  icon: <KeyRound className="size-4" />,
                  onSelect: () => setAction({ kind: "reset", user: u }),
                  hidden: !canManage(u) || u.status === PlatformUserStatus.DISABLED,
                },
                {
                  label: "Re-enable",
                  icon: <UserCheck className="size-4" />,
                  onSelect: () =>
                    void setStatus(u, PlatformUserStatus.ACTIVE).catch((err) => toastError("Couldn't re-enable", err)),
                  hidden: !manageable || u.status !== PlatformUserStatus.DISABLED,
                },
                {
                  label: "Disable",
                  icon: <UserX className="size-4" />,
                  onSelect: () => setAction({ kind: "disable", user: u }),
                  destructive: true,
                  hidden: !manageable || u.status === PlatformUserStatus.DISABLED,
                },
                {
                  label: "Delete",
                  icon: <Trash2 className="size-4" />,
                  onSelect: () => setAction({ kind: "delete", user: u }),
                  destructive: true,
                  hidden: !manageable,
                },
              ]}
            />
          );
        },
      }),
    ];
    // setStatus only closes over stable values.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [canWrite, canGrantSuperAdmin, me?.id]);

  const users = query.data?.platformUsers ?? [];
  const filtered = Boolean(search || roleFilter || statusFilter);

  return (
    <Card>
      <div className="flex flex-wrap items-center gap-3 border-b border-zinc-100 px-5 py-4">
        <TextField
          label={<span className="sr-only">Search</span>}
          containerClassName="w-full max-w-xs !space-y-0"
          leading={<Search className="size-4" />}
          placeholder="Search name or email"
          value={searchText}
          onChange={(e) => setSearchText(e.target.value)}
          type="search"
        />
        <SelectField
          label="Role"
          hideLabel
          value={roleFilter}
          onChange={(e) => list.setFilters({ role: e.target.value })}
          placeholder="All roles"
          options={ASSIGNABLE_ROLES.map((r) => ({ value: roleSlug(r), label: ROLE_LABELS[r] }))}
        />
        <SelectField
          label="Status"
          hideLabel
          value={statusFilter}
          onChange={(e) => list.setFilters({ status: e.target.value })}
          placeholder="All statuses"
          options={Object.entries(STATUS_SLUGS).map(([slug, s]) => ({ value: slug, label: STATUS_LABELS[s] }))}
        />
        <div className="flex-1" />
        {canWrite && (
          <Button variant="primary" icon={<UserPlus className="size-4" />} onClick={() => setInviteOpen(true)}>
            Invite user
          </Button>
        )}
      </div>
      <DataTable
        caption="Platform users"
        columns={columns}
        data={users}
        getRowId={(u) => u.id}
        loading={query.isPending}
        error={query.isError ? query.error : undefined}
        onRetry={() => void query.refetch()}
        empty={
          filtered ? (
            <EmptyState
              icon={<Search className="size-5" />}
              title="No users match these filters"
              description="Try another search or clear the filters."
              action={
                <Button size="sm" onClick={() => list.setFilters({ q: "", role: "", status: "" })}>
                  Clear filters
                </Button>
              }
            />
          ) : (
            <EmptyState title="No platform users yet" description="Invite the people who work with the CDP." />
          )
        }
        footer={
          query.data && (
            <Pagination
              page={list.page}
              pageSize={PAGE_SIZE}
              rowsOnPage={users.length}
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

      <InviteDialog
        open={inviteOpen}
        onClose={() => setInviteOpen(false)}
        canGrantSuperAdmin={canGrantSuperAdmin}
        onInvite={(input) => invite.mutateAsync(input)}
      />
      {action?.kind === "role" && (
        <EditRoleDialog
          user={action.user}
          canGrantSuperAdmin={canGrantSuperAdmin}
          onClose={() => setAction(null)}
          onSave={async (role) => {
            await update.mutateAsync({ platformUser: { id: action.user.id, role }, updateMask: { paths: ["role"] } });
            toast("success", "Role changed", `${action.user.email} is now ${ROLE_LABELS[role]}.`);
          }}
        />
      )}
      <ConfirmDialog
        open={action?.kind === "disable"}
        onClose={() => setAction(null)}
        title="Disable this user?"
        description={`${action?.user.email ?? ""} will be signed out at their next request and can't sign in until re-enabled. Their history is kept.`}
        confirmLabel="Disable user"
        onConfirm={() => action && setStatus(action.user, PlatformUserStatus.DISABLED)}
      />
      <ConfirmDialog
        open={action?.kind === "delete"}
        onClose={() => setAction(null)}
        title="Delete this user for good?"
        description={`${action?.user.email ?? ""} will be removed from the CDP and the identity provider. This can't be undone; their audit trail is kept. To block access but keep the account, disable it instead.`}
        confirmLabel="Delete user"
        onConfirm={async () => {
          if (!action) return;
          await remove.mutateAsync({ id: action.user.id, hardDelete: true });
          toast("success", "User deleted", action.user.email);
        }}
      />
      <ConfirmDialog
        open={action?.kind === "reset"}
        onClose={() => setAction((a) => (a?.kind === "reset" ? null : a))}
        destructive={false}
        title="Reset this user's password?"
        description={`${action?.user.email ?? ""} gets a link to set a new password. Their current password and sessions keep working until they do.`}
        confirmLabel="Reset password"
        onConfirm={async () => {
          if (!action) return;
          const user = action.user;
          const result = await resetPassword.mutateAsync({ id: user.id });
          if (result.recoveryLink) {
            setAction({ kind: "recovery-link", user, result });
          } else {
            toast("success", "Recovery email sent", `${user.email} will receive a link to set a new password.`);
          }
        }}
      />
      {action?.kind === "recovery-link" && (
        <RecoveryLinkDialog user={action.user} result={action.result} onClose={() => setAction(null)} />
      )}
    </Card>
  );
}

function toastError(title: string, err: unknown) {
  toast("error", title, describeError(err).message);
}
