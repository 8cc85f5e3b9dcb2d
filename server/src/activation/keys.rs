//! The Redis keyspace of the activation engine, a public contract (docs/activation.md).
//! Every key of one promotion shares the hash tag `{promo:<id>}`, so each Lua script touches
//! one Redis Cluster slot; the few global keys are never used inside a script.

use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Keyspace {
    prefix: Arc<str>,
}

impl Keyspace {
    /// `prefix` is the deployment's `CDP_REDIS_KEY_PREFIX`.
    pub fn new(prefix: &str) -> Self {
        Keyspace { prefix: prefix.into() }
    }

    pub fn promotion(&self, id: i64) -> PromotionKeys {
        let base = format!("{}:{{promo:{id}}}", self.prefix);
        PromotionKeys {
            state: format!("{base}:state"),
            eligible: format!("{base}:eligible"),
            used: format!("{base}:used"),
            budget: format!("{base}:budget"),
            user_counts: format!("{base}:user_counts"),
            codes: format!("{base}:codes"),
            idempotency: format!("{base}:idempotency"),
            base,
        }
    }

    /// The Pub/Sub channel of promotion events.
    pub fn events_channel(&self) -> String {
        format!("{}:promotions:events", self.prefix)
    }

    /// Set of the ids of promotions that have state in Redis.
    pub fn published_index(&self) -> String {
        format!("{}:promotions:published", self.prefix)
    }

    /// Hash from a shared code to its promotion id.
    pub fn shared_codes(&self) -> String {
        format!("{}:promotions:codes", self.prefix)
    }
}

/// The keys of one promotion.
#[derive(Clone, Debug)]
pub struct PromotionKeys {
    /// `<prefix>:{promo:<id>}`
    pub base: String,
    /// Hash: status, generation, window, limits and benefit.
    pub state: String,
    /// Bitmap: bit `user_id` is 1 when the user is in the audience.
    pub eligible: String,
    /// Integer: redemptions counted (committed plus in flight).
    pub used: String,
    /// Integer: credits counted against the budget (committed plus in flight).
    pub budget: String,
    /// Hash: user id → redemptions counted for that user.
    pub user_counts: String,
    /// Hash: user id → the user's own code (unique-per-user mode).
    pub codes: String,
    /// Hash (internal): `<credential>|<idempotency key>` → `P:...` while in flight, `D` once
    /// committed. It makes a parallel retry of the same key wait instead of counting twice.
    pub idempotency: String,
}

impl PromotionKeys {
    /// A key being built by the rebuild of `generation`, renamed onto the live key at install.
    pub fn building(&self, what: &str, generation: i64) -> String {
        format!("{}:{what}:building:{generation}", self.base)
    }

    /// Every key of the promotion (for deletion).
    pub fn all(&self) -> [&str; 7] {
        [&self.state, &self.eligible, &self.used, &self.budget, &self.user_counts, &self.codes, &self.idempotency]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_promotion_share_one_hash_tag() {
        let keys = Keyspace::new("cdp").promotion(42);
        assert_eq!(keys.state, "cdp:{promo:42}:state");
        assert_eq!(keys.eligible, "cdp:{promo:42}:eligible");
        for key in keys.all().into_iter().map(str::to_string).chain([keys.building("eligible", 3)]) {
            assert!(key.starts_with("cdp:{promo:42}:"), "{key}");
        }
    }
}
