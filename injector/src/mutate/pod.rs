//! The minimal typed view of a Pod the injector reads (one serde pass, unused fields skipped).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use vaultlet_shared::annotations::{ContainerFacts, PodFacts, VolumeFacts};

/// The answer to a request without a pod object.
pub const NO_POD: &str = "pod object missing from admission request";

/// Why an admission request carries no usable Pod (the pod is refused with this text).
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("{}", NO_POD)]
    Missing,
    #[error("{0}")]
    Decode(#[source] serde_json::Error),
}

/// A Pod, reduced to what the mutation reads.
#[derive(Debug, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// `metadata`.
#[derive(Debug, Default, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub name: Option<String>,
    /// The name prefix of a pod a controller creates (its `name` is not set yet at admission).
    #[serde(default, rename = "generateName")]
    pub generate_name: Option<String>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `status`.
#[derive(Debug, Default, Deserialize)]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
}

/// `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Option<Vec<Container>>,
    /// Kept verbatim: re-emitted unchanged by `agent-init-first`.
    #[serde(default)]
    pub init_containers: Option<Vec<Box<RawValue>>>,
    #[serde(default)]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default)]
    pub share_process_namespace: Option<bool>,
}

/// A container: name, command and args, mounts, security context and env.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub name: String,
    /// Read for `agent-inject-env-<name>` (extension, injector.md §4.11).
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub volume_mounts: Option<Vec<VolumeMount>>,
    #[serde(default)]
    pub security_context: Option<SecurityContext>,
    #[serde(default)]
    pub env: Option<Vec<EnvVar>>,
}

/// `securityContext.runAsUser`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    #[serde(default)]
    pub run_as_user: Option<i64>,
}

/// An env entry; `valueFrom` is only noticed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

/// A volume mount (all Kubernetes fields, so copies are verbatim).
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive_read_only: Option<String>,
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_path_expr: Option<String>,
}

impl VolumeMount {
    /// A mount the injector adds (`readOnly: false` omitted).
    pub fn new(name: &str, path: &str, read_only: bool) -> Self {
        Self {
            name: name.to_owned(),
            mount_path: path.to_owned(),
            read_only: read_only.then_some(true),
            ..Self::default()
        }
    }
}

/// A volume: its name and a projected service-account token source.
#[derive(Debug, Default, Deserialize)]
pub struct Volume {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub projected: Option<Projected>,
}

/// `projected`.
#[derive(Debug, Default, Deserialize)]
pub struct Projected {
    #[serde(default)]
    pub sources: Option<Vec<ProjectionSource>>,
}

/// One projection source.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectionSource {
    #[serde(default)]
    pub service_account_token: Option<TokenProjection>,
}

/// `serviceAccountToken`.
#[derive(Debug, Default, Deserialize)]
pub struct TokenProjection {
    #[serde(default)]
    pub path: Option<String>,
}

impl Pod {
    /// App containers (empty when absent).
    pub fn containers(&self) -> &[Container] {
        self.spec.containers.as_deref().unwrap_or(&[])
    }

    /// Original init containers, verbatim.
    pub fn init_containers_raw(&self) -> &[Box<RawValue>] {
        self.spec.init_containers.as_deref().unwrap_or(&[])
    }

    /// Pod volumes (empty when absent).
    pub fn volumes(&self) -> &[Volume] {
        self.spec.volumes.as_deref().unwrap_or(&[])
    }

    /// The facts the shared spec builder needs.
    pub fn facts(&self) -> PodFacts {
        PodFacts {
            name: self.metadata.name.clone().unwrap_or_default(),
            containers: self
                .containers()
                .iter()
                .map(|c| ContainerFacts {
                    name: c.name.clone(),
                    mounts: c
                        .volume_mounts
                        .iter()
                        .flatten()
                        .map(|m| (m.name.clone(), m.mount_path.clone()))
                        .collect(),
                    run_as_user: c.security_context.as_ref().map(|s| s.run_as_user),
                    env: c
                        .env
                        .iter()
                        .flatten()
                        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                        .collect(),
                })
                .collect(),
            volumes: self
                .volumes()
                .iter()
                .map(|v| VolumeFacts {
                    name: v.name.clone(),
                    sa_token_path: v
                        .projected
                        .as_ref()
                        .and_then(|p| p.sources.as_ref())
                        .and_then(|s| {
                            s.iter().find_map(|src| {
                                src.service_account_token
                                    .as_ref()
                                    .and_then(|t| t.path.clone())
                                    .filter(|p| !p.is_empty())
                            })
                        }),
                })
                .collect(),
            share_process_namespace: self.spec.share_process_namespace,
        }
    }
}
