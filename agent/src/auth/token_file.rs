//! The `token_file` auth method (agent.md §3.2): no login, a `lookup-self` with the token read from a
//! file (trimmed). The file is never deleted; if it vanishes the last token read is reused, and with
//! none read yet the error names the file.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::AuthError;
use super::method::{LoginRequest, required_path};

/// The configured `token_file` method.
pub struct TokenFile {
    path: PathBuf,
    latest: Option<String>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    /// From the method config: `token_file_path` (required).
    pub fn new(config: &BTreeMap<String, Value>) -> Result<Self, AuthError> {
        Ok(Self {
            path: required_path(config, "token_file_path", "token_file")?,
            latest: None,
        })
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the token file now and asks for a lookup-self with it.
    pub fn login_request(&mut self) -> Result<LoginRequest, AuthError> {
        match std::fs::read_to_string(&self.path) {
            Ok(s) if !s.trim().is_empty() => self.latest = Some(s.trim().to_string()),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound && self.latest.is_some() => {
                tracing::warn!(target: "auth.token_file", path = %self.path.display(), "token file is gone, reusing the token read before");
            }
            Err(source) => {
                return Err(AuthError::ReadFile {
                    path: self.path.clone(),
                    source,
                });
            }
        }
        match &self.latest {
            Some(token) => Ok(LoginRequest::LookupSelf {
                token: token.clone(),
            }),
            None => Err(AuthError::EmptyFile {
                path: self.path.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_trims_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "hvs.abc\n").unwrap();
        let cfg =
            serde_json::from_value(json!({"token_file_path": path.to_str().unwrap()})).unwrap();
        let mut m = TokenFile::new(&cfg).unwrap();
        assert_eq!(
            m.login_request().unwrap(),
            LoginRequest::LookupSelf {
                token: "hvs.abc".into()
            }
        );
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            m.login_request().unwrap(),
            LoginRequest::LookupSelf { .. }
        ));
    }

    #[test]
    fn a_vanished_file_before_any_read_is_named() {
        let cfg = serde_json::from_value(json!({"token_file_path": "/nonexistent/tok"})).unwrap();
        let mut m = TokenFile::new(&cfg).unwrap();
        let e = m.login_request().unwrap_err().to_string();
        assert!(e.contains("/nonexistent/tok"), "{e}");
    }
}
