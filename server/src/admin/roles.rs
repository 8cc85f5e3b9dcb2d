//! RoleService: the five roles and the permissions each grants, read from the database.

use crate::{
    auth::principal::{Role, context},
    db::Db,
    schema::{permissions as p, role_permissions as rp, roles as r},
};
use cdp_proto::cdp::v1::{self as pb, role_service_server::RoleService};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tonic::{Request, Response, Status};

pub struct RoleApi {
    pub db: Db,
}

/// The permissions `role` grants right now.
pub async fn permissions_of(conn: &mut AsyncPgConnection, role: &str) -> diesel::QueryResult<Vec<String>> {
    rp::table.filter(rp::role.eq(role)).select(rp::permission).order(rp::permission).load(conn).await
}

#[tonic::async_trait]
impl RoleService for RoleApi {
    async fn list_roles(&self, request: Request<pb::ListRolesRequest>) -> Result<Response<pb::ListRolesResponse>, Status> {
        let ctx = context(&request)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let roles: Vec<(String, String, String)> =
            r::table.order(r::rank).select((r::name, r::label, r::description)).load(&mut *tx).await.map_err(crate::error::internal)?;
        let grants: Vec<(String, String)> =
            rp::table.select((rp::role, rp::permission)).order(rp::permission).load(&mut *tx).await.map_err(crate::error::internal)?;
        let permissions: Vec<(String, String)> =
            p::table.order(p::name).select((p::name, p::description)).load(&mut *tx).await.map_err(crate::error::internal)?;
        tx.commit().await?;
        Ok(Response::new(pb::ListRolesResponse {
            roles: roles
                .into_iter()
                .map(|(name, label, description)| pb::RoleDefinition {
                    role: Role::parse(&name).map(|r| r.to_proto() as i32).unwrap_or_default(),
                    permissions: grants.iter().filter(|(role, _)| *role == name).map(|(_, p)| p.clone()).collect(),
                    name: label,
                    description,
                })
                .collect(),
            permissions: permissions
                .into_iter()
                .map(|(name, description)| pb::Permission { service_credential_only: !grants.iter().any(|(_, p)| *p == name), name, description })
                .collect(),
        }))
    }
}
