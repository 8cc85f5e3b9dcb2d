import { useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { Badge, type BadgeTone } from "../../components/Badge";
import { TimeSeriesChart } from "../../components/charts/TimeSeriesChart";
import { StatCard } from "../../components/StatCard";
import { EmptyState } from "../../components/States";
import { Tooltip } from "../../components/Tooltip";
import type { DateRangeValue } from "../../components/DateRangePicker";
import { DashboardService, IngestionBatchStatus, ValidationOutcome } from "../../gen/cdp/v1/dashboard_pb";
import { formatDay } from "../../lib/dates";
import { formatDateTime, formatRelative } from "../../lib/format";
import { formatCompact, formatNumber, formatPercent } from "../../lib/numbers";
import { ChartCard, ChartSkeleton, PanelError } from "./ChartCard";
import { rangeRequest } from "./dashboard-state";

const BATCH_STATUS: Record<IngestionBatchStatus, { label: string; tone: BadgeTone }> = {
  [IngestionBatchStatus.UNSPECIFIED]: { label: "Unknown", tone: "neutral" },
  [IngestionBatchStatus.RUNNING]: { label: "Loading", tone: "blue" },
  [IngestionBatchStatus.SUCCEEDED]: { label: "Loaded", tone: "green" },
  [IngestionBatchStatus.FAILED]: { label: "Failed", tone: "red" },
};

const VALIDATION: Record<ValidationOutcome, { label: string; tone: BadgeTone }> = {
  [ValidationOutcome.UNSPECIFIED]: { label: "Not validated", tone: "neutral" },
  [ValidationOutcome.PASSED]: { label: "Checks passed", tone: "green" },
  [ValidationOutcome.WARNING]: { label: "Warnings", tone: "amber" },
  [ValidationOutcome.FAILED]: { label: "Checks failed", tone: "red" },
};

/** Unified profiles, identity match rates, ingestion volume and the latest ETL batches. */
export function DataHealthSection({ range }: { range: DateRangeValue }) {
  const query = useQuery(DashboardService.method.getDataHealth, rangeRequest(range), { placeholderData: keepPreviousData });
  const h = query.data;
  return (
    <section aria-labelledby="data-health" className="space-y-3">
      <h2 id="data-health" className="pt-4 text-[15px] font-semibold text-zinc-900">
        Data health
      </h2>
      {query.isPending ? (
        <ChartSkeleton height={160} />
      ) : query.isError ? (
        <PanelError error={query.error} onRetry={() => void query.refetch()} />
      ) : h ? (
        <>
          <div className="grid grid-cols-1 gap-3 sm:grid-cols-3">
            <StatCard label="Unified profiles" value={formatNumber(h.totalUnifiedProfiles)} definition={h.description || "Rows of the users table: one profile per marketplace user."} />
            <StatCard
              label="Amplitude match rate"
              value={formatPercent(h.amplitudeMatchRate)}
              definition="Share of profiles whose Amplitude id identity resolution found."
              footer={<span>{formatNumber(h.amplitudeMatched)} profiles matched</span>}
            />
            <StatCard
              label="Braze match rate"
              value={formatPercent(h.brazeMatchRate)}
              definition="Share of profiles whose Braze external id identity resolution found."
              footer={<span>{formatNumber(h.brazeMatched)} profiles matched</span>}
            />
          </div>
          <div className="grid grid-cols-1 gap-3 lg:grid-cols-3">
            <ChartCard title="Ingestion and event volume" definition="Rows the ETL loaded per day over all sources (bars), and events recorded in daily activity (line)." className="lg:col-span-2">
              {h.ingestion.length === 0 ? (
                <EmptyState className="!py-10" title="Nothing ingested in this range" />
              ) : (
                <TimeSeriesChart
                  label="Rows ingested and events per day"
                  data={h.ingestion.map((p) => ({ x: p.date, rows: Number(p.rows), events: Number(p.events) }))}
                  series={[
                    { key: "rows", label: "Rows loaded", color: "#a5b4fc", kind: "bar" },
                    { key: "events", label: "Events", color: "#0ea5e9", axis: "right" },
                  ]}
                  height={220}
                  formatX={(x) => formatDay(x)}
                  formatY={formatCompact}
                  formatValue={(v) => formatNumber(v)}
                  tooltipTitle={(row) => formatDay(row.x, true)}
                />
              )}
            </ChartCard>
            <ChartCard title="Latest ETL batches" definition="The latest load of each source and the result of its data validation.">
              {h.latestBatches.length === 0 ? (
                <EmptyState className="!py-10" title="No batches yet" description="The Airflow DAGs record a batch for every load." />
              ) : (
                <ul className="divide-y divide-zinc-100">
                  {h.latestBatches.map((b) => (
                    <li key={b.source} className="py-2.5 first:pt-0">
                      <div className="flex items-center justify-between gap-2">
                        <span className="font-mono text-[13px] font-medium text-zinc-900">{b.source}</span>
                        <Badge tone={BATCH_STATUS[b.status].tone} dot>
                          {BATCH_STATUS[b.status].label}
                        </Badge>
                      </div>
                      <div className="mt-1 flex flex-wrap items-center gap-x-2 gap-y-1 text-xs text-zinc-500">
                        <span>{formatNumber(b.rows)} rows</span>
                        <span aria-hidden>·</span>
                        <Tooltip content={formatDateTime(b.finishedAt ?? b.startedAt)}>
                          <span>{b.finishedAt ? `finished ${formatRelative(b.finishedAt)}` : `started ${formatRelative(b.startedAt)}`}</span>
                        </Tooltip>
                        <Badge tone={VALIDATION[b.validation].tone}>{VALIDATION[b.validation].label}</Badge>
                      </div>
                      {b.validationSummary && <p className="mt-1 text-xs text-zinc-500">{b.validationSummary}</p>}
                    </li>
                  ))}
                </ul>
              )}
            </ChartCard>
          </div>
        </>
      ) : null}
    </section>
  );
}
