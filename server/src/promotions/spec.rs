//! What a platform user writes of a promotion, checked for consistency: the benefit and its
//! value, the add-on, the code, the limits and the window. Errors name the request field.

use super::{
    PromotionError,
    model::{Audience, BenefitType, CodeMode, PromotionRow},
};
use crate::convert::from_timestamp;
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use rand::Rng;

/// The marketplace's add-ons (the `addon_*` columns of `public.users`).
pub const ADDONS: [&str; 8] = ["pinning", "extended", "promoted", "pinning_shuffle", "premium", "power_pin", "refresh", "vip"];

/// The largest benefit value accepted (credits, uses or days); keeps the Redis arithmetic exact.
const MAX_VALUE: f64 = 1e9;
/// The largest cap or budget accepted.
pub const MAX_LIMIT: i64 = 1_000_000_000_000;
/// The longest TTL accepted.
const MAX_TTL_SECS: i64 = 5 * 366 * 86400;

/// The writable fields of a promotion.
#[derive(Clone, Debug, PartialEq)]
pub struct PromotionSpec {
    pub name: String,
    pub description: String,
    pub cohort_id: i64,
    pub benefit_type: BenefitType,
    pub value: f64,
    pub addon: String,
    pub code_mode: CodeMode,
    /// The shared code; `None` in unique mode, or to generate one.
    pub code: Option<String>,
    pub total_cap: i64,
    pub per_user_cap: i32,
    pub credit_budget: i64,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub ttl_secs: Option<i64>,
    pub audience: Audience,
}

impl PromotionSpec {
    pub fn of(row: &PromotionRow) -> PromotionSpec {
        PromotionSpec {
            name: row.name.clone(),
            description: row.description.clone(),
            cohort_id: row.cohort_id,
            benefit_type: row.benefit_type(),
            value: row.value,
            addon: row.addon.clone(),
            code_mode: row.code_mode(),
            code: row.code.clone(),
            total_cap: row.total_cap,
            per_user_cap: row.per_user_cap,
            credit_budget: row.credit_budget,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            ttl_secs: row.ttl_secs,
            audience: row.audience(),
        }
    }

    /// A new promotion from a create request: every writable field taken.
    pub fn from_proto(p: &pb::Promotion) -> Result<PromotionSpec, PromotionError> {
        let mut spec = PromotionSpec {
            name: String::new(),
            description: String::new(),
            cohort_id: 0,
            benefit_type: BenefitType::BonusCredits,
            value: 0.0,
            addon: String::new(),
            code_mode: CodeMode::Shared,
            code: None,
            total_cap: 0,
            per_user_cap: 1,
            credit_budget: 0,
            starts_at: None,
            ends_at: None,
            ttl_secs: None,
            audience: Audience::Frozen,
        };
        for field in WRITABLE {
            spec.apply(field, p)?;
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Takes the value of the writable `path` (an update mask path) from `p`.
    pub fn apply(&mut self, path: &str, p: &pb::Promotion) -> Result<(), PromotionError> {
        let limits = p.limits.unwrap_or_default();
        match path {
            "name" => self.name = p.name.trim().to_string(),
            "description" => self.description = p.description.trim().to_string(),
            "cohort_id" => self.cohort_id = p.cohort_id,
            "type" => {
                self.benefit_type = BenefitType::from_proto(p.r#type)
                    .ok_or_else(|| PromotionError::invalid("promotion.type", "is required: one of the PromotionType values"))?
            }
            "value" => self.value = p.value,
            "addon" => self.addon = p.addon.trim().to_lowercase(),
            "code_mode" => {
                self.code_mode = CodeMode::from_proto(p.code_mode).ok_or_else(|| PromotionError::invalid("promotion.code_mode", "is not a CodeMode value"))?;
                if self.code_mode == CodeMode::UniquePerUser {
                    self.code = None; // codes are generated per user
                }
            }
            "code" => self.code = Some(p.code.trim().to_uppercase()).filter(|c| !c.is_empty()),
            "limits" => {
                self.apply("limits.total_redemptions", p)?;
                self.apply("limits.per_user", p)?;
                self.apply("limits.credit_budget", p)?;
            }
            "limits.total_redemptions" => self.total_cap = limits.total_redemptions,
            "limits.per_user" => {
                if limits.per_user < 0 {
                    return Err(PromotionError::invalid("promotion.limits.per_user", "must not be negative (0 means 1)"));
                }
                self.per_user_cap = limits.per_user.max(1);
            }
            "limits.credit_budget" => self.credit_budget = limits.credit_budget,
            "starts_at" => {
                self.starts_at = p.starts_at.map(|t| from_timestamp("promotion.starts_at", t)).transpose().map_err(bad_time("promotion.starts_at"))?
            }
            "ends_at" => self.ends_at = p.ends_at.map(|t| from_timestamp("promotion.ends_at", t)).transpose().map_err(bad_time("promotion.ends_at"))?,
            "ttl" => {
                self.ttl_secs = match p.ttl {
                    None => None,
                    Some(d) if d.seconds <= 0 || d.nanos < 0 => return Err(PromotionError::invalid("promotion.ttl", "must be positive")),
                    Some(d) if d.seconds > MAX_TTL_SECS => return Err(PromotionError::invalid("promotion.ttl", "must be at most 5 years")),
                    Some(d) => Some(d.seconds),
                }
            }
            "audience" => {
                self.audience =
                    Audience::from_proto(p.audience).ok_or_else(|| PromotionError::invalid("promotion.audience", "is not a PromotionAudience value"))?
            }
            other => return Err(PromotionError::invalid("update_mask", format!("{other:?} is not a writable field of a promotion"))),
        }
        Ok(())
    }

    /// Checks that the fields fit together, and fills in a shared code when none was given.
    pub fn validate(&mut self) -> Result<(), PromotionError> {
        if self.name.is_empty() || self.name.chars().count() > 120 {
            return Err(PromotionError::invalid("promotion.name", "is required, at most 120 characters"));
        }
        if self.description.chars().count() > 2000 {
            return Err(PromotionError::invalid("promotion.description", "must be at most 2000 characters"));
        }
        if self.cohort_id <= 0 {
            return Err(PromotionError::invalid("promotion.cohort_id", "is required"));
        }
        if !self.value.is_finite() || self.value <= 0.0 || self.value > MAX_VALUE {
            return Err(PromotionError::invalid("promotion.value", "must be a positive number"));
        }
        match self.benefit_type {
            BenefitType::CreditDiscountPercent if self.value > 100.0 => {
                return Err(PromotionError::invalid("promotion.value", "a discount percentage must be at most 100"));
            }
            BenefitType::CreditDiscountPercent => {}
            _ if self.value.fract() != 0.0 => {
                return Err(PromotionError::invalid("promotion.value", format!("must be a whole number for a {} promotion", self.benefit_type.label())));
            }
            _ => {}
        }
        match (self.benefit_type, self.addon.as_str()) {
            (BenefitType::FreeAddon, "") => {
                return Err(PromotionError::invalid("promotion.addon", format!("is required for FREE_ADDON: one of {}", ADDONS.join(", "))));
            }
            (BenefitType::FreeAddon, addon) if !ADDONS.contains(&addon) => {
                return Err(PromotionError::invalid("promotion.addon", format!("{addon:?} is not an add-on: one of {}", ADDONS.join(", "))));
            }
            (BenefitType::FreeAddon, _) | (_, "") => {}
            _ => return Err(PromotionError::invalid("promotion.addon", "applies only to FREE_ADDON")),
        }
        if !(0..=MAX_LIMIT).contains(&self.total_cap) {
            return Err(PromotionError::invalid("promotion.limits.total_redemptions", "must be between 0 (no cap) and 10^12"));
        }
        if !(0..=MAX_LIMIT).contains(&self.credit_budget) {
            return Err(PromotionError::invalid("promotion.limits.credit_budget", "must be between 0 (no budget) and 10^12"));
        }
        if self.credit_budget > 0 && !self.benefit_type.grants_credits() {
            return Err(PromotionError::invalid("promotion.limits.credit_budget", "applies only to BONUS_CREDITS and CREDIT_DISCOUNT_PERCENT"));
        }
        if let (Some(starts), Some(ends)) = (self.starts_at, self.ends_at)
            && ends <= starts
        {
            return Err(PromotionError::invalid("promotion.ends_at", "must be after starts_at"));
        }
        match self.code_mode {
            CodeMode::UniquePerUser if self.code.is_some() => {
                return Err(PromotionError::invalid("promotion.code", "must be empty in UNIQUE_PER_USER mode (codes are generated per user)"));
            }
            CodeMode::UniquePerUser => {}
            CodeMode::Shared => {
                let code = self.code.get_or_insert_with(generate_code);
                let valid = (4..=32).contains(&code.len()) && code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
                if !valid {
                    return Err(PromotionError::invalid("promotion.code", "must be 4 to 32 characters of A-Z, 0-9 and -"));
                }
            }
        }
        Ok(())
    }
}

fn bad_time(field: &'static str) -> impl Fn(tonic::Status) -> PromotionError {
    move |_| PromotionError::invalid(field, "is not a valid timestamp")
}

/// Every writable field, as update mask paths (`limits` may also be named field by field).
pub const WRITABLE: [&str; 13] =
    ["name", "description", "cohort_id", "type", "value", "addon", "code_mode", "code", "limits", "starts_at", "ends_at", "ttl", "audience"];

/// The limits, field by field.
pub const LIMIT_PATHS: [&str; 3] = ["limits.total_redemptions", "limits.per_user", "limits.credit_budget"];

/// Output-only fields: naming one in an update mask is INVALID_ARGUMENT.
pub const OUTPUT_ONLY: [&str; 11] = [
    "id",
    "cohort_name",
    "status",
    "status_reason",
    "audience_size",
    "redeemed_count",
    "credits_granted",
    "created_by",
    "created_at",
    "updated_at",
    "activated_at",
];

/// A readable shared code: 8 characters without look-alikes (no O/0, I/1).
pub fn generate_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..8).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> pb::Promotion {
        pb::Promotion { name: "Welcome back".into(), cohort_id: 1, r#type: pb::PromotionType::BonusCredits as i32, value: 50.0, ..Default::default() }
    }

    #[test]
    fn a_minimal_promotion_gets_defaults_and_a_code() {
        let spec = PromotionSpec::from_proto(&base()).unwrap();
        assert_eq!(spec.per_user_cap, 1);
        assert_eq!(spec.code_mode, CodeMode::Shared);
        assert_eq!(spec.code.as_deref().map(str::len), Some(8));
    }

    #[test]
    fn inconsistent_benefits_name_their_field() {
        let field = |p: pb::Promotion| match PromotionSpec::from_proto(&p) {
            Err(PromotionError::InvalidField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(pb::Promotion { value: 12.5, ..base() }), "promotion.value");
        assert_eq!(field(pb::Promotion { r#type: pb::PromotionType::CreditDiscountPercent as i32, value: 120.0, ..base() }), "promotion.value");
        assert_eq!(field(pb::Promotion { r#type: pb::PromotionType::FreeAddon as i32, value: 1.0, ..base() }), "promotion.addon");
        assert_eq!(field(pb::Promotion { addon: "vip".into(), ..base() }), "promotion.addon");
        assert_eq!(
            field(pb::Promotion {
                r#type: pb::PromotionType::FreeListingDays as i32,
                limits: Some(pb::PromotionLimits { credit_budget: 10, ..Default::default() }),
                ..base()
            }),
            "promotion.limits.credit_budget"
        );
        assert_eq!(field(pb::Promotion { code: "no spaces".into(), ..base() }), "promotion.code");
        assert_eq!(field(pb::Promotion { code_mode: pb::CodeMode::UniquePerUser as i32, code: "ABCD".into(), ..base() }), "promotion.code");
        assert_eq!(field(pb::Promotion { r#type: 0, ..base() }), "promotion.type");
        assert_eq!(field(pb::Promotion { ttl: Some(prost_types::Duration { seconds: -5, nanos: 0 }), ..base() }), "promotion.ttl");
    }

    #[test]
    fn codes_are_normalised_to_upper_case() {
        let spec = PromotionSpec::from_proto(&pb::Promotion { code: " ramadan-50 ".into(), ..base() }).unwrap();
        assert_eq!(spec.code.as_deref(), Some("RAMADAN-50"));
    }
}
