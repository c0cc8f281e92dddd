//! Command line of `vaultlet-agent` (also answers as `vault` or `bao`): `agent` and `token revoke`.
//! Everything else lives in the library; this file maps outcomes to exit codes:
//! 0 success / signal, 1 runtime failure, 2 usage error, 64 bad config (before doing anything).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use vaultlet_agent::auth::connection::{Connection, StanzaValues};
use vaultlet_agent::auth::vault_api::VaultApi;
use vaultlet_agent::cli::{AgentArgs, Cli, Command, RevokeArgs, TokenCommand, env_twin};
use vaultlet_agent::process::logging::{self, LogFormat};
use vaultlet_agent::process::run::{Agent, TemplateRuntime};
use vaultlet_agent::process::signals::watch_signals;
use vaultlet_shared::config::AgentConfig;

/// Exit code for a configuration the agent refuses.
const EXIT_CONFIG: u8 = 64;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn runtime() -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    // Refresh deadlines land on the runtime's own 64 ms timer slots (render::pacing).
    vaultlet_agent::render::pacing::mark_runtime_start();
    builder.build().expect("tokio runtime")
}

fn main() -> ExitCode {
    let cli = match Cli::parse_go_style(std::env::args_os().collect::<Vec<OsString>>()) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Agent(args) => agent(args),
        Command::Token {
            command: TokenCommand::Revoke(args),
        } => revoke(args),
    }
}

fn load_config(args: &AgentArgs) -> Result<AgentConfig, String> {
    let loaded = if args.config.is_empty() {
        match AgentConfig::from_env(env).map_err(|e| e.to_string())? {
            Some(l) => l,
            None => {
                return Err("Must specify exactly at least one config path using -config".into());
            }
        }
    } else {
        AgentConfig::load_paths(&args.config).map_err(|e| e.to_string())?
    };
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let mut config = loaded.config;
    config.apply_env_overrides(env).map_err(|e| e.to_string())?;
    Ok(config)
}

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

/// The log level and format texts: flag > env (`BAO_`/`VAULT_`) > config > default.
fn log_settings(args: &AgentArgs, config: &AgentConfig) -> (String, String) {
    let level = args
        .log_level
        .clone()
        .or_else(|| env_twin(&env, "LOG_LEVEL").filter(|v| !v.is_empty()))
        .or_else(|| config.log_level.clone())
        .unwrap_or_default();
    let format = args
        .log_format
        .clone()
        .or_else(|| env_twin(&env, "LOG_FORMAT").filter(|v| !v.is_empty()))
        .or_else(|| config.log_format.clone())
        .unwrap_or_default();
    (level, format)
}

/// SIGHUP: re-read the config and apply its log level only (agent.md §8.2); errors are logged and
/// the agent keeps running.
fn reload_log_level(args: &AgentArgs, setter: &logging::LevelSetter) {
    let applied = load_config(args).and_then(|config| {
        let (level_text, _) = log_settings(args, &config);
        let level = logging::parse_level(&level_text)?;
        setter.set(level)?;
        Ok(level)
    });
    match applied {
        Ok(level) => tracing::info!(target: "agent", level = %level, "log level reloaded"),
        Err(e) => tracing::error!(target: "agent", error = %e, "error reloading the configuration"),
    }
}

fn agent(args: AgentArgs) -> ExitCode {
    let config = match load_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error loading configuration: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let (level_text, format_text) = log_settings(&args, &config);
    let (level, format) = match (
        logging::parse_level(&level_text),
        format_text.parse::<LogFormat>(),
    ) {
        (Ok(l), Ok(f)) => (l, f),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("Error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let conn = match Connection::resolve(&args.connection, &env, &stanza_values(&config)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let level_setter = logging::init(level, format);
    let rt = runtime();
    let _guard = rt.enter();
    let api = match VaultApi::new(&conn) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let address = api.address().to_string();
    let mut agent = match Agent::from_config(config, api, conn, args.exit_after_auth) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Some(v) = env_twin(&env, "MAX_RETRIES").filter(|v| !v.is_empty()) {
        match v.trim().parse::<u32>() {
            Ok(n) => agent.proxy_retries = n,
            Err(_) => {
                eprintln!("Error: VAULT_MAX_RETRIES: {v:?} is not a non-negative integer");
                return ExitCode::from(EXIT_CONFIG);
            }
        }
    }
    eprintln!("==> Vault Agent started! Log data will stream in below:\n");
    eprintln!("==> Vault Agent configuration:\n");
    for (i, l) in agent.listeners.iter().enumerate() {
        eprintln!("         Api Address {}: http://{}", i + 1, l.address);
    }
    eprintln!("         Vault Address: {address}");
    eprintln!("             Log Level: {level}");
    eprintln!(
        "               Version: vaultlet {}\n",
        env!("CARGO_PKG_VERSION")
    );
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let result = rt.block_on(async {
        tokio::spawn(async move {
            let reload = move || reload_log_level(&args, &level_setter);
            if let Err(e) = watch_signals(shutdown_tx, reload).await {
                tracing::error!(target: "agent", error = %e, "cannot listen for signals");
            }
        });
        agent.run(shutdown_rx, template_runtime()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(target: "agent", error = %e, "agent stopped");
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The template runtime the agent runs beside auto-auth (see `process::run` for the contract).
fn template_runtime() -> Option<TemplateRuntime> {
    Some(vaultlet_agent::render::runtime())
}

fn revoke(args: RevokeArgs) -> ExitCode {
    if !args.revoke_self {
        eprintln!("Only `token revoke -self` is supported");
        return ExitCode::from(2);
    }
    if args.token.is_some() {
        eprintln!("Too many arguments: -self takes no token argument");
        return ExitCode::from(2);
    }
    // The delay comes first so the token read is the one in use when the pod stops.
    std::thread::sleep(args.delay.unwrap_or_default());
    let token = match env_twin(&env, "TOKEN").filter(|t| !t.trim().is_empty()) {
        Some(t) => t.trim().to_string(),
        None => {
            let path = args.token_file.clone().unwrap_or_else(|| {
                PathBuf::from(env("HOME").unwrap_or_else(|| "/home/vault".into()))
                    .join(".vault-token")
            });
            match std::fs::read_to_string(&path) {
                Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
                Ok(_) => {
                    eprintln!("Error revoking token: {} is empty", path.display());
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!(
                        "Error revoking token: no VAULT_TOKEN and cannot read {}: {e}",
                        path.display()
                    );
                    return ExitCode::from(2);
                }
            }
        }
    };
    let conn = match Connection::resolve(&args.connection, &env, &StanzaValues::default()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = runtime();
    let result = rt.block_on(async {
        let api = VaultApi::new(&conn)?;
        api.revoke_self(&token).await
    });
    match result {
        Ok(()) => {
            println!("Success! Revoked token (if it existed)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error revoking token: {e}");
            ExitCode::from(1)
        }
    }
}
