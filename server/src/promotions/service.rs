//! PromotionService over gRPC: converts requests, opens the caller's transaction (RLS) and
//! calls one domain function. Permissions are enforced by the auth layer (rules.rs).

use super::{
    PromotionError, estimate, lifecycle,
    model::{PromotionRow, Status},
    spec::PromotionSpec,
    stats::{self, RedemptionFilter},
    store::{self, ListFilter},
};
use crate::{
    auth::principal::context,
    convert::{page_size, parse_page_token, split_page},
    db::Db,
};
use cdp_proto::cdp::v1::{self as pb, promotion_service_server::PromotionService};
use tonic::{Request, Response, Status as GrpcStatus};

pub struct PromotionApi {
    pub db: Db,
    pub reporting_tz: chrono_tz::Tz,
}

impl PromotionApi {
    async fn with_cohort_name(&self, conn: &mut diesel_async::AsyncPgConnection, row: PromotionRow) -> Result<pb::Promotion, PromotionError> {
        let names = store::cohort_names(conn, [row.cohort_id]).await?;
        Ok(row.to_proto(names.get(&row.cohort_id).map(String::as_str).unwrap_or_default()))
    }
}

fn id_field(field: &str, id: i64) -> Result<i64, GrpcStatus> {
    if id <= 0 {
        return Err(crate::error::invalid_field(field, "is required"));
    }
    Ok(id)
}

#[tonic::async_trait]
impl PromotionService for PromotionApi {
    async fn list_promotions(&self, request: Request<pb::ListPromotionsRequest>) -> Result<Response<pb::ListPromotionsResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let pb::ListPromotionsRequest { page_size: size, page_token, statuses, cohort_id, search } = request.into_inner();
        let limit = page_size(size)?;
        let after = parse_page_token(&page_token)?;
        let statuses = statuses
            .into_iter()
            .filter(|s| *s != pb::PromotionStatus::Unspecified as i32)
            .map(|s| Status::from_proto(s).ok_or_else(|| crate::error::invalid_field("statuses", "holds a value that is not a PromotionStatus")))
            .collect::<Result<Vec<_>, _>>()?;
        let filter =
            ListFilter { statuses, cohort_id: (cohort_id > 0).then_some(cohort_id), search: Some(search.trim().to_string()).filter(|s| !s.is_empty()) };
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let (rows, total) = store::list(&mut tx, &filter, after, limit).await?;
        let (rows, next_page_token) = split_page(rows, limit, |row| row.id);
        let names = store::cohort_names(&mut tx, rows.iter().map(|r| r.cohort_id)).await?;
        tx.commit().await?;
        let promotions = rows.iter().map(|row| row.to_proto(names.get(&row.cohort_id).map(String::as_str).unwrap_or_default())).collect();
        Ok(Response::new(pb::ListPromotionsResponse { promotions, next_page_token, total_size: total }))
    }

    async fn create_promotion(&self, request: Request<pb::CreatePromotionRequest>) -> Result<Response<pb::CreatePromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let input = request.into_inner().promotion.ok_or_else(|| crate::error::invalid_field("promotion", "is required"))?;
        let spec = PromotionSpec::from_proto(&input)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let row = lifecycle::create(&mut tx, &ctx, spec).await?;
        let promotion = self.with_cohort_name(&mut tx, row).await?;
        tx.commit().await?;
        Ok(Response::new(pb::CreatePromotionResponse { promotion: Some(promotion) }))
    }

    async fn get_promotion(&self, request: Request<pb::GetPromotionRequest>) -> Result<Response<pb::GetPromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let id = id_field("id", request.get_ref().id)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let row = store::find(&mut tx, id).await?;
        let promotion = self.with_cohort_name(&mut tx, row).await?;
        tx.commit().await?;
        Ok(Response::new(pb::GetPromotionResponse { promotion: Some(promotion) }))
    }

    async fn update_promotion(&self, request: Request<pb::UpdatePromotionRequest>) -> Result<Response<pb::UpdatePromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let pb::UpdatePromotionRequest { promotion, update_mask } = request.into_inner();
        let input = promotion.ok_or_else(|| crate::error::invalid_field("promotion", "is required"))?;
        id_field("promotion.id", input.id)?;
        let paths = update_mask.map(|m| m.paths).unwrap_or_default();
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let row = lifecycle::update(&mut tx, &ctx, &input, &paths).await?;
        let promotion = self.with_cohort_name(&mut tx, row).await?;
        tx.commit().await?;
        Ok(Response::new(pb::UpdatePromotionResponse { promotion: Some(promotion) }))
    }

    async fn delete_promotion(&self, request: Request<pb::DeletePromotionRequest>) -> Result<Response<pb::DeletePromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let id = id_field("id", request.get_ref().id)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let archived = lifecycle::delete(&mut tx, &ctx, id).await?;
        let promotion = match archived {
            Some(row) => Some(self.with_cohort_name(&mut tx, row).await?),
            None => None,
        };
        tx.commit().await?;
        Ok(Response::new(pb::DeletePromotionResponse { deleted: promotion.is_none(), promotion }))
    }

    async fn activate_promotion(&self, request: Request<pb::ActivatePromotionRequest>) -> Result<Response<pb::ActivatePromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let id = id_field("id", request.get_ref().id)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let row = lifecycle::activate(&mut tx, &ctx, id).await?;
        let promotion = self.with_cohort_name(&mut tx, row).await?;
        tx.commit().await?;
        Ok(Response::new(pb::ActivatePromotionResponse { promotion: Some(promotion) }))
    }

    async fn deactivate_promotion(&self, request: Request<pb::DeactivatePromotionRequest>) -> Result<Response<pb::DeactivatePromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let pb::DeactivatePromotionRequest { id, reason } = request.into_inner();
        let id = id_field("id", id)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let row = lifecycle::deactivate(&mut tx, &ctx, id, &reason).await?;
        let promotion = self.with_cohort_name(&mut tx, row).await?;
        tx.commit().await?;
        Ok(Response::new(pb::DeactivatePromotionResponse { promotion: Some(promotion) }))
    }

    async fn estimate_promotion(&self, request: Request<pb::EstimatePromotionRequest>) -> Result<Response<pb::EstimatePromotionResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let input = request.into_inner().promotion.ok_or_else(|| crate::error::invalid_field("promotion", "is required"))?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let response = estimate::estimate(&mut tx, &input).await?;
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn list_redemptions(&self, request: Request<pb::ListRedemptionsRequest>) -> Result<Response<pb::ListRedemptionsResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let pb::ListRedemptionsRequest { promotion_id, page_size: size, page_token, user_id, status } = request.into_inner();
        let promotion_id = id_field("promotion_id", promotion_id)?;
        let limit = page_size(size)?;
        let after = parse_page_token(&page_token)?;
        let user_id = match user_id {
            0 => None,
            id => Some(i32::try_from(id).ok().filter(|id| *id > 0).ok_or_else(|| crate::error::invalid_field("user_id", "is not a user id"))?),
        };
        let status = match pb::RedemptionStatus::try_from(status) {
            Ok(pb::RedemptionStatus::Unspecified) => None,
            Ok(pb::RedemptionStatus::Redeemed) => Some("redeemed"),
            Ok(pb::RedemptionStatus::Reverted) => Some("reverted"),
            Err(_) => return Err(crate::error::invalid_field("status", "is not a RedemptionStatus")),
        };
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let (promotion, rows, total) = stats::list_redemptions(&mut tx, promotion_id, &RedemptionFilter { user_id, status }, after, limit).await?;
        tx.commit().await?;
        let (rows, next_page_token) = split_page(rows, limit, |row| row.id);
        Ok(Response::new(pb::ListRedemptionsResponse {
            redemptions: rows.iter().map(|r| r.to_proto(&promotion)).collect(),
            next_page_token,
            total_size: total,
        }))
    }

    async fn get_promotion_stats(&self, request: Request<pb::GetPromotionStatsRequest>) -> Result<Response<pb::GetPromotionStatsResponse>, GrpcStatus> {
        let ctx = context(&request)?;
        let pb::GetPromotionStatsRequest { promotion_id, interval } = request.into_inner();
        let promotion_id = id_field("promotion_id", promotion_id)?;
        let hourly = match pb::PromotionStatsInterval::try_from(interval) {
            Ok(pb::PromotionStatsInterval::Hour) => true,
            Ok(_) => false,
            Err(_) => return Err(crate::error::invalid_field("interval", "is not a PromotionStatsInterval")),
        };
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let response = stats::promotion_stats(&mut tx, promotion_id, hourly, self.reporting_tz).await?;
        tx.commit().await?;
        Ok(Response::new(response))
    }
}
