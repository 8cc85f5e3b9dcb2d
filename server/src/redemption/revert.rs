//! RevertRedemption: an order was cancelled, so its redemption gives its use back to the
//! per-user cap, the total cap and the budget, exactly once. In PostgreSQL the revert runs as
//! the calling credential under RLS (it sees only its own redemptions); a trigger takes the
//! use off the promotion's counters in the same transaction, under the promotion's row lock.
//! Redis gets the use back after the commit, unless its state was rebuilt since (a rebuild
//! counts from the ledger, this revert included): the generation read under the lock decides.

use super::RedemptionError;
use crate::{
    activation::{Activation, scripts},
    auth::principal::Principal,
    promotions::{
        model::PromotionRow,
        schema::{promotions as p, redemptions as r},
        stats::RedemptionRow,
    },
};
use cdp_proto::cdp::v1 as pb;
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

pub enum RevertTarget {
    Id(i64),
    IdempotencyKey(String),
}

pub async fn revert(activation: &Activation, caller: &Principal, target: RevertTarget, reason: &str) -> Result<pb::Redemption, RedemptionError> {
    let credential = caller.id();
    let mut tx = activation.db.begin_as(&caller.claims).await?;
    let mine = r::table.filter(r::service_credential_id.eq(credential)).select(RedemptionRow::as_select());
    let row = match &target {
        RevertTarget::Id(id) => mine.filter(r::id.eq(*id)).for_update().first(&mut tx).await,
        RevertTarget::IdempotencyKey(key) => mine.filter(r::idempotency_key.eq(key)).for_update().first(&mut tx).await,
    };
    let row = row.optional()?.ok_or(RedemptionError::RedemptionNotFound)?;
    let promotion: PromotionRow = p::table.find(row.promotion_id).select(PromotionRow::as_select()).first(&mut tx).await?;
    if row.status == "reverted" {
        tx.commit().await?;
        return Ok(row.to_proto(&promotion)); // reverted once already: nothing changes
    }
    let reverted: RedemptionRow = diesel::update(r::table.find(row.id))
        .set((r::status.eq("reverted"), r::reverted_at.eq(Utc::now()), r::revert_reason.eq(reason)))
        .returning(RedemptionRow::as_returning())
        .get_result(&mut tx)
        .await?;
    // The trigger updated the promotion row (and holds its lock): this is the generation the
    // Redis state must still have for the give-back to apply.
    let generation: i64 = p::table.find(row.promotion_id).select(p::redis_generation).first(&mut tx).await?;
    tx.commit().await?;
    let mut redis = activation.redis.clone();
    let keys = activation.keys.promotion(row.promotion_id);
    if let Err(err) = scripts::give_back(&mut redis, &keys, generation, i64::from(row.user_id), row.credits).await {
        // Redis keeps counting the use until reconciliation: an under-, never an over-redemption.
        tracing::error!(promotion = row.promotion_id, redemption = row.id, error = %err, "could not give a reverted use back in Redis");
    }
    Ok(reverted.to_proto(&promotion))
}
