//! The tonic transport of UserService: proto in, one domain call in a transaction as the
//! caller (RLS applies), proto out. Permissions are enforced by the auth layer's RPC table.

use super::{explorer, lifecycle_to_proto, store};
use crate::{auth::principal::context, config::Config, db::Db};
use cdp_proto::cdp::v1::{self as pb, user_service_server::UserService};
use chrono::{NaiveDate, Utc};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct UserApi {
    pub db: Db,
    pub config: Arc<Config>,
}

impl UserApi {
    /// Today in the reporting time zone: the anchor of day-relative conditions and windows.
    fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.config.reporting_tz).date_naive()
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn list_users(&self, request: Request<pb::ListUsersRequest>) -> Result<Response<pb::ListUsersResponse>, Status> {
        let ctx = context(&request)?;
        let principal = ctx.principal()?;
        let pb::ListUsersRequest { page_size, page_token, search, filter, order_by } = request.into_inner();
        let query = explorer::ListUsers {
            search,
            filter,
            order_by,
            page_size,
            page_token,
            read_pii: principal.has("users.read_pii"),
            today: self.today(),
            tz: self.config.reporting_tz,
        };
        let mut tx = self.db.begin_as(&principal.claims).await?;
        let page = explorer::list_users(&mut tx, query).await?;
        tx.commit().await?;
        Ok(Response::new(pb::ListUsersResponse { users: page.users, next_page_token: page.next_page_token, total_size: page.total_size }))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Result<Response<pb::GetUserResponse>, Status> {
        let ctx = context(&request)?;
        let pb::GetUserRequest { user_id } = request.into_inner();
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let profile = store::get_profile(&mut tx, &ctx, user_id, self.today(), self.config.reporting_tz).await?;
        tx.commit().await?;
        Ok(Response::new(pb::GetUserResponse { profile: Some(profile) }))
    }

    async fn update_user(&self, request: Request<pb::UpdateUserRequest>) -> Result<Response<pb::UpdateUserResponse>, Status> {
        let ctx = context(&request)?;
        let update = request.into_inner();
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let (attributes, effective) = store::update_attributes(&mut tx, &ctx, update, self.today()).await?;
        tx.commit().await?;
        Ok(Response::new(pb::UpdateUserResponse {
            cdp_attributes: Some(attributes.to_proto()),
            lifecycle_stage: lifecycle_to_proto(effective.as_deref()) as i32,
        }))
    }

    async fn list_user_fields(&self, request: Request<pb::ListUserFieldsRequest>) -> Result<Response<pb::ListUserFieldsResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListUserFieldsRequest {} = request.into_inner();
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let fields = store::list_fields(&mut tx).await?;
        tx.commit().await?;
        Ok(Response::new(pb::ListUserFieldsResponse { fields }))
    }
}
