//! `cdp worker`: the stateless job runner. Each capability registers its job kinds here.

use crate::{
    app::App,
    jobs::{Registry, Worker},
};
use tokio_util::sync::CancellationToken;

/// Every job kind the product runs. Later capabilities (activation, refreshes, syncs,
/// rollups) add their handlers here.
pub fn registry(app: &App) -> Registry {
    use crate::dashboard::{
        rollup::RollupJob,
        watcher::{WATCH_EVERY, WatchJob},
    };
    let registry = Registry::new()
        .register(RollupJob { db: app.db.clone(), tz: app.config.reporting_tz, settings: Default::default() })
        .recurring(WatchJob { db: app.db.clone(), tz: app.config.reporting_tz }, WATCH_EVERY)
        .recurring(crate::users::stats::RefreshStats { db: app.db.clone(), tz: app.config.reporting_tz }, crate::users::stats::REFRESH_EVERY);
    let registry = crate::cohorts::register_jobs(registry, app).recurring(
        crate::integrations::braze::enrichment::EnrichProfiles { db: app.db.clone(), config: app.config.clone(), http: app.http.clone() },
        app.config.braze_enrichment_interval,
    );
    crate::activation::jobs::register(registry, app)
}

pub async fn run(app: App, shutdown: CancellationToken) -> anyhow::Result<()> {
    let worker = Worker::new(app.db.clone(), registry(&app), app.config.worker_concurrency, app.config.job_lease, app.config.job_poll_interval);
    worker.run(shutdown).await;
    Ok(())
}
