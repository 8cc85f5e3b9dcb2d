//! Administration rules: who may grant super admin, no self-demotion or self-disable, the last
//! super admin remains, listing and paging, password resets, roles, and the audit log filters.

use cdp_proto::cdp::v1::{
    self as pb, audit_log_service_client::AuditLogServiceClient, platform_user_service_client::PlatformUserServiceClient,
    role_service_client::RoleServiceClient,
};
use cdp_tests::{
    TestApp, authed,
    fixtures::{self, user_with_role},
};
use tonic::Code;

fn update(id: &str, user: pb::PlatformUser, paths: &[&str]) -> pb::UpdatePlatformUserRequest {
    pb::UpdatePlatformUserRequest {
        platform_user: Some(pb::PlatformUser { id: id.to_string(), ..user }),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() }),
    }
}

fn role(role: pb::Role) -> pb::PlatformUser {
    pb::PlatformUser { role: role as i32, ..Default::default() }
}

fn status(status: pb::PlatformUserStatus) -> pb::PlatformUser {
    pb::PlatformUser { status: status as i32, ..Default::default() }
}

#[tokio::test]
async fn only_a_super_admin_grants_removes_or_touches_super_admin() {
    let app = TestApp::start().await;
    let (_, admin) = user_with_role(&app, "admin").await;
    let super_admin = fixtures::admin_token(&app).await;
    let (reader_id, _) = user_with_role(&app, "read_only").await;
    let (other_super_id, _) = user_with_role(&app, "super_admin").await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());

    let invite = pb::InvitePlatformUserRequest { email: "boss@example.com".into(), display_name: "Boss".into(), role: pb::Role::SuperAdmin as i32 };
    assert_eq!(users.invite_platform_user(authed(invite.clone(), &admin)).await.unwrap_err().code(), Code::PermissionDenied);
    let grant = users.update_platform_user(authed(update(&reader_id.to_string(), role(pb::Role::SuperAdmin), &["role"]), &admin)).await.unwrap_err();
    assert_eq!(grant.code(), Code::PermissionDenied);
    assert!(grant.message().contains("super admin"), "{}", grant.message());
    for request in [
        update(&other_super_id.to_string(), role(pb::Role::Admin), &["role"]),
        update(&other_super_id.to_string(), status(pb::PlatformUserStatus::Disabled), &["status"]),
    ] {
        assert_eq!(users.update_platform_user(authed(request, &admin)).await.unwrap_err().code(), Code::PermissionDenied);
    }
    let delete = pb::DeletePlatformUserRequest { id: other_super_id.to_string(), hard_delete: true };
    assert_eq!(users.delete_platform_user(authed(delete.clone(), &admin)).await.unwrap_err().code(), Code::PermissionDenied);
    let reset = pb::ResetPlatformUserPasswordRequest { id: other_super_id.to_string() };
    assert_eq!(users.reset_platform_user_password(authed(reset, &admin)).await.unwrap_err().code(), Code::PermissionDenied);

    // A super admin may do all of it.
    let granted =
        users.update_platform_user(authed(update(&reader_id.to_string(), role(pb::Role::SuperAdmin), &["role"]), &super_admin)).await.unwrap().into_inner();
    assert_eq!(granted.platform_user.unwrap().role(), pb::Role::SuperAdmin);
    assert!(users.invite_platform_user(authed(invite, &super_admin)).await.is_ok());
    assert!(users.delete_platform_user(authed(delete, &super_admin)).await.unwrap().into_inner().deleted);
    assert_eq!(fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.platform_users WHERE id = '{other_super_id}'")).await, 0);
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'platform_user.change_role' AND before->>'role' = 'read_only' AND after->>'role' = 'super_admin'").await, 1);
}

#[tokio::test]
async fn nobody_changes_their_own_role_disables_or_deletes_themselves() {
    let app = TestApp::start().await;
    let (admin_id, admin) = user_with_role(&app, "admin").await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let id = admin_id.to_string();
    for request in [update(&id, role(pb::Role::ReadOnly), &["role"]), update(&id, status(pb::PlatformUserStatus::Disabled), &["status"])] {
        let refused = users.update_platform_user(authed(request, &admin)).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    }
    for hard_delete in [false, true] {
        let refused = users.delete_platform_user(authed(pb::DeletePlatformUserRequest { id: id.clone(), hard_delete }, &admin)).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
    }
    // Renaming oneself is fine.
    let renamed = users
        .update_platform_user(authed(update(&id, pb::PlatformUser { display_name: "  Amira  ".into(), ..Default::default() }, &["display_name"]), &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.platform_user.unwrap().display_name, "Amira");
    let bad_mask = users.update_platform_user(authed(update(&id, pb::PlatformUser::default(), &["email"]), &admin)).await.unwrap_err();
    assert_eq!(bad_mask.code(), Code::InvalidArgument);
    assert_eq!(
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.platform_users WHERE id = '{id}' AND role = 'admin' AND status = 'active'")).await,
        1
    );
}

#[tokio::test]
async fn the_last_active_super_admin_always_remains() {
    let app = TestApp::start().await;
    let root = fixtures::sign_in(&app, cdp_tests::ADMIN_EMAIL, cdp_tests::ADMIN_PASSWORD).await.unwrap();
    let root_token = root.session.unwrap().access_token;
    let root_id = root.user.unwrap().id;
    let (second_id, second) = user_with_role(&app, "super_admin").await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    // With two, one may step the other down.
    users.update_platform_user(authed(update(&second_id.to_string(), role(pb::Role::Admin), &["role"]), &root_token)).await.unwrap();
    // Now root is the last: demoting, disabling or deleting them is refused whoever asks.
    let demote_self = users.update_platform_user(authed(update(&root_id, role(pb::Role::Admin), &["role"]), &root_token)).await.unwrap_err();
    assert_eq!(demote_self.code(), Code::FailedPrecondition);
    let by_admin = users.delete_platform_user(authed(pb::DeletePlatformUserRequest { id: root_id.clone(), hard_delete: false }, &second)).await.unwrap_err();
    assert_eq!(by_admin.code(), Code::PermissionDenied);
    // Even a second super admin who is disabled does not count.
    let (third_id, third) = user_with_role(&app, "super_admin").await;
    fixtures::exec(&app, &format!("UPDATE cdp.platform_users SET status = 'disabled' WHERE id = '{third_id}'")).await;
    assert_eq!(
        users.get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: third_id.to_string() }, &third)).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.platform_users WHERE role = 'super_admin' AND status = 'active'").await, 1);
}

#[tokio::test]
async fn platform_users_list_searches_filters_and_pages_without_gaps() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    for i in 0..7 {
        let role = if i % 2 == 0 { pb::Role::ReadOnly } else { pb::Role::GrowthManager };
        users
            .invite_platform_user(authed(
                pb::InvitePlatformUserRequest { email: format!("person{i}@example.com"), display_name: format!("Person {i}"), role: role as i32 },
                &admin,
            ))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = users
            .list_platform_users(authed(pb::ListPlatformUsersRequest { page_size: 3, page_token: token.clone(), ..Default::default() }, &admin))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 8);
        assert!(page.platform_users.len() <= 3);
        seen.extend(page.platform_users.into_iter().map(|u| u.email));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen.len(), 8);
    assert_eq!(sorted.len(), 8, "no repeats");
    let readers = users
        .list_platform_users(authed(pb::ListPlatformUsersRequest { role: pb::Role::ReadOnly as i32, ..Default::default() }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(readers.total_size, 4);
    let search =
        users.list_platform_users(authed(pb::ListPlatformUsersRequest { search: "person3".into(), ..Default::default() }, &admin)).await.unwrap().into_inner();
    assert_eq!(search.platform_users.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), ["person3@example.com"]);
    let wildcard =
        users.list_platform_users(authed(pb::ListPlatformUsersRequest { search: "%".into(), ..Default::default() }, &admin)).await.unwrap().into_inner();
    assert_eq!(wildcard.total_size, 0, "LIKE wildcards in a search are literal");
    let invited = users
        .list_platform_users(authed(pb::ListPlatformUsersRequest { status: pb::PlatformUserStatus::Invited as i32, ..Default::default() }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(invited.total_size, 7);
    let bad = users.list_platform_users(authed(pb::ListPlatformUsersRequest { page_token: "forged".into(), ..Default::default() }, &admin)).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn resetting_a_password_issues_a_link_that_replaces_the_old_one() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let mut auth = cdp_proto::cdp::v1::auth_service_client::AuthServiceClient::new(app.channel.clone());
    let invited = users
        .invite_platform_user(authed(
            pb::InvitePlatformUserRequest { email: "sara@example.com".into(), display_name: "Sara".into(), role: pb::Role::ReadOnly as i32 },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    let id = invited.platform_user.unwrap().id;
    let first = invited.invitation_link.split_once("token=").unwrap().1.to_string();
    auth.complete_password_reset(pb::CompletePasswordResetRequest { token: first, new_password: "sara's first password".into() }).await.unwrap();

    let reset = users.reset_platform_user_password(authed(pb::ResetPlatformUserPasswordRequest { id: id.clone() }, &admin)).await.unwrap().into_inner();
    assert!(!reset.email_sent && reset.recovery_link.starts_with("http://cdp.test/reset-password?token="));
    let old_link = reset.recovery_link.split_once("token=").unwrap().1.to_string();
    let newer = users.reset_platform_user_password(authed(pb::ResetPlatformUserPasswordRequest { id: id.clone() }, &admin)).await.unwrap().into_inner();
    let new_link = newer.recovery_link.split_once("token=").unwrap().1.to_string();
    assert_eq!(
        auth.complete_password_reset(pb::CompletePasswordResetRequest { token: old_link, new_password: "sara's second password".into() })
            .await
            .unwrap_err()
            .code(),
        Code::FailedPrecondition
    );
    auth.complete_password_reset(pb::CompletePasswordResetRequest { token: new_link, new_password: "sara's second password".into() }).await.unwrap();
    assert!(fixtures::sign_in(&app, "sara@example.com", "sara's second password").await.is_ok());
    assert_eq!(fixtures::sign_in(&app, "sara@example.com", "sara's first password").await.unwrap_err().code(), Code::Unauthenticated);

    users.delete_platform_user(authed(pb::DeletePlatformUserRequest { id: id.clone(), hard_delete: false }, &admin)).await.unwrap();
    let disabled = users.reset_platform_user_password(authed(pb::ResetPlatformUserPasswordRequest { id }, &admin)).await.unwrap_err();
    assert_eq!(disabled.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn roles_list_the_five_roles_with_the_matrix_permissions() {
    let app = TestApp::start().await;
    let (_, reader) = user_with_role(&app, "read_only").await;
    let mut roles = RoleServiceClient::new(app.channel.clone());
    let listed = roles.list_roles(authed(pb::ListRolesRequest {}, &reader)).await.unwrap().into_inner();
    let matrix = super::auth::matrix();
    let names = ["super_admin", "admin", "growth_manager", "data_engineer", "read_only"];
    assert_eq!(listed.roles.len(), 5);
    for (definition, name) in listed.roles.iter().zip(names) {
        let expected: Vec<String> = matrix[name].iter().map(|p| p.to_string()).collect();
        assert_eq!(definition.permissions, expected, "{name}");
    }
    let redeem = listed.permissions.iter().find(|p| p.name == "promotions.redeem").unwrap();
    assert!(redeem.service_credential_only);
    assert_eq!(listed.permissions.len(), 20);
}

#[tokio::test]
async fn the_audit_log_filters_by_actor_action_resource_and_time_and_pages() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let mut users = PlatformUserServiceClient::new(app.channel.clone());
    let mut ids = Vec::new();
    for i in 0..5 {
        let invited = users
            .invite_platform_user(authed(
                pb::InvitePlatformUserRequest { email: format!("a{i}@example.com"), display_name: String::new(), role: pb::Role::ReadOnly as i32 },
                &admin,
            ))
            .await
            .unwrap()
            .into_inner();
        ids.push(invited.platform_user.unwrap().id);
    }
    users.update_platform_user(authed(update(&ids[0], role(pb::Role::DataEngineer), &["role"]), &admin)).await.unwrap();
    let mut audit = AuditLogServiceClient::new(app.channel.clone());
    let list = |req: pb::ListAuditLogsRequest| authed(req, &admin);

    let invites =
        audit.list_audit_logs(list(pb::ListAuditLogsRequest { action: "platform_user.inv".into(), ..Default::default() })).await.unwrap().into_inner();
    assert_eq!(invites.total_size, 5);
    let all_user_actions =
        audit.list_audit_logs(list(pb::ListAuditLogsRequest { action: "platform_user.".into(), ..Default::default() })).await.unwrap().into_inner();
    assert_eq!(all_user_actions.total_size, 7, "bootstrap + 5 invites + 1 role change");
    let one = audit
        .list_audit_logs(list(pb::ListAuditLogsRequest { resource_type: "platform_user".into(), resource_id: ids[0].clone(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        one.audit_log_entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["platform_user.change_role", "platform_user.invite"],
        "newest first"
    );
    let change = &one.audit_log_entries[0];
    assert_eq!(change.actor_kind(), pb::ActorKind::PlatformUser);
    assert_eq!(change.actor_email, cdp_tests::ADMIN_EMAIL);
    let role_of = |s: &Option<prost_types::Struct>| match s.as_ref().and_then(|s| s.fields.get("role")).and_then(|v| v.kind.clone()) {
        Some(prost_types::value::Kind::StringValue(v)) => v,
        other => panic!("no role: {other:?}"),
    };
    assert_eq!((role_of(&change.before), role_of(&change.after)), ("read_only".to_string(), "data_engineer".to_string()));

    // Paging newest-first with no repeats.
    let first = audit.list_audit_logs(list(pb::ListAuditLogsRequest { page_size: 4, ..Default::default() })).await.unwrap().into_inner();
    let second = audit
        .list_audit_logs(list(pb::ListAuditLogsRequest { page_size: 4, page_token: first.next_page_token.clone(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner();
    assert!(first.audit_log_entries.last().unwrap().id > second.audit_log_entries[0].id);
    assert_eq!(first.audit_log_entries.len() + second.audit_log_entries.len(), first.total_size as usize);

    let actor = first.audit_log_entries[0].actor_id.clone();
    let by_actor = audit.list_audit_logs(list(pb::ListAuditLogsRequest { actor_id: actor, ..Default::default() })).await.unwrap().into_inner();
    assert!(by_actor.total_size >= 6);
    let future = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() + 3600, nanos: 0 };
    let none = audit.list_audit_logs(list(pb::ListAuditLogsRequest { start_time: Some(future), ..Default::default() })).await.unwrap().into_inner();
    assert_eq!(none.total_size, 0);
    let backwards = audit
        .list_audit_logs(list(pb::ListAuditLogsRequest {
            start_time: Some(prost_types::Timestamp { seconds: 2_000_000_000, nanos: 0 }),
            end_time: Some(prost_types::Timestamp { seconds: 1_000_000_000, nanos: 0 }),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(backwards.code(), Code::InvalidArgument);
    let bad_actor = audit.list_audit_logs(list(pb::ListAuditLogsRequest { actor_id: "nope".into(), ..Default::default() })).await.unwrap_err();
    assert_eq!(bad_actor.code(), Code::InvalidArgument);
}
