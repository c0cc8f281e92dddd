//! The injected containers `vault-agent-init` and `vault-agent` (injector.md §3.7, §4.1–4.8), and
//! `vault-agent` as a native sidecar (injector.md §4.10).

use base64::Engine as _;
use serde_json::{Map, Value, json};
use vaultlet_shared::annotations::{AgentFlavor, AgentSpec, QuantityAnnotation};

use super::agent_config::Role;
use super::delivery::{self, Delivery};
use super::pod::VolumeMount;

/// Why an agent container cannot be built (the pod is refused with this text after
/// `error creating patch for agent: `).
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// A resource annotation that is not a Kubernetes quantity (the message names it).
    #[error("{0}")]
    Quantity(String),
    #[error("{0}")]
    Mounts(#[source] serde_json::Error),
    /// The patch annotations' errors end with the annotation's key and value (`cite`, from
    /// `Annotations::cite`).
    #[error("failed to apply JSON patch: {source}{cite}")]
    PatchDecode {
        source: serde_json::Error,
        cite: String,
    },
    #[error("failed to apply JSON patch: {source}{cite}")]
    PatchApply {
        source: json_patch::PatchError,
        cite: String,
    },
    #[error("failed to apply JSON patch: the result is not a container object{cite}")]
    PatchNotAnObject { cite: String },
}

pub use super::agent_config::VAULTLET_AGENT;

/// The native sidecar's startup probe: every second, for up to [`PROBE_FAILURE_THRESHOLD`]
/// seconds (injector.md §4.10).
pub const PROBE_PERIOD_SECONDS: u32 = 1;

/// 300 one-second probes: five minutes for a login and the first render, the agent's default
/// auto-auth maximum backoff, before the kubelet restarts the container.
pub const PROBE_FAILURE_THRESHOLD: u32 = 300;

/// `restartPolicy` and `startupProbe` of the native sidecar (injector.md §4.10): the probe is
/// `/vaultlet-agent probe` with the agent's own flags (the config comes from the same
/// `VAULT_CONFIG` or `-config`), exec'd by the kubelet without a shell.
fn native_fields(c: &mut Map<String, Value>, args: &Value) {
    let mut command = vec![json!(VAULTLET_AGENT), json!("probe")];
    command.extend(
        args.as_array()
            .into_iter()
            .flatten()
            .skip(1)
            .filter(|a| a.as_str() != Some("-exit-after-auth"))
            .cloned(),
    );
    c.insert("restartPolicy".into(), json!("Always"));
    c.insert(
        "startupProbe".into(),
        json!({
            "exec": {"command": command},
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "failureThreshold": PROBE_FAILURE_THRESHOLD,
        }),
    );
}

fn env_field(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

fn env_value(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn env(spec: &AgentSpec, flavor: AgentFlavor, config: &Delivery) -> Vec<Value> {
    let mut out = vec![
        env_field("NAMESPACE", "metadata.namespace"),
        env_field("HOST_IP", "status.hostIP"),
        env_field("POD_IP", "status.podIP"),
    ];
    for (name, v) in [
        ("GOMAXPROCS", &spec.go_max_procs),
        ("VAULT_CLIENT_TIMEOUT", &spec.client_timeout),
        ("VAULT_MAX_RETRIES", &spec.client_max_retries),
        ("VAULT_LOG_LEVEL", &spec.log_level),
        ("VAULT_LOG_FORMAT", &spec.log_format),
        ("HTTPS_PROXY", &spec.proxy_address),
    ] {
        if !v.is_empty() {
            out.push(env_value(name, v));
        }
    }
    if spec.configmap.is_empty() {
        // File delivery (injector.md §3.7) puts nothing here.
        if let Delivery::Env(config) = config {
            out.push(env_value(
                delivery::config_var(flavor),
                &base64::engine::general_purpose::STANDARD.encode(config),
            ));
        }
    } else {
        for (name, v) in [
            ("VAULT_ADDR", &spec.address),
            ("VAULT_CACERT", &spec.ca_cert),
            ("VAULT_CAPATH", &spec.ca_key),
            ("VAULT_CLIENT_CERT", &spec.client_cert),
            ("VAULT_CLIENT_KEY", &spec.client_key),
        ] {
            if !v.is_empty() {
                out.push(env_value(name, v));
            }
        }
        out.push(env_value(
            "VAULT_SKIP_VERIFY",
            if spec.tls_skip_verify {
                "true"
            } else {
                "false"
            },
        ));
        if !spec.tls_server_name.is_empty() {
            out.push(env_value("VAULT_TLS_SERVER_NAME", &spec.tls_server_name));
        }
    }
    if !spec.cacert_bytes.is_empty() {
        out.push(env_value("VAULT_CACERT_BYTES", &spec.cacert_bytes));
    }
    for (k, v) in &spec.aws_env {
        out.push(env_value(k, v));
    }
    out
}

fn quantities(list: &[QuantityAnnotation]) -> Result<Option<Map<String, Value>>, ContainerError> {
    let mut m = Map::new();
    for q in list {
        let canonical = q
            .canonical()
            .map_err(|e| ContainerError::Quantity(e.to_string()))?;
        m.insert(q.resource.to_owned(), Value::String(canonical));
    }
    Ok((!m.is_empty()).then_some(m))
}

pub(super) fn resources(spec: &AgentSpec) -> Result<Value, ContainerError> {
    let mut r = Map::new();
    if let Some(l) = quantities(&spec.limits)? {
        r.insert("limits".into(), Value::Object(l));
    }
    if let Some(q) = quantities(&spec.requests)? {
        r.insert("requests".into(), Value::Object(q));
    }
    Ok(Value::Object(r))
}

pub(super) fn security_context(spec: &AgentSpec) -> Value {
    json!({
        "capabilities": {"drop": ["ALL"]},
        "runAsUser": spec.run_as_user,
        "runAsGroup": spec.run_as_group,
        "runAsNonRoot": spec.run_as_user != 0 && spec.run_as_group != 0,
        "readOnlyRootFilesystem": true,
        "allowPrivilegeEscalation": false,
    })
}

/// `command` and `args` for the flavor (injector.md §3.7; vaultlet: no shell).
fn command_args(
    spec: &AgentSpec,
    role: Role,
    flavor: AgentFlavor,
    config: &Delivery,
) -> (Value, Value) {
    let file = if role == Role::Init {
        "config-init.hcl"
    } else {
        "config.hcl"
    };
    // File delivery (injector.md §3.7): `-config=<downwardAPI file>` for every flavor.
    let from_file = config.path().map(|path| {
        let mut args = vec!["agent".to_owned(), format!("-config={path}")];
        if matches!(
            config,
            Delivery::File {
                exit_after_auth: true,
                ..
            }
        ) {
            args.push("-exit-after-auth".into());
        }
        args
    });
    match flavor {
        AgentFlavor::Vaultlet => {
            let args = from_file.unwrap_or_else(|| {
                let mut args = vec!["agent".to_owned()];
                if !spec.configmap.is_empty() {
                    args.push(format!("-config=/vault/configs/{file}"));
                }
                args
            });
            (json!([VAULTLET_AGENT]), json!(args))
        }
        AgentFlavor::Vault | AgentFlavor::Openbao => {
            let (bin, var) = if flavor == AgentFlavor::Vault {
                ("vault", "VAULT_CONFIG")
            } else {
                ("bao", "BAO_CONFIG")
            };
            let script = if let Some(args) = from_file {
                format!("{bin} {}", args.join(" "))
            } else if spec.configmap.is_empty() {
                format!(
                    "echo ${{{var}?}} | base64 -d > /home/vault/config.json && {bin} agent -config=/home/vault/config.json"
                )
            } else {
                format!(
                    "touch /home/vault/.vault-token && {bin} agent -config=/vault/configs/{file}"
                )
            };
            (json!(["/bin/sh", "-ec"]), json!([script]))
        }
    }
}

/// The sidecar's `lifecycle` (injector.md §4.7); `{}` without revoke-on-shutdown.
fn lifecycle(spec: &AgentSpec, flavor: AgentFlavor) -> Value {
    if !spec.revoke_on_shutdown {
        return json!({});
    }
    let mut flags = vec![format!("-address={}", spec.address)];
    for (flag, v) in [
        ("ca-cert", &spec.ca_cert),
        ("client-cert", &spec.client_cert),
        ("client-key", &spec.client_key),
    ] {
        if !v.is_empty() {
            flags.push(format!("-{flag}={v}"));
        }
    }
    flags.push("-self".into());
    let command: Vec<String> = match flavor {
        AgentFlavor::Vaultlet => {
            let mut c = vec![
                VAULTLET_AGENT.to_owned(),
                "token".into(),
                "revoke".into(),
                format!("-delay={}s", spec.revoke_grace),
            ];
            c.extend(flags);
            c
        }
        AgentFlavor::Vault | AgentFlavor::Openbao => {
            let bin = if flavor == AgentFlavor::Vault {
                "/bin/vault"
            } else {
                "/bin/bao"
            };
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!(
                    "/bin/sleep {} && {bin} token revoke {}",
                    spec.revoke_grace,
                    flags.join(" ")
                ),
            ]
        }
    };
    json!({"preStop": {"exec": {"command": command}}})
}

/// Mounts of one agent container (injector.md §4.3); `copied` are the mounts of `agent-copy-volume-mounts`.
fn mounts(
    spec: &AgentSpec,
    role: Role,
    secrets: &[VolumeMount],
    copied: &[VolumeMount],
    config: &Delivery,
) -> Vec<VolumeMount> {
    let sa = VolumeMount::new(&spec.sa_volume_name, &spec.sa_mount_path, true);
    let mut out = match role {
        Role::Sidecar => vec![sa, VolumeMount::new("home-sidecar", "/home/vault", false)],
        Role::Init => vec![VolumeMount::new("home-init", "/home/vault", false), sa],
    };
    if let Some((n, p)) = &spec.irsa_mount {
        out.push(VolumeMount::new(n, p, true));
    }
    out.extend_from_slice(secrets);
    if !spec.extra_secret.is_empty() {
        out.push(VolumeMount::new("extra-secrets", "/vault/custom", true));
    }
    out.extend_from_slice(copied);
    if !spec.configmap.is_empty() {
        out.push(VolumeMount::new("vault-config", "/vault/configs", true));
    }
    if !spec.tls_secret.is_empty() {
        out.push(VolumeMount::new("vault-tls-secrets", "/vault/tls", true));
    }
    if spec.persist_cache() {
        out.push(VolumeMount::new(
            "vault-agent-cache",
            "/vault/agent-cache",
            false,
        ));
    }
    if config.path().is_some() {
        out.push(VolumeMount::new(
            delivery::VOLUME,
            delivery::MOUNT_PATH,
            true,
        ));
    }
    out
}

fn args_of(c: &Map<String, Value>) -> Value {
    c.get("args").cloned().unwrap_or(Value::Null)
}

/// Build one agent container as its Kubernetes JSON, with its JSON-patch annotation applied;
/// `config` is how it gets its generated config (`delivery::plan`).
pub fn agent_container(
    spec: &AgentSpec,
    role: Role,
    flavor: AgentFlavor,
    secrets: &[VolumeMount],
    copied: &[VolumeMount],
    config: &Delivery,
) -> Result<Value, ContainerError> {
    let (command, args) = command_args(spec, role, flavor, config);
    let mut c = Map::new();
    c.insert(
        "name".into(),
        json!(if role == Role::Init {
            "vault-agent-init"
        } else {
            "vault-agent"
        }),
    );
    c.insert("image".into(), json!(spec.image));
    c.insert("command".into(), command);
    c.insert("args".into(), args);
    c.insert("env".into(), Value::Array(env(spec, flavor, config)));
    c.insert("resources".into(), resources(spec)?);
    c.insert(
        "volumeMounts".into(),
        serde_json::to_value(mounts(spec, role, secrets, copied, config))
            .map_err(ContainerError::Mounts)?,
    );
    if role == Role::Sidecar {
        c.insert("lifecycle".into(), lifecycle(spec, flavor));
        if spec.native() && flavor == AgentFlavor::Vaultlet {
            let args = args_of(&c);
            native_fields(&mut c, &args);
        }
    }
    if spec.set_security_context {
        c.insert("securityContext".into(), security_context(spec));
    }
    let mut value = Value::Object(c);
    let (patch, key) = if role == Role::Init {
        (&spec.init_json_patch, "agent-init-json-patch")
    } else {
        (&spec.json_patch, "agent-json-patch")
    };
    if let Some(p) = patch.as_ref().filter(|p| !p.is_null()) {
        let cite = || spec.annotations.cite(key);
        let ops: json_patch::Patch =
            serde_json::from_value(p.clone()).map_err(|source| ContainerError::PatchDecode {
                source,
                cite: cite(),
            })?;
        json_patch::patch(&mut value, &ops).map_err(|source| ContainerError::PatchApply {
            source,
            cite: cite(),
        })?;
        if !value.is_object() {
            return Err(ContainerError::PatchNotAnObject { cite: cite() });
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaultlet_shared::annotations::{Annotations, ContainerFacts, InjectorDefaults, PodFacts};

    use crate::fixture::TestInjector;

    fn spec(extra: &[(&str, &str)], settings: InjectorDefaults) -> AgentSpec {
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
                run_as_user: Some(Some(1234)),
                ..ContainerFacts::default()
            }],
            ..PodFacts::default()
        };
        AgentSpec::build(&Annotations::from_pairs(pairs), &pod, "ns", &settings).unwrap()
    }

    fn build(s: &AgentSpec) -> Value {
        let plan = delivery::plan(s, AgentFlavor::Vaultlet, None).unwrap();
        agent_container(
            s,
            Role::Sidecar,
            AgentFlavor::Vaultlet,
            &[],
            &[],
            &plan.sidecar,
        )
        .unwrap()
    }

    /// A config too large for the environment: file delivery (injector.md §3.7).
    fn big_spec() -> AgentSpec {
        let secrets: Vec<(String, String)> = (0..600)
            .map(|i| {
                (
                    format!("vault.hashicorp.com/agent-inject-secret-s{i:04}"),
                    format!("kv/data/s{i:04}"),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        spec(&pairs, TestInjector::new().defaults())
    }

    fn file_delivered(flavor: AgentFlavor, role: Role) -> Value {
        let s = big_spec();
        let plan = delivery::plan(&s, flavor, None).unwrap();
        let d = if role == Role::Init {
            &plan.init
        } else {
            &plan.sidecar
        };
        agent_container(&s, role, flavor, &[], &[], d).unwrap()
    }

    fn env_names(c: &Value) -> Vec<&str> {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn file_delivery_vaultlet_reads_the_mounted_config() {
        let init = file_delivered(AgentFlavor::Vaultlet, Role::Init);
        assert_eq!(init["command"], serde_json::json!(["/vaultlet-agent"]));
        assert_eq!(
            init["args"],
            serde_json::json!([
                "agent",
                "-config=/vault/agent-config/config.json",
                "-exit-after-auth"
            ])
        );
        let sidecar = file_delivered(AgentFlavor::Vaultlet, Role::Sidecar);
        assert_eq!(
            sidecar["args"],
            serde_json::json!(["agent", "-config=/vault/agent-config/config.json"])
        );
        for c in [&init, &sidecar] {
            assert_eq!(
                env_names(c),
                [
                    "NAMESPACE",
                    "HOST_IP",
                    "POD_IP",
                    "VAULT_LOG_LEVEL",
                    "VAULT_LOG_FORMAT"
                ]
            );
            let mounts = c["volumeMounts"].as_array().unwrap();
            assert_eq!(
                mounts.last().unwrap(),
                &serde_json::json!({"name": "vault-agent-config", "readOnly": true,
                    "mountPath": "/vault/agent-config"})
            );
            assert!(c.to_string().len() < 4096, "the container stays small");
        }
    }

    #[test]
    fn file_delivery_upstream_flavors_run_their_agent_on_the_file() {
        for (flavor, bin) in [(AgentFlavor::Vault, "vault"), (AgentFlavor::Openbao, "bao")] {
            let init = file_delivered(flavor, Role::Init);
            assert_eq!(init["command"], serde_json::json!(["/bin/sh", "-ec"]));
            assert_eq!(
                init["args"],
                serde_json::json!([format!(
                    "{bin} agent -config=/vault/agent-config/config.json -exit-after-auth"
                )])
            );
            let sidecar = file_delivered(flavor, Role::Sidecar);
            assert_eq!(
                sidecar["args"],
                serde_json::json!([format!(
                    "{bin} agent -config=/vault/agent-config/config.json"
                )])
            );
            for c in [&init, &sidecar] {
                let names = env_names(c);
                assert!(
                    !names.contains(&"VAULT_CONFIG") && !names.contains(&"BAO_CONFIG"),
                    "{names:?}"
                );
                assert!(
                    c["volumeMounts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| m["name"] == "vault-agent-config")
                );
            }
        }
    }

    #[test]
    fn security_context_rules() {
        let s = spec(
            &[("vault.hashicorp.com/agent-run-as-group", "0")],
            TestInjector::new().defaults(),
        );
        assert_eq!(build(&s)["securityContext"]["runAsNonRoot"], false);
        let s = spec(
            &[("vault.hashicorp.com/agent-run-as-same-user", "true")],
            TestInjector::new().defaults(),
        );
        assert_eq!(build(&s)["securityContext"]["runAsUser"], 1234);
        let off = InjectorDefaults {
            set_security_context: false,
            ..TestInjector::new().defaults()
        };
        assert!(
            build(&spec(&[], off.clone()))
                .get("securityContext")
                .is_none()
        );
        // Flip rule: a run-as annotation turns it back on.
        let s = spec(&[("vault.hashicorp.com/agent-run-as-user", "5")], off);
        assert_eq!(build(&s)["securityContext"]["runAsUser"], 5);
    }

    #[test]
    fn env_order_and_resources() {
        let s = spec(
            &[
                ("vault.hashicorp.com/go-max-procs", "2"),
                ("vault.hashicorp.com/proxy-address", "http://proxy"),
                ("vault.hashicorp.com/agent-limits-mem", "1.5Gi"),
                ("vault.hashicorp.com/agent-requests-cpu", ""),
            ],
            TestInjector::new().defaults(),
        );
        let c = build(&s);
        let names: Vec<&str> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "NAMESPACE",
                "HOST_IP",
                "POD_IP",
                "GOMAXPROCS",
                "VAULT_LOG_LEVEL",
                "VAULT_LOG_FORMAT",
                "HTTPS_PROXY",
                "VAULT_CONFIG"
            ]
        );
        assert_eq!(
            c["resources"],
            serde_json::json!({"limits": {"cpu": "500m", "memory": "1536Mi"}, "requests": {"memory": "64Mi"}})
        );
        assert_eq!(c["lifecycle"], serde_json::json!({}));
    }

    #[test]
    fn configmap_mode_uses_connection_env() {
        let s = spec(
            &[
                ("vault.hashicorp.com/agent-configmap", "cm"),
                ("vault.hashicorp.com/ca-cert", "/ca.pem"),
            ],
            TestInjector::new().defaults(),
        );
        let c = build(&s);
        let env = c["env"].as_array().unwrap();
        assert!(env.iter().all(|e| e["name"] != "VAULT_CONFIG"));
        assert!(env.contains(&serde_json::json!({"name": "VAULT_CACERT", "value": "/ca.pem"})));
        assert!(env.contains(&serde_json::json!({"name": "VAULT_SKIP_VERIFY", "value": "false"})));
        assert_eq!(
            c["args"],
            serde_json::json!(["agent", "-config=/vault/configs/config.hcl"])
        );
    }
}
