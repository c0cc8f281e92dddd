//! Command line of `vaultlet-agent` (also answers as `vault` or `bao`): `agent`, `probe`,
//! `token revoke` and `signal`.
//! Parse the flags, resolve the settings (or exit), set up logging, run. Everything else lives in
//! the library; this file maps outcomes to exit codes:
//! 0 success / signal, 1 runtime failure, 2 usage error, 64 bad config (before doing anything);
//! in process-supervisor mode, the child's own exit code when it exits (agent.md §1.11); with
//! `-wrapper=exec` the agent `execve`s the app once its variables rendered (agent.md §1.11.1).

use std::ffi::OsString;
use std::process::ExitCode;

use vaultlet_agent::auth::vault_api::VaultApi;
use vaultlet_agent::cli::{
    AgentArgs, Cli, Command, CopySelfArgs, RevokeArgs, SignalArgs, TokenCommand,
};
use vaultlet_agent::logging;
use vaultlet_agent::process::run::{Agent, Finished, RunError};
use vaultlet_agent::process::signals::watch_signals;
use vaultlet_agent::proxy::ProxyError;
use vaultlet_agent::render::handoff::TemplateRuntime;
use vaultlet_agent::settings::{
    self, RevokeError, RevokeSettings, Settings, SettingsError, TokenSource, process_env,
};

/// Exit code for a configuration the agent refuses.
const EXIT_CONFIG: u8 = 64;

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
        Command::Probe(args) => probe(&args),
        Command::Token {
            command: TokenCommand::Revoke(args),
        } => revoke(args),
        Command::Signal(args) => signal(args),
        Command::CopySelf(args) => copy_self(&args),
    }
}

/// `copy-self <dest>` (extension, injector.md §4.11): this binary to `dest`, mode 0755.
fn copy_self(args: &CopySelfArgs) -> ExitCode {
    let from = std::path::Path::new("/proc/self/exe");
    match vaultlet_agent::copy_self::copy(from, &args.dest) {
        Ok(n) => {
            println!("copied the agent ({n} bytes) to {}", args.dest.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "Error: cannot copy the agent to {}: {e}",
                args.dest.display()
            );
            ExitCode::from(1)
        }
    }
}

/// `signal <SIGNAL> <process>`: 0 when at least one process got the signal, 1 otherwise.
fn signal(args: SignalArgs) -> ExitCode {
    let result = vaultlet_shared::signal::parse_signal(&args.signal)
        .map_err(Into::into)
        .and_then(|sig| {
            vaultlet_agent::signal::send(sig, &args.process, std::path::Path::new("/proc"))
                .map(|n| (sig, n))
        });
    match result {
        Ok((sig, n)) => {
            let s = if n == 1 { "" } else { "es" };
            println!(
                "sent SIG{} to {n} process{s} named {:?}",
                sig.name, args.process
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
    }
}

fn config_error(e: &SettingsError) -> ExitCode {
    if e.is_load() {
        eprintln!("Error loading configuration: {e}");
    } else {
        eprintln!("Error: {e}");
    }
    ExitCode::from(EXIT_CONFIG)
}

/// SIGHUP: re-read the config and apply its log level only (agent.md §8.2); errors are logged and
/// the agent keeps running.
fn reload_log_level(args: &AgentArgs, setter: &logging::LevelSetter) {
    let applied = settings::reload_log_level(args, &process_env).and_then(|level| {
        setter.set(level)?;
        Ok(level)
    });
    match applied {
        Ok(level) => tracing::info!(target: "agent", level = %level, "log level reloaded"),
        Err(e) => tracing::error!(target: "agent", error = %e, "error reloading the configuration"),
    }
}

fn agent(args: AgentArgs) -> ExitCode {
    let settings = match Settings::resolve(&args, &process_env) {
        Ok(s) => s,
        Err(e) => return config_error(&e),
    };
    if let Err(e) = settings.check_sinks() {
        return config_error(&e);
    }
    let Settings {
        connection,
        log_level: level,
        log_format,
        agent: agent_settings,
    } = settings;
    let level_setter = logging::init(level, log_format);
    let wrapper = args.wrapper.is_some();
    let rt = runtime();
    let guard = rt.enter();
    let api = match VaultApi::new(&connection) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let address = api.address().to_string();
    let agent = Agent::new(agent_settings, connection, api);
    // A wrapper (agent.md §1.11.1) shares the app's stderr: no banner there.
    if !wrapper {
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
    }
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
        Ok(Finished::Replace(replacement)) => {
            // The runtime goes first (without waiting for blocking tasks), then the agent
            // becomes the app: same PID, the values only in its environment.
            drop(guard);
            rt.shutdown_background();
            tracing::info!(target: "exec", command = ?replacement.command, variables = ?replacement.env.keys().collect::<Vec<_>>(), "replacing the agent with the process");
            let e = replacement.exec();
            eprintln!("Error: {e}");
            ExitCode::from(1)
        }
        Ok(Finished::Done) | Err(RunError::ChildExited(0)) => ExitCode::SUCCESS,
        Err(e) => stopped(&e),
    }
}

/// How a failed run ends, in upstream's shape (agent.md §6.1). A PID file or a listener that
/// cannot be set up is reported on stdout in one line and not logged (upstream checks them before
/// it starts its services); every other failure logs `runtime error encountered` with the error
/// (and a failed template's destination) and `exitCode`, and prints upstream's pointer to the logs
/// on stdout. The exit code is 1, or the child's own (−1, a signal, is 255, as upstream's
/// `os.Exit(-1)`).
fn stopped(e: &RunError) -> ExitCode {
    let code = match e {
        RunError::ChildExited(code) => *code,
        _ => 1,
    };
    match e {
        RunError::PidFile { path, source } => say(&format!(
            "Error storing PID: could not open pid file: open {}: {}",
            path.display(),
            go_errno(source)
        )),
        RunError::Listener(ProxyError::Bind { addr, source }) => say(&format!(
            "Error starting listener: listen tcp {addr}: bind: {}",
            go_errno(source)
        )),
        RunError::Listener(_) => say(&format!("Error starting listener: {e}")),
        _ => {
            match e.template_destination() {
                Some(dest) => {
                    tracing::error!(target: "agent", error = %e, destination = dest, exitCode = code, "runtime error encountered")
                }
                None => {
                    tracing::error!(target: "agent", error = %e, exitCode = code, "runtime error encountered")
                }
            }
            say("Error encountered during run, refer to logs for more details.");
        }
    }
    ExitCode::from(code as u8)
}

/// An OS error as Go words it (`no such file or directory`), else the error's own text.
fn go_errno(e: &std::io::Error) -> String {
    use rustix::io::Errno;
    use std::io::ErrorKind;
    // The atomic write wraps the OS error with its temporary path, keeping only its kind.
    let code = e.raw_os_error().or(match e.kind() {
        ErrorKind::NotFound => Some(Errno::NOENT.raw_os_error()),
        ErrorKind::PermissionDenied => Some(Errno::ACCESS.raw_os_error()),
        ErrorKind::NotADirectory => Some(Errno::NOTDIR.raw_os_error()),
        ErrorKind::IsADirectory => Some(Errno::ISDIR.raw_os_error()),
        ErrorKind::ReadOnlyFilesystem => Some(Errno::ROFS.raw_os_error()),
        ErrorKind::StorageFull => Some(Errno::NOSPC.raw_os_error()),
        _ => None,
    });
    let Some(code) = code else {
        return e.to_string();
    };
    let text = std::io::Error::from_raw_os_error(code).to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// One line on stdout, where upstream's UI writes its errors; a closed stdout is ignored.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// `probe`: the configuration resolved exactly as `agent` resolves it (same flags, same
/// environment), then the readiness marker beside its `pid_file` (injector.md §4.10). Exit 0 when
/// ready, 1 with a one-line reason otherwise, 64 when the configuration is refused.
fn probe(args: &AgentArgs) -> ExitCode {
    let settings = match Settings::resolve(args, &process_env) {
        Ok(s) => s,
        Err(e) => return config_error(&e),
    };
    match vaultlet_agent::process::ready::check(settings.agent.pid_file.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// The template runtime the agent runs beside auto-auth (see `render::handoff` for the contract).
fn template_runtime() -> Option<TemplateRuntime> {
    Some(vaultlet_agent::render::runtime())
}

fn revoke(args: RevokeArgs) -> ExitCode {
    let settings = match RevokeSettings::resolve(&args, &process_env) {
        Ok(s) => s,
        Err(e @ RevokeError::Connection(_)) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // The delay comes first so the token read is the one in use when the pod stops.
    std::thread::sleep(settings.delay);
    let token = match settings.token {
        TokenSource::Env(t) => t,
        TokenSource::File(path) => match std::fs::read_to_string(&path) {
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
        },
    };
    let rt = runtime();
    let result = rt.block_on(async {
        let api = VaultApi::new(&settings.connection)?;
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
