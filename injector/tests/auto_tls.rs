//! Auto-TLS end to end, in process: the injector's startup (`run::run_with`) against the API
//! server stand-in (`vaultlet_tests::ApiServer`: real HTTPS on loopback, the real API's JSON),
//! reached through kube with a kubeconfig file naming the stand-in and its CA. Checks that the CA
//! bundle published into the webhook configuration verifies the certificate the injector serves,
//! and that with leader election two replicas serve the same certificate, shared through the
//! Secret, with a single writer of the caBundle. Also the kube-backed [`KubeClient`] on its own
//! (statuses, conflicts, the token).

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::json;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_injector::settings::Settings;
use vaultlet_injector::tls::api::KubeClient;
use vaultlet_injector::tls::kube::{KubeApi, KubeError};
use vaultlet_tests::ApiServer;

const CFG: &str = "injector-cfg";
const TOKEN: &str = "test-token";

/// The stand-in with the chart's webhook configuration (no caBundle yet).
fn fake_api() -> ApiServer {
    let api = ApiServer::start(TOKEN);
    api.create(json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CFG},
        "webhooks": [{
            "name": "vault.hashicorp.com",
            "admissionReviewVersions": ["v1", "v1beta1"],
            "sideEffects": "None",
            "clientConfig": {"service": {"name": "injector", "namespace": "vault-system", "path": "/mutate"}},
        }],
    }));
    api
}

/// A kubeconfig naming `api`, in a temporary directory.
fn kubeconfig(api: &ApiServer) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    api.write_kubeconfig(&path);
    let flag = format!("-kubeconfig={}", path.display());
    (dir, flag)
}

fn settings(extra: &[&str]) -> Settings {
    let mut flags = vec!["-listen=127.0.0.1:0", "-tls-auto-hosts=127.0.0.1,localhost"];
    flags.extend_from_slice(extra);
    TestInjector::new().settings(&flags)
}

/// Starts one replica; answers its address once it serves.
async fn replica(s: Settings, pod: &str) -> SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pod = pod.to_string();
    tokio::spawn(async move {
        let env = move |k: &str| match k {
            "POD_NAME" => Some(pod.clone()),
            "NAMESPACE" => Some("vault-system".to_string()),
            _ => None,
        };
        let r = vaultlet_injector::run::run_with(s, Some(tx), &env).await;
        if let Err(e) = r {
            panic!("replica failed: {e}");
        }
    });
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("replica did not start serving")
        .unwrap()
}

/// GET /health/ready on a new connection trusting `ca_pem`; answers the status and the DER of
/// the served certificate.
async fn health(addr: SocketAddr, ca_pem: &str) -> (u16, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(
            rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .expect("the published CA bundle verifies the served certificate");
    let cert = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (mut send, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(c);
    let req = hyper::Request::builder()
        .uri("/health/ready")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let _ = resp.into_body().collect().await;
    (status, cert)
}

fn published_bundle(api: &ApiServer) -> String {
    let cfg = api
        .get("mutatingwebhookconfigurations", "", CFG)
        .expect("the webhook configuration");
    let b64 = cfg["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .expect("caBundle published")
        .to_string();
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

fn count(api: &ApiServer, method: &str, path_part: &str) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path_part))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_the_ca_bundle_that_verifies_the_served_certificate() {
    let api = fake_api();
    let (_dir, kc) = kubeconfig(&api);
    let addr = replica(settings(&["-tls-auto=injector-cfg", &kc]), "pod-a").await;
    let bundle = published_bundle(&api);
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);
    assert_eq!(health(addr, &bundle).await.0, 204);
    assert_eq!(count(&api, "PATCH", "injector-cfg"), 1);
    let patch = api
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.content_type, "application/json-patch+json");
    // Without leader election: no Lease, no Secret.
    assert_eq!(count(&api, "GET", "/leases/"), 0);
    assert_eq!(count(&api, "GET", "/secrets/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_writer_and_serve_the_shared_certificate() {
    let api = fake_api();
    let (_dir, kc) = kubeconfig(&api);
    let s = || settings(&["-tls-auto=injector-cfg", "-use-leader-elector", &kc]);
    let a = replica(s(), "pod-a").await;
    let b = replica(s(), "pod-b").await;
    let bundle = published_bundle(&api);
    let (status_a, cert_a) = health(a, &bundle).await;
    let (status_b, cert_b) = health(b, &bundle).await;
    assert_eq!((status_a, status_b), (204, 204));
    assert_eq!(
        cert_a, cert_b,
        "both replicas serve the leader's certificate"
    );
    let lease = api
        .get("leases", "vault-system", "vault-k8s-leader")
        .unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
    let secret = api
        .get("secrets", "vault-system", "vault-injector-certs")
        .unwrap();
    let cert = STANDARD
        .decode(secret["data"]["cert"].as_str().unwrap())
        .unwrap();
    let der = CertificateDer::pem_slice_iter(&cert)
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(der.to_vec(), cert_a);
    // The follower keeps following and never writes the webhook configuration.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count(&api, "PATCH", "injector-cfg"), 1);
    assert!(
        count(&api, "PUT", "/leases/vault-k8s-leader") >= 2,
        "the leader renews"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_and_secret_names_come_from_the_flags() {
    // injector.md §6.5.1: the chart passes its own names; nothing is written under vault-k8s's.
    let api = fake_api();
    let (_dir, kc) = kubeconfig(&api);
    let s = || {
        settings(&[
            "-tls-auto=injector-cfg",
            "-use-leader-elector",
            "-tls-auto-lease=rel-agent-injector-leader",
            "-tls-auto-secret=rel-agent-injector-certs",
            &kc,
        ])
    };
    let a = replica(s(), "pod-a").await;
    let b = replica(s(), "pod-b").await;
    let bundle = published_bundle(&api);
    let ((status_a, cert_a), (status_b, cert_b)) =
        (health(a, &bundle).await, health(b, &bundle).await);
    assert_eq!((status_a, status_b), (204, 204));
    assert_eq!(cert_a, cert_b);
    let lease = api
        .get("leases", "vault-system", "rel-agent-injector-leader")
        .expect("the Lease under the flag's name");
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    assert!(
        api.get("secrets", "vault-system", "rel-agent-injector-certs")
            .is_some()
    );
    assert!(
        api.get("leases", "vault-system", "vault-k8s-leader")
            .is_none()
    );
    assert!(
        api.get("secrets", "vault-system", "vault-injector-certs")
            .is_none()
    );
}

fn json_of<T: serde::Serialize>(o: &T) -> serde_json::Value {
    serde_json::to_value(o).unwrap()
}

async fn client_for(api: &ApiServer) -> (tempfile::TempDir, KubeClient) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    api.write_kubeconfig(&path);
    let c = vaultlet_injector::k8s::connect(Some(&path))
        .await
        .expect("a client from the kubeconfig");
    (dir, KubeClient::new(c))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_client_speaks_the_apis_json_and_maps_statuses() {
    let api = fake_api();
    let (_dir, c) = client_for(&api).await;
    let cfg = json_of(&c.get_webhook_config(CFG).await.unwrap().unwrap());
    assert_eq!(cfg["webhooks"][0]["name"], "vault.hashicorp.com");
    assert_eq!(c.get_secret("ns", "missing").await.unwrap(), None);
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns", "labels": {"app": "x"}}, "data": {"cert": "QQ=="}});
    let secret: Secret = serde_json::from_value(secret).unwrap();
    let created = c.create_secret("ns", &secret).await.unwrap();
    assert_eq!(json_of(&created)["metadata"]["labels"]["app"], "x");
    let e = c.create_secret("ns", &secret).await.unwrap_err();
    assert!(
        matches!(e, KubeError::Conflict(ref m) if m.contains("already exists")),
        "{e}"
    );
    // An update with the version read succeeds (labels kept); a stale one is a conflict.
    let mut next = json_of(&created);
    next["data"]["cert"] = json!("Qg==");
    let next: Secret = serde_json::from_value(next).unwrap();
    let updated = json_of(&c.update_secret("ns", "s", &next).await.unwrap());
    assert_eq!(updated["data"]["cert"], "Qg==");
    assert_eq!(updated["metadata"]["labels"]["app"], "x");
    let e = c.update_secret("ns", "s", &next).await.unwrap_err();
    assert!(matches!(e, KubeError::Conflict(_)), "{e}");
    c.patch_webhook_config(
        CFG,
        &json!([{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": "UEVN"}]),
    )
    .await
    .unwrap();
    let cfg = api.get("mutatingwebhookconfigurations", "", CFG).unwrap();
    assert_eq!(cfg["webhooks"][0]["clientConfig"]["caBundle"], "UEVN");
    let e = c
        .patch_webhook_config(
            CFG,
            &json!([{"op": "replace", "path": "/nope/0", "value": 1}]),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, KubeError::Status { code: 422, .. }), "{e}");
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "l", "namespace": "ns"},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}});
    let lease: Lease = serde_json::from_value(lease).unwrap();
    let created = json_of(&c.create_lease("ns", &lease).await.unwrap());
    assert_eq!(created["spec"]["holderIdentity"], "a");
    assert!(c.get_lease("ns", "l").await.unwrap().is_some());
    let reqs = api.requests();
    let paths: Vec<(&str, &str)> = reqs
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            (
                "GET",
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/injector-cfg"
            ),
            ("GET", "/api/v1/namespaces/ns/secrets/missing"),
            ("POST", "/api/v1/namespaces/ns/secrets"),
            ("POST", "/api/v1/namespaces/ns/secrets"),
            ("PUT", "/api/v1/namespaces/ns/secrets/s"),
            ("PUT", "/api/v1/namespaces/ns/secrets/s"),
            (
                "PATCH",
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/injector-cfg"
            ),
            (
                "PATCH",
                "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/injector-cfg"
            ),
            ("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases"),
            ("GET", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_or_an_untrusted_server_is_an_error() {
    let api = fake_api();
    let other = ApiServer::start("another-token");
    let dir = tempfile::tempdir().unwrap();
    // The other server's kubeconfig with this server's address: its token is refused here.
    let path = dir.path().join("kubeconfig");
    other.write_kubeconfig(&path);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(other.url(), api.url());
    std::fs::write(&path, &text).unwrap();
    // Its CA does not sign this server's certificate: refused before any request.
    let c = KubeClient::new(vaultlet_injector::k8s::connect(Some(&path)).await.unwrap());
    let e = c.get_webhook_config(CFG).await.unwrap_err();
    assert!(matches!(e, KubeError::Transport(_)), "{e}");
    assert!(api.requests().is_empty());
    // With this server's CA, the token is what is refused.
    let ca = STANDARD.encode(api.ca_pem());
    let other_ca = STANDARD.encode(other.ca_pem());
    std::fs::write(&path, text.replace(&other_ca, &ca)).unwrap();
    let c = KubeClient::new(vaultlet_injector::k8s::connect(Some(&path)).await.unwrap());
    let e = c.get_webhook_config(CFG).await.unwrap_err();
    assert!(matches!(e, KubeError::Status { code: 401, .. }), "{e}");
    // A kubeconfig that does not exist is a configuration error.
    let e = vaultlet_injector::k8s::connect(Some(&dir.path().join("nope")))
        .await
        .err()
        .expect("no client without a kubeconfig");
    assert!(e.to_string().contains("nope"), "{e}");
}
