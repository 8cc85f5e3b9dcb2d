//! Access tokens: signing Supabase-shaped JWTs (local provider) and verifying every bearer
//! token, with an HS256 shared secret and/or a JWKS of asymmetric keys (RS256/ES256) that is
//! refetched when an unknown `kid` appears (key rotation) and at most every 10 minutes.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::RwLock;

/// Verification keys by kid, and when they were last fetched.
type KeySet = (HashMap<String, (DecodingKey, Algorithm)>, Option<Instant>);

/// The claims the local provider signs: the shape Supabase Auth issues (VENDOR-APIS §4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub email: String,
    pub role: String,
    pub aud: String,
    pub iss: String,
    pub exp: i64,
    pub iat: i64,
    pub session_id: String,
    pub app_metadata: serde_json::Value,
}

pub struct TokenSigner {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenSigner {
    pub fn new(secret: &str, issuer: &str, audience: &str, ttl: Duration) -> Self {
        TokenSigner { key: EncodingKey::from_secret(secret.as_bytes()), issuer: issuer.into(), audience: audience.into(), ttl }
    }

    /// Signs an access token for a platform user; returns it with its expiry (unix seconds).
    pub fn sign(&self, user_id: uuid::Uuid, email: &str, session_id: uuid::Uuid) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = chrono::Utc::now().timestamp();
        let exp = now + self.ttl.as_secs() as i64;
        let claims = AccessClaims {
            sub: user_id.to_string(),
            email: email.to_string(),
            role: "authenticated".into(),
            aud: self.audience.clone(),
            iss: self.issuer.clone(),
            exp,
            iat: now,
            session_id: session_id.to_string(),
            app_metadata: serde_json::json!({ "provider": "email", "providers": ["email"] }),
        };
        Ok((jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)?, exp))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    #[error("the access token has expired")]
    Expired,
    #[error("the signing keys could not be fetched: {0}")]
    KeysUnavailable(String),
}

/// The verified claims of a token: `sub` parsed, everything else kept for RLS.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub subject: uuid::Uuid,
    pub claims: serde_json::Value,
}

struct JwksCache {
    url: String,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
}

const JWKS_MAX_AGE: Duration = Duration::from_secs(600);
const JWKS_MIN_REFETCH: Duration = Duration::from_secs(30);

impl JwksCache {
    async fn key(&self, kid: &str) -> Result<(DecodingKey, Algorithm), TokenError> {
        {
            let guard = self.keys.read().await;
            let fresh = guard.1.is_some_and(|at| at.elapsed() < JWKS_MAX_AGE);
            if let Some(found) = guard.0.get(kid).filter(|_| fresh) {
                return Ok(found.clone());
            }
            // An unknown kid triggers a refetch, but not more often than every 30 s.
            if guard.1.is_some_and(|at| at.elapsed() < JWKS_MIN_REFETCH) && !guard.0.contains_key(kid) {
                return Err(TokenError::Invalid(format!("unknown signing key {kid:?}")));
            }
        }
        self.refresh().await?;
        self.keys.read().await.0.get(kid).cloned().ok_or_else(|| TokenError::Invalid(format!("unknown signing key {kid:?}")))
    }

    async fn refresh(&self) -> Result<(), TokenError> {
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), jwk.common.key_algorithm) else { continue };
            let Ok(alg) = Algorithm::try_from(alg) else { continue };
            // Only asymmetric algorithms come from a JWKS; HS* keys never do.
            if !matches!(alg, Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) {
                continue;
            }
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (key, alg));
            }
        }
        *self.keys.write().await = (keys, Some(Instant::now()));
        Ok(())
    }
}

#[derive(Clone)]
pub struct TokenVerifier {
    secret: Option<Arc<DecodingKey>>,
    jwks: Option<Arc<JwksCache>>,
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    pub fn new(secret: Option<&str>, jwks_url: Option<&str>, issuer: &str, audience: &str, http: reqwest::Client) -> Self {
        TokenVerifier {
            secret: secret.map(|s| Arc::new(DecodingKey::from_secret(s.as_bytes()))),
            jwks: jwks_url.map(|url| Arc::new(JwksCache { url: url.to_string(), http, keys: RwLock::new((HashMap::new(), None)) })),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Verifies signature (algorithm from an allow-list, never `none`), `exp`, `iss` and `aud`.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
        let (key, alg) = match header.alg {
            Algorithm::HS256 => match &self.secret {
                Some(key) => ((**key).clone(), Algorithm::HS256),
                None => return Err(TokenError::Invalid("HS256 tokens are not accepted here".into())),
            },
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => match (&self.jwks, header.kid.as_deref()) {
                (Some(jwks), Some(kid)) => jwks.key(kid).await?,
                (Some(_), None) => return Err(TokenError::Invalid("the token names no signing key (kid)".into())),
                (None, _) => return Err(TokenError::Invalid("asymmetric tokens are not accepted here".into())),
            },
            other => return Err(TokenError::Invalid(format!("algorithm {other:?} is not allowed"))),
        };
        if alg != header.alg {
            return Err(TokenError::Invalid("the token's algorithm does not match its key".into()));
        }
        let mut validation = Validation::new(alg);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid(e.to_string()),
        })?;
        let subject = data
            .claims
            .get("sub")
            .and_then(|s| s.as_str())
            .and_then(|s| uuid::Uuid::parse_str(s).ok())
            .ok_or_else(|| TokenError::Invalid("the token's subject is not a user id".into()))?;
        Ok(VerifiedToken { subject, claims: data.claims })
    }
}
