//! The agent's one settings step (agent.md §1.1–1.12): the command line, the environment and the
//! config file(s) resolve here, once, into typed [`Settings`] before anything logs in, binds or
//! starts — the connection, logging, the auth loop, sinks, listeners, the persistent cache and the
//! template runtime (every template read and parsed). Every error is a configuration error: the
//! binary exits 64 with its message.
//!
//! The process environment is read only through the `env` lookup handed in ([`process_env`] in the
//! binary, a map in tests).
//!
//! - [`auto_auth`]: the method, the login loop and the sinks; the run-wide checks.
//! - [`listeners`]: the `listener` blocks and the proxy's token mode.
//! - [`templates`]: the template runtime's settings, templates parsed.
//! - [`supervise`]: process-supervisor mode's `exec` stanza.

pub mod auto_auth;
pub mod listeners;
pub mod supervise;
pub mod templates;

use std::path::PathBuf;
use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;
use vaultlet_shared::config::{AgentConfig, ConfigError};

use crate::auth::method::Method;
use crate::auth::{AuthError, LoopSettings};
use crate::cache::{CacheError, PersistentCache};
use crate::cli::{AgentArgs, ConnectionArgs, RevokeArgs};
use crate::connection::{Connection, ConnectionError, ConnectionFlags, StanzaValues, env_twin};
use crate::logging::{self, LogError, LogFormat};
use crate::proxy::{ListenerSpec, TokenMode};
use crate::render::handoff::RenderSettings;
use crate::sink::Sink;
use crate::sink::file::SinkError;
use crate::supervise::SuperviseSettings;
pub use auto_auth::RunCheckError;
pub use listeners::ListenerError;
pub use templates::TemplateError;

/// The process environment: the one place the agent reads it (tests pass a map instead).
#[allow(clippy::disallowed_methods)] // the settings step is where the environment is read
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The whole process environment, once, for the templates' `env` function (consul-template's
/// `env` reads any variable); names or values that are not UTF-8 are left out, as a lookup of
/// them by [`process_env`] finds nothing either.
#[allow(clippy::disallowed_methods)] // the settings step is where the environment is read
pub fn process_environment() -> std::collections::HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// Everything `vaultlet-agent agent` runs with.
#[derive(Debug)]
pub struct Settings {
    /// Where Vault is (flag > env > `vault` stanza > default).
    pub connection: Connection,
    /// Log level and format (flag > env > config > default).
    pub log_level: LevelFilter,
    pub log_format: LogFormat,
    /// What the run loop assembles.
    pub agent: AgentSettings,
}

/// The run loop's inputs: auto-auth, sinks, listeners, cache and templates.
#[derive(Debug)]
pub struct AgentSettings {
    pub method: Method,
    pub auth_loop: LoopSettings,
    /// `-exit-after-auth` when given, else the config's `exit_after_auth` (init mode, agent.md §6).
    pub exit_after_auth: bool,
    pub sinks: Vec<Sink>,
    pub pid_file: Option<PathBuf>,
    /// The `listener` blocks (API proxy, quit, metrics).
    pub listeners: Vec<ListenerSpec>,
    /// Whether proxied requests get the auto-auth token.
    pub token_mode: TokenMode,
    /// `cache { persist … }`.
    pub persist: Option<PersistentCache>,
    /// API-proxy retries: `vault.retry.num_retries` (effective); `VAULT_MAX_RETRIES` replaces it.
    pub proxy_retries: u32,
    pub templates: RenderSettings,
    /// Process-supervisor mode (`exec` + `env_template`, agent.md §1.11); the env templates are
    /// jobs of `templates`.
    pub supervise: Option<SuperviseSettings>,
}

/// A configuration the agent refuses (exit 64 before start-up).
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Neither `-config` nor `VAULT_CONFIG`/`BAO_CONFIG`.
    #[error("Must specify exactly at least one config path using -config")]
    NoConfig,
    /// A config file cannot be read, parsed or validated.
    #[error("{0}")]
    Load(#[from] ConfigError),
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("{0}")]
    Connection(#[from] ConnectionError),
    /// `VAULT_MAX_RETRIES` (or its `BAO_` twin) is not a count.
    #[error("VAULT_MAX_RETRIES: {0:?} is not a non-negative integer")]
    MaxRetries(String),
    /// A config the run loop cannot run (no auto-auth, wrapped logins, …).
    #[error("{0}")]
    Run(#[from] RunCheckError),
    #[error("{0}")]
    Method(#[from] AuthError),
    #[error("{0}")]
    Sink(#[from] SinkError),
    #[error("{0}")]
    Listener(#[from] ListenerError),
    #[error("cache.{0}")]
    Cache(#[from] CacheError),
    #[error("{0}")]
    Template(#[from] TemplateError),
    /// `-wrapper` (extension, agent.md §1.11.1) without process-supervisor mode.
    #[error(
        "-wrapper needs a config with an exec block and env_template blocks (process-supervisor mode)"
    )]
    WrapperWithoutExec,
}

impl SettingsError {
    /// Whether the config itself could not be loaded (upstream prints these as
    /// `Error loading configuration: …`, the rest as `Error: …`).
    pub fn is_load(&self) -> bool {
        matches!(self, Self::NoConfig | Self::Load(_))
    }
}

impl Settings {
    /// Resolves `agent`'s flags, the environment and the config into settings. Reads the config
    /// files and template sources; writes nothing (the sinks' write check is [`Self::check_sinks`]).
    pub fn resolve(
        args: &AgentArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let config = load_config(args, env)?;
        let (log_level, log_format) = log_settings(args, env, &config)?;
        let connection = Connection::resolve(
            &connection_flags(&args.connection),
            env,
            &stanza_values(&config),
        )?;
        let mut agent = AgentSettings::from_config(&config, &connection, args.exit_after_auth)?;
        if let Some(mode) = args.wrapper {
            agent.supervise = Some(supervise::wrap(
                agent.supervise.take(),
                mode,
                &args.command,
            )?);
        }
        if let Some(v) = env_twin(env, "MAX_RETRIES").filter(|v| !v.is_empty()) {
            agent.proxy_retries = v
                .trim()
                .parse::<u32>()
                .map_err(|_| SettingsError::MaxRetries(v))?;
        }
        Ok(Self {
            connection,
            log_level,
            log_format,
            agent,
        })
    }

    /// The sinks' start-up write check (a probe file next to each sink, removed at once).
    pub fn check_sinks(&self) -> Result<(), SettingsError> {
        for s in &self.agent.sinks {
            s.file.write_check()?;
        }
        Ok(())
    }
}

/// SIGHUP (agent.md §8.2): the log level of a fresh read of the config, with the same precedence.
pub fn reload_log_level(
    args: &AgentArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<LevelFilter, SettingsError> {
    let config = load_config(args, env)?;
    Ok(log_settings(args, env, &config)?.0)
}

/// The config from `-config` paths, else `VAULT_CONFIG`/`BAO_CONFIG`; its warnings go to stderr;
/// the environment overrides applied.
fn load_config(
    args: &AgentArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<AgentConfig, SettingsError> {
    let loaded = if args.config.is_empty() {
        AgentConfig::from_env(env)?.ok_or(SettingsError::NoConfig)?
    } else {
        AgentConfig::load_paths(&args.config)?
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let mut config = loaded.config;
    config.apply_env_overrides(env)?;
    Ok(config)
}

/// The log level and format: flag > env (`BAO_`/`VAULT_`) > config > default.
fn log_settings(
    args: &AgentArgs,
    env: &impl Fn(&str) -> Option<String>,
    config: &AgentConfig,
) -> Result<(LevelFilter, LogFormat), LogError> {
    let level = args
        .log_level
        .clone()
        .or_else(|| env_twin(env, "LOG_LEVEL").filter(|v| !v.is_empty()))
        .or_else(|| config.log_level.clone())
        .unwrap_or_default();
    let format = args
        .log_format
        .clone()
        .or_else(|| env_twin(env, "LOG_FORMAT").filter(|v| !v.is_empty()))
        .or_else(|| config.log_format.clone())
        .unwrap_or_default();
    Ok((logging::parse_level(&level)?, format.parse()?))
}

/// The clap connection flags as plain values.
fn connection_flags(a: &ConnectionArgs) -> ConnectionFlags {
    ConnectionFlags {
        address: a.address.clone(),
        ca_cert: a.ca_cert.clone(),
        ca_path: a.ca_path.clone(),
        client_cert: a.client_cert.clone(),
        client_key: a.client_key.clone(),
        tls_server_name: a.tls_server_name.clone(),
        tls_skip_verify: a.tls_skip_verify,
        namespace: a.namespace.clone(),
    }
}

/// The `vault` stanza's connection values; the namespace falls back to the auth method's.
fn stanza_values(config: &AgentConfig) -> StanzaValues {
    let v = config.vault.clone().unwrap_or_default();
    let method_ns = config
        .auto_auth
        .as_ref()
        .and_then(|a| a.method.canonical_namespace());
    StanzaValues {
        address: v.address,
        ca_cert: v.ca_cert,
        ca_path: v.ca_path,
        client_cert: v.client_cert,
        client_key: v.client_key,
        tls_server_name: v.tls_server_name,
        tls_skip_verify: v.tls_skip_verify,
        namespace: v.namespace.or(method_ns),
    }
}

/// Everything `token revoke -self` runs with (agent.md §8.3).
#[derive(Debug)]
pub struct RevokeSettings {
    pub connection: Connection,
    /// Wait this long first (the preStop hook's delay).
    pub delay: Duration,
    pub token: TokenSource,
}

/// Where the token to revoke comes from.
#[derive(Debug)]
pub enum TokenSource {
    /// `VAULT_TOKEN`/`BAO_TOKEN`, trimmed.
    Env(String),
    /// `-token-file`, else `$HOME/.vault-token` (read after the delay).
    File(PathBuf),
}

/// A `token revoke` the agent refuses (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("Only `token revoke -self` is supported")]
    NotSelf,
    #[error("Too many arguments: -self takes no token argument")]
    TokenArgument,
    #[error("{0}")]
    Connection(#[from] ConnectionError),
}

impl RevokeSettings {
    /// Resolves `token revoke`'s flags and the environment.
    pub fn resolve(
        args: &RevokeArgs,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, RevokeError> {
        if !args.revoke_self {
            return Err(RevokeError::NotSelf);
        }
        if args.token.is_some() {
            return Err(RevokeError::TokenArgument);
        }
        let connection = Connection::resolve(
            &connection_flags(&args.connection),
            env,
            &StanzaValues::default(),
        )?;
        let token = match env_twin(env, "TOKEN").filter(|t| !t.trim().is_empty()) {
            Some(t) => TokenSource::Env(t.trim().to_string()),
            None => TokenSource::File(args.token_file.clone().unwrap_or_else(|| {
                PathBuf::from(env("HOME").unwrap_or_else(|| "/home/vault".into()))
                    .join(".vault-token")
            })),
        };
        Ok(Self {
            connection,
            delay: args.delay.unwrap_or_default(),
            token,
        })
    }
}

#[cfg(test)]
mod tests;
