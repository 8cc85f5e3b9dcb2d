//! `cdp`: the CDP's one binary. `serve` (API + web client), `worker` (jobs), `migrate`
//! (schema), `bootstrap-admin` (the first super admin), `seed` (demo marketplace).
//! Configuration comes from the environment only; see `.env.example`.

use anyhow::Context;
use cdp_server::{app::App, config::Config, db, seed, server, telemetry, worker};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(name = "cdp", version, about = "Customer Data Platform: API server, worker and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC, grpc-web and the web client on CDP_LISTEN_ADDR.
    Serve {
        /// Also run the job worker in this process (handy for local development).
        #[arg(long)]
        with_worker: bool,
    },
    /// Run the durable job worker (any number may run side by side).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create the first super admin from CDP_BOOTSTRAP_ADMIN_EMAIL / _PASSWORD if none exists.
    BootstrapAdmin,
    /// Fill an empty database with a deterministic demo marketplace (users, activity,
    /// identities, ingestion batches), then its explorable history (a team, cohorts,
    /// promotions with redemptions, syncs, their audit trail; led by the super admin of
    /// CDP_BOOTSTRAP_ADMIN_*), and refresh the user stats and dashboard rollups.
    Seed {
        /// Marketplace users to generate.
        #[arg(long, default_value_t = 100_000)]
        users: u32,
        /// Random seed: the same seed gives the same marketplace.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days of daily activity, ending today (UTC).
        #[arg(long, default_value_t = 180)]
        days: u32,
        /// Do nothing (successfully) when public.users already has rows.
        #[arg(long)]
        if_empty: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    telemetry::init(config.log_format_json);
    match cli.command {
        Command::Migrate => {
            let applied = db::migrate(&config.database_url).await.with_context(|| format!("migrating {}", cdp_server::app::redact(&config.database_url)))?;
            tracing::info!(count = applied.len(), ?applied, "migrations applied");
        }
        Command::Seed { users, seed, days, if_empty } => {
            if if_empty && !seed::is_empty(&config.database_url).await? {
                println!("public.users already has rows; nothing seeded");
                return Ok(());
            }
            // The history is made through the product's own code: it needs Redis as well
            // (checked here, before the long load).
            let app = App::build(config).await?;
            let options = seed::SeedOptions { users, seed, days, ..seed::SeedOptions::default() };
            let report = seed::seed(&app.config.database_url, &options).await?;
            println!("{report}");
            let history = seed::history::create(&app, &seed::history::HistoryOptions { seed, today: options.today }).await?;
            println!("{history}");
        }
        Command::BootstrapAdmin => {
            let app = App::build(config).await?;
            if app.config.bootstrap_admin_email.is_none() || app.config.bootstrap_admin_password.is_none() {
                anyhow::bail!("set CDP_BOOTSTRAP_ADMIN_EMAIL and CDP_BOOTSTRAP_ADMIN_PASSWORD");
            }
            app.bootstrap_admin_from_env().await?;
        }
        Command::Serve { with_worker } => {
            let app = App::build(config).await?;
            app.bootstrap_admin_from_env().await?;
            let listener = tokio::net::TcpListener::bind(app.config.listen_addr)
                .await
                .with_context(|| format!("cannot listen on CDP_LISTEN_ADDR {}", app.config.listen_addr))?;
            let shutdown = shutdown_signal();
            let worker = with_worker.then(|| tokio::spawn(worker::run(app.clone(), shutdown.clone())));
            if let Some(addr) = app.config.metrics_addr {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on CDP_METRICS_ADDR {addr}"))?;
                tokio::spawn(cdp_server::metrics::serve(app.db.clone(), listener, shutdown.clone()));
            }
            server::serve(app, listener, shutdown).await?;
            if let Some(worker) = worker {
                worker.await??;
            }
        }
        Command::Worker => {
            let app = App::build(config).await?;
            worker::run(app, shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// Cancelled on SIGINT or SIGTERM: the server stops accepting and drains; the worker
/// finishes its in-flight jobs.
fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("installing a SIGTERM handler");
        #[cfg(unix)]
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        trigger.cancel();
    });
    token
}
