//! The real [`KubeApi`]: kube's typed APIs (`Api<MutatingWebhookConfiguration>`, `Api<Secret>`,
//! `Api<Lease>`) over the client [`crate::k8s::connect`] makes (in-cluster or kubeconfig). Objects
//! cross the seam as JSON, read from and written back as the typed objects, so an update sends
//! back what it read with only our fields changed (labels, annotations and owner references kept).
//! Every call is bounded by [`TIMEOUT`], as before the migration to kube (injector.md §6.4–6.5).

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

fn to_json<T: Serialize>(o: &T) -> Result<Value, KubeError> {
    serde_json::to_value(o).map_err(|e| KubeError::Transport(format!("encoding: {e}")))
}

fn from_json<T: DeserializeOwned>(v: &Value) -> Result<T, KubeError> {
    T::deserialize(v).map_err(|e| KubeError::Status {
        code: 422,
        message: format!("not a valid object: {e}"),
    })
}

async fn get<T>(api: Api<T>, name: &str) -> Result<Option<Value>, KubeError>
where
    T: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    match bounded(name, api.get_opt(name)).await? {
        Some(o) => Ok(Some(to_json(&o)?)),
        None => Ok(None),
    }
}

async fn create<T>(api: Api<T>, object: &Value) -> Result<Value, KubeError>
where
    T: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let o: T = from_json(object)?;
    to_json(&bounded("create", api.create(&PostParams::default(), &o)).await?)
}

async fn replace<T>(api: Api<T>, name: &str, object: &Value) -> Result<Value, KubeError>
where
    T: kube::Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let o: T = from_json(object)?;
    to_json(&bounded(name, api.replace(name, &PostParams::default(), &o)).await?)
}

impl KubeApi for KubeClient {
    async fn get_webhook_config(&self, name: &str) -> Result<Option<Value>, KubeError> {
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

    async fn get_secret(&self, ns: &str, name: &str) -> Result<Option<Value>, KubeError> {
        get(Api::<Secret>::namespaced(self.client.clone(), ns), name).await
    }

    async fn create_secret(&self, ns: &str, object: &Value) -> Result<Value, KubeError> {
        create(Api::<Secret>::namespaced(self.client.clone(), ns), object).await
    }

    async fn update_secret(
        &self,
        ns: &str,
        name: &str,
        object: &Value,
    ) -> Result<Value, KubeError> {
        replace(
            Api::<Secret>::namespaced(self.client.clone(), ns),
            name,
            object,
        )
        .await
    }

    async fn get_lease(&self, ns: &str, name: &str) -> Result<Option<Value>, KubeError> {
        get(Api::<Lease>::namespaced(self.client.clone(), ns), name).await
    }

    async fn create_lease(&self, ns: &str, object: &Value) -> Result<Value, KubeError> {
        create(Api::<Lease>::namespaced(self.client.clone(), ns), object).await
    }

    async fn update_lease(&self, ns: &str, name: &str, object: &Value) -> Result<Value, KubeError> {
        replace(
            Api::<Lease>::namespaced(self.client.clone(), ns),
            name,
            object,
        )
        .await
    }
}
