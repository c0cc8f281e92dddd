//! Injector-wide settings (the flags/env of injector.md §6.1) that feed annotation defaults.

/// Which agent the injected containers run (env `AGENT_INJECT_AGENT_FLAVOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentFlavor {
    /// Our own agent: no shell, `vaultlet-agent agent`, config in `VAULT_CONFIG`.
    #[default]
    Vaultlet,
    /// Upstream Vault image: `/bin/sh -ec` + `vault agent`.
    Vault,
    /// OpenBao image: `/bin/sh -ec` + `bao agent`, config in `BAO_CONFIG`.
    Openbao,
}

impl AgentFlavor {
    /// Parse `vaultlet`, `vault` or `openbao` (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "vaultlet" | "" => Some(Self::Vaultlet),
            "vault" => Some(Self::Vault),
            "openbao" | "bao" => Some(Self::Openbao),
            _ => None,
        }
    }

    /// Default resources of the injected containers, `[cpu request, memory request, cpu limit,
    /// memory limit]` (injector.md §4.5): upstream's for upstream's agents; for ours, sized from
    /// its measured peak RSS (~2 MiB for a Consul-style pod, ~6 MiB at 100 templates,
    /// docs/injector.md, "Resource defaults").
    pub fn resource_defaults(self) -> [&'static str; 4] {
        match self {
            Self::Vaultlet => ["10m", "16Mi", "200m", "64Mi"],
            Self::Vault | Self::Openbao => ["250m", "64Mi", "500m", "128Mi"],
        }
    }

    /// The default agent image for this flavor.
    pub fn default_image(self) -> String {
        match self {
            Self::Vaultlet => format!("vaultlet/vaultlet:{}", env!("CARGO_PKG_VERSION")),
            Self::Vault => "hashicorp/vault:2.0.4".to_owned(),
            Self::Openbao => "openbao/openbao:2.4.1".to_owned(),
        }
    }
}

/// Injector-wide settings; each field is one flag/env of injector.md §6.1 (see field docs).
#[derive(Debug, Clone, PartialEq)]
pub struct InjectorDefaults {
    /// `-vault-address` / `AGENT_INJECT_VAULT_ADDR` (required; empty ⇒ every injection refused).
    pub vault_address: String,
    /// `-vault-image` / `AGENT_INJECT_VAULT_IMAGE`; default [`AgentFlavor::default_image`].
    pub vault_image: String,
    /// `-vault-auth-type` / `AGENT_INJECT_VAULT_AUTH_TYPE` (`kubernetes`; empty ⇒ `kubernetes`).
    pub vault_auth_type: String,
    /// `-vault-auth-path` / `AGENT_INJECT_VAULT_AUTH_PATH` (`auth/kubernetes`).
    pub vault_auth_path: String,
    /// `-vault-namespace` / `AGENT_INJECT_VAULT_NAMESPACE`.
    pub vault_namespace: String,
    /// `-vault-cacert-bytes` / `AGENT_INJECT_VAULT_CACERT_BYTES` (PEM, optionally base64).
    pub vault_cacert_bytes: String,
    /// `-proxy-address` / `AGENT_INJECT_PROXY_ADDR`.
    pub proxy_address: String,
    /// `-revoke-on-shutdown` / `AGENT_INJECT_REVOKE_ON_SHUTDOWN` (false).
    pub revoke_on_shutdown: bool,
    /// `-run-as-user` / `AGENT_INJECT_RUN_AS_USER` (`100`; string, empty ⇒ `100`).
    pub run_as_user: String,
    /// `-run-as-group` / `AGENT_INJECT_RUN_AS_GROUP` (`1000`; empty ⇒ `1000`).
    pub run_as_group: String,
    /// `-run-as-same-user` / `AGENT_INJECT_RUN_AS_SAME_USER` (false).
    pub run_as_same_user: bool,
    /// `-set-security-context` / `AGENT_INJECT_SET_SECURITY_CONTEXT` (true).
    pub set_security_context: bool,
    /// `-default-template` / `AGENT_INJECT_DEFAULT_TEMPLATE` (`map` or `json`).
    pub default_template: String,
    /// `-cpu-request` / `AGENT_INJECT_CPU_REQUEST` (`250m`).
    pub cpu_request: String,
    /// `-memory-request` / `AGENT_INJECT_MEM_REQUEST` (`64Mi`).
    pub memory_request: String,
    /// `-ephemeral-storage-request` / `AGENT_INJECT_EPHEMERAL_REQUEST` (`""`).
    pub ephemeral_request: String,
    /// `-cpu-limit` / `AGENT_INJECT_CPU_LIMIT` (`500m`).
    pub cpu_limit: String,
    /// `-memory-limit` / `AGENT_INJECT_MEM_LIMIT` (`128Mi`).
    pub memory_limit: String,
    /// `-ephemeral-storage-limit` / `AGENT_INJECT_EPHEMERAL_LIMIT` (`""`).
    pub ephemeral_limit: String,
    /// `-template-config-exit-on-retry-failure` / `AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE` (true).
    pub template_config_exit_on_retry_failure: bool,
    /// `-template-static-secret-render-interval` / `AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL`.
    pub template_static_secret_render_interval: String,
    /// `AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST` (0).
    pub template_max_connections_per_host: i64,
    /// `AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD` (0 = unset). injector.md §0: Q10 fixed, defaults the annotation.
    pub template_lease_renewal_threshold: f64,
    /// `-auth-min-backoff` / `AGENT_INJECT_AUTH_MIN_BACKOFF` (Go duration or `""`).
    pub auth_min_backoff: String,
    /// `-auth-max-backoff` / `AGENT_INJECT_AUTH_MAX_BACKOFF`.
    pub auth_max_backoff: String,
    /// `-disable-idle-connections` / `AGENT_INJECT_DISABLE_IDLE_CONNECTIONS` (csv).
    pub disable_idle_connections: String,
    /// `-disable-keep-alives` / `AGENT_INJECT_DISABLE_KEEP_ALIVES` (csv).
    pub disable_keep_alives: String,
    /// `AGENT_INJECT_AGENT_FLAVOR` (`vaultlet` default, `vault`, `openbao`).
    pub agent_flavor: AgentFlavor,
    /// `-native-sidecar` / `AGENT_INJECT_NATIVE_SIDECAR` (false; extension, injector.md §4.10).
    pub native_sidecar: bool,
    /// `-cache-handoff` / `AGENT_INJECT_CACHE_HANDOFF` (false; extension, injector.md §3.4.1).
    pub cache_handoff: bool,
}

impl Default for InjectorDefaults {
    fn default() -> Self {
        Self::for_flavor(AgentFlavor::Vaultlet)
    }
}

impl InjectorDefaults {
    /// Upstream's flag defaults with the given flavor's image and resources (vault address left
    /// empty).
    pub fn for_flavor(flavor: AgentFlavor) -> Self {
        Self {
            vault_address: String::new(),
            vault_image: flavor.default_image(),
            vault_auth_type: "kubernetes".into(),
            vault_auth_path: "auth/kubernetes".into(),
            vault_namespace: String::new(),
            vault_cacert_bytes: String::new(),
            proxy_address: String::new(),
            revoke_on_shutdown: false,
            run_as_user: "100".into(),
            run_as_group: "1000".into(),
            run_as_same_user: false,
            set_security_context: true,
            default_template: "map".into(),
            cpu_request: flavor.resource_defaults()[0].into(),
            memory_request: flavor.resource_defaults()[1].into(),
            ephemeral_request: String::new(),
            cpu_limit: flavor.resource_defaults()[2].into(),
            memory_limit: flavor.resource_defaults()[3].into(),
            ephemeral_limit: String::new(),
            template_config_exit_on_retry_failure: true,
            template_static_secret_render_interval: String::new(),
            template_max_connections_per_host: 0,
            template_lease_renewal_threshold: 0.0,
            auth_min_backoff: String::new(),
            auth_max_backoff: String::new(),
            disable_idle_connections: String::new(),
            disable_keep_alives: String::new(),
            agent_flavor: flavor,
            native_sidecar: false,
            cache_handoff: false,
        }
    }
}
