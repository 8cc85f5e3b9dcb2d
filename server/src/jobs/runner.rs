//! The worker loop: claim ready jobs up to the concurrency limit, run each under a renewed
//! lease, record the outcome, and drain in-flight jobs on shutdown.

use super::{JobContext, JobError, Registry};
use crate::db::Db;
use diesel::{
    QueryableByName, sql_query,
    sql_types::{Array, Int4, Int8, Interval, Jsonb, Text},
};
use diesel_async::RunQueryDsl;
use std::{sync::Arc, time::Duration};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Int8)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Jsonb)]
    payload: serde_json::Value,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = Int4)]
    max_attempts: i32,
}

pub struct Worker {
    db: Db,
    registry: Registry,
    /// Unique per process; recorded in `locked_by` so only the lease holder can finish a job.
    id: String,
    concurrency: usize,
    lease: Duration,
    poll_interval: Duration,
}

fn interval(d: Duration) -> diesel::data_types::PgInterval {
    diesel::data_types::PgInterval::from_microseconds(d.as_micros() as i64)
}

impl Worker {
    pub fn new(db: Db, registry: Registry, concurrency: usize, lease: Duration, poll_interval: Duration) -> Self {
        let id = format!("worker-{}", uuid::Uuid::new_v4());
        Worker { db, registry, id, concurrency: concurrency.max(1), lease, poll_interval }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` is cancelled, then waits for in-flight jobs to finish.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.concurrency));
        let mut running = JoinSet::new();
        tracing::info!(worker = %this.id, kinds = ?this.registry.kinds(), "worker started");
        for (kind, _) in this.registry.recurring_kinds() {
            if let Err(err) = this.schedule_next(kind, None).await {
                tracing::warn!(kind, error = %err, "could not queue a recurring job");
            }
        }
        while !shutdown.is_cancelled() {
            while running.try_join_next().is_some() {}
            let free = slots.available_permits();
            let claimed = if free > 0 { this.claim(free as i64).await } else { Ok(Vec::new()) };
            match claimed {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        let permit = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
                        let worker = this.clone();
                        running.spawn(async move {
                            worker.run_job(job).await;
                            drop(permit);
                        });
                    }
                    continue; // more may be ready: claim again without sleeping
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "claiming jobs failed; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(this.poll_interval) => {}
            }
        }
        tracing::info!(worker = %this.id, in_flight = running.len(), "worker draining");
        while running.join_next().await.is_some() {}
    }

    /// Claims up to `limit` ready jobs: queued and due, or running with an expired lease.
    async fn claim(&self, limit: i64) -> anyhow::Result<Vec<JobContext>> {
        let mut conn = self.db.conn().await?;
        let rows: Vec<Claimed> = sql_query(
            "UPDATE cdp.jobs SET status = 'running', attempts = attempts + 1, locked_by = $1, \
                    locked_until = now() + $2, updated_at = now() \
             WHERE id IN ( \
               SELECT id FROM cdp.jobs \
               WHERE kind = ANY($3) AND ((status = 'queued' AND run_at <= now()) \
                                         OR (status = 'running' AND locked_until < now())) \
               ORDER BY run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, payload, attempts, max_attempts",
        )
        .bind::<Text, _>(&self.id)
        .bind::<Interval, _>(interval(self.lease))
        .bind::<Array<Text>, _>(self.registry.kinds())
        .bind::<Int8, _>(limit)
        .load(&mut conn)
        .await?;
        Ok(rows.into_iter().map(|r| JobContext { id: r.id, kind: r.kind, payload: r.payload, attempt: r.attempts, max_attempts: r.max_attempts }).collect())
    }

    async fn run_job(&self, job: JobContext) {
        let Some(handler) = self.registry.handler(&job.kind) else { return };
        let outcome = if job.attempt > job.max_attempts {
            // Its workers kept dying mid-run: stop trying.
            Err(JobError::Permanent(format!("abandoned after {} attempts whose workers stopped mid-run", job.max_attempts)))
        } else {
            let run = handler.run(&job);
            tokio::pin!(run);
            let mut heartbeat = tokio::time::interval(self.lease / 3);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    result = &mut run => break result,
                    _ = heartbeat.tick() => {
                        if let Err(err) = self.renew(job.id).await {
                            tracing::warn!(job = job.id, error = %err, "lease renewal failed");
                        }
                    }
                }
            }
        };
        let recorded = match &outcome {
            Ok(()) => {
                self.finish(
                    job.id,
                    "UPDATE cdp.jobs SET status = 'succeeded', finished_at = now(), updated_at = now(), \
                                             locked_by = NULL, locked_until = NULL, last_error = NULL \
                                      WHERE id = $1 AND locked_by = $2 AND status = 'running'",
                    None,
                    None,
                )
                .await
            }
            Err(JobError::Retry(msg)) if job.attempt < job.max_attempts => {
                let delay = handler.retry_delay(job.attempt);
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempt, error = %msg, retry_in = ?delay, "job failed; will retry");
                self.finish(
                    job.id,
                    "UPDATE cdp.jobs SET status = 'queued', run_at = now() + $4, updated_at = now(), \
                                            locked_by = NULL, locked_until = NULL, last_error = $3 \
                                     WHERE id = $1 AND locked_by = $2 AND status = 'running'",
                    Some(msg),
                    Some(delay),
                )
                .await
            }
            Err(err) => {
                tracing::error!(job = job.id, kind = %job.kind, attempt = job.attempt, error = %err, "job dead-lettered");
                self.finish(
                    job.id,
                    "UPDATE cdp.jobs SET status = 'dead', finished_at = now(), updated_at = now(), \
                                            locked_by = NULL, locked_until = NULL, last_error = $3 \
                                     WHERE id = $1 AND locked_by = $2 AND status = 'running'",
                    Some(&err.to_string()),
                    None,
                )
                .await
            }
        };
        let finished = !matches!(&outcome, Err(JobError::Retry(_)) if job.attempt < job.max_attempts);
        if let (true, Ok(1), Some(every)) = (finished, &recorded, self.registry.period(&job.kind)) {
            let kind = handler.kind();
            if let Err(err) = self.schedule_next(kind, Some(every)).await {
                tracing::error!(kind, error = %err, "could not queue the next run of a recurring job");
            }
        }
        match recorded {
            Ok(0) => tracing::warn!(job = job.id, "lease lost before the job finished; another worker owns it now"),
            Ok(_) => {}
            Err(err) => tracing::error!(job = job.id, error = %err, "recording the job outcome failed; its lease will expire and it will run again"),
        }
    }

    /// Queues the next run of a recurring kind (a no-op when one is already pending).
    async fn schedule_next(&self, kind: &'static str, after: Option<Duration>) -> anyhow::Result<()> {
        let mut conn = self.db.conn().await?;
        let mut job = super::NewJob::new(kind, serde_json::json!({})).dedupe_key(super::RECURRING_KEY);
        if let Some(after) = after {
            job = job.run_at(chrono::Utc::now() + chrono::Duration::from_std(after)?);
        }
        super::enqueue(&mut conn, job).await?;
        Ok(())
    }

    async fn renew(&self, id: i64) -> anyhow::Result<()> {
        let mut conn = self.db.conn().await?;
        sql_query("UPDATE cdp.jobs SET locked_until = now() + $3 WHERE id = $1 AND locked_by = $2 AND status = 'running'")
            .bind::<Int8, _>(id)
            .bind::<Text, _>(&self.id)
            .bind::<Interval, _>(interval(self.lease))
            .execute(&mut conn)
            .await?;
        Ok(())
    }

    async fn finish(&self, id: i64, sql: &str, error: Option<&str>, delay: Option<Duration>) -> anyhow::Result<usize> {
        let mut conn = self.db.conn().await?;
        let query = sql_query(sql).bind::<Int8, _>(id).bind::<Text, _>(&self.id);
        let updated = match (error, delay) {
            (Some(error), Some(delay)) => query.bind::<Text, _>(error).bind::<Interval, _>(interval(delay)).execute(&mut conn).await?,
            (Some(error), None) => query.bind::<Text, _>(error).execute(&mut conn).await?,
            _ => query.execute(&mut conn).await?,
        };
        Ok(updated)
    }
}
