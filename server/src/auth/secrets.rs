//! Random secrets and their hashes: refresh tokens, one-time links, service credentials.
//! Each is 256 random bits, so a fast SHA-256 is enough to store them safely.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

/// 32 random bytes, URL-safe base64 (43 characters).
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time comparison of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The public part of a service credential, shown in lists: 12 lowercase alphanumerics.
pub fn random_key_prefix() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(12).map(|c| (c as char).to_ascii_lowercase()).collect()
}

pub const SERVICE_SECRET_PREFIX: &str = "cdp_sk_";

/// `cdp_sk_<key_prefix>_<secret>`: what a machine client sends as its bearer token.
pub fn service_bearer(key_prefix: &str, secret: &str) -> String {
    format!("{SERVICE_SECRET_PREFIX}{key_prefix}_{secret}")
}

/// Splits a service bearer into (key_prefix, secret).
pub fn parse_service_bearer(bearer: &str) -> Option<(&str, &str)> {
    let rest = bearer.strip_prefix(SERVICE_SECRET_PREFIX)?;
    let (prefix, secret) = rest.split_at_checked(12)?;
    let secret = secret.strip_prefix('_')?;
    (!secret.is_empty()).then_some((prefix, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_bearer_round_trips() {
        let prefix = random_key_prefix();
        let secret = random_token();
        let bearer = service_bearer(&prefix, &secret);
        assert_eq!(parse_service_bearer(&bearer), Some((prefix.as_str(), secret.as_str())));
        assert_eq!(parse_service_bearer("cdp_sk_short"), None);
        assert_eq!(parse_service_bearer("eyJhbGciOiJIUzI1NiJ9.x.y"), None);
    }

    #[test]
    fn hashes_compare_exactly() {
        assert!(hashes_equal(&hash("a"), &hash("a")));
        assert!(!hashes_equal(&hash("a"), &hash("b")));
    }
}
