//! How an internal marketplace service (say, the order service) redeems a CDP promotion at
//! checkout, using only the `cdp-proto` stubs and a service credential scoped to
//! `promotions.redeem`:
//!
//! - the credential goes in `authorization: Bearer cdp_sk_...` on every call;
//! - the idempotency key is derived from the order, so a retry after a timeout or an
//!   UNAVAILABLE can never grant twice (the CDP answers the original result, `replayed`);
//! - refusals are told apart by the `google.rpc.ErrorInfo` reason, never by the message;
//! - a cancelled order reverts its redemption, by the same key.

use cdp_proto::cdp::v1::{self as pb, redemption_service_client::RedemptionServiceClient};
use std::time::Duration;
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::StatusExt;

/// What the checkout should do with a promo code.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Grant this benefit. `replayed` when an earlier attempt of the same order already got it.
    Granted { redemption_id: i64, benefit: pb::Benefit, replayed: bool },
    /// Tell the buyer the code does not apply; `reason` is e.g. `EXHAUSTED`, `NOT_ELIGIBLE`.
    Refused { reason: String },
}

/// A redemption client for one service credential.
#[derive(Clone)]
pub struct Redeemer {
    client: RedemptionServiceClient<Channel>,
    credential: String,
    /// Attempts on UNAVAILABLE / DEADLINE_EXCEEDED before giving up.
    pub attempts: u32,
}

impl Redeemer {
    pub fn new(channel: Channel, credential: impl Into<String>) -> Self {
        Redeemer { client: RedemptionServiceClient::new(channel), credential: credential.into(), attempts: 5 }
    }

    fn authed<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(Duration::from_secs(5));
        let bearer = format!("Bearer {}", self.credential).parse().expect("a credential is ASCII");
        request.metadata_mut().insert("authorization", bearer);
        request
    }

    /// Redeems `code` for `user_id` at the checkout of `order_id` (the idempotency key).
    pub async fn redeem(&self, code: &str, user_id: i64, order_id: &str, order_credits: Option<i64>) -> Result<Outcome, Status> {
        let request = pb::RedeemPromotionRequest {
            code: code.to_string(),
            user_id,
            idempotency_key: format!("order:{order_id}"),
            order_reference: order_id.to_string(),
            order_credits,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.client.clone().redeem_promotion(self.authed(request.clone())).await {
                Ok(response) => {
                    let response = response.into_inner();
                    return Ok(Outcome::Granted {
                        redemption_id: response.redemption_id,
                        benefit: response.benefit.unwrap_or_default(),
                        replayed: response.replayed,
                    });
                }
                // Safe to retry with the same key: it is counted once whatever happened.
                Err(status) if matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) && attempt < self.attempts => {
                    tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
                }
                Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                    let reason = status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default();
                    return Ok(Outcome::Refused { reason });
                }
                Err(status) => return Err(status),
            }
        }
    }

    /// The order was cancelled: give the use back (idempotent).
    pub async fn cancel(&self, order_id: &str) -> Result<pb::Redemption, Status> {
        let request = pb::RevertRedemptionRequest {
            target: Some(pb::revert_redemption_request::Target::IdempotencyKey(format!("order:{order_id}"))),
            reason: "order cancelled".into(),
        };
        let response = self.client.clone().revert_redemption(self.authed(request)).await?.into_inner();
        response.redemption.ok_or_else(|| Status::internal("the CDP answered without the redemption"))
    }
}
