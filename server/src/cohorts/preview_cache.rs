//! The sets of users that previews compute, kept so that the next preview reuses them: each
//! top-level condition's matches, each saved cohort's members and each frozen promotion audience, as bitmaps of user ids (125 KB for a million
//! dense ids). A builder edits one condition at a time, so a preview rescans that condition
//! only and the rest is set arithmetic.
//!
//! Freshness: an entry remembers `cdp.filter_data_version` (migration 000009: bumped by every
//! statement that writes the users, their CDP attributes, stats, identities or a frozen
//! audience) and is dropped when it moves; what reads a cohort's membership is keyed by the
//! cohort's refresh time instead. A write whose transaction was still open while an entry was
//! computed can leave that entry stale, so nothing is kept longer than [`MAX_AGE`] either.
//! Entries are per permission set, since row-level security decides what a caller sees.

use roaring::RoaringBitmap;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The longest an entry is reused, whatever the data version says.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Entries kept at most (a few hundred megabytes at worst); beyond it the cache starts over.
const MAX_ENTRIES: usize = 512;

/// A cached result: a set of users, or a count.
#[derive(Clone)]
pub enum Cached {
    Set(Arc<RoaringBitmap>),
    Count(i64),
}

#[derive(Default)]
pub struct PreviewCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    version: i64,
    entries: HashMap<String, (Cached, Instant)>,
}

impl PreviewCache {
    /// The entry under `key` if it was computed under `version` within [`MAX_AGE`].
    pub fn get(&self, version: i64, key: &str) -> Option<Cached> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.version != version {
            inner.entries.clear();
            inner.version = version;
            return None;
        }
        match inner.entries.get(key) {
            Some((cached, at)) if at.elapsed() < MAX_AGE => Some(cached.clone()),
            _ => None,
        }
    }

    /// Keeps `value` under `key`, unless the data moved on since `version` was read.
    pub fn put(&self, version: i64, key: String, value: Cached) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.version != version {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(key, (value, Instant::now()));
    }

    pub fn set(&self, version: i64, key: &str) -> Option<Arc<RoaringBitmap>> {
        match self.get(version, key) {
            Some(Cached::Set(set)) => Some(set),
            _ => None,
        }
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

    #[test]
    fn an_entry_is_dropped_when_the_data_version_moves() {
        let cache = PreviewCache::default();
        cache.get(7, "x");
        cache.put(7, "x".into(), Cached::Set(Arc::new(bitmap(&[3, 1, 2]))));
        assert_eq!(cache.set(7, "x").map(|s| s.len()), Some(3));
        assert!(cache.set(8, "x").is_none());
        // A result computed under the old version is not kept under the new one.
        cache.put(7, "x".into(), Cached::Set(Arc::new(bitmap(&[1]))));
        assert!(cache.set(8, "x").is_none());
    }

    #[test]
    fn negative_ids_round_trip() {
        let set = bitmap(&[-5, 0, 9]);
        let back: Vec<i32> = set.iter().map(user_id).collect();
        assert_eq!(back, vec![0, 9, -5]);
    }
}
