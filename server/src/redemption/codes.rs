//! From a promo code to its promotion (and, for a unique code, the user it belongs to). Kept
//! in memory once found: a shared code belongs to one promotion until that promotion is
//! archived, a unique code forever. A stale entry (an archived promotion's code taken by a new
//! one) shows as a promotion with no state; the redemption then forgets it and looks again.

use crate::{
    db::Db,
    promotions::{
        model::Status,
        schema::{promotion_audience as a, promotions as p},
    },
};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::{collections::HashMap, sync::RwLock};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeTarget {
    pub promotion_id: i64,
    /// The user a unique code was issued to; `None` for a shared code.
    pub owner: Option<i64>,
}

/// Entries kept before the cache starts over (unique codes can be many).
const MAX_ENTRIES: usize = 500_000;

pub struct CodeDirectory {
    db: Db,
    known: RwLock<HashMap<String, CodeTarget>>,
}

impl CodeDirectory {
    pub fn new(db: Db) -> Self {
        CodeDirectory { db, known: RwLock::new(HashMap::new()) }
    }

    /// The promotion of `code` (upper case), or `None` when no promotion has it.
    pub async fn resolve(&self, code: &str) -> Result<Option<CodeTarget>, crate::db::DbError> {
        if let Some(target) = self.known.read().unwrap_or_else(|e| e.into_inner()).get(code) {
            return Ok(Some(*target));
        }
        let mut conn = self.db.conn().await?;
        let shared: Option<i64> =
            p::table.filter(p::code.eq(code)).filter(p::status.ne(Status::Archived.as_str())).select(p::id).first(&mut conn).await.optional()?;
        let target = match shared {
            Some(promotion_id) => Some(CodeTarget { promotion_id, owner: None }),
            None => a::table
                .filter(a::code.eq(code))
                .select((a::promotion_id, a::user_id))
                .first::<(i64, i32)>(&mut conn)
                .await
                .optional()?
                .map(|(promotion_id, user)| CodeTarget { promotion_id, owner: Some(i64::from(user)) }),
        };
        if let Some(target) = target {
            let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
            if known.len() >= MAX_ENTRIES {
                known.clear();
            }
            known.insert(code.to_string(), target);
        }
        Ok(target)
    }

    pub fn forget(&self, code: &str) {
        self.known.write().unwrap_or_else(|e| e.into_inner()).remove(code);
    }
}
