//! The real [`KubeApi`]: plain HTTPS calls to the API server from inside a pod, authenticated
//! with the pod's service-account token and verified with the cluster CA
//! (`/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}`, `KUBERNETES_SERVICE_HOST`/
//! `_PORT`), user agent `vaultlet-injector/<version>`.
//!
//! Why not the `kube` crate: the injector makes eight kinds of request to three resources; `kube`
//! (with `k8s-openapi`) would add several minutes of compile time and a few MB to the binary for
//! that, while the hyper + rustls client is already in the dependency tree. The token is re-read on
//! every request, because bound service-account tokens are rotated by the kubelet.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde_json::Value;

use super::kube::{KubeApi, KubeError};

/// Where a pod finds its service-account credentials.
pub const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

const TIMEOUT: Duration = Duration::from_secs(30);

/// The in-cluster configuration is missing or unusable (startup prints it after
/// `Error loading in-cluster K8S config: `).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A client of the API server.
#[derive(Clone)]
pub struct InCluster {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    token_file: PathBuf,
    user_agent: String,
}

impl InCluster {
    /// The configuration a pod gets: `KUBERNETES_SERVICE_HOST`/`_PORT` and [`SA_DIR`].
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (Some(host), Some(port)) = (
            env("KUBERNETES_SERVICE_HOST").filter(|h| !h.is_empty()),
            env("KUBERNETES_SERVICE_PORT").filter(|p| !p.is_empty()),
        ) else {
            return Err(ConfigError(
                "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".into(),
            ));
        };
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let dir = PathBuf::from(SA_DIR);
        let ca_path = dir.join("ca.crt");
        let ca = std::fs::read(&ca_path)
            .map_err(|e| ConfigError(format!("{}: {e}", ca_path.display())))?;
        Self::new(&format!("https://{host}:{port}"), &ca, dir.join("token"))
    }

    /// A client of the API server at `base` (`https://host:port`) trusting `ca_pem`.
    pub fn new(base: &str, ca_pem: &[u8], token_file: PathBuf) -> Result<Self, ConfigError> {
        if let Err(e) = std::fs::metadata(&token_file) {
            return Err(ConfigError(format!("{}: {e}", token_file.display())));
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem) {
            let c = c.map_err(|e| ConfigError(format!("cluster CA: {e}")))?;
            roots
                .add(c)
                .map_err(|e| ConfigError(format!("cluster CA: {e}")))?;
        }
        if roots.is_empty() {
            return Err(ConfigError("cluster CA: no PEM certificate found".into()));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            base: base.trim_end_matches('/').to_string(),
            token_file,
            user_agent: format!("vaultlet-injector/{}", env!("CARGO_PKG_VERSION")),
        })
    }

    /// One request; answers the status and the body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>), KubeError> {
        let token = std::fs::read_to_string(&self.token_file)
            .map_err(|e| KubeError::Transport(format!("{}: {e}", self.token_file.display())))?;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::USER_AGENT, &self.user_agent)
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {}", token.trim()));
        let body = match body {
            Some((content_type, b)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Full::new(Bytes::from(b))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req
            .body(body)
            .map_err(|e| KubeError::Transport(e.to_string()))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| KubeError::Transport(format!("{path}: {e:#}")))?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| KubeError::Transport(format!("{path}: {e}")))?
                .to_bytes();
            Ok((status, bytes.to_vec()))
        };
        tokio::time::timeout(TIMEOUT, fut)
            .await
            .map_err(|_| KubeError::Transport(format!("{path}: timed out after {TIMEOUT:?}")))?
    }

    async fn get(&self, path: &str) -> Result<Option<Value>, KubeError> {
        let (status, body) = self.call(Method::GET, path, None).await?;
        match status {
            404 => Ok(None),
            _ => json_or_error(status, &body).map(Some),
        }
    }

    async fn send(&self, method: Method, path: &str, object: &Value) -> Result<Value, KubeError> {
        let body = serde_json::to_vec(object).map_err(|e| KubeError::Transport(e.to_string()))?;
        let (status, body) = self
            .call(method, path, Some(("application/json", body)))
            .await?;
        json_or_error(status, &body)
    }
}

/// A 2xx body as JSON, or the API's `Status` message as an error.
fn json_or_error(status: u16, body: &[u8]) -> Result<Value, KubeError> {
    if (200..300).contains(&status) {
        return serde_json::from_slice(body)
            .map_err(|e| KubeError::Transport(format!("undecodable answer: {e}")));
    }
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    Err(match status {
        409 => KubeError::Conflict(message),
        code => KubeError::Status { code, message },
    })
}

const WEBHOOKS: &str = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations";

fn secrets(ns: &str) -> String {
    format!("/api/v1/namespaces/{ns}/secrets")
}

fn leases(ns: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases")
}

impl KubeApi for InCluster {
    async fn get_webhook_config(&self, name: &str) -> Result<Option<Value>, KubeError> {
        self.get(&format!("{WEBHOOKS}/{name}")).await
    }

    async fn patch_webhook_config(&self, name: &str, patch: &Value) -> Result<(), KubeError> {
        let body = serde_json::to_vec(patch).map_err(|e| KubeError::Transport(e.to_string()))?;
        let (status, body) = self
            .call(
                Method::PATCH,
                &format!("{WEBHOOKS}/{name}"),
                Some(("application/json-patch+json", body)),
            )
            .await?;
        json_or_error(status, &body).map(|_| ())
    }

    async fn get_secret(&self, ns: &str, name: &str) -> Result<Option<Value>, KubeError> {
        self.get(&format!("{}/{name}", secrets(ns))).await
    }

    async fn create_secret(&self, ns: &str, object: &Value) -> Result<Value, KubeError> {
        self.send(Method::POST, &secrets(ns), object).await
    }

    async fn update_secret(
        &self,
        ns: &str,
        name: &str,
        object: &Value,
    ) -> Result<Value, KubeError> {
        self.send(Method::PUT, &format!("{}/{name}", secrets(ns)), object)
            .await
    }

    async fn get_lease(&self, ns: &str, name: &str) -> Result<Option<Value>, KubeError> {
        self.get(&format!("{}/{name}", leases(ns))).await
    }

    async fn create_lease(&self, ns: &str, object: &Value) -> Result<Value, KubeError> {
        self.send(Method::POST, &leases(ns), object).await
    }

    async fn update_lease(&self, ns: &str, name: &str, object: &Value) -> Result<Value, KubeError> {
        self.send(Method::PUT, &format!("{}/{name}", leases(ns)), object)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::routing::any;
    use serde_json::json;

    use super::super::auto::Generator;
    use super::super::{CertSlot, certified_key};
    use super::*;

    type Seen = Arc<Mutex<Vec<(String, String, String, String, String)>>>;

    /// An HTTPS API server on loopback: records (method, path, content type, authorization, body)
    /// and answers from the path.
    async fn api_server() -> (String, Vec<u8>, Seen, tokio::sync::watch::Sender<bool>) {
        let g = Generator::new().unwrap();
        let b = g
            .leaf(&["127.0.0.1".into()], std::time::SystemTime::now())
            .unwrap();
        let slot = CertSlot::new();
        slot.install(Arc::new(
            certified_key(b.cert_pem.as_bytes(), b.key_pem.as_bytes(), "test").unwrap(),
        ));
        let tls = crate::tls::server_config(slot, &tls_settings()).unwrap();
        let seen: Seen = Arc::default();
        let rec = seen.clone();
        let app = Router::new().fallback(any(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let rec = rec.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .map(|v| v.to_str().unwrap().to_string())
                            .unwrap_or_default()
                    };
                    rec.lock().unwrap().push((
                        method.to_string(),
                        uri.path().to_string(),
                        h("content-type"),
                        h("authorization"),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let path = uri.path();
                    if path.ends_with("/missing") {
                        (
                            StatusCode::NOT_FOUND,
                            r#"{"kind":"Status","message":"not found"}"#.to_string(),
                        )
                    } else if path.contains("/leases") && method == Method::PUT {
                        (
                            StatusCode::CONFLICT,
                            r#"{"kind":"Status","message":"the object has been modified"}"#.into(),
                        )
                    } else if path.contains("/secrets") && method == Method::POST {
                        (
                            StatusCode::FORBIDDEN,
                            r#"{"kind":"Status","message":"secrets is forbidden"}"#.into(),
                        )
                    } else {
                        (StatusCode::OK, body_or_object(&body))
                    }
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::server::serve(listener, Arc::new(tls), app, rx));
        (
            format!("https://{addr}"),
            g.ca_pem().as_bytes().to_vec(),
            seen,
            tx,
        )
    }

    fn body_or_object(body: &[u8]) -> String {
        if body.is_empty() {
            r#"{"metadata":{"name":"x","resourceVersion":"7"}}"#.into()
        } else {
            String::from_utf8_lossy(body).into_owned()
        }
    }

    fn tls_settings() -> crate::settings::TlsSettings {
        crate::fixture::TestInjector::new().settings(&[]).tls
    }

    #[tokio::test]
    async fn speaks_to_the_api_server_with_the_token_and_maps_statuses() {
        let (base, ca, seen, _stop) = api_server().await;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "tok-1\n").unwrap();
        let api = InCluster::new(&base, &ca, token.clone()).unwrap();

        let cfg = api.get_webhook_config("cfg").await.unwrap().unwrap();
        assert_eq!(cfg["metadata"]["resourceVersion"], "7");
        assert_eq!(api.get_secret("ns", "missing").await.unwrap(), None);
        std::fs::write(&token, "tok-2").unwrap();
        api.patch_webhook_config("cfg", &json!([{"op": "add", "path": "/a", "value": 1}]))
            .await
            .unwrap();
        let e = api
            .update_lease("ns", "vault-k8s-leader", &json!({"spec": {}}))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            KubeError::Conflict("the object has been modified".into())
        );
        let e = api.create_secret("ns", &json!({})).await.unwrap_err();
        assert_eq!(
            e,
            KubeError::Status {
                code: 403,
                message: "secrets is forbidden".into()
            }
        );
        let created = api
            .create_lease("ns", &json!({"metadata": {"name": "l"}}))
            .await
            .unwrap();
        assert_eq!(created["metadata"]["name"], "l");

        let seen = seen.lock().unwrap().clone();
        let row = |i: usize| {
            let (m, p, ct, auth, _) = &seen[i];
            (m.as_str(), p.as_str(), ct.as_str(), auth.as_str())
        };
        assert_eq!(
            row(0),
            (
                "GET",
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cfg",
                "",
                "Bearer tok-1"
            )
        );
        assert_eq!(row(1).1, "/api/v1/namespaces/ns/secrets/missing");
        assert_eq!(
            row(2),
            (
                "PATCH",
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/cfg",
                "application/json-patch+json",
                "Bearer tok-2"
            )
        );
        assert_eq!(
            row(3).1,
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/vault-k8s-leader"
        );
        assert_eq!(row(4).0, "POST");
        assert_eq!(row(4).1, "/api/v1/namespaces/ns/secrets");
        assert_eq!(
            row(5).1,
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases"
        );
    }

    #[tokio::test]
    async fn an_untrusted_api_server_is_refused() {
        let (base, _ca, _seen, _stop) = api_server().await;
        let other = Generator::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t").unwrap();
        let api = InCluster::new(&base, other.ca_pem().as_bytes(), token).unwrap();
        let e = api.get_webhook_config("cfg").await.unwrap_err();
        assert!(matches!(e, KubeError::Transport(_)), "{e}");
    }

    #[test]
    fn missing_in_cluster_environment_is_a_config_error() {
        let e = InCluster::from_env(&|_| None).err().unwrap();
        assert!(e.0.contains("KUBERNETES_SERVICE_HOST"), "{e}");
    }
}
