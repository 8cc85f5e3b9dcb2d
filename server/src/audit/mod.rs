//! The audit trail: every mutation writes one row through `record`, inside the transaction of
//! the change it describes, so a rolled-back change leaves no row. The table is append-only.

pub mod service;

use crate::{
    auth::principal::{Actor, RequestContext},
    schema::audit_log,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

/// Who an audit row names when it is not simply the request's principal.
#[derive(Clone, Debug)]
pub enum AuditActor {
    PlatformUser { id: uuid::Uuid, email: String },
    ServiceCredential { id: uuid::Uuid, name: String },
    System,
}

impl AuditActor {
    pub fn of(ctx: &RequestContext) -> AuditActor {
        match ctx.principal.as_ref().map(|p| &p.actor) {
            Some(Actor::PlatformUser { id, email, .. }) => AuditActor::PlatformUser { id: *id, email: email.clone() },
            Some(Actor::ServiceCredential { id, name }) => AuditActor::ServiceCredential { id: *id, name: name.clone() },
            None => AuditActor::System,
        }
    }
}

/// One change to record.
pub struct Change<'a> {
    /// `<resource>.<verb>`, e.g. `platform_user.invite`; the audit log filters on its prefix.
    pub action: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Records `change` made by the request's principal.
pub async fn record(conn: &mut AsyncPgConnection, ctx: &RequestContext, change: Change<'_>) -> diesel::QueryResult<()> {
    record_as(conn, ctx, AuditActor::of(ctx), change).await
}

/// Records `change` made by `actor` (e.g. the user who just signed in, or the system).
pub async fn record_as(conn: &mut AsyncPgConnection, ctx: &RequestContext, actor: AuditActor, change: Change<'_>) -> diesel::QueryResult<()> {
    use diesel::ExpressionMethods;
    let (actor_id, actor_email, actor_kind) = match actor {
        AuditActor::PlatformUser { id, email } => (Some(id), Some(email), "platform_user"),
        AuditActor::ServiceCredential { id, name } => (Some(id), Some(name), "service_credential"),
        AuditActor::System => (None, None, "system"),
    };
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_id.eq(actor_id),
            audit_log::actor_email.eq(actor_email),
            audit_log::actor_kind.eq(actor_kind),
            audit_log::action.eq(change.action),
            audit_log::resource_type.eq(change.resource_type),
            audit_log::resource_id.eq(change.resource_id),
            audit_log::before.eq(change.before),
            audit_log::after.eq(change.after),
            audit_log::request_id.eq(&ctx.request_id),
            audit_log::client_address.eq(&ctx.client_address),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}
