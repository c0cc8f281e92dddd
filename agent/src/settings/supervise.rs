//! Process-supervisor mode's settings (agent.md §1.11): the `exec` stanza resolved (its command,
//! restart policy and stop signal). The config loader has already checked the stanza with
//! upstream's rules and messages; the `env_template` blocks become template jobs
//! (`settings::templates`). `-wrapper` (extension, agent.md §1.11.1) adjusts the result.

use vaultlet_shared::config::AgentConfig;

use crate::cli::WrapperMode;
use crate::supervise::child::signal_named;
use crate::supervise::env::Restart;
use crate::supervise::{STOP_TIMEOUT, SuperviseSettings, WRAPPER_ENV_REMOVED};

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
        replace: false,
        env_remove: Vec::new(),
    }))
}

/// `-wrapper` (extension, agent.md §1.11.1) applied to the resolved `exec` stanza: the agent's
/// own config variables leave the app's environment, `exec` mode replaces the agent with the app,
/// and a `command` given after `--` replaces `exec.command`. `None` (no `exec` stanza) is
/// refused: there is nothing to wrap.
pub fn wrap(
    supervise: Option<SuperviseSettings>,
    mode: WrapperMode,
    command: &[String],
) -> Result<SuperviseSettings, super::SettingsError> {
    let mut s = supervise.ok_or(super::SettingsError::WrapperWithoutExec)?;
    if !command.is_empty() {
        s.command = command.to_vec();
    }
    s.replace = mode == WrapperMode::Exec;
    s.env_remove = WRAPPER_ENV_REMOVED
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    Ok(s)
}
