//! The auto-auth token: what a login yields ([`AuthToken`], never printed), the narrow Vault API the
//! login and renewal loops need ([`TokenApi`]), the pure renewal [`schedule`] of agent.md §3.4, the
//! async lifetime watcher in [`lifetime`] and the check of a refused token in [`check`] (agent.md §3.6).

pub mod check;
pub mod lifetime;
pub mod schedule;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// A Vault token obtained by auto-auth, with what its login or lookup said about it.
///
/// `Debug` never shows the token; use [`AuthToken::client_token`] to hand it on.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken {
    client_token: Arc<str>,
    /// The token's accessor (safe to log).
    pub accessor: String,
    /// Lease duration at issue (or at lookup / last renewal).
    pub ttl: Duration,
    /// Whether `renew-self` can extend it.
    pub renewable: bool,
    /// Policies attached to the token.
    pub policies: Vec<String>,
    /// `service` or `batch` (empty when Vault did not say).
    pub token_type: String,
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthToken")
            .field("client_token", &"<redacted>")
            .field("accessor", &self.accessor)
            .field("ttl", &self.ttl)
            .field("renewable", &self.renewable)
            .field("policies", &self.policies)
            .field("token_type", &self.token_type)
            .finish()
    }
}

impl AuthToken {
    /// A token with its properties.
    pub fn new(
        client_token: impl Into<Arc<str>>,
        accessor: impl Into<String>,
        ttl: Duration,
        renewable: bool,
        policies: Vec<String>,
        token_type: impl Into<String>,
    ) -> Self {
        Self {
            client_token: client_token.into(),
            accessor: accessor.into(),
            ttl,
            renewable,
            policies,
            token_type: token_type.into(),
        }
    }

    /// The token itself, to send in `X-Vault-Token` or write to a sink. Never log it.
    pub fn client_token(&self) -> &str {
        &self.client_token
    }

    /// A root token from `token_file` (TTL 0, not renewable, policies exactly `["root"]`): never renewed.
    pub fn is_root(&self) -> bool {
        self.ttl.is_zero() && !self.renewable && self.policies == ["root"]
    }

    /// The same token with a new TTL (after a renewal).
    pub fn with_ttl(&self, ttl: Duration) -> Self {
        Self {
            ttl,
            ..self.clone()
        }
    }

    /// From a login or renew response's `auth` block (`client_token`, `accessor`, `lease_duration`,
    /// `renewable`, `policies`, `token_type`). `None` when `client_token` is missing or empty.
    pub fn from_auth_block(auth: &Value) -> Option<Self> {
        let token = auth
            .get("client_token")?
            .as_str()
            .filter(|t| !t.is_empty())?;
        Some(Self::new(
            token,
            auth.get("accessor").and_then(Value::as_str).unwrap_or(""),
            Duration::from_secs(seconds(auth.get("lease_duration"))),
            auth.get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            strings(auth.get("policies")),
            auth.get("token_type").and_then(Value::as_str).unwrap_or(""),
        ))
    }

    /// From a `lookup-self` response's `data` (`id`, `accessor`, `ttl`, `renewable`, `policies`, `type`)
    /// and the token that was looked up.
    pub fn from_lookup_data(token: &str, data: &Value) -> Self {
        Self::new(
            token,
            data.get("accessor").and_then(Value::as_str).unwrap_or(""),
            Duration::from_secs(seconds(data.get("ttl"))),
            data.get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            strings(data.get("policies")),
            data.get("type").and_then(Value::as_str).unwrap_or(""),
        )
    }
}

fn seconds(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
            .unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// An error from Vault, already rendered without any token or body in it.
pub type ApiError = Box<dyn std::error::Error + Send + Sync>;

/// The Vault calls auto-auth makes (agent.md §2.1). Implemented over `vaultlet_shared::vault` in
/// [`crate::auth::vault_api`]; tests may implement it with a fake.
pub trait TokenApi {
    /// `PUT /v1/<path>` with `body`, no token: the login. Returns the token of the `auth` block.
    fn login(&self, path: &str, body: &Value) -> impl Future<Output = Result<AuthToken, ApiError>>;
    /// `GET /v1/auth/token/lookup-self` with `token`.
    fn lookup_self(&self, token: &str) -> impl Future<Output = Result<AuthToken, ApiError>>;
    /// `PUT /v1/auth/token/renew-self` `{"increment":0}`: the renewed token (new TTL).
    fn renew_self(&self, token: &str) -> impl Future<Output = Result<AuthToken, ApiError>>;
    /// `PUT /v1/sys/wrapping/wrap` `{"token": …}` with `X-Vault-Wrap-TTL`, authenticated with the
    /// token itself: the response's `wrap_info` object (for sinks with `wrap_ttl`, agent.md §3.7).
    fn wrap_token(
        &self,
        token: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Value, ApiError>> {
        let _ = (token, ttl);
        async { Err::<Value, ApiError>("response wrapping is not supported by this client".into()) }
    }
}

impl<T: TokenApi> TokenApi for &T {
    fn login(&self, path: &str, body: &Value) -> impl Future<Output = Result<AuthToken, ApiError>> {
        (**self).login(path, body)
    }
    fn lookup_self(&self, token: &str) -> impl Future<Output = Result<AuthToken, ApiError>> {
        (**self).lookup_self(token)
    }
    fn renew_self(&self, token: &str) -> impl Future<Output = Result<AuthToken, ApiError>> {
        (**self).renew_self(token)
    }
    fn wrap_token(
        &self,
        token: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Value, ApiError>> {
        (**self).wrap_token(token, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_auth_block_reads_the_fields() {
        let t = AuthToken::from_auth_block(&json!({
            "client_token": "s.abc", "accessor": "acc", "lease_duration": 3600,
            "renewable": true, "policies": ["default", "app"], "token_type": "service"
        }))
        .unwrap();
        assert_eq!(t.client_token(), "s.abc");
        assert_eq!(t.accessor, "acc");
        assert_eq!(t.ttl, Duration::from_secs(3600));
        assert!(t.renewable);
        assert_eq!(t.policies, vec!["default", "app"]);
        assert!(!t.is_root());
        assert!(AuthToken::from_auth_block(&json!({"client_token": ""})).is_none());
    }

    #[test]
    fn root_from_lookup() {
        let t = AuthToken::from_lookup_data(
            "root",
            &json!({"ttl": 0, "renewable": false, "policies": ["root"], "type": "service"}),
        );
        assert!(t.is_root());
    }

    #[test]
    fn debug_redacts() {
        let t = AuthToken::new("hvs.TOPSECRET", "a", Duration::ZERO, false, vec![], "");
        assert!(!format!("{t:?}").contains("TOPSECRET"));
    }
}
