//! `cdp worker`: the stateless job runner. Each capability registers its job kinds here.

use crate::{app::App, jobs::{Registry, Worker}};
use tokio_util::sync::CancellationToken;

/// Every job kind the product runs. Later capabilities (activation, refreshes, syncs,
/// rollups) add their handlers here.
pub fn registry(_app: &App) -> Registry {
    Registry::new()
}

pub async fn run(app: App, shutdown: CancellationToken) -> anyhow::Result<()> {
    let worker = Worker::new(app.db.clone(), registry(&app), app.config.worker_concurrency, app.config.job_lease, app.config.job_poll_interval);
    worker.run(shutdown).await;
    Ok(())
}
