//! `vaultlet-injector render`: what the injector would do to the objects of a file, offline
//! (injector.md §6.9). Each Pod, or each workload's pod template ([`workload`]), goes through what
//! the API server does before the webhook ([`apiserver`]), then into a real AdmissionReview
//! answered by the server's own handler ([`crate::admission::review_with_outcome`]), so a refusal,
//! its message, the warnings and the patch are the server's. The answer's patch is applied, and the
//! mutated object, the patch or the generated agent configs ([`delivered`]) are written in the
//! input's format ([`format`]). `--namespace-file` supplies the namespaces' annotations the server
//! would read from its cache ([`namespaces`], injector.md §2.7).
//!
//! Pure: the caller reads the input and prints the [`Preview`]. Nothing here talks to Kubernetes
//! or Vault.

pub mod apiserver;
pub mod delivered;
pub mod format;
pub mod namespaces;
pub mod workload;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use vaultlet_shared::annotations::{Annotations, InjectorDefaults};

use crate::admission::{AdmissionError, review_in_namespace, review_span};
use crate::mutate::{NamespaceDefaults, NoNamespaceDefaults};
use delivered::Delivered;
use format::{Format, FormatError};
use workload::WorkloadError;

/// What to print for each object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The object, mutated (a workload: its pod template), in the input's format.
    Pod,
    /// The JSON patch of the webhook's answer, pretty JSON (paths are the pod's).
    Patch,
    /// The generated agent config of each agent container, decoded: a JSON object by container.
    Config,
}

/// What a preview prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preview {
    /// Standard output: the documents.
    pub stdout: String,
    /// Lines for standard error, in order: `Warning: …` (the answer's warnings, as kubectl prints
    /// them), `note: …`, and `Error: …` for each refused object.
    pub stderr: Vec<String>,
    /// At least one object would be refused.
    pub refused: bool,
}

/// Input that cannot be previewed at all (nothing is printed then).
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    /// The API server would reject the object before any webhook sees it.
    #[error(
        "{what}: metadata.annotations[{key:?}] is {found}; annotation values are strings (quote it)"
    )]
    AnnotationNotAString {
        what: String,
        key: String,
        found: &'static str,
    },
    #[error("{what}: {source}")]
    Admission {
        what: String,
        source: AdmissionError,
    },
    #[error("{what}: the answer of the admission handler is unusable: {why}")]
    Answer { what: String, why: String },
}

/// Previews every object of `input` (see the module doc); `namespace` is `-namespace` (may be
/// empty), `defaults` the injector's settings.
pub fn preview(
    input: &str,
    output: Output,
    namespace: &str,
    defaults: &InjectorDefaults,
) -> Result<Preview, PreviewError> {
    preview_in(input, output, namespace, &NoNamespaceDefaults, defaults)
}

/// [`preview`] with namespace defaults (`--namespace-file`, injector.md §2.7).
pub fn preview_in(
    input: &str,
    output: Output,
    namespace: &str,
    namespaces: &dyn NamespaceDefaults,
    defaults: &InjectorDefaults,
) -> Result<Preview, PreviewError> {
    let fmt = format::detect(input);
    let mut objects = Vec::new();
    for doc in format::documents(input, fmt)? {
        objects.extend(workload::expand(doc));
    }
    let mut p = Preview::default();
    let mut docs = Vec::new();
    for (i, obj) in objects.into_iter().enumerate() {
        let t = workload::target(&obj, i + 1)?;
        let ns = workload::namespace(&obj, &t.what, namespace)?;
        let pod = obj.pointer(t.pointer).cloned().unwrap_or_default();
        check_annotations(&pod, &t.what)?;
        let mut admitted = pod.clone();
        apiserver::admit(&mut admitted);
        let answer = admit(&admitted, &ns, i + 1, namespaces, defaults, &t.what)?;
        p.stderr
            .extend(answer.warnings.iter().map(|w| format!("Warning: {w}")));
        if let Some(message) = answer.refusal {
            p.refused = true;
            p.stderr.push(format!(
                "Error: {} (namespace {ns:?}): the injector refuses the pod: {message}",
                t.what
            ));
            continue;
        }
        let Some(patch) = answer.patch else {
            p.stderr.push(format!(
                "note: {}: not injected ({}); printed unchanged",
                t.what,
                skip_reason(&pod)
            ));
            docs.push(match output {
                Output::Pod => obj,
                Output::Patch => json!([]),
                Output::Config => json!({}),
            });
            continue;
        };
        let mut mutated = admitted;
        let ops: json_patch::Patch =
            serde_json::from_value(patch.clone()).map_err(|e| PreviewError::Answer {
                what: t.what.clone(),
                why: format!("patch: {e}"),
            })?;
        json_patch::patch(&mut mutated, &ops).map_err(|e| PreviewError::Answer {
            what: t.what.clone(),
            why: format!("patch does not apply: {e}"),
        })?;
        docs.push(match output {
            Output::Pod => with_pod(obj, t.pointer, mutated),
            Output::Patch => patch,
            Output::Config => {
                let mut by_container = Map::new();
                for (name, d) in delivered::configs(&mutated) {
                    match d {
                        Delivered::Config(c) => {
                            by_container.insert(name, c);
                        }
                        Delivered::Elsewhere(why) => {
                            p.stderr.push(format!("note: {}: {name}: {why}", t.what));
                        }
                    }
                }
                Value::Object(by_container)
            }
        });
    }
    let out_format = match output {
        Output::Pod => fmt,
        Output::Patch | Output::Config => Format::Json,
    };
    p.stdout = format::write(&docs, out_format);
    Ok(p)
}

/// `obj` with its pod (at `pointer`) replaced by `pod`.
fn with_pod(mut obj: Value, pointer: &str, pod: Value) -> Value {
    match obj.pointer_mut(pointer) {
        Some(slot) => *slot = pod,
        None => obj = pod,
    }
    obj
}

/// Annotation values must be strings: an unquoted YAML `true` or `0400` is refused by the API
/// server's decoding, before any webhook. Said here with the key, instead of a decode error.
fn check_annotations(pod: &Value, what: &str) -> Result<(), PreviewError> {
    let Some(a) = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    else {
        return Ok(());
    };
    for (key, v) in a {
        let found = match v {
            Value::String(_) => continue,
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Null => "null",
            Value::Array(_) => "a list",
            Value::Object(_) => "a map",
        };
        return Err(PreviewError::AnnotationNotAString {
            what: what.to_owned(),
            key: key.clone(),
            found,
        });
    }
    Ok(())
}

/// Why an allowed pod got no patch (injector.md §2.3 steps 2–3), for the note.
fn skip_reason(pod: &Value) -> String {
    let pairs: Vec<(&str, &str)> = pod
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        .collect();
    let a = Annotations::from_pairs(pairs);
    if a.get("agent-inject-status") == Some("injected") {
        return "it is already injected: agent-inject-status is \"injected\"".into();
    }
    if let Some(phase) = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .filter(|p| *p != "Pending")
    {
        return format!("its status.phase is {phase:?}; only pending pods are injected");
    }
    match a.wants_injection() {
        Ok(false) => "no vault.hashicorp.com/agent-inject: \"true\" annotation".into(),
        _ => "the injector left it alone".into(),
    }
}

/// The handler's answer, read back.
#[derive(Debug)]
struct Answer {
    refusal: Option<String>,
    warnings: Vec<String>,
    /// The JSON patch, when there is one.
    patch: Option<Value>,
}

/// Sends `pod` through the server's admission handler, as the API server would for a create in
/// `namespace`.
fn admit(
    pod: &Value,
    namespace: &str,
    index: usize,
    namespaces: &dyn NamespaceDefaults,
    defaults: &InjectorDefaults,
    what: &str,
) -> Result<Answer, PreviewError> {
    let mut object = pod.clone();
    if let Some(m) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("namespace".into(), json!(namespace));
    }
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("vaultlet-render-{index}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": "CREATE",
            "object": object,
        }
    });
    let body = serde_json::to_vec(&review).unwrap_or_default();
    let (out, _) = review_span()
        .in_scope(|| review_in_namespace(&body, defaults, namespaces))
        .map_err(|source| PreviewError::Admission {
            what: what.to_owned(),
            source,
        })?;
    read_answer(&out).map_err(|why| PreviewError::Answer {
        what: what.to_owned(),
        why: why.to_string(),
    })
}

/// Why an answer of the admission handler cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("patch: {0}")]
    PatchBase64(base64::DecodeError),
    #[error("patch: {0}")]
    PatchJson(serde_json::Error),
}

/// An AdmissionReview answer: refused (with the message), or allowed with or without a patch;
/// and its warnings either way.
fn read_answer(out: &[u8]) -> Result<Answer, AnswerError> {
    let answer: Value = serde_json::from_slice(out).map_err(AnswerError::Json)?;
    let response = &answer["response"];
    let warnings = response["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if response["allowed"] != Value::Bool(true) {
        let message = response["status"]["message"].as_str().unwrap_or_default();
        return Ok(Answer {
            refusal: Some(message.to_owned()),
            warnings,
            patch: None,
        });
    }
    let patch = match response["patch"].as_str() {
        None => None,
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(AnswerError::PatchBase64)?;
            Some(serde_json::from_slice(&bytes).map_err(AnswerError::PatchJson)?)
        }
    };
    Ok(Answer {
        refusal: None,
        warnings,
        patch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> InjectorDefaults {
        crate::fixture::TestInjector::new().defaults()
    }

    const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        vault.hashicorp.com/agent-inject: "true"
        vault.hashicorp.com/role: web
        vault.hashicorp.com/agent-inject-secret-db: kv/data/db
    spec:
      containers:
        - name: web
          image: nginx
"#;

    fn run(input: &str, output: Output, ns: &str) -> Preview {
        preview(input, output, ns, &defaults()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_deployment_comes_back_yaml_with_its_template_injected() {
        let p = run(DEPLOYMENT, Output::Pod, "");
        assert!(!p.refused);
        assert!(p.stderr.is_empty(), "{:?}", p.stderr);
        let docs = format::documents(&p.stdout, Format::Yaml).unwrap();
        let [d] = &docs[..] else {
            panic!("{}", p.stdout)
        };
        assert_eq!(d["kind"], "Deployment");
        assert_eq!(d["metadata"]["namespace"], "shop");
        let t = &d["spec"]["template"];
        assert_eq!(
            t["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
            "injected"
        );
        assert!(t["metadata"].get("namespace").is_none());
        assert_eq!(t["spec"]["initContainers"][0]["name"], "vault-agent-init");
        assert_eq!(t["spec"]["containers"][1]["name"], "vault-agent");
        // The API server's token volume, which the agent mounts.
        let agent_mounts = t["spec"]["containers"][1]["volumeMounts"].to_string();
        assert!(
            agent_mounts.contains(apiserver::TOKEN_VOLUME),
            "{agent_mounts}"
        );
    }

    #[test]
    fn the_namespace_reaches_the_request() {
        // kube-system is refused by the pipeline, whichever way the namespace is given.
        let in_kube_system = DEPLOYMENT.replace("namespace: shop", "namespace: kube-system");
        let p = run(&in_kube_system, Output::Pod, "");
        assert!(p.refused);
        assert_eq!(p.stdout, "");
        assert_eq!(
            p.stderr,
            [
                "Error: Deployment/web (namespace \"kube-system\"): the injector refuses the pod: error with request namespace: cannot inject into system namespaces: kube-system"
            ]
        );
        let no_ns = DEPLOYMENT.replace("  namespace: shop\n", "");
        assert!(run(&no_ns, Output::Pod, "kube-system").refused);
        assert!(!run(&no_ns, Output::Pod, "").refused);
        let e = preview(DEPLOYMENT, Output::Pod, "other", &defaults()).unwrap_err();
        assert!(matches!(e, PreviewError::Workload(_)), "{e}");
    }

    #[test]
    fn patch_and_config_outputs_are_json() {
        let p = run(DEPLOYMENT, Output::Patch, "");
        let patch: Value = serde_json::from_str(&p.stdout).unwrap();
        let last = patch.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last,
            json!({"op": "add", "path": "/metadata/annotations/vault.hashicorp.com~1agent-inject-status", "value": "injected"})
        );
        assert!(p.stdout.starts_with("[\n  {\n"), "pretty: {}", p.stdout);

        let p = run(DEPLOYMENT, Output::Config, "");
        let configs: Value = serde_json::from_str(&p.stdout).unwrap();
        let names: Vec<&String> = configs.as_object().unwrap().keys().collect();
        assert_eq!(names, ["vault-agent-init", "vault-agent"]);
        assert_eq!(configs["vault-agent-init"]["exit_after_auth"], true);
        assert_eq!(configs["vault-agent"]["exit_after_auth"], false);
        assert_eq!(
            configs["vault-agent"]["vault"]["address"],
            crate::fixture::VAULT_ADDR
        );
        assert_eq!(
            configs["vault-agent"]["auto_auth"]["method"]["config"]["role"],
            "web"
        );
    }

    #[test]
    fn a_pod_that_is_not_injected_comes_back_unchanged_with_a_note() {
        let input = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}}"#;
        let p = run(input, Output::Pod, "");
        let orig: Value = serde_json::from_str(input).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&p.stdout).unwrap(), orig);
        assert_eq!(
            p.stderr,
            [
                "note: Pod/plain: not injected (no vault.hashicorp.com/agent-inject: \"true\" annotation); printed unchanged"
            ]
        );
        assert_eq!(run(input, Output::Patch, "").stdout, "[]\n");
        let done = input.replace(
            "\"name\": \"plain\"",
            "\"name\": \"plain\", \"annotations\": {\"vault.hashicorp.com/agent-inject\": \"true\", \"vault.hashicorp.com/agent-inject-status\": \"injected\"}",
        );
        assert!(run(&done, Output::Pod, "").stderr[0].contains("already injected"));
    }

    #[test]
    fn every_document_in_turn_and_refusals_do_not_stop_the_others() {
        let bad = DEPLOYMENT
            .replace("name: web\n  namespace", "name: bad\n  namespace")
            .replace("        vault.hashicorp.com/role: web\n", "");
        let input = format!("{DEPLOYMENT}---\n{bad}---\n{DEPLOYMENT}");
        let p = run(&input, Output::Pod, "");
        assert!(p.refused);
        assert_eq!(p.stderr.len(), 1, "{:?}", p.stderr);
        assert!(
            p.stderr[0].starts_with("Error: Deployment/bad "),
            "{:?}",
            p.stderr
        );
        assert!(p.stderr[0].contains("role"), "{:?}", p.stderr);
        assert_eq!(format::documents(&p.stdout, Format::Yaml).unwrap().len(), 2);
        // Objects of a List too.
        let list = json!({"kind": "List", "items": [
            format::documents(DEPLOYMENT, Format::Yaml).unwrap()[0],
            {"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}}]});
        let p = run(&list.to_string(), Output::Patch, "");
        let patches = format::documents(&p.stdout, Format::Json).unwrap();
        assert_eq!(patches.len(), 2);
        assert_eq!(patches[1], json!([]));
    }

    #[test]
    fn answers_are_read_with_their_warnings() {
        let patch = json!([{"op": "add", "path": "/a", "value": 1}]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(patch.to_string());
        let a = read_answer(
            json!({"response": {"uid": "u", "allowed": true, "patch": b64, "patchType": "JSONPatch",
                "warnings": ["unknown annotation x", "y has no effect"]}})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(a.warnings, ["unknown annotation x", "y has no effect"]);
        assert_eq!((a.refusal, a.patch), (None, Some(patch)));
        let a = read_answer(
            br#"{"response": {"allowed": false, "status": {"message": "no"}, "warnings": ["w"]}}"#,
        )
        .unwrap();
        assert_eq!((a.refusal.as_deref(), a.patch), (Some("no"), None));
        assert_eq!(a.warnings, ["w"]);
        let a = read_answer(br#"{"response": {"allowed": true}}"#).unwrap();
        assert!(a.warnings.is_empty() && a.patch.is_none() && a.refusal.is_none());
        let e = read_answer(br#"{"response": {"allowed": true, "patch": "%%"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("patch: "), "{e}");
    }

    #[test]
    fn unquoted_annotation_values_are_named() {
        let input = DEPLOYMENT.replace(
            "vault.hashicorp.com/agent-inject: \"true\"",
            "vault.hashicorp.com/agent-inject: true",
        );
        let e = preview(&input, Output::Pod, "", &defaults()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Deployment/web: metadata.annotations[\"vault.hashicorp.com/agent-inject\"] is a boolean; annotation values are strings (quote it)"
        );
        let e = preview("kind: Service\n", Output::Pod, "", &defaults()).unwrap_err();
        assert!(e.to_string().starts_with("Service: not a Pod"), "{e}");
    }
}
