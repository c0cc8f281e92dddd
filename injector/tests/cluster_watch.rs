//! What the injector reads from the cluster, end to end in process: the injector's startup
//! (`run::run_with`) against the API server stand-in (`vaultlet_tests::ApiServer`: HTTPS on
//! loopback, the real API's JSON, lists and watches with bookmarks and 410s), reached through kube
//! with a kubeconfig file. Namespace defaults (injector.md §2.7): a namespace's annotation reaches
//! the patch of a pod that does not set it, through the reflector (also after a change, a closed
//! watch resumed from a bookmark, and a compaction that forces a re-list); the pod's own
//! annotation wins. Escaped pods (injector.md §2.8): the gauge counts a pod annotated for
//! injection without a status, and drops it once it has one.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::{Value, json};
use vaultlet_injector::fixture::TestInjector;
use vaultlet_injector::tls::auto::Generator;
use vaultlet_tests::ApiServer;

const TOKEN: &str = "watch-token";

/// A running replica: its address, the CA its certificate chains to, and its files.
struct Replica {
    addr: SocketAddr,
    ca_pem: String,
    _dir: tempfile::TempDir,
}

/// Starts a replica serving a certificate from files, reaching `api` through a kubeconfig.
async fn replica(api: &ApiServer, extra: &[&str]) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let g = Generator::new().unwrap();
    let leaf = g
        .leaf(&["127.0.0.1".into()], std::time::SystemTime::now())
        .unwrap();
    let (cert, key, kc) = (
        dir.path().join("tls.crt"),
        dir.path().join("tls.key"),
        dir.path().join("kubeconfig"),
    );
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    api.write_kubeconfig(&kc);
    let mut flags = vec![
        "-listen=127.0.0.1:0".to_string(),
        format!("-tls-cert-file={}", cert.display()),
        format!("-tls-key-file={}", key.display()),
        format!("-kubeconfig={}", kc.display()),
        "-telemetry-path=/metrics".to_string(),
    ];
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let s = TestInjector::new().settings(&flags);
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let env = |_: &str| None;
        if let Err(e) = vaultlet_injector::run::run_with(s, Some(tx), &env).await {
            panic!("replica failed: {e}");
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("replica did not start serving")
        .unwrap();
    Replica {
        addr,
        ca_pem: g.ca_pem().to_string(),
        _dir: dir,
    }
}

/// One HTTPS request to the replica; answers the status and the body.
async fn call(r: &Replica, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(r.ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(r.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(
            rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    let (mut send, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(c);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}

/// The roles in the agent configs of the patch the webhook answers for a pod of `namespace`
/// with `annotations`; a refusal panics.
async fn roles_in_patch(r: &Replica, namespace: &str, annotations: Value) -> Vec<String> {
    admit(r, namespace, annotations)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"))
}

/// The roles in the agent configs of the patch, or the refusal's message.
async fn admit(r: &Replica, namespace: &str, annotations: Value) -> Result<Vec<String>, String> {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "namespace": namespace, "operation": "CREATE",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "object": {"metadata": {"name": "app", "annotations": annotations},
                "spec": {"containers": [{"name": "app", "volumeMounts": [{"name": "sa",
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}}}
    });
    let (status, body) = call(r, "POST", "/mutate", serde_json::to_vec(&review).unwrap()).await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    if answer["response"]["allowed"] != true {
        return Err(answer["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string());
    }
    let patch = STANDARD
        .decode(answer["response"]["patch"].as_str().expect("a patch"))
        .unwrap();
    let patch: Value = serde_json::from_slice(&patch).unwrap();
    let mut configs = Vec::new();
    find_env(&patch, "VAULT_CONFIG", &mut configs);
    assert!(!configs.is_empty(), "no agent config in {patch}");
    Ok(configs
        .iter()
        .map(|b64| {
            let cfg: Value = serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap();
            let role = cfg
                .pointer("/auto_auth/method/config/role")
                .or_else(|| cfg.pointer("/auto_auth/method/0/config/role"));
            role.and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no role in {cfg}"))
                .to_string()
        })
        .collect())
}

/// Every `env` value named `name` anywhere in `v`.
fn find_env(v: &Value, name: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("name").and_then(Value::as_str) == Some(name)
                && let Some(s) = m.get("value").and_then(Value::as_str)
            {
                out.push(s.to_string());
            }
            m.values().for_each(|x| find_env(x, name, out));
        }
        Value::Array(a) => a.iter().for_each(|x| find_env(x, name, out)),
        _ => {}
    }
}

/// Polls `f` until it holds (at most 20 s).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let t0 = std::time::Instant::now();
    while !f().await {
        assert!(t0.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn namespace(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "annotations": annotations}})
}

fn wants(role: Option<&str>) -> Value {
    let mut a = json!({"vault.hashicorp.com/agent-inject": "true"});
    if let Some(r) = role {
        a["vault.hashicorp.com/role"] = json!(r);
    }
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_annotation_reaches_the_patch_unless_the_pod_sets_it() {
    let api = ApiServer::start(TOKEN);
    api.create(namespace(
        "shop",
        json!({"vault.hashicorp.com/role": "shop-role", "team": "a"}),
    ));
    api.create(namespace("bare", json!({})));
    let r = replica(&api, &[]).await;
    // The listener opened after the first list: the default applies from the first pod on.
    assert_eq!(
        roles_in_patch(&r, "shop", wants(None)).await,
        ["shop-role", "shop-role"]
    );
    assert_eq!(
        roles_in_patch(&r, "shop", wants(Some("mine"))).await,
        ["mine", "mine"]
    );
    assert_eq!(
        roles_in_patch(&r, "bare", wants(Some("mine"))).await,
        ["mine", "mine"]
    );
    // Reflected with a metadata-only list, then a watch from its version, with bookmarks.
    let reqs = api.requests();
    let lists: Vec<_> = reqs
        .iter()
        .filter(|q| q.path == "/api/v1/namespaces" && !q.query.contains("watch="))
        .collect();
    assert_eq!(lists.len(), 1, "{reqs:?}");
    assert!(
        lists[0].accept.contains("as=PartialObjectMetadataList"),
        "{reqs:?}"
    );
    let watch = reqs
        .iter()
        .find(|q| q.path == "/api/v1/namespaces" && q.query.contains("watch=true"))
        .expect("a namespace watch");
    assert!(
        watch.query.contains("allowWatchBookmarks=true"),
        "{watch:?}"
    );
    assert!(
        watch.accept.contains("as=PartialObjectMetadata"),
        "{watch:?}"
    );
    // No API call per admission: the three reviews above made none.
    let before = api.requests().len();
    roles_in_patch(&r, "shop", wants(None)).await;
    assert_eq!(api.requests().len(), before);

    // A change arrives through the watch.
    api.modify("namespaces", "", "shop", |ns| {
        ns["metadata"]["annotations"]["vault.hashicorp.com/role"] = json!("shop-role-2");
    });
    eventually("the watch delivers the change", || async {
        roles_in_patch(&r, "shop", wants(None)).await == ["shop-role-2", "shop-role-2"]
    })
    .await;

    // Other writes move the version on; a bookmark carries it; a closed watch resumes from it.
    api.create(json!({"kind": "Secret", "metadata": {"name": "s", "namespace": "shop"}}));
    let moved = api.get("secrets", "shop", "s").unwrap()["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    api.close_watches();
    eventually("the watch resumes from the bookmark's version", || async {
        let want = format!("resourceVersion={moved}");
        api.requests().iter().any(|q| {
            q.path == "/api/v1/namespaces"
                && q.query.split('&').any(|p| p == "watch=true")
                && q.query.split('&').any(|p| p == want)
        })
    })
    .await;

    // The history is compacted: the resumed watch gets a 410 and the reflector lists again.
    api.compact();
    api.modify("namespaces", "", "shop", |ns| {
        ns["metadata"]["annotations"]["vault.hashicorp.com/role"] = json!("shop-role-3");
    });
    eventually("a re-list after the 410", || async {
        roles_in_patch(&r, "shop", wants(None)).await == ["shop-role-3", "shop-role-3"]
    })
    .await;
    let lists = api
        .requests()
        .iter()
        .filter(|q| q.path == "/api/v1/namespaces" && !q.query.contains("watch="))
        .count();
    assert!(lists >= 2, "listed again after the 410: {lists}");
    // A deleted namespace gives nothing any more.
    api.delete("namespaces", "", "shop");
    eventually("the deletion arrives", || async {
        admit(&r, "shop", wants(None))
            .await
            .is_err_and(|e| e.contains("no Vault role found"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_defaults_can_be_turned_off() {
    let api = ApiServer::start(TOKEN);
    api.create(namespace(
        "shop",
        json!({"vault.hashicorp.com/role": "shop-role"}),
    ));
    let r = replica(
        &api,
        &["-namespace-defaults=false", "-watch-escaped-pods=false"],
    )
    .await;
    let e = admit(&r, "shop", wants(None)).await.unwrap_err();
    assert!(e.contains("no Vault role found"), "{e}");
    assert!(api.requests().is_empty(), "{:?}", api.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_rbac_the_injector_starts_at_once_and_serves_without_defaults() {
    // vault-helm's RBAC, say: namespaces and pods are forbidden.
    let api = ApiServer::start(TOKEN);
    api.create(namespace(
        "shop",
        json!({"vault.hashicorp.com/role": "shop-role"}),
    ));
    api.forbid("namespaces");
    api.forbid("pods");
    let t0 = std::time::Instant::now();
    let r = replica(&api, &[]).await;
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "start-up waited {:?} for a list it may not make",
        t0.elapsed()
    );
    let e = admit(&r, "shop", wants(None)).await.unwrap_err();
    assert!(e.contains("no Vault role found"), "{e}");
    assert_eq!(
        roles_in_patch(&r, "shop", wants(Some("mine"))).await,
        ["mine", "mine"]
    );
}

fn pod(ns: &str, name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": ns, "annotations": annotations},
           "spec": {"containers": [{"name": "app", "image": "app"}]}})
}

async fn escaped_gauge(r: &Replica) -> String {
    let (status, body) = call(r, "GET", "/metrics", Vec::new()).await;
    assert_eq!(status, 200);
    String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("vaultlet_injector_escaped_pods{"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_escaped_pods_gauge_counts_a_pod_until_it_has_its_status() {
    let api = ApiServer::start(TOKEN);
    let done = json!({"vault.hashicorp.com/agent-inject": "true",
                      "vault.hashicorp.com/agent-inject-status": "injected"});
    api.create(pod("shop", "escaped", wants(None)));
    api.create(pod("shop", "injected", done.clone()));
    api.create(pod("shop", "plain", json!({"app": "x"})));
    let r = replica(&api, &[]).await;
    eventually("the escaped pod is counted", || async {
        escaped_gauge(&r).await == r#"vaultlet_injector_escaped_pods{namespace="shop"} 1"#
    })
    .await;
    // A second one, in another namespace, from the watch.
    api.create(pod("web", "late", json!({"openbao.org/agent-inject": "1"})));
    eventually("the new escaped pod is counted", || async {
        let g = escaped_gauge(&r).await;
        g.contains(r#"vaultlet_injector_escaped_pods{namespace="shop"} 1"#)
            && g.contains(r#"vaultlet_injector_escaped_pods{namespace="web"} 1"#)
    })
    .await;
    // It gets its status: the series drops; the other goes with its pod.
    api.modify("pods", "shop", "escaped", |p| {
        p["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"] = json!("injected");
    });
    api.delete("pods", "web", "late");
    eventually("the gauge drops", || async {
        escaped_gauge(&r).await.is_empty()
    })
    .await;
    // Pods are watched as metadata only.
    let reqs = api.requests();
    let pods: Vec<_> = reqs.iter().filter(|q| q.path == "/api/v1/pods").collect();
    assert!(pods.len() >= 2, "{reqs:?}");
    assert!(
        pods.iter()
            .all(|q| q.accept.contains("as=PartialObjectMetadata")),
        "{pods:?}"
    );
}
