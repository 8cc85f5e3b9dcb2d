//! Queries on `cdp.promotions` for PromotionService, run on the caller's transaction (RLS).

use super::{
    PromotionError,
    model::{PromotionRow, Status},
    schema::{cohorts as c, promotion_audience as a, promotions as p},
};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::collections::HashMap;

pub async fn find(conn: &mut AsyncPgConnection, id: i64) -> Result<PromotionRow, PromotionError> {
    p::table.find(id).select(PromotionRow::as_select()).first(conn).await.optional()?.ok_or_else(|| not_found(id))
}

pub async fn find_for_update(conn: &mut AsyncPgConnection, id: i64) -> Result<PromotionRow, PromotionError> {
    p::table.find(id).select(PromotionRow::as_select()).for_update().first(conn).await.optional()?.ok_or_else(|| not_found(id))
}

pub fn not_found(id: i64) -> PromotionError {
    PromotionError::NotFound(format!("no promotion with id {id}"))
}

/// Names of the given cohorts (deleted ones included: a promotion keeps its cohort).
pub async fn cohort_names(conn: &mut AsyncPgConnection, ids: impl IntoIterator<Item = i64>) -> Result<HashMap<i64, String>, PromotionError> {
    let ids: Vec<i64> = ids.into_iter().collect();
    let rows: Vec<(i64, String)> = c::table.filter(c::id.eq_any(ids)).select((c::id, c::name)).load(conn).await?;
    Ok(rows.into_iter().collect())
}

/// The cohort a promotion may target: it exists and is not deleted.
pub async fn ensure_cohort(conn: &mut AsyncPgConnection, cohort_id: i64) -> Result<String, PromotionError> {
    c::table
        .filter(c::id.eq(cohort_id))
        .filter(c::deleted_at.is_null())
        .select(c::name)
        .first(conn)
        .await
        .optional()?
        .ok_or(PromotionError::CohortNotFound(cohort_id))
}

/// Refuses a shared code held by another promotion that is not archived, or by a user of a
/// unique-code promotion. (The unique index settles races; see `lifecycle::code_taken`.)
pub async fn ensure_code_free(conn: &mut AsyncPgConnection, code: &str, except: Option<i64>) -> Result<(), PromotionError> {
    let shared: i64 = p::table
        .filter(p::code.eq(code))
        .filter(p::status.ne(Status::Archived.as_str()))
        .filter(p::id.ne(except.unwrap_or(0)))
        .select(count_star())
        .first(conn)
        .await?;
    let unique: i64 = a::table.filter(a::code.eq(code)).select(count_star()).first(conn).await?;
    if shared + unique > 0 {
        return Err(PromotionError::CodeTaken(code.to_string()));
    }
    Ok(())
}

/// Filters of ListPromotions.
pub struct ListFilter {
    /// Empty: every status but archived.
    pub statuses: Vec<Status>,
    pub cohort_id: Option<i64>,
    pub search: Option<String>,
}

/// One page of promotions, newest first, after the id `after`, plus the total matching.
pub async fn list(conn: &mut AsyncPgConnection, filter: &ListFilter, after: Option<i64>, limit: i64) -> Result<(Vec<PromotionRow>, i64), PromotionError> {
    let filtered = || {
        let mut query = p::table.into_boxed();
        query = if filter.statuses.is_empty() {
            query.filter(p::status.ne(Status::Archived.as_str()))
        } else {
            query.filter(p::status.eq_any(filter.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>()))
        };
        if let Some(cohort) = filter.cohort_id {
            query = query.filter(p::cohort_id.eq(cohort));
        }
        if let Some(search) = &filter.search {
            let pattern = format!("%{}%", search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            query = query.filter(p::name.ilike(pattern.clone()).or(p::code.ilike(pattern)));
        }
        query
    };
    let total: i64 = filtered().select(count_star()).first(conn).await?;
    let mut page = filtered().select(PromotionRow::as_select()).order(p::id.desc()).limit(limit + 1);
    if let Some(after) = after {
        page = page.filter(p::id.lt(after));
    }
    let rows = page.load(conn).await?;
    Ok((rows, total))
}
