// The promotion form: what CreatePromotion and UpdatePromotion take (Promotion in
// promotions.proto), the same checks the server makes on it (so the form names a problem
// before the round trip, under the same field paths the server's BadRequest uses), which
// fields a status still allows to change, and the update mask of an edit.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  CodeMode,
  PromotionAudience,
  PromotionStatus,
  PromotionType,
  type Promotion,
  type PromotionSchema,
} from "../../gen/cdp/v1/promotions_pb";
import { fromDateTimeLocal, toDateTimeLocal } from "../../lib/format";
import { grantsCredits } from "../../lib/labels";

export type TtlUnit = "hours" | "days";

export interface PromotionDraft {
  name: string;
  description: string;
  /** Cohort id, decimal; "" until chosen. */
  cohortId: string;
  type: PromotionType;
  value: string;
  addon: string;
  codeMode: CodeMode;
  code: string;
  /** "" or "0": no cap. */
  totalRedemptions: string;
  /** "" or "0": one per user. */
  perUser: string;
  /** "" or "0": no budget. */
  creditBudget: string;
  /** `<input type="datetime-local">` values; "" for none. */
  startsAt: string;
  endsAt: string;
  ttlValue: string;
  ttlUnit: TtlUnit;
  audience: PromotionAudience;
}

export type EditableField =
  | "name"
  | "description"
  | "cohort_id"
  | "type"
  | "value"
  | "addon"
  | "code_mode"
  | "code"
  | "limits"
  | "starts_at"
  | "ends_at"
  | "ttl"
  | "audience";

const ALL_FIELDS: readonly EditableField[] = ["name", "description", "cohort_id", "type", "value", "addon", "code_mode", "code", "limits", "starts_at", "ends_at", "ttl", "audience"];

/** What UpdatePromotion accepts for a promotion in `status` (PROMOTION_NOT_EDITABLE otherwise). */
export function editableFields(status: PromotionStatus | undefined): ReadonlySet<EditableField> {
  switch (status) {
    case undefined:
    case PromotionStatus.UNSPECIFIED:
    case PromotionStatus.DRAFT:
      return new Set(ALL_FIELDS);
    case PromotionStatus.SCHEDULED:
    case PromotionStatus.ACTIVE:
    case PromotionStatus.PAUSED:
      return new Set<EditableField>(["name", "description", "ends_at", "limits"]);
    default:
      return new Set<EditableField>(["name", "description"]);
  }
}

export function emptyPromotionDraft(): PromotionDraft {
  return {
    name: "",
    description: "",
    cohortId: "",
    type: PromotionType.BONUS_CREDITS,
    value: "",
    addon: "",
    codeMode: CodeMode.SHARED,
    code: "",
    totalRedemptions: "",
    perUser: "1",
    creditBudget: "",
    startsAt: "",
    endsAt: "",
    ttlValue: "",
    ttlUnit: "days",
    audience: PromotionAudience.FROZEN,
  };
}

const num = (n: bigint | number) => (n ? String(n) : "");

export function draftOfPromotion(p: Promotion): PromotionDraft {
  const ttl = p.ttl ? Number(p.ttl.seconds) : 0;
  const inDays = ttl > 0 && ttl % 86_400 === 0;
  return {
    name: p.name,
    description: p.description,
    cohortId: p.cohortId ? p.cohortId.toString() : "",
    type: p.type,
    value: p.value ? String(p.value) : "",
    addon: p.addon,
    codeMode: p.codeMode === CodeMode.UNIQUE_PER_USER ? CodeMode.UNIQUE_PER_USER : CodeMode.SHARED,
    code: p.code,
    totalRedemptions: num(p.limits?.totalRedemptions ?? 0n),
    perUser: num(p.limits?.perUser ?? 0) || "1",
    creditBudget: num(p.limits?.creditBudget ?? 0n),
    startsAt: p.startsAt ? toDateTimeLocal(timestampDate(p.startsAt)) : "",
    endsAt: p.endsAt ? toDateTimeLocal(timestampDate(p.endsAt)) : "",
    ttlValue: ttl ? String(inDays ? ttl / 86_400 : ttl / 3_600) : "",
    ttlUnit: inDays || !ttl ? "days" : "hours",
    audience: p.audience === PromotionAudience.LIVE ? PromotionAudience.LIVE : PromotionAudience.FROZEN,
  };
}

export const MAX_NAME_LENGTH = 200;
export const CODE_PATTERN = /^[A-Z0-9-]{4,32}$/;

function wholeNumber(text: string): number | undefined {
  const t = text.trim().replace(/[\s,_]/g, "");
  if (!t) return 0;
  return /^\d+$/.test(t) ? Number(t) : undefined;
}

function decimal(text: string): number | undefined {
  const t = text.trim().replace(/[\s,_]/g, "");
  if (!t) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

export interface ValidationContext {
  /** Kind of each cohort by id: a live audience needs a dynamic cohort. */
  staticCohorts?: ReadonlySet<string>;
  /** Now, for "the window has ended" (tests pass a fixed instant). */
  now?: Date;
  /** Only these fields are checked (what the status still allows to change). */
  editable?: ReadonlySet<EditableField>;
}

/**
 * The server's checks on a promotion, keyed by the field path its BadRequest violations use
 * (`name`, `value`, `limits.per_user`, …), so server and client messages land in one place.
 */
export function validatePromotion(d: PromotionDraft, ctx: ValidationContext = {}): Record<string, string> {
  const errors: Record<string, string> = {};
  const can = (f: EditableField) => !ctx.editable || ctx.editable.has(f);
  const now = ctx.now ?? new Date();

  if (can("name")) {
    if (!d.name.trim()) errors.name = "Give the promotion a name.";
    else if (d.name.trim().length > MAX_NAME_LENGTH) errors.name = `Use at most ${MAX_NAME_LENGTH} characters.`;
  }
  if (can("cohort_id") && !/^\d+$/.test(d.cohortId)) errors.cohort_id = "Choose the cohort whose members get the promotion.";
  if (can("type") && d.type === PromotionType.UNSPECIFIED) errors.type = "Choose what the promotion grants.";

  if (can("value")) {
    const v = decimal(d.value);
    if (v === undefined) errors.value = "Enter a number.";
    else if (v <= 0) errors.value = "Must be more than 0.";
    else if (d.type === PromotionType.CREDIT_DISCOUNT_PERCENT && v > 100) errors.value = "A discount is at most 100%.";
    else if (d.type !== PromotionType.CREDIT_DISCOUNT_PERCENT && !Number.isInteger(v)) {
      errors.value = d.type === PromotionType.BONUS_CREDITS ? "Credits are a whole number." : "Enter a whole number.";
    }
  }
  if (can("addon") && d.type === PromotionType.FREE_ADDON) {
    if (!d.addon.trim()) errors.addon = "Choose the add-on to give.";
    else if (!/^[a-z0-9_]+$/.test(d.addon.trim())) errors.addon = "Use the add-on's slug: lowercase letters, digits and _ (e.g. power_pin).";
  }
  if (can("code") && d.codeMode !== CodeMode.UNIQUE_PER_USER && d.code.trim() && !CODE_PATTERN.test(d.code.trim().toUpperCase())) {
    errors.code = "4 to 32 characters: letters, digits and -.";
  }

  if (can("limits")) {
    const total = wholeNumber(d.totalRedemptions);
    const perUser = wholeNumber(d.perUser);
    const budget = wholeNumber(d.creditBudget);
    if (total === undefined) errors["limits.total_redemptions"] = "Enter a whole number, or leave empty for no cap.";
    if (perUser === undefined) errors["limits.per_user"] = "Enter a whole number (1 when empty).";
    else if (total && perUser > total) errors["limits.per_user"] = "Can't be above the total number of redemptions.";
    if (budget === undefined) errors["limits.credit_budget"] = "Enter a whole number of credits, or leave empty for no budget.";
    else if (budget > 0 && !grantsCredits(d.type)) errors["limits.credit_budget"] = "Only promotions that grant credits have a credit budget.";
  }

  const starts = fromDateTimeLocal(d.startsAt);
  const ends = fromDateTimeLocal(d.endsAt);
  if (can("starts_at") && d.startsAt && !starts) errors.starts_at = "Enter a valid date and time.";
  if (can("ends_at")) {
    if (d.endsAt && !ends) errors.ends_at = "Enter a valid date and time.";
    else if (ends && starts && ends <= starts) errors.ends_at = "Must be after the start.";
    else if (ends && ends <= now) errors.ends_at = "Must be in the future.";
  }
  if (can("ttl")) {
    const ttl = wholeNumber(d.ttlValue);
    if (ttl === undefined) errors.ttl = "Enter a whole number of hours or days.";
  }
  if (can("audience") && d.audience === PromotionAudience.LIVE && ctx.staticCohorts?.has(d.cohortId)) {
    errors.audience = "A live audience follows a dynamic cohort; this cohort is static.";
  }
  return errors;
}

/** The Promotion message of a valid draft (validate first). */
export function promotionMessage(d: PromotionDraft): MessageInitShape<typeof PromotionSchema> {
  const starts = fromDateTimeLocal(d.startsAt);
  const ends = fromDateTimeLocal(d.endsAt);
  const ttl = wholeNumber(d.ttlValue) ?? 0;
  const shared = d.codeMode !== CodeMode.UNIQUE_PER_USER;
  return {
    name: d.name.trim(),
    description: d.description.trim(),
    cohortId: /^\d+$/.test(d.cohortId) ? BigInt(d.cohortId) : 0n,
    type: d.type,
    value: decimal(d.value) ?? 0,
    addon: d.type === PromotionType.FREE_ADDON ? d.addon.trim() : "",
    codeMode: d.codeMode,
    code: shared ? d.code.trim().toUpperCase() : "",
    limits: {
      totalRedemptions: BigInt(wholeNumber(d.totalRedemptions) ?? 0),
      perUser: wholeNumber(d.perUser) ?? 0,
      creditBudget: grantsCredits(d.type) ? BigInt(wholeNumber(d.creditBudget) ?? 0) : 0n,
    },
    startsAt: starts ? timestampFromDate(starts) : undefined,
    endsAt: ends ? timestampFromDate(ends) : undefined,
    ttl: ttl ? { seconds: BigInt(ttl * (d.ttlUnit === "days" ? 86_400 : 3_600)) } : undefined,
    audience: d.audience,
  };
}

/** The mask of an edit: the fields that changed, among those the status allows. */
export function promotionUpdateMask(d: PromotionDraft, saved: PromotionDraft, editable: ReadonlySet<EditableField>): string[] {
  const changed: Record<EditableField, boolean> = {
    name: d.name.trim() !== saved.name,
    description: d.description.trim() !== saved.description,
    cohort_id: d.cohortId !== saved.cohortId,
    type: d.type !== saved.type,
    value: decimal(d.value) !== decimal(saved.value),
    addon: d.addon.trim() !== saved.addon,
    code_mode: d.codeMode !== saved.codeMode,
    code: d.code.trim().toUpperCase() !== saved.code.toUpperCase(),
    limits:
      (wholeNumber(d.totalRedemptions) ?? -1) !== (wholeNumber(saved.totalRedemptions) ?? -1) ||
      (wholeNumber(d.perUser) || 1) !== (wholeNumber(saved.perUser) || 1) ||
      (wholeNumber(d.creditBudget) ?? -1) !== (wholeNumber(saved.creditBudget) ?? -1),
    starts_at: d.startsAt !== saved.startsAt,
    ends_at: d.endsAt !== saved.endsAt,
    ttl: d.ttlValue !== saved.ttlValue || (d.ttlValue !== "" && d.ttlUnit !== saved.ttlUnit),
    audience: d.audience !== saved.audience,
  };
  return ALL_FIELDS.filter((f) => editable.has(f) && changed[f]);
}
