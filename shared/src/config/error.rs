//! `ConfigError`: every way a Vault Agent config can be refused, each naming the key path
//! (`auto_auth.method.min_backoff`, `template[2]`) and, where there is one, the offending value.

use std::path::PathBuf;

/// A config that cannot be loaded or does not validate.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value of the wrong shape or syntax: `auto_auth.method.min_backoff: "lots" is not a duration`.
    #[error("{path}: {value} is not {expected}")]
    InvalidValue {
        path: String,
        /// The offending value, rendered as JSON (strings quoted).
        value: String,
        expected: String,
    },
    /// A key that is not allowed here (strict blocks: `template`, `exec`, `env_template`).
    #[error("{path}: invalid key {key:?}")]
    UnknownKey { path: String, key: String },
    /// A required key is missing.
    #[error("{path}: missing required key {key:?}")]
    MissingKey { path: String, key: String },
    /// A rule about one stanza, with upstream's wording where upstream has one.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// A cross-field rule checked after merging (upstream's message, verbatim).
    #[error("{message}")]
    Rule { message: String },
    /// The text is not HCL1 / JSON.
    #[error("{origin}: syntax error: {message}")]
    Syntax { origin: String, message: String },
    /// A file or directory could not be read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An error inside one of several config files.
    #[error("error loading {path:?}: {source}", path = path.display().to_string())]
    File {
        path: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
    /// `VAULT_CONFIG` / `BAO_CONFIG` could not be decoded.
    #[error("{var}: {message}")]
    Env { var: String, message: String },
    /// A value that cannot be serialised (NaN or infinite float).
    #[error("{path}: {value} cannot be serialised as JSON")]
    Unserialisable { path: String, value: String },
}

impl ConfigError {
    pub(crate) fn invalid_value(path: &str, value: &serde_json::Value, expected: &str) -> Self {
        ConfigError::InvalidValue {
            path: path.to_string(),
            value: render_value(value),
            expected: expected.to_string(),
        }
    }

    pub(crate) fn invalid(path: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn rule(message: impl Into<String>) -> Self {
        ConfigError::Rule {
            message: message.into(),
        }
    }
}

/// Compact JSON text of a value, truncated so an error line stays readable.
pub(crate) fn render_value(v: &serde_json::Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "?".into());
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}
