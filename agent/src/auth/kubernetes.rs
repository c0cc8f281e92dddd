//! The `kubernetes` auth method (agent.md §3.2): `{"role", "jwt"}` where the JWT is the service-account
//! token file, re-read and whitespace-trimmed at every login (a rotated projected token is picked up).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::AuthError;
use super::file_watch::FileEvent;
use super::method::{LoginRequest, config_string, read_credential};

/// Where Kubernetes mounts the pod's service-account token.
pub const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// The configured `kubernetes` method.
#[derive(Debug, Clone)]
pub struct Kubernetes {
    mount_path: String,
    role: String,
    token_path: PathBuf,
}

/// The login body for `role` and the raw token-file contents (trimmed here).
pub fn login_body(role: &str, token_file_contents: &str) -> Value {
    json!({"role": role, "jwt": token_file_contents.trim()})
}

impl Kubernetes {
    /// From the method config: `role` (required, non-empty), `token_path` (optional).
    pub fn new(mount_path: String, config: &BTreeMap<String, Value>) -> Result<Self, AuthError> {
        let role = match config_string(config, "role") {
            None => return Err(AuthError::Config("missing 'role' value".into())),
            Some(r) if r.is_empty() => {
                return Err(AuthError::Config("'role' value is empty".into()));
            }
            Some(r) => r,
        };
        let token_path = config_string(config, "token_path")
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_PATH.to_string());
        Ok(Self {
            mount_path,
            role,
            token_path: PathBuf::from(token_path),
        })
    }

    /// The mount, e.g. `auth/kubernetes`.
    pub fn mount_path(&self) -> &str {
        &self.mount_path
    }

    /// The file the JWT is read from.
    pub fn token_path(&self) -> &Path {
        &self.token_path
    }

    /// A change of the token file seen by the watcher: a rotation is used at the next login (the
    /// file is read then); a vanished file is reported at once, naming it.
    pub fn on_file_event(&mut self, event: FileEvent) {
        match event {
            FileEvent::Changed => {
                tracing::debug!(target: "auth.kubernetes", path = %self.token_path.display(), "service account token changed; the next login uses it");
            }
            FileEvent::Vanished => {
                tracing::error!(target: "auth.kubernetes", path = %self.token_path.display(), "the service account token file vanished: logins fail until it is back");
            }
        }
    }

    /// Reads the token file now and builds the login.
    pub fn login_request(&mut self) -> Result<LoginRequest, AuthError> {
        let jwt = read_credential(&self.token_path)?;
        if jwt.trim().is_empty() {
            return Err(AuthError::EmptyFile {
                path: self.token_path.clone(),
            });
        }
        Ok(LoginRequest::Login {
            path: format!("{}/login", self.mount_path),
            body: login_body(&self.role, &jwt),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn body_is_trimmed() {
        assert_eq!(
            login_body("app", "  eyJ.a.b\n"),
            json!({"role": "app", "jwt": "eyJ.a.b"})
        );
    }

    #[test]
    fn role_errors_use_upstream_words() {
        let e = Kubernetes::new("auth/kubernetes".into(), &cfg(json!({}))).unwrap_err();
        assert_eq!(e.to_string(), "missing 'role' value");
        let e = Kubernetes::new("auth/kubernetes".into(), &cfg(json!({"role": ""}))).unwrap_err();
        assert_eq!(e.to_string(), "'role' value is empty");
    }

    #[test]
    fn default_token_path() {
        let k = Kubernetes::new("auth/kubernetes".into(), &cfg(json!({"role": "r"}))).unwrap();
        assert_eq!(k.token_path(), Path::new(DEFAULT_TOKEN_PATH));
    }

    #[test]
    fn rereads_the_file_each_login_and_names_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let mut k = Kubernetes::new(
            "auth/k".into(),
            &cfg(json!({"role": "r", "token_path": path.to_str().unwrap()})),
        )
        .unwrap();
        let LoginRequest::Login { path: p, body } = k.login_request().unwrap() else {
            panic!("not a login")
        };
        assert_eq!(p, "auth/k/login");
        assert_eq!(body["jwt"], "first");
        std::fs::write(&path, "second").unwrap();
        let LoginRequest::Login { body, .. } = k.login_request().unwrap() else {
            panic!("not a login")
        };
        assert_eq!(body["jwt"], "second");
        std::fs::remove_file(&path).unwrap();
        let err = k.login_request().unwrap_err().to_string();
        assert!(err.contains(path.to_str().unwrap()), "{err}");
    }
}
