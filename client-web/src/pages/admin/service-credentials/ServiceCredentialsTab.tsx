import { useMemo, useState } from "react";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { createColumnHelper } from "@tanstack/react-table";
import { Ban, KeyRound, Plus, RotateCw } from "lucide-react";
import { useInvalidateService } from "../../../api/invalidate";
import { Badge } from "../../../components/Badge";
import { Button } from "../../../components/Button";
import { Card } from "../../../components/Card";
import { ConfirmDialog } from "../../../components/Dialog";
import { Checkbox } from "../../../components/Field";
import { RowMenu } from "../../../components/Menu";
import { EmptyState } from "../../../components/States";
import { DataTable, Pagination } from "../../../components/Table";
import { Tooltip } from "../../../components/Tooltip";
import { RoleService } from "../../../gen/cdp/v1/roles_pb";
import {
  ServiceCredentialService,
  ServiceCredentialStatus,
  type ServiceCredential,
} from "../../../gen/cdp/v1/service_credentials_pb";
import { formatDateTime, formatRelative } from "../../../lib/format";
import { NON_GRANTABLE_SCOPES } from "../../../lib/permissions";
import { useListState } from "../../../lib/url-state";
import { toast } from "../../../stores/toast";
import { CreateCredentialDialog } from "./CreateCredentialDialog";
import { RotateDialog } from "./RotateDialog";
import { SecretDialog } from "./SecretDialog";

const PAGE_SIZE = 25;
const column = createColumnHelper<ServiceCredential>();

type Pending =
  | { kind: "create" }
  | { kind: "rotate"; credential: ServiceCredential }
  | { kind: "revoke"; credential: ServiceCredential }
  | { kind: "secret"; name: string; secret: string };

export function ServiceCredentialsTab() {
  const list = useListState();
  const showRevoked = list.filter("revoked") === "1";
  const invalidate = useInvalidateService(ServiceCredentialService);
  const query = useQuery(
    ServiceCredentialService.method.listServiceCredentials,
    { pageSize: PAGE_SIZE, pageToken: list.pageToken, showRevoked },
    { placeholderData: keepPreviousData },
  );
  const roles = useQuery(RoleService.method.listRoles, {});
  const grantableScopes = (roles.data?.permissions ?? []).filter((p) => !NON_GRANTABLE_SCOPES.has(p.name));

  const [pending, setPending] = useState<Pending | null>(null);
  const create = useMutation(ServiceCredentialService.method.createServiceCredential, { onSuccess: invalidate });
  const rotate = useMutation(ServiceCredentialService.method.rotateServiceCredential, { onSuccess: invalidate });
  const revoke = useMutation(ServiceCredentialService.method.revokeServiceCredential, { onSuccess: invalidate });

  const columns = useMemo(
    () => [
      column.accessor("name", {
        header: "Name",
        enableSorting: true,
        cell: ({ row }) => (
          <div>
            <p className="font-medium text-zinc-900">{row.original.name}</p>
            <code className="font-mono text-xs text-zinc-500">{row.original.keyPrefix}…</code>
          </div>
        ),
      }),
      column.accessor("scopes", {
        header: "Permissions",
        cell: ({ getValue }) => (
          <div className="flex max-w-xs flex-wrap gap-1">
            {getValue().map((s) => (
              <Badge key={s} className="font-mono !text-[11.5px]">
                {s}
              </Badge>
            ))}
          </div>
        ),
      }),
      column.accessor("status", {
        header: "Status",
        cell: ({ row }) => {
          const c = row.original;
          if (c.status === ServiceCredentialStatus.REVOKED) {
            return (
              <Tooltip content={`Revoked ${formatDateTime(c.revokedAt)}`}>
                <Badge tone="red" dot>
                  Revoked
                </Badge>
              </Tooltip>
            );
          }
          return (
            <div className="flex flex-col items-start gap-1">
              <Badge tone="green" dot>
                Active
              </Badge>
              {c.previousSecretExpiresAt && (
                <span className="text-xs text-amber-700">Old secret valid until {formatDateTime(c.previousSecretExpiresAt)}</span>
              )}
            </div>
          );
        },
      }),
      column.accessor((c) => (c.lastUsedAt ? Number(c.lastUsedAt.seconds) : 0), {
        id: "lastUsed",
        header: "Last used",
        enableSorting: true,
        cell: ({ row }) =>
          row.original.lastUsedAt ? (
            <Tooltip content={formatDateTime(row.original.lastUsedAt)}>
              <span>{formatRelative(row.original.lastUsedAt)}</span>
            </Tooltip>
          ) : (
            <span className="text-zinc-400">Never</span>
          ),
      }),
      column.accessor((c) => (c.createdAt ? Number(c.createdAt.seconds) : 0), {
        id: "created",
        header: "Created",
        enableSorting: true,
        cell: ({ row }) => (
          <div className="whitespace-nowrap">
            <p>{formatDateTime(row.original.createdAt)}</p>
            {row.original.rotatedAt && <p className="text-xs text-zinc-500">Rotated {formatRelative(row.original.rotatedAt)}</p>}
          </div>
        ),
      }),
      column.display({
        id: "actions",
        header: () => <span className="sr-only">Actions</span>,
        meta: { className: "w-12 text-right" },
        cell: ({ row }) => {
          const c = row.original;
          const active = c.status === ServiceCredentialStatus.ACTIVE;
          return (
            <RowMenu
              label={`Actions for ${c.name}`}
              items={[
                {
                  label: "Rotate secret",
                  icon: <RotateCw className="size-4" />,
                  onSelect: () => setPending({ kind: "rotate", credential: c }),
                  hidden: !active,
                },
                {
                  label: "Revoke",
                  icon: <Ban className="size-4" />,
                  destructive: true,
                  onSelect: () => setPending({ kind: "revoke", credential: c }),
                  hidden: !active,
                },
              ]}
            />
          );
        },
      }),
    ],
    [],
  );

  const credentials = query.data?.serviceCredentials ?? [];
  return (
    <Card>
      <div className="flex flex-wrap items-center gap-4 border-b border-zinc-100 px-5 py-4">
        <p className="max-w-xl text-[13px] text-zinc-500">
          Internal services authenticate with these secrets as <code className="font-mono">Bearer</code> tokens. Each
          secret is shown once, when it is created or rotated.
        </p>
        <div className="flex-1" />
        <Checkbox
          label="Show revoked"
          checked={showRevoked}
          onChange={(e) => list.setFilters({ revoked: e.target.checked ? "1" : "" })}
        />
        <Button
          variant="primary"
          icon={<Plus className="size-4" />}
          disabled={roles.isPending}
          onClick={() => setPending({ kind: "create" })}
        >
          New credential
        </Button>
      </div>
      <DataTable
        caption="Service credentials"
        columns={columns}
        data={credentials}
        getRowId={(c) => c.id}
        loading={query.isPending}
        error={query.isError ? query.error : undefined}
        onRetry={() => void query.refetch()}
        empty={
          <EmptyState
            icon={<KeyRound className="size-5" />}
            title={showRevoked ? "No service credentials" : "No active service credentials"}
            description="Create one for each internal service that calls the CDP, e.g. checkout redeeming promo codes."
          />
        }
        footer={
          query.data && (
            <Pagination
              page={list.page}
              pageSize={PAGE_SIZE}
              rowsOnPage={credentials.length}
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

      {pending?.kind === "create" && (
        <CreateCredentialDialog
          scopes={grantableScopes}
          onClose={() => setPending(null)}
          onCreate={async (name, scopes) => {
            const res = await create.mutateAsync({ name, scopes });
            setPending({ kind: "secret", name: res.serviceCredential?.name ?? name, secret: res.secret });
          }}
        />
      )}
      {pending?.kind === "rotate" && (
        <RotateDialog
          credential={pending.credential}
          onClose={() => setPending(null)}
          onRotate={async (seconds) => {
            const res = await rotate.mutateAsync({ id: pending.credential.id, overlap: { seconds: BigInt(seconds) } });
            setPending({ kind: "secret", name: pending.credential.name, secret: res.secret });
          }}
        />
      )}
      <ConfirmDialog
        open={pending?.kind === "revoke"}
        onClose={() => setPending(null)}
        title="Revoke this credential?"
        description={
          pending?.kind === "revoke"
            ? `${pending.credential.name} stops working at once, including any previous secret still in its overlap. Services using it will be refused. This can't be undone.`
            : ""
        }
        confirmLabel="Revoke credential"
        onConfirm={async () => {
          if (pending?.kind !== "revoke") return;
          await revoke.mutateAsync({ id: pending.credential.id });
          toast("success", "Credential revoked", pending.credential.name);
        }}
      />
      {pending?.kind === "secret" && <SecretDialog name={pending.name} secret={pending.secret} onClose={() => setPending(null)} />}
    </Card>
  );
}
