//! PreviewCohort: an unsaved definition evaluated on the whole user base, nothing stored. Two
//! statements run at the same time, each in its own transaction as the caller (RLS applies):
//! the funnel (count, total, each top-level node alone and cumulated: one scan), and the
//! matching users' sample and overlaps with saved cohorts and running promotions (one scan).

use super::{CohortError, members, store::tune_for_scans};
use crate::{
    auth::principal::Principal,
    conditions::{self, BindValue, Catalogue, CompileOptions, CompiledFilter, Sql},
    config::Config,
    db::Db,
};
use cdp_proto::cdp::v1 as pb;
use diesel::{QueryableByName, sql_types::{BigInt, Text}};
use diesel_async::RunQueryDsl;
use std::time::Instant;

/// Sample users when none is asked for, and the most allowed.
const DEFAULT_SAMPLE: i64 = 20;
const MAX_SAMPLE: i64 = 100;
/// Saved cohorts listed by overlap.
const MAX_COHORT_OVERLAPS: usize = 10;

/// A row of [`matches`]: a sample user, a cohort or a promotion.
#[derive(QueryableByName)]
struct MatchRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    /// A cohort's size, or a promotion's status.
    #[diesel(sql_type = Text)]
    detail: String,
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
    // Two scans at once: the funnel over everyone, and the matching users (sample, overlaps).
    let (funnel, (sample_users, cohort_overlaps, promotion_overlaps)) = tokio::try_join!(
        async {
            let mut tx = db.begin_as(&principal.claims).await?;
            tune_for_scans(&mut tx).await?;
            Ok::<_, CohortError>(conditions::funnel(&mut tx, &filter).await?)
        },
        matches(db, principal, &filter, sample_size, read_pii, config.reporting_tz),
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

/// What the matching users are, in one statement over one scan: a sample (the highest
/// `total_credits_spent` first, users without a value last), the saved cohorts sharing users
/// with them (largest overlap first, at most 10), and the scheduled, active and paused
/// promotions whose audience does (its frozen audience once frozen, else its cohort). The
/// matches are found once and hash-joined to the memberships, rather than every membership
/// looked up in `public.users`.
async fn matches(
    db: &Db,
    principal: &Principal,
    filter: &CompiledFilter,
    sample_size: i64,
    read_pii: bool,
    tz: chrono_tz::Tz,
) -> Result<(Vec<pb::UserSummary>, Vec<pb::CohortOverlap>, Vec<pb::PromotionOverlap>), CohortError> {
    let mut tx = db.begin_as(&principal.claims).await?;
    tune_for_scans(&mut tx).await?;
    let mut sql = Sql::new("WITH matching AS MATERIALIZED (SELECT u.user_id, u.total_credits_spent FROM public.users u");
    sql.push_joins(filter).push(" WHERE ").push_filter(filter).push(
        "), cohort_hits AS MATERIALIZED (SELECT cm.cohort_id, count(*) AS overlap FROM cdp.cohort_members cm \
                                          JOIN matching m ON m.user_id = cm.user_id GROUP BY cm.cohort_id), \
         running AS MATERIALIZED (SELECT p.id, p.name, p.status, p.cohort_id, p.audience_frozen_at IS NOT NULL AS frozen \
                                  FROM cdp.promotions p WHERE p.status IN ('scheduled', 'active', 'paused')), \
         promotion_hits AS (SELECT r.id, count(*) AS overlap FROM running r \
                              JOIN cdp.promotion_audience pa ON pa.promotion_id = r.id AND pa.removed_at IS NULL \
                              JOIN matching m ON m.user_id = pa.user_id WHERE r.frozen GROUP BY r.id \
                            UNION ALL \
                            SELECT r.id, h.overlap FROM running r JOIN cohort_hits h ON h.cohort_id = r.cohort_id WHERE NOT r.frozen) \
         (SELECT 'sample' AS kind, m.user_id::int8 AS id, '' AS name, '' AS detail, coalesce(m.total_credits_spent, -1)::int8 AS overlap \
          FROM matching m ORDER BY m.total_credits_spent DESC NULLS LAST, m.user_id DESC LIMIT ",
    );
    sql.push_bind(BindValue::Int8(sample_size)).push(
        ") UNION ALL \
         SELECT 'cohort', c.id, c.name, c.size::text, h.overlap FROM cohort_hits h JOIN cdp.cohorts c ON c.id = h.cohort_id AND c.deleted_at IS NULL \
         UNION ALL \
         SELECT 'promotion', r.id, r.name, r.status, h.overlap FROM promotion_hits h JOIN running r ON r.id = h.id",
    );
    let rows: Vec<MatchRow> = sql.into_query().load(&mut *tx).await?;

    // Sample rows carry the user's total_credits_spent (-1 when unknown) for their order.
    let mut sample: Vec<&MatchRow> = rows.iter().filter(|r| r.kind == "sample").collect();
    sample.sort_by(|a, b| b.overlap.cmp(&a.overlap).then(b.id.cmp(&a.id)));
    let ids: Vec<i64> = sample.iter().map(|r| r.id).collect();
    let sample_users = members::summaries(&mut tx, &ids, read_pii, tz).await?;
    tx.commit().await?;

    let by_overlap = |a: &&MatchRow, b: &&MatchRow| b.overlap.cmp(&a.overlap).then(a.id.cmp(&b.id));
    let mut cohorts: Vec<&MatchRow> = rows.iter().filter(|r| r.kind == "cohort").collect();
    cohorts.sort_by(by_overlap);
    let mut promotions: Vec<&MatchRow> = rows.iter().filter(|r| r.kind == "promotion").collect();
    promotions.sort_by(by_overlap);
    let cohorts = cohorts
        .into_iter()
        .take(MAX_COHORT_OVERLAPS)
        .map(|r| pb::CohortOverlap { cohort_id: r.id, name: r.name.clone(), size: r.detail.parse().unwrap_or_default(), overlap: r.overlap })
        .collect();
    let promotions = promotions
        .into_iter()
        .map(|r| pb::PromotionOverlap {
            promotion_id: r.id,
            name: r.name.clone(),
            status: crate::promotions::model::Status::parse(&r.detail).map(|s| s.to_proto()).unwrap_or(pb::PromotionStatus::Unspecified) as i32,
            overlap: r.overlap,
        })
        .collect();
    Ok((sample_users, cohorts, promotions))
}
