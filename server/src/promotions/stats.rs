//! What a promotion did, from the redemption ledger: its redemptions (ListRedemptions) and its
//! statistics over time with the remaining budget and the pacing (GetPromotionStats).

use super::{
    PromotionError,
    model::{PromotionRow, Status},
    schema::redemptions as r,
    store,
};
use crate::convert::{opt_timestamp, timestamp};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use diesel::{
    dsl::count_star,
    prelude::*,
    sql_query,
    sql_types::{BigInt, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

/// A row of the redemption ledger.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = r)]
pub struct RedemptionRow {
    pub id: i64,
    pub promotion_id: i64,
    pub user_id: i32,
    pub code: String,
    pub service_credential_id: Uuid,
    pub idempotency_key: String,
    pub order_reference: String,
    pub order_credits: Option<i64>,
    pub credits: i64,
    pub status: String,
    pub redeemed_at: DateTime<Utc>,
    pub reverted_at: Option<DateTime<Utc>>,
    pub revert_reason: String,
}

impl RedemptionRow {
    pub fn to_proto(&self, promotion: &PromotionRow) -> pb::Redemption {
        let RedemptionRow {
            id,
            promotion_id,
            user_id,
            code,
            service_credential_id,
            idempotency_key,
            order_reference,
            order_credits: _,
            credits,
            status,
            redeemed_at,
            reverted_at,
            revert_reason,
        } = self;
        pb::Redemption {
            id: *id,
            promotion_id: *promotion_id,
            user_id: i64::from(*user_id),
            code: code.clone(),
            status: if status == "reverted" { pb::RedemptionStatus::Reverted } else { pb::RedemptionStatus::Redeemed } as i32,
            benefit: Some(promotion.benefit(*credits)),
            idempotency_key: idempotency_key.clone(),
            order_reference: order_reference.clone(),
            service_credential_id: service_credential_id.to_string(),
            redeemed_at: Some(timestamp(*redeemed_at)),
            reverted_at: opt_timestamp(*reverted_at),
            revert_reason: revert_reason.clone(),
        }
    }
}

pub struct RedemptionFilter {
    pub user_id: Option<i32>,
    pub status: Option<&'static str>,
}

/// One page of a promotion's redemptions, newest first, and the total matching.
pub async fn list_redemptions(
    conn: &mut AsyncPgConnection,
    promotion_id: i64,
    filter: &RedemptionFilter,
    after: Option<i64>,
    limit: i64,
) -> Result<(PromotionRow, Vec<RedemptionRow>, i64), PromotionError> {
    let promotion = store::find(conn, promotion_id).await?;
    let filtered = || {
        let mut query = r::table.filter(r::promotion_id.eq(promotion_id)).into_boxed();
        if let Some(user) = filter.user_id {
            query = query.filter(r::user_id.eq(user));
        }
        if let Some(status) = filter.status {
            query = query.filter(r::status.eq(status));
        }
        query
    };
    let total: i64 = filtered().select(count_star()).first(conn).await?;
    let mut page = filtered().select(RedemptionRow::as_select()).order(r::id.desc()).limit(limit + 1);
    if let Some(after) = after {
        page = page.filter(r::id.lt(after));
    }
    Ok((promotion, page.load(conn).await?, total))
}

#[derive(QueryableByName)]
struct Totals {
    #[diesel(sql_type = BigInt)]
    redemptions: i64,
    #[diesel(sql_type = BigInt)]
    unique_users: i64,
    #[diesel(sql_type = BigInt)]
    credits: i64,
    #[diesel(sql_type = BigInt)]
    reverted: i64,
    #[diesel(sql_type = BigInt)]
    last_day: i64,
    #[diesel(sql_type = BigInt)]
    last_day_credits: i64,
}

#[derive(QueryableByName)]
struct Bucket {
    #[diesel(sql_type = Timestamptz)]
    bucket_start: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    redemptions: i64,
    #[diesel(sql_type = BigInt)]
    unique_users: i64,
    #[diesel(sql_type = BigInt)]
    credits: i64,
    #[diesel(sql_type = BigInt)]
    reverted: i64,
}

/// The most buckets a series returns (the latest ones).
const MAX_BUCKETS: i64 = 2000;

pub async fn promotion_stats(
    conn: &mut AsyncPgConnection,
    promotion_id: i64,
    hourly: bool,
    tz: chrono_tz::Tz,
) -> Result<pb::GetPromotionStatsResponse, PromotionError> {
    let promotion = store::find(conn, promotion_id).await?;
    let totals: Totals = sql_query(
        "SELECT count(*) FILTER (WHERE status = 'redeemed') AS redemptions, \
                count(DISTINCT user_id) FILTER (WHERE status = 'redeemed') AS unique_users, \
                coalesce(sum(credits) FILTER (WHERE status = 'redeemed'), 0)::int8 AS credits, \
                count(*) FILTER (WHERE status = 'reverted') AS reverted, \
                count(*) FILTER (WHERE status = 'redeemed' AND redeemed_at > now() - interval '24 hours') AS last_day, \
                coalesce(sum(credits) FILTER (WHERE status = 'redeemed' AND redeemed_at > now() - interval '24 hours'), 0)::int8 AS last_day_credits \
         FROM cdp.redemptions WHERE promotion_id = $1",
    )
    .bind::<BigInt, _>(promotion_id)
    .get_result(conn)
    .await?;

    let now = Utc::now();
    let series = match promotion.activated_at {
        None => Vec::new(),
        Some(from) => {
            let until = [promotion.ended_at, promotion.ends_at].into_iter().flatten().fold(now, DateTime::min).max(from);
            // Buckets of the reporting time zone, zero-filled, from activation to now (or the end).
            let unit = if hourly { "hour" } else { "day" };
            let buckets: Vec<Bucket> = sql_query(
                "WITH bounds AS ( \
                   SELECT date_trunc($2, $4 AT TIME ZONE $3) AS hi, \
                          greatest(date_trunc($2, $5 AT TIME ZONE $3), date_trunc($2, $4 AT TIME ZONE $3) - ($6 - 1) * ('1 ' || $2)::interval) AS lo), \
                 buckets AS (SELECT generate_series(lo, hi, ('1 ' || $2)::interval) AS b FROM bounds), \
                 redeemed AS ( \
                   SELECT date_trunc($2, redeemed_at AT TIME ZONE $3) AS b, count(*) AS n, count(DISTINCT user_id) AS u, coalesce(sum(credits), 0)::int8 AS c \
                   FROM cdp.redemptions WHERE promotion_id = $1 AND status = 'redeemed' GROUP BY 1), \
                 reverted AS ( \
                   SELECT date_trunc($2, reverted_at AT TIME ZONE $3) AS b, count(*) AS n \
                   FROM cdp.redemptions WHERE promotion_id = $1 AND reverted_at IS NOT NULL GROUP BY 1) \
                 SELECT buckets.b AT TIME ZONE $3 AS bucket_start, coalesce(redeemed.n, 0) AS redemptions, coalesce(redeemed.u, 0) AS unique_users, \
                        coalesce(redeemed.c, 0) AS credits, coalesce(reverted.n, 0) AS reverted \
                 FROM buckets LEFT JOIN redeemed USING (b) LEFT JOIN reverted USING (b) ORDER BY buckets.b",
            )
            .bind::<BigInt, _>(promotion_id)
            .bind::<Text, _>(unit)
            .bind::<Text, _>(tz.name())
            .bind::<Timestamptz, _>(until)
            .bind::<Timestamptz, _>(from)
            .bind::<BigInt, _>(MAX_BUCKETS)
            .load(conn)
            .await?;
            buckets
                .into_iter()
                .map(|b| pb::PromotionStatsPoint {
                    bucket_start: Some(timestamp(b.bucket_start)),
                    redemptions: b.redemptions,
                    unique_users: b.unique_users,
                    credits_granted: b.credits,
                    reverted: b.reverted,
                })
                .collect()
        }
    };

    let remaining_budget = (promotion.credit_budget > 0).then(|| (promotion.credit_budget - totals.credits).max(0));
    let remaining_redemptions = (promotion.total_cap > 0).then(|| (promotion.total_cap - totals.redemptions).max(0));
    let projected = if promotion.status() == Status::Active {
        projected_exhaustion(now, promotion.ends_at, remaining_budget, totals.last_day_credits, remaining_redemptions, totals.last_day)
            .map(|at| at.with_timezone(&tz).date_naive().format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::GetPromotionStatsResponse {
        redemptions: totals.redemptions,
        unique_users: totals.unique_users,
        credits_granted: totals.credits,
        reverted: totals.reverted,
        audience_size: promotion.audience_size,
        redemption_rate: if promotion.audience_size > 0 { totals.unique_users as f64 / promotion.audience_size as f64 } else { 0.0 },
        remaining_budget,
        remaining_redemptions,
        series,
        projected_exhaustion_date: projected,
    })
}

/// At the pace of the last 24 hours, when the budget or the total cap runs out; `None` when
/// neither does before `ends_at` (or ever).
pub fn projected_exhaustion(
    now: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    remaining_budget: Option<i64>,
    credits_last_day: i64,
    remaining_redemptions: Option<i64>,
    redemptions_last_day: i64,
) -> Option<DateTime<Utc>> {
    let days_left = |remaining: Option<i64>, per_day: i64| match remaining {
        Some(0) => Some(0.0),
        Some(left) if per_day > 0 => Some(left as f64 / per_day as f64),
        _ => None,
    };
    let days = [days_left(remaining_budget, credits_last_day), days_left(remaining_redemptions, redemptions_last_day)]
        .into_iter()
        .flatten()
        .fold(None, |a: Option<f64>, d| Some(a.map_or(d, |a| a.min(d))))?;
    let at = now + chrono::Duration::milliseconds((days * 86_400_000.0).min(1e15) as i64);
    match ends_at {
        Some(end) if at > end => None,
        _ => Some(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_projects_the_earliest_exhaustion_inside_the_window() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z").unwrap().with_timezone(&Utc);
        let day = chrono::Duration::days(1);
        // 1,000 credits left at 250 a day: four days; 10 redemptions left at 1 a day: ten.
        assert_eq!(projected_exhaustion(now, None, Some(1000), 250, Some(10), 1), Some(now + day * 4));
        assert_eq!(projected_exhaustion(now, Some(now + day * 2), Some(1000), 250, None, 0), None);
        assert_eq!(projected_exhaustion(now, None, None, 0, None, 0), None);
        assert_eq!(projected_exhaustion(now, None, Some(1000), 0, None, 5), None);
    }
}
