//! Errors of the Vault client. They name the method, the path and the address, and carry
//! Vault's own `errors` list; they never contain a token, a request body or a secret value.

/// An error talking to Vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// Vault answered with an error status.
    #[error("{method} {path}: Vault answered {status}{}", fmt_errors(.errors))]
    Status {
        method: String,
        path: String,
        status: u16,
        errors: Vec<String>,
    },
    /// Nothing listens at the address.
    #[error("{method} {path}: connection refused by {addr} (is Vault running there?)")]
    ConnectionRefused {
        method: String,
        path: String,
        addr: String,
    },
    /// The server's certificate did not verify.
    #[error("{method} {path}: TLS certificate of {addr} did not verify against {trust}: {reason}")]
    Certificate {
        method: String,
        path: String,
        addr: String,
        trust: String,
        reason: String,
    },
    /// Any other transport failure (DNS, reset, TLS handshake …).
    #[error("{method} {path}: cannot reach {addr}: {reason}")]
    Transport {
        method: String,
        path: String,
        addr: String,
        reason: String,
    },
    /// The request did not finish in time.
    #[error("{method} {path}: no answer from {addr} within {timeout:?}")]
    Timeout {
        method: String,
        path: String,
        addr: String,
        timeout: std::time::Duration,
    },
    /// Vault's answer was not the JSON we expect.
    #[error("{method} {path}: unexpected answer from Vault: {reason}")]
    Decode {
        method: String,
        path: String,
        reason: String,
    },
    /// A setting of the client is wrong (names the key and value).
    #[error("{0}")]
    Config(String),
}

impl VaultError {
    /// The HTTP status when Vault answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            VaultError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Vault's `errors` list (empty when Vault did not answer).
    pub fn vault_errors(&self) -> &[String] {
        match self {
            VaultError::Status { errors, .. } => errors,
            _ => &[],
        }
    }

    /// A 403 whose message says the token is invalid (expired or revoked under us).
    pub fn is_invalid_token(&self) -> bool {
        self.status() == Some(403)
            && self
                .vault_errors()
                .iter()
                .any(|e| e.contains("invalid token"))
    }
}

fn fmt_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}
