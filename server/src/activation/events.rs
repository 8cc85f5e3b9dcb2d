//! Promotion events on the Pub/Sub channel `<prefix>:promotions:events`. Delivery is at least
//! once while someone listens and not at all otherwise (Pub/Sub keeps nothing), so an event
//! only says "look again": the state keys are the truth (docs/activation.md).

use super::{Activation, ActivationError};
use chrono::Utc;
use redis::AsyncCommands;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The promotion became redeemable (started now or at its `starts_at`).
    Activated,
    /// The promotion was activated to start later.
    Scheduled,
    /// Paused by a platform user, or archived: redemptions stopped.
    Deactivated,
    /// Its window ended; its keys are gone.
    Expired,
    /// It spent its credit budget and paused itself.
    BudgetExhausted,
    /// Its limits, end or (live) audience changed.
    Updated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Activated => "activated",
            EventKind::Scheduled => "scheduled",
            EventKind::Deactivated => "deactivated",
            EventKind::Expired => "expired",
            EventKind::BudgetExhausted => "budget_exhausted",
            EventKind::Updated => "updated",
        }
    }
}

/// One message on the channel, JSON-encoded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub event: EventKind,
    pub promotion_id: i64,
    /// The promotion's status after the change (`active`, `paused`, `expired`, ...).
    pub status: String,
    /// The generation of the state keys at the time (0 when they were removed).
    pub generation: i64,
    /// Why, when there is something to say (e.g. `credit budget exhausted`).
    pub reason: String,
    /// When the event was published (RFC 3339, UTC).
    pub at: chrono::DateTime<Utc>,
}

impl Activation {
    pub async fn publish_event(&self, event: EventKind, promotion_id: i64, status: &str, generation: i64, reason: &str) -> Result<(), ActivationError> {
        let message = Event { event, promotion_id, status: status.to_string(), generation, reason: reason.to_string(), at: Utc::now() };
        let json = serde_json::to_string(&message).expect("an event always serialises");
        let mut redis = self.redis.clone();
        let _: i64 = redis.publish(self.keys.events_channel(), json).await?;
        tracing::info!(promotion = promotion_id, event = event.as_str(), status, "promotion event published");
        Ok(())
    }
}
