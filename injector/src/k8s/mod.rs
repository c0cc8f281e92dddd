//! The injector's Kubernetes API edge (injector.md §0, §2.7, §2.8), through `kube`: the client
//! ([`connect`]: `-kubeconfig`, else the in-cluster service account, else `KUBECONFIG` or
//! `~/.kube/config`, so the injector also runs from a laptop against a cluster), the namespace
//! reflector behind namespace defaults ([`namespaces`]) and the watch of pods that escaped
//! injection ([`escaped`]). Only background tasks use it: the admission path reads memory.
//! Auto-TLS's calls (Lease, Secret, caBundle) go through the same client in
//! [`crate::tls::api`].

pub mod escaped;
pub mod namespaces;

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// No usable client configuration (startup prints it after
/// `Error loading in-cluster K8S config: ` when a TLS mode needs the API).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A client of the API server: `kubeconfig` when given (its current context), else the pod's
/// in-cluster configuration (`KUBERNETES_SERVICE_HOST`/`_PORT` and the service-account token,
/// re-read as the kubelet rotates it), else the default kubeconfig (`KUBECONFIG`, then
/// `~/.kube/config`).
pub async fn connect(kubeconfig: Option<&Path>) -> Result<kube::Client, ConfigError> {
    let config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
        }
        None => match kube::Config::incluster() {
            Ok(c) => c,
            Err(in_cluster) => kube::Config::from_kubeconfig(&KubeConfigOptions::default())
                .await
                .map_err(|kubeconfig| {
                    ConfigError(format!(
                        "in-cluster configuration (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, the service-account token): {in_cluster}; kubeconfig: {kubeconfig}"
                    ))
                })?,
        },
    };
    kube::Client::try_from(config).map_err(|e| ConfigError(e.to_string()))
}
