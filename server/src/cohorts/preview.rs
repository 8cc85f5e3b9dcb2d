//! PreviewCohort: an unsaved definition evaluated on the whole user base, nothing stored, in
//! one transaction as the caller (row-level security applies). Each top-level node is turned
//! into the set of users it matches; the count, the funnel (each node alone and cumulated), the
//! sample and the overlaps with saved cohorts and running promotions are then set operations.
//! The sets are kept in a [`PreviewCache`], so a builder that edits one condition rescans only
//! that one, and a kept set is re-evaluated only for the users written since, when used.
//! Missing nodes are found in one scan per source: the users (with the joins those nodes need),
//! or one joined table alone for nodes that read nothing else (activity stats).

use super::{
    CohortError, members,
    preview_cache::{self, Basis, Changes, Kept, NodeQuery, PreviewCache},
    store::tune_for_scans,
};
use crate::{
    auth::principal::Principal,
    conditions::{self, Catalogue, CompileOptions, CompiledFilter, Join, Sql},
    config::Config,
    db::{Db, Tx},
    metrics::PREVIEW_SETS,
};
use cdp_proto::cdp::v1 as pb;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use roaring::RoaringBitmap;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
    time::Instant,
};

/// The key of the set of every user (the matches of an empty AND).
const EVERYONE: &str = "everyone";
/// Sample users when none is asked for, and the most allowed.
const DEFAULT_SAMPLE: i64 = 20;
const MAX_SAMPLE: i64 = 100;
/// Saved cohorts listed by overlap.
const MAX_COHORT_OVERLAPS: usize = 10;

#[derive(QueryableByName)]
struct UserId {
    #[diesel(sql_type = Integer)]
    user_id: i32,
}

#[derive(QueryableByName)]
struct NodeWords {
    #[diesel(sql_type = Integer)]
    node: i32,
    #[diesel(sql_type = Nullable<Array<Integer>>)]
    chunks: Option<Vec<i32>>,
    #[diesel(sql_type = Nullable<Array<BigInt>>)]
    words: Option<Vec<i64>>,
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = Text)]
    snapshot: String,
}

/// What `cdp.filter_changes` holds beyond a snapshot.
#[derive(QueryableByName)]
struct ChangeSummary {
    #[diesel(sql_type = Bool)]
    everyone: bool,
    #[diesel(sql_type = Bool)]
    audiences: bool,
    #[diesel(sql_type = Nullable<Array<Integer>>)]
    users: Option<Vec<i32>>,
}

#[derive(QueryableByName)]
struct Hits {
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Array<Bool>)]
    hits: Vec<bool>,
}

#[derive(QueryableByName)]
struct NullHits {
    #[diesel(sql_type = Array<Bool>)]
    hits: Vec<bool>,
}

#[derive(QueryableByName)]
struct GroupIds {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Array<Integer>)]
    ids: Vec<i32>,
}

/// A saved cohort, with what its membership was computed at (its cache stamp).
#[derive(QueryableByName)]
struct SavedCohort {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = BigInt)]
    size: i64,
    #[diesel(sql_type = Nullable<Text>)]
    amplitude_cohort_id: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_refreshed_at: Option<chrono::DateTime<chrono::Utc>>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl SavedCohort {
    fn stamp(&self) -> String {
        let refreshed = self.last_refreshed_at.map(|t| t.timestamp_micros()).unwrap_or_default();
        format!("{}@{refreshed}/{}", self.id, self.updated_at.timestamp_micros())
    }
}

#[derive(QueryableByName)]
struct RunningPromotion {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    cohort_id: i64,
    #[diesel(sql_type = Bool)]
    frozen: bool,
}

pub async fn preview(
    db: &Db,
    config: &Config,
    cache: &PreviewCache,
    principal: &Principal,
    request: pb::PreviewCohortRequest,
) -> Result<pb::PreviewCohortResponse, CohortError> {
    let started = Instant::now();
    let pb::PreviewCohortRequest { definition, sample_size } = request;
    let definition = definition.ok_or_else(|| CohortError::invalid("definition", "is required"))?;
    let sample_size = match sample_size {
        n if n < 0 => return Err(CohortError::invalid("sample_size", "must not be negative")),
        0 => DEFAULT_SAMPLE,
        n => (n as i64).min(MAX_SAMPLE),
    } as usize;
    let read_pii = principal.has("users.read_pii");
    let options = CompileOptions::now("definition", config.reporting_tz).allow_pii(read_pii);
    let filter = conditions::compile(Catalogue::standard(), &definition, &options)?;

    let scope: String = principal.permissions.iter().cloned().collect::<Vec<_>>().join(",");
    let (mut tx, generation) = begin_caught_up(db, cache, &scope, &principal.claims).await?;
    cache.previewed(&scope, &principal.claims);
    conditions::check_references(&mut tx, &filter).await?;
    tune_for_scans(&mut tx).await?;
    let sets = Sets { cache, scope, generation, background: false };
    let cohorts: Vec<SavedCohort> =
        sql_query("SELECT id, name, size, amplitude_cohort_id, last_refreshed_at, updated_at FROM cdp.cohorts WHERE deleted_at IS NULL ORDER BY id")
            .load(&mut *tx)
            .await?;

    let nodes = sets.nodes(&mut tx, &filter, &referenced_stamp(&filter, &cohorts)).await?;
    let total_users = sets.total(&mut tx).await?;
    let mut matching = match nodes.as_slice() {
        [first, ..] => (**first).clone(),
        [] if filter.is_and() => (*sets.everyone(&mut tx).await?).clone(),
        [] => RoaringBitmap::new(),
    };
    let mut funnel = Vec::with_capacity(nodes.len());
    for (index, (node, (_, label))) in nodes.iter().zip(filter.top_level_nodes()).enumerate() {
        if index > 0 {
            matching = if filter.is_and() { matching & node.as_ref() } else { matching | node.as_ref() };
        }
        funnel.push(pb::PreviewFunnelStep { node_index: index as i32, label: label.clone(), matching: node.len() as i64, cumulative: matching.len() as i64 });
    }

    let sample = sample(&mut tx, &filter, &matching, total_users, sample_size).await?;
    let sample_users = members::summaries(&mut tx, &sample, read_pii, config.reporting_tz).await?;

    let cohort_sets = sets.cohorts(&mut tx, &cohorts).await?;
    let mut cohort_overlaps: Vec<pb::CohortOverlap> = cohorts
        .iter()
        .filter_map(|c| {
            let overlap = cohort_sets.get(&c.id)?.intersection_len(&matching) as i64;
            (overlap > 0).then(|| pb::CohortOverlap { cohort_id: c.id, name: c.name.clone(), size: c.size, overlap })
        })
        .collect();
    cohort_overlaps.sort_by(|a, b| b.overlap.cmp(&a.overlap).then(a.cohort_id.cmp(&b.cohort_id)));
    cohort_overlaps.truncate(MAX_COHORT_OVERLAPS);

    let promotion_overlaps = promotion_overlaps(&mut tx, &sets, &cohort_sets, &matching).await?;
    tx.commit().await?;
    Ok(pb::PreviewCohortResponse {
        count: matching.len() as i64,
        total_users,
        funnel,
        sample_users,
        cohort_overlaps,
        promotion_overlaps,
        elapsed_ms: started.elapsed().as_millis() as i64,
    })
}

/// Opens a read-only snapshot transaction as `claims` and brings `scope` up to it, under the
/// cache's lock so that a scope's sets only ever move forward (see preview_cache). Returns the
/// transaction and the generation to work at.
pub(super) async fn begin_caught_up(db: &Db, cache: &PreviewCache, scope: &str, claims: &serde_json::Value) -> Result<(Tx, u64), CohortError> {
    let _guard = cache.lock().await;
    let mut tx = db.begin_snapshot_as(claims).await?;
    let snapshot = sql_query("SELECT pg_current_snapshot()::text AS snapshot").get_result::<Snapshot>(&mut *tx).await?.snapshot;
    let generation = catch_up(&mut tx, cache, scope, snapshot).await?;
    Ok((tx, generation))
}

/// Brings `scope` from its snapshot to `snapshot` (this transaction's): reads what the writes
/// logged since (`cdp.filter_changes`: the writers the old snapshot could not see and this one
/// can), which the kept conditions then re-evaluate when used. Returns the generation the
/// preview works at.
async fn catch_up(tx: &mut AsyncPgConnection, cache: &PreviewCache, scope: &str, snapshot: String) -> Result<u64, CohortError> {
    let Some(since) = cache.snapshot(scope) else {
        return Ok(cache.advance(scope, snapshot, &Changes::default()));
    };
    let summary = sql_query(
        "SELECT coalesce(bool_or(c.user_id IS NULL AND c.source <> 'promotion_audience'), false) AS everyone, \
           coalesce(bool_or(c.source = 'promotion_audience'), false) AS audiences, \
           CASE WHEN count(DISTINCT c.user_id) <= $2 THEN coalesce(array_agg(DISTINCT c.user_id) FILTER (WHERE c.user_id IS NOT NULL), '{}') END AS users \
         FROM cdp.filter_changes c \
         WHERE c.xid >= pg_snapshot_xmin($1::pg_snapshot) AND NOT pg_visible_in_snapshot(c.xid, $1::pg_snapshot)",
    )
    .bind::<Text, _>(&since)
    .bind::<BigInt, _>(preview_cache::MAX_CHANGED as i64)
    .get_result::<ChangeSummary>(tx)
    .await?;
    // No list of users: more changed than re-evaluating them is worth.
    let users = summary.users.map(|ids| preview_cache::bitmap(&ids));
    let changes = Changes { everyone: summary.everyone || users.is_none(), users: users.unwrap_or_default(), audiences: summary.audiences };
    Ok(cache.advance(scope, snapshot, &changes))
}

/// Which of `users` each of `nodes` (over the users with `joins`) matches now: one lookup by
/// id, each node a column (a user gone from the table matches none).
async fn reevaluate(tx: &mut AsyncPgConnection, nodes: &[&Sql], joins: &BTreeSet<Join>, users: &RoaringBitmap) -> Result<Vec<RoaringBitmap>, CohortError> {
    let ids: Vec<i64> = users.iter().map(|m| i64::from(preview_cache::user_id(m))).collect();
    let mut sql = Sql::new("SELECT u.user_id, ARRAY[");
    for (n, node) in nodes.iter().enumerate() {
        sql.push(if n > 0 { ", (" } else { "(" }).append(node).push(") IS TRUE");
    }
    sql.push("]::bool[] AS hits FROM public.users u").push_join_list(joins.iter().copied());
    sql.push(" WHERE u.user_id = ANY(CAST(").push_bind(conditions::BindValue::Int8Array(ids)).push(" AS int4[]))");
    let rows: Vec<Hits> = sql.into_query().load(tx).await?;
    let mut sets = vec![Vec::new(); nodes.len()];
    for row in rows {
        for (set, hit) in sets.iter_mut().zip(row.hits) {
            if hit {
                set.push(row.user_id);
            }
        }
    }
    Ok(sets.iter().map(|set| preview_cache::bitmap(set)).collect())
}

/// The scheduled, active and paused promotions whose audience shares users with `matching`
/// (the frozen audience once frozen, else the cohort), largest overlap first.
async fn promotion_overlaps(
    tx: &mut AsyncPgConnection,
    sets: &Sets<'_>,
    cohort_sets: &HashMap<i64, Arc<RoaringBitmap>>,
    matching: &RoaringBitmap,
) -> Result<Vec<pb::PromotionOverlap>, CohortError> {
    let running: Vec<RunningPromotion> = sql_query(
        "SELECT id, name, status, cohort_id, audience_frozen_at IS NOT NULL AS frozen FROM cdp.promotions \
         WHERE status IN ('scheduled', 'active', 'paused') ORDER BY id",
    )
    .load(tx)
    .await?;
    let frozen: Vec<i64> = running.iter().filter(|p| p.frozen).map(|p| p.id).collect();
    let audiences = sets.audiences(tx, &frozen).await?;
    // A live audience whose cohort is not among the saved ones (deleted since) still counts.
    let missing: Vec<i64> = running.iter().filter(|p| !p.frozen && !cohort_sets.contains_key(&p.cohort_id)).map(|p| p.cohort_id).collect();
    let others = sets.cohort_members(tx, &missing, |id| format!("{id}@deleted")).await?;
    let mut overlaps: Vec<pb::PromotionOverlap> = running
        .iter()
        .filter_map(|p| {
            let audience = if p.frozen { audiences.get(&p.id) } else { cohort_sets.get(&p.cohort_id).or_else(|| others.get(&p.cohort_id)) };
            let overlap = audience.map(|a| a.intersection_len(matching) as i64).unwrap_or_default();
            (overlap > 0).then(|| pb::PromotionOverlap {
                promotion_id: p.id,
                name: p.name.clone(),
                status: crate::promotions::model::Status::parse(&p.status).map(|s| s.to_proto()).unwrap_or(pb::PromotionStatus::Unspecified) as i32,
                overlap,
            })
        })
        .collect();
    overlaps.sort_by(|a, b| b.overlap.cmp(&a.overlap).then(a.promotion_id.cmp(&b.promotion_id)));
    Ok(overlaps)
}

/// What a scan reads: the users with the joins their nodes need, or one joined table alone
/// (nodes that read only that table: `FROM cdp.user_stats s` skips joining a million users).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Source {
    Users(BTreeSet<Join>),
    Alone(Join),
}

impl Source {
    fn of(filter: &CompiledFilter, node: usize) -> Source {
        let joins = filter.node_joins(node);
        match joins.iter().next() {
            Some(join) if joins.len() == 1 && !filter.node_reads_users(node) => Source::Alone(*join),
            _ => Source::Users(joins.clone()),
        }
    }
}

/// The ids matching each of `nodes` (expressions over `source`), in one scan. Each set travels
/// as 64-bit words of user ids (`bit_or` grouped by `user_id >> 6`), which parallel workers
/// aggregate, rather than as one row per user.
pub(super) async fn evaluate(tx: &mut AsyncPgConnection, nodes: &[&Sql], source: &Source) -> Result<Vec<RoaringBitmap>, CohortError> {
    let id = match source {
        Source::Users(_) => "u.user_id".to_string(),
        Source::Alone(join) => format!("{}.user_id", join.alias()),
    };
    let mut sql = Sql::new("SELECT v.node, v.chunks, v.words FROM (SELECT ");
    for n in 0..nodes.len() {
        sql.push(&format!(
            "{}array_agg(g.chunk) FILTER (WHERE g.w{n} IS NOT NULL) AS c{n}, array_agg(g.w{n}) FILTER (WHERE g.w{n} IS NOT NULL) AS w{n}",
            if n > 0 { ", " } else { "" }
        ));
    }
    sql.push(&format!(" FROM (SELECT {id} >> 6 AS chunk"));
    for (n, node) in nodes.iter().enumerate() {
        sql.push(&format!(", bit_or(1::int8 << ({id} & 63)) FILTER (WHERE (")).append(node).push(&format!(")) AS w{n}"));
    }
    match source {
        Source::Users(joins) => sql.push(" FROM public.users u").push_join_list(joins.iter().copied()),
        Source::Alone(join) => sql.push(&format!(" FROM {}", join.table())),
    };
    // One node (a builder's edit) may be found through an index; several are counted in one
    // parallel scan (an OR of them planned as OR-ed bitmap scans measured slower).
    if let [node] = nodes {
        sql.push(" WHERE (").append(node).push(")");
    }
    sql.push(" GROUP BY 1) g) agg CROSS JOIN LATERAL (VALUES ");
    for n in 0..nodes.len() {
        sql.push(&format!("{}({n}, agg.c{n}, agg.w{n})", if n > 0 { ", " } else { "" }));
    }
    sql.push(") AS v(node, chunks, words)");
    // A whole table is read: aggregated by workers in parallel (measured 900 -> 520 ms for five
    // conditions on a million users). The planner, which estimates about a group per row for
    // `user_id >> 6` where there is one per 64, would otherwise keep it in one process.
    let whole_table = nodes.len() > 1;
    if whole_table {
        sql_query("SELECT set_config('parallel_setup_cost', '0', true), set_config('parallel_tuple_cost', '0', true)").execute(tx).await?;
    }
    let rows: Vec<NodeWords> = sql.into_query().load(tx).await?;
    if whole_table {
        sql_query("SELECT set_config(name, reset_val, true) FROM pg_catalog.pg_settings WHERE name IN ('parallel_setup_cost', 'parallel_tuple_cost')")
            .execute(tx)
            .await?;
    }
    let mut sets = vec![RoaringBitmap::new(); nodes.len()];
    for row in rows {
        let mut ids = Vec::new();
        for (chunk, word) in row.chunks.unwrap_or_default().into_iter().zip(row.words.unwrap_or_default()) {
            let mut word = word as u64;
            while word != 0 {
                ids.push(chunk.wrapping_mul(64).wrapping_add(word.trailing_zeros() as i32));
                word &= word - 1;
            }
        }
        sets[row.node as usize] = preview_cache::bitmap(&ids);
    }
    Ok(sets)
}

/// Up to `size` of the matching users, those who spent the most credits first (users without
/// a value last). Few matches: looked up by id. More: the top spenders are walked on the index
/// of `total_credits_spent` until enough match; if they do not (the matches spend little), up
/// to [`LOOKUP_AT_MOST`] are looked up by id, and beyond that the filter is run with the order.
async fn sample(tx: &mut AsyncPgConnection, filter: &CompiledFilter, matching: &RoaringBitmap, total: i64, size: usize) -> Result<Vec<i64>, CohortError> {
    // Looking ids up costs about 1.6 ms per thousand (48,000 took 79 ms); the walk reads about
    // `4 * size / share` index entries: a few thousand from a share of 0.5% on.
    const LOOKUP_FIRST_UP_TO: u64 = 5_000;
    const LOOKUP_AT_MOST: u64 = 50_000;
    const ORDER: &str = " ORDER BY u.total_credits_spent DESC NULLS LAST, u.user_id DESC LIMIT ";
    if matching.is_empty() || size == 0 {
        return Ok(Vec::new());
    }
    let by_id = || {
        let ids: Vec<i32> = matching.iter().map(preview_cache::user_id).collect();
        sql_query(format!("SELECT u.user_id FROM public.users u WHERE u.user_id = ANY($1){ORDER}$2"))
            .bind::<Array<Integer>, _>(ids)
            .bind::<BigInt, _>(size as i64)
    };
    let rows: Vec<UserId> = if matching.len() <= LOOKUP_FIRST_UP_TO {
        by_id().load(tx).await?
    } else {
        let walk = (size as i64 * total / matching.len() as i64 * 4).clamp(1_000, 100_000);
        let top: Vec<UserId> = sql_query(
            "SELECT u.user_id FROM public.users u WHERE u.total_credits_spent IS NOT NULL ORDER BY u.total_credits_spent DESC, u.user_id DESC LIMIT $1",
        )
        .bind::<BigInt, _>(walk)
        .load(tx)
        .await?;
        let found: Vec<i64> = top.iter().filter(|r| matching.contains(preview_cache::member(r.user_id))).take(size).map(|r| i64::from(r.user_id)).collect();
        if found.len() == size {
            return Ok(found);
        }
        if matching.len() <= LOOKUP_AT_MOST {
            by_id().load(tx).await?
        } else {
            let mut sql = Sql::new("SELECT u.user_id FROM public.users u");
            sql.push_joins(filter).push(" WHERE ").push_filter(filter).push(ORDER).push_bind(conditions::BindValue::Int8(size as i64));
            sql.into_query().load(tx).await?
        }
    };
    Ok(rows.into_iter().map(|r| i64::from(r.user_id)).collect())
}

/// What a node that reads cohort memberships depends on besides the data version: the refresh
/// stamps of the cohorts the tree refers to (by id or Amplitude id).
fn referenced_stamp(filter: &CompiledFilter, cohorts: &[SavedCohort]) -> String {
    let ids = filter.cohort_ids();
    let amplitude = filter.amplitude_cohort_ids();
    if ids.is_empty() && amplitude.is_empty() {
        return String::new();
    }
    let stamps: Vec<String> = cohorts
        .iter()
        .filter(|c| ids.contains(&c.id) || c.amplitude_cohort_id.as_ref().is_some_and(|a| amplitude.contains(a)))
        .map(SavedCohort::stamp)
        .collect();
    format!("cohorts:{}", stamps.join(","))
}

/// A condition a preview needs: its cache key, its expression and the tables it joins.
pub(super) struct Wanted<'a> {
    pub key: &'a str,
    pub sql: &'a Sql,
    pub joins: &'a BTreeSet<Join>,
}

/// The cached sets of one preview (or of the background pass): one permission scope, at the
/// generation it caught up to.
pub(super) struct Sets<'a> {
    pub cache: &'a PreviewCache,
    pub scope: String,
    pub generation: u64,
    /// The background pass (cohorts::keep_current), counted apart in the metrics.
    pub background: bool,
}

impl Sets<'_> {
    /// A kept set that does not depend on the data (cohort members, frozen audiences).
    fn set(&self, key: &str) -> Option<Arc<RoaringBitmap>> {
        self.cache.get(&self.scope, self.generation, key).map(|kept| kept.value)
    }

    /// The kept sets of `wanted` (`None` where nothing is kept), each brought up to this
    /// preview's snapshot: the users changed since a set was computed are re-evaluated, by id,
    /// in one query per set of joins.
    pub(super) async fn kept(&self, tx: &mut AsyncPgConnection, wanted: &[Wanted<'_>]) -> Result<Vec<Option<Arc<RoaringBitmap>>>, CohortError> {
        let read = |key| if self.background { self.cache.peek(&self.scope, self.generation, key) } else { self.cache.get(&self.scope, self.generation, key) };
        let mut found: Vec<Option<Kept>> = wanted.iter().map(|w| read(w.key)).collect();
        let mut stale: BTreeMap<&BTreeSet<Join>, Vec<usize>> = BTreeMap::new();
        for (i, kept) in found.iter().enumerate() {
            if kept.as_ref().is_some_and(|k| !k.pending.is_empty()) {
                stale.entry(wanted[i].joins).or_default().push(i);
            }
        }
        for (joins, indices) in stale {
            let users = indices.iter().filter_map(|i| found[*i].as_ref()).fold(RoaringBitmap::new(), |all, kept| all | &kept.pending);
            let nodes: Vec<&Sql> = indices.iter().map(|i| wanted[*i].sql).collect();
            let now = reevaluate(tx, &nodes, joins, &users).await?;
            PREVIEW_SETS.with_label_values(&[if self.background { "background_updated" } else { "updated" }]).inc_by(indices.len() as u64);
            for (i, matched) in indices.into_iter().zip(now) {
                let Some(kept) = found[i].as_mut() else { continue };
                kept.value = Arc::new((kept.value.as_ref() - &users) | matched);
                self.cache.settle(&self.scope, self.generation, wanted[i].key, kept.value.clone(), &users);
            }
        }
        Ok(found.into_iter().map(|kept| kept.map(|k| k.value)).collect())
    }

    fn put(&self, key: String, value: Arc<RoaringBitmap>, basis: Basis) {
        self.cache.put(&self.scope, self.generation, key, value, basis);
    }

    /// The matches of a condition scanned by this preview, kept current from now on.
    fn put_node(&self, key: String, set: Arc<RoaringBitmap>, sql: &Sql, joins: &BTreeSet<Join>) {
        PREVIEW_SETS.with_label_values(&["scanned"]).inc();
        self.put(key, set, Basis::Node(Arc::new(NodeQuery { sql: sql.clone(), joins: joins.clone() })));
    }

    /// How many users the caller sees: the size of a kept set (a count could not be kept
    /// current by re-evaluating the changed users).
    async fn total(&self, tx: &mut AsyncPgConnection) -> Result<i64, CohortError> {
        Ok(self.everyone(tx).await?.len() as i64)
    }

    /// Every user the caller sees (the matches of an empty AND).
    async fn everyone(&self, tx: &mut AsyncPgConnection) -> Result<Arc<RoaringBitmap>, CohortError> {
        let (everyone, no_joins) = (Sql::new("TRUE"), BTreeSet::new());
        if let Some(set) = self.kept(tx, &[Wanted { key: EVERYONE, sql: &everyone, joins: &no_joins }]).await?.pop().flatten() {
            return Ok(set);
        }
        let set = Arc::new(evaluate(tx, &[&everyone], &Source::Users(no_joins)).await?.remove(0));
        self.put_node(EVERYONE.to_string(), set.clone(), &everyone, &BTreeSet::new());
        Ok(set)
    }

    /// Each top-level node's matches. The missing ones are found together, one scan per
    /// [`Source`]: a node on users columns never pays for a join, and a node on one joined
    /// table (the activity stats) reads that table alone.
    async fn nodes(&self, tx: &mut AsyncPgConnection, filter: &CompiledFilter, stamp: &str) -> Result<Vec<Arc<RoaringBitmap>>, CohortError> {
        let keys: Vec<String> = filter
            .top_level_nodes()
            .iter()
            .enumerate()
            .map(|(i, (node, _))| {
                let (text, binds) = node.render();
                let joins: String = filter.node_joins(i).iter().map(|j| j.sql()).collect();
                format!("node:{text}:{binds:?}:{joins}:{stamp}")
            })
            .collect();
        // Every user (the total, and what a table read alone is intersected with) is brought up
        // to date with the nodes; if that set is missing, the first scan of the users finds it
        // on the way (users sources sort first).
        let (everyone_node, no_joins) = (Sql::new("TRUE"), BTreeSet::new());
        let mut wanted: Vec<Wanted> =
            keys.iter().enumerate().map(|(i, key)| Wanted { key, sql: &filter.top_level_nodes()[i].0, joins: filter.node_joins(i) }).collect();
        wanted.push(Wanted { key: EVERYONE, sql: &everyone_node, joins: &no_joins });
        let mut found = self.kept(tx, &wanted).await?;
        let mut want_everyone = found.pop().flatten().is_none();
        PREVIEW_SETS.with_label_values(&["reused"]).inc_by(found.iter().flatten().count() as u64);
        let mut missing: BTreeMap<Source, Vec<usize>> = BTreeMap::new();
        for i in (0..found.len()).filter(|i| found[*i].is_none()) {
            missing.entry(Source::of(filter, i)).or_default().push(i);
        }
        for (source, indices) in &missing {
            let mut nodes: Vec<&Sql> = indices.iter().map(|i| &filter.top_level_nodes()[*i].0).collect();
            let sets = match source {
                Source::Users(_) => {
                    let with_everyone = std::mem::take(&mut want_everyone);
                    if with_everyone {
                        nodes.push(&everyone_node);
                    }
                    let mut sets = evaluate(tx, &nodes, source).await?;
                    if with_everyone {
                        let everyone = sets.pop().expect("one set per node");
                        self.put_node(EVERYONE.to_string(), Arc::new(everyone), &everyone_node, &no_joins);
                    }
                    sets
                }
                Source::Alone(join) => self.alone(tx, *join, &nodes).await?,
            };
            for (i, set) in indices.iter().zip(sets) {
                let set = Arc::new(set);
                self.put_node(keys[*i].clone(), set.clone(), &filter.top_level_nodes()[*i].0, filter.node_joins(*i));
                found[*i] = Some(set);
            }
        }
        Ok(found.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// `nodes`, which read only `join`'s table, evaluated on that table alone. Two things a
    /// LEFT JOIN from the users would have given are added back: users without a row there
    /// match a node that a row of NULLs matches (`IS NOT SET`), and rows of users the caller
    /// does not see, or that no longer exist, never count (the sets meet every user's).
    async fn alone(&self, tx: &mut AsyncPgConnection, join: Join, nodes: &[&Sql]) -> Result<Vec<RoaringBitmap>, CohortError> {
        let mut sql = Sql::new("SELECT ARRAY[");
        for (n, node) in nodes.iter().enumerate() {
            sql.push(if n > 0 { ", (" } else { "(" }).append(node).push(") IS TRUE");
        }
        sql.push(&format!("]::bool[] AS hits FROM (SELECT 1) AS one LEFT JOIN {} ON false", join.table()));
        let null_hits = sql.into_query().get_result::<NullHits>(tx).await?.hits;
        let any_null_hit = null_hits.iter().any(|hit| *hit);
        let with_row = Sql::new("TRUE");
        let mut scanned = nodes.to_vec();
        if any_null_hit {
            scanned.push(&with_row);
        }
        let mut sets = evaluate(tx, &scanned, &Source::Alone(join)).await?;
        let everyone = self.everyone(tx).await?;
        let without_row = if any_null_hit { everyone.as_ref() - &sets.pop().expect("one set per node") } else { RoaringBitmap::new() };
        Ok(sets.into_iter().zip(null_hits).map(|(set, hit)| if hit { (set & everyone.as_ref()) | &without_row } else { set & everyone.as_ref() }).collect())
    }

    /// The members of the saved cohorts, keyed by their refresh stamps.
    async fn cohorts(&self, tx: &mut AsyncPgConnection, cohorts: &[SavedCohort]) -> Result<HashMap<i64, Arc<RoaringBitmap>>, CohortError> {
        let stamps: HashMap<i64, String> = cohorts.iter().map(|c| (c.id, c.stamp())).collect();
        let ids: Vec<i64> = cohorts.iter().map(|c| c.id).collect();
        self.cohort_members(tx, &ids, |id| stamps.get(&id).cloned().unwrap_or_default()).await
    }

    async fn cohort_members(
        &self,
        tx: &mut AsyncPgConnection,
        ids: &[i64],
        stamp: impl Fn(i64) -> String,
    ) -> Result<HashMap<i64, Arc<RoaringBitmap>>, CohortError> {
        self.groups(
            tx,
            ids,
            |id| format!("cohort:{}", stamp(id)),
            Basis::Stamped,
            "SELECT cohort_id AS id, array_agg(user_id) AS ids FROM cdp.cohort_members WHERE cohort_id = ANY($1) GROUP BY cohort_id",
        )
        .await
    }

    /// Frozen promotion audiences (those still in them), kept until an audience is written.
    async fn audiences(&self, tx: &mut AsyncPgConnection, ids: &[i64]) -> Result<HashMap<i64, Arc<RoaringBitmap>>, CohortError> {
        self.groups(
            tx,
            ids,
            |id| format!("audience:{id}"),
            Basis::Audience,
            "SELECT promotion_id AS id, array_agg(user_id) AS ids FROM cdp.promotion_audience WHERE removed_at IS NULL AND promotion_id = ANY($1) GROUP BY promotion_id",
        )
        .await
    }

    /// Sets of users by id from `sql` (bound to the missing ids), cached under `key(id)`; an id
    /// without rows is the empty set.
    async fn groups(
        &self,
        tx: &mut AsyncPgConnection,
        ids: &[i64],
        key: impl Fn(i64) -> String,
        basis: Basis,
        sql: &str,
    ) -> Result<HashMap<i64, Arc<RoaringBitmap>>, CohortError> {
        let mut sets = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.set(&key(*id)) {
                Some(set) => {
                    sets.insert(*id, set);
                }
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let rows: Vec<GroupIds> = sql_query(sql).bind::<Array<BigInt>, _>(&missing).load(tx).await?;
            let mut loaded: HashMap<i64, Vec<i32>> = rows.into_iter().map(|r| (r.id, r.ids)).collect();
            for id in missing {
                let set = Arc::new(preview_cache::bitmap(&loaded.remove(&id).unwrap_or_default()));
                self.put(key(id), set.clone(), basis.clone());
                sets.insert(id, set);
            }
        }
        Ok(sets)
    }
}
