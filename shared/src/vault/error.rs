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

    /// Whether Vault's answer may mean the token sent is dead ([`suggests_dead_token`]); false
    /// when Vault did not answer.
    pub fn suggests_dead_token(&self) -> bool {
        self.status()
            .is_some_and(|s| suggests_dead_token(s, self.vault_errors()))
    }
}

/// Phrases in Vault's `errors` that, on a 400 or 401, speak of the token itself (lower case).
const TOKEN_PHRASES: &[&str] = &[
    "invalid token",
    "bad token",
    "missing client token",
    "token expired",
    "expired token",
];

/// Whether an answer with `status` and Vault's `errors` may mean that the token sent is dead
/// (revoked, expired, or unknown after a reset) — agent.md §3.6: any 403 (OpenBao says only
/// `permission denied`, the same words as a real denial; HashiCorp adds `invalid token`), and a
/// 400 or 401 whose text speaks of the token. It is only a suspicion: `lookup-self` decides.
pub fn suggests_dead_token(status: u16, errors: &[String]) -> bool {
    match status {
        403 => true,
        400 | 401 => errors.iter().any(|e| {
            let e = e.to_ascii_lowercase();
            TOKEN_PHRASES.iter().any(|p| e.contains(p))
        }),
        _ => false,
    }
}

fn fmt_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, errors: &[&str]) -> VaultError {
        VaultError::Status {
            method: "GET".into(),
            path: "secret/data/app".into(),
            status,
            errors: errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn which_answers_suggest_a_dead_token() {
        // OpenBao's dead token and a real denial look the same: both are suspects.
        assert!(status(403, &["permission denied"]).suggests_dead_token());
        assert!(status(403, &[]).suggests_dead_token());
        assert!(
            status(
                403,
                &["2 errors occurred:\n\t* permission denied\n\t* invalid token"]
            )
            .suggests_dead_token()
        );
        // 400/401 only when the text speaks of the token.
        assert!(status(400, &["Bad Token"]).suggests_dead_token());
        assert!(status(400, &["missing client token"]).suggests_dead_token());
        assert!(status(401, &["invalid token"]).suggests_dead_token());
        assert!(!status(400, &["missing 'role'"]).suggests_dead_token());
        assert!(!status(401, &[]).suggests_dead_token());
        // Anything else is not about the token.
        assert!(!status(404, &[]).suggests_dead_token());
        assert!(!status(500, &["invalid token"]).suggests_dead_token());
        assert!(!status(503, &["Vault is sealed"]).suggests_dead_token());
        let refused = VaultError::ConnectionRefused {
            method: "GET".into(),
            path: "p".into(),
            addr: "http://127.0.0.1:1".into(),
        };
        assert!(!refused.suggests_dead_token());
    }
}
