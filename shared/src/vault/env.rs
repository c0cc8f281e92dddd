//! The client's settings ([`ClientConfig`]) and Go's `strconv.ParseBool` for the boolean
//! `VAULT_*` variables. Reading the environment is the agent's job (its `connection` module).

use std::path::PathBuf;
use std::time::Duration;

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
    /// An explicit outbound proxy URL; `None` ⇒ from [`ClientConfig::proxy_env`] by Go's rules
    /// (see [`super::proxy`]).
    pub proxy: Option<String>,
    /// The proxy variables of the environment ([`super::proxy::PROXY_VARS`]), as the caller's
    /// settings step read them ([`super::proxy::capture`]); empty ⇒ no proxy. The client never
    /// reads the process environment itself.
    pub proxy_env: Vec<(String, String)>,
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
            proxy_env: Vec::new(),
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
            // Names only: a proxy URL may carry credentials.
            .field(
                "proxy_env",
                &self.proxy_env.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True 0 f F FALSE false False`, nothing else.
pub fn parse_go_bool(s: &str) -> Option<bool> {
    crate::go::strconv::parse_bool(s).ok()
}

impl ClientConfig {
    /// Whether requests go over TLS.
    pub fn is_https(&self) -> bool {
        self.address.starts_with("https://")
    }
}
