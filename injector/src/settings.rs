//! The validated settings the injector runs with (injector.md §6.1–6.2): [`Settings::from_cli`]
//! checks the parsed flags in upstream's order, with upstream's messages, and turns them into
//! typed values (log level, TLS versions and suites, the agent defaults of every annotation).

use vaultlet_shared::annotations::{AgentFlavor, InjectorDefaults};
use vaultlet_shared::config::GoDuration;

use crate::cli::{Flags, TlsFlags};

/// A startup failure: printed, then exit 1 (injector.md §6.2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct StartupError(pub String);

/// The validated settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub log_level: tracing::Level,
    pub log_json: bool,
    pub telemetry_path: Option<String>,
    pub use_leader_elector: bool,
    /// `-max-connections`: connections served at once (0: no limit).
    pub max_connections: usize,
    /// `-request-timeout`: TLS handshake, request headers, whole request.
    pub request_timeout: std::time::Duration,
    /// `-shutdown-delay`: serving on, not ready, between the signal and the drain.
    pub shutdown_delay: std::time::Duration,
    pub defaults: InjectorDefaults,
    pub tls: TlsSettings,
    /// `-kubeconfig` (None: in-cluster, else the default kubeconfig).
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `-namespace-defaults` (injector.md §2.7).
    pub namespace_defaults: bool,
    /// `-watch-escaped-pods` (injector.md §2.8).
    pub watch_escaped_pods: bool,
}

/// Where the serving certificate comes from, and how TLS is set up.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// `Some` ⇒ disk mode (cert, key).
    pub files: Option<(String, String)>,
    pub ca_file: Option<String>,
    /// `-tls-auto`: the webhook configuration whose caBundle is kept in sync.
    pub webhook_config: Option<String>,
    pub auto_hosts: Vec<String>,
    /// `-tls-auto-secret`, `-tls-auto-lease` (injector.md §6.5.1).
    pub secret: String,
    pub lease: String,
    /// `true` ⇒ TLS 1.3 only.
    pub tls13_only: bool,
    /// Requested TLS 1.2 suites that rustls has (empty ⇒ rustls' defaults).
    pub cipher_suites: Vec<rustls::SupportedCipherSuite>,
    /// Warnings to log once logging is up (dropped suites, tls10/tls11).
    pub warnings: Vec<String>,
}

impl Settings {
    /// Validates `f` in upstream's order (injector.md §6.2); the error is the line to print before exit 1.
    pub fn from_cli(f: Flags) -> Result<Settings, StartupError> {
        let a = f.agent;
        let err = |m: String| Err(StartupError(m));
        let max_conns: i64 = match a.template_max_connections_per_host.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                return err(format!(
                    "Error parsing environment variables: AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST: {:?} is not an integer",
                    a.template_max_connections_per_host
                ));
            }
        };
        let threshold: f64 = match a.template_lease_renewal_threshold.trim().parse() {
            Ok(n) => n,
            Err(_) => {
                return err(format!(
                    "Error parsing environment variables: AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD: {:?} is not a number",
                    a.template_lease_renewal_threshold
                ));
            }
        };
        let Some(flavor) = AgentFlavor::parse(&a.agent_flavor) else {
            return err(format!(
                "Error parsing environment variables: AGENT_INJECT_AGENT_FLAVOR: {:?} is not one of vaultlet, vault, openbao",
                a.agent_flavor
            ));
        };
        if a.native_sidecar && flavor != AgentFlavor::Vaultlet {
            // injector.md §4.10: only our agent answers the native sidecar's startup probe.
            return err(format!(
                "-native-sidecar needs the vaultlet agent flavor: the {} agent cannot answer the startup probe",
                a.agent_flavor
            ));
        }
        if a.cache_handoff && flavor != AgentFlavor::Vaultlet {
            // injector.md §3.4.1: the handoff is our agent's; an upstream agent's cache is left
            // as upstream's injector sets it up.
            return err(format!(
                "-cache-handoff needs the vaultlet agent flavor: with the {} agent, pods get the persistent cache from agent-cache-enable, as upstream's injector gives it",
                a.agent_flavor
            ));
        }
        if a.vault_address.is_empty() {
            return err("No Vault service configured".into());
        }
        if a.default_template != "map" && a.default_template != "json" {
            return err(format!("Invalid default flag type: {}", a.default_template));
        }
        for (flag, v) in [
            ("auth-min-backoff", &a.auth_min_backoff),
            ("auth-max-backoff", &a.auth_max_backoff),
        ] {
            if !v.is_empty() && GoDuration::parse_go(v).is_err() {
                return err(format!("Error parsing -{flag}: {v:?} is not a duration"));
            }
        }
        let Ok(max_connections) = f.server.max_connections.trim().parse::<usize>() else {
            return err(format!(
                "Error parsing -max-connections: {:?} is not an unsigned integer",
                f.server.max_connections
            ));
        };
        let request_timeout = match GoDuration::parse_go(f.server.request_timeout.trim()) {
            Ok(d) if !d.0.is_zero() => d.0,
            _ => {
                return err(format!(
                    "Error parsing -request-timeout: {:?} is not a positive duration",
                    f.server.request_timeout
                ));
            }
        };
        let Ok(shutdown_delay) = GoDuration::parse_go(f.server.shutdown_delay.trim()) else {
            return err(format!(
                "Error parsing -shutdown-delay: {:?} is not a duration",
                f.server.shutdown_delay
            ));
        };
        let log_level = parse_log_level(&f.server.log_level).ok_or_else(|| {
            StartupError(format!(
                "Error setting log level: unknown log level: {}",
                f.server.log_level
            ))
        })?;
        let tls = tls_settings(&f.tls)?;
        let [cpu_request, memory_request, cpu_limit, memory_limit] = flavor.resource_defaults();
        let defaults = InjectorDefaults {
            vault_address: a.vault_address,
            vault_image: if a.vault_image.is_empty() {
                flavor.default_image()
            } else {
                a.vault_image
            },
            vault_auth_type: a.vault_auth_type,
            vault_auth_path: a.vault_auth_path,
            vault_namespace: a.vault_namespace,
            vault_cacert_bytes: a.vault_cacert_bytes,
            proxy_address: a.proxy_address,
            revoke_on_shutdown: a.revoke_on_shutdown,
            run_as_user: a.run_as_user,
            run_as_group: a.run_as_group,
            run_as_same_user: a.run_as_same_user,
            set_security_context: a.set_security_context,
            default_template: a.default_template,
            cpu_request: a.cpu_request.unwrap_or_else(|| cpu_request.to_owned()),
            memory_request: a
                .memory_request
                .unwrap_or_else(|| memory_request.to_owned()),
            ephemeral_request: a.ephemeral_storage_request,
            cpu_limit: a.cpu_limit.unwrap_or_else(|| cpu_limit.to_owned()),
            memory_limit: a.memory_limit.unwrap_or_else(|| memory_limit.to_owned()),
            ephemeral_limit: a.ephemeral_storage_limit,
            template_config_exit_on_retry_failure: a.template_config_exit_on_retry_failure,
            template_static_secret_render_interval: a.template_static_secret_render_interval,
            template_max_connections_per_host: max_conns,
            template_lease_renewal_threshold: threshold,
            auth_min_backoff: a.auth_min_backoff,
            auth_max_backoff: a.auth_max_backoff,
            disable_idle_connections: a.disable_idle_connections,
            disable_keep_alives: a.disable_keep_alives,
            agent_flavor: flavor,
            native_sidecar: a.native_sidecar,
            cache_handoff: a.cache_handoff,
        };
        Ok(Settings {
            listen: f.server.listen,
            log_level,
            log_json: f.server.log_format == "json",
            telemetry_path: Some(f.server.telemetry_path).filter(|p| !p.is_empty()),
            use_leader_elector: f.server.use_leader_elector,
            max_connections,
            request_timeout,
            shutdown_delay: shutdown_delay.0,
            defaults,
            tls,
            kubeconfig: Some(f.kube.kubeconfig)
                .filter(|k| !k.is_empty())
                .map(Into::into),
            namespace_defaults: f.kube.namespace_defaults,
            watch_escaped_pods: f.kube.watch_escaped_pods,
        })
    }

    /// Where to listen: Go's `:8080` means every interface, IPv6 and IPv4 (injector.md §6.3.3).
    pub fn bind_address(&self) -> Result<Listen, StartupError> {
        let l = self.listen.trim();
        let bad = |e: &dyn std::fmt::Display| {
            StartupError(format!("Error listening: -listen {l:?}: {e}"))
        };
        match l.strip_prefix(':') {
            Some(port) => port.parse().map(Listen::AnyInterface).map_err(|e| bad(&e)),
            None => l.parse().map(Listen::Addr).map_err(|e| bad(&e)),
        }
    }
}

/// The `-listen` address, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// `:PORT`: `[::]` with IPv4 too (`IPV6_V6ONLY` off), `0.0.0.0` where the host has no IPv6.
    AnyInterface(u16),
    /// An explicit address, bound as given.
    Addr(std::net::SocketAddr),
}

/// The settings `vaultlet-injector render` previews with: the agent defaults and the log level,
/// validated by [`Settings::from_cli`] with the server's messages. The listener, TLS,
/// leader-election and telemetry flags are accepted (the server's command line works unchanged)
/// and not read: a preview serves nothing, so it needs no certificate and no Kubernetes API.
#[derive(Debug, Clone)]
pub struct PreviewSettings {
    /// What the review logs on stderr: its warnings and errors, and more only when `-log-level`
    /// asks for `debug` or `trace` (a preview's report is its output, not its log).
    pub log_level: tracing::Level,
    pub log_json: bool,
    pub defaults: InjectorDefaults,
}

impl PreviewSettings {
    /// The agent flags and `-log-level` of `f`, checked as the server checks them.
    pub fn from_cli(mut f: Flags) -> Result<PreviewSettings, StartupError> {
        // What only serving reads is reset to its default, so that it cannot fail a preview.
        f.tls = TlsFlags {
            tls_auto: String::new(),
            tls_auto_hosts: String::new(),
            tls_auto_secret: "vault-injector-certs".into(),
            tls_auto_lease: "vault-k8s-leader".into(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_ca_cert_file: String::new(),
            tls_min_version: "tls12".into(),
            tls_cipher_suites: String::new(),
        };
        f.server.use_leader_elector = false;
        let s = Settings::from_cli(f)?;
        let log_level = match s.log_level {
            l @ (tracing::Level::DEBUG | tracing::Level::TRACE) => l,
            _ => tracing::Level::WARN,
        };
        Ok(PreviewSettings {
            log_level,
            log_json: s.log_json,
            defaults: s.defaults,
        })
    }
}

/// hclog's level names, case-insensitive and trimmed; `""` is info.
pub fn parse_log_level(s: &str) -> Option<tracing::Level> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "trace" => tracing::Level::TRACE,
        "debug" => tracing::Level::DEBUG,
        "" | "info" | "notice" => tracing::Level::INFO,
        "warn" | "warning" => tracing::Level::WARN,
        "err" | "error" => tracing::Level::ERROR,
        _ => return None,
    })
}

/// Go's cipher suite names (injector.md §6.1) and the rustls suite for those rustls has.
const GO_SUITES: &[(&str, Option<rustls::CipherSuite>)] = {
    use rustls::CipherSuite as C;
    &[
        ("TLS_RSA_WITH_RC4_128_SHA", None),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
        ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
        ("TLS_RSA_WITH_AES_128_CBC_SHA256", None),
        ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
        ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
        ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
        ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
        ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
        ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", None),
        ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", None),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            Some(C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            Some(C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            Some(C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            Some(C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            Some(C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            Some(C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            Some(C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            Some(C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ),
        ("TLS_AES_128_GCM_SHA256", Some(C::TLS13_AES_128_GCM_SHA256)),
        ("TLS_AES_256_GCM_SHA384", Some(C::TLS13_AES_256_GCM_SHA384)),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            Some(C::TLS13_CHACHA20_POLY1305_SHA256),
        ),
    ]
};

fn tls_settings(t: &TlsFlags) -> Result<TlsSettings, StartupError> {
    let mut warnings = Vec::new();
    let tls13_only = match t.tls_min_version.as_str() {
        "tls12" => false,
        "tls13" => true,
        "tls10" | "tls11" => {
            warnings.push(format!(
                "-tls-min-version={}: rustls has no TLS below 1.2; using tls12",
                t.tls_min_version
            ));
            false
        }
        other => {
            return Err(StartupError(format!(
                "invalid or unsupported TLS version {other:?}"
            )));
        }
    };
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut cipher_suites = Vec::new();
    if !t.tls_cipher_suites.is_empty() {
        let mut dropped = Vec::new();
        for name in t.tls_cipher_suites.split(',').map(str::trim) {
            let Some((_, suite)) = GO_SUITES.iter().find(|(n, _)| *n == name) else {
                return Err(StartupError(format!(
                    "failed to parse TLS cipher suites list {:?}: unsupported cipher {name:?}",
                    t.tls_cipher_suites
                )));
            };
            match suite.and_then(|s| provider.cipher_suites.iter().find(|c| c.suite() == s)) {
                // As in Go, the list only restricts TLS 1.2; TLS 1.3 suites stay enabled.
                Some(c) if c.version() == &rustls::version::TLS12 => cipher_suites.push(*c),
                Some(_) => {}
                None => dropped.push(name.to_string()),
            }
        }
        if !dropped.is_empty() {
            warnings.push(format!(
                "-tls-cipher-suites: rustls does not implement {}; dropped",
                dropped.join(", ")
            ));
        }
        if cipher_suites.is_empty() {
            warnings.push(
                "-tls-cipher-suites: none of the requested TLS 1.2 suites is available; using rustls' defaults"
                    .into(),
            );
        }
    }
    let files = match (t.tls_cert_file.is_empty(), t.tls_key_file.is_empty()) {
        (true, true) => None,
        (false, false) => Some((t.tls_cert_file.clone(), t.tls_key_file.clone())),
        _ => {
            return Err(StartupError(
                "Failed to configure TLS: -tls-cert-file and -tls-key-file must be given together"
                    .into(),
            ));
        }
    };
    for (flag, name) in [
        ("-tls-auto-secret", &t.tls_auto_secret),
        ("-tls-auto-lease", &t.tls_auto_lease),
    ] {
        if name.trim().is_empty() {
            return Err(StartupError(format!(
                "Failed to configure TLS: {flag} must not be empty"
            )));
        }
    }
    Ok(TlsSettings {
        files,
        ca_file: Some(t.tls_ca_cert_file.clone()).filter(|s| !s.is_empty()),
        webhook_config: Some(t.tls_auto.clone()).filter(|s| !s.is_empty()),
        auto_hosts: t
            .tls_auto_hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(String::from)
            .collect(),
        secret: t.tls_auto_secret.trim().to_string(),
        lease: t.tls_auto_lease.trim().to_string(),
        tls13_only,
        cipher_suites,
        warnings,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::ffi::OsString;

    use crate::cli::{Invocation, parse};

    /// Parses `args` with the environment `env` and validates: the settings, or the error whose
    /// message is printed before exit (clap's or a [`StartupError`]).
    fn outcome(
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Settings, Box<dyn std::error::Error>> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.get(k).cloned();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(args, &lookup)? {
            Invocation::Version => panic!("`version` has no settings"),
            Invocation::Render(f) => Ok(Settings::from_cli(f.injector)?),
            Invocation::Serve(f) => Ok(Settings::from_cli(*f)?),
        }
    }

    /// The settings `args` and `env` give; panics with the message when they are refused.
    pub(crate) fn run(args: &[&str], env: &[(&str, &str)]) -> Settings {
        outcome(args, env).unwrap_or_else(|e| panic!("refused: {e}"))
    }

    /// The message `args` and `env` are refused with; panics when they are accepted.
    pub(crate) fn refusal(args: &[&str], env: &[(&str, &str)]) -> String {
        match outcome(args, env) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn secret_and_lease_names_default_to_vault_k8s_and_are_settable() {
        let base = [
            "vaultlet-injector",
            "agent-inject",
            "-vault-address=https://v:8200",
        ];
        let d = run(&base, &[]);
        assert_eq!(
            (d.tls.secret.as_str(), d.tls.lease.as_str()),
            ("vault-injector-certs", "vault-k8s-leader")
        );
        let set = run(
            &[&base[..], &["-tls-auto-secret=mine-certs"]].concat(),
            &[("AGENT_INJECT_TLS_AUTO_LEASE", "mine-leader")],
        );
        assert_eq!(
            (set.tls.secret.as_str(), set.tls.lease.as_str()),
            ("mine-certs", "mine-leader")
        );
        assert!(
            refusal(&[&base[..], &["-tls-auto-lease="]].concat(), &[])
                .contains("-tls-auto-lease must not be empty")
        );
    }

    #[test]
    fn resource_defaults_follow_the_flavor_unless_set() {
        let upstream = run(
            &[
                "vaultlet-injector",
                "agent-inject",
                "-vault-address=https://v:8200",
                "-agent-flavor=vault",
            ],
            &[],
        );
        assert_eq!(upstream.defaults.cpu_request, "250m");
        assert_eq!(upstream.defaults.memory_request, "64Mi");
        assert_eq!(upstream.defaults.cpu_limit, "500m");
        assert_eq!(upstream.defaults.memory_limit, "128Mi");
        let set = run(
            &[
                "vaultlet-injector",
                "agent-inject",
                "-vault-address=https://v:8200",
                "-cpu-request=",
                "-memory-limit=1Gi",
                "-native-sidecar",
            ],
            &[("AGENT_INJECT_CPU_LIMIT", "1")],
        );
        assert_eq!(
            set.defaults.cpu_request, "",
            "an explicit empty flag means none"
        );
        assert_eq!(set.defaults.memory_limit, "1Gi");
        assert_eq!(set.defaults.cpu_limit, "1");
        assert_eq!(set.defaults.memory_request, "16Mi");
        assert!(set.defaults.native_sidecar);
        assert_eq!(
            refusal(
                &[
                    "vaultlet-injector",
                    "agent-inject",
                    "-vault-address=https://v:8200",
                    "-agent-flavor=openbao",
                ],
                &[("AGENT_INJECT_NATIVE_SIDECAR", "true")],
            ),
            "-native-sidecar needs the vaultlet agent flavor: the openbao agent cannot answer the startup probe"
        );
    }

    #[test]
    fn cache_handoff_is_off_by_default_and_refused_for_an_upstream_agent() {
        let args = [
            "vaultlet-injector",
            "agent-inject",
            "-vault-address=https://v:8200",
        ];
        assert!(!run(&args, &[]).defaults.cache_handoff);
        assert!(
            run(&args, &[("AGENT_INJECT_CACHE_HANDOFF", "true")])
                .defaults
                .cache_handoff
        );
        let mut flag = args.to_vec();
        flag.push("-cache-handoff");
        assert!(run(&flag, &[]).defaults.cache_handoff);
        flag.push("-agent-flavor=vault");
        assert_eq!(
            refusal(&flag, &[]),
            "-cache-handoff needs the vaultlet agent flavor: with the vault agent, pods get the persistent cache from agent-cache-enable, as upstream's injector gives it"
        );
    }

    #[test]
    fn upstream_defaults() {
        let s = run(
            &[
                "vaultlet-injector",
                "agent-inject",
                "-vault-address=https://v:8200",
            ],
            &[],
        );
        assert_eq!(s.listen, ":8080");
        assert_eq!(s.defaults.vault_auth_path, "auth/kubernetes");
        // Our flavor's resources (injector.md §4.5); upstream's flavors keep upstream's.
        assert_eq!(
            [
                s.defaults.cpu_request.as_str(),
                &s.defaults.memory_request,
                &s.defaults.cpu_limit,
                &s.defaults.memory_limit
            ],
            ["10m", "16Mi", "200m", "64Mi"]
        );
        assert!(!s.defaults.native_sidecar);
        assert_eq!(s.defaults.run_as_user, "100");
        assert!(s.defaults.set_security_context);
        assert!(s.defaults.template_config_exit_on_retry_failure);
        assert_eq!(s.defaults.agent_flavor, AgentFlavor::Vaultlet);
        assert!(s.defaults.vault_image.starts_with("vaultlet/vaultlet:"));
        assert!(s.tls.files.is_none());
        assert_eq!(s.telemetry_path, None);
        assert_eq!(s.bind_address().unwrap(), Listen::AnyInterface(8080));
        assert_eq!(s.shutdown_delay, std::time::Duration::from_secs(5));
    }

    #[test]
    fn server_bounds_default_and_are_set_by_flag_or_environment() {
        let base = ["x", "agent-inject", "-vault-address=a"];
        let s = run(&base, &[]);
        assert_eq!(s.max_connections, 1024);
        assert_eq!(s.request_timeout, std::time::Duration::from_secs(10));
        let s = run(
            &[
                &base[..],
                &["-max-connections=3", "-request-timeout=1500ms"],
            ]
            .concat(),
            &[],
        );
        assert_eq!(s.max_connections, 3);
        assert_eq!(s.request_timeout, std::time::Duration::from_millis(1500));
        let s = run(
            &base,
            &[
                ("AGENT_INJECT_MAX_CONNECTIONS", "0"),
                ("AGENT_INJECT_REQUEST_TIMEOUT", "1m"),
            ],
        );
        assert_eq!(s.max_connections, 0);
        assert_eq!(s.request_timeout, std::time::Duration::from_secs(60));
        assert_eq!(
            refusal(&[&base[..], &["-max-connections=-1"]].concat(), &[]),
            "Error parsing -max-connections: \"-1\" is not an unsigned integer"
        );
        for bad in ["0s", "10", "soon"] {
            assert_eq!(
                refusal(&base, &[("AGENT_INJECT_REQUEST_TIMEOUT", bad)]),
                format!("Error parsing -request-timeout: {bad:?} is not a positive duration")
            );
        }
    }

    #[test]
    fn listen_addresses_and_shutdown_delay() {
        let base = ["x", "-vault-address=a"];
        let listen =
            |l: &str| run(&[&base[..], &[&format!("-listen={l}")]].concat(), &[]).bind_address();
        assert_eq!(listen(":9443"), Ok(Listen::AnyInterface(9443)));
        assert_eq!(
            listen("127.0.0.1:9443"),
            Ok(Listen::Addr("127.0.0.1:9443".parse().unwrap()))
        );
        assert_eq!(
            listen("[::1]:9443"),
            Ok(Listen::Addr("[::1]:9443".parse().unwrap()))
        );
        assert!(
            listen(":http")
                .unwrap_err()
                .0
                .starts_with("Error listening: -listen \":http\": ")
        );
        assert!(listen("localhost").is_err());
        let s = run(&[&base[..], &["-shutdown-delay=0"]].concat(), &[]);
        assert_eq!(s.shutdown_delay, std::time::Duration::ZERO);
        let s = run(&base, &[("AGENT_INJECT_SHUTDOWN_DELAY", "1m30s")]);
        assert_eq!(s.shutdown_delay, std::time::Duration::from_secs(90));
        assert_eq!(
            refusal(&[&base[..], &["-shutdown-delay=soon"]].concat(), &[]),
            "Error parsing -shutdown-delay: \"soon\" is not a duration"
        );
    }

    #[test]
    fn startup_errors_carry_upstreams_messages() {
        assert_eq!(refusal(&["x"], &[]), "No Vault service configured");
        assert_eq!(
            refusal(&["x", "-vault-address=a", "-default-template=JSON"], &[]),
            "Invalid default flag type: JSON"
        );
        assert_eq!(
            refusal(&["x", "-vault-address=a", "-tls-min-version=tls14"], &[]),
            "invalid or unsupported TLS version \"tls14\""
        );
        assert_eq!(
            refusal(
                &["x", "-vault-address=a", "-tls-cipher-suites=TLS_FOO"],
                &[]
            ),
            "failed to parse TLS cipher suites list \"TLS_FOO\": unsupported cipher \"TLS_FOO\""
        );
        assert_eq!(
            refusal(&["x", "-vault-address=a", "-log-level=loud"], &[]),
            "Error setting log level: unknown log level: loud"
        );
        let e = refusal(
            &["x", "-vault-address=a"],
            &[("AGENT_INJECT_RUN_AS_SAME_USER", "yes")],
        );
        assert!(e.contains("yes"), "{e}");
        let e = refusal(
            &["x", "-vault-address=a"],
            &[("AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST", "many")],
        );
        assert!(
            e.contains("AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST"),
            "{e}"
        );
        let e = refusal(&["x", "-bogus=1"], &[]);
        assert!(e.contains("flag provided but not defined: -bogus"), "{e}");
        let e = refusal(&["x", "-vault-address=a", "-auth-min-backoff=5"], &[]);
        assert!(e.contains("-auth-min-backoff"), "{e}");
    }

    #[test]
    fn a_preview_checks_the_agent_flags_and_ignores_what_serving_reads() {
        let preview = |args: &[&str]| {
            let mut argv = vec![OsString::from("x"), OsString::from("render")];
            argv.extend(args.iter().map(OsString::from));
            match parse(argv, &|_| None).unwrap() {
                Invocation::Render(f) => PreviewSettings::from_cli(f.injector),
                other => panic!("not render: {other:?}"),
            }
        };
        let s = preview(&[
            "-f=p.yaml",
            "-vault-address=https://v",
            "-tls-cert-file=/no/such/cert.pem",
            "-tls-min-version=tls99",
            "-tls-cipher-suites=NONE",
            "-use-leader-elector",
            "-log-level=debug",
            "-agent-flavor=openbao",
        ])
        .unwrap();
        assert_eq!(s.log_level, tracing::Level::DEBUG);
        assert_eq!(s.defaults.vault_address, "https://v");
        let quiet = preview(&["-f=p.yaml", "-vault-address=a", "-log-format=json"]).unwrap();
        assert_eq!(
            quiet.log_level,
            tracing::Level::WARN,
            "info shows warnings only"
        );
        assert!(quiet.log_json);
        assert_eq!(s.defaults.agent_flavor, AgentFlavor::Openbao);
        let e = preview(&["-f=p.yaml"]).unwrap_err();
        assert_eq!(e.to_string(), "No Vault service configured");
        let e = preview(&["-f=p.yaml", "-vault-address=a", "-default-template=yaml"]).unwrap_err();
        assert_eq!(e.to_string(), "Invalid default flag type: yaml");
        let e = preview(&["-f=p.yaml", "-vault-address=a", "-log-level=loud"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error setting log level: unknown log level: loud"
        );
    }

    #[test]
    fn cipher_suites_keep_what_rustls_has_and_warn_about_the_rest() {
        let s = run(
            &[
                "x",
                "-vault-address=a",
                "-tls-cipher-suites=TLS_RSA_WITH_RC4_128_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA256",
                "-tls-min-version=tls10",
            ],
            &[],
        );
        assert_eq!(s.tls.cipher_suites.len(), 1);
        assert!(!s.tls.tls13_only);
        assert_eq!(s.tls.warnings.len(), 2, "{:?}", s.tls.warnings);
    }
}
