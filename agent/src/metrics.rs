//! The agent's few counters (agent.md §8.5): logins and renewals that worked or failed, and whether
//! the agent holds a token. Lock-free, rendered as Prometheus text for a metrics endpoint.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Auto-auth counters shared by the login loop and the lifetime watcher.
#[derive(Debug, Default)]
pub struct Metrics {
    auth_success: AtomicU64,
    auth_failure: AtomicU64,
    renewals: AtomicU64,
    authenticated: AtomicU64,
}

impl Metrics {
    /// A successful login: `auth.success` +1, `authenticated` = 1.
    pub fn login_succeeded(&self) {
        self.auth_success.fetch_add(1, Ordering::Relaxed);
        self.authenticated.store(1, Ordering::Relaxed);
    }

    /// A successful renewal: `auth.success` +1 (upstream counts both), `renewals` +1.
    pub fn renewal_succeeded(&self) {
        self.auth_success.fetch_add(1, Ordering::Relaxed);
        self.renewals.fetch_add(1, Ordering::Relaxed);
    }

    /// A failed login, renewal or lookup: `auth.failure` +1, `authenticated` = 0.
    pub fn auth_failed(&self) {
        self.auth_failure.fetch_add(1, Ordering::Relaxed);
        self.authenticated.store(0, Ordering::Relaxed);
    }

    /// Shutdown: `authenticated` = 0.
    pub fn shut_down(&self) {
        self.authenticated.store(0, Ordering::Relaxed);
    }

    /// Successful logins plus renewals.
    pub fn successes(&self) -> u64 {
        self.auth_success.load(Ordering::Relaxed)
    }

    /// Failed logins and renewals.
    pub fn failures(&self) -> u64 {
        self.auth_failure.load(Ordering::Relaxed)
    }

    /// Successful renewals.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition of the counters (names as upstream's with `.` ⇒ `_`).
    pub fn prometheus_text(&self) -> String {
        let mut out = String::new();
        let rows = [
            ("vault_agent_auth_success", "counter", self.successes()),
            ("vault_agent_auth_failure", "counter", self.failures()),
            ("vault_agent_auth_renewals", "counter", self.renewals()),
            (
                "vault_agent_authenticated",
                "gauge",
                self.authenticated.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, value) in rows {
            let _ = writeln!(out, "# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_renders() {
        let m = Metrics::default();
        m.login_succeeded();
        m.renewal_succeeded();
        m.auth_failed();
        assert_eq!((m.successes(), m.failures(), m.renewals()), (2, 1, 1));
        let text = m.prometheus_text();
        assert!(text.contains("vault_agent_auth_success 2\n"), "{text}");
        assert!(text.contains("vault_agent_auth_failure 1\n"), "{text}");
        assert!(text.contains("vault_agent_authenticated 0\n"), "{text}");
        m.login_succeeded();
        assert!(
            m.prometheus_text()
                .contains("vault_agent_authenticated 1\n")
        );
    }
}
