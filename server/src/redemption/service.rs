//! RedemptionService over gRPC: checks the shape of each request and calls the redemption
//! engine. Only service credentials hold `promotions.redeem` (the auth layer enforces it).

use super::{
    RedemptionError,
    ledger::LedgerWriter,
    redeem::{RedeemRequest, Redemptions},
    revert::{self, RevertTarget},
    user_promotions,
};
use crate::{
    activation::Activation,
    app::App,
    auth::principal::{Actor, RequestContext, context},
};
use cdp_proto::cdp::v1::{self as pb, redemption_service_server::RedemptionService};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The largest order a discount is computed on (keeps the arithmetic exact).
const MAX_ORDER_CREDITS: i64 = 1_000_000_000_000;

pub struct RedemptionApi {
    engine: Arc<Redemptions>,
}

impl RedemptionApi {
    /// Starts the ledger writers and the redemption engine.
    pub fn new(app: &App) -> Self {
        let activation = Activation::new(app);
        let writer = LedgerWriter::start(app.config.database_url.clone(), app.redis.clone(), activation.keys.clone());
        RedemptionApi { engine: Arc::new(Redemptions::new(activation, writer)) }
    }
}

fn invalid(field: &'static str, reason: &str) -> RedemptionError {
    RedemptionError::InvalidField { field, reason: reason.to_string() }
}

/// The calling service credential (platform users never reach this service).
fn credential(ctx: &RequestContext) -> Result<Uuid, Status> {
    match ctx.principal.as_ref().map(|p| &p.actor) {
        Some(Actor::ServiceCredential { id, .. }) => Ok(*id),
        _ => Err(crate::auth::principal::permission_denied("promotions.redeem")),
    }
}

fn code(code: &str) -> Result<String, RedemptionError> {
    let code = code.trim().to_uppercase();
    if code.is_empty() || code.len() > 64 {
        return Err(invalid("code", "is required (the promotion code)"));
    }
    Ok(code)
}

fn user_id(user_id: i64) -> Result<i32, RedemptionError> {
    i32::try_from(user_id).ok().filter(|id| *id > 0).ok_or_else(|| invalid("user_id", "must be a marketplace user id (a positive 32-bit integer)"))
}

fn order_credits(credits: Option<i64>) -> Result<Option<i64>, RedemptionError> {
    match credits {
        Some(c) if !(0..=MAX_ORDER_CREDITS).contains(&c) => Err(invalid("order_credits", "must be between 0 and 10^12")),
        other => Ok(other),
    }
}

#[tonic::async_trait]
impl RedemptionService for RedemptionApi {
    async fn redeem_promotion(&self, request: Request<pb::RedeemPromotionRequest>) -> Result<Response<pb::RedeemPromotionResponse>, Status> {
        let ctx = context(&request)?;
        let credential = credential(&ctx)?;
        let pb::RedeemPromotionRequest { code: raw_code, user_id: raw_user, idempotency_key, order_reference, order_credits: raw_credits } =
            request.into_inner();
        let key = idempotency_key.trim();
        if key.is_empty() || key.len() > 128 || key.chars().any(|c| c.is_control()) {
            return Err(invalid("idempotency_key", "is required: 1 to 128 printable characters, the same on every retry").into());
        }
        if order_reference.len() > 200 {
            return Err(invalid("order_reference", "must be at most 200 characters").into());
        }
        let request = RedeemRequest {
            code: code(&raw_code)?,
            user_id: user_id(raw_user)?,
            idempotency_key: key.to_string(),
            order_reference: order_reference.trim().to_string(),
            order_credits: order_credits(raw_credits)?,
        };
        let redeemed = self.engine.redeem(credential, &request).await?;
        Ok(Response::new(redeemed.to_proto()))
    }

    async fn validate_promotion(&self, request: Request<pb::ValidatePromotionRequest>) -> Result<Response<pb::ValidatePromotionResponse>, Status> {
        let ctx = context(&request)?;
        credential(&ctx)?;
        let pb::ValidatePromotionRequest { code: raw_code, user_id: raw_user, order_credits: raw_credits } = request.into_inner();
        let response = self.engine.validate(&code(&raw_code)?, user_id(raw_user)?, order_credits(raw_credits)?).await?;
        Ok(Response::new(response))
    }

    async fn revert_redemption(&self, request: Request<pb::RevertRedemptionRequest>) -> Result<Response<pb::RevertRedemptionResponse>, Status> {
        let ctx = context(&request)?;
        credential(&ctx)?;
        let pb::RevertRedemptionRequest { target, reason } = request.into_inner();
        let target = match target {
            Some(pb::revert_redemption_request::Target::RedemptionId(id)) if id > 0 => RevertTarget::Id(id),
            Some(pb::revert_redemption_request::Target::IdempotencyKey(key)) if !key.trim().is_empty() => RevertTarget::IdempotencyKey(key.trim().to_string()),
            _ => return Err(invalid("target", "name the redemption by redemption_id or idempotency_key").into()),
        };
        let reason = reason.trim();
        if reason.chars().count() > 500 {
            return Err(invalid("reason", "must be at most 500 characters").into());
        }
        let redemption = revert::revert(&self.engine.activation, ctx.principal()?, target, reason).await?;
        Ok(Response::new(pb::RevertRedemptionResponse { redemption: Some(redemption) }))
    }

    async fn list_user_promotions(&self, request: Request<pb::ListUserPromotionsRequest>) -> Result<Response<pb::ListUserPromotionsResponse>, Status> {
        let ctx = context(&request)?;
        credential(&ctx)?;
        let user = user_id(request.get_ref().user_id)?;
        if self.engine.suspended(user).await? {
            return Ok(Response::new(pb::ListUserPromotionsResponse { promotions: Vec::new() }));
        }
        let promotions = user_promotions::list(&self.engine.activation.db, &ctx.principal()?.claims, user).await?;
        Ok(Response::new(pb::ListUserPromotionsResponse { promotions }))
    }
}
