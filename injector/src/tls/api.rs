//! The real [`KubeApi`]: kube's typed APIs (`Api<MutatingWebhookConfiguration>`, `Api<Secret>`,
//! `Api<Lease>`) over the client [`crate::k8s::connect`] makes (in-cluster or kubeconfig). A
//! replace sends the object as read with only our fields changed, so the API server's
//! `resourceVersion` check makes it an optimistic update. Every call is bounded by [`TIMEOUT`]
//! (injector.md §6.4–6.5).

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::kube::{KubeApi, KubeError};

/// The longest one API call may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A client of the API server.
#[derive(Clone)]
pub struct KubeClient {
    client: kube::Client,
}

impl KubeClient {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

/// A kube error as the seam's: 409 a conflict, other statuses with the API's message, the rest
/// transport.
fn map_error(e: kube::Error) -> KubeError {
    match e {
        kube::Error::Api(s) if s.code == 409 => KubeError::Conflict(s.message),
        kube::Error::Api(s) => KubeError::Status {
            code: s.code,
            message: s.message,
        },
        e => KubeError::Transport(format!("{e:#}")),
    }
}

async fn bounded<T>(
    what: &str,
    f: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeError> {
    tokio::time::timeout(TIMEOUT, f)
        .await
        .map_err(|_| KubeError::Transport(format!("{what}: timed out after {TIMEOUT:?}")))?
        .map_err(map_error)
}

async fn get<T>(api: Api<T>, name: &str) -> Result<Option<T>, KubeError>
where
    T: kube::Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    bounded(name, api.get_opt(name)).await
}

async fn create<T>(api: Api<T>, object: &T) -> Result<T, KubeError>
where
    T: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    bounded("create", api.create(&PostParams::default(), object)).await
}

async fn replace<T>(api: Api<T>, name: &str, object: &T) -> Result<T, KubeError>
where
    T: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    bounded(name, api.replace(name, &PostParams::default(), object)).await
}

impl KubeApi for KubeClient {
    async fn get_webhook_config(
        &self,
        name: &str,
    ) -> Result<Option<MutatingWebhookConfiguration>, KubeError> {
        get(
            Api::<MutatingWebhookConfiguration>::all(self.client.clone()),
            name,
        )
        .await
    }

    async fn patch_webhook_config(&self, name: &str, patch: &Value) -> Result<(), KubeError> {
        let p: json_patch::Patch = serde_json::from_value(patch.clone())
            .map_err(|e| KubeError::Transport(format!("not a JSON patch: {e}")))?;
        let api = Api::<MutatingWebhookConfiguration>::all(self.client.clone());
        bounded(
            name,
            api.patch(name, &PatchParams::default(), &Patch::<()>::Json(p)),
        )
        .await
        .map(|_| ())
    }

    async fn get_secret(&self, ns: &str, name: &str) -> Result<Option<Secret>, KubeError> {
        get(Api::<Secret>::namespaced(self.client.clone(), ns), name).await
    }

    async fn create_secret(&self, ns: &str, object: &Secret) -> Result<Secret, KubeError> {
        create(Api::<Secret>::namespaced(self.client.clone(), ns), object).await
    }

    async fn update_secret(
        &self,
        ns: &str,
        name: &str,
        object: &Secret,
    ) -> Result<Secret, KubeError> {
        replace(
            Api::<Secret>::namespaced(self.client.clone(), ns),
            name,
            object,
        )
        .await
    }

    async fn get_lease(&self, ns: &str, name: &str) -> Result<Option<Lease>, KubeError> {
        get(Api::<Lease>::namespaced(self.client.clone(), ns), name).await
    }

    async fn create_lease(&self, ns: &str, object: &Lease) -> Result<Lease, KubeError> {
        create(Api::<Lease>::namespaced(self.client.clone(), ns), object).await
    }

    async fn update_lease(&self, ns: &str, name: &str, object: &Lease) -> Result<Lease, KubeError> {
        replace(
            Api::<Lease>::namespaced(self.client.clone(), ns),
            name,
            object,
        )
        .await
    }
}
