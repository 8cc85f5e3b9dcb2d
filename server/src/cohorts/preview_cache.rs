//! The sets of users that previews compute, kept so that the next preview reuses them: each
//! top-level condition's matches, each saved cohort's members and each frozen promotion
//! audience, as bitmaps of user ids (125 KB for a million dense ids). A builder edits one
//! condition at a time, so a preview rescans that condition only and the rest is set arithmetic.
//!
//! Freshness. The kept sets of one permission scope (row-level security decides what a caller
//! sees) all hold as of one snapshot of the database, each but for its `pending` users. Every
//! statement that writes a table a condition reads logs the users it changed in
//! `cdp.filter_changes` (migration 000012); a preview reads the changes its scope's snapshot
//! could not see and adds those users to every kept condition's pending ones, and the scope
//! then holds as of the preview's snapshot. A condition is re-evaluated for its pending users,
//! by id, only when a preview uses it: the older edits of a builder cost nothing until they
//! come back. A change that may touch every user (a truncate, or more than [`MAX_CHANGED`]
//! users, in one statement or pending on one condition) drops the conditions' sets instead, and
//! they are scanned again. Saved cohorts' members are keyed by the cohorts' refresh times and
//! outlive all of it.
//!
//! Snapshots only move forward: a preview takes its snapshot and brings the scope up to it
//! while holding [`PreviewCache::lock`]. A preview whose scope moved on while it scanned does
//! not keep what it found (its results are older than the kept ones): see `generation`.

use crate::conditions::{Join, Sql};
use roaring::RoaringBitmap;
use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// An entry no preview used for this long is dropped rather than kept current.
pub const MAX_IDLE: Duration = Duration::from_secs(60 * 60);
/// A scope not brought up to date for this long starts over (`cdp.filter_changes` keeps a day).
pub const MAX_UNSYNCED: Duration = Duration::from_secs(12 * 60 * 60);
/// Changed users beyond which re-evaluating by id costs about what scanning again does (25,000
/// random users of a million took 260-300 ms to look up, a full scan of the users 500-800 ms).
/// The triggers of migration 000012 use the same limit per statement.
pub const MAX_CHANGED: u64 = 50_000;
/// The background pass (cohorts::keep_current) keeps current the scopes previewed and the
/// conditions used this recently: a builder at work.
pub const KEEP_CURRENT_FOR: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most over all scopes (a few hundred megabytes at worst); beyond it a scope
/// starts over.
const MAX_ENTRIES: usize = 512;

/// A condition over the users and the tables it joins: what evaluates it again.
#[derive(Clone, Debug)]
pub struct NodeQuery {
    pub sql: Sql,
    pub joins: BTreeSet<Join>,
}

/// What an entry's freshness rests on.
#[derive(Clone, Debug)]
pub enum Basis {
    /// A condition's matches, kept current by re-evaluating it for the changed users.
    Node(Arc<NodeQuery>),
    /// The frozen promotion audiences: dropped when one of them is written.
    Audience,
    /// Stamps inside its key (cohort refresh times): valid whatever the data.
    Stamped,
}

/// What changed since a scope's snapshot, read from `cdp.filter_changes`.
#[derive(Debug, Default)]
pub struct Changes {
    /// Every user may have changed: the conditions' sets are dropped.
    pub everyone: bool,
    /// The users that changed (when not `everyone`).
    pub users: RoaringBitmap,
    /// A frozen audience was written.
    pub audiences: bool,
}

/// A kept set as a preview reads it: right for every user but the `pending` ones, whose rows
/// changed since it was computed.
#[derive(Clone, Debug)]
pub struct Kept {
    pub value: Arc<RoaringBitmap>,
    pub pending: RoaringBitmap,
}

#[derive(Default)]
pub struct PreviewCache {
    /// Held while a preview takes its snapshot and brings its scope up to it.
    lock: tokio::sync::Mutex<()>,
    inner: Mutex<HashMap<String, Scope>>,
}

struct Scope {
    /// The snapshot (`pg_snapshot` as text) every data entry holds as of.
    snapshot: String,
    synced: Instant,
    /// Moves whenever the entries' content changes: a preview that began at another
    /// generation neither reads nor keeps entries.
    generation: u64,
    entries: HashMap<String, Entry>,
    /// Who previewed last, and when: the background pass reads as them.
    claims: Option<serde_json::Value>,
    previewed: Instant,
    /// Conditions in use that a change to every user dropped, with when they were last used:
    /// the background pass scans them again.
    dropped: HashMap<String, (Arc<NodeQuery>, Instant)>,
}

/// What the background pass has to do for a scope: conditions with pending users to
/// re-evaluate, and dropped ones to scan again.
#[derive(Default)]
pub struct Stale {
    pub pending: Vec<(String, Arc<NodeQuery>)>,
    pub dropped: Vec<(String, Arc<NodeQuery>)>,
}

struct Entry {
    value: Arc<RoaringBitmap>,
    /// Users changed since `value` was computed (conditions only).
    pending: RoaringBitmap,
    basis: Basis,
    used: Instant,
}

impl Scope {
    /// Drops the conditions (their data changed beyond re-evaluating), remembering those in use.
    fn drop_conditions(&mut self, gone: impl Fn(&Entry) -> bool) {
        let before = self.entries.len();
        let dropped = &mut self.dropped;
        self.entries.retain(|key, entry| match &entry.basis {
            Basis::Node(query) if gone(entry) => {
                if entry.used.elapsed() < KEEP_CURRENT_FOR {
                    dropped.insert(key.clone(), (query.clone(), entry.used));
                }
                false
            }
            _ => true,
        });
        if self.entries.len() != before {
            self.generation += 1;
        }
    }

    fn drop_where(&mut self, drop: impl Fn(&Basis) -> bool) {
        let before = self.entries.len();
        self.entries.retain(|_, entry| !drop(&entry.basis));
        if self.entries.len() != before {
            self.generation += 1;
        }
    }
}

impl PreviewCache {
    /// Serialises the beginning of previews: take the snapshot, then [`Self::standing`],
    /// read the changes, [`Self::advance`], all under this guard.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.lock.lock().await
    }

    /// The snapshot the scope's sets hold as of, if it has one (idle entries are dropped here).
    pub fn snapshot(&self, scope: &str) -> Option<String> {
        let mut inner = self.inner();
        let state = inner.get_mut(scope)?;
        if state.synced.elapsed() > MAX_UNSYNCED {
            inner.remove(scope);
            return None;
        }
        let before = state.entries.len();
        state.entries.retain(|_, entry| entry.used.elapsed() < MAX_IDLE);
        if state.entries.len() != before {
            state.generation += 1;
        }
        Some(state.snapshot.clone())
    }

    /// Brings the scope to `snapshot`, given what changed since its last one: the changed users
    /// become pending on every kept condition. Returns the generation the preview reads and
    /// writes at.
    pub fn advance(&self, scope: &str, snapshot: String, changes: &Changes) -> u64 {
        let mut inner = self.inner();
        let state = inner.entry(scope.to_string()).or_insert_with(|| Scope {
            snapshot: String::new(),
            synced: Instant::now(),
            generation: 0,
            entries: HashMap::new(),
            claims: None,
            previewed: Instant::now(),
            dropped: HashMap::new(),
        });
        state.snapshot = snapshot;
        state.synced = Instant::now();
        if changes.everyone {
            state.drop_conditions(|_| true);
        } else if !changes.users.is_empty() {
            state.generation += 1;
            for entry in state.entries.values_mut().filter(|entry| matches!(entry.basis, Basis::Node(_))) {
                entry.pending |= &changes.users;
            }
            state.drop_conditions(|entry| entry.pending.len() > MAX_CHANGED);
        }
        if changes.audiences {
            state.drop_where(|basis| matches!(basis, Basis::Audience));
        }
        state.generation
    }

    /// Records that `claims` previewed in `scope` just now (the background pass reads as them).
    pub fn previewed(&self, scope: &str, claims: &serde_json::Value) {
        if let Some(state) = self.inner().get_mut(scope) {
            state.claims = Some(claims.clone());
            state.previewed = Instant::now();
        }
    }

    /// The scopes previewed within [`KEEP_CURRENT_FOR`], with the claims of their last previewer.
    pub fn active_scopes(&self) -> Vec<(String, serde_json::Value)> {
        let inner = self.inner();
        inner
            .iter()
            .filter(|(_, state)| state.previewed.elapsed() < KEEP_CURRENT_FOR)
            .filter_map(|(scope, state)| Some((scope.clone(), state.claims.clone()?)))
            .collect()
    }

    /// Forgets a scope (its last previewer no longer has its permissions).
    pub fn forget(&self, scope: &str) {
        self.inner().remove(scope);
    }

    /// The conditions of `scope`, used within [`KEEP_CURRENT_FOR`], that are not current at
    /// `generation`.
    pub fn stale(&self, scope: &str, generation: u64) -> Stale {
        let mut inner = self.inner();
        let Some(state) = inner.get_mut(scope).filter(|s| s.generation == generation) else {
            return Stale::default();
        };
        let pending = state
            .entries
            .iter()
            .filter(|(_, entry)| !entry.pending.is_empty() && entry.used.elapsed() < KEEP_CURRENT_FOR)
            .filter_map(|(key, entry)| match &entry.basis {
                Basis::Node(query) => Some((key.clone(), query.clone())),
                _ => None,
            })
            .collect();
        state.dropped.retain(|_, (_, used)| used.elapsed() < KEEP_CURRENT_FOR);
        let dropped = state.dropped.iter().map(|(key, (query, _))| (key.clone(), query.clone())).collect();
        Stale { pending, dropped }
    }

    /// The set under `key`, if the scope is still at `generation`; a preview's use of it.
    pub fn get(&self, scope: &str, generation: u64, key: &str) -> Option<Kept> {
        self.read(scope, generation, key, true)
    }

    /// The set under `key` as the background pass reads it (not a use: it does not keep the
    /// set in use longer).
    pub fn peek(&self, scope: &str, generation: u64, key: &str) -> Option<Kept> {
        self.read(scope, generation, key, false)
    }

    fn read(&self, scope: &str, generation: u64, key: &str, used: bool) -> Option<Kept> {
        let mut inner = self.inner();
        let state = inner.get_mut(scope).filter(|s| s.generation == generation)?;
        let entry = state.entries.get_mut(key)?;
        if used {
            entry.used = Instant::now();
        }
        Some(Kept { value: entry.value.clone(), pending: entry.pending.clone() })
    }

    /// Keeps again a dropped condition the background pass scanned at `generation`, as last
    /// used when it was dropped; unless the scope has moved on since or a preview kept it.
    pub fn restore(&self, scope: &str, generation: u64, key: &str, value: Arc<RoaringBitmap>) -> bool {
        let mut inner = self.inner();
        let Some(state) = inner.get_mut(scope).filter(|s| s.generation == generation) else {
            return false;
        };
        let Some((query, used)) = state.dropped.remove(key) else {
            return false;
        };
        state.entries.insert(key.to_string(), Entry { value, pending: RoaringBitmap::new(), basis: Basis::Node(query), used });
        true
    }

    /// Replaces the set under `key` by `value`, which a preview at `generation` re-evaluated for
    /// the `evaluated` users (no longer pending); unless the scope has moved on since.
    pub fn settle(&self, scope: &str, generation: u64, key: &str, value: Arc<RoaringBitmap>, evaluated: &RoaringBitmap) {
        let mut inner = self.inner();
        let Some(entry) = inner.get_mut(scope).filter(|s| s.generation == generation).and_then(|s| s.entries.get_mut(key)) else {
            return;
        };
        entry.value = value;
        entry.pending -= evaluated;
    }

    /// Keeps `value` under `key`, computed by a preview at `generation`; unless the scope has
    /// moved on since (the value would be older than the entries kept).
    pub fn put(&self, scope: &str, generation: u64, key: String, value: Arc<RoaringBitmap>, basis: Basis) {
        let mut inner = self.inner();
        if inner.values().map(|s| s.entries.len()).sum::<usize>() >= MAX_ENTRIES {
            inner.clear();
            return;
        }
        let Some(state) = inner.get_mut(scope).filter(|s| s.generation == generation) else {
            return;
        };
        state.dropped.remove(&key);
        state.entries.insert(key, Entry { value, pending: RoaringBitmap::new(), basis, used: Instant::now() });
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, HashMap<String, Scope>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// User ids (PostgreSQL `integer`) as bitmap members: the same bits, so any id round-trips.
pub fn member(user_id: i32) -> u32 {
    user_id as u32
}

pub fn user_id(member: u32) -> i32 {
    member as i32
}

/// A bitmap of `ids` (in any order).
pub fn bitmap(ids: &[i32]) -> RoaringBitmap {
    let mut sorted: Vec<u32> = ids.iter().map(|id| member(*id)).collect();
    sorted.sort_unstable();
    sorted.dedup();
    RoaringBitmap::from_sorted_iter(sorted).expect("sorted and deduplicated")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[i32]) -> Arc<RoaringBitmap> {
        Arc::new(bitmap(ids))
    }

    fn ids(set: &RoaringBitmap) -> Vec<i32> {
        set.iter().map(user_id).collect()
    }

    fn node() -> Basis {
        Basis::Node(Arc::new(NodeQuery { sql: Sql::new("TRUE"), joins: BTreeSet::new() }))
    }

    fn changed(users: &[i32]) -> Changes {
        Changes { users: bitmap(users), ..Changes::default() }
    }

    #[test]
    fn changed_users_are_pending_on_each_condition_until_it_is_re_evaluated() {
        let cache = PreviewCache::default();
        let g = cache.advance("s", "1:1:".into(), &Changes::default());
        cache.put("s", g, "x".into(), set(&[1, 2, 3]), node());
        cache.put("s", g, "y".into(), set(&[5]), node());
        cache.put("s", g, "cohort:1@5".into(), set(&[9]), Basis::Stamped);
        assert!(cache.get("s", g, "x").unwrap().pending.is_empty());

        // Users 2 and 4 changed, then 5.
        let g2 = cache.advance("s", "2:2:".into(), &changed(&[2, 4]));
        assert_ne!(g, g2);
        let x = cache.get("s", g2, "x").unwrap();
        assert_eq!((ids(&x.value), ids(&x.pending)), (vec![1, 2, 3], vec![2, 4]));
        assert!(cache.get("s", g2, "cohort:1@5").unwrap().pending.is_empty(), "stamped sets do not depend on the data");
        // x is re-evaluated for 2 and 4 (2 no longer matches, 4 now does); y is not used.
        cache.settle("s", g2, "x", set(&[1, 3, 4]), &bitmap(&[2, 4]));
        let g3 = cache.advance("s", "3:3:".into(), &changed(&[5]));
        let x = cache.get("s", g3, "x").unwrap();
        assert_eq!((ids(&x.value), ids(&x.pending)), (vec![1, 3, 4], vec![5]));
        assert_eq!(ids(&cache.get("s", g3, "y").unwrap().pending), vec![2, 4, 5], "pending adds up until y is used");

        assert!(cache.get("s", g2, "x").is_none(), "a preview that began before reads nothing");
        cache.put("s", g2, "z".into(), set(&[1]), node());
        cache.settle("s", g2, "y", set(&[]), &bitmap(&[2, 4, 5]));
        assert!(cache.get("s", g3, "z").is_none(), "nor keeps what it found");
        assert_eq!(ids(&cache.get("s", g3, "y").unwrap().value), vec![5], "nor settles");
        assert_eq!(cache.snapshot("s").as_deref(), Some("3:3:"));
    }

    #[test]
    fn a_change_to_every_user_drops_the_conditions_and_nothing_else() {
        let cache = PreviewCache::default();
        let g = cache.advance("s", "1:1:".into(), &Changes::default());
        cache.put("s", g, "x".into(), set(&[1]), node());
        cache.put("s", g, "audience:3".into(), set(&[1]), Basis::Audience);
        cache.put("s", g, "cohort:1@5".into(), set(&[9]), Basis::Stamped);
        let g2 = cache.advance("s", "2:2:".into(), &Changes { everyone: true, ..Changes::default() });
        assert!(cache.get("s", g2, "x").is_none());
        assert!(cache.get("s", g2, "audience:3").is_some() && cache.get("s", g2, "cohort:1@5").is_some());
        let g3 = cache.advance("s", "3:3:".into(), &Changes { audiences: true, ..Changes::default() });
        assert!(cache.get("s", g3, "audience:3").is_none() && cache.get("s", g3, "cohort:1@5").is_some());
    }

    #[test]
    fn the_background_pass_finds_stale_conditions_and_restores_dropped_ones() {
        let cache = PreviewCache::default();
        let g = cache.advance("s", "1:1:".into(), &Changes::default());
        cache.put("s", g, "x".into(), set(&[1]), node());
        cache.put("s", g, "y".into(), set(&[2]), node());
        cache.put("s", g, "audience:3".into(), set(&[1]), Basis::Audience);
        assert!(cache.active_scopes().is_empty(), "no previewer known yet");
        cache.previewed("s", &serde_json::json!({"sub": "u"}));
        assert_eq!(cache.active_scopes(), vec![("s".to_string(), serde_json::json!({"sub": "u"}))]);

        let g2 = cache.advance("s", "2:2:".into(), &changed(&[2]));
        let stale = cache.stale("s", g2);
        let mut pending: Vec<&str> = stale.pending.iter().map(|(key, _)| key.as_str()).collect();
        pending.sort();
        assert_eq!((pending, stale.dropped.len()), (vec!["x", "y"], 0));
        assert!(cache.peek("s", g2, "x").is_some());

        let g3 = cache.advance("s", "3:3:".into(), &Changes { everyone: true, ..Changes::default() });
        let stale = cache.stale("s", g3);
        assert_eq!((stale.pending.len(), stale.dropped.len()), (0, 2), "both conditions to scan again");
        assert!(!cache.restore("s", g2, "x", set(&[7])), "not at an older generation");
        assert!(cache.restore("s", g3, "x", set(&[7])));
        assert_eq!(ids(&cache.get("s", g3, "x").unwrap().value), vec![7]);
        assert_eq!(cache.stale("s", g3).dropped.len(), 1, "y still to scan");
        cache.put("s", g3, "y".into(), set(&[8]), node());
        assert!(cache.stale("s", g3).dropped.is_empty(), "a preview scanned y itself");
        assert!(!cache.restore("s", g3, "y", set(&[9])), "and the pass does not replace it");
        assert!(cache.get("s", g3, "audience:3").is_some());
        cache.forget("s");
        assert!(cache.active_scopes().is_empty() && cache.snapshot("s").is_none());
    }

    #[test]
    fn a_condition_with_too_many_pending_users_is_dropped() {
        let cache = PreviewCache::default();
        let g = cache.advance("s", "1:1:".into(), &Changes::default());
        cache.put("s", g, "x".into(), set(&[1]), node());
        let half: Vec<i32> = (0..(MAX_CHANGED / 2 + 1) as i32).collect();
        let other: Vec<i32> = half.iter().map(|id| id + MAX_CHANGED as i32).collect();
        let g2 = cache.advance("s", "2:2:".into(), &changed(&half));
        assert!(cache.get("s", g2, "x").is_some());
        let g3 = cache.advance("s", "3:3:".into(), &changed(&other));
        assert!(cache.get("s", g3, "x").is_none(), "scanning again is cheaper than re-evaluating them");
    }

    #[test]
    fn without_changes_a_scope_keeps_its_generation_and_scopes_are_apart() {
        let cache = PreviewCache::default();
        let g = cache.advance("s", "1:1:".into(), &Changes::default());
        cache.put("s", g, "x".into(), set(&[1]), node());
        let again = cache.advance("s", "2:2:".into(), &Changes::default());
        assert_eq!(g, again, "a preview running since still keeps its results");
        assert!(cache.get("other", g, "x").is_none());
        assert!(cache.snapshot("other").is_none());
    }

    #[test]
    fn negative_ids_round_trip() {
        let set = bitmap(&[-5, 0, 9]);
        let back: Vec<i32> = set.iter().map(user_id).collect();
        assert_eq!(back, vec![0, 9, -5]);
    }
}
