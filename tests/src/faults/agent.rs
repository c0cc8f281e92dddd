//! The agent under test as a child process: ours (the workspace's built `vaultlet-agent`) or the
//! real `bao agent`, started with the same config file; its log, resident memory, signals and
//! exit. Stopped (SIGKILL) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::{bao_binary, within};

/// Which agent runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `vaultlet-agent agent` (ours).
    Vaultlet,
    /// `bao agent` of the pinned OpenBao release (upstream's behaviour, for comparison).
    Bao,
}

impl Kind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vaultlet => "vaultlet",
            Kind::Bao => "bao",
        }
    }
}

/// Environment of the test process that must not reach the agent.
const SCRUB: &[&str] = &[
    "VAULT_ADDR",
    "BAO_ADDR",
    "VAULT_TOKEN",
    "BAO_TOKEN",
    "VAULT_CONFIG",
    "BAO_CONFIG",
    "VAULT_NAMESPACE",
    "BAO_NAMESPACE",
    "VAULT_CACERT",
    "BAO_CACERT",
    "VAULT_LOG_LEVEL",
    "BAO_LOG_LEVEL",
    "VAULT_CLIENT_TIMEOUT",
    "BAO_CLIENT_TIMEOUT",
];

/// A built binary of the workspace, next to the test executable's directory (`target/debug`).
/// `cargo test --workspace` builds every binary first; `scripts/faults` builds the agent.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p vaultlet-agent` (or `cargo test --workspace`) first",
        p.display()
    );
    p
}

/// A running agent.
pub struct Agent {
    pub kind: Kind,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Agent {
    /// Writes `config` to `<dir>/agent-<kind>.json` and starts the agent on it, its output to
    /// `<dir>/agent-<kind>.log` (appended: a restarted agent keeps one log), with `env` added.
    pub fn start(kind: Kind, dir: &Path, config: &Value, env: &[(&str, &str)]) -> Agent {
        let cfg = dir.join(format!("agent-{}.json", kind.name()));
        std::fs::write(&cfg, config.to_string()).expect("agent config");
        let log = dir.join(format!("agent-{}.log", kind.name()));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("agent log");
        let program = match kind {
            Kind::Vaultlet => workspace_bin("vaultlet-agent"),
            Kind::Bao => bao_binary(),
        };
        let mut cmd = Command::new(program);
        for v in SCRUB {
            cmd.env_remove(v);
        }
        let child = cmd
            .arg("agent")
            .arg(format!("-config={}", cfg.display()))
            .env("HOME", dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log fd"))
            .stderr(out)
            .spawn()
            .expect("agent starts");
        Agent {
            kind,
            child,
            log,
            status: None,
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident memory (VmRSS) in KiB, while it runs.
    pub fn rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    }

    /// Sends a signal (`TERM`, `INT`, …) with `kill`.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{name} {} failed", self.pid());
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        within(timeout, || self.exited())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
