//! The condition engine (server/src/conditions): every operator type against an independent SQL
//! computation on a seeded marketplace, nesting, funnels, the reporting time zone, malformed
//! trees named by path, and hostile field names and values.

use cdp_proto::cdp::v1::{self as pb, Combinator, Operator as Op, value::Kind};
use cdp_server::{
    conditions::{self, Catalogue, CompileOptions, ConditionError},
    seed::{SeedOptions, seed},
};
use cdp_tests::TestDb;
use chrono::{Days, NaiveDate};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

pub fn cond(field: &str, op: Op, value: Option<Kind>) -> pb::ConditionNode {
    cond2(field, op, value, None)
}

pub fn cond2(field: &str, op: Op, value: Option<Kind>, value_to: Option<Kind>) -> pb::ConditionNode {
    pb::ConditionNode {
        node: Some(pb::condition_node::Node::Condition(pb::Condition {
            field: field.into(),
            operator: op as i32,
            value: value.map(|k| pb::Value { kind: Some(k) }),
            value_to: value_to.map(|k| pb::Value { kind: Some(k) }),
        })),
    }
}

pub fn group(combinator: Combinator, nodes: Vec<pb::ConditionNode>) -> pb::ConditionGroup {
    pb::ConditionGroup { combinator: combinator as i32, nodes }
}

pub fn nested(combinator: Combinator, nodes: Vec<pb::ConditionNode>) -> pb::ConditionNode {
    pb::ConditionNode { node: Some(pb::condition_node::Node::Group(group(combinator, nodes))) }
}

pub fn all(nodes: Vec<pb::ConditionNode>) -> pb::ConditionGroup {
    group(Combinator::And, nodes)
}

pub fn texts(values: &[&str]) -> Option<Kind> {
    Some(Kind::Texts(pb::StringList { values: values.iter().map(|v| v.to_string()).collect() }))
}

pub fn num(n: f64) -> Option<Kind> {
    Some(Kind::Number(n))
}

pub fn date(d: NaiveDate) -> Option<Kind> {
    Some(Kind::Date(d.to_string()))
}

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct S {
    #[diesel(sql_type = Text)]
    s: String,
}

/// `SELECT count(*) FROM public.users WHERE <where_sql>`: the independent computation.
pub async fn sql_count(conn: &mut AsyncPgConnection, where_sql: &str) -> i64 {
    let sql = format!("SELECT count(*) AS n FROM public.users WHERE {where_sql}");
    diesel::sql_query(&sql).get_result::<N>(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

async fn sql_text(conn: &mut AsyncPgConnection, sql: &str) -> String {
    diesel::sql_query(sql).get_result::<S>(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).s
}

async fn run(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

fn options(today: NaiveDate) -> CompileOptions {
    CompileOptions { path: "filter".into(), today, tz: chrono_tz::UTC, allow_pii: false }
}

async fn engine_count(conn: &mut AsyncPgConnection, tree: &pb::ConditionGroup, today: NaiveDate) -> i64 {
    let filter = conditions::compile(Catalogue::standard(), tree, &options(today)).expect("the tree compiles");
    conditions::count_matching(conn, &filter).await.expect("the compiled filter runs")
}

fn compile_error(tree: &pb::ConditionGroup) -> ConditionError {
    conditions::compile(Catalogue::standard(), tree, &options(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap())).expect_err("the tree is refused")
}

/// A seeded marketplace of `users` users whose "today" is `today`.
pub async fn seeded(users: u32, today: NaiveDate) -> TestDb {
    let db = TestDb::new().await;
    seed(&db.url, &SeedOptions { users, seed: 11, days: 120, today }).await.expect("seeding a small marketplace");
    db
}

#[tokio::test]
async fn every_operator_type_matches_an_independent_sql_count() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let db = seeded(1500, today).await;
    let mut conn = db.conn().await;
    let total = sql_count(&mut conn, "TRUE").await;

    // Values the seed actually produced, so the comparisons are meaningful.
    let vertical =
        sql_text(&mut conn, "SELECT favorite_vertical AS s FROM public.users WHERE favorite_vertical IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            .await;
    let other_vertical = sql_text(&mut conn, &format!("SELECT favorite_vertical AS s FROM public.users WHERE favorite_vertical IS NOT NULL AND favorite_vertical <> '{vertical}' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).await;
    let listed =
        sql_text(&mut conn, "SELECT v AS s FROM public.users, unnest(string_to_array(verticals_listed_in, ',')) v GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
            .await;
    let listed2 = sql_text(&mut conn, &format!("SELECT v AS s FROM public.users, unnest(string_to_array(verticals_listed_in, ',')) v WHERE v <> '{listed}' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).await;
    let median_spent: f64 = sql_text(
        &mut conn,
        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY total_credits_spent)::text AS s FROM public.users WHERE total_credits_spent > 0",
    )
    .await
    .parse()
    .unwrap();
    let d30 = today - Days::new(30);
    let d60 = today - Days::new(60);

    // CDP attributes, identities and cohorts: a few rows of each.
    run(&mut conn, "INSERT INTO cdp.user_attributes (user_id, account_status, tags) SELECT user_id, 'under_review', ARRAY['vip','watch'] FROM public.users ORDER BY user_id LIMIT 40").await;
    run(&mut conn, "INSERT INTO cdp.user_attributes (user_id, account_status, tags) SELECT user_id, 'suspended', ARRAY['fraud'] FROM public.users ORDER BY user_id DESC LIMIT 25").await;
    run(&mut conn, "INSERT INTO cdp.cohorts (id, name, kind) VALUES (501, 'big spenders', 'static')").await;
    run(&mut conn, "INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT 501, user_id FROM public.users WHERE total_credits_spent > 200").await;
    run(&mut conn, "INSERT INTO cdp.cohorts (id, name, kind, source, amplitude_cohort_id, created_at) VALUES (601, 'amp old', 'static', 'amplitude_import', 'amp-1', now() - interval '2 days'), (602, 'amp new', 'static', 'amplitude_import', 'amp-1', now())").await;
    run(&mut conn, "INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT 601, user_id FROM public.users WHERE user_id % 2 = 0").await;
    run(&mut conn, "INSERT INTO cdp.cohort_members (cohort_id, user_id) SELECT 602, user_id FROM public.users WHERE user_id % 3 = 0").await;

    let up = |s: &str| s.to_uppercase();
    let cases: Vec<(pb::ConditionNode, String)> = vec![
        // Numbers (integer and double columns).
        (cond("total_credits_spent", Op::GreaterThan, num(median_spent)), format!("total_credits_spent > {median_spent}")),
        (cond("total_credits_spent", Op::GreaterOrEqual, num(median_spent + 0.5)), format!("total_credits_spent >= {}", median_spent + 0.5)),
        (cond("total_credits_spent", Op::LessOrEqual, num(median_spent - 0.5)), format!("total_credits_spent <= {}", median_spent - 0.5)),
        (cond("current_credits_in_wallet", Op::LessThan, num(20.0)), "current_credits_in_wallet < 20".into()),
        (cond("total_listings_count", Op::Equals, num(2.0)), "total_listings_count = 2".into()),
        (cond("total_listings_count", Op::NotEquals, num(2.0)), "total_listings_count <> 2".into()),
        (cond("total_listings_count", Op::Equals, num(2.5)), "total_listings_count = 2.5".into()),
        (cond2("paid_listings_count", Op::Between, num(1.0), num(4.0)), "paid_listings_count BETWEEN 1 AND 4".into()),
        (cond2("current_credits_in_wallet", Op::Between, num(5.5), num(60.25)), "current_credits_in_wallet BETWEEN 5.5 AND 60.25".into()),
        (cond("paid_listings_count", Op::In, Some(Kind::Numbers(pb::NumberList { values: vec![1.0, 2.0, 3.0] }))), "paid_listings_count IN (1, 2, 3)".into()),
        (cond("paid_listings_count", Op::NotIn, Some(Kind::Numbers(pb::NumberList { values: vec![0.0, 1.0] }))), "paid_listings_count NOT IN (0, 1)".into()),
        (cond("last_transaction_date", Op::IsSet, None), "last_transaction_date IS NOT NULL".into()),
        (cond("last_transaction_date", Op::IsNotSet, None), "last_transaction_date IS NULL".into()),
        // Text: case-insensitive.
        (cond("favorite_vertical", Op::Equals, Some(Kind::Text(up(&vertical)))), format!("lower(favorite_vertical) = '{vertical}'")),
        (cond("favorite_vertical", Op::NotEquals, Some(Kind::Text(vertical.clone()))), format!("favorite_vertical <> '{vertical}'")),
        (
            cond("favorite_vertical", Op::Contains, Some(Kind::Text(up(&vertical[1..3])))),
            format!("position('{}' in lower(favorite_vertical)) > 0", &vertical[1..3]),
        ),
        (
            cond("favorite_vertical", Op::NotContains, Some(Kind::Text(vertical[1..3].to_string()))),
            format!("position('{}' in lower(favorite_vertical)) = 0", &vertical[1..3]),
        ),
        (cond("favorite_vertical", Op::StartsWith, Some(Kind::Text(up(&vertical[..2])))), format!("left(lower(favorite_vertical), 2) = '{}'", &vertical[..2])),
        (cond("favorite_vertical", Op::In, texts(&[&vertical, &up(&other_vertical)])), format!("favorite_vertical IN ('{vertical}', '{other_vertical}')")),
        (cond("favorite_vertical", Op::NotIn, texts(&[&vertical])), format!("favorite_vertical NOT IN ('{vertical}')")),
        (cond("favorite_vertical", Op::IsSet, None), "favorite_vertical IS NOT NULL AND favorite_vertical <> ''".into()),
        (cond("favorite_vertical", Op::IsNotSet, None), "favorite_vertical IS NULL OR favorite_vertical = ''".into()),
        // Lists (comma-separated slugs), computed here with string matching instead of arrays.
        (
            cond("verticals_listed_in", Op::ContainsAny, texts(&[&listed, &listed2])),
            format!("(',' || verticals_listed_in || ',') LIKE '%,{listed},%' OR (',' || verticals_listed_in || ',') LIKE '%,{listed2},%'"),
        ),
        (
            cond("verticals_listed_in", Op::ContainsAll, texts(&[&listed, &up(&listed2)])),
            format!("(',' || verticals_listed_in || ',') LIKE '%,{listed},%' AND (',' || verticals_listed_in || ',') LIKE '%,{listed2},%'"),
        ),
        (
            cond("verticals_listed_in", Op::ContainsNone, texts(&[&listed])),
            format!("verticals_listed_in IS NULL OR (',' || verticals_listed_in || ',') NOT LIKE '%,{listed},%'"),
        ),
        (cond("verticals_listed_in", Op::IsSet, None), "coalesce(verticals_listed_in, '') <> ''".into()),
        (cond("verticals_listed_in", Op::IsNotSet, None), "coalesce(verticals_listed_in, '') = ''".into()),
        // Timestamps: calendar days relative to today.
        (
            cond("user_account_creation_date", Op::WithinLastDays, Some(Kind::Days(30))),
            format!("user_account_creation_date::date BETWEEN DATE '{today}' - 29 AND DATE '{today}'"),
        ),
        (cond("user_account_creation_date", Op::MoreThanDaysAgo, Some(Kind::Days(60))), format!("user_account_creation_date::date < DATE '{today}' - 60")),
        (cond("last_transaction_date", Op::Before, date(d30)), format!("last_transaction_date::date < DATE '{d30}'")),
        (cond("last_transaction_date", Op::After, date(d30)), format!("last_transaction_date::date > DATE '{d30}'")),
        (cond("last_transaction_date", Op::Equals, date(d30)), format!("last_transaction_date::date = DATE '{d30}'")),
        (cond2("last_transaction_date", Op::Between, date(d60), date(d30)), format!("last_transaction_date::date BETWEEN DATE '{d60}' AND DATE '{d30}'")),
        (
            cond(
                "user_account_creation_date",
                Op::Before,
                Some(Kind::Timestamp(prost_types::Timestamp { seconds: d60.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp(), nanos: 0 })),
            ),
            format!("user_account_creation_date < TIMESTAMP '{d60} 12:00:00'"),
        ),
        // 0/1 flags.
        (cond("is_multivertical_user", Op::Equals, Some(Kind::Flag(true))), "is_multivertical_user = 1".into()),
        (cond("is_multivertical_user", Op::NotEquals, Some(Kind::Flag(true))), "is_multivertical_user = 0".into()),
        (cond("is_block", Op::Equals, Some(Kind::Flag(false))), "is_block = 0".into()),
        // CDP attributes and identities.
        (
            cond("account_status", Op::Equals, Some(Kind::Text("UNDER_REVIEW".into()))),
            "user_id IN (SELECT user_id FROM cdp.user_attributes WHERE account_status = 'under_review')".into(),
        ),
        (
            cond("account_status", Op::In, texts(&["active", "suspended"])),
            "user_id NOT IN (SELECT user_id FROM cdp.user_attributes WHERE account_status = 'under_review')".into(),
        ),
        (
            cond("tags", Op::ContainsAny, texts(&["vip", "fraud"])),
            "user_id IN (SELECT user_id FROM cdp.user_attributes WHERE 'vip' = ANY(tags) OR 'fraud' = ANY(tags))".into(),
        ),
        (cond("tags", Op::IsNotSet, None), "user_id NOT IN (SELECT user_id FROM cdp.user_attributes WHERE tags <> '{}')".into()),
        (cond("has_amplitude_id", Op::Equals, Some(Kind::Flag(true))), "user_id IN (SELECT user_id FROM cdp.identities WHERE amplitude_id <> '')".into()),
        (cond("has_braze_id", Op::Equals, Some(Kind::Flag(false))), "user_id NOT IN (SELECT user_id FROM cdp.identities WHERE braze_id <> '')".into()),
        // Membership.
        (cond("cohort", Op::InCohort, Some(Kind::CohortId(501))), "total_credits_spent > 200".into()),
        (cond("cohort", Op::NotInCohort, Some(Kind::CohortId(501))), "total_credits_spent IS NULL OR total_credits_spent <= 200".into()),
        (cond("amplitude_cohort", Op::InAmplitudeCohort, Some(Kind::AmplitudeCohortId("amp-1".into()))), "user_id % 3 = 0".into()),
        (cond("amplitude_cohort", Op::NotInAmplitudeCohort, Some(Kind::AmplitudeCohortId("amp-1".into()))), "user_id % 3 <> 0".into()),
    ];

    let mut discriminating = 0;
    for (node, where_sql) in &cases {
        let expected = sql_count(&mut conn, where_sql).await;
        let got = engine_count(&mut conn, &all(vec![node.clone()]), today).await;
        assert_eq!(got, expected, "{where_sql}");
        if expected > 0 && expected < total {
            discriminating += 1;
        }
    }
    // The seeded data makes almost every case split the users (not vacuously 0 or all).
    assert!(discriminating >= cases.len() - 2, "only {discriminating} of {} cases split the users", cases.len());
}

#[tokio::test]
async fn nested_and_or_trees_and_funnels_match_sql() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
    let db = seeded(1200, today).await;
    let mut conn = db.conn().await;
    let tree = all(vec![
        cond("total_listings_count", Op::GreaterOrEqual, num(1.0)),
        nested(
            Combinator::Or,
            vec![
                cond("user_type", Op::In, texts(&["office", "shop"])),
                nested(
                    Combinator::And,
                    vec![cond("current_credits_in_wallet", Op::GreaterThan, num(10.0)), cond("is_multivertical_user", Op::Equals, Some(Kind::Flag(true)))],
                ),
            ],
        ),
        cond("last_transaction_date", Op::WithinLastDays, Some(Kind::Days(90))),
    ]);
    let a = "total_listings_count >= 1";
    let b = "(user_type IN ('office', 'shop') OR (current_credits_in_wallet > 10 AND is_multivertical_user = 1))";
    let c = format!("last_transaction_date::date BETWEEN DATE '{today}' - 89 AND DATE '{today}'");
    let expected = sql_count(&mut conn, &format!("{a} AND {b} AND {c}")).await;
    assert_eq!(engine_count(&mut conn, &tree, today).await, expected);
    assert!(expected > 0);

    // The funnel: each node alone and what remains after each, in one query.
    let filter = conditions::compile(Catalogue::standard(), &tree, &options(today)).unwrap();
    let funnel = conditions::funnel(&mut conn, &filter).await.unwrap();
    assert_eq!(funnel.total_users, sql_count(&mut conn, "TRUE").await);
    assert_eq!(funnel.matching, expected);
    let alone = [sql_count(&mut conn, a).await, sql_count(&mut conn, b).await, sql_count(&mut conn, &c).await];
    let cumulative = [alone[0], sql_count(&mut conn, &format!("{a} AND {b}")).await, expected];
    assert_eq!(funnel.steps.iter().map(|s| s.matching).collect::<Vec<_>>(), alone);
    assert_eq!(funnel.steps.iter().map(|s| s.cumulative).collect::<Vec<_>>(), cumulative);
    assert_eq!(funnel.steps[0].label, "total_listings_count ≥ 1");

    // OR at the top: the funnel gathers.
    let either =
        group(Combinator::Or, vec![cond("user_type", Op::Equals, Some(Kind::Text("office".into()))), cond("total_listings_count", Op::Equals, num(0.0))]);
    let filter = conditions::compile(Catalogue::standard(), &either, &options(today)).unwrap();
    let funnel = conditions::funnel(&mut conn, &filter).await.unwrap();
    assert_eq!(funnel.steps[1].cumulative, sql_count(&mut conn, "user_type = 'office' OR total_listings_count = 0").await);
    assert_eq!(funnel.matching, funnel.steps[1].cumulative);

    // Empty groups: AND matches everyone, OR no one.
    assert_eq!(engine_count(&mut conn, &all(vec![]), today).await, funnel.total_users);
    assert_eq!(engine_count(&mut conn, &group(Combinator::Or, vec![]), today).await, 0);
}

#[tokio::test]
async fn days_follow_the_reporting_time_zone() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    // Wall times in the reporting zone (UTC+14): today there is Nov 21 while UTC may be Nov 20.
    run(
        &mut conn,
        "INSERT INTO public.users (user_id, user_account_creation_date) VALUES (1, '2026-11-21 00:30'), (2, '2026-11-20 23:30'), (3, '2026-11-21 13:00')",
    )
    .await;
    let tz: chrono_tz::Tz = "Pacific/Kiritimati".parse().unwrap();
    let opts = CompileOptions { path: "filter".into(), today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(), tz, allow_pii: false };
    let ids = |tree: pb::ConditionGroup| {
        let filter = conditions::compile(Catalogue::standard(), &tree, &opts).unwrap();
        let mut sql = conditions::Sql::new("SELECT string_agg(u.user_id::text, ',' ORDER BY u.user_id) AS s FROM public.users u");
        sql.push_joins(&filter).push(" WHERE ").push_filter(&filter);
        sql
    };
    let query = |sql: conditions::Sql| async { sql.into_query().get_result::<S>(&mut db.conn().await).await.map(|r| r.s).unwrap_or_default() };
    // "Within the last 1 day" = the zone's today only.
    assert_eq!(query(ids(all(vec![cond("user_account_creation_date", Op::WithinLastDays, Some(Kind::Days(1)))]))).await, "1,3");
    // An instant is compared in the zone's wall time: 2026-11-20T10:00Z is 2026-11-21 00:00 there.
    let instant = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z").unwrap().timestamp();
    let after = all(vec![cond("user_account_creation_date", Op::After, Some(Kind::Timestamp(prost_types::Timestamp { seconds: instant, nanos: 0 })))]);
    assert_eq!(query(ids(after)).await, "1,3");
    // A date means the whole day there.
    assert_eq!(query(ids(all(vec![cond("user_account_creation_date", Op::Equals, date(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()))]))).await, "2");
}

#[tokio::test]
async fn hostile_field_names_are_refused_and_values_are_bound() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    run(&mut conn, "INSERT INTO public.users (user_id, user_type, favorite_vertical) VALUES (1, 'individual', 'cars'), (2, 'office', '100%_real')").await;
    let err = compile_error(&all(vec![cond("user_id; DROP TABLE users", Op::Equals, num(1.0))]));
    assert_eq!(err.path, "filter.nodes[0].condition.field");
    assert!(err.reason.contains("unknown field"), "{err}");

    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    for hostile in ["'; DROP TABLE public.users; --", "x' OR '1'='1", "$1", "\\'); DELETE FROM cdp.user_attributes; --"] {
        for op in [Op::Equals, Op::Contains, Op::StartsWith] {
            let n = engine_count(&mut conn, &all(vec![cond("user_type", op, Some(Kind::Text(hostile.into())))]), today).await;
            assert_eq!(n, 0, "{hostile:?} matched no user");
        }
        let n = engine_count(&mut conn, &all(vec![cond("verticals_listed_in", Op::ContainsAny, texts(&[hostile]))]), today).await;
        assert_eq!(n, 0);
    }
    assert_eq!(sql_count(&mut conn, "TRUE").await, 2, "the users table is intact");
    // LIKE wildcards in a value match literally.
    assert_eq!(engine_count(&mut conn, &all(vec![cond("favorite_vertical", Op::Contains, Some(Kind::Text("0%_".into())))]), today).await, 1);
    assert_eq!(engine_count(&mut conn, &all(vec![cond("favorite_vertical", Op::Contains, Some(Kind::Text("%".into())))]), today).await, 1);
    assert_eq!(engine_count(&mut conn, &all(vec![cond("favorite_vertical", Op::StartsWith, Some(Kind::Text("_".into())))]), today).await, 0);
}

#[test]
fn malformed_trees_name_the_bad_node() {
    let ok = || cond("total_credits_spent", Op::GreaterThan, num(1.0));
    let cases: Vec<(pb::ConditionGroup, &str, &str)> = vec![
        (pb::ConditionGroup { combinator: 0, nodes: vec![ok()] }, "filter.combinator", "COMBINATOR_AND"),
        (all(vec![ok(), pb::ConditionNode { node: None }]), "filter.nodes[1]", "condition or a group"),
        (
            all(vec![ok(), nested(Combinator::Or, vec![ok(), cond("nope", Op::Equals, num(1.0))])]),
            "filter.nodes[1].group.nodes[1].condition.field",
            "unknown field",
        ),
        (all(vec![cond("", Op::Equals, num(1.0))]), "filter.nodes[0].condition.field", "required"),
        (all(vec![cond("total_credits_spent", Op::Unspecified, num(1.0))]), "filter.nodes[0].condition.operator", "required"),
        (
            all(vec![cond("total_credits_spent", Op::Contains, Some(Kind::Text("1".into())))]),
            "filter.nodes[0].condition.operator",
            "does not accept OPERATOR_CONTAINS",
        ),
        (all(vec![cond("verticals_listed_in", Op::Equals, Some(Kind::Text("cars".into())))]), "filter.nodes[0].condition.operator", "OPERATOR_CONTAINS_ANY"),
        (all(vec![cond("total_credits_spent", Op::GreaterThan, Some(Kind::Text("100".into())))]), "filter.nodes[0].condition.value", "needs a number"),
        (all(vec![cond("total_credits_spent", Op::GreaterThan, None)]), "filter.nodes[0].condition.value", "needs a number"),
        (all(vec![cond("total_credits_spent", Op::GreaterThan, num(f64::NAN))]), "filter.nodes[0].condition.value", "finite"),
        (all(vec![cond2("total_credits_spent", Op::Between, num(5.0), None)]), "filter.nodes[0].condition.value_to", "needs a number"),
        (all(vec![cond2("total_credits_spent", Op::Between, num(5.0), num(1.0))]), "filter.nodes[0].condition.value_to", "must not be less"),
        (all(vec![cond2("total_credits_spent", Op::GreaterThan, num(5.0), num(1.0))]), "filter.nodes[0].condition.value_to", "must be unset"),
        (all(vec![cond("last_transaction_date", Op::IsSet, num(1.0))]), "filter.nodes[0].condition.value", "must be unset"),
        (all(vec![cond("last_transaction_date", Op::WithinLastDays, Some(Kind::Days(0)))]), "filter.nodes[0].condition.value", "between 1"),
        (all(vec![cond("last_transaction_date", Op::Before, Some(Kind::Date("2026-13-01".into())))]), "filter.nodes[0].condition.value", "YYYY-MM-DD"),
        (
            all(vec![cond2("last_transaction_date", Op::Between, date(NaiveDate::from_ymd_opt(2026, 1, 2).unwrap()), Some(Kind::Days(3)))]),
            "filter.nodes[0].condition.value_to",
            "needs a date",
        ),
        (all(vec![cond("favorite_vertical", Op::In, texts(&[]))]), "filter.nodes[0].condition.value", "at least one"),
        (all(vec![cond("favorite_vertical", Op::In, texts(&["cars", " "]))]), "filter.nodes[0].condition.value.texts.values[1]", "1 to"),
        (all(vec![cond("lifecycle_stage", Op::Equals, Some(Kind::Text("loyal".into())))]), "filter.nodes[0].condition.value", "about_to_churn"),
        (all(vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(0)))]), "filter.nodes[0].condition.value", "positive"),
        (all(vec![cond("phone", Op::Contains, Some(Kind::Text("1234".into())))]), "filter.nodes[0].condition.field", "users.read_pii"),
    ];
    for (tree, path, reason) in cases {
        let err = compile_error(&tree);
        assert_eq!(err.path, path, "{err}");
        assert!(err.reason.contains(reason), "{err} should mention {reason:?}");
    }

    // Depth: 8 levels pass, 9 are refused at the ninth group.
    let deep = |levels: usize| {
        let mut node = ok();
        for _ in 1..levels {
            node = nested(Combinator::And, vec![node]);
        }
        all(vec![node])
    };
    assert!(conditions::compile(Catalogue::standard(), &deep(8), &options(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())).is_ok());
    let err = compile_error(&deep(9));
    assert_eq!(err.path, format!("filter{}", ".nodes[0].group".repeat(8)));
    // Size: 200 conditions pass, the 201st is named.
    assert!(conditions::compile(Catalogue::standard(), &all((0..200).map(|_| ok()).collect()), &options(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())).is_ok());
    let err = compile_error(&all((0..201).map(|_| ok()).collect()));
    assert_eq!(err.path, "filter.nodes[200].condition");
}

#[tokio::test]
async fn references_to_missing_cohorts_are_refused() {
    let db = TestDb::new().await;
    let mut conn = db.conn().await;
    run(&mut conn, "INSERT INTO cdp.cohorts (id, name, kind) VALUES (7, 'kept', 'static'), (8, 'gone', 'static')").await;
    run(&mut conn, "UPDATE cdp.cohorts SET deleted_at = now() WHERE id = 8").await;
    let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let db = &db;
    let check = |tree: pb::ConditionGroup| {
        let filter = conditions::compile(Catalogue::standard(), &tree, &options(today)).unwrap();
        async move { conditions::check_references(&mut db.conn().await, &filter).await }
    };
    assert!(check(all(vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(7)))])).await.is_ok());
    let err =
        check(all(vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(7))), cond("cohort", Op::NotInCohort, Some(Kind::CohortId(8)))])).await.unwrap_err();
    assert!(err.to_string().starts_with("filter.nodes[1].condition.value: "), "{err}");
    let err = check(all(vec![cond("amplitude_cohort", Op::InAmplitudeCohort, Some(Kind::AmplitudeCohortId("never-imported".into())))])).await.unwrap_err();
    assert!(err.to_string().contains("has not been imported"), "{err}");
    let filter = conditions::compile(
        Catalogue::standard(),
        &all(vec![cond("cohort", Op::InCohort, Some(Kind::CohortId(7))), cond("cohort", Op::InCohort, Some(Kind::CohortId(7)))]),
        &options(today),
    )
    .unwrap();
    assert_eq!(filter.cohort_ids(), vec![7]);
}
