//! Pod mutation: from a decoded Pod to the decision of injector.md §2.3 and its JSON patch (§2.4, §4).

pub mod agent_config;
pub mod app_env;
pub mod checks;
pub mod container;
pub mod delivery;
pub mod pod;

use std::collections::HashSet;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use serde_json::{Value, json};
#[cfg(test)]
use vaultlet_shared::annotations::AgentFlavor;
use vaultlet_shared::annotations::{AgentSpec, Annotations, InjectorDefaults, SpecError};

pub use agent_config::{AgentConfigError, Role};
use checks::{CheckError, Warning};
use container::{ContainerError, agent_container};
use delivery::DeliveryError;
use pod::{Container, Pod, PodError, VolumeMount};

/// Why a pod is refused; `Display` is the refusal message (injector.md §2.3).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The request's object is not a Pod.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// `agent-inject` is not a boolean (the message names the value).
    #[error("error checking if should inject agent: {0}")]
    InjectAnnotation(String),
    #[error("error with request namespace: cannot inject into system namespaces: {0}")]
    SystemNamespace(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A check at admission (extension, injector.md §2.6).
    #[error("error validating agent configuration: {0}")]
    Check(#[from] CheckError),
    #[error("error creating patch for agent: {0}")]
    Patch(#[from] PatchError),
}

impl Refusal {
    /// A bounded label for metrics and logs: which step refused the pod.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Pod(_) => "pod",
            Self::InjectAnnotation(_) => "agent_inject",
            Self::SystemNamespace(_) => "system_namespace",
            Self::Spec(SpecError::Defaulting(_)) => "defaulting",
            Self::Spec(SpecError::Parse(_)) => "annotation",
            Self::Spec(SpecError::Validation(_)) => "validation",
            Self::Check(c) => c.reason(),
            Self::Patch(_) => "patch",
        }
    }
}

/// Why the JSON patch of a pod with a valid spec cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("init container: {0}")]
    InitContainer(#[source] serde_json::Error),
    /// An init container kept verbatim did not read back as JSON.
    #[error("{0}")]
    InitContainerJson(#[source] serde_json::Error),
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// The generated config fits neither the environment nor the annotations (injector.md §3.7).
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The wrapper of an app container (`agent-inject-env-<name>`, injector.md §4.11).
    #[error(transparent)]
    AppEnv(#[from] app_env::AppEnvError),
}

/// Why [`generated_config`] has no config for a pod.
#[derive(Debug, thiserror::Error)]
pub enum GeneratedConfigError {
    #[error(transparent)]
    Pod(#[from] PodError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Config(#[from] AgentConfigError),
}

/// What to answer for a pod.
#[derive(Debug)]
pub enum Decision {
    /// Allowed, untouched.
    Skip,
    /// Refused with this reason.
    Refuse(Refusal),
    /// Allowed with a patch; `init`/`sidecar` say which containers were injected (metrics).
    Patch {
        patch: Patch,
        init: bool,
        sidecar: bool,
    },
}

/// Where the annotations a namespace gives its pods come from (extension, injector.md §2.7): the
/// server's reflector cache (`crate::k8s::namespaces`), `render --namespace-file`, or nowhere
/// ([`NoNamespaceDefaults`]). A lookup in memory, never an API call: the pipeline stays pure.
pub trait NamespaceDefaults: Send + Sync {
    /// The injector annotations of `namespace` (`None`: none, or the namespace is unknown).
    fn annotations(&self, namespace: &str) -> Option<Annotations>;
}

/// No namespace defaults (the feature is off, or there is no cluster).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNamespaceDefaults;

impl NamespaceDefaults for NoNamespaceDefaults {
    fn annotations(&self, _namespace: &str) -> Option<Annotations> {
        None
    }
}

/// The annotations of a pod (both prefixes).
pub fn annotations_of(pod: &Pod) -> Annotations {
    Annotations::from_pairs(
        pod.metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

/// injector.md §2.3 steps 2–3: `Ok(true)` when the pod asks for injection and may get it.
fn should_inject(pod: &Pod, a: &Annotations, namespace: &str) -> Result<bool, Refusal> {
    let wanted = a
        .wants_injection()
        .map_err(|e| Refusal::InjectAnnotation(e.to_string()))?;
    if !wanted
        || pod.status.phase.as_deref().is_some_and(|p| p != "Pending")
        || a.get("agent-inject-status") == Some("injected")
    {
        return Ok(false);
    }
    if namespace == "kube-system" || namespace == "kube-public" {
        return Err(Refusal::SystemNamespace(namespace.to_owned()));
    }
    Ok(true)
}

/// Build the spec of a pod (injector.md §2.3 steps 4–6).
pub fn spec_of(
    pod: &Pod,
    namespace: &str,
    settings: &InjectorDefaults,
) -> Result<AgentSpec, SpecError> {
    AgentSpec::build(&annotations_of(pod), &pod.facts(), namespace, settings)
}

/// The whole decision pipeline for one pod.
pub fn decide(pod: &Pod, namespace: &str, settings: &InjectorDefaults) -> Decision {
    decide_with_warnings(pod, namespace, settings).0
}

/// [`decide`], with the warnings for the answer (injector.md §2.6): unknown keys for every pod,
/// values without effect for a pod that gets the agent. The refusing checks run after validation
/// (injector.md §2.3 step 6), before the patch.
pub fn decide_with_warnings(
    pod: &Pod,
    namespace: &str,
    settings: &InjectorDefaults,
) -> (Decision, Vec<Warning>) {
    decide_in_namespace(pod, namespace, &NoNamespaceDefaults, settings)
}

/// [`decide_with_warnings`] with the namespace's annotations filling in the keys the pod does not
/// set (injector.md §2.7). They are looked up only for a pod that asks for injection, after its
/// own `agent-inject` decided so, and only known keys are taken (so the unknown-key warnings are
/// the pod's own).
pub fn decide_in_namespace(
    pod: &Pod,
    namespace: &str,
    namespaces: &dyn NamespaceDefaults,
    settings: &InjectorDefaults,
) -> (Decision, Vec<Warning>) {
    let mut a = annotations_of(pod);
    let mut warnings = Vec::new();
    checks::unknown_keys(&a, &mut warnings);
    match should_inject(pod, &a, namespace) {
        Ok(false) => return (Decision::Skip, warnings),
        Err(e) => return (Decision::Refuse(e), warnings),
        Ok(true) => {}
    }
    if let Some(from_ns) = namespaces.annotations(namespace) {
        a.fill_from_namespace(&from_ns);
    }
    let spec = match AgentSpec::build(&a, &pod.facts(), namespace, settings) {
        Ok(s) => s,
        Err(e) => return (Decision::Refuse(e.into()), warnings),
    };
    checks::no_effect(&a, settings.agent_flavor, &mut warnings);
    checks::native_sidecar(&spec, &a, &mut warnings);
    if let Err(e) = checks::refusals(&spec, &a, settings.agent_flavor) {
        return (Decision::Refuse(e.into()), warnings);
    }
    // The shared PID namespace the pod would end up with, unless a signal turns it on.
    let pod_pid = spec
        .share_process_namespace
        .or(pod.spec.share_process_namespace);
    if let Err(e) = checks::commands(&spec, &a, settings.agent_flavor, pod_pid) {
        return (Decision::Refuse(e.into()), warnings);
    }
    if let Err(e) = checks::env_vars(&spec, &a, settings.agent_flavor, pod.containers()) {
        return (Decision::Refuse(e.into()), warnings);
    }
    let decision = match build_patch(pod, &spec, settings) {
        Ok(patch) => Decision::Patch {
            patch,
            init: spec.pre_populate && !spec.native(),
            sidecar: !spec.pre_populate_only,
        },
        Err(e) => Decision::Refuse(e.into()),
    };
    (decision, warnings)
}

/// The generated agent config JSON (Go escaping) a pod's init or sidecar container would get.
pub fn generated_config(
    pod_json: &[u8],
    namespace: &str,
    settings: &InjectorDefaults,
    role: Role,
) -> Result<Vec<u8>, GeneratedConfigError> {
    let pod: Pod = serde_json::from_slice(pod_json).map_err(PodError::Decode)?;
    let spec = spec_of(&pod, namespace, settings)?;
    Ok(agent_config::agent_config_json(&spec, role)?)
}

fn ptr(tokens: &[&str]) -> PointerBuf {
    PointerBuf::from_tokens(tokens.iter().copied())
}

/// Collects operations; knows which arrays are non-empty so the first add creates the array (injector.md §0: no Q1).
struct Ops {
    ops: Vec<PatchOperation>,
    non_empty: HashSet<String>,
}

impl Ops {
    fn add(&mut self, path: PointerBuf, value: Value) {
        self.ops
            .push(PatchOperation::Add(AddOperation { path, value }));
    }

    /// Append `items` to the array at `base` (created when absent or empty).
    fn append(&mut self, base: &[&str], items: Vec<Value>) {
        let key = base.join("/");
        for item in items {
            if self.non_empty.contains(&key) {
                let mut p = ptr(base);
                p.push_back("-");
                self.add(p, item);
            } else {
                self.add(ptr(base), Value::Array(vec![item]));
                self.non_empty.insert(key.clone());
            }
        }
    }
}

fn empty_dir(name: &str) -> Value {
    json!({"name": name, "emptyDir": {"medium": "Memory"}})
}

fn mounts_json(m: &[VolumeMount]) -> Vec<Value> {
    m.iter()
        .map(|m| serde_json::to_value(m).unwrap_or(Value::Null))
        .collect()
}

/// The JSON patch for a pod with a validated spec (injector.md §2.4).
pub fn build_patch(
    pod: &Pod,
    spec: &AgentSpec,
    settings: &InjectorDefaults,
) -> Result<Patch, PatchError> {
    let init_parsed: Vec<Container> = pod
        .init_containers_raw()
        .iter()
        .map(|r| serde_json::from_str(r.get()).map_err(PatchError::InitContainer))
        .collect::<Result<_, _>>()?;
    let mut o = Ops {
        ops: Vec::new(),
        non_empty: HashSet::new(),
    };
    // How the generated configs reach the containers (injector.md §3.7).
    let plan = delivery::plan(
        spec,
        settings.agent_flavor,
        pod.metadata.annotations.as_ref(),
    )?;
    if !pod.volumes().is_empty() {
        o.non_empty.insert("spec/volumes".into());
    }
    if !pod.containers().is_empty() {
        o.non_empty.insert("spec/containers".into());
    }
    // Secrets mounts (injector.md §5.2) and volumes (§4.4).
    let mut secret_mounts = vec![VolumeMount::new(
        "vault-secrets",
        &spec.secret_volume_path,
        false,
    )];
    for s in &spec.secrets {
        if s.mount_path != spec.secret_volume_path
            && !secret_mounts
                .iter()
                .skip(1)
                .any(|m| m.mount_path == s.mount_path)
        {
            let name = format!("vault-secrets-custom-{}", secret_mounts.len() - 1);
            secret_mounts.push(VolumeMount::new(&name, &s.mount_path, false));
        }
    }
    let native = spec.native();
    let mut volumes = Vec::new();
    if spec.pre_populate && !native {
        volumes.push(empty_dir("home-init"));
    }
    if !spec.pre_populate_only {
        volumes.push(empty_dir("home-sidecar"));
    }
    volumes.extend(secret_mounts.iter().map(|m| empty_dir(&m.name)));
    if !spec.configmap.is_empty() {
        volumes.push(json!({"name": "vault-config", "configMap": {"name": spec.configmap}}));
    }
    if !spec.extra_secret.is_empty() {
        volumes.push(json!({"name": "extra-secrets", "secret": {"secretName": spec.extra_secret}}));
    }
    if !spec.tls_secret.is_empty() {
        volumes
            .push(json!({"name": "vault-tls-secrets", "secret": {"secretName": spec.tls_secret}}));
    }
    if spec.persist_cache() {
        volumes.push(empty_dir("vault-agent-cache"));
    }
    volumes.extend(plan.volume());
    o.append(&["spec", "volumes"], volumes);
    // App container mounts.
    for (i, c) in pod.containers().iter().enumerate() {
        if spec.inject_containers.contains(&c.name) {
            let idx = i.to_string();
            let base = ["spec", "containers", idx.as_str(), "volumeMounts"];
            if c.volume_mounts.as_ref().is_some_and(|m| !m.is_empty()) {
                o.non_empty.insert(base.join("/"));
            }
            o.append(&base, mounts_json(&secret_mounts));
        }
    }
    // Copied mounts (injector.md §4.3 item 6).
    let copied: Vec<VolumeMount> = if spec.copy_volume_mounts.is_empty() {
        Vec::new()
    } else {
        pod.containers()
            .iter()
            .chain(init_parsed.iter())
            .filter(|c| c.name == spec.copy_volume_mounts)
            .flat_map(|c| c.volume_mounts.iter().flatten())
            .filter(|m| !m.mount_path.to_lowercase().contains("serviceaccount"))
            .cloned()
            .collect()
    };
    // In native mode (injector.md §4.10) the one agent takes the init container's place in
    // `initContainers` (same ordering rules, injector.md §4.9) and there is no sidecar.
    if spec.pre_populate || native {
        let (role, delivery) = if native {
            (Role::Sidecar, &plan.sidecar)
        } else {
            (Role::Init, &plan.init)
        };
        let init = agent_container(
            spec,
            role,
            settings.agent_flavor,
            &secret_mounts,
            &copied,
            delivery,
        )?;
        let raw = pod.init_containers_raw();
        let mut order: Vec<Option<&Container>> = Vec::new();
        if spec.init_first {
            if !raw.is_empty() {
                o.ops.push(PatchOperation::Remove(RemoveOperation {
                    path: ptr(&["spec", "initContainers"]),
                }));
            }
            o.append(&["spec", "initContainers"], vec![init]);
            order.push(None);
            for (r, c) in raw.iter().zip(&init_parsed) {
                let v: Value =
                    serde_json::from_str(r.get()).map_err(PatchError::InitContainerJson)?;
                o.append(&["spec", "initContainers"], vec![v]);
                order.push(Some(c));
            }
        } else {
            if !raw.is_empty() {
                o.non_empty.insert("spec/initContainers".into());
            }
            order.extend(init_parsed.iter().map(Some));
            o.append(&["spec", "initContainers"], vec![init]);
            order.push(None);
        }
        for (i, c) in order.iter().enumerate() {
            let Some(c) = c else { continue };
            if c.name == "vault-agent-init" {
                continue;
            }
            let idx = i.to_string();
            let base = ["spec", "initContainers", idx.as_str(), "volumeMounts"];
            if c.volume_mounts.as_ref().is_some_and(|m| !m.is_empty()) {
                o.non_empty.insert(base.join("/"));
            }
            o.append(&base, mounts_json(&secret_mounts));
        }
        if let Some(b) = spec.share_process_namespace {
            o.add(ptr(&["spec", "shareProcessNamespace"]), Value::Bool(b));
        }
    }
    // agent-inject-signal-<name> (extension, injector.md §1.4): the sidecar must see the app's
    // processes. Added here unless the annotation above already set it (to true: `false` with a
    // signal is refused by `checks::commands`).
    let set_above = spec.pre_populate && spec.share_process_namespace.is_some();
    if checks::signals_app(spec) && !set_above && pod.spec.share_process_namespace != Some(true) {
        o.add(ptr(&["spec", "shareProcessNamespace"]), Value::Bool(true));
    }
    if !spec.pre_populate_only && !native {
        let sidecar = agent_container(
            spec,
            Role::Sidecar,
            settings.agent_flavor,
            &secret_mounts,
            &copied,
            &plan.sidecar,
        )?;
        o.append(&["spec", "containers"], vec![sidecar]);
    }
    // agent-inject-env-<name> (extension, injector.md §4.11): the copy goes in front of every init
    // container added above.
    app_env::patch(&mut o, pod, spec)?;
    let status_key = "vault.hashicorp.com/agent-inject-status";
    // File delivery's config annotations come first, then the status (injector.md §2.4 item 10).
    let mut added: Vec<(&str, String)> = plan.annotations;
    added.push((status_key, "injected".to_owned()));
    if pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| !a.is_empty())
    {
        for (key, value) in added {
            o.add(ptr(&["metadata", "annotations", key]), Value::String(value));
        }
    } else {
        let map: serde_json::Map<String, Value> = added
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        o.add(ptr(&["metadata", "annotations"]), Value::Object(map));
    }
    Ok(Patch(o.ops))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(annotations: Value, volumes: Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": [{"name": "app", "volumeMounts": [
                {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "volumes": volumes}
        }))
        .unwrap()
    }

    fn settings() -> InjectorDefaults {
        crate::fixture::TestInjector::new().defaults()
    }

    #[test]
    fn first_add_creates_the_array_and_the_status_key_is_escaped() {
        let p = pod(
            json!({"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r"}),
            json!([]),
        );
        let Decision::Patch {
            patch,
            init,
            sidecar,
        } = decide(&p, "ns", &settings())
        else {
            panic!("no patch")
        };
        assert!(init && sidecar);
        let ops = serde_json::to_value(&patch).unwrap();
        let ops = ops.as_array().unwrap();
        assert_eq!(ops[0]["path"], "/spec/volumes");
        assert_eq!(ops[0]["value"][0]["name"], "home-init");
        assert_eq!(ops[1]["path"], "/spec/volumes/-");
        let last = ops.last().unwrap();
        assert_eq!(
            last["path"],
            "/metadata/annotations/vault.hashicorp.com~1agent-inject-status"
        );
        assert_eq!(last["value"], "injected");
    }

    #[test]
    fn pre_populate_false_and_only_adds_no_container() {
        let p = pod(
            json!({"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r",
                "vault.hashicorp.com/agent-pre-populate": "false", "vault.hashicorp.com/agent-pre-populate-only": "true"}),
            json!([{"name": "sa"}]),
        );
        let Decision::Patch {
            patch,
            init,
            sidecar,
        } = decide(&p, "ns", &settings())
        else {
            panic!("no patch")
        };
        assert!(!init && !sidecar);
        let text = serde_json::to_string(&patch).unwrap();
        assert!(!text.contains("vault-agent"), "{text}");
        assert!(text.contains("vault-secrets"));
    }

    /// A pod JSON whose `n` default-template secrets make a config of about 260·n bytes.
    fn big_pod_json(n: usize, annotations: bool) -> Value {
        let mut a = serde_json::Map::new();
        a.insert("vault.hashicorp.com/agent-inject".into(), json!("true"));
        a.insert("vault.hashicorp.com/role".into(), json!("r"));
        for i in 0..n {
            a.insert(
                format!("vault.hashicorp.com/agent-inject-secret-s{i:04}"),
                json!(format!("kv/data/s{i:04}")),
            );
        }
        let mut pod = json!({
            "metadata": {"name": "p", "annotations": a},
            "spec": {"containers": [{"name": "app", "volumeMounts": [
                {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "volumes": [{"name": "sa"}]}
        });
        if !annotations {
            pod["metadata"]
                .as_object_mut()
                .unwrap()
                .remove("annotations");
        }
        pod
    }

    fn patched(pod: &Value, patch: &Patch) -> Value {
        let mut out = pod.clone();
        json_patch::patch(&mut out, patch).expect("patch applies");
        out
    }

    #[test]
    fn a_large_config_is_delivered_through_an_annotation_and_a_downward_api_volume() {
        let pod_json = big_pod_json(600, true);
        let p: Pod = serde_json::from_value(pod_json.clone()).unwrap();
        let Decision::Patch { patch, .. } = decide(&p, "ns", &settings()) else {
            panic!("not patched")
        };
        let ops = serde_json::to_value(&patch).unwrap();
        let ops = ops.as_array().unwrap();
        let n = ops.len();
        assert_eq!(
            ops[n - 2]["path"],
            "/metadata/annotations/vault.hashicorp.com~1agent-config-sidecar"
        );
        assert_eq!(
            ops[n - 1]["path"],
            "/metadata/annotations/vault.hashicorp.com~1agent-inject-status"
        );
        let out = patched(&pod_json, &patch);
        let annotations = &out["metadata"]["annotations"];
        let config = annotations["vault.hashicorp.com/agent-config-sidecar"]
            .as_str()
            .unwrap();
        // As base64 in VAULT_CONFIG it would be over Linux's 131,072-byte limit.
        assert!(config.len().div_ceil(3) * 4 > 131_072, "{}", config.len());
        let loaded = vaultlet_shared::config::AgentConfig::from_json_str(config).expect("loads");
        assert_eq!(loaded.config.templates.len(), 600);
        assert!(!loaded.config.exit_after_auth);
        assert_eq!(
            annotations["vault.hashicorp.com/agent-inject-status"],
            "injected"
        );
        assert_eq!(annotations["vault.hashicorp.com/agent-inject"], "true");
        let volumes = out["spec"]["volumes"].as_array().unwrap();
        assert_eq!(
            volumes.last().unwrap()["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.annotations['vault.hashicorp.com/agent-config-sidecar']"
        );
        let init = &out["spec"]["initContainers"][0];
        let sidecar = &out["spec"]["containers"][1];
        assert_eq!(
            init["args"],
            json!([
                "agent",
                "-config=/vault/agent-config/config.json",
                "-exit-after-auth"
            ])
        );
        assert_eq!(
            sidecar["args"],
            json!(["agent", "-config=/vault/agent-config/config.json"])
        );
        for c in [init, sidecar] {
            assert!(!c["env"].to_string().contains("VAULT_CONFIG"));
            assert!(
                c["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .contains(&json!({"name": "vault-agent-config", "readOnly": true,
                        "mountPath": "/vault/agent-config"}))
            );
        }
    }

    #[test]
    fn config_annotations_on_a_pod_without_annotations_create_the_map() {
        let pod_json = big_pod_json(600, false);
        let p: Pod = serde_json::from_value(pod_json.clone()).unwrap();
        let annotations: Vec<(String, String)> = big_pod_json(600, true)["metadata"]["annotations"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let spec = AgentSpec::build(
            &Annotations::from_pairs(annotations.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            &p.facts(),
            "ns",
            &settings(),
        )
        .unwrap();
        let patch = build_patch(&p, &spec, &settings()).unwrap();
        let ops = serde_json::to_value(&patch).unwrap();
        let last = ops.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["path"], "/metadata/annotations");
        let out = patched(&pod_json, &patch);
        let keys: Vec<&String> = out["metadata"]["annotations"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(
            keys,
            [
                "vault.hashicorp.com/agent-config-sidecar",
                "vault.hashicorp.com/agent-inject-status"
            ]
        );
    }

    #[test]
    fn a_config_too_large_for_the_annotations_is_refused_with_size_and_limit() {
        let p: Pod = serde_json::from_value(big_pod_json(1200, true)).unwrap();
        let Decision::Refuse(r) = decide(&p, "ns", &settings()) else {
            panic!("admitted")
        };
        let text = r.to_string();
        assert!(
            text.starts_with("error creating patch for agent: the generated agent config is "),
            "{text}"
        );
        assert!(
            text.ends_with("over the Kubernetes limit of 262144 bytes"),
            "{text}"
        );
    }

    /// A pod with one app container and one init container `setup`, annotated with `extra`, and
    /// what the native-sidecar decision does to it (injector.md §4.10).
    fn native_pod(extra: &[(&str, &str)]) -> Value {
        let mut a = serde_json::Map::new();
        a.insert("vault.hashicorp.com/agent-inject".into(), json!("true"));
        a.insert("vault.hashicorp.com/role".into(), json!("r"));
        a.insert(
            "vault.hashicorp.com/agent-inject-secret-db".into(),
            json!("database/creds/app"),
        );
        for (k, v) in extra {
            a.insert((*k).into(), json!(v));
        }
        json!({
            "metadata": {"name": "p", "annotations": a},
            "spec": {
                "initContainers": [{"name": "setup", "image": "busybox"}],
                "containers": [{"name": "app", "volumeMounts": [
                    {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "volumes": [{"name": "sa"}]}
        })
    }

    fn decide_json(pod: &Value, settings: &InjectorDefaults) -> (Decision, Vec<Warning>) {
        let p: Pod = serde_json::from_value(pod.clone()).unwrap();
        decide_with_warnings(&p, "ns", settings)
    }

    fn native_out(extra: &[(&str, &str)]) -> (Value, Vec<Warning>) {
        let pod = native_pod(extra);
        let (d, w) = decide_json(&pod, &settings());
        let Decision::Patch { patch, .. } = d else {
            panic!("not patched: {d:?}")
        };
        (patched(&pod, &patch), w)
    }

    fn names(v: &Value) -> Vec<&str> {
        v.as_array()
            .map(|a| a.iter().map(|c| c["name"].as_str().unwrap()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn native_sidecar_is_one_restartable_init_container_with_a_probe() {
        let (out, warnings) = native_out(&[("vault.hashicorp.com/agent-native-sidecar", "true")]);
        assert!(warnings.is_empty(), "{warnings:?}");
        // Same place as the classic init container (injector.md §4.9): after `setup`.
        assert_eq!(
            names(&out["spec"]["initContainers"]),
            ["setup", "vault-agent"]
        );
        assert_eq!(names(&out["spec"]["containers"]), ["app"], "no sidecar");
        let agent = &out["spec"]["initContainers"][1];
        assert_eq!(agent["restartPolicy"], "Always");
        assert_eq!(
            agent["startupProbe"],
            json!({"exec": {"command": ["/vaultlet-agent", "probe"]},
                "periodSeconds": 1, "failureThreshold": 300})
        );
        assert_eq!(agent["args"], json!(["agent"]));
        assert_eq!(agent["lifecycle"], json!({}));
        let config = agent["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "VAULT_CONFIG")
            .unwrap()["value"]
            .as_str()
            .unwrap();
        let config =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, config).unwrap();
        let loaded = vaultlet_shared::config::AgentConfig::from_json_str(
            std::str::from_utf8(&config).unwrap(),
        )
        .unwrap();
        assert!(!loaded.config.exit_after_auth, "a long-running agent");
        assert!(
            loaded.config.pid_file.is_some(),
            "the probe finds its marker beside it"
        );
        let volumes = names(&out["spec"]["volumes"]);
        assert!(volumes.contains(&"home-sidecar") && !volumes.contains(&"home-init"));
        // The existing init container gets the secrets mount, as with the classic init container.
        assert_eq!(
            out["spec"]["initContainers"][0]["volumeMounts"][0]["name"],
            "vault-secrets"
        );
    }

    #[test]
    fn native_sidecar_honours_init_first_and_revoke_on_shutdown() {
        let (out, _) = native_out(&[
            ("openbao.org/agent-native-sidecar", "true"),
            ("vault.hashicorp.com/agent-init-first", "true"),
            ("vault.hashicorp.com/agent-revoke-on-shutdown", "true"),
        ]);
        assert_eq!(
            names(&out["spec"]["initContainers"]),
            ["vault-agent", "setup"]
        );
        let hook = &out["spec"]["initContainers"][0]["lifecycle"]["preStop"]["exec"]["command"];
        assert_eq!(hook[0], "/vaultlet-agent");
        assert_eq!(hook[1], "token");
        assert_eq!(hook[2], "revoke");
        assert_eq!(hook.as_array().unwrap().last().unwrap(), "-self");
    }

    #[test]
    fn native_sidecar_from_the_injector_default_and_switched_off_per_pod() {
        let on = InjectorDefaults {
            native_sidecar: true,
            ..settings()
        };
        let (d, _) = decide_json(&native_pod(&[]), &on);
        assert!(matches!(
            d,
            Decision::Patch {
                init: false,
                sidecar: true,
                ..
            }
        ));
        let (d, _) = decide_json(
            &native_pod(&[("vault.hashicorp.com/agent-native-sidecar", "false")]),
            &on,
        );
        assert!(matches!(
            d,
            Decision::Patch {
                init: true,
                sidecar: true,
                ..
            }
        ));
    }

    /// The decoded `VAULT_CONFIG` of container `name` in `list`.
    fn config_of(out: &Value, list: &str, name: &str) -> Value {
        let c = out["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"));
        let b64 = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "VAULT_CONFIG")
            .unwrap()["value"]
            .as_str()
            .unwrap();
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn cache_handoff_from_the_injector_flag_without_a_listener() {
        let on = InjectorDefaults {
            cache_handoff: true,
            ..settings()
        };
        let out = |extra: &[(&str, &str)], s: &InjectorDefaults| {
            let pod = native_pod(extra);
            let (d, _) = decide_json(&pod, s);
            let Decision::Patch { patch, .. } = d else {
                panic!("not patched: {d:?}")
            };
            patched(&pod, &patch)
        };
        let has_cache_volume = |o: &Value| {
            o["spec"]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == "vault-agent-cache")
        };
        // Off by default: the pod upstream's injector makes.
        let plain = out(&[], &settings());
        assert!(!has_cache_volume(&plain));
        assert!(
            config_of(&plain, "containers", "vault-agent")
                .get("cache")
                .is_none()
        );
        // On: the persistent cache in both configs, the cache volume in both containers, no listener.
        let handoff = out(&[], &on);
        assert!(has_cache_volume(&handoff));
        for (list, name) in [
            ("initContainers", "vault-agent-init"),
            ("containers", "vault-agent"),
        ] {
            let c = config_of(&handoff, list, name);
            assert_eq!(
                c["cache"],
                json!({"persist": {"type": "kubernetes", "path": "/vault/agent-cache"}}),
                "{name}"
            );
            assert!(c.get("listener").is_none(), "{name}: {c}");
            let loaded = vaultlet_shared::config::AgentConfig::from_json_str(&c.to_string())
                .expect("our agent loads it");
            assert!(loaded.config.listeners.is_empty());
            let container = handoff["spec"][list]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == name)
                .unwrap();
            assert!(
                container["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["mountPath"] == "/vault/agent-cache"),
                "{name}"
            );
        }
        // The pod's own agent-cache-enable wins: "true" is upstream's cache with its listener,
        // "false" opts out.
        let listener = out(&[("vault.hashicorp.com/agent-cache-enable", "true")], &on);
        assert_eq!(
            config_of(&listener, "containers", "vault-agent")["listener"][0]["address"],
            "127.0.0.1:8200"
        );
        assert_eq!(
            listener,
            out(
                &[("vault.hashicorp.com/agent-cache-enable", "true")],
                &settings()
            )
        );
        let opted_out = out(&[("openbao.org/agent-cache-enable", "false")], &on);
        assert_eq!(
            opted_out,
            out(&[("openbao.org/agent-cache-enable", "false")], &settings())
        );
        // Nothing to hand over: one agent (native sidecar), or no sidecar.
        for extra in [
            ("vault.hashicorp.com/agent-native-sidecar", "true"),
            ("vault.hashicorp.com/agent-pre-populate-only", "true"),
            ("vault.hashicorp.com/agent-pre-populate", "false"),
        ] {
            assert_eq!(out(&[extra], &on), out(&[extra], &settings()), "{extra:?}");
        }
    }

    #[test]
    fn pre_populate_only_keeps_the_classic_init_container() {
        let (out, _) = native_out(&[
            ("vault.hashicorp.com/agent-native-sidecar", "true"),
            ("vault.hashicorp.com/agent-pre-populate-only", "true"),
        ]);
        assert_eq!(
            names(&out["spec"]["initContainers"]),
            ["setup", "vault-agent-init"]
        );
        let init = &out["spec"]["initContainers"][1];
        assert!(init.get("restartPolicy").is_none() && init.get("startupProbe").is_none());
        assert_eq!(names(&out["spec"]["containers"]), ["app"]);
    }

    #[test]
    fn pre_populate_false_is_warned_about_in_native_mode() {
        let (out, warnings) = native_out(&[
            ("vault.hashicorp.com/agent-native-sidecar", "true"),
            ("vault.hashicorp.com/agent-pre-populate", "false"),
        ]);
        assert_eq!(
            names(&out["spec"]["initContainers"]),
            ["setup", "vault-agent"]
        );
        assert_eq!(
            warnings,
            [Warning {
                kind: checks::WarningKind::NoEffect,
                text: "vault.hashicorp.com/agent-pre-populate has no effect: a native sidecar renders before the app starts".into(),
            }]
        );
        let (_, classic) = native_out(&[("vault.hashicorp.com/agent-pre-populate", "false")]);
        assert!(classic.is_empty(), "no warning without native mode");
    }

    #[test]
    fn native_sidecar_is_refused_for_an_upstream_agent() {
        for flavor in [AgentFlavor::Vault, AgentFlavor::Openbao] {
            let s = InjectorDefaults::for_flavor(flavor);
            let s = InjectorDefaults {
                vault_address: "https://v".into(),
                ..s
            };
            let (d, _) = decide_json(
                &native_pod(&[("openbao.org/agent-native-sidecar", "true")]),
                &s,
            );
            let Decision::Refuse(r) = d else {
                panic!("admitted")
            };
            assert_eq!(r.reason(), "native_sidecar");
            assert_eq!(
                r.to_string(),
                format!(
                    "error validating agent configuration: annotation openbao.org/agent-native-sidecar: a native sidecar needs the vaultlet agent, which answers its startup probe; the {} agent cannot (set it to false or use the vaultlet agent flavor)",
                    flavor.agent_name()
                )
            );
            let (d, _) = decide_json(&native_pod(&[]), &s);
            assert!(matches!(d, Decision::Patch { .. }), "not asked: admitted");
        }
    }

    #[test]
    fn default_resources_follow_the_flavor() {
        for (flavor, want) in [
            (
                AgentFlavor::Vaultlet,
                json!({"limits": {"cpu": "200m", "memory": "64Mi"},
                    "requests": {"cpu": "10m", "memory": "16Mi"}}),
            ),
            (
                AgentFlavor::Vault,
                json!({"limits": {"cpu": "500m", "memory": "128Mi"},
                    "requests": {"cpu": "250m", "memory": "64Mi"}}),
            ),
        ] {
            let s = InjectorDefaults {
                vault_address: "https://v".into(),
                ..InjectorDefaults::for_flavor(flavor)
            };
            let pod = native_pod(&[]);
            let (Decision::Patch { patch, .. }, _) = decide_json(&pod, &s) else {
                panic!("not patched")
            };
            let out = patched(&pod, &patch);
            assert_eq!(out["spec"]["initContainers"][1]["resources"], want);
            assert_eq!(out["spec"]["containers"][1]["resources"], want);
            // An annotation still wins.
            let pod = native_pod(&[("vault.hashicorp.com/agent-limits-mem", "256Mi")]);
            let (Decision::Patch { patch, .. }, _) = decide_json(&pod, &s) else {
                panic!("not patched")
            };
            let out = patched(&pod, &patch);
            assert_eq!(
                out["spec"]["containers"][1]["resources"]["limits"]["memory"],
                "256Mi"
            );
        }
    }

    #[test]
    fn generated_config_is_loadable_by_our_agent() {
        let body = serde_json::to_vec(&json!({
            "metadata": {"annotations": {"vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r",
                "vault.hashicorp.com/agent-inject-secret-x": "kv/x", "vault.hashicorp.com/agent-cache-enable": "true"}},
            "spec": {"containers": [{"name": "app", "volumeMounts": [
                {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}
        }))
        .unwrap();
        for role in [Role::Init, Role::Sidecar] {
            let cfg = generated_config(&body, "ns", &settings(), role).unwrap();
            let text = String::from_utf8(cfg).unwrap();
            let loaded = vaultlet_shared::config::AgentConfig::from_json_str(&text).expect("loads");
            assert_eq!(loaded.config.exit_after_auth, role == Role::Init);
            assert_eq!(loaded.config.templates.len(), 1);
            assert!(loaded.config.cache.is_some());
        }
    }
}
