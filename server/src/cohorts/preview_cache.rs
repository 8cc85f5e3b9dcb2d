//! The sets of users that previews compute, kept so that the next preview reuses them: each
//! top-level condition's matches, each saved cohort's members and each frozen promotion
//! audience, as bitmaps of user ids (125 KB for a million dense ids). A builder edits one
//! condition at a time, so a preview rescans that condition only and the rest is set arithmetic.
//!
//! Freshness. A result over the users' data remembers `cdp.filter_data_version` (migration
//! 000009: bumped by every statement that writes the users, their CDP attributes, stats,
//! identities or a frozen audience) and is dropped when it moves. One case the version cannot
//! see: a writer that bumped it before the preview read it but committed after the preview's
//! scan. So the cache also remembers the snapshot of its oldest current result, and each
//! preview asks `cdp.filter_writes` (migration 000010: the transactions that wrote those
//! tables) whether a writer that snapshot could not see has committed since: if so, every data
//! result is dropped. Results that read cohort memberships are keyed by the cohorts' refresh
//! times instead and outlive data versions. Entries are per permission set, since row-level
//! security decides what a caller sees, and none lives past [`MAX_AGE`].

use roaring::RoaringBitmap;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The longest an entry is reused (a backstop: `cdp.filter_writes` keeps a day of writers).
pub const MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// Entries kept at most (a few hundred megabytes at worst); beyond it the cache starts over.
const MAX_ENTRIES: usize = 512;

/// A cached result: a set of users, or a count.
#[derive(Clone)]
pub enum Cached {
    Set(Arc<RoaringBitmap>),
    Count(i64),
}

/// What an entry's freshness rests on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Basis {
    /// The users' data at the current version.
    Data,
    /// Stamps inside its key (cohort refresh times): valid whatever the data version.
    Stamped,
}

#[derive(Default)]
pub struct PreviewCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    version: i64,
    /// The snapshot (`pg_snapshot` as text) of the oldest current data entry: what it saw.
    since: Option<String>,
    entries: HashMap<String, (Cached, Basis, Instant)>,
}

impl Inner {
    fn drop_data(&mut self) {
        self.entries.retain(|_, (_, basis, _)| *basis == Basis::Stamped);
        self.since = None;
    }

    /// Moves to `version`: data entries of another version are dropped.
    fn at(&mut self, version: i64) {
        if self.version != version {
            self.drop_data();
            self.version = version;
        }
    }
}

impl PreviewCache {
    /// Begins a preview at `version`. Returns the snapshot the current data entries rest on,
    /// if any; the caller asks whether a writer it could not see has committed since, and
    /// reports it with [`Self::settle`].
    pub fn begin(&self, version: i64) -> Option<String> {
        let mut inner = self.lock();
        inner.at(version);
        inner.since.clone()
    }

    /// Whether a writer that `since` (from [`Self::begin`]) could not see has committed: the
    /// data entries may miss its rows and are dropped.
    pub fn settle(&self, version: i64, since: &str, stale: bool) {
        let mut inner = self.lock();
        if stale && inner.version == version && inner.since.as_deref() == Some(since) {
            inner.drop_data();
        }
    }

    /// The entry under `key` if it is still valid at `version`.
    pub fn get(&self, version: i64, key: &str) -> Option<Cached> {
        let mut inner = self.lock();
        inner.at(version);
        match inner.entries.get(key) {
            Some((cached, _, at)) if at.elapsed() < MAX_AGE => Some(cached.clone()),
            _ => None,
        }
    }

    pub fn set(&self, version: i64, key: &str) -> Option<Arc<RoaringBitmap>> {
        match self.get(version, key) {
            Some(Cached::Set(set)) => Some(set),
            _ => None,
        }
    }

    /// Keeps `value` under `key`, computed at `version` by a preview whose first snapshot
    /// (taken after reading the version) was `snapshot`; unless the data moved on since.
    pub fn put(&self, version: i64, snapshot: &str, key: String, value: Cached, basis: Basis) {
        let mut inner = self.lock();
        if inner.version != version {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
            inner.since = None;
        }
        if basis == Basis::Data && inner.since.is_none() {
            inner.since = Some(snapshot.to_string());
        }
        inner.entries.insert(key, (value, basis, Instant::now()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
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

    fn set(ids: &[i32]) -> Cached {
        Cached::Set(Arc::new(bitmap(ids)))
    }

    #[test]
    fn data_entries_are_dropped_when_the_version_moves_and_stamped_ones_stay() {
        let cache = PreviewCache::default();
        cache.begin(7);
        cache.put(7, "10:10:", "x".into(), set(&[3, 1, 2]), Basis::Data);
        cache.put(7, "10:10:", "cohort:1@5".into(), set(&[9]), Basis::Stamped);
        assert_eq!(cache.set(7, "x").map(|s| s.len()), Some(3));
        assert!(cache.set(8, "x").is_none());
        assert!(cache.set(8, "cohort:1@5").is_some(), "a stamped entry outlives the data version");
        // A result computed under the old version is not kept under the new one.
        cache.put(7, "10:10:", "x".into(), set(&[1]), Basis::Data);
        assert!(cache.set(8, "x").is_none());
    }

    #[test]
    fn the_oldest_snapshot_is_checked_and_a_late_writer_drops_the_data_entries() {
        let cache = PreviewCache::default();
        assert_eq!(cache.begin(7), None, "nothing to check yet");
        cache.put(7, "10:12:10", "x".into(), set(&[1]), Basis::Data);
        cache.put(7, "12:14:", "y".into(), set(&[2]), Basis::Data);
        cache.put(7, "12:14:", "cohort:1@5".into(), set(&[9]), Basis::Stamped);
        assert_eq!(cache.begin(7).as_deref(), Some("10:12:10"), "the oldest snapshot");
        cache.settle(7, "10:12:10", false);
        assert!(cache.set(7, "x").is_some());
        cache.settle(7, "10:12:10", true);
        assert!(cache.set(7, "x").is_none() && cache.set(7, "y").is_none(), "a writer it missed committed");
        assert!(cache.set(7, "cohort:1@5").is_some());
        assert_eq!(cache.begin(7), None);
    }

    #[test]
    fn negative_ids_round_trip() {
        let set = bitmap(&[-5, 0, 9]);
        let back: Vec<i32> = set.iter().map(user_id).collect();
        assert_eq!(back, vec![0, 9, -5]);
    }
}
