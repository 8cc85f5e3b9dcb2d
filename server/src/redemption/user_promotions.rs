//! ListUserPromotions: what a user can redeem now. Read from PostgreSQL as the calling
//! credential (RLS): running promotions whose audience holds the user, inside their window,
//! with the total cap and budget not spent and uses left for the user; ending soonest first.

use super::RedemptionError;
use crate::{convert::opt_timestamp, db::Db, promotions::model::BenefitType};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{BigInt, Float8, Int4, Nullable, Text, Timestamptz},
};
use diesel_async::RunQueryDsl;

#[derive(QueryableByName)]
struct Available {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Text)]
    benefit_type: String,
    #[diesel(sql_type = Float8)]
    value: f64,
    #[diesel(sql_type = Text)]
    addon: String,
    #[diesel(sql_type = Int4)]
    per_user_cap: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ends_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    used: i64,
}

pub async fn list(db: &Db, claims: &serde_json::Value, user_id: i32) -> Result<Vec<pb::RedeemablePromotion>, RedemptionError> {
    let mut tx = db.begin_as(claims).await?;
    let rows: Vec<Available> = sql_query(
        "SELECT p.id, p.name, p.description, coalesce(a.code, p.code) AS code, p.benefit_type, p.value, p.addon, p.per_user_cap, p.ends_at, \
           (SELECT count(*) FROM cdp.redemptions r WHERE r.promotion_id = p.id AND r.user_id = a.user_id AND r.status = 'redeemed') AS used \
         FROM cdp.promotion_audience a JOIN cdp.promotions p ON p.id = a.promotion_id \
         WHERE a.user_id = $1 AND a.removed_at IS NULL AND p.status = 'active' \
           AND (p.starts_at IS NULL OR p.starts_at <= now()) AND (p.ends_at IS NULL OR p.ends_at > now()) \
           AND (p.total_cap = 0 OR p.redeemed_count < p.total_cap) \
           AND (p.credit_budget = 0 OR p.credit_budget - p.credits_granted >= CASE WHEN p.benefit_type = 'bonus_credits' THEN p.value ELSE 1 END) \
         ORDER BY p.ends_at ASC NULLS LAST, p.id",
    )
    .bind::<Int4, _>(user_id)
    .load(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter(|row| row.used < i64::from(row.per_user_cap))
        .map(|row| {
            let benefit_type = BenefitType::parse(&row.benefit_type).unwrap_or(BenefitType::BonusCredits);
            // A discount's credits depend on the order, so they are 0 here (as documented).
            let credits = if benefit_type == BenefitType::BonusCredits { row.value as i64 } else { 0 };
            pb::RedeemablePromotion {
                promotion_id: row.id,
                name: row.name,
                description: row.description,
                code: row.code,
                benefit: Some(pb::Benefit { r#type: benefit_type.to_proto() as i32, value: row.value, addon: row.addon, credits }),
                per_user_remaining: (i64::from(row.per_user_cap) - row.used) as i32,
                ends_at: opt_timestamp(row.ends_at),
            }
        })
        .collect())
}
