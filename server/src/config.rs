//! The one typed configuration of the server and worker, read from the environment at start.
//! Nothing else in the code reads `std::env`; every variable is documented in `.env.example`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

/// Which identity provider signs people in (DESIGN §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthProviderKind {
    /// Credentials in PostgreSQL; the server signs Supabase-shaped JWTs itself.
    Local,
    /// Supabase Auth (GoTrue) over its REST API.
    Supabase,
}

#[derive(Clone, Debug)]
pub struct SupabaseConfig {
    /// Project URL, e.g. `https://<ref>.supabase.co` (the Auth API lives under `/auth/v1`).
    pub url: String,
    /// Publishable/anon key, sent as `apikey` on public Auth calls.
    pub anon_key: String,
    /// Service-role key for admin calls. Server-side only; never sent to the browser.
    pub service_role_key: String,
}

/// Which Airflow REST API to speak: v1 (Airflow 2, basic auth), v2 (Airflow 3, JWT), or probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AirflowApiVersion {
    V1,
    V2,
    Auto,
}

#[derive(Clone, Debug)]
pub struct AirflowConfig {
    /// Base URL of the Airflow webserver (2.x) or api-server (3.x), without `/api/v1|v2`.
    pub url: String,
    pub api_version: AirflowApiVersion,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug)]
pub struct AmplitudeConfig {
    pub api_key: String,
    pub secret_key: String,
    /// REST host: the US one by default, `https://analytics.eu.amplitude.com` for EU residency.
    pub rest_url: String,
    /// The project's app id and the owner (an Amplitude login email) of cohorts the CDP
    /// uploads (`POST /api/3/cohorts/upload` requires both); unset: syncs to Amplitude are off.
    pub app_id: Option<i64>,
    pub cohort_owner: Option<String>,
}

#[derive(Clone, Debug)]
pub struct BrazeConfig {
    /// The instance's REST endpoint, e.g. `https://rest.iad-01.braze.com`.
    pub rest_url: String,
    pub api_key: String,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: String,
    pub database_pool_size: usize,
    pub redis_url: String,
    /// Prefix of every Redis key this deployment writes (lets tests share one Redis).
    pub redis_key_prefix: String,
    pub listen_addr: SocketAddr,
    /// Where Prometheus scrapes `/metrics` (keep it off the public network). Unset: not served.
    pub metrics_addr: Option<SocketAddr>,
    /// Public base URL of the web client, used in invitation and recovery links.
    pub public_url: String,
    /// Origins allowed to call the API from a browser (grpc-web CORS). Empty: same origin only.
    pub cors_allowed_origins: Vec<String>,
    /// Built web client to serve at `/` (absent: the API alone is served).
    pub web_dist_dir: Option<PathBuf>,
    pub auth_provider: AuthProviderKind,
    pub supabase: Option<SupabaseConfig>,
    /// HS256 secret that verifies (and, with the local provider, signs) access tokens.
    pub jwt_secret: Option<String>,
    /// JWKS endpoint for asymmetric tokens (RS256/ES256), e.g. Supabase's signing keys.
    pub jwks_url: Option<String>,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub invitation_ttl: Duration,
    pub recovery_ttl: Duration,
    pub min_password_length: usize,
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    /// Reporting time zone for day boundaries of every metric (DESIGN §3).
    pub reporting_tz: chrono_tz::Tz,
    pub worker_concurrency: usize,
    pub job_lease: Duration,
    pub job_poll_interval: Duration,
    pub log_format_json: bool,
    /// Airflow REST API of the ETL DAGs (the integrations monitor); None: not configured.
    pub airflow: Option<AirflowConfig>,
    pub amplitude: Option<AmplitudeConfig>,
    pub braze: Option<BrazeConfig>,
    /// Catalogue fields pushed to Braze as `cdp_<field>` custom attributes, and how often.
    pub braze_enrichment_fields: Vec<String>,
    pub braze_enrichment_interval: Duration,
    /// How often the server brings recent previewers' kept condition sets up to date in the
    /// background (CDP_PREVIEW_KEEP_CURRENT_SECS; 0: only when a preview runs).
    pub preview_keep_current_every: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the configuration through `lookup` (tests pass their own map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).filter(|v| !v.trim().is_empty());
        let or = |key: &str, default: &str| get(key).unwrap_or_else(|| default.to_string());
        let secs = |key: &str, default: u64| -> Result<Duration, ConfigError> {
            match get(key) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v.parse::<u64>().map(Duration::from_secs).map_err(|_| ConfigError(format!("{key} must be a number of seconds, got {v:?}"))),
            }
        };
        let number = |key: &str, default: usize| -> Result<usize, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| ConfigError(format!("{key} must be a number, got {v:?}"))),
            }
        };

        let supabase = match (get("SUPABASE_URL"), get("SUPABASE_ANON_KEY"), get("SUPABASE_SERVICE_ROLE_KEY")) {
            (Some(url), Some(anon_key), Some(service_role_key)) => {
                Some(SupabaseConfig { url: url.trim_end_matches('/').to_string(), anon_key, service_role_key })
            }
            (None, None, None) => None,
            _ => {
                return Err(ConfigError("SUPABASE_URL, SUPABASE_ANON_KEY and SUPABASE_SERVICE_ROLE_KEY must be set together".into()));
            }
        };
        let auth_provider = match or("CDP_AUTH_PROVIDER", if supabase.is_some() { "supabase" } else { "local" }).as_str() {
            "local" => AuthProviderKind::Local,
            "supabase" if supabase.is_some() => AuthProviderKind::Supabase,
            "supabase" => return Err(ConfigError("CDP_AUTH_PROVIDER=supabase needs the SUPABASE_* variables".into())),
            other => return Err(ConfigError(format!("CDP_AUTH_PROVIDER must be local or supabase, got {other:?}"))),
        };
        let jwt_secret = get("CDP_JWT_SECRET");
        let jwks_url =
            get("CDP_JWKS_URL").or_else(|| supabase.as_ref().filter(|_| jwt_secret.is_none()).map(|s| format!("{}/auth/v1/.well-known/jwks.json", s.url)));
        if auth_provider == AuthProviderKind::Local && jwt_secret.as_deref().is_none_or(|s| s.len() < 32) {
            return Err(ConfigError("CDP_JWT_SECRET must be set to at least 32 characters for the local auth provider".into()));
        }
        let jwt_issuer = get("CDP_JWT_ISSUER").unwrap_or_else(|| match &supabase {
            Some(s) if auth_provider == AuthProviderKind::Supabase => format!("{}/auth/v1", s.url),
            _ => "cdp-local".to_string(),
        });
        let listen_addr = or("CDP_LISTEN_ADDR", "127.0.0.1:8080").parse().map_err(|e| ConfigError(format!("CDP_LISTEN_ADDR: {e}")))?;
        let reporting_tz = or("CDP_REPORTING_TZ", "UTC").parse().map_err(|e| ConfigError(format!("CDP_REPORTING_TZ: {e}")))?;
        let public_url = or("CDP_PUBLIC_URL", &format!("http://{listen_addr}")).trim_end_matches('/').to_string();

        let airflow = match get("CDP_AIRFLOW_URL") {
            None => None,
            Some(url) => Some(AirflowConfig {
                url: url.trim_end_matches('/').to_string(),
                api_version: match or("CDP_AIRFLOW_API_VERSION", "auto").as_str() {
                    "v1" => AirflowApiVersion::V1,
                    "v2" => AirflowApiVersion::V2,
                    "auto" => AirflowApiVersion::Auto,
                    other => return Err(ConfigError(format!("CDP_AIRFLOW_API_VERSION must be v1, v2 or auto, got {other:?}"))),
                },
                username: get("CDP_AIRFLOW_USERNAME"),
                password: get("CDP_AIRFLOW_PASSWORD"),
            }),
        };
        let amplitude = match (get("CDP_AMPLITUDE_API_KEY"), get("CDP_AMPLITUDE_SECRET_KEY")) {
            (Some(api_key), Some(secret_key)) => Some(AmplitudeConfig {
                api_key,
                secret_key,
                rest_url: or("CDP_AMPLITUDE_REST_URL", "https://amplitude.com").trim_end_matches('/').to_string(),
                app_id: get("CDP_AMPLITUDE_APP_ID")
                    .map(|v| v.parse().map_err(|_| ConfigError(format!("CDP_AMPLITUDE_APP_ID must be a number, got {v:?}"))))
                    .transpose()?,
                cohort_owner: get("CDP_AMPLITUDE_COHORT_OWNER"),
            }),
            (None, None) => None,
            _ => return Err(ConfigError("CDP_AMPLITUDE_API_KEY and CDP_AMPLITUDE_SECRET_KEY must be set together".into())),
        };
        let braze = match (get("CDP_BRAZE_REST_URL"), get("CDP_BRAZE_API_KEY")) {
            (Some(rest_url), Some(api_key)) => Some(BrazeConfig { rest_url: rest_url.trim_end_matches('/').to_string(), api_key }),
            (None, None) => None,
            _ => return Err(ConfigError("CDP_BRAZE_REST_URL and CDP_BRAZE_API_KEY must be set together".into())),
        };

        Ok(Config {
            database_url: or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cdp"),
            database_pool_size: number("CDP_DATABASE_POOL_SIZE", 16)?,
            redis_url: or("REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_key_prefix: or("CDP_REDIS_KEY_PREFIX", "cdp"),
            listen_addr,
            metrics_addr: get("CDP_METRICS_ADDR").map(|v| v.parse().map_err(|e| ConfigError(format!("CDP_METRICS_ADDR: {e}")))).transpose()?,
            public_url,
            cors_allowed_origins: get("CDP_CORS_ALLOWED_ORIGINS")
                .map(|v| v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect())
                .unwrap_or_default(),
            web_dist_dir: get("CDP_WEB_DIST_DIR").map(PathBuf::from),
            auth_provider,
            supabase,
            jwt_secret,
            jwks_url,
            jwt_issuer,
            jwt_audience: or("CDP_JWT_AUDIENCE", "authenticated"),
            access_token_ttl: secs("CDP_ACCESS_TOKEN_TTL_SECS", 3600)?,
            refresh_token_ttl: secs("CDP_REFRESH_TOKEN_TTL_SECS", 30 * 86400)?,
            invitation_ttl: secs("CDP_INVITATION_TTL_SECS", 7 * 86400)?,
            recovery_ttl: secs("CDP_RECOVERY_TTL_SECS", 3600)?,
            min_password_length: number("CDP_MIN_PASSWORD_LENGTH", 10)?,
            bootstrap_admin_email: get("CDP_BOOTSTRAP_ADMIN_EMAIL"),
            bootstrap_admin_password: get("CDP_BOOTSTRAP_ADMIN_PASSWORD"),
            reporting_tz,
            worker_concurrency: number("CDP_WORKER_CONCURRENCY", 4)?,
            job_lease: secs("CDP_JOB_LEASE_SECS", 60)?,
            job_poll_interval: Duration::from_millis(number("CDP_JOB_POLL_INTERVAL_MS", 500)? as u64),
            log_format_json: or("CDP_LOG_FORMAT", "text") == "json",
            airflow,
            amplitude,
            braze,
            braze_enrichment_fields: or("CDP_BRAZE_ENRICHMENT_FIELDS", "user_type,favorite_vertical,current_credits_in_wallet,lifecycle_stage,cltv")
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
            braze_enrichment_interval: secs("CDP_BRAZE_ENRICHMENT_INTERVAL_SECS", 3600)?,
            preview_keep_current_every: Some(secs("CDP_PREVIEW_KEEP_CURRENT_SECS", 2)?).filter(|every| !every.is_zero()),
        })
    }
}
