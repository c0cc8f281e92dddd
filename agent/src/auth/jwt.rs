//! The `jwt` auth method (agent.md §3.2): `{"role", "jwt"}` with the file's content **untrimmed**
//! (upstream quirk Q-A6), the file deleted after reading unless `remove_jwt_after_reading = false`.
//!
//! Upstream polls the file every `jwt_read_period` and logs in with the latest JWT it saw. We read
//! the file at each login attempt, and between logins the auth loop's file watcher (no polling)
//! calls [`Jwt::on_file_event`], which takes a new JWT at once when it is to be removed after
//! reading. When the file is gone (we deleted it) or empty, the last JWT read is reused; with none
//! yet, the login fails with an error naming the file. `jwt_read_period` is accepted and ignored.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::AuthError;
use super::file_watch::FileEvent;
use super::method::{LoginRequest, config_bool, config_string, required_path};

/// The configured `jwt` method and the last JWT it read.
pub struct Jwt {
    mount_path: String,
    role: String,
    path: PathBuf,
    remove_after_reading: bool,
    latest: Option<String>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("mount_path", &self.mount_path)
            .field("role", &self.role)
            .field("path", &self.path)
            .field("remove_after_reading", &self.remove_after_reading)
            .field("latest", &self.latest.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The login body: the JWT exactly as read.
pub fn login_body(role: &str, jwt: &str) -> Value {
    json!({"role": role, "jwt": jwt})
}

impl Jwt {
    /// From the method config: `path`, `role` (required), `remove_jwt_after_reading` (default true).
    pub fn new(mount_path: String, config: &BTreeMap<String, Value>) -> Result<Self, AuthError> {
        let path = required_path(config, "path", "jwt")?;
        let role = match config_string(config, "role") {
            Some(r) if !r.is_empty() => r,
            Some(_) => {
                return Err(AuthError::Config(
                    "jwt auth method: 'role' value is empty".into(),
                ));
            }
            None => {
                return Err(AuthError::Config(
                    "jwt auth method: missing 'role' value".into(),
                ));
            }
        };
        let remove_after_reading = config_bool(config, "remove_jwt_after_reading", true)?;
        Ok(Self {
            mount_path,
            role,
            path,
            remove_after_reading,
            latest: None,
        })
    }

    /// The JWT file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A change of the file seen by the watcher ([`super::file_watch`]): with
    /// `remove_jwt_after_reading`, a new JWT is taken (and the file removed) at once rather than at
    /// the next login, so it does not linger on disk; a vanished file we did not remove is logged.
    pub fn on_file_event(&mut self, event: FileEvent) {
        match event {
            FileEvent::Changed if self.remove_after_reading => match self.take_file() {
                Ok(Read::Taken) => {
                    tracing::info!(target: "auth.jwt", path = %self.path.display(), "read a new JWT; the next login uses it");
                }
                // Most likely caught between creation and write: the write brings another event.
                Ok(Read::Empty) => {
                    tracing::debug!(target: "auth.jwt", path = %self.path.display(), "JWT file is empty for now");
                }
                Ok(Read::Absent) => {}
                Err(e) => {
                    tracing::warn!(target: "auth.jwt", error = %e, "error reading the new JWT");
                }
            },
            FileEvent::Changed => {}
            FileEvent::Vanished if self.remove_after_reading => {}
            FileEvent::Vanished => {
                tracing::error!(target: "auth.jwt", path = %self.path.display(), "the JWT file vanished: the next login uses the last JWT read from it");
            }
        }
    }

    /// Reads the file if it is there (deleting it when configured) and builds the login.
    pub fn login_request(&mut self) -> Result<LoginRequest, AuthError> {
        if self.take_file()? == Read::Empty {
            tracing::warn!(target: "auth.jwt", path = %self.path.display(), "JWT file is empty, keeping the previous JWT");
        }
        let Some(jwt) = &self.latest else {
            return Err(AuthError::EmptyFile {
                path: self.path.clone(),
            });
        };
        Ok(LoginRequest::Login {
            path: format!("{}/login", self.mount_path),
            body: login_body(&self.role, jwt),
        })
    }

    /// Reads the file into `latest` if it holds something, removing it when configured.
    fn take_file(&mut self) -> Result<Read, AuthError> {
        match std::fs::read_to_string(&self.path) {
            Ok(content) if content.is_empty() => Ok(Read::Empty),
            Ok(content) => {
                self.latest = Some(content);
                if self.remove_after_reading
                    && let Err(e) = std::fs::remove_file(&self.path)
                {
                    tracing::warn!(target: "auth.jwt", path = %self.path.display(), error = %e, "could not remove the JWT file after reading it");
                }
                Ok(Read::Taken)
            }
            Err(e) if e.kind() == ErrorKind::NotFound && self.latest.is_some() => Ok(Read::Absent),
            Err(source) => Err(AuthError::ReadFile {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// What a look at the JWT file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// A JWT, now in `latest` (and the file removed when configured).
    Taken,
    /// An empty file: `latest` is kept.
    Empty,
    /// No file, with a JWT read before: `latest` is kept.
    Absent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_for(path: &Path, remove: bool) -> Jwt {
        let cfg = serde_json::from_value(json!({
            "path": path.to_str().unwrap(), "role": "r",
            "remove_jwt_after_reading": if remove { "true" } else { "false" },
        }))
        .unwrap();
        Jwt::new("auth/jwt".into(), &cfg).unwrap()
    }

    #[test]
    fn requires_path_and_role() {
        let e = Jwt::new("auth/jwt".into(), &BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("'path'"), "{e}");
        let cfg = serde_json::from_value(json!({"path": "/x"})).unwrap();
        let e = Jwt::new("auth/jwt".into(), &cfg).unwrap_err();
        assert!(e.to_string().contains("'role'"), "{e}");
    }

    #[test]
    fn untrimmed_and_removed_by_default_then_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "eyJ.a.b\n").unwrap();
        let mut m = jwt_for(&path, true);
        let LoginRequest::Login { path: p, body } = m.login_request().unwrap() else {
            panic!()
        };
        assert_eq!(p, "auth/jwt/login");
        assert_eq!(body, json!({"role": "r", "jwt": "eyJ.a.b\n"}));
        assert!(!path.exists(), "the file is removed after reading");
        let LoginRequest::Login { body, .. } = m.login_request().unwrap() else {
            panic!()
        };
        assert_eq!(body["jwt"], "eyJ.a.b\n", "the cached JWT is reused");
        std::fs::write(&path, "newer").unwrap();
        let LoginRequest::Login { body, .. } = m.login_request().unwrap() else {
            panic!()
        };
        assert_eq!(body["jwt"], "newer");
    }

    #[test]
    fn a_change_seen_before_the_write_takes_nothing_then_the_write_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "first").unwrap();
        let mut m = jwt_for(&path, true);
        m.login_request().unwrap();
        // A writer created the file but has not written yet.
        std::fs::write(&path, "").unwrap();
        m.on_file_event(FileEvent::Changed);
        assert!(path.exists(), "an empty file is left for the writer");
        assert_eq!(m.latest.as_deref(), Some("first"));
        std::fs::write(&path, "second").unwrap();
        m.on_file_event(FileEvent::Changed);
        assert!(!path.exists(), "taken at once");
        assert_eq!(m.latest.as_deref(), Some("second"));
    }

    #[test]
    fn kept_when_configured_and_missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        let mut m = jwt_for(&path, false);
        let err = m.login_request().unwrap_err().to_string();
        assert!(err.contains(path.to_str().unwrap()), "{err}");
        std::fs::write(&path, "x.y.z").unwrap();
        m.login_request().unwrap();
        assert!(path.exists());
    }

    #[test]
    fn debug_hides_the_jwt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "SECRETJWT").unwrap();
        let mut m = jwt_for(&path, false);
        m.login_request().unwrap();
        assert!(!format!("{m:?}").contains("SECRETJWT"));
    }
}
