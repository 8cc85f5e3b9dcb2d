import { Link } from "react-router";
import type { UseQueryResult } from "@tanstack/react-query";
import type { ConnectError } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import { AlertCircle, Timer, Users } from "lucide-react";
import { describeError } from "../../api/errors";
import { Badge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { InfoTip } from "../../components/InfoTip";
import { Skeleton, Spinner } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { cx } from "../../components/cx";
import type { PreviewCohortResponse } from "../../gen/cdp/v1/cohorts_pb";
import { LIFECYCLE_LABELS, LIFECYCLE_TONES, PROMOTION_STATUS_LABELS, PROMOTION_STATUS_TONES } from "../../lib/labels";
import { formatNumber, formatPercent } from "../../lib/numbers";

function Section({ title, hint, children }: { title: string; hint?: string; children: React.ReactNode }) {
  return (
    <section className="border-t border-zinc-100 px-5 py-4">
      <h3 className="mb-2 flex items-center gap-1.5 text-xs font-medium tracking-wide text-zinc-500 uppercase">
        {title}
        <InfoTip content={hint} label={`About ${title}`} />
      </h3>
      {children}
    </section>
  );
}

/**
 * The live preview of an unsaved definition (CohortService.PreviewCohort): how many users
 * match, what remains after each top-level condition, a sample, and overlaps.
 */
export function PreviewPanel({
  query,
  waitingFor,
  stale,
}: {
  query: UseQueryResult<PreviewCohortResponse, ConnectError>;
  /** Why the preview can't run yet (incomplete conditions), if so. */
  waitingFor?: string;
  /** The conditions changed since the figures on screen were computed. */
  stale: boolean;
}) {
  const data = query.data;
  const refused = query.isError && query.error.code === Code.InvalidArgument;
  return (
    <Card className="overflow-hidden">
      <header className="flex items-center justify-between gap-2 px-5 pt-4 pb-3">
        <h2 className="text-[15px] font-semibold text-zinc-900">Live preview</h2>
        {(query.isFetching || stale) && !waitingFor ? (
          <span className="flex items-center gap-1.5 text-xs text-zinc-500">
            <Spinner className="size-3.5" /> Updating
          </span>
        ) : data ? (
          <span className="flex items-center gap-1 text-xs text-zinc-400" title="Time the server took">
            <Timer className="size-3.5" aria-hidden />
            {formatNumber(data.elapsedMs)} ms
          </span>
        ) : null}
      </header>

      {waitingFor && (
        <p className="mx-5 mb-3 flex items-start gap-2 rounded-lg bg-amber-50 px-3 py-2 text-[13px] text-amber-900 ring-1 ring-amber-200 ring-inset">
          <AlertCircle className="mt-0.5 size-4 shrink-0 text-amber-600" aria-hidden />
          {waitingFor}
        </p>
      )}

      {query.isPending && !waitingFor ? (
        <div className="space-y-3 px-5 pb-5" aria-busy="true" aria-label="Loading">
          <Skeleton className="h-9 w-40" />
          <Skeleton className="h-2 w-full" />
          <Skeleton className="h-24 w-full" />
        </div>
      ) : query.isError && !refused ? (
        <ErrorState error={query.error} onRetry={() => void query.refetch()} className="!py-8" />
      ) : refused ? (
        <p className="mx-5 mb-4 rounded-lg bg-red-50 px-3 py-2 text-[13px] text-red-800 ring-1 ring-red-200 ring-inset" role="alert">
          {Object.values(describeError(query.error).fieldErrors)[0] ?? describeError(query.error).message} The condition is marked in the builder.
        </p>
      ) : data ? (
        <div className={cx("transition-opacity", (stale || query.isFetching || waitingFor) && "opacity-50")}>
          <div className="px-5 pb-4">
            <p className="flex items-baseline gap-2">
              <span className="text-4xl font-semibold tracking-tight text-zinc-900 tabular-nums" data-testid="preview-count" data-count={data.count.toString()}>
                {formatNumber(data.count)}
              </span>
              <span className="text-[13px] text-zinc-500">matching users</span>
            </p>
            <div className="mt-3 h-2 overflow-hidden rounded-full bg-zinc-100" aria-hidden>
              <div className="h-full rounded-full bg-brand-500" style={{ width: `${data.totalUsers ? Math.max(0.5, (Number(data.count) / Number(data.totalUsers)) * 100) : 0}%` }} />
            </div>
            <p className="mt-1.5 text-xs text-zinc-500">
              {formatPercent(data.totalUsers ? Number(data.count) / Number(data.totalUsers) : 0)} of {formatNumber(data.totalUsers)} users
            </p>
          </div>

          {data.funnel.length > 1 && (
            <Section title="After each condition" hint="What remains after each top-level condition with AND, or what has been gathered with OR; 'alone' is the users matching that condition by itself.">
              <ol className="space-y-2">
                {data.funnel.map((step) => (
                  <li key={step.nodeIndex} className="text-[13px]">
                    <div className="flex items-baseline justify-between gap-3">
                      <span className="min-w-0 truncate text-zinc-700" title={step.label}>
                        <span className="mr-1.5 text-zinc-400">{step.nodeIndex + 1}.</span>
                        {step.label}
                      </span>
                      <span className="shrink-0 font-semibold text-zinc-900 tabular-nums">{formatNumber(step.cumulative)}</span>
                    </div>
                    <div className="mt-1 flex items-center gap-2">
                      <div className="h-1.5 flex-1 overflow-hidden rounded-full bg-zinc-100">
                        <div className="h-full rounded-full bg-brand-400" style={{ width: `${data.totalUsers ? (Number(step.cumulative) / Number(data.totalUsers)) * 100 : 0}%` }} />
                      </div>
                      <span className="w-24 text-right text-[11px] text-zinc-400 tabular-nums">{formatNumber(step.matching)} alone</span>
                    </div>
                  </li>
                ))}
              </ol>
            </Section>
          )}

          <Section title="Sample" hint="Matching users who spent the most credits.">
            {data.sampleUsers.length === 0 ? (
              <p className="text-[13px] text-zinc-500">Nobody matches these conditions.</p>
            ) : (
              <ul className="-mx-2" aria-label="Sample users">
                {data.sampleUsers.slice(0, 8).map((u) => (
                  <li key={u.userId.toString()}>
                    <Link to={`/users/${u.userId}`} className="group flex items-center gap-2 rounded-md px-2 py-1.5 text-[13px] hover:bg-zinc-50">
                      <span className="font-mono font-medium text-brand-700">#{u.userId.toString()}</span>
                      <span className="truncate text-zinc-500">
                        {[u.userType, u.favoriteVertical].filter(Boolean).join(" · ")}
                      </span>
                      <span className="flex-1" />
                      <Badge tone={LIFECYCLE_TONES[u.lifecycleStage]}>{LIFECYCLE_LABELS[u.lifecycleStage]}</Badge>
                      <span className="w-16 shrink-0 text-right whitespace-nowrap text-zinc-700 tabular-nums">{formatNumber(u.totalCreditsSpent ?? 0)} cr</span>
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </Section>

          {(data.cohortOverlaps.length > 0 || data.promotionOverlaps.length > 0) && (
            <Section title="Overlaps" hint="Saved cohorts and running promotions that share users with these conditions.">
              <ul className="space-y-1.5 text-[13px]">
                {data.cohortOverlaps.map((o) => (
                  <li key={`c${o.cohortId}`} className="flex items-center justify-between gap-2">
                    <Link to={`/cohorts/${o.cohortId}`} className="flex min-w-0 items-center gap-1.5 text-zinc-700 hover:text-brand-700">
                      <Users className="size-3.5 shrink-0 text-zinc-400" aria-hidden />
                      <span className="truncate">{o.name}</span>
                    </Link>
                    <span className="shrink-0 text-zinc-500 tabular-nums">
                      <span className="font-medium text-zinc-900">{formatNumber(o.overlap)}</span> of {formatNumber(o.size)}
                    </span>
                  </li>
                ))}
                {data.promotionOverlaps.map((o) => (
                  <li key={`p${o.promotionId}`} className="flex items-center justify-between gap-2">
                    <Link to={`/promotions/${o.promotionId}`} className="flex min-w-0 items-center gap-1.5 text-zinc-700 hover:text-brand-700">
                      <Badge tone={PROMOTION_STATUS_TONES[o.status]}>{PROMOTION_STATUS_LABELS[o.status]}</Badge>
                      <span className="truncate">{o.name}</span>
                    </Link>
                    <span className="shrink-0 font-medium text-zinc-900 tabular-nums">{formatNumber(o.overlap)}</span>
                  </li>
                ))}
              </ul>
            </Section>
          )}
        </div>
      ) : null}
    </Card>
  );
}
