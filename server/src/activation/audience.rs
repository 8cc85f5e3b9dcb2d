//! A promotion's audience in PostgreSQL (`cdp.promotion_audience`), the source its Redis
//! eligibility bitmap is rebuilt from: the cohort's members frozen when the promotion starts,
//! or, for a live audience, brought in step with the cohort at each refresh (leavers are
//! marked, not deleted: what they redeemed stays). Unique codes are generated here.

use crate::promotions::model::{Audience, CodeMode, PromotionRow};
use diesel::{
    sql_query,
    sql_types::{BigInt, Bool},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// Brings the audience of `promotion` in step with its cohort (the caller holds the
/// promotion's row lock): a frozen audience is taken once, a live one on every call. Returns
/// the audience size. Idempotent, so a job that dies half-way simply runs it again.
pub async fn sync_with_cohort(conn: &mut AsyncPgConnection, promotion: &PromotionRow) -> diesel::QueryResult<i64> {
    let live = promotion.audience() == Audience::Live;
    if live || promotion.audience_frozen_at.is_none() {
        // 64 random bits per code (hex of a hash of a random UUID): collisions among a million
        // codes have a chance of about 3e-8; one would fail this statement and the job retries.
        sql_query(
            "INSERT INTO cdp.promotion_audience (promotion_id, user_id, code) \
             SELECT $1, m.user_id, CASE WHEN $3 THEN upper(left(md5(gen_random_uuid()::text), 16)) END \
             FROM cdp.cohort_members m WHERE m.cohort_id = $2 \
             ON CONFLICT (promotion_id, user_id) DO UPDATE SET removed_at = NULL, added_at = now() \
             WHERE cdp.promotion_audience.removed_at IS NOT NULL",
        )
        .bind::<BigInt, _>(promotion.id)
        .bind::<BigInt, _>(promotion.cohort_id)
        .bind::<Bool, _>(promotion.code_mode() == CodeMode::UniquePerUser)
        .execute(conn)
        .await?;
    }
    if live {
        sql_query(
            "UPDATE cdp.promotion_audience a SET removed_at = now() \
             WHERE a.promotion_id = $1 AND a.removed_at IS NULL \
               AND NOT EXISTS (SELECT 1 FROM cdp.cohort_members m WHERE m.cohort_id = $2 AND m.user_id = a.user_id)",
        )
        .bind::<BigInt, _>(promotion.id)
        .bind::<BigInt, _>(promotion.cohort_id)
        .execute(conn)
        .await?;
    }
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = BigInt)]
        audience_size: i64,
    }
    let size: Size = sql_query(
        "UPDATE cdp.promotions SET \
           audience_size = (SELECT count(*) FROM cdp.promotion_audience WHERE promotion_id = $1 AND removed_at IS NULL), \
           audience_frozen_at = coalesce(audience_frozen_at, now()), audience_synced_at = now() \
         WHERE id = $1 RETURNING audience_size",
    )
    .bind::<BigInt, _>(promotion.id)
    .get_result(conn)
    .await?;
    Ok(size.audience_size)
}

/// Members of a cohort right now (the prospective audience of a promotion not yet started).
pub async fn cohort_size(conn: &mut AsyncPgConnection, cohort_id: i64) -> diesel::QueryResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Size {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let size: Size = sql_query("SELECT count(*) AS n FROM cdp.cohort_members WHERE cohort_id = $1").bind::<BigInt, _>(cohort_id).get_result(conn).await?;
    Ok(size.n)
}
