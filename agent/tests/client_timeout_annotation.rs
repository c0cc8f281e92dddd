//! The `vault.hashicorp.com/client-timeout` annotation, end to end through the types: the injector's
//! mutation builds the agent container of an annotated pod, and that container's command line and
//! environment (exactly what the kubelet would give the process) go through the agent's settings
//! step, which must come out with a 90 s Vault client timeout for `1m30s` (issue 14's bug: the agent
//! refused Go durations the injector forwards as `VAULT_CLIENT_TIMEOUT`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::time::Duration;

use serde_json::{Value, json};
use vaultlet_agent::cli::{Cli, Command};
use vaultlet_agent::settings::Settings;
use vaultlet_injector::mutate::agent_config::Role;
use vaultlet_injector::mutate::container::agent_container;
use vaultlet_injector::mutate::delivery;
use vaultlet_injector::mutate::pod::Pod;
use vaultlet_injector::mutate::spec_of;
use vaultlet_shared::annotations::{AgentFlavor, InjectorDefaults};

/// The injected sidecar container (Kubernetes JSON) of a pod with `annotations`.
fn sidecar(annotations: Value) -> Value {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "app", "annotations": annotations},
        "spec": {"containers": [{"name": "app", "volumeMounts": [
            {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}
    }))
    .unwrap();
    let defaults = InjectorDefaults {
        vault_address: "https://vault.vault.svc:8200".into(),
        ..InjectorDefaults::default()
    };
    let spec = spec_of(&pod, "default", &defaults).unwrap();
    let plan = delivery::plan(&spec, AgentFlavor::Vaultlet, None).unwrap();
    agent_container(
        &spec,
        Role::Sidecar,
        AgentFlavor::Vaultlet,
        &[],
        &[],
        &plan.sidecar,
    )
    .unwrap()
}

/// The container's settings as the agent binary would resolve them: its argv through the agent's
/// command line, its literal env entries as the whole environment.
fn settings_of(container: &Value) -> Settings {
    let argv: Vec<OsString> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .chain(container["args"].as_array().unwrap())
        .map(|a| OsString::from(a.as_str().unwrap()))
        .collect();
    let Command::Agent(args) = Cli::parse_go_style(argv).unwrap().command else {
        panic!("the injected container does not run `agent`: {container}");
    };
    let env: HashMap<String, String> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.into(), e["value"].as_str()?.into())))
        .collect();
    Settings::resolve(&args, &|k: &str| env.get(k).cloned()).unwrap()
}

#[test]
fn client_timeout_annotation_reaches_the_agent_as_90_seconds() {
    let container = sidecar(json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": "app",
        "vault.hashicorp.com/client-timeout": "1m30s",
        "vault.hashicorp.com/agent-inject-secret-db": "secret/data/db",
    }));
    let env = container["env"].as_array().unwrap();
    assert!(
        env.contains(&json!({"name": "VAULT_CLIENT_TIMEOUT", "value": "1m30s"})),
        "{container}"
    );
    let s = settings_of(&container);
    assert_eq!(s.connection.timeout, Duration::from_secs(90));
    assert_eq!(
        s.connection.client_config().timeout,
        Duration::from_secs(90)
    );
    assert_eq!(s.connection.address, "https://vault.vault.svc:8200");
    // The injector's generated template went through the agent's parser too.
    assert_eq!(s.agent.templates.runner.jobs.len(), 1);
}

#[test]
fn plain_seconds_and_no_annotation() {
    let container = sidecar(json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": "app",
        "vault.hashicorp.com/client-timeout": "45",
    }));
    assert_eq!(
        settings_of(&container).connection.timeout,
        Duration::from_secs(45)
    );
    let container = sidecar(json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": "app",
    }));
    assert_eq!(
        settings_of(&container).connection.timeout,
        Duration::from_secs(60)
    );
}
