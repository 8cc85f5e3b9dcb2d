//! The process-wide state shared by the server and the worker, built once from `Config`.

use crate::{
    auth::{
        local::LocalProvider,
        provider::IdentityProvider,
        supabase::GoTrueClient,
        tokens::{TokenSigner, TokenVerifier},
    },
    config::{AuthProviderKind, Config},
    db::Db,
};
use anyhow::Context;
use std::{sync::Arc, time::Duration};

#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub db: Db,
    pub redis: redis::aio::ConnectionManager,
    pub provider: Arc<IdentityProvider>,
    pub verifier: TokenVerifier,
    pub http: reqwest::Client,
    /// The cohort builder's kept condition sets (this process's; see cohorts::preview_cache).
    pub preview_cache: Arc<crate::cohorts::preview_cache::PreviewCache>,
}

impl App {
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let db = Db::connect(&config.database_url, config.database_pool_size)?;
        // Fail at start, with a clear message, when PostgreSQL is not there.
        let _probe = db.conn().await.with_context(|| format!("cannot connect to PostgreSQL at DATABASE_URL ({})", redact(&config.database_url)))?;
        let redis_client = redis::Client::open(config.redis_url.as_str()).context("REDIS_URL is not a valid Redis URL")?;
        let redis = tokio::time::timeout(Duration::from_secs(5), redis::aio::ConnectionManager::new(redis_client))
            .await
            .map_err(|_| anyhow::anyhow!("timed out connecting to Redis at REDIS_URL"))?
            .with_context(|| format!("cannot connect to Redis at REDIS_URL ({})", redact(&config.redis_url)))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("cdp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let verifier = TokenVerifier::new(config.jwt_secret.as_deref(), config.jwks_url.as_deref(), &config.jwt_issuer, &config.jwt_audience, http.clone());
        let provider = match config.auth_provider {
            AuthProviderKind::Local => IdentityProvider::Local(LocalProvider {
                signer: TokenSigner::new(
                    config.jwt_secret.as_deref().context("CDP_JWT_SECRET is required by the local provider")?,
                    &config.jwt_issuer,
                    &config.jwt_audience,
                    config.access_token_ttl,
                ),
                refresh_ttl: config.refresh_token_ttl,
                invitation_ttl: config.invitation_ttl,
                recovery_ttl: config.recovery_ttl,
                min_password_length: config.min_password_length,
                public_url: config.public_url.clone(),
            }),
            AuthProviderKind::Supabase => IdentityProvider::Supabase {
                gotrue: GoTrueClient::new(config.supabase.as_ref().context("SUPABASE_* settings are required")?, http.clone()),
                public_url: config.public_url.clone(),
                min_password_length: config.min_password_length,
            },
        };
        Ok(App { config: Arc::new(config), db, redis, provider: Arc::new(provider), verifier, http, preview_cache: Default::default() })
    }

    /// Creates the first super admin from CDP_BOOTSTRAP_ADMIN_* when none exists yet.
    pub async fn bootstrap_admin_from_env(&self) -> anyhow::Result<()> {
        if let (Some(email), Some(password)) = (&self.config.bootstrap_admin_email, &self.config.bootstrap_admin_password) {
            let created = self.provider.bootstrap_admin(&self.db, email, password).await.map_err(|e| anyhow::anyhow!("bootstrap admin: {e}"))?;
            if created {
                tracing::info!(%email, "created the first super admin from CDP_BOOTSTRAP_ADMIN_EMAIL");
            }
        }
        Ok(())
    }
}

/// A connection URL without its password, for error messages.
pub fn redact(url: &str) -> String {
    match url.split_once("://").and_then(|(scheme, rest)| rest.split_once('@').map(|(cred, host)| (scheme, cred, host))) {
        Some((scheme, cred, host)) => {
            let user = cred.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}
