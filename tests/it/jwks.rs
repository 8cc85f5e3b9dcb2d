//! Asymmetric access tokens verified through a JWKS, as Supabase Auth issues them with signing
//! keys (VENDOR-APIS §4, sources `supabase/supabase` → `apps/docs/content/guides/auth/
//! {jwts,signing-keys}.mdx`): the key is picked from `GET <project>/auth/v1/.well-known/jwks.json`
//! (`{"keys":[{kid, alg, kty, key_ops:["verify"], …}]}`) by `kid` and `alg`; ES256 is
//! recommended and RS256 supported; a standby key is published before it signs, previously used
//! keys stay published; an unknown `kid` makes the verifier refetch; `alg` comes from an
//! allow-list; `exp`, `iss` and `aud = "authenticated"` are checked.
//!
//! A local JWKS server (with a request counter) serves keys generated in the test; no key
//! material is stored anywhere.

use aws_lc_rs::{
    encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der},
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use axum::{Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use cdp_proto::cdp::v1::{self as pb, auth_service_client::AuthServiceClient, platform_user_service_client::PlatformUserServiceClient};
use cdp_tests::{TestApp, TestDb, authed, fixtures, test_env};
use jsonwebtoken::{
    Algorithm, EncodingKey, Header,
    jwk::{Jwk, KeyOperations, PublicKeyUse},
};
use serde_json::{Value, json};
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

/// The issuer the test signs with (a Supabase project's Auth URL).
const ISSUER: &str = "https://fakeprojectref.supabase.co/auth/v1";

// ---------------------------------------------------------------------------------------------
// Keys generated at test time
// ---------------------------------------------------------------------------------------------

struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    /// The public JWK as the JWKS serves it.
    jwk: Value,
    /// The public key in the forms an algorithm-confusion attacker would try as an HMAC secret.
    public_pem: String,
    public_der: Vec<u8>,
    public_raw: Vec<u8>,
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn es256(kid: &str) -> SigningKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("an EC key pair");
    let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8");
    let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
    let public_der = AsDer::<PublicKeyX509Der<'static>>::as_der(pair.public_key()).expect("SPKI").as_ref().to_vec();
    let public_raw = pair.public_key().as_ref().to_vec();
    finish(kid, Algorithm::ES256, encoding, public_der, public_raw)
}

fn rs256(kid: &str) -> SigningKey {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("an RSA key pair");
    let pkcs8 = AsDer::<Pkcs8V1Der<'static>>::as_der(&pair).expect("PKCS#8");
    let encoding = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).expect("an RSA encoding key");
    let public_der = AsDer::<PublicKeyX509Der<'static>>::as_der(pair.public_key()).expect("SPKI").as_ref().to_vec();
    let public_raw = pair.public_key().as_ref().to_vec();
    finish(kid, Algorithm::RS256, encoding, public_der, public_raw)
}

fn finish(kid: &str, alg: Algorithm, encoding: EncodingKey, public_der: Vec<u8>, public_raw: Vec<u8>) -> SigningKey {
    let mut jwk = Jwk::from_encoding_key(&encoding, alg).expect("a public JWK");
    jwk.common.key_id = Some(kid.to_string());
    jwk.common.key_operations = Some(vec![KeyOperations::Verify]);
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let mut jwk = serde_json::to_value(&jwk).unwrap();
    // Supabase's JWKS entries are Web Crypto exports and carry `ext` too.
    jwk["ext"] = json!(true);
    assert!(jwk.get("d").is_none() && jwk.get("p").is_none(), "only public parameters are served: {jwk}");
    SigningKey { kid: kid.into(), alg, encoding, jwk, public_pem: pem("PUBLIC KEY", &public_der), public_der, public_raw }
}

// ---------------------------------------------------------------------------------------------
// The JWKS server
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct JwksState {
    keys: Mutex<Vec<Value>>,
    hits: AtomicUsize,
    failing: AtomicBool,
}

struct FakeJwks {
    url: String,
    state: Arc<JwksState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeJwks {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve_jwks(State(state): State<Arc<JwksState>>) -> axum::response::Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    if state.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
    }
    let keys = state.keys.lock().unwrap().clone();
    axum::Json(json!({ "keys": keys })).into_response()
}

impl FakeJwks {
    async fn start(keys: &[&SigningKey]) -> FakeJwks {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binding the JWKS server");
        let url = format!("http://{}/auth/v1/.well-known/jwks.json", listener.local_addr().unwrap());
        let state = Arc::new(JwksState::default());
        let router = Router::new().route("/auth/v1/.well-known/jwks.json", get(serve_jwks)).with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("the JWKS server serves");
        });
        let jwks = FakeJwks { url, state, server };
        jwks.serve(keys);
        jwks
    }

    /// Replaces the published keys (a rotation at the provider).
    fn serve(&self, keys: &[&SigningKey]) {
        *self.state.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    fn fail(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The CDP (local provider, so CDP_JWT_SECRET stays) also trusting the JWKS.
async fn start(jwks: &FakeJwks) -> TestApp {
    let db = TestDb::new().await;
    let mut env = test_env(&db);
    env.insert("CDP_JWKS_URL".into(), jwks.url.clone());
    env.insert("CDP_JWT_ISSUER".into(), ISSUER.into());
    TestApp::start_with(db, env).await
}

/// An active platform user inserted as the table owner (as `fixtures::user_with_role`), whose
/// tokens the test signs itself.
async fn platform_user(app: &TestApp, role: &str) -> (Uuid, String) {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    use diesel_async::RunQueryDsl;
    let id = Uuid::new_v4();
    let email = format!("{role}-{}@cdp.test", &id.simple().to_string()[..8]);
    let mut conn = app.db.conn().await;
    diesel::sql_query("INSERT INTO cdp.platform_users (id, email, display_name, role, status) VALUES ($1, $2, $3, $4, 'active')")
        .bind::<SqlUuid, _>(id)
        .bind::<Text, _>(&email)
        .bind::<Text, _>(format!("Test {role}"))
        .bind::<Text, _>(role)
        .execute(&mut conn)
        .await
        .expect("inserting a platform user");
    (id, email)
}

/// The claims Supabase Auth puts in an access token.
fn claims(user: Uuid, email: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": ISSUER,
        "aud": "authenticated",
        "sub": user,
        "email": email,
        "phone": "",
        "role": "authenticated",
        "aal": "aal1",
        "session_id": Uuid::new_v4(),
        "is_anonymous": false,
        "iat": now,
        "exp": now + 600,
        "app_metadata": { "provider": "email", "providers": ["email"] },
        "user_metadata": {},
    })
}

fn header(alg: Algorithm, kid: Option<&str>) -> Header {
    let mut header = Header::new(alg);
    header.typ = Some("JWT".into());
    header.kid = kid.map(str::to_string);
    header
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    jsonwebtoken::encode(&header(key.alg, Some(&key.kid)), claims, &key.encoding).expect("signing")
}

async fn permissions(app: &TestApp, id: Uuid, token: &str) -> Result<pb::GetPermissionsResponse, tonic::Status> {
    PlatformUserServiceClient::new(app.channel.clone())
        .get_permissions(authed(pb::GetPermissionsRequest { platform_user_id: id.to_string() }, token))
        .await
        .map(tonic::Response::into_inner)
}

/// Asserts the token is refused as UNAUTHENTICATED with `reason`.
async fn assert_refused(app: &TestApp, id: Uuid, token: &str, reason: &str, what: &str) {
    let err = permissions(app, id, token).await.expect_err(what);
    assert_eq!(err.code(), Code::Unauthenticated, "{what}: {err:?}");
    assert_eq!(err.get_details_error_info().map(|i| i.reason).as_deref(), Some(reason), "{what}: {err:?}");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_es256_token_with_a_served_kid_is_accepted_and_the_jwks_is_cached() {
    let key = es256("es256-key-1");
    let jwks = FakeJwks::start(&[&key]).await;
    let app = start(&jwks).await;
    assert_eq!(jwks.hits(), 0, "the JWKS is fetched when a token needs it, not at start");
    let (id, email) = platform_user(&app, "growth_manager").await;
    let token = sign(&key, &claims(id, &email));
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some("es256-key-1"));

    let response = permissions(&app, id, &token).await.expect("an ES256 token from the JWKS is accepted");
    assert_eq!(response.platform_user_id, id.to_string());
    assert_eq!(response.role(), pb::Role::GrowthManager);
    assert!(!response.permissions.is_empty());
    assert_eq!(jwks.hits(), 1);
    // Cached: further tokens with that kid do not refetch.
    permissions(&app, id, &sign(&key, &claims(id, &email))).await.expect("again");
    assert_eq!(jwks.hits(), 1);

    // The HS256 tokens of the local provider keep working next to the JWKS.
    let admin = fixtures::admin_token(&app).await;
    AuthServiceClient::new(app.channel.clone()).get_current_user(authed(pb::GetCurrentUserRequest {}, &admin)).await.expect("HS256 still accepted");
    assert_eq!(jwks.hits(), 1, "HS256 tokens never consult the JWKS");
}

#[tokio::test]
async fn rotated_keys_are_picked_up_and_an_unknown_kid_triggers_one_refetch() {
    let current = es256("key-current");
    let standby = es256("key-standby");
    let jwks = FakeJwks::start(&[&current, &standby]).await;
    let app = start(&jwks).await;
    let (id, email) = platform_user(&app, "read_only").await;

    permissions(&app, id, &sign(&current, &claims(id, &email))).await.expect("the current key");
    assert_eq!(jwks.hits(), 1);

    // Planned rotation (Supabase: the standby key was published before it signs): the standby
    // becomes current and the old key stays published as "previously used".
    jwks.serve(&[&standby, &current]);
    permissions(&app, id, &sign(&standby, &claims(id, &email))).await.expect("the promoted standby key");
    permissions(&app, id, &sign(&current, &claims(id, &email))).await.expect("a previously used key still verifies");
    assert_eq!(jwks.hits(), 1, "both keys were already known");

    // Unplanned rotation: the JWKS now serves only a key (RS256) with a kid never seen before.
    let rotated = rs256("key-rotated-rs256");
    jwks.serve(&[&rotated]);
    let token = sign(&rotated, &claims(id, &email));
    // The verifier refetches for an unknown kid at most once per 30 s (so forged kids cannot
    // hammer the provider): right after the last fetch the kid is refused without a request…
    assert_refused(&app, id, &token, "TOKEN_INVALID", "unknown kid inside the refetch guard").await;
    assert_eq!(jwks.hits(), 1, "no refetch inside the guard interval");
    // …and once the guard has passed, exactly one refetch picks the new key up.
    let started = Instant::now();
    loop {
        match permissions(&app, id, &token).await {
            Ok(response) => {
                assert_eq!(response.role(), pb::Role::ReadOnly);
                break;
            }
            Err(err) => {
                assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
                assert!(started.elapsed() < Duration::from_secs(45), "the rotated key was never picked up (JWKS hits: {})", jwks.hits());
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    assert_eq!(jwks.hits(), 2, "the unknown kid triggered exactly one refetch");
    // The cache now mirrors the JWKS: the retired keys are gone.
    assert_refused(&app, id, &sign(&current, &claims(id, &email)), "TOKEN_INVALID", "a key no longer served").await;
    permissions(&app, id, &sign(&rotated, &claims(id, &email))).await.expect("the rotated key, cached");
    assert_eq!(jwks.hits(), 2);
}

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_served_kid_is_refused() {
    let served = es256("shared-kid");
    let impostor = es256("shared-kid");
    let rsa = rs256("rsa-kid");
    let jwks = FakeJwks::start(&[&served, &rsa]).await;
    let app = start(&jwks).await;
    let (id, email) = platform_user(&app, "admin").await;

    assert_refused(&app, id, &sign(&impostor, &claims(id, &email)), "TOKEN_INVALID", "same kid, different key").await;
    assert_eq!(jwks.hits(), 1);
    assert_refused(&app, id, &sign(&impostor, &claims(id, &email)), "TOKEN_INVALID", "again").await;
    assert_eq!(jwks.hits(), 1, "a known kid with a bad signature does not refetch");
    // The kid of an RS256 key on an ES256 token: the algorithm must be the key's.
    let mismatched = jsonwebtoken::encode(&header(Algorithm::ES256, Some("rsa-kid")), &claims(id, &email), &impostor.encoding).unwrap();
    assert_refused(&app, id, &mismatched, "TOKEN_INVALID", "alg not the key's").await;
    // Control: the served key's own token is accepted.
    permissions(&app, id, &sign(&served, &claims(id, &email))).await.expect("the served key");
    permissions(&app, id, &sign(&rsa, &claims(id, &email))).await.expect("the served RS256 key");
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let ec = es256("ec-key");
    let rsa = rs256("rsa-key");
    let jwks = FakeJwks::start(&[&ec, &rsa]).await;
    let app = start(&jwks).await;
    let (id, email) = platform_user(&app, "super_admin").await;
    let claims = claims(id, &email);

    // Algorithm confusion: `alg: HS256` with the public key (in every usual encoding) as the
    // HMAC secret, naming a served kid.
    for key in [&ec, &rsa] {
        let jwk_json = serde_json::to_string(&key.jwk).unwrap();
        let secrets: [(&str, &[u8]); 4] =
            [("PEM", key.public_pem.as_bytes()), ("SPKI DER", &key.public_der), ("raw", &key.public_raw), ("JWK JSON", jwk_json.as_bytes())];
        for (form, secret) in secrets {
            let forged = jsonwebtoken::encode(&header(Algorithm::HS256, Some(&key.kid)), &claims, &EncodingKey::from_secret(secret)).unwrap();
            assert_refused(&app, id, &forged, "TOKEN_INVALID", &format!("HS256 with the {:?} public key as {form}", key.alg)).await;
        }
    }
    assert_eq!(jwks.hits(), 0, "an HS256 token is never checked against JWKS keys");
    // Control: the same claims, properly signed.
    permissions(&app, id, &sign(&ec, &claims)).await.expect("ES256");
}

#[tokio::test]
async fn a_token_without_kid_is_refused() {
    let key = es256("the-only-key");
    let jwks = FakeJwks::start(&[&key]).await;
    let app = start(&jwks).await;
    let (id, email) = platform_user(&app, "data_engineer").await;

    let without_kid = jsonwebtoken::encode(&header(Algorithm::ES256, None), &claims(id, &email), &key.encoding).unwrap();
    assert_refused(&app, id, &without_kid, "TOKEN_INVALID", "ES256 without kid").await;
    let rsa = rs256("unused");
    let without_kid = jsonwebtoken::encode(&header(Algorithm::RS256, None), &claims(id, &email), &rsa.encoding).unwrap();
    assert_refused(&app, id, &without_kid, "TOKEN_INVALID", "RS256 without kid").await;
    assert_eq!(jwks.hits(), 0, "no key is looked up for a token that names none");
    // Control: with its kid the same token is accepted.
    permissions(&app, id, &sign(&key, &claims(id, &email))).await.expect("with kid");
}

#[tokio::test]
async fn claims_are_checked_on_asymmetric_tokens_too() {
    let key = es256("claims-key");
    let jwks = FakeJwks::start(&[&key]).await;
    let app = start(&jwks).await;
    let (id, email) = platform_user(&app, "read_only").await;
    let with = |field: &str, value: Value| {
        let mut c = claims(id, &email);
        c[field] = value;
        sign(&key, &c)
    };

    let past = chrono::Utc::now().timestamp() - 3600;
    assert_refused(&app, id, &with("exp", json!(past)), "TOKEN_EXPIRED", "expired").await;
    assert_refused(&app, id, &with("iss", json!("https://other-project.supabase.co/auth/v1")), "TOKEN_INVALID", "another issuer").await;
    assert_refused(&app, id, &with("aud", json!("anon")), "TOKEN_INVALID", "another audience").await;
    let unknown_user = claims(Uuid::new_v4(), "nobody@cdp.test");
    assert_refused(&app, id, &sign(&key, &unknown_user), "USER_UNKNOWN", "a valid token of someone who is not a platform user").await;
    // `alg: none` with a served kid and no signature.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": "claims-key" }).to_string()),
        URL_SAFE_NO_PAD.encode(claims(id, &email).to_string())
    );
    assert_refused(&app, id, &unsigned, "TOKEN_INVALID", "alg none").await;
    // `aud` as an array (Supabase allows either) is accepted.
    permissions(&app, id, &with("aud", json!(["authenticated"]))).await.expect("aud as an array");
}

#[tokio::test]
async fn an_unreachable_jwks_is_unavailable_not_unauthenticated() {
    let key = es256("k");
    let jwks = FakeJwks::start(&[&key]).await;
    let app = start(&jwks).await;
    let (id, email) = platform_user(&app, "read_only").await;
    let token = sign(&key, &claims(id, &email));

    jwks.fail(true);
    let err = permissions(&app, id, &token).await.expect_err("JWKS down");
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    assert_eq!(jwks.hits(), 1);
    // A failed fetch does not start the refetch guard: the next request tries again.
    jwks.fail(false);
    permissions(&app, id, &token).await.expect("JWKS back");
    assert_eq!(jwks.hits(), 2);
}
