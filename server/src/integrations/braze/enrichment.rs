//! Braze profile enrichment (the brief's second Braze duty): the recurring job
//! `braze.enrich_profiles` pushes a configurable set of catalogue fields
//! (`CDP_BRAZE_ENRICHMENT_FIELDS`, e.g. user type, favourite vertical, wallet credits,
//! lifecycle stage, CLTV) as custom attributes `cdp_<field>` through `/users/track`, only for
//! users known to Braze whose values changed since their last accepted push (an md5 of the
//! attributes per user in `cdp.braze_profile_state`). Each run is recorded in
//! `cdp.integration_sync_runs` (operation `profile_enrichment`).

use super::{BrazeClient, MAX_ATTRIBUTES_PER_REQUEST};
use crate::{
    conditions::{Catalogue, Join, Storage},
    config::Config,
    db::Db,
    jobs::{JobContext, JobError, JobHandler},
};
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, BigInt, Integer, Jsonb, Text},
};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use std::{collections::BTreeSet, sync::Arc};

pub const ENRICH_JOB: &str = "braze.enrich_profiles";
/// Users read per query while looking for changed profiles.
const CHUNK: i64 = 5_000;
/// Requests in flight at once.
const CONCURRENCY: usize = 8;

pub struct EnrichProfiles {
    pub db: Db,
    pub config: Arc<Config>,
    pub http: reqwest::Client,
}

/// The SQL that builds the attributes object of a user from the configured fields, and the
/// joins it needs. Fields come only from the catalogue (never personal data or memberships).
pub fn attributes_sql(fields: &[String]) -> Result<(String, BTreeSet<Join>), String> {
    if fields.is_empty() {
        return Err("CDP_BRAZE_ENRICHMENT_FIELDS names no field".into());
    }
    let catalogue = Catalogue::standard();
    let mut pairs = Vec::new();
    let mut joins = BTreeSet::new();
    for name in fields {
        let field = catalogue.get(name).ok_or_else(|| format!("CDP_BRAZE_ENRICHMENT_FIELDS: {name:?} is not a field of the catalogue"))?;
        if field.pii || matches!(field.storage, Storage::CohortMembership | Storage::AmplitudeMembership) {
            return Err(format!("CDP_BRAZE_ENRICHMENT_FIELDS: {name:?} cannot be sent to Braze"));
        }
        let value = match field.storage {
            Storage::CommaList => format!("to_jsonb(string_to_array(nullif({}, ''), ','))", field.expr),
            Storage::IntFlag => format!("to_jsonb(({}) = 1)", field.expr),
            _ => format!("to_jsonb({})", field.expr),
        };
        pairs.push(format!("'cdp_{}', {value}", field.name));
        joins.extend(field.joins.iter().copied().filter(|j| *j != Join::Identities));
    }
    Ok((format!("jsonb_build_object({})", pairs.join(", ")), joins))
}

#[derive(QueryableByName)]
struct RunId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Changed {
    #[diesel(sql_type = Integer)]
    user_id: i32,
    #[diesel(sql_type = Jsonb)]
    attrs: Value,
    #[diesel(sql_type = Text)]
    hash: String,
}

#[tonic::async_trait]
impl JobHandler for EnrichProfiles {
    fn kind(&self) -> &'static str {
        ENRICH_JOB
    }

    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let Some(braze) = self.config.braze.as_ref() else {
            tracing::debug!("Braze is not configured; profile enrichment has nothing to do");
            return Ok(());
        };
        let run_id = self.start_run(job).await.map_err(JobError::retry)?;
        let client = BrazeClient::new(braze, self.http.clone());
        match self.push_changed(&client, run_id).await {
            Ok(()) => {
                self.finish_run(run_id, "succeeded", None).await.map_err(JobError::retry)?;
                Ok(())
            }
            Err((message, permanent)) => {
                let last = permanent || job.attempt >= job.max_attempts;
                tracing::warn!(run = run_id, attempt = job.attempt, error = %message, "Braze profile enrichment failed");
                self.finish_run(run_id, if last { "failed" } else { "queued" }, Some(&message)).await.map_err(JobError::retry)?;
                Err(if permanent { JobError::Permanent(message) } else { JobError::Retry(message) })
            }
        }
    }
}

impl EnrichProfiles {
    /// The run of this job (one per scheduled run, kept across its retries).
    async fn start_run(&self, job: &JobContext) -> Result<i64, crate::db::DbError> {
        let mut conn = self.db.conn().await?;
        let existing: Vec<RunId> = sql_query("SELECT id FROM cdp.integration_sync_runs WHERE job_id = $1 AND operation = 'profile_enrichment'")
            .bind::<BigInt, _>(job.id)
            .load(&mut *conn)
            .await?;
        if let Some(run) = existing.as_slice().first() {
            sql_query("UPDATE cdp.integration_sync_runs SET status = 'running', attempts = $2 WHERE id = $1")
                .bind::<BigInt, _>(run.id)
                .bind::<Integer, _>(job.attempt)
                .execute(&mut *conn)
                .await?;
            return Ok(run.id);
        }
        let run: RunId = sql_query(
            "INSERT INTO cdp.integration_sync_runs (integration, operation, resource_type, resource_id, status, job_id, attempts, started_at) \
             VALUES ('braze', 'profile_enrichment', 'braze_profiles', 'users', 'running', $1, $2, now()) RETURNING id",
        )
        .bind::<BigInt, _>(job.id)
        .bind::<Integer, _>(job.attempt)
        .get_result(&mut *conn)
        .await?;
        Ok(run.id)
    }

    async fn finish_run(&self, run_id: i64, status: &str, error: Option<&str>) -> Result<(), crate::db::DbError> {
        let mut conn = self.db.conn().await?;
        sql_query(
            "UPDATE cdp.integration_sync_runs SET status = $2, error = $3, finished_at = CASE WHEN $2 IN ('succeeded', 'failed') THEN now() END WHERE id = $1",
        )
        .bind::<BigInt, _>(run_id)
        .bind::<Text, _>(status)
        .bind::<diesel::sql_types::Nullable<Text>, _>(error)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    /// Walks the users known to Braze in id order and pushes those whose attributes changed.
    async fn push_changed(&self, client: &BrazeClient, run_id: i64) -> Result<(), (String, bool)> {
        let retry = |e: &dyn std::fmt::Display| (e.to_string(), false);
        let (attrs, joins) = attributes_sql(&self.config.braze_enrichment_fields).map_err(|e| (e, true))?;
        let joins: String = joins.iter().map(|j| j.sql()).collect();
        let query = format!(
            "SELECT u.user_id, x.attrs, md5(x.attrs::text) AS hash FROM public.users u \
             JOIN cdp.identities i ON i.user_id = u.user_id AND coalesce(i.braze_id, '') <> ''{joins} \
             CROSS JOIN LATERAL (SELECT {attrs} AS attrs) x \
             LEFT JOIN cdp.braze_profile_state p ON p.user_id = u.user_id \
             WHERE u.user_id > $1 AND p.attributes_hash IS DISTINCT FROM md5(x.attrs::text) \
             ORDER BY u.user_id LIMIT $2"
        );
        let mut after = 0i32;
        loop {
            let changed: Vec<Changed> = {
                let mut conn = self.db.conn().await.map_err(|e| retry(&e))?;
                sql_query(&query).bind::<Integer, _>(after).bind::<BigInt, _>(CHUNK).load(&mut *conn).await.map_err(|e| retry(&e))?
            };
            let Some(last) = changed.last() else { return Ok(()) };
            after = last.user_id;
            for wave in changed.chunks(MAX_ATTRIBUTES_PER_REQUEST * CONCURRENCY) {
                let batches: Vec<&[Changed]> = wave.chunks(MAX_ATTRIBUTES_PER_REQUEST).collect();
                let results = futures::future::join_all(batches.iter().map(|batch| async move {
                    let attributes: Vec<Value> = batch
                        .iter()
                        .map(|c| {
                            let mut object = c.attrs.clone();
                            object["external_id"] = Value::String(c.user_id.to_string());
                            object["_update_existing_only"] = Value::Bool(true);
                            object
                        })
                        .collect();
                    client.track_attributes(&attributes).await
                }))
                .await;
                let mut accepted: Vec<&Changed> = Vec::new();
                let mut requests = 0i64;
                let mut failure = None;
                for (batch, result) in batches.iter().zip(results) {
                    match result {
                        Ok(_) => {
                            requests += 1;
                            accepted.extend(batch.iter());
                        }
                        Err(err) => {
                            failure.get_or_insert((err.to_string(), err.is_permanent()));
                        }
                    }
                }
                self.record_accepted(run_id, &accepted, requests).await.map_err(|e| retry(&e))?;
                if let Some(failure) = failure {
                    return Err(failure);
                }
            }
        }
    }

    /// Remembers what Braze accepted (the hash per user) and counts it on the run.
    async fn record_accepted(&self, run_id: i64, accepted: &[&Changed], requests: i64) -> Result<(), crate::db::DbError> {
        let mut tx = self.db.begin_system().await?;
        let ids: Vec<i32> = accepted.iter().map(|c| c.user_id).collect();
        let hashes: Vec<&str> = accepted.iter().map(|c| c.hash.as_str()).collect();
        sql_query(
            "INSERT INTO cdp.braze_profile_state (user_id, attributes_hash, pushed_at) SELECT *, now() FROM unnest($1::int4[], $2::text[]) \
             ON CONFLICT (user_id) DO UPDATE SET attributes_hash = EXCLUDED.attributes_hash, pushed_at = EXCLUDED.pushed_at",
        )
        .bind::<Array<Integer>, _>(&ids)
        .bind::<Array<Text>, _>(&hashes)
        .execute(&mut *tx)
        .await?;
        sql_query(
            "UPDATE cdp.integration_sync_runs SET counts = counts || jsonb_build_object( \
               'sent', coalesce((counts->>'sent')::bigint, 0) + $2, 'requests', coalesce((counts->>'requests')::bigint, 0) + $3) WHERE id = $1",
        )
        .bind::<BigInt, _>(run_id)
        .bind::<BigInt, _>(ids.len() as i64)
        .bind::<BigInt, _>(requests)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_come_only_from_the_catalogue() {
        let (sql, joins) = attributes_sql(&["user_type".into(), "lifecycle_stage".into(), "verticals_listed_in".into()]).unwrap();
        assert!(sql.starts_with("jsonb_build_object('cdp_user_type', to_jsonb(u.user_type)"));
        assert!(joins.contains(&Join::Stats) && joins.contains(&Join::Attributes));
        assert!(attributes_sql(&["user_type; DROP TABLE users".into()]).is_err());
        assert!(attributes_sql(&["phone".into()]).is_err());
        assert!(attributes_sql(&[]).is_err());
    }
}
