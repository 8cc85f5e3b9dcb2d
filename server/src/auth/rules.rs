//! The one table that says what each RPC requires (DESIGN §4). The authentication layer
//! enforces it before any handler runs; a test checks it covers every RPC of the contract.

/// What a caller needs to invoke an RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No token needed (signing in, password reset).
    Public,
    /// Any valid, active principal; the handler applies finer rules (e.g. "self or admin").
    SignedIn,
    /// The caller must hold this permission.
    Permission(&'static str),
}

use Access::{Permission, Public, SignedIn};

/// The access rule of `/cdp.v1.<service>/<method>`, or `None` for an RPC the table does not
/// know (the layer refuses those).
pub fn access_for(service: &str, method: &str) -> Option<Access> {
    let rule = match (service, method) {
        ("AuthService", "GetCurrentUser") => SignedIn,
        ("AuthService", "GetAuthConfig" | "SignIn" | "RefreshSession" | "SignOut" | "RequestPasswordReset" | "CompletePasswordReset") => Public,

        ("PlatformUserService", "ListPlatformUsers" | "GetPlatformUser") => Permission("platform_users.read"),
        ("PlatformUserService", "InvitePlatformUser" | "UpdatePlatformUser" | "DeletePlatformUser" | "ResetPlatformUserPassword") => {
            Permission("platform_users.write")
        }
        // Anyone may read their own permissions; others' need platform_users.read (handler).
        ("PlatformUserService", "GetPermissions") => SignedIn,
        ("RoleService", "ListRoles") => Permission("roles.read"),
        ("AuditLogService", "ListAuditLogs") => Permission("audit.read"),
        ("ServiceCredentialService", "CreateServiceCredential" | "ListServiceCredentials" | "RotateServiceCredential" | "RevokeServiceCredential") => {
            Permission("service_credentials.manage")
        }

        ("DashboardService", "GetMetrics" | "GetUserSegments" | "GetAttributeDistribution" | "GetDataHealth") => Permission("dashboard.read"),

        ("UserService", "ListUsers" | "GetUser" | "ListUserFields") => Permission("users.read"),
        ("UserService", "UpdateUser") => Permission("users.write"),

        (
            "CohortService",
            "ListCohorts" | "GetCohort" | "PreviewCohort" | "ListCohortMembers" | "GetCohortSizeHistory" | "GetCohortUsage" | "ListCohortSyncs",
        ) => Permission("cohorts.read"),
        ("CohortService", "CreateCohort" | "UpdateCohort" | "DeleteCohort" | "RefreshCohort") => Permission("cohorts.write"),
        ("CohortService", "SyncCohort") => Permission("cohorts.sync"),
        ("CohortService", "ListAmplitudeCohorts" | "ImportAmplitudeCohort") => Permission("amplitude.import"),

        ("PromotionService", "ListPromotions" | "GetPromotion" | "EstimatePromotion" | "ListRedemptions" | "GetPromotionStats") => {
            Permission("promotions.read")
        }
        ("PromotionService", "CreatePromotion" | "UpdatePromotion" | "DeletePromotion") => Permission("promotions.write"),
        ("PromotionService", "ActivatePromotion" | "DeactivatePromotion") => Permission("promotions.activate"),

        // Service credentials only: no platform role holds promotions.redeem.
        ("RedemptionService", "RedeemPromotion" | "ValidatePromotion" | "RevertRedemption" | "ListUserPromotions") => Permission("promotions.redeem"),

        ("IntegrationService", "ListDags" | "GetIntegrationHealth") => Permission("integrations.read"),
        ("IntegrationService", "TriggerDag") => Permission("integrations.trigger"),

        _ => return None,
    };
    Some(rule)
}

/// Splits a gRPC path `/cdp.v1.Service/Method` into its service and method, if it is ours.
pub fn parse_cdp_path(path: &str) -> Option<(&str, &str)> {
    path.strip_prefix("/cdp.v1.")?.split_once('/')
}
