//! The promotion as stored (`cdp.promotions`) and its vocabulary: benefit types, statuses,
//! code modes and audiences, with their database spellings and protobuf values.

use super::schema::promotions;
use crate::convert::{opt_timestamp, timestamp};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

/// What a redemption grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenefitType {
    BonusCredits,
    CreditDiscountPercent,
    FreeAddon,
    FreeListingDays,
    Offer50,
    OfferBaraka,
}

impl BenefitType {
    pub fn as_str(self) -> &'static str {
        match self {
            BenefitType::BonusCredits => "bonus_credits",
            BenefitType::CreditDiscountPercent => "credit_discount_percent",
            BenefitType::FreeAddon => "free_addon",
            BenefitType::FreeListingDays => "free_listing_days",
            BenefitType::Offer50 => "offer_50",
            BenefitType::OfferBaraka => "offer_baraka",
        }
    }

    pub fn parse(value: &str) -> Option<BenefitType> {
        [Self::BonusCredits, Self::CreditDiscountPercent, Self::FreeAddon, Self::FreeListingDays, Self::Offer50, Self::OfferBaraka]
            .into_iter()
            .find(|t| t.as_str() == value)
    }

    pub fn from_proto(value: i32) -> Option<BenefitType> {
        use pb::PromotionType as P;
        match P::try_from(value).ok()? {
            P::BonusCredits => Some(Self::BonusCredits),
            P::CreditDiscountPercent => Some(Self::CreditDiscountPercent),
            P::FreeAddon => Some(Self::FreeAddon),
            P::FreeListingDays => Some(Self::FreeListingDays),
            P::Offer50 => Some(Self::Offer50),
            P::OfferBaraka => Some(Self::OfferBaraka),
            P::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::PromotionType {
        use pb::PromotionType as P;
        match self {
            Self::BonusCredits => P::BonusCredits,
            Self::CreditDiscountPercent => P::CreditDiscountPercent,
            Self::FreeAddon => P::FreeAddon,
            Self::FreeListingDays => P::FreeListingDays,
            Self::Offer50 => P::Offer50,
            Self::OfferBaraka => P::OfferBaraka,
        }
    }

    /// Whether redemptions of this type spend credits (and so a credit budget applies).
    pub fn grants_credits(self) -> bool {
        matches!(self, Self::BonusCredits | Self::CreditDiscountPercent)
    }

    /// Words for explanations, e.g. "bonus-credit".
    pub fn label(self) -> &'static str {
        match self {
            Self::BonusCredits => "bonus-credit",
            Self::CreditDiscountPercent => "credit-discount",
            Self::FreeAddon => "free add-on",
            Self::FreeListingDays => "free listing days",
            Self::Offer50 => "50% offer",
            Self::OfferBaraka => "Baraka offer",
        }
    }
}

/// Credits a redemption is worth against the budget: the value for bonus credits, the
/// discount on the order for a percentage (rounded down), nothing otherwise. The Lua
/// reservation script computes the same (`activation::scripts`); this serves estimates.
pub fn credits_for(benefit: BenefitType, value: f64, order_credits: Option<i64>) -> i64 {
    match benefit {
        BenefitType::BonusCredits => value as i64,
        BenefitType::CreditDiscountPercent => order_credits.map(|c| (c as f64 * value / 100.0).floor() as i64).unwrap_or(0),
        _ => 0,
    }
}

/// Lifecycle of a promotion (DESIGN §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Draft,
    Scheduled,
    Active,
    Paused,
    Expired,
    Archived,
}

impl Status {
    pub const ALL: [Status; 6] = [Status::Draft, Status::Scheduled, Status::Active, Status::Paused, Status::Expired, Status::Archived];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Scheduled => "scheduled",
            Status::Active => "active",
            Status::Paused => "paused",
            Status::Expired => "expired",
            Status::Archived => "archived",
        }
    }

    pub fn parse(value: &str) -> Option<Status> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn from_proto(value: i32) -> Option<Status> {
        use pb::PromotionStatus as P;
        match P::try_from(value).ok()? {
            P::Draft => Some(Status::Draft),
            P::Scheduled => Some(Status::Scheduled),
            P::Active => Some(Status::Active),
            P::Paused => Some(Status::Paused),
            P::Expired => Some(Status::Expired),
            P::Archived => Some(Status::Archived),
            P::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::PromotionStatus {
        use pb::PromotionStatus as P;
        match self {
            Status::Draft => P::Draft,
            Status::Scheduled => P::Scheduled,
            Status::Active => P::Active,
            Status::Paused => P::Paused,
            Status::Expired => P::Expired,
            Status::Archived => P::Archived,
        }
    }

    /// Scheduled, active or paused: the promotion has state in Redis.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Scheduled | Status::Active | Status::Paused)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMode {
    Shared,
    UniquePerUser,
}

impl CodeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeMode::Shared => "shared",
            CodeMode::UniquePerUser => "unique_per_user",
        }
    }

    pub fn parse(value: &str) -> Option<CodeMode> {
        [CodeMode::Shared, CodeMode::UniquePerUser].into_iter().find(|m| m.as_str() == value)
    }

    /// Unspecified is SHARED, as the contract documents.
    pub fn from_proto(value: i32) -> Option<CodeMode> {
        match pb::CodeMode::try_from(value).ok()? {
            pb::CodeMode::Unspecified | pb::CodeMode::Shared => Some(CodeMode::Shared),
            pb::CodeMode::UniquePerUser => Some(CodeMode::UniquePerUser),
        }
    }

    pub fn to_proto(self) -> pb::CodeMode {
        match self {
            CodeMode::Shared => pb::CodeMode::Shared,
            CodeMode::UniquePerUser => pb::CodeMode::UniquePerUser,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Frozen,
    Live,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Frozen => "frozen",
            Audience::Live => "live",
        }
    }

    pub fn parse(value: &str) -> Option<Audience> {
        [Audience::Frozen, Audience::Live].into_iter().find(|a| a.as_str() == value)
    }

    /// Unspecified is FROZEN, as the contract documents.
    pub fn from_proto(value: i32) -> Option<Audience> {
        match pb::PromotionAudience::try_from(value).ok()? {
            pb::PromotionAudience::Unspecified | pb::PromotionAudience::Frozen => Some(Audience::Frozen),
            pb::PromotionAudience::Live => Some(Audience::Live),
        }
    }

    pub fn to_proto(self) -> pb::PromotionAudience {
        match self {
            Audience::Frozen => pb::PromotionAudience::Frozen,
            Audience::Live => pb::PromotionAudience::Live,
        }
    }
}

/// A row of `cdp.promotions`.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = promotions)]
pub struct PromotionRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub cohort_id: i64,
    pub benefit_type: String,
    pub value: f64,
    pub addon: String,
    pub code_mode: String,
    pub code: Option<String>,
    pub total_cap: i64,
    pub per_user_cap: i32,
    pub credit_budget: i64,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ttl_secs: Option<i64>,
    pub audience: String,
    pub status: String,
    pub status_reason: String,
    pub audience_size: i64,
    pub redeemed_count: i64,
    pub credits_granted: i64,
    pub redis_generation: i64,
    pub audience_frozen_at: Option<DateTime<Utc>>,
    pub audience_synced_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl PromotionRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Draft)
    }

    pub fn benefit_type(&self) -> BenefitType {
        BenefitType::parse(&self.benefit_type).unwrap_or(BenefitType::BonusCredits)
    }

    pub fn code_mode(&self) -> CodeMode {
        CodeMode::parse(&self.code_mode).unwrap_or(CodeMode::Shared)
    }

    pub fn audience(&self) -> Audience {
        Audience::parse(&self.audience).unwrap_or(Audience::Frozen)
    }

    /// The smallest benefit a redemption can spend: below it the budget is exhausted.
    pub fn min_credits(&self) -> i64 {
        match self.benefit_type() {
            BenefitType::BonusCredits => (self.value as i64).max(1),
            _ => 1,
        }
    }

    /// The benefit of one redemption (`credits` as given, computed by the caller).
    pub fn benefit(&self, credits: i64) -> pb::Benefit {
        pb::Benefit { r#type: self.benefit_type().to_proto() as i32, value: self.value, addon: self.addon.clone(), credits }
    }

    pub fn to_proto(&self, cohort_name: &str) -> pb::Promotion {
        let PromotionRow {
            id,
            name,
            description,
            cohort_id,
            benefit_type: _,
            value,
            addon,
            code_mode: _,
            code,
            total_cap,
            per_user_cap,
            credit_budget,
            starts_at,
            ends_at,
            ttl_secs,
            audience: _,
            status: _,
            status_reason,
            audience_size,
            redeemed_count,
            credits_granted,
            redis_generation: _,
            audience_frozen_at: _,
            audience_synced_at: _,
            created_by,
            created_at,
            updated_at,
            activated_at,
            ended_at: _,
        } = self;
        pb::Promotion {
            id: *id,
            name: name.clone(),
            description: description.clone(),
            cohort_id: *cohort_id,
            cohort_name: cohort_name.to_string(),
            r#type: self.benefit_type().to_proto() as i32,
            value: *value,
            addon: addon.clone(),
            code_mode: self.code_mode().to_proto() as i32,
            code: code.clone().unwrap_or_default(),
            limits: Some(pb::PromotionLimits { total_redemptions: *total_cap, per_user: *per_user_cap, credit_budget: *credit_budget }),
            starts_at: opt_timestamp(*starts_at),
            ends_at: opt_timestamp(*ends_at),
            ttl: ttl_secs.map(|s| prost_types::Duration { seconds: s, nanos: 0 }),
            audience: self.audience().to_proto() as i32,
            status: self.status().to_proto() as i32,
            status_reason: status_reason.clone(),
            audience_size: *audience_size,
            redeemed_count: *redeemed_count,
            credits_granted: *credits_granted,
            created_by: created_by.map(|id| id.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(*created_at)),
            updated_at: Some(timestamp(*updated_at)),
            activated_at: opt_timestamp(*activated_at),
        }
    }

    /// What the audit log records of a promotion.
    pub fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "cohort_id": self.cohort_id,
            "type": self.benefit_type,
            "value": self.value,
            "addon": self.addon,
            "code_mode": self.code_mode,
            "code": self.code,
            "limits": { "total_redemptions": self.total_cap, "per_user": self.per_user_cap, "credit_budget": self.credit_budget },
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "ttl_secs": self.ttl_secs,
            "audience": self.audience,
            "status": self.status,
            "status_reason": self.status_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_follow_the_benefit_type() {
        assert_eq!(credits_for(BenefitType::BonusCredits, 50.0, None), 50);
        assert_eq!(credits_for(BenefitType::CreditDiscountPercent, 15.0, Some(99)), 14);
        assert_eq!(credits_for(BenefitType::CreditDiscountPercent, 15.0, None), 0);
        assert_eq!(credits_for(BenefitType::FreeAddon, 3.0, Some(100)), 0);
    }

    #[test]
    fn vocabularies_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(Status::from_proto(status.to_proto() as i32), Some(status));
        }
        assert_eq!(CodeMode::from_proto(0), Some(CodeMode::Shared));
        assert_eq!(Audience::from_proto(0), Some(Audience::Frozen));
        assert_eq!(BenefitType::from_proto(0), None);
    }
}
