//! ServiceCredentialService: credentials for internal marketplace services (e.g. the order
//! service that redeems promotions). The secret is shown once and stored as a hash; rotation
//! keeps the previous secret valid for an overlap period; revocation is refused on the next
//! call. A credential's scopes never exceed what its creator holds (plus promotions.redeem,
//! which exists only for credentials).

use super::AdminError;
use crate::{
    audit::{self, Change},
    auth::{
        principal::{RequestContext, context},
        secrets,
    },
    convert::{offset_token, opt_timestamp, page_size, parse_offset_token, timestamp},
    db::Db,
    error::parse_uuid,
    schema::{permissions as p, service_credentials as c},
};
use cdp_proto::cdp::v1::{self as pb, service_credential_service_server::ServiceCredentialService};
use chrono::{DateTime, Utc};
use diesel::{dsl::count_star, prelude::*};
use diesel_async::RunQueryDsl;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct ServiceCredentialApi {
    pub db: Db,
}

/// The default and the longest overlap during which a rotated-out secret keeps working.
const DEFAULT_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
const MAX_OVERLAP: chrono::Duration = chrono::Duration::days(7);
const CREDENTIAL_ONLY_SCOPE: &str = "promotions.redeem";

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = c)]
struct CredentialRow {
    id: Uuid,
    name: String,
    scopes: Vec<String>,
    key_prefix: String,
    status: String,
    created_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    rotated_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl CredentialRow {
    fn to_proto(&self) -> pb::ServiceCredential {
        let CredentialRow { id, name, scopes, key_prefix, status, created_by, created_at, last_used_at, previous_secret_expires_at, rotated_at, revoked_at } =
            self;
        pb::ServiceCredential {
            id: id.to_string(),
            name: name.clone(),
            scopes: scopes.clone(),
            key_prefix: key_prefix.clone(),
            status: if status == "active" { pb::ServiceCredentialStatus::Active } else { pb::ServiceCredentialStatus::Revoked } as i32,
            created_by: created_by.map(|id| id.to_string()).unwrap_or_default(),
            created_at: Some(timestamp(*created_at)),
            last_used_at: opt_timestamp(*last_used_at),
            previous_secret_expires_at: opt_timestamp(previous_secret_expires_at.filter(|at| *at > Utc::now())),
            revoked_at: opt_timestamp(*revoked_at),
            rotated_at: opt_timestamp(*rotated_at),
        }
    }

    fn audit_view(&self) -> serde_json::Value {
        serde_json::json!({ "name": self.name, "scopes": self.scopes, "key_prefix": self.key_prefix, "status": self.status })
    }
}

impl ServiceCredentialApi {
    async fn create(&self, ctx: &RequestContext, req: pb::CreateServiceCredentialRequest) -> Result<pb::CreateServiceCredentialResponse, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let name = req.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(AdminError::InvalidField { field: "name", reason: "is required, at most 100 characters".into() });
        }
        let mut scopes = req.scopes.iter().map(|s| s.trim().to_string()).collect::<Vec<_>>();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AdminError::InvalidField { field: "scopes", reason: format!("name at least one permission, e.g. {CREDENTIAL_ONLY_SCOPE}") });
        }
        let mut tx = self.db.begin_as(&caller.claims).await?;
        let known: Vec<String> = p::table.select(p::name).load(&mut *tx).await?;
        for scope in &scopes {
            if !known.contains(scope) {
                return Err(AdminError::InvalidField { field: "scopes", reason: format!("{scope:?} is not a permission") });
            }
            if scope == "super_admin.grant" || (scope != CREDENTIAL_ONLY_SCOPE && !caller.has(scope)) {
                return Err(AdminError::Forbidden(format!("you cannot give a credential the scope {scope}, which you do not hold")));
            }
        }
        let secret = secrets::random_token();
        let key_prefix = secrets::random_key_prefix();
        let row: CredentialRow = diesel::insert_into(c::table)
            .values((
                c::name.eq(&name),
                c::scopes.eq(&scopes),
                c::key_prefix.eq(&key_prefix),
                c::secret_hash.eq(secrets::hash(&secret)),
                c::created_by.eq(caller.platform_user_id()),
            ))
            .returning(CredentialRow::as_returning())
            .get_result(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "service_credential.create",
                resource_type: "service_credential",
                resource_id: row.id.to_string(),
                before: None,
                after: Some(row.audit_view()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(pb::CreateServiceCredentialResponse { service_credential: Some(row.to_proto()), secret: secrets::service_bearer(&key_prefix, &secret) })
    }

    async fn rotate(&self, ctx: &RequestContext, req: pb::RotateServiceCredentialRequest) -> Result<pb::RotateServiceCredentialResponse, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let id = parse_uuid("id", &req.id).map_err(|_| AdminError::InvalidField { field: "id", reason: "must be a UUID".into() })?;
        let overlap = match req.overlap {
            None => DEFAULT_OVERLAP,
            Some(d) if d.seconds < 0 || d.nanos < 0 => return Err(AdminError::InvalidField { field: "overlap", reason: "must not be negative".into() }),
            Some(d) => chrono::Duration::seconds(d.seconds),
        };
        if overlap > MAX_OVERLAP {
            return Err(AdminError::InvalidField { field: "overlap", reason: "must be at most 7 days".into() });
        }
        let mut tx = self.db.begin_as(&caller.claims).await?;
        let (before, current_hash): (CredentialRow, Vec<u8>) = c::table
            .find(id)
            .select((CredentialRow::as_select(), c::secret_hash))
            .for_update()
            .first(&mut *tx)
            .await
            .optional()?
            .ok_or_else(|| AdminError::NotFound(format!("no service credential with id {id}")))?;
        if before.status != "active" {
            return Err(AdminError::Precondition("CREDENTIAL_REVOKED", "this credential is revoked; create a new one".into()));
        }
        let secret = secrets::random_token();
        let now = Utc::now();
        let row: CredentialRow = diesel::update(c::table.find(id))
            .set((
                c::secret_hash.eq(secrets::hash(&secret)),
                c::previous_secret_hash.eq((overlap > chrono::Duration::zero()).then_some(current_hash)),
                c::previous_secret_expires_at.eq((overlap > chrono::Duration::zero()).then_some(now + overlap)),
                c::rotated_at.eq(now),
            ))
            .returning(CredentialRow::as_returning())
            .get_result(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "service_credential.rotate",
                resource_type: "service_credential",
                resource_id: id.to_string(),
                before: Some(before.audit_view()),
                after: Some(serde_json::json!({ "previous_secret_valid_for_seconds": overlap.num_seconds() })),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(pb::RotateServiceCredentialResponse { service_credential: Some(row.to_proto()), secret: secrets::service_bearer(&row.key_prefix, &secret) })
    }

    async fn revoke(&self, ctx: &RequestContext, req: pb::RevokeServiceCredentialRequest) -> Result<CredentialRow, AdminError> {
        let caller = ctx.principal().map_err(|_| AdminError::Forbidden("sign in first".into()))?;
        let id = parse_uuid("id", &req.id).map_err(|_| AdminError::InvalidField { field: "id", reason: "must be a UUID".into() })?;
        let mut tx = self.db.begin_as(&caller.claims).await?;
        let before: CredentialRow = c::table
            .find(id)
            .select(CredentialRow::as_select())
            .for_update()
            .first(&mut *tx)
            .await
            .optional()?
            .ok_or_else(|| AdminError::NotFound(format!("no service credential with id {id}")))?;
        if before.status == "revoked" {
            return Ok(before); // already revoked: nothing changes, nothing to audit
        }
        let row: CredentialRow = diesel::update(c::table.find(id))
            .set((
                c::status.eq("revoked"),
                c::revoked_at.eq(Utc::now()),
                c::previous_secret_hash.eq(None::<Vec<u8>>),
                c::previous_secret_expires_at.eq(None::<DateTime<Utc>>),
            ))
            .returning(CredentialRow::as_returning())
            .get_result(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            ctx,
            Change {
                action: "service_credential.revoke",
                resource_type: "service_credential",
                resource_id: id.to_string(),
                before: Some(before.audit_view()),
                after: Some(row.audit_view()),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }
}

#[tonic::async_trait]
impl ServiceCredentialService for ServiceCredentialApi {
    async fn create_service_credential(
        &self,
        request: Request<pb::CreateServiceCredentialRequest>,
    ) -> Result<Response<pb::CreateServiceCredentialResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.create(&ctx, request.into_inner()).await?))
    }

    async fn list_service_credentials(
        &self,
        request: Request<pb::ListServiceCredentialsRequest>,
    ) -> Result<Response<pb::ListServiceCredentialsResponse>, Status> {
        let ctx = context(&request)?;
        let pb::ListServiceCredentialsRequest { page_size: size, page_token, show_revoked } = request.into_inner();
        let limit = page_size(size)?;
        let offset = parse_offset_token(&page_token)?;
        let filtered = || {
            let query = c::table.into_boxed();
            if show_revoked { query } else { query.filter(c::status.eq("active")) }
        };
        let mut tx = self.db.begin_as(&ctx.principal()?.claims).await?;
        let total: i64 = filtered().select(count_star()).first(&mut *tx).await.map_err(crate::error::internal)?;
        let rows: Vec<CredentialRow> = filtered()
            .select(CredentialRow::as_select())
            .order((c::created_at.desc(), c::id))
            .offset(offset)
            .limit(limit)
            .load(&mut *tx)
            .await
            .map_err(crate::error::internal)?;
        tx.commit().await?;
        let next = if offset + (rows.len() as i64) < total { offset_token(offset + rows.len() as i64) } else { String::new() };
        Ok(Response::new(pb::ListServiceCredentialsResponse {
            service_credentials: rows.iter().map(CredentialRow::to_proto).collect(),
            next_page_token: next,
            total_size: total,
        }))
    }

    async fn rotate_service_credential(
        &self,
        request: Request<pb::RotateServiceCredentialRequest>,
    ) -> Result<Response<pb::RotateServiceCredentialResponse>, Status> {
        let ctx = context(&request)?;
        Ok(Response::new(self.rotate(&ctx, request.into_inner()).await?))
    }

    async fn revoke_service_credential(
        &self,
        request: Request<pb::RevokeServiceCredentialRequest>,
    ) -> Result<Response<pb::RevokeServiceCredentialResponse>, Status> {
        let ctx = context(&request)?;
        let row = self.revoke(&ctx, request.into_inner()).await?;
        Ok(Response::new(pb::RevokeServiceCredentialResponse { service_credential: Some(row.to_proto()) }))
    }
}
