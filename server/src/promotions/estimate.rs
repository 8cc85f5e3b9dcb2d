//! EstimatePromotion: before launch, the audience a promotion would reach, what past
//! promotions of the same type suggest it would cost, and which running promotions already
//! target the same users.

use super::{
    PromotionError,
    model::{BenefitType, Status},
    store,
};
use crate::{activation::audience::cohort_size, convert::from_timestamp};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{BigInt, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// The outcome of ended promotions of one type.
#[derive(QueryableByName, Debug)]
struct History {
    #[diesel(sql_type = BigInt)]
    promotions: i64,
    #[diesel(sql_type = BigInt)]
    audience: i64,
    #[diesel(sql_type = BigInt)]
    redeemers: i64,
    #[diesel(sql_type = BigInt)]
    redemptions: i64,
    #[diesel(sql_type = BigInt)]
    credits: i64,
}

#[derive(QueryableByName, Debug)]
struct Overlap {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Text)]
    benefit_type: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    window_start: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ends_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    overlapping_users: i64,
}

pub async fn estimate(conn: &mut AsyncPgConnection, input: &pb::Promotion) -> Result<pb::EstimatePromotionResponse, PromotionError> {
    let benefit =
        BenefitType::from_proto(input.r#type).ok_or_else(|| PromotionError::invalid("promotion.type", "is required: one of the PromotionType values"))?;
    if input.cohort_id <= 0 {
        return Err(PromotionError::invalid("promotion.cohort_id", "is required"));
    }
    store::ensure_cohort(conn, input.cohort_id).await?;
    let limits = input.limits.unwrap_or_default();
    let per_user = i64::from(limits.per_user.max(1));
    let audience_size = cohort_size(conn, input.cohort_id).await?;

    // Ended promotions of the same type that reached someone: their share of redeemers, uses
    // per redeemer and credits per redemption.
    let history: History = sql_query(
        "SELECT count(*) AS promotions, coalesce(sum(p.audience_size), 0)::int8 AS audience, \
                coalesce(sum(s.redeemers), 0)::int8 AS redeemers, coalesce(sum(s.redemptions), 0)::int8 AS redemptions, \
                coalesce(sum(s.credits), 0)::int8 AS credits \
         FROM cdp.promotions p \
         CROSS JOIN LATERAL ( \
           SELECT count(DISTINCT user_id) AS redeemers, count(*) AS redemptions, coalesce(sum(credits), 0) AS credits \
           FROM cdp.redemptions r WHERE r.promotion_id = p.id AND r.status = 'redeemed') s \
         WHERE p.benefit_type = $1 AND p.status IN ('expired', 'archived') AND p.activated_at IS NOT NULL \
           AND p.audience_size > 0 AND p.id <> $2",
    )
    .bind::<Text, _>(benefit.as_str())
    .bind::<BigInt, _>(input.id)
    .get_result(conn)
    .await?;

    let mut response = pb::EstimatePromotionResponse { audience_size, similar_promotions: history.promotions as i32, ..Default::default() };
    if history.promotions == 0 {
        response.has_history = false;
        response.explanation = format!(
            "No {} promotion has ended yet, so there is no history to base expected redemptions or cost on; the audience size is the cohort's membership now.",
            benefit.label()
        );
    } else {
        let rate = history.redeemers as f64 / history.audience as f64;
        let per_redeemer = if history.redeemers > 0 { history.redemptions as f64 / history.redeemers as f64 } else { 1.0 };
        let mut redemptions = (audience_size as f64 * rate * per_redeemer).round() as i64;
        let mut notes = Vec::new();
        redemptions = redemptions.min(audience_size * per_user);
        if limits.total_redemptions > 0 && redemptions > limits.total_redemptions {
            redemptions = limits.total_redemptions;
            notes.push(format!("capped by the {}-redemption total cap", limits.total_redemptions));
        }
        let per_redemption = match benefit {
            BenefitType::BonusCredits => input.value.floor(),
            BenefitType::CreditDiscountPercent if history.redemptions > 0 => history.credits as f64 / history.redemptions as f64,
            _ => 0.0,
        };
        let mut credits = (redemptions as f64 * per_redemption).round() as i64;
        if limits.credit_budget > 0 && credits > limits.credit_budget {
            credits = limits.credit_budget;
            notes.push(format!("capped by the {}-credit budget", limits.credit_budget));
        }
        response.has_history = true;
        response.expected_redemption_rate = Some(rate);
        response.expected_redemptions = Some(redemptions);
        response.expected_credits = Some(credits);
        response.explanation = format!(
            "{:.1}% of the audience redeemed in {} past {} promotion{} ({:.2} redemptions per redeemer){}{}",
            rate * 100.0,
            history.promotions,
            benefit.label(),
            if history.promotions == 1 { "" } else { "s" },
            per_redeemer,
            if notes.is_empty() { "" } else { "; " },
            notes.join("; ")
        );
    }

    // Running promotions sharing users with the cohort: from their frozen audience, or from
    // their own cohort while they have none yet (scheduled).
    let overlaps: Vec<Overlap> = sql_query(
        "SELECT p.id, p.name, p.status, p.benefit_type, coalesce(p.starts_at, p.activated_at) AS window_start, p.ends_at, \
           CASE WHEN p.audience_frozen_at IS NOT NULL THEN \
             (SELECT count(*) FROM cdp.promotion_audience a JOIN cdp.cohort_members m ON m.user_id = a.user_id AND m.cohort_id = $1 \
              WHERE a.promotion_id = p.id AND a.removed_at IS NULL) \
           ELSE \
             (SELECT count(*) FROM cdp.cohort_members o JOIN cdp.cohort_members m ON m.user_id = o.user_id AND m.cohort_id = $1 \
              WHERE o.cohort_id = p.cohort_id) \
           END AS overlapping_users \
         FROM cdp.promotions p WHERE p.status IN ('scheduled', 'active', 'paused') AND p.id <> $2 ORDER BY p.id",
    )
    .bind::<BigInt, _>(input.cohort_id)
    .bind::<BigInt, _>(input.id)
    .load(conn)
    .await?;
    let now = Utc::now();
    let starts = input
        .starts_at
        .map(|t| from_timestamp("promotion.starts_at", t))
        .transpose()
        .map_err(|_| PromotionError::invalid("promotion.starts_at", "is not a valid timestamp"))?;
    let ends = input
        .ends_at
        .map(|t| from_timestamp("promotion.ends_at", t))
        .transpose()
        .map_err(|_| PromotionError::invalid("promotion.ends_at", "is not a valid timestamp"))?;
    let start = starts.unwrap_or(now).max(now);
    let end = ends.or_else(|| input.ttl.filter(|d| d.seconds > 0).map(|d| start + chrono::Duration::seconds(d.seconds)));
    response.conflicts = overlaps
        .into_iter()
        .filter(|o| o.overlapping_users > 0)
        .map(|o| {
            let other_start = o.window_start.unwrap_or(now);
            let window_overlaps = end.is_none_or(|e| other_start < e) && o.ends_at.is_none_or(|e| start < e);
            pb::PromotionConflict {
                promotion_id: o.id,
                name: o.name,
                status: Status::parse(&o.status).map(|s| s.to_proto() as i32).unwrap_or_default(),
                r#type: BenefitType::parse(&o.benefit_type).map(|t| t.to_proto() as i32).unwrap_or_default(),
                overlapping_users: o.overlapping_users,
                window_overlaps,
            }
        })
        .collect();
    Ok(response)
}
