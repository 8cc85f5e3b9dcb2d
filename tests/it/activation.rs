//! The activation engine on real Redis: what activation publishes (state, eligibility bitmap,
//! codes, events), scheduled starts and expiries on time, and the faults: a worker killed in
//! the middle of an activation, Redis flushed or restarted while clients race, drift injected
//! into the counters, reservations a crashed server left behind, live audiences.

use crate::promotions::{
    RunningWorker, activate, bonus, cohort, count, create, eventually, keyspace, promotions, reason, redeem_credential, redemptions, redis, redis_status,
};
use cdp_proto::cdp::v1 as pb;
use cdp_server::activation::{events::Event, scripts};
use cdp_tests::{TestApp, TestDb, authed, fixtures, test_env};
use futures::StreamExt;
use redis::AsyncCommands;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tonic::Code;

/// Subscribes to the promotion events channel and collects what arrives.
async fn subscribe(app: &TestApp) -> tokio::sync::mpsc::UnboundedReceiver<Event> {
    let client = redis::Client::open(app.app.config.redis_url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(keyspace(app).events_channel()).await.unwrap();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let payload: String = message.get_payload().unwrap();
            let _ = sender.send(serde_json::from_str::<Event>(&payload).expect("events are JSON as documented"));
        }
    });
    receiver
}

async fn next_event(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>, promotion_id: i64, kind: &str) -> Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv()).await.unwrap_or_else(|_| panic!("no {kind} event for promotion {promotion_id}")).unwrap();
        if event.promotion_id == promotion_id && event.event.as_str() == kind {
            return event;
        }
    }
}

async fn bit_count(app: &TestApp, key: &str) -> i64 {
    let mut redis = redis(app).await;
    redis::cmd("BITCOUNT").arg(key).query_async(&mut redis).await.unwrap()
}

#[tokio::test]
async fn activation_publishes_state_eligibility_and_an_event_that_late_subscribers_can_do_without() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Car dealers", 1_000, 1_249).await;
    let mut events = subscribe(&app).await;
    let promotion =
        create(&app, &admin, pb::Promotion { ttl: Some(prost_types::Duration { seconds: 3600, nanos: 0 }), ..bonus(cohort_id, "DEALERS", 20.0, 500, 1, 0) })
            .await;
    let activated = activate(&app, &admin, promotion.id, "active").await;
    assert_eq!(activated.status(), pb::PromotionStatus::Active);
    assert_eq!(activated.audience_size, 250);
    let event = next_event(&mut events, promotion.id, "activated").await;
    assert_eq!(event.status, "active");

    // A consumer connecting after the event reads the current state from the keys.
    let mut redis = redis(&app).await;
    let keys = keyspace(&app).promotion(promotion.id);
    let state: HashMap<String, String> = redis.hgetall(&keys.state).await.unwrap();
    assert_eq!(state["status"], "active");
    assert_eq!(state["code"], "DEALERS");
    assert_eq!(state["generation"], event.generation.to_string());
    assert_eq!(state["total_cap"], "500");
    assert_eq!(state["audience_size"], "250");
    assert_eq!(bit_count(&app, &keys.eligible).await, 250, "one bit per member of the cohort");
    let member: i64 = redis.getbit(&keys.eligible, 1_100).await.unwrap();
    let outsider: i64 = redis.getbit(&keys.eligible, 999).await.unwrap();
    assert_eq!((member, outsider), (1, 0));
    let published: bool = redis.sismember(keyspace(&app).published_index(), promotion.id).await.unwrap();
    assert!(published);
    let by_code: Option<i64> = redis.hget(keyspace(&app).shared_codes(), "DEALERS").await.unwrap();
    assert_eq!(by_code, Some(promotion.id));
    // The keys expire with the promotion (its TTL set ends_at an hour after activation).
    let ends_at_ms: i64 = state["ends_at_ms"].parse().unwrap();
    let expires: i64 = redis::cmd("PEXPIRETIME").arg(&keys.state).query_async(&mut redis).await.unwrap();
    assert_eq!(expires, ends_at_ms);
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM cdp.promotions WHERE id = {} AND ends_at = activated_at + interval '1 hour'", promotion.id)).await,
        1
    );
    // The audience was frozen in PostgreSQL: a later change of the cohort does not move it.
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.promotion_audience WHERE promotion_id = {}", promotion.id)).await, 250);
    fixtures::exec(&app, &format!("DELETE FROM cdp.cohort_members WHERE cohort_id = {cohort_id} AND user_id < 1100")).await;
    assert_eq!(count(&app, &format!("SELECT count(*) AS n FROM cdp.promotion_audience WHERE promotion_id = {}", promotion.id)).await, 250);

    // Deactivation stops redemptions and is announced; reactivation brings them back.
    let secret = redeem_credential(&app, &admin).await;
    promotions(&app).deactivate_promotion(authed(pb::DeactivatePromotionRequest { id: promotion.id, reason: "fraud check".into() }, &admin)).await.unwrap();
    let stopped = redemptions(&app)
        .redeem_promotion(authed(
            pb::RedeemPromotionRequest { code: "DEALERS".into(), user_id: 1_001, idempotency_key: "k1".into(), ..Default::default() },
            &secret,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&stopped), "NOT_ACTIVE", "redemptions stop at once");
    let event = next_event(&mut events, promotion.id, "deactivated").await;
    assert_eq!((event.status.as_str(), event.reason.as_str()), ("paused", "fraud check"));
    assert_eq!(redis_status(&app, promotion.id).await.as_deref(), Some("paused"));
    activate(&app, &admin, promotion.id, "active").await;
    next_event(&mut events, promotion.id, "activated").await;
    let redeemed = redemptions(&app)
        .redeem_promotion(authed(
            pb::RedeemPromotionRequest { code: "DEALERS".into(), user_id: 1_001, idempotency_key: "k1".into(), ..Default::default() },
            &secret,
        ))
        .await
        .unwrap();
    assert_eq!(redeemed.into_inner().benefit.unwrap().credits, 20);
}

#[tokio::test]
async fn scheduled_promotions_start_and_expire_on_time_and_expiry_removes_the_keys() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Property agents", 1, 30).await;
    let mut events = subscribe(&app).await;
    let starts = chrono::Utc::now() + chrono::Duration::seconds(2);
    let ends = starts + chrono::Duration::seconds(2);
    let promotion = create(
        &app,
        &admin,
        pb::Promotion {
            starts_at: Some(cdp_server::convert::timestamp(starts)),
            ends_at: Some(cdp_server::convert::timestamp(ends)),
            ..bonus(cohort_id, "SOON", 5.0, 0, 1, 0)
        },
    )
    .await;
    let scheduled = activate(&app, &admin, promotion.id, "scheduled").await;
    assert_eq!(scheduled.status(), pb::PromotionStatus::Scheduled);
    assert_eq!(scheduled.audience_size, 30, "the cohort's size until the audience is frozen at the start");
    next_event(&mut events, promotion.id, "scheduled").await;
    let secret = redeem_credential(&app, &admin).await;
    let early = redemptions(&app)
        .redeem_promotion(authed(
            pb::RedeemPromotionRequest { code: "SOON".into(), user_id: 3, idempotency_key: "early".into(), ..Default::default() },
            &secret,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&early), "NOT_STARTED");

    let started = next_event(&mut events, promotion.id, "activated").await;
    let late_by = started.at - starts;
    assert!(late_by >= chrono::Duration::zero() && late_by < chrono::Duration::milliseconds(1500), "started {late_by} after starts_at");
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'promotion.start' AND actor_kind = 'system' AND resource_id = '{}'", promotion.id)
        )
        .await,
        1
    );
    let on_time = redemptions(&app)
        .redeem_promotion(authed(
            pb::RedeemPromotionRequest { code: "SOON".into(), user_id: 3, idempotency_key: "on-time".into(), ..Default::default() },
            &secret,
        ))
        .await;
    assert!(on_time.is_ok(), "{on_time:?}");

    let expired = next_event(&mut events, promotion.id, "expired").await;
    let late_by = expired.at - ends;
    assert!(late_by >= chrono::Duration::zero() && late_by < chrono::Duration::milliseconds(1500), "expired {late_by} after ends_at");
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM cdp.promotions WHERE id = {} AND status = 'expired' AND ended_at IS NOT NULL", promotion.id)).await,
        1
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'promotion.expire' AND actor_kind = 'system' AND resource_id = '{}'",
                promotion.id
            )
        )
        .await,
        1
    );
    let mut redis = redis(&app).await;
    let keys = keyspace(&app).promotion(promotion.id);
    let left: i64 = redis.exists(keys.all().to_vec()).await.unwrap();
    assert_eq!(left, 0, "expiry removes every key of the promotion");
    let published: bool = redis.sismember(keyspace(&app).published_index(), promotion.id).await.unwrap();
    assert!(!published);
    let after = redemptions(&app)
        .redeem_promotion(authed(pb::RedeemPromotionRequest { code: "SOON".into(), user_id: 4, idempotency_key: "late".into(), ..Default::default() }, &secret))
        .await
        .unwrap_err();
    assert_eq!(reason(&after), "EXPIRED");
    // Expired is final.
    let again = promotions(&app).activate_promotion(authed(pb::ActivatePromotionRequest { id: promotion.id }, &admin)).await.unwrap_err();
    assert_eq!((again.code(), reason(&again).as_str()), (Code::FailedPrecondition, "INVALID_STATUS"));
}

#[tokio::test]
async fn a_worker_killed_in_the_middle_of_an_activation_finishes_it_after_restart() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    // A large audience with a code per user, so the activation takes a while.
    let cohort_id = cohort(&app, "Everyone", 1, 300_000).await;
    let promotion = create(&app, &admin, pb::Promotion { code_mode: pb::CodeMode::UniquePerUser as i32, ..bonus(cohort_id, "", 5.0, 0, 1, 0) }).await;
    promotions(&app).activate_promotion(authed(pb::ActivatePromotionRequest { id: promotion.id }, &admin)).await.unwrap();
    let keys = keyspace(&app).promotion(promotion.id);

    let first = RunningWorker::start_with_lease(&app, Duration::from_secs(2));
    // Wait until it is in the middle: the job runs and has started writing Redis (built keys)
    // or freezing the audience, and nothing is installed yet.
    eventually(Duration::from_secs(60), "the activation is under way", || async {
        let running = count(&app, "SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'promotion.activate' AND status = 'running'").await == 1;
        let mut redis_conn = redis(&app).await;
        let building: Vec<String> = redis::cmd("KEYS").arg(format!("{}:*:building:*", keys.base)).query_async(&mut redis_conn).await.unwrap();
        running && !building.is_empty()
    })
    .await;
    let mut redis_conn = redis(&app).await;
    assert_eq!(redis_status(&app, promotion.id).await, None, "killed before the install");
    first.kill().await;
    assert_eq!(
        count(&app, "SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'promotion.activate' AND status = 'running'").await,
        1,
        "the job is left running, its lease ticking"
    );

    let _second = RunningWorker::start_with_lease(&app, Duration::from_secs(2));
    eventually(Duration::from_secs(90), "the restarted worker finishes the activation", || async {
        redis_status(&app, promotion.id).await.as_deref() == Some("active")
    })
    .await;
    // The job row is marked succeeded just after the handler installs the state in Redis.
    eventually(Duration::from_secs(30), "the activation job is recorded as succeeded on its second attempt", || async {
        count(&app, "SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'promotion.activate' AND status = 'succeeded' AND attempts = 2").await == 1
    })
    .await;
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM cdp.promotion_audience WHERE promotion_id = {} AND code IS NOT NULL", promotion.id)).await,
        300_000
    );
    assert_eq!(bit_count(&app, &keys.eligible).await, 300_000);
    let codes: i64 = redis_conn.hlen(&keys.codes).await.unwrap();
    assert_eq!(codes, 300_000);
    let sample: String = redis_conn.hget(&keys.codes, 123_456).await.unwrap();
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM cdp.promotion_audience WHERE promotion_id = {} AND user_id = 123456 AND code = '{sample}'", promotion.id)
        )
        .await,
        1
    );
    assert_eq!(count(&app, &format!("SELECT audience_size AS n FROM cdp.promotions WHERE id = {}", promotion.id)).await, 300_000);
}

/// A Redis server of this test's own, so it can be flushed and restarted without touching
/// anyone else's keys.
struct PrivateRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = PrivateRedis { port, child: None };
        redis.spawn().await;
        redis
    }

    async fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(self.url())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (its data is gone: no persistence) and starts it again.
    async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_flushed_or_restarted_mid_race_is_rebuilt_and_no_cap_is_ever_exceeded() {
    let mut private = PrivateRedis::start().await;
    let db = TestDb::new().await;
    let mut env = test_env(&db);
    env.insert("REDIS_URL".into(), private.url());
    let app = TestApp::start_with(db, env).await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Racers", 1, 200).await;
    // 200 users × 2 uses could take 400; the total cap is 300 and the budget pays 290 bonuses.
    let promotion = create(&app, &admin, bonus(cohort_id, "FLUSH-ME", 10.0, 300, 2, 2_900)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let generation_sql = format!("SELECT redis_generation AS n FROM cdp.promotions WHERE id = {}", promotion.id);
    let first_generation = count(&app, &generation_sql).await;
    let secret = Arc::new(redeem_credential(&app, &admin).await);

    let mut clients = Vec::new();
    for client in 0..64i64 {
        let mut service = redemptions(&app);
        let secret = secret.clone();
        clients.push(tokio::spawn(async move {
            let mut granted = Vec::new();
            for attempt in 0..12i64 {
                let user = (client * 7 + attempt * 13) % 200 + 1;
                let request =
                    pb::RedeemPromotionRequest { code: "FLUSH-ME".into(), user_id: user, idempotency_key: format!("{client}-{attempt}"), ..Default::default() };
                // A client retries UNAVAILABLE with the same key, as the contract says.
                for retry in 0.. {
                    match service.redeem_promotion(authed(request.clone(), &secret)).await {
                        Ok(ok) => {
                            granted.push(ok.into_inner());
                            break;
                        }
                        Err(status) if status.code() == Code::Unavailable && retry < 200 => tokio::time::sleep(Duration::from_millis(25)).await,
                        Err(status) => {
                            let why = reason(&status);
                            assert!(["EXHAUSTED", "BUDGET_EXHAUSTED", "ALREADY_REDEEMED", "NOT_ACTIVE"].contains(&why.as_str()), "{status:?}");
                            break;
                        }
                    }
                }
            }
            granted
        }));
    }
    // Pull the rug twice while they race: a FLUSHALL, then a restart of the server.
    let ledger_sql = format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {}", promotion.id);
    eventually(Duration::from_secs(30), "some redemptions are in", || async { count(&app, &ledger_sql).await >= 60 }).await;
    let mut flusher = redis::Client::open(private.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let () = redis::cmd("FLUSHALL").query_async(&mut flusher).await.unwrap();
    eventually(Duration::from_secs(30), "more redemptions are in", || async { count(&app, &ledger_sql).await >= 160 }).await;
    private.restart().await;

    let mut granted = Vec::new();
    for client in clients {
        granted.extend(client.await.unwrap());
    }
    let ids: std::collections::BTreeSet<i64> = granted.iter().filter(|g| !g.replayed).map(|g| g.redemption_id).collect();
    let in_ledger = count(&app, &ledger_sql).await;
    assert_eq!(in_ledger, 290, "the budget (290 bonuses) binds before the cap of 300, flushes and restarts notwithstanding");
    assert_eq!(ids.len() as i64, in_ledger, "every success is one committed ledger row, none lost, none extra");
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) AS n FROM (SELECT 1 FROM cdp.redemptions WHERE promotion_id = {} GROUP BY user_id HAVING count(*) > 2) x", promotion.id)
        )
        .await,
        0
    );
    assert_eq!(count(&app, &format!("SELECT coalesce(sum(credits), 0)::int8 AS n FROM cdp.redemptions WHERE promotion_id = {}", promotion.id)).await, 2_900);
    // The state was rebuilt and, once the dust settled, matches the ledger.
    let mut redis = redis(&app).await;
    let keys = keyspace(&app).promotion(promotion.id);
    eventually(Duration::from_secs(10), "Redis holds the state again", || async { redis_status(&app, promotion.id).await.is_some() }).await;
    let used: i64 = redis.get(&keys.used).await.unwrap();
    let budget: i64 = redis.get(&keys.budget).await.unwrap();
    assert_eq!((used, budget), (290, 2_900));
    // It was rebuilt from PostgreSQL after the flush and after the restart, each time under a
    // new generation (the budget pausing it may be the rebuild that follows the flush).
    assert!(count(&app, &generation_sql).await >= first_generation + 2);
}

#[tokio::test]
async fn reconciliation_finds_reports_and_repairs_injected_drift_and_abandoned_reservations() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Shoppers", 1, 50).await;
    let promotion = create(&app, &admin, bonus(cohort_id, "DRIFT", 12.0, 0, 3, 0)).await;
    activate(&app, &admin, promotion.id, "active").await;
    let secret = redeem_credential(&app, &admin).await;
    let mut service = redemptions(&app);
    for user in 1..=10 {
        service
            .redeem_promotion(authed(
                pb::RedeemPromotionRequest { code: "DRIFT".into(), user_id: user, idempotency_key: format!("u{user}"), ..Default::default() },
                &secret,
            ))
            .await
            .unwrap();
    }
    let activation = cdp_server::activation::Activation::new(&app.app);
    // A clean run finds nothing.
    let clean = cdp_server::activation::reconcile::run(&activation, None, Some(promotion.id)).await.unwrap();
    assert!(clean.drift.is_empty(), "{:?}", clean.drift);

    // Inject drift: Redis counts 7 redemptions too many and user 3 one too few; the promotion
    // row lost 2; and a server "crashed" after reserving, 5 minutes ago, never committing.
    let mut redis = redis(&app).await;
    let keys = keyspace(&app).promotion(promotion.id);
    let _: i64 = redis.incr(&keys.used, 7).await.unwrap();
    let _: i64 = redis.hincr(&keys.user_counts, 3, -1).await.unwrap();
    fixtures::exec(&app, &format!("UPDATE cdp.promotions SET redeemed_count = redeemed_count - 2 WHERE id = {}", promotion.id)).await;
    let five_minutes_ago = chrono::Utc::now().timestamp_millis() - 300_000;
    let credential = uuid::Uuid::new_v4();
    let reservation =
        scripts::reserve(&mut redis, &keys, scripts::Mode::Redeem, five_minutes_ago, 20, &scripts::idempotency_field(&credential, "lost"), None).await.unwrap();
    assert!(matches!(reservation, scripts::Reservation::Granted { .. }));

    // The recurring job finds it (run it now rather than in ten minutes).
    let mut conn = app.db.conn().await;
    let job = cdp_server::jobs::enqueue(&mut conn, cdp_server::jobs::NewJob::new("promotion.reconcile", serde_json::json!({}))).await.unwrap().unwrap();
    eventually(Duration::from_secs(15), "the reconciliation run is recorded", || async {
        count(&app, &format!("SELECT count(*) AS n FROM cdp.promotion_reconciliation_runs WHERE job_id = {job} AND status = 'succeeded'")).await == 1
    })
    .await;
    #[derive(diesel::QueryableByName)]
    struct Run {
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        drift: serde_json::Value,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        promotions_drifted: i32,
    }
    let run: Run = diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(format!("SELECT drift, promotions_drifted FROM cdp.promotion_reconciliation_runs WHERE job_id = {job}")),
        &mut conn,
    )
    .await
    .unwrap();
    assert_eq!(run.promotions_drifted, 1);
    let found: HashMap<String, (i64, i64)> = run
        .drift
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["counter"].as_str().unwrap().to_string(), (d["expected"].as_i64().unwrap(), d["found"].as_i64().unwrap())))
        .collect();
    assert_eq!(found.get("redeemed_count"), Some(&(10, 8)));
    assert_eq!(found.get("redis.used"), Some(&(10, 18)), "7 injected + 1 abandoned reservation");
    assert_eq!(found.get("redis.budget"), Some(&(120, 132)), "the abandoned reservation's 12 credits");
    assert_eq!(found.get("redis.user_counts"), Some(&(0, 2)), "user 3 too low, user 20 counted for nothing");
    assert_eq!(found.get("redis.abandoned_reservations"), Some(&(0, 1)));
    // Repaired: everything equals the ledger again, under a new generation.
    let used: i64 = redis.get(&keys.used).await.unwrap();
    let user_3: i64 = redis.hget(&keys.user_counts, 3).await.unwrap();
    let user_20: Option<i64> = redis.hget(&keys.user_counts, 20).await.unwrap();
    assert_eq!((used, user_3, user_20), (10, 1, None));
    assert_eq!(count(&app, &format!("SELECT redeemed_count AS n FROM cdp.promotions WHERE id = {}", promotion.id)).await, 10);
    let again = cdp_server::activation::reconcile::run(&activation, None, Some(promotion.id)).await.unwrap();
    assert!(again.drift.is_empty(), "{:?}", again.drift);
    // Redemption goes on normally on the rebuilt state.
    service
        .redeem_promotion(authed(
            pb::RedeemPromotionRequest { code: "DRIFT".into(), user_id: 20, idempotency_key: "u20".into(), ..Default::default() },
            &secret,
        ))
        .await
        .unwrap();
    let used: i64 = redis.get(&keys.used).await.unwrap();
    assert_eq!(used, 11);
}

#[tokio::test]
async fn live_audiences_follow_their_cohort_and_frozen_ones_do_not() {
    let app = TestApp::start().await;
    let admin = fixtures::admin_token(&app).await;
    let _worker = RunningWorker::start(&app);
    let cohort_id = cohort(&app, "Active this week", 1, 10).await;
    let live = create(&app, &admin, pb::Promotion { audience: pb::PromotionAudience::Live as i32, ..bonus(cohort_id, "LIVE", 5.0, 0, 1, 0) }).await;
    let frozen = create(&app, &admin, bonus(cohort_id, "FROZEN", 5.0, 0, 1, 0)).await;
    activate(&app, &admin, live.id, "active").await;
    activate(&app, &admin, frozen.id, "active").await;
    let secret = redeem_credential(&app, &admin).await;
    let mut service = redemptions(&app);
    let redeem = |code: &str, user: i64| pb::RedeemPromotionRequest {
        code: code.into(),
        user_id: user,
        idempotency_key: format!("{code}-{user}"),
        ..Default::default()
    };
    service.redeem_promotion(authed(redeem("LIVE", 1), &secret)).await.unwrap();

    // The cohort refreshes: users 1-5 leave, 11-15 join.
    fixtures::exec(&app, &format!("DELETE FROM cdp.cohort_members WHERE cohort_id = {cohort_id} AND user_id <= 5")).await;
    fixtures::exec(&app, &format!("INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT {cohort_id}, g FROM generate_series(11, 15) g")).await;
    fixtures::exec(&app, &format!("UPDATE cdp.cohorts SET last_refreshed_at = now() WHERE id = {cohort_id}")).await;
    let mut conn = app.db.conn().await;
    cdp_server::activation::jobs::enqueue_audience_sync(&mut conn, cohort_id).await.unwrap();
    let keys = keyspace(&app).promotion(live.id);
    eventually(Duration::from_secs(15), "the live audience follows", || async {
        let mut redis = redis(&app).await;
        let joined: i64 = redis.getbit(&keys.eligible, 12).await.unwrap();
        let left: i64 = redis.getbit(&keys.eligible, 2).await.unwrap();
        joined == 1 && left == 0
    })
    .await;
    assert_eq!(count(&app, &format!("SELECT audience_size AS n FROM cdp.promotions WHERE id = {}", live.id)).await, 10);
    assert_eq!(bit_count(&app, &keys.eligible).await, 10);
    let left = service.redeem_promotion(authed(redeem("LIVE", 2), &secret)).await.unwrap_err();
    assert_eq!(reason(&left), "NOT_ELIGIBLE");
    service.redeem_promotion(authed(redeem("LIVE", 12), &secret)).await.unwrap();
    // What a leaver redeemed stays, counted.
    assert_eq!(
        count(&app, &format!("SELECT count(*) AS n FROM cdp.redemptions WHERE promotion_id = {} AND user_id = 1 AND status = 'redeemed'", live.id)).await,
        1
    );
    let used: i64 = redis(&app).await.get(&keys.used).await.unwrap();
    assert_eq!(used, 2);
    // The frozen one did not move.
    service.redeem_promotion(authed(redeem("FROZEN", 2), &secret)).await.unwrap();
    let joiner = service.redeem_promotion(authed(redeem("FROZEN", 12), &secret)).await.unwrap_err();
    assert_eq!(reason(&joiner), "NOT_ELIGIBLE");

    // Both use the cohort; only the live one is guarded against cohort edits.
    let mut conn = app.db.conn().await;
    let usage = cdp_server::promotions::usage_of_cohort(&mut conn, cohort_id).await.unwrap();
    let guarded: Vec<(i64, bool)> = usage.iter().map(|u| (u.id, u.guarded)).collect();
    assert_eq!(guarded, vec![(frozen.id, false), (live.id, true)]);
}
