//! The supervised child process (agent.md §1.11): started with the rendered variables added to
//! the agent's environment (a one-string command with whitespace runs under `sh -c` in its own
//! process group, as template commands do, agent.md §5.9), signalled, stopped (the stop signal,
//! then SIGKILL when it has not exited within the timeout) and waited for with `waitpid` on
//! SIGCHLD. When the agent is PID 1 its [`Reaper`] also reaps every other child that exits
//! (processes orphaned inside the container are re-parented to PID 1), so none stays a zombie.

use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions, WaitStatus, getpid, waitpid};
use tokio::signal::unix::{SignalKind, signal};

use crate::render::command::resolve_argv;
use crate::render::handoff::EnvMap;

/// How often the reaper looks even without a SIGCHLD (a safety net; SIGCHLD is the trigger).
const POLL: Duration = Duration::from_secs(1);

/// A child that could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error(
        "exec.command {command:?} is one string with spaces, which needs a shell, and no sh was found in PATH, /bin or /usr/bin: give the program and its arguments as a list"
    )]
    NoShell { command: String },
    #[error("error starting the child process {argv:?}: {source}")]
    Spawn {
        argv: Vec<String>,
        #[source]
        source: io::Error,
    },
    #[error("error replacing the agent with {argv:?}: {source}")]
    Exec {
        argv: Vec<String>,
        #[source]
        source: io::Error,
    },
}

/// The command of `command` (as [`Child::spawn`] runs it) with `env` added to the agent's
/// environment less `remove`.
fn command_for(argv: &[String], env: &EnvMap, remove: &[String]) -> std::process::Command {
    let mut c = std::process::Command::new(&argv[0]);
    c.args(&argv[1..]);
    for name in remove {
        c.env_remove(name);
    }
    for (name, value) in env {
        c.env(name, std::ffi::OsStr::from_bytes(value));
    }
    c
}

/// `-wrapper=exec` (agent.md §1.11.1): `execve`s `command` in place of the agent, with `env`
/// added to the environment less `remove`: the app keeps the agent's PID and the values exist only
/// in its environment. Returns only when the exec failed.
pub fn replace(command: &[String], env: &EnvMap, remove: &[String]) -> ChildError {
    let Some(argv) = resolve_argv(command) else {
        return ChildError::NoShell {
            command: command.join(" "),
        };
    };
    let source = command_for(&argv, env, remove).exec();
    ChildError::Exec {
        argv: command.to_vec(),
        source,
    }
}

/// The signal of an `exec.restart_stop_signal` name (one of the config's `EXEC_STOP_SIGNALS`):
/// `Some(None)` for `SIGNULL` (nothing is sent), `None` for an unknown name.
pub fn signal_named(name: &str) -> Option<Option<Signal>> {
    let s = match name {
        "SIGNULL" => return Some(None),
        "SIGABRT" | "SIGIOT" => Signal::ABORT,
        "SIGALRM" => Signal::ALARM,
        "SIGBUS" => Signal::BUS,
        "SIGCONT" => Signal::CONT,
        "SIGFPE" => Signal::FPE,
        "SIGHUP" => Signal::HUP,
        "SIGILL" => Signal::ILL,
        "SIGINT" => Signal::INT,
        "SIGIO" => Signal::IO,
        "SIGKILL" => Signal::KILL,
        "SIGPIPE" => Signal::PIPE,
        "SIGPROF" => Signal::PROF,
        "SIGQUIT" => Signal::QUIT,
        "SIGSEGV" => Signal::SEGV,
        "SIGSTOP" => Signal::STOP,
        "SIGSYS" => Signal::SYS,
        "SIGTERM" => Signal::TERM,
        "SIGTRAP" => Signal::TRAP,
        "SIGTSTP" => Signal::TSTP,
        "SIGTTIN" => Signal::TTIN,
        "SIGTTOU" => Signal::TTOU,
        "SIGUSR1" => Signal::USR1,
        "SIGUSR2" => Signal::USR2,
        "SIGWINCH" => Signal::WINCH,
        "SIGXCPU" => Signal::XCPU,
        "SIGXFSZ" => Signal::XFSZ,
        _ => return None,
    };
    Some(Some(s))
}

/// The exit code the agent reports for a child's wait status: its exit status, or −1 when a
/// signal ended it (upstream's; the agent then exits 255).
pub fn exit_code(status: WaitStatus) -> i32 {
    status.exit_status().unwrap_or(-1)
}

/// A started child.
#[derive(Debug)]
pub struct Child {
    pid: Pid,
    /// Started under `sh -c` in its own process group: signals go to the group.
    group: bool,
}

impl Child {
    /// Starts `command` (as configured) with `env` added to the agent's environment less
    /// `remove`; stdin, stdout and stderr are the agent's.
    pub fn spawn(command: &[String], env: &EnvMap, remove: &[String]) -> Result<Child, ChildError> {
        let Some(argv) = resolve_argv(command) else {
            return Err(ChildError::NoShell {
                command: command.join(" "),
            });
        };
        let group = argv.as_slice() != command;
        let mut c = command_for(&argv, env, remove);
        if group {
            c.process_group(0);
        }
        let child = c.spawn().map_err(|source| ChildError::Spawn {
            argv: command.to_vec(),
            source,
        })?;
        // The std handle is dropped without waiting: the `Reaper` waits for the child.
        Ok(Child {
            pid: Pid::from_child(&child),
            group,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw_pid().unsigned_abs()
    }

    /// Sends `sig` to the child (its process group when it runs under `sh -c`); a child that is
    /// already gone is not an error.
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        let r = if self.group {
            rustix::process::kill_process_group(self.pid, sig)
        } else {
            rustix::process::kill_process(self.pid, sig)
        };
        match r {
            Ok(()) | Err(Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Waits for children on SIGCHLD.
pub struct Reaper {
    sigchld: tokio::signal::unix::Signal,
    /// PID 1: reap every child, not only the supervised one.
    any: bool,
}

impl Reaper {
    /// Listens for SIGCHLD (before any child starts, so none is missed); `any`: reap every
    /// child that exits (for PID 1, see [`Reaper::is_init`]).
    pub fn new(any: bool) -> io::Result<Reaper> {
        Ok(Reaper {
            sigchld: signal(SignalKind::child())?,
            any,
        })
    }

    /// Whether the agent is PID 1 (of its PID namespace).
    pub fn is_init() -> bool {
        getpid().is_init()
    }

    /// The child's exit code once it has exited (reaping any other exited child along the way
    /// as PID 1).
    pub async fn wait(&mut self, child: &Child) -> i32 {
        loop {
            if let Some(code) = self.try_reap(child.pid) {
                return code;
            }
            let _ = tokio::time::timeout(POLL, self.sigchld.recv()).await;
        }
    }

    /// Stops the child: `sig` (none for `SIGNULL`), then SIGKILL if it has not exited within
    /// `timeout`; returns its exit code.
    pub async fn stop(&mut self, child: Child, sig: Option<Signal>, timeout: Duration) -> i32 {
        if let Some(sig) = sig
            && let Err(e) = child.signal(sig)
        {
            tracing::error!(target: "exec", pid = child.pid(), "error sending the stop signal: {e}");
        }
        match tokio::time::timeout(timeout, self.wait(&child)).await {
            Ok(code) => code,
            Err(_) => {
                tracing::warn!(target: "exec", pid = child.pid(), "the process did not exit within {timeout:?}: killing it");
                if let Err(e) = child.signal(Signal::KILL) {
                    tracing::error!(target: "exec", pid = child.pid(), "error killing the process: {e}");
                }
                self.wait(&child).await
            }
        }
    }

    /// `Some(code)` once `pid` has exited. As PID 1, every other exited child is reaped too.
    fn try_reap(&self, pid: Pid) -> Option<i32> {
        loop {
            let which = if self.any { None } else { Some(pid) };
            match waitpid(which, WaitOptions::NOHANG) {
                Ok(Some((p, status))) if p == pid => return Some(exit_code(status)),
                Ok(Some((p, status))) => {
                    tracing::debug!(target: "exec", pid = p.as_raw_pid(), code = exit_code(status), "reaped an orphaned process");
                }
                Ok(None) => return None,
                Err(Errno::INTR) => {}
                // No such child: it is gone (nothing else waits for it, so this is not expected).
                Err(e) => {
                    tracing::error!(target: "exec", pid = pid.as_raw_pid(), "waitpid: {e}");
                    return Some(-1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vaultlet_shared::config::EXEC_STOP_SIGNALS;

    #[test]
    fn every_configurable_stop_signal_has_a_number() {
        for name in EXEC_STOP_SIGNALS {
            assert!(signal_named(name).is_some(), "{name}");
        }
        assert_eq!(signal_named("SIGNULL"), Some(None));
        assert_eq!(signal_named("SIGTERM"), Some(Some(Signal::TERM)));
        assert_eq!(signal_named("SIGIOT"), Some(Some(Signal::ABORT)));
        assert_eq!(signal_named("TERM"), None);
    }

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn the_child_gets_the_variables_and_its_exit_code_is_reported() {
        let mut reaper = Reaper::new(false).unwrap();
        let env = BTreeMap::from([("VAULTLET_T_A".to_string(), b"x y".to_vec())]);
        let c = Child::spawn(
            &argv(&["/bin/sh", "-c", r#"test "$VAULTLET_T_A" = "x y" && exit 3"#]),
            &env,
            &[],
        )
        .unwrap();
        assert_eq!(reaper.wait(&c).await, 3);
    }

    #[tokio::test]
    async fn a_value_that_is_not_utf8_reaches_the_child_as_its_bytes() {
        let mut reaper = Reaper::new(false).unwrap();
        let env = BTreeMap::from([("VAULTLET_T_BIN".to_string(), b"a\xff\xfeb".to_vec())]);
        let c = Child::spawn(
            &argv(&[
                "/bin/sh",
                "-c",
                r#"test "$(printf %s "$VAULTLET_T_BIN" | od -An -tx1 | tr -d ' \n')" = 61fffe62 && exit 4"#,
            ]),
            &env,
            &[],
        )
        .unwrap();
        assert_eq!(reaper.wait(&c).await, 4);
        let cmd = command_for(&argv(&["/bin/true"]), &env, &[]);
        let got: Vec<_> = cmd.get_envs().collect();
        assert_eq!(
            got,
            [(
                std::ffi::OsStr::new("VAULTLET_T_BIN"),
                Some(std::ffi::OsStr::from_bytes(b"a\xff\xfeb"))
            )]
        );
    }

    #[tokio::test]
    async fn a_child_killed_by_a_signal_reports_minus_one() {
        let mut reaper = Reaper::new(false).unwrap();
        let c = Child::spawn(
            &argv(&["/bin/sh", "-c", "kill -KILL $$"]),
            &BTreeMap::new(),
            &[],
        )
        .unwrap();
        assert_eq!(reaper.wait(&c).await, -1);
    }

    #[tokio::test]
    async fn stop_sends_the_signal_and_waits() {
        let mut reaper = Reaper::new(false).unwrap();
        // One string with spaces: `sh -c` in its own process group; the trap answers SIGUSR1.
        let c = Child::spawn(
            &argv(&["exec 2>/dev/null; trap 'exit 7' USR1; while :; do sleep 0.05; done"]),
            &BTreeMap::new(),
            &[],
        )
        .unwrap();
        assert!(c.group);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let code = reaper
            .stop(c, Some(Signal::USR1), Duration::from_secs(20))
            .await;
        assert_eq!(code, 7);
    }

    #[tokio::test]
    async fn a_child_ignoring_the_stop_signal_is_killed_after_the_timeout() {
        let mut reaper = Reaper::new(false).unwrap();
        let c = Child::spawn(
            &argv(&[
                "/bin/sh",
                "-c",
                "trap '' TERM; while :; do sleep 0.05; done",
            ]),
            &BTreeMap::new(),
            &[],
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = std::time::Instant::now();
        let code = reaper
            .stop(c, Some(Signal::TERM), Duration::from_millis(500))
            .await;
        assert_eq!(code, -1, "SIGKILL");
        assert!(start.elapsed() >= Duration::from_millis(500));
    }

    #[tokio::test]
    async fn removed_variables_are_not_in_the_child_environment() {
        let mut reaper = Reaper::new(false).unwrap();
        // Removed first, added after: VAULTLET_T_B is both and stays; HOME is gone.
        let c = Child::spawn(
            &argv(&[
                "/bin/sh",
                "-c",
                r#"test -z "${HOME+set}" && test "$VAULTLET_T_B" = b"#,
            ]),
            &BTreeMap::from([("VAULTLET_T_B".to_string(), b"b".to_vec())]),
            &["HOME".to_string(), "VAULTLET_T_B".to_string()],
        )
        .unwrap();
        assert_eq!(reaper.wait(&c).await, 0);
    }

    #[test]
    fn a_missing_program_is_a_start_error() {
        let e =
            Child::spawn(&argv(&["/nonexistent/vaultlet-app"]), &BTreeMap::new(), &[]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/vaultlet-app"), "{e}");
    }
}
