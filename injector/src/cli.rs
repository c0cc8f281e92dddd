//! The command line of `vaultlet-injector` (injector.md §6.1–6.2): `[agent-inject|version]
//! [flags]` with upstream's flags, `AGENT_INJECT_*` environment variables and defaults, as clap
//! structs, and `render [flags]`, the offline preview (the same flags plus [`RenderArgs`]). Go's `flag` conventions are adapted by [`crate::goflag`] before clap sees the
//! arguments; [`crate::settings::Settings::from_cli`] then validates what clap parsed.

use std::ffi::OsString;

use clap::{Args, CommandFactory, FromArgMatches, Parser};

use vaultlet_shared::go::strconv::parse_bool;

use crate::goflag::go_flags;

/// What the binary was asked to do.
#[derive(Debug)]
pub enum Invocation {
    /// `version`, `-version` or `--version`: print `vaultlet-injector <version>`.
    Version,
    /// `agent-inject` (or no subcommand): run the webhook.
    Serve(Box<Flags>),
    /// `render`: preview what the webhook would do to the objects of a file (see `crate::preview`).
    Render(Box<RenderFlags>),
}

/// `vaultlet-injector render`: the server's flags (and environment) plus what to read and print.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "vaultlet-injector render",
    about = "Preview what the injector does to a Pod or a workload's pod template (offline)",
    disable_version_flag = true
)]
pub struct RenderFlags {
    #[command(flatten)]
    pub render: RenderArgs,
    #[command(flatten)]
    pub injector: Flags,
}

/// What `render` reads and prints.
#[derive(Debug, Clone, Args)]
pub struct RenderArgs {
    /// The file to read (YAML or JSON, several documents allowed); `-` for standard input.
    #[arg(short = 'f', long = "filename", required = true)]
    pub filename: String,
    /// pod: the mutated object; patch: the JSON patch; config: each generated agent config.
    #[arg(short = 'o', long = "output", value_enum, default_value = "pod")]
    pub output: RenderOutput,
    /// The namespace of the request when the object has none (default: `default`).
    #[arg(short = 'n', long = "namespace", default_value = "")]
    pub namespace: String,
    /// A file of Namespace objects whose injector annotations apply to their pods, as the
    /// server's namespace defaults would (YAML or JSON).
    #[arg(long = "namespace-file", default_value = "")]
    pub namespace_file: String,
}

/// `render -output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderOutput {
    /// The object, mutated (a workload: its pod template), in the input's format.
    Pod,
    /// The JSON patch the webhook answers with (for the pod).
    Patch,
    /// Each generated agent config, decoded, by container name.
    Config,
}

/// Every flag of injector.md §6.1 (and the env-only settings), as given.
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
    #[command(flatten)]
    pub kube: KubeFlags,
}

/// The Kubernetes API and what the injector reads from it (extensions, injector.md §2.7, §2.8).
#[derive(Debug, Clone, Args)]
pub struct KubeFlags {
    /// Kubeconfig file to reach the Kubernetes API with (empty: the in-cluster service account,
    /// else KUBECONFIG or ~/.kube/config). Ours.
    #[arg(long, env = "AGENT_INJECT_KUBECONFIG", default_value = "")]
    pub kubeconfig: String,
    /// Apply a namespace's injector annotations to its pods that do not set them (watches
    /// namespaces). Ours.
    #[arg(long, env = "AGENT_INJECT_NAMESPACE_DEFAULTS", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub namespace_defaults: bool,
    /// Watch pods that asked for injection but were admitted without it; log each once and count
    /// them in vaultlet_injector_escaped_pods. Ours.
    #[arg(long, env = "AGENT_INJECT_WATCH_ESCAPED_PODS", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub watch_escaped_pods: bool,
}

/// The server itself.
#[derive(Debug, Clone, Args)]
pub struct ServerFlags {
    /// HTTPS listen address: `:PORT` is every interface, IPv6 and IPv4 (IPv4 only where the host
    /// has no IPv6); an explicit address is bound as given.
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
    /// Most webhook connections served at once; more wait until one ends (0: no limit). Ours.
    #[arg(long, env = "AGENT_INJECT_MAX_CONNECTIONS", default_value = "1024")]
    pub max_connections: String,
    /// Longest a TLS handshake, a request's headers, or a whole request may take (Go duration). Ours.
    #[arg(long, env = "AGENT_INJECT_REQUEST_TIMEOUT", default_value = "10s")]
    pub request_timeout: String,
    /// After SIGTERM/SIGINT: how long to keep serving while /readyz says not ready, before
    /// draining (Go duration; 0: drain at once). Ours.
    #[arg(long, env = "AGENT_INJECT_SHUTDOWN_DELAY", default_value = "5s")]
    pub shutdown_delay: String,
    /// Coordinate auto-TLS between replicas (a coordination.k8s.io/v1 Lease).
    #[arg(long, env = "AGENT_INJECT_USE_LEADER_ELECTOR", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub use_leader_elector: bool,
    /// Print the version and exit (also `version`).
    #[arg(long, default_value = "false", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    pub version: bool,
}

/// Defaults of the injected agent (each also an annotation).
#[derive(Debug, Clone, Args)]
pub struct AgentFlags {
    /// Vault address the agents use (required; `service` annotation).
    #[arg(long, env = "AGENT_INJECT_VAULT_ADDR", default_value = "")]
    pub vault_address: String,
    /// Agent image (empty: the flavor's default image).
    #[arg(long, env = "AGENT_INJECT_VAULT_IMAGE", default_value = "")]
    pub vault_image: String,
    /// Default auth method type of the agent (`auth-type` annotation).
    #[arg(
        long,
        env = "AGENT_INJECT_VAULT_AUTH_TYPE",
        default_value = "kubernetes"
    )]
    pub vault_auth_type: String,
    /// Default auth method mount path (`auth-path` annotation).
    #[arg(
        long,
        env = "AGENT_INJECT_VAULT_AUTH_PATH",
        default_value = "auth/kubernetes"
    )]
    pub vault_auth_path: String,
    /// Default Vault Enterprise namespace (`namespace` annotation).
    #[arg(long, env = "AGENT_INJECT_VAULT_NAMESPACE", default_value = "")]
    pub vault_namespace: String,
    /// PEM CA certificate (optionally base64) the agent trusts Vault with (`VAULT_CACERT_BYTES`).
    #[arg(long, env = "AGENT_INJECT_VAULT_CACERT_BYTES", default_value = "")]
    pub vault_cacert_bytes: String,
    /// Default HTTP proxy of the agent (`proxy-address` annotation).
    #[arg(long, env = "AGENT_INJECT_PROXY_ADDR", default_value = "")]
    pub proxy_address: String,
    /// Default of `agent-revoke-on-shutdown`: revoke the token when the agent stops.
    #[arg(long, env = "AGENT_INJECT_REVOKE_ON_SHUTDOWN", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub revoke_on_shutdown: bool,
    /// Default user ID of the agent containers (`agent-run-as-user`).
    #[arg(long, env = "AGENT_INJECT_RUN_AS_USER", default_value = "100")]
    pub run_as_user: String,
    /// Default group ID of the agent containers (`agent-run-as-group`).
    #[arg(long, env = "AGENT_INJECT_RUN_AS_GROUP", default_value = "1000")]
    pub run_as_group: String,
    /// Default of `agent-run-as-same-user`: run the agent as the first app container's user.
    #[arg(long, env = "AGENT_INJECT_RUN_AS_SAME_USER", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub run_as_same_user: bool,
    /// Default of `agent-set-security-context`: set the agent containers' security context.
    #[arg(long, env = "AGENT_INJECT_SET_SECURITY_CONTEXT", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub set_security_context: bool,
    /// Default of `agent-inject-default-template`: `map` or `json`.
    #[arg(long, env = "AGENT_INJECT_DEFAULT_TEMPLATE", default_value = "map")]
    pub default_template: String,
    /// Default CPU request of the agent containers (unset: the flavor's default, injector.md §4.5).
    #[arg(long, env = "AGENT_INJECT_CPU_REQUEST")]
    pub cpu_request: Option<String>,
    /// Default memory request of the agent containers (unset: the flavor's default).
    #[arg(long, env = "AGENT_INJECT_MEM_REQUEST")]
    pub memory_request: Option<String>,
    /// Default ephemeral-storage request of the agent containers (empty: none).
    #[arg(long, env = "AGENT_INJECT_EPHEMERAL_REQUEST", default_value = "")]
    pub ephemeral_storage_request: String,
    /// Default CPU limit of the agent containers (unset: the flavor's default).
    #[arg(long, env = "AGENT_INJECT_CPU_LIMIT")]
    pub cpu_limit: Option<String>,
    /// Default memory limit of the agent containers (unset: the flavor's default).
    #[arg(long, env = "AGENT_INJECT_MEM_LIMIT")]
    pub memory_limit: Option<String>,
    /// Default ephemeral-storage limit of the agent containers (empty: none).
    #[arg(long, env = "AGENT_INJECT_EPHEMERAL_LIMIT", default_value = "")]
    pub ephemeral_storage_limit: String,
    /// Default of `template-config-exit-on-retry-failure`.
    #[arg(long, env = "AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", default_value = "true",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub template_config_exit_on_retry_failure: bool,
    /// Default of `template-static-secret-render-interval` (Go duration; empty: the agent's).
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_STATIC_SECRET_RENDER_INTERVAL",
        default_value = ""
    )]
    pub template_static_secret_render_interval: String,
    /// Default of `template-max-connections-per-host` (env only upstream; the flag is ours).
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST",
        default_value = "0",
        hide = true
    )]
    pub template_max_connections_per_host: String,
    /// Default of `template-lease-renewal-threshold` (env only upstream; the flag is ours).
    #[arg(
        long,
        env = "AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD",
        default_value = "0",
        hide = true
    )]
    pub template_lease_renewal_threshold: String,
    /// Default of `auth-min-backoff` (Go duration; empty: the agent's).
    #[arg(long, env = "AGENT_INJECT_AUTH_MIN_BACKOFF", default_value = "")]
    pub auth_min_backoff: String,
    /// Default of `auth-max-backoff` (Go duration; empty: the agent's).
    #[arg(long, env = "AGENT_INJECT_AUTH_MAX_BACKOFF", default_value = "")]
    pub auth_max_backoff: String,
    /// Default of `agent-disable-idle-connections` (comma-separated: auto-auth, caching, templating).
    #[arg(
        long,
        env = "AGENT_INJECT_DISABLE_IDLE_CONNECTIONS",
        default_value = ""
    )]
    pub disable_idle_connections: String,
    /// Default of `agent-disable-keep-alives` (comma-separated: auto-auth, caching, templating).
    #[arg(long, env = "AGENT_INJECT_DISABLE_KEEP_ALIVES", default_value = "")]
    pub disable_keep_alives: String,
    /// Agent flavor: vaultlet (our agent, no shell), vault or openbao (upstream's shell form).
    #[arg(long, env = "AGENT_INJECT_AGENT_FLAVOR", default_value = "vaultlet")]
    pub agent_flavor: String,
    /// Default of `agent-native-sidecar` (extension, injector.md §4.10).
    #[arg(long, env = "AGENT_INJECT_NATIVE_SIDECAR", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub native_sidecar: bool,
    /// With the vaultlet agent: the persistent cache (no listener) in every classic pod, so that the
    /// sidecar keeps the init container's token and leases (extension, injector.md §3.4.1).
    #[arg(long, env = "AGENT_INJECT_CACHE_HANDOFF", default_value = "false",
          num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_bool)]
    pub cache_handoff: bool,
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
    /// Secret through which the elected replica shares the auto-TLS certificate. Ours.
    #[arg(
        long,
        env = "AGENT_INJECT_TLS_AUTO_SECRET",
        default_value = "vault-injector-certs"
    )]
    pub tls_auto_secret: String,
    /// Lease through which replicas elect the one writing the auto-TLS certificate. Ours.
    #[arg(
        long,
        env = "AGENT_INJECT_TLS_AUTO_LEASE",
        default_value = "vault-k8s-leader"
    )]
    pub tls_auto_lease: String,
    /// PEM serving certificate (with -tls-key-file: disk mode, reloaded when it changes).
    #[arg(long, env = "AGENT_INJECT_TLS_CERT_FILE", default_value = "")]
    pub tls_cert_file: String,
    /// PEM private key of -tls-cert-file.
    #[arg(long, env = "AGENT_INJECT_TLS_KEY_FILE", default_value = "")]
    pub tls_key_file: String,
    /// PEM CA of the serving certificate, published as the caBundle of -tls-auto.
    #[arg(long, env = "AGENT_INJECT_TLS_CA_CERT_FILE", default_value = "")]
    pub tls_ca_cert_file: String,
    /// tls10, tls11, tls12 or tls13 (rustls has no TLS below 1.2: tls10/tls11 mean tls12).
    #[arg(long, env = "AGENT_INJECT_TLS_MIN_VERSION", default_value = "tls12")]
    pub tls_min_version: String,
    /// Comma-separated Go cipher suite names (TLS 1.0–1.2 only).
    #[arg(long, env = "AGENT_INJECT_TLS_CIPHER_SUITES", default_value = "")]
    pub tls_cipher_suites: String,
}

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
        Some("render") => {
            rest.remove(0);
            let cmd = RenderFlags::command().bin_name("vaultlet-injector render");
            let mut argv = vec![argv0];
            argv.extend(go_flags(&cmd, rest, env)?);
            let matches = cmd.try_get_matches_from(argv)?;
            let flags = RenderFlags::from_arg_matches(&matches)?;
            if flags.injector.server.version {
                return Ok(Invocation::Version);
            }
            return Ok(Invocation::Render(Box::new(flags)));
        }
        _ => {}
    }
    let cmd = Flags::command();
    let mut argv = vec![argv0];
    argv.extend(go_flags(&cmd, rest, env)?);
    let matches = cmd.try_get_matches_from(argv)?;
    let flags = Flags::from_arg_matches(&matches)?;
    if flags.server.version {
        return Ok(Invocation::Version);
    }
    Ok(Invocation::Serve(Box::new(flags)))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_subcommand() {
        let args = vec![OsString::from("x"), OsString::from("version")];
        assert!(matches!(parse(args, &|_| None), Ok(Invocation::Version)));
    }

    #[test]
    fn version_flag_in_go_and_gnu_forms() {
        for args in [
            &["-version"][..],
            &["--version"],
            &["agent-inject", "-version"],
            &["-listen", ":9", "--version"],
            &["render", "-f", "p.yaml", "-version"],
        ] {
            let mut argv = vec![OsString::from("x")];
            argv.extend(args.iter().map(OsString::from));
            assert!(
                matches!(parse(argv, &|_| None), Ok(Invocation::Version)),
                "{args:?}"
            );
        }
        let argv = vec![OsString::from("x"), OsString::from("-version=false")];
        assert!(matches!(parse(argv, &|_| None), Ok(Invocation::Serve(_))));
    }

    /// Every flag says what it does in `--help` (the hidden env-only ones too).
    #[test]
    fn every_flag_has_help_text() {
        for cmd in [Flags::command(), RenderFlags::command()] {
            for a in cmd.get_arguments() {
                let help = a.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(
                    help.trim().len() > 10,
                    "{}: --{} has no help text",
                    cmd.get_name(),
                    a.get_id()
                );
            }
        }
    }

    fn render(args: &[&str], env: &[(&str, &str)]) -> Result<RenderFlags, clap::Error> {
        let mut argv = vec![OsString::from("x"), OsString::from("render")];
        argv.extend(args.iter().map(OsString::from));
        let lookup = |k: &str| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        match parse(argv, &lookup)? {
            Invocation::Render(f) => Ok(*f),
            other => panic!("not render: {other:?}"),
        }
    }

    #[test]
    fn render_takes_go_style_short_and_long_flags_and_the_servers() {
        let f = render(
            &[
                "-f",
                "pod.yaml",
                "-output=patch",
                "-n",
                "team",
                "-cpu-limit=1",
            ],
            &[("AGENT_INJECT_VAULT_ADDR", "https://v")],
        )
        .unwrap();
        assert_eq!(f.render.filename, "pod.yaml");
        assert_eq!(f.render.output, RenderOutput::Patch);
        assert_eq!(f.render.namespace, "team");
        assert_eq!(f.injector.agent.cpu_limit, Some("1".into()));
        assert_eq!(f.injector.agent.vault_address, "https://v");

        let f = render(&["--filename=-", "-o", "config", "2>&1"], &[]).unwrap();
        assert_eq!(f.render.filename, "-");
        assert_eq!(f.render.output, RenderOutput::Config);
        assert_eq!(f.render.namespace, "");
        let f = render(&["-filename", "x.json"], &[]).unwrap();
        assert_eq!(f.render.output, RenderOutput::Pod);

        let e = render(&["-output=pod"], &[]).unwrap_err();
        assert!(e.to_string().contains("--filename"), "{e}");
        let e = render(&["-f", "x", "-output=yaml"], &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains("[possible values: pod, patch, config]"),
            "{e}"
        );
        let e = render(&["-f", "x", "-q"], &[]).unwrap_err();
        assert!(
            e.to_string().contains("flag provided but not defined: -q"),
            "{e}"
        );
        // The server has no short flags.
        let e = parse(vec!["x".into(), "-f".into(), "p".into()], &|_| None).unwrap_err();
        assert!(
            e.to_string().contains("flag provided but not defined: -f"),
            "{e}"
        );
    }
}
