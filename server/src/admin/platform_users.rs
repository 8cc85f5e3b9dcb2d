//! PlatformUserService: invite, list, edit, disable, delete and reset the password of the
//! people who use the CDP, with the rules such tools rely on: only a super admin grants or
//! removes super admin (or touches a super admin's account), nobody changes their own role or
//! disables or deletes themselves, and the last active super admin always remains.

use super::{AdminError, roles::permissions_of};
use crate::{
    audit::{self, Change},
    auth::{
        principal::{Principal, RequestContext, Role, context},
        provider::IdentityProvider,
    },
    convert::{offset_token, opt_timestamp, page_size, parse_offset_token, timestamp},
    db::{Db, Tx},
    error::parse_uuid,
    schema::{lower, platform_users as u},
};
use cdp_proto::cdp::v1::{self as pb, platform_user_service_server::PlatformUserService};
use chrono::{DateTime, Utc};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct PlatformUserApi {
    pub db: Db,
    pub provider: Arc<IdentityProvider>,
}

#[derive(Queryable, Selectable, Clone, Debug, serde::Serialize)]
#[diesel(table_name = u)]
pub struct PlatformUserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub status: String,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PlatformUserRow {
    pub fn to_proto(&self) -> pb::PlatformUser {
        let PlatformUserRow { id, email, display_name, role, status, last_sign_in_at, created_by, created_at, updated_at } = self;
        pb::PlatformUser {
            id: id.to_string(),
            email: email.clone(),
            display_name: display_name.clone(),
            role: Role::parse(role).map(|r| r.to_proto() as i32).unwrap_or_default(),
            status: status_to_proto(status) as i32,
            last_sign_in_at: opt_timestamp(*last_sign_in_at),
            created_at: Some(timestamp(*created_at)),
            updated_at: Some(timestamp(*updated_at)),
            invited_by: created_by.map(|id| id.to_string()).unwrap_or_default(),
        }
    }

    /// What the audit log records of a user (never a password hash).
    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({ "email": self.email, "display_name": self.display_name, "role": self.role, "status": self.status })
    }
}

fn status_to_proto(status: &str) -> pb::PlatformUserStatus {
    match status {
        "active" => pb::PlatformUserStatus::Active,
        "invited" => pb::PlatformUserStatus::Invited,
        "disabled" => pb::PlatformUserStatus::Disabled,
        _ => pb::PlatformUserStatus::Unspecified,
    }
}

/// Loads a platform user (through RLS: the caller must be allowed to see it).
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> Result<PlatformUserRow, AdminError> {
    u::table
        .find(id)
        .select(PlatformUserRow::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AdminError::NotFound(format!("no platform user with id {id}")))
}

async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> Result<PlatformUserRow, AdminError> {
    u::table
        .find(id)
        .select(PlatformUserRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?
        .ok_or_else(|| AdminError::NotFound(format!("no platform user with id {id}")))
}

/// Refuses a change that would leave no active super admin. Locks the super admin rows so
/// two concurrent demotions cannot both pass.
async fn ensure_another_super_admin(conn: &mut AsyncPgConnection, leaving: Uuid) -> Result<(), AdminError> {
    let others: Vec<Uuid> =
        u::table.filter(u::role.eq("super_admin")).filter(u::status.eq("active")).filter(u::id.ne(leaving)).select(u::id).for_update().load(conn).await?;
    if others.is_empty() {
        return Err(AdminError::Precondition("LAST_SUPER_ADMIN", "this is the last active super admin; make someone else super admin first".into()));
    }
    Ok(())
}

/// Only a super admin may act on a super admin's account.
fn guard_super_admin_target(caller: &Principal, target: &PlatformUserRow) -> Result<(), AdminError> {
    if target.role == "super_admin" && !caller.has("super_admin.grant") {
        return Err(AdminError::Forbidden("only a super admin can change a super admin's account".into()));
    }
    Ok(())
}

fn validate_email(email: &str) -> Result<String, AdminError> {
    let email = email.trim();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'))
        && !email.chars().any(|c| c.is_whitespace());
    if !valid {
        return Err(AdminError::InvalidField { field: "email", reason: "must be an email address like name@example.com".into() });
    }
    Ok(email.to_string())
}

fn validate_display_name(field: &'static str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.chars().count() > 100 {
        return Err(AdminError::InvalidField { field, reason: "must be at most 100 characters".into() });
    }
    Ok(name.to_string())
}

fn parse_role(field: &'static str, role: i32) -> Result<Role, AdminError> {
    Role::from_proto(role).ok_or_else(|| AdminError::InvalidField { field, reason: "must be one of the five roles".into() })
}

impl PlatformUserApi {
    async fn begin(&self, ctx: &RequestContext) -> Result<Tx, AdminError> {
        Ok(self.db.begin_as(&ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?.claims).await?)
    }

    async fn invite(&self, ctx: &RequestContext, req: pb::InvitePlatformUserRequest) -> Result<pb::InvitePlatformUserResponse, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let pb::InvitePlatformUserRequest { email, display_name, role } = req;
        let email = validate_email(&email)?;
        let display_name = validate_display_name("display_name", &display_name)?;
        let role = parse_role("role", role)?;
        if role == Role::SuperAdmin && !caller.has("super_admin.grant") {
            return Err(AdminError::Forbidden("only a super admin can grant the super admin role".into()));
        }
        let mut tx = self.begin(ctx).await?;
        let taken: i64 = u::table.filter(lower(u::email).eq(lower(&email))).select(count_star()).first(&mut *tx).await?;
        if taken > 0 {
            return Err(AdminError::AlreadyExists(format!("{email} is already a platform user")));
        }
        let id = self.provider.create_invited_identity(&email, &display_name, role.as_str()).await?;
        let result = self.insert_invited(&mut tx, ctx, caller, id, &email, &display_name, role).await;
        let (row, link) = match result {
            Ok(done) => done,
            Err(err) => {
                drop(tx);
                self.provider.discard_identity(id).await;
                return Err(err);
            }
        };
        tx.commit().await?;
        Ok(pb::InvitePlatformUserResponse {
            platform_user: Some(row.to_proto()),
            invitation_link: link.as_ref().map(|(l, _)| l.clone()).unwrap_or_default(),
            invitation_expires_at: link.map(|(_, at)| timestamp(at)),
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_invited(
        &self,
        tx: &mut Tx,
        ctx: &RequestContext,
        caller: &Principal,
        id: Uuid,
        email: &str,
        display_name: &str,
        role: Role,
    ) -> Result<(PlatformUserRow, crate::auth::provider::Link), AdminError> {
        let row: PlatformUserRow = diesel::insert_into(u::table)
            .values((
                u::id.eq(id),
                u::email.eq(email),
                u::display_name.eq(display_name),
                u::role.eq(role.as_str()),
                u::status.eq("invited"),
                u::created_by.eq(caller.platform_user_id()),
            ))
            .returning(PlatformUserRow::as_returning())
            .get_result(&mut **tx)
            .await?;
        let link = self.provider.invitation_link(tx, id).await?;
        audit::record(
            tx,
            ctx,
            Change { action: "platform_user.invite", resource_type: "platform_user", resource_id: id.to_string(), before: None, after: Some(row.audit_view()) },
        )
        .await?;
        Ok((row, link))
    }

    async fn update(&self, ctx: &RequestContext, req: pb::UpdatePlatformUserRequest) -> Result<PlatformUserRow, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let user = req.platform_user.ok_or(AdminError::InvalidField { field: "platform_user", reason: "is required".into() })?;
        let id =
            parse_uuid("platform_user.id", &user.id).map_err(|_| AdminError::InvalidField { field: "platform_user.id", reason: "must be a UUID".into() })?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            return Err(AdminError::InvalidField { field: "update_mask", reason: "name at least one of display_name, role, status".into() });
        }
        let mut tx = self.begin(ctx).await?;
        let before = find_for_update(&mut tx, id).await?;
        guard_super_admin_target(caller, &before)?;
        let is_self = caller.platform_user_id() == Some(id);
        let mut after = before.clone();
        for path in &paths {
            match path.as_str() {
                "display_name" => after.display_name = validate_display_name("platform_user.display_name", &user.display_name)?,
                "role" => {
                    let role = parse_role("platform_user.role", user.role)?;
                    if role.as_str() != before.role {
                        if is_self {
                            return Err(AdminError::Precondition("SELF_MODIFICATION", "you cannot change your own role; ask another administrator".into()));
                        }
                        if role == Role::SuperAdmin && !caller.has("super_admin.grant") {
                            return Err(AdminError::Forbidden("only a super admin can grant the super admin role".into()));
                        }
                        if before.role == "super_admin" && before.status == "active" {
                            ensure_another_super_admin(&mut tx, id).await?;
                        }
                    }
                    after.role = role.as_str().to_string();
                }
                "status" => {
                    after.status = match pb::PlatformUserStatus::try_from(user.status) {
                        Ok(pb::PlatformUserStatus::Disabled) => "disabled".into(),
                        // Enabling returns a user to where they were: active, or still invited
                        // if they never accepted.
                        Ok(pb::PlatformUserStatus::Active) if before.status == "disabled" => {
                            if before.last_sign_in_at.is_some() {
                                "active".into()
                            } else {
                                "invited".into()
                            }
                        }
                        Ok(pb::PlatformUserStatus::Active) => before.status.clone(),
                        _ => return Err(AdminError::InvalidField { field: "platform_user.status", reason: "must be ACTIVE or DISABLED".into() }),
                    };
                    if after.status == "disabled" && before.status != "disabled" {
                        if is_self {
                            return Err(AdminError::Precondition("SELF_MODIFICATION", "you cannot disable your own account".into()));
                        }
                        if before.role == "super_admin" {
                            ensure_another_super_admin(&mut tx, id).await?;
                        }
                    }
                }
                other => {
                    return Err(AdminError::InvalidField {
                        field: "update_mask",
                        reason: format!("{other:?} cannot be updated; use display_name, role or status"),
                    });
                }
            }
        }
        if after.display_name == before.display_name && after.role == before.role && after.status == before.status {
            return Ok(before);
        }
        let row: PlatformUserRow = diesel::update(u::table.find(id))
            .set((
                u::display_name.eq(&after.display_name),
                u::role.eq(&after.role),
                u::status.eq(&after.status),
                u::updated_at.eq(Utc::now()),
                u::disabled_at.eq((after.status == "disabled").then(Utc::now)),
            ))
            .returning(PlatformUserRow::as_returning())
            .get_result(&mut *tx)
            .await?;
        if before.status != row.status {
            self.provider.set_disabled(&mut tx, id, row.status == "disabled").await?;
        }
        let action = match (before.status.as_str(), row.status.as_str()) {
            (b, "disabled") if b != "disabled" => "platform_user.disable",
            ("disabled", _) => "platform_user.enable",
            _ if before.role != row.role => "platform_user.change_role",
            _ => "platform_user.update",
        };
        audit::record(
            &mut tx,
            ctx,
            Change { action, resource_type: "platform_user", resource_id: id.to_string(), before: Some(before.audit_view()), after: Some(row.audit_view()) },
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn delete(&self, ctx: &RequestContext, req: pb::DeletePlatformUserRequest) -> Result<pb::DeletePlatformUserResponse, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let id = parse_uuid("id", &req.id).map_err(|_| AdminError::InvalidField { field: "id", reason: "must be a UUID".into() })?;
        if caller.platform_user_id() == Some(id) {
            return Err(AdminError::Precondition("SELF_MODIFICATION", "you cannot delete or disable your own account".into()));
        }
        let mut tx = self.begin(ctx).await?;
        let before = find_for_update(&mut tx, id).await?;
        guard_super_admin_target(caller, &before)?;
        if before.role == "super_admin" && before.status == "active" {
            ensure_another_super_admin(&mut tx, id).await?;
        }
        if req.hard_delete {
            diesel::delete(u::table.find(id)).execute(&mut *tx).await?;
            audit::record(
                &mut tx,
                ctx,
                Change {
                    action: "platform_user.delete",
                    resource_type: "platform_user",
                    resource_id: id.to_string(),
                    before: Some(before.audit_view()),
                    after: None,
                },
            )
            .await?;
            self.provider.delete_identity(id).await?;
            tx.commit().await?;
            return Ok(pb::DeletePlatformUserResponse { platform_user: Some(before.to_proto()), deleted: true });
        }
        if before.status == "disabled" {
            return Ok(pb::DeletePlatformUserResponse { platform_user: Some(before.to_proto()), deleted: false });
        }
        let row: PlatformUserRow = diesel::update(u::table.find(id))
            .set((u::status.eq("disabled"), u::disabled_at.eq(Utc::now()), u::updated_at.eq(Utc::now())))
            .returning(PlatformUserRow::as_returning())
            .get_result(&mut *tx)
            .await?;
        self.provider.set_disabled(&mut tx, id, true).await?;
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "platform_user.disable",
                resource_type: "platform_user",
                resource_id: id.to_string(),
                before: Some(before.audit_view()),
                after: Some(row.audit_view()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(pb::DeletePlatformUserResponse { platform_user: Some(row.to_proto()), deleted: false })
    }

    async fn reset_password(
        &self,
        ctx: &RequestContext,
        req: pb::ResetPlatformUserPasswordRequest,
    ) -> Result<pb::ResetPlatformUserPasswordResponse, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let id = parse_uuid("id", &req.id).map_err(|_| AdminError::InvalidField { field: "id", reason: "must be a UUID".into() })?;
        let mut tx = self.begin(ctx).await?;
        let target = find_for_update(&mut tx, id).await?;
        guard_super_admin_target(caller, &target)?;
        if target.status == "disabled" {
            return Err(AdminError::Precondition("USER_DISABLED", "this account is disabled; enable it before resetting its password".into()));
        }
        let kind = if target.status == "invited" { "invite" } else { "recovery" };
        let link = if kind == "invite" {
            self.provider.resend_invitation(&mut tx, id, &target.email, &target.display_name, &target.role).await?
        } else {
            self.provider.admin_reset_password(&mut tx, id, &target.email).await?
        };
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "platform_user.reset_password",
                resource_type: "platform_user",
                resource_id: id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "link": if link.is_some() { "issued" } else { "emailed" } })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(pb::ResetPlatformUserPasswordResponse {
            email_sent: link.is_none(),
            recovery_link: link.as_ref().map(|(l, _)| l.clone()).unwrap_or_default(),
            recovery_link_expires_at: link.map(|(_, at)| timestamp(at)),
        })
    }

    async fn list(&self, ctx: &RequestContext, req: pb::ListPlatformUsersRequest) -> Result<pb::ListPlatformUsersResponse, Status> {
        let pb::ListPlatformUsersRequest { page_size: size, page_token, search, role, status } = req;
        let limit = page_size(size)?;
        let offset = parse_offset_token(&page_token)?;
        let role = (role != 0).then(|| Role::from_proto(role).ok_or_else(|| crate::error::invalid_field("role", "is not a role"))).transpose()?;
        let status = match pb::PlatformUserStatus::try_from(status) {
            Ok(pb::PlatformUserStatus::Unspecified) => None,
            Ok(pb::PlatformUserStatus::Active) => Some("active"),
            Ok(pb::PlatformUserStatus::Invited) => Some("invited"),
            Ok(pb::PlatformUserStatus::Disabled) => Some("disabled"),
            Err(_) => return Err(crate::error::invalid_field("status", "is not a status")),
        };
        let pattern = format!("%{}%", crate::audit::service::escape_like(search.trim()));
        let filtered = || {
            let mut query = u::table.into_boxed();
            if !search.trim().is_empty() {
                query = query.filter(u::email.ilike(pattern.clone()).or(u::display_name.ilike(pattern.clone())));
            }
            if let Some(role) = role {
                query = query.filter(u::role.eq(role.as_str()));
            }
            if let Some(status) = status {
                query = query.filter(u::status.eq(status));
            }
            query
        };
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let total: i64 = filtered().select(count_star()).first(&mut *tx).await.map_err(crate::error::internal)?;
        let rows: Vec<PlatformUserRow> = filtered()
            .select(PlatformUserRow::as_select())
            .order((lower(u::email), u::id))
            .offset(offset)
            .limit(limit)
            .load(&mut *tx)
            .await
            .map_err(crate::error::internal)?;
        tx.commit().await?;
        let next = if offset + (rows.len() as i64) < total { offset_token(offset + rows.len() as i64) } else { String::new() };
        Ok(pb::ListPlatformUsersResponse { platform_users: rows.iter().map(PlatformUserRow::to_proto).collect(), next_page_token: next, total_size: total })
    }
}

#[tonic::async_trait]
impl PlatformUserService for PlatformUserApi {
    async fn list_platform_users(&self, request: Request<pb::ListPlatformUsersRequest>) -> Result<Response<pb::ListPlatformUsersResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.list(&ctx, request.into_inner()).await?))
    }

    async fn get_platform_user(&self, request: Request<pb::GetPlatformUserRequest>) -> Result<Response<pb::GetPlatformUserResponse>, Status> {
        let ctx = context(&request)?;
        let id = parse_uuid("id", &request.get_ref().id)?;
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let row = find(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Response::new(pb::GetPlatformUserResponse { platform_user: Some(row.to_proto()) }))
    }

    async fn invite_platform_user(&self, request: Request<pb::InvitePlatformUserRequest>) -> Result<Response<pb::InvitePlatformUserResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.invite(&ctx, request.into_inner()).await?))
    }

    async fn update_platform_user(&self, request: Request<pb::UpdatePlatformUserRequest>) -> Result<Response<pb::UpdatePlatformUserResponse>, Status> {
        let ctx = context(&request)?;
        let row = self.update(&ctx, request.into_inner()).await?;
        Ok(Response::new(pb::UpdatePlatformUserResponse { platform_user: Some(row.to_proto()) }))
    }

    async fn delete_platform_user(&self, request: Request<pb::DeletePlatformUserRequest>) -> Result<Response<pb::DeletePlatformUserResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.delete(&ctx, request.into_inner()).await?))
    }

    async fn reset_platform_user_password(
        &self,
        request: Request<pb::ResetPlatformUserPasswordRequest>,
    ) -> Result<Response<pb::ResetPlatformUserPasswordResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.reset_password(&ctx, request.into_inner()).await?))
    }

    async fn get_permissions(&self, request: Request<pb::GetPermissionsRequest>) -> Result<Response<pb::GetPermissionsResponse>, Status> {
        let ctx = context(&request)?;
        let caller = ctx.principal()?;
        let id = parse_uuid("platform_user_id", &request.get_ref().platform_user_id)?;
        if caller.platform_user_id() != Some(id) && !caller.has("platform_users.read") {
            return Err(crate::auth::principal::permission_denied("platform_users.read"));
        }
        let mut tx = self.db.begin_as(&caller.claims).await?;
        let row = find(&mut tx, id).await?;
        // A disabled or invited account holds no permissions, whatever its role.
        let permissions = if row.status == "active" { permissions_of(&mut tx, &row.role).await.map_err(crate::error::internal)? } else { Vec::new() };
        tx.commit().await?;
        Ok(Response::new(pb::GetPermissionsResponse {
            platform_user_id: id.to_string(),
            role: Role::parse(&row.role).map(|r| r.to_proto() as i32).unwrap_or_default(),
            permissions,
        }))
    }
}
