//! DashboardService over tonic: shape checks, one transaction as the caller (RLS), one domain
//! function per RPC. The permission (`dashboard.read`) is enforced by the auth layer.

use super::{
    definitions::MetricSettings,
    distribution::{self, DistributionQuery},
    health,
    metrics::{self, MetricsQuery},
    range::today,
    segments::{self, SegmentsQuery},
};
use crate::{
    auth::principal::context,
    conditions::{self, CompileOptions},
    db::Db,
};
use cdp_proto::cdp::v1::{self as pb, dashboard_service_server::DashboardService};
use chrono_tz::Tz;
use tonic::{Request, Response, Status};

pub struct DashboardApi {
    pub db: Db,
    /// The reporting time zone (CDP_REPORTING_TZ): day boundaries and "today".
    pub tz: Tz,
    pub settings: MetricSettings,
}

#[tonic::async_trait]
impl DashboardService for DashboardApi {
    async fn get_metrics(&self, request: Request<pb::GetMetricsRequest>) -> Result<Response<pb::GetMetricsResponse>, Status> {
        let ctx = context(&request)?;
        let query = MetricsQuery::from_request(request.get_ref(), today(self.tz))?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let response = metrics::get_metrics(&mut tx, &query, &self.settings).await?;
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn get_user_segments(&self, request: Request<pb::GetUserSegmentsRequest>) -> Result<Response<pb::GetUserSegmentsResponse>, Status> {
        let ctx = context(&request)?;
        let query = SegmentsQuery::from_request(request.get_ref(), today(self.tz))?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let response = segments::get_user_segments(&mut tx, &query).await?;
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn get_attribute_distribution(
        &self,
        request: Request<pb::GetAttributeDistributionRequest>,
    ) -> Result<Response<pb::GetAttributeDistributionResponse>, Status> {
        let ctx = context(&request)?;
        let principal = ctx.principal()?;
        let options = CompileOptions::now("filter", self.tz).allow_pii(principal.has("users.read_pii"));
        let query = DistributionQuery::from_request(request.into_inner(), &options)?;
        let mut tx = self.db.begin_as(&principal.claims).await?;
        conditions::check_references(&mut tx, &query.filter).await?;
        let response = distribution::get_attribute_distribution(&mut tx, &query).await?;
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn get_data_health(&self, request: Request<pb::GetDataHealthRequest>) -> Result<Response<pb::GetDataHealthResponse>, Status> {
        let ctx = context(&request)?;
        let range = health::resolve_range(request.get_ref(), today(self.tz))?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let response = health::get_data_health(&mut tx, range, self.tz).await?;
        tx.commit().await?;
        Ok(Response::new(response))
    }
}
