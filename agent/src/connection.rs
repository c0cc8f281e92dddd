//! Where and how the agent reaches Vault (agent.md §1.1): the `vault` stanza, the `VAULT_*`/`BAO_*`
//! environment and the command-line flags merged as flag > env > stanza > default into a
//! [`Connection`], which turns into the shared client's [`ClientConfig`]. The only reader of the
//! connection variables; pure: the flags are plain values (the settings step maps the clap
//! arguments) and the environment is a lookup closure. Bottom layer: imports nothing from the agent.

use std::path::PathBuf;
use std::time::Duration;

use vaultlet_shared::config::GoDuration;
use vaultlet_shared::vault::{ClientConfig, parse_go_bool, proxy};

/// Default Vault address.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Where and how to reach Vault, after merging flags, env and the `vault` stanza.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub address: String,
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    /// PEM text from `VAULT_CACERT_BYTES`.
    pub ca_cert_bytes: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: bool,
    pub namespace: Option<String>,
    pub timeout: Duration,
    /// The outbound-proxy variables (`HTTPS_PROXY`, `NO_PROXY`, `VAULT_HTTP_PROXY`, …) as read at
    /// resolve time, for the client's proxy choice.
    pub proxy_env: Vec<(String, String)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("ca_cert", &self.ca_cert)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The `vault` stanza values that matter here (so this module does not depend on the config types).
#[derive(Debug, Clone, Default)]
pub struct StanzaValues {
    pub address: Option<String>,
    pub ca_cert: Option<String>,
    pub ca_path: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: Option<bool>,
    pub namespace: Option<String>,
}

/// The connection flags of `agent` and `token revoke` (`-address`, `-ca-cert`, …), as plain values;
/// each overrides its env twin and the stanza.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFlags {
    pub address: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: Option<bool>,
    pub namespace: Option<String>,
}

/// A connection setting the agent refuses (exit 64 before start-up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// `VAULT_SKIP_VERIFY` is not a Go bool.
    #[error("VAULT_SKIP_VERIFY: {0:?} is not a bool")]
    SkipVerify(String),
    /// `VAULT_CLIENT_TIMEOUT` is neither whole seconds nor a Go duration.
    #[error("VAULT_CLIENT_TIMEOUT: {0:?} is not a duration")]
    ClientTimeout(String),
}

/// Reads an env var the OpenBao way: a present `BAO_<name>` wins (even empty), else `VAULT_<name>`.
pub fn env_twin(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(&format!("BAO_{name}")).or_else(|| lookup(&format!("VAULT_{name}")))
}

/// Parses `VAULT_CLIENT_TIMEOUT` as upstream's client does (`parseutil.ParseDurationSecond`):
/// whole seconds (`60`) or a Go duration (`1m30s`, `500ms`, `2h`); the project's lenient config
/// rule (agent.md §1.3), which also takes `<n>d`.
pub fn parse_timeout(s: &str) -> Option<Duration> {
    GoDuration::parse_lenient(s.trim()).ok().map(|d| d.0)
}

impl Connection {
    /// The shared Vault client's settings for this connection (HTTP retries and pool from the
    /// client's defaults).
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            address: self.address.clone(),
            ca_cert: self.ca_cert.clone(),
            ca_path: self.ca_path.clone(),
            ca_cert_bytes: self.ca_cert_bytes.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            tls_server_name: self.tls_server_name.clone(),
            tls_skip_verify: self.tls_skip_verify,
            namespace: self.namespace.clone(),
            timeout: self.timeout,
            proxy_env: self.proxy_env.clone(),
            ..ClientConfig::default()
        }
    }

    /// Merges flag > env (`BAO_*` wins over `VAULT_*`) > stanza > default. Errors name the setting.
    pub fn resolve(
        flags: &ConnectionFlags,
        env: &impl Fn(&str) -> Option<String>,
        stanza: &StanzaValues,
    ) -> Result<Self, ConnectionError> {
        let pick = |flag: Option<String>, var: &str, conf: &Option<String>| {
            flag.or_else(|| env_twin(env, var).filter(|v| !v.is_empty()))
                .or_else(|| conf.clone().filter(|v| !v.is_empty()))
        };
        let path = |flag: &Option<PathBuf>| flag.as_ref().map(|p| p.to_string_lossy().into_owned());
        let skip = match (
            flags.tls_skip_verify,
            env_twin(env, "SKIP_VERIFY").filter(|v| !v.is_empty()),
        ) {
            (Some(b), _) => b,
            (None, Some(v)) => parse_go_bool(&v).ok_or(ConnectionError::SkipVerify(v))?,
            (None, None) => stanza.tls_skip_verify.unwrap_or(false),
        };
        let timeout = match env_twin(env, "CLIENT_TIMEOUT").filter(|v| !v.is_empty()) {
            Some(v) => parse_timeout(&v).ok_or(ConnectionError::ClientTimeout(v))?,
            None => Duration::from_secs(60),
        };
        Ok(Self {
            address: pick(flags.address.clone(), "ADDR", &stanza.address)
                .unwrap_or_else(|| DEFAULT_ADDRESS.to_string())
                .trim_end_matches('/')
                .to_string(),
            ca_cert: pick(path(&flags.ca_cert), "CACERT", &stanza.ca_cert).map(PathBuf::from),
            ca_path: pick(path(&flags.ca_path), "CAPATH", &stanza.ca_path).map(PathBuf::from),
            ca_cert_bytes: env_twin(env, "CACERT_BYTES").filter(|v| !v.is_empty()),
            client_cert: pick(path(&flags.client_cert), "CLIENT_CERT", &stanza.client_cert)
                .map(PathBuf::from),
            client_key: pick(path(&flags.client_key), "CLIENT_KEY", &stanza.client_key)
                .map(PathBuf::from),
            tls_server_name: pick(
                flags.tls_server_name.clone(),
                "TLS_SERVER_NAME",
                &stanza.tls_server_name,
            ),
            tls_skip_verify: skip,
            namespace: pick(flags.namespace.clone(), "NAMESPACE", &stanza.namespace),
            timeout,
            proxy_env: proxy::capture(env),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn proxy_variables_reach_the_client_config_and_nothing_else_does() {
        let e = env(&[
            ("HTTPS_PROXY", "http://proxy.internal:3128"),
            ("NO_PROXY", "vault.local"),
            ("HOME", "/home/vault"),
        ]);
        let c =
            Connection::resolve(&ConnectionFlags::default(), &e, &StanzaValues::default()).unwrap();
        let cfg = c.client_config();
        assert_eq!(
            cfg.proxy_env,
            vec![
                (
                    "HTTPS_PROXY".to_string(),
                    "http://proxy.internal:3128".to_string()
                ),
                ("NO_PROXY".to_string(), "vault.local".to_string()),
            ]
        );
    }

    #[test]
    fn precedence_flag_env_stanza_default() {
        let stanza = StanzaValues {
            address: Some("http://from-config:1".into()),
            namespace: Some("cfg/".into()),
            ..Default::default()
        };
        let none = ConnectionFlags::default();
        let c = Connection::resolve(&none, &env(&[]), &StanzaValues::default()).unwrap();
        assert_eq!(c.address, DEFAULT_ADDRESS);
        let c = Connection::resolve(&none, &env(&[]), &stanza).unwrap();
        assert_eq!(c.address, "http://from-config:1");
        assert_eq!(c.namespace.as_deref(), Some("cfg/"));
        let c =
            Connection::resolve(&none, &env(&[("VAULT_ADDR", "http://env:2/")]), &stanza).unwrap();
        assert_eq!(c.address, "http://env:2");
        let flags = ConnectionFlags {
            address: Some("http://flag:3".into()),
            ..Default::default()
        };
        let c =
            Connection::resolve(&flags, &env(&[("VAULT_ADDR", "http://env:2")]), &stanza).unwrap();
        assert_eq!(c.address, "http://flag:3");
    }

    #[test]
    fn skip_verify_is_a_real_bool() {
        let none = ConnectionFlags::default();
        let c = Connection::resolve(
            &none,
            &env(&[("VAULT_SKIP_VERIFY", "false")]),
            &StanzaValues::default(),
        )
        .unwrap();
        assert!(!c.tls_skip_verify, "quirk Q-A1 fixed");
        let e = Connection::resolve(
            &none,
            &env(&[("VAULT_SKIP_VERIFY", "nah")]),
            &StanzaValues::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), r#"VAULT_SKIP_VERIFY: "nah" is not a bool"#);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout("60"), Some(Duration::from_secs(60)));
        assert_eq!(parse_timeout("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("soon"), None);
        assert_eq!(parse_timeout("-5s"), None);
    }

    #[test]
    fn client_timeout_takes_go_durations_as_upstream() {
        // The bug of issue 14: `1m30s` (what the `client-timeout` annotation passes) was refused.
        let none = ConnectionFlags::default();
        let stanza = StanzaValues::default();
        let c = Connection::resolve(&none, &env(&[("VAULT_CLIENT_TIMEOUT", "1m30s")]), &stanza)
            .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(90));
        assert_eq!(c.client_config().timeout, Duration::from_secs(90));
        let c = Connection::resolve(
            &none,
            &env(&[
                ("BAO_CLIENT_TIMEOUT", "1.5s"),
                ("VAULT_CLIENT_TIMEOUT", "9"),
            ]),
            &stanza,
        )
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(1500), "BAO_ twin wins");
        let c = Connection::resolve(&none, &env(&[]), &stanza).unwrap();
        assert_eq!(c.timeout, Duration::from_secs(60), "default");
        let e = Connection::resolve(&none, &env(&[("VAULT_CLIENT_TIMEOUT", "soon")]), &stanza)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"VAULT_CLIENT_TIMEOUT: "soon" is not a duration"#
        );
    }

    #[test]
    fn bao_twin_wins_even_empty() {
        let env = |k: &str| match k {
            "BAO_LOG_LEVEL" => Some(String::new()),
            "VAULT_LOG_LEVEL" => Some("debug".into()),
            "VAULT_ADDR" => Some("a".into()),
            _ => None,
        };
        assert_eq!(env_twin(&env, "LOG_LEVEL").as_deref(), Some(""));
        assert_eq!(env_twin(&env, "ADDR").as_deref(), Some("a"));
        assert_eq!(env_twin(&env, "NONE"), None);
    }
}
