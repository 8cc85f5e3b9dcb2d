//! The built-in identity provider: argon2 credentials in `cdp.platform_users`, Supabase-shaped
//! HS256 access tokens signed by the server, rotating refresh tokens and one-time links
//! (invitation, recovery) stored as hashes in `cdp.auth_tokens`.

use super::{AuthError, IssuedSession, password, secrets, tokens::TokenSigner};
use crate::{
    audit::{self, AuditActor, Change},
    auth::principal::RequestContext,
    db::{Db, Tx},
    schema::{auth_tokens as t, lower, platform_users as u},
};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::time::Duration;
use uuid::Uuid;

/// A one-time link's token row: id, platform user, expiry, use.
type LinkRow = (Uuid, Uuid, DateTime<Utc>, Option<DateTime<Utc>>);

pub struct LocalProvider {
    pub signer: TokenSigner,
    pub refresh_ttl: Duration,
    pub invitation_ttl: Duration,
    pub recovery_ttl: Duration,
    pub min_password_length: usize,
    pub public_url: String,
}

fn after(ttl: Duration) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1))
}

impl LocalProvider {
    pub async fn sign_in(&self, db: &Db, ctx: &RequestContext, email: &str, password_text: &str) -> Result<IssuedSession, AuthError> {
        let mut tx = db.begin_system().await?;
        let row: Option<(Uuid, String, String, Option<String>)> =
            u::table.filter(lower(u::email).eq(lower(email))).select((u::id, u::email, u::status, u::password_hash)).first(&mut *tx).await.optional()?;
        let stored = row.as_ref().and_then(|r| r.3.clone());
        let valid = password::verify(password_text.to_string(), stored).await?;
        let Some((id, email, status, _)) = row.filter(|_| valid) else {
            return Err(AuthError::InvalidCredentials);
        };
        if status == "disabled" {
            return Err(AuthError::Disabled);
        }
        if status != "active" {
            return Err(AuthError::InvalidCredentials);
        }
        let session = self.issue_session(&mut tx, id, &email).await?;
        diesel::update(u::table.find(id)).set(u::last_sign_in_at.eq(Utc::now())).execute(&mut *tx).await?;
        audit::record_as(
            &mut tx,
            ctx,
            AuditActor::PlatformUser { id, email },
            Change { action: "auth.sign_in", resource_type: "platform_user", resource_id: id.to_string(), before: None, after: None },
        )
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Exchanges a refresh token for a new session. Tokens rotate: each works once, and a
    /// reused one (a sign of theft) ends every session of its user.
    pub async fn refresh(&self, db: &Db, refresh_token: &str) -> Result<IssuedSession, AuthError> {
        let mut tx = db.begin_system().await?;
        let row: Option<LinkRow> = t::table
            .filter(t::token_hash.eq(secrets::hash(refresh_token)).and(t::kind.eq("refresh")))
            .select((t::id, t::platform_user_id, t::expires_at, t::used_at))
            .for_update()
            .first(&mut *tx)
            .await
            .optional()?;
        let Some((token_id, user_id, expires_at, used_at)) = row else { return Err(AuthError::SessionInvalid) };
        if used_at.is_some() {
            revoke_refresh_tokens(&mut tx, user_id).await?;
            tx.commit().await?;
            return Err(AuthError::SessionInvalid);
        }
        if expires_at <= Utc::now() {
            return Err(AuthError::SessionInvalid);
        }
        let (email, status): (String, String) = u::table.find(user_id).select((u::email, u::status)).first(&mut *tx).await?;
        if status != "active" {
            return Err(AuthError::Disabled);
        }
        diesel::update(t::table.find(token_id)).set(t::used_at.eq(Utc::now())).execute(&mut *tx).await?;
        let session = self.issue_session(&mut tx, user_id, &email).await?;
        tx.commit().await?;
        Ok(session)
    }

    pub async fn sign_out(&self, db: &Db, refresh_token: &str) -> Result<(), AuthError> {
        let mut tx = db.begin_system().await?;
        diesel::update(t::table.filter(t::token_hash.eq(secrets::hash(refresh_token)).and(t::kind.eq("refresh")).and(t::used_at.is_null())))
            .set(t::used_at.eq(Utc::now()))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a password from an invitation or recovery link, activates an invited account,
    /// ends the user's other sessions, and signs them in.
    pub async fn complete_password_reset(&self, db: &Db, ctx: &RequestContext, token: &str, new_password: &str) -> Result<IssuedSession, AuthError> {
        password::check_strength(new_password, self.min_password_length)?;
        let hash = password::hash(new_password.to_string()).await?;
        let mut tx = db.begin_system().await?;
        let row: Option<(Uuid, Uuid, String)> = t::table
            .filter(t::token_hash.eq(secrets::hash(token)))
            .filter(t::kind.eq_any(["invite", "recovery"]))
            .filter(t::used_at.is_null())
            .filter(t::expires_at.gt(Utc::now()))
            .select((t::id, t::platform_user_id, t::kind))
            .for_update()
            .first(&mut *tx)
            .await
            .optional()?;
        let Some((token_id, user_id, kind)) = row else { return Err(AuthError::LinkInvalid) };
        let (email, status): (String, String) = u::table.find(user_id).select((u::email, u::status)).first(&mut *tx).await?;
        if status == "disabled" {
            return Err(AuthError::Disabled);
        }
        diesel::update(t::table.find(token_id)).set(t::used_at.eq(Utc::now())).execute(&mut *tx).await?;
        diesel::update(u::table.find(user_id))
            .set((u::password_hash.eq(hash), u::status.eq("active"), u::updated_at.eq(Utc::now()), u::last_sign_in_at.eq(Utc::now())))
            .execute(&mut *tx)
            .await?;
        revoke_refresh_tokens(&mut tx, user_id).await?;
        let action = if kind == "invite" { "auth.accept_invitation" } else { "auth.reset_password" };
        audit::record_as(
            &mut tx,
            ctx,
            AuditActor::PlatformUser { id: user_id, email: email.clone() },
            Change {
                action,
                resource_type: "platform_user",
                resource_id: user_id.to_string(),
                before: Some(serde_json::json!({ "status": status })),
                after: Some(serde_json::json!({ "status": "active" })),
            },
        )
        .await?;
        let session = self.issue_session(&mut tx, user_id, &email).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Issues a one-time link (invite or recovery) for `user_id`, in the caller's transaction.
    pub async fn issue_link(&self, conn: &mut AsyncPgConnection, user_id: Uuid, kind: &'static str) -> Result<(String, DateTime<Utc>), AuthError> {
        let (ttl, path) = match kind {
            "invite" => (self.invitation_ttl, "accept-invite"),
            _ => (self.recovery_ttl, "reset-password"),
        };
        let token = secrets::random_token();
        let expires_at = after(ttl);
        // A new link replaces any unused one of the same kind.
        diesel::update(t::table.filter(t::platform_user_id.eq(user_id)).filter(t::kind.eq(kind)).filter(t::used_at.is_null()))
            .set(t::used_at.eq(Utc::now()))
            .execute(conn)
            .await?;
        diesel::insert_into(t::table)
            .values((t::platform_user_id.eq(user_id), t::kind.eq(kind), t::token_hash.eq(secrets::hash(&token)), t::expires_at.eq(expires_at)))
            .execute(conn)
            .await?;
        Ok((format!("{}/{path}?token={token}", self.public_url), expires_at))
    }

    async fn issue_session(&self, tx: &mut Tx, user_id: Uuid, email: &str) -> Result<IssuedSession, AuthError> {
        let refresh_token = secrets::random_token();
        let session_id = Uuid::new_v4();
        diesel::insert_into(t::table)
            .values((
                t::id.eq(session_id),
                t::platform_user_id.eq(user_id),
                t::kind.eq("refresh"),
                t::token_hash.eq(secrets::hash(&refresh_token)),
                t::expires_at.eq(after(self.refresh_ttl)),
            ))
            .execute(&mut **tx)
            .await?;
        let (access_token, expires_at) = self.signer.sign(user_id, email, session_id).map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(IssuedSession { user_id, access_token, refresh_token, expires_at })
    }
}

/// Ends every session of a user (disable, password change, refresh-token reuse).
pub async fn revoke_refresh_tokens(conn: &mut AsyncPgConnection, user_id: Uuid) -> diesel::QueryResult<usize> {
    diesel::update(t::table.filter(t::platform_user_id.eq(user_id)).filter(t::kind.eq("refresh")).filter(t::used_at.is_null()))
        .set(t::used_at.eq(Utc::now()))
        .execute(conn)
        .await
}
