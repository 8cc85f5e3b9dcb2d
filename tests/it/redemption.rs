//! RedemptionService under concurrency, on the real PostgreSQL and Redis: caps, per-user caps
//! and budgets hold when many clients race; idempotency keys count once even in parallel;
//! reverts give uses back exactly once; refusals carry their reason; only redemption-scoped
//! service credentials get in.

use crate::promotions::{RunningWorker, activate, bonus, cohort, count, create, keyspace, reason, redeem_credential, redemptions, redis};
use cdp_proto::cdp::v1 as pb;
use cdp_tests::{TestApp, authed, fixtures};
use redis::AsyncCommands;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tonic::Code;
use tonic_types::StatusExt;

fn redeem(code: &str, user_id: i64, key: &str) -> pb::RedeemPromotionRequest {
    pb::RedeemPromotionRequest { code: code.into(), user_id, idempotency_key: key.into(), order_reference: format!("order-{key}"), order_credits: None }
}

/// Redis counters of a promotion: (used, budget, per-user counts).
async fn redis_counters(app: &TestApp, promotion_id: i64) -> (i64, i64, HashMap<String, i64>) {
    let mut redis = redis(app).await;
    let keys = keyspace(app).promotion(promotion_id);
    let used: Option<i64> = redis.get(&keys.used).await.unwrap();
    let budget: Option<i64> = redis.get(&keys.budget).await.unwrap();
    let users: HashMap<String, i64> = redis.hgetall(&keys.user_counts).await.unwrap();
    (used.unwrap_or(0), budget.unwrap_or(0), users.into_iter().filter(|(_, n)| *n != 0).collect())
}

/// The same counters computed independently from the ledger.
async fn ledger_counters(app: &TestApp, promotion_id: i64) -> (i64, i64, HashMap<String, i64>) {
    #[derive(diesel::QueryableByName)]
    struct Use {
        #[diesel(sql_type = diesel::sql_types::Text)]
        user_id: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        credits: i64,
    }
    let mut conn = app.db.conn().await;
    let uses: Vec<Use> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT user_id::text, count(*) AS n, sum(credits)::int8 AS credits FROM cdp.redemptions WHERE promotion_id = $1 AND status = 'redeemed' GROUP BY user_id")
            .bind::<diesel::sql_types::BigInt, _>(promotion_id),
        &mut conn,
    )
    .await
    .unwrap();
    (uses.iter().map(|u| u.n).sum(), uses.iter().map(|u| u.credits).sum(), uses.into_iter().map(|u| (u.user_id, u.n)).collect())
}

async fn assert_counters_match_ledger(app: &TestApp, promotion_id: i64) {
    let ledger = ledger_counters(app, promotion_id).await;
    assert_eq!(redis_counters(app, promotion_id).await, ledger, "Redis counters equal the ledger");
    let row = count(
        app,
        &format!("SELECT count(*) AS n FROM cdp.promotions WHERE id = {promotion_id} AND redeemed_count = {} AND credits_granted = {}", ledger.0, ledger.1),
    )
    .await;
    assert_eq!(row, 1, "the promotion row's counters equal the ledger");
}

#[tokio::test]
async fn sixty_four_clients_racing_for_a_cap_of_100_get_exactly_100() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Everyone", 1, 2000).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "RACE-100", 10.0, 100, 1, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let secret = Arc::new(redeem_credential(&app, &admin).await);

    let mut clients = Vec::new();
    for client in 0..64i64 {
        let mut service = redemptions(&app);
        let secret = secret.clone();
        clients.push(tokio::spawn(async move {
            let (mut granted, mut exhausted) = (Vec::new(), 0);
            for attempt in 0..5i64 {
                let user = client * 5 + attempt + 1; // every attempt a different user
                match service.redeem_promotion(authed(redeem("race-100", user, &format!("c{client}-a{attempt}")), &secret)).await {
                    Ok(ok) => granted.push(ok.into_inner().redemption_id),
                    Err(status) if reason(&status) == "EXHAUSTED" => exhausted += 1,
                    Err(status) => panic!("unexpected answer: {status:?}"),
                }
            }
            (granted, exhausted)
        }));
    }
    let (mut granted, mut exhausted) = (Vec::new(), 0);
    for client in clients {
        let (ids, refused) = client.await.unwrap();
        granted.extend(ids);
        exhausted += refused;
    }
    assert_eq!(granted.len(), 100, "exactly the cap is granted");
    assert_eq!(exhausted, 64 * 5 - 100);
    granted.sort();
    granted.dedup();
    assert_eq!(granted.len(), 100, "every success has its own ledger row");
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {}", promotion.id)).await, 100);
    assert_counters_match_ledger(&app, promotion.id).await;
}

#[tokio::test]
async fn per_user_caps_and_the_credit_budget_hold_under_the_same_race() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Ten users", 1, 10).await;
    // Ten users, two uses each, but only 25 bonuses of 40 credits fit the budget of 1,000.
    let promotion = create(&app, &admin, bonus(cohort_id, "TWICE", 40.0, 0, 2, 1_000)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let secret = Arc::new(redeem_credential(&app, &admin).await);
    let per_user = create(&app, &admin, bonus(cohort_id, "PER-USER", 5.0, 0, 3, 0)).await;
    activate(&app, &admin, per_user.id, "active").await;

    let mut clients = Vec::new();
    for client in 0..64i64 {
        let mut service = redemptions(&app);
        let secret = secret.clone();
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for attempt in 0..3i64 {
                let user = (client + attempt) % 10 + 1;
                for code in ["twice", "per-user"] {
                    let answer = service.redeem_promotion(authed(redeem(code, user, &format!("{code}-{client}-{attempt}")), &secret)).await;
                    answers.push((code, answer.map(|_| ()).map_err(|status| reason(&status))));
                }
            }
            answers
        }));
    }
    let mut outcomes: HashMap<(&str, Result<(), String>), i64> = HashMap::new();
    for client in clients {
        for answer in client.await.unwrap() {
            *outcomes.entry(answer).or_default() += 1;
        }
    }
    // 10 users × 2 uses = 20 redemptions fit the per-user cap, and 20 × 40 ≤ 1,000: the per-user cap binds.
    assert_eq!(outcomes.get(&("twice", Ok(()))), Some(&20), "{outcomes:?}");
    assert_eq!(outcomes.get(&("per-user", Ok(()))), Some(&30), "{outcomes:?}");
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM (SELECT user_id FROM cdp.redemptions WHERE promotion_id = {} GROUP BY user_id HAVING count(*) > 2) over_cap",
                promotion.id
            )
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM (SELECT user_id FROM cdp.redemptions WHERE promotion_id = {} GROUP BY user_id HAVING count(*) > 3) over_cap",
                per_user.id
            )
        )
        .await,
        0
    );
    assert_counters_match_ledger(&app, promotion.id).await;
    assert_counters_match_ledger(&app, per_user.id).await;

    // The budget binds when the per-user cap does not: 64 racing users, room for 25.
    let crowd = cohort(&app, "Crowd", 100, 163).await;
    let budgeted = create(&app, &admin, bonus(crowd, "BUDGET-1000", 40.0, 0, 1, 1_000)).await;
    activate(&app, &admin, budgeted.id, "active").await;
    let mut clients = Vec::new();
    for client in 0..64i64 {
        let mut service = redemptions(&app);
        let secret = secret.clone();
        clients.push(tokio::spawn(async move {
            service.redeem_promotion(authed(redeem("budget-1000", 100 + client, &format!("b-{client}")), &secret)).await.map(|_| ()).map_err(|s| reason(&s))
        }));
    }
    let mut granted = 0;
    for client in clients {
        match client.await.unwrap() {
            Ok(()) => granted += 1,
            Err(reason) => assert!(reason == "BUDGET_EXHAUSTED" || reason == "NOT_ACTIVE", "{reason}"),
        }
    }
    assert_eq!(granted, 25, "1,000 credits pay exactly 25 bonuses of 40");
    assert_eq!(count(&app, &format!("SELECT coalesce(sum(credits), 0)::int8 AS n FROM cdp.redemptions WHERE promotion_id = {}", budgeted.id)).await, 1_000);
    // It paused itself, said why, and told consumers.
    crate::promotions::eventually(Duration::from_secs(10), "the promotion pauses itself", || async {
        count(
            &app,
            &format!("SELECT count(*) AS n FROM cdp.promotions WHERE id = {} AND status = 'paused' AND status_reason = 'credit budget exhausted'", budgeted.id),
        )
        .await
            == 1
    })
    .await;
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'promotion.deactivate' AND actor_kind = 'system' AND resource_id = '{}'",
                budgeted.id
            )
        )
        .await,
        1
    );
    crate::promotions::eventually(Duration::from_secs(10), "Redis says paused", || async {
        crate::promotions::redis_status(&app, budgeted.id).await.as_deref() == Some("paused")
    })
    .await;
    assert_counters_match_ledger(&app, budgeted.id).await;
}

#[tokio::test]
async fn parallel_retries_of_one_idempotency_key_count_once() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Some users", 1, 100).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "ONCE-ONLY", 25.0, 0, 5, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let secret = Arc::new(redeem_credential(&app, &admin).await);

    let mut retries = Vec::new();
    for _ in 0..32 {
        let mut service = redemptions(&app);
        let secret = secret.clone();
        retries
            .push(tokio::spawn(async move { service.redeem_promotion(authed(redeem("once-only", 7, "order-7781"), &secret)).await.map(|r| r.into_inner()) }));
    }
    let mut answers = Vec::new();
    for retry in retries {
        answers.push(retry.await.unwrap().expect("every retry gets the redemption"));
    }
    let first = answers[0].redemption_id;
    assert!(answers.iter().all(|a| a.redemption_id == first && a.promotion_id == promotion.id));
    assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1, "one call made it, the others replayed it");
    assert!(answers.iter().all(|a| a.benefit.as_ref().unwrap().credits == 25));
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {}", promotion.id)).await, 1);
    assert_counters_match_ledger(&app, promotion.id).await;

    // The same key with other inputs is refused; another credential has its own keys.
    let mut service = redemptions(&app);
    let mismatch = service.redeem_promotion(authed(redeem("once-only", 8, "order-7781"), &secret)).await.unwrap_err();
    assert_eq!((mismatch.code(), reason(&mismatch).as_str()), (Code::InvalidArgument, "IDEMPOTENCY_KEY_MISMATCH"));
    let other = redeem_credential(&app, &admin).await;
    let theirs = service.redeem_promotion(authed(redeem("once-only", 7, "order-7781"), &other)).await.unwrap().into_inner();
    assert!(!theirs.replayed);
    assert_ne!(theirs.redemption_id, first);
    assert_eq!(theirs.per_user_remaining, 3, "five per user, two used");
    assert_counters_match_ledger(&app, promotion.id).await;
}

#[tokio::test]
async fn redemptions_and_reverts_racing_leave_the_counters_equal_to_the_ledger() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Buyers", 1, 40).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "CANCEL-ME", 15.0, 60, 2, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let secret = Arc::new(redeem_credential(&app, &admin).await);

    let mut clients = Vec::new();
    for client in 0..32i64 {
        let mut service = redemptions(&app);
        let secret = secret.clone();
        clients.push(tokio::spawn(async move {
            let mut reverted = 0;
            for attempt in 0..8i64 {
                let user = (client * 3 + attempt) % 40 + 1;
                let key = format!("k-{client}-{attempt}");
                if let Ok(ok) = service.redeem_promotion(authed(redeem("cancel-me", user, &key), &secret)).await
                    && attempt % 2 == 0
                {
                    // The order is cancelled: revert, by id or by key, and twice for good measure.
                    let target = if client % 2 == 0 {
                        pb::revert_redemption_request::Target::RedemptionId(ok.into_inner().redemption_id)
                    } else {
                        pb::revert_redemption_request::Target::IdempotencyKey(key.clone())
                    };
                    for _ in 0..2 {
                        let request = pb::RevertRedemptionRequest { target: Some(target.clone()), reason: "order cancelled".into() };
                        let reverted_one = service.revert_redemption(authed(request, &secret)).await.unwrap().into_inner().redemption.unwrap();
                        assert_eq!(reverted_one.status(), pb::RedemptionStatus::Reverted);
                    }
                    reverted += 1;
                }
            }
            reverted
        }));
    }
    let mut reverted = 0;
    for client in clients {
        reverted += client.await.unwrap();
    }
    assert!(reverted > 0);
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {} AND status = 'reverted'", promotion.id)).await,
        reverted
    );
    let kept = count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {} AND status = 'redeemed'", promotion.id)).await;
    assert!(kept > 0 && kept <= 60, "{kept} redemptions kept under a cap of 60");
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM (SELECT 1 FROM cdp.redemptions WHERE promotion_id = {} AND status = 'redeemed' GROUP BY user_id HAVING count(*) > 2) x", promotion.id)).await, 0);
    assert_counters_match_ledger(&app, promotion.id).await;

    // Unknown, or another credential's: not found.
    let other = redeem_credential(&app, &admin).await;
    let someone_elses = count(&app, &format!("SELECT min(id) AS n FROM cdp.redemptions WHERE promotion_id = {}", promotion.id)).await;
    for (target, token) in [(someone_elses, other.as_str()), (999_999, secret.as_str())] {
        let request = pb::RevertRedemptionRequest { target: Some(pb::revert_redemption_request::Target::RedemptionId(target)), reason: String::new() };
        let missing = redemptions(&app).revert_redemption(authed(request, token)).await.unwrap_err();
        assert_eq!((missing.code(), reason(&missing).as_str()), (Code::NotFound, "REDEMPTION_NOT_FOUND"));
    }
}

#[tokio::test]
async fn refusals_say_why_and_validation_answers_without_redeeming() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Users 1-5", 1, 5).await;
    let secret = redeem_credential(&app, &admin).await;
    let mut service = redemptions(&app);

    let one = create(&app, &admin, bonus(cohort_id, "ONE-SHOT", 30.0, 1, 1, 0)).await;
    activate(&app, &admin, one.id, "active").await;
    let discount = create(
        &app,
        &admin,
        pb::Promotion { r#type: pb::PromotionType::CreditDiscountPercent as i32, value: 20.0, ..bonus(cohort_id, "TWENTY-OFF", 0.0, 0, 5, 100) },
    )
    .await;
    activate(&app, &admin, discount.id, "active").await;
    let future = chrono::Utc::now() + chrono::Duration::hours(2);
    let later =
        create(&app, &admin, pb::Promotion { starts_at: Some(cdp_server::convert::timestamp(future)), ..bonus(cohort_id, "LATER", 5.0, 0, 1, 0) }).await;
    activate(&app, &admin, later.id, "scheduled").await;
    let paused = create(&app, &admin, bonus(cohort_id, "PAUSED-ONE", 5.0, 0, 1, 0)).await;
    activate(&app, &admin, paused.id, "active").await;
    crate::promotions::promotions(&app)
        .deactivate_promotion(authed(pb::DeactivatePromotionRequest { id: paused.id, reason: "checking the budget".into() }, &admin))
        .await
        .unwrap();
    let draft = create(&app, &admin, bonus(cohort_id, "DRAFT-ONE", 5.0, 0, 1, 0)).await;

    // Validation first: no side effect.
    let validate = |code: &str, user_id: i64, order_credits: Option<i64>| pb::ValidatePromotionRequest { code: code.into(), user_id, order_credits };
    let ok = service.validate_promotion(authed(validate("one-shot", 1, None), &secret)).await.unwrap().into_inner();
    assert!(ok.eligible);
    assert_eq!((ok.promotion_id, ok.per_user_remaining, ok.benefit.unwrap().credits), (one.id, 1, 30));
    let priced = service.validate_promotion(authed(validate("twenty-off", 1, Some(199)), &secret)).await.unwrap().into_inner();
    assert_eq!(priced.benefit.unwrap().credits, 39, "20% of 199, rounded down");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.redemptions").await, 0, "validation redeems nothing");

    service.redeem_promotion(authed(redeem("one-shot", 1, "first"), &secret)).await.unwrap();
    crate::promotions::eventually(Duration::from_secs(10), "PAUSED-ONE is paused in Redis", || async {
        crate::promotions::redis_status(&app, paused.id).await.as_deref() == Some("paused")
    })
    .await;
    for (code, user, expected_code, expected_reason, promotion_id) in [
        ("NO-SUCH-CODE", 1, Code::NotFound, "NOT_FOUND", 0),
        ("one-shot", 1, Code::FailedPrecondition, "ALREADY_REDEEMED", one.id),
        ("one-shot", 2, Code::FailedPrecondition, "EXHAUSTED", one.id),
        ("twenty-off", 77, Code::FailedPrecondition, "NOT_ELIGIBLE", discount.id),
        ("later", 1, Code::FailedPrecondition, "NOT_STARTED", later.id),
        ("paused-one", 1, Code::FailedPrecondition, "NOT_ACTIVE", paused.id),
        ("draft-one", 1, Code::FailedPrecondition, "NOT_ACTIVE", draft.id),
    ] {
        let request = pb::RedeemPromotionRequest { order_credits: Some(10), ..redeem(code, user, &format!("{code}-{user}")) };
        let refused = service.redeem_promotion(authed(request, &secret)).await.unwrap_err();
        assert_eq!((refused.code(), reason(&refused).as_str()), (expected_code, expected_reason), "{code} for user {user}: {refused:?}");
        let metadata = refused.get_error_details().error_info().map(|i| i.metadata.clone()).unwrap_or_default();
        assert_eq!(metadata.get("promotion_id").cloned(), (promotion_id > 0).then(|| promotion_id.to_string()), "{code}");
        let validated = service.validate_promotion(authed(validate(code, user, Some(10)), &secret)).await.unwrap().into_inner();
        assert!(!validated.eligible);
        assert_eq!(validated.reason().as_str_name(), format!("INELIGIBILITY_REASON_{expected_reason}"), "{code}");
    }
    // A discount needs the order's credits; its budget then bounds the discount.
    let missing = service.redeem_promotion(authed(redeem("twenty-off", 1, "no-order"), &secret)).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    let too_big = service
        .redeem_promotion(authed(pb::RedeemPromotionRequest { order_credits: Some(1_000), ..redeem("twenty-off", 1, "big-order") }, &secret))
        .await
        .unwrap_err();
    assert_eq!(reason(&too_big), "BUDGET_EXHAUSTED", "200 credits of discount do not fit a 100-credit budget");
    let fits = service
        .redeem_promotion(authed(pb::RedeemPromotionRequest { order_credits: Some(450), ..redeem("twenty-off", 1, "small-order") }, &secret))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fits.benefit.unwrap().credits, 90);
    for (field, request) in [
        ("user_id", redeem("one-shot", 0, "k")),
        ("idempotency_key", redeem("one-shot", 1, "")),
        ("code", redeem("  ", 1, "k")),
        ("order_credits", pb::RedeemPromotionRequest { order_credits: Some(-5), ..redeem("twenty-off", 1, "k2") }),
    ] {
        let invalid = service.redeem_promotion(authed(request, &secret)).await.unwrap_err();
        assert_eq!(invalid.code(), Code::InvalidArgument, "{field}");
        assert_eq!(invalid.get_error_details().bad_request().unwrap().field_violations[0].field, field);
    }
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.redemptions").await, 2);

    // A user suspended in the CDP gets nothing, whatever Redis says.
    fixtures::exec(&app, "INSERT INTO cdp.user_attributes (user_id, account_status) VALUES (5, 'suspended')").await;
    let suspended = service
        .redeem_promotion(authed(pb::RedeemPromotionRequest { order_credits: Some(10), ..redeem("twenty-off", 5, "suspended") }, &secret))
        .await
        .unwrap_err();
    assert_eq!(reason(&suspended), "NOT_ELIGIBLE");
    let validated = service.validate_promotion(authed(validate("twenty-off", 5, Some(10)), &secret)).await.unwrap().into_inner();
    assert_eq!(validated.reason(), pb::IneligibilityReason::NotEligible);
    let listed = service.list_user_promotions(authed(pb::ListUserPromotionsRequest { user_id: 5 }, &secret)).await.unwrap().into_inner();
    assert!(listed.promotions.is_empty());
    assert!(service.validate_promotion(authed(validate("twenty-off", 4, Some(10)), &secret)).await.unwrap().into_inner().eligible);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.redemptions").await, 2);
    assert_counters_match_ledger(&app, discount.id).await;
}

#[tokio::test]
async fn redemption_needs_a_credential_scoped_to_it() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Users", 1, 5).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "SCOPED", 5.0, 0, 1, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let mut service = redemptions(&app);

    let user_token = service.redeem_promotion(authed(redeem("scoped", 1, "a"), &admin)).await.unwrap_err();
    assert_eq!(user_token.code(), Code::PermissionDenied, "a platform user's token never redeems");
    let mut credentials = cdp_proto::cdp::v1::service_credential_service_client::ServiceCredentialServiceClient::new(app.channel.clone());
    let reader = credentials
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "reporting".into(), scopes: vec!["promotions.read".into()] }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(service.redeem_promotion(authed(redeem("scoped", 1, "b"), &reader.secret)).await.unwrap_err().code(), Code::PermissionDenied);

    let redeemer = credentials
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "orders".into(), scopes: vec!["promotions.redeem".into()] }, &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(service.redeem_promotion(authed(redeem("scoped", 1, "c"), &redeemer.secret)).await.is_ok());
    let id = redeemer.service_credential.unwrap().id;
    credentials.revoke_service_credential(authed(pb::RevokeServiceCredentialRequest { id }, &admin)).await.unwrap();
    let revoked = service.redeem_promotion(authed(redeem("scoped", 2, "d"), &redeemer.secret)).await.unwrap_err();
    assert_eq!(revoked.code(), Code::Unauthenticated, "revoked: refused on the next call");
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.redemptions").await, 1);
}

#[tokio::test]
async fn unique_codes_belong_to_their_user_and_users_list_what_they_can_redeem() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "VIP sellers", 1, 20).await;
    let unique = create(
        &app,
        &admin,
        pb::Promotion {
            r#type: pb::PromotionType::FreeAddon as i32,
            value: 3.0,
            addon: "vip".into(),
            code_mode: pb::CodeMode::UniquePerUser as i32,
            ..bonus(cohort_id, "", 0.0, 0, 2, 0)
        },
    )
    .await;
    assert_eq!(unique.code, "");
    activate(&app, &admin, unique.id, "active").await;
    let shared = create(&app, &admin, bonus(cohort_id, "EVERYONE", 10.0, 0, 1, 0)).await;
    activate(&app, &admin, shared.id, "active").await;
    let secret = redeem_credential(&app, &admin).await;
    let mut service = redemptions(&app);

    let listed = service.list_user_promotions(authed(pb::ListUserPromotionsRequest { user_id: 3 }, &secret)).await.unwrap().into_inner().promotions;
    assert_eq!(listed.len(), 2);
    let own = listed.iter().find(|p| p.promotion_id == unique.id).unwrap();
    assert_eq!(own.code.len(), 16);
    assert_eq!(own.per_user_remaining, 2);
    assert_eq!(own.benefit.as_ref().unwrap().addon, "vip");
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM cdp.promotion_audience WHERE promotion_id = {} AND user_id = 3 AND code = '{}'", unique.id, own.code))
            .await,
        1
    );
    // Codes are in Redis for consumers too.
    let mut redis = redis(&app).await;
    let in_redis: Option<String> = redis.hget(keyspace(&app).promotion(unique.id).codes, 3).await.unwrap();
    assert_eq!(in_redis.as_deref(), Some(own.code.as_str()));

    let stolen = service.redeem_promotion(authed(redeem(&own.code, 4, "stolen"), &secret)).await.unwrap_err();
    assert_eq!(reason(&stolen), "NOT_ELIGIBLE", "a unique code is its user's only");
    let mine = service.redeem_promotion(authed(redeem(&own.code.to_lowercase(), 3, "mine"), &secret)).await.unwrap().into_inner();
    assert_eq!((mine.promotion_id, mine.per_user_remaining), (unique.id, 1));
    service.redeem_promotion(authed(redeem("everyone", 3, "shared"), &secret)).await.unwrap();

    let listed = service.list_user_promotions(authed(pb::ListUserPromotionsRequest { user_id: 3 }, &secret)).await.unwrap().into_inner().promotions;
    assert_eq!(listed.iter().map(|p| (p.promotion_id, p.per_user_remaining)).collect::<Vec<_>>(), vec![(unique.id, 1)], "the shared one is used up");
    let outsider = service.list_user_promotions(authed(pb::ListUserPromotionsRequest { user_id: 999 }, &secret)).await.unwrap().into_inner().promotions;
    assert!(outsider.is_empty());
}

#[tokio::test]
async fn the_example_internal_consumer_redeems_retries_and_cancels_with_the_stubs_alone() {
    use cdp_redeem_client::{Outcome, Redeemer};
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Checkout", 1, 10).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "CHECKOUT", 50.0, 1, 1, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let redeemer = Redeemer::new(app.channel.clone(), redeem_credential(&app, &admin).await);

    let granted = redeemer.redeem("checkout", 4, "A-1001", None).await.unwrap();
    let Outcome::Granted { redemption_id, benefit, replayed: false } = granted else { panic!("{granted:?}") };
    assert_eq!(benefit.credits, 50);
    // The checkout retries after a timeout: the same order gets the same redemption.
    assert_eq!(redeemer.redeem("checkout", 4, "A-1001", None).await.unwrap(), Outcome::Granted { redemption_id, benefit, replayed: true });
    assert_eq!(redeemer.redeem("checkout", 5, "A-1002", None).await.unwrap(), Outcome::Refused { reason: "EXHAUSTED".into() });
    // The first order is cancelled: its use comes back and the next buyer gets it.
    assert_eq!(redeemer.cancel("A-1001").await.unwrap().status(), pb::RedemptionStatus::Reverted);
    assert!(matches!(redeemer.redeem("checkout", 5, "A-1003", None).await.unwrap(), Outcome::Granted { replayed: false, .. }));
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {} AND status = 'redeemed'", promotion.id)).await, 1);
    assert_counters_match_ledger(&app, promotion.id).await;
}

#[tokio::test]
async fn a_key_held_by_a_crashed_servers_reservation_is_released_and_the_retry_succeeds() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Users", 1, 10).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "CRASHED", 10.0, 5, 1, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let created = cdp_proto::cdp::v1::service_credential_service_client::ServiceCredentialServiceClient::new(app.channel.clone())
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "orders".into(), scopes: vec!["promotions.redeem".into()] }, &admin))
        .await
        .unwrap()
        .into_inner();
    let credential: uuid::Uuid = created.service_credential.unwrap().id.parse().unwrap();
    // A server reserved user 3's redemption under this key two minutes ago, then died.
    let mut redis = redis(&app).await;
    let keys = keyspace(&app).promotion(promotion.id);
    let two_minutes_ago = chrono::Utc::now().timestamp_millis() - 120_000;
    let field = cdp_server::activation::scripts::idempotency_field(&credential, "order-9");
    let held = cdp_server::activation::scripts::reserve(&mut redis, &keys, cdp_server::activation::scripts::Mode::Redeem, two_minutes_ago, 3, &field, None)
        .await
        .unwrap();
    assert!(matches!(held, cdp_server::activation::scripts::Reservation::Granted { .. }));

    // The client retries the same key: it is answered (not left waiting on a dead reservation),
    // and the dead reservation's use was given back.
    let retried = redemptions(&app).redeem_promotion(authed(redeem("crashed", 3, "order-9"), &created.secret)).await.unwrap().into_inner();
    assert!(!retried.replayed);
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {}", promotion.id)).await, 1);
    assert_eq!(count(&app, "SELECT count(*) AS n FROM cdp.promotion_reconciliation_runs WHERE promotions_drifted = 1").await, 1);
    assert_counters_match_ledger(&app, promotion.id).await;
}

#[tokio::test]
async fn a_revocation_made_on_one_server_reaches_the_credential_cache_of_another() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Users", 1, 10).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "TWO-SERVERS", 10.0, 0, 1, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    // A second server on the same database and Redis.
    let env = cdp_tests::test_env(&app.db);
    let mut env = env;
    env.insert("CDP_REDIS_KEY_PREFIX".into(), app.app.config.redis_key_prefix.clone());
    let config = cdp_server::config::Config::from_lookup(|key| env.get(key).cloned()).unwrap();
    let other = cdp_server::app::App::build(config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(cdp_server::server::serve(other, listener, shutdown.clone()));
    let _stop = shutdown.drop_guard();
    let channel = tonic::transport::Channel::from_shared(format!("http://{address}")).unwrap().connect_lazy();
    let mut there = pb::redemption_service_client::RedemptionServiceClient::new(channel);

    let mut credentials = cdp_proto::cdp::v1::service_credential_service_client::ServiceCredentialServiceClient::new(app.channel.clone());
    let created = credentials
        .create_service_credential(authed(pb::CreateServiceCredentialRequest { name: "orders".into(), scopes: vec!["promotions.redeem".into()] }, &admin))
        .await
        .unwrap()
        .into_inner();
    let check = || pb::ValidatePromotionRequest { code: "TWO-SERVERS".into(), user_id: 1, order_credits: None };
    for _ in 0..20 {
        assert!(there.validate_promotion(authed(check(), &created.secret)).await.unwrap().into_inner().eligible);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    credentials.revoke_service_credential(authed(pb::RevokeServiceCredentialRequest { id: created.service_credential.unwrap().id }, &admin)).await.unwrap();
    // The other server hears of it through Redis within moments, not after its cache's TTL.
    // (The cache keeps an entry for 10 s; waiting at most 5 s proves the announcement did it.)
    crate::promotions::eventually(Duration::from_secs(5), "the other server refuses the revoked credential", || async {
        there.clone().validate_promotion(authed(check(), &created.secret)).await.is_err_and(|s| s.code() == Code::Unauthenticated)
    })
    .await;
}
