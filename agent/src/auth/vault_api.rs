//! [`TokenApi`] over the shared Vault client (`vaultlet_shared::vault::Client`): login,
//! lookup-self, renew-self, wrap and revoke-self (agent.md §2.1–2.2). Auto-auth retries whole
//! logins itself with backoff, so this client makes no HTTP-level retries (agent.md §2.3).

use std::time::Duration;

use serde_json::{Value, json};
use vaultlet_shared::vault::{Client, SecretAuth, VaultError};

use crate::connection::Connection;
use crate::token::{ApiError, AuthToken, TokenApi};

/// The Vault calls of auto-auth, `token revoke -self` and sinks.
#[derive(Clone, Debug)]
pub struct VaultApi {
    client: Client,
}

fn token_of(path: &str, auth: Option<&SecretAuth>) -> Result<AuthToken, ApiError> {
    match auth {
        Some(a) if !a.client_token.is_empty() => Ok(AuthToken::new(
            a.client_token.as_str(),
            a.accessor.as_str(),
            Duration::from_secs(a.lease_duration.max(0).unsigned_abs()),
            a.renewable,
            a.policies.clone(),
            a.token_type.as_str(),
        )),
        _ => Err(format!("{path}: response has no auth.client_token").into()),
    }
}

impl VaultApi {
    /// A client for `conn` (reads the CA and client certificate files now), with no HTTP retries.
    pub fn new(conn: &Connection) -> Result<Self, VaultError> {
        Ok(Self::from_client(&Client::new(conn.client_config())?))
    }

    /// Wraps an existing client (sharing its pool), forcing HTTP-level retries to 0.
    pub fn from_client(client: &Client) -> Self {
        Self {
            client: client.without_token().with_max_retries(0),
        }
    }

    /// The underlying client (no token, no retries).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The Vault address.
    pub fn address(&self) -> &str {
        self.client.address()
    }

    /// `PUT /v1/auth/token/revoke-self` with `token`.
    pub async fn revoke_self(&self, token: &str) -> Result<(), VaultError> {
        self.client.with_token(token).revoke_self().await
    }
}

impl TokenApi for VaultApi {
    async fn login(&self, path: &str, body: &Value) -> Result<AuthToken, ApiError> {
        let secret = self.client.write(path, body).await?;
        token_of(path, secret.as_ref().and_then(|s| s.auth.as_ref()))
    }

    async fn lookup_self(&self, token: &str) -> Result<AuthToken, ApiError> {
        let secret = self.client.with_token(token).lookup_self().await?;
        match secret.data {
            Some(data) => Ok(AuthToken::from_lookup_data(token, &Value::Object(data))),
            None => Err("auth/token/lookup-self: response has no data".into()),
        }
    }

    async fn renew_self(&self, token: &str) -> Result<AuthToken, ApiError> {
        let secret = self.client.with_token(token).renew_self(0).await?;
        token_of("auth/token/renew-self", secret.auth.as_ref())
    }

    async fn wrap_token(&self, token: &str, ttl: Duration) -> Result<Value, ApiError> {
        let info = self
            .client
            .with_token(token)
            .wrap(&json!({ "token": token }), ttl)
            .await?;
        Ok(serde_json::to_value(info)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connection_refused_names_the_address_and_not_the_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conn = Connection {
            address: format!("http://127.0.0.1:{port}"),
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let api = VaultApi::new(&conn).unwrap();
        let started = std::time::Instant::now();
        let e = api.lookup_self("tok-SECRET").await.unwrap_err().to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "no HTTP-level retries (they sleep ≥ 1 s)"
        );
    }

    #[test]
    fn a_login_without_a_token_is_an_error() {
        let e = token_of("auth/jwt/login", Some(&SecretAuth::default())).unwrap_err();
        assert!(e.to_string().contains("auth/jwt/login"), "{e}");
        let a = SecretAuth {
            client_token: "s.x".into(),
            accessor: "acc".into(),
            lease_duration: 4,
            renewable: true,
            ..Default::default()
        };
        let t = token_of("p", Some(&a)).unwrap();
        assert_eq!(t.client_token(), "s.x");
        assert_eq!(t.ttl, Duration::from_secs(4));
        assert!(t.renewable);
    }
}
