//! Password hashing for the local provider (argon2id, PHC strings). Hashing is slow on
//! purpose, so it runs on the blocking pool.

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use super::AuthError;

pub async fn hash(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| AuthError::Internal(format!("hashing a password: {e}")))
    })
    .await
    .map_err(|e| AuthError::Internal(e.to_string()))?
}

/// Verifies `password` against `stored`; with no stored hash it still spends the time of a
/// verification, so response times do not reveal which emails exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || {
        let argon = Argon2::default();
        match stored {
            Some(stored) => {
                let parsed = PasswordHash::new(&stored).map_err(|e| AuthError::Internal(format!("stored hash: {e}")))?;
                Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
            }
            None => {
                let _ = argon.hash_password(password.as_bytes());
                Ok(false)
            }
        }
    })
    .await
    .map_err(|e| AuthError::Internal(e.to_string()))?
}

/// The password rule shown to users: long enough, not just spaces.
pub fn check_strength(password: &str, min_length: usize) -> Result<(), AuthError> {
    if password.chars().count() < min_length || password.trim().is_empty() {
        return Err(AuthError::InvalidField { field: "new_password", reason: format!("must be at least {min_length} characters") });
    }
    if password.len() > 1024 {
        return Err(AuthError::InvalidField { field: "new_password", reason: "must be at most 1024 bytes".into() });
    }
    Ok(())
}
