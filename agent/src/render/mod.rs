//! The rendering runtime (agent.md §5–6): waits for the auto-auth token, runs a [`runner`] with a
//! Vault client holding that token, starts a fresh runner for every new token, and applies
//! §5.6's policy when a runner fails (`exit_on_retry_failure` ⇒ the agent stops; otherwise a
//! restart with backoff).
//!
//! - [`schedule`]: refresh and retry timing (pure).
//! - [`pacing`]: the instant of each jittered refresh, so an agent's fetches share wake-ups.
//! - [`fetch`]: one fetch of one dependency; `pkiCert`'s file cache.
//! - [`write`]: atomic destination writes.
//! - [`command`]: commands after a change.
//! - [`handlebars`]: the opt-in second dialect.
//! - [`quiescence`]: per-template `wait`.
//! - [`runner`]: passes, dependency sharing, fetchers.

pub mod command;
pub mod fetch;
pub mod handlebars;
pub mod pacing;
pub mod quiescence;
pub mod runner;
pub mod schedule;
pub mod write;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use vaultlet_shared::config::AgentConfig;
use vaultlet_shared::vault::{Client, ClientConfig};

use crate::process::run::{TemplateHandoff, TemplateRuntime};
use crate::template::Options;
use command::CommandRun;
use runner::{RunnerSettings, TemplateJob};
use schedule::Refresh;
use write::WriteSpec;

/// The runtime the agent's run loop plugs in.
pub fn runtime() -> TemplateRuntime {
    Box::new(|h: TemplateHandoff| Box::pin(serve(h)))
}

/// Builds the runner settings from the config; errors name the template and the key.
pub fn settings(config: &AgentConfig, client: &ClientConfig) -> Result<RunnerSettings, String> {
    let mut jobs = Vec::new();
    for (i, t) in config.templates.iter().enumerate() {
        let dest = t
            .destination
            .clone()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| format!("template[{i}].destination: must be set"))?;
        let source = t
            .source
            .clone()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let text = match (&source, &t.contents) {
            (Some(src), _) => std::fs::read_to_string(src).map_err(|e| {
                format!(
                    "template[{i}].source: failed to read {}: {e}",
                    src.display()
                )
            })?,
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(format!(
                    "template[{i}]: one of source or contents must be set"
                ));
            }
        };
        let handlebars = match t.engine.as_deref().unwrap_or("") {
            "" | "go" => false,
            "handlebars" => true,
            other => {
                return Err(format!(
                    "template[{i}].engine: {other:?} is not a template engine (use \"go\" or \"handlebars\")"
                ));
            }
        };
        let options = Options {
            missing_key_error: t.error_on_missing_key,
            denylist: t.function_denylist.clone(),
            sandbox_path: t
                .sandbox_path
                .clone()
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            destination: Some(dest.clone()),
            ..Options::with_delimiters(t.left_delimiter.as_deref(), t.right_delimiter.as_deref())
        };
        let argv = t.effective_command();
        let command = (!argv.is_empty()).then(|| CommandRun {
            argv,
            timeout: t.effective_command_timeout(),
        });
        jobs.push(TemplateJob {
            source,
            text,
            options,
            write: WriteSpec {
                path: PathBuf::from(&dest),
                perms: t.perms.map(|p| p.0),
                create_dest_dirs: t.create_dest_dirs.unwrap_or(true),
                backup: t.backup,
                user: t.user.clone(),
                group: t.group.clone(),
            },
            command,
            handlebars,
            wait: t
                .wait
                .as_ref()
                .filter(|w| !w.min.0.is_zero())
                .map(|w| (w.min.0, w.effective_max())),
        });
    }
    let tc = config.template_config.clone().unwrap_or_default();
    let refresh = Refresh {
        threshold: tc
            .lease_renewal_threshold
            .filter(|t| *t > 0.0 && *t < 1.0)
            .unwrap_or(0.9),
        static_interval: tc
            .static_secret_render_interval
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(300)),
    };
    let method = config.auto_auth.as_ref().map(|a| &a.method);
    Ok(RunnerSettings {
        jobs,
        refresh,
        retries: config
            .vault
            .as_ref()
            .map_or(12, |v| v.effective_num_retries()),
        backoff_base: method
            .and_then(|m| m.min_backoff)
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_millis(250)),
        backoff_max: method
            .and_then(|m| m.max_backoff)
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(60)),
        command_env: command_env(client),
    })
}

/// The variables commands get on top of the agent's environment (§5.9).
pub fn command_env(c: &ClientConfig) -> Vec<(String, String)> {
    let mut env = vec![("VAULT_ADDR".to_string(), c.address.clone())];
    if c.tls_skip_verify || c.address.starts_with("http://") {
        env.push(("VAULT_SKIP_VERIFY".into(), "true".into()));
    }
    let mut path = |k: &str, v: &Option<PathBuf>| {
        if let Some(p) = v {
            env.push((k.to_string(), p.display().to_string()));
        }
    };
    path("VAULT_CACERT", &c.ca_cert);
    path("VAULT_CAPATH", &c.ca_path);
    path("VAULT_CLIENT_CERT", &c.client_cert);
    path("VAULT_CLIENT_KEY", &c.client_key);
    if let Some(n) = &c.tls_server_name {
        env.push(("VAULT_TLS_SERVER_NAME".into(), n.clone()));
    }
    env
}

/// The restart backoff after a failed runner when `exit_on_retry_failure` is off: 1s doubling,
/// minus up to 25 % jitter, capped at 5m.
fn restart_backoff(n: u32, u: f64) -> Duration {
    let base =
        Duration::from_secs(1).saturating_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX));
    base.min(Duration::from_secs(300)).mul_f64(1.0 - 0.25 * u)
}

async fn serve(mut h: TemplateHandoff) -> Result<(), String> {
    let client_config = h.connection.client_config();
    let base = Client::new(client_config.clone()).map_err(|e| e.to_string())?;
    let settings = settings(&h.config, &client_config)?;
    let exit_on_failure = h
        .config
        .template_config
        .as_ref()
        .is_some_and(|t| t.exit_on_retry_failure);
    let mut shutdown = h.shutdown.clone();
    // Wait for the first token.
    let token = tokio::select! {
        t = h.tokens.wait_for(Option::is_some) => t.map_err(|_| "auto-auth stopped".to_string())?.clone().expect("some"),
        _ = shutdown.wait_for(|s| *s) => return Ok(()),
    };
    let mut token = token.client_token().to_string();
    let mut failures = 0u32;
    loop {
        let client = base.with_token(&token);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut shutdown_fwd = h.shutdown.clone();
        let run = runner::run(client, settings.clone(), h.exit_after_auth, stop_rx);
        tokio::pin!(run);
        let outcome = loop {
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
        };
        match outcome {
            None => continue,
            Some(Ok(())) => return Ok(()),
            Some(Err(e)) if exit_on_failure || h.exit_after_auth => {
                return Err(e);
            }
            Some(Err(e)) => {
                let d = restart_backoff(failures, rand::random());
                failures += 1;
                tracing::error!(target: "template", "template runner stopped: {e}; restarting in {d:?}");
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = shutdown.wait_for(|s| *s) => return Ok(()),
                }
            }
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

    #[test]
    fn settings_name_the_bad_template() {
        let cfg = AgentConfig::from_json_str(
            r#"{"auto_auth":{"method":{"type":"token_file","config":{"token_file_path":"/t"}}},"template":[{"destination":"/tmp/x","contents":"a"},{"destination":"/tmp/y","source":"/nonexistent/vaultlet/y.tmpl"}]}"#,
        )
        .unwrap()
        .config;
        let e = settings(&cfg, &ClientConfig::default()).unwrap_err();
        assert!(e.contains("template[1].source"), "{e}");
        assert!(e.contains("/nonexistent/vaultlet/y.tmpl"), "{e}");
    }

    #[test]
    fn delimiters_and_template_names_are_the_ones_the_injector_checks_with() {
        // injector.md §2.6: the injector parses with `Options::with_delimiters` and
        // `AGENT_TEMPLATE_NAME`, so the agent must read the stanza the same way.
        let cfg = AgentConfig::from_json_str(
            r#"{"auto_auth":{"method":{"type":"token_file","config":{"token_file_path":"/t"}}},"template":[{"destination":"/tmp/x","contents":"{{ [[ .x","left_delimiter":"[[","right_delimiter":"]]"},{"destination":"/tmp/y","contents":"a","left_delimiter":""}]}"#,
        )
        .unwrap()
        .config;
        let s = settings(&cfg, &ClientConfig::default()).unwrap();
        let delims: Vec<(&str, &str)> = s
            .jobs
            .iter()
            .map(|j| (j.options.left.as_str(), j.options.right.as_str()))
            .collect();
        assert_eq!(delims, vec![("[[", "]]"), ("{{", "}}")]);
        let Err(e) = runner::parse_all(&s.jobs) else {
            panic!("`[[ .x` without `]]` parsed")
        };
        assert!(e.contains(": parse: template: :1: "), "{e}");
    }

    #[test]
    fn commands_get_the_vault_connection() {
        let c = ClientConfig {
            address: "http://127.0.0.1:8200".into(),
            ..ClientConfig::default()
        };
        let env = command_env(&c);
        assert!(env.contains(&("VAULT_ADDR".into(), "http://127.0.0.1:8200".into())));
        assert!(env.contains(&("VAULT_SKIP_VERIFY".into(), "true".into())));
    }
}
