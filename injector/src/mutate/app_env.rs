//! Environment variables from templates (`agent-inject-env-<name>`, extension, injector.md §4.11):
//! the patch that makes the agent the wrapper of the chosen app containers. An init container,
//! first of all, runs our agent image's `copy-self` to put the agent binary into a memory
//! `emptyDir`; each chosen container mounts it read-only and its `command` becomes the copied agent
//! (`agent -wrapper=exec|supervise -- <its command>`, its `args` left as they are, so the kubelet
//! still expands `$(VAR)` in both), with the wrapper's config in `VAULT_CONFIG` and the
//! service-account token mounted for its login. The values are rendered by the wrapper, in
//! memory: the patch holds templates only. Pure.

use base64::Engine as _;
use serde_json::{Value, json};
use vaultlet_shared::annotations::AgentSpec;

use super::agent_config::{AgentConfigError, VAULTLET_AGENT, encode, wrapper_config};
use super::container::{ContainerError, resources, security_context};
use super::delivery::{ENV_STRING_LIMIT, fits_env};
use super::pod::{Container, Pod, VolumeMount};
use super::{Ops, empty_dir, mounts_json, ptr};

/// The init container that copies the agent.
pub const COPY_CONTAINER: &str = "vault-env-copy";
/// The memory `emptyDir` holding the copy.
pub const BIN_VOLUME: &str = "vault-env-bin";
/// Where it is mounted (read-write in [`COPY_CONTAINER`], read-only in the wrapped containers).
pub const BIN_DIR: &str = "/vault/bin";
/// The copied agent.
pub const BIN_AGENT: &str = "/vault/bin/vaultlet-agent";
/// The variable holding the wrapper's config (base64 JSON, as the agent containers get theirs).
const CONFIG_VAR: &str = "VAULT_CONFIG";

/// Why the wrapper of a container cannot be built (the pod is refused with this text after
/// `error creating patch for agent: `).
#[derive(Debug, thiserror::Error)]
pub enum AppEnvError {
    #[error(transparent)]
    Config(#[from] AgentConfigError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(
        "the agent config for the environment variables of container {container:?} is {config} bytes, too large for an environment variable ({limit} bytes at most)"
    )]
    TooLarge {
        container: String,
        config: usize,
        limit: usize,
    },
}

/// The init container running `copy-self` (first of all init containers).
fn copy_container(spec: &AgentSpec) -> Result<Value, AppEnvError> {
    let mut c = json!({
        "name": COPY_CONTAINER,
        "image": spec.image,
        "command": [VAULTLET_AGENT, "copy-self", BIN_AGENT],
        "resources": resources(spec)?,
        "volumeMounts": mounts_json(&[VolumeMount::new(BIN_VOLUME, BIN_DIR, false)]),
    });
    if spec.set_security_context {
        c["securityContext"] = security_context(spec);
    }
    Ok(c)
}

/// The wrapped container's new `command`: the copied agent, then its own command after `--`.
pub fn wrapped_command(spec: &AgentSpec, own: &[String]) -> Vec<String> {
    let mode = if spec.env_restart {
        "-wrapper=supervise"
    } else {
        "-wrapper=exec"
    };
    let mut argv = vec![
        BIN_AGENT.to_owned(),
        "agent".to_owned(),
        mode.to_owned(),
        "--".to_owned(),
    ];
    argv.extend_from_slice(own);
    argv
}

/// The mounts a wrapped container gains: the agent copy, and what the wrapper's login and TLS
/// read that the container does not mount yet.
fn wrapper_mounts(spec: &AgentSpec, c: &Container) -> Vec<VolumeMount> {
    let has = |path: &str| {
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == path)
    };
    let mut out = vec![VolumeMount::new(BIN_VOLUME, BIN_DIR, true)];
    if !has(&spec.sa_mount_path) {
        out.push(VolumeMount::new(
            &spec.sa_volume_name,
            &spec.sa_mount_path,
            true,
        ));
    }
    if !spec.extra_secret.is_empty() && !has("/vault/custom") {
        out.push(VolumeMount::new("extra-secrets", "/vault/custom", true));
    }
    if !spec.tls_secret.is_empty() && !has("/vault/tls") {
        out.push(VolumeMount::new("vault-tls-secrets", "/vault/tls", true));
    }
    out
}

/// Adds the copy init container, its volume, and the wrapper of every chosen container
/// (`spec.env_containers`, checked at admission to exist and set `command`). Runs after every
/// other init-container operation, since the copy goes in front of them.
pub(super) fn patch(o: &mut Ops, pod: &Pod, spec: &AgentSpec) -> Result<(), AppEnvError> {
    if spec.env.is_empty() {
        return Ok(());
    }
    o.append(&["spec", "volumes"], vec![empty_dir(BIN_VOLUME)]);
    let copy = copy_container(spec)?;
    let init_key = "spec/initContainers";
    if o.non_empty.contains(init_key) || !pod.init_containers_raw().is_empty() {
        o.add(ptr(&["spec", "initContainers", "0"]), copy);
        o.non_empty.insert(init_key.into());
    } else {
        o.append(&["spec", "initContainers"], vec![copy]);
    }
    for (i, c) in pod.containers().iter().enumerate() {
        if !spec.env_containers.contains(&c.name) {
            continue;
        }
        let own: Vec<String> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .cloned()
            .collect();
        let config = encode(spec, &wrapper_config(spec, own)?)?;
        if !fits_env(CONFIG_VAR, config.len()) {
            return Err(AppEnvError::TooLarge {
                container: c.name.clone(),
                config: config.len(),
                limit: ENV_STRING_LIMIT,
            });
        }
        let idx = i.to_string();
        let command = wrapped_command(spec, c.command.as_deref().unwrap_or_default());
        o.add(
            ptr(&["spec", "containers", &idx, "command"]),
            json!(command),
        );
        let mut env = vec![json!({
            "name": CONFIG_VAR,
            "value": base64::engine::general_purpose::STANDARD.encode(&config),
        })];
        if !spec.cacert_bytes.is_empty() {
            env.push(json!({"name": "VAULT_CACERT_BYTES", "value": spec.cacert_bytes}));
        }
        let env_base = ["spec", "containers", idx.as_str(), "env"];
        if c.env.as_ref().is_some_and(|e| !e.is_empty()) {
            o.non_empty.insert(env_base.join("/"));
        }
        o.append(&env_base, env);
        let mounts_base = ["spec", "containers", idx.as_str(), "volumeMounts"];
        if c.volume_mounts.as_ref().is_some_and(|m| !m.is_empty()) {
            o.non_empty.insert(mounts_base.join("/"));
        }
        o.append(&mounts_base, mounts_json(&wrapper_mounts(spec, c)));
    }
    Ok(())
}
