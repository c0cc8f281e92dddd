//! The template runtime's settings (agent.md §5; §1.7 `template`, §1.8 `template_config`): one job per
//! `template` stanza with its text read and **parsed here**, so a syntax error is a configuration
//! error (exit 64 before start-up), not a runtime one; refresh and retry timing; the commands'
//! environment (agent.md §5.9). Stanza checks the config loader already made (destination set, one of
//! `source`/`contents`, a known `engine`: agent.md §1.12) are not repeated. Each `env_template`
//! (agent.md §1.11) is a job too, after the file templates, rendered into its variable instead of
//! a file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vaultlet_shared::config::AgentConfig;
use vaultlet_shared::vault::ClientConfig;

use crate::render::command::CommandRun;
use crate::render::error::RenderError;
use crate::render::handoff::RenderSettings;
use crate::render::runner::{self, RunnerSettings, TemplateJob};
use crate::render::schedule::Refresh;
use crate::render::write::WriteSpec;
use crate::template::Options;

use super::process_environment;

/// The template engine's retry backoff when `auto_auth.method.min_backoff`/`max_backoff` are
/// unset (consul-template's defaults, not auto-auth's 1s/5m: agent.md §5.6).
const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(250);
const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A template the agent cannot run; the message names the template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// `source` cannot be read.
    #[error("template[{index}].source: failed to read {}: {source}", path.display())]
    Source {
        index: usize,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An env template's `source` cannot be read.
    #[error("env_template[{name}].source: failed to read {}: {source}", path.display())]
    EnvSource {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text does not parse (`<source or (dynamic)> => <destination>: <Go's parse error>`).
    #[error("{0}")]
    Parse(String),
}

/// The runtime's settings for `config`'s templates, each parsed once as a check; `retries` is the
/// effective `vault.retry.num_retries`; commands get `client`'s connection.
pub fn resolve(
    config: &AgentConfig,
    client: &ClientConfig,
    retries: u32,
) -> Result<RenderSettings, TemplateError> {
    let mut jobs = Vec::new();
    for (index, t) in config.templates.iter().enumerate() {
        let dest = t.destination.clone().unwrap_or_default();
        let source = t
            .source
            .clone()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let text = match &source {
            Some(src) => std::fs::read_to_string(src).map_err(|e| TemplateError::Source {
                index,
                path: src.clone(),
                source: e,
            })?,
            None => t.contents.clone().unwrap_or_default(),
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
            handlebars: t.engine.as_deref() == Some("handlebars"),
            wait: t
                .wait
                .as_ref()
                .filter(|w| !w.min.0.is_zero())
                .map(|w| (w.min.0, w.effective_max())),
            env: None,
        });
    }
    for t in &config.env_templates {
        let source = t
            .source
            .clone()
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let text = match &source {
            Some(src) => std::fs::read_to_string(src).map_err(|e| TemplateError::EnvSource {
                name: t.name.clone(),
                path: src.clone(),
                source: e,
            })?,
            None => t.contents.clone().unwrap_or_default(),
        };
        jobs.push(TemplateJob {
            source,
            text,
            options: Options {
                missing_key_error: t.error_on_missing_key,
                denylist: t.function_denylist.clone(),
                ..Options::with_delimiters(
                    t.left_delimiter.as_deref(),
                    t.right_delimiter.as_deref(),
                )
            },
            write: WriteSpec::default(),
            command: None,
            handlebars: false,
            wait: None,
            env: Some(t.name.clone()),
        });
    }
    // Every template parses now, or the agent does not start (the runner parses them again).
    // A settings error names the destination too: several templates may be `(dynamic)`.
    runner::parse_all(&jobs).map_err(|e| {
        TemplateError::Parse(match e {
            RenderError::Template {
                label,
                destination,
                source,
            } => format!("{label} => {destination}: {source}"),
            other => other.to_string(),
        })
    })?;
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
    Ok(RenderSettings {
        runner: RunnerSettings {
            jobs,
            refresh,
            retries,
            backoff_base: method
                .and_then(|m| m.min_backoff)
                .map(|d| d.0)
                .filter(|d| !d.is_zero())
                .unwrap_or(RETRY_BACKOFF_MIN),
            backoff_max: method
                .and_then(|m| m.max_backoff)
                .map(|d| d.0)
                .filter(|d| !d.is_zero())
                .unwrap_or(RETRY_BACKOFF_MAX),
            command_env: command_env(client),
            environment: Arc::new(process_environment()),
        },
        exit_on_retry_failure: tc.exit_on_retry_failure,
    })
}

/// The variables commands get on top of the agent's environment (agent.md §5.9).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A config of `json`'s keys with a token_file auto-auth.
    fn config(json: &str) -> AgentConfig {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["auto_auth"] = serde_json::json!({"method": {"type": "token_file", "config": {"token_file_path": "/t"}}});
        AgentConfig::from_json_str(&v.to_string()).unwrap().config
    }

    #[test]
    fn settings_name_the_bad_template() {
        let cfg = config(
            r#"{"auto_auth":{"method":{"type":"token_file","config":{"token_file_path":"/t"}}},"template":[{"destination":"/tmp/x","contents":"a"},{"destination":"/tmp/y","source":"/nonexistent/vaultlet/y.tmpl"}]}"#,
        );
        let e = resolve(&cfg, &ClientConfig::default(), 12)
            .unwrap_err()
            .to_string();
        assert!(e.contains("template[1].source"), "{e}");
        assert!(e.contains("/nonexistent/vaultlet/y.tmpl"), "{e}");
    }

    #[test]
    fn delimiters_and_template_names_are_the_ones_the_injector_checks_with() {
        // injector.md §2.6: the injector parses with `Options::with_delimiters` and
        // `AGENT_TEMPLATE_NAME`, so the agent must read the stanza the same way.
        let cfg = config(
            r#"{"template":[{"destination":"/tmp/x","contents":"{{ [[ .x","left_delimiter":"[[","right_delimiter":"]]"},{"destination":"/tmp/y","contents":"a","left_delimiter":""}]}"#,
        );
        let e = resolve(&cfg, &ClientConfig::default(), 12)
            .unwrap_err()
            .to_string();
        assert!(e.contains(": parse: template: :1: "), "{e}");
        let cfg = config(
            r#"{"template":[{"destination":"/tmp/x","contents":"{{ [[ .x ]]","left_delimiter":"[[","right_delimiter":"]]"},{"destination":"/tmp/y","contents":"a","left_delimiter":""}]}"#,
        );
        let s = resolve(&cfg, &ClientConfig::default(), 12).unwrap();
        let delims: Vec<(&str, &str)> = s
            .runner
            .jobs
            .iter()
            .map(|j| (j.options.left.as_str(), j.options.right.as_str()))
            .collect();
        assert_eq!(delims, vec![("[[", "]]"), ("{{", "}}")]);
    }

    #[test]
    fn a_syntax_error_is_a_settings_error_naming_the_template() {
        let cfg = config(
            r#"{"template":[{"destination":"/tmp/ok","contents":"{{ .x }}"},{"destination":"/tmp/bad","contents":"{{ .Data.data.pw }"}]}"#,
        );
        let e = resolve(&cfg, &ClientConfig::default(), 12).unwrap_err();
        assert!(matches!(e, TemplateError::Parse(_)), "{e:?}");
        let e = e.to_string();
        assert_eq!(
            e,
            r#"(dynamic) => /tmp/bad: parse: template: :1: unexpected "}" in operand"#
        );
        let hb = config(
            r#"{"template":[{"destination":"/tmp/h","engine":"handlebars","contents":"{{#if x}}"}]}"#,
        );
        assert!(resolve(&hb, &ClientConfig::default(), 12).is_err());
    }

    #[test]
    fn defaults_and_stanza_values() {
        let cfg = config(
            r#"{"template_config":{"exit_on_retry_failure":true,"static_secret_render_interval":"10s"},"template":[{"destination":"/tmp/x","contents":"a","perms":"0600","left_delimiter":"[["}]}"#,
        );
        let r = resolve(&cfg, &ClientConfig::default(), 3).unwrap();
        assert!(r.exit_on_retry_failure);
        assert_eq!(r.runner.retries, 3);
        assert_eq!(r.runner.refresh.static_interval, Duration::from_secs(10));
        assert_eq!(r.runner.refresh.threshold, 0.9);
        assert_eq!(r.runner.backoff_base, RETRY_BACKOFF_MIN);
        assert_eq!(r.runner.backoff_max, RETRY_BACKOFF_MAX);
        let job = &r.runner.jobs[0];
        assert_eq!(job.write.perms, Some(0o600));
        assert!(job.write.create_dest_dirs);
        assert_eq!(
            (job.options.left.as_str(), job.options.right.as_str()),
            ("[[", "}}")
        );
        assert!(!job.handlebars);
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
