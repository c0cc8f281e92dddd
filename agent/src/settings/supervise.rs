//! Process-supervisor mode's settings (agent.md §1.11): the `exec` stanza resolved (its command,
//! restart policy and stop signal). The config loader has already checked the stanza with
//! upstream's rules and messages; the `env_template` blocks become template jobs
//! (`settings::templates`).

use vaultlet_shared::config::AgentConfig;

use crate::supervise::child::signal_named;
use crate::supervise::env::Restart;
use crate::supervise::{STOP_TIMEOUT, SuperviseSettings};

/// The `exec` stanza, when there is one. The loader's checks make every error here unreachable
/// for a loaded config; they are reported rather than assumed.
pub fn resolve(config: &AgentConfig) -> Result<Option<SuperviseSettings>, super::RunCheckError> {
    let Some(exec) = &config.exec else {
        return Ok(None);
    };
    let restart = match exec.effective_restart() {
        "always" => Restart::Always,
        "never" => Restart::Never,
        _ => return Err(super::RunCheckError::Exec),
    };
    let stop_signal = exec
        .stop_signal()
        .and_then(signal_named)
        .ok_or(super::RunCheckError::Exec)?;
    Ok(Some(SuperviseSettings {
        command: exec.command.clone(),
        restart,
        stop_signal,
        stop_timeout: STOP_TIMEOUT,
    }))
}
