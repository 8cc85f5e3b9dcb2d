//! `cdp seed`: every consistency rule of the generated marketplace checked row by row with
//! independent SQL, realistic shapes (user types, churn, comebacks, weekly rhythm), identities
//! and ingestion batches, determinism for a seed, and the empty-database guard.

use cdp_server::seed::{self, SeedOptions};
use cdp_tests::TestDb;
use chrono::NaiveDate;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

const USERS: u32 = 2_000;
const DAYS: u32 = 180;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 15).expect("a valid date")
}

fn options(seed: u64) -> SeedOptions {
    SeedOptions { users: USERS, seed, days: DAYS, today: today() }
}

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(diesel::QueryableByName)]
struct Digest {
    #[diesel(sql_type = Text)]
    md5: String,
}

async fn number(db: &TestDb, sql: &str) -> i64 {
    let mut conn = db.conn().await;
    // Any integer type the rule's SQL yields, read as bigint.
    let wrapped = format!("SELECT (q.n)::bigint AS n FROM ({sql}) q");
    diesel::sql_query(&wrapped).get_result::<Number>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).n
}

/// Runs each `(rule, SQL counting the rows that break it)` and fails naming every broken rule.
async fn assert_no_violations(db: &TestDb, rules: &[(&str, String)]) {
    let mut broken = Vec::new();
    for (rule, sql) in rules {
        let n = number(db, sql).await;
        if n != 0 {
            broken.push(format!("{rule}: {n} rows"));
        }
    }
    assert!(broken.is_empty(), "broken rules:\n{}", broken.join("\n"));
}

/// Rows of public.users for which `condition` is not true (NULL counts as broken).
fn users_where_not(condition: &str) -> String {
    format!("SELECT count(*) AS n FROM public.users WHERE NOT coalesce(({condition}), false)")
}

const PLANS: [&str; 8] = ["basic", "pro", "extra", "plus", "super", "standard", "premium", "optimum"];
const ADDONS: [&str; 8] = ["pinning", "extended", "promoted", "pinning_shuffle", "premium", "power_pin", "refresh", "vip"];
const VERTICALS: [&str; 7] = ["cars", "property", "electronics", "jobs", "services", "fashion", "home"];

fn sum(columns: impl Iterator<Item = String>) -> String {
    columns.collect::<Vec<_>>().join(" + ")
}

/// The slugs whose `<prefix><slug><suffix>` column is positive, as a text[] (SQL).
fn used(slugs: &[&str], prefix: &str, suffix: &str) -> String {
    let cases: Vec<String> = slugs.iter().map(|s| format!("CASE WHEN {prefix}{s}{suffix} > 0 THEN '{s}' END")).collect();
    format!("array_remove(ARRAY[{}]::text[], NULL)", cases.join(", "))
}

/// `column` holds exactly the set `array` (NULL for the empty set) as comma-separated slugs.
fn same_set(column: &str, array: &str) -> String {
    format!(
        "(CASE WHEN cardinality({array}) = 0 THEN {column} IS NULL ELSE \
          string_to_array({column}, ',') @> {array} AND {array} @> string_to_array({column}, ',') \
          AND cardinality(string_to_array({column}, ',')) = cardinality({array}) END)"
    )
}

/// A list column is NULL or distinct lowercase slugs joined by commas, no spaces.
fn slug_set(column: &str) -> String {
    format!(
        "{column} IS NULL OR ({column} ~ '^[a-z0-9_]+(,[a-z0-9_]+)*$' AND \
         (SELECT count(DISTINCT x) FROM unnest(string_to_array({column}, ',')) x) = cardinality(string_to_array({column}, ',')))"
    )
}

/// The value of `<prefix><favorite><suffix>` for the favorite slug, and the largest of them.
fn favorite_is_max(favorite: &str, slugs: &[&str], prefix: &str, suffix: &str) -> String {
    let pick: Vec<String> = slugs.iter().map(|s| format!("WHEN '{s}' THEN {prefix}{s}{suffix}")).collect();
    let all: Vec<String> = slugs.iter().map(|s| format!("{prefix}{s}{suffix}")).collect();
    format!("(CASE {favorite} {} END) = greatest({})", pick.join(" "), all.join(", "))
}

#[tokio::test]
async fn seeded_users_are_internally_consistent_row_by_row() {
    let db = TestDb::new().await;
    let report = seed::seed(&db.url, &options(42)).await.expect("seeding 2,000 users");
    let today = today();
    let window_start = today - chrono::Duration::days(DAYS as i64 - 1);
    let t = format!("DATE '{today}'");
    let w = format!("DATE '{window_start}'");

    assert_eq!(number(&db, "SELECT count(*) AS n FROM public.users").await, USERS as i64);
    assert_eq!(report.users, USERS as u64);
    assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.user_daily_activity").await, report.activity_rows as i64);
    assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.identities").await, report.identities as i64);
    assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.ingestion_batches").await, report.batches as i64);
    assert_eq!(number(&db, "SELECT (max(user_id) - min(user_id) + 1 - count(*)) + min(user_id) - 1 AS n FROM public.users").await, 0, "user ids are 1..N");

    let plan_listings = sum(PLANS.iter().map(|p| format!("{p}_listings_count")));
    let plan_credits = sum(PLANS.iter().map(|p| format!("{p}_credits_spent")));
    let addon_count = sum(ADDONS.iter().map(|a| format!("addon_{a}_listings_count")));
    let addon_credits = sum(ADDONS.iter().map(|a| format!("addon_{a}_credits_spent")));
    let office = "car_offices_listings_count + property_offices_listings_count + electronics_shops_listings_count";
    let office_credits = "car_offices_credits_spent + property_offices_credits_spent + electronics_shops_credits_spent";
    let verticals = format!("ARRAY[{}]::text[]", VERTICALS.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(","));

    let mut rules: Vec<(&str, String)> = vec![
        ("user_type is one of the four", users_where_not("user_type IN ('individual', 'dealer', 'agency', 'shop')")),
        ("phone is Egyptian mobile 20 + 1[0125] + 8 digits", users_where_not("phone::text ~ '^201[0125][0-9]{8}$'")),
        ("phones are unique", "SELECT count(*) - count(DISTINCT phone) AS n FROM public.users".into()),
        ("wallet is not negative", users_where_not("current_credits_in_wallet >= 0")),
        ("is_block is 0 or 1", users_where_not("is_block IN (0, 1)")),
        ("blocking is rare", "SELECT (count(*) FILTER (WHERE is_block = 1) > count(*) / 20)::int AS n FROM public.users".into()),
        (
            "accounts created within ~3 years up to today",
            users_where_not(&format!("user_account_creation_date >= {t} - interval '3 years' AND user_account_creation_date < {t} + 1")),
        ),
        ("creation <= first paid listing", users_where_not("first_paid_listing_date IS NULL OR first_paid_listing_date >= user_account_creation_date")),
        ("creation <= first transaction", users_where_not("first_transaction_date IS NULL OR first_transaction_date >= user_account_creation_date")),
        ("first <= last paid listing", users_where_not("first_paid_listing_date IS NULL OR first_paid_listing_date <= last_paid_listing_date")),
        ("first <= last transaction", users_where_not("first_transaction_date IS NULL OR first_transaction_date <= last_transaction_date")),
        ("first transaction <= first paid listing", users_where_not("first_paid_listing_date IS NULL OR first_transaction_date <= first_paid_listing_date")),
        ("last paid listing <= last transaction", users_where_not("last_paid_listing_date IS NULL OR last_paid_listing_date <= last_transaction_date")),
        ("last transaction before tomorrow", users_where_not(&format!("last_transaction_date IS NULL OR last_transaction_date < {t} + 1"))),
        (
            "paid listing dates set exactly when there are paid listings",
            users_where_not("(first_paid_listing_date IS NULL) = (paid_listings_count = 0) AND (last_paid_listing_date IS NULL) = (paid_listings_count = 0) AND (days_since_last_paid_listing IS NULL) = (paid_listings_count = 0)"),
        ),
        (
            "transaction dates set exactly when credits were spent",
            users_where_not("(first_transaction_date IS NULL) = (total_credits_spent = 0) AND (last_transaction_date IS NULL) = (total_credits_spent = 0) AND (days_since_last_transaction IS NULL) = (total_credits_spent = 0)"),
        ),
        ("days_since_last_paid_listing", users_where_not(&format!("days_since_last_paid_listing IS NULL OR days_since_last_paid_listing = {t} - last_paid_listing_date::date"))),
        ("days_since_last_transaction", users_where_not(&format!("days_since_last_transaction IS NULL OR days_since_last_transaction = {t} - last_transaction_date::date"))),
        (
            "last paid transaction: set iff premium credits spent, not after the last transaction",
            users_where_not(&format!(
                "(days_since_last_paid_transaction IS NULL) = (total_premium_credits_spent = 0) AND \
                 (days_since_last_paid_transaction IS NULL OR (days_since_last_paid_transaction >= days_since_last_transaction \
                  AND days_since_last_paid_transaction <= {t} - first_transaction_date::date))"
            )),
        ),
        ("total listings = paid + free", users_where_not("total_listings_count = paid_listings_count + free_listings_count AND free_listings_count >= 0")),
        ("plan listings sum to paid listings", users_where_not(&format!("{plan_listings} = paid_listings_count"))),
        ("credits = plans + add-ons", users_where_not(&format!("{plan_credits} + extra_addons_total_credits = total_credits_spent"))),
        ("credits = premium + free", users_where_not("total_premium_credits_spent + total_free_credits_spent = total_credits_spent AND total_free_credits_spent >= 0 AND total_premium_credits_spent >= 0")),
        ("add-on counts sum to extra_addons_count", users_where_not(&format!("{addon_count} = extra_addons_count"))),
        ("add-on credits sum to extra_addons_total_credits", users_where_not(&format!("{addon_credits} = extra_addons_total_credits"))),
        (
            "add-on credits = premium + free, within the totals",
            users_where_not("extra_addons_premium_credits + extra_addons_free_credits = extra_addons_total_credits AND extra_addons_premium_credits <= total_premium_credits_spent AND extra_addons_free_credits <= total_free_credits_spent"),
        ),
        ("add-ons only for users with listings", users_where_not("extra_addons_count = 0 OR total_listings_count > 0")),
        ("office listings = the office columns, within paid listings", users_where_not(&format!("office_listings_count = {office} AND office_listings_count <= paid_listings_count AND {office_credits} <= total_credits_spent"))),
        (
            "office columns match the user type",
            users_where_not(
                "CASE user_type \
                   WHEN 'individual' THEN office_listings_count = 0 AND car_offices_credits_spent + property_offices_credits_spent + electronics_shops_credits_spent = 0 \
                   WHEN 'dealer' THEN office_listings_count = car_offices_listings_count AND property_offices_credits_spent + electronics_shops_credits_spent = 0 \
                   WHEN 'agency' THEN office_listings_count = property_offices_listings_count AND car_offices_credits_spent + electronics_shops_credits_spent = 0 \
                   WHEN 'shop' THEN office_listings_count = electronics_shops_listings_count AND car_offices_credits_spent + property_offices_credits_spent = 0 END",
            ),
        ),
        ("verticals_listed_in is a slug set", users_where_not(&slug_set("verticals_listed_in"))),
        ("levels_1_listed_in is a slug set", users_where_not(&slug_set("levels_1_listed_in"))),
        ("plans_or_bundles_used is a slug set", users_where_not(&slug_set("plans_or_bundles_used"))),
        ("top_extra_addons is a slug set", users_where_not(&slug_set("top_extra_addons"))),
        ("verticals come from the catalogue", users_where_not(&format!("verticals_listed_in IS NULL OR string_to_array(verticals_listed_in, ',') <@ {verticals}"))),
        (
            "verticals listed iff listings",
            users_where_not("(verticals_listed_in IS NULL) = (total_listings_count = 0) AND (levels_1_listed_in IS NULL) = (total_listings_count = 0) AND (favorite_vertical IS NULL) = (total_listings_count = 0) AND (favorite_level_1 IS NULL) = (total_listings_count = 0)"),
        ),
        ("number_of_verticals = set size", users_where_not("number_of_verticals_listed_in = coalesce(cardinality(string_to_array(verticals_listed_in, ',')), 0)")),
        ("number_of_level1 = set size", users_where_not("number_of_level1_categories_listed_in = coalesce(cardinality(string_to_array(levels_1_listed_in, ',')), 0)")),
        ("at least as many level-1 categories as verticals", users_where_not("number_of_level1_categories_listed_in >= number_of_verticals_listed_in")),
        ("favorite vertical is listed", users_where_not("favorite_vertical IS NULL OR favorite_vertical = ANY (string_to_array(verticals_listed_in, ','))")),
        ("favorite level 1 is listed", users_where_not("favorite_level_1 IS NULL OR favorite_level_1 = ANY (string_to_array(levels_1_listed_in, ','))")),
        ("is_multivertical_user = more than one vertical", users_where_not("is_multivertical_user = (number_of_verticals_listed_in > 1)::int")),
        ("plans used = plans with listings", users_where_not(&same_set("plans_or_bundles_used", &used(&PLANS, "", "_listings_count")))),
        ("favorite plan is the most used", users_where_not(&format!("favorite_plan_or_bundle IS NULL AND paid_listings_count = 0 OR {}", favorite_is_max("favorite_plan_or_bundle", &PLANS, "", "_listings_count")))),
        ("plan credits iff plan listings", users_where_not(&PLANS.iter().map(|p| format!("({p}_listings_count = 0) = ({p}_credits_spent = 0)")).collect::<Vec<_>>().join(" AND "))),
        ("add-on credits iff add-on listings", users_where_not(&ADDONS.iter().map(|a| format!("(addon_{a}_listings_count = 0) = (addon_{a}_credits_spent = 0)")).collect::<Vec<_>>().join(" AND "))),
        (
            "top add-ons: the most used, at most three",
            users_where_not(&format!(
                "string_to_array(coalesce(top_extra_addons, ''), ',') <@ {used} AND \
                 coalesce(cardinality(string_to_array(top_extra_addons, ',')), 0) = least(3, cardinality({used}))",
                used = used(&ADDONS, "addon_", "_listings_count")
            )),
        ),
        (
            "favorite add-on is in the top and the most used",
            users_where_not(&format!(
                "favorite_extra_addon IS NULL AND extra_addons_count = 0 OR (favorite_extra_addon = ANY (string_to_array(top_extra_addons, ',')) AND {})",
                favorite_is_max("favorite_extra_addon", &ADDONS, "addon_", "_listings_count")
            )),
        ),
        ("offer total days = 50 + baraka", users_where_not("offer_total_days_used = offer_50_days_used + offer_baraka_days_used AND offer_50_days_used >= 0 AND offer_baraka_days_used >= 0")),
        ("offer days only on paid listing days", users_where_not("offer_total_days_used <= paid_listings_count")),
        (
            "offer percentages in 0..100 and adding up",
            users_where_not("offer_total_percentage BETWEEN 0 AND 100 AND abs(offer_50_percentage + offer_baraka_percentage - offer_total_percentage) <= 0.02 AND (offer_total_days_used = 0) = (offer_total_percentage = 0)"),
        ),
        (
            "offer percentages are proportional to the days",
            users_where_not("abs(offer_50_percentage * offer_total_days_used - offer_total_percentage * offer_50_days_used) <= 0.01 * greatest(offer_total_days_used, 1)"),
        ),
    ];

    // Activity, and the users columns it must agree with.
    let per_user = format!(
        "SELECT user_id, count(*) AS days, sum(listings_posted) AS listings, sum(paid_listings) AS paid, sum(transactions) AS transactions, \
                sum(credits_spent) AS credits, count(*) FILTER (WHERE paid_listings > 0) AS paid_days, \
                min(day) FILTER (WHERE paid_listings > 0) AS first_paid, max(day) FILTER (WHERE paid_listings > 0) AS last_paid, \
                min(day) FILTER (WHERE transactions > 0) AS first_tx, max(day) FILTER (WHERE transactions > 0) AS last_tx, \
                count(DISTINCT ({t} - day) / 30) FILTER (WHERE day > {t} - 180) AS months, \
                count(DISTINCT ({t} - day) / 7) FILTER (WHERE day > {t} - 84) AS weeks \
         FROM cdp.user_daily_activity GROUP BY user_id"
    );
    let joined = |condition: &str| {
        format!(
            "SELECT count(*) AS n FROM public.users u LEFT JOIN ({per_user}) a USING (user_id) WHERE NOT coalesce(({condition}), false)"
        )
    };
    rules.extend([
        ("activity only for existing users", "SELECT count(*) AS n FROM cdp.user_daily_activity a WHERE NOT EXISTS (SELECT 1 FROM public.users u WHERE u.user_id = a.user_id)".to_string()),
        ("activity within the window", format!("SELECT count(*) AS n FROM cdp.user_daily_activity WHERE day < {w} OR day > {t}")),
        (
            "activity not before the account",
            "SELECT count(*) AS n FROM cdp.user_daily_activity a JOIN public.users u USING (user_id) WHERE a.day < u.user_account_creation_date::date".to_string(),
        ),
        (
            "activity row values are coherent",
            "SELECT count(*) AS n FROM cdp.user_daily_activity WHERE NOT (sessions >= 1 AND session_seconds > 0 AND events >= sessions \
             AND paid_listings <= listings_posted AND transactions >= paid_listings AND (credits_spent > 0) = (transactions > 0))"
                .to_string(),
        ),
        ("new users are active on their sign-up day", joined(&format!("u.user_account_creation_date < {w} OR EXISTS (SELECT 1 FROM cdp.user_daily_activity x WHERE x.user_id = u.user_id AND x.day = u.user_account_creation_date::date)"))),
        ("active_months_last_6 = 30-day periods with activity", joined("u.active_months_last_6 = coalesce(a.months, 0)")),
        ("active_weeks_last_12 = 7-day periods with activity", joined("u.active_weeks_last_12 = coalesce(a.weeks, 0)")),
        (
            "activity sums stay within the lifetime totals",
            joined("a.user_id IS NULL OR (a.listings <= u.total_listings_count AND a.paid <= u.paid_listings_count AND a.credits <= u.total_credits_spent AND a.transactions <= u.paid_listings_count + u.extra_addons_count)"),
        ),
        (
            "users created in the window: totals are exactly their activity",
            joined(&format!(
                "u.user_account_creation_date < {w} OR (u.total_listings_count = a.listings AND u.paid_listings_count = a.paid \
                 AND u.total_credits_spent = a.credits AND u.paid_listings_count + u.extra_addons_count = a.transactions \
                 AND u.offer_total_percentage = CASE WHEN a.paid_days = 0 THEN 0 ELSE round(100.0 * u.offer_total_days_used / a.paid_days, 2) END)"
            )),
        ),
        (
            "last paid listing in the window is the last paid activity day",
            joined(&format!("CASE WHEN u.last_paid_listing_date >= {w} THEN a.last_paid = u.last_paid_listing_date::date ELSE a.last_paid IS NULL END")),
        ),
        (
            "first paid listing in the window is the first paid activity day",
            joined(&format!("u.first_paid_listing_date IS NULL OR u.first_paid_listing_date < {w} OR a.first_paid = u.first_paid_listing_date::date")),
        ),
        (
            "last transaction in the window is the last transaction activity day",
            joined(&format!("CASE WHEN u.last_transaction_date >= {w} THEN a.last_tx = u.last_transaction_date::date ELSE a.last_tx IS NULL END")),
        ),
        (
            "first transaction in the window is the first transaction activity day",
            joined(&format!("u.first_transaction_date IS NULL OR u.first_transaction_date < {w} OR a.first_tx = u.first_transaction_date::date")),
        ),
        // Identities.
        ("identities only for existing users", "SELECT count(*) AS n FROM cdp.identities i WHERE NOT EXISTS (SELECT 1 FROM public.users u WHERE u.user_id = i.user_id)".to_string()),
        ("an identity row has an id", "SELECT count(*) AS n FROM cdp.identities WHERE amplitude_id IS NULL AND braze_id IS NULL".to_string()),
        ("amplitude ids are unique integers", "SELECT count(*) - count(DISTINCT amplitude_id) + count(*) FILTER (WHERE amplitude_id !~ '^[1-9][0-9]{11}$') AS n FROM cdp.identities WHERE amplitude_id IS NOT NULL".to_string()),
        ("braze ids are unique ObjectIds", "SELECT count(*) - count(DISTINCT braze_id) + count(*) FILTER (WHERE braze_id !~ '^[0-9a-f]{24}$') AS n FROM cdp.identities WHERE braze_id IS NOT NULL".to_string()),
        (
            "amplitude match rate strictly between 70% and 100%",
            "SELECT (NOT (count(i.amplitude_id)::float / count(*) > 0.70 AND count(i.amplitude_id) < count(*)))::int AS n FROM public.users u LEFT JOIN cdp.identities i USING (user_id)".to_string(),
        ),
        (
            "braze match rate strictly between 70% and 100%",
            "SELECT (NOT (count(i.braze_id)::float / count(*) > 0.70 AND count(i.braze_id) < count(*)))::int AS n FROM public.users u LEFT JOIN cdp.identities i USING (user_id)".to_string(),
        ),
    ]);

    // Ingestion batches: one succeeded load per source and day, with the rows it loaded.
    let days = DAYS as i64;
    rules.extend([
        (
            "a succeeded batch per source per window day",
            format!(
                "SELECT count(*) AS n FROM (SELECT s, d::date FROM unnest(ARRAY['users','activity','identities']) s, generate_series({w}, {t}, interval '1 day') d) want \
                 WHERE (SELECT count(*) FROM cdp.ingestion_batches b WHERE b.source = want.s AND b.status = 'succeeded' AND b.started_at::date = want.d) <> 1"
            ),
        ),
        ("no batch outside the window", format!("SELECT count(*) AS n FROM cdp.ingestion_batches WHERE started_at::date < {w} OR started_at::date > {t}")),
        ("batches finish after they start", "SELECT count(*) AS n FROM cdp.ingestion_batches WHERE finished_at IS NULL OR finished_at <= started_at".to_string()),
        (
            "activity batch rows = that day's activity rows",
            "SELECT count(*) AS n FROM cdp.ingestion_batches b WHERE b.source = 'activity' AND b.status = 'succeeded' \
             AND b.rows <> (SELECT count(*) FROM cdp.user_daily_activity a WHERE a.day = b.started_at::date)"
                .to_string(),
        ),
        (
            "users batch rows = accounts created by that day",
            "SELECT count(*) AS n FROM cdp.ingestion_batches b WHERE b.source = 'users' AND b.status = 'succeeded' \
             AND b.rows <> (SELECT count(*) FROM public.users u WHERE u.user_account_creation_date::date <= b.started_at::date)"
                .to_string(),
        ),
        (
            "identities batch rows = identities of accounts created by that day",
            "SELECT count(*) AS n FROM cdp.ingestion_batches b WHERE b.source = 'identities' AND b.status = 'succeeded' \
             AND b.rows <> (SELECT count(*) FROM cdp.identities i JOIN public.users u USING (user_id) WHERE u.user_account_creation_date::date <= b.started_at::date)"
                .to_string(),
        ),
        (
            "exactly one failed batch, with its failed validation and an error",
            "SELECT abs(count(*) - 1) + count(*) FILTER (WHERE NOT (validation->>'passed' = 'false' AND validation->'failed_checks' ? 'row_count' AND error LIKE 'validation of the activity batch failed%')) AS n \
             FROM cdp.ingestion_batches WHERE status = 'failed'"
                .to_string(),
        ),
        ("succeeded batches record a passed validation", "SELECT count(*) AS n FROM cdp.ingestion_batches WHERE status = 'succeeded' AND NOT (validation->>'passed' = 'true' AND error IS NULL)".to_string()),
    ]);
    assert_no_violations(&db, &rules).await;
    assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.ingestion_batches").await, 3 * days + 1);

    // The shapes a growth manager expects to see.
    let shapes: Vec<(&str, String)> = vec![
        ("individuals are most users, every type present", "SELECT (NOT (count(*) FILTER (WHERE user_type = 'individual') > 0.7 * count(*) AND count(DISTINCT user_type) = 4))::int AS n FROM public.users".into()),
        ("every vertical is listed in", format!("SELECT (SELECT count(DISTINCT v) FROM public.users, unnest(string_to_array(verticals_listed_in, ',')) v) - {} AS n", VERTICALS.len())),
        ("sign-ups grow: the last year has more than the first", format!("SELECT (count(*) FILTER (WHERE user_account_creation_date >= {t} - interval '1 year') <= count(*) FILTER (WHERE user_account_creation_date < {t} - interval '2 years'))::int AS n FROM public.users")),
        ("some users pay, most do not", "SELECT (NOT (count(*) FILTER (WHERE paid_listings_count > 0) BETWEEN count(*) / 10 AND count(*) / 2))::int AS n FROM public.users".into()),
        (
            "DAU is a small share of users",
            format!("SELECT (NOT (avg(n) BETWEEN {USERS} * 0.02 AND {USERS} * 0.2))::int AS n FROM (SELECT count(*) AS n FROM cdp.user_daily_activity GROUP BY day) d"),
        ),
        (
            "weekly rhythm: Fridays busier than Tuesdays",
            "SELECT (avg(n) FILTER (WHERE dow = 5) <= avg(n) FILTER (WHERE dow = 2))::int AS n FROM (SELECT extract(dow FROM day) AS dow, count(*) AS n FROM cdp.user_daily_activity GROUP BY day) d".into(),
        ),
        (
            "new users are busiest in their first two weeks",
            format!(
                "WITH cohort AS (SELECT user_id, user_account_creation_date::date AS c FROM public.users \
                                 WHERE user_account_creation_date >= {w} AND user_account_creation_date < {t} - 60), \
                      early AS (SELECT count(*)::float / (14 * (SELECT count(*) FROM cohort)) AS r FROM cdp.user_daily_activity a JOIN cohort USING (user_id) WHERE a.day - c BETWEEN 0 AND 13), \
                      later AS (SELECT count(*)::float / (30 * (SELECT count(*) FROM cohort)) AS r FROM cdp.user_daily_activity a JOIN cohort USING (user_id) WHERE a.day - c BETWEEN 30 AND 59) \
                 SELECT (early.r <= later.r)::int AS n FROM early, later"
            ),
        ),
        (
            "some users churn: active before, silent for the last 30 days",
            format!("SELECT (count(*) < 20)::int AS n FROM (SELECT user_id FROM cdp.user_daily_activity GROUP BY user_id HAVING max(day) < {t} - 30) c"),
        ),
        (
            "some churned users come back after 30+ silent days",
            "SELECT (count(DISTINCT user_id) < 5)::int AS n FROM (SELECT user_id, day - lag(day) OVER (PARTITION BY user_id ORDER BY day) AS gap FROM cdp.user_daily_activity) g WHERE gap > 30".into(),
        ),
    ];
    assert_no_violations(&db, &shapes).await;
}

/// md5 of every row of every seeded table, in key order.
async fn fingerprint(db: &TestDb) -> Vec<String> {
    let mut conn = db.conn().await;
    let mut digests = Vec::new();
    for (table, key) in [
        ("public.users", "user_id"),
        ("cdp.user_daily_activity", "user_id, day"),
        ("cdp.identities", "user_id"),
        ("cdp.ingestion_batches", "id"),
    ] {
        let sql = format!("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {key}), '')) AS md5 FROM {table} t");
        digests.push(diesel::sql_query(&sql).get_result::<Digest>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).md5);
    }
    digests
}

#[tokio::test]
async fn the_same_seed_gives_the_same_marketplace_and_another_seed_a_different_one() {
    let (first, second, other) = (TestDb::new().await, TestDb::new().await, TestDb::new().await);
    let small = |seed| SeedOptions { users: 700, days: 60, ..options(seed) };
    seed::seed(&first.url, &small(7)).await.expect("first run");
    seed::seed(&second.url, &small(7)).await.expect("second run");
    seed::seed(&other.url, &small(8)).await.expect("other seed");
    let (a, b, c) = (fingerprint(&first).await, fingerprint(&second).await, fingerprint(&other).await);
    assert_eq!(a, b, "two runs with seed 7 differ");
    for (table, (x, y)) in ["users", "activity", "identities"].iter().zip(a.iter().zip(&c)) {
        assert_ne!(x, y, "{table} is the same for seeds 7 and 8");
    }
    assert!(number(&first, "SELECT count(*) AS n FROM cdp.user_daily_activity").await > 0);
}

#[tokio::test]
async fn is_empty_until_seeded_and_seed_refuses_a_loaded_database() {
    let db = TestDb::new().await;
    assert!(seed::is_empty(&db.url).await.expect("is_empty on a fresh database"));
    seed::seed(&db.url, &SeedOptions { users: 50, days: 30, ..options(1) }).await.expect("seeding 50 users");
    assert!(!seed::is_empty(&db.url).await.expect("is_empty after seeding"));

    let again = seed::seed(&db.url, &SeedOptions { users: 50, days: 30, ..options(1) }).await.expect_err("a second seed is refused");
    assert!(again.to_string().contains("already holds"), "{again}");
    assert_eq!(number(&db, "SELECT count(*) AS n FROM public.users").await, 50, "the refused run wrote nothing");

    let bad = seed::seed(&db.url, &SeedOptions { users: 0, ..options(1) }).await.expect_err("zero users is refused");
    assert!(bad.to_string().contains("--users"), "{bad}");
}
