import { useMemo } from "react";
import { useNavigate } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData, skipToken } from "@tanstack/react-query";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { BarList } from "../../components/charts/BarList";
import { AXIS_COLOR, GRID_COLOR } from "../../components/charts/palette";
import { EmptyState } from "../../components/States";
import { DashboardService } from "../../gen/cdp/v1/dashboard_pb";
import { FieldType, type UserField } from "../../gen/cdp/v1/users_pb";
import { groupLabel } from "../../lib/conditions";
import { explorerHref } from "../../lib/explorer-link";
import { formatCompact, formatNumber, formatPercent } from "../../lib/numbers";
import { ChartCard, ChartSkeleton, PanelError } from "./ChartCard";

const PREFERRED = ["favorite_vertical", "user_type", "lifecycle_stage", "total_credits_spent"];

/** How users spread over one field of the catalogue, with a field picker and drill-down. */
export function DistributionCard({ fields, field, onField }: { fields: readonly UserField[]; field: string; onField: (name: string) => void }) {
  const navigate = useNavigate();
  const distributable = useMemo(() => fields.filter((f) => f.distributable), [fields]);
  const chosen = distributable.find((f) => f.name === field) ?? PREFERRED.map((n) => distributable.find((f) => f.name === n)).find(Boolean) ?? distributable[0];
  const query = useQuery(
    DashboardService.method.getAttributeDistribution,
    chosen ? { field: chosen.name, bins: 12, maxCategories: 10 } : skipToken,
    { placeholderData: keepPreviousData },
  );
  const groups = useMemo(() => {
    const m = new Map<string, UserField[]>();
    for (const f of distributable) m.set(f.group, [...(m.get(f.group) ?? []), f]);
    return [...m.entries()];
  }, [distributable]);
  const data = query.data;
  const total = data ? Number(data.totalUsers) : 0;
  const numeric = data?.type === FieldType.NUMBER;
  const label = data?.label ?? chosen?.label ?? "";

  return (
    <ChartCard
      title="Distribution of users"
      definition={chosen?.description ? `${chosen.label}: ${chosen.description}` : "How users spread over a field of their profile."}
      headline={data && <p className="text-[13px] text-zinc-500">{formatNumber(data.totalUsers)} users by {label.toLowerCase()}</p>}
      actions={
        <label className="flex items-center gap-2 text-[13px] text-zinc-600">
          <span>Field</span>
          <select
            value={chosen?.name ?? ""}
            onChange={(e) => onField(e.target.value)}
            className="h-8 rounded-lg border-0 bg-white pr-8 pl-2.5 text-[13px] text-zinc-900 shadow-xs ring-1 ring-zinc-300 ring-inset focus:ring-2 focus:ring-brand-500 focus:outline-none"
          >
            {groups.map(([group, list]) => (
              <optgroup key={group} label={groupLabel(group)}>
                {list.map((f) => (
                  <option key={f.name} value={f.name}>
                    {f.label}
                  </option>
                ))}
              </optgroup>
            ))}
          </select>
        </label>
      }
    >
      {!chosen ? (
        <EmptyState className="!py-10" title="No field to show" description="The field catalogue has no distributable field." />
      ) : query.isPending ? (
        <ChartSkeleton height={200} />
      ) : query.isError ? (
        <PanelError error={query.error} onRetry={() => void query.refetch()} />
      ) : !data || data.buckets.length === 0 ? (
        <EmptyState className="!py-10" title="No users to describe" />
      ) : numeric ? (
        <div style={{ height: 260 }} role="img" aria-label={`Users by ${label}`}>
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={data.buckets.map((b) => ({ label: b.label, count: Number(b.count) }))} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
              <CartesianGrid vertical={false} stroke={GRID_COLOR} />
              <XAxis dataKey="label" tick={{ fontSize: 11, fill: AXIS_COLOR }} tickLine={false} axisLine={{ stroke: "#e4e4e7" }} interval={0} angle={-20} textAnchor="end" height={48} />
              <YAxis tickFormatter={(v: number) => formatCompact(v)} tick={{ fontSize: 11, fill: AXIS_COLOR }} tickLine={false} axisLine={false} width={48} />
              <Tooltip
                cursor={{ fill: "rgba(244,244,245,0.8)" }}
                formatter={(v) => [`${formatNumber(Number(v))} users (${formatPercent(total ? Number(v) / total : 0)})`, "Users"]}
                contentStyle={{ borderRadius: 8, border: "none", boxShadow: "0 4px 14px rgba(0,0,0,.12)", fontSize: 12 }}
              />
              <Bar
                dataKey="count"
                fill="#4f46e5"
                radius={[4, 4, 0, 0]}
                isAnimationActive={false}
                cursor="pointer"
                onClick={(_, index) => {
                  const b = data.buckets[index];
                  if (b) navigate(explorerHref(b.condition, `${label}: ${b.label}`));
                }}
              />
            </BarChart>
          </ResponsiveContainer>
        </div>
      ) : (
        <BarList
          label={`Users by ${label}`}
          items={data.buckets.map((b, i) => ({
            key: `${b.label}-${i}`,
            label: b.label,
            value: Number(b.count),
            display: formatNumber(b.count),
            hint: total ? formatPercent(Number(b.count) / total) : undefined,
            href: b.condition ? explorerHref(b.condition, `${label}: ${b.label}`) : undefined,
            linkLabel: `Explore users with ${label} ${b.label}`,
            color: "#0ea5e9",
          }))}
        />
      )}
    </ChartCard>
  );
}
