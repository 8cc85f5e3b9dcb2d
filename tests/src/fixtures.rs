//! Test data made through the product's own code (token signing, provider) or plain SQL as
//! the table owner where a test needs a precondition quickly.

use crate::{ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, TestApp};
use cdp_proto::cdp::v1::{self as pb, auth_service_client::AuthServiceClient};
use cdp_server::auth::tokens::TokenSigner;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel_async::RunQueryDsl;
use std::time::Duration;
use uuid::Uuid;

pub const ROLES: [&str; 5] = ["super_admin", "admin", "growth_manager", "data_engineer", "read_only"];

/// Signs in through AuthService and returns the access token.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Result<pb::SignInResponse, tonic::Status> {
    let mut auth = AuthServiceClient::new(app.channel.clone());
    auth.sign_in(pb::SignInRequest { email: email.into(), password: password.into() }).await.map(|r| r.into_inner())
}

pub async fn admin_token(app: &TestApp) -> String {
    let response = sign_in(app, ADMIN_EMAIL, ADMIN_PASSWORD).await.expect("the bootstrap admin signs in");
    response.session.expect("a session").access_token
}

/// A token signed exactly as the local provider signs them.
pub fn mint_token(user_id: Uuid, email: &str) -> String {
    TokenSigner::new(JWT_SECRET, "cdp-local", "authenticated", Duration::from_secs(600)).sign(user_id, email, Uuid::new_v4()).expect("signing").0
}

/// An active platform user with `role`, inserted as the table owner, and a token for them.
pub async fn user_with_role(app: &TestApp, role: &str) -> (Uuid, String) {
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
    (id, mint_token(id, &email))
}

/// Runs `sql` on the test database as the owner and returns how many rows it touched.
pub async fn exec(app: &TestApp, sql: &str) -> usize {
    let mut conn = app.db.conn().await;
    diesel::sql_query(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[derive(diesel::QueryableByName, Debug)]
pub struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

/// `SELECT count(*) AS n ...` on the test database.
pub async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut conn = app.db.conn().await;
    diesel::sql_query(sql).get_result::<Count>(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}")).n
}
