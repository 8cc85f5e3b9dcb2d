import { Link } from "react-router";
import { useQuery } from "@connectrpc/connect-query";
import { ShieldAlert } from "lucide-react";
import { Badge } from "../../../components/Badge";
import { Card, CardHeader } from "../../../components/Card";
import { Skeleton } from "../../../components/Spinner";
import { ErrorState } from "../../../components/States";
import { Tooltip } from "../../../components/Tooltip";
import { CohortService } from "../../../gen/cdp/v1/cohorts_pb";
import { AUDIENCE_LABELS, PROMOTION_STATUS_LABELS, PROMOTION_STATUS_TONES } from "../../../lib/labels";

/** What uses the cohort: promotions (guarded ones need a confirmation to change) and cohorts. */
export function UsageCard({ cohortId }: { cohortId: bigint }) {
  const query = useQuery(CohortService.method.getCohortUsage, { cohortId });
  const u = query.data;
  return (
    <Card>
      <CardHeader title="Used by" description="Promotions and cohorts that depend on this cohort." />
      <div className="px-5 py-3">
        {query.isPending ? (
          <Skeleton className="h-16 w-full" />
        ) : query.isError ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} className="!py-6" />
        ) : u && u.promotions.length === 0 && u.referencingCohorts.length === 0 ? (
          <p className="py-2 text-[13px] text-zinc-500">Nothing uses this cohort yet: it can be changed or deleted freely.</p>
        ) : (
          <ul className="divide-y divide-zinc-100 text-[13px]">
            {u?.promotions.map((p) => (
              <li key={`p${p.promotionId}`} className="flex items-center justify-between gap-3 py-2">
                <Link to={`/promotions/${p.promotionId}`} className="min-w-0 truncate font-medium text-zinc-900 hover:text-brand-700">
                  {p.name}
                </Link>
                <span className="flex shrink-0 items-center gap-1.5">
                  {p.guarded && (
                    <Tooltip content="A change of this cohort changes this promotion's audience: edits and deletion ask for confirmation.">
                      <ShieldAlert className="size-4 text-amber-500" aria-label="Guarded" />
                    </Tooltip>
                  )}
                  <Badge>{AUDIENCE_LABELS[p.audience]}</Badge>
                  <Badge tone={PROMOTION_STATUS_TONES[p.status]}>{PROMOTION_STATUS_LABELS[p.status]}</Badge>
                </span>
              </li>
            ))}
            {u?.referencingCohorts.map((c) => (
              <li key={`c${c.cohortId}`} className="flex items-center justify-between gap-3 py-2">
                <Link to={`/cohorts/${c.cohortId}`} className="min-w-0 truncate font-medium text-zinc-900 hover:text-brand-700">
                  {c.name}
                </Link>
                <Badge tone="brand">Cohort condition</Badge>
              </li>
            ))}
          </ul>
        )}
      </div>
    </Card>
  );
}
