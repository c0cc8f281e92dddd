//! The Vault Agent config as typed values (agent.md §1.4–1.11). Field order of each struct is the
//! order `to_json_go` emits keys in (injector.md §3). Values are kept as written (no defaults
//! filled in) so that what the injector builds is what it emits; accessors give effective values.

use std::collections::BTreeMap;
use std::time::Duration;

use super::duration::GoDuration;

/// The whole agent config.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentConfig {
    pub auto_auth: Option<AutoAuth>,
    pub exit_after_auth: bool,
    pub pid_file: Option<String>,
    pub vault: Option<VaultStanza>,
    /// Key `template`.
    pub templates: Vec<TemplateStanza>,
    /// Key `listener`.
    pub listeners: Vec<Listener>,
    pub cache: Option<Cache>,
    pub api_proxy: Option<ApiProxy>,
    pub template_config: Option<TemplateConfig>,
    pub disable_idle_connections: Vec<String>,
    pub disable_keep_alives: Vec<String>,
    pub telemetry: Option<Telemetry>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub log_file: Option<String>,
    pub log_rotate_bytes: Option<i64>,
    pub log_rotate_duration: Option<String>,
    pub log_rotate_max_files: Option<i64>,
    /// Process-supervisor mode (agent.md §1.11).
    pub exec: Option<ExecStanza>,
    /// Key `env_template`.
    pub env_templates: Vec<EnvTemplate>,
}

/// `vault { … }` (agent.md §1.5).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VaultStanza {
    pub address: Option<String>,
    pub ca_cert: Option<String>,
    pub ca_path: Option<String>,
    pub tls_skip_verify: Option<bool>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub tls_server_name: Option<String>,
    pub namespace: Option<String>,
    pub retry: Option<RetryStanza>,
}

/// `vault { retry { num_retries } }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RetryStanza {
    pub num_retries: Option<i64>,
}

impl VaultStanza {
    /// Template-engine / proxy retries: unset or `0` ⇒ 12, `-1` ⇒ 0 (disabled), else the value.
    pub fn effective_num_retries(&self) -> u32 {
        match self.retry.as_ref().and_then(|r| r.num_retries) {
            None | Some(0) => 12,
            Some(n) if n < 0 => 0,
            Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

/// `auto_auth { method …  sink … }` (agent.md §1.6).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AutoAuth {
    pub method: AuthMethod,
    /// Key `sink`.
    pub sinks: Vec<Sink>,
}

/// `auto_auth.method`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AuthMethod {
    /// Key `type` (or the block label).
    pub method_type: String,
    pub mount_path: Option<String>,
    pub min_backoff: Option<GoDuration>,
    pub max_backoff: Option<GoDuration>,
    pub namespace: Option<String>,
    /// Method-specific settings, as written (the injector passes strings).
    pub config: BTreeMap<String, serde_json::Value>,
    pub exit_on_err: bool,
    pub wrap_ttl: Option<GoDuration>,
}

/// Default `min_backoff`.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Default `max_backoff`.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);

impl AuthMethod {
    /// `mount_path`, defaulting to `auth/<type>`, without a trailing `/`.
    pub fn effective_mount_path(&self) -> String {
        match self.mount_path.as_deref() {
            Some(p) if !p.is_empty() => p.strip_suffix('/').unwrap_or(p).to_string(),
            _ => format!("auth/{}", self.method_type),
        }
    }

    /// The namespace in canonical form (`ns1/`, `a/b/`), or `None` when empty.
    pub fn canonical_namespace(&self) -> Option<String> {
        canonical_namespace(self.namespace.as_deref().unwrap_or(""))
    }

    /// `min_backoff` or 1s (a zero value counts as unset).
    pub fn effective_min_backoff(&self) -> Duration {
        match self.min_backoff {
            Some(d) if !d.0.is_zero() => d.0,
            _ => DEFAULT_MIN_BACKOFF,
        }
    }

    /// `max_backoff` or 5m (a zero value counts as unset).
    pub fn effective_max_backoff(&self) -> Duration {
        match self.max_backoff {
            Some(d) if !d.0.is_zero() => d.0,
            _ => DEFAULT_MAX_BACKOFF,
        }
    }
}

/// Vault's namespace canonicalisation: drop leading `/`, clean the path, add a trailing `/`.
pub fn canonical_namespace(ns: &str) -> Option<String> {
    let parts: Vec<&str> = ns
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!("{}/", parts.join("/")))
}

/// `auto_auth.sink` (agent.md §3.7).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sink {
    /// Key `type` (or the block label).
    pub sink_type: String,
    pub config: BTreeMap<String, serde_json::Value>,
    pub wrap_ttl: Option<GoDuration>,
    pub dh_type: Option<String>,
    pub dh_path: Option<String>,
    pub derive_key: bool,
    pub aad: Option<String>,
    pub aad_env_var: Option<String>,
}

/// A template's post-render command: a string (split on commas, Quirk Q-T2) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandSpec {
    Shell(String),
    Argv(Vec<String>),
}

impl CommandSpec {
    /// The command as the runner sees it (agent.md §5.9): a string is split on every comma;
    /// an empty result means "no command".
    pub fn argv(&self) -> Vec<String> {
        match self {
            CommandSpec::Shell(s) if s.is_empty() => Vec::new(),
            CommandSpec::Shell(s) => s.split(',').map(str::to_string).collect(),
            CommandSpec::Argv(v) => v.clone(),
        }
    }

    /// Whether the runner hands this command to `sh -c` (agent.md §5.9): after the comma split it
    /// is one element with whitespace in it. Everything else runs as program plus arguments.
    pub fn needs_shell(&self) -> bool {
        argv_needs_shell(&self.argv())
    }
}

/// The one rule for "this command needs a shell" (agent.md §5.9), shared by the agent (which then
/// runs `sh -c`) and the injector (which refuses such a command for an image without `sh`): exactly
/// one element, not blank, with whitespace in it.
pub fn argv_needs_shell(argv: &[String]) -> bool {
    matches!(argv, [one] if !one.trim().is_empty() && one.chars().any(char::is_whitespace))
}

/// A file mode (`perms`), e.g. `FileMode(0o600)`; emitted as a 4-digit octal string (`"0600"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileMode(pub u32);

impl FileMode {
    /// Parse an octal string (`"0400"`, `"400"`) as consul-template does (at most 12 bits).
    pub fn parse_octal(s: &str) -> Option<FileMode> {
        if s.is_empty() || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return None;
        }
        let v = u32::from_str_radix(s, 8).ok()?;
        (v <= 0o7777).then_some(FileMode(v))
    }
}

impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// `template { exec { … } }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateExec {
    pub command: Option<CommandSpec>,
    pub timeout: Option<GoDuration>,
    /// `env { … }`, kept as written (`pristine`, `custom`, `allowlist`, `denylist`).
    pub env: Option<serde_json::Value>,
}

/// `wait { min max }` or `wait = "min[:max]"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WaitSpec {
    pub min: GoDuration,
    /// Unset ⇒ 4 × min.
    pub max: Option<GoDuration>,
}

impl WaitSpec {
    /// `max`, or 4 × `min` when unset.
    pub fn effective_max(&self) -> Duration {
        self.max.map_or(self.min.0 * 4, |m| m.0)
    }
}

/// `template { … }` (agent.md §1.7).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateStanza {
    pub destination: Option<String>,
    pub contents: Option<String>,
    pub left_delimiter: Option<String>,
    pub right_delimiter: Option<String>,
    pub command: Option<CommandSpec>,
    pub source: Option<String>,
    pub perms: Option<FileMode>,
    pub error_on_missing_key: bool,
    pub exec: Option<TemplateExec>,
    pub command_timeout: Option<GoDuration>,
    /// Unset ⇒ true.
    pub error_fatal: Option<bool>,
    /// Unset ⇒ true.
    pub create_dest_dirs: Option<bool>,
    pub backup: bool,
    pub wait: Option<WaitSpec>,
    /// `user` (or legacy `uid`).
    pub user: Option<String>,
    /// `group` (or legacy `gid`).
    pub group: Option<String>,
    pub sandbox_path: Option<String>,
    /// `function_denylist` plus legacy `function_blacklist`.
    pub function_denylist: Vec<String>,
    /// vaultlet extension: `"go"` (default) or `"handlebars"`. Upstream agents reject this key.
    pub engine: Option<String>,
}

impl TemplateStanza {
    /// The command to run after a change: `exec.command`, else the legacy `command`.
    pub fn effective_command(&self) -> Vec<String> {
        self.exec
            .as_ref()
            .and_then(|e| e.command.as_ref())
            .or(self.command.as_ref())
            .map(CommandSpec::argv)
            .unwrap_or_default()
    }

    /// `exec.timeout`, else `command_timeout`, else 30s.
    pub fn effective_command_timeout(&self) -> Duration {
        self.exec
            .as_ref()
            .and_then(|e| e.timeout)
            .or(self.command_timeout)
            .map_or(Duration::from_secs(30), |d| d.0)
    }
}

/// `template_config { … }` (agent.md §1.8).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateConfig {
    pub exit_on_retry_failure: bool,
    pub static_secret_render_interval: Option<GoDuration>,
    pub max_connections_per_host: Option<u32>,
    pub lease_renewal_threshold: Option<f64>,
}

/// `listener "tcp" { … }` (agent.md §1.9, §7.1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listener {
    /// `tcp` or `unix`.
    pub listener_type: String,
    pub address: String,
    pub tls_disable: bool,
    pub tls_cert_file: Option<String>,
    pub tls_key_file: Option<String>,
    pub require_request_header: bool,
    /// `default` or `metrics_only`.
    pub role: Option<String>,
    pub agent_api: Option<AgentApi>,
}

/// `listener { agent_api { enable_quit } }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentApi {
    pub enable_quit: bool,
}

/// `use_auto_auth_token`: a bool or the string `force` (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseAutoAuthToken {
    True,
    False,
    Force,
}

impl UseAutoAuthToken {
    /// Go `ParseBool` first, then case-insensitive `force`.
    pub fn parse(s: &str) -> Option<Self> {
        match super::decode::parse_go_bool(s) {
            Some(true) => Some(Self::True),
            Some(false) => Some(Self::False),
            None if s.eq_ignore_ascii_case("force") => Some(Self::Force),
            None => None,
        }
    }

    /// True and Force both mean "use the auto-auth token".
    pub fn enabled(self) -> bool {
        !matches!(self, Self::False)
    }

    /// The string emitted in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::False => "false",
            Self::Force => "force",
        }
    }
}

/// `cache { … }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cache {
    pub use_auto_auth_token: Option<UseAutoAuthToken>,
    pub persist: Option<Persist>,
}

/// `cache { persist "kubernetes" { … } }` (agent.md §7.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Persist {
    pub persist_type: String,
    pub path: String,
    pub keep_after_import: bool,
    pub exit_on_err: bool,
    pub service_account_token_file: Option<String>,
}

/// `api_proxy { … }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiProxy {
    pub use_auto_auth_token: Option<UseAutoAuthToken>,
}

/// `telemetry { … }`, the fields of injector.md §3.5 (duration-ish values kept as written).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Telemetry {
    pub usage_gauge_period: Option<String>,
    pub maximum_gauge_cardinality: Option<i64>,
    pub disable_hostname: bool,
    pub enable_hostname_label: bool,
    pub lease_metrics_epsilon: Option<String>,
    pub num_lease_metrics_buckets: Option<i64>,
    pub add_lease_metrics_namespace_labels: bool,
    pub filter_default: Option<bool>,
    pub prefix_filter: Vec<String>,
    pub statsite_address: Option<String>,
    pub statsd_address: Option<String>,
    pub circonus_api_token: Option<String>,
    pub circonus_api_app: Option<String>,
    pub circonus_api_url: Option<String>,
    pub circonus_submission_interval: Option<String>,
    pub circonus_submission_url: Option<String>,
    pub circonus_check_id: Option<String>,
    pub circonus_check_force_metric_activation: bool,
    pub circonus_check_instance_id: Option<String>,
    pub circonus_check_search_tag: Option<String>,
    pub circonus_check_display_name: Option<String>,
    pub circonus_check_tags: Option<String>,
    pub circonus_broker_id: Option<String>,
    pub circonus_broker_select_tag: Option<String>,
    pub dogstatsd_addr: Option<String>,
    pub dogstatsd_tags: Vec<String>,
    pub prometheus_retention_time: Option<String>,
    pub stackdriver_project_id: Option<String>,
    pub stackdriver_location: Option<String>,
    pub stackdriver_namespace: Option<String>,
    pub stackdriver_debug_logs: bool,
    pub metrics_prefix: Option<String>,
}

impl Telemetry {
    /// `prometheus_retention_time` (lenient duration); `None` when unset, empty or zero.
    pub fn prometheus_retention(&self) -> Option<Duration> {
        let d = GoDuration::parse_lenient(self.prometheus_retention_time.as_deref()?).ok()?;
        (!d.0.is_zero()).then_some(d.0)
    }
}

/// Top-level `exec { … }` (process-supervisor mode, agent.md §1.11).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecStanza {
    pub command: Vec<String>,
    /// `always` (default) or `never`.
    pub restart_on_secret_changes: Option<String>,
    /// Default `SIGTERM`; a name of [`EXEC_STOP_SIGNALS`], any case; empty means `SIGNULL`.
    pub restart_stop_signal: Option<String>,
}

/// The signal names `exec.restart_stop_signal` accepts, sorted, as upstream lists them
/// (agent.md §1.11). `SIGNULL` sends nothing: the child is killed when the stop timeout ends.
pub const EXEC_STOP_SIGNALS: &[&str] = &[
    "SIGABRT", "SIGALRM", "SIGBUS", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGIO",
    "SIGIOT", "SIGKILL", "SIGNULL", "SIGPIPE", "SIGPROF", "SIGQUIT", "SIGSEGV", "SIGSTOP",
    "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2",
    "SIGWINCH", "SIGXCPU", "SIGXFSZ",
];

impl ExecStanza {
    /// `restart_on_secret_changes` with its default: `always`.
    pub fn effective_restart(&self) -> &str {
        self.restart_on_secret_changes
            .as_deref()
            .unwrap_or("always")
    }

    /// The stop signal's name from [`EXEC_STOP_SIGNALS`]: unset ⇒ `SIGTERM`, empty ⇒
    /// `SIGNULL`, else the value upper-cased; `None` when it names no signal of the list.
    pub fn stop_signal(&self) -> Option<&'static str> {
        match self.restart_stop_signal.as_deref() {
            None => Some("SIGTERM"),
            Some("") => Some("SIGNULL"),
            Some(s) => {
                let upper = s.to_ascii_uppercase();
                EXEC_STOP_SIGNALS.iter().copied().find(|n| *n == upper)
            }
        }
    }
}

/// `env_template "NAME" { … }`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvTemplate {
    /// The environment variable (block label).
    pub name: String,
    pub contents: Option<String>,
    pub source: Option<String>,
    pub error_on_missing_key: bool,
    pub error_fatal: Option<bool>,
    pub left_delimiter: Option<String>,
    pub right_delimiter: Option<String>,
    pub function_denylist: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_needs_a_shell_when_it_is_one_word_list_with_whitespace() {
        let shell = |s: &str| CommandSpec::Shell(s.to_owned()).needs_shell();
        // One element with whitespace: sh -c (pipes, $(…), &&, ;, redirections come along).
        assert!(shell("kill -HUP $(pidof nginx)"));
        assert!(shell("nginx -s reload"));
        assert!(shell("echo a | tee b"));
        assert!(shell("pkill\t-HUP app"));
        // Commas split into an argv first: no shell, whitespace inside an argument is kept.
        assert!(!shell("/usr/sbin/nginx,-s,reload"));
        assert!(!shell("/bin/touch,/tmp/x y"));
        // One word: run as a program (shell syntax without spaces is just a strange file name).
        assert!(!shell("/bin/true"));
        assert!(!shell("a|b"));
        // Nothing to run.
        assert!(!shell(""));
        assert!(!shell("   "));
        // A list is always an argv.
        let argv = CommandSpec::Argv(vec!["kill -HUP 1".into()]);
        assert!(
            argv.needs_shell(),
            "a one-element list with spaces runs under sh too"
        );
        let argv = CommandSpec::Argv(vec!["/vaultlet-agent".into(), "signal".into()]);
        assert!(!argv.needs_shell());
    }
}
