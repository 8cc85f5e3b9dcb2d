//! Publishing a promotion to Redis: its whole state rebuilt from PostgreSQL (the promotion row,
//! its audience and the redemption ledger) under the promotion's row lock, written to building
//! keys and switched in by one script. Every rebuild bumps `redis_generation`, which fences
//! out reservations taken on the state it replaces (docs/activation.md, "Generations").

use super::{Activation, ActivationError, epoch_ms, scripts};
use crate::promotions::{
    model::{CodeMode, PromotionRow, Status},
    schema::promotions as p,
};
use diesel::{
    prelude::*,
    sql_query,
    sql_types::{Array, BigInt, Int4, Nullable, Text},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use redis::AsyncCommands;

/// What `publish` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Published {
    /// Redis already held the promotion's generation.
    Current { generation: i64 },
    /// The state was rebuilt and installed under a new generation.
    Rebuilt { generation: i64 },
    /// The promotion is not running (draft, expired or archived): its keys were removed.
    Removed,
    /// Active but its audience is not frozen yet: the activation job publishes it.
    NotReady,
    /// No such promotion.
    Missing,
}

/// Redis commands are sent in pipelines of this many, each of this many hash fields.
const FIELDS_PER_COMMAND: usize = 1_000;
const COMMANDS_PER_PIPELINE: usize = 16;
/// Bitmaps are written in slices of this many bytes.
const BITMAP_SLICE: usize = 1 << 20;
/// Building keys that a dead rebuild left behind disappear by themselves after this.
const BUILDING_KEY_TTL_SECS: i64 = 3600;

/// Locks the promotion's row for the rest of the transaction.
pub async fn lock(conn: &mut AsyncPgConnection, promotion_id: i64) -> diesel::QueryResult<Option<PromotionRow>> {
    p::table.find(promotion_id).select(PromotionRow::as_select()).for_update().first(conn).await.optional()
}

impl Activation {
    /// Makes Redis hold the promotion's current state: rebuilt (new generation) unless Redis
    /// already holds the generation PostgreSQL names and `force` is false.
    pub async fn publish(&self, promotion_id: i64, force: bool) -> Result<Published, ActivationError> {
        let mut tx = self.db.begin_system().await?;
        let Some(row) = lock(&mut tx, promotion_id).await? else {
            return Ok(Published::Missing);
        };
        let published = self.publish_locked(&mut tx, &row, force).await?;
        tx.commit().await?;
        Ok(published)
    }

    /// [`publish`](Self::publish) inside the caller's transaction, which holds `row`'s lock.
    pub async fn publish_locked(&self, conn: &mut AsyncPgConnection, row: &PromotionRow, force: bool) -> Result<Published, ActivationError> {
        let status = row.status();
        if !status.is_running() {
            self.remove(row).await?;
            return Ok(Published::Removed);
        }
        if status == Status::Active && row.audience_frozen_at.is_none() {
            return Ok(Published::NotReady);
        }
        let keys = self.keys.promotion(row.id);
        if !force {
            let mut redis = self.redis.clone();
            let current: Option<i64> = redis.hget(&keys.state, "generation").await?;
            if current == Some(row.redis_generation) {
                return Ok(Published::Current { generation: row.redis_generation });
            }
        }
        let generation = row.redis_generation + 1;
        diesel::update(p::table.find(row.id)).set(p::redis_generation.eq(generation)).execute(conn).await?;
        self.build_and_install(conn, row, generation).await?;
        Ok(Published::Rebuilt { generation })
    }

    async fn build_and_install(&self, conn: &mut AsyncPgConnection, row: &PromotionRow, generation: i64) -> Result<(), ActivationError> {
        let keys = self.keys.promotion(row.id);
        let mut redis = self.redis.clone();
        let building = ["eligible", "user_counts", "codes"].map(|what| keys.building(what, generation));
        let _: i64 = redis.del(&building).await?;

        // Eligibility: only once the audience is frozen (a scheduled promotion has none yet).
        let mut built = [false; 3];
        if row.audience_frozen_at.is_some() {
            #[derive(QueryableByName)]
            struct Members {
                #[diesel(sql_type = Array<Int4>)]
                user_ids: Vec<i32>,
            }
            let members: Members = sql_query(
                "SELECT coalesce(array_agg(user_id), '{}') AS user_ids FROM cdp.promotion_audience \
                 WHERE promotion_id = $1 AND removed_at IS NULL",
            )
            .bind::<BigInt, _>(row.id)
            .get_result(conn)
            .await?;
            let bitmap = eligibility_bitmap(&members.user_ids);
            built[0] = !bitmap.is_empty();
            for (i, slice) in bitmap.chunks(BITMAP_SLICE).enumerate() {
                let _: i64 = redis.setrange(&building[0], (i * BITMAP_SLICE) as isize, slice).await?;
            }
            let _: bool = redis.expire(&building[0], BUILDING_KEY_TTL_SECS).await?;
            if row.code_mode() == CodeMode::UniquePerUser {
                #[derive(QueryableByName)]
                struct UserCode {
                    #[diesel(sql_type = Int4)]
                    user_id: i32,
                    #[diesel(sql_type = Nullable<Text>)]
                    code: Option<String>,
                }
                let codes: Vec<UserCode> =
                    sql_query("SELECT user_id, code FROM cdp.promotion_audience WHERE promotion_id = $1 AND removed_at IS NULL AND code IS NOT NULL")
                        .bind::<BigInt, _>(row.id)
                        .load(conn)
                        .await?;
                let pairs: Vec<(i32, String)> = codes.into_iter().filter_map(|c| c.code.map(|code| (c.user_id, code))).collect();
                built[2] = !pairs.is_empty();
                self.write_hash(&building[2], &pairs).await?;
            }
        }

        // Counters: what the ledger says, nothing else (in-flight reservations of the previous
        // generation will not commit).
        #[derive(QueryableByName)]
        struct UserUse {
            #[diesel(sql_type = Int4)]
            user_id: i32,
            #[diesel(sql_type = BigInt)]
            uses: i64,
            #[diesel(sql_type = BigInt)]
            credits: i64,
        }
        let uses: Vec<UserUse> = sql_query(
            "SELECT user_id, count(*) AS uses, coalesce(sum(credits), 0)::int8 AS credits FROM cdp.redemptions \
             WHERE promotion_id = $1 AND status = 'redeemed' GROUP BY user_id",
        )
        .bind::<BigInt, _>(row.id)
        .load(conn)
        .await?;
        let used: i64 = uses.iter().map(|u| u.uses).sum();
        let credits: i64 = uses.iter().map(|u| u.credits).sum();
        let pairs: Vec<(i32, i64)> = uses.iter().map(|u| (u.user_id, u.uses)).collect();
        built[1] = !pairs.is_empty();
        self.write_hash(&building[1], &pairs).await?;

        let expire_at = row.ends_at.map(epoch_ms).unwrap_or(0);
        let state = state_fields(row, generation);
        scripts::install(&mut redis, &keys, generation, expire_at, used, credits, built, &state).await?;
        let _: i64 = redis.sadd(self.keys.published_index(), row.id).await?;
        if let Some(code) = &row.code {
            let _: i64 = redis.hset(self.keys.shared_codes(), code, row.id).await?;
        }
        tracing::info!(promotion = row.id, generation, status = %row.status, used, credits, "promotion state published to Redis");
        Ok(())
    }

    /// Writes `pairs` into the hash `key` in pipelined slices, with a safety expiry.
    async fn write_hash<F: redis::ToRedisArgs + Send + Sync, V: redis::ToRedisArgs + Send + Sync>(
        &self,
        key: &str,
        pairs: &[(F, V)],
    ) -> Result<(), ActivationError> {
        let mut redis = self.redis.clone();
        for group in pairs.chunks(FIELDS_PER_COMMAND * COMMANDS_PER_PIPELINE) {
            let mut pipe = redis::pipe();
            for slice in group.chunks(FIELDS_PER_COMMAND) {
                pipe.hset_multiple(key, slice).ignore();
            }
            pipe.expire(key, BUILDING_KEY_TTL_SECS).ignore();
            let () = pipe.query_async(&mut redis).await?;
        }
        Ok(())
    }

    /// Removes a promotion that no longer runs from Redis.
    pub async fn remove(&self, row: &PromotionRow) -> Result<(), ActivationError> {
        let keys = self.keys.promotion(row.id);
        let mut redis = self.redis.clone();
        let _: i64 = redis.del(&keys.all()).await?;
        let _: i64 = redis.srem(self.keys.published_index(), row.id).await?;
        if let Some(code) = &row.code {
            scripts::forget_shared_code(&mut redis, &self.keys.shared_codes(), code, row.id).await?;
        }
        Ok(())
    }
}

/// The Redis bitmap with bit `user_id` set for each member (Redis numbers bits from the most
/// significant bit of the first byte).
pub fn eligibility_bitmap(user_ids: &[i32]) -> Vec<u8> {
    let max = user_ids.iter().copied().filter(|id| *id >= 0).max();
    let mut bitmap = vec![0u8; max.map(|m| m as usize / 8 + 1).unwrap_or(0)];
    for id in user_ids.iter().copied().filter(|id| *id >= 0) {
        let id = id as usize;
        bitmap[id / 8] |= 0x80 >> (id % 8);
    }
    bitmap
}

/// The fields of the state hash (docs/activation.md lists them).
fn state_fields(row: &PromotionRow, generation: i64) -> Vec<(&'static str, String)> {
    vec![
        ("promotion_id", row.id.to_string()),
        ("generation", generation.to_string()),
        ("status", row.status.clone()),
        ("name", row.name.clone()),
        ("type", row.benefit_type.clone()),
        ("value", row.value.to_string()),
        ("addon", row.addon.clone()),
        ("code_mode", row.code_mode.clone()),
        ("code", row.code.clone().unwrap_or_default()),
        ("starts_at_ms", row.starts_at.map(epoch_ms).unwrap_or(0).to_string()),
        ("ends_at_ms", row.ends_at.map(epoch_ms).unwrap_or(0).to_string()),
        ("total_cap", row.total_cap.to_string()),
        ("per_user_cap", row.per_user_cap.to_string()),
        ("credit_budget", row.credit_budget.to_string()),
        ("audience", row.audience.clone()),
        ("audience_size", row.audience_size.to_string()),
        ("published_at_ms", epoch_ms(chrono::Utc::now()).to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_bits_follow_redis_numbering() {
        let bitmap = eligibility_bitmap(&[0, 7, 9]);
        assert_eq!(bitmap, vec![0b1000_0001, 0b0100_0000]);
        assert!(eligibility_bitmap(&[]).is_empty());
    }
}
