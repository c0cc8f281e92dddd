//! The command line: `vault agent …`, `vault token revoke … -self` (agent.md §1.1, §8.3), our
//! `probe` (injector.md §4.10), `signal <SIGNAL> <process>` (extension, injector.md §1.4) and
//! `copy-self <path>` with `agent -wrapper` (extension, injector.md §4.11, agent.md §1.11.1),
//! answered under any program name (`vaultlet-agent`, `vault`, `bao`).
//!
//! Upstream flags are Go style with one dash (`-config=x`, `-config x`, `-self`). Clap wants two, so
//! [`normalise_args`] rewrites every `-long` argument (one dash, more than one letter) to `--long`
//! before parsing; `--long` and single-letter short flags pass unchanged, and everything after a bare
//! `--` is left alone. Go bool flags take a value only with `=` (`-exit-after-auth=false`).
//!
//! Only the flags' shapes live here; the settings step (`settings`) turns them into values.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Rewrites Go-style `-flag` arguments to `--flag` (keeps argv[0]).
pub fn normalise_args<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            passthrough = true;
            out.push(arg);
        } else if s.starts_with('-')
            && !s.starts_with("--")
            && s.len() > 2
            && !s.as_bytes()[1].is_ascii_digit()
        {
            out.push(OsString::from(format!("-{s}")));
        } else {
            out.push(arg);
        }
    }
    out
}

/// A flag value clap refuses (clap prints it after the flag's name; exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// Not one of Go's bool spellings.
    #[error("{0:?} is not a bool")]
    Bool(String),
    /// Not a Go duration.
    #[error("{0:?} is not a Go duration (e.g. 5s): {1}")]
    Duration(String, String),
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(s: &str) -> Result<bool, FlagError> {
    vaultlet_shared::go::strconv::parse_bool(s).map_err(|_| FlagError::Bool(s.to_string()))
}

/// `vault` / `bao` / `vaultlet-agent`.
#[derive(Debug, Parser)]
#[command(
    name = "vault",
    version,
    about = "vaultlet: Vault Agent, reimplemented",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands the injector relies on.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: log in, keep the token alive, write sinks, render templates.
    Agent(AgentArgs),
    /// Exit 0 once the agent run with the same flags and environment has written its token and
    /// rendered every template once (a native sidecar's `startupProbe`, injector.md §4.10).
    Probe(AgentArgs),
    /// Token operations.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Send a signal to every process of a name (extension; a template's command needs no shell).
    Signal(SignalArgs),
    /// Copy this binary to a path, mode 0755 (extension: the injector's env-copy init container).
    CopySelf(CopySelfArgs),
}

/// `copy-self` arguments: `vaultlet-agent copy-self /vault/bin/vaultlet-agent`.
#[derive(Debug, Clone, Args)]
pub struct CopySelfArgs {
    /// Where the copy goes (replaced atomically).
    pub dest: PathBuf,
}

/// `agent -wrapper`: how the agent runs an app container's process (extension, agent.md §1.11.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WrapperMode {
    /// Render the env templates once, then replace the agent with `exec.command` (`execve`).
    Exec,
    /// Stay as the process' supervisor (process-supervisor mode).
    Supervise,
}

/// `signal` arguments: `vaultlet-agent signal HUP nginx`.
#[derive(Debug, Clone, Args)]
pub struct SignalArgs {
    /// HUP, SIGHUP, TERM, USR1, … or a number.
    pub signal: String,
    /// Process name: its /proc/<pid>/comm, or the file name of its executable or argv[0].
    pub process: String,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Revoke a token (the injector's preStop hook uses `-self`).
    Revoke(RevokeArgs),
}

/// Connection flags shared by `agent` and `token revoke`; each overrides its env twin and the
/// config's `vault` stanza.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// Vault address (env VAULT_ADDR).
    #[arg(long)]
    pub address: Option<String>,
    /// PEM CA file (env VAULT_CACERT).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Directory of PEM CA files (env VAULT_CAPATH).
    #[arg(long)]
    pub ca_path: Option<PathBuf>,
    /// Client certificate for mTLS (env VAULT_CLIENT_CERT).
    #[arg(long)]
    pub client_cert: Option<PathBuf>,
    /// Client key for mTLS (env VAULT_CLIENT_KEY).
    #[arg(long)]
    pub client_key: Option<PathBuf>,
    /// TLS server name (env VAULT_TLS_SERVER_NAME).
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// Skip TLS verification (env VAULT_SKIP_VERIFY).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub tls_skip_verify: Option<bool>,
    /// Namespace (env VAULT_NAMESPACE).
    #[arg(long)]
    pub namespace: Option<String>,
}

/// `agent` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// Config file or directory (repeatable). None: env VAULT_CONFIG / BAO_CONFIG (base64 JSON).
    #[arg(long = "config")]
    pub config: Vec<PathBuf>,
    /// trace, debug, info, warn, error (env VAULT_LOG_LEVEL).
    #[arg(long)]
    pub log_level: Option<String>,
    /// standard or json (env VAULT_LOG_FORMAT).
    #[arg(long)]
    pub log_format: Option<String>,
    /// Exit after the first authentication (init mode); overrides the config when given.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = parse_go_bool)]
    pub exit_after_auth: Option<bool>,
    /// vaultlet extension: run as an app container's wrapper (the config's `exec` and
    /// `env_template` blocks), `exec` or `supervise`; the app's environment loses the agent's own
    /// config variables.
    #[arg(long, value_enum)]
    pub wrapper: Option<WrapperMode>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// With `-wrapper`: the app's command after `--` (as the kubelet expanded it), in place of
    /// the config's `exec.command`.
    #[arg(last = true, requires = "wrapper")]
    pub command: Vec<String>,
}

/// `token revoke` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct RevokeArgs {
    /// Revoke the token in use (VAULT_TOKEN, else ~/.vault-token).
    #[arg(long = "self")]
    pub revoke_self: bool,
    /// File holding the token when VAULT_TOKEN is unset (default ~/.vault-token).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Wait this long (a Go duration) before revoking: the injector's preStop hook uses it in place
    /// of upstream's `sleep N && vault token revoke`, since our image has no shell.
    #[arg(long, value_parser = parse_delay)]
    pub delay: Option<std::time::Duration>,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// A token to revoke (only with `-self` absent; not supported yet).
    pub token: Option<String>,
}

fn parse_delay(s: &str) -> Result<std::time::Duration, FlagError> {
    vaultlet_shared::config::GoDuration::parse_go(s)
        .map(|d| d.0)
        .map_err(|e| FlagError::Duration(s.to_string(), e.to_string()))
}

impl Cli {
    /// Parses Go-style arguments (normalising them first).
    pub fn parse_go_style<I: IntoIterator<Item = OsString>>(args: I) -> Result<Self, clap::Error> {
        Self::try_parse_from(normalise_args(args))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::parse_go_style(args.iter().map(OsString::from))
    }

    #[test]
    fn normalises_single_dash_long_flags() {
        let out = normalise_args(
            [
                "vault",
                "agent",
                "-config=/a",
                "-config",
                "/b",
                "--log-level=debug",
                "-h",
                "--",
                "-x",
            ]
            .map(OsString::from),
        );
        let out: Vec<_> = out.iter().map(|s| s.to_str().unwrap()).collect();
        assert_eq!(
            out,
            [
                "vault",
                "agent",
                "--config=/a",
                "--config",
                "/b",
                "--log-level=debug",
                "-h",
                "--",
                "-x"
            ]
        );
    }

    #[test]
    fn agent_flags_go_style() {
        let cli = parse(&[
            "vault",
            "agent",
            "-config=/a.hcl",
            "-config",
            "/b.json",
            "-log-level=trace",
            "-exit-after-auth",
            "-address=http://127.0.0.1:1",
            "-tls-skip-verify=false",
        ])
        .unwrap();
        let Command::Agent(a) = cli.command else {
            panic!()
        };
        assert_eq!(
            a.config,
            [PathBuf::from("/a.hcl"), PathBuf::from("/b.json")]
        );
        assert_eq!(a.log_level.as_deref(), Some("trace"));
        assert_eq!(a.exit_after_auth, Some(true));
        assert_eq!(a.connection.address.as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(a.connection.tls_skip_verify, Some(false));
    }

    #[test]
    fn exit_after_auth_absent_and_false() {
        let Command::Agent(a) = parse(&["bao", "agent"]).unwrap().command else {
            panic!()
        };
        assert_eq!(a.exit_after_auth, None);
        let Command::Agent(a) = parse(&["bao", "agent", "-exit-after-auth=false"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(a.exit_after_auth, Some(false));
    }

    #[test]
    fn token_revoke_self_as_the_injector_calls_it() {
        let cli = parse(&[
            "/bin/vault",
            "token",
            "revoke",
            "-address=https://vault:8200",
            "-ca-cert=/vault/tls/ca.crt",
            "-client-cert=/c",
            "-client-key=/k",
            "-self",
        ])
        .unwrap();
        let Command::Token {
            command: TokenCommand::Revoke(r),
        } = cli.command
        else {
            panic!()
        };
        assert!(r.revoke_self);
        assert_eq!(
            r.connection.ca_cert,
            Some(PathBuf::from("/vault/tls/ca.crt"))
        );
        assert_eq!(r.connection.client_key, Some(PathBuf::from("/k")));
    }

    #[test]
    fn token_revoke_takes_the_prestop_delay() {
        let cli = parse(&[
            "vaultlet-agent",
            "token",
            "revoke",
            "-delay=5s",
            "-address=https://vault:8200",
            "-self",
        ])
        .unwrap();
        let Command::Token {
            command: TokenCommand::Revoke(r),
        } = cli.command
        else {
            panic!()
        };
        assert_eq!(r.delay, Some(std::time::Duration::from_secs(5)));
        let e = parse(&["vault", "token", "revoke", "-delay=5", "-self"]).unwrap_err();
        assert!(e.to_string().contains("\"5\" is not a Go duration"), "{e}");
    }

    #[test]
    fn wrapper_and_copy_self() {
        let Command::Agent(a) = parse(&["vaultlet-agent", "agent", "-wrapper=exec"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(a.wrapper, Some(WrapperMode::Exec));
        assert!(a.command.is_empty());
        assert!(parse(&["vaultlet-agent", "agent", "-wrapper=other"]).is_err());
        let Command::Agent(a) = parse(&[
            "vaultlet-agent",
            "agent",
            "-wrapper=supervise",
            "--",
            "/app",
            "-config=x",
        ])
        .unwrap()
        .command
        else {
            panic!()
        };
        assert_eq!(a.wrapper, Some(WrapperMode::Supervise));
        assert_eq!(a.command, ["/app", "-config=x"]);
        assert!(parse(&["vaultlet-agent", "agent", "--", "/app"]).is_err());
        let Command::CopySelf(c) = parse(&["vaultlet-agent", "copy-self", "/vault/bin/x"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(c.dest, PathBuf::from("/vault/bin/x"));
    }

    #[test]
    fn unknown_flag_is_a_usage_error() {
        assert!(parse(&["vault", "agent", "-bogus"]).is_err());
    }

    #[test]
    fn go_bools() {
        assert_eq!(parse_go_bool("T"), Ok(true));
        assert_eq!(parse_go_bool("0"), Ok(false));
        assert!(parse_go_bool("yes").is_err());
    }
}
