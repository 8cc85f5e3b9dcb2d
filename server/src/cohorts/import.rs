//! Amplitude imports: ListAmplitudeCohorts (Amplitude's list, what was imported, and the
//! download quota left) and ImportAmplitudeCohort (request → poll → download as the Behavioral
//! Cohorts API documents it, Amplitude ids mapped to marketplace users, the membership stored
//! as a static cohort with source `amplitude_import`). Every download counts against
//! Amplitude's quota (500 a month, 60 per 10 minutes per app), recorded in
//! `cdp.amplitude_cohort_downloads`; a request Amplitude is still preparing is reused.

use super::{CohortError, store};
use crate::{
    audit::{self, Change},
    auth::principal::RequestContext,
    conditions::Sql,
    config::Config,
    convert::{opt_timestamp, timestamp},
    db::Db,
    integrations::amplitude::{AmplitudeClient, AmplitudeError, CohortListing, DownloadStatus, DownloadedId, MAX_COHORT_SIZE},
};
use cdp_proto::cdp::v1 as pb;
use chrono::{DateTime, Datelike, Duration as Span, TimeZone, Utc};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid},
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Downloads per calendar month (Growth and Enterprise plans) and per 10 minutes per app.
pub const MONTHLY_DOWNLOADS: i64 = 500;
pub const WINDOW_DOWNLOADS: i64 = 60;
pub const WINDOW_MINUTES: i64 = 10;
/// A download Amplitude is still preparing is reused for this long instead of paying again.
const REUSE_REQUEST_FOR: Span = Span::hours(1);
/// How long an import waits for Amplitude to prepare the file before answering UNAVAILABLE
/// (the request is kept; importing again resumes it).
const POLL_BUDGET: Duration = Duration::from_secs(90);
/// Staged ids per insert statement.
const STAGE_CHUNK: usize = 50_000;

fn client(config: &Config, http: &reqwest::Client) -> Result<AmplitudeClient, CohortError> {
    let amplitude = config
        .amplitude
        .as_ref()
        .ok_or_else(|| CohortError::not_configured("Amplitude is not configured: set CDP_AMPLITUDE_API_KEY and CDP_AMPLITUDE_SECRET_KEY"))?;
    Ok(AmplitudeClient::new(amplitude, http.clone()))
}

fn unreachable(err: AmplitudeError) -> CohortError {
    match err {
        AmplitudeError::NotFound(message) => CohortError::NotFound(message),
        other => CohortError::Unavailable { reason: "INTEGRATION_UNREACHABLE", message: other.to_string() },
    }
}

#[derive(QueryableByName)]
struct Usage {
    #[diesel(sql_type = BigInt)]
    month: i64,
    #[diesel(sql_type = BigInt)]
    in_window: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    window_oldest: Option<DateTime<Utc>>,
}

/// Downloads counted this calendar month (UTC) and in the last 10 minutes.
async fn usage(conn: &mut AsyncPgConnection) -> Result<Usage, CohortError> {
    Ok(sql_query(
        "SELECT count(*) FILTER (WHERE requested_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC') AS month, \
                count(*) FILTER (WHERE requested_at > now() - make_interval(mins => $1)) AS in_window, \
                min(requested_at) FILTER (WHERE requested_at > now() - make_interval(mins => $1)) AS window_oldest \
         FROM cdp.amplitude_cohort_downloads WHERE requested_at >= least(date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', now() - make_interval(mins => $1))",
    )
    .bind::<diesel::sql_types::Integer, _>(WINDOW_MINUTES as i32)
    .get_result(conn)
    .await?)
}

/// The start of the next calendar month (UTC), when the monthly quota resets.
fn next_month(now: DateTime<Utc>) -> DateTime<Utc> {
    let (year, month) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single().unwrap_or(now)
}

#[derive(QueryableByName)]
struct Imported {
    #[diesel(sql_type = Text)]
    amplitude_cohort_id: String,
    #[diesel(sql_type = BigInt)]
    cohort_id: i64,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    imported_at: Option<DateTime<Utc>>,
}

pub async fn list_amplitude_cohorts(
    db: &Db,
    config: &Config,
    http: &reqwest::Client,
    ctx: &RequestContext,
    search: &str,
) -> Result<pb::ListAmplitudeCohortsResponse, CohortError> {
    let principal = ctx.principal().map_err(|_| CohortError::Internal("no principal".into()))?;
    let listings = client(config, http)?.list_cohorts().await.map_err(unreachable)?;
    let needle = search.trim().to_lowercase();
    let mut listings: Vec<CohortListing> =
        listings.into_iter().filter(|c| !c.archived && (needle.is_empty() || c.name.to_lowercase().contains(&needle))).collect();
    listings.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));

    let mut tx = db.begin_as(&principal.claims).await?;
    let ids: Vec<String> = listings.iter().map(|c| c.id.clone()).collect();
    let imported: Vec<Imported> = sql_query(
        "SELECT DISTINCT ON (c.amplitude_cohort_id) c.amplitude_cohort_id, c.id AS cohort_id, \
                (SELECT max(d.finished_at) FROM cdp.amplitude_cohort_downloads d WHERE d.cohort_id = c.id AND d.status = 'completed') AS imported_at \
         FROM cdp.cohorts c WHERE c.source = 'amplitude_import' AND c.deleted_at IS NULL AND c.amplitude_cohort_id = ANY($1) \
         ORDER BY c.amplitude_cohort_id, c.created_at DESC",
    )
    .bind::<Array<Text>, _>(&ids)
    .load(&mut *tx)
    .await?;
    let used = usage(&mut tx).await?;
    tx.commit().await?;
    let imported: HashMap<String, Imported> = imported.into_iter().map(|i| (i.amplitude_cohort_id.clone(), i)).collect();
    let cohorts = listings
        .into_iter()
        .map(|c| {
            let import = imported.get(&c.id);
            pb::AmplitudeCohort {
                id: c.id.clone(),
                name: c.name,
                description: c.description,
                size: c.size,
                last_computed_at: opt_timestamp(c.last_computed),
                owner: c.owners.join(", "),
                imported_cohort_id: import.map(|i| i.cohort_id),
                last_imported_at: import.and_then(|i| opt_timestamp(i.imported_at)),
            }
        })
        .collect();
    Ok(pb::ListAmplitudeCohortsResponse {
        cohorts,
        remaining_download_quota: Some((MONTHLY_DOWNLOADS - used.month).max(0) as i32),
        quota_resets_at: Some(timestamp(next_month(Utc::now()))),
    })
}

#[derive(QueryableByName)]
struct DownloadRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    request_id: Option<String>,
}

/// Takes one download from the quota (or reuses a request still being prepared), under a lock
/// so concurrent imports cannot overspend it. Returns the download row and its request id.
async fn reserve_download(db: &Db, ctx: &RequestContext, amplitude_cohort_id: &str) -> Result<DownloadRow, CohortError> {
    let principal = ctx.principal().map_err(|_| CohortError::Internal("no principal".into()))?;
    let mut tx = db.begin_as(&principal.claims).await?;
    sql_query("SELECT pg_advisory_xact_lock(hashtext('cdp.amplitude_cohort_downloads'))").execute(&mut *tx).await?;
    let pending: Vec<DownloadRow> = sql_query(
        "SELECT id, request_id FROM cdp.amplitude_cohort_downloads \
         WHERE amplitude_cohort_id = $1 AND status = 'requested' AND request_id IS NOT NULL AND requested_at > now() - make_interval(secs => $2) \
         ORDER BY requested_at DESC LIMIT 1",
    )
    .bind::<Text, _>(amplitude_cohort_id)
    .bind::<diesel::sql_types::Double, _>(REUSE_REQUEST_FOR.num_seconds() as f64)
    .load(&mut *tx)
    .await?;
    if let Some(row) = pending.into_iter().next() {
        tx.commit().await?;
        return Ok(row);
    }
    let used = usage(&mut tx).await?;
    if used.month >= MONTHLY_DOWNLOADS {
        return Err(CohortError::Exhausted {
            reason: "AMPLITUDE_QUOTA_EXHAUSTED",
            message: format!(
                "Amplitude's quota of {MONTHLY_DOWNLOADS} cohort downloads this month is used up; it resets on {}",
                next_month(Utc::now()).format("%Y-%m-%d")
            ),
        });
    }
    if used.in_window >= WINDOW_DOWNLOADS {
        let retry_at = used.window_oldest.map(|t| t + Span::minutes(WINDOW_MINUTES)).unwrap_or_else(Utc::now);
        return Err(CohortError::Exhausted {
            reason: "AMPLITUDE_QUOTA_EXHAUSTED",
            message: format!(
                "Amplitude allows {WINDOW_DOWNLOADS} cohort downloads per {WINDOW_MINUTES} minutes; try again after {} UTC",
                retry_at.format("%H:%M:%S")
            ),
        });
    }
    let row: DownloadRow = sql_query("INSERT INTO cdp.amplitude_cohort_downloads (amplitude_cohort_id, requested_by) VALUES ($1, $2) RETURNING id, request_id")
        .bind::<Text, _>(amplitude_cohort_id)
        .bind::<Nullable<SqlUuid>, _>(principal.platform_user_id())
        .get_result(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// Records the download as failed with `error`.
async fn fail_download(db: &Db, ctx: &RequestContext, id: i64, error: &str) -> Result<(), CohortError> {
    update_download(db, ctx, id, "UPDATE cdp.amplitude_cohort_downloads SET status = 'failed', error = $2, finished_at = now() WHERE id = $1", Some(error))
        .await
}

async fn update_download(db: &Db, ctx: &RequestContext, id: i64, sql: &str, text: Option<&str>) -> Result<(), CohortError> {
    let principal = ctx.principal().map_err(|_| CohortError::Internal("no principal".into()))?;
    let mut tx = db.begin_as(&principal.claims).await?;
    sql_query(sql).bind::<BigInt, _>(id).bind::<Nullable<Text>, _>(text).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Validates an Amplitude cohort id as the API shows them (it also ends up in URL paths).
fn validate_id(id: &str) -> Result<&str, CohortError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(CohortError::invalid("amplitude_cohort_id", "is required"));
    }
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
        return Err(CohortError::invalid("amplitude_cohort_id", "must be an Amplitude cohort id (letters, digits, - and _)"));
    }
    Ok(id)
}

pub async fn import_amplitude_cohort(
    db: &Db,
    config: &Config,
    http: &reqwest::Client,
    ctx: &RequestContext,
    request: pb::ImportAmplitudeCohortRequest,
) -> Result<pb::ImportAmplitudeCohortResponse, CohortError> {
    let pb::ImportAmplitudeCohortRequest { amplitude_cohort_id, name } = request;
    let amplitude_id = validate_id(&amplitude_cohort_id)?.to_string();
    let name = name.trim().to_string();
    if name.chars().count() > 120 {
        return Err(CohortError::invalid("name", "must be at most 120 characters"));
    }
    let amplitude = client(config, http)?;
    let listing = amplitude
        .list_cohorts()
        .await
        .map_err(unreachable)?
        .into_iter()
        .find(|c| c.id == amplitude_id)
        .ok_or_else(|| CohortError::NotFound(format!("Amplitude has no cohort with id {amplitude_id:?}")))?;
    if listing.size > MAX_COHORT_SIZE {
        return Err(CohortError::precondition(
            "AMPLITUDE_COHORT_TOO_LARGE",
            format!("the Amplitude cohort has {} users; Amplitude serves cohorts of at most {MAX_COHORT_SIZE}", listing.size),
        ));
    }

    let started = Instant::now();
    let download = reserve_download(db, ctx, &amplitude_id).await?;
    let request_id = match download.request_id {
        Some(request_id) => request_id,
        None => match amplitude.request_download(&amplitude_id).await {
            Ok(request_id) => {
                update_download(db, ctx, download.id, "UPDATE cdp.amplitude_cohort_downloads SET request_id = $2 WHERE id = $1", Some(&request_id)).await?;
                request_id
            }
            Err(err) => {
                fail_download(db, ctx, download.id, &err.to_string()).await?;
                return Err(unreachable(err));
            }
        },
    };

    // Poll with backoff: 0.5 s, 1 s, 2 s … 5 s, within the budget.
    let mut delay = Duration::from_millis(500);
    loop {
        match amplitude.download_status(&request_id).await {
            Ok(DownloadStatus::Completed) => break,
            Ok(DownloadStatus::InProgress) if started.elapsed() + delay < POLL_BUDGET => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Ok(DownloadStatus::InProgress) => {
                return Err(CohortError::Unavailable {
                    reason: "INTEGRATION_UNREACHABLE",
                    message: "Amplitude is still preparing the cohort file; import again in a minute to resume (no extra download is counted)".into(),
                });
            }
            Err(err) => {
                if err.is_permanent() {
                    fail_download(db, ctx, download.id, &err.to_string()).await?;
                }
                return Err(unreachable(err));
            }
        }
    }
    let rows = match amplitude.download_file(&request_id).await {
        Ok(rows) => rows,
        Err(err) => {
            if err.is_permanent() || matches!(err, AmplitudeError::Unexpected(_)) {
                fail_download(db, ctx, download.id, &err.to_string()).await?;
            }
            return Err(unreachable(err));
        }
    };
    if rows.len() as i64 > MAX_COHORT_SIZE {
        return Err(CohortError::precondition(
            "AMPLITUDE_COHORT_TOO_LARGE",
            format!("the downloaded cohort has {} ids; at most {MAX_COHORT_SIZE} are imported", rows.len()),
        ));
    }
    store_import(db, config, ctx, &amplitude_id, &listing, &name, download.id, &rows, started).await
}

#[derive(QueryableByName)]
struct MatchCounts {
    #[diesel(sql_type = BigInt)]
    downloaded: i64,
    #[diesel(sql_type = BigInt)]
    unmatched: i64,
    #[diesel(sql_type = BigInt)]
    matched_users: i64,
}

/// Stores a downloaded cohort as the caller, in one transaction: the imported cohort (created
/// on the first import), its membership replaced by the matched users, a size-history point,
/// the download's counts and the audit row.
#[allow(clippy::too_many_arguments)]
async fn store_import(
    db: &Db,
    config: &Config,
    ctx: &RequestContext,
    amplitude_id: &str,
    listing: &CohortListing,
    name: &str,
    download_id: i64,
    rows: &[DownloadedId],
    started: Instant,
) -> Result<pb::ImportAmplitudeCohortResponse, CohortError> {
    let principal = ctx.principal().map_err(|_| CohortError::Internal("no principal".into()))?;
    let mut tx = db.begin_as(&principal.claims).await?;
    let before = store::find_imported(&mut tx, amplitude_id).await?;
    let cohort_id = match &before {
        Some(cohort) => cohort.id,
        None => {
            let (name, field) = if name.is_empty() { (listing.name.trim().to_string(), "amplitude_cohort_id") } else { (name.to_string(), "name") };
            let name = if name.is_empty() { format!("Amplitude cohort {amplitude_id}") } else { name.chars().take(120).collect() };
            if store::name_taken(&mut tx, &name, None).await? {
                return Err(CohortError::invalid(field, format!("a cohort named {name:?} already exists; give the import another name")));
            }
            store::insert(
                &mut tx,
                store::NewCohort {
                    name: &name,
                    description: &listing.description,
                    kind: store::STATIC,
                    definition: serde_json::json!({}),
                    source: store::SOURCE_AMPLITUDE,
                    amplitude_cohort_id: Some(amplitude_id),
                    refresh_interval_secs: store::DEFAULT_REFRESH_SECS,
                    created_by: principal.platform_user_id(),
                },
            )
            .await?
        }
    };
    // Stage the downloaded ids, map them (the user_id column when it names a user, else the
    // Amplitude id through cdp.identities), and replace the membership with the matches.
    sql_query("CREATE TEMP TABLE amplitude_import_rows (n bigserial, amplitude_id text, user_id text) ON COMMIT DROP").execute(&mut *tx).await?;
    for chunk in rows.chunks(STAGE_CHUNK) {
        let amplitude_ids: Vec<Option<String>> = chunk.iter().map(|r| r.amplitude_id.clone()).collect();
        let user_ids: Vec<Option<String>> = chunk.iter().map(|r| r.user_id.clone()).collect();
        sql_query("INSERT INTO amplitude_import_rows (amplitude_id, user_id) SELECT * FROM unnest($1::text[], $2::text[])")
            .bind::<Array<Nullable<Text>>, _>(&amplitude_ids)
            .bind::<Array<Nullable<Text>>, _>(&user_ids)
            .execute(&mut *tx)
            .await?;
    }
    sql_query(
        "CREATE TEMP TABLE amplitude_import_matches ON COMMIT DROP AS \
         SELECT r.n, coalesce(u.user_id, i.user_id) AS user_id FROM amplitude_import_rows r \
         LEFT JOIN public.users u ON u.user_id = (CASE WHEN r.user_id ~ '^[0-9]{1,9}$' THEN r.user_id::int END) \
         LEFT JOIN LATERAL (SELECT id.user_id FROM cdp.identities id JOIN public.users iu ON iu.user_id = id.user_id \
                            WHERE id.amplitude_id = r.amplitude_id ORDER BY id.user_id LIMIT 1) i ON u.user_id IS NULL",
    )
    .execute(&mut *tx)
    .await?;
    let counts: MatchCounts = sql_query(
        "SELECT count(*) AS downloaded, count(*) FILTER (WHERE user_id IS NULL) AS unmatched, count(DISTINCT user_id) AS matched_users FROM amplitude_import_matches",
    )
    .get_result(&mut *tx)
    .await?;
    store::tune_for_scans(&mut tx).await?;
    let delta =
        store::replace_membership(&mut tx, cohort_id, &Sql::new("SELECT DISTINCT user_id FROM amplitude_import_matches WHERE user_id IS NOT NULL")).await?;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    store::record_evaluation(&mut tx, cohort_id, delta, duration_ms).await?;
    store::membership_changed(&mut tx, cohort_id, delta).await?;
    // Cohorts defined on this import follow it.
    for dependant in store::referencing_cohorts(&mut tx, cohort_id).await? {
        store::enqueue_refresh(&mut tx, dependant.id).await?;
    }
    sql_query(
        "UPDATE cdp.amplitude_cohort_downloads SET status = 'completed', finished_at = now(), cohort_id = $2, \
           downloaded_ids = $3, matched_users = $4, unmatched_ids = $5 WHERE id = $1",
    )
    .bind::<BigInt, _>(download_id)
    .bind::<BigInt, _>(cohort_id)
    .bind::<BigInt, _>(counts.downloaded)
    .bind::<BigInt, _>(counts.matched_users)
    .bind::<BigInt, _>(counts.unmatched)
    .execute(&mut *tx)
    .await?;
    let after = store::find(&mut tx, cohort_id, false).await?;
    let mut view = after.audit_view();
    view["size"] = serde_json::json!(delta.size);
    view["downloaded_ids"] = serde_json::json!(counts.downloaded);
    view["matched_users"] = serde_json::json!(counts.matched_users);
    view["unmatched_ids"] = serde_json::json!(counts.unmatched);
    audit::record(
        &mut tx,
        ctx,
        Change {
            action: "cohort.import",
            resource_type: "cohort",
            resource_id: cohort_id.to_string(),
            before: before.map(|b| b.audit_view()),
            after: Some(view),
        },
    )
    .await?;
    let today = Utc::now().with_timezone(&config.reporting_tz).date_naive();
    let trend =
        store::size_points(&mut tx, &[cohort_id], today - Span::days(29), today, config.reporting_tz.name()).await?.remove(&cohort_id).unwrap_or_default();
    let cohort = after.to_proto(trend)?;
    tx.commit().await?;
    Ok(pb::ImportAmplitudeCohortResponse { cohort: Some(cohort), matched_users: counts.matched_users, unmatched_ids: counts.unmatched })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monthly_quota_resets_on_the_first_of_the_next_month() {
        let dec = Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0).unwrap();
        assert_eq!(next_month(dec), Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
        let nov = Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap();
        assert_eq!(next_month(nov), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
    }

    #[test]
    fn amplitude_ids_are_one_safe_token() {
        assert!(validate_id("abc-123_X").is_ok());
        assert!(validate_id("../etc").is_err());
        assert!(validate_id("").is_err());
    }
}
