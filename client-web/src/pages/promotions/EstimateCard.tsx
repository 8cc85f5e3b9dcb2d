import { Link } from "react-router";
import type { ConnectError } from "@connectrpc/connect";
import type { UseQueryResult } from "@tanstack/react-query";
import { AlertTriangle, Calculator } from "lucide-react";
import { Badge } from "../../components/Badge";
import { Card } from "../../components/Card";
import { InfoTip } from "../../components/InfoTip";
import { Skeleton, Spinner } from "../../components/Spinner";
import { EmptyState, ErrorState } from "../../components/States";
import type { EstimatePromotionResponse } from "../../gen/cdp/v1/promotions_pb";
import { PROMOTION_STATUS_LABELS, PROMOTION_STATUS_TONES, PROMOTION_TYPE_LABELS } from "../../lib/labels";
import { formatNumber, formatPercent } from "../../lib/numbers";

function Figure({ label, value, hint }: { label: string; value: string; hint?: string }) {
  return (
    <div>
      <dt className="flex items-center gap-1 text-xs text-zinc-500">
        {label}
        <InfoTip content={hint} label={`About ${label}`} />
      </dt>
      <dd className="mt-0.5 text-xl font-semibold tracking-tight text-zinc-900 tabular-nums">{value}</dd>
    </div>
  );
}

/** EstimatePromotion's answer: audience, expected redemptions and cost, and conflicts. */
export function EstimateCard({
  query,
  waitingFor,
  title = "Estimate before launch",
}: {
  query: UseQueryResult<EstimatePromotionResponse, ConnectError> | undefined;
  /** Why there is no estimate yet (e.g. no cohort chosen). */
  waitingFor?: string;
  title?: string;
}) {
  const e = query?.data;
  return (
    <Card>
      <header className="flex items-center justify-between gap-2 px-5 pt-4 pb-2">
        <h2 className="flex items-center gap-2 text-[15px] font-semibold text-zinc-900">
          <Calculator className="size-4 text-zinc-400" aria-hidden />
          {title}
        </h2>
        {query?.isFetching && <Spinner className="size-4 text-zinc-400" label="Estimating" />}
      </header>
      <div className="@container px-5 pb-5">
        {waitingFor || !query ? (
          <EmptyState className="!py-8" icon={<Calculator className="size-5" />} title="Nothing to estimate yet" description={waitingFor} />
        ) : query.isPending ? (
          <div className="space-y-3" aria-busy="true" aria-label="Loading">
            <Skeleton className="h-8 w-32" />
            <Skeleton className="h-16 w-full" />
          </div>
        ) : query.isError ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} className="!py-8" />
        ) : e ? (
          <div className="space-y-4">
            <dl className="grid grid-cols-2 gap-4 @2xl:grid-cols-4" data-testid="estimate">
              <Figure label="Eligible now" value={formatNumber(e.audienceSize)} hint="Users who would be eligible if it were activated now." />
              <Figure label="Redemption rate" value={e.expectedRedemptionRate !== undefined ? formatPercent(e.expectedRedemptionRate) : "—"} hint="Share of the audience expected to redeem, from similar past promotions." />
              <Figure label="Expected redemptions" value={e.expectedRedemptions !== undefined ? formatNumber(e.expectedRedemptions) : "—"} hint="Within the window, capped by the limits." />
              <Figure label="Expected credits" value={e.expectedCredits !== undefined ? formatNumber(e.expectedCredits) : "—"} hint="Credits granted, capped by the credit budget." />
            </dl>
            <p className="rounded-lg bg-zinc-50 px-3 py-2 text-[13px] leading-relaxed text-zinc-600 ring-1 ring-zinc-200 ring-inset">
              {e.explanation || (e.hasHistory ? `Based on ${e.similarPromotions} similar promotions.` : "No similar past promotion: only the audience is known.")}
            </p>
            {e.conflicts.length > 0 && (
              <div>
                <h3 className="mb-1.5 flex items-center gap-1.5 text-xs font-medium tracking-wide text-amber-700 uppercase">
                  <AlertTriangle className="size-3.5" aria-hidden /> Overlaps with running promotions
                </h3>
                <ul className="space-y-1.5 text-[13px]">
                  {e.conflicts.map((c) => (
                    <li key={c.promotionId.toString()} className="rounded-md bg-amber-50/50 px-2.5 py-1.5 ring-1 ring-amber-200/70 ring-inset">
                      <Link to={`/promotions/${c.promotionId}`} className="block truncate font-medium text-zinc-900 hover:text-brand-700" title={c.name}>
                        {c.name}
                      </Link>
                      <span className="mt-0.5 flex flex-wrap items-center gap-1.5 text-xs text-zinc-600">
                        <span className="tabular-nums">{formatNumber(c.overlappingUsers)} users in both</span>
                        <span aria-hidden>·</span>
                        <span>{PROMOTION_TYPE_LABELS[c.type]}</span>
                        <Badge tone={PROMOTION_STATUS_TONES[c.status]}>{PROMOTION_STATUS_LABELS[c.status]}</Badge>
                        {c.windowOverlaps && <Badge tone="amber">Same time</Badge>}
                      </span>
                    </li>
                  ))}
                </ul>
              </div>
            )}
          </div>
        ) : null}
      </div>
    </Card>
  );
}
