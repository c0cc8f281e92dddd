//! The CA bundle the API server uses to trust us (injector.md §6.4): `webhooks[0].clientConfig.
//! caBundle` of the MutatingWebhookConfiguration named by `-tls-auto`. Only `webhooks[0]` is read
//! or written, with upstream's JSON patch (`add` replaces an existing value), and only when it
//! differs from what we serve.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use serde_json::{Value, json};

use super::kube::{KubeApi, KubeError};

/// Why the CA could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("MutatingWebhookConfiguration {0:?} not found")]
    NotFound(String),
    #[error("MutatingWebhookConfiguration {name:?}: {source}")]
    Api {
        name: String,
        #[source]
        source: KubeError,
    },
}

/// The PEM text of `webhooks[0].clientConfig.caBundle` (empty if absent).
pub fn current_ca_bundle(config: &MutatingWebhookConfiguration) -> String {
    config
        .webhooks
        .as_ref()
        .and_then(|w| w.first())
        .and_then(|w| w.client_config.ca_bundle.as_ref())
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default()
}

/// Upstream's patch: `add` of the base64 PEM at `webhooks[0]`.
pub fn ca_bundle_patch(bundle_pem: &str) -> Value {
    json!([{
        "op": "add",
        "path": "/webhooks/0/clientConfig/caBundle",
        "value": STANDARD.encode(bundle_pem),
    }])
}

/// Reads the configuration `name`; returns its current caBundle PEM.
pub async fn read_ca_bundle<K: KubeApi>(api: &K, name: &str) -> Result<String, PublishError> {
    match api.get_webhook_config(name).await {
        Ok(Some(cfg)) => Ok(current_ca_bundle(&cfg)),
        Ok(None) => Err(PublishError::NotFound(name.into())),
        Err(source) => Err(PublishError::Api {
            name: name.into(),
            source,
        }),
    }
}

/// Makes `webhooks[0].clientConfig.caBundle` equal `bundle_pem`; answers whether it patched.
pub async fn publish_ca_bundle<K: KubeApi>(
    api: &K,
    name: &str,
    bundle_pem: &str,
) -> Result<bool, PublishError> {
    if read_ca_bundle(api, name).await? == bundle_pem {
        return Ok(false);
    }
    api.patch_webhook_config(name, &ca_bundle_patch(bundle_pem))
        .await
        .map_err(|source| PublishError::Api {
            name: name.into(),
            source,
        })?;
    tracing::info!(webhook_config = name, "published the CA bundle");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::super::kube::fake::FakeKube;
    use super::*;

    #[tokio::test]
    async fn patches_only_when_the_bundle_differs() {
        let api = FakeKube::with_webhook("cfg", None);
        assert!(publish_ca_bundle(&api, "cfg", "PEM-A").await.unwrap());
        assert_eq!(current_ca_bundle(&api.webhook("cfg")), "PEM-A");
        let cfg = api.get("webhook", "", "cfg").unwrap();
        assert_eq!(
            cfg["webhooks"][0]["clientConfig"]["service"]["name"],
            "injector"
        );
        assert!(!publish_ca_bundle(&api, "cfg", "PEM-A").await.unwrap());
        assert!(publish_ca_bundle(&api, "cfg", "PEM-B").await.unwrap());
        assert_eq!(
            api.calls(),
            [
                "get webhook cfg",
                "patch webhook cfg",
                "get webhook cfg",
                "get webhook cfg",
                "patch webhook cfg"
            ]
        );
    }

    #[tokio::test]
    async fn a_missing_configuration_is_an_error() {
        let api = FakeKube::default();
        let e = publish_ca_bundle(&api, "nope", "PEM").await.unwrap_err();
        assert!(e.to_string().contains("\"nope\" not found"), "{e}");
    }

    #[test]
    fn patch_is_upstreams_shape() {
        assert_eq!(
            ca_bundle_patch("X"),
            json!([{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "WA=="}])
        );
    }
}
