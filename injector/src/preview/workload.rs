//! Which objects `vaultlet-injector render` previews and where their pod is (pure): a Pod is its
//! own pod; a Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController or Job
//! carries a pod template at `spec.template`, a CronJob at `spec.jobTemplate.spec.template`. A
//! list (`kind: List`, as `kubectl get -o yaml` prints several objects) is its items. Also the
//! namespace the admission request names, chosen as kubectl chooses it.

use serde_json::Value;

/// The kinds previewed, and the JSON pointer of their pod (`""`: the object is the pod).
pub const KINDS: &[(&str, &str)] = &[
    ("Pod", ""),
    ("Deployment", "/spec/template"),
    ("StatefulSet", "/spec/template"),
    ("DaemonSet", "/spec/template"),
    ("ReplicaSet", "/spec/template"),
    ("ReplicationController", "/spec/template"),
    ("Job", "/spec/template"),
    ("CronJob", "/spec/jobTemplate/spec/template"),
];

/// The namespace of a request whose object names none and no `-namespace` is given (kubectl's).
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why an object cannot be previewed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WorkloadError {
    #[error("document {0} is not an object with a kind")]
    NoKind(usize),
    #[error(
        "{0}: not a Pod or a workload with a pod template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob)"
    )]
    Unsupported(String),
    #[error("{what}: no pod template at {pointer}")]
    NoTemplate { what: String, pointer: &'static str },
    /// kubectl's rule: an object's own namespace and `-namespace` must agree.
    #[error(
        "{what}: the namespace from the object ({object:?}) does not match the namespace given with -namespace ({flag:?})"
    )]
    NamespaceMismatch {
        what: String,
        object: String,
        flag: String,
    },
}

/// A previewable object: its kind, how to name it in messages, and where its pod is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    /// `Kind/name` (or `Kind/generateName…`, or the kind alone).
    pub what: String,
    /// The JSON pointer of the pod in the object (`""` for a Pod).
    pub pointer: &'static str,
}

/// The objects of one document: the document, or the items of a list.
pub fn expand(doc: Value) -> Vec<Value> {
    let is_list = doc
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"));
    match doc {
        Value::Object(mut m) if is_list => match m.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        other => vec![other],
    }
}

fn metadata_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// What `obj` (document number `index`, from 1) is and where its pod is.
pub fn target(obj: &Value, index: usize) -> Result<Target, WorkloadError> {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or(WorkloadError::NoKind(index))?;
    let what = match (metadata_str(obj, "name"), metadata_str(obj, "generateName")) {
        (Some(n), _) => format!("{kind}/{n}"),
        (None, Some(g)) => format!("{kind}/{g}…"),
        (None, None) => kind.to_owned(),
    };
    let Some(&(_, pointer)) = KINDS.iter().find(|(k, _)| *k == kind) else {
        return Err(WorkloadError::Unsupported(what));
    };
    if !obj.pointer(pointer).is_some_and(Value::is_object) {
        return Err(WorkloadError::NoTemplate { what, pointer });
    }
    Ok(Target {
        kind: kind.to_owned(),
        what,
        pointer,
    })
}

/// The namespace of the admission request for `obj`: its own `metadata.namespace`, else `flag`
/// (`-namespace`), else `default`; both given and different is an error, as in kubectl.
pub fn namespace(obj: &Value, what: &str, flag: &str) -> Result<String, WorkloadError> {
    match (metadata_str(obj, "namespace"), flag) {
        (Some(o), f) if !f.is_empty() && o != f => Err(WorkloadError::NamespaceMismatch {
            what: what.to_owned(),
            object: o.to_owned(),
            flag: f.to_owned(),
        }),
        (Some(o), _) => Ok(o.to_owned()),
        (None, "") => Ok(DEFAULT_NAMESPACE.to_owned()),
        (None, f) => Ok(f.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workload(kind: &str, spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec})
    }

    #[test]
    fn each_kind_maps_to_its_pod() {
        let pod_template = json!({"metadata": {}, "spec": {"containers": []}});
        let pod = json!({"kind": "Pod", "metadata": {"name": "p"}, "spec": {}});
        assert_eq!(
            target(&pod, 1).unwrap(),
            Target {
                kind: "Pod".into(),
                what: "Pod/p".into(),
                pointer: ""
            }
        );
        for kind in [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ReplicationController",
            "Job",
        ] {
            let o = workload(kind, json!({"template": pod_template}));
            let t = target(&o, 1).unwrap();
            assert_eq!(t.pointer, "/spec/template", "{kind}");
            assert_eq!(t.what, format!("{kind}/w"));
            assert_eq!(o.pointer(t.pointer), Some(&pod_template));
        }
        let cron = workload(
            "CronJob",
            json!({"schedule": "* * * * *", "jobTemplate": {"spec": {"template": pod_template}}}),
        );
        let t = target(&cron, 1).unwrap();
        assert_eq!(t.pointer, "/spec/jobTemplate/spec/template");
        assert_eq!(cron.pointer(t.pointer), Some(&pod_template));
    }

    #[test]
    fn other_objects_are_refused_naming_them() {
        let svc = json!({"kind": "Service", "metadata": {"generateName": "s-"}});
        assert_eq!(
            target(&svc, 1),
            Err(WorkloadError::Unsupported("Service/s-…".into()))
        );
        assert!(target(&svc, 1).unwrap_err().to_string().contains("CronJob"));
        assert_eq!(target(&json!({"a": 1}), 3), Err(WorkloadError::NoKind(3)));
        assert_eq!(target(&json!("text"), 2), Err(WorkloadError::NoKind(2)));
        // A CronJob whose template sits where a Deployment's would.
        let bad = workload("CronJob", json!({"template": {"spec": {}}}));
        assert_eq!(
            target(&bad, 1),
            Err(WorkloadError::NoTemplate {
                what: "CronJob/w".into(),
                pointer: "/spec/jobTemplate/spec/template"
            })
        );
    }

    #[test]
    fn namespace_from_the_object_then_the_flag_then_default() {
        let with = json!({"kind": "Pod", "metadata": {"namespace": "apps"}});
        let without = json!({"kind": "Pod", "metadata": {"name": "p"}});
        assert_eq!(namespace(&with, "Pod/p", "").unwrap(), "apps");
        assert_eq!(namespace(&with, "Pod/p", "apps").unwrap(), "apps");
        assert_eq!(namespace(&without, "Pod/p", "").unwrap(), "default");
        assert_eq!(namespace(&without, "Pod/p", "team").unwrap(), "team");
        let e = namespace(&with, "Pod/p", "team").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Pod/p: the namespace from the object (\"apps\") does not match the namespace given with -namespace (\"team\")"
        );
    }

    #[test]
    fn a_list_is_its_items_and_anything_else_itself() {
        let a = json!({"kind": "Pod", "metadata": {"name": "a"}});
        let b = json!({"kind": "Deployment", "metadata": {"name": "b"}});
        let list = json!({"apiVersion": "v1", "kind": "List", "items": [a, b]});
        assert_eq!(expand(list), vec![a.clone(), b]);
        assert_eq!(expand(json!({"kind": "PodList"})), Vec::<Value>::new());
        assert_eq!(expand(a.clone()), vec![a]);
    }
}
