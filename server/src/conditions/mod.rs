//! The condition engine shared by the user explorer (`ListUsers.filter`), cohorts
//! (definitions, previews, refreshes) and dashboard drill-downs: the field catalogue
//! (`ListUserFields`) and the compiler that turns a `cdp.v1.ConditionGroup` into ONE
//! parameterised SQL boolean expression over `public.users u` (DESIGN §5).
//!
//! # Public API (what other capabilities build on)
//!
//! ```ignore
//! use crate::conditions::{self, Catalogue, CompileOptions, Sql};
//!
//! // 1. Compile a tree. Field names come only from the catalogue; every value becomes a bind.
//! let options = CompileOptions::now("definition", config.reporting_tz); // today in CDP_REPORTING_TZ
//! let filter = conditions::compile(Catalogue::standard(), &group, &options)?; // ConditionError -> INVALID_ARGUMENT
//! conditions::check_references(&mut tx, &filter).await?; // cohorts / Amplitude imports exist
//!
//! // 2. Use it in any query: `Sql` numbers the placeholders itself, so fragments compose.
//! let mut sql = Sql::new("INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT ");
//! sql.push_bind(BindValue::Int8(cohort_id)).push(", u.user_id FROM public.users u");
//! sql.push_joins(&filter).push(" WHERE ").push_filter(&filter);
//! sql.into_query().execute(&mut tx).await?;          // a diesel BoxedSqlQuery
//!
//! // Or bind a rendered fragment yourself: `let (text, binds) = sql.render();` then
//! // `conditions::bind_all(diesel::sql_query(text).into_boxed(), binds)`.
//!
//! // 3. Counts: `count_matching` (one count) and `funnel` (matching / cumulative count of each
//! //    top-level node plus the total, all in ONE scan) for PreviewCohort.
//! let funnel = conditions::funnel(&mut tx, &filter).await?;
//! ```
//!
//! - [`compile`] validates the whole tree (depth ≤ [`MAX_DEPTH`], ≤ [`MAX_CONDITIONS`]
//!   conditions, field known, operator allowed for the field, value of the right kind) and
//!   names the bad node in the error path, e.g. `definition.nodes[2].group.nodes[0].condition.value`.
//! - [`CompiledFilter`] carries the predicate, the LEFT JOINs it needs ([`Join`]: aliases `a`
//!   = `cdp.user_attributes`, `s` = `cdp.user_stats`, `i` = `cdp.identities`), the per-node
//!   predicates and labels of the top-level nodes (funnels), and the cohorts it refers to
//!   ([`CompiledFilter::cohort_ids`], [`CompiledFilter::amplitude_cohort_ids`]) for reference
//!   checks and "cohort used by" guards.
//! - Days ("within the last N days", a `date` value) are calendar days in the reporting time
//!   zone: `timestamp without time zone` columns already hold reporting-zone wall time, and
//!   instants (`Value.timestamp`) are converted to it.
//! - Semantics of nulls: a comparison never matches a null field (use IS_NOT_SET), except
//!   CONTAINS_NONE, NOT_IN_COHORT and NOT_IN_AMPLITUDE_COHORT, where "no list" or "no
//!   membership" contains none of the values.

mod catalogue;
mod compiler;
mod sql;

pub use catalogue::{Catalogue, Field, FieldType, Join, Storage};
pub use compiler::{CompileOptions, CompiledFilter, MAX_CONDITIONS, MAX_DEPTH, compile};
pub use sql::{BindValue, Sql, bind_all};

use diesel::{
    QueryableByName,
    sql_types::{Array, BigInt, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

/// A tree that cannot be compiled: INVALID_ARGUMENT with a field violation naming the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConditionError {
    /// Path of the bad node or value, e.g. `filter.nodes[1].condition.operator`.
    pub path: String,
    pub reason: String,
}

impl ConditionError {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConditionError { path: path.into(), reason: reason.into() }
    }
}

impl From<ConditionError> for tonic::Status {
    fn from(err: ConditionError) -> Self {
        crate::error::invalid_field(&err.path, err.reason)
    }
}

/// A failure of [`check_references`]: a bad reference, or the database.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error(transparent)]
    Invalid(#[from] ConditionError),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

impl From<ReferenceError> for tonic::Status {
    fn from(err: ReferenceError) -> Self {
        match err {
            ReferenceError::Invalid(err) => err.into(),
            ReferenceError::Db(err) => crate::error::internal(err),
        }
    }
}

#[derive(QueryableByName)]
struct FoundText {
    #[diesel(sql_type = Text)]
    value: String,
}

/// Checks that every cohort the filter names exists (and is not deleted) and that every
/// Amplitude cohort it names has been imported; INVALID_ARGUMENT naming the node otherwise.
/// Runs through RLS on `conn` (the caller needs `cohorts.read` to see cohorts).
pub async fn check_references(conn: &mut AsyncPgConnection, filter: &CompiledFilter) -> Result<(), ReferenceError> {
    if !filter.cohort_refs.is_empty() {
        let ids: Vec<i64> = filter.cohort_refs.iter().map(|r| r.1).collect();
        let found: Vec<FoundText> = diesel::sql_query("SELECT id::text AS value FROM cdp.cohorts WHERE id = ANY($1) AND deleted_at IS NULL")
            .bind::<Array<BigInt>, _>(&ids)
            .load(conn)
            .await?;
        for (path, id) in &filter.cohort_refs {
            if !found.iter().any(|f| f.value == id.to_string()) {
                return Err(ConditionError::new(path.clone(), format!("there is no cohort with id {id}")).into());
            }
        }
    }
    if !filter.amplitude_refs.is_empty() {
        let ids: Vec<String> = filter.amplitude_refs.iter().map(|r| r.1.clone()).collect();
        let found: Vec<FoundText> = diesel::sql_query(
            "SELECT DISTINCT amplitude_cohort_id AS value FROM cdp.cohorts \
             WHERE source = 'amplitude_import' AND amplitude_cohort_id = ANY($1) AND deleted_at IS NULL",
        )
        .bind::<Array<Text>, _>(&ids)
        .load(conn)
        .await?;
        for (path, id) in &filter.amplitude_refs {
            if !found.iter().any(|f| &f.value == id) {
                return Err(ConditionError::new(
                    path.clone(),
                    format!("the Amplitude cohort {id:?} has not been imported; import it with CohortService.ImportAmplitudeCohort first"),
                )
                .into());
            }
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Number of users matching `filter` (an exact count; one scan at worst).
pub async fn count_matching(conn: &mut AsyncPgConnection, filter: &CompiledFilter) -> diesel::QueryResult<i64> {
    let mut sql = Sql::new("SELECT count(*) AS n FROM public.users u");
    sql.push_joins(filter).push(" WHERE ").push_filter(filter);
    Ok(sql.into_query().get_result::<Counted>(conn).await?.n)
}

/// One step of a funnel over the top-level nodes of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStep {
    /// Index of the node in the group's `nodes`.
    pub node_index: usize,
    /// Human-readable form of the node, e.g. `total_credits_spent > 100`.
    pub label: String,
    /// Users matching this node alone.
    pub matching: i64,
    /// Users matching nodes 0..=node_index combined with the group's combinator.
    pub cumulative: i64,
}

/// Counts of a whole filter and of each of its top-level nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funnel {
    /// Every user (for shares).
    pub total_users: i64,
    /// Users matching the whole filter.
    pub matching: i64,
    pub steps: Vec<FunnelStep>,
}

#[derive(QueryableByName)]
struct FunnelRow {
    #[diesel(sql_type = BigInt)]
    total_users: i64,
    #[diesel(sql_type = BigInt)]
    matching: i64,
    #[diesel(sql_type = Array<BigInt>)]
    step_matching: Vec<i64>,
    #[diesel(sql_type = Array<BigInt>)]
    step_cumulative: Vec<i64>,
}

/// The funnel of `filter` in one scan: each top-level node is evaluated once per user as a
/// boolean column, then counted alone and cumulatively (AND: what remains; OR: what has
/// been gathered).
pub async fn funnel(conn: &mut AsyncPgConnection, filter: &CompiledFilter) -> diesel::QueryResult<Funnel> {
    let row: FunnelRow = filter.funnel_query().into_query().get_result(conn).await?;
    let steps = filter
        .top_level_labels()
        .iter()
        .enumerate()
        .map(|(i, label)| FunnelStep {
            node_index: i,
            label: label.clone(),
            matching: row.step_matching.get(i).copied().unwrap_or_default(),
            cumulative: row.step_cumulative.get(i).copied().unwrap_or_default(),
        })
        .collect();
    Ok(Funnel { total_users: row.total_users, matching: row.matching, steps })
}
