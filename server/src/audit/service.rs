//! AuditLogService: the audit trail, filtered by actor, action prefix, resource and time,
//! newest first, paged by an opaque token (the last id seen).

use crate::{
    auth::principal::context,
    convert::{page_size, parse_page_token, timestamp, to_struct},
    db::Db,
    error::{invalid_field, parse_uuid},
    schema::audit_log as a,
};
use cdp_proto::cdp::v1::{self as pb, audit_log_service_server::AuditLogService};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::RunQueryDsl;
use tonic::{Request, Response, Status};

pub struct AuditLogApi {
    pub db: Db,
}

type Row = (
    i64,
    Option<uuid::Uuid>,
    Option<String>,
    String,
    String,
    String,
    String,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
    Option<String>,
    Option<String>,
    chrono::DateTime<chrono::Utc>,
);

pub fn entry_to_proto(row: Row) -> pb::AuditLogEntry {
    let (id, actor_id, actor_email, actor_kind, action, resource_type, resource_id, before, after, request_id, client_address, created_at) = row;
    pb::AuditLogEntry {
        id,
        actor_id: actor_id.map(|id| id.to_string()).unwrap_or_default(),
        actor_email: actor_email.unwrap_or_default(),
        actor_kind: match actor_kind.as_str() {
            "platform_user" => pb::ActorKind::PlatformUser,
            "service_credential" => pb::ActorKind::ServiceCredential,
            _ => pb::ActorKind::System,
        } as i32,
        action,
        resource_type,
        resource_id,
        before: before.and_then(to_struct),
        after: after.and_then(to_struct),
        request_id: request_id.unwrap_or_default(),
        client_address: client_address.unwrap_or_default(),
        created_at: Some(timestamp(created_at)),
    }
}

pub const ENTRY_COLUMNS: (
    a::id,
    a::actor_id,
    a::actor_email,
    a::actor_kind,
    a::action,
    a::resource_type,
    a::resource_id,
    a::before,
    a::after,
    a::request_id,
    a::client_address,
    a::created_at,
) = (
    a::id,
    a::actor_id,
    a::actor_email,
    a::actor_kind,
    a::action,
    a::resource_type,
    a::resource_id,
    a::before,
    a::after,
    a::request_id,
    a::client_address,
    a::created_at,
);

#[tonic::async_trait]
impl AuditLogService for AuditLogApi {
    async fn list_audit_logs(&self, request: Request<pb::ListAuditLogsRequest>) -> Result<Response<pb::ListAuditLogsResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListAuditLogsRequest { page_size: size, page_token, actor_id, action, resource_type, resource_id, start_time, end_time } = request.into_inner();
        let limit = page_size(size)?;
        let after_id = parse_page_token(&page_token)?;
        let actor = (!actor_id.is_empty()).then(|| parse_uuid("actor_id", &actor_id)).transpose()?;
        let start = start_time.map(|t| crate::convert::from_timestamp("start_time", t)).transpose()?;
        let end = end_time.map(|t| crate::convert::from_timestamp("end_time", t)).transpose()?;
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            return Err(invalid_field("end_time", "must not be before start_time"));
        }
        // One filter, applied to both the page and the total.
        let filtered = || {
            let mut query = a::table.into_boxed();
            if let Some(actor) = actor {
                query = query.filter(a::actor_id.eq(actor));
            }
            if !action.is_empty() {
                query = query.filter(a::action.like(format!("{}%", escape_like(&action))));
            }
            if !resource_type.is_empty() {
                query = query.filter(a::resource_type.eq(resource_type.clone()));
            }
            if !resource_id.is_empty() {
                query = query.filter(a::resource_id.eq(resource_id.clone()));
            }
            if let Some(start) = start {
                query = query.filter(a::created_at.ge(start));
            }
            if let Some(end) = end {
                query = query.filter(a::created_at.lt(end));
            }
            query
        };
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let total: i64 = filtered().select(count_star()).first(&mut *tx).await.map_err(crate::error::internal)?;
        let mut page = filtered();
        if let Some(after_id) = after_id {
            page = page.filter(a::id.lt(after_id));
        }
        let rows: Vec<Row> = page.select(ENTRY_COLUMNS).order(a::id.desc()).limit(limit + 1).load(&mut *tx).await.map_err(crate::error::internal)?;
        tx.commit().await?;
        let (rows, next) = crate::convert::split_page(rows, limit, |row| row.0);
        Ok(Response::new(pb::ListAuditLogsResponse {
            audit_log_entries: rows.into_iter().map(entry_to_proto).collect(),
            next_page_token: next,
            total_size: total,
        }))
    }
}

/// Escapes `%`, `_` and `\` so a user's text matches literally in LIKE.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
