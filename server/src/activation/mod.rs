//! The activation engine (DESIGN §6): promotions pushed to Redis. PostgreSQL holds the intent
//! (the promotion's status and a job, written in one transaction); the worker, or the
//! redemption service when it finds Redis empty, rebuilds a promotion's Redis state from
//! PostgreSQL (`publish`), and the worker announces changes on a Pub/Sub channel. The keyspace
//! and the messages are a public contract: docs/activation.md.

pub mod audience;
pub mod events;
pub mod jobs;
pub mod keys;
pub mod publish;
pub mod reconcile;
pub mod scripts;

use crate::db::{Db, DbError};
pub use keys::{Keyspace, PromotionKeys};

/// What the activation engine needs: PostgreSQL, Redis and the key prefix. Cheap to clone.
#[derive(Clone)]
pub struct Activation {
    pub db: Db,
    pub redis: redis::aio::ConnectionManager,
    pub keys: Keyspace,
}

impl Activation {
    pub fn new(app: &crate::app::App) -> Self {
        Activation { db: app.db.clone(), redis: app.redis.clone(), keys: Keyspace::new(&app.config.redis_key_prefix) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

impl From<diesel::result::Error> for ActivationError {
    fn from(err: diesel::result::Error) -> Self {
        ActivationError::Db(err.into())
    }
}

impl From<ActivationError> for crate::jobs::JobError {
    fn from(err: ActivationError) -> Self {
        crate::jobs::JobError::retry(err)
    }
}

/// Milliseconds since the epoch, the time unit of the Redis state.
pub fn epoch_ms(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_millis()
}
