//! PreviewCohort: an unsaved definition evaluated on the whole user base, nothing stored, in
//! one transaction as the caller (row-level security applies). Each top-level node is turned
//! into the set of users it matches; the count, the funnel (each node alone and cumulated), the
//! sample and the overlaps with saved cohorts and running promotions are then set operations.
//! The sets are kept in a [`PreviewCache`], so a builder that edits one condition rescans only
//! that one: every missing node is found in one scan of `public.users`.

use super::{
    CohortError, members,
    preview_cache::{self, Cached, PreviewCache},
    store::tune_for_scans,
};
use crate::{
    auth::principal::Principal,
    conditions::{self, Catalogue, CompileOptions, CompiledFilter, Sql},
    config::Config,
    db::Db,
};
use cdp_proto::cdp::v1 as pb;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use roaring::RoaringBitmap;
use std::{collections::HashMap, sync::Arc, time::Instant};

/// Sample users when none is asked for, and the most allowed.
const DEFAULT_SAMPLE: i64 = 20;
const MAX_SAMPLE: i64 = 100;
/// Saved cohorts listed by overlap.
const MAX_COHORT_OVERLAPS: usize = 10;

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = BigInt)]
    version: i64,
}

#[derive(QueryableByName)]
struct Ids {
    #[diesel(sql_type = Nullable<Array<Integer>>)]
    ids: Option<Vec<i32>>,
}

#[derive(QueryableByName)]
struct NodeIds {
    #[diesel(sql_type = Integer)]
    node: i32,
    #[diesel(sql_type = Nullable<Array<Integer>>)]
    ids: Option<Vec<i32>>,
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

    let mut tx = db.begin_as(&principal.claims).await?;
    conditions::check_references(&mut tx, &filter).await?;
    tune_for_scans(&mut tx).await?;
    let version = sql_query("SELECT last_value + is_called::int AS version FROM cdp.filter_data_version").get_result::<Version>(&mut *tx).await?.version;
    let sets = Sets { cache, version, scope: principal.permissions.iter().cloned().collect::<Vec<_>>().join(",") };
    let cohorts: Vec<SavedCohort> = sql_query(
        "SELECT id, name, size, amplitude_cohort_id, last_refreshed_at, updated_at FROM cdp.cohorts WHERE deleted_at IS NULL ORDER BY id",
    )
    .load(&mut *tx)
    .await?;

    let ranking = sets.ranking(&mut tx).await?;
    let everyone = sets.everyone(&ranking);
    let nodes = sets.nodes(&mut tx, &filter, &referenced_stamp(&filter, &cohorts)).await?;
    let combine = |acc: RoaringBitmap, node: &RoaringBitmap| if filter.is_and() { acc & node } else { acc | node };
    let mut matching = if filter.is_and() { (*everyone).clone() } else { RoaringBitmap::new() };
    let mut funnel = Vec::with_capacity(nodes.len());
    for (index, (node, (_, label))) in nodes.iter().zip(filter.top_level_nodes()).enumerate() {
        matching = combine(matching, node);
        funnel.push(pb::PreviewFunnelStep { node_index: index as i32, label: label.clone(), matching: node.len() as i64, cumulative: matching.len() as i64 });
    }

    // The sample: the matching users who spent the most credits first.
    let sample: Vec<i64> = ranking.iter().filter(|m| matching.contains(**m)).take(sample_size).map(|m| i64::from(preview_cache::user_id(*m))).collect();
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
        total_users: ranking.len() as i64,
        funnel,
        sample_users,
        cohort_overlaps,
        promotion_overlaps,
        elapsed_ms: started.elapsed().as_millis() as i64,
    })
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

/// The cached sets of one preview: one data version, one permission scope.
struct Sets<'a> {
    cache: &'a PreviewCache,
    version: i64,
    scope: String,
}

impl Sets<'_> {
    fn key(&self, what: &str) -> String {
        format!("{}|{what}", self.scope)
    }

    /// Every visible user, most credits spent first (users without a value last).
    async fn ranking(&self, tx: &mut AsyncPgConnection) -> Result<Arc<Vec<u32>>, CohortError> {
        let key = self.key("ranking");
        if let Some(ranking) = self.cache.ranking(self.version, &key) {
            return Ok(ranking);
        }
        let ids: Ids = sql_query(
            "SELECT array_agg(u.user_id ORDER BY u.total_credits_spent DESC NULLS LAST, u.user_id DESC) AS ids FROM public.users u",
        )
        .get_result(tx)
        .await?;
        let ranking = Arc::new(ids.ids.unwrap_or_default().into_iter().map(preview_cache::member).collect::<Vec<_>>());
        self.cache.put(self.version, key, Cached::Ranking(ranking.clone()));
        Ok(ranking)
    }

    fn everyone(&self, ranking: &[u32]) -> Arc<RoaringBitmap> {
        let key = self.key("everyone");
        if let Some(set) = self.cache.set(self.version, &key) {
            return set;
        }
        let mut sorted = ranking.to_vec();
        sorted.sort_unstable();
        let set = Arc::new(RoaringBitmap::from_sorted_iter(sorted).unwrap_or_default());
        self.cache.put(self.version, key, Cached::Set(set.clone()));
        set
    }

    /// Each top-level node's matches; the missing ones in one scan (only the rows matching one
    /// of them leave the parallel workers).
    async fn nodes(&self, tx: &mut AsyncPgConnection, filter: &CompiledFilter, stamp: &str) -> Result<Vec<Arc<RoaringBitmap>>, CohortError> {
        let keys: Vec<String> = filter
            .top_level_nodes()
            .iter()
            .map(|(node, _)| {
                let (text, binds) = node.render();
                let joins: Vec<&str> = filter.joins().map(|j| j.sql()).collect();
                self.key(&format!("node:{text}:{binds:?}:{}:{stamp}", joins.join("")))
            })
            .collect();
        let mut found: Vec<Option<Arc<RoaringBitmap>>> = keys.iter().map(|k| self.cache.set(self.version, k)).collect();
        let missing: Vec<usize> = (0..found.len()).filter(|i| found[*i].is_none()).collect();
        if !missing.is_empty() {
            let nodes = filter.top_level_nodes();
            let mut sql = Sql::new("SELECT v.node, v.ids FROM (SELECT ");
            for n in 0..missing.len() {
                sql.push(&format!("{}array_agg(x.user_id) FILTER (WHERE x.m{n}) AS s{n}", if n > 0 { ", " } else { "" }));
            }
            sql.push(" FROM (SELECT u.user_id");
            for (n, i) in missing.iter().enumerate() {
                sql.push(", (").append(&nodes[*i].0).push(&format!(") IS TRUE AS m{n}"));
            }
            sql.push(" FROM public.users u").push_joins(filter).push(" WHERE ");
            for (n, i) in missing.iter().enumerate() {
                sql.push(if n > 0 { " OR (" } else { "(" }).append(&nodes[*i].0).push(")");
            }
            sql.push(") x) agg CROSS JOIN LATERAL (VALUES ");
            for n in 0..missing.len() {
                sql.push(&format!("{}({n}, agg.s{n})", if n > 0 { ", " } else { "" }));
            }
            sql.push(") AS v(node, ids)");
            let rows: Vec<NodeIds> = sql.into_query().load(tx).await?;
            for row in rows {
                let i = missing[row.node as usize];
                let set = Arc::new(preview_cache::bitmap(&row.ids.unwrap_or_default()));
                self.cache.put(self.version, keys[i].clone(), Cached::Set(set.clone()));
                found[i] = Some(set);
            }
        }
        Ok(found.into_iter().map(|f| f.unwrap_or_default()).collect())
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
        self.groups(tx, ids, |id| self.key(&format!("cohort:{}", stamp(id))), "SELECT cohort_id AS id, array_agg(user_id) AS ids FROM cdp.cohort_members WHERE cohort_id = ANY($1) GROUP BY cohort_id")
            .await
    }

    /// Frozen promotion audiences (those still in them), under the data version.
    async fn audiences(&self, tx: &mut AsyncPgConnection, ids: &[i64]) -> Result<HashMap<i64, Arc<RoaringBitmap>>, CohortError> {
        self.groups(
            tx,
            ids,
            |id| self.key(&format!("audience:{id}")),
            "SELECT promotion_id AS id, array_agg(user_id) AS ids FROM cdp.promotion_audience WHERE removed_at IS NULL AND promotion_id = ANY($1) GROUP BY promotion_id",
        )
        .await
    }

    /// Sets of users by id from `sql` (bound to the missing ids), cached under `key(id)`; an id
    /// without rows is the empty set.
    async fn groups(&self, tx: &mut AsyncPgConnection, ids: &[i64], key: impl Fn(i64) -> String, sql: &str) -> Result<HashMap<i64, Arc<RoaringBitmap>>, CohortError> {
        let mut sets = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.cache.set(self.version, &key(*id)) {
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
                self.cache.put(self.version, key(id), Cached::Set(set.clone()));
                sets.insert(id, set);
            }
        }
        Ok(sets)
    }
}
