//! Process-supervisor mode (agent.md §1.11): `exec` plus `env_template` blocks. The template
//! runtime renders the env templates in memory and hands over their values
//! ([`crate::render::handoff::RenderedEnv`]); this module runs `exec.command` as the agent's child
//! with them added to the agent's environment once all have rendered, restarts it when a value
//! changes (`restart_on_secret_changes = "always"`: the stop signal, a wait of up to 30 s, SIGKILL,
//! then a new start), and reports the child's exit code when it exits on its own, which ends the
//! agent with that code. When the agent stops, it stops the child the same way first. As PID 1,
//! every other child that exits is reaped.
//!
//! As an app container's wrapper (`-wrapper`, extension, agent.md §1.11.1) the child's environment
//! loses the agent's own config variables, and in `exec` mode no child is started: the first
//! complete set ends supervision with a [`Replacement`], which the binary `execve`s once the
//! runtime is down.
//!
//! - [`env`]: when a rendered set starts or restarts the child (pure).
//! - [`child`]: start, signal, stop, wait and reap.

pub mod child;
pub mod env;

use std::time::Duration;

use rustix::process::Signal;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::render::handoff::RenderedEnv;
use crate::shutdown::shutdown_requested;
use child::{Child, ChildError, Reaper};
use env::{Changes, QUIET, Restart, Step};

/// How long a stopped child may take to exit before it is killed (upstream's 30 s).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The `exec` stanza, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuperviseSettings {
    /// `exec.command` as configured (one string with whitespace runs under `sh -c`).
    pub command: Vec<String>,
    pub restart: Restart,
    /// `exec.restart_stop_signal`; `None` for `SIGNULL` (only the kill after the timeout).
    pub stop_signal: Option<Signal>,
    pub stop_timeout: Duration,
    /// `-wrapper=exec` (agent.md §1.11.1): replace the agent with the command instead of starting
    /// a child.
    pub replace: bool,
    /// Variables taken out of the child's environment (`-wrapper`: [`WRAPPER_ENV_REMOVED`]).
    pub env_remove: Vec<String>,
}

/// The agent's own variables a wrapped app does not get (agent.md §1.11.1): the config the
/// injector hands the wrapper, and the CA bundle it may add.
pub const WRAPPER_ENV_REMOVED: &[&str] = &["VAULT_CONFIG", "BAO_CONFIG", "VAULT_CACERT_BYTES"];

/// `-wrapper=exec`: what the agent becomes once the runtime is down.
#[derive(PartialEq, Eq)]
pub struct Replacement {
    /// `exec.command` as configured.
    pub command: Vec<String>,
    /// The rendered variables, added to the environment.
    pub env: RenderedEnv,
    /// Taken out of the environment first.
    pub env_remove: Vec<String>,
}

/// Names only: the values are secrets.
impl std::fmt::Debug for Replacement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replacement")
            .field("command", &self.command)
            .field("variables", &self.env.keys().collect::<Vec<_>>())
            .field("env_remove", &self.env_remove)
            .finish()
    }
}

impl Replacement {
    /// `execve`s the command (found on `PATH` like a child); returns only on failure.
    pub fn exec(&self) -> ChildError {
        child::replace(&self.command, &self.env, &self.env_remove)
    }
}

/// How supervision ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The child exited on its own with this code (−1: a signal ended it).
    Exited(i32),
    /// The agent asked to stop; a running child was stopped.
    Stopped,
    /// `-wrapper=exec`: every variable rendered; the agent is to become the command.
    Replace(Replacement),
}

/// Why supervision failed.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("unable to restart the child process: {0}")]
    Start(#[from] ChildError),
    #[error("cannot listen for SIGCHLD: {0}")]
    Signal(#[source] std::io::Error),
}

/// Supervises the child until it exits on its own or `stop` turns true. `env` carries the
/// rendered values.
pub async fn run(
    settings: &SuperviseSettings,
    mut env: watch::Receiver<Option<RenderedEnv>>,
    mut stop: watch::Receiver<bool>,
) -> Result<Outcome, SuperviseError> {
    let init = Reaper::is_init();
    let mut reaper = Reaper::new(init).map_err(SuperviseError::Signal)?;
    if init {
        tracing::info!(target: "exec", "running as PID 1: every exited child process is reaped");
    }
    let mut changes = Changes::new(settings.restart);
    let mut child: Option<Child> = None;
    let mut due: Option<Instant> = None;
    let mut rendering = true;
    loop {
        tokio::select! {
            () = shutdown_requested(&mut stop) => {
                if let Some(c) = child.take() {
                    tracing::info!(target: "exec", pid = c.pid(), "stopping the process");
                    reaper.stop(c, settings.stop_signal, settings.stop_timeout).await;
                }
                return Ok(Outcome::Stopped);
            }
            changed = env.changed(), if rendering => {
                if changed.is_err() {
                    rendering = false;
                    continue;
                }
                let set = env.borrow_and_update().clone();
                if settings.replace && let Some(set) = set {
                    // No quiet period: nothing runs yet, and the values are used once.
                    return Ok(Outcome::Replace(Replacement {
                        command: settings.command.clone(),
                        env: set,
                        env_remove: settings.env_remove.clone(),
                    }));
                }
                if let Some(set) = set
                    && changes.rendered(set)
                {
                    tracing::debug!(target: "exec", "the environment variables changed");
                    due = Some(Instant::now() + QUIET);
                }
            }
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                due = None;
                match changes.due(child.is_some()) {
                    Step::Keep => {
                        if let Some(c) = &child {
                            tracing::info!(target: "exec", pid = c.pid(), "detected update, but not restarting the process");
                        }
                    }
                    Step::Start(set) => child = Some(start(settings, &set)?),
                    Step::Restart(set) => {
                        if let Some(old) = child.take() {
                            tracing::info!(target: "exec", pid = old.pid(), "stopping the process to restart it with the new values");
                            reaper.stop(old, settings.stop_signal, settings.stop_timeout).await;
                        }
                        child = Some(start(settings, &set)?);
                    }
                }
            }
            code = wait_for(&mut reaper, child.as_ref()) => {
                tracing::info!(target: "exec", code, "the process exited");
                return Ok(Outcome::Exited(code));
            }
        }
    }
}

fn start(settings: &SuperviseSettings, set: &RenderedEnv) -> Result<Child, ChildError> {
    let c = Child::spawn(&settings.command, set, &settings.env_remove)?;
    // Names only: the values are secrets.
    tracing::info!(target: "exec", pid = c.pid(), command = ?settings.command, variables = ?set.keys().collect::<Vec<_>>(), "started the process");
    Ok(c)
}

/// The child's exit code; never resolves without a child.
async fn wait_for(reaper: &mut Reaper, child: Option<&Child>) -> i32 {
    match child {
        Some(c) => reaper.wait(c).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn settings(script: &str) -> SuperviseSettings {
        SuperviseSettings {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            restart: Restart::Always,
            stop_signal: Some(Signal::TERM),
            stop_timeout: Duration::from_secs(10),
            replace: false,
            env_remove: Vec::new(),
        }
    }

    fn set(v: &str) -> Option<RenderedEnv> {
        Some(Arc::new(BTreeMap::from([(
            "VAULTLET_T_V".to_string(),
            v.as_bytes().to_vec(),
        )])))
    }

    #[tokio::test]
    async fn starts_after_the_values_then_reports_the_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let s = settings(&format!(
            r#"echo "$VAULTLET_T_V" > {}; exit 4"#,
            out.display()
        ));
        let (env_tx, env_rx) = watch::channel(None);
        let (_stop_tx, stop_rx) = watch::channel(false);
        env_tx.send_replace(set("one"));
        let o = run(&s, env_rx, stop_rx).await.unwrap();
        assert_eq!(o, Outcome::Exited(4));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "one\n");
    }

    #[tokio::test]
    async fn exec_mode_hands_back_the_first_set_without_starting_anything() {
        let mut s = settings("exit 9");
        s.replace = true;
        s.env_remove = vec!["VAULT_CONFIG".into()];
        let (env_tx, env_rx) = watch::channel(None);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let start = std::time::Instant::now();
        env_tx.send_replace(set("one"));
        let Outcome::Replace(r) = run(&s, env_rx, stop_rx).await.unwrap() else {
            panic!("not a replacement")
        };
        assert!(start.elapsed() < QUIET, "no quiet period");
        assert_eq!(r.command, s.command);
        assert_eq!(r.env, set("one").unwrap());
        assert_eq!(r.env_remove, ["VAULT_CONFIG"]);
        let shown = format!("{r:?}");
        assert!(
            shown.contains("VAULTLET_T_V") && !shown.contains("one"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn a_change_restarts_the_child_and_stop_stops_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let s = settings(&format!(
            r#"echo "start $VAULTLET_T_V" >> {0}; trap 'echo "term $VAULTLET_T_V" >> {0}; exit 0' TERM; while :; do sleep 0.05; done"#,
            log.display()
        ));
        let (env_tx, env_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move { run(&s, env_rx, stop_rx).await });
        let read = || std::fs::read_to_string(&log).unwrap_or_default();
        env_tx.send_replace(set("one"));
        let wait = |want: &'static str| {
            let read = &read;
            async move {
                for _ in 0..200 {
                    if read() == want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("want {want:?}, got {:?}", read());
            }
        };
        wait("start one\n").await;
        // The same values again: no restart.
        env_tx.send_replace(set("one"));
        tokio::time::sleep(QUIET + Duration::from_millis(500)).await;
        assert_eq!(read(), "start one\n");
        env_tx.send_replace(set("two"));
        wait("start one\nterm one\nstart two\n").await;
        stop_tx.send_replace(true);
        assert_eq!(task.await.unwrap().unwrap(), Outcome::Stopped);
        assert_eq!(read(), "start one\nterm one\nstart two\nterm two\n");
    }
}
