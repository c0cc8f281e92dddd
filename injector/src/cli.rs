//! The command line of `vaultlet-injector` (injector.md §6.1–6.2): `[agent-inject|version]
//! [flags]` with upstream's flags, `AGENT_INJECT_*` environment variables and defaults.
//!
//! clap holds the flags, their env twins and defaults; a small pre-pass adapts Go's `flag` package
//! conventions clap does not have:
//! - single-dash long flags (`-listen=:8080`, `-listen :8080`, bare booleans `-use-leader-elector`);
//! - parsing stops at the first argument that is not a flag and ignores the rest, so the Helm
//!   chart's literal `2>&1` argument is harmless;
//! - an environment variable set to a non-empty value **overrides** the flag (upstream applies the
//!   environment after the flags; clap's own precedence is the reverse, so the pre-pass drops such
//!   flags and lets clap read the variable).
//!
//! [`Settings::from_cli`] then validates in upstream's order with upstream's messages.

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Parser};
use vaultlet_shared::annotations::{AgentFlavor, InjectorDefaults};
use vaultlet_shared::config::GoDuration;

/// Go's `strconv.ParseBool` (injector.md §1.1).
pub fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!(
            "strconv.ParseBool: parsing {other:?}: invalid syntax"
        )),
    }
}

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Invocation {
    /// `version`: print `vaultlet-injector <version>`.
    Version,
    /// `agent-inject` (or no subcommand): run the webhook.
    Serve(Box<Flags>),
}

/// Every flag of §6.1 (and the env-only settings), as given.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "vaultlet-injector",
    about = "vaultlet's Vault Agent Injector (mutating admission webhook)",
    disable_version_flag = true
)]
pub struct Flags {
    #[command(flatten)]
    pub server: ServerFlags,
    #[command(flatten)]
    pub agent: AgentFlags,
    #[command(flatten)]
    pub tls: TlsFlags,
}

/// The server itself.
#[derive(Debug, Clone, Args)]
pub struct ServerFlags {
    /// HTTPS listen address.
    #[arg(long, env = "AGENT_INJECT_LISTEN", default_value = ":8080")]
    pub listen: String,
    /// trace, debug, info, notice, warn, warning, err, error.
    #[arg(long, env = "AGENT_INJECT_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// `json` for JSON logs, anything else for text.
    #[arg(long, env = "AGENT_INJECT_LOG_FORMAT", default_value = "standard")]
    pub log_format: String,
    /// Serve Prometheus metrics at this path (empty: no metrics).
    #[arg(long, env = "AGENT_INJECT_TELEMETRY_PATH", default_value = "")]
    pub telemetry_path: String,
    /// Coordinate auto-TLS between replicas (a coordination.k8s.io/v1 Lease).
    #[arg(long, env = "AGENT_INJECT_USE_LEADER_ELECTOR", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub use_leader_elector: bool,
}

/// Defaults of the injected agent (each also an annotation).
#[derive(Debug, Clone, Args)]
pub struct AgentFlags {
    /// Vault address (required).
    #[arg(long, env = "AGENT_INJECT_VAULT_ADDR", default_value = "")]
    pub vault_address: String,
    /// Agent image (empty: the flavor's default image).
    #[arg(long, env = "AGENT_INJECT_VAULT_IMAGE", default_value = "")]
    pub vault_image: String,
    #[arg(
        long,
        env = "AGENT_INJECT_VAULT_AUTH_TYPE",
        default_value = "kubernetes"
    )]
    pub vault_auth_type: String,
    #[arg(
        long,
        env = "AGENT_INJECT_VAULT_AUTH_PATH",
        default_value = "auth/kubernetes"
    )]
    pub vault_auth_path: String,
    #[arg(long, env = "AGENT_INJECT_VAULT_NAMESPACE", default_value = "")]
    pub vault_namespace: String,
    #[arg(long, env = "AGENT_INJECT_VAULT_CACERT_BYTES", default_value = "")]
    pub vault_cacert_bytes: String,
    #[arg(long, env = "AGENT_INJECT_PROXY_ADDR", default_value = "")]
    pub proxy_address: String,
    #[arg(long, env = "AGENT_INJECT_REVOKE_ON_SHUTDOWN", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub revoke_on_shutdown: bool,
    #[arg(long, env = "AGENT_INJECT_RUN_AS_USER", default_value = "100")]
    pub run_as_user: String,
    #[arg(long, env = "AGENT_INJECT_RUN_AS_GROUP", default_value = "1000")]
    pub run_as_group: String,
    #[arg(long, env = "AGENT_INJECT_RUN_AS_SAME_USER", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub run_as_same_user: bool,
    #[arg(long, env = "AGENT_INJECT_SET_SECURITY_CONTEXT", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub set_security_context: bool,
    /// `map` or `json`.
    #[arg(long, env = "AGENT_INJECT_DEFAULT_TEMPLATE", default_value = "map")]
    pub default_template: String,
    #[arg(long, env = "AGENT_INJECT_CPU_REQUEST", default_value = "250m")]
    pub cpu_request: String,
    #[arg(long, env = "AGENT_INJECT_MEM_REQUEST", default_value = "64Mi")]
    pub memory_request: String,
    #[arg(long, env = "AGENT_INJECT_EPHEMERAL_REQUEST", default_value = "")]
    pub ephemeral_storage_request: String,
    #[arg(long, env = "AGENT_INJECT_CPU_LIMIT", default_value = "500m")]
    pub cpu_limit: String,
    #[arg(long, env = "AGENT_INJECT_MEM_LIMIT", default_value = "128Mi")]
    pub memory_limit: String,
    #[arg(long, env = "AGENT_INJECT_EPHEMERAL_LIMIT", default_value = "")]
    pub ephemeral_storage_limit: String,
    #[arg(long, env = "AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub template_config_exit_on_retry_failure: bool,
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL",
        default_value = ""
    )]
    pub template_static_secret_render_interval: String,
    /// Env only upstream (no flag there); the flag is ours.
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST",
        default_value = "0",
        hide = true
    )]
    pub template_max_connections_per_host: String,
    /// Env only upstream (no flag there); the flag is ours.
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD",
        default_value = "0",
        hide = true
    )]
    pub template_lease_renewal_threshold: String,
    #[arg(long, env = "AGENT_INJECT_AUTH_MIN_BACKOFF", default_value = "")]
    pub auth_min_backoff: String,
    #[arg(long, env = "AGENT_INJECT_AUTH_MAX_BACKOFF", default_value = "")]
    pub auth_max_backoff: String,
    #[arg(
        long,
        env = "AGENT_INJECT_DISABLE_IDLE_CONNECTIONS",
        default_value = ""
    )]
    pub disable_idle_connections: String,
    #[arg(long, env = "AGENT_INJECT_DISABLE_KEEP_ALIVES", default_value = "")]
    pub disable_keep_alives: String,
    /// vaultlet (our agent, no shell), vault or openbao (upstream's shell form).
    #[arg(long, env = "AGENT_INJECT_AGENT_FLAVOR", default_value = "vaultlet")]
    pub agent_flavor: String,
}

/// The serving certificate.
#[derive(Debug, Clone, Args)]
pub struct TlsFlags {
    /// MutatingWebhookConfiguration whose webhooks[0] caBundle is kept in sync.
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO", default_value = "")]
    pub tls_auto: String,
    /// Comma-separated SANs of the generated certificate.
    #[arg(long, env = "AGENT_INJECT_TLS_AUTO_HOSTS", default_value = "")]
    pub tls_auto_hosts: String,
    #[arg(long, env = "AGENT_INJECT_TLS_CERT_FILE", default_value = "")]
    pub tls_cert_file: String,
    #[arg(long, env = "AGENT_INJECT_TLS_KEY_FILE", default_value = "")]
    pub tls_key_file: String,
    #[arg(long, env = "AGENT_INJECT_TLS_CA_CERT_FILE", default_value = "")]
    pub tls_ca_cert_file: String,
    /// tls10, tls11, tls12 or tls13 (rustls has no TLS below 1.2: tls10/tls11 mean tls12).
    #[arg(long, env = "AGENT_INJECT_TLS_MIN_VERSION", default_value = "tls12")]
    pub tls_min_version: String,
    /// Comma-separated Go cipher suite names (TLS 1.0–1.2 only).
    #[arg(long, env = "AGENT_INJECT_TLS_CIPHER_SUITES", default_value = "")]
    pub tls_cipher_suites: String,
}

/// A startup failure: printed, then exit 1 (§6.2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct StartupError(pub String);

/// Parses `args` (with argv[0]) reading the environment through `env`.
pub fn parse(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Invocation, clap::Error> {
    let mut rest = args.into_iter();
    let argv0 = rest.next().unwrap_or_else(|| "vaultlet-injector".into());
    let mut rest: Vec<OsString> = rest.collect();
    match rest.first().and_then(|a| a.to_str()) {
        Some("version") => return Ok(Invocation::Version),
        Some("agent-inject") => {
            rest.remove(0);
        }
        _ => {}
    }
    let cmd = Flags::command();
    let mut argv = vec![argv0];
    argv.extend(go_flags(&cmd, rest, env)?);
    let matches = cmd.try_get_matches_from(argv)?;
    Flags::from_arg_matches(&matches).map(|f| Invocation::Serve(Box::new(f)))
}

/// Turns Go-style arguments into clap's `--name=value` form, stopping at the first non-flag,
/// dropping flags whose environment variable is set, and appending those variables' values (the
/// environment wins).
fn go_flags(
    cmd: &clap::Command,
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<OsString>, clap::Error> {
    let mut out = Vec::new();
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        let Some(s) = arg.to_str() else { break };
        if s == "--" || !s.starts_with('-') || s == "-" {
            break; // Go's flag package stops here; the rest (e.g. `2>&1`) is ignored.
        }
        let body = s.trim_start_matches('-');
        if s.starts_with("---") || body.is_empty() {
            return Err(cmd.clone().error(
                clap::error::ErrorKind::UnknownArgument,
                format!("bad flag syntax: {s}"),
            ));
        }
        if matches!(body, "h" | "help") {
            out.push(OsString::from("--help"));
            continue;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(def) = cmd.get_arguments().find(|a| a.get_long() == Some(name)) else {
            return Err(cmd.clone().error(
                clap::error::ErrorKind::UnknownArgument,
                format!("flag provided but not defined: -{name}"),
            ));
        };
        let is_bool = def.get_num_args().is_some_and(|r| r.min_values() == 0);
        let value = match value {
            Some(v) => Some(v),
            None if is_bool => None,
            None => match it.next().and_then(|v| v.into_string().ok()) {
                Some(v) => Some(v),
                None => {
                    return Err(cmd.clone().error(
                        clap::error::ErrorKind::InvalidValue,
                        format!("flag needs an argument: -{name}"),
                    ));
                }
            },
        };
        let env_set = def
            .get_env()
            .and_then(|e| e.to_str())
            .and_then(env)
            .is_some_and(|v| !v.is_empty());
        if env_set {
            continue;
        }
        out.push(OsString::from(match value {
            Some(v) => format!("--{name}={v}"),
            None => format!("--{name}"),
        }));
    }
    // The environment, read through `env` (not by clap) so the precedence above holds and tests
    // do not depend on the process environment.
    for a in cmd.get_arguments() {
        let (Some(long), Some(var)) = (a.get_long(), a.get_env().and_then(|e| e.to_str())) else {
            continue;
        };
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            out.push(OsString::from(format!("--{long}={v}")));
        }
    }
    Ok(out)
}

/// The validated settings the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: String,
    pub log_level: tracing::Level,
    pub log_json: bool,
    pub telemetry_path: Option<String>,
    pub use_leader_elector: bool,
    pub defaults: InjectorDefaults,
    pub tls: TlsSettings,
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
    /// `true` ⇒ TLS 1.3 only.
    pub tls13_only: bool,
    /// Requested TLS 1.2 suites that rustls has (empty ⇒ rustls' defaults).
    pub cipher_suites: Vec<rustls::SupportedCipherSuite>,
    /// Warnings to log once logging is up (dropped suites, tls10/tls11).
    pub warnings: Vec<String>,
}

impl Settings {
    /// Validates `f` in upstream's order (§6.2); the error is the line to print before exit 1.
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
        let log_level = parse_log_level(&f.server.log_level).ok_or_else(|| {
            StartupError(format!(
                "Error setting log level: unknown log level: {}",
                f.server.log_level
            ))
        })?;
        let tls = tls_settings(&f.tls)?;
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
            cpu_request: a.cpu_request,
            memory_request: a.memory_request,
            ephemeral_request: a.ephemeral_storage_request,
            cpu_limit: a.cpu_limit,
            memory_limit: a.memory_limit,
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
        };
        Ok(Settings {
            listen: f.server.listen,
            log_level,
            log_json: f.server.log_format == "json",
            telemetry_path: Some(f.server.telemetry_path).filter(|p| !p.is_empty()),
            use_leader_elector: f.server.use_leader_elector,
            defaults,
            tls,
        })
    }

    /// The socket address to bind: Go's `:8080` means every interface.
    pub fn bind_address(&self) -> Result<std::net::SocketAddr, StartupError> {
        let l = self.listen.trim();
        let full = if l.starts_with(':') {
            format!("0.0.0.0{l}")
        } else {
            l.to_string()
        };
        full.parse()
            .map_err(|e| StartupError(format!("Error listening: -listen {l:?}: {e}")))
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

/// Go's cipher suite names (§6.1) and the rustls suite for those rustls has.
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
        tls13_only,
        cipher_suites,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.get(k).cloned();
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match parse(args, &lookup).map_err(|e| e.to_string())? {
            Invocation::Version => Err("version".into()),
            Invocation::Serve(f) => Settings::from_cli(*f).map_err(|e| e.0),
        }
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
        )
        .unwrap();
        assert_eq!(s.listen, ":8080");
        assert_eq!(s.defaults.vault_auth_path, "auth/kubernetes");
        assert_eq!(s.defaults.cpu_request, "250m");
        assert_eq!(s.defaults.memory_limit, "128Mi");
        assert_eq!(s.defaults.run_as_user, "100");
        assert!(s.defaults.set_security_context);
        assert!(s.defaults.template_config_exit_on_retry_failure);
        assert_eq!(s.defaults.agent_flavor, AgentFlavor::Vaultlet);
        assert!(s.defaults.vault_image.starts_with("vaultlet/vaultlet:"));
        assert!(s.tls.files.is_none());
        assert_eq!(s.telemetry_path, None);
        assert_eq!(s.bind_address().unwrap().to_string(), "0.0.0.0:8080");
    }

    #[test]
    fn go_style_flags_and_the_charts_stray_argument() {
        let s = run(
            &[
                "vaultlet-injector",
                "agent-inject",
                "-listen",
                "127.0.0.1:9443",
                "--vault-address=http://v",
                "-use-leader-elector",
                "-set-security-context=false",
                "2>&1",
                "-log-level=nonsense-ignored-after-stop",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:9443");
        assert!(s.use_leader_elector);
        assert!(!s.defaults.set_security_context);
        assert_eq!(s.log_level, tracing::Level::INFO);
    }

    #[test]
    fn non_empty_env_overrides_flags_empty_env_does_not() {
        let s = run(
            &[
                "x",
                "-vault-address=http://flag",
                "-cpu-limit=1",
                "-memory-limit=2Gi",
            ],
            &[
                ("AGENT_INJECT_VAULT_ADDR", "http://env"),
                ("AGENT_INJECT_CPU_LIMIT", ""),
                ("AGENT_INJECT_MEM_LIMIT", "3Gi"),
                ("AGENT_INJECT_REVOKE_ON_SHUTDOWN", "T"),
                ("AGENT_INJECT_AGENT_FLAVOR", "openbao"),
            ],
        )
        .unwrap();
        assert_eq!(s.defaults.vault_address, "http://env");
        assert_eq!(s.defaults.cpu_limit, "1");
        assert_eq!(s.defaults.memory_limit, "3Gi");
        assert!(s.defaults.revoke_on_shutdown);
        assert_eq!(s.defaults.agent_flavor, AgentFlavor::Openbao);
    }

    #[test]
    fn startup_errors_carry_upstreams_messages() {
        assert_eq!(run(&["x"], &[]).unwrap_err(), "No Vault service configured");
        assert_eq!(
            run(&["x", "-vault-address=a", "-default-template=JSON"], &[]).unwrap_err(),
            "Invalid default flag type: JSON"
        );
        assert_eq!(
            run(&["x", "-vault-address=a", "-tls-min-version=tls14"], &[]).unwrap_err(),
            "invalid or unsupported TLS version \"tls14\""
        );
        assert_eq!(
            run(
                &["x", "-vault-address=a", "-tls-cipher-suites=TLS_FOO"],
                &[]
            )
            .unwrap_err(),
            "failed to parse TLS cipher suites list \"TLS_FOO\": unsupported cipher \"TLS_FOO\""
        );
        assert_eq!(
            run(&["x", "-vault-address=a", "-log-level=loud"], &[]).unwrap_err(),
            "Error setting log level: unknown log level: loud"
        );
        let e = run(
            &["x", "-vault-address=a"],
            &[("AGENT_INJECT_RUN_AS_SAME_USER", "yes")],
        )
        .unwrap_err();
        assert!(e.contains("yes"), "{e}");
        let e = run(
            &["x", "-vault-address=a"],
            &[("AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST", "many")],
        )
        .unwrap_err();
        assert!(
            e.contains("AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST"),
            "{e}"
        );
        let e = run(&["x", "-bogus=1"], &[]).unwrap_err();
        assert!(e.contains("flag provided but not defined: -bogus"), "{e}");
        let e = run(&["x", "-vault-address=a", "-auth-min-backoff=5"], &[]).unwrap_err();
        assert!(e.contains("-auth-min-backoff"), "{e}");
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
        )
        .unwrap();
        assert_eq!(s.tls.cipher_suites.len(), 1);
        assert!(!s.tls.tls13_only);
        assert_eq!(s.tls.warnings.len(), 2, "{:?}", s.tls.warnings);
    }

    #[test]
    fn version_subcommand() {
        let args = vec![OsString::from("x"), OsString::from("version")];
        assert!(matches!(parse(args, &|_| None), Ok(Invocation::Version)));
    }
}
