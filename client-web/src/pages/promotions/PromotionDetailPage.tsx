import { useState, type ReactNode } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { skipToken, useMutation, useQuery } from "@connectrpc/connect-query";
import { Archive, ArrowLeft, Pause, Pencil, Play, Trash2 } from "lucide-react";
import { useInvalidateService } from "../../api/invalidate";
import { Alert } from "../../components/Alert";
import { Button } from "../../components/Button";
import { Card, CardHeader } from "../../components/Card";
import { ConfirmDialog } from "../../components/Dialog";
import { Skeleton, Spinner } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { TextAreaField } from "../../components/TextArea";
import { Tooltip } from "../../components/Tooltip";
import { CodeMode, PromotionService, PromotionStatus, type Promotion } from "../../gen/cdp/v1/promotions_pb";
import { formatDateTime, formatRelative } from "../../lib/format";
import { AUDIENCE_LABELS, CODE_MODE_LABELS, describeBenefit, grantsCredits, PROMOTION_TYPE_LABELS } from "../../lib/labels";
import { formatNumber, formatTtl } from "../../lib/numbers";
import { Permission } from "../../lib/permissions";
import { useCan } from "../../stores/session";
import { toast } from "../../stores/toast";
import { RedemptionsCard } from "./detail/RedemptionsCard";
import { StatsSection } from "./detail/StatsSection";
import { EstimateCard } from "./EstimateCard";
import { StatusBadge } from "./PromotionsPage";

const ACTIVATABLE = new Set([PromotionStatus.DRAFT, PromotionStatus.PAUSED]);
const RUNNING = new Set([PromotionStatus.SCHEDULED, PromotionStatus.ACTIVE]);
const FINAL = new Set([PromotionStatus.ARCHIVED]);

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="flex items-start justify-between gap-4 py-2 text-[13px]">
      <dt className="text-zinc-500">{label}</dt>
      <dd className="text-right font-medium text-zinc-900">{children}</dd>
    </div>
  );
}

function SettingsCard({ p }: { p: Promotion }) {
  const limits = p.limits;
  return (
    <Card>
      <CardHeader title="Settings" />
      <dl className="divide-y divide-zinc-100 px-5 pb-2">
        <Row label="Type">{PROMOTION_TYPE_LABELS[p.type]}</Row>
        <Row label="Benefit">{describeBenefit(p.type, p.value, p.addon)}</Row>
        <Row label="Codes">{p.codeMode === CodeMode.UNIQUE_PER_USER ? CODE_MODE_LABELS[p.codeMode] : p.code ? <code className="font-mono">{p.code}</code> : "Generated at activation"}</Row>
        <Row label="Audience">
          {AUDIENCE_LABELS[p.audience]}
          {p.audienceSize ? ` · ${formatNumber(p.audienceSize)} users` : ""}
        </Row>
        <Row label="Total redemptions">{limits?.totalRedemptions ? formatNumber(limits.totalRedemptions) : "No cap"}</Row>
        <Row label="Per user">{formatNumber(limits?.perUser || 1)}</Row>
        {grantsCredits(p.type) && <Row label="Credit budget">{limits?.creditBudget ? `${formatNumber(limits.creditBudget)} credits` : "No budget"}</Row>}
        <Row label="Starts">{formatDateTime(p.startsAt, "At activation")}</Row>
        <Row label="Ends">{formatDateTime(p.endsAt, p.ttl ? "Start plus the TTL" : "No end")}</Row>
        <Row label="Time to live">{p.ttl ? formatTtl(p.ttl.seconds) : "None"}</Row>
        <Row label="Created">{formatDateTime(p.createdAt)}</Row>
        <Row label="Last activated">{formatDateTime(p.activatedAt, "Never")}</Row>
      </dl>
    </Card>
  );
}

/** A promotion: status and actions, estimate, statistics, settings and redemptions. */
export function PromotionDetailPage() {
  const { promotionId = "" } = useParams();
  const valid = /^\d+$/.test(promotionId);
  const id = valid ? BigInt(promotionId) : 0n;
  const navigate = useNavigate();
  const canWrite = useCan(Permission.promotionsWrite);
  const canActivate = useCan(Permission.promotionsActivate);
  const invalidate = useInvalidateService(PromotionService);
  const query = useQuery(PromotionService.method.getPromotion, valid ? { id } : skipToken, {
    refetchInterval: (q) => (q.state.data?.promotion?.status === PromotionStatus.ACTIVE ? 15_000 : false),
  });
  const p = query.data?.promotion;
  const activate = useMutation(PromotionService.method.activatePromotion, { onSuccess: invalidate });
  const deactivate = useMutation(PromotionService.method.deactivatePromotion, { onSuccess: invalidate });
  const remove = useMutation(PromotionService.method.deletePromotion, { onSuccess: invalidate });
  const [dialog, setDialog] = useState<"activate" | "deactivate" | "delete" | null>(null);
  const [reason, setReason] = useState("");
  const showEstimate = Boolean(p && ACTIVATABLE.has(p.status));
  const estimate = useQuery(PromotionService.method.estimatePromotion, p && (showEstimate || dialog === "activate") ? { promotion: p } : skipToken, { retry: false });

  const back = (
    <Link to="/promotions" className="mb-4 inline-flex items-center gap-1.5 text-[13px] font-medium text-zinc-500 hover:text-zinc-800">
      <ArrowLeft className="size-4" />
      Promotions
    </Link>
  );
  if (!valid || query.isError) {
    return (
      <>
        {back}
        <Card>
          <ErrorState error={query.error ?? new Error("not a promotion id")} onRetry={() => void query.refetch()} />
        </Card>
      </>
    );
  }
  if (query.isPending || !p) {
    return (
      <>
        {back}
        <Card className="p-6">
          <div aria-busy="true" aria-label="Loading" className="space-y-3">
            <Skeleton className="h-6 w-72" />
            <Skeleton className="h-4 w-96" />
          </div>
        </Card>
      </>
    );
  }

  const draft = p.status === PromotionStatus.DRAFT;
  return (
    <>
      {back}
      <Card className="mb-4">
        <div className="flex flex-wrap items-start justify-between gap-4 px-6 py-5">
          <div className="min-w-0">
            <h1 className="flex flex-wrap items-center gap-2 text-xl font-semibold tracking-tight text-zinc-900" data-testid="promotion-title">
              {p.name}
              <span data-testid="promotion-status">
                <StatusBadge promotion={p} />
              </span>
            </h1>
            <p className="mt-1 flex flex-wrap items-center gap-x-2 text-[13px] text-zinc-500">
              <span className="font-medium text-zinc-700">{describeBenefit(p.type, p.value, p.addon)}</span>
              <span aria-hidden>·</span>
              <span>
                for{" "}
                <Link to={`/cohorts/${p.cohortId}`} className="font-medium text-brand-700 hover:underline">
                  {p.cohortName || `cohort #${p.cohortId}`}
                </Link>
              </span>
              {p.code && (
                <>
                  <span aria-hidden>·</span>
                  <span>
                    code <code className="rounded bg-zinc-100 px-1.5 py-0.5 font-mono text-zinc-800">{p.code}</code>
                  </span>
                </>
              )}
              {p.activatedAt && (
                <>
                  <span aria-hidden>·</span>
                  <Tooltip content={formatDateTime(p.activatedAt)}>
                    <span>activated {formatRelative(p.activatedAt)}</span>
                  </Tooltip>
                </>
              )}
            </p>
            {p.description && <p className="mt-2 max-w-3xl text-sm text-zinc-600">{p.description}</p>}
          </div>
          <div className="flex flex-wrap gap-2">
            {canActivate && ACTIVATABLE.has(p.status) && (
              <Button variant="primary" icon={<Play className="size-4" />} onClick={() => setDialog("activate")}>
                {draft ? "Activate" : "Reactivate"}
              </Button>
            )}
            {canActivate && RUNNING.has(p.status) && (
              <Button icon={<Pause className="size-4" />} onClick={() => setDialog("deactivate")}>
                Deactivate
              </Button>
            )}
            {canWrite && !FINAL.has(p.status) && (
              <Button icon={<Pencil className="size-4" />} onClick={() => navigate(`/promotions/${p.id}/edit`)}>
                Edit
              </Button>
            )}
            {canWrite && !FINAL.has(p.status) && (
              <Button variant="ghost" className="text-red-600 hover:bg-red-50" icon={draft ? <Trash2 className="size-4" /> : <Archive className="size-4" />} onClick={() => setDialog("delete")}>
                {draft ? "Delete" : "Archive"}
              </Button>
            )}
          </div>
        </div>
        {p.statusReason && (
          <div className="px-6 pb-5">
            <Alert tone={RUNNING.has(p.status) ? "info" : "warning"}>{p.statusReason}</Alert>
          </div>
        )}
      </Card>

      <div className="space-y-4">
        {showEstimate && <EstimateCard query={estimate} />}
        {!draft && <StatsSection promotion={p} />}
        <div className="grid items-start gap-4 lg:grid-cols-[minmax(0,2fr)_minmax(0,1fr)]">
          {draft ? (
            <Card className="p-6 text-[13px] text-zinc-500">
              <p className="font-medium text-zinc-800">Not active yet</p>
              <p className="mt-1">Redemptions and statistics appear once the promotion is activated. Eligibility and codes are then published to Redis for the marketplace's services.</p>
            </Card>
          ) : (
            <RedemptionsCard promotionId={p.id} />
          )}
          <SettingsCard p={p} />
        </div>
      </div>

      <ConfirmDialog
        open={dialog === "activate"}
        onClose={() => setDialog(null)}
        destructive={false}
        title={`Activate “${p.name}”?`}
        description={
          p.startsAt
            ? `Its audience can redeem it from ${formatDateTime(p.startsAt)} (at once if that has passed): eligibility and codes are published to the marketplace's services.`
            : "Its audience can redeem it at once: eligibility and codes are published to the marketplace's services."
        }
        confirmLabel={draft ? "Activate" : "Reactivate"}
        onConfirm={async () => {
          const res = await activate.mutateAsync({ id: p.id });
          const status = res.promotion?.status;
          toast("success", status === PromotionStatus.SCHEDULED ? "Promotion scheduled" : "Promotion active", res.promotion ? `${formatNumber(res.promotion.audienceSize)} users in the audience.` : undefined);
        }}
      >
        {estimate.isPending ? (
          <p className="flex items-center gap-2 text-[13px] text-zinc-500">
            <Spinner /> Estimating the audience…
          </p>
        ) : estimate.data ? (
          <div className="rounded-lg bg-zinc-50 px-3 py-2.5 text-[13px] text-zinc-700 ring-1 ring-zinc-200 ring-inset">
            <p>
              <span className="font-semibold text-zinc-900">{formatNumber(estimate.data.audienceSize)}</span> users eligible
              {estimate.data.expectedRedemptions !== undefined && (
                <>
                  , about <span className="font-semibold text-zinc-900">{formatNumber(estimate.data.expectedRedemptions)}</span> redemptions expected
                </>
              )}
              .
            </p>
            {estimate.data.conflicts.length > 0 && (
              <p className="mt-1 text-amber-800">Overlaps with {estimate.data.conflicts.length} running promotion{estimate.data.conflicts.length === 1 ? "" : "s"}.</p>
            )}
          </div>
        ) : null}
      </ConfirmDialog>

      <ConfirmDialog
        open={dialog === "deactivate"}
        onClose={() => {
          setDialog(null);
          setReason("");
        }}
        title={`Deactivate “${p.name}”?`}
        description="Redemptions stop at once and the marketplace's services are told. You can activate it again later."
        confirmLabel="Deactivate"
        onConfirm={async () => {
          await deactivate.mutateAsync({ id: p.id, reason: reason.trim() });
          toast("success", "Promotion paused", p.name);
          setReason("");
        }}
      >
        <TextAreaField label="Reason (optional)" rows={2} value={reason} onChange={(e) => setReason(e.target.value)} hint="Shown as the promotion's status and kept in the audit log." />
      </ConfirmDialog>

      <ConfirmDialog
        open={dialog === "delete"}
        onClose={() => setDialog(null)}
        title={draft ? "Delete this draft for good?" : `Archive “${p.name}”?`}
        description={
          draft
            ? "The draft is removed. This can't be undone."
            : `${RUNNING.has(p.status) ? "It is deactivated first, then" : "It is"} archived with its redemptions, and can't be activated again.`
        }
        confirmLabel={draft ? "Delete draft" : "Archive"}
        onConfirm={async () => {
          const res = await remove.mutateAsync({ id: p.id });
          if (res.deleted) {
            toast("success", "Draft deleted", p.name);
            navigate("/promotions");
          } else {
            toast("success", "Promotion archived", p.name);
          }
        }}
      />
    </>
  );
}
