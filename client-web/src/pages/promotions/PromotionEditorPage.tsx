import { useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import { skipToken, useMutation, useQuery } from "@connectrpc/connect-query";
import { keepPreviousData } from "@tanstack/react-query";
import { ArrowLeft } from "lucide-react";
import { describeError, type FriendlyError } from "../../api/errors";
import { useInvalidateService } from "../../api/invalidate";
import { Alert } from "../../components/Alert";
import { Card } from "../../components/Card";
import { PageHeader } from "../../components/PageHeader";
import { PageSpinner } from "../../components/Spinner";
import { ErrorState } from "../../components/States";
import { CohortKind, CohortService } from "../../gen/cdp/v1/cohorts_pb";
import { PromotionSchema, PromotionService, PromotionStatus, type Promotion } from "../../gen/cdp/v1/promotions_pb";
import { UserService } from "../../gen/cdp/v1/users_pb";
import { PROMOTION_STATUS_LABELS } from "../../lib/labels";
import { formatNumber } from "../../lib/numbers";
import { useDebounced } from "../../lib/use-debounced";
import { toast } from "../../stores/toast";
import { EstimateCard } from "./EstimateCard";
import {
  draftOfPromotion,
  editableFields,
  emptyPromotionDraft,
  promotionMessage,
  promotionUpdateMask,
  validatePromotion,
  type PromotionDraft,
} from "./promotion-form";
import { PromotionForm, type CohortOption } from "./PromotionForm";

/** Reasons the contract names for a refused promotion, put under the field they concern. */
function withReasonFields(f: FriendlyError): FriendlyError {
  const fields = { ...f.fieldErrors };
  if (f.reason === "CODE_TAKEN") fields.code ??= "Another promotion already uses this code. Choose another, or leave it empty.";
  if (f.reason === "COHORT_NOT_FOUND") fields.cohort_id ??= "This cohort no longer exists.";
  return { ...f, fieldErrors: fields };
}

function Editor({ promotion }: { promotion: Promotion | undefined }) {
  const navigate = useNavigate();
  const invalidate = useInvalidateService(PromotionService);
  const createPromotion = useMutation(PromotionService.method.createPromotion, { onSuccess: invalidate });
  const updatePromotion = useMutation(PromotionService.method.updatePromotion, { onSuccess: invalidate });
  const cohortsQuery = useQuery(CohortService.method.listCohorts, { pageSize: 500 });
  const fields = useQuery(UserService.method.listUserFields, {}, { staleTime: 5 * 60_000 });
  const saved = useMemo(() => (promotion ? draftOfPromotion(promotion) : emptyPromotionDraft()), [promotion]);
  const [draft, setDraft] = useState<PromotionDraft>(saved);
  const [failure, setFailure] = useState<FriendlyError | null>(null);
  const [busy, setBusy] = useState(false);
  const editable = useMemo(() => editableFields(promotion?.status), [promotion?.status]);

  const cohorts: CohortOption[] = (cohortsQuery.data?.cohorts ?? []).map((c) => ({
    id: c.id.toString(),
    name: c.name,
    hint: `${formatNumber(c.size)} users · ${c.kind === CohortKind.STATIC ? "static" : "dynamic"}`,
    isStatic: c.kind === CohortKind.STATIC,
  }));
  if (promotion && draft.cohortId && !cohorts.some((c) => c.id === draft.cohortId)) {
    cohorts.unshift({ id: draft.cohortId, name: promotion.cohortName || `Cohort #${draft.cohortId}`, hint: "deleted or not listed", isStatic: false });
  }
  const addons = fields.data?.fields.find((f) => f.name === "top_extra_addons" || f.name === "favorite_extra_addon")?.values ?? [];

  // The estimate follows the form once the parts it needs are valid.
  const problems = validatePromotion(draft);
  const estimable = !problems.cohort_id && !problems.value && !problems.type && !problems["limits.total_redemptions"] && !problems["limits.credit_budget"];
  const key = estimable ? toJsonString(PromotionSchema, create(PromotionSchema, { ...promotionMessage(draft), id: promotion?.id ?? 0n })) : "";
  const settledKey = useDebounced(key, 500);
  const settled = useMemo(() => (settledKey ? fromJsonString(PromotionSchema, settledKey) : undefined), [settledKey]);
  const estimate = useQuery(PromotionService.method.estimatePromotion, settled ? { promotion: settled } : skipToken, { placeholderData: keepPreviousData, retry: false });

  const submit = async () => {
    setBusy(true);
    setFailure(null);
    try {
      if (!promotion) {
        const res = await createPromotion.mutateAsync({ promotion: promotionMessage(draft) });
        toast("success", "Draft created", "Check the estimate, then activate it when you're ready.");
        navigate(`/promotions/${res.promotion?.id ?? ""}`);
        return;
      }
      const paths = promotionUpdateMask(draft, saved, editable);
      if (paths.length > 0) {
        await updatePromotion.mutateAsync({ promotion: { ...promotionMessage(draft), id: promotion.id }, updateMask: { paths } });
        toast("success", "Promotion saved");
      }
      navigate(`/promotions/${promotion.id}`);
    } catch (err) {
      setFailure(withReasonFields(describeError(err)));
    } finally {
      setBusy(false);
    }
  };

  const limited = promotion && promotion.status !== PromotionStatus.DRAFT;
  return (
    <>
      <PageHeader
        title={promotion ? `Edit “${promotion.name}”` : "New promotion"}
        description={promotion ? undefined : "A promotion starts as a draft: estimate it, then activate it to publish eligibility and codes."}
      />
      {limited && (
        <Alert tone="info" title={`This promotion is ${PROMOTION_STATUS_LABELS[promotion.status].toLowerCase()}`} className="mb-4">
          {editable.has("limits") ? "Only its name, description, end and limits can change now (limits not below what is already used)." : "Only its name and description can change now."}
        </Alert>
      )}
      {cohortsQuery.isError && (
        <Alert tone="error" title="Cohorts could not be loaded" className="mb-4">
          {describeError(cohortsQuery.error).message}
        </Alert>
      )}
      <div className="grid items-start gap-4 lg:grid-cols-[minmax(0,1fr)_360px]">
        <PromotionForm
          draft={draft}
          onChange={setDraft}
          cohorts={cohorts}
          addons={addons}
          editable={promotion ? editable : undefined}
          onSubmit={submit}
          onCancel={() => navigate(promotion ? `/promotions/${promotion.id}` : "/promotions")}
          failure={failure}
          submitLabel={promotion ? "Save changes" : "Create draft"}
          busy={busy}
        />
        <div className="lg:sticky lg:top-24">
          <EstimateCard query={estimable ? estimate : undefined} waitingFor={estimable ? undefined : "Choose a cohort, a type and a value to see the audience and the expected cost."} />
        </div>
      </div>
    </>
  );
}

/** Create a promotion, or edit one (`/promotions/:id/edit`) within what its status allows. */
export function PromotionEditorPage() {
  const { promotionId } = useParams();
  const editing = promotionId !== undefined;
  const valid = !editing || /^\d+$/.test(promotionId);
  const existing = useQuery(PromotionService.method.getPromotion, editing && valid ? { id: BigInt(promotionId) } : skipToken);
  return (
    <>
      <Link to={editing && valid ? `/promotions/${promotionId}` : "/promotions"} className="mb-4 inline-flex items-center gap-1.5 text-[13px] font-medium text-zinc-500 hover:text-zinc-800">
        <ArrowLeft className="size-4" />
        {editing ? "Promotion" : "Promotions"}
      </Link>
      {!valid ? (
        <Card>
          <ErrorState error={new Error("not a promotion id")} />
        </Card>
      ) : editing && existing.isPending ? (
        <PageSpinner label="Loading the promotion" />
      ) : editing && existing.isError ? (
        <Card>
          <ErrorState error={existing.error} onRetry={() => void existing.refetch()} />
        </Card>
      ) : (
        <Editor key={existing.data?.promotion?.id.toString() ?? "new"} promotion={existing.data?.promotion} />
      )}
    </>
  );
}
