// Words and badge colours for the contract's enums (users, cohorts, promotions). Pages never
// print enum numbers or prefixed names.
import type { BadgeTone } from "../components/Badge";
import { CohortKind, CohortRefreshState, SyncStatus, SyncTarget } from "../gen/cdp/v1/cohorts_pb";
import {
  CodeMode,
  PromotionAudience,
  PromotionStatus,
  PromotionType,
  RedemptionStatus,
} from "../gen/cdp/v1/promotions_pb";
import { AccountStatus, LifecycleStage, UserPromotionStatus } from "../gen/cdp/v1/users_pb";

export const LIFECYCLE_LABELS: Record<LifecycleStage, string> = {
  [LifecycleStage.UNSPECIFIED]: "Unknown",
  [LifecycleStage.NEW]: "New",
  [LifecycleStage.ACTIVATED]: "Activated",
  [LifecycleStage.ACTIVE]: "Active",
  [LifecycleStage.ABOUT_TO_CHURN]: "About to churn",
  [LifecycleStage.CHURNED]: "Churned",
  [LifecycleStage.REACTIVATED]: "Reactivated",
  [LifecycleStage.DORMANT]: "Dormant",
};

export const LIFECYCLE_TONES: Record<LifecycleStage, BadgeTone> = {
  [LifecycleStage.UNSPECIFIED]: "neutral",
  [LifecycleStage.NEW]: "blue",
  [LifecycleStage.ACTIVATED]: "brand",
  [LifecycleStage.ACTIVE]: "green",
  [LifecycleStage.ABOUT_TO_CHURN]: "amber",
  [LifecycleStage.CHURNED]: "red",
  [LifecycleStage.REACTIVATED]: "green",
  [LifecycleStage.DORMANT]: "neutral",
};

/** What each stage means (the contract's definitions), for tooltips. */
export const LIFECYCLE_DEFINITIONS: Record<LifecycleStage, string> = {
  [LifecycleStage.UNSPECIFIED]: "No stage computed yet.",
  [LifecycleStage.NEW]: "Account younger than 30 days, no paid listing yet.",
  [LifecycleStage.ACTIVATED]: "First paid listing less than 30 days ago.",
  [LifecycleStage.ACTIVE]: "Active within the churn window (30 days).",
  [LifecycleStage.ABOUT_TO_CHURN]: "Last activity 14 to 29 days ago.",
  [LifecycleStage.CHURNED]: "No activity for 30 days or more.",
  [LifecycleStage.REACTIVATED]: "Active again within the last 30 days after having churned.",
  [LifecycleStage.DORMANT]: "Never active.",
};

export const LIFECYCLE_STAGES: readonly LifecycleStage[] = [
  LifecycleStage.NEW,
  LifecycleStage.ACTIVATED,
  LifecycleStage.ACTIVE,
  LifecycleStage.ABOUT_TO_CHURN,
  LifecycleStage.CHURNED,
  LifecycleStage.REACTIVATED,
  LifecycleStage.DORMANT,
];

export const ACCOUNT_STATUS_LABELS: Record<AccountStatus, string> = {
  [AccountStatus.UNSPECIFIED]: "Active",
  [AccountStatus.ACTIVE]: "Active",
  [AccountStatus.UNDER_REVIEW]: "Under review",
  [AccountStatus.SUSPENDED]: "Suspended",
};

export const ACCOUNT_STATUS_TONES: Record<AccountStatus, BadgeTone> = {
  [AccountStatus.UNSPECIFIED]: "green",
  [AccountStatus.ACTIVE]: "green",
  [AccountStatus.UNDER_REVIEW]: "amber",
  [AccountStatus.SUSPENDED]: "red",
};

export const ACCOUNT_STATUSES: readonly AccountStatus[] = [AccountStatus.ACTIVE, AccountStatus.UNDER_REVIEW, AccountStatus.SUSPENDED];

export const USER_PROMOTION_STATUS_LABELS: Record<UserPromotionStatus, string> = {
  [UserPromotionStatus.UNSPECIFIED]: "Unknown",
  [UserPromotionStatus.ELIGIBLE]: "Eligible",
  [UserPromotionStatus.REDEEMED]: "Redeemed",
};

export const COHORT_KIND_LABELS: Record<CohortKind, string> = {
  [CohortKind.UNSPECIFIED]: "Dynamic",
  [CohortKind.DYNAMIC]: "Dynamic",
  [CohortKind.STATIC]: "Static",
};

export const REFRESH_STATE_LABELS: Record<CohortRefreshState, string> = {
  [CohortRefreshState.UNSPECIFIED]: "Unknown",
  [CohortRefreshState.IDLE]: "Up to date",
  [CohortRefreshState.QUEUED]: "Refresh queued",
  [CohortRefreshState.RUNNING]: "Refreshing",
  [CohortRefreshState.FAILED]: "Refresh failed",
};

export const REFRESH_STATE_TONES: Record<CohortRefreshState, BadgeTone> = {
  [CohortRefreshState.UNSPECIFIED]: "neutral",
  [CohortRefreshState.IDLE]: "green",
  [CohortRefreshState.QUEUED]: "blue",
  [CohortRefreshState.RUNNING]: "blue",
  [CohortRefreshState.FAILED]: "red",
};

export const SYNC_TARGET_LABELS: Record<SyncTarget, string> = {
  [SyncTarget.UNSPECIFIED]: "Unknown",
  [SyncTarget.AMPLITUDE]: "Amplitude",
  [SyncTarget.BRAZE]: "Braze",
};

export const SYNC_STATUS_LABELS: Record<SyncStatus, string> = {
  [SyncStatus.UNSPECIFIED]: "Unknown",
  [SyncStatus.QUEUED]: "Queued",
  [SyncStatus.RUNNING]: "Running",
  [SyncStatus.SUCCEEDED]: "Succeeded",
  [SyncStatus.FAILED]: "Failed",
};

export const SYNC_STATUS_TONES: Record<SyncStatus, BadgeTone> = {
  [SyncStatus.UNSPECIFIED]: "neutral",
  [SyncStatus.QUEUED]: "blue",
  [SyncStatus.RUNNING]: "blue",
  [SyncStatus.SUCCEEDED]: "green",
  [SyncStatus.FAILED]: "red",
};

export const PROMOTION_STATUS_LABELS: Record<PromotionStatus, string> = {
  [PromotionStatus.UNSPECIFIED]: "Unknown",
  [PromotionStatus.DRAFT]: "Draft",
  [PromotionStatus.SCHEDULED]: "Scheduled",
  [PromotionStatus.ACTIVE]: "Active",
  [PromotionStatus.PAUSED]: "Paused",
  [PromotionStatus.EXPIRED]: "Expired",
  [PromotionStatus.ARCHIVED]: "Archived",
};

export const PROMOTION_STATUS_TONES: Record<PromotionStatus, BadgeTone> = {
  [PromotionStatus.UNSPECIFIED]: "neutral",
  [PromotionStatus.DRAFT]: "neutral",
  [PromotionStatus.SCHEDULED]: "blue",
  [PromotionStatus.ACTIVE]: "green",
  [PromotionStatus.PAUSED]: "amber",
  [PromotionStatus.EXPIRED]: "neutral",
  [PromotionStatus.ARCHIVED]: "neutral",
};

/** URL slugs of the promotion status filter (`?status=active`). */
export const PROMOTION_STATUS_SLUGS: Record<string, PromotionStatus> = {
  draft: PromotionStatus.DRAFT,
  scheduled: PromotionStatus.SCHEDULED,
  active: PromotionStatus.ACTIVE,
  paused: PromotionStatus.PAUSED,
  expired: PromotionStatus.EXPIRED,
  archived: PromotionStatus.ARCHIVED,
};

export const PROMOTION_TYPE_LABELS: Record<PromotionType, string> = {
  [PromotionType.UNSPECIFIED]: "Choose a type",
  [PromotionType.BONUS_CREDITS]: "Bonus credits",
  [PromotionType.CREDIT_DISCOUNT_PERCENT]: "Credit discount",
  [PromotionType.FREE_ADDON]: "Free add-on",
  [PromotionType.FREE_LISTING_DAYS]: "Free listing days",
  [PromotionType.OFFER_50]: "50% offer",
  [PromotionType.OFFER_BARAKA]: "Baraka offer",
};

export const PROMOTION_TYPES: readonly PromotionType[] = [
  PromotionType.BONUS_CREDITS,
  PromotionType.CREDIT_DISCOUNT_PERCENT,
  PromotionType.FREE_ADDON,
  PromotionType.FREE_LISTING_DAYS,
  PromotionType.OFFER_50,
  PromotionType.OFFER_BARAKA,
];

/** What `value` means for each type (the contract's Promotion.value). */
export const PROMOTION_VALUE_UNITS: Record<PromotionType, { label: string; unit: string }> = {
  [PromotionType.UNSPECIFIED]: { label: "Value", unit: "" },
  [PromotionType.BONUS_CREDITS]: { label: "Credits granted", unit: "credits" },
  [PromotionType.CREDIT_DISCOUNT_PERCENT]: { label: "Discount", unit: "%" },
  [PromotionType.FREE_ADDON]: { label: "Free uses", unit: "uses" },
  [PromotionType.FREE_LISTING_DAYS]: { label: "Free listing days", unit: "days" },
  [PromotionType.OFFER_50]: { label: "Days the offer applies", unit: "days" },
  [PromotionType.OFFER_BARAKA]: { label: "Days the offer applies", unit: "days" },
};

/** "500 bonus credits", "20% credit discount", "3 free uses of vip". */
export function describeBenefit(type: PromotionType, value: number, addon = ""): string {
  const n = Number.isInteger(value) ? value.toLocaleString() : value.toLocaleString(undefined, { maximumFractionDigits: 2 });
  switch (type) {
    case PromotionType.BONUS_CREDITS:
      return `${n} bonus credits`;
    case PromotionType.CREDIT_DISCOUNT_PERCENT:
      return `${n}% credit discount`;
    case PromotionType.FREE_ADDON:
      return `${n} free ${value === 1 ? "use" : "uses"} of ${addon || "an add-on"}`;
    case PromotionType.FREE_LISTING_DAYS:
      return `${n} free listing ${value === 1 ? "day" : "days"}`;
    case PromotionType.OFFER_50:
      return `50% offer for ${n} ${value === 1 ? "day" : "days"}`;
    case PromotionType.OFFER_BARAKA:
      return `Baraka offer for ${n} ${value === 1 ? "day" : "days"}`;
    default:
      return "—";
  }
}

/** Types whose redemptions grant credits (the credit budget applies to them only). */
export function grantsCredits(type: PromotionType): boolean {
  return type === PromotionType.BONUS_CREDITS || type === PromotionType.CREDIT_DISCOUNT_PERCENT;
}

export const CODE_MODE_LABELS: Record<CodeMode, string> = {
  [CodeMode.UNSPECIFIED]: "Shared code",
  [CodeMode.SHARED]: "Shared code",
  [CodeMode.UNIQUE_PER_USER]: "Unique code per user",
};

export const AUDIENCE_LABELS: Record<PromotionAudience, string> = {
  [PromotionAudience.UNSPECIFIED]: "Frozen",
  [PromotionAudience.FROZEN]: "Frozen",
  [PromotionAudience.LIVE]: "Live",
};

export const REDEMPTION_STATUS_LABELS: Record<RedemptionStatus, string> = {
  [RedemptionStatus.UNSPECIFIED]: "Unknown",
  [RedemptionStatus.REDEEMED]: "Redeemed",
  [RedemptionStatus.REVERTED]: "Reverted",
};
