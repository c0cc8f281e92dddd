//! Helpers shared by the agent's end-to-end tests: run the built `vaultlet-agent` binary as a child
//! process with a config in a tempdir, capture its log, wait for files (polling with
//! `vaultlet_tests::within`), send signals.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use vaultlet_tests::within;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_vaultlet-agent");

/// Env vars of the test process that must not leak into the agent.
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
    "VAULT_SKIP_VERIFY",
    "BAO_SKIP_VERIFY",
];

/// A command for the binary with a clean environment.
pub fn command() -> Command {
    let mut c = Command::new(BIN);
    for v in SCRUB {
        c.env_remove(v);
    }
    c
}

/// A running agent: its tempdir (config, sink, log) and the child.
pub struct AgentRun {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub log: PathBuf,
}

/// A jwt auto-auth config writing the token to `sink`.
pub fn jwt_config(addr: &str, jwt_path: &Path, role: &str, sink: &Path) -> Value {
    json!({
        "auto_auth": {
            "method": {
                "type": "jwt", "mount_path": "auth/jwt",
                "min_backoff": "1s", "max_backoff": "4s",
                "config": {"path": jwt_path.to_str().unwrap(), "role": role, "remove_jwt_after_reading": "false"}
            },
            "sink": [{"type": "file", "config": {"path": sink.to_str().unwrap()}}]
        },
        "vault": {"address": addr}
    })
}

impl AgentRun {
    /// Writes `config` to `<dir>/config.json` and starts `vaultlet-agent agent -config=… args…`
    /// with stdout+stderr to `<dir>/agent.log`.
    pub fn start(dir: tempfile::TempDir, config: &Value, args: &[&str]) -> Self {
        Self::start_with_env(dir, config, args, &[])
    }

    /// [`Self::start`] with extra environment variables.
    pub fn start_with_env(
        dir: tempfile::TempDir,
        config: &Value,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, config.to_string()).unwrap();
        let log = dir.path().join("agent.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = command()
            .arg("agent")
            .arg(format!("-config={}", cfg.display()))
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        Self { dir, child, log }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM with `kill`.
    pub fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM failed");
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        within(timeout, || self.child.try_wait().unwrap())
    }

    /// Reads the file once `cond` holds for its content, or panics with the agent log.
    pub fn wait_file(&self, path: &Path, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        within(timeout, || {
            std::fs::read_to_string(path).ok().filter(|s| cond(s))
        })
        .unwrap_or_else(|| {
            panic!(
                "timed out waiting for {}; agent log:\n{}",
                path.display(),
                self.log()
            )
        })
    }

    /// Waits until the log satisfies `cond`, or panics with the log.
    pub fn wait_log(&self, timeout: Duration, cond: impl Fn(&str) -> bool) -> String {
        within(timeout, || Some(self.log()).filter(|l| cond(l)))
            .unwrap_or_else(|| panic!("timed out waiting on the log:\n{}", self.log()))
    }
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses a Rust `Debug` duration as logged (`948.7ms`, `1.44s`, `12µs`, `5ns`).
pub fn parse_debug_duration(s: &str) -> Option<Duration> {
    let s = s.trim().trim_matches('"');
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix("µs") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ns") {
        (n, 1e-9)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    num.parse::<f64>()
        .ok()
        .map(|n| Duration::from_secs_f64(n * scale))
}

/// The `backoff=` values of `error authenticating` lines, in order.
pub fn logged_backoffs(log: &str) -> Vec<Duration> {
    log.lines()
        .filter(|l| l.contains("error authenticating"))
        .filter_map(|l| l.split(" backoff=").nth(1))
        .filter_map(|rest| parse_debug_duration(rest.split_whitespace().next().unwrap_or("")))
        .collect()
}

/// An HTTP call with `curl` (present wherever the tests run): (status, body).
pub fn curl(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "-S",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "--max-time",
        "20",
        url,
    ]);
    for (k, v) in headers {
        c.args(["-H", &format!("{k}: {v}")]);
    }
    if let Some(b) = body {
        c.args(["--data-binary", b]);
    }
    let out = c.output().expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// `auth/token/lookup` of `token` with the root token: the `data`, or the error text.
pub fn lookup_token(bao: &vaultlet_tests::OpenBao, token: &str) -> Result<Value, String> {
    let (code, text) = bao.api_raw(
        "POST",
        "auth/token/lookup",
        Some(&json!({ "token": token }).to_string()),
    );
    if code == 200 {
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        Ok(v["data"].clone())
    } else {
        Err(format!("HTTP {code}: {text}"))
    }
}
