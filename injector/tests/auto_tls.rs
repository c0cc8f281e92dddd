//! Auto-TLS end to end, in process: the injector's startup (`run::run_with`) against a fake
//! Kubernetes API server over real HTTPS on loopback (the real in-cluster client, not the unit
//! tests' in-memory fake). Checks that the CA bundle published into the webhook configuration
//! verifies the certificate the injector serves, and that with leader election two replicas serve
//! the same certificate, shared through the Secret, with a single writer of the caBundle.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use vaultlet_injector::fixture::TestInjector;
use vaultlet_injector::settings::Settings;
use vaultlet_injector::tls::auto::Generator;
use vaultlet_injector::tls::incluster::InCluster;
use vaultlet_injector::tls::{CertSlot, certified_key, server_config};

const CFG: &str =
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/injector-cfg";

#[derive(Default)]
struct ApiState {
    objects: HashMap<String, Value>,
    version: u64,
    /// (method, path) of every request.
    log: Vec<(String, String)>,
}

/// A tiny API server: objects by path, `resourceVersion` checks on PUT, JSON patches on PATCH.
async fn fake_api() -> (String, String, Arc<Mutex<ApiState>>) {
    let state = Arc::new(Mutex::new(ApiState::default()));
    state.lock().unwrap().objects.insert(
        CFG.into(),
        json!({
            "metadata": {"name": "injector-cfg", "resourceVersion": "1"},
            "webhooks": [{"name": "vault.hashicorp.com", "clientConfig": {"service": {"name": "injector"}}}],
        }),
    );
    let st = state.clone();
    let app = Router::new().fallback(any(move |method: Method, uri: Uri, body: Bytes| {
        let st = st.clone();
        async move {
            let mut s = st.lock().unwrap();
            let path = uri.path().to_string();
            s.log.push((method.to_string(), path.clone()));
            s.version += 1;
            let version = s.version.to_string();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let reply = |code: StatusCode, v: Value| (code, v.to_string());
            match method {
                Method::GET => match s.objects.get(&path) {
                    Some(o) => reply(StatusCode::OK, o.clone()),
                    None => reply(StatusCode::NOT_FOUND, json!({"message": "not found"})),
                },
                Method::POST => {
                    let name = body["metadata"]["name"].as_str().unwrap_or_default();
                    let key = format!("{path}/{name}");
                    if s.objects.contains_key(&key) {
                        return reply(StatusCode::CONFLICT, json!({"message": "already exists"}));
                    }
                    let mut o = body.clone();
                    o["metadata"]["resourceVersion"] = json!(version);
                    s.objects.insert(key, o.clone());
                    reply(StatusCode::CREATED, o)
                }
                Method::PUT => {
                    let Some(cur) = s.objects.get(&path) else {
                        return reply(StatusCode::NOT_FOUND, json!({"message": "not found"}));
                    };
                    if cur["metadata"]["resourceVersion"] != body["metadata"]["resourceVersion"] {
                        return reply(StatusCode::CONFLICT, json!({"message": "modified"}));
                    }
                    let mut o = body.clone();
                    o["metadata"]["resourceVersion"] = json!(version);
                    s.objects.insert(path, o.clone());
                    reply(StatusCode::OK, o)
                }
                Method::PATCH => {
                    let Some(mut cur) = s.objects.get(&path).cloned() else {
                        return reply(StatusCode::NOT_FOUND, json!({"message": "not found"}));
                    };
                    let p: json_patch::Patch = serde_json::from_value(body).unwrap();
                    json_patch::patch(&mut cur, &p).unwrap();
                    s.objects.insert(path, cur.clone());
                    reply(StatusCode::OK, cur)
                }
                _ => reply(StatusCode::METHOD_NOT_ALLOWED, json!({})),
            }
        }
    }));
    let g = Generator::new().unwrap();
    let leaf = g
        .leaf(&["127.0.0.1".into()], std::time::SystemTime::now())
        .unwrap();
    let slot = CertSlot::new();
    slot.install(Arc::new(
        certified_key(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes(), "api").unwrap(),
    ));
    let settings = settings(&[]);
    let tls = server_config(slot, &settings.tls).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        vaultlet_injector::server::serve(listener, Arc::new(tls), app, rx).await;
        drop(tx);
    });
    (format!("https://{addr}"), g.ca_pem().to_string(), state)
}

fn settings(extra: &[&str]) -> Settings {
    let mut flags = vec!["-listen=127.0.0.1:0", "-tls-auto-hosts=127.0.0.1,localhost"];
    flags.extend_from_slice(extra);
    TestInjector::new().settings(&flags)
}

/// Starts one replica; answers its address once it serves.
async fn replica(
    s: Settings,
    api_base: &str,
    api_ca: &str,
    token: &std::path::Path,
    pod: &str,
) -> SocketAddr {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (base, ca, token, pod) = (
        api_base.to_string(),
        api_ca.to_string(),
        token.to_path_buf(),
        pod.to_string(),
    );
    tokio::spawn(async move {
        let env = move |k: &str| match k {
            "POD_NAME" => Some(pod.clone()),
            "NAMESPACE" => Some("vault-system".to_string()),
            _ => None,
        };
        let r = vaultlet_injector::run::run_with(s, Some(tx), &env, || {
            InCluster::new(&base, ca.as_bytes(), token)
        })
        .await;
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

fn published_bundle(state: &Mutex<ApiState>) -> String {
    let s = state.lock().unwrap();
    let b64 = s.objects[CFG]["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .expect("caBundle published")
        .to_string();
    String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap()
}

fn count(state: &Mutex<ApiState>, method: &str, path_part: &str) -> usize {
    state
        .lock()
        .unwrap()
        .log
        .iter()
        .filter(|(m, p)| m == method && p.contains(path_part))
        .count()
}

fn token_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "test-token").unwrap();
    (dir, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_the_ca_bundle_that_verifies_the_served_certificate() {
    let (api, api_ca, state) = fake_api().await;
    let (_dir, token) = token_file();
    let addr = replica(
        settings(&["-tls-auto=injector-cfg"]),
        &api,
        &api_ca,
        &token,
        "pod-a",
    )
    .await;
    let bundle = published_bundle(&state);
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 1);
    assert_eq!(health(addr, &bundle).await.0, 204);
    assert_eq!(count(&state, "PATCH", "injector-cfg"), 1);
    // Without leader election: no Lease, no Secret.
    assert_eq!(count(&state, "GET", "/leases/"), 0);
    assert_eq!(count(&state, "GET", "/secrets/"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_elect_one_writer_and_serve_the_shared_certificate() {
    let (api, api_ca, state) = fake_api().await;
    let (_dir, token) = token_file();
    let s = || settings(&["-tls-auto=injector-cfg", "-use-leader-elector"]);
    let a = replica(s(), &api, &api_ca, &token, "pod-a").await;
    let b = replica(s(), &api, &api_ca, &token, "pod-b").await;
    let bundle = published_bundle(&state);
    let (status_a, cert_a) = health(a, &bundle).await;
    let (status_b, cert_b) = health(b, &bundle).await;
    assert_eq!((status_a, status_b), (204, 204));
    assert_eq!(
        cert_a, cert_b,
        "both replicas serve the leader's certificate"
    );
    {
        let s = state.lock().unwrap();
        let lease = &s.objects["/apis/coordination.k8s.io/v1/namespaces/vault-system/leases/vault-k8s-leader"];
        assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
        let secret = &s.objects["/api/v1/namespaces/vault-system/secrets/vault-injector-certs"];
        let cert = STANDARD
            .decode(secret["data"]["cert"].as_str().unwrap())
            .unwrap();
        let der = CertificateDer::pem_slice_iter(&cert)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(der.to_vec(), cert_a);
    }
    // The follower keeps following and never writes the webhook configuration.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count(&state, "PATCH", "injector-cfg"), 1);
    assert!(
        count(&state, "PUT", "/leases/vault-k8s-leader") >= 2,
        "the leader renews"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_and_secret_names_come_from_the_flags() {
    // injector.md §6.5.1: the chart passes its own names; nothing is written under vault-k8s's.
    let (api, api_ca, state) = fake_api().await;
    let (_dir, token) = token_file();
    let s = || {
        settings(&[
            "-tls-auto=injector-cfg",
            "-use-leader-elector",
            "-tls-auto-lease=rel-agent-injector-leader",
            "-tls-auto-secret=rel-agent-injector-certs",
        ])
    };
    let a = replica(s(), &api, &api_ca, &token, "pod-a").await;
    let b = replica(s(), &api, &api_ca, &token, "pod-b").await;
    let bundle = published_bundle(&state);
    let ((status_a, cert_a), (status_b, cert_b)) =
        (health(a, &bundle).await, health(b, &bundle).await);
    assert_eq!((status_a, status_b), (204, 204));
    assert_eq!(cert_a, cert_b);
    let s = state.lock().unwrap();
    let ns = "/namespaces/vault-system";
    let lease =
        &s.objects[&format!("/apis/coordination.k8s.io/v1{ns}/leases/rel-agent-injector-leader")];
    assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
    assert!(
        s.objects
            .contains_key(&format!("/api/v1{ns}/secrets/rel-agent-injector-certs"))
    );
    assert!(
        !s.objects
            .keys()
            .any(|k| k.ends_with("/vault-k8s-leader") || k.ends_with("/vault-injector-certs"))
    );
}
