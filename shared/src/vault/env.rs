//! The client's settings, and reading them from the `VAULT_*` environment (with `BAO_*`
//! aliases: a present `BAO_X` wins over `VAULT_X`, even when empty). Pure: the environment is a
//! lookup closure, so tests need no process environment.

use std::path::PathBuf;
use std::time::Duration;

use super::VaultError;
use crate::config::GoDuration;

/// How to reach Vault.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://127.0.0.1:8200` by default.
    pub address: String,
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    /// PEM text of CAs to trust (`VAULT_CACERT_BYTES`).
    pub ca_cert_bytes: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    /// Off unless the user turns it off explicitly.
    pub tls_skip_verify: bool,
    /// Sent as `X-Vault-Namespace` when non-empty.
    pub namespace: Option<String>,
    /// Per request, including reading the body (60 s).
    pub timeout: Duration,
    /// HTTP-level retries of one request (2 ⇒ up to 3 attempts).
    pub max_retries: u32,
    /// The retry sleep is `attempt × U[min, max]` (1 s, 1.5 s upstream).
    pub retry_wait_min: Duration,
    pub retry_wait_max: Duration,
    /// Idle connections kept per host (0 = no reuse).
    pub max_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// Cap on concurrent requests to the server (template_config.max_connections_per_host).
    pub max_connections_per_host: Option<usize>,
    /// How long a KV mount lookup is reused for later requests on the same path
    /// ([`super::client::MOUNT_TTL`], 5 min).
    pub mount_cache_ttl: Duration,
    /// An explicit outbound proxy URL; `None` ⇒ from the environment by Go's rules (see
    /// [`super::proxy`]).
    pub proxy: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            address: "https://127.0.0.1:8200".into(),
            ca_cert: None,
            ca_path: None,
            ca_cert_bytes: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            tls_skip_verify: false,
            namespace: None,
            timeout: Duration::from_secs(60),
            max_retries: 2,
            retry_wait_min: Duration::from_millis(1000),
            retry_wait_max: Duration::from_millis(1500),
            max_idle_per_host: 100,
            idle_timeout: Duration::from_secs(5),
            max_connections_per_host: None,
            mount_cache_ttl: super::client::MOUNT_TTL,
            proxy: None,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("address", &self.address)
            .field("ca_cert", &self.ca_cert)
            .field("ca_path", &self.ca_path)
            .field(
                "ca_cert_bytes",
                &self.ca_cert_bytes.as_ref().map(|_| "<pem>"),
            )
            .field("client_cert", &self.client_cert)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_skip_verify", &self.tls_skip_verify)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("proxy", &self.proxy.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True 0 f F FALSE false False`, nothing else.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    crate::go::strconv::parse_bool(s).ok()
}

impl ClientConfig {
    /// The defaults overridden by the environment: `VAULT_ADDR`, `VAULT_CACERT`, `VAULT_CAPATH`,
    /// `VAULT_CACERT_BYTES`, `VAULT_CLIENT_CERT`, `VAULT_CLIENT_KEY`, `VAULT_TLS_SERVER_NAME`,
    /// `VAULT_SKIP_VERIFY` (a real bool: quirk Q-A1 fixed), `VAULT_NAMESPACE`,
    /// `VAULT_CLIENT_TIMEOUT` (seconds or a Go duration), `VAULT_MAX_RETRIES`; each also as `BAO_*`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<ClientConfig, VaultError> {
        let get = |name: &str| -> Option<(String, String)> {
            let bao = format!("BAO_{name}");
            if let Some(v) = lookup(&bao) {
                return Some((bao, v));
            }
            let vault = format!("VAULT_{name}");
            lookup(&vault).map(|v| (vault, v))
        };
        let nonempty = |name: &str| get(name).filter(|(_, v)| !v.is_empty());
        let mut c = ClientConfig::default();
        if let Some((_, v)) = nonempty("ADDR") {
            c.address = v;
        }
        c.ca_cert = nonempty("CACERT").map(|(_, v)| v.into());
        c.ca_path = nonempty("CAPATH").map(|(_, v)| v.into());
        c.ca_cert_bytes = nonempty("CACERT_BYTES").map(|(_, v)| v);
        c.client_cert = nonempty("CLIENT_CERT").map(|(_, v)| v.into());
        c.client_key = nonempty("CLIENT_KEY").map(|(_, v)| v.into());
        c.tls_server_name = nonempty("TLS_SERVER_NAME").map(|(_, v)| v);
        c.namespace = nonempty("NAMESPACE").map(|(_, v)| v);
        if let Some((k, v)) = nonempty("SKIP_VERIFY") {
            c.tls_skip_verify = parse_go_bool(&v).ok_or_else(|| {
                VaultError::Config(format!("{k}: {v:?} is not a bool (use true or false)"))
            })?;
        }
        if let Some((k, v)) = nonempty("CLIENT_TIMEOUT") {
            c.timeout = GoDuration::parse_lenient(&v)
                .map_err(|_| {
                    VaultError::Config(format!(
                        "{k}: {v:?} is not a duration (seconds or e.g. 30s)"
                    ))
                })?
                .0;
        }
        if let Some((k, v)) = nonempty("MAX_RETRIES") {
            let n: i64 = v
                .parse()
                .map_err(|_| VaultError::Config(format!("{k}: {v:?} is not an integer")))?;
            c.max_retries = n.max(0) as u32;
        }
        Ok(c)
    }

    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.address.starts_with("https://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn defaults_without_environment() {
        let c = ClientConfig::from_env(env(&[])).unwrap();
        assert_eq!(c.address, "https://127.0.0.1:8200");
        assert!(!c.tls_skip_verify);
        assert_eq!(c.timeout, Duration::from_secs(60));
        assert_eq!(c.max_retries, 2);
    }

    #[test]
    fn skip_verify_is_a_real_bool() {
        let off = ClientConfig::from_env(env(&[("VAULT_SKIP_VERIFY", "false")])).unwrap();
        assert!(
            !off.tls_skip_verify,
            "upstream's quirk Q-A1 turned this on; we do not"
        );
        let on = ClientConfig::from_env(env(&[("VAULT_SKIP_VERIFY", "True")])).unwrap();
        assert!(on.tls_skip_verify);
        let bad = ClientConfig::from_env(env(&[("VAULT_SKIP_VERIFY", "yes")])).unwrap_err();
        assert_eq!(
            bad.to_string(),
            r#"VAULT_SKIP_VERIFY: "yes" is not a bool (use true or false)"#
        );
    }

    #[test]
    fn bao_alias_wins_even_when_empty() {
        let c = ClientConfig::from_env(env(&[
            ("VAULT_ADDR", "http://a:1"),
            ("BAO_ADDR", "http://b:2"),
        ]))
        .unwrap();
        assert_eq!(c.address, "http://b:2");
        let c = ClientConfig::from_env(env(&[("VAULT_NAMESPACE", "ns1"), ("BAO_NAMESPACE", "")]))
            .unwrap();
        assert_eq!(c.namespace, None);
    }

    #[test]
    fn timeout_and_retries() {
        let c = ClientConfig::from_env(env(&[
            ("VAULT_CLIENT_TIMEOUT", "15"),
            ("VAULT_MAX_RETRIES", "5"),
        ]))
        .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(15));
        assert_eq!(c.max_retries, 5);
        let c = ClientConfig::from_env(env(&[("VAULT_CLIENT_TIMEOUT", "1m30s")])).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(90));
        let e = ClientConfig::from_env(env(&[("VAULT_MAX_RETRIES", "x")])).unwrap_err();
        assert!(e.to_string().contains("VAULT_MAX_RETRIES: \"x\""));
    }
}
