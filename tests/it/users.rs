//! UserService over gRPC on a seeded marketplace: search, filters, ordering and paging to the
//! end, hostile input, masking per role, the profile, audited updates with a FieldMask, the
//! reporting time zone, the catalogue, and the `users.refresh_stats` rollup.

use crate::conditions::{all, cond, cond2, num, texts};
use cdp_proto::cdp::v1::{self as pb, Operator as Op, user_service_client::UserServiceClient, value::Kind};
use cdp_server::{
    seed::{SeedOptions, seed},
    users::stats::{REFRESH_STATS, refresh_all},
};
use cdp_tests::{
    TestApp, authed,
    fixtures::{ROLES, admin_token, count, exec, user_with_role},
};
use chrono::{NaiveDate, Utc};
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel_async::RunQueryDsl;
use tonic::Code;
use tonic_types::StatusExt;

/// A server on a seeded marketplace of `users` users whose today is the reporting zone's
/// (UTC) today, with the stats rollup refreshed.
async fn seeded_app(users: u32) -> (TestApp, NaiveDate) {
    let app = TestApp::start().await;
    let today = Utc::now().date_naive();
    seed(&app.db.url, &SeedOptions { users, seed: 5, days: 120, today }).await.expect("seeding");
    refresh_all(&app.app.db, today).await.expect("refreshing the user stats");
    (app, today)
}

fn client(app: &TestApp) -> UserServiceClient<tonic::transport::Channel> {
    UserServiceClient::new(app.channel.clone())
}

fn list(search: &str, filter: Option<pb::ConditionGroup>, order_by: &str, page_size: i32, page_token: &str) -> pb::ListUsersRequest {
    pb::ListUsersRequest { page_size, page_token: page_token.into(), search: search.into(), filter, order_by: order_by.into() }
}

/// Every page of a listing, in order, with the total of the first page.
async fn all_pages(app: &TestApp, token: &str, search: &str, filter: Option<pb::ConditionGroup>, order_by: &str, page_size: i32) -> (Vec<i64>, i64) {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    let mut total = None;
    loop {
        let page = client(app).list_users(authed(list(search, filter.clone(), order_by, page_size, &page_token), token)).await.expect("ListUsers").into_inner();
        assert!(page.users.len() as i32 <= page_size);
        let first_total = *total.get_or_insert(page.total_size);
        assert_eq!(page.total_size, first_total, "every page reports the same total");
        ids.extend(page.users.iter().map(|u| u.user_id));
        if page.next_page_token.is_empty() {
            break;
        }
        assert_eq!(page.users.len() as i32, page_size, "only the last page is short");
        page_token = page.next_page_token;
    }
    (ids, total.unwrap_or_default())
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = Integer)]
    user_id: i32,
}

async fn sql_ids(app: &TestApp, sql: &str) -> Vec<i64> {
    let mut conn = app.db.conn().await;
    let rows: Vec<Id> = diesel::sql_query(sql).load(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(|r| r.user_id as i64).collect()
}

#[derive(diesel::QueryableByName)]
struct OneText {
    #[diesel(sql_type = Nullable<Text>)]
    s: Option<String>,
}

async fn sql_text(app: &TestApp, sql: &str) -> Option<String> {
    let mut conn = app.db.conn().await;
    diesel::sql_query(sql).get_result::<OneText>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).s
}

fn violation(status: &tonic::Status) -> String {
    status.get_details_bad_request().and_then(|b| b.field_violations.into_iter().next().map(|v| v.field)).unwrap_or_default()
}

#[tokio::test]
async fn ordering_by_several_columns_pages_to_the_end_without_gaps_or_repeats() {
    let (app, _) = seeded_app(900).await;
    let token = admin_token(&app).await;
    // (order_by, the same order in SQL): integers, doubles, timestamps and text with nulls
    // last, an activity rollup, an enum, a flag, and the default.
    let orders = [
        ("", "u.user_id"),
        ("user_id desc", "u.user_id DESC"),
        ("total_credits_spent desc", "u.total_credits_spent DESC NULLS LAST, u.user_id DESC"),
        ("last_transaction_date", "u.last_transaction_date NULLS LAST, u.user_id"),
        ("current_credits_in_wallet DESC", "u.current_credits_in_wallet DESC NULLS LAST, u.user_id DESC"),
        ("favorite_vertical asc", "u.favorite_vertical NULLS LAST, u.user_id"),
        ("last_active_day desc", "s.last_active_day DESC NULLS LAST, u.user_id DESC"),
        ("lifecycle_stage", "s.lifecycle_stage, u.user_id"),
        ("is_block desc", "u.is_block DESC NULLS LAST, u.user_id DESC"),
    ];
    let total = count(&app, "SELECT count(*) AS n FROM public.users").await;
    for (order_by, sql_order) in orders {
        let (ids, reported) = all_pages(&app, &token, "", None, order_by, 97).await;
        let expected = sql_ids(&app, &format!("SELECT u.user_id FROM public.users u LEFT JOIN cdp.user_stats s USING (user_id) ORDER BY {sql_order}")).await;
        assert_eq!(reported, total);
        assert_eq!(ids.len(), expected.len(), "{order_by}: no gaps or repeats");
        assert_eq!(ids, expected, "{order_by}");
    }

    // With a filter: the pages hold exactly the matching users, in order.
    let filter = all(vec![cond("total_listings_count", Op::GreaterOrEqual, num(1.0)), cond("user_type", Op::In, texts(&["individual", "office"]))]);
    let (ids, reported) = all_pages(&app, &token, "", Some(filter), "paid_listings_count desc", 50).await;
    let expected = sql_ids(&app, "SELECT user_id FROM public.users WHERE total_listings_count >= 1 AND user_type IN ('individual', 'office') ORDER BY paid_listings_count DESC NULLS LAST, user_id DESC").await;
    assert!(!expected.is_empty());
    assert_eq!(reported, expected.len() as i64);
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_three_condition_filter_matches_sql_and_tokens_belong_to_their_request() {
    let (app, today) = seeded_app(700).await;
    let token = admin_token(&app).await;
    let filter = all(vec![
        cond("total_credits_spent", Op::GreaterThan, num(0.0)),
        cond("last_active_day", Op::WithinLastDays, Some(Kind::Days(60))),
        cond("verticals_listed_in", Op::ContainsAny, texts(&["cars", "property"])),
    ]);
    let (ids, total) = all_pages(&app, &token, "", Some(filter.clone()), "", 40).await;
    let expected = sql_ids(
        &app,
        &format!(
            "SELECT user_id FROM public.users u WHERE total_credits_spent > 0 \
             AND EXISTS (SELECT 1 FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day BETWEEN DATE '{today}' - 59 AND DATE '{today}') \
             AND (verticals_listed_in ~ '(^|,)(cars|property)(,|$)') ORDER BY user_id"
        ),
    )
    .await;
    assert!(!expected.is_empty());
    assert_eq!((ids, total), (expected.clone(), expected.len() as i64));

    // A token from this listing does not page another one.
    let first = client(&app).list_users(authed(list("", Some(filter), "", 10, ""), &token)).await.unwrap().into_inner();
    let err = client(&app).list_users(authed(list("", None, "", 10, &first.next_page_token), &token)).await.unwrap_err();
    assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, "page_token".to_string()));
    let err = client(&app).list_users(authed(list("", None, "", 10, "bm90LWEtdG9rZW4"), &token)).await.unwrap_err();
    assert_eq!(violation(&err), "page_token");
    let err = client(&app).list_users(authed(list("", None, "", -1, ""), &token)).await.unwrap_err();
    assert_eq!(violation(&err), "page_size");
}

#[tokio::test]
async fn search_finds_users_by_id_and_phone_digits_for_pii_readers_only() {
    let (app, _) = seeded_app(600).await;
    let admin = admin_token(&app).await;
    let (_, read_only) = user_with_role(&app, "read_only").await;

    // By id: exact, other characters ignored.
    let id = sql_ids(&app, "SELECT user_id FROM public.users ORDER BY user_id OFFSET 123 LIMIT 1").await[0];
    for token in [&admin, &read_only] {
        let page = client(&app).list_users(authed(list(&format!(" #{id} "), None, "", 50, ""), token)).await.unwrap().into_inner();
        let found: Vec<i64> = page.users.iter().map(|u| u.user_id).collect();
        assert!(found.contains(&id), "{found:?}");
    }

    // By phone digits: 5 digits from the middle of a real phone.
    let phone = sql_text(&app, &format!("SELECT phone::text AS s FROM public.users WHERE user_id = {id}")).await.expect("seeded users have phones");
    let digits = &phone[5..10];
    let (ids, total) = all_pages(&app, &admin, digits, None, "", 50).await;
    let mut expected = sql_ids(
        &app,
        &format!(
            "SELECT user_id FROM public.users WHERE phone::text LIKE '%{digits}%' OR user_id::text = '{}' ORDER BY user_id",
            digits.trim_start_matches('0')
        ),
    )
    .await;
    expected.dedup();
    assert!(ids.contains(&id));
    assert_eq!((ids, total), (expected.clone(), expected.len() as i64));

    // Without users.read_pii the digits only match a user id.
    let page = client(&app).list_users(authed(list(digits, None, "", 50, ""), &read_only)).await.unwrap().into_inner();
    let by_id = sql_ids(&app, &format!("SELECT user_id FROM public.users WHERE user_id::text = '{}'", digits.trim_start_matches('0'))).await;
    assert_eq!(page.users.iter().map(|u| u.user_id).collect::<Vec<_>>(), by_id);
    assert!(page.users.iter().all(|u| u.phone_masked));
    // ... and a phone condition is refused.
    let phone_filter = all(vec![cond("phone", Op::Contains, Some(Kind::Text(digits.into())))]);
    let err = client(&app).list_users(authed(list("", Some(phone_filter.clone()), "", 50, ""), &read_only)).await.unwrap_err();
    assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, "filter.nodes[0].condition.field".to_string()));
    let page = client(&app).list_users(authed(list("", Some(phone_filter), "", 50, ""), &admin)).await.unwrap().into_inner();
    assert!(page.users.iter().any(|u| u.user_id == id));
}

#[tokio::test]
async fn hostile_order_by_filter_fields_and_values_are_refused_or_bound() {
    let (app, _) = seeded_app(200).await;
    let token = admin_token(&app).await;
    let err = client(&app).list_users(authed(list("", None, "user_id; DROP TABLE public.users", 50, ""), &token)).await.unwrap_err();
    assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, "order_by".to_string()));
    let hostile = all(vec![cond("total_credits_spent", Op::GreaterThan, num(0.0)), cond("user_id) OR (1=1", Op::Equals, num(1.0))]);
    let err = client(&app).list_users(authed(list("", Some(hostile), "", 50, ""), &token)).await.unwrap_err();
    assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, "filter.nodes[1].condition.field".to_string()));
    let value = all(vec![cond("user_type", Op::Equals, Some(Kind::Text("x' OR '1'='1'; DROP TABLE public.users; --".into())))]);
    let page = client(&app).list_users(authed(list("", Some(value), "", 50, ""), &token)).await.unwrap().into_inner();
    assert_eq!((page.users.len(), page.total_size), (0, 0), "no rows leak");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM public.users").await, 200, "the table still exists");
    // A tree with a bad operator deep inside names its node.
    let nested = all(vec![crate::conditions::nested(pb::Combinator::Or, vec![cond("favorite_vertical", Op::GreaterThan, num(1.0))])]);
    let err = client(&app).list_users(authed(list("", Some(nested), "", 50, ""), &token)).await.unwrap_err();
    assert_eq!(violation(&err), "filter.nodes[0].group.nodes[0].condition.operator");
}

#[tokio::test]
async fn phones_are_masked_for_roles_without_pii() {
    let (app, _) = seeded_app(50).await;
    let id = sql_ids(&app, "SELECT user_id FROM public.users WHERE phone IS NOT NULL ORDER BY user_id LIMIT 1").await[0];
    let phone = sql_text(&app, &format!("SELECT phone::text AS s FROM public.users WHERE user_id = {id}")).await.unwrap();
    for role in ROLES {
        let (_, token) = user_with_role(&app, role).await;
        let pii = matches!(role, "super_admin" | "admin" | "growth_manager");
        let profile = client(&app).get_user(authed(pb::GetUserRequest { user_id: id }, &token)).await.unwrap().into_inner().profile.unwrap();
        let shown = profile.account.unwrap().phone.unwrap();
        let page = client(&app).list_users(authed(list(&id.to_string(), None, "", 50, ""), &token)).await.unwrap().into_inner();
        let row = page.users.iter().find(|u| u.user_id == id).expect("found by id");
        assert_eq!(profile.phone_masked, !pii, "{role}");
        assert_eq!(row.phone_masked, !pii, "{role}");
        assert_eq!(row.phone.as_deref(), Some(shown.as_str()), "{role}");
        if pii {
            assert_eq!(shown, phone, "{role}");
        } else {
            assert_eq!(shown, format!("{}{}", "*".repeat(phone.len() - 4), &phone[phone.len() - 4..]), "{role}");
        }
    }
}

#[derive(diesel::QueryableByName)]
struct DayRow {
    #[diesel(sql_type = Text)]
    day: String,
    #[diesel(sql_type = BigInt)]
    sessions: i64,
    #[diesel(sql_type = BigInt)]
    credits_spent: i64,
}

#[tokio::test]
async fn get_user_returns_the_full_profile() {
    let (app, today) = seeded_app(300).await;
    let admin = admin_token(&app).await;
    let (_, growth) = user_with_role(&app, "growth_manager").await;
    // The most active user with an Amplitude id, in a cohort.
    let id = sql_ids(&app, "SELECT d.user_id FROM cdp.user_daily_activity d JOIN cdp.identities i USING (user_id) WHERE i.amplitude_id IS NOT NULL GROUP BY d.user_id ORDER BY count(*) DESC, d.user_id LIMIT 1").await[0];
    exec(&app, "INSERT INTO cdp.cohorts (id, name, kind) VALUES (900, 'Power sellers', 'static'), (901, 'Old', 'static')").await;
    exec(&app, &format!("INSERT INTO cdp.cohort_members (cohort_id, user_id) VALUES (900, {id}), (901, {id})")).await;
    exec(&app, "UPDATE cdp.cohorts SET deleted_at = now() WHERE id = 901").await;

    let profile = client(&app).get_user(authed(pb::GetUserRequest { user_id: id }, &admin)).await.unwrap().into_inner().profile.unwrap();
    assert_eq!(profile.user_id, id);
    let wallet = profile.wallet.unwrap();
    let listings = profile.listings.clone().unwrap();
    let plans = profile.plans.clone().unwrap();
    let addons = profile.addons.clone().unwrap();
    let offers = profile.offers.unwrap();
    // One column of each group against the table, plus the list columns split into slugs.
    let column = |name: &str| format!("SELECT {name}::text AS s FROM public.users WHERE user_id = {id}");
    assert_eq!(profile.account.clone().unwrap().user_type, sql_text(&app, &column("user_type")).await);
    assert_eq!(wallet.total_credits_spent.map(|v| v.to_string()), sql_text(&app, &column("total_credits_spent")).await);
    assert_eq!(listings.total_listings_count.map(|v| v.to_string()), sql_text(&app, &column("total_listings_count")).await);
    assert_eq!(Some(listings.verticals_listed_in.join(",")).filter(|s| !s.is_empty()), sql_text(&app, &column("verticals_listed_in")).await);
    assert_eq!(plans.pro_credits_spent.map(|v| v.to_string()), sql_text(&app, &column("pro_credits_spent")).await);
    assert_eq!(addons.addon_vip_credits_spent.map(|v| v.to_string()), sql_text(&app, &column("addon_vip_credits_spent")).await);
    assert_eq!(offers.offer_total_days_used.map(|v| v.to_string()), sql_text(&app, &column("offer_total_days_used")).await);
    let created =
        sql_text(&app, &format!("SELECT extract(epoch FROM user_account_creation_date)::bigint::text AS s FROM public.users WHERE user_id = {id}")).await;
    assert_eq!(profile.account.unwrap().user_account_creation_date.map(|t| t.seconds.to_string()), created, "wall time read in the (UTC) reporting zone");
    assert_eq!(profile.cltv, wallet.total_credits_spent.unwrap_or(0) as f64, "CLTV = lifetime credits spent");

    // 90 days, oldest first, zeros where there is no row; totals equal the table's.
    assert_eq!(profile.activity.len(), 90);
    assert_eq!(profile.activity.last().unwrap().date, today.to_string());
    let mut conn = app.db.conn().await;
    let days: Vec<DayRow> = diesel::sql_query(format!(
        "SELECT day::text AS day, sessions::int8 AS sessions, credits_spent::int8 AS credits_spent FROM cdp.user_daily_activity \
         WHERE user_id = {id} AND day > DATE '{today}' - 90 AND day <= DATE '{today}' ORDER BY day"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    let shown: Vec<(String, i64, i64)> = profile
        .activity
        .iter()
        .filter(|a| a.sessions > 0 || a.credits_spent > 0 || days.iter().any(|d| d.day == a.date))
        .map(|a| (a.date.clone(), a.sessions as i64, a.credits_spent))
        .collect();
    assert_eq!(shown, days.iter().map(|d| (d.day.clone(), d.sessions, d.credits_spent)).collect::<Vec<_>>());
    assert!(!days.is_empty());

    // Identities, memberships of live cohorts, the computed stage, no promotions yet.
    assert_eq!(
        Some(profile.identities.unwrap().amplitude_id),
        sql_text(&app, &format!("SELECT amplitude_id AS s FROM cdp.identities WHERE user_id = {id}")).await
    );
    assert_eq!(profile.cohort_memberships.iter().map(|m| (m.cohort_id, m.name.as_str())).collect::<Vec<_>>(), vec![(900, "Power sellers")]);
    let stage = sql_text(&app, &format!("SELECT lifecycle_stage AS s FROM cdp.user_stats WHERE user_id = {id}")).await.unwrap();
    assert_eq!(profile.computed_lifecycle_stage, cdp_server::users::lifecycle_to_proto(Some(&stage)) as i32);
    assert_eq!(profile.lifecycle_stage, profile.computed_lifecycle_stage);
    assert!(profile.promotions.is_empty());

    // Audit history: an update shows for auditors only.
    let update = pb::UpdateUserRequest {
        cdp_attributes: Some(pb::CdpAttributes { user_id: id, notes: "called about a refund".into(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["notes".into()] }),
    };
    client(&app).update_user(authed(update, &growth)).await.unwrap();
    let seen = client(&app).get_user(authed(pb::GetUserRequest { user_id: id }, &admin)).await.unwrap().into_inner().profile.unwrap();
    assert_eq!(seen.recent_audit_entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), vec!["user.update"]);
    let unseen = client(&app).get_user(authed(pb::GetUserRequest { user_id: id }, &growth)).await.unwrap().into_inner().profile.unwrap();
    assert!(unseen.recent_audit_entries.is_empty(), "growth managers lack audit.read");

    let missing = client(&app).get_user(authed(pb::GetUserRequest { user_id: 999_999_999 }, &admin)).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
}

#[derive(diesel::QueryableByName)]
struct AuditRow {
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = Text)]
    before: String,
    #[diesel(sql_type = Text)]
    after: String,
}

#[tokio::test]
async fn update_user_changes_only_masked_cdp_attributes_and_is_audited() {
    let (app, _) = seeded_app(100).await;
    let (manager_id, manager) = user_with_role(&app, "growth_manager").await;
    let (_, read_only) = user_with_role(&app, "read_only").await;
    let id = sql_ids(&app, "SELECT user_id FROM public.users ORDER BY user_id LIMIT 1").await[0];
    let before_users = sql_text(&app, &format!("SELECT md5(u::text) AS s FROM public.users u WHERE user_id = {id}")).await;
    let request = |paths: &[&str]| pb::UpdateUserRequest {
        cdp_attributes: Some(pb::CdpAttributes {
            user_id: id,
            account_status: pb::AccountStatus::UnderReview as i32,
            lifecycle_stage_override: pb::LifecycleStage::Churned as i32,
            tags: vec!["VIP".into(), "refund-risk".into(), "vip".into()],
            notes: "should not be written".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() }),
    };

    let response = client(&app).update_user(authed(request(&["tags", "account_status"]), &manager)).await.unwrap().into_inner();
    let attrs = response.cdp_attributes.unwrap();
    assert_eq!(attrs.tags, vec!["vip", "refund-risk"]);
    assert_eq!(attrs.account_status, pb::AccountStatus::UnderReview as i32);
    assert_eq!(attrs.notes, "", "notes were not in the mask");
    assert_eq!(attrs.lifecycle_stage_override, 0);
    assert_eq!(attrs.updated_by, manager_id.to_string());
    assert_eq!(
        sql_text(
            &app,
            &format!("SELECT account_status || '|' || array_to_string(tags, ',') || '|' || notes AS s FROM cdp.user_attributes WHERE user_id = {id}")
        )
        .await
        .as_deref(),
        Some("under_review|vip,refund-risk|")
    );
    let mut conn = app.db.conn().await;
    let audit: Vec<AuditRow> = diesel::sql_query(format!(
        "SELECT action, before::text AS before, after::text AS after FROM cdp.audit_log WHERE resource_type = 'user' AND resource_id = '{id}'"
    ))
    .load(&mut conn)
    .await
    .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "user.update");
    assert!(
        audit[0].before.contains("\"account_status\": \"active\"") && audit[0].after.contains("\"under_review\""),
        "{} -> {}",
        audit[0].before,
        audit[0].after
    );

    // The override wins in the profile and in filters.
    let response = client(&app).update_user(authed(request(&["lifecycle_stage_override"]), &manager)).await.unwrap().into_inner();
    assert_eq!(response.lifecycle_stage, pb::LifecycleStage::Churned as i32);
    let churned = all(vec![cond("lifecycle_stage", Op::Equals, Some(Kind::Text("churned".into()))), cond("user_id", Op::Equals, num(id as f64))]);
    let page = client(&app).list_users(authed(list("", Some(churned), "", 10, ""), &manager)).await.unwrap().into_inner();
    assert_eq!(page.users.iter().map(|u| (u.user_id, u.lifecycle_stage)).collect::<Vec<_>>(), vec![(id, pb::LifecycleStage::Churned as i32)]);

    // The same change again writes nothing and audits nothing.
    client(&app).update_user(authed(request(&["lifecycle_stage_override"]), &manager)).await.unwrap();
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE resource_id = '{id}' AND resource_type = 'user'")).await, 2);

    // ETL-owned columns, unknown paths, bad values and missing permissions are refused.
    for (paths, field) in [(&["total_credits_spent"][..], "update_mask"), (&[][..], "update_mask"), (&["tags", "phone"][..], "update_mask")] {
        let err = client(&app).update_user(authed(request(paths), &manager)).await.unwrap_err();
        assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, field.to_string()), "{paths:?}");
    }
    let mut bad = request(&["tags"]);
    bad.cdp_attributes.as_mut().unwrap().tags = vec!["ok".into(), "not ok!".into()];
    let err = client(&app).update_user(authed(bad, &manager)).await.unwrap_err();
    assert_eq!(violation(&err), "cdp_attributes.tags[1]");
    let mut long = request(&["notes"]);
    long.cdp_attributes.as_mut().unwrap().notes = "x".repeat(4001);
    assert_eq!(violation(&client(&app).update_user(authed(long, &manager)).await.unwrap_err()), "cdp_attributes.notes");
    let mut unknown = request(&["notes"]);
    unknown.cdp_attributes.as_mut().unwrap().user_id = 999_999_999;
    assert_eq!(client(&app).update_user(authed(unknown, &manager)).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(client(&app).update_user(authed(request(&["notes"]), &read_only)).await.unwrap_err().code(), Code::PermissionDenied);

    assert_eq!(sql_text(&app, &format!("SELECT md5(u::text) AS s FROM public.users u WHERE user_id = {id}")).await, before_users, "ETL columns untouched");
}

#[tokio::test]
async fn within_last_days_uses_the_reporting_time_zone() {
    // A zone whose date differs from UTC's right now, so a UTC "today" would give other rows.
    let now = Utc::now();
    let zone = if now.format("%H").to_string().parse::<u32>().unwrap() >= 12 { "Pacific/Kiritimati" } else { "Etc/GMT+12" };
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let local_today = now.with_timezone(&tz).date_naive();
    assert_ne!(local_today, now.date_naive());

    let db = cdp_tests::TestDb::new().await;
    let mut env = cdp_tests::test_env(&db);
    env.insert("CDP_REPORTING_TZ".into(), zone.into());
    let app = TestApp::start_with(db, env).await;
    let yesterday = local_today.pred_opt().unwrap();
    exec(&app, &format!("INSERT INTO public.users (user_id, user_account_creation_date) VALUES (1, '{local_today} 00:05'), (2, '{yesterday} 23:55'), (3, '{local_today} 23:55')")).await;
    let token = admin_token(&app).await;
    let today_only = all(vec![cond("user_account_creation_date", Op::WithinLastDays, Some(Kind::Days(1)))]);
    let (ids, _) = all_pages(&app, &token, "", Some(today_only), "", 10).await;
    assert_eq!(ids, vec![1, 3]);
    let two_days = all(vec![cond("user_account_creation_date", Op::WithinLastDays, Some(Kind::Days(2)))]);
    assert_eq!(all_pages(&app, &token, "", Some(two_days), "", 10).await.0, vec![1, 2, 3]);
    let older = all(vec![cond2("user_account_creation_date", Op::Between, Some(Kind::Date(yesterday.to_string())), Some(Kind::Date(yesterday.to_string())))]);
    assert_eq!(all_pages(&app, &token, "", Some(older), "", 10).await.0, vec![2]);
    // Timestamps come back as instants of that zone's wall time.
    let profile = client(&app).get_user(authed(pb::GetUserRequest { user_id: 1 }, &token)).await.unwrap().into_inner().profile.unwrap();
    let expected = chrono::TimeZone::from_local_datetime(&tz, &local_today.and_hms_opt(0, 5, 0).unwrap()).unwrap().timestamp();
    assert_eq!(profile.account.unwrap().user_account_creation_date.unwrap().seconds, expected);
}

#[tokio::test]
async fn stats_refresh_matches_an_independent_computation() {
    let (app, today) = seeded_app(1500).await;
    // Windows: active days and sessions in the last 30 days.
    let wrong_windows = count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM public.users u LEFT JOIN cdp.user_stats s USING (user_id) \
             WHERE s.user_id IS NULL OR s.active_days_30 <> (SELECT count(*) FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day BETWEEN DATE '{today}' - 29 AND DATE '{today}') \
             OR s.sessions_30 <> (SELECT coalesce(sum(sessions), 0) FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day BETWEEN DATE '{today}' - 29 AND DATE '{today}') \
             OR s.last_active_day IS DISTINCT FROM (SELECT max(day) FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day <= DATE '{today}') \
             OR s.cltv <> coalesce(u.total_credits_spent, 0)"
        ),
    )
    .await;
    assert_eq!(wrong_windows, 0);
    // Lifecycle stages, restated from DESIGN §8 with day differences.
    let independent = format!(
        "WITH facts AS (SELECT u.user_id, u.user_account_creation_date::date AS created, u.first_paid_listing_date::date AS first_paid, \
           (SELECT max(day) FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day <= DATE '{today}') AS last_active, \
           (SELECT min(day) FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day BETWEEN DATE '{today}' - 29 AND DATE '{today}') AS back_on, \
           (SELECT max(day) FROM cdp.user_daily_activity d WHERE d.user_id = u.user_id AND d.day < DATE '{today}' - 29) AS before_gap \
         FROM public.users u) \
         SELECT user_id, CASE \
           WHEN DATE '{today}' - created < 30 AND first_paid IS NULL THEN 'new' \
           WHEN DATE '{today}' - first_paid < 30 THEN 'activated' \
           WHEN last_active IS NULL THEN 'dormant' \
           WHEN DATE '{today}' - last_active >= 30 THEN 'churned' \
           WHEN DATE '{today}' - last_active >= 14 THEN 'about_to_churn' \
           WHEN back_on - before_gap > 30 THEN 'reactivated' \
           ELSE 'active' END AS stage FROM facts"
    );
    let mismatches =
        count(&app, &format!("SELECT count(*) AS n FROM ({independent}) x JOIN cdp.user_stats s USING (user_id) WHERE s.lifecycle_stage <> x.stage")).await;
    assert_eq!(mismatches, 0);
    let stages = count(&app, "SELECT count(DISTINCT lifecycle_stage) AS n FROM cdp.user_stats").await;
    assert!(stages >= 5, "the seeded marketplace shows most stages, got {stages}");

    // The job is registered as recurring with the worker.
    let registry = cdp_server::worker::registry(&app.app);
    assert!(registry.recurring_kinds().iter().any(|(kind, every)| *kind == REFRESH_STATS && every.as_secs() == 900));

    // The catalogue: every column, the known values from the refresh.
    let token = admin_token(&app).await;
    let fields = client(&app).list_user_fields(authed(pb::ListUserFieldsRequest {}, &token)).await.unwrap().into_inner().fields;
    let columns = count(&app, "SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'").await;
    let column_names: Vec<String> =
        sql_ids_text(&app, "SELECT column_name::text AS s FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'users'").await;
    assert_eq!(columns, 81);
    assert!(column_names.iter().all(|c| fields.iter().any(|f| &f.name == c)), "every users column is a field");
    let vertical = fields.iter().find(|f| f.name == "favorite_vertical").unwrap();
    let mut expected = sql_ids_text(
        &app,
        "SELECT lower(favorite_vertical) AS s FROM public.users WHERE favorite_vertical <> '' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 100",
    )
    .await;
    assert_eq!(vertical.values, std::mem::take(&mut expected));
    assert!(!vertical.values_exhaustive && vertical.sortable && vertical.distributable);
    let stage = fields.iter().find(|f| f.name == "lifecycle_stage").unwrap();
    assert!(stage.values_exhaustive && stage.values.contains(&"about_to_churn".to_string()));
    let cohort = fields.iter().find(|f| f.name == "cohort").unwrap();
    assert_eq!(cohort.operators, vec![Op::InCohort as i32, Op::NotInCohort as i32]);
}

async fn sql_ids_text(app: &TestApp, sql: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct T {
        #[diesel(sql_type = Text)]
        s: String,
    }
    let mut conn = app.db.conn().await;
    let rows: Vec<T> = diesel::sql_query(sql).load(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter().map(|r| r.s).collect()
}
