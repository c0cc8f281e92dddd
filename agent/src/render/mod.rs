//! The rendering runtime (agent.md §5–6): waits for the auto-auth token, runs a [`runner`] with a
//! Vault client holding that token, starts a fresh runner for every new token, and applies
//! agent.md §5.6's policy when a runner fails (`exit_on_retry_failure` ⇒ the agent stops; otherwise a
//! restart with backoff). Its settings arrive resolved ([`handoff::RenderSettings`], built by
//! the settings step before start-up, every template already parsed).
//!
//! - [`handoff`]: what the run loop hands the runtime (settings, tokens, shutdown).
//! - [`schedule`]: refresh and retry timing (pure).
//! - [`pacing`]: the instant of each jittered refresh, so an agent's fetches share wake-ups.
//! - [`recovery`]: one probe while Vault is unavailable, a spread release after (pure).
//! - [`fetch`]: one fetch of one dependency; `pkiCert`'s file cache.
//! - [`leases`]: the leased answers handed from the init container to the sidecar (agent.md §7.3).
//! - [`write`]: atomic destination writes.
//! - [`command`]: commands after a change.
//! - [`handlebars`]: the opt-in second dialect.
//! - [`quiescence`]: per-template `wait`.
//! - [`pass`]: the pass decision (which templates execute, write, hold, run commands), pure.
//! - [`runner`]: the edge around it: fetchers, writes, commands.
//! - [`error`]: [`RenderError`], why a runner stopped.

pub mod command;
pub mod error;
pub mod fetch;
pub mod handlebars;
pub mod handoff;
pub mod leases;
pub mod pacing;
pub mod pass;
pub mod quiescence;
pub mod recovery;
pub mod runner;
pub mod schedule;
pub mod write;

use std::time::Duration;

use tokio::sync::watch;
use vaultlet_shared::vault::Client;

pub use error::RenderError;
use handoff::{CachedLeases, TemplateHandoff, TemplateRuntime};
use leases::Leases;

/// The runtime the agent's run loop plugs in.
pub fn runtime() -> TemplateRuntime {
    Box::new(|h: TemplateHandoff| Box::pin(serve(h)))
}

/// The restart backoff after a failed runner when `exit_on_retry_failure` is off: 1s doubling,
/// minus up to 25 % jitter, capped at 5m.
fn restart_backoff(n: u32, u: f64) -> Duration {
    let base =
        Duration::from_secs(1).saturating_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX));
    base.min(Duration::from_secs(300)).mul_f64(1.0 - 0.25 * u)
}

async fn serve(mut h: TemplateHandoff) -> Result<(), RenderError> {
    let base = Client::new(h.connection.client_config()).map_err(RenderError::Client)?;
    let settings = h.settings.runner.clone();
    let exit_on_failure = h.settings.exit_on_retry_failure;
    let mut shutdown = h.shutdown.clone();
    // Wait for the first token.
    let token = tokio::select! {
        t = h.tokens.wait_for(Option::is_some) => t.map_err(|_| RenderError::AuthStopped)?.clone().expect("some"),
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    };
    let mut token = token.client_token().to_string();
    let mut failures = 0u32;
    let mut restored = h.restored_leases.take();
    let mut report = h.lease_report.take();
    loop {
        let client = base.with_token(&token);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut shutdown_fwd = h.shutdown.clone();
        let refusals = h.refusals.for_token(token.as_str());
        // agent.md §7.3: the restored leases belong to the token they were stored with; only the
        // first runner with it starts from them.
        let mut leases = Leases::default();
        if let Some(r) = restored.take() {
            if r.token == token {
                leases.seeds = leases::from_records(&r.leases);
                tracing::info!(target: "template", leases = leases.seeds.len(), "starting from the leases of the persistent cache");
            } else {
                tracing::info!(target: "template", "the persistent cache's leases belong to another token: fetching anew");
            }
        }
        let run = runner::run_with(
            client,
            settings.clone(),
            h.exit_after_auth,
            stop_rx,
            refusals,
            h.rendered.clone(),
            &mut leases,
            h.env.as_ref(),
        );
        let outcome = {
            tokio::pin!(run);
            loop {
                tokio::select! {
                    r = &mut run => break Some(r),
                    _ = shutdown_fwd.wait_for(|s| *s) => { let _ = stop_tx.send(true); return Ok(()); }
                    changed = h.tokens.changed(), if !h.exit_after_auth => {
                        if changed.is_err() { break None; }
                        let new = h.tokens.borrow_and_update().as_ref().map(|t| t.client_token().to_string());
                        if let Some(new) = new.filter(|n| *n != token) {
                            tracing::info!(target: "template", "new auth token: restarting the template runner");
                            token = new;
                            let _ = stop_tx.send(true);
                            break None;
                        }
                    }
                }
            }
        };
        match outcome {
            None => continue,
            Some(Ok(())) => {
                if let Some(tx) = report.take() {
                    let _ = tx.send(CachedLeases {
                        token: token.clone(),
                        leases: leases::to_records(&leases.held),
                    });
                }
                return Ok(());
            }
            Some(Err(e)) if exit_on_failure || h.exit_after_auth => {
                log_stopped(&e, &settings.jobs, None);
                return Err(e);
            }
            Some(Err(e)) => {
                let d = restart_backoff(failures, rand::random());
                failures += 1;
                log_stopped(&e, &settings.jobs, Some(d));
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = shutdown.wait_for(|s| *s) => return Ok(()),
                }
            }
        }
    }
}

/// Upstream's line for a runner that stopped (agent.md §6.1): from the exec server for an env
/// template, else from the template server with the wait before the next runner (`-1ns` when the
/// agent stops).
fn log_stopped(e: &RenderError, jobs: &[pass::TemplateJob], next: Option<Duration>) {
    let env = matches!(e, RenderError::Template { destination, .. }
        if jobs.iter().any(|j| j.env.as_deref() == Some(destination.as_str())));
    match (env, next) {
        (true, _) => tracing::error!(target: "exec", error = %e, "template server error"),
        (false, None) => {
            tracing::error!(target: "template.server", error = %e, backoff = "-1ns", "template server error")
        }
        (false, Some(d)) => {
            tracing::error!(target: "template.server", error = %e, backoff = ?d, "template server error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_backoff_doubles_with_jitter_and_caps() {
        assert_eq!(restart_backoff(0, 0.0), Duration::from_secs(1));
        assert_eq!(restart_backoff(3, 0.0), Duration::from_secs(8));
        assert_eq!(restart_backoff(3, 1.0), Duration::from_secs(6));
        assert_eq!(restart_backoff(30, 0.0), Duration::from_secs(300));
    }
}
