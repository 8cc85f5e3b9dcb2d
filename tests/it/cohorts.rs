//! CohortService and the refresh engine on a seeded marketplace: memberships against
//! independent SQL for every operator family and nested groups, hostile field names and
//! values, static versus dynamic cohorts, size history with joiners and leavers, failures that
//! stay visible and are retried, the audience guard, references and cycles, and the domain
//! rules behind each RPC.

use cdp_proto::cdp::v1::{self as pb, Combinator, Operator as Op, cohort_service_client::CohortServiceClient, value::Kind};
use cdp_server::{
    cohorts,
    jobs::{Registry, Worker},
    seed::{SeedOptions, seed},
};
use cdp_tests::{TestApp, TestDb, authed, fixtures};
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use std::{collections::HashMap, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

// ---- helpers shared with cohort_sync.rs ----------------------------------------------------

pub fn cond(field: &str, op: Op, value: Option<Kind>) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(pb::condition_node::Node::Condition(pb::Condition {
            field: field.into(),
            operator: op as i32,
            value: value.map(|k| pb::Value { kind: Some(k) }),
            value_to: None,
        })),
    }
}

pub fn between(field: &str, low: Kind, high: Kind) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(pb::condition_node::Node::Condition(pb::Condition {
            field: field.into(),
            operator: Op::Between as i32,
            value: Some(pb::Value { kind: Some(low) }),
            value_to: Some(pb::Value { kind: Some(high) }),
        })),
    }
}

pub fn group(combinator: Combinator, nodes: Vec<pb::ConditionNode>) -> pb::ConditionGroup {
    pb::ConditionGroup { combinator: combinator as i32, nodes }
}

pub fn nested(combinator: Combinator, nodes: Vec<pb::ConditionNode>) -> pb::ConditionNode {
    pb::ConditionNode { node: Some(pb::condition_node::Node::Group(group(combinator, nodes))) }
}

pub fn texts(values: &[&str]) -> Option<Kind> {
    Some(Kind::Texts(pb::StringList { values: values.iter().map(|v| v.to_string()).collect() }))
}

pub fn reason(status: &tonic::Status) -> String {
    status.get_details_error_info().map(|info| info.reason).unwrap_or_default()
}

pub fn violation(status: &tonic::Status) -> String {
    status.get_details_bad_request().and_then(|b| b.field_violations.into_iter().next().map(|v| v.field)).unwrap_or_default()
}

pub fn metadata(status: &tonic::Status, key: &str) -> String {
    status.get_details_error_info().and_then(|info| info.metadata.get(key).cloned()).unwrap_or_default()
}

/// A server on a database seeded with `users` users, with extra environment.
pub async fn seeded_app(users: u32, extra_env: &[(&str, String)]) -> TestApp {
    let db = TestDb::new().await;
    let today = chrono::Utc::now().date_naive();
    seed(&db.url, &SeedOptions { users, seed: 17, days: 90, today }).await.expect("seeding a small marketplace");
    let mut env = cdp_tests::test_env(&db);
    for (key, value) in extra_env {
        env.insert(key.to_string(), value.clone());
    }
    TestApp::start_with(db, env).await
}

pub fn client(app: &TestApp) -> CohortServiceClient<Channel> {
    CohortServiceClient::new(app.channel.clone())
}

/// PreviewCohort of `definition` as the holder of `token`, which must succeed.
async fn preview_of(app: &TestApp, token: &str, definition: pb::ConditionGroup, sample_size: i32) -> pb::PreviewCohortResponse {
    client(app).preview_cohort(authed(pb::PreviewCohortRequest { definition: Some(definition), sample_size }, token)).await.expect("a preview").into_inner()
}

/// A worker running the cohort jobs for this test; stopped when dropped.
pub struct TestWorker {
    shutdown: CancellationToken,
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn start_worker(app: &TestApp, registry: Registry) -> TestWorker {
    let shutdown = CancellationToken::new();
    let worker = Worker::new(app.app.db.clone(), registry, 4, Duration::from_secs(30), Duration::from_millis(50));
    tokio::spawn(worker.run(shutdown.clone()));
    TestWorker { shutdown }
}

pub fn cohort_worker(app: &TestApp) -> TestWorker {
    start_worker(app, cohorts::register_jobs(Registry::new(), &app.app))
}

/// Runs the `cohorts.schedule` job once, now (the worker runs it every minute).
pub async fn run_schedule(app: &TestApp) {
    use cdp_server::jobs::{JobContext, JobHandler};
    let job = JobContext { id: 0, kind: "cohorts.schedule".into(), payload: serde_json::json!({}), attempt: 1, max_attempts: 1 };
    cohorts::refresh::ScheduleRefreshes { db: app.app.db.clone(), config: app.app.config.clone() }.run(&job).await.expect("the schedule runs");
}

pub async fn get(app: &TestApp, token: &str, id: i64) -> pb::Cohort {
    client(app).get_cohort(authed(pb::GetCohortRequest { id }, token)).await.expect("GetCohort").into_inner().cohort.expect("a cohort")
}

/// Waits until the cohort is idle after a refresh newer than `previous` (any, when None).
pub async fn wait_refreshed(app: &TestApp, token: &str, id: i64, previous: Option<&pb::Cohort>) -> pb::Cohort {
    let before = previous.and_then(|c| c.last_refreshed_at.as_ref()).map(|t| (t.seconds, t.nanos));
    for _ in 0..600 {
        let cohort = get(app, token, id).await;
        let refreshed = cohort.last_refreshed_at.as_ref().map(|t| (t.seconds, t.nanos));
        let done = cohort.refresh_state == pb::CohortRefreshState::Idle as i32 && refreshed.is_some() && refreshed > before;
        if done {
            return cohort;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cohort {id} was not refreshed: {:?}", get(app, token, id).await);
}

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The `id` column of `sql` (sorted), run as the table owner.
pub async fn ids(app: &TestApp, sql: &str) -> Vec<i64> {
    let mut conn = app.db.conn().await;
    let mut rows: Vec<i64> = diesel::sql_query(sql).load::<Id>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).into_iter().map(|r| r.id).collect();
    rows.sort_unstable();
    rows
}

pub async fn members(app: &TestApp, cohort_id: i64) -> Vec<i64> {
    ids(app, &format!("SELECT user_id::int8 AS id FROM cdp.cohort_members WHERE cohort_id = {cohort_id}")).await
}

pub async fn create(app: &TestApp, token: &str, name: &str, kind: pb::CohortKind, definition: pb::ConditionGroup) -> Result<pb::Cohort, tonic::Status> {
    let cohort = pb::Cohort { name: name.into(), kind: kind as i32, definition: Some(definition), ..Default::default() };
    client(app).create_cohort(authed(pb::CreateCohortRequest { cohort: Some(cohort) }, token)).await.map(|r| r.into_inner().cohort.expect("a cohort"))
}

// ---- tests ---------------------------------------------------------------------------------

#[tokio::test]
async fn memberships_match_independent_sql_for_every_operator_family_and_nested_groups() {
    let app = seeded_app(2500, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let today = "(now() AT TIME ZONE 'UTC')::date";
    let cases: Vec<(&str, pb::ConditionGroup, String)> = vec![
        (
            "numbers",
            group(Combinator::And, vec![between("total_credits_spent", Kind::Number(100.0), Kind::Number(2000.0)), cond("current_credits_in_wallet", Op::GreaterThan, Some(Kind::Number(50.5)))]),
            "SELECT user_id::int8 AS id FROM public.users WHERE total_credits_spent BETWEEN 100 AND 2000 AND current_credits_in_wallet > 50.5".into(),
        ),
        (
            "texts",
            group(Combinator::Or, vec![cond("user_type", Op::Equals, Some(Kind::Text("DEALER".into()))), cond("favorite_vertical", Op::StartsWith, Some(Kind::Text("prop".into())))]),
            "SELECT user_id::int8 AS id FROM public.users WHERE lower(user_type) = 'dealer' OR favorite_vertical ILIKE 'prop%'".into(),
        ),
        (
            "lists",
            group(Combinator::Or, vec![cond("verticals_listed_in", Op::ContainsAll, texts(&["cars", "property"])), cond("plans_or_bundles_used", Op::ContainsNone, texts(&["basic"]))]),
            "SELECT user_id::int8 AS id FROM public.users WHERE coalesce(string_to_array(verticals_listed_in, ','), '{}') @> ARRAY['cars','property'] \
             OR NOT (coalesce(string_to_array(plans_or_bundles_used, ','), '{}') && ARRAY['basic'])"
                .into(),
        ),
        (
            "times",
            group(Combinator::Or, vec![cond("last_transaction_date", Op::WithinLastDays, Some(Kind::Days(30))), cond("user_account_creation_date", Op::MoreThanDaysAgo, Some(Kind::Days(700)))]),
            format!(
                "SELECT user_id::int8 AS id FROM public.users WHERE (last_transaction_date >= {today} - 29 AND last_transaction_date < {today} + 1) \
                 OR user_account_creation_date < {today} - 700"
            ),
        ),
        (
            "set and flags",
            group(
                Combinator::Or,
                vec![
                    nested(Combinator::And, vec![cond("first_paid_listing_date", Op::IsSet, None), cond("is_multivertical_user", Op::Equals, Some(Kind::Flag(true)))]),
                    cond("favorite_extra_addon", Op::IsNotSet, None),
                ],
            ),
            "SELECT user_id::int8 AS id FROM public.users WHERE (first_paid_listing_date IS NOT NULL AND is_multivertical_user <> 0) OR coalesce(favorite_extra_addon, '') = ''".into(),
        ),
        (
            "nested groups",
            group(
                Combinator::And,
                vec![
                    cond("total_listings_count", Op::GreaterOrEqual, Some(Kind::Number(3.0))),
                    nested(
                        Combinator::Or,
                        vec![
                            cond("verticals_listed_in", Op::ContainsAny, texts(&["electronics"])),
                            nested(Combinator::And, vec![cond("user_type", Op::In, texts(&["agency", "shop"])), cond("paid_listings_count", Op::LessThan, Some(Kind::Number(5.0)))]),
                        ],
                    ),
                ],
            ),
            "SELECT user_id::int8 AS id FROM public.users WHERE total_listings_count >= 3 AND (string_to_array(verticals_listed_in, ',') && ARRAY['electronics'] \
             OR (lower(user_type) IN ('agency', 'shop') AND paid_listings_count < 5))"
                .into(),
        ),
    ];
    let mut created = Vec::new();
    for (name, definition, sql) in &cases {
        let cohort = create(&app, &token, name, pb::CohortKind::Dynamic, definition.clone()).await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(cohort.refresh_state, pb::CohortRefreshState::Queued as i32, "{name}: the first evaluation is queued");
        assert_eq!(cohort.size, 0);
        created.push((cohort.id, *name, sql.clone()));
    }
    for (id, name, sql) in &created {
        let cohort = wait_refreshed(&app, &token, *id, None).await;
        let expected = ids(&app, sql).await;
        assert!(!expected.is_empty() && expected.len() < 2500, "{name}: a meaningful case ({} users)", expected.len());
        assert_eq!(members(&app, *id).await, expected, "{name}: members are what SQL selects");
        assert_eq!(cohort.size, expected.len() as i64, "{name}: size");
        assert!(cohort.next_refresh_at.is_some() && cohort.last_error.is_empty(), "{name}: {cohort:?}");
    }

    // Membership of other cohorts: IN_COHORT and NOT_IN_COHORT against the stored members.
    let (numbers, lists) = (created[0].0, created[2].0);
    let combined = create(
        &app,
        &token,
        "numbers but not lists",
        pb::CohortKind::Dynamic,
        group(Combinator::And, vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(numbers))), cond("cohort", Op::NotInCohort, Some(Kind::CohortId(lists)))]),
    )
    .await
    .expect("a definition over other cohorts");
    wait_refreshed(&app, &token, combined.id, None).await;
    let expected = ids(
        &app,
        &format!(
            "SELECT user_id::int8 AS id FROM cdp.cohort_members WHERE cohort_id = {numbers} \
             EXCEPT SELECT user_id::int8 FROM cdp.cohort_members WHERE cohort_id = {lists}"
        ),
    )
    .await;
    assert_eq!(members(&app, combined.id).await, expected);
}

#[tokio::test]
async fn hostile_field_names_and_values_change_nothing() {
    let app = seeded_app(300, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let users_before = fixtures::count(&app, "SELECT count(*) AS n FROM public.users").await;

    let err = create(
        &app,
        &token,
        "evil field",
        pb::CohortKind::Dynamic,
        group(Combinator::And, vec![cond("user_id; DROP TABLE public.users; --", Op::Equals, Some(Kind::Number(1.0)))]),
    )
    .await
    .expect_err("an unknown field");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violation(&err), "cohort.definition.nodes[0].condition.field");

    let nested_err = create(
        &app,
        &token,
        "evil nested field",
        pb::CohortKind::Dynamic,
        group(Combinator::Or, vec![cond("user_type", Op::IsSet, None), nested(Combinator::And, vec![cond("u.user_id) OR (1=1", Op::IsSet, None)])]),
    )
    .await
    .expect_err("an unknown nested field");
    assert_eq!(violation(&nested_err), "cohort.definition.nodes[1].group.nodes[0].condition.field");

    // Values are bound, never spliced: a quote-laden value matches nothing and drops nothing.
    let evil = "x'); DROP TABLE public.users; --";
    let cohort = create(
        &app,
        &token,
        "evil value",
        pb::CohortKind::Dynamic,
        group(
            Combinator::Or,
            vec![
                cond("user_type", Op::Equals, Some(Kind::Text(evil.into()))),
                cond("favorite_vertical", Op::Contains, Some(Kind::Text("%' OR '1'='1".into()))),
            ],
        ),
    )
    .await
    .expect("hostile values are just values");
    let cohort = wait_refreshed(&app, &token, cohort.id, None).await;
    assert_eq!(cohort.size, 0);
    assert!(members(&app, cohort.id).await.is_empty());
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM public.users").await, users_before, "public.users is intact");
    let stored =
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.cohorts WHERE id = {} AND definition::text LIKE '%DROP TABLE%'", cohort.id)).await;
    assert_eq!(stored, 1, "the value is stored as data");
}

#[tokio::test]
async fn static_cohorts_stay_frozen_while_dynamic_ones_follow_the_data_with_history() {
    let app = seeded_app(1500, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let definition = group(Combinator::And, vec![cond("total_credits_spent", Op::GreaterThan, Some(Kind::Number(1000.0)))]);
    let sql = "SELECT user_id::int8 AS id FROM public.users WHERE total_credits_spent > 1000";
    let dynamic = create(&app, &token, "big spenders", pb::CohortKind::Dynamic, definition.clone()).await.unwrap();
    let frozen = create(&app, &token, "big spenders, frozen", pb::CohortKind::Static, definition).await.unwrap();
    let dynamic_first = wait_refreshed(&app, &token, dynamic.id, None).await;
    let frozen_first = wait_refreshed(&app, &token, frozen.id, None).await;
    assert!(frozen_first.next_refresh_at.is_none(), "a static cohort has no schedule");
    let before = ids(&app, sql).await;
    assert_eq!(members(&app, dynamic.id).await, before);
    assert_eq!(members(&app, frozen.id).await, before);

    // The data changes: some members drop out, some users join.
    let leavers: Vec<i64> = before.iter().copied().take(7).collect();
    let joiners = ids(&app, "SELECT user_id::int8 AS id FROM public.users WHERE total_credits_spent <= 1000 ORDER BY user_id LIMIT 5").await;
    let list = |v: &[i64]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(",");
    fixtures::exec(&app, &format!("UPDATE public.users SET total_credits_spent = 0 WHERE user_id IN ({})", list(&leavers))).await;
    fixtures::exec(&app, &format!("UPDATE public.users SET total_credits_spent = 5000 WHERE user_id IN ({})", list(&joiners))).await;
    let after = ids(&app, sql).await;

    // The dynamic cohort is due (its interval elapsed): the schedule queues its refresh; the
    // static one is never scheduled.
    fixtures::exec(&app, &format!("UPDATE cdp.cohorts SET next_refresh_at = now() - interval '1 minute' WHERE id IN ({}, {})", dynamic.id, frozen.id)).await;
    let mark = fixtures::count(&app, "SELECT coalesce(max(id), 0) AS n FROM cdp.cohort_membership_changes").await;
    run_schedule(&app).await;
    let refreshed = wait_refreshed(&app, &token, dynamic.id, Some(&dynamic_first)).await;
    assert_eq!(members(&app, dynamic.id).await, after);
    assert_eq!(members(&app, frozen.id).await, before, "the static cohort is frozen");

    // Joiners and leavers of that refresh, as recorded for syncs and live promotions.
    let joined = ids(
        &app,
        &format!("SELECT user_id::int8 AS id FROM cdp.cohort_membership_changes WHERE cohort_id = {} AND change = 'joined' AND id > {mark}", dynamic.id),
    )
    .await;
    let left = ids(
        &app,
        &format!("SELECT user_id::int8 AS id FROM cdp.cohort_membership_changes WHERE cohort_id = {} AND change = 'left' AND id > {mark}", dynamic.id),
    )
    .await;
    let mut expected_joined = joiners.clone();
    expected_joined.sort_unstable();
    assert_eq!(joined, expected_joined);
    assert_eq!(left, leavers);
    assert_eq!(refreshed.size, after.len() as i64);
    let audience_sync = format!("SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'promotion.audience_sync' AND payload->>'cohort_id' = '{}'", dynamic.id);
    assert!(fixtures::count(&app, &audience_sync).await >= 1, "live promotions on the cohort are told to follow it");

    // Size history: two refreshes today; the day's point is the last size and all changes.
    let history = client(&app)
        .get_cohort_size_history(authed(pb::GetCohortSizeHistoryRequest { cohort_id: dynamic.id, range: None }, &token))
        .await
        .unwrap()
        .into_inner();
    let today = history.points.last().expect("today's point");
    assert_eq!(today.date, chrono::Utc::now().date_naive().to_string());
    assert_eq!((today.size, today.joined, today.left), (after.len() as i64, before.len() as i64 + 5, 7));
    assert_eq!(history.points.len(), 1, "one point per day since the cohort existed");
    assert_eq!(fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.cohort_size_history WHERE cohort_id = {}", dynamic.id)).await, 2);
    assert_eq!(refreshed.size_trend.last().map(|p| p.size), Some(after.len() as i64));

    // RefreshCohort takes a new snapshot of the static cohort.
    let queued = client(&app).refresh_cohort(authed(pb::RefreshCohortRequest { id: frozen.id }, &token)).await.unwrap().into_inner().cohort.unwrap();
    assert!(matches!(pb::CohortRefreshState::try_from(queued.refresh_state), Ok(pb::CohortRefreshState::Queued | pb::CohortRefreshState::Running)));
    wait_refreshed(&app, &token, frozen.id, Some(&frozen_first)).await;
    assert_eq!(members(&app, frozen.id).await, after);

    // Members page through, most recently joined first, without gaps or repeats.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut last_joined = i64::MAX;
    loop {
        let page = client(&app)
            .list_cohort_members(authed(pb::ListCohortMembersRequest { cohort_id: dynamic.id, page_size: 97, page_token: page_token.clone() }, &token))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, after.len() as i64);
        for member in &page.members {
            let at = member.joined_at.as_ref().map(|t| t.seconds * 1_000_000_000 + t.nanos as i64).unwrap();
            assert!(at <= last_joined, "most recently joined first");
            last_joined = at;
            let user = member.user.as_ref().expect("a summary");
            assert_eq!(user.user_id, member.user_id);
            assert!(!user.phone_masked, "a growth manager holds users.read_pii: phones unmasked");
            seen.push(member.user_id);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "no member twice");
    assert_eq!(sorted, after);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_members_shows_its_error_and_is_retried() {
    let app = seeded_app(800, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let cohort = create(
        &app,
        &token,
        "wallets",
        pb::CohortKind::Dynamic,
        group(Combinator::And, vec![cond("current_credits_in_wallet", Op::GreaterThan, Some(Kind::Number(100.0)))]),
    )
    .await
    .unwrap();
    let first = wait_refreshed(&app, &token, cohort.id, None).await;
    let before = members(&app, cohort.id).await;

    // A transient failure: the change log refuses rows for a while.
    fixtures::exec(&app, "ALTER TABLE cdp.cohort_membership_changes ADD CONSTRAINT refuse_for_test CHECK (false) NOT VALID").await;
    fixtures::exec(&app, "UPDATE public.users SET current_credits_in_wallet = 0 WHERE current_credits_in_wallet > 100 AND user_id % 3 = 0").await;
    client(&app).refresh_cohort(authed(pb::RefreshCohortRequest { id: cohort.id }, &token)).await.unwrap();
    let mut failed = None;
    for _ in 0..200 {
        let c = get(&app, &token, cohort.id).await;
        if c.refresh_state == pb::CohortRefreshState::Failed as i32 {
            failed = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = failed.expect("the failure shows");
    assert!(failed.last_error.contains("refuse_for_test"), "{}", failed.last_error);
    assert_eq!(members(&app, cohort.id).await, before, "the previous membership is kept");
    let retry = format!(
        "SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'cohorts.refresh' AND status IN ('queued', 'running') AND attempts >= 1 AND payload->>'cohort_id' = '{}'",
        cohort.id
    );
    assert_eq!(fixtures::count(&app, &retry).await, 1, "a retry is pending");

    // The cause goes away: the retry (after its backoff) succeeds and clears the error.
    fixtures::exec(&app, "ALTER TABLE cdp.cohort_membership_changes DROP CONSTRAINT refuse_for_test").await;
    let recovered = wait_refreshed(&app, &token, cohort.id, Some(&first)).await;
    assert!(recovered.last_error.is_empty());
    assert_eq!(members(&app, cohort.id).await, ids(&app, "SELECT user_id::int8 AS id FROM public.users WHERE current_credits_in_wallet > 100").await);
}

/// A promotion row for the guard (the promotions tables belong to migration 000008).
async fn promotion(app: &TestApp, cohort_id: i64, name: &str, status: &str, audience: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let mut conn = app.db.conn().await;
    let code = format!("CODE-{}", &uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase());
    diesel::sql_query(format!(
        "INSERT INTO cdp.promotions (name, cohort_id, benefit_type, value, code, status, audience) \
         VALUES ('{name}', {cohort_id}, 'bonus_credits', 10, '{code}', '{status}', '{audience}') RETURNING id"
    ))
    .get_result::<Id>(&mut conn)
    .await
    .expect("inserting a promotion")
    .id
}

#[tokio::test]
async fn changing_the_audience_of_live_or_scheduled_promotions_needs_confirmation() {
    let app = seeded_app(200, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let definition = group(Combinator::And, vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(1.0)))]);
    let cohort = create(&app, &token, "listers", pb::CohortKind::Dynamic, definition).await.unwrap();
    let draft = promotion(&app, cohort.id, "draft one", "draft", "frozen").await;
    let scheduled = promotion(&app, cohort.id, "scheduled one", "scheduled", "frozen").await;
    let live = promotion(&app, cohort.id, "live one", "active", "live").await;
    let frozen_active = promotion(&app, cohort.id, "frozen active", "active", "frozen").await;

    let usage = client(&app).get_cohort_usage(authed(pb::GetCohortUsageRequest { cohort_id: cohort.id }, &token)).await.unwrap().into_inner();
    let guarded: HashMap<i64, bool> = usage.promotions.iter().map(|p| (p.promotion_id, p.guarded)).collect();
    assert_eq!(guarded, HashMap::from([(draft, false), (scheduled, true), (live, true), (frozen_active, false)]));

    let new_definition = group(Combinator::And, vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(5.0)))]);
    let update = |confirm: bool| pb::UpdateCohortRequest {
        cohort: Some(pb::Cohort { id: cohort.id, definition: Some(new_definition.clone()), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["definition".into()] }),
        confirm_audience_change: confirm,
    };
    let err = client(&app).update_cohort(authed(update(false), &token)).await.expect_err("needs confirmation");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err), "AUDIENCE_CHANGE_NOT_CONFIRMED");
    let mut ids_named: Vec<i64> = metadata(&err, "promotion_ids").split(',').map(|s| s.parse().unwrap()).collect();
    ids_named.sort_unstable();
    assert_eq!(ids_named, vec![scheduled, live]);
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.audit_log WHERE action = 'cohort.update'").await, 0, "nothing changed");

    // A change of name alone does not change any audience.
    let rename = pb::UpdateCohortRequest {
        cohort: Some(pb::Cohort { id: cohort.id, name: "active listers".into(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
        confirm_audience_change: false,
    };
    assert_eq!(client(&app).update_cohort(authed(rename, &token)).await.unwrap().into_inner().cohort.unwrap().name, "active listers");

    let updated = client(&app).update_cohort(authed(update(true), &token)).await.expect("confirmed").into_inner().cohort.unwrap();
    assert_eq!(updated.definition, Some(new_definition));
    assert_eq!(
        fixtures::count(
            &app,
            &format!("SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'cohorts.refresh' AND payload->>'cohort_id' = '{}' AND status = 'queued'", cohort.id)
        )
        .await,
        1
    );

    let err = client(&app)
        .delete_cohort(authed(pb::DeleteCohortRequest { id: cohort.id, confirm_audience_change: false }, &token))
        .await
        .expect_err("needs confirmation");
    assert_eq!(reason(&err), "AUDIENCE_CHANGE_NOT_CONFIRMED");
    client(&app).delete_cohort(authed(pb::DeleteCohortRequest { id: cohort.id, confirm_audience_change: true }, &token)).await.expect("confirmed");
    let gone = client(&app).get_cohort(authed(pb::GetCohortRequest { id: cohort.id }, &token)).await.expect_err("deleted");
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(
        fixtures::count(&app, &format!("SELECT count(*) AS n FROM cdp.cohorts WHERE id = {} AND deleted_at IS NOT NULL", cohort.id)).await,
        1,
        "kept for its promotions"
    );
    let actions = fixtures::count(
        &app,
        &format!(
            "SELECT count(*) AS n FROM cdp.audit_log WHERE resource_id = '{}' AND action IN ('cohort.create', 'cohort.update', 'cohort.delete')",
            cohort.id
        ),
    )
    .await;
    assert_eq!(actions, 4, "create, two updates and the delete are audited");
}

#[tokio::test]
async fn referenced_cohorts_cannot_be_deleted_and_definitions_cannot_form_cycles() {
    let app = seeded_app(200, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "admin").await;
    let base = create(&app, &token, "base", pb::CohortKind::Dynamic, group(Combinator::And, vec![cond("user_type", Op::IsSet, None)])).await.unwrap();
    let middle =
        create(&app, &token, "middle", pb::CohortKind::Dynamic, group(Combinator::And, vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(base.id)))]))
            .await
            .unwrap();
    let top = create(
        &app,
        &token,
        "top",
        pb::CohortKind::Static,
        group(
            Combinator::Or,
            vec![cond("user_type", Op::IsNotSet, None), nested(Combinator::And, vec![cond("cohort", Op::NotInCohort, Some(Kind::CohortId(middle.id)))])],
        ),
    )
    .await
    .unwrap();

    let err = client(&app).delete_cohort(authed(pb::DeleteCohortRequest { id: base.id, confirm_audience_change: true }, &token)).await.expect_err("referenced");
    assert_eq!((err.code(), reason(&err).as_str(), metadata(&err, "cohort_ids")), (Code::FailedPrecondition, "COHORT_REFERENCED", middle.id.to_string()));
    let usage = client(&app).get_cohort_usage(authed(pb::GetCohortUsageRequest { cohort_id: middle.id }, &token)).await.unwrap().into_inner();
    assert_eq!(usage.referencing_cohorts.iter().map(|c| c.cohort_id).collect::<Vec<_>>(), vec![top.id]);

    // base → top → middle → base would be a cycle; so would a cohort on itself.
    let cyclic = |id: i64, target: i64| pb::UpdateCohortRequest {
        cohort: Some(pb::Cohort {
            id,
            definition: Some(group(Combinator::And, vec![cond("user_type", Op::IsSet, None), cond("cohort", Op::InCohort, Some(Kind::CohortId(target)))])),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["definition".into()] }),
        confirm_audience_change: false,
    };
    let err = client(&app).update_cohort(authed(cyclic(base.id, top.id), &token)).await.expect_err("a cycle");
    assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, "cohort.definition.nodes[1].condition.value".to_string()));
    let err = client(&app).update_cohort(authed(cyclic(base.id, base.id), &token)).await.expect_err("itself");
    assert_eq!(violation(&err), "cohort.definition.nodes[1].condition.value");
    // A reference to a cohort that does not exist is named too.
    let err =
        create(&app, &token, "dangling", pb::CohortKind::Dynamic, group(Combinator::And, vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(999_999)))]))
            .await
            .expect_err("unknown cohort");
    assert_eq!(violation(&err), "cohort.definition.nodes[0].condition.value");

    // From the top down, each deletion frees the next.
    for id in [top.id, middle.id, base.id] {
        client(&app).delete_cohort(authed(pb::DeleteCohortRequest { id, confirm_audience_change: false }, &token)).await.expect("deletable now");
    }
    let listed = client(&app).list_cohorts(authed(pb::ListCohortsRequest::default(), &token)).await.unwrap().into_inner();
    assert_eq!(listed.total_size, 0);
}

#[tokio::test]
async fn previews_count_funnel_sample_and_overlaps_like_sql_and_save_nothing() {
    let app = seeded_app(2000, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "read_only").await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let _worker = cohort_worker(&app);
    let saved = create(
        &app,
        &writer,
        "dealers",
        pb::CohortKind::Dynamic,
        group(Combinator::And, vec![cond("user_type", Op::Equals, Some(Kind::Text("dealer".into())))]),
    )
    .await
    .unwrap();
    wait_refreshed(&app, &writer, saved.id, None).await;
    let live = promotion(&app, saved.id, "dealer promo", "active", "live").await;
    let cohorts_before = fixtures::count(&app, "SELECT count(*) AS n FROM cdp.cohorts").await;

    let definition = group(
        Combinator::And,
        vec![
            cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(2.0))),
            cond("verticals_listed_in", Op::ContainsAny, texts(&["cars", "property"])),
            cond("current_credits_in_wallet", Op::LessOrEqual, Some(Kind::Number(400.0))),
            cond("account_status", Op::Equals, Some(Kind::Text("active".into()))),
        ],
    );
    // One user is suspended by the CDP (an attribute the preview joins in).
    fixtures::exec(&app, "INSERT INTO cdp.user_attributes (user_id, account_status) SELECT user_id, 'suspended' FROM public.users WHERE total_listings_count > 2 ORDER BY user_id LIMIT 1").await;
    let steps = [
        "total_listings_count > 2",
        "string_to_array(verticals_listed_in, ',') && ARRAY['cars','property']",
        "current_credits_in_wallet <= 400",
        "user_id NOT IN (SELECT user_id FROM cdp.user_attributes WHERE account_status <> 'active')",
    ];
    let preview = client(&app)
        .preview_cohort(authed(pb::PreviewCohortRequest { definition: Some(definition), sample_size: 7 }, &token))
        .await
        .expect("read_only may preview")
        .into_inner();
    let app = &app;
    let count = |clause: &str| {
        let sql = format!("SELECT count(*) AS n FROM public.users WHERE {clause}");
        async move { fixtures::count(app, &sql).await }
    };
    assert_eq!(preview.total_users, count("true").await);
    assert_eq!(preview.count, count(&steps.join(" AND ")).await);
    assert_eq!(preview.funnel.len(), 4);
    for (i, step) in preview.funnel.iter().enumerate() {
        assert_eq!(step.node_index, i as i32);
        assert_eq!(step.matching, count(steps[i]).await, "step {i} alone");
        assert_eq!(step.cumulative, count(&steps[..=i].join(" AND ")).await, "steps 0..={i}");
    }
    // The sample: the biggest spenders among the matches, in order.
    let expected_sample = ids(
        app,
        &format!(
            "SELECT user_id::int8 AS id FROM public.users WHERE {} ORDER BY total_credits_spent DESC NULLS LAST, user_id DESC LIMIT 7",
            steps.join(" AND ")
        ),
    )
    .await;
    let mut sample: Vec<i64> = preview.sample_users.iter().map(|u| u.user_id).collect();
    let spent: Vec<i32> = preview.sample_users.iter().map(|u| u.total_credits_spent.unwrap_or(i32::MIN)).collect();
    assert!(spent.windows(2).all(|w| w[0] >= w[1]), "highest total_credits_spent first: {spent:?}");
    sample.sort_unstable();
    assert_eq!(sample, expected_sample);
    assert!(preview.sample_users.iter().all(|u| u.phone_masked), "read_only sees masked phones");
    // Overlaps with the saved cohort and with the live promotion on it.
    let overlap = count(&format!("{} AND user_id IN (SELECT user_id FROM cdp.cohort_members WHERE cohort_id = {})", steps.join(" AND "), saved.id)).await;
    assert!(overlap > 0, "the case overlaps the saved cohort");
    assert_eq!(
        preview.cohort_overlaps.iter().map(|o| (o.cohort_id, o.overlap, o.size)).collect::<Vec<_>>(),
        vec![(saved.id, overlap, saved_size(app, saved.id).await)]
    );
    assert_eq!(
        preview.promotion_overlaps.iter().map(|o| (o.promotion_id, o.overlap, o.status)).collect::<Vec<_>>(),
        vec![(live, overlap, pb::PromotionStatus::Active as i32)]
    );
    assert_eq!(fixtures::count(app, "SELECT count(*) AS n FROM cdp.cohorts").await, cohorts_before, "nothing saved");

    // Bad input is named.
    let err = client(app).preview_cohort(authed(pb::PreviewCohortRequest { definition: None, sample_size: 0 }, &token)).await.expect_err("no definition");
    assert_eq!(violation(&err), "definition");
    let bad = group(Combinator::And, vec![cond("total_listings_count", Op::ContainsAny, texts(&["x"]))]);
    let err = client(app).preview_cohort(authed(pb::PreviewCohortRequest { definition: Some(bad), sample_size: 0 }, &token)).await.expect_err("bad operator");
    assert_eq!(violation(&err), "definition.nodes[0].condition.operator");
    let err = client(app)
        .preview_cohort(authed(pb::PreviewCohortRequest { definition: Some(group(Combinator::And, vec![])), sample_size: -1 }, &token))
        .await
        .expect_err("negative sample");
    assert_eq!(violation(&err), "sample_size");
}

async fn saved_size(app: &TestApp, id: i64) -> i64 {
    fixtures::count(app, &format!("SELECT size AS n FROM cdp.cohorts WHERE id = {id}")).await
}

#[tokio::test]
async fn rpcs_validate_their_input_and_follow_the_permission_matrix() {
    let app = seeded_app(100, &[]).await;
    let (_, reader) = fixtures::user_with_role(&app, "read_only").await;
    let (_, engineer) = fixtures::user_with_role(&app, "data_engineer").await;
    let (_, writer) = fixtures::user_with_role(&app, "growth_manager").await;
    let definition = group(Combinator::And, vec![cond("user_type", Op::IsSet, None)]);

    // read_only reads but cannot create (the layer's matrix), data_engineer cannot either.
    for token in [&reader, &engineer] {
        let err = create(&app, token, "not mine", pb::CohortKind::Dynamic, definition.clone()).await.expect_err("no cohorts.write");
        assert_eq!(err.code(), Code::PermissionDenied);
    }
    let cohort = create(&app, &writer, "typed", pb::CohortKind::Dynamic, definition.clone()).await.unwrap();
    assert_eq!(get(&app, &reader, cohort.id).await.name, "typed");
    assert_eq!(cohort.refresh_interval.as_ref().map(|d| d.seconds), Some(86_400), "24 hours unless set");

    let with = |f: &dyn Fn(&mut pb::Cohort)| {
        let mut c = pb::Cohort { name: "x".into(), definition: Some(definition.clone()), ..Default::default() };
        f(&mut c);
        pb::CreateCohortRequest { cohort: Some(c) }
    };
    let cases: Vec<(pb::CreateCohortRequest, &str)> = vec![
        (with(&|c| c.name = "  ".into()), "cohort.name"),
        (with(&|c| c.name = "n".repeat(121)), "cohort.name"),
        (with(&|c| c.refresh_interval = Some(prost_types::Duration { seconds: 600, nanos: 0 })), "cohort.refresh_interval"),
        (with(&|c| c.definition = None), "cohort.definition"),
        (with(&|c| c.definition = Some(group(Combinator::Unspecified, vec![]))), "cohort.definition.combinator"),
        (with(&|c| c.kind = 9), "cohort.kind"),
        (pb::CreateCohortRequest { cohort: None }, "cohort"),
    ];
    for (request, field) in cases {
        let err = client(&app).create_cohort(authed(request, &writer)).await.expect_err(field);
        assert_eq!((err.code(), violation(&err)), (Code::InvalidArgument, field.to_string()));
    }
    let err = create(&app, &writer, "TYPED", pb::CohortKind::Static, definition.clone()).await.expect_err("names are unique, case-insensitively");
    assert_eq!(err.code(), Code::AlreadyExists);

    let err = client(&app)
        .update_cohort(authed(
            pb::UpdateCohortRequest {
                cohort: Some(pb::Cohort { id: cohort.id, kind: 2, ..Default::default() }),
                update_mask: Some(prost_types::FieldMask { paths: vec!["kind".into()] }),
                confirm_audience_change: false,
            },
            &writer,
        ))
        .await
        .expect_err("kind is immutable");
    assert_eq!(violation(&err), "update_mask");
    let err = client(&app).get_cohort(authed(pb::GetCohortRequest { id: 424_242 }, &reader)).await.expect_err("unknown");
    assert_eq!(err.code(), Code::NotFound);
    let err = client(&app).refresh_cohort(authed(pb::RefreshCohortRequest { id: cohort.id }, &reader)).await.expect_err("refresh needs cohorts.write");
    assert_eq!(err.code(), Code::PermissionDenied);

    // Sync and syncs: an unconfigured integration is refused plainly, never faked.
    let err = client(&app)
        .sync_cohort(authed(pb::SyncCohortRequest { id: cohort.id, target: pb::SyncTarget::Braze as i32 }, &engineer))
        .await
        .expect_err("Braze not configured");
    assert_eq!((err.code(), reason(&err).as_str()), (Code::FailedPrecondition, "INTEGRATION_NOT_CONFIGURED"));
    assert!(err.message().contains("CDP_BRAZE_API_KEY"));
    let err = client(&app).sync_cohort(authed(pb::SyncCohortRequest { id: cohort.id, target: 0 }, &engineer)).await.expect_err("no target");
    assert_eq!(violation(&err), "target");
    let err = client(&app)
        .sync_cohort(authed(pb::SyncCohortRequest { id: cohort.id, target: pb::SyncTarget::Amplitude as i32 }, &reader))
        .await
        .expect_err("read_only cannot sync");
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(fixtures::count(&app, "SELECT count(*) AS n FROM cdp.integration_sync_runs").await, 0);

    // Lists: page sizes, tokens and filters.
    for i in 0..4 {
        create(&app, &writer, &format!("page {i}"), if i % 2 == 0 { pb::CohortKind::Static } else { pb::CohortKind::Dynamic }, definition.clone())
            .await
            .unwrap();
    }
    let first = client(&app)
        .list_cohorts(authed(pb::ListCohortsRequest { page_size: 2, search: "PAGE".into(), ..Default::default() }, &reader))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((first.cohorts.len(), first.total_size), (2, 4));
    let second = client(&app)
        .list_cohorts(authed(pb::ListCohortsRequest { page_size: 2, search: "page".into(), page_token: first.next_page_token, ..Default::default() }, &reader))
        .await
        .unwrap()
        .into_inner();
    let names: Vec<String> = first.cohorts.iter().chain(&second.cohorts).map(|c| c.name.clone()).collect();
    assert_eq!(names, vec!["page 0", "page 1", "page 2", "page 3"]);
    assert!(second.next_page_token.is_empty());
    let statics = client(&app)
        .list_cohorts(authed(pb::ListCohortsRequest { kind: pb::CohortKind::Static as i32, ..Default::default() }, &reader))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(statics.total_size, 2);
    let err = client(&app).list_cohorts(authed(pb::ListCohortsRequest { page_size: -1, ..Default::default() }, &reader)).await.expect_err("negative");
    assert_eq!(violation(&err), "page_size");
    let err = client(&app)
        .list_cohort_members(authed(pb::ListCohortMembersRequest { cohort_id: cohort.id, page_token: "forged".into(), ..Default::default() }, &reader))
        .await
        .expect_err("forged token");
    assert_eq!(violation(&err), "page_token");
    let err = client(&app)
        .get_cohort_size_history(authed(
            pb::GetCohortSizeHistoryRequest {
                cohort_id: cohort.id,
                range: Some(pb::DateRange { start_date: "2026-02-01".into(), end_date: "2026-01-01".into() }),
            },
            &reader,
        ))
        .await
        .expect_err("end before start");
    assert_eq!(violation(&err), "range.end_date");
}

#[tokio::test]
async fn previews_keep_condition_sets_current_as_the_data_changes() {
    // Kept sets are re-evaluated for the users each write changed (cohorts::preview_cache,
    // migration 000012), not scanned again; only a change to every user rescans.
    let app = seeded_app(800, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let definition = group(
        Combinator::And,
        vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(2.0))), cond("account_status", Op::Equals, Some(Kind::Text("active".into())))],
    );
    let where_sql = "total_listings_count > 2 AND user_id NOT IN (SELECT user_id FROM cdp.user_attributes WHERE account_status <> 'active')";
    let preview = || preview_of(&app, &token, definition.clone(), 3);
    let expected = || async { fixtures::count(&app, &format!("SELECT count(*) AS n FROM public.users WHERE {where_sql}")).await };
    let sets = |how: &str| cdp_server::metrics::PREVIEW_SETS.with_label_values(&[how]).get();
    let first = preview().await;
    assert_eq!(first.count, expected().await);
    let scanned = sets("scanned");
    assert!(scanned >= 2, "both conditions were scanned");
    assert_eq!(preview().await.count, first.count, "the same answer from the kept sets");
    assert_eq!(sets("reused"), 2);

    // The ETL changes five users: the next preview sees them at once, scanning nothing.
    fixtures::exec(
        &app,
        "UPDATE public.users SET total_listings_count = 9 WHERE user_id IN \
                          (SELECT user_id FROM public.users WHERE coalesce(total_listings_count, 0) <= 2 ORDER BY user_id LIMIT 5)",
    )
    .await;
    let after_etl = preview().await;
    assert_eq!(after_etl.count, first.count + 5);
    assert_eq!(after_etl.count, expected().await);
    assert_eq!(after_etl.funnel[0].matching, first.funnel[0].matching + 5);
    assert_eq!(sets("scanned"), scanned, "re-evaluated for the five users, not scanned");
    let updated = sets("updated");
    assert!(updated >= 2);

    // The CDP suspends two of the matches (a CDP attribute): they leave the preview.
    fixtures::exec(
        &app,
        &format!(
            "INSERT INTO cdp.user_attributes (user_id, account_status) SELECT user_id, 'suspended' FROM public.users WHERE {where_sql} ORDER BY user_id LIMIT 2"
        ),
    )
    .await;
    let after_suspension = preview().await;
    assert_eq!(after_suspension.count, after_etl.count - 2);
    assert_eq!(after_suspension.count, expected().await);
    assert_eq!(after_suspension.funnel[0].matching, after_etl.funnel[0].matching, "the first condition's set is unchanged");

    // A user who matches is deleted: gone from every set and from the total.
    fixtures::exec(&app, &format!("DELETE FROM public.users WHERE user_id = (SELECT min(user_id) FROM public.users WHERE {where_sql})")).await;
    let after_delete = preview().await;
    assert_eq!(after_delete.count, after_suspension.count - 1);
    assert_eq!(after_delete.count, expected().await);
    assert_eq!(after_delete.total_users, after_suspension.total_users - 1);

    // Writes that change no value re-evaluate nothing: a no-op update, and a stats refresh
    // (it rewrites every row; after one refresh at today's date a second one changes nothing).
    let today = chrono::Utc::now().date_naive();
    cdp_server::users::stats::refresh_all(&app.app.db, today).await.expect("a stats refresh");
    assert_eq!(preview().await.count, after_delete.count);
    let updated = sets("updated");
    fixtures::exec(&app, "UPDATE public.users SET total_listings_count = total_listings_count").await;
    cdp_server::users::stats::refresh_all(&app.app.db, today).await.expect("a stats refresh");
    let unchanged = preview().await;
    assert_eq!(unchanged.count, after_delete.count);
    assert_eq!((sets("updated"), sets("scanned")), (updated, scanned), "nothing to re-evaluate");

    // A truncate may change every user: the conditions are scanned again.
    fixtures::exec(&app, "TRUNCATE cdp.user_attributes").await;
    let after_truncate = preview().await;
    assert_eq!(after_truncate.count, expected().await);
    assert_eq!(after_truncate.count, after_delete.count + 2, "the suspensions are gone");
    assert!(sets("scanned") >= scanned + 2);
}

#[tokio::test]
async fn a_kept_condition_is_re_evaluated_only_when_a_preview_uses_it() {
    // A builder's earlier conditions stay kept; a write makes their changed users pending, and
    // they cost nothing until a preview uses them again.
    let app = seeded_app(600, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let listings = group(Combinator::And, vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(2.0)))]);
    let wallet = group(Combinator::And, vec![cond("current_credits_in_wallet", Op::GreaterThan, Some(Kind::Number(10.0)))]);
    let app = &app;
    let expected = |sql: &'static str| async move { fixtures::count(app, &format!("SELECT count(*) AS n FROM public.users WHERE {sql}")).await };
    let sets = |how: &str| cdp_server::metrics::PREVIEW_SETS.with_label_values(&[how]).get();
    preview_of(app, &token, listings.clone(), 0).await;
    preview_of(app, &token, wallet.clone(), 0).await;
    let (updated, scanned) = (sets("updated"), sets("scanned"));

    fixtures::exec(
        app,
        "UPDATE public.users SET total_listings_count = 9, current_credits_in_wallet = 50 \
         WHERE user_id IN (SELECT user_id FROM public.users WHERE coalesce(total_listings_count, 0) <= 2 AND coalesce(current_credits_in_wallet, 0) <= 10 ORDER BY user_id LIMIT 7)",
    )
    .await;
    let by_listings = preview_of(app, &token, listings.clone(), 0).await;
    assert_eq!(by_listings.count, expected("total_listings_count > 2").await);
    assert_eq!(sets("updated"), updated + 2, "the listings condition and every user, not the wallet condition");
    let by_wallet = preview_of(app, &token, wallet, 0).await;
    assert_eq!(by_wallet.count, expected("current_credits_in_wallet > 10").await, "the seven users are in, when it is used");
    assert_eq!(sets("updated"), updated + 3);
    assert_eq!(preview_of(app, &token, listings, 0).await.count, by_listings.count);
    assert_eq!((sets("updated"), sets("scanned")), (updated + 3, scanned), "re-evaluated once each, nothing scanned");
}

/// Waits for the server's background pass (cohorts::keep_current) to have counted `target`
/// sets under `how`; it runs every second in the test below.
async fn background_pass_reaches(how: &str, target: u64) {
    for _ in 0..600 {
        if cdp_server::metrics::PREVIEW_SETS.with_label_values(&[how]).get() >= target {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the background pass did not count {target} sets as {how} within a minute");
}

#[tokio::test]
async fn the_background_pass_keeps_kept_sets_current_for_the_next_preview() {
    // With the pass on, a write and a reload are dealt with before the builder's next preview:
    // that preview finds every set current and neither re-evaluates nor scans anything itself.
    let app = seeded_app(800, &[("CDP_PREVIEW_KEEP_CURRENT_SECS", "1".into())]).await;
    let (user_id, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let definition = group(
        Combinator::And,
        vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(2.0))), cond("account_status", Op::Equals, Some(Kind::Text("active".into())))],
    );
    let where_sql = "total_listings_count > 2 AND user_id NOT IN (SELECT user_id FROM cdp.user_attributes WHERE account_status <> 'active')";
    let app = &app;
    let preview = || preview_of(app, &token, definition.clone(), 3);
    let expected = || async { fixtures::count(app, &format!("SELECT count(*) AS n FROM public.users WHERE {where_sql}")).await };
    let sets = |how: &str| cdp_server::metrics::PREVIEW_SETS.with_label_values(&[how]).get();
    fixtures::exec(app, "INSERT INTO cdp.user_attributes (user_id, account_status) SELECT user_id, 'suspended' FROM public.users ORDER BY user_id LIMIT 3")
        .await;
    let first = preview().await;
    assert_eq!(first.count, expected().await);
    let by_previews = (sets("updated"), sets("scanned"));

    // The ETL changes five users: the pass re-evaluates both conditions and every user's set.
    fixtures::exec(
        app,
        "UPDATE public.users SET total_listings_count = 9 WHERE user_id IN \
         (SELECT user_id FROM public.users WHERE coalesce(total_listings_count, 0) <= 2 ORDER BY user_id DESC LIMIT 5)",
    )
    .await;
    background_pass_reaches("background_updated", 3).await;
    let after_write = preview().await;
    assert_eq!(after_write.count, first.count + 5);
    assert_eq!(after_write.count, expected().await);
    assert_eq!((sets("updated"), sets("scanned")), by_previews, "the preview found every set current");

    // A reload (a truncate may change every user): the pass scans the three sets again.
    fixtures::exec(app, "TRUNCATE cdp.user_attributes").await;
    background_pass_reaches("background_scanned", 3).await;
    let after_reload = preview().await;
    assert_eq!(after_reload.count, expected().await);
    assert!(after_reload.count > after_write.count, "the suspended users are back");
    assert_eq!((sets("updated"), sets("scanned")), by_previews, "the preview found every set current");
    assert_eq!(app.app.preview_cache.active_scopes().len(), 1);

    // The previewer is disabled: the pass reads nothing as them any more and forgets the scope.
    fixtures::exec(app, &format!("UPDATE cdp.platform_users SET status = 'disabled' WHERE id = '{user_id}'")).await;
    for _ in 0..600 {
        if app.app.preview_cache.active_scopes().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(app.app.preview_cache.active_scopes().is_empty(), "the scope of a disabled previewer is forgotten");
}

#[tokio::test]
async fn a_write_committed_after_a_preview_scanned_is_seen_by_the_next_preview() {
    // The writer logs its change before the preview's snapshot but commits after it: the next
    // preview must read it as a change the kept sets' snapshot missed (cohorts::preview_cache).
    let app = seeded_app(500, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let definition = group(Combinator::And, vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(2.0)))]);
    let preview = || preview_of(&app, &token, definition.clone(), 1);
    let before = preview().await;

    let mut writer = app.db.conn().await;
    diesel::sql_query("BEGIN").execute(&mut writer).await.unwrap();
    let changed = diesel::sql_query(
        "UPDATE public.users SET total_listings_count = 9 WHERE user_id IN \
         (SELECT user_id FROM public.users WHERE coalesce(total_listings_count, 0) <= 2 ORDER BY user_id LIMIT 5)",
    )
    .execute(&mut writer)
    .await
    .unwrap();
    assert_eq!(changed, 5);
    let during = preview().await;
    assert_eq!(during.count, before.count, "an uncommitted write is not seen");
    diesel::sql_query("COMMIT").execute(&mut writer).await.unwrap();

    let after = preview().await;
    assert_eq!(after.count, before.count + 5, "the write committed after the scan is seen");
}

#[tokio::test]
async fn previews_of_activity_conditions_read_alone_match_the_join_semantics() {
    // Activity conditions are evaluated on cdp.user_stats alone (cohorts::preview::Source):
    // users without a stats row must still match what a row of NULLs matches, and a stats row
    // whose user is gone must never count.
    let app = seeded_app(600, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    fixtures::exec(&app, "DELETE FROM cdp.user_stats").await;
    fixtures::exec(
        &app,
        "INSERT INTO cdp.user_stats (user_id, as_of, last_active_day, active_days_7, active_days_30, lifecycle_stage) \
         SELECT user_id, current_date, CASE WHEN user_id % 7 = 0 THEN NULL ELSE current_date - (user_id % 60) END, user_id % 8, user_id % 31, 'active' \
         FROM public.users WHERE user_id % 5 <> 0",
    )
    .await;
    fixtures::exec(&app, "INSERT INTO cdp.user_stats (user_id, as_of, active_days_30, lifecycle_stage) VALUES (2000000000, current_date, 30, 'active')").await;
    let app = &app;
    let token = &token;
    let count = |clause: String| async move {
        fixtures::count(app, &format!("SELECT count(*) AS n FROM public.users u LEFT JOIN cdp.user_stats s ON s.user_id = u.user_id WHERE {clause}")).await
    };
    let preview = |definition: pb::ConditionGroup| preview_of(app, token, definition, 5);

    // OR of a node that rows of NULLs match (no stats row, or no last active day) and one they do not.
    let either =
        preview(group(Combinator::Or, vec![cond("last_active_day", Op::IsNotSet, None), cond("active_days_30", Op::GreaterOrEqual, Some(Kind::Number(20.0)))]))
            .await;
    let steps = ["s.last_active_day IS NULL", "s.active_days_30 >= 20"];
    assert!(count(steps[0].into()).await > count("s.user_id IS NULL".into()).await, "both kinds of NULL are present");
    assert_eq!(either.funnel[0].matching, count(steps[0].into()).await, "users without a stats row match IS NOT SET");
    assert_eq!(either.funnel[1].matching, count(steps[1].into()).await, "the stats row of a user who is gone does not count");
    assert_eq!(either.count, count(steps.join(" OR ")).await);
    assert_eq!(either.total_users, count("true".into()).await);

    // AND with a users column: two sources, one answer.
    let both = preview(group(
        Combinator::And,
        vec![cond("total_listings_count", Op::GreaterThan, Some(Kind::Number(2.0))), cond("active_days_7", Op::LessThan, Some(Kind::Number(3.0)))],
    ))
    .await;
    assert_eq!(both.funnel[1].matching, count("s.active_days_7 < 3".into()).await, "NULL < 3 matches no one");
    assert_eq!(both.count, count("u.total_listings_count > 2 AND s.active_days_7 < 3".into()).await);
    assert!(both.count > 0);
}

#[tokio::test]
async fn preview_samples_are_the_top_spenders_whichever_way_they_are_found() {
    // More than 5,000 matches: the top spenders are walked on the index; when the matches all
    // spend little, the walk finds none of them and the sample falls back to a lookup by id.
    let app = seeded_app(8000, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let app = &app;
    let token = &token;
    // Below every one of the 1,200 biggest spenders: more than the walk's 1,000 index entries.
    let low = fixtures::count(app, "SELECT total_credits_spent::int8 - 1 AS n FROM public.users WHERE total_credits_spent IS NOT NULL ORDER BY total_credits_spent DESC OFFSET 1199 LIMIT 1").await;
    let cases = [
        (cond("total_credits_spent", Op::GreaterOrEqual, Some(Kind::Number(0.0))), "coalesce(total_credits_spent, 0) >= 0".to_string()),
        (cond("total_credits_spent", Op::LessOrEqual, Some(Kind::Number(low as f64))), format!("total_credits_spent <= {low}")),
    ];
    for (condition, clause) in cases {
        let preview = preview_of(app, token, group(Combinator::And, vec![condition]), 12).await;
        assert!(preview.count > 5000, "{clause}: {} matches take the walk", preview.count);
        let expected = ids(
            app,
            &format!("SELECT user_id::int8 AS id FROM public.users WHERE {clause} ORDER BY total_credits_spent DESC NULLS LAST, user_id DESC LIMIT 12"),
        )
        .await;
        let mut sample: Vec<i64> = preview.sample_users.iter().map(|u| u.user_id).collect();
        sample.sort_unstable();
        assert_eq!(sample, expected, "{clause}");
    }
}

#[tokio::test]
async fn previews_of_many_conditions_keep_each_count_apart() {
    // Every missing condition of a source is found in one scan, each as its own set
    // (cohorts::preview::evaluate): with 18, each count and cumulative count must be its own.
    let app = seeded_app(1500, &[]).await;
    let (_, token) = fixtures::user_with_role(&app, "growth_manager").await;
    let conditions: Vec<pb::ConditionNode> = (0..18).map(|i| cond("total_listings_count", Op::Equals, Some(Kind::Number(i as f64)))).collect();
    let preview = preview_of(&app, &token, group(Combinator::Or, conditions), 3).await;
    assert_eq!(preview.funnel.len(), 18);
    for (i, step) in preview.funnel.iter().enumerate() {
        let alone = fixtures::count(&app, &format!("SELECT count(*) AS n FROM public.users WHERE total_listings_count = {i}")).await;
        let cumulative = fixtures::count(&app, &format!("SELECT count(*) AS n FROM public.users WHERE total_listings_count BETWEEN 0 AND {i}")).await;
        assert_eq!((step.matching, step.cumulative), (alone, cumulative), "condition {i}");
    }
    assert!(preview.funnel.iter().filter(|s| s.matching > 0).count() >= 5, "the seed spreads listing counts");
    assert_eq!(preview.count, fixtures::count(&app, "SELECT count(*) AS n FROM public.users WHERE total_listings_count BETWEEN 0 AND 17").await);
}
