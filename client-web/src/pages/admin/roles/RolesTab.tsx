import { useQuery } from "@connectrpc/connect-query";
import { Check, Info, Minus } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Card, CardHeader } from "../../../components/Card";
import { Skeleton } from "../../../components/Spinner";
import { EmptyState, ErrorState } from "../../../components/States";
import { Tooltip } from "../../../components/Tooltip";
import { RoleService } from "../../../gen/cdp/v1/roles_pb";
import { ROLE_TONES } from "../../../lib/roles";

/** Which role grants which permission, as RoleService.ListRoles reports it. */
export function RolesTab() {
  const query = useQuery(RoleService.method.listRoles, {});

  if (query.isPending) {
    return (
      <Card>
        <div className="space-y-3 p-6" aria-busy="true" aria-label="Loading">
          {Array.from({ length: 8 }, (_, i) => (
            <Skeleton key={i} className="h-5 w-full" />
          ))}
        </div>
      </Card>
    );
  }
  if (query.isError) {
    return (
      <Card>
        <ErrorState error={query.error} onRetry={() => void query.refetch()} />
      </Card>
    );
  }
  const { roles, permissions } = query.data;
  if (roles.length === 0) {
    return (
      <Card>
        <EmptyState title="No roles defined" description="The server reported no roles." />
      </Card>
    );
  }
  const grants = roles.map((r) => new Set(r.permissions));

  return (
    <div className="space-y-6">
      <div className="grid gap-4 sm:grid-cols-2 xl:grid-cols-5">
        {roles.map((r) => (
          <Card key={r.role} className="p-4">
            <Badge tone={ROLE_TONES[r.role]}>{r.name}</Badge>
            <p className="mt-2 text-[13px] leading-relaxed text-zinc-600">{r.description}</p>
            <p className="mt-2 text-xs text-zinc-400">{r.permissions.length} permissions</p>
          </Card>
        ))}
      </div>
      <Card>
        <CardHeader
          title="Permission matrix"
          description="Read from the permission tables the server enforces. Hover a permission for what it allows."
        />
        <div className="overflow-x-auto">
          <table className="min-w-full text-[13px]" aria-label="Permission matrix">
            <thead className="border-b border-zinc-200 bg-zinc-50/80">
              <tr>
                <th scope="col" className="px-5 py-2.5 text-left text-xs font-medium tracking-wide text-zinc-500 uppercase">
                  Permission
                </th>
                {roles.map((r) => (
                  <th key={r.role} scope="col" className="px-4 py-2.5 text-center text-xs font-medium whitespace-nowrap text-zinc-600">
                    {r.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100">
              {permissions.map((p) => (
                <tr key={p.name} className="hover:bg-zinc-50/70">
                  <th scope="row" className="px-5 py-2.5 text-left font-normal">
                    <span className="inline-flex items-center gap-2">
                      <code className="font-mono text-[12.5px] text-zinc-800">{p.name}</code>
                      {p.description && (
                        <Tooltip content={p.description}>
                          <Info className="size-3.5 text-zinc-400" aria-label={p.description} />
                        </Tooltip>
                      )}
                      {p.serviceCredentialOnly && <Badge tone="amber">Service credentials only</Badge>}
                    </span>
                  </th>
                  {roles.map((r, i) => (
                    <td key={r.role} className="px-4 py-2.5 text-center">
                      {grants[i].has(p.name) ? (
                        <Check className="mx-auto size-4 text-brand-600" aria-label={`${r.name} has ${p.name}`} />
                      ) : (
                        <Minus className="mx-auto size-4 text-zinc-300" aria-label={`${r.name} lacks ${p.name}`} />
                      )}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Card>
    </div>
  );
}
