//! Who is calling: the typed principal the authentication layer attaches to every request,
//! with the request id and client address that audit rows record.

use std::collections::BTreeSet;
use tonic::Status;
use uuid::Uuid;

/// The role of a platform user (DESIGN §4), as stored in `cdp.roles.name`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    SuperAdmin,
    Admin,
    GrowthManager,
    DataEngineer,
    ReadOnly,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::SuperAdmin, Role::Admin, Role::GrowthManager, Role::DataEngineer, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::GrowthManager => "growth_manager",
            Role::DataEngineer => "data_engineer",
            Role::ReadOnly => "read_only",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn from_proto(role: i32) -> Option<Role> {
        use cdp_proto::cdp::v1::Role as P;
        match P::try_from(role).ok()? {
            P::SuperAdmin => Some(Role::SuperAdmin),
            P::Admin => Some(Role::Admin),
            P::GrowthManager => Some(Role::GrowthManager),
            P::DataEngineer => Some(Role::DataEngineer),
            P::ReadOnly => Some(Role::ReadOnly),
            P::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> cdp_proto::cdp::v1::Role {
        use cdp_proto::cdp::v1::Role as P;
        match self {
            Role::SuperAdmin => P::SuperAdmin,
            Role::Admin => P::Admin,
            Role::GrowthManager => P::GrowthManager,
            Role::DataEngineer => P::DataEngineer,
            Role::ReadOnly => P::ReadOnly,
        }
    }
}

/// The authenticated party behind a request.
#[derive(Clone, Debug)]
pub enum Actor {
    PlatformUser { id: Uuid, email: String, role: Role },
    ServiceCredential { id: Uuid, name: String },
}

#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    /// Effective permissions, read from the database on this request.
    pub permissions: BTreeSet<String>,
    /// The claims handed to PostgreSQL as `request.jwt.claims` for row-level security.
    pub claims: serde_json::Value,
}

impl Principal {
    pub fn id(&self) -> Uuid {
        match &self.actor {
            Actor::PlatformUser { id, .. } | Actor::ServiceCredential { id, .. } => *id,
        }
    }

    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    pub fn platform_user_id(&self) -> Option<Uuid> {
        match &self.actor {
            Actor::PlatformUser { id, .. } => Some(*id),
            Actor::ServiceCredential { .. } => None,
        }
    }
}

/// Everything a domain function needs to know about the request it serves.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// Absent only on public RPCs (sign-in and friends).
    pub principal: Option<Principal>,
    pub request_id: String,
    pub client_address: Option<String>,
}

impl RequestContext {
    /// The principal of an RPC that requires one (the layer has already checked it).
    pub fn principal(&self) -> Result<&Principal, Status> {
        self.principal.as_ref().ok_or_else(|| Status::unauthenticated("sign in first"))
    }

    /// Fails with PERMISSION_DENIED unless the caller holds `permission`.
    pub fn require(&self, permission: &str) -> Result<&Principal, Status> {
        let principal = self.principal()?;
        if principal.has(permission) { Ok(principal) } else { Err(permission_denied(permission)) }
    }
}

pub fn permission_denied(permission: &str) -> Status {
    crate::error::with_reason(tonic::Code::PermissionDenied, "PERMISSION_DENIED", format!("your role does not have the permission {permission}"))
}

/// Reads the context the authentication layer attached to a request.
pub fn context<T>(request: &tonic::Request<T>) -> Result<RequestContext, Status> {
    request.extensions().get::<RequestContext>().cloned().ok_or_else(|| crate::error::internal("request reached a handler without a RequestContext"))
}
