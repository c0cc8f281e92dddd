//! The fault suite's tools (issue 16): a misbehaving proxy in front of Vault ([`FaultProxy`]),
//! a sampler that reads every rendered file every 50 ms and flags missing, empty or partial
//! content ([`Sampler`]), the agent under test as a process, ours or `bao agent` ([`Agent`]), and
//! the figures a scenario reports ([`Report`]: one parseable `FAULT …` line on stdout).
//! The scenarios themselves are `tests/tests/faults.rs`; what they guarantee is listed in
//! `docs/reliability.md`.

mod agent;
mod proxy;
mod sampler;

use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

pub use agent::{Agent, Kind, workspace_bin};
pub use proxy::{FaultProxy, Mode};
pub use sampler::{SAMPLE_INTERVAL, Sampler, Samples};

/// `VAULTLET_FAULTS=full`: the long windows, and `bao agent` run beside ours.
pub fn full() -> bool {
    std::env::var("VAULTLET_FAULTS").is_ok_and(|v| v == "full")
}

/// `short` in the short form, `full` in the full one.
pub fn pick<T>(short: T, full: T) -> T {
    if self::full() { full } else { short }
}

/// Requests in a raft server's audit log that were not made with a root token (the harness
/// seeds with root; the agent logs in and uses its own token). Logins count.
pub fn audit_requests(audit_log: &Path) -> u64 {
    let Ok(text) = std::fs::read_to_string(audit_log) else {
        return 0;
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["type"] == "request")
        .filter(|e| {
            !e.pointer("/auth/policies")
                .and_then(|p| p.as_array())
                .is_some_and(|p| p.iter().any(|x| x == "root"))
        })
        .count() as u64
}

/// One scenario's figures for one agent, printed as a single line:
/// `FAULT scenario=<name> agent=<vaultlet|bao> key=value …` (no spaces inside values).
#[derive(Debug)]
pub struct Report {
    fields: Vec<(String, String)>,
}

impl Report {
    pub fn new(scenario: &str, kind: Kind) -> Report {
        Report {
            fields: vec![
                ("scenario".into(), scenario.into()),
                ("agent".into(), kind.name().into()),
            ],
        }
    }

    /// Sets (or replaces) a field.
    pub fn set(&mut self, key: &str, value: impl Display) {
        let value = value.to_string().replace(char::is_whitespace, "_");
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(f) => f.1 = value,
            None => self.fields.push((key.to_string(), value)),
        }
    }

    /// A duration in milliseconds, or `none` when it did not happen.
    pub fn set_ms(&mut self, key: &str, d: Option<Duration>) {
        match d {
            Some(d) => self.set(key, d.as_millis()),
            None => self.set(key, "none"),
        }
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The line.
    pub fn line(&self) -> String {
        let mut s = String::from("FAULT");
        for (k, v) in &self.fields {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_one_parseable_line() {
        let mut r = Report::new("restart", Kind::Vaultlet);
        r.set("rps", format!("{:.2}", 1.0f64 / 3.0));
        r.set_ms("recovery_ms", Some(Duration::from_millis(1500)));
        r.set_ms("exit_ms", None);
        r.set("note", "two words");
        r.set("rps", "0.50");
        assert_eq!(
            r.line(),
            "FAULT scenario=restart agent=vaultlet rps=0.50 recovery_ms=1500 exit_ms=none note=two_words"
        );
        assert_eq!(r.get("recovery_ms"), Some("1500"));
    }

    #[test]
    fn audit_requests_skip_the_root_token() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("audit.log");
        std::fs::write(
            &p,
            concat!(
                r#"{"type":"request","auth":{"policies":["root"]}}"#,
                "\n",
                r#"{"type":"request","auth":{"policies":["default","app"]}}"#,
                "\n",
                r#"{"type":"response","auth":{"policies":["default","app"]}}"#,
                "\n",
                r#"{"type":"request","auth":{}}"#,
                "\n",
                "not json\n",
            ),
        )
        .unwrap();
        assert_eq!(audit_requests(&p), 2);
        assert_eq!(audit_requests(&dir.path().join("none")), 0);
    }
}
