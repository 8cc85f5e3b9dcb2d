//! The integration-test harness: a fresh PostgreSQL database per test, cloned from a migrated
//! template (so tests run in parallel), a Redis key prefix per test, and the real server on an
//! ephemeral port with clients from `cdp-proto`.

pub mod fixtures;

use cdp_server::{app::App, config::Config, db};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use std::{collections::HashMap, net::SocketAddr, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const ADMIN_EMAIL: &str = "root@cdp.test";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const JWT_SECRET: &str = "test-secret-that-is-at-least-32-characters-long";

/// The cluster the tests use (PGHOST/PGPORT/PGUSER like psql; defaults match this machine).
pub fn server_url() -> String {
    let host = std::env::var("PGHOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port = std::env::var("PGPORT").unwrap_or_else(|_| "5432".into());
    let user = std::env::var("PGUSER").unwrap_or_else(|_| "postgres".into());
    format!("postgres://{user}@{host}:{port}")
}

pub fn redis_url() -> String {
    std::env::var("CDP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// Name of the template for the current migrations: a change to any migration makes a new one.
fn template_name() -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut entries: Vec<_> = walk(&root);
    entries.sort();
    for path in entries {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&path).expect("reading a migration"));
    }
    format!("cdp_tpl_{}", &hex(&hasher.finalize())[..16])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("reading migrations/").flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A database of its own for one test, dropped when the test ends (even on panic).
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let admin_url = format!("{}/postgres", server_url());
        let template = template_name();
        let mut admin = AsyncPgConnection::establish(&admin_url).await.expect("PostgreSQL must run on 127.0.0.1:5432 (see README)");
        // One process builds the template; the others wait on the lock, then reuse it.
        diesel::sql_query("SELECT pg_advisory_lock(727274)").execute(&mut admin).await.expect("lock");
        let exists = database_exists(&mut admin, &template).await;
        if !exists {
            let building = format!("{template}_building");
            exec(&mut admin, &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await;
            exec(&mut admin, &format!("CREATE DATABASE {building}")).await;
            db::migrate(&format!("{}/{building}", server_url())).await.expect("migrations apply to an empty database");
            exec(&mut admin, &format!("ALTER DATABASE {building} RENAME TO {template}")).await;
        }
        diesel::sql_query("SELECT pg_advisory_unlock(727274)").execute(&mut admin).await.expect("unlock");
        let name = format!("cdp_t_{}", uuid::Uuid::new_v4().simple());
        // CREATE DATABASE ... TEMPLATE takes a cluster-wide lock and fails if the template is
        // busy; retry briefly.
        let mut attempt = 0;
        loop {
            match diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await {
                Ok(_) => break,
                Err(err) if attempt < 50 => {
                    attempt += 1;
                    tracing::debug!(%err, "template busy; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("creating the test database: {err}"),
            }
        }
        TestDb { url: format!("{}/{name}", server_url()), name }
    }

    pub async fn conn(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.expect("connecting to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context rules: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut admin) = AsyncPgConnection::establish(&format!("{}/postgres", server_url())).await {
                    let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

async fn database_exists(conn: &mut AsyncPgConnection, name: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let found: Found = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(name)
        .get_result(conn)
        .await
        .expect("querying pg_database");
    found.n > 0
}

async fn exec(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The environment a test server runs with; tests may override entries before `start`.
pub fn test_env(db: &TestDb) -> HashMap<String, String> {
    let prefix = format!("cdp_test_{}", uuid::Uuid::new_v4().simple());
    [
        ("DATABASE_URL", db.url.as_str()),
        ("CDP_DATABASE_POOL_SIZE", "8"),
        ("REDIS_URL", &redis_url()),
        ("CDP_REDIS_KEY_PREFIX", &prefix),
        ("CDP_LISTEN_ADDR", "127.0.0.1:0"),
        ("CDP_PUBLIC_URL", "http://cdp.test"),
        ("CDP_JWT_SECRET", JWT_SECRET),
        ("CDP_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL),
        ("CDP_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("CDP_CORS_ALLOWED_ORIGINS", "http://ui.example.test"),
        ("CDP_JOB_POLL_INTERVAL_MS", "50"),
        // Previews' kept sets change only when a test's previews change them (tests that count
        // re-evaluations); the background pass is tested on its own.
        ("CDP_PREVIEW_KEEP_CURRENT_SECS", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A running server on its own database.
pub struct TestApp {
    pub db: TestDb,
    pub app: App,
    pub addr: SocketAddr,
    pub channel: Channel,
    shutdown: CancellationToken,
}

impl TestApp {
    pub async fn start() -> TestApp {
        let db = TestDb::new().await;
        let env = test_env(&db);
        Self::start_with(db, env).await
    }

    pub async fn start_with(db: TestDb, env: HashMap<String, String>) -> TestApp {
        let config = Config::from_lookup(|key| env.get(key).cloned()).expect("test configuration is valid");
        let app = App::build(config).await.expect("the app builds against local PostgreSQL and Redis");
        app.bootstrap_admin_from_env().await.expect("bootstrap admin");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding an ephemeral port");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        tokio::spawn(cdp_server::server::serve(app.clone(), listener, shutdown.clone()));
        let channel = Channel::from_shared(format!("http://{addr}")).expect("uri").connect_lazy();
        TestApp { db, app, addr, channel, shutdown }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Adds `authorization: Bearer <token>` to a request.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().expect("ascii token"));
    request
}
