//! The group-commit ledger writer. Redemptions reserved in Redis queue here; a writer takes
//! every one waiting (up to a batch) and commits them with one statement: lock the promotion
//! rows (the fence: still active, inside the window, and of the generation each reservation
//! was taken in), insert the ledger rows (an idempotency key already in the ledger inserts
//! nothing), add them to the promotion counters (whose CHECKs bound the caps once more) and,
//! when the budget can no longer pay one benefit, queue the pause. One lock and one commit per
//! batch instead of per redemption: the counter row stops being the serialisation point.
//! Each caller is answered only after the commit.

use crate::activation::{Keyspace, scripts};
use chrono::{DateTime, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

/// The most redemptions one statement commits.
const MAX_BATCH: usize = 512;
/// Writers, each with its own connection. One: a hot promotion's batches serialise on its row
/// lock anyway, and a single writer lets each batch grow to everything that queued while the
/// previous one committed (two writers halve the batches and gain nothing).
const WRITERS: usize = 1;
/// Waiting room: beyond this many queued redemptions, callers wait to enqueue.
const QUEUE: usize = 8192;

/// A reserved redemption to commit.
#[derive(Clone, Debug)]
pub struct NewRedemption {
    pub promotion_id: i64,
    /// The Redis generation the reservation was taken in.
    pub generation: i64,
    pub user_id: i32,
    pub code: String,
    pub credential: Uuid,
    pub idempotency_key: String,
    pub order_reference: String,
    pub order_credits: Option<i64>,
    pub credits: i64,
}

/// What the ledger made of a redemption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    Committed {
        id: i64,
        redeemed_at: DateTime<Utc>,
    },
    /// The credential already used this idempotency key: nothing was inserted.
    KeyTaken,
    /// The promotion is no longer active and in its window, or its Redis state was rebuilt
    /// since the reservation: nothing was inserted.
    Fenced,
    /// The user's CDP account is suspended (`cdp.user_attributes`): nothing was inserted.
    Suspended,
    /// A cap on the promotion row would be exceeded (its limits were lowered meanwhile).
    TotalCapReached,
    BudgetSpent,
}

/// A failed write. `Definite`: nothing committed (the reservation may be released).
/// `Ambiguous`: the connection broke, the commit may have happened; the reservation must stay
/// until reconciliation compares it with the ledger.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WriteError {
    #[error("the ledger refused the batch: {0}")]
    Definite(String),
    #[error("the ledger connection broke mid-commit: {0}")]
    Ambiguous(String),
}

struct Pending {
    row: NewRedemption,
    answer: oneshot::Sender<Result<Written, WriteError>>,
}

#[derive(Clone)]
pub struct LedgerWriter {
    queue: mpsc::Sender<Pending>,
}

impl LedgerWriter {
    /// Starts the writers on their own connections to `database_url`.
    pub fn start(database_url: String, redis: redis::aio::ConnectionManager, keys: Keyspace) -> Self {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..WRITERS {
            tokio::spawn(write_loop(database_url.clone(), receiver.clone(), redis.clone(), keys.clone()));
        }
        LedgerWriter { queue }
    }

    /// Commits `row` (with whatever else is waiting) and says what became of it.
    pub async fn write(&self, row: NewRedemption) -> Result<Written, WriteError> {
        let (answer, answered) = oneshot::channel();
        self.queue.send(Pending { row, answer }).await.map_err(|_| WriteError::Definite("the ledger writer stopped".into()))?;
        answered.await.map_err(|_| WriteError::Ambiguous("the ledger writer stopped mid-batch".into()))?
    }
}

async fn write_loop(database_url: String, receiver: Arc<Mutex<mpsc::Receiver<Pending>>>, redis: redis::aio::ConnectionManager, keys: Keyspace) {
    let mut conn: Option<AsyncPgConnection> = None;
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        if conn.is_none() {
            match AsyncPgConnection::establish(&database_url).await {
                Ok(fresh) => conn = Some(fresh),
                Err(err) => {
                    tracing::error!(error = %err, "the ledger writer cannot connect to PostgreSQL");
                    for pending in batch {
                        let _ = pending.answer.send(Err(WriteError::Definite("the ledger is unavailable".into())));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
        }
        let connection = conn.as_mut().expect("connected just above");
        let rows: Vec<&NewRedemption> = batch.iter().map(|p| &p.row).collect();
        let outcome = match commit(connection, &rows).await {
            Ok(written) => Ok(written.into_iter().map(Ok).collect()),
            // A cap CHECK failed for the batch as a whole: commit one by one, so only the
            // redemptions beyond the cap are refused.
            Err(Failure::Cap(_)) => {
                let mut each = Vec::with_capacity(rows.len());
                for row in &rows {
                    each.push(match commit(connection, &[row]).await {
                        Ok(mut written) => written.pop().map(Ok).unwrap_or_else(|| Err(WriteError::Definite("no answer for a row".into()))),
                        Err(failure) => failure.alone(),
                    });
                }
                Ok(each)
            }
            Err(failure) => Err(failure),
        };
        let answers: Vec<Result<Written, WriteError>> = match outcome {
            Ok(answers) => answers,
            Err(failure) => {
                if matches!(failure, Failure::Ambiguous(_)) {
                    conn = None; // reconnect for the next batch
                }
                let error = failure.into_error();
                tracing::error!(error = %error, batch = rows.len(), "ledger batch failed");
                vec![Err(error); rows.len()]
            }
        };
        // Mark committed reservations in Redis (off the answer path), per promotion.
        let mut committed: HashMap<i64, Vec<String>> = HashMap::new();
        for (pending, answer) in batch.iter().zip(&answers) {
            if matches!(answer, Ok(Written::Committed { .. })) {
                committed.entry(pending.row.promotion_id).or_default().push(scripts::idempotency_field(&pending.row.credential, &pending.row.idempotency_key));
            }
        }
        for (pending, answer) in batch.into_iter().zip(answers) {
            let _ = pending.answer.send(answer);
        }
        if !committed.is_empty() {
            let mut redis = redis.clone();
            let keys = keys.clone();
            tokio::spawn(async move {
                for (promotion_id, fields) in committed {
                    if let Err(err) = scripts::mark_committed(&mut redis, &keys.promotion(promotion_id), &fields).await {
                        // Harmless: reconciliation marks them (it finds their ledger rows).
                        tracing::warn!(promotion = promotion_id, error = %err, "could not mark committed reservations");
                    }
                }
            });
        }
    }
}

enum Failure {
    Cap(Written),
    Definite(String),
    Ambiguous(String),
}

impl Failure {
    fn into_error(self) -> WriteError {
        match self {
            Failure::Cap(written) => WriteError::Definite(format!("{written:?}")),
            Failure::Definite(msg) => WriteError::Definite(msg),
            Failure::Ambiguous(msg) => WriteError::Ambiguous(msg),
        }
    }

    /// The answer for a row committed alone.
    fn alone(self) -> Result<Written, WriteError> {
        match self {
            Failure::Cap(written) => Ok(written),
            other => Err(other.into_error()),
        }
    }
}

fn classify(err: diesel::result::Error) -> Failure {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match &err {
        E::DatabaseError(K::CheckViolation, info) => match info.constraint_name() {
            Some("promotions_total_cap_held") => Failure::Cap(Written::TotalCapReached),
            Some("promotions_credit_budget_held") => Failure::Cap(Written::BudgetSpent),
            _ => Failure::Definite(err.to_string()),
        },
        // The server answered with an error: the statement, and its transaction, rolled back.
        E::DatabaseError(kind, _) if !matches!(kind, K::UnableToSendCommand | K::ClosedConnection) => Failure::Definite(err.to_string()),
        _ => Failure::Ambiguous(err.to_string()),
    }
}

#[derive(QueryableByName)]
struct Outcome {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    promotion_id: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    credential: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    idempotency_key: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    redeemed_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    generation: i64,
}

/// The batch statement. It runs on its own (autocommit): one round trip, one commit.
const COMMIT_BATCH: &str = "\
WITH input AS (
  SELECT * FROM unnest($1::int8[], $2::int8[], $3::int4[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::int8[], $9::int8[])
    AS t(promotion_id, generation, user_id, code, credential, idempotency_key, order_reference, order_credits, credits)
),
fence AS (
  SELECT p.id, p.redis_generation FROM cdp.promotions p
  WHERE p.id IN (SELECT promotion_id FROM input) AND p.status = 'active' AND (p.ends_at IS NULL OR p.ends_at > now())
  ORDER BY p.id
  FOR UPDATE
),
inserted AS (
  INSERT INTO cdp.redemptions (promotion_id, user_id, code, service_credential_id, idempotency_key, order_reference, order_credits, credits)
  SELECT i.promotion_id, i.user_id, i.code, i.credential, i.idempotency_key, i.order_reference, i.order_credits, i.credits
  FROM input i JOIN fence f ON f.id = i.promotion_id AND f.redis_generation = i.generation
  WHERE NOT EXISTS (SELECT 1 FROM cdp.user_attributes ua WHERE ua.user_id = i.user_id AND ua.account_status = 'suspended')
  ON CONFLICT (service_credential_id, idempotency_key) DO NOTHING
  RETURNING id, promotion_id, service_credential_id, idempotency_key, redeemed_at, credits
),
counted AS (
  UPDATE cdp.promotions p SET redeemed_count = p.redeemed_count + s.n, credits_granted = p.credits_granted + s.c
  FROM (SELECT promotion_id, count(*) AS n, sum(credits) AS c FROM inserted GROUP BY promotion_id) s
  WHERE p.id = s.promotion_id
  RETURNING p.id, p.credit_budget, p.credits_granted,
            CASE WHEN p.benefit_type = 'bonus_credits' THEN greatest(p.value::int8, 1) ELSE 1 END AS min_credits
),
exhausted AS (
  INSERT INTO cdp.jobs (kind, payload, dedupe_key)
  SELECT 'promotion.budget_exhausted', jsonb_build_object('promotion_id', c.id), 'promotion:' || c.id
  FROM counted c WHERE c.credit_budget > 0 AND c.credit_budget - c.credits_granted < c.min_credits
  ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
  RETURNING id
)
SELECT 'inserted' AS kind, id, promotion_id, service_credential_id AS credential, idempotency_key, redeemed_at, 0::int8 AS generation FROM inserted
UNION ALL
SELECT 'fence', 0, id, NULL::uuid, NULL::text, NULL::timestamptz, redis_generation FROM fence
UNION ALL
SELECT 'suspended', 0, i.promotion_id, i.credential, i.idempotency_key, NULL::timestamptz, 0 FROM input i
WHERE EXISTS (SELECT 1 FROM cdp.user_attributes ua WHERE ua.user_id = i.user_id AND ua.account_status = 'suspended')";

async fn commit(conn: &mut AsyncPgConnection, rows: &[&NewRedemption]) -> Result<Vec<Written>, Failure> {
    let outcome: Vec<Outcome> = sql_query(COMMIT_BATCH)
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.promotion_id).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.generation).collect::<Vec<_>>())
        .bind::<Array<Int4>, _>(rows.iter().map(|r| r.user_id).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.code.as_str()).collect::<Vec<_>>())
        .bind::<Array<SqlUuid>, _>(rows.iter().map(|r| r.credential).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.idempotency_key.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(rows.iter().map(|r| r.order_reference.as_str()).collect::<Vec<_>>())
        .bind::<Array<Nullable<BigInt>>, _>(rows.iter().map(|r| r.order_credits).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.credits).collect::<Vec<_>>())
        .load(conn)
        .await
        .map_err(classify)?;
    let mut inserted: HashMap<(i64, Uuid, &str), (i64, DateTime<Utc>)> = HashMap::new();
    let mut suspended: std::collections::HashSet<(i64, Uuid, &str)> = std::collections::HashSet::new();
    let mut fence: HashMap<i64, i64> = HashMap::new();
    for o in &outcome {
        match (o.kind.as_str(), o.credential, o.idempotency_key.as_deref(), o.redeemed_at) {
            ("inserted", Some(credential), Some(key), Some(at)) => {
                inserted.insert((o.promotion_id, credential, key), (o.id, at));
            }
            ("suspended", Some(credential), Some(key), _) => {
                suspended.insert((o.promotion_id, credential, key));
            }
            _ => {
                fence.insert(o.promotion_id, o.generation);
            }
        }
    }
    Ok(rows
        .iter()
        .map(|row| match inserted.get(&(row.promotion_id, row.credential, row.idempotency_key.as_str())) {
            Some((id, at)) => Written::Committed { id: *id, redeemed_at: *at },
            None if fence.get(&row.promotion_id) != Some(&row.generation) => Written::Fenced,
            None if suspended.contains(&(row.promotion_id, row.credential, row.idempotency_key.as_str())) => Written::Suspended,
            None => Written::KeyTaken,
        })
        .collect())
}
