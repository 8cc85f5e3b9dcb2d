//! The durable job queue: no job runs twice across workers, a dead worker's job is picked up
//! again, failures retry with backoff and then dead-letter, schedules and dedupe keys hold.

use cdp_server::{
    db::Db,
    jobs::{self, JobContext, JobError, JobHandler, NewJob, Registry, Worker},
};
use cdp_tests::TestDb;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Int4, Text},
};
use diesel_async::RunQueryDsl;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// Records each run in `test_job_runs`; a second run of the same job id is a duplicate.
struct RecordRun {
    db: Db,
    duplicates: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl JobHandler for RecordRun {
    fn kind(&self) -> &'static str {
        "test.record"
    }
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        let mut conn = self.db.conn().await.map_err(JobError::retry)?;
        let inserted = diesel::sql_query("INSERT INTO test_job_runs (job_id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind::<BigInt, _>(job.id)
            .execute(&mut conn)
            .await
            .map_err(JobError::retry)?;
        if inserted == 0 {
            self.duplicates.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[derive(QueryableByName, Debug)]
struct JobState {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Int4)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    last_error: Option<String>,
}

async fn job_state(db: &TestDb, id: i64) -> JobState {
    let mut conn = db.conn().await;
    diesel::sql_query("SELECT status, attempts, last_error FROM cdp.jobs WHERE id = $1").bind::<BigInt, _>(id).get_result(&mut conn).await.unwrap()
}

async fn wait_for(db: &TestDb, id: i64, status: &str) -> JobState {
    for _ in 0..300 {
        let state = job_state(db, id).await;
        if state.status == status {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never reached {status}: {:?}", job_state(db, id).await);
}

fn worker(db: &Db, registry: Registry, lease: Duration) -> Worker {
    Worker::new(db.clone(), registry, 4, lease, Duration::from_millis(20))
}

#[tokio::test]
async fn two_workers_never_run_one_job_twice() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url, 12).unwrap();
    let mut conn = test_db.conn().await;
    diesel::sql_query("CREATE TABLE test_job_runs (job_id bigint PRIMARY KEY)").execute(&mut conn).await.unwrap();
    const JOBS: i64 = 300;
    for i in 0..JOBS {
        jobs::enqueue(&mut conn, NewJob::new("test.record", serde_json::json!({ "i": i }))).await.unwrap();
    }
    let duplicates = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let a = tokio::spawn(
        worker(&db, Registry::new().register(RecordRun { db: db.clone(), duplicates: duplicates.clone() }), Duration::from_secs(30)).run(shutdown.clone()),
    );
    let b = tokio::spawn(
        worker(&db, Registry::new().register(RecordRun { db: db.clone(), duplicates: duplicates.clone() }), Duration::from_secs(30)).run(shutdown.clone()),
    );
    let mut done = 0;
    for _ in 0..400 {
        done = cdp_tests_count(&test_db, "SELECT count(*) AS n FROM cdp.jobs WHERE status = 'succeeded'").await;
        if done == JOBS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(done, JOBS, "every job finished");
    assert_eq!(cdp_tests_count(&test_db, "SELECT count(*) AS n FROM test_job_runs").await, JOBS);
    assert_eq!(AtomicUsize::load(&duplicates, Ordering::SeqCst), 0, "no job ran twice");
    assert_eq!(cdp_tests_count(&test_db, "SELECT count(*) AS n FROM cdp.jobs WHERE attempts <> 1").await, 0);
    // Both workers took part (claims are spread by SKIP LOCKED, not serialised).
    assert_eq!(cdp_tests_count(&test_db, "SELECT count(*) AS n FROM cdp.jobs WHERE locked_by IS NOT NULL").await, 0);
}

async fn cdp_tests_count(db: &TestDb, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = db.conn().await;
    diesel::sql_query(sql).get_result::<N>(&mut conn).await.unwrap().n
}

/// Hangs forever on its first attempt (as if its worker froze), succeeds after.
struct HangOnce;

#[tonic::async_trait]
impl JobHandler for HangOnce {
    fn kind(&self) -> &'static str {
        "test.hang_once"
    }
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        if job.attempt == 1 {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_job_whose_worker_dies_is_picked_up_again() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url, 8).unwrap();
    let mut conn = test_db.conn().await;
    let id = jobs::enqueue(&mut conn, NewJob::new("test.hang_once", serde_json::json!({}))).await.unwrap().unwrap();

    let first = worker(&db, Registry::new().register(HangOnce), Duration::from_millis(600));
    let first_id = first.id().to_string();
    let dying = tokio::spawn(first.run(CancellationToken::new()));
    let state = wait_for(&test_db, id, "running").await;
    assert_eq!(state.attempts, 1);
    // The worker process dies: no more heartbeats, no outcome recorded.
    dying.abort();
    let _ = dying.await;

    let second = worker(&db, Registry::new().register(HangOnce), Duration::from_millis(600));
    let second_id = second.id().to_string();
    let shutdown = CancellationToken::new();
    let rescuer = tokio::spawn(second.run(shutdown.clone()));
    let state = wait_for(&test_db, id, "succeeded").await;
    shutdown.cancel();
    rescuer.await.unwrap();
    assert_eq!(state.attempts, 2, "the second worker ran it once more");
    assert_ne!(first_id, second_id);
}

#[tokio::test]
async fn a_running_job_keeps_its_lease_while_its_worker_lives() {
    struct Slow;
    #[tonic::async_trait]
    impl JobHandler for Slow {
        fn kind(&self) -> &'static str {
            "test.slow"
        }
        async fn run(&self, _job: &JobContext) -> Result<(), JobError> {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            Ok(())
        }
    }
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url, 8).unwrap();
    let mut conn = test_db.conn().await;
    let id = jobs::enqueue(&mut conn, NewJob::new("test.slow", serde_json::json!({}))).await.unwrap().unwrap();
    let shutdown = CancellationToken::new();
    // The job outlives its 300 ms lease several times over; the heartbeat keeps it, so the
    // second worker never steals it.
    let a = tokio::spawn(worker(&db, Registry::new().register(Slow), Duration::from_millis(300)).run(shutdown.clone()));
    wait_for(&test_db, id, "running").await;
    let b = tokio::spawn(worker(&db, Registry::new().register(Slow), Duration::from_millis(300)).run(shutdown.clone()));
    let state = wait_for(&test_db, id, "succeeded").await;
    shutdown.cancel();
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(state.attempts, 1);
}

struct AlwaysFails;

#[tonic::async_trait]
impl JobHandler for AlwaysFails {
    fn kind(&self) -> &'static str {
        "test.fails"
    }
    async fn run(&self, job: &JobContext) -> Result<(), JobError> {
        Err(JobError::Retry(format!("boom on attempt {}", job.attempt)))
    }
    fn retry_delay(&self, attempt: i32) -> Duration {
        Duration::from_millis(20 * attempt as u64)
    }
}

#[tokio::test]
async fn a_failing_job_retries_with_backoff_then_is_dead_lettered() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url, 8).unwrap();
    let mut conn = test_db.conn().await;
    let id = jobs::enqueue(&mut conn, NewJob::new("test.fails", serde_json::json!({})).max_attempts(3)).await.unwrap().unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker(&db, Registry::new().register(AlwaysFails), Duration::from_secs(10)).run(shutdown.clone()));
    let state = wait_for(&test_db, id, "dead").await;
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(state.attempts, 3);
    assert_eq!(state.last_error.as_deref(), Some("boom on attempt 3"));
}

#[tokio::test]
async fn a_scheduled_job_waits_for_its_time_and_dedupe_keys_hold() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url, 8).unwrap();
    let mut conn = test_db.conn().await;
    diesel::sql_query("CREATE TABLE test_job_runs (job_id bigint PRIMARY KEY)").execute(&mut conn).await.unwrap();
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let id = jobs::enqueue(&mut conn, NewJob::new("test.record", serde_json::json!({})).run_at(later).dedupe_key("cohort:1")).await.unwrap().unwrap();
    // The same pending work is not queued twice.
    assert_eq!(jobs::enqueue(&mut conn, NewJob::new("test.record", serde_json::json!({})).dedupe_key("cohort:1")).await.unwrap(), None);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(
        worker(&db, Registry::new().register(RecordRun { db: db.clone(), duplicates: Arc::default() }), Duration::from_secs(10)).run(shutdown.clone()),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(job_state(&test_db, id).await.status, "queued", "not before its time");
    diesel::sql_query("UPDATE cdp.jobs SET run_at = now() WHERE id = $1").bind::<BigInt, _>(id).execute(&mut conn).await.unwrap();
    wait_for(&test_db, id, "succeeded").await;
    // Once it finished, the key is free again.
    assert!(jobs::enqueue(&mut conn, NewJob::new("test.record", serde_json::json!({})).dedupe_key("cohort:1")).await.unwrap().is_some());
    shutdown.cancel();
    running.await.unwrap();
}

#[tokio::test]
async fn a_recurring_job_is_queued_at_start_and_requeued_after_each_run() {
    let test_db = TestDb::new().await;
    let db = Db::connect(&test_db.url, 8).unwrap();
    let mut conn = test_db.conn().await;
    diesel::sql_query("CREATE TABLE test_job_runs (job_id bigint PRIMARY KEY)").execute(&mut conn).await.unwrap();
    let shutdown = CancellationToken::new();
    let registry = Registry::new().recurring(RecordRun { db: db.clone(), duplicates: Arc::default() }, Duration::from_millis(200));
    let running = tokio::spawn(worker(&db, registry, Duration::from_secs(10)).run(shutdown.clone()));
    let mut runs = 0;
    for _ in 0..100 {
        runs = cdp_tests_count(&test_db, "SELECT count(*) AS n FROM test_job_runs").await;
        if runs >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    assert!(runs >= 3, "ran {runs} times");
    // Never more than one pending run.
    assert!(cdp_tests_count(&test_db, "SELECT count(*) AS n FROM cdp.jobs WHERE kind = 'test.record' AND status IN ('queued', 'running')").await <= 1);
}
