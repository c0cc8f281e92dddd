//! The generated Vault Agent configuration of injector.md §3, as `vaultlet_shared::config::AgentConfig`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Value;
use vaultlet_shared::annotations::{AgentSpec, Secret, TemplateKind, path_join};
use vaultlet_shared::config::{
    AgentApi, AgentConfig, AuthMethod, AutoAuth, Cache, CommandSpec, ConfigError, DurationError,
    EnvTemplate, ExecStanza, FileMode, GoDuration, Listener, Persist, Sink, Telemetry,
    TemplateConfig, TemplateExec, TemplateStanza, UseAutoAuthToken, VaultStanza,
};
use vaultlet_shared::signal::parse_signal_target;

/// Path of our agent binary in the vaultlet image (the Dockerfile copies it there).
pub const VAULTLET_AGENT: &str = "/vaultlet-agent";

/// An annotation value the generated config cannot hold (the pod is refused with this text).
#[derive(Debug, thiserror::Error)]
pub enum AgentConfigError {
    /// `key`: the full annotation key, with the prefix the pod used.
    #[error("annotation {key}: {value:?} is not an octal file mode")]
    Perms { key: String, value: String },
    #[error("annotation {key}: {value:?} is not a duration ({source})")]
    Duration {
        key: String,
        value: String,
        source: DurationError,
    },
    #[error("annotation {key}: {value:?} is not true, false or force")]
    UseAutoAuthToken { key: String, value: String },
    #[error("annotation {key}: \"{value}\" is out of range")]
    MaxConnectionsPerHost { key: String, value: i64 },
    /// The config could not be written as JSON (a NaN lease renewal threshold); `cite` names the
    /// annotation when one is the cause.
    #[error("{source}{cite}")]
    Encode { source: ConfigError, cite: String },
}

/// Which agent container a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Init,
    Sidecar,
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

fn file_sink(path: &str) -> Sink {
    let mut config = BTreeMap::new();
    config.insert("path".to_owned(), Value::String(path.to_owned()));
    Sink {
        sink_type: "file".into(),
        config,
        ..Sink::default()
    }
}

fn default_template(kind: TemplateKind, path: &str) -> String {
    match kind {
        TemplateKind::Map => {
            format!(
                "{{{{ with secret \"{path}\" }}}}{{{{ range $k, $v := .Data }}}}{{{{ $k }}}}: {{{{ $v }}}}\n{{{{ end }}}}{{{{ end }}}}"
            )
        }
        TemplateKind::Json => {
            format!("{{{{ with secret \"{path}\" }}}}{{{{ .Data | toJSON }}}}\n{{{{ end }}}}")
        }
    }
}

/// The `contents` of a secret's `template` stanza (injector.md §3.3): its inline template, else the
/// default template with its path; `None` when the template is a file in the agent container
/// (`source`). The admission check (injector.md §2.6) parses exactly this text.
pub fn template_contents<'a>(spec: &AgentSpec, s: &'a Secret) -> Option<Cow<'a, str>> {
    if !s.template_file.is_empty() {
        None
    } else if !s.template.is_empty() {
        Some(Cow::Borrowed(&s.template))
    } else {
        Some(Cow::Owned(default_template(spec.default_template, &s.path)))
    }
}

/// The delimiters of a secret's `template` stanza (injector.md §3.3): the annotations', else `{{`
/// and `}}`.
pub fn template_delimiters(s: &Secret) -> (&str, &str) {
    (
        if s.left_delim.is_empty() {
            "{{"
        } else {
            &s.left_delim
        },
        if s.right_delim.is_empty() {
            "}}"
        } else {
            &s.right_delim
        },
    )
}

/// `exec { command }` of a secret with `agent-inject-signal-<raw>` (extension, injector.md §1.4):
/// the agent's own `signal` subcommand as an argv, so no shell is needed. Only the sidecar gets
/// it: while the init container runs, the app has not started and there is nothing to signal.
/// The value was checked at admission (`checks::commands`); an unparsable one gives no command.
fn signal_exec(s: &Secret, role: Role) -> Option<TemplateExec> {
    if s.signal.is_empty() || role != Role::Sidecar {
        return None;
    }
    let (signal, process) = parse_signal_target(&s.signal).ok()?;
    Some(TemplateExec {
        command: Some(CommandSpec::Argv(vec![
            VAULTLET_AGENT.to_owned(),
            "signal".to_owned(),
            signal.name.to_owned(),
            process,
        ])),
        ..TemplateExec::default()
    })
}

fn templates(spec: &AgentSpec, role: Role) -> Result<Vec<TemplateStanza>, AgentConfigError> {
    spec.secrets
        .iter()
        .map(|s| {
            let destination = if s.file.is_empty() {
                format!("{}/{}", s.mount_path, s.name)
            } else {
                path_join(&s.mount_path, &s.file)
            };
            let contents = template_contents(spec, s).map(Cow::into_owned);
            let source = contents.is_none().then(|| s.template_file.clone());
            let (left, right) = template_delimiters(s);
            let perms = if s.perms.is_empty() {
                None
            } else {
                Some(FileMode::parse_octal(&s.perms).ok_or_else(|| {
                    AgentConfigError::Perms {
                        key: spec
                            .annotations
                            .key(&format!("agent-inject-perms-{}", s.raw_name)),
                        value: s.perms.clone(),
                    }
                })?)
            };
            Ok(TemplateStanza {
                destination: Some(destination),
                contents,
                left_delimiter: Some(left.to_owned()),
                right_delimiter: Some(right.to_owned()),
                command: opt(&s.command).map(CommandSpec::Shell),
                source,
                perms,
                error_on_missing_key: s.error_on_missing_key,
                exec: signal_exec(s, role),
                ..TemplateStanza::default()
            })
        })
        .collect()
}

fn duration(
    spec: &AgentSpec,
    key: &'static str,
    v: &str,
) -> Result<Option<GoDuration>, AgentConfigError> {
    if v.is_empty() {
        return Ok(None);
    }
    GoDuration::parse_lenient(v)
        .map(Some)
        .map_err(|source| AgentConfigError::Duration {
            key: spec.annotations.key(key),
            value: v.to_owned(),
            source,
        })
}

/// Convert the `agent-telemetry-*` map (injector.md §3.5); `None` when any value has the wrong type (Quirk Q4).
pub fn telemetry(params: &BTreeMap<String, Value>) -> Option<Telemetry> {
    let mut t = Telemetry::default();
    for (k, v) in params {
        let s = || match v {
            Value::String(s) => Some(Some(s.clone())),
            _ => None,
        };
        let b = || v.as_bool();
        let i = || v.as_i64().map(Some);
        let list = || match v {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        let ok = match k.to_ascii_lowercase().as_str() {
            "usage_gauge_period" => s().map(|x| t.usage_gauge_period = x),
            "maximum_gauge_cardinality" => i().map(|x| t.maximum_gauge_cardinality = x),
            "disable_hostname" => b().map(|x| t.disable_hostname = x),
            "enable_hostname_label" => b().map(|x| t.enable_hostname_label = x),
            "lease_metrics_epsilon" => s().map(|x| t.lease_metrics_epsilon = x),
            "num_lease_metrics_buckets" => i().map(|x| t.num_lease_metrics_buckets = x),
            "add_lease_metrics_namespace_labels" => {
                b().map(|x| t.add_lease_metrics_namespace_labels = x)
            }
            "filter_default" => b().map(|x| t.filter_default = x.then_some(true)),
            "prefix_filter" => list().map(|x| t.prefix_filter = x),
            "statsite_address" => s().map(|x| t.statsite_address = x),
            "statsd_address" => s().map(|x| t.statsd_address = x),
            "circonus_api_token" => s().map(|x| t.circonus_api_token = x),
            "circonus_api_app" => s().map(|x| t.circonus_api_app = x),
            "circonus_api_url" => s().map(|x| t.circonus_api_url = x),
            "circonus_submission_interval" => s().map(|x| t.circonus_submission_interval = x),
            "circonus_submission_url" => s().map(|x| t.circonus_submission_url = x),
            "circonus_check_id" => s().map(|x| t.circonus_check_id = x),
            "circonus_check_force_metric_activation" => {
                b().map(|x| t.circonus_check_force_metric_activation = x)
            }
            "circonus_check_instance_id" => s().map(|x| t.circonus_check_instance_id = x),
            "circonus_check_search_tag" => s().map(|x| t.circonus_check_search_tag = x),
            "circonus_check_display_name" => s().map(|x| t.circonus_check_display_name = x),
            "circonus_check_tags" => s().map(|x| t.circonus_check_tags = x),
            "circonus_broker_id" => s().map(|x| t.circonus_broker_id = x),
            "circonus_broker_select_tag" => s().map(|x| t.circonus_broker_select_tag = x),
            "dogstatsd_addr" => s().map(|x| t.dogstatsd_addr = x),
            "dogstatsd_tags" => list().map(|x| t.dogstatsd_tags = x),
            "prometheus_retention_time" => s().map(|x| t.prometheus_retention_time = x),
            "stackdriver_project_id" => s().map(|x| t.stackdriver_project_id = x),
            "stackdriver_location" => s().map(|x| t.stackdriver_location = x),
            "stackdriver_namespace" => s().map(|x| t.stackdriver_namespace = x),
            "stackdriver_debug_logs" => b().map(|x| t.stackdriver_debug_logs = x),
            _ => Some(()),
        };
        if ok.is_none() {
            tracing::warn!(param = %k, "agent-telemetry value has the wrong type; telemetry stanza dropped");
            return None;
        }
    }
    Some(t)
}

/// The generated config for one agent container (injector.md §3.1–3.5).
pub fn agent_config(spec: &AgentSpec, role: Role) -> Result<AgentConfig, AgentConfigError> {
    let config = spec
        .auth_config
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let method = AuthMethod {
        method_type: spec.auth_type.clone(),
        mount_path: opt(&spec.auth_path),
        min_backoff: duration(spec, "auth-min-backoff", &spec.min_backoff)?,
        max_backoff: duration(spec, "auth-max-backoff", &spec.max_backoff)?,
        namespace: opt(&spec.vault_namespace),
        config,
        exit_on_err: spec.auto_auth_exit_on_err,
        ..AuthMethod::default()
    };
    let mut sinks = vec![file_sink("/home/vault/.vault-token")];
    if spec.inject_token {
        sinks.push(file_sink(&path_join(&spec.secret_volume_path, "token")));
    }
    let vault = VaultStanza {
        address: Some(spec.address.clone()),
        ca_cert: opt(&spec.ca_cert),
        ca_path: opt(&spec.ca_key),
        tls_skip_verify: spec.tls_skip_verify.then_some(true),
        client_cert: opt(&spec.client_cert),
        client_key: opt(&spec.client_key),
        tls_server_name: opt(&spec.tls_server_name),
        ..VaultStanza::default()
    };
    let use_token = opt(&spec.cache_use_auto_auth_token)
        .map(|value| {
            UseAutoAuthToken::parse(&value).ok_or_else(|| AgentConfigError::UseAutoAuthToken {
                key: spec.annotations.key("agent-cache-use-auto-auth-token"),
                value,
            })
        })
        .transpose()?;
    let listener = || Listener {
        listener_type: "tcp".into(),
        address: format!("127.0.0.1:{}", spec.cache_listener_port),
        tls_disable: true,
        ..Listener::default()
    };
    let (mut listeners, mut cache) = if spec.persist_cache() {
        let persist = Persist {
            persist_type: "kubernetes".into(),
            path: "/vault/agent-cache".into(),
            exit_on_err: spec.cache_exit_on_err,
            ..Persist::default()
        };
        if spec.cache_enable {
            (
                vec![listener()],
                Some(Cache {
                    use_auto_auth_token: use_token,
                    persist: Some(persist),
                }),
            )
        } else {
            // injector.md §3.4.1: the injector's handoff alone, no listener (and so no
            // `use_auto_auth_token`, which needs one).
            (
                Vec::new(),
                Some(Cache {
                    use_auto_auth_token: None,
                    persist: Some(persist),
                }),
            )
        }
    } else if spec.cache_enable && !spec.pre_populate_only && role == Role::Sidecar {
        (
            vec![listener()],
            Some(Cache {
                use_auto_auth_token: use_token,
                persist: None,
            }),
        )
    } else {
        (Vec::new(), None)
    };
    if spec.enable_quit {
        if listeners.is_empty() {
            listeners.push(listener());
        }
        listeners[0].agent_api = Some(AgentApi { enable_quit: true });
        cache.get_or_insert_with(Cache::default);
    }
    let max_conn = match spec.max_connections_per_host {
        0 => None,
        n => Some(
            u32::try_from(n).map_err(|_| AgentConfigError::MaxConnectionsPerHost {
                key: spec.annotations.key("template-max-connections-per-host"),
                value: n,
            })?,
        ),
    };
    let template_config = TemplateConfig {
        exit_on_retry_failure: spec.template_exit_on_retry_failure,
        static_secret_render_interval: duration(
            spec,
            "template-static-secret-render-interval",
            &spec.static_secret_render_interval,
        )?,
        max_connections_per_host: max_conn,
        lease_renewal_threshold: (spec.lease_renewal_threshold != 0.0)
            .then_some(spec.lease_renewal_threshold),
    };
    Ok(AgentConfig {
        auto_auth: Some(AutoAuth { method, sinks }),
        exit_after_auth: role == Role::Init,
        pid_file: Some("/home/vault/.pid".into()),
        vault: Some(vault),
        templates: templates(spec, role)?,
        listeners,
        cache,
        template_config: Some(template_config),
        disable_idle_connections: spec.disable_idle_connections.clone(),
        disable_keep_alives: spec.disable_keep_alives.clone(),
        telemetry: spec.telemetry.as_ref().and_then(telemetry),
        ..AgentConfig::default()
    })
}

/// The config of an app container's wrapper (`agent-inject-env-<name>`, extension,
/// injector.md §4.11): the agent's auto-auth method without sinks, its `vault` stanza and `template_config`,
/// one `env_template` per variable and `exec` running `command` (the container's own command and
/// args), restarted on a change only with `agent-inject-env-restart`. Process-supervisor mode
/// exactly as Vault Agent reads it; `-wrapper` on the command line adds what is vaultlet's.
pub fn wrapper_config(
    spec: &AgentSpec,
    command: Vec<String>,
) -> Result<AgentConfig, AgentConfigError> {
    let agent = agent_config(spec, Role::Sidecar)?;
    Ok(AgentConfig {
        auto_auth: agent.auto_auth.map(|a| AutoAuth {
            sinks: Vec::new(),
            ..a
        }),
        vault: agent.vault,
        template_config: agent.template_config,
        exec: Some(ExecStanza {
            command,
            restart_on_secret_changes: Some(
                if spec.env_restart { "always" } else { "never" }.to_owned(),
            ),
            restart_stop_signal: None,
        }),
        env_templates: spec
            .env
            .iter()
            .map(|v| EnvTemplate {
                name: v.name.clone(),
                contents: Some(v.template.clone()),
                ..EnvTemplate::default()
            })
            .collect(),
        ..AgentConfig::default()
    })
}

/// The config JSON bytes (Go escaping) for one agent container.
pub fn agent_config_json(spec: &AgentSpec, role: Role) -> Result<Vec<u8>, AgentConfigError> {
    encode(spec, &agent_config(spec, role)?)
}

/// `config`'s JSON bytes (Go escaping); an error names the annotation behind it.
pub fn encode(spec: &AgentSpec, config: &AgentConfig) -> Result<Vec<u8>, AgentConfigError> {
    config
        .to_json_go()
        .map_err(|source| AgentConfigError::Encode {
            source,
            cite: if spec.lease_renewal_threshold.is_finite() {
                String::new()
            } else {
                spec.annotations.cite("template-lease-renewal-threshold")
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaultlet_shared::annotations::{Annotations, ContainerFacts, PodFacts};

    fn spec(extra: &[(&str, &str)]) -> AgentSpec {
        let mut pairs = vec![
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
        ];
        pairs.extend_from_slice(extra);
        let pod = PodFacts {
            name: "p".into(),
            containers: vec![ContainerFacts {
                name: "app".into(),
                mounts: vec![(
                    "sa".into(),
                    "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                )],
                ..ContainerFacts::default()
            }],
            ..PodFacts::default()
        };
        let settings = crate::fixture::TestInjector::new()
            .vault_address("http://127.0.0.1:8200")
            .defaults();
        AgentSpec::build(&Annotations::from_pairs(pairs), &pod, "ns", &settings).unwrap()
    }

    fn json(spec: &AgentSpec, role: Role) -> Value {
        serde_json::from_slice(&agent_config_json(spec, role).unwrap()).unwrap()
    }

    #[test]
    fn default_templates_and_destinations() {
        let s = spec(&[
            ("vault.hashicorp.com/agent-inject-secret-a", "kv/a"),
            ("vault.hashicorp.com/agent-inject-secret-b", "kv/b"),
            ("vault.hashicorp.com/agent-inject-file-b", "/special/bfile"),
            ("vault.hashicorp.com/agent-template-left-delim-b", "[["),
            ("vault.hashicorp.com/agent-inject-default-template", "JSON"),
        ]);
        let c = json(&s, Role::Init);
        let t = &c["template"];
        assert_eq!(t[0]["destination"], "/vault/secrets/a");
        assert_eq!(
            t[0]["contents"],
            "{{ with secret \"kv/a\" }}{{ .Data | toJSON }}\n{{ end }}"
        );
        assert_eq!(t[1]["destination"], "/vault/secrets/special/bfile");
        assert_eq!(t[1]["left_delimiter"], "[[");
        assert_eq!(t[1]["right_delimiter"], "}}");
        let m = spec(&[("vault.hashicorp.com/agent-inject-secret-a", "kv/a")]);
        assert_eq!(
            json(&m, Role::Sidecar)["template"][0]["contents"],
            "{{ with secret \"kv/a\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}"
        );
    }

    #[test]
    fn auth_sinks_and_vault_stanza() {
        let s = spec(&[
            ("vault.hashicorp.com/agent-inject-token", "true"),
            ("vault.hashicorp.com/auth-config-token-path", "/x/token"),
            ("vault.hashicorp.com/auth-min-backoff", "2s"),
            ("vault.hashicorp.com/tls-skip-verify", "true"),
            ("vault.hashicorp.com/ca-key", "/ca"),
        ]);
        let c = json(&s, Role::Init);
        assert_eq!(c["exit_after_auth"], true);
        assert_eq!(
            c["auto_auth"]["method"]["config"],
            serde_json::json!({"role": "r", "token_path": "/x/token"})
        );
        assert_eq!(c["auto_auth"]["method"]["min_backoff"], "2s");
        assert_eq!(
            c["auto_auth"]["sink"][1]["config"]["path"],
            "/vault/secrets/token"
        );
        assert_eq!(
            c["vault"],
            serde_json::json!({"address": "http://127.0.0.1:8200", "ca_path": "/ca", "tls_skip_verify": true})
        );
        assert_eq!(
            c["template_config"],
            serde_json::json!({"exit_on_retry_failure": true})
        );
        assert!(c.get("listener").is_none() && c.get("cache").is_none());
    }

    #[test]
    fn quit_without_cache_adds_listener_and_empty_cache() {
        let s = spec(&[("vault.hashicorp.com/agent-enable-quit", "true")]);
        let c = json(&s, Role::Init);
        assert_eq!(c["listener"][0]["agent_api"]["enable_quit"], true);
        assert_eq!(c["cache"], serde_json::json!({}));
    }

    #[test]
    fn telemetry_quirk_q4() {
        let ok = spec(&[
            (
                "vault.hashicorp.com/agent-telemetry-disable-hostname",
                "true",
            ),
            (
                "vault.hashicorp.com/agent-telemetry-prefix-filter",
                "[\"+a\",\"-b\"]",
            ),
            ("vault.hashicorp.com/agent-telemetry-unknown", "1"),
        ]);
        let c = json(&ok, Role::Sidecar);
        assert_eq!(c["telemetry"]["disable_hostname"], true);
        assert_eq!(
            c["telemetry"]["prefix_filter"],
            serde_json::json!(["+a", "-b"])
        );
        let bad = spec(&[
            (
                "vault.hashicorp.com/agent-telemetry-disable-hostname",
                "true",
            ),
            ("vault.hashicorp.com/agent-telemetry-statsd-address", "123"),
        ]);
        assert!(json(&bad, Role::Sidecar).get("telemetry").is_none());
        let zero = spec(&[(
            "vault.hashicorp.com/agent-telemetry-disable-hostname",
            "false",
        )]);
        assert_eq!(
            json(&zero, Role::Sidecar)["telemetry"],
            serde_json::json!({})
        );
    }

    #[test]
    fn nan_threshold_is_an_error() {
        let s = spec(&[(
            "vault.hashicorp.com/template-lease-renewal-threshold",
            "NaN",
        )]);
        assert!(agent_config_json(&s, Role::Init).is_err());
        let s = spec(&[(
            "vault.hashicorp.com/template-lease-renewal-threshold",
            "0.75",
        )]);
        assert_eq!(
            json(&s, Role::Init)["template_config"]["lease_renewal_threshold"],
            0.75
        );
    }

    /// Issue 16, failure 3: each refusal of the config step names its annotation with the prefix
    /// the pod used, and the value.
    #[test]
    fn refusals_name_the_annotation_and_its_value() {
        let err = |pairs: &[(&str, &str)]| {
            agent_config_json(&spec(pairs), Role::Init)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&[
                ("openbao.org/agent-inject-secret-db", "db/creds"),
                ("openbao.org/agent-inject-perms-db", "rwx")
            ]),
            r#"annotation openbao.org/agent-inject-perms-db: "rwx" is not an octal file mode"#
        );
        let e = err(&[("openbao.org/template-static-secret-render-interval", "soon")]);
        assert!(
            e.starts_with(
                r#"annotation openbao.org/template-static-secret-render-interval: "soon" is not a duration ("#
            ),
            "{e}"
        );
        assert_eq!(
            err(&[
                ("vault.hashicorp.com/agent-cache-enable", "true"),
                (
                    "vault.hashicorp.com/agent-cache-use-auto-auth-token",
                    "maybe"
                )
            ]),
            r#"annotation vault.hashicorp.com/agent-cache-use-auto-auth-token: "maybe" is not true, false or force"#
        );
        assert_eq!(
            err(&[("openbao.org/template-max-connections-per-host", "-1")]),
            r#"annotation openbao.org/template-max-connections-per-host: "-1" is out of range"#
        );
        let e = err(&[(
            "vault.hashicorp.com/template-lease-renewal-threshold",
            "NaN",
        )]);
        assert!(
            e.ends_with(
                r#" (annotation vault.hashicorp.com/template-lease-renewal-threshold: "NaN")"#
            ),
            "{e}"
        );
    }
}
