//! The certificate shared between replicas (injector.md §6.5): the leader writes its serving
//! certificate and key into the Secret named by `-tls-auto-secret` (default `vault-injector-certs`,
//! injector.md §6.5.1; data keys `cert` and `key`, PEM) in `NAMESPACE`, creating it or updating it in place (other metadata kept); followers read it
//! and serve what it holds.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::kube::{KubeApi, KubeError};

/// The default of `-tls-auto-secret` (vault-k8s's name).
pub const SECRET_NAME: &str = "vault-injector-certs";

/// A certificate chain and its key, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCert {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

fn data_field(secret: &Secret, key: &str) -> Option<Vec<u8>> {
    let b = secret.data.as_ref()?.get(key)?;
    Some(b.0.clone()).filter(|v| !v.is_empty())
}

/// What the Secret holds, if it holds both a certificate and a key.
pub fn from_secret(secret: &Secret) -> Option<SharedCert> {
    Some(SharedCert {
        cert_pem: data_field(secret, "cert")?,
        key_pem: data_field(secret, "key")?,
    })
}

/// Reads the shared certificate (`None`: no Secret yet, or it is empty).
pub async fn read<K: KubeApi>(
    api: &K,
    namespace: &str,
    name: &str,
) -> Result<Option<SharedCert>, KubeError> {
    Ok(api
        .get_secret(namespace, name)
        .await?
        .as_ref()
        .and_then(from_secret))
}

/// Writes `cert` into the Secret, creating it if needed.
pub async fn write<K: KubeApi>(
    api: &K,
    namespace: &str,
    name: &str,
    cert: &SharedCert,
) -> Result<(), KubeError> {
    let data = BTreeMap::from([
        ("cert".to_string(), ByteString(cert.cert_pem.clone())),
        ("key".to_string(), ByteString(cert.key_pem.clone())),
    ]);
    match api.get_secret(namespace, name).await? {
        Some(mut s) => {
            if from_secret(&s).as_ref() == Some(cert) {
                return Ok(());
            }
            s.data = Some(data);
            api.update_secret(namespace, name, &s).await?;
        }
        None => {
            let s = Secret {
                metadata: ObjectMeta {
                    name: Some(name.into()),
                    namespace: Some(namespace.into()),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                data: Some(data),
                ..Secret::default()
            };
            api.create_secret(namespace, &s).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::kube::fake::FakeKube;
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    #[tokio::test]
    async fn creates_then_updates_in_place_keeping_metadata() {
        let api = FakeKube::default();
        assert_eq!(read(&api, "ns", SECRET_NAME).await.unwrap(), None);
        let one = SharedCert {
            cert_pem: b"C1".to_vec(),
            key_pem: b"K1".to_vec(),
        };
        write(&api, "ns", SECRET_NAME, &one).await.unwrap();
        assert_eq!(
            read(&api, "ns", SECRET_NAME).await.unwrap(),
            Some(one.clone())
        );
        let mut s = api.get("secret", "ns", SECRET_NAME).unwrap();
        s["metadata"]["labels"] = json!({"app": "injector"});
        api.put("secret", "ns", SECRET_NAME, s);
        let two = SharedCert {
            cert_pem: b"C2".to_vec(),
            key_pem: b"K2".to_vec(),
        };
        write(&api, "ns", SECRET_NAME, &two).await.unwrap();
        let s = api.get("secret", "ns", SECRET_NAME).unwrap();
        assert_eq!(s["metadata"]["labels"]["app"], "injector");
        assert_eq!(s["data"]["cert"], STANDARD.encode("C2"));
        // Another name is another Secret.
        let other = SharedCert {
            cert_pem: b"C3".to_vec(),
            key_pem: b"K3".to_vec(),
        };
        write(&api, "ns", "mine-certs", &other).await.unwrap();
        assert_eq!(read(&api, "ns", "mine-certs").await.unwrap(), Some(other));
        assert_eq!(
            read(&api, "ns", SECRET_NAME).await.unwrap(),
            Some(two.clone())
        );
        // Unchanged: no write.
        let before = api.calls().len();
        write(&api, "ns", SECRET_NAME, &two).await.unwrap();
        assert_eq!(api.calls().len(), before + 1, "only the get");
    }

    #[tokio::test]
    async fn the_charts_empty_secret_holds_nothing() {
        let api = FakeKube::default();
        api.put(
            "secret",
            "ns",
            SECRET_NAME,
            json!({"metadata": {"name": SECRET_NAME}}),
        );
        assert_eq!(read(&api, "ns", SECRET_NAME).await.unwrap(), None);
    }
}
