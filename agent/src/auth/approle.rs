//! The `approle` auth method (agent.md §3.2): `{"role_id", "secret_id"}` read from files (trimmed);
//! values are cached so a file that later vanishes or is empty keeps the last value; the secret-id
//! file is deleted right after it is read when `remove_secret_id_file_after_reading` (default true).
//! A response-wrapped secret id (`secret_id_response_wrapping_path`) is not supported yet: it is
//! refused at start-up with a clear error.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::AuthError;
use super::method::LoginRequest;
use super::method::{config_bool, config_string, required_path};

/// The configured `approle` method and its cached ids.
pub struct AppRole {
    mount_path: String,
    role_id_path: PathBuf,
    secret_id_path: Option<PathBuf>,
    remove_secret_id: bool,
    role_id: Option<String>,
    secret_id: Option<String>,
}

impl std::fmt::Debug for AppRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRole")
            .field("mount_path", &self.mount_path)
            .field("role_id_path", &self.role_id_path)
            .field("secret_id_path", &self.secret_id_path)
            .field("remove_secret_id", &self.remove_secret_id)
            .finish_non_exhaustive()
    }
}

/// The login body: `role_id`, plus `secret_id` when there is one.
pub fn login_body(role_id: &str, secret_id: Option<&str>) -> Value {
    let mut body = Map::new();
    body.insert("role_id".into(), Value::String(role_id.into()));
    if let Some(s) = secret_id {
        body.insert("secret_id".into(), Value::String(s.into()));
    }
    Value::Object(body)
}

/// Reads and trims a file; `Ok(None)` when it is missing or empty (the caller keeps its cache).
fn read_trimmed(path: &PathBuf) -> Result<Option<String>, AuthError> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().is_empty() => Ok(None),
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AuthError::ReadFile {
            path: path.clone(),
            source,
        }),
    }
}

impl AppRole {
    /// From the method config.
    pub fn new(mount_path: String, config: &BTreeMap<String, Value>) -> Result<Self, AuthError> {
        let role_id_path = required_path(config, "role_id_file_path", "approle")?;
        let secret_id_path = config_string(config, "secret_id_file_path")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from);
        if config_string(config, "secret_id_response_wrapping_path").is_some_and(|p| !p.is_empty())
        {
            return Err(AuthError::Config(
                "approle auth method: secret_id_response_wrapping_path is not supported by vaultlet yet".into(),
            ));
        }
        let remove_secret_id = config_bool(config, "remove_secret_id_file_after_reading", true)?;
        Ok(Self {
            mount_path,
            role_id_path,
            secret_id_path,
            remove_secret_id,
            role_id: None,
            secret_id: None,
        })
    }

    /// Reads the id files now (keeping cached values for vanished files) and builds the login.
    pub fn login_request(&mut self) -> Result<LoginRequest, AuthError> {
        if let Some(r) = read_trimmed(&self.role_id_path)? {
            self.role_id = Some(r);
        }
        let Some(role_id) = self.role_id.clone() else {
            return Err(AuthError::EmptyFile {
                path: self.role_id_path.clone(),
            });
        };
        if let Some(path) = &self.secret_id_path {
            if let Some(s) = read_trimmed(path)? {
                self.secret_id = Some(s);
                if self.remove_secret_id
                    && let Err(e) = std::fs::remove_file(path)
                {
                    tracing::warn!(target: "auth.approle", path = %path.display(), error = %e, "could not remove the secret id file");
                }
            }
            if self.secret_id.is_none() {
                return Err(AuthError::EmptyFile { path: path.clone() });
            }
        }
        Ok(LoginRequest::Login {
            path: format!("{}/login", self.mount_path),
            body: login_body(&role_id, self.secret_id.as_deref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn body_with_and_without_secret() {
        assert_eq!(login_body("r", None), json!({"role_id": "r"}));
        assert_eq!(
            login_body("r", Some("s")),
            json!({"role_id": "r", "secret_id": "s"})
        );
    }

    #[test]
    fn reads_trims_removes_and_caches() {
        let dir = tempfile::tempdir().unwrap();
        let rid = dir.path().join("role_id");
        let sid = dir.path().join("secret_id");
        std::fs::write(&rid, "role-1\n").unwrap();
        std::fs::write(&sid, " sec-1 \n").unwrap();
        let cfg = serde_json::from_value(json!({
            "role_id_file_path": rid.to_str().unwrap(),
            "secret_id_file_path": sid.to_str().unwrap(),
        }))
        .unwrap();
        let mut m = AppRole::new("auth/approle".into(), &cfg).unwrap();
        let LoginRequest::Login { path, body } = m.login_request().unwrap() else {
            panic!()
        };
        assert_eq!(path, "auth/approle/login");
        assert_eq!(body, json!({"role_id": "role-1", "secret_id": "sec-1"}));
        assert!(!sid.exists());
        assert!(rid.exists());
        let LoginRequest::Login { body, .. } = m.login_request().unwrap() else {
            panic!()
        };
        assert_eq!(body["secret_id"], "sec-1", "cached after removal");
    }

    #[test]
    fn missing_role_id_file_is_named() {
        let cfg = serde_json::from_value(json!({"role_id_file_path": "/nonexistent/rid"})).unwrap();
        let mut m = AppRole::new("auth/approle".into(), &cfg).unwrap();
        let e = m.login_request().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/rid"), "{e}");
    }

    #[test]
    fn wrapped_secret_id_is_refused_clearly() {
        let cfg = serde_json::from_value(json!({
            "role_id_file_path": "/r", "secret_id_response_wrapping_path": "auth/approle/role/x/secret-id"
        }))
        .unwrap();
        let e = AppRole::new("auth/approle".into(), &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret_id_response_wrapping_path"), "{e}");
    }
}
