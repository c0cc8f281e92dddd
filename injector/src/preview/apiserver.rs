//! What the API server does to a pod before the mutating webhooks see it, as far as the
//! injector reads it (pure). The ServiceAccount admission plugin runs first: it names the
//! `default` service account when the pod names none and, unless `automountServiceAccountToken`
//! is false, mounts a projected token volume (`kube-api-access-…`) at
//! `/var/run/secrets/kubernetes.io/serviceaccount` in every container and init container that has
//! no mount there. A pod template in a file has none of this yet, and the injector takes the
//! agent's service-account mount from it (injector.md §5.1), so `render` adds it first, as the
//! API server would.

use serde_json::{Map, Value, json};

/// Where Kubernetes mounts the service-account token.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The API server names the volume `kube-api-access-` and five random characters; a preview
/// uses these five.
pub const TOKEN_VOLUME: &str = "kube-api-access-xxxxx";

const VOLUME_PREFIX: &str = "kube-api-access-";

/// The projected volume the plugin adds.
fn token_volume(name: &str) -> Value {
    json!({
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ]
        }
    })
}

fn array<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Vec<Value>> {
    m.get_mut(key).and_then(Value::as_array_mut)
}

/// Applies the ServiceAccount plugin to `pod` (a Pod or a pod template); `true` when it added
/// the token volume.
pub fn admit(pod: &mut Value) -> bool {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return false;
    };
    if spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        spec.insert("serviceAccountName".into(), json!("default"));
    }
    if spec.get("automountServiceAccountToken") == Some(&Value::Bool(false)) {
        return false;
    }
    // A volume the plugin added before (the pod was read back from a cluster) is reused.
    let existing = array(spec, "volumes").and_then(|vs| {
        vs.iter().find_map(|v| {
            v.get("name")
                .and_then(Value::as_str)
                .filter(|n| n.starts_with(VOLUME_PREFIX))
                .map(str::to_owned)
        })
    });
    let name = existing.clone().unwrap_or_else(|| TOKEN_VOLUME.to_owned());
    let mut mounted = false;
    for key in ["initContainers", "containers"] {
        for c in array(spec, key).into_iter().flatten() {
            let Some(c) = c.as_object_mut() else { continue };
            let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
            let Some(mounts) = mounts.as_array_mut() else {
                continue;
            };
            if !mounts
                .iter()
                .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(TOKEN_MOUNT_PATH))
            {
                mounts.push(json!({"name": name, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}));
                mounted = true;
            }
        }
    }
    if existing.is_some() || !mounted {
        return false;
    }
    let volumes = spec.entry("volumes").or_insert_with(|| json!([]));
    match volumes.as_array_mut() {
        Some(vs) => {
            vs.push(token_volume(&name));
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_gets_the_token_volume_and_mounts() {
        let mut pod = json!({"spec": {
            "initContainers": [{"name": "setup"}],
            "containers": [{"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]}});
        assert!(admit(&mut pod));
        let spec = &pod["spec"];
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["volumes"][1], token_volume(TOKEN_VOLUME));
        let mount = json!({"name": TOKEN_VOLUME, "readOnly": true, "mountPath": TOKEN_MOUNT_PATH});
        assert_eq!(spec["initContainers"][0]["volumeMounts"], json!([mount]));
        assert_eq!(spec["containers"][0]["volumeMounts"][1], mount);
    }

    #[test]
    fn an_admitted_pod_is_left_as_it_is() {
        let admitted = json!({"spec": {"serviceAccountName": "app",
            "containers": [{"name": "app", "volumeMounts": [
                {"name": "kube-api-access-ab12c", "readOnly": true, "mountPath": TOKEN_MOUNT_PATH}]}],
            "volumes": [token_volume("kube-api-access-ab12c")]}});
        let mut pod = admitted.clone();
        assert!(!admit(&mut pod));
        assert_eq!(pod, admitted);
    }

    #[test]
    fn no_automount_no_volume() {
        let mut pod = json!({"spec": {"automountServiceAccountToken": false,
            "serviceAccountName": "app", "containers": [{"name": "app"}]}});
        assert!(!admit(&mut pod));
        assert!(pod["spec"].get("volumes").is_none());
        assert!(pod["spec"]["containers"][0].get("volumeMounts").is_none());
    }
}
