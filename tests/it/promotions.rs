//! PromotionService: drafts validated and audited, the status lifecycle and its illegal
//! transitions, delete versus archive, listing, statistics and estimates from the ledger, and
//! the cohorts' usage listing. Also the helpers the redemption and activation suites share.

use cdp_proto::cdp::v1::{
    self as pb, promotion_service_client::PromotionServiceClient, redemption_service_client::RedemptionServiceClient,
    service_credential_service_client::ServiceCredentialServiceClient,
};
use cdp_server::{
    activation::Keyspace,
    jobs::{Registry, Worker},
};
use cdp_tests::{TestApp, authed, fixtures};
use diesel::{QueryableByName, sql_types::BigInt};
use diesel_async::RunQueryDsl;
use redis::AsyncCommands;
use std::{future::Future, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic_types::StatusExt;

// ---------------------------------------------------------------------------------------------
// Shared helpers (also used by tests/it/redemption.rs and tests/it/activation.rs).

/// A static cohort whose members are the users `from..=to`, made as the table owner.
pub(crate) async fn cohort(app: &TestApp, name: &str, from: i64, to: i64) -> i64 {
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let mut conn = app.db.conn().await;
    let id: Id = diesel::sql_query("INSERT INTO cdp.cohorts (name, kind, last_refreshed_at) VALUES ($1, 'static', now()) RETURNING id")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(&mut conn)
        .await
        .expect("inserting a cohort");
    diesel::sql_query("INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT $1, g FROM generate_series($2::int, $3::int) g")
        .bind::<BigInt, _>(id.id)
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .execute(&mut conn)
        .await
        .expect("inserting cohort members");
    diesel::sql_query("UPDATE cdp.cohorts SET size = (SELECT count(*) FROM cdp.cohort_members WHERE cohort_id = $1) WHERE id = $1")
        .bind::<BigInt, _>(id.id)
        .execute(&mut conn)
        .await
        .expect("sizing the cohort");
    id.id
}

/// A service credential scoped to promotions.redeem, issued by the admin through the API.
pub(crate) async fn redeem_credential(app: &TestApp, admin: &str) -> String {
    let mut credentials = ServiceCredentialServiceClient::new(app.channel.clone());
    credentials
        .create_service_credential(authed(
            pb::CreateServiceCredentialRequest { name: "orders-service".into(), scopes: vec!["promotions.redeem".into()] },
            admin,
        ))
        .await
        .expect("the admin issues a credential")
        .into_inner()
        .secret
}

pub(crate) fn promotions(app: &TestApp) -> PromotionServiceClient<tonic::transport::Channel> {
    PromotionServiceClient::new(app.channel.clone())
}

pub(crate) fn redemptions(app: &TestApp) -> RedemptionServiceClient<tonic::transport::Channel> {
    RedemptionServiceClient::new(app.channel.clone())
}

/// A bonus-credit promotion over `cohort_id`, shared code `code`, with the given limits.
pub(crate) fn bonus(cohort_id: i64, code: &str, credits: f64, total: i64, per_user: i32, budget: i64) -> pb::Promotion {
    pb::Promotion {
        name: format!("Bonus {code}"),
        description: "Credits for coming back".into(),
        cohort_id,
        r#type: pb::PromotionType::BonusCredits as i32,
        value: credits,
        code: code.into(),
        limits: Some(pb::PromotionLimits { total_redemptions: total, per_user, credit_budget: budget }),
        ..Default::default()
    }
}

pub(crate) async fn create(app: &TestApp, token: &str, promotion: pb::Promotion) -> pb::Promotion {
    promotions(app)
        .create_promotion(authed(pb::CreatePromotionRequest { promotion: Some(promotion) }, token))
        .await
        .expect("creating a promotion")
        .into_inner()
        .promotion
        .expect("a promotion")
}

/// The worker's promotion jobs, running until dropped (or killed).
pub(crate) struct RunningWorker {
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl RunningWorker {
    pub(crate) fn start(app: &TestApp) -> RunningWorker {
        Self::start_with_lease(app, Duration::from_secs(30))
    }

    pub(crate) fn start_with_lease(app: &TestApp, lease: Duration) -> RunningWorker {
        let registry = cdp_server::activation::jobs::register(Registry::new(), &app.app);
        let worker = Worker::new(app.app.db.clone(), registry, 4, lease, Duration::from_millis(20));
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(worker.run(shutdown.clone()));
        RunningWorker { shutdown, handle }
    }

    /// As if the process died: no draining, no outcome recorded.
    pub(crate) async fn kill(mut self) {
        self.handle.abort();
        let _ = (&mut self.handle).await;
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub(crate) async fn redis(app: &TestApp) -> redis::aio::MultiplexedConnection {
    redis::Client::open(app.app.config.redis_url.as_str()).unwrap().get_multiplexed_async_connection().await.expect("redis")
}

pub(crate) fn keyspace(app: &TestApp) -> Keyspace {
    Keyspace::new(&app.app.config.redis_key_prefix)
}

/// Polls `check` every 20 ms until it holds, for at most `limit`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The promotion's status in Redis (None when it has no state there).
pub(crate) async fn redis_status(app: &TestApp, promotion_id: i64) -> Option<String> {
    let mut redis = redis(app).await;
    redis.hget(keyspace(app).promotion(promotion_id).state, "status").await.expect("redis")
}

/// Activates through the API and waits until the worker has published it as `status`.
pub(crate) async fn activate(app: &TestApp, token: &str, promotion_id: i64, status: &str) -> pb::Promotion {
    let activated = promotions(app)
        .activate_promotion(authed(pb::ActivatePromotionRequest { id: promotion_id }, token))
        .await
        .expect("activating")
        .into_inner()
        .promotion
        .expect("a promotion");
    eventually(Duration::from_secs(15), "the promotion is published", || async { redis_status(app, promotion_id).await.as_deref() == Some(status) }).await;
    activated
}

pub(crate) fn reason(status: &tonic::Status) -> String {
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

pub(crate) async fn count(app: &TestApp, sql: &str) -> i64 {
    fixtures::count(app, sql).await
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_promotion_is_created_as_a_validated_audited_draft() {
    let app = TestApp::start().await;
    let (_, manager) = fixtures::user_with_role(&app, "growth_manager").await;
    let cohort_id = cohort(&app, "Lapsed sellers", 1, 50).await;

    let created = create(&app, &manager, pb::Promotion { code: " back-50 ".into(), ..bonus(cohort_id, "", 50.0, 1000, 0, 20_000) }).await;
    assert_eq!(created.status(), pb::PromotionStatus::Draft);
    assert_eq!(created.code, "BACK-50");
    assert_eq!(created.cohort_name, "Lapsed sellers");
    assert_eq!(created.limits.as_ref().unwrap().per_user, 1, "0 per user is taken as 1");
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.promotions WHERE id = {} AND status = 'draft' AND code = 'BACK-50'", created.id)).await, 1);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'promotion.create' AND resource_id = '{}'", created.id)).await, 1);

    // A code is generated when none is given.
    let generated = create(&app, &manager, bonus(cohort_id, "", 10.0, 0, 1, 0)).await;
    assert_eq!(generated.code.len(), 8);

    let mut client = promotions(&app);
    let refuse = |promotion: pb::Promotion| {
        let mut client = client.clone();
        let token = manager.clone();
        async move { client.create_promotion(authed(pb::CreatePromotionRequest { promotion: Some(promotion) }, &token)).await.unwrap_err() }
    };
    let taken = refuse(bonus(cohort_id, "back-50", 10.0, 0, 1, 0)).await;
    assert_eq!((taken.code(), reason(&taken).as_str()), (Code::AlreadyExists, "CODE_TAKEN"));
    let unknown = refuse(bonus(999_999, "NEW-CODE", 10.0, 0, 1, 0)).await;
    assert_eq!((unknown.code(), reason(&unknown).as_str()), (Code::NotFound, "COHORT_NOT_FOUND"));
    for (promotion, field) in [
        (pb::Promotion { value: 2.5, ..bonus(cohort_id, "X-1", 0.0, 0, 1, 0) }, "promotion.value"),
        (pb::Promotion { r#type: pb::PromotionType::FreeAddon as i32, addon: "rocket".into(), ..bonus(cohort_id, "X-2", 1.0, 0, 1, 0) }, "promotion.addon"),
        (pb::Promotion { r#type: pb::PromotionType::FreeListingDays as i32, ..bonus(cohort_id, "X-3", 7.0, 0, 1, 500) }, "promotion.limits.credit_budget"),
        (pb::Promotion { name: String::new(), ..bonus(cohort_id, "X-4", 7.0, 0, 1, 0) }, "promotion.name"),
        (
            pb::Promotion {
                starts_at: Some(prost_types::Timestamp { seconds: 2_000_000_000, nanos: 0 }),
                ends_at: Some(prost_types::Timestamp { seconds: 1_900_000_000, nanos: 0 }),
                ..bonus(cohort_id, "X-5", 7.0, 0, 1, 0)
            },
            "promotion.ends_at",
        ),
    ] {
        let refused = refuse(promotion).await;
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        let violations =
            refused.get_error_details().bad_request().map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect::<Vec<_>>()).unwrap_or_default();
        assert_eq!(violations, vec![field.to_string()], "{refused:?}");
    }
    // A read-only user cannot create one.
    let (_, reader) = fixtures::user_with_role(&app, "read_only").await;
    let denied =
        client.create_promotion(authed(pb::CreatePromotionRequest { promotion: Some(bonus(cohort_id, "RO-1", 5.0, 0, 1, 0)) }, &reader)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.promotions").await, 2, "nothing refused was stored");
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() })
}

#[tokio::test]
async fn illegal_status_transitions_and_edits_are_failed_precondition() {
    let app = TestApp::start().await;
    let (_, manager) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Sellers", 1, 20).await;
    let other_cohort = cohort(&app, "Buyers", 21, 40).await;
    let mut client = promotions(&app);
    let precondition = |status: tonic::Status| (status.code(), reason(&status));

    let draft = create(&app, &manager, bonus(cohort_id, "LIFE", 10.0, 100, 1, 5_000)).await;
    let deactivate = |id: i64| pb::DeactivatePromotionRequest { id, reason: String::new() };
    assert_eq!(
        precondition(client.deactivate_promotion(authed(deactivate(draft.id), &manager)).await.unwrap_err()),
        (Code::FailedPrecondition, "INVALID_STATUS".into())
    );

    // A draft changes freely, including its cohort and benefit.
    let changed = client
        .update_promotion(authed(
            pb::UpdatePromotionRequest {
                promotion: Some(pb::Promotion { id: draft.id, cohort_id: other_cohort, value: 15.0, ..Default::default() }),
                update_mask: mask(&["cohort_id", "value"]),
            },
            &manager,
        ))
        .await
        .unwrap()
        .into_inner()
        .promotion
        .unwrap();
    assert_eq!((changed.cohort_id, changed.value, changed.cohort_name.as_str()), (other_cohort, 15.0, "Buyers"));

    let active = activate(&app, &manager, draft.id, "active").await;
    assert!(active.activated_at.is_some());
    assert_eq!(
        precondition(client.activate_promotion(authed(pb::ActivatePromotionRequest { id: draft.id }, &manager)).await.unwrap_err()),
        (Code::FailedPrecondition, "INVALID_STATUS".into())
    );
    // Running: name, description, end and limits only.
    for (field, promotion) in [
        ("cohort_id", pb::Promotion { id: draft.id, cohort_id, ..Default::default() }),
        ("value", pb::Promotion { id: draft.id, value: 99.0, ..Default::default() }),
    ] {
        let refused = client
            .update_promotion(authed(pb::UpdatePromotionRequest { promotion: Some(promotion), update_mask: mask(&[field]) }, &manager))
            .await
            .unwrap_err();
        assert_eq!(precondition(refused), (Code::FailedPrecondition, "PROMOTION_NOT_EDITABLE".into()), "{field}");
    }
    let output_only = client
        .update_promotion(authed(
            pb::UpdatePromotionRequest { promotion: Some(pb::Promotion { id: draft.id, ..Default::default() }), update_mask: mask(&["redeemed_count"]) },
            &manager,
        ))
        .await
        .unwrap_err();
    assert_eq!(output_only.code(), Code::InvalidArgument);
    let limits = |total: i64, budget: i64| pb::Promotion {
        id: draft.id,
        limits: Some(pb::PromotionLimits { total_redemptions: total, per_user: 1, credit_budget: budget }),
        ..Default::default()
    };
    let raised = client
        .update_promotion(authed(pb::UpdatePromotionRequest { promotion: Some(limits(200, 6_000)), update_mask: mask(&["limits"]) }, &manager))
        .await
        .unwrap()
        .into_inner()
        .promotion
        .unwrap();
    assert_eq!(raised.limits.unwrap().total_redemptions, 200);
    eventually(Duration::from_secs(10), "the new cap is published", || async {
        let mut redis = redis(&app).await;
        let cap: Option<String> = redis.hget(keyspace(&app).promotion(draft.id).state, "total_cap").await.unwrap();
        cap.as_deref() == Some("200")
    })
    .await;
    // Limits cannot go below what is used.
    let secret = redeem_credential(&app, &fixtures::admin_token(&app).await).await;
    for user in 21..24 {
        redemptions(&app)
            .redeem_promotion(authed(
                pb::RedeemPromotionRequest { code: "LIFE".into(), user_id: user, idempotency_key: format!("u{user}"), ..Default::default() },
                &secret,
            ))
            .await
            .unwrap();
    }
    let below = client
        .update_promotion(authed(pb::UpdatePromotionRequest { promotion: Some(limits(2, 0)), update_mask: mask(&["limits.total_redemptions"]) }, &manager))
        .await
        .unwrap_err();
    assert_eq!(below.code(), Code::InvalidArgument);
    let ended = pb::Promotion { id: draft.id, ends_at: Some(prost_types::Timestamp { seconds: 1_000_000_000, nanos: 0 }), ..Default::default() };
    assert_eq!(
        client
            .update_promotion(authed(pb::UpdatePromotionRequest { promotion: Some(ended), update_mask: mask(&["ends_at"]) }, &manager))
            .await
            .unwrap_err()
            .code(),
        Code::InvalidArgument
    );

    // Pause, then archive: archived is final, and only its name and description change.
    client.deactivate_promotion(authed(deactivate(draft.id), &manager)).await.unwrap();
    assert_eq!(
        precondition(client.deactivate_promotion(authed(deactivate(draft.id), &manager)).await.unwrap_err()),
        (Code::FailedPrecondition, "INVALID_STATUS".into())
    );
    let archived = client.delete_promotion(authed(pb::DeletePromotionRequest { id: draft.id }, &manager)).await.unwrap().into_inner();
    assert!(!archived.deleted);
    assert_eq!(archived.promotion.unwrap().status(), pb::PromotionStatus::Archived);
    assert_eq!(
        precondition(client.activate_promotion(authed(pb::ActivatePromotionRequest { id: draft.id }, &manager)).await.unwrap_err()),
        (Code::FailedPrecondition, "INVALID_STATUS".into())
    );
    let renamed = client
        .update_promotion(authed(
            pb::UpdatePromotionRequest {
                promotion: Some(pb::Promotion { id: draft.id, name: "Spring (ended)".into(), ..Default::default() }),
                update_mask: mask(&["name"]),
            },
            &manager,
        ))
        .await
        .unwrap();
    assert_eq!(renamed.into_inner().promotion.unwrap().name, "Spring (ended)");
    let refused = client
        .update_promotion(authed(pb::UpdatePromotionRequest { promotion: Some(limits(500, 0)), update_mask: mask(&["limits"]) }, &manager))
        .await
        .unwrap_err();
    assert_eq!(precondition(refused), (Code::FailedPrecondition, "PROMOTION_NOT_EDITABLE".into()));
    eventually(Duration::from_secs(10), "the archived promotion leaves Redis", || async { redis_status(&app, draft.id).await.is_none() }).await;
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {}", draft.id)).await, 3, "kept with its redemptions");

    // A window that has ended cannot be activated.
    let past = pb::Promotion { ends_at: Some(prost_types::Timestamp { seconds: 1_000_000_000, nanos: 0 }), ..bonus(cohort_id, "TOO-LATE", 5.0, 0, 1, 0) };
    let late = create(&app, &manager, past).await;
    assert_eq!(
        precondition(client.activate_promotion(authed(pb::ActivatePromotionRequest { id: late.id }, &manager)).await.unwrap_err()),
        (Code::FailedPrecondition, "WINDOW_ENDED".into())
    );
    // Every change is in the audit log.
    let actions =
        count(&app, &format!("SELECT count(DISTINCT action) AS n FROM cdp.audit_log WHERE resource_type = 'promotion' AND resource_id = '{}'", draft.id)).await;
    assert_eq!(actions, 5, "create, update, activate, deactivate, archive");
    // A read-only user may read but not activate.
    let (_, reader) = fixtures::user_with_role(&app, "read_only").await;
    assert!(client.get_promotion(authed(pb::GetPromotionRequest { id: draft.id }, &reader)).await.is_ok());
    assert_eq!(client.activate_promotion(authed(pb::ActivatePromotionRequest { id: late.id }, &reader)).await.unwrap_err().code(), Code::PermissionDenied);
}

#[tokio::test]
async fn drafts_are_deleted_and_archiving_frees_the_code() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Everyone", 1, 5).await;
    let mut client = promotions(&app);
    let draft = create(&app, &admin, bonus(cohort_id, "GONE", 5.0, 0, 1, 0)).await;
    let deleted = client.delete_promotion(authed(pb::DeletePromotionRequest { id: draft.id }, &admin)).await.unwrap().into_inner();
    assert!(deleted.deleted && deleted.promotion.is_none());
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.promotions WHERE id = {}", draft.id)).await, 0);
    assert_eq!(client.get_promotion(authed(pb::GetPromotionRequest { id: draft.id }, &admin)).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'promotion.delete' AND resource_id = '{}'", draft.id)).await, 1);

    let running = create(&app, &admin, bonus(cohort_id, "REUSED", 5.0, 0, 1, 0)).await;
    activate(&app, &admin, running.id, "active").await;
    let archived = client.delete_promotion(authed(pb::DeletePromotionRequest { id: running.id }, &admin)).await.unwrap().into_inner();
    assert!(!archived.deleted);
    eventually(Duration::from_secs(10), "the archived promotion leaves Redis", || async { redis_status(&app, running.id).await.is_none() }).await;
    // Its code is free again, and redeeming it now reaches the new promotion.
    let successor = create(&app, &admin, bonus(cohort_id, "REUSED", 7.0, 0, 1, 0)).await;
    activate(&app, &admin, successor.id, "active").await;
    let secret = redeem_credential(&app, &admin).await;
    let redeemed = redemptions(&app)
        .redeem_promotion(authed(pb::RedeemPromotionRequest { code: "REUSED".into(), user_id: 2, idempotency_key: "r".into(), ..Default::default() }, &secret))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((redeemed.promotion_id, redeemed.benefit.unwrap().credits), (successor.id, 7));
    // Archiving twice changes nothing.
    let again = client.delete_promotion(authed(pb::DeletePromotionRequest { id: running.id }, &admin)).await.unwrap().into_inner();
    assert_eq!(again.promotion.unwrap().status(), pb::PromotionStatus::Archived);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'promotion.archive' AND resource_id = '{}'", running.id)).await, 1);
}

#[tokio::test]
async fn promotions_are_listed_newest_first_by_status_cohort_and_search() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cars = cohort(&app, "Cars", 1, 5).await;
    let homes = cohort(&app, "Homes", 6, 9).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let cohort_id = if i % 2 == 0 { cars } else { homes };
        ids.push(create(&app, &admin, pb::Promotion { name: format!("Spring {i}"), ..bonus(cohort_id, &format!("SPRING-{i}"), 5.0, 0, 1, 0) }).await.id);
    }
    activate(&app, &admin, ids[0], "active").await;
    promotions(&app).delete_promotion(authed(pb::DeletePromotionRequest { id: ids[0] }, &admin)).await.unwrap();
    activate(&app, &admin, ids[1], "active").await;
    let mut client = promotions(&app);
    let list = |request: pb::ListPromotionsRequest| {
        let mut client = client.clone();
        let admin = admin.clone();
        async move { client.list_promotions(authed(request, &admin)).await.unwrap().into_inner() }
    };

    // Default: everything but archived, newest first, paged.
    let first = list(pb::ListPromotionsRequest { page_size: 4, ..Default::default() }).await;
    assert_eq!(first.total_size, 6);
    assert_eq!(first.promotions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[6], ids[5], ids[4], ids[3]]);
    let second = list(pb::ListPromotionsRequest { page_size: 4, page_token: first.next_page_token.clone(), ..Default::default() }).await;
    assert_eq!(second.promotions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[2], ids[1]]);
    assert!(second.next_page_token.is_empty());
    let archived = list(pb::ListPromotionsRequest { statuses: vec![pb::PromotionStatus::Archived as i32], ..Default::default() }).await;
    assert_eq!(archived.promotions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[0]]);
    let active =
        list(pb::ListPromotionsRequest { statuses: vec![pb::PromotionStatus::Active as i32, pb::PromotionStatus::Paused as i32], ..Default::default() }).await;
    assert_eq!(active.promotions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[1]]);
    let of_homes = list(pb::ListPromotionsRequest { cohort_id: homes, ..Default::default() }).await;
    assert_eq!(of_homes.total_size, count(&app, &format!("SELECT count(*) AS n FROM cdp.promotions WHERE cohort_id = {homes} AND status <> 'archived'")).await);
    assert!(of_homes.promotions.iter().all(|p| p.cohort_name == "Homes"));
    let searched = list(pb::ListPromotionsRequest { search: "spring-4".into(), ..Default::default() }).await;
    assert_eq!(searched.promotions.iter().map(|p| p.id).collect::<Vec<_>>(), vec![ids[4]]);
    let bad = client.list_promotions(authed(pb::ListPromotionsRequest { page_size: -1, ..Default::default() }, &admin)).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn stats_and_redemptions_come_from_the_ledger() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Everyone", 1, 40).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "STATS", 25.0, 30, 2, 10_000)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let secret = redeem_credential(&app, &admin).await;
    let mut service = redemptions(&app);
    for (i, user) in [1, 2, 3, 3, 4, 5, 6, 7].into_iter().enumerate() {
        service
            .redeem_promotion(authed(
                pb::RedeemPromotionRequest { code: "STATS".into(), user_id: user, idempotency_key: format!("s{i}"), ..Default::default() },
                &secret,
            ))
            .await
            .unwrap();
    }
    service
        .revert_redemption(authed(
            pb::RevertRedemptionRequest { target: Some(pb::revert_redemption_request::Target::IdempotencyKey("s0".into())), reason: "order cancelled".into() },
            &secret,
        ))
        .await
        .unwrap();
    // Pretend some of them happened two days ago so that the series has several days.
    fixtures::exec(&app, &format!("UPDATE cdp.promotions SET activated_at = now() - interval '3 days' WHERE id = {}", promotion.id)).await;
    fixtures::exec(
        &app,
        &format!("UPDATE cdp.redemptions SET redeemed_at = now() - interval '2 days' WHERE promotion_id = {} AND user_id IN (4, 5)", promotion.id),
    )
    .await;

    let mut client = promotions(&app);
    let stats =
        client.get_promotion_stats(authed(pb::GetPromotionStatsRequest { promotion_id: promotion.id, interval: 0 }, &admin)).await.unwrap().into_inner();
    let sql = |what: &str| format!("SELECT {what} AS n FROM cdp.redemptions WHERE promotion_id = {} AND status = 'redeemed'", promotion.id);
    assert_eq!(stats.redemptions, count(&app, &sql("count(*)")).await);
    assert_eq!(stats.unique_users, count(&app, &sql("count(DISTINCT user_id)")).await);
    assert_eq!(stats.credits_granted, count(&app, &sql("coalesce(sum(credits), 0)::int8")).await);
    assert_eq!(stats.reverted, 1);
    assert_eq!(stats.audience_size, 40);
    assert_eq!(stats.remaining_budget, Some(10_000 - stats.credits_granted));
    assert_eq!(stats.remaining_redemptions, Some(30 - stats.redemptions));
    assert!((stats.redemption_rate - stats.unique_users as f64 / 40.0).abs() < 1e-9);
    assert_eq!(stats.series.len(), 4, "four days: activation three days ago to today");
    assert_eq!(stats.series.iter().map(|p| p.redemptions).sum::<i64>(), stats.redemptions);
    assert_eq!(stats.series.iter().map(|p| p.credits_granted).sum::<i64>(), stats.credits_granted);
    assert_eq!(stats.series.iter().map(|p| p.reverted).sum::<i64>(), 1);
    assert_eq!(stats.series[1].redemptions, 2, "the two moved two days back");
    // At the last day's pace (5 redemptions), the 30-redemption cap runs out in (30-7)/5 days.
    let expected = (chrono::Utc::now() + chrono::Duration::milliseconds(((30 - stats.redemptions) as f64 / 5.0 * 86_400_000.0) as i64)).date_naive();
    assert_eq!(stats.projected_exhaustion_date, expected.format("%Y-%m-%d").to_string());
    let hourly = client
        .get_promotion_stats(authed(pb::GetPromotionStatsRequest { promotion_id: promotion.id, interval: pb::PromotionStatsInterval::Hour as i32 }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(hourly.series.len() >= 72);
    assert_eq!(hourly.series.iter().map(|p| p.redemptions).sum::<i64>(), stats.redemptions);

    let listed = client
        .list_redemptions(authed(pb::ListRedemptionsRequest { promotion_id: promotion.id, page_size: 5, ..Default::default() }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 8);
    assert_eq!(listed.redemptions.len(), 5);
    assert!(listed.redemptions.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let of_user = client
        .list_redemptions(authed(pb::ListRedemptionsRequest { promotion_id: promotion.id, user_id: 3, ..Default::default() }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(of_user.total_size, 2);
    let reverted = client
        .list_redemptions(authed(
            pb::ListRedemptionsRequest { promotion_id: promotion.id, status: pb::RedemptionStatus::Reverted as i32, ..Default::default() },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reverted.redemptions.len(), 1);
    assert_eq!((reverted.redemptions[0].user_id, reverted.redemptions[0].revert_reason.as_str()), (1, "order cancelled"));
    assert_eq!(reverted.redemptions[0].benefit.as_ref().unwrap().credits, 25);
    let promotion_now = client.get_promotion(authed(pb::GetPromotionRequest { id: promotion.id }, &admin)).await.unwrap().into_inner().promotion.unwrap();
    assert_eq!((promotion_now.redeemed_count, promotion_now.credits_granted), (stats.redemptions, stats.credits_granted));
}

#[tokio::test]
async fn estimates_say_when_there_is_no_history_use_it_when_there_is_and_list_conflicts() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let target = cohort(&app, "Target", 1, 100).await;
    let client = promotions(&app);
    let estimate = |promotion: pb::Promotion| {
        let mut client = client.clone();
        let admin = admin.clone();
        async move { client.estimate_promotion(authed(pb::EstimatePromotionRequest { promotion: Some(promotion) }, &admin)).await.unwrap().into_inner() }
    };
    let none = estimate(bonus(target, "", 20.0, 0, 1, 0)).await;
    assert_eq!(none.audience_size, 100);
    assert!(!none.has_history);
    assert_eq!((none.expected_redemption_rate, none.expected_redemptions, none.expected_credits), (None, None, None));
    assert!(none.explanation.contains("no history"), "{}", none.explanation);

    // History: an ended bonus promotion over 50 users of which 10 redeemed (12 redemptions).
    let past_cohort = cohort(&app, "Past", 1, 50).await;
    let past = create(&app, &admin, bonus(past_cohort, "PAST", 20.0, 0, 2, 0)).await;
    activate(&app, &admin, past.id, "active").await;
    let secret = redeem_credential(&app, &admin).await;
    for (i, user) in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2].into_iter().enumerate() {
        redemptions(&app)
            .redeem_promotion(authed(
                pb::RedeemPromotionRequest { code: "PAST".into(), user_id: user, idempotency_key: format!("p{i}"), ..Default::default() },
                &secret,
            ))
            .await
            .unwrap();
    }
    promotions(&app).delete_promotion(authed(pb::DeletePromotionRequest { id: past.id }, &admin)).await.unwrap();
    // A running promotion over users 81-130 overlaps the target on 81-100.
    let running_cohort = cohort(&app, "Running", 81, 130).await;
    let running = create(&app, &admin, bonus(running_cohort, "NOW-ON", 5.0, 0, 1, 0)).await;
    activate(&app, &admin, running.id, "active").await;

    let with_history = estimate(bonus(target, "", 20.0, 15, 1, 250)).await;
    assert!(with_history.has_history);
    assert_eq!(with_history.similar_promotions, 1);
    let rate = 10.0 / 50.0;
    assert!((with_history.expected_redemption_rate.unwrap() - rate).abs() < 1e-9);
    // 100 × 20% × 1.2 redemptions per redeemer = 24, capped by the total cap of 15; 15 × 20
    // credits = 300, capped by the 250-credit budget.
    assert_eq!(with_history.expected_redemptions, Some(15));
    assert_eq!(with_history.expected_credits, Some(250));
    assert!(with_history.explanation.contains("capped"), "{}", with_history.explanation);
    assert_eq!(with_history.conflicts.len(), 1);
    let conflict = &with_history.conflicts[0];
    assert_eq!((conflict.promotion_id, conflict.overlapping_users, conflict.window_overlaps), (running.id, 20, true));
    assert_eq!(conflict.status(), pb::PromotionStatus::Active);
    // Another type has no history.
    let other = estimate(pb::Promotion { r#type: pb::PromotionType::FreeListingDays as i32, value: 3.0, ..bonus(target, "", 0.0, 0, 1, 0) }).await;
    assert!(!other.has_history);
    let unknown = promotions(&app)
        .estimate_promotion(authed(pb::EstimatePromotionRequest { promotion: Some(bonus(999_999, "", 5.0, 0, 1, 0)) }, &admin))
        .await
        .unwrap_err();
    assert_eq!(reason(&unknown), "COHORT_NOT_FOUND");
}
