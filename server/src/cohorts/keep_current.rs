//! The background pass that keeps the cohort builder's kept sets current between previews. A
//! preview brings the sets it uses up to date itself (cohorts::preview), which after a large
//! write or a reload means scanning whole tables while the builder waits. Every few seconds
//! (`CDP_PREVIEW_KEEP_CURRENT_SECS`) this pass does that work ahead of the next preview, for
//! the scopes previewed in the last [`KEEP_CURRENT_FOR`]: it reads the changes logged since,
//! re-evaluates the conditions in use for the users they changed, and scans again those a
//! change to every user dropped.
//!
//! It reads as the scope's last previewer (row-level security applies as it did to them), and
//! only while that principal still holds exactly the scope's permissions: otherwise the scope
//! is forgotten. A preview that starts while the pass is scanning scans for itself; the pass
//! keeps nothing the scope has moved past (generations, as previews do).

use super::{
    CohortError,
    preview::{self, Sets, Source, Wanted},
    preview_cache::{KEEP_CURRENT_FOR, PreviewCache},
    store::tune_for_scans,
};
use crate::{conditions::Sql, db::Db, metrics::PREVIEW_SETS};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, Text},
};
use diesel_async::RunQueryDsl;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};
use tokio_util::sync::CancellationToken;

#[derive(QueryableByName)]
struct Permissions {
    #[diesel(sql_type = Array<Text>)]
    names: Vec<String>,
}

/// Runs the pass every `every` until `shutdown`.
pub async fn run(db: Db, cache: Arc<PreviewCache>, every: Duration, shutdown: CancellationToken) {
    tracing::info!(every_secs = every.as_secs(), window_secs = KEEP_CURRENT_FOR.as_secs(), "keeping previews' condition sets current");
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        for (scope, claims) in cache.active_scopes() {
            if let Err(error) = keep_scope_current(&db, &cache, &scope, &claims).await {
                tracing::warn!(%error, "keeping a preview scope current failed; previews will catch up themselves");
            }
        }
    }
}

/// One scope: catch up to now as its last previewer, then re-evaluate and rescan what is stale.
async fn keep_scope_current(db: &Db, cache: &PreviewCache, scope: &str, claims: &serde_json::Value) -> Result<(), CohortError> {
    let (mut tx, generation) = preview::begin_caught_up(db, cache, scope, claims).await?;
    // The scope is the previewer's permission set, so what they may see: keep nothing read as
    // them unless it still is (a suspended user or a changed role forgets the scope).
    let held: BTreeSet<String> = sql_query("SELECT coalesce(array_agg(p.name), '{}') AS names FROM cdp.permissions p WHERE cdp.has_permission(p.name)")
        .get_result::<Permissions>(&mut *tx)
        .await?
        .names
        .into_iter()
        .collect();
    if held.into_iter().collect::<Vec<_>>().join(",") != scope {
        cache.forget(scope);
        return Ok(());
    }

    let stale = cache.stale(scope, generation);
    if stale.pending.is_empty() && stale.dropped.is_empty() {
        return Ok(tx.commit().await?);
    }
    tune_for_scans(&mut tx).await?;
    let sets = Sets { cache, scope: scope.to_string(), generation, background: true };
    let wanted: Vec<Wanted> = stale.pending.iter().map(|(key, query)| Wanted { key, sql: &query.sql, joins: &query.joins }).collect();
    sets.kept(&mut tx, &wanted).await?;
    // Dropped conditions: one scan of the users per set of joins (a condition on one joined
    // table has the same matches over the users joined to it as read alone).
    let mut by_joins: BTreeMap<&BTreeSet<_>, Vec<usize>> = BTreeMap::new();
    for (i, (_, query)) in stale.dropped.iter().enumerate() {
        by_joins.entry(&query.joins).or_default().push(i);
    }
    for (joins, indices) in by_joins {
        let nodes: Vec<&Sql> = indices.iter().map(|i| &stale.dropped[*i].1.sql).collect();
        let found = preview::evaluate(&mut tx, &nodes, &Source::Users(joins.clone())).await?;
        for (i, set) in indices.into_iter().zip(found) {
            if cache.restore(scope, generation, &stale.dropped[i].0, Arc::new(set)) {
                PREVIEW_SETS.with_label_values(&["background_scanned"]).inc();
            }
        }
    }
    Ok(tx.commit().await?)
}
