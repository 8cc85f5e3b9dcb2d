//! Reconciliation: the ledger is the truth. For every running promotion, under its row lock
//! (no redemption of it commits meanwhile), the counters on the promotion row and in Redis
//! are recomputed from `cdp.redemptions`; reservations still in flight in Redis are accounted
//! for, ones abandoned by a crashed server are counted as drift. Drift is recorded in
//! `cdp.promotion_reconciliation_runs` and repaired: the row's counters are rewritten, and
//! Redis is rebuilt under a new generation.

use super::{Activation, ActivationError, publish::lock, scripts};
use crate::promotions::{model::Status, schema::promotions as p};
use diesel::{
    prelude::*,
    sql_query,
    sql_types::{Array, BigInt, Int4, Jsonb, Nullable, Text, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use redis::Script;
use std::{collections::HashMap, sync::LazyLock};

/// A reservation in flight for longer than this was abandoned (its server died before
/// committing or releasing it); a live one ends within the redemption deadline.
pub const ABANDONED_AFTER_MS: i64 = 60_000;

/// One counter that did not match the ledger.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Drift {
    pub promotion_id: i64,
    /// `redeemed_count` / `credits_granted` (the promotion row), `redis.used`,
    /// `redis.budget`, `redis.user_counts`, `redis.abandoned_reservations`, `redis.state`.
    pub counter: String,
    pub expected: i64,
    pub found: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub run_id: i64,
    pub checked: i64,
    pub drift: Vec<Drift>,
}

static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: state, used, budget, user_counts, idempotency
-- One consistent view of a promotion's counters and of its reservations in flight.
local generation = redis.call('HGET', KEYS[1], 'generation')
if not generation then return {} end
local pending = {}
local entries = redis.call('HGETALL', KEYS[5])
for i = 1, #entries, 2 do
  if string.sub(entries[i + 1], 1, 2) == 'P:' then
    pending[#pending + 1] = entries[i]
    pending[#pending + 1] = entries[i + 1]
  end
end
return {generation, redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0',
        redis.call('HGETALL', KEYS[4]), pending}
"#,
    )
});

/// Runs one reconciliation (of every running promotion, or of `only`) and records it.
pub async fn run(activation: &Activation, job_id: Option<i64>, only: Option<i64>) -> Result<Report, ActivationError> {
    let mut conn = activation.db.conn().await?;
    #[derive(QueryableByName)]
    struct RunId {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let run: RunId = sql_query("INSERT INTO cdp.promotion_reconciliation_runs (job_id) VALUES ($1) RETURNING id")
        .bind::<Nullable<BigInt>, _>(job_id)
        .get_result(&mut conn)
        .await?;
    let outcome = reconcile_all(activation, only).await;
    let (status, checked, drift, error) = match &outcome {
        Ok((checked, drift)) => ("succeeded", *checked, drift.clone(), None),
        Err(err) => ("failed", 0, Vec::new(), Some(err.to_string())),
    };
    let drifted = drift.iter().map(|d| d.promotion_id).collect::<std::collections::BTreeSet<_>>().len() as i32;
    sql_query(
        "UPDATE cdp.promotion_reconciliation_runs SET status = $2, promotions_checked = $3, promotions_drifted = $4, \
         drift = $5, error = $6, finished_at = now() WHERE id = $1",
    )
    .bind::<BigInt, _>(run.id)
    .bind::<Text, _>(status)
    .bind::<Int4, _>(checked as i32)
    .bind::<Int4, _>(drifted)
    .bind::<Jsonb, _>(serde_json::to_value(&drift).expect("drift serialises"))
    .bind::<Nullable<Text>, _>(error)
    .execute(&mut conn)
    .await?;
    for d in &drift {
        tracing::warn!(promotion = d.promotion_id, counter = %d.counter, expected = d.expected, found = d.found, "reconciliation found drift and repaired it");
    }
    let (checked, drift) = outcome?;
    Ok(Report { run_id: run.id, checked, drift })
}

async fn reconcile_all(activation: &Activation, only: Option<i64>) -> Result<(i64, Vec<Drift>), ActivationError> {
    let ids: Vec<i64> = {
        let mut conn = activation.db.conn().await?;
        let running = [Status::Scheduled, Status::Active, Status::Paused].map(Status::as_str);
        let mut query = p::table.filter(p::status.eq_any(running)).select(p::id).order(p::id).into_boxed();
        if let Some(id) = only {
            query = query.filter(p::id.eq(id));
        }
        query.load(&mut conn).await?
    };
    let mut drift = Vec::new();
    for id in &ids {
        drift.extend(reconcile_one(activation, *id).await?);
    }
    Ok((ids.len() as i64, drift))
}

#[derive(QueryableByName)]
struct LedgerUse {
    #[diesel(sql_type = Int4)]
    user_id: i32,
    #[diesel(sql_type = BigInt)]
    uses: i64,
    #[diesel(sql_type = BigInt)]
    credits: i64,
}

async fn reconcile_one(activation: &Activation, id: i64) -> Result<Vec<Drift>, ActivationError> {
    let mut tx = activation.db.begin_system().await?;
    let Some(row) = lock(&mut tx, id).await? else { return Ok(Vec::new()) };
    if !row.status().is_running() {
        return Ok(Vec::new());
    }
    let uses: Vec<LedgerUse> = sql_query(
        "SELECT user_id, count(*) AS uses, coalesce(sum(credits), 0)::int8 AS credits FROM cdp.redemptions \
         WHERE promotion_id = $1 AND status = 'redeemed' GROUP BY user_id",
    )
    .bind::<BigInt, _>(id)
    .load(&mut tx)
    .await?;
    let ledger_count: i64 = uses.iter().map(|u| u.uses).sum();
    let ledger_credits: i64 = uses.iter().map(|u| u.credits).sum();
    let mut drift = Vec::new();
    let mut found = |counter: &str, expected: i64, found: i64| {
        if expected != found {
            drift.push(Drift { promotion_id: id, counter: counter.to_string(), expected, found });
        }
    };

    // The counters on the promotion row.
    found("redeemed_count", ledger_count, row.redeemed_count);
    found("credits_granted", ledger_credits, row.credits_granted);
    if row.redeemed_count != ledger_count || row.credits_granted != ledger_credits {
        diesel::update(p::table.find(id)).set((p::redeemed_count.eq(ledger_count), p::credits_granted.eq(ledger_credits))).execute(&mut tx).await?;
    }

    // Redis, where it should hold state (an active promotion not frozen yet has none: its
    // activation job publishes it, and is queued again here if it was lost or dead-lettered).
    let should_be_published = !(row.status() == Status::Active && row.audience_frozen_at.is_none());
    if !should_be_published {
        super::jobs::enqueue_activate(&mut tx, id).await?;
    }
    let mut redis_drifted = false;
    if should_be_published {
        let keys = activation.keys.promotion(id);
        let mut redis = activation.redis.clone();
        let snapshot: Vec<redis::Value> =
            SNAPSHOT.key(&keys.state).key(&keys.used).key(&keys.budget).key(&keys.user_counts).key(&keys.idempotency).invoke_async(&mut redis).await?;
        match parse_snapshot(&snapshot) {
            None => {
                found("redis.state", row.redis_generation, 0);
                redis_drifted = true;
            }
            Some(snapshot) if snapshot.generation != row.redis_generation => {
                // Stale state (a publish job has not run yet, or failed): republish.
                found("redis.state", row.redis_generation, snapshot.generation);
                redis_drifted = true;
            }
            Some(snapshot) => {
                let in_flight = in_flight(&mut tx, id, &snapshot.pending).await?;
                let mut expected_users: HashMap<i64, i64> = uses.iter().map(|u| (u.user_id as i64, u.uses)).collect();
                for reservation in &in_flight.live {
                    *expected_users.entry(reservation.user_id).or_default() += 1;
                }
                let expected_used = ledger_count + in_flight.live.len() as i64;
                let expected_budget = ledger_credits + in_flight.live.iter().map(|r| r.credits).sum::<i64>();
                found("redis.used", expected_used, snapshot.used);
                found("redis.budget", expected_budget, snapshot.budget);
                let users_off = expected_users.iter().filter(|(user, n)| snapshot.user_counts.get(user).copied().unwrap_or(0) != **n).count()
                    + snapshot.user_counts.iter().filter(|(user, n)| **n != 0 && !expected_users.contains_key(user)).count();
                found("redis.user_counts", 0, users_off as i64);
                found("redis.abandoned_reservations", 0, in_flight.abandoned as i64);
                if !in_flight.committed_fields.is_empty() {
                    // Committed, but the server died before marking them: mark them now.
                    scripts::mark_committed(&mut redis, &keys, &in_flight.committed_fields).await?;
                }
                redis_drifted = snapshot.used != expected_used || snapshot.budget != expected_budget || users_off > 0 || in_flight.abandoned > 0;
            }
        }
    }
    if redis_drifted {
        let row = lock(&mut tx, id).await?.expect("the row is locked by this transaction");
        activation.publish_locked(&mut tx, &row, true).await?;
    }
    tx.commit().await?;
    Ok(drift)
}

struct Snapshot {
    generation: i64,
    used: i64,
    budget: i64,
    user_counts: HashMap<i64, i64>,
    /// Idempotency field → `P:<generation>:<user>:<credits>:<reserved at ms>`.
    pending: Vec<(String, String)>,
}

fn parse_snapshot(values: &[redis::Value]) -> Option<Snapshot> {
    use redis::FromRedisValue;
    if values.is_empty() {
        return None;
    }
    let int = |v: &redis::Value| String::from_redis_value(v.clone()).ok().and_then(|s| s.parse::<i64>().ok());
    let pairs = |v: &redis::Value| Vec::<String>::from_redis_value(v.clone()).ok();
    let counts = pairs(values.get(3)?)?;
    let pending = pairs(values.get(4)?)?;
    Some(Snapshot {
        generation: int(values.first()?)?,
        used: int(values.get(1)?)?,
        budget: int(values.get(2)?)?,
        user_counts: counts.chunks(2).filter_map(|c| Some((c.first()?.parse().ok()?, c.get(1)?.parse().ok()?))).collect(),
        pending: pending.chunks(2).filter_map(|c| Some((c.first()?.clone(), c.get(1)?.clone()))).collect(),
    })
}

struct Reserved {
    user_id: i64,
    credits: i64,
}

struct InFlight {
    /// Reservations that may still commit.
    live: Vec<Reserved>,
    /// Reservations older than [`ABANDONED_AFTER_MS`] with no ledger row.
    abandoned: usize,
    /// Fields whose ledger row exists (counted in the ledger already).
    committed_fields: Vec<String>,
}

/// Sorts the reservations in flight in Redis by what the ledger says of them.
async fn in_flight(conn: &mut AsyncPgConnection, promotion_id: i64, pending: &[(String, String)]) -> Result<InFlight, ActivationError> {
    let now = crate::activation::epoch_ms(chrono::Utc::now());
    let parsed: Vec<(String, uuid::Uuid, String, Reserved, i64)> = pending
        .iter()
        .filter_map(|(field, entry)| {
            let (credential, key) = field.split_once('|')?;
            let mut parts = entry.strip_prefix("P:")?.split(':');
            let _generation = parts.next()?;
            let user_id = parts.next()?.parse().ok()?;
            let credits = parts.next()?.parse().ok()?;
            let reserved_at: i64 = parts.next()?.parse().ok()?;
            Some((field.clone(), credential.parse().ok()?, key.to_string(), Reserved { user_id, credits }, reserved_at))
        })
        .collect();
    #[derive(QueryableByName)]
    struct Committed {
        #[diesel(sql_type = Text)]
        field: String,
    }
    let committed: Vec<Committed> = sql_query(
        "SELECT i.field FROM unnest($2::uuid[], $3::text[], $4::text[]) AS i(credential, key, field) \
         JOIN cdp.redemptions r ON r.service_credential_id = i.credential AND r.idempotency_key = i.key AND r.promotion_id = $1",
    )
    .bind::<BigInt, _>(promotion_id)
    .bind::<Array<SqlUuid>, _>(parsed.iter().map(|p| p.1).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(parsed.iter().map(|p| p.2.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(parsed.iter().map(|p| p.0.clone()).collect::<Vec<_>>())
    .load(conn)
    .await?;
    let committed: std::collections::HashSet<String> = committed.into_iter().map(|c| c.field).collect();
    let mut result = InFlight { live: Vec::new(), abandoned: 0, committed_fields: Vec::new() };
    for (field, _, _, reserved, reserved_at) in parsed {
        if committed.contains(&field) {
            result.committed_fields.push(field);
        } else if now - reserved_at > ABANDONED_AFTER_MS {
            result.abandoned += 1;
        } else {
            result.live.push(reserved);
        }
    }
    Ok(result)
}
