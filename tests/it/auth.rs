//! Identity and access: token verification, the five roles' permission matrix for every RPC,
//! role changes and disables taking effect on the next call, service credentials, sign-in
//! flows of the local provider, row-level security in SQL, and the append-only audit trail.

use cdp_proto::cdp::v1::{
    self as pb, auth_service_client::AuthServiceClient, platform_user_service_client::PlatformUserServiceClient,
    service_credential_service_client::ServiceCredentialServiceClient,
};
use cdp_tests::{
    ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, TestApp, authed,
    fixtures::{self, ROLES, count, exec, mint_token, user_with_role},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet};
use tonic::Code;

/// The permission matrix of DESIGN §4, written out independently of the product's tables.
pub(crate) fn matrix() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let all = ["super_admin", "admin", "growth_manager", "data_engineer", "read_only"];
    let grants: [(&[&str], &[&str]); 9] = [
        (&["dashboard.read", "users.read", "cohorts.read", "promotions.read", "integrations.read", "roles.read"], &all),
        (&["users.read_pii", "users.write", "cohorts.write", "promotions.write", "promotions.activate"], &["super_admin", "admin", "growth_manager"]),
        (&["cohorts.sync", "amplitude.import"], &["super_admin", "admin", "growth_manager", "data_engineer"]),
        (&["integrations.trigger"], &["super_admin", "admin", "data_engineer"]),
        (&["platform_users.read", "audit.read"], &["super_admin", "admin"]),
        (&["platform_users.write", "service_credentials.manage"], &["super_admin", "admin"]),
        (&["super_admin.grant"], &["super_admin"]),
        (&["promotions.redeem"], &[]),
        (&[], &[]),
    ];
    let mut by_role: BTreeMap<&str, BTreeSet<&str>> = all.iter().map(|r| (*r, BTreeSet::new())).collect();
    for (permissions, roles) in grants {
        for role in roles {
            by_role.get_mut(role).unwrap().extend(permissions.iter().copied());
        }
    }
    by_role
}

/// What each RPC requires, as docs/api-spec.md documents it. `None`: public; `Some("")`: any
/// signed-in caller.
fn rpc_requirements() -> BTreeMap<&'static str, Option<&'static str>> {
    let mut map = BTreeMap::new();
    let mut add = |service: &'static str, methods: &[&'static str], permission: Option<&'static str>| {
        for m in methods {
            map.insert(Box::leak(format!("{service}/{m}").into_boxed_str()) as &'static str, permission);
        }
    };
    add("AuthService", &["GetAuthConfig", "SignIn", "RefreshSession", "SignOut", "RequestPasswordReset", "CompletePasswordReset"], None);
    add("AuthService", &["GetCurrentUser"], Some(""));
    add("PlatformUserService", &["ListPlatformUsers", "GetPlatformUser"], Some("platform_users.read"));
    add("PlatformUserService", &["InvitePlatformUser", "UpdatePlatformUser", "DeletePlatformUser", "ResetPlatformUserPassword"], Some("platform_users.write"));
    add("PlatformUserService", &["GetPermissions"], Some(""));
    add("RoleService", &["ListRoles"], Some("roles.read"));
    add("AuditLogService", &["ListAuditLogs"], Some("audit.read"));
    add(
        "ServiceCredentialService",
        &["CreateServiceCredential", "ListServiceCredentials", "RotateServiceCredential", "RevokeServiceCredential"],
        Some("service_credentials.manage"),
    );
    add("DashboardService", &["GetMetrics", "GetUserSegments", "GetAttributeDistribution", "GetDataHealth"], Some("dashboard.read"));
    add("UserService", &["ListUsers", "GetUser", "ListUserFields"], Some("users.read"));
    add("UserService", &["UpdateUser"], Some("users.write"));
    add(
        "CohortService",
        &["ListCohorts", "GetCohort", "PreviewCohort", "ListCohortMembers", "GetCohortSizeHistory", "GetCohortUsage", "ListCohortSyncs"],
        Some("cohorts.read"),
    );
    add("CohortService", &["CreateCohort", "UpdateCohort", "DeleteCohort", "RefreshCohort"], Some("cohorts.write"));
    add("CohortService", &["SyncCohort"], Some("cohorts.sync"));
    add("CohortService", &["ListAmplitudeCohorts", "ImportAmplitudeCohort"], Some("amplitude.import"));
    add("PromotionService", &["ListPromotions", "GetPromotion", "EstimatePromotion", "ListRedemptions", "GetPromotionStats"], Some("promotions.read"));
    add("PromotionService", &["CreatePromotion", "UpdatePromotion", "DeletePromotion"], Some("promotions.write"));
    add("PromotionService", &["ActivatePromotion", "DeactivatePromotion"], Some("promotions.activate"));
    add("RedemptionService", &["RedeemPromotion", "ValidatePromotion", "RevertRedemption", "ListUserPromotions"], Some("promotions.redeem"));
    add("IntegrationService", &["ListDags", "GetIntegrationHealth"], Some("integrations.read"));
    add("IntegrationService", &["TriggerDag"], Some("integrations.trigger"));
    map
}

/// Every RPC of the compiled contract, as `Service/Method`.
fn contract_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(cdp_proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file.iter().flat_map(|f| f.service.iter().flat_map(|s| s.method.iter().map(move |m| format!("{}/{}", s.name(), m.name())))).collect()
}

/// Calls any unary RPC with an empty request message and returns the status code.
async fn call_empty(app: &TestApp, rpc: &str, token: &str) -> Code {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.unwrap();
    let path: http::uri::PathAndQuery = format!("/cdp.v1.{rpc}").parse().unwrap();
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    match grpc.unary(authed((), token), path, codec).await {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn the_test_matrix_covers_every_rpc_of_the_contract() {
    let documented: BTreeSet<String> = rpc_requirements().keys().map(|k| k.to_string()).collect();
    assert_eq!(documented, contract_rpcs(), "a new RPC needs a row here and in docs/api-spec.md");
}

#[tokio::test]
async fn every_rpc_is_allowed_or_denied_for_each_role_exactly_as_the_matrix_says() {
    let app = TestApp::start().await;
    let matrix = matrix();
    let mut mismatches = Vec::new();
    for role in ROLES {
        let (_, token) = user_with_role(&app, role).await;
        for (rpc, requirement) in rpc_requirements() {
            let code = call_empty(&app, rpc, &token).await;
            match requirement {
                Some(permission) if !permission.is_empty() => {
                    let allowed = matrix[role].contains(permission);
                    if allowed == (code == Code::PermissionDenied) {
                        mismatches.push(format!("{role} {rpc}: expected {}, got {code:?}", if allowed { "allowed" } else { "PERMISSION_DENIED" }));
                    }
                }
                // Any signed-in caller: never refused for who they are.
                Some(_) => {
                    if code == Code::PermissionDenied || code == Code::Unauthenticated {
                        mismatches.push(format!("{role} {rpc}: signed-in RPC refused with {code:?}"));
                    }
                }
                // Public: answers for itself (e.g. RefreshSession without a token is
                // UNAUTHENTICATED), but never PERMISSION_DENIED.
                None => {
                    if code == Code::PermissionDenied {
                        mismatches.push(format!("{role} {rpc}: public RPC refused with {code:?}"));
                    }
                }
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn get_permissions_is_for_oneself_or_for_those_who_read_platform_users() {
    let app = TestApp::start().await;
    let (reader_id, reader) = user_with_role(&app, "read_only").await;
    let (admin_id, admin) = user_with_role(&app, "admin").await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let own = users.get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: reader_id.to_string() }, &reader)).await.unwrap().into_inner();
    let expected: Vec<String> = matrix()["read_only"].iter().map(|p| p.to_string()).collect();
    assert_eq!(own.permissions, expected);
    assert_eq!(own.role(), pb::Role::ReadOnly);
    let other = users.get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: admin_id.to_string() }, &reader)).await.unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    let by_admin = users.get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: reader_id.to_string() }, &admin)).await.unwrap().into_inner();
    assert_eq!(by_admin.permissions, expected);
    let missing = users.get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: uuid::Uuid::new_v4().to_string() }, &admin)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

fn sign_raw(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

#[tokio::test]
async fn expired_tampered_wrong_audience_wrong_key_and_unsigned_tokens_are_unauthenticated() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let app = TestApp::start().await;
    let (id, good) = user_with_role(&app, "admin").await;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, iss: &str, exp: i64| serde_json::json!({ "sub": id, "email": "a@cdp.test", "role": "authenticated", "aud": aud, "iss": iss, "exp": exp, "iat": now });
    let mut auth = AuthServiceClient::new(app.channel.clone());
    assert!(auth.get_current_user(authed(pb::GetCurrentUserRequest {}, &good)).await.is_ok(), "a valid token works");

    let (head, rest) = good.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    forged["sub"] = serde_json::json!(uuid::Uuid::new_v4());
    let tampered = format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(forged.to_string()));
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("authenticated", "cdp-local", now + 600).to_string())
    );
    let cases = [
        ("expired", sign_raw(claims("authenticated", "cdp-local", now - 3600), JWT_SECRET)),
        ("tampered", tampered),
        ("wrong audience", sign_raw(claims("anon", "cdp-local", now + 600), JWT_SECRET)),
        ("wrong issuer", sign_raw(claims("authenticated", "someone-else", now + 600), JWT_SECRET)),
        ("wrong key", sign_raw(claims("authenticated", "cdp-local", now + 600), "another-secret-that-is-long-enough-to-be-real")),
        ("alg none", unsigned),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in cases {
        let status = auth.get_current_user(authed(pb::GetCurrentUserRequest {}, &token)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    }
    let missing = auth.get_current_user(pb::GetCurrentUserRequest {}).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn the_bootstrap_admin_signs_in_and_get_permissions_accepts_the_token() {
    let app = TestApp::start().await;
    let signed_in = fixtures::sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let user = signed_in.user.unwrap();
    assert_eq!(user.role(), pb::Role::SuperAdmin);
    let token = signed_in.session.unwrap().access_token;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let permissions = users.get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: user.id.clone() }, &token)).await.unwrap().into_inner();
    let expected: Vec<String> = matrix()["super_admin"].iter().map(|p| p.to_string()).collect();
    assert_eq!(permissions.permissions, expected);
    assert_eq!(signed_in.permissions, expected);
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_repeated_failures_are_rate_limited() {
    let app = TestApp::start().await;
    let wrong = fixtures::sign_in(&app, ADMIN_EMAIL, "wrong password!").await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let unknown = fixtures::sign_in(&app, "nobody@cdp.test", "whatever password").await.unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    assert_eq!(wrong.message(), unknown.message(), "the answer does not reveal which emails exist");
    for _ in 0..9 {
        let _ = fixtures::sign_in(&app, ADMIN_EMAIL, "wrong password!").await;
    }
    let limited = fixtures::sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
}

#[tokio::test]
async fn refresh_tokens_rotate_reuse_ends_every_session_and_the_cookie_works() {
    let app = TestApp::start().await;
    let mut auth = AuthServiceClient::new(app.channel.clone());
    let response = auth.sign_in(pb::SignInRequest { email: ADMIN_EMAIL.into(), password: ADMIN_PASSWORD.into() }).await.unwrap();
    let cookie = response.metadata().get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let first = response.into_inner().session.unwrap().refresh_token;
    assert!(cookie.starts_with(&format!("cdp_refresh={first};")));

    // Through the cookie alone, as the browser does.
    let mut by_cookie = tonic::Request::new(pb::RefreshSessionRequest { refresh_token: String::new() });
    by_cookie.metadata_mut().insert("cookie", format!("other=1; cdp_refresh={first}").parse().unwrap());
    let second = auth.refresh_session(by_cookie).await.unwrap().into_inner().session.unwrap();
    assert_ne!(second.refresh_token, first);
    // The used token again: treated as theft, every session of the user ends.
    let reused = auth.refresh_session(pb::RefreshSessionRequest { refresh_token: first }).await.unwrap_err();
    assert_eq!(reused.code(), Code::Unauthenticated);
    let after_theft = auth.refresh_session(pb::RefreshSessionRequest { refresh_token: second.refresh_token }).await.unwrap_err();
    assert_eq!(after_theft.code(), Code::Unauthenticated);

    let third = fixtures::sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap().session.unwrap();
    let out = auth.sign_out(pb::SignOutRequest { refresh_token: third.refresh_token.clone() }).await.unwrap();
    assert!(out.metadata().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let signed_out = auth.refresh_session(pb::RefreshSessionRequest { refresh_token: third.refresh_token }).await.unwrap_err();
    assert_eq!(signed_out.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn an_invited_user_accepts_the_link_once_and_signs_in_with_their_role() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let invited = users
        .invite_platform_user(authed(
            pb::InvitePlatformUserRequest { email: "Nadia@Example.com".into(), display_name: "Nadia".into(), role: pb::Role::GrowthManager as i32 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let user = invited.platform_user.unwrap();
    assert_eq!(user.status(), pb::PlatformUserStatus::Invited);
    let token = invited.invitation_link.split_once("token=").expect("a link with a token").1.to_string();
    assert!(invited.invitation_link.starts_with("http://cdp.test/accept-invite?token="));
    // Not before accepting.
    assert_eq!(fixtures::sign_in(&app, "nadia@example.com", "a long enough password").await.unwrap_err().code(), Code::Unauthenticated);

    let mut auth = AuthServiceClient::new(app.channel.clone());
    let short = auth.complete_password_reset(pb::CompletePasswordResetRequest { token: token.clone(), new_password: "short".into() }).await.unwrap_err();
    assert_eq!(short.code(), Code::InvalidArgument);
    let accepted = auth
        .complete_password_reset(pb::CompletePasswordResetRequest { token: token.clone(), new_password: "a long enough password".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(accepted.user.unwrap().status(), pb::PlatformUserStatus::Active);
    let again = auth.complete_password_reset(pb::CompletePasswordResetRequest { token, new_password: "another long password".into() }).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let signed_in = fixtures::sign_in(&app, "NADIA@example.com", "a long enough password").await.unwrap();
    assert_eq!(signed_in.user.unwrap().role(), pb::Role::GrowthManager);
    let duplicate = users
        .invite_platform_user(authed(
            pb::InvitePlatformUserRequest { email: "nadia@example.com".into(), display_name: String::new(), role: pb::Role::ReadOnly as i32 },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let bad = users
        .invite_platform_user(authed(
            pb::InvitePlatformUserRequest { email: "not-an-email".into(), display_name: String::new(), role: pb::Role::ReadOnly as i32 },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().starts_with("email"), "{}", bad.message());
}

#[tokio::test]
async fn a_role_change_takes_effect_on_the_next_call() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let (id, token) = user_with_role(&app, "read_only").await;
    assert_eq!(call_empty(&app, "AuditLogService/ListAuditLogs", &token).await, Code::PermissionDenied);
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    users
        .update_platform_user(authed(
            pb::UpdatePlatformUserRequest {
                platform_user: Some(pb::PlatformUser { id: id.to_string(), role: pb::Role::Admin as i32, ..Default::default() }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["role".into()] }),
            },
            &admin,
        ))
        .await
        .unwrap();
    assert_eq!(call_empty(&app, "AuditLogService/ListAuditLogs", &token).await, Code::Ok, "same token, new role");
}

#[tokio::test]
async fn a_disabled_user_is_refused_on_the_next_call_and_cannot_sign_in() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let invited = users
        .invite_platform_user(authed(
            pb::InvitePlatformUserRequest { email: "omar@example.com".into(), display_name: "Omar".into(), role: pb::Role::DataEngineer as i32 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let id = invited.platform_user.unwrap().id;
    let link_token = invited.invitation_link.split_once("token=").unwrap().1.to_string();
    let mut auth = AuthServiceClient::new(app.channel.clone());
    let session = auth
        .complete_password_reset(pb::CompletePasswordResetRequest { token: link_token, new_password: "omar's long password".into() })
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert!(auth.get_current_user(authed(pb::GetCurrentUserRequest {}, &session.access_token)).await.is_ok());

    let disabled = users.delete_platform_user(authed(pb::DeletePlatformUserRequest { id: id.clone(), hard_delete: false }, &admin)).await.unwrap().into_inner();
    assert_eq!(disabled.platform_user.unwrap().status(), pb::PlatformUserStatus::Disabled);
    let refused = auth.get_current_user(authed(pb::GetCurrentUserRequest {}, &session.access_token)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(fixtures::sign_in(&app, "omar@example.com", "omar's long password").await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(auth.refresh_session(pb::RefreshSessionRequest { refresh_token: session.refresh_token }).await.unwrap_err().code(), Code::Unauthenticated);

    // Re-enabled, the account works again.
    users
        .update_platform_user(authed(
            pb::UpdatePlatformUserRequest {
                platform_user: Some(pb::PlatformUser { id, status: pb::PlatformUserStatus::Active as i32, ..Default::default() }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["status".into()] }),
            },
            &admin,
        ))
        .await
        .unwrap();
    assert!(fixtures::sign_in(&app, "omar@example.com", "omar's long password").await.is_ok());
}

#[tokio::test]
async fn service_credentials_are_scoped_rotated_with_overlap_and_refused_once_revoked() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut credentials = ServiceCredentialServiceClient::new(app.channel.clone());
    let created = credentials
        .create_service_credential(authed(
            pb::CreateServiceCredentialRequest { name: "orders-service".into(), scopes: vec!["promotions.redeem".into()] },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let secret = created.secret.clone();
    let credential = created.service_credential.unwrap();
    assert!(secret.starts_with(&format!("cdp_sk_{}_", credential.key_prefix)));
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM cdp.service_credentials WHERE secret_hash = sha256('{}'::bytea)",
                secret.strip_prefix(&format!("cdp_sk_{}_", credential.key_prefix)).unwrap()
            )
        )
        .await,
        1,
        "only the hash is stored"
    );

    // Redemption-scoped: the redemption API lets it through (its capability answers for
    // itself), everything else is PERMISSION_DENIED.
    for rpc in [
        "RedemptionService/RedeemPromotion",
        "RedemptionService/ValidatePromotion",
        "RedemptionService/RevertRedemption",
        "RedemptionService/ListUserPromotions",
    ] {
        let code = call_empty(&app, rpc, &secret).await;
        assert!(code != Code::PermissionDenied && code != Code::Unauthenticated, "{rpc}: {code:?}");
    }
    for rpc in [
        "RoleService/ListRoles",
        "DashboardService/GetMetrics",
        "PlatformUserService/ListPlatformUsers",
        "ServiceCredentialService/ListServiceCredentials",
        "PromotionService/ListPromotions",
    ] {
        assert_eq!(call_empty(&app, rpc, &secret).await, Code::PermissionDenied, "{rpc}");
    }
    assert_eq!(call_empty(&app, "AuthService/GetCurrentUser", &secret).await, Code::FailedPrecondition);

    let listed = credentials.list_service_credentials(authed(pb::ListServiceCredentialsRequest::default(), &admin)).await.unwrap().into_inner();
    assert_eq!(listed.total_size, 1);
    assert!(listed.service_credentials[0].last_used_at.is_some(), "last use is recorded");

    // Rotation with an overlap: both secrets work until the old one expires.
    let rotated = credentials
        .rotate_service_credential(authed(
            pb::RotateServiceCredentialRequest { id: credential.id.clone(), overlap: Some(prost_types::Duration { seconds: 3600, nanos: 0 }) },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(rotated.secret, secret);
    assert_ne!(call_empty(&app, "RedemptionService/ValidatePromotion", &secret).await, Code::Unauthenticated);
    assert_ne!(call_empty(&app, "RedemptionService/ValidatePromotion", &rotated.secret).await, Code::Unauthenticated);
    // Without overlap the old secret stops at once.
    let rotated_again = credentials
        .rotate_service_credential(authed(
            pb::RotateServiceCredentialRequest { id: credential.id.clone(), overlap: Some(prost_types::Duration { seconds: 0, nanos: 0 }) },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(call_empty(&app, "RedemptionService/ValidatePromotion", &rotated.secret).await, Code::Unauthenticated);
    assert_ne!(call_empty(&app, "RedemptionService/ValidatePromotion", &rotated_again.secret).await, Code::Unauthenticated);

    credentials.revoke_service_credential(authed(pb::RevokeServiceCredentialRequest { id: credential.id.clone() }, &admin)).await.unwrap();
    assert_eq!(
        call_empty(&app, "RedemptionService/ValidatePromotion", &rotated_again.secret).await,
        Code::Unauthenticated,
        "revoked: refused on the next call"
    );
    let again =
        credentials.rotate_service_credential(authed(pb::RotateServiceCredentialRequest { id: credential.id, overlap: None }, &admin)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Nobody hands a credential more than they hold.
    let escalation = credentials
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "x".into(), scopes: vec!["super_admin.grant".into()] }, &admin))
        .await
        .unwrap_err();
    assert_eq!(escalation.code(), Code::PermissionDenied);
    let unknown = credentials
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "x".into(), scopes: vec!["everything".into()] }, &admin))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    // Every step above is in the audit trail.
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action LIKE 'service_credential.%'").await, 4);
}

/// Runs statements under the application role with the given claims, as a request does, and
/// returns each statement's outcome (rows touched, or the error).
async fn as_app_role(app: &TestApp, claims: serde_json::Value, statements: &[&str]) -> Vec<Result<usize, String>> {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let mut conn = app.db.conn().await;
    let mut outcomes = Vec::new();
    for sql in statements {
        let claims = claims.clone();
        let sql = sql.to_string();
        let result = conn
            .transaction::<usize, diesel::result::Error, _>(async move |tx| {
                diesel::sql_query("SELECT set_config('role', 'cdp_app', true), set_config('request.jwt.claims', $1, true)")
                    .bind::<diesel::sql_types::Text, _>(claims.to_string())
                    .execute(tx)
                    .await?;
                diesel::sql_query(sql).execute(tx).await
            })
            .await;
        outcomes.push(result.map_err(|e| e.to_string()));
    }
    outcomes
}

#[tokio::test]
async fn row_level_security_refuses_writes_and_hides_rows_a_role_may_not_see() {
    let app = TestApp::start().await;
    let (reader, _) = user_with_role(&app, "read_only").await;
    let (admin, _) = user_with_role(&app, "admin").await;
    exec(&app, "INSERT INTO public.users (user_id, user_type, phone) VALUES (1, 'individual', 201000000001)").await;
    let reader_claims = serde_json::json!({ "sub": reader, "role": "authenticated" });
    let admin_claims = serde_json::json!({ "sub": admin, "role": "authenticated" });

    let outcomes = as_app_role(
        &app,
        reader_claims.clone(),
        &[
            "INSERT INTO cdp.platform_users (email, role, status) VALUES ('mallory@x.test', 'super_admin', 'active')",
            &format!("UPDATE cdp.platform_users SET role = 'super_admin' WHERE id = '{reader}'"),
            "UPDATE public.users SET current_credits_in_wallet = 1e9",
            "INSERT INTO cdp.service_credentials (name, scopes, key_prefix, secret_hash) VALUES ('x', '{promotions.redeem}', 'aaaaaaaaaaaa', '\\x00')",
            "DELETE FROM cdp.audit_log",
        ],
    )
    .await;
    assert!(outcomes[0].as_ref().is_err_and(|e| e.contains("row-level security")), "{:?}", outcomes[0]);
    assert_eq!(outcomes[1], Ok(0), "the row is invisible to an update");
    assert!(outcomes[2].as_ref().is_err_and(|e| e.contains("permission denied")), "{:?}", outcomes[2]);
    assert!(outcomes[3].is_err(), "{:?}", outcomes[3]);
    assert!(outcomes[4].is_err(), "{:?}", outcomes[4]);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.platform_users WHERE role = 'super_admin'").await, 1, "nothing was written");

    // Reads: the read-only user sees marketplace users but only their own platform account.
    let visible = |claims: serde_json::Value, sql: &'static str| {
        let app = &app;
        async move { as_app_role(app, claims, &[&format!("CREATE TEMP TABLE seen ON COMMIT DROP AS {sql}")]).await.remove(0).unwrap() }
    };
    assert_eq!(visible(reader_claims.clone(), "SELECT * FROM cdp.platform_users").await, 1);
    assert_eq!(visible(admin_claims.clone(), "SELECT * FROM cdp.platform_users").await, 3);
    assert_eq!(visible(reader_claims.clone(), "SELECT * FROM public.users").await, 1);
    assert_eq!(visible(serde_json::json!({ "sub": uuid::Uuid::new_v4() }), "SELECT * FROM public.users").await, 0, "an unknown caller sees nothing");
    exec(&app, "INSERT INTO cdp.audit_log (actor_kind, action, resource_type, resource_id) VALUES ('system', 'test.event', 'test', '1')").await;
    assert_eq!(visible(reader_claims.clone(), "SELECT * FROM cdp.audit_log").await, 0);
    let all_rows = count(&app, "SELECT count(*) AS n FROM cdp.audit_log").await as usize;
    assert!(all_rows >= 2);
    assert_eq!(visible(admin_claims.clone(), "SELECT * FROM cdp.audit_log").await, all_rows);

    // The policies read the current role, not the token: demote the admin and they lose it.
    exec(&app, &format!("UPDATE cdp.platform_users SET role = 'read_only' WHERE id = '{admin}'")).await;
    assert_eq!(visible(admin_claims.clone(), "SELECT * FROM cdp.audit_log").await, 0);
    exec(&app, &format!("UPDATE cdp.platform_users SET role = 'admin', status = 'disabled' WHERE id = '{admin}'")).await;
    assert_eq!(visible(admin_claims, "SELECT * FROM cdp.audit_log").await, 0, "a disabled admin reads nothing");
}

#[tokio::test]
async fn audit_rows_are_written_with_the_change_and_can_never_be_altered() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let before = count(&app, "SELECT count(*) AS n FROM cdp.audit_log").await;
    let invited = users
        .invite_platform_user(authed(
            pb::InvitePlatformUserRequest { email: "li@example.com".into(), display_name: "Li".into(), role: pb::Role::ReadOnly as i32 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .platform_user
        .unwrap();
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'platform_user.invite' AND resource_id = '{}' AND after->>'role' = 'read_only' AND request_id IS NOT NULL AND client_address = '127.0.0.1'", invited.id)).await, 1);

    // A mutation refused mid-way leaves no audit row (and no change): the only super admin
    // renames and disables themselves in one update.
    let me = fixtures::sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap().user.unwrap();
    let audited = count(&app, "SELECT count(*) AS n FROM cdp.audit_log").await;
    let refused = users
        .update_platform_user(authed(
            pb::UpdatePlatformUserRequest {
                platform_user: Some(pb::PlatformUser {
                    id: me.id.clone(),
                    display_name: "renamed".into(),
                    status: pb::PlatformUserStatus::Disabled as i32,
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["display_name".into(), "status".into()] }),
            },
            &admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.audit_log").await, audited, "no audit row for a change that did not happen");
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.platform_users WHERE id = '{}' AND display_name = 'renamed'", me.id)).await, 0);
    assert!(audited > before);

    // Append-only, even for the table owner.
    let mut conn = app.db.conn().await;
    use diesel_async::RunQueryDsl;
    let update = diesel::sql_query("UPDATE cdp.audit_log SET action = 'x'").execute(&mut conn).await.unwrap_err().to_string();
    assert!(update.contains("append-only"), "{update}");
    let delete = diesel::sql_query("DELETE FROM cdp.audit_log").execute(&mut conn).await.unwrap_err().to_string();
    assert!(delete.contains("append-only"), "{delete}");
    let truncate = diesel::sql_query("TRUNCATE cdp.audit_log").execute(&mut conn).await.unwrap_err().to_string();
    assert!(truncate.contains("append-only"), "{truncate}");
}

#[tokio::test]
async fn a_transaction_rolled_back_takes_its_audit_row_with_it() {
    use cdp_server::{audit, auth::principal::RequestContext};
    let app = TestApp::start().await;
    let ctx = RequestContext { principal: None, request_id: "r1".into(), client_address: None };
    let mut tx = app.app.db.begin_system().await.unwrap();
    audit::record(&mut tx, &ctx, audit::Change { action: "test.rolled_back", resource_type: "test", resource_id: "1".into(), before: None, after: None })
        .await
        .unwrap();
    drop(tx); // an error path: no commit
    let mut tx = app.app.db.begin_system().await.unwrap();
    audit::record(&mut tx, &ctx, audit::Change { action: "test.committed", resource_type: "test", resource_id: "2".into(), before: None, after: None })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'test.rolled_back'").await, 0);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'test.committed'").await, 1);
}

#[tokio::test]
async fn tokens_of_a_user_that_is_not_a_platform_user_are_refused() {
    let app = TestApp::start().await;
    let token = mint_token(uuid::Uuid::new_v4(), "ghost@cdp.test");
    assert_eq!(call_empty(&app, "RoleService/ListRoles", &token).await, Code::Unauthenticated);
}
