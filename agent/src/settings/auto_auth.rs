//! The run loop's settings from the config (agent.md §1.6 auto-auth and sinks, §1.9 listeners and
//! cache, agent.md §6 init mode): the auth method and its login loop, the file sinks, the listeners, the
//! persistent cache, the PID file, the template runtime and process-supervisor mode; plus the
//! refusals of what vaultlet does not run (wrapped logins, encrypted sinks).

use std::path::PathBuf;

use vaultlet_shared::config::AgentConfig;

use super::{AgentSettings, SettingsError, listeners, supervise, templates};
use crate::auth::LoopSettings;
use crate::auth::method::Method;
use crate::cache::PersistentCache;
use crate::connection::Connection;
use crate::sink::{FileSink, Sink};

/// A config the run loop cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunCheckError {
    #[error("no auto_auth block found in config: vaultlet needs auto_auth")]
    NoAutoAuth,
    /// An `exec` stanza the config loader lets through but the agent cannot run (agent.md §1.11;
    /// not expected: the loader checks both values).
    #[error("exec: invalid restart_on_secret_changes or restart_stop_signal")]
    Exec,
    #[error("auto_auth.method.wrap_ttl: response-wrapped logins are not supported by vaultlet yet")]
    WrapTtl,
    #[error("Unknown sink type {0:?}")]
    SinkType(String),
    #[error("auto_auth.sink[{0}].dh_type: encrypted sinks are not supported by vaultlet yet")]
    SinkDh(usize),
}

impl AgentSettings {
    /// The run loop's settings from `config`; `exit_after_auth` is the command-line override, if
    /// given. Reads template sources; writes nothing.
    pub fn from_config(
        config: &AgentConfig,
        connection: &Connection,
        exit_after_auth: Option<bool>,
    ) -> Result<Self, SettingsError> {
        let Some(auto_auth) = &config.auto_auth else {
            return Err(RunCheckError::NoAutoAuth.into());
        };
        let m = &auto_auth.method;
        if m.wrap_ttl.is_some_and(|d| !d.0.is_zero()) {
            return Err(RunCheckError::WrapTtl.into());
        }
        let method =
            Method::from_config(&m.method_type, Some(&m.effective_mount_path()), &m.config)?;
        let exit_after_auth = exit_after_auth.unwrap_or(config.exit_after_auth);
        let auth_loop = LoopSettings {
            min_backoff: m.effective_min_backoff(),
            max_backoff: m.effective_max_backoff(),
            exit_on_err: m.exit_on_err,
            one_shot: exit_after_auth,
            ..LoopSettings::default()
        };
        let mut sinks = Vec::new();
        for (i, s) in auto_auth.sinks.iter().enumerate() {
            if s.sink_type != "file" {
                return Err(RunCheckError::SinkType(s.sink_type.clone()).into());
            }
            if s.dh_type.as_deref().is_some_and(|d| !d.is_empty()) {
                return Err(RunCheckError::SinkDh(i).into());
            }
            sinks.push(Sink {
                file: FileSink::from_config(&s.config)?,
                wrap_ttl: s.wrap_ttl.map(|d| d.0).filter(|d| !d.is_zero()),
            });
        }
        // One number for the template engine and the proxy (agent.md §1.5: default 12).
        let retries = config
            .vault
            .clone()
            .unwrap_or_default()
            .effective_num_retries();
        let persist = match config.cache.as_ref().and_then(|c| c.persist.as_ref()) {
            Some(p) => Some(PersistentCache::from_config(p)?),
            None => None,
        };
        Ok(Self {
            method,
            auth_loop,
            exit_after_auth,
            sinks,
            pid_file: config
                .pid_file
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            listeners: listeners::from_config(config)?,
            token_mode: listeners::token_mode(config),
            persist,
            proxy_retries: retries,
            templates: templates::resolve(config, &connection.client_config(), retries)?,
            supervise: supervise::resolve(config)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> AgentConfig {
        AgentConfig::from_json_str(&v.to_string()).unwrap().config
    }

    fn jwt_base(dir: &std::path::Path) -> serde_json::Value {
        json!({
            "auto_auth": {"method": {"type": "jwt", "config": {"path": dir.join("jwt").to_str().unwrap(), "role": "r"}},
                          "sink": [{"type": "file", "config": {"path": dir.join("s").to_str().unwrap()}}]},
        })
    }

    #[test]
    fn exit_after_auth_makes_the_login_loop_one_shot() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(jwt_base(dir.path()));
        for init in [true, false] {
            let a = AgentSettings::from_config(&cfg, &Connection::default(), Some(init)).unwrap();
            assert_eq!(a.exit_after_auth, init);
            assert_eq!(a.auth_loop.one_shot, init, "exit_after_auth = {init}");
        }
        // Without the command-line override, the config's `exit_after_auth` decides.
        let mut v = jwt_base(dir.path());
        v["exit_after_auth"] = json!(true);
        let a = AgentSettings::from_config(&config(v), &Connection::default(), None).unwrap();
        assert!(a.exit_after_auth && a.auth_loop.one_shot);
    }

    #[test]
    fn process_supervisor_mode_resolves_its_child_and_env_templates() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = jwt_base(dir.path());
        cfg["exec"] = json!({"command": ["/bin/app", "-x"], "restart_stop_signal": "sigusr1"});
        cfg["env_template"] = json!({"FOO": {"contents": "{{ env \"HOME\" }}"}});
        let a = AgentSettings::from_config(&config(cfg), &Connection::default(), None).unwrap();
        let s = a.supervise.expect("supervised");
        assert_eq!(s.command, ["/bin/app", "-x"]);
        assert_eq!(s.stop_signal, Some(rustix::process::Signal::USR1));
        let jobs = &a.templates.runner.jobs;
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].env.as_deref(), Some("FOO"));
    }

    #[test]
    fn unsupported_sink_options_are_refused_clearly() {
        let cfg = config(
            json!({"auto_auth": {"method": {"type": "jwt", "config": {"path": "/x", "role": "r"}},
            "sink": [{"type": "file", "dh_type": "curve25519", "dh_path": "/tmp/pub", "config": {"path": "/tmp/x"}}]}}),
        );
        let err = AgentSettings::from_config(&cfg, &Connection::default(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("dh_type"), "{err}");
    }

    #[test]
    fn retries_default_once_for_proxy_and_templates() {
        let dir = tempfile::tempdir().unwrap();
        let mut v = jwt_base(dir.path());
        v["template"] = json!([{"destination": "/tmp/x", "contents": "a"}]);
        let a =
            AgentSettings::from_config(&config(v.clone()), &Connection::default(), None).unwrap();
        assert_eq!(a.proxy_retries, 12);
        assert_eq!(a.templates.runner.retries, 12);
        v["vault"] = json!({"retry": {"num_retries": -1}});
        let a = AgentSettings::from_config(&config(v), &Connection::default(), None).unwrap();
        assert_eq!((a.proxy_retries, a.templates.runner.retries), (0, 0));
    }
}
