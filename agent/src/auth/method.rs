//! The auto-auth method as one type: built from the `auto_auth.method` stanza, it produces the
//! request of each login attempt (agent.md §3.1b, §3.2) by reading its credential files afresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::AuthError;
use super::file_watch::FileEvent;
use super::{approle::AppRole, jwt::Jwt, kubernetes::Kubernetes, token_file::TokenFile};

/// What one login attempt sends to Vault.
#[derive(Clone, PartialEq)]
pub enum LoginRequest {
    /// `PUT /v1/<path>` with this JSON body, no token header.
    Login { path: String, body: Value },
    /// `GET /v1/auth/token/lookup-self` with this token (the `token_file` method).
    LookupSelf { token: String },
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body holds a JWT or a secret id, the token is a token: never print them.
        match self {
            Self::Login { path, .. } => write!(f, "Login {{ path: {path:?}, body: <redacted> }}"),
            Self::LookupSelf { .. } => write!(f, "LookupSelf {{ token: <redacted> }}"),
        }
    }
}

/// A configured auth method.
#[derive(Debug)]
pub enum Method {
    Kubernetes(Kubernetes),
    Jwt(Jwt),
    AppRole(AppRole),
    TokenFile(TokenFile),
}

impl Method {
    /// Builds the method `method_type` mounted at `mount_path` (default `auth/<type>`) from its
    /// `config` map. Errors are configuration errors (agent.md §3.1 step 1).
    pub fn from_config(
        method_type: &str,
        mount_path: Option<&str>,
        config: &BTreeMap<String, Value>,
    ) -> Result<Self, AuthError> {
        let mount = mount_path
            .filter(|m| !m.is_empty())
            .map(|m| m.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("auth/{method_type}"));
        match method_type {
            "kubernetes" => Ok(Self::Kubernetes(Kubernetes::new(mount, config)?)),
            "jwt" => Ok(Self::Jwt(Jwt::new(mount, config)?)),
            "approle" => Ok(Self::AppRole(AppRole::new(mount, config)?)),
            "token_file" => Ok(Self::TokenFile(TokenFile::new(config)?)),
            other => Err(AuthError::Config(format!(
                "Error creating {other} auth method: unknown auth method {other:?}"
            ))),
        }
    }

    /// The method's type name, for logs (`auth.<type>`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Kubernetes(_) => "kubernetes",
            Self::Jwt(_) => "jwt",
            Self::AppRole(_) => "approle",
            Self::TokenFile(_) => "token_file",
        }
    }

    /// The credential file worth watching between logins (kubernetes, jwt).
    pub fn watched_file(&self) -> Option<&Path> {
        match self {
            Self::Kubernetes(m) => Some(m.token_path()),
            Self::Jwt(m) => Some(m.path()),
            Self::AppRole(_) | Self::TokenFile(_) => None,
        }
    }

    /// A change of [`Self::watched_file`].
    pub fn on_file_event(&mut self, event: FileEvent) {
        match self {
            Self::Kubernetes(m) => m.on_file_event(event),
            Self::Jwt(m) => m.on_file_event(event),
            Self::AppRole(_) | Self::TokenFile(_) => {}
        }
    }

    /// The request for the next login attempt; reads the credential files now.
    pub fn login_request(&mut self) -> Result<LoginRequest, AuthError> {
        match self {
            Self::Kubernetes(m) => m.login_request(),
            Self::Jwt(m) => m.login_request(),
            Self::AppRole(m) => m.login_request(),
            Self::TokenFile(m) => m.login_request(),
        }
    }
}

/// A string value of the method config (strings, numbers and bools are accepted as text).
pub(crate) fn config_string(config: &BTreeMap<String, Value>, key: &str) -> Option<String> {
    match config.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A bool value of the method config: a JSON bool or a Go `ParseBool` string; absent ⇒ `default`.
pub(crate) fn config_bool(
    config: &BTreeMap<String, Value>,
    key: &str,
    default: bool,
) -> Result<bool, AuthError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => vaultlet_shared::go::strconv::parse_bool(s).map_err(|_| {
            AuthError::Config(format!(
                "auto_auth.method.config.{key}: {s:?} is not a bool"
            ))
        }),
        Some(other) => Err(AuthError::Config(format!(
            "auto_auth.method.config.{key}: {other} is not a bool"
        ))),
    }
}

/// Reads a credential file whole; the error names the file.
pub(crate) fn read_credential(path: &Path) -> Result<String, AuthError> {
    std::fs::read_to_string(path).map_err(|source| AuthError::ReadFile {
        path: path.to_path_buf(),
        source,
    })
}

/// A required, non-empty path value of the method config.
pub(crate) fn required_path(
    config: &BTreeMap<String, Value>,
    key: &str,
    method: &str,
) -> Result<PathBuf, AuthError> {
    match config_string(config, key) {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        Some(_) => Err(AuthError::Config(format!(
            "{method} auth method: '{key}' value is empty"
        ))),
        None => Err(AuthError::Config(format!(
            "{method} auth method: missing '{key}' value"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unknown_type_uses_upstream_words() {
        let err = Method::from_config("ldapx", None, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error creating ldapx auth method: unknown auth method \"ldapx\""
        );
    }

    /// The injector refuses at admission the auth types our agent cannot use, from the list in
    /// `vaultlet_shared::annotations::known` (injector.md §2.6): the agent must accept exactly it.
    #[test]
    fn accepts_exactly_the_auth_types_the_injector_admits() {
        use vaultlet_shared::annotations::AgentFlavor;
        use vaultlet_shared::annotations::known::{OPENBAO_AUTH_TYPES, VAULT_AUTH_TYPES};
        let ours = AgentFlavor::Vaultlet.auth_types();
        let candidates = VAULT_AUTH_TYPES
            .iter()
            .chain(OPENBAO_AUTH_TYPES)
            .chain(ours)
            .chain(&["userpass", "oidc", "token", "Kubernetes", ""]);
        for t in candidates {
            let known = match Method::from_config(t, None, &BTreeMap::new()) {
                Ok(_) => true,
                Err(e) => !e.to_string().contains("unknown auth method"),
            };
            assert_eq!(known, ours.contains(t), "{t:?}");
        }
    }

    #[test]
    fn mount_path_defaults_and_trailing_slash() {
        let cfg = map(json!({"role": "app", "token_path": "/nonexistent/t"}));
        match Method::from_config("kubernetes", None, &cfg).unwrap() {
            Method::Kubernetes(k) => assert_eq!(k.mount_path(), "auth/kubernetes"),
            other => panic!("{other:?}"),
        }
        match Method::from_config("kubernetes", Some("auth/k8s-x/"), &cfg).unwrap() {
            Method::Kubernetes(k) => assert_eq!(k.mount_path(), "auth/k8s-x"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bools_accept_strings() {
        let cfg = map(json!({"a": "false", "b": true, "c": "yes"}));
        assert!(!config_bool(&cfg, "a", true).unwrap());
        assert!(config_bool(&cfg, "b", false).unwrap());
        assert!(config_bool(&cfg, "missing", true).unwrap());
        let err = config_bool(&cfg, "c", true).unwrap_err().to_string();
        assert!(err.contains("config.c") && err.contains("yes"), "{err}");
    }

    #[test]
    fn debug_never_shows_the_body() {
        let r = LoginRequest::Login {
            path: "auth/jwt/login".into(),
            body: json!({"jwt": "eyJSECRET"}),
        };
        assert!(!format!("{r:?}").contains("SECRET"));
        let r = LoginRequest::LookupSelf {
            token: "hvs.SECRET".into(),
        };
        assert!(!format!("{r:?}").contains("SECRET"));
    }
}
