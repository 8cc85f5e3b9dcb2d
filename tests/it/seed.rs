//! `cdp seed`: every consistency rule of the generated marketplace checked row by row with
//! independent SQL, realistic shapes (user types, churn, comebacks, weekly rhythm), identities
//! and ingestion batches, determinism for a seed, the empty-database guard, nothing dated after
//! the seed; then the explorable history (`mod history`): a team of every role, cohorts whose
//! members match their condition and whose size history lies in the past, promotions whose
//! counters equal their ledger, sync runs, the audit trail by the right people, determinism,
//! and a worker that publishes the running promotion when it starts.

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
            users_where_not(
                "(first_paid_listing_date IS NULL) = (paid_listings_count = 0) AND (last_paid_listing_date IS NULL) = (paid_listings_count = 0) AND (days_since_last_paid_listing IS NULL) = (paid_listings_count = 0)",
            ),
        ),
        (
            "transaction dates set exactly when credits were spent",
            users_where_not(
                "(first_transaction_date IS NULL) = (total_credits_spent = 0) AND (last_transaction_date IS NULL) = (total_credits_spent = 0) AND (days_since_last_transaction IS NULL) = (total_credits_spent = 0)",
            ),
        ),
        (
            "days_since_last_paid_listing",
            users_where_not(&format!("days_since_last_paid_listing IS NULL OR days_since_last_paid_listing = {t} - last_paid_listing_date::date")),
        ),
        (
            "days_since_last_transaction",
            users_where_not(&format!("days_since_last_transaction IS NULL OR days_since_last_transaction = {t} - last_transaction_date::date")),
        ),
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
        (
            "credits = premium + free",
            users_where_not(
                "total_premium_credits_spent + total_free_credits_spent = total_credits_spent AND total_free_credits_spent >= 0 AND total_premium_credits_spent >= 0",
            ),
        ),
        ("add-on counts sum to extra_addons_count", users_where_not(&format!("{addon_count} = extra_addons_count"))),
        ("add-on credits sum to extra_addons_total_credits", users_where_not(&format!("{addon_credits} = extra_addons_total_credits"))),
        (
            "add-on credits = premium + free, within the totals",
            users_where_not(
                "extra_addons_premium_credits + extra_addons_free_credits = extra_addons_total_credits AND extra_addons_premium_credits <= total_premium_credits_spent AND extra_addons_free_credits <= total_free_credits_spent",
            ),
        ),
        ("add-ons only for users with listings", users_where_not("extra_addons_count = 0 OR total_listings_count > 0")),
        (
            "office listings = the office columns, within paid listings",
            users_where_not(&format!(
                "office_listings_count = {office} AND office_listings_count <= paid_listings_count AND {office_credits} <= total_credits_spent"
            )),
        ),
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
        (
            "verticals come from the catalogue",
            users_where_not(&format!("verticals_listed_in IS NULL OR string_to_array(verticals_listed_in, ',') <@ {verticals}")),
        ),
        (
            "verticals listed iff listings",
            users_where_not(
                "(verticals_listed_in IS NULL) = (total_listings_count = 0) AND (levels_1_listed_in IS NULL) = (total_listings_count = 0) AND (favorite_vertical IS NULL) = (total_listings_count = 0) AND (favorite_level_1 IS NULL) = (total_listings_count = 0)",
            ),
        ),
        (
            "number_of_verticals = set size",
            users_where_not("number_of_verticals_listed_in = coalesce(cardinality(string_to_array(verticals_listed_in, ',')), 0)"),
        ),
        (
            "number_of_level1 = set size",
            users_where_not("number_of_level1_categories_listed_in = coalesce(cardinality(string_to_array(levels_1_listed_in, ',')), 0)"),
        ),
        ("at least as many level-1 categories as verticals", users_where_not("number_of_level1_categories_listed_in >= number_of_verticals_listed_in")),
        ("favorite vertical is listed", users_where_not("favorite_vertical IS NULL OR favorite_vertical = ANY (string_to_array(verticals_listed_in, ','))")),
        ("favorite level 1 is listed", users_where_not("favorite_level_1 IS NULL OR favorite_level_1 = ANY (string_to_array(levels_1_listed_in, ','))")),
        ("is_multivertical_user = more than one vertical", users_where_not("is_multivertical_user = (number_of_verticals_listed_in > 1)::int")),
        ("plans used = plans with listings", users_where_not(&same_set("plans_or_bundles_used", &used(&PLANS, "", "_listings_count")))),
        (
            "favorite plan is the most used",
            users_where_not(&format!(
                "favorite_plan_or_bundle IS NULL AND paid_listings_count = 0 OR {}",
                favorite_is_max("favorite_plan_or_bundle", &PLANS, "", "_listings_count")
            )),
        ),
        (
            "plan credits iff plan listings",
            users_where_not(&PLANS.iter().map(|p| format!("({p}_listings_count = 0) = ({p}_credits_spent = 0)")).collect::<Vec<_>>().join(" AND ")),
        ),
        (
            "add-on credits iff add-on listings",
            users_where_not(
                &ADDONS.iter().map(|a| format!("(addon_{a}_listings_count = 0) = (addon_{a}_credits_spent = 0)")).collect::<Vec<_>>().join(" AND "),
            ),
        ),
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
        (
            "offer total days = 50 + baraka",
            users_where_not("offer_total_days_used = offer_50_days_used + offer_baraka_days_used AND offer_50_days_used >= 0 AND offer_baraka_days_used >= 0"),
        ),
        ("offer days only on paid listing days", users_where_not("offer_total_days_used <= paid_listings_count")),
        (
            "offer percentages in 0..100 and adding up",
            users_where_not(
                "offer_total_percentage BETWEEN 0 AND 100 AND abs(offer_50_percentage + offer_baraka_percentage - offer_total_percentage) <= 0.02 AND (offer_total_days_used = 0) = (offer_total_percentage = 0)",
            ),
        ),
        (
            "offer percentages are proportional to the days",
            users_where_not(
                "abs(offer_50_percentage * offer_total_days_used - offer_total_percentage * offer_50_days_used) <= 0.01 * greatest(offer_total_days_used, 1)",
            ),
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
    let joined =
        |condition: &str| format!("SELECT count(*) AS n FROM public.users u LEFT JOIN ({per_user}) a USING (user_id) WHERE NOT coalesce(({condition}), false)");
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
    for (table, key) in
        [("public.users", "user_id"), ("cdp.user_daily_activity", "user_id, day"), ("cdp.identities", "user_id"), ("cdp.ingestion_batches", "id")]
    {
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

#[tokio::test]
async fn seeding_today_writes_nothing_after_the_moment_it_runs() {
    let db = TestDb::new().await;
    let today = chrono::Utc::now().date_naive();
    seed::seed(&db.url, &SeedOptions { users: 1_500, seed: 6, days: 40, today }).await.expect("seeding up to today");
    let t = format!("DATE '{today}'");
    let rules: Vec<(&str, String)> = vec![
        (
            "no account, listing or transaction after now",
            // greatest() skips the dates that are not set.
            users_where_not(
                "greatest(user_account_creation_date, first_paid_listing_date, last_paid_listing_date, first_transaction_date, last_transaction_date) <= localtimestamp",
            ),
        ),
        (
            "dates stay ordered",
            users_where_not(
                "user_account_creation_date <= coalesce(first_transaction_date, user_account_creation_date) AND coalesce(first_transaction_date <= first_paid_listing_date, true) AND coalesce(last_paid_listing_date <= last_transaction_date, true)",
            ),
        ),
        ("no identity refreshed after now", "SELECT count(*) AS n FROM cdp.identities WHERE updated_at > now()".to_string()),
        (
            "no batch after now, each ends after it starts",
            "SELECT count(*) AS n FROM cdp.ingestion_batches WHERE finished_at > now() OR finished_at <= started_at".to_string(),
        ),
        (
            "today still has its three succeeded loads",
            format!("SELECT 3 - count(DISTINCT source) AS n FROM cdp.ingestion_batches WHERE status = 'succeeded' AND started_at::date = {t}"),
        ),
    ];
    assert_no_violations(&db, &rules).await;
}

// ---- the explorable history (DESIGN §7) -------------------------------------------------------

mod history {
    use super::{Digest, number};
    use cdp_proto::cdp::v1::{self as pb, cohort_service_client::CohortServiceClient, promotion_service_client::PromotionServiceClient};
    use cdp_server::{
        app::App,
        config::Config,
        jobs::Worker,
        seed::{
            self, SeedOptions,
            history::{HistoryOptions, HistoryReport},
            story,
        },
    };
    use cdp_tests::{TestApp, TestDb, authed, fixtures, test_env};
    use chrono::{NaiveDate, Utc};
    use diesel::sql_types::Text;
    use diesel_async::RunQueryDsl;
    use redis::AsyncCommands;
    use std::{collections::HashMap, time::Duration};
    use tokio_util::sync::CancellationToken;

    const USERS: u32 = 5_000;
    const DAYS: u32 = 120;

    /// A marketplace and its history, made as `cdp seed` makes them, on a database of its own.
    async fn seeded(seed: u64, today: NaiveDate) -> (TestDb, HashMap<String, String>, HistoryReport) {
        let db = TestDb::new().await;
        let env = test_env(&db);
        let config = Config::from_lookup(|key| env.get(key).cloned()).expect("test configuration");
        let app = App::build(config).await.expect("the app builds");
        seed::seed(&db.url, &SeedOptions { users: USERS, seed, days: DAYS, today }).await.expect("seeding the marketplace");
        let report = seed::history::create(&app, &HistoryOptions { seed, today }).await.expect("creating the history");
        (db, env, report)
    }

    /// Removes what a seeded history left in Redis (its running promotion's keys).
    async fn forget_redis(env: &HashMap<String, String>) {
        let client = redis::Client::open(env["REDIS_URL"].as_str()).expect("REDIS_URL");
        let mut redis = client.get_multiplexed_async_connection().await.expect("Redis");
        let keys: Vec<String> = redis.keys(format!("{}:*", env["CDP_REDIS_KEY_PREFIX"])).await.expect("KEYS");
        if !keys.is_empty() {
            let _: () = redis.del(&keys).await.expect("DEL");
        }
    }

    fn real_today() -> NaiveDate {
        Utc::now().date_naive()
    }

    /// The story's last day (test configuration: UTC), and the day its last refresh evaluated.
    fn story_days(today: NaiveDate) -> (NaiveDate, NaiveDate) {
        let last = today.min(real_today());
        (last, last - chrono::Duration::days(1))
    }

    fn quoted(day: NaiveDate) -> String {
        format!("TIMESTAMP '{day} 00:00:00'")
    }

    /// The members of each cohort by an SQL of their own, written from the story's conditions
    /// as of `day` (a day counts as the instants from its start to the next day's).
    fn expected_members(day: NaiveDate) -> Vec<(&'static str, String)> {
        let plus = |days: i64| quoted(day + chrono::Duration::days(days));
        let within = |column: &str, days: i64| format!("({column} >= {} AND {column} < {})", plus(-(days - 1)), plus(1));
        let more_than = |column: &str, days: i64| format!("{column} < {}", plus(-days));
        vec![
            (
                "Car dealers at risk",
                format!(
                    "lower(user_type) = 'dealer' AND lower(favorite_vertical) = 'cars' AND paid_listings_count > 0 AND {} AND {}",
                    more_than("last_transaction_date", 14),
                    within("last_transaction_date", 60)
                ),
            ),
            ("New private sellers", format!("lower(user_type) = 'individual' AND {} AND total_listings_count >= 1", within("user_account_creation_date", 30))),
            (
                "High-value property agents",
                format!(
                    "lower(user_type) = 'agency' AND lower(favorite_vertical) = 'property' AND total_credits_spent >= 10000 AND {}",
                    more_than("user_account_creation_date", 180)
                ),
            ),
            (
                "Lapsed spenders to win back",
                format!(
                    "total_credits_spent >= 1000 AND (({} AND {}) OR (string_to_array(verticals_listed_in, ',') && ARRAY['electronics','fashion','home'] AND {} AND {}))",
                    more_than("last_transaction_date", 45),
                    within("last_transaction_date", 180),
                    more_than("last_paid_listing_date", 60),
                    within("last_paid_listing_date", 365)
                ),
            ),
        ]
    }

    /// Every time column of the CDP's tables and `public.users`, except those that hold a
    /// schedule or an expiry (allowed ahead when they are: see `forward`).
    async fn time_columns(db: &TestDb) -> Vec<(String, String, String)> {
        #[derive(diesel::QueryableByName)]
        struct Column {
            #[diesel(sql_type = Text)]
            table_name: String,
            #[diesel(sql_type = Text)]
            column_name: String,
            #[diesel(sql_type = Text)]
            data_type: String,
        }
        let mut conn = db.conn().await;
        let columns: Vec<Column> = diesel::sql_query(
            "SELECT c.table_schema || '.' || c.table_name AS table_name, c.column_name::text AS column_name, c.data_type::text AS data_type \
             FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name) \
             WHERE c.table_schema IN ('cdp', 'public') AND t.table_type = 'BASE TABLE' \
               AND c.data_type IN ('timestamp with time zone', 'timestamp without time zone', 'date') ORDER BY 1, 2",
        )
        .load(&mut conn)
        .await
        .expect("listing time columns");
        columns.into_iter().map(|c| (c.table_name, c.column_name, c.data_type)).collect()
    }

    /// Rows whose time lies after now; a schedule or an expiry only where it is one.
    fn in_the_future(table: &str, column: &str, data_type: &str) -> String {
        let now = match data_type {
            "date" => "current_date",
            "timestamp without time zone" => "localtimestamp",
            _ => "now()",
        };
        let forward = match (table, column) {
            // The expiry of a link not used yet or of a session.
            ("cdp.auth_tokens", "expires_at") => "AND used_at IS NOT NULL",
            // The end of a promotion still running, and the jobs that will expire it.
            ("cdp.promotions", "ends_at") => "AND status NOT IN ('scheduled', 'active', 'paused')",
            ("cdp.jobs", "run_at") => "AND NOT (status = 'queued' AND kind IN ('promotion.expire', 'promotion.start'))",
            // When a dynamic cohort is due next.
            ("cdp.cohorts", "next_refresh_at") => "AND false",
            _ => "",
        };
        format!("SELECT count(*) AS n FROM {table} WHERE {column} > {now} {forward}")
    }

    #[tokio::test]
    async fn the_history_has_a_team_cohorts_promotions_syncs_and_their_audit_trail_all_in_the_past() {
        let today = real_today();
        let (db, env, report) = seeded(3, today).await;
        assert!(report.skipped.is_none(), "{report}");
        let (last_day, evaluated) = story_days(today);

        // A platform user of each role: the bootstrap super admin leads an invited team, one
        // member still to accept, one disabled since.
        assert_eq!(number(&db, "SELECT count(DISTINCT role) AS n FROM cdp.platform_users").await, 5);
        for role in ["super_admin", "admin", "growth_manager", "data_engineer", "read_only"] {
            assert!(
                number(&db, &format!("SELECT count(*) AS n FROM cdp.platform_users WHERE role = '{role}' AND status = 'active'")).await >= 1,
                "an active {role}"
            );
        }
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.platform_users WHERE status = 'invited'").await, 1);
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.platform_users WHERE status = 'disabled'").await, 1);
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.platform_users WHERE created_by IS NOT NULL").await, story::TEAM.len() as i64);
        assert_eq!(
            number(&db, "SELECT count(*) AS n FROM cdp.platform_users WHERE password_hash IS NULL AND status = 'active'").await,
            0,
            "accepted, with a password nobody knows"
        );

        // Cohorts: size points on several past days, and members matching their condition as
        // of the day of their last refresh.
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.cohorts WHERE deleted_at IS NULL AND kind = 'dynamic'").await, story::COHORTS.len() as i64);
        assert_eq!(
            number(&db, "SELECT count(*) AS n FROM (SELECT cohort_id FROM cdp.cohort_size_history GROUP BY cohort_id HAVING count(DISTINCT computed_at::date) >= 2 AND max(computed_at) < now()) c").await,
            story::COHORTS.len() as i64,
            "every cohort has points on at least two past days"
        );
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.cohort_size_history").await, report.size_snapshots as i64);
        assert_eq!(
            number(&db, &format!("SELECT count(*) AS n FROM cdp.cohorts WHERE last_refreshed_at::date <> DATE '{evaluated}'")).await,
            0,
            "last refreshed on the story's last day"
        );
        for (name, condition) in expected_members(evaluated) {
            let expected = format!("SELECT user_id FROM public.users WHERE {condition}");
            let members = format!("SELECT m.user_id FROM cdp.cohort_members m JOIN cdp.cohorts c ON c.id = m.cohort_id WHERE c.name = '{name}'");
            let size = number(&db, &format!("SELECT count(*) AS n FROM ({expected}) e")).await;
            assert!(size > 0, "{name} has members");
            assert_eq!(number(&db, &format!("SELECT count(*) AS n FROM ({members}) m")).await, size, "{name}: members = an SQL count of its condition");
            assert_eq!(
                number(&db, &format!("SELECT count(*) AS n FROM (({expected}) EXCEPT ({members})) d")).await
                    + number(&db, &format!("SELECT count(*) AS n FROM (({members}) EXCEPT ({expected})) d")).await,
                0,
                "{name}: the same users"
            );
            assert_eq!(number(&db, &format!("SELECT size AS n FROM cdp.cohorts WHERE name = '{name}'")).await, size);
        }
        assert!(
            number(&db, "SELECT count(*) AS n FROM (SELECT cohort_id FROM cdp.cohort_size_history GROUP BY cohort_id HAVING count(DISTINCT size) >= 2) c")
                .await
                >= 2,
            "sizes change over time"
        );

        // Promotions: expired ones with a ledger, the counters equal to it, one running.
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.promotions WHERE status = 'active'").await, 1);
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.promotions WHERE status = 'draft'").await, 1);
        assert!(
            number(
                &db,
                "SELECT count(*) AS n FROM cdp.promotions p WHERE p.status = 'expired' AND EXISTS (SELECT 1 FROM cdp.redemptions r WHERE r.promotion_id = p.id)"
            )
            .await
                >= 1,
            "an expired promotion with ledger rows"
        );
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.promotions WHERE status = 'expired'").await, 4);
        assert_eq!(
            number(
                &db,
                "SELECT count(*) AS n FROM cdp.promotions p LEFT JOIN (SELECT promotion_id, count(*) AS n, sum(credits) AS c FROM cdp.redemptions \
                 WHERE status = 'redeemed' GROUP BY 1) l ON l.promotion_id = p.id \
                 WHERE p.redeemed_count <> coalesce(l.n, 0) OR p.credits_granted <> coalesce(l.c, 0)"
            )
            .await,
            0,
            "counters = the ledger"
        );
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.redemptions").await, report.redemptions as i64);
        assert_eq!(
            number(
                &db,
                "SELECT count(*) AS n FROM cdp.redemptions r JOIN cdp.promotions p ON p.id = r.promotion_id \
                 WHERE r.redeemed_at <= p.activated_at OR r.redeemed_at >= coalesce(p.ended_at, now()) \
                    OR NOT EXISTS (SELECT 1 FROM cdp.promotion_audience a WHERE a.promotion_id = p.id AND a.user_id = r.user_id)"
            )
            .await,
            0,
            "redemptions by the audience, inside the window"
        );
        assert!(number(&db, "SELECT count(DISTINCT redeemed_at::date) AS n FROM cdp.redemptions").await >= 5, "redemptions spread over days");

        // Sync runs asked for by the data engineer (failing: no integration is configured).
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.integration_sync_runs").await, story::SYNCS.len() as i64);
        assert_eq!(
            number(
                &db,
                "SELECT count(*) AS n FROM cdp.integration_sync_runs r JOIN cdp.platform_users u ON u.id = r.requested_by \
                 WHERE u.role = 'data_engineer' AND r.status = 'failed' AND r.error LIKE '%is not configured%' AND r.finished_at > r.created_at"
            )
            .await,
            story::SYNCS.len() as i64
        );

        // The audit trail: each change by the person who made it, at the time it says.
        let missing = |action: &str, join: &str, condition: &str| {
            format!("SELECT count(*) AS n FROM {join} NOT EXISTS (SELECT 1 FROM cdp.audit_log a WHERE a.action = '{action}' AND {condition})")
        };
        let by = "a.actor_kind = 'platform_user' AND a.actor_id";
        let trail = [
            (
                "invitations by the inviter",
                missing(
                    "platform_user.invite",
                    "cdp.platform_users x WHERE x.created_by IS NOT NULL AND",
                    &format!("{by} = x.created_by AND a.resource_id = x.id::text AND a.created_at = x.created_at"),
                ),
            ),
            (
                "acceptances by the invited",
                missing(
                    "auth.accept_invitation",
                    "cdp.platform_users x WHERE x.created_by IS NOT NULL AND x.status <> 'invited' AND",
                    &format!("{by} = x.id AND a.created_at = x.last_sign_in_at"),
                ),
            ),
            (
                "the disable by an admin",
                missing(
                    "platform_user.disable",
                    "cdp.platform_users x WHERE x.status = 'disabled' AND",
                    &format!(
                        "{by} IN (SELECT id FROM cdp.platform_users WHERE role = 'admin') AND a.resource_id = x.id::text AND a.created_at = x.disabled_at"
                    ),
                ),
            ),
            (
                "credentials by an admin",
                missing(
                    "service_credential.create",
                    "cdp.service_credentials x WHERE",
                    &format!("{by} = x.created_by AND a.resource_id = x.id::text AND a.created_at = x.created_at"),
                ),
            ),
            (
                "cohorts by their creator",
                missing("cohort.create", "cdp.cohorts x WHERE", &format!("{by} = x.created_by AND a.resource_id = x.id::text AND a.created_at = x.created_at")),
            ),
            (
                "promotions by their creator",
                missing(
                    "promotion.create",
                    "cdp.promotions x WHERE",
                    &format!("{by} = x.created_by AND a.resource_id = x.id::text AND a.created_at = x.created_at"),
                ),
            ),
            (
                "activations",
                missing(
                    "promotion.activate",
                    "cdp.promotions x WHERE x.activated_at IS NOT NULL AND",
                    "a.actor_kind = 'platform_user' AND a.resource_id = x.id::text AND a.created_at = x.activated_at",
                ),
            ),
            (
                "expiries by the system at the end",
                missing(
                    "promotion.expire",
                    "cdp.promotions x WHERE x.status = 'expired' AND",
                    "a.actor_kind = 'system' AND a.resource_id = x.id::text AND a.created_at = x.ended_at AND x.ended_at = x.ends_at",
                ),
            ),
            (
                "syncs by who asked",
                missing(
                    "cohort.sync",
                    "cdp.integration_sync_runs x WHERE",
                    &format!("{by} = x.requested_by AND a.resource_id = x.resource_id AND (a.after->>'run_id')::bigint = x.id AND a.created_at = x.created_at"),
                ),
            ),
            (
                "every actor held the permission of what they did",
                "SELECT count(*) AS n FROM cdp.audit_log a JOIN cdp.platform_users u ON u.id = a.actor_id \
                 JOIN (VALUES ('platform_user.invite', 'platform_users.write'), ('platform_user.disable', 'platform_users.write'), \
                              ('service_credential.create', 'service_credentials.manage'), ('cohort.create', 'cohorts.write'), \
                              ('cohort.update', 'cohorts.write'), ('cohort.refresh', 'cohorts.write'), ('cohort.sync', 'cohorts.sync'), \
                              ('promotion.create', 'promotions.write'), ('promotion.update', 'promotions.write'), \
                              ('promotion.activate', 'promotions.activate')) p(action, permission) ON p.action = a.action \
                 WHERE NOT EXISTS (SELECT 1 FROM cdp.role_permissions rp WHERE rp.role = u.role AND rp.permission = p.permission)"
                    .to_string(),
            ),
        ];
        let mut broken = Vec::new();
        for (rule, sql) in &trail {
            let n = number(&db, sql).await;
            if n != 0 {
                broken.push(format!("{rule}: {n}"));
            }
        }
        assert!(broken.is_empty(), "audit trail:\n{}", broken.join("\n"));
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.audit_log WHERE request_id LIKE 'seed-%'").await, report.audit_rows as i64);
        for action in ["cohort.update", "cohort.refresh", "promotion.update"] {
            assert_eq!(
                number(&db, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE action = '{action}' AND actor_kind = 'platform_user'")).await,
                1,
                "{action}"
            );
        }

        // Nothing dated after now, and the story before its last day.
        let mut future = Vec::new();
        for (table, column, data_type) in time_columns(&db).await {
            let n = number(&db, &in_the_future(&table, &column, &data_type)).await;
            if n != 0 {
                future.push(format!("{table}.{column}: {n} rows"));
            }
        }
        assert!(future.is_empty(), "in the future:\n{}", future.join("\n"));
        assert_eq!(
            number(&db, &format!("SELECT count(*) AS n FROM cdp.audit_log WHERE created_at >= {}", quoted(last_day))).await,
            0,
            "the story ends the day before its last day"
        );
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.ingestion_batches WHERE finished_at > now() OR started_at > now()").await, 0);

        // What the pages show: the size chart has points, estimates have similar promotions,
        // the running promotion has statistics; the user stats and rollups are there.
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.user_stats").await, USERS as i64);
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.dashboard_rollup_state WHERE through_day IS NULL").await, 0);
        assert!(number(&db, "SELECT count(DISTINCT cohort_id) AS n FROM cdp.cohort_activity_rollup").await >= 1);
        let app = TestApp::start_with(db, env.clone()).await;
        let admin = fixtures::admin_token(&app).await;
        let mut cohorts = CohortServiceClient::new(app.channel.clone());
        let mut promotions = PromotionServiceClient::new(app.channel.clone());
        let list =
            cohorts.list_cohorts(authed(pb::ListCohortsRequest { page_size: 10, ..Default::default() }, &admin)).await.expect("ListCohorts").into_inner();
        let at_risk = list.cohorts.iter().find(|c| c.name == "Car dealers at risk").expect("the cohort is listed");
        let range = pb::DateRange { start_date: (last_day - chrono::Duration::days(60)).to_string(), end_date: last_day.to_string() };
        let history = cohorts
            .get_cohort_size_history(authed(pb::GetCohortSizeHistoryRequest { cohort_id: at_risk.id, range: Some(range) }, &admin))
            .await
            .expect("GetCohortSizeHistory")
            .into_inner();
        assert!(history.points.len() >= 50, "a point a day since it was created: {}", history.points.len());
        assert!(history.points.iter().filter(|p| p.joined > 0).count() >= 2, "joiners on several days");
        let estimate = promotions
            .estimate_promotion(authed(
                pb::EstimatePromotionRequest {
                    promotion: Some(pb::Promotion {
                        cohort_id: at_risk.id,
                        r#type: pb::PromotionType::BonusCredits as i32,
                        value: 100.0,
                        ..Default::default()
                    }),
                },
                &admin,
            ))
            .await
            .expect("EstimatePromotion")
            .into_inner();
        assert!(estimate.has_history && estimate.similar_promotions == 2, "{estimate:?}");
        assert!(estimate.conflicts.iter().any(|c| c.window_overlaps), "the running promotion targets the same dealers: {estimate:?}");
        let running = promotions
            .list_promotions(authed(
                pb::ListPromotionsRequest { page_size: 20, statuses: vec![pb::PromotionStatus::Active as i32], ..Default::default() },
                &admin,
            ))
            .await
            .expect("ListPromotions")
            .into_inner();
        let stats = promotions
            .get_promotion_stats(authed(pb::GetPromotionStatsRequest { promotion_id: running.promotions[0].id, ..Default::default() }, &admin))
            .await
            .expect("GetPromotionStats")
            .into_inner();
        assert!(stats.series.len() >= 5 && stats.audience_size > 0, "{stats:?}");
        forget_redis(&env).await;
    }

    /// The history's rows, with generated identifiers (UUIDs, per-user codes, key prefixes)
    /// replaced by what they stand for; each table's rows in the order of their text.
    async fn fingerprint(db: &TestDb) -> Vec<(String, String)> {
        let email = |column: &str| format!("(SELECT e.email FROM cdp.platform_users e WHERE e.id = {column})");
        let queries = [
            (
                "platform users",
                format!(
                    "SELECT email, display_name, role, status, created_at, updated_at, last_sign_in_at, disabled_at, {} FROM cdp.platform_users t",
                    email("t.created_by")
                ),
            ),
            (
                "cohorts",
                format!(
                    "SELECT id, name, description, kind, definition, size, created_at, updated_at, last_refreshed_at, next_refresh_at, {} FROM cdp.cohorts t",
                    email("t.created_by")
                ),
            ),
            ("size history", "SELECT cohort_id, computed_at, size, joined, \"left\" FROM cdp.cohort_size_history".to_string()),
            ("members", "SELECT cohort_id, user_id, joined_at FROM cdp.cohort_members".to_string()),
            ("membership changes", "SELECT cohort_id, user_id, change, changed_at FROM cdp.cohort_membership_changes".to_string()),
            (
                "promotions",
                format!(
                    "SELECT id, name, cohort_id, benefit_type, value, code_mode, code, total_cap, per_user_cap, credit_budget, starts_at, ends_at, \
                            status, status_reason, audience_size, redeemed_count, credits_granted, created_at, updated_at, activated_at, ended_at, \
                            audience_frozen_at, {} FROM cdp.promotions t",
                    email("t.created_by")
                ),
            ),
            ("audiences", "SELECT promotion_id, user_id, code IS NOT NULL, added_at, removed_at FROM cdp.promotion_audience".to_string()),
            (
                "ledger",
                "SELECT t.promotion_id, t.user_id, CASE WHEN p.code_mode = 'shared' THEN t.code END, t.idempotency_key, t.order_reference, t.order_credits, \
                        t.credits, t.status, t.redeemed_at FROM cdp.redemptions t JOIN cdp.promotions p ON p.id = t.promotion_id"
                    .to_string(),
            ),
            (
                "sync runs",
                format!(
                    "SELECT id, integration, resource_id, status, counts, error, created_at, started_at, finished_at, {} FROM cdp.integration_sync_runs t",
                    email("t.requested_by")
                ),
            ),
            (
                "audit log",
                format!(
                    "SELECT id, actor_email, actor_kind, action, resource_type, \
                            CASE resource_type WHEN 'platform_user' THEN {} WHEN 'service_credential' THEN 'credential' ELSE resource_id END, \
                            before, after - 'key_prefix', request_id, created_at FROM cdp.audit_log t",
                    email("t.resource_id::uuid")
                ),
            ),
        ];
        let mut conn = db.conn().await;
        let mut digests = Vec::new();
        for (what, sql) in queries {
            let sql = format!("SELECT md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) AS md5 FROM ({sql}) r");
            let digest = diesel::sql_query(&sql).get_result::<Digest>(&mut conn).await.unwrap_or_else(|e| panic!("{what}: {sql}: {e}")).md5;
            digests.push((what.to_string(), digest));
        }
        digests
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_history_and_a_second_history_is_refused() {
        // Today, so that one promotion still runs (the seeds only differ in what they cap at
        // the current time: the marketplace's moments of today, which no cohort looks at).
        let today = real_today();
        let ((first, first_env, _), (second, second_env, _)) = tokio::join!(seeded(9, today), seeded(9, today));
        let (a, b) = (fingerprint(&first).await, fingerprint(&second).await);
        for ((what, x), (_, y)) in a.iter().zip(&b) {
            assert_eq!(x, y, "{what} differs between two runs with seed 9");
        }
        assert!(number(&first, "SELECT count(*) AS n FROM cdp.redemptions").await > 0);

        let config = Config::from_lookup(|key| first_env.get(key).cloned()).expect("test configuration");
        let app = App::build(config).await.expect("the app builds");
        let again = seed::history::create(&app, &HistoryOptions { seed: 9, today }).await.expect_err("a second history is refused");
        assert!(again.to_string().contains("already holds"), "{again}");
        assert_eq!(number(&first, "SELECT count(*) AS n FROM cdp.cohorts").await, story::COHORTS.len() as i64, "the refused run wrote nothing");
        forget_redis(&first_env).await;
        forget_redis(&second_env).await;
    }

    #[tokio::test]
    async fn without_a_bootstrap_admin_there_is_no_history_but_the_derived_tables_are_refreshed() {
        let db = TestDb::new().await;
        let mut env = test_env(&db);
        env.remove("CDP_BOOTSTRAP_ADMIN_EMAIL");
        env.remove("CDP_BOOTSTRAP_ADMIN_PASSWORD");
        let app = App::build(Config::from_lookup(|key| env.get(key).cloned()).expect("configuration")).await.expect("the app builds");
        seed::seed(&db.url, &SeedOptions { users: 300, seed: 4, days: 30, today: real_today() }).await.expect("seeding");
        let report = seed::history::create(&app, &HistoryOptions { seed: 4, today: real_today() }).await.expect("the derived tables");
        assert!(report.skipped.as_deref().is_some_and(|why| why.contains("CDP_BOOTSTRAP_ADMIN_EMAIL")), "{report}");
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.platform_users").await, 0, "no super admin was made up");
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.user_stats").await, 300);
        assert_eq!(number(&db, "SELECT count(*) AS n FROM cdp.dashboard_rollup_state WHERE through_day IS NOT NULL").await, 1);
    }

    /// A worker that starts on the seeded database publishes the running promotion to Redis,
    /// even a Redis that never saw it (flushed, or another one): the activation job the seed
    /// left queued runs again, and the expired promotions stay out.
    #[tokio::test]
    async fn a_worker_starting_on_the_seeded_database_publishes_the_running_promotion() {
        let (db, env, _) = seeded(5, real_today()).await;
        let config = Config::from_lookup(|key| env.get(key).cloned()).expect("test configuration");
        let prefix = config.redis_key_prefix.clone();
        let app = App::build(config).await.expect("the app builds");
        let mut redis = app.redis.clone();
        let keys: Vec<String> = redis.keys(format!("{prefix}:*")).await.expect("KEYS");
        assert!(!keys.is_empty(), "the seed published its running promotion");
        let _: () = redis.del(&keys).await.expect("DEL");

        let running = number(&db, "SELECT id AS n FROM cdp.promotions WHERE status = 'active'").await;
        let keyspace = cdp_server::activation::Keyspace::new(&prefix);
        let shutdown = CancellationToken::new();
        let worker = tokio::spawn(
            Worker::new(app.db.clone(), cdp_server::worker::registry(&app), 4, Duration::from_secs(30), Duration::from_millis(50)).run(shutdown.clone()),
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let generation: Option<i64> = redis.hget(&keyspace.promotion(running).state, "generation").await.expect("HGET");
            let status: Option<String> = redis.hget(&keyspace.promotion(running).state, "status").await.expect("HGET");
            let expected = number(&db, &format!("SELECT redis_generation AS n FROM cdp.promotions WHERE id = {running}")).await;
            if generation == Some(expected) && status.as_deref() == Some("active") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the running promotion is not in Redis ({generation:?} vs {expected}, {status:?})");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let used: Option<i64> = redis.get(&keyspace.promotion(running).used).await.expect("GET");
        assert_eq!(
            used.unwrap_or(0),
            number(&db, &format!("SELECT redeemed_count AS n FROM cdp.promotions WHERE id = {running}")).await,
            "its counters come from the ledger"
        );
        for expired in [1, 2, 3, 4] {
            let state: Option<String> = redis.hget(&keyspace.promotion(expired).state, "status").await.expect("HGET");
            assert_eq!(state, None, "expired promotion {expired} is not published");
        }
        shutdown.cancel();
        let _ = worker.await;
        forget_redis(&env).await;
    }
}
