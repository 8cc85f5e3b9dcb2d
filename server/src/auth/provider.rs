//! The identity provider behind sign-in and user management (DESIGN §4): the built-in
//! `local` provider or Supabase Auth. One enum keeps dispatch static and both paths visible.

use super::{AuthError, IssuedSession, local::LocalProvider, password, principal::RequestContext, supabase::GoTrueClient};
use crate::{
    audit::{self, AuditActor, Change},
    db::Db,
    schema::platform_users as u,
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

pub enum IdentityProvider {
    Local(LocalProvider),
    Supabase { gotrue: GoTrueClient, public_url: String, min_password_length: usize },
}

/// A one-time link the admin can hand over (local provider), or `None` when the provider
/// emailed it.
pub type Link = Option<(String, DateTime<Utc>)>;

impl IdentityProvider {
    pub fn is_local(&self) -> bool {
        matches!(self, IdentityProvider::Local(_))
    }

    pub fn min_password_length(&self) -> usize {
        match self {
            IdentityProvider::Local(local) => local.min_password_length,
            IdentityProvider::Supabase { min_password_length, .. } => *min_password_length,
        }
    }

    pub async fn sign_in(&self, db: &Db, ctx: &RequestContext, email: &str, password: &str) -> Result<IssuedSession, AuthError> {
        match self {
            IdentityProvider::Local(local) => local.sign_in(db, ctx, email, password).await,
            IdentityProvider::Supabase { gotrue, .. } => {
                let session = gotrue.password_grant(email, password).await?;
                let email = session.user.email.clone().unwrap_or_else(|| email.to_string());
                let mut tx = db.begin_system().await?;
                ensure_active(&mut tx, session.user.id).await?;
                diesel::update(u::table.find(session.user.id)).set(u::last_sign_in_at.eq(Utc::now())).execute(&mut *tx).await?;
                audit::record_as(
                    &mut tx,
                    ctx,
                    AuditActor::PlatformUser { id: session.user.id, email },
                    Change { action: "auth.sign_in", resource_type: "platform_user", resource_id: session.user.id.to_string(), before: None, after: None },
                )
                .await?;
                tx.commit().await?;
                Ok(IssuedSession {
                    user_id: session.user.id,
                    expires_at: session.expires_at(),
                    access_token: session.access_token,
                    refresh_token: session.refresh_token,
                })
            }
        }
    }

    pub async fn refresh(&self, db: &Db, refresh_token: &str) -> Result<IssuedSession, AuthError> {
        match self {
            IdentityProvider::Local(local) => local.refresh(db, refresh_token).await,
            IdentityProvider::Supabase { gotrue, .. } => {
                let session = gotrue.refresh_grant(refresh_token).await?;
                let mut tx = db.begin_system().await?;
                ensure_active(&mut tx, session.user.id).await?;
                tx.commit().await?;
                Ok(IssuedSession {
                    user_id: session.user.id,
                    expires_at: session.expires_at(),
                    access_token: session.access_token,
                    refresh_token: session.refresh_token,
                })
            }
        }
    }

    pub async fn sign_out(&self, db: &Db, refresh_token: &str, access_token: Option<&str>) -> Result<(), AuthError> {
        match self {
            IdentityProvider::Local(local) => local.sign_out(db, refresh_token).await,
            IdentityProvider::Supabase { gotrue, .. } => match access_token {
                Some(token) => gotrue.logout(token).await,
                None => Ok(()),
            },
        }
    }

    /// Self-service "forgot password". The local provider has no mail delivery, so there an
    /// administrator issues the link (ResetPlatformUserPassword); GetAuthConfig says so.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AuthError> {
        match self {
            IdentityProvider::Local(_) => Ok(()),
            IdentityProvider::Supabase { gotrue, public_url, .. } => {
                match gotrue.recover(email, &format!("{public_url}/reset-password")).await {
                    // Never reveal whether the address exists.
                    Ok(()) | Err(AuthError::NotFound) => Ok(()),
                    Err(err) => Err(err),
                }
            }
        }
    }

    pub async fn complete_password_reset(&self, db: &Db, ctx: &RequestContext, token: &str, new_password: &str) -> Result<IssuedSession, AuthError> {
        match self {
            IdentityProvider::Local(local) => local.complete_password_reset(db, ctx, token, new_password).await,
            IdentityProvider::Supabase { gotrue, min_password_length, .. } => {
                password::check_strength(new_password, *min_password_length)?;
                // The link's token is a GoTrue access token for that user.
                let user = gotrue.update_password(token, new_password).await?;
                let email = user.email.clone().ok_or_else(|| AuthError::Internal("Supabase user without email".into()))?;
                let mut tx = db.begin_system().await?;
                let status: Option<String> = u::table.find(user.id).select(u::status).first(&mut *tx).await.optional()?;
                match status.as_deref() {
                    None => return Err(AuthError::NotAPlatformUser),
                    Some("disabled") => return Err(AuthError::Disabled),
                    _ => {}
                }
                diesel::update(u::table.find(user.id)).set((u::status.eq("active"), u::updated_at.eq(Utc::now()))).execute(&mut *tx).await?;
                audit::record_as(
                    &mut tx,
                    ctx,
                    AuditActor::PlatformUser { id: user.id, email: email.clone() },
                    Change { action: "auth.reset_password", resource_type: "platform_user", resource_id: user.id.to_string(), before: None, after: None },
                )
                .await?;
                tx.commit().await?;
                self.sign_in(db, ctx, &email, new_password).await
            }
        }
    }

    /// Creates the identity of an invited user; returns the id the platform user row takes.
    pub async fn create_invited_identity(&self, email: &str, display_name: &str, role: &str) -> Result<Uuid, AuthError> {
        match self {
            IdentityProvider::Local(_) => Ok(Uuid::new_v4()),
            IdentityProvider::Supabase { gotrue, public_url, .. } => {
                let data = serde_json::json!({ "display_name": display_name, "cdp_role": role });
                Ok(gotrue.invite(email, data, &format!("{public_url}/accept-invite")).await?.id)
            }
        }
    }

    /// Undo of `create_invited_identity` when the database part of an invitation failed.
    pub async fn discard_identity(&self, id: Uuid) {
        if let IdentityProvider::Supabase { gotrue, .. } = self
            && let Err(err) = gotrue.delete_user(id).await
        {
            tracing::error!(user = %id, error = %err, "could not remove a half-created Supabase user");
        }
    }

    pub async fn invitation_link(&self, conn: &mut AsyncPgConnection, id: Uuid) -> Result<Link, AuthError> {
        match self {
            IdentityProvider::Local(local) => local.issue_link(conn, id, "invite").await.map(Some),
            IdentityProvider::Supabase { .. } => Ok(None),
        }
    }

    /// Sends an invitation again to a user who has not accepted yet: a fresh link to hand over
    /// (local), or GoTrue re-sends its invitation email (it does so for unconfirmed users).
    pub async fn resend_invitation(&self, conn: &mut AsyncPgConnection, id: Uuid, email: &str, display_name: &str, role: &str) -> Result<Link, AuthError> {
        match self {
            IdentityProvider::Local(local) => local.issue_link(conn, id, "invite").await.map(Some),
            IdentityProvider::Supabase { gotrue, public_url, .. } => {
                let data = serde_json::json!({ "display_name": display_name, "cdp_role": role });
                gotrue.invite(email, data, &format!("{public_url}/accept-invite")).await?;
                Ok(None)
            }
        }
    }

    /// Starts a password reset for a user on an admin's request: a link to hand over (local),
    /// or a recovery email (Supabase).
    pub async fn admin_reset_password(&self, conn: &mut AsyncPgConnection, id: Uuid, email: &str) -> Result<Link, AuthError> {
        match self {
            IdentityProvider::Local(local) => local.issue_link(conn, id, "recovery").await.map(Some),
            IdentityProvider::Supabase { gotrue, public_url, .. } => {
                gotrue.recover(email, &format!("{public_url}/reset-password")).await?;
                Ok(None)
            }
        }
    }

    /// Mirrors a disable/enable at the provider (Supabase: ban), ending sessions there too.
    pub async fn set_disabled(&self, conn: &mut AsyncPgConnection, id: Uuid, disabled: bool) -> Result<(), AuthError> {
        match self {
            IdentityProvider::Local(_) => {
                if disabled {
                    super::local::revoke_refresh_tokens(conn, id).await?;
                }
                Ok(())
            }
            IdentityProvider::Supabase { gotrue, .. } => gotrue.set_banned(id, disabled).await,
        }
    }

    pub async fn delete_identity(&self, id: Uuid) -> Result<(), AuthError> {
        match self {
            IdentityProvider::Local(_) => Ok(()),
            IdentityProvider::Supabase { gotrue, .. } => gotrue.delete_user(id).await,
        }
    }

    /// Creates the first super admin on an empty database (from the environment or
    /// `cdp bootstrap-admin`). Returns false when a super admin already exists.
    pub async fn bootstrap_admin(&self, db: &Db, email: &str, password_text: &str) -> Result<bool, AuthError> {
        let mut tx = db.begin_system().await?;
        // One bootstrap at a time, even with several servers starting together.
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('cdp.bootstrap_admin'))").execute(&mut *tx).await?;
        let existing: i64 = u::table.filter(u::role.eq("super_admin")).count().get_result(&mut *tx).await?;
        if existing > 0 {
            return Ok(false);
        }
        password::check_strength(password_text, self.min_password_length()).map_err(|_| AuthError::InvalidField {
            field: "CDP_BOOTSTRAP_ADMIN_PASSWORD",
            reason: format!("must be at least {} characters", self.min_password_length()),
        })?;
        let (id, hash) = match self {
            IdentityProvider::Local(_) => (Uuid::new_v4(), Some(password::hash(password_text.to_string()).await?)),
            IdentityProvider::Supabase { gotrue, .. } => (gotrue.create_user(email, password_text).await?.id, None),
        };
        diesel::insert_into(u::table)
            .values((
                u::id.eq(id),
                u::email.eq(email),
                u::display_name.eq("Administrator"),
                u::role.eq("super_admin"),
                u::status.eq("active"),
                u::password_hash.eq(hash),
            ))
            .execute(&mut *tx)
            .await?;
        let ctx = RequestContext { principal: None, request_id: "bootstrap".into(), client_address: None };
        audit::record_as(
            &mut tx,
            &ctx,
            AuditActor::System,
            Change {
                action: "platform_user.bootstrap",
                resource_type: "platform_user",
                resource_id: id.to_string(),
                before: None,
                after: Some(serde_json::json!({ "email": email, "role": "super_admin", "status": "active" })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

async fn ensure_active(conn: &mut AsyncPgConnection, id: Uuid) -> Result<(), AuthError> {
    let status: Option<String> = u::table.find(id).select(u::status).first(conn).await.optional()?;
    match status.as_deref() {
        None => Err(AuthError::NotAPlatformUser),
        Some("active") => Ok(()),
        Some("disabled") => Err(AuthError::Disabled),
        Some(_) => Err(AuthError::InvalidCredentials),
    }
}
