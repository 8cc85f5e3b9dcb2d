//! Logging: `tracing` to stdout, text for people or JSON for log pipelines (CDP_LOG_FORMAT),
//! filtered by RUST_LOG (default `info`).

pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
