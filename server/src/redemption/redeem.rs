//! The redemption path: resolve the code, reserve atomically in Redis, commit through the
//! ledger writer, answer. Every way a reservation can fail to commit releases it (or, when the
//! commit's fate is unknown, leaves it for reconciliation). A missing or stale Redis state is
//! rebuilt from PostgreSQL before serving, one rebuild per promotion at a time.

use super::{
    Ineligibility, RedemptionError,
    codes::{CodeDirectory, CodeTarget},
    ledger::{LedgerWriter, NewRedemption, WriteError, Written},
};
use crate::{
    activation::{
        Activation, epoch_ms,
        publish::Published,
        scripts::{self, Mode, Reservation},
    },
    convert::timestamp,
    promotions::{
        model::{PromotionRow, Status, credits_for},
        schema::{promotions as p, redemptions as r},
        stats::RedemptionRow,
    },
};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex as SyncMutex},
    time::{Duration, Instant},
};
use uuid::Uuid;

/// What decides whether a promotion can be served: status, ends_at, audience_frozen_at.
type ServingState = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// How long a redemption may take before the caller is told to retry (with the same key).
const DEADLINE: Duration = Duration::from_secs(10);
/// Rebuilds or re-reservations one redemption may go through before giving up.
const MAX_ATTEMPTS: usize = 6;
/// Pause between looks at a parallel request with the same idempotency key.
const DUPLICATE_POLL: Duration = Duration::from_millis(5);

/// A checked RedeemPromotion request.
#[derive(Clone, Debug)]
pub struct RedeemRequest {
    /// Upper case.
    pub code: String,
    pub user_id: i32,
    pub idempotency_key: String,
    pub order_reference: String,
    pub order_credits: Option<i64>,
}

/// A granted (or replayed) redemption.
#[derive(Clone, Debug)]
pub struct Redeemed {
    pub redemption_id: i64,
    pub promotion_id: i64,
    pub benefit: pb::Benefit,
    pub redeemed_at: DateTime<Utc>,
    pub replayed: bool,
    pub per_user_remaining: i32,
}

impl Redeemed {
    pub fn to_proto(&self) -> pb::RedeemPromotionResponse {
        pb::RedeemPromotionResponse {
            redemption_id: self.redemption_id,
            promotion_id: self.promotion_id,
            benefit: Some(self.benefit.clone()),
            redeemed_at: Some(timestamp(self.redeemed_at)),
            replayed: self.replayed,
            per_user_remaining: self.per_user_remaining,
        }
    }
}

/// Whether a promotion can be served from Redis after `ensure_loaded`.
enum Loaded {
    Ready,
    Refuse(Ineligibility),
}

/// The redemption engine shared by every RedemptionService call.
pub struct Redemptions {
    pub activation: Activation,
    pub codes: CodeDirectory,
    pub writer: LedgerWriter,
    /// One rebuild per promotion at a time in this process; others wait for it.
    rebuilding: SyncMutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl Redemptions {
    pub fn new(activation: Activation, writer: LedgerWriter) -> Self {
        Redemptions { codes: CodeDirectory::new(activation.db.clone()), activation, writer, rebuilding: SyncMutex::new(HashMap::new()) }
    }

    async fn resolve(&self, code: &str) -> Result<CodeTarget, RedemptionError> {
        self.codes.resolve(code).await?.ok_or(RedemptionError::Refused { reason: Ineligibility::NotFound, promotion_id: 0 })
    }

    pub async fn redeem(&self, credential: Uuid, request: &RedeemRequest) -> Result<Redeemed, RedemptionError> {
        let target = self.resolve(&request.code).await?;
        match self.redeem_at(credential, request, target).await {
            // The code belonged to an archived promotion: it may be a newer one's now.
            Err(RedemptionError::Refused { reason: Ineligibility::NotFound, .. }) => match self.resolve(&request.code).await? {
                newer if newer.promotion_id != target.promotion_id => self.redeem_at(credential, request, newer).await,
                _ => Err(RedemptionError::Refused { reason: Ineligibility::NotFound, promotion_id: 0 }),
            },
            outcome => outcome,
        }
    }

    async fn redeem_at(&self, credential: Uuid, request: &RedeemRequest, target: CodeTarget) -> Result<Redeemed, RedemptionError> {
        let promotion_id = target.promotion_id;
        let refused = |reason: Ineligibility| RedemptionError::Refused { reason, promotion_id };
        if target.owner.is_some_and(|owner| owner != i64::from(request.user_id)) {
            return Err(refused(Ineligibility::NotEligible));
        }
        let keys = self.activation.keys.promotion(promotion_id);
        let field = scripts::idempotency_field(&credential, &request.idempotency_key);
        let started = Instant::now();
        let mut attempts = 0;
        let (mut duplicate_since, mut reconciled) = (None, false);
        loop {
            if started.elapsed() > DEADLINE || attempts >= MAX_ATTEMPTS {
                return Err(RedemptionError::Unavailable("the redemption could not be completed in time".into()));
            }
            let mut redis = self.activation.redis.clone();
            let reservation =
                scripts::reserve(&mut redis, &keys, Mode::Redeem, epoch_ms(Utc::now()), i64::from(request.user_id), &field, request.order_credits).await?;
            let (generation, credits, per_user_remaining, state_benefit) = match reservation {
                Reservation::Granted { generation, credits, per_user_remaining, benefit } => (generation, credits, per_user_remaining, benefit),
                Reservation::NotLoaded => {
                    attempts += 1;
                    match self.ensure_loaded(&request.code, promotion_id).await? {
                        Loaded::Ready => continue,
                        Loaded::Refuse(reason) => return self.replay_or(credential, request, refused(reason)).await,
                    }
                }
                Reservation::Duplicate => {
                    // The same key is in flight (or done) for this promotion: answer as it did.
                    if let Some(replay) = self.replay(credential, request).await? {
                        return Ok(replay);
                    }
                    let waited = duplicate_since.get_or_insert_with(Instant::now).elapsed();
                    if waited > Duration::from_secs(1) && !reconciled && self.abandoned(&keys, &field).await? {
                        // A crashed server's reservation holds this key: reconciliation releases it.
                        reconciled = true;
                        crate::activation::reconcile::run(&self.activation, None, Some(promotion_id)).await?;
                    }
                    tokio::time::sleep(DUPLICATE_POLL).await;
                    continue;
                }
                Reservation::NeedsOrderCredits => {
                    return Err(RedemptionError::InvalidField { field: "order_credits", reason: "is required for a CREDIT_DISCOUNT_PERCENT promotion".into() });
                }
                Reservation::Refused(refusal) => return self.replay_or(credential, request, refused(refusal.into())).await,
            };
            let written = self
                .writer
                .write(NewRedemption {
                    promotion_id,
                    generation,
                    user_id: request.user_id,
                    code: request.code.clone(),
                    credential,
                    idempotency_key: request.idempotency_key.clone(),
                    order_reference: request.order_reference.clone(),
                    order_credits: request.order_credits,
                    credits,
                })
                .await;
            let written = match written {
                Ok(written) => written,
                Err(WriteError::Definite(why)) => {
                    self.release(&keys, &field).await;
                    tracing::error!(promotion = promotion_id, error = %why, "redemption not committed");
                    return Err(RedemptionError::Unavailable("the redemption could not be recorded".into()));
                }
                // The reservation stays: the commit may have happened (reconciliation decides).
                Err(WriteError::Ambiguous(why)) => {
                    tracing::error!(promotion = promotion_id, error = %why, "redemption outcome unknown");
                    return Err(RedemptionError::Unavailable("the redemption's outcome is unknown".into()));
                }
            };
            match written {
                Written::Committed { id, redeemed_at } => {
                    let benefit = pb::Benefit {
                        r#type: crate::promotions::model::BenefitType::parse(&state_benefit.benefit_type).map(|t| t.to_proto() as i32).unwrap_or_default(),
                        value: state_benefit.value,
                        addon: state_benefit.addon,
                        credits,
                    };
                    return Ok(Redeemed { redemption_id: id, promotion_id, benefit, redeemed_at, replayed: false, per_user_remaining });
                }
                Written::KeyTaken => {
                    self.release(&keys, &field).await;
                    return match self.replay(credential, request).await? {
                        Some(replay) => Ok(replay),
                        None => Err(RedemptionError::Unavailable("the idempotency key is being used concurrently".into())),
                    };
                }
                Written::Suspended => {
                    self.release(&keys, &field).await;
                    return Err(refused(Ineligibility::NotEligible));
                }
                Written::TotalCapReached => {
                    self.release(&keys, &field).await;
                    return Err(refused(Ineligibility::Exhausted));
                }
                Written::BudgetSpent => {
                    self.release(&keys, &field).await;
                    return Err(refused(Ineligibility::BudgetExhausted));
                }
                Written::Fenced => {
                    // Paused, expired, or Redis rebuilt since the reservation: look again.
                    self.release(&keys, &field).await;
                    attempts += 1;
                    if let Loaded::Refuse(reason) = self.ensure_loaded(&request.code, promotion_id).await? {
                        return Err(refused(reason));
                    }
                }
            }
        }
    }

    /// Whether `field`'s reservation is in flight for longer than a live one can be.
    async fn abandoned(&self, keys: &crate::activation::PromotionKeys, field: &str) -> Result<bool, RedemptionError> {
        use redis::AsyncCommands;
        let mut redis = self.activation.redis.clone();
        let entry: Option<String> = redis.hget(&keys.idempotency, field).await?;
        let reserved_at = entry.as_deref().and_then(|e| e.strip_prefix("P:")).and_then(|e| e.rsplit(':').next()).and_then(|at| at.parse::<i64>().ok());
        Ok(reserved_at.is_some_and(|at| epoch_ms(Utc::now()) - at > crate::activation::reconcile::ABANDONED_AFTER_MS))
    }

    async fn release(&self, keys: &crate::activation::PromotionKeys, field: &str) {
        let mut redis = self.activation.redis.clone();
        if let Err(err) = scripts::release(&mut redis, keys, field).await {
            // It stays counted until reconciliation finds it abandoned: never an over-redemption.
            tracing::error!(error = %err, "could not release a reservation");
        }
    }

    /// A refusal, unless this credential already redeemed with this key (then the replay).
    async fn replay_or(&self, credential: Uuid, request: &RedeemRequest, refusal: RedemptionError) -> Result<Redeemed, RedemptionError> {
        match self.replay(credential, request).await? {
            Some(replay) => Ok(replay),
            None => Err(refusal),
        }
    }

    /// The earlier redemption made with this credential and key: the same answer again, or
    /// IDEMPOTENCY_KEY_MISMATCH when it was made with other inputs.
    async fn replay(&self, credential: Uuid, request: &RedeemRequest) -> Result<Option<Redeemed>, RedemptionError> {
        let mut conn = self.activation.db.conn().await?;
        let Some(earlier) = r::table
            .filter(r::service_credential_id.eq(credential))
            .filter(r::idempotency_key.eq(&request.idempotency_key))
            .select(RedemptionRow::as_select())
            .first(&mut conn)
            .await
            .optional()?
        else {
            return Ok(None);
        };
        let same = earlier.code == request.code
            && earlier.user_id == request.user_id
            && earlier.order_credits == request.order_credits
            && earlier.order_reference == request.order_reference;
        if !same {
            return Err(RedemptionError::KeyMismatch);
        }
        let promotion: PromotionRow = p::table.find(earlier.promotion_id).select(PromotionRow::as_select()).first(&mut conn).await?;
        let used: i64 = r::table
            .filter(r::promotion_id.eq(earlier.promotion_id))
            .filter(r::user_id.eq(earlier.user_id))
            .filter(r::status.eq("redeemed"))
            .count()
            .get_result(&mut conn)
            .await?;
        Ok(Some(Redeemed {
            redemption_id: earlier.id,
            promotion_id: earlier.promotion_id,
            benefit: promotion.benefit(earlier.credits),
            redeemed_at: earlier.redeemed_at,
            replayed: true,
            per_user_remaining: (i64::from(promotion.per_user_cap) - used).max(0) as i32,
        }))
    }

    /// Makes sure Redis holds the promotion's current state, rebuilding it from PostgreSQL
    /// (under a new generation) when it is missing or stale; or says why it cannot be served.
    async fn ensure_loaded(&self, code: &str, promotion_id: i64) -> Result<Loaded, RedemptionError> {
        let row: Option<ServingState> = {
            let mut conn = self.activation.db.conn().await?;
            p::table.find(promotion_id).select((p::status, p::ends_at, p::audience_frozen_at)).first(&mut conn).await.optional()?
        };
        let Some((status, ends_at, frozen_at)) = row else {
            self.codes.forget(code);
            return Ok(Loaded::Refuse(Ineligibility::NotFound));
        };
        let status = Status::parse(&status).unwrap_or(Status::Draft);
        let refusal = match status {
            Status::Archived => {
                self.codes.forget(code); // its code may belong to a newer promotion now
                Some(Ineligibility::NotFound)
            }
            Status::Draft => Some(Ineligibility::NotActive),
            Status::Expired => Some(Ineligibility::Expired),
            _ if ends_at.is_some_and(|e| e <= Utc::now()) => Some(Ineligibility::Expired),
            Status::Active if frozen_at.is_none() => Some(Ineligibility::NotActive), // the worker is activating it
            _ => None,
        };
        if let Some(reason) = refusal {
            return Ok(Loaded::Refuse(reason));
        }
        let lock = {
            let mut rebuilding = self.rebuilding.lock().unwrap_or_else(|e| e.into_inner());
            rebuilding.entry(promotion_id).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        match self.activation.publish(promotion_id, false).await? {
            Published::Rebuilt { generation } => tracing::info!(promotion = promotion_id, generation, "rebuilt a missing or stale promotion state"),
            Published::Current { .. } => {}
            Published::Removed | Published::Missing => return Ok(Loaded::Refuse(Ineligibility::NotFound)),
            Published::NotReady => return Ok(Loaded::Refuse(Ineligibility::NotActive)),
        }
        Ok(match status {
            Status::Scheduled => Loaded::Refuse(Ineligibility::NotStarted),
            Status::Paused => Loaded::Refuse(Ineligibility::NotActive),
            _ => Loaded::Ready,
        })
    }

    /// Whether the user's CDP account is suspended (then no promotion applies to them).
    pub async fn suspended(&self, user_id: i32) -> Result<bool, RedemptionError> {
        use crate::promotions::schema::user_attributes as ua;
        let mut conn = self.activation.db.conn().await?;
        let status: Option<String> = ua::table.find(user_id).select(ua::account_status).first(&mut conn).await.optional()?;
        Ok(status.as_deref() == Some("suspended"))
    }

    /// ValidatePromotion: the same checks as a redemption, without reserving.
    pub async fn validate(&self, code: &str, user_id: i32, order_credits: Option<i64>) -> Result<pb::ValidatePromotionResponse, RedemptionError> {
        let not_eligible = |reason: Ineligibility, promotion_id: i64, benefit: Option<pb::Benefit>| pb::ValidatePromotionResponse {
            eligible: false,
            reason: reason.to_proto() as i32,
            message: reason.message().to_string(),
            promotion_id,
            benefit,
            per_user_remaining: 0,
        };
        let Some(target) = self.codes.resolve(code).await? else {
            return Ok(not_eligible(Ineligibility::NotFound, 0, None));
        };
        let promotion_id = target.promotion_id;
        let keys = self.activation.keys.promotion(promotion_id);
        let refusal = if target.owner.is_some_and(|owner| owner != i64::from(user_id)) {
            Ineligibility::NotEligible
        } else {
            let mut attempts = 0;
            loop {
                let mut redis = self.activation.redis.clone();
                match scripts::reserve(&mut redis, &keys, Mode::DryRun, epoch_ms(Utc::now()), i64::from(user_id), "", order_credits).await? {
                    Reservation::Granted { .. } if self.suspended(user_id).await? => break Ineligibility::NotEligible,
                    Reservation::Granted { credits, per_user_remaining, benefit, .. } => {
                        let benefit = pb::Benefit {
                            r#type: crate::promotions::model::BenefitType::parse(&benefit.benefit_type).map(|t| t.to_proto() as i32).unwrap_or_default(),
                            value: benefit.value,
                            addon: benefit.addon,
                            credits,
                        };
                        return Ok(pb::ValidatePromotionResponse {
                            eligible: true,
                            reason: pb::IneligibilityReason::Unspecified as i32,
                            message: String::new(),
                            promotion_id,
                            benefit: Some(benefit),
                            per_user_remaining,
                        });
                    }
                    Reservation::Refused(refusal) => break refusal.into(),
                    Reservation::NotLoaded if attempts < 2 => {
                        attempts += 1;
                        match self.ensure_loaded(code, promotion_id).await? {
                            Loaded::Ready => continue,
                            Loaded::Refuse(reason) => break reason,
                        }
                    }
                    Reservation::NotLoaded | Reservation::Duplicate | Reservation::NeedsOrderCredits => {
                        return Err(RedemptionError::Unavailable("promotion state is being rebuilt".into()));
                    }
                }
            }
        };
        // The benefit the code would grant, from the promotion itself.
        let mut conn = self.activation.db.conn().await?;
        let promotion: Option<PromotionRow> = p::table.find(promotion_id).select(PromotionRow::as_select()).first(&mut conn).await.optional()?;
        let benefit = promotion.map(|row| row.benefit(credits_for(row.benefit_type(), row.value, order_credits)));
        let promotion_id = if refusal == Ineligibility::NotFound { 0 } else { promotion_id };
        Ok(not_eligible(refusal, promotion_id, benefit.filter(|_| promotion_id > 0)))
    }
}
