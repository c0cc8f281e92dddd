//! The seam between auto-TLS and the Kubernetes API (injector.md §6.4–6.5, §0): the few calls
//! the injector makes — read and JSON-patch one MutatingWebhookConfiguration, get/create/update
//! the certificate Secret and the leader Lease — as the [`KubeApi`] trait, so the logic above it
//! is tested against a recording fake ([`fake::FakeKube`]) and runs against the real API server
//! through [`crate::tls::api`].
//!
//! Objects are `k8s-openapi`'s typed ones: an update sends back the object it read with only the
//! fields we own changed, so labels, annotations and owner references others set are kept.

use std::future::Future;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

/// Why a Kubernetes API call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KubeError {
    /// 409: the object already exists (create) or changed since it was read (update).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other non-success status.
    #[error("the Kubernetes API answered {code}: {message}")]
    Status { code: u16, message: String },
    /// The request did not get an answer.
    #[error("cannot reach the Kubernetes API: {0}")]
    Transport(String),
}

/// The Kubernetes API calls auto-TLS needs. `get_*` return `Ok(None)` for 404.
pub trait KubeApi: Send + Sync + 'static {
    fn get_webhook_config(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<MutatingWebhookConfiguration>, KubeError>> + Send;
    /// Applies an RFC 6902 JSON patch (`application/json-patch+json`).
    fn patch_webhook_config(
        &self,
        name: &str,
        patch: &Value,
    ) -> impl Future<Output = Result<(), KubeError>> + Send;
    fn get_secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Secret>, KubeError>> + Send;
    fn create_secret(
        &self,
        namespace: &str,
        object: &Secret,
    ) -> impl Future<Output = Result<Secret, KubeError>> + Send;
    /// Replaces the object; refused with a conflict when its `resourceVersion` is not the
    /// stored one.
    fn update_secret(
        &self,
        namespace: &str,
        name: &str,
        object: &Secret,
    ) -> impl Future<Output = Result<Secret, KubeError>> + Send;
    fn get_lease(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<Lease>, KubeError>> + Send;
    fn create_lease(
        &self,
        namespace: &str,
        object: &Lease,
    ) -> impl Future<Output = Result<Lease, KubeError>> + Send;
    /// Replaces the object; refused with a conflict when its `resourceVersion` is not the
    /// stored one.
    fn update_lease(
        &self,
        namespace: &str,
        name: &str,
        object: &Lease,
    ) -> impl Future<Output = Result<Lease, KubeError>> + Send;
}

#[cfg(test)]
pub mod fake {
    //! An in-memory API server that records every call and enforces `resourceVersion`s, with
    //! failures injectable per call name.

    use std::collections::{BTreeMap, HashSet};
    use std::sync::Mutex;

    use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
    use k8s_openapi::api::coordination::v1::Lease;
    use k8s_openapi::api::core::v1::Secret;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::{KubeApi, KubeError};

    fn resource_version(object: &Value) -> Option<&str> {
        object.pointer("/metadata/resourceVersion")?.as_str()
    }

    /// The stored JSON as the typed object the API would answer.
    fn typed<T: DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).expect("a valid object in the fake")
    }

    fn untyped<T: Serialize>(o: &T) -> Value {
        serde_json::to_value(o).expect("serialisable")
    }

    #[derive(Default)]
    pub struct State {
        /// (kind, namespace, name) → object.
        pub objects: BTreeMap<(String, String, String), Value>,
        /// Every call, e.g. `patch webhook vault-agent-injector-cfg`.
        pub calls: Vec<String>,
        /// Call names (`get_webhook_config`, `update_secret`, …) that answer 500.
        pub failing: HashSet<&'static str>,
        next_version: u64,
    }

    #[derive(Default)]
    pub struct FakeKube {
        pub state: Mutex<State>,
    }

    fn key(kind: &str, ns: &str, name: &str) -> (String, String, String) {
        (kind.into(), ns.into(), name.into())
    }

    impl FakeKube {
        pub fn with_webhook(name: &str, ca_bundle_b64: Option<&str>) -> Self {
            let f = FakeKube::default();
            let mut cc =
                json!({"service": {"name": "injector", "namespace": "ns", "path": "/mutate"}});
            if let Some(b) = ca_bundle_b64 {
                cc["caBundle"] = json!(b);
            }
            let cfg = json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": name},
                "webhooks": [{"name": "vault.hashicorp.com", "clientConfig": cc,
                    "admissionReviewVersions": ["v1"], "sideEffects": "None"}],
            });
            f.put("webhook", "", name, cfg);
            f
        }

        pub fn put(&self, kind: &str, ns: &str, name: &str, mut object: Value) {
            let mut s = self.state.lock().unwrap();
            s.next_version += 1;
            object["metadata"]["resourceVersion"] = json!(s.next_version.to_string());
            s.objects.insert(key(kind, ns, name), object);
        }

        pub fn get(&self, kind: &str, ns: &str, name: &str) -> Option<Value> {
            self.state
                .lock()
                .unwrap()
                .objects
                .get(&key(kind, ns, name))
                .cloned()
        }

        /// The webhook configuration `name`, typed.
        pub fn webhook(&self, name: &str) -> MutatingWebhookConfiguration {
            typed(
                self.get("webhook", "", name)
                    .expect("the webhook configuration"),
            )
        }

        pub fn calls(&self) -> Vec<String> {
            self.state.lock().unwrap().calls.clone()
        }

        pub fn fail(&self, call: &'static str, failing: bool) {
            let mut s = self.state.lock().unwrap();
            if failing {
                s.failing.insert(call);
            } else {
                s.failing.remove(call);
            }
        }

        fn enter(&self, call: &'static str, what: String) -> Result<(), KubeError> {
            let mut s = self.state.lock().unwrap();
            s.calls.push(what);
            if s.failing.contains(call) {
                return Err(KubeError::Status {
                    code: 500,
                    message: format!("{call} fails (test)"),
                });
            }
            Ok(())
        }

        fn create(&self, kind: &str, ns: &str, object: &Value) -> Result<Value, KubeError> {
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            if self.get(kind, ns, name).is_some() {
                return Err(KubeError::Conflict(format!("{kind} {name} already exists")));
            }
            self.put(kind, ns, name, object.clone());
            Ok(self.get(kind, ns, name).unwrap())
        }

        fn update(
            &self,
            kind: &str,
            ns: &str,
            name: &str,
            object: &Value,
        ) -> Result<Value, KubeError> {
            let Some(cur) = self.get(kind, ns, name) else {
                return Err(KubeError::Status {
                    code: 404,
                    message: format!("{kind} {name} not found"),
                });
            };
            if resource_version(object) != resource_version(&cur) {
                return Err(KubeError::Conflict(format!("{kind} {name} was modified")));
            }
            self.put(kind, ns, name, object.clone());
            Ok(self.get(kind, ns, name).unwrap())
        }
    }

    impl KubeApi for FakeKube {
        async fn get_webhook_config(
            &self,
            name: &str,
        ) -> Result<Option<MutatingWebhookConfiguration>, KubeError> {
            self.enter("get_webhook_config", format!("get webhook {name}"))?;
            Ok(self.get("webhook", "", name).map(typed))
        }

        async fn patch_webhook_config(&self, name: &str, patch: &Value) -> Result<(), KubeError> {
            self.enter("patch_webhook_config", format!("patch webhook {name}"))?;
            let mut cur = self.get("webhook", "", name).ok_or(KubeError::Status {
                code: 404,
                message: "not found".into(),
            })?;
            let p: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
            json_patch::patch(&mut cur, &p).map_err(|e| KubeError::Status {
                code: 422,
                message: e.to_string(),
            })?;
            self.put("webhook", "", name, cur);
            Ok(())
        }

        async fn get_secret(&self, ns: &str, name: &str) -> Result<Option<Secret>, KubeError> {
            self.enter("get_secret", format!("get secret {ns}/{name}"))?;
            Ok(self.get("secret", ns, name).map(typed))
        }

        async fn create_secret(&self, ns: &str, object: &Secret) -> Result<Secret, KubeError> {
            self.enter("create_secret", format!("create secret {ns}"))?;
            self.create("secret", ns, &untyped(object)).map(typed)
        }

        async fn update_secret(
            &self,
            ns: &str,
            name: &str,
            object: &Secret,
        ) -> Result<Secret, KubeError> {
            self.enter("update_secret", format!("update secret {ns}/{name}"))?;
            self.update("secret", ns, name, &untyped(object)).map(typed)
        }

        async fn get_lease(&self, ns: &str, name: &str) -> Result<Option<Lease>, KubeError> {
            self.enter("get_lease", format!("get lease {ns}/{name}"))?;
            Ok(self.get("lease", ns, name).map(typed))
        }

        async fn create_lease(&self, ns: &str, object: &Lease) -> Result<Lease, KubeError> {
            self.enter("create_lease", format!("create lease {ns}"))?;
            self.create("lease", ns, &untyped(object)).map(typed)
        }

        async fn update_lease(
            &self,
            ns: &str,
            name: &str,
            object: &Lease,
        ) -> Result<Lease, KubeError> {
            self.enter("update_lease", format!("update lease {ns}/{name}"))?;
            self.update("lease", ns, name, &untyped(object)).map(typed)
        }
    }
}
