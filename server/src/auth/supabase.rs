//! Supabase Auth (GoTrue) over its REST API. Paths, headers and bodies follow the GoTrue
//! OpenAPI (supabase/auth `openapi.yaml`, `internal/api/{admin,invite,token}.go`) and
//! https://supabase.com/docs/reference/api (see ../shared/VENDOR-APIS.md §4): every call sends
//! `apikey`; admin calls add `Authorization: Bearer <service-role key>`, which never leaves
//! the server. Errors come as `{code, error_code, msg}` or `{error, error_description}`;
//! clients must switch on `error_code`, not on the message.

use super::AuthError;
use crate::config::SupabaseConfig;
use serde::Deserialize;
use serde_json::json;

#[derive(Clone)]
pub struct GoTrueClient {
    http: reqwest::Client,
    base: String,
    anon_key: String,
    service_role_key: String,
}

#[derive(Debug, Deserialize)]
pub struct GoTrueUser {
    pub id: uuid::Uuid,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GoTrueSession {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    pub user: GoTrueUser,
}

impl GoTrueSession {
    pub fn expires_at(&self) -> i64 {
        self.expires_at.unwrap_or_else(|| chrono::Utc::now().timestamp() + self.expires_in.unwrap_or(3600))
    }
}

#[derive(Debug, Deserialize, Default)]
struct GoTrueErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

impl GoTrueClient {
    pub fn new(config: &SupabaseConfig, http: reqwest::Client) -> Self {
        GoTrueClient { http, base: format!("{}/auth/v1", config.url), anon_key: config.anon_key.clone(), service_role_key: config.service_role_key.clone() }
    }

    fn public(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).header("apikey", &self.anon_key)
    }

    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base)).header("apikey", &self.service_role_key).bearer_auth(&self.service_role_key)
    }

    /// `POST /token?grant_type=password`.
    pub async fn password_grant(&self, email: &str, password: &str) -> Result<GoTrueSession, AuthError> {
        let request = self.public(reqwest::Method::POST, "/token?grant_type=password").json(&json!({ "email": email, "password": password }));
        parse(request.send().await).await
    }

    /// `POST /token?grant_type=refresh_token`.
    pub async fn refresh_grant(&self, refresh_token: &str) -> Result<GoTrueSession, AuthError> {
        let request = self.public(reqwest::Method::POST, "/token?grant_type=refresh_token").json(&json!({ "refresh_token": refresh_token }));
        parse(request.send().await).await
    }

    /// `POST /logout` with the user's own access token.
    pub async fn logout(&self, access_token: &str) -> Result<(), AuthError> {
        let request = self.public(reqwest::Method::POST, "/logout?scope=local").bearer_auth(access_token);
        expect_ok(request.send().await).await
    }

    /// `POST /recover`: GoTrue emails a recovery link (and answers 200 whether or not the
    /// email exists).
    pub async fn recover(&self, email: &str, redirect_to: &str) -> Result<(), AuthError> {
        let request = self.public(reqwest::Method::POST, "/recover").query(&[("redirect_to", redirect_to)]).json(&json!({ "email": email }));
        expect_ok(request.send().await).await
    }

    /// `PUT /user` with the access token of a recovery or invitation link: sets the password.
    pub async fn update_password(&self, access_token: &str, password: &str) -> Result<GoTrueUser, AuthError> {
        let request = self.public(reqwest::Method::PUT, "/user").bearer_auth(access_token).json(&json!({ "password": password }));
        parse(request.send().await).await
    }

    /// `POST /invite` (admin): GoTrue emails an invitation link.
    pub async fn invite(&self, email: &str, data: serde_json::Value, redirect_to: &str) -> Result<GoTrueUser, AuthError> {
        let request = self.admin(reqwest::Method::POST, "/invite").query(&[("redirect_to", redirect_to)]).json(&json!({ "email": email, "data": data }));
        parse(request.send().await).await
    }

    /// `POST /admin/users`: creates a confirmed user with a password (bootstrap admin).
    pub async fn create_user(&self, email: &str, password: &str) -> Result<GoTrueUser, AuthError> {
        let request = self.admin(reqwest::Method::POST, "/admin/users").json(&json!({ "email": email, "password": password, "email_confirm": true }));
        parse(request.send().await).await
    }

    /// `PUT /admin/users/{id}` with `ban_duration`: a Go duration, or `none` to lift a ban.
    pub async fn set_banned(&self, id: uuid::Uuid, banned: bool) -> Result<(), AuthError> {
        let duration = if banned { "876000h" } else { "none" };
        let request = self.admin(reqwest::Method::PUT, &format!("/admin/users/{id}")).json(&json!({ "ban_duration": duration }));
        expect_ok(request.send().await).await
    }

    /// `DELETE /admin/users/{id}`.
    pub async fn delete_user(&self, id: uuid::Uuid) -> Result<(), AuthError> {
        let request = self.admin(reqwest::Method::DELETE, &format!("/admin/users/{id}"));
        match expect_ok(request.send().await).await {
            Err(AuthError::NotFound) => Ok(()), // already gone there
            other => other,
        }
    }
}

async fn expect_ok(response: reqwest::Result<reqwest::Response>) -> Result<(), AuthError> {
    let response = response.map_err(|e| AuthError::ProviderUnavailable(e.to_string()))?;
    if response.status().is_success() {
        return Ok(());
    }
    Err(error_of(response).await)
}

async fn parse<T: serde::de::DeserializeOwned>(response: reqwest::Result<reqwest::Response>) -> Result<T, AuthError> {
    let response = response.map_err(|e| AuthError::ProviderUnavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(error_of(response).await);
    }
    response.json().await.map_err(|e| AuthError::ProviderUnavailable(format!("unexpected Supabase Auth response: {e}")))
}

/// Maps a GoTrue error to ours by `error_code` (400 and 422 are used interchangeably).
async fn error_of(response: reqwest::Response) -> AuthError {
    let status = response.status();
    let body: GoTrueErrorBody = response.json().await.unwrap_or_default();
    let code = body.error_code.as_deref().or(body.error.as_deref()).unwrap_or("");
    let message = body.msg.or(body.error_description).unwrap_or_default();
    match (status.as_u16(), code) {
        (429, _) => AuthError::RateLimited,
        (_, "invalid_credentials" | "invalid_grant") => AuthError::InvalidCredentials,
        (_, "user_banned") => AuthError::Disabled,
        (_, "refresh_token_not_found" | "refresh_token_already_used" | "session_not_found" | "session_expired") => AuthError::SessionInvalid,
        (_, "bad_jwt" | "otp_expired") => AuthError::LinkInvalid,
        (_, "email_exists" | "user_already_exists") => AuthError::AlreadyExists,
        (_, "weak_password") => AuthError::InvalidField { field: "new_password", reason: message },
        (404, _) | (_, "user_not_found") => AuthError::NotFound,
        (s, _) if s >= 500 => AuthError::ProviderUnavailable(format!("Supabase Auth answered {status}: {message}")),
        _ => AuthError::ProviderUnavailable(format!("Supabase Auth refused the request ({status} {code}): {message}")),
    }
}
