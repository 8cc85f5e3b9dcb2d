//! PreviewCohort: an unsaved definition evaluated on the whole user base, nothing stored. The
//! funnel (count, total and each top-level node alone and cumulated: one scan), a sample of
//! the best customers, and the overlaps with saved cohorts and running promotions run at the
//! same time, each in its own read-only transaction as the caller (RLS applies).

use super::{CohortError, members};
use crate::{
    auth::principal::Principal,
    conditions::{self, BindValue, Catalogue, CompileOptions, CompiledFilter, Sql},
    config::Config,
    db::Db,
};
use cdp_proto::cdp::v1 as pb;
use diesel::{QueryableByName, sql_types::{BigInt, Integer, Text}};
use diesel_async::RunQueryDsl;
use std::time::Instant;

/// Sample users when none is asked for, and the most allowed.
const DEFAULT_SAMPLE: i64 = 20;
const MAX_SAMPLE: i64 = 100;
/// Saved cohorts listed by overlap.
const MAX_COHORT_OVERLAPS: i64 = 10;

#[derive(QueryableByName)]
struct SampleId {
    #[diesel(sql_type = Integer)]
    user_id: i32,
}

#[derive(QueryableByName)]
struct CohortOverlapRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = BigInt)]
    overlap: i64,
}

#[derive(QueryableByName)]
struct PromotionOverlapRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    overlap: i64,
}

pub async fn preview(db: &Db, config: &Config, principal: &Principal, request: pb::PreviewCohortRequest) -> Result<pb::PreviewCohortResponse, CohortError> {
    let started = Instant::now();
    let pb::PreviewCohortRequest { definition, sample_size } = request;
    let definition = definition.ok_or_else(|| CohortError::invalid("definition", "is required"))?;
    let sample_size = match sample_size {
        n if n < 0 => return Err(CohortError::invalid("sample_size", "must not be negative")),
        0 => DEFAULT_SAMPLE,
        n => (n as i64).min(MAX_SAMPLE),
    };
    let read_pii = principal.has("users.read_pii");
    let options = CompileOptions::now("definition", config.reporting_tz).allow_pii(read_pii);
    let filter = conditions::compile(Catalogue::standard(), &definition, &options)?;
    {
        let mut tx = db.begin_as(&principal.claims).await?;
        conditions::check_references(&mut tx, &filter).await?;
        tx.commit().await?;
    }
    let (funnel, sample_users, (cohort_overlaps, promotion_overlaps)) = tokio::try_join!(
        async {
            let mut tx = db.begin_as(&principal.claims).await?;
            Ok::<_, CohortError>(conditions::funnel(&mut tx, &filter).await?)
        },
        sample(db, principal, &filter, sample_size, read_pii, config.reporting_tz),
        overlaps(db, principal, &filter),
    )?;
    Ok(pb::PreviewCohortResponse {
        count: funnel.matching,
        total_users: funnel.total_users,
        funnel: funnel
            .steps
            .into_iter()
            .map(|s| pb::PreviewFunnelStep { node_index: s.node_index as i32, label: s.label, matching: s.matching, cumulative: s.cumulative })
            .collect(),
        sample_users,
        cohort_overlaps,
        promotion_overlaps,
        elapsed_ms: started.elapsed().as_millis() as i64,
    })
}

/// The matching users with the highest `total_credits_spent` (users without a value last).
/// Two index-friendly queries rather than one sort of every match.
async fn sample(db: &Db, principal: &Principal, filter: &CompiledFilter, limit: i64, read_pii: bool, tz: chrono_tz::Tz) -> Result<Vec<pb::UserSummary>, CohortError> {
    let mut tx = db.begin_as(&principal.claims).await?;
    let query = |spent: &str, order: &str, limit: i64| {
        let mut sql = Sql::new("SELECT u.user_id FROM public.users u");
        sql.push_joins(filter).push(" WHERE ").push_filter(filter).push(spent).push(order).push(" LIMIT ").push_bind(BindValue::Int8(limit));
        sql
    };
    let mut ids: Vec<SampleId> = query(" AND u.total_credits_spent IS NOT NULL", " ORDER BY u.total_credits_spent DESC, u.user_id DESC", limit).into_query().load(&mut *tx).await?;
    if (ids.len() as i64) < limit {
        let rest: Vec<SampleId> = query(" AND u.total_credits_spent IS NULL", " ORDER BY u.user_id DESC", limit - ids.len() as i64).into_query().load(&mut *tx).await?;
        ids.extend(rest);
    }
    let ids: Vec<i64> = ids.into_iter().map(|r| r.user_id as i64).collect();
    let users = members::summaries(&mut tx, &ids, read_pii, tz).await?;
    tx.commit().await?;
    Ok(users)
}

/// Saved cohorts (largest overlap first, at most 10) and scheduled, active and paused
/// promotions sharing users with the filter. A promotion's audience is its frozen audience
/// once frozen, else its cohort's members.
async fn overlaps(db: &Db, principal: &Principal, filter: &CompiledFilter) -> Result<(Vec<pb::CohortOverlap>, Vec<pb::PromotionOverlap>), CohortError> {
    let mut tx = db.begin_as(&principal.claims).await?;
    let mut cohorts = Sql::new(
        "SELECT c.id, c.name, c.size, count(*) AS overlap FROM cdp.cohort_members cm \
         JOIN cdp.cohorts c ON c.id = cm.cohort_id AND c.deleted_at IS NULL \
         JOIN public.users u ON u.user_id = cm.user_id",
    );
    cohorts.push_joins(filter).push(" WHERE ").push_filter(filter).push(" GROUP BY c.id, c.name, c.size ORDER BY overlap DESC, c.id LIMIT ").push_bind(BindValue::Int8(MAX_COHORT_OVERLAPS));
    let cohort_rows: Vec<CohortOverlapRow> = cohorts.into_query().load(&mut *tx).await?;

    let mut promotions = Sql::new(
        "WITH running AS MATERIALIZED (SELECT p.id, p.name, p.status, p.cohort_id, p.audience_frozen_at IS NOT NULL AS frozen \
                                       FROM cdp.promotions p WHERE p.status IN ('scheduled', 'active', 'paused')), \
         audience AS (SELECT r.id AS promotion_id, pa.user_id FROM running r \
                        JOIN cdp.promotion_audience pa ON pa.promotion_id = r.id AND pa.removed_at IS NULL WHERE r.frozen \
                      UNION ALL \
                      SELECT r.id, cm.user_id FROM running r JOIN cdp.cohort_members cm ON cm.cohort_id = r.cohort_id WHERE NOT r.frozen) \
         SELECT r.id, r.name, r.status, count(*) AS overlap FROM audience aud JOIN running r ON r.id = aud.promotion_id \
         JOIN public.users u ON u.user_id = aud.user_id",
    );
    promotions.push_joins(filter).push(" WHERE ").push_filter(filter).push(" GROUP BY r.id, r.name, r.status ORDER BY overlap DESC, r.id");
    let promotion_rows: Vec<PromotionOverlapRow> = promotions.into_query().load(&mut *tx).await?;
    tx.commit().await?;

    let cohorts = cohort_rows.into_iter().map(|r| pb::CohortOverlap { cohort_id: r.id, name: r.name, size: r.size, overlap: r.overlap }).collect();
    let promotions = promotion_rows
        .into_iter()
        .map(|r| pb::PromotionOverlap {
            promotion_id: r.id,
            name: r.name,
            status: crate::promotions::model::Status::parse(&r.status).map(|s| s.to_proto()).unwrap_or(pb::PromotionStatus::Unspecified) as i32,
            overlap: r.overlap,
        })
        .collect();
    Ok((cohorts, promotions))
}
