//! Prometheus metrics: RPC rates, latencies and outcomes (a tower layer), job queue depth and
//! age (read from PostgreSQL at scrape time), and counters the capabilities increment
//! (redemptions, sync runs). Served on their own port (CDP_METRICS_ADDR), never the public one.

use crate::db::Db;
use diesel::{
    QueryableByName,
    sql_types::{BigInt, Double, Text},
};
use diesel_async::RunQueryDsl;
use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use std::{
    future::Future,
    pin::Pin,
    sync::LazyLock,
    task::{Context, Poll},
    time::Instant,
};

pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

fn register<T: prometheus::core::Collector + Clone + 'static>(collector: T) -> T {
    REGISTRY.register(Box::new(collector.clone())).expect("each metric is registered once");
    collector
}

/// Calls per RPC and gRPC status code.
pub static RPC_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(Opts::new("cdp_rpc_requests_total", "RPCs served, by service, method and gRPC code"), &["service", "method", "code"])
            .expect("valid metric"),
    )
});

/// Time to the response headers of each RPC.
pub static RPC_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    let buckets = vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
    register(
        HistogramVec::new(HistogramOpts::new("cdp_rpc_duration_seconds", "RPC latency to response headers").buckets(buckets), &["service", "method"])
            .expect("valid metric"),
    )
});

/// Redemption outcomes (`redeemed`, `replayed`, or the refusal reason).
pub static REDEMPTIONS: LazyLock<IntCounterVec> =
    LazyLock::new(|| register(IntCounterVec::new(Opts::new("cdp_redemptions_total", "Redemption attempts by outcome"), &["outcome"]).expect("valid metric")));

/// The condition sets previews used, by how they were had: `reused` as kept, `updated`
/// (re-evaluated for the users that changed since), `scanned` (read from the tables).
pub static PREVIEW_SETS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(IntCounterVec::new(Opts::new("cdp_preview_sets_total", "Condition sets of cohort previews by how they were had: reused, updated (re-evaluated for changed users) or scanned by a preview; background_updated or background_scanned by the background pass"), &["how"]).expect("valid metric"))
});

/// Finished sync runs to external integrations.
pub static SYNC_RUNS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register(
        IntCounterVec::new(
            Opts::new("cdp_sync_runs_total", "Integration sync runs by integration, operation and status"),
            &["integration", "operation", "status"],
        )
        .expect("valid metric"),
    )
});

static JOBS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register(IntGaugeVec::new(Opts::new("cdp_jobs", "Jobs in the durable queue by kind and status"), &["kind", "status"]).expect("valid metric"))
});

static JOB_AGE: LazyLock<GaugeVec> = LazyLock::new(|| {
    register(
        GaugeVec::new(Opts::new("cdp_job_oldest_ready_age_seconds", "Age of the oldest job that is due but not yet running"), &["kind"]).expect("valid metric"),
    )
});

#[derive(QueryableByName)]
struct QueueRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    jobs: i64,
    #[diesel(sql_type = Double)]
    oldest_ready_secs: f64,
}

/// Refreshes the queue gauges from cdp.jobs (one grouped query).
async fn refresh_queue(db: &Db) -> anyhow::Result<()> {
    let mut conn = db.conn().await?;
    let rows: Vec<QueueRow> = diesel::sql_query(
        "SELECT kind, status, count(*) AS jobs, \
                coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE status = 'queued' AND run_at <= now())), 0)::float8 AS oldest_ready_secs \
         FROM cdp.jobs WHERE status IN ('queued', 'running', 'dead') GROUP BY kind, status",
    )
    .load(&mut conn)
    .await?;
    JOBS.reset();
    JOB_AGE.reset();
    for row in rows {
        JOBS.with_label_values(&[row.kind.as_str(), row.status.as_str()]).set(row.jobs);
        if row.status == "queued" {
            JOB_AGE.with_label_values(&[row.kind.as_str()]).set(row.oldest_ready_secs);
        }
    }
    Ok(())
}

/// The Prometheus text exposition of every metric.
pub async fn render(db: &Db) -> String {
    if let Err(err) = refresh_queue(db).await {
        tracing::warn!(error = %err, "job queue metrics unavailable");
    }
    LazyLock::force(&RPC_REQUESTS);
    LazyLock::force(&RPC_DURATION);
    LazyLock::force(&REDEMPTIONS);
    LazyLock::force(&SYNC_RUNS);
    LazyLock::force(&PREVIEW_SETS);
    let mut buffer = Vec::new();
    prometheus::TextEncoder::new().encode(&REGISTRY.gather(), &mut buffer).expect("encoding to a Vec cannot fail");
    String::from_utf8(buffer).expect("the text format is UTF-8")
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(db: Db, listener: tokio::net::TcpListener, shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let db = db.clone();
            async move { ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], render(&db).await) }
        }),
    );
    tracing::info!(addr = %listener.local_addr()?, "serving Prometheus metrics");
    axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await?;
    Ok(())
}

/// Tower layer recording RPC metrics for `/cdp.v1.*` and other gRPC paths.
#[derive(Clone, Default)]
pub struct MetricsLayer;

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = RecordMetrics<S>;
    fn layer(&self, inner: S) -> RecordMetrics<S> {
        RecordMetrics { inner }
    }
}

#[derive(Clone)]
pub struct RecordMetrics<S> {
    inner: S,
}

impl<S, B, R> tower::Service<http::Request<B>> for RecordMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (service, method) = match request.uri().path().trim_start_matches('/').split_once('/') {
            Some((service, method)) if !method.contains('/') => (service.to_string(), method.to_string()),
            _ => return Box::pin(async move { inner.call(request).await }),
        };
        Box::pin(async move {
            let started = Instant::now();
            let result = inner.call(request).await;
            if let Ok(response) = &result {
                // Errors come "trailers-only": grpc-status in the headers. A success carries it
                // in the trailers, after these headers.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map(|c| format!("{:?}", tonic::Code::from_i32(c)))
                    .unwrap_or_else(|| "Ok".to_string());
                RPC_REQUESTS.with_label_values(&[service.as_str(), method.as_str(), code.as_str()]).inc();
                RPC_DURATION.with_label_values(&[service.as_str(), method.as_str()]).observe(started.elapsed().as_secs_f64());
            }
            result
        })
    }
}
