import { useQuery } from "@connectrpc/connect-query";
import { Badge } from "../../components/Badge";
import { ConfirmDialog } from "../../components/Dialog";
import { Spinner } from "../../components/Spinner";
import { CohortService } from "../../gen/cdp/v1/cohorts_pb";
import { AUDIENCE_LABELS, PROMOTION_STATUS_LABELS, PROMOTION_STATUS_TONES } from "../../lib/labels";

/**
 * Asks before a change that moves the audience of live or scheduled promotions (the server
 * refused with AUDIENCE_CHANGE_NOT_CONFIRMED); lists those promotions from GetCohortUsage.
 */
export function AudienceChangeDialog({
  open,
  cohortId,
  action,
  onClose,
  onConfirm,
}: {
  open: boolean;
  cohortId: bigint;
  /** "save these conditions" or "delete this cohort". */
  action: "update" | "delete";
  onClose: () => void;
  onConfirm: () => Promise<unknown>;
}) {
  const usage = useQuery(CohortService.method.getCohortUsage, { cohortId }, { enabled: open });
  const guarded = (usage.data?.promotions ?? []).filter((p) => p.guarded);
  return (
    <ConfirmDialog
      open={open}
      onClose={onClose}
      title={action === "delete" ? "Delete a cohort that promotions use?" : "Change the audience of running promotions?"}
      description={
        action === "delete"
          ? "These promotions keep the members the cohort has now, frozen, and no longer follow it."
          : "These promotions follow this cohort: their audience changes with the new conditions at the next refresh."
      }
      confirmLabel={action === "delete" ? "Delete anyway" : "Save and change audiences"}
      destructive={action === "delete"}
      onConfirm={onConfirm}
    >
      {usage.isPending ? (
        <p className="flex items-center gap-2 text-[13px] text-zinc-500">
          <Spinner /> Looking up the promotions…
        </p>
      ) : guarded.length > 0 ? (
        <ul className="divide-y divide-zinc-100 rounded-lg ring-1 ring-zinc-200" aria-label="Promotions affected">
          {guarded.map((p) => (
            <li key={p.promotionId.toString()} className="flex items-center justify-between gap-3 px-3 py-2 text-[13px]">
              <span className="font-medium text-zinc-900">{p.name}</span>
              <span className="flex gap-1.5">
                <Badge tone={PROMOTION_STATUS_TONES[p.status]}>{PROMOTION_STATUS_LABELS[p.status]}</Badge>
                <Badge>{AUDIENCE_LABELS[p.audience]} audience</Badge>
              </span>
            </li>
          ))}
        </ul>
      ) : null}
    </ConfirmDialog>
  );
}
