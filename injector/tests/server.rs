//! The injector as a process: the built binary on 127.0.0.1 with certificate files, real
//! AdmissionReviews over real HTTPS (the client verifies the server against the test CA), the
//! routes and their status codes, metrics, certificate rotation, startup errors and signals.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_injector::tls::auto::{Bundle, Generator};
use vaultlet_shared::annotations::InjectorDefaults;

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Injector {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Injector {
    fn start(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Injector {
        let port = free_port();
        let log = dir.join(format!("injector-{port}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"));
        cmd.arg("agent-inject")
            .arg(format!("-listen=127.0.0.1:{port}"))
            .arg(format!("-tls-cert-file={}", dir.join("tls.crt").display()))
            .arg(format!("-tls-key-file={}", dir.join("tls.key").display()))
            .args(extra)
            .env_clear()
            .envs(TestInjector::new().env())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap());
        let child = cmd.spawn().unwrap();
        let mut inj = Injector {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            log,
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(inj.addr).is_err() {
            if let Some(s) = inj.child.try_wait().unwrap() {
                panic!("injector exited {s}: {}", inj.log_text());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "injector did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        inj
    }

    fn log_text(&self) -> String {
        let mut s = String::new();
        for p in [self.log.clone(), self.log.with_extension("err")] {
            if let Ok(mut f) = std::fs::File::open(p) {
                let _ = f.read_to_string(&mut s);
            }
        }
        s
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "injector did not exit: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_bundle(dir: &Path, b: &Bundle) {
    std::fs::write(dir.join("tls.crt"), &b.cert_pem).unwrap();
    std::fs::write(dir.join("tls.key"), &b.key_pem).unwrap();
}

struct Reply {
    status: u16,
    body: Vec<u8>,
    /// The DER of the certificate the server presented.
    server_cert: Vec<u8>,
    alpn: Option<Vec<u8>>,
}

/// One request on a fresh TLS connection that trusts only `ca_pem`.
fn https(
    addr: SocketAddr,
    ca_pem: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
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
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let (_, conn) = tls.get_ref();
        let server_cert = conn.peer_certificates().unwrap()[0].to_vec();
        let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
        let (mut send, c) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(c);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = send
            .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            body,
            server_cert,
            alpn,
        }
    })
}

fn setup() -> (tempfile::TempDir, Generator, Bundle) {
    let dir = tempfile::tempdir().unwrap();
    let g = Generator::new().unwrap();
    let b = g
        .leaf(&["127.0.0.1".into(), "localhost".into()], SystemTime::now())
        .unwrap();
    write_bundle(dir.path(), &b);
    (dir, g, b)
}

fn settings() -> InjectorDefaults {
    TestInjector::new().defaults()
}

#[test]
fn mutate_over_https_answers_what_the_handler_answers() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(dir.path(), &["2>&1"], &[]);
    for fixture in ["basic", "consul-client", "job-no-volumes"] {
        let body = data(&format!("{fixture}.review.json"));
        let r = https(
            inj.addr,
            &b.ca_pem,
            "POST",
            "/mutate",
            Some("application/json"),
            body.clone().into_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let want: Value =
            serde_json::from_slice(&review(body.as_bytes(), &settings()).unwrap()).unwrap();
        let got: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(got, want, "{fixture}");
        assert!(got["response"]["patch"].is_string(), "{fixture}: {got}");
    }
}

#[test]
fn routes_status_codes_and_limits() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(dir.path(), &[], &[]);
    let ca = &b.ca_pem;
    let r = https(inj.addr, ca, "GET", "/health/ready", None, vec![]);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(
        https(inj.addr, ca, "POST", "/health/ready", None, vec![]).status,
        204
    );
    assert_eq!(
        https(inj.addr, ca, "GET", "/nope", None, vec![]).status,
        404
    );
    // No telemetry path configured: no metrics route.
    assert_eq!(
        https(inj.addr, ca, "GET", "/metrics", None, vec![]).status,
        404
    );
    let r = https(
        inj.addr,
        ca,
        "POST",
        "/mutate",
        Some("text/plain"),
        b"{}".to_vec(),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "Invalid content-type: \"text/plain\"\n"
    );
    let r = https(
        inj.addr,
        ca,
        "POST",
        "/mutate",
        Some("application/json"),
        vec![],
    );
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).into_owned()),
        (400, "Empty request body\n".into())
    );
    let r = https(
        inj.addr,
        ca,
        "POST",
        "/mutate",
        Some("application/json"),
        b"{not json".to_vec(),
    );
    assert_eq!(r.status, 500);
    assert!(String::from_utf8_lossy(&r.body).starts_with("error decoding admission request: "));
    let r = https(
        inj.addr,
        ca,
        "POST",
        "/mutate",
        Some("application/json"),
        br#"{"kind":"AdmissionReview"}"#.to_vec(),
    );
    assert_eq!(r.status, 400);
    let big = vec![b' '; 9 << 20];
    let r = https(
        inj.addr,
        ca,
        "POST",
        "/mutate",
        Some("application/json"),
        big,
    );
    assert_eq!(r.status, 413);
    // Still serving after all that.
    assert_eq!(
        https(inj.addr, ca, "GET", "/health/ready", None, vec![]).status,
        204
    );
}

#[test]
fn http2_is_offered_by_alpn() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(dir.path(), &[], &[]);
    // A client that offers no ALPN gets HTTP/1.1.
    let r = https(inj.addr, &b.ca_pem, "GET", "/health/ready", None, vec![]);
    assert_eq!((r.status, r.alpn), (204, None));
    // curl offers h2 and must get it (the API server speaks HTTP/2 to webhooks).
    std::fs::write(dir.path().join("ca.pem"), &b.ca_pem).unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "--http2",
            "--cacert",
        ])
        .arg(dir.path().join("ca.pem"))
        .arg(format!(
            "https://127.0.0.1:{}/health/ready",
            inj.addr.port()
        ))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 204",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_use_upstreams_names() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(dir.path(), &["-telemetry-path=/metrics"], &[]);
    let ca = &b.ca_pem;
    let body = data("basic.review.json");
    assert_eq!(
        https(
            inj.addr,
            ca,
            "POST",
            "/mutate",
            Some("application/json"),
            body.into_bytes()
        )
        .status,
        200
    );
    let mut refused: Value = serde_json::from_str(&data("basic.review.json")).unwrap();
    refused["request"]["namespace"] = Value::from("kube-system");
    assert_eq!(
        https(
            inj.addr,
            ca,
            "POST",
            "/mutate",
            Some("application/json"),
            refused.to_string().into_bytes()
        )
        .status,
        200
    );
    let r = https(inj.addr, ca, "GET", "/metrics", None, vec![]);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    let ns =
        serde_json::from_str::<Value>(&data("basic.review.json")).unwrap()["request"]["namespace"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(
        text.contains(&format!(
            "vault_agent_injector_injections_by_namespace_total{{namespace=\"{ns}\",injection_type=\"init_and_sidecar\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"kube-system\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("vault_agent_injector_request_processing_duration_ms_count 2"),
        "{text}"
    );
    assert!(
        text.contains("vault_agent_injector_request_queue_length 0"),
        "{text}"
    );
}

#[test]
fn rotated_certificate_files_are_served_to_new_connections() {
    let (dir, g, b) = setup();
    let inj = Injector::start(dir.path(), &[], &[]);
    let first = https(inj.addr, &b.ca_pem, "GET", "/health/ready", None, vec![]).server_cert;
    let b2 = g.leaf(&["127.0.0.1".into()], SystemTime::now()).unwrap();
    assert_ne!(b.cert_pem, b2.cert_pem);
    // A half-written pair (new cert, old key) must not replace the working one.
    std::fs::write(dir.path().join("tls.crt"), &b2.cert_pem).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        https(inj.addr, &b.ca_pem, "GET", "/health/ready", None, vec![]).status,
        204
    );
    std::fs::write(dir.path().join("tls.key"), &b2.key_pem).unwrap();
    let t0 = Instant::now();
    loop {
        let r = https(inj.addr, &b.ca_pem, "GET", "/health/ready", None, vec![]);
        assert_eq!(r.status, 204);
        if r.server_cert != first {
            let want = CertificateDer::pem_slice_iter(b2.cert_pem.as_bytes())
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(r.server_cert, want.to_vec());
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the new certificate was not picked up: {}",
            inj.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn startup_errors_exit_1_with_upstreams_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"))
        .args(["agent-inject", "-listen=127.0.0.1:0"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No Vault service configured"));
    let out = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"))
        .args([
            "agent-inject",
            "-vault-address=http://v",
            "-tls-auto=vault-agent-injector-cfg",
        ])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    // Auto-TLS with a webhook configuration needs the Kubernetes API: out of a cluster, upstream's
    // startup error.
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Error loading in-cluster K8S config: ")
            && err.contains("KUBERNETES_SERVICE_HOST"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"))
        .arg("version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("vaultlet-injector "));
}

#[test]
fn sigterm_and_sigint_drain_and_exit_0() {
    for sig in ["-TERM", "-INT"] {
        let (dir, _g, b) = setup();
        let mut inj = Injector::start(dir.path(), &["-shutdown-delay=1s"], &[]);
        assert_eq!(
            https(inj.addr, &b.ca_pem, "GET", "/health/ready", None, vec![]).status,
            204
        );
        inj.signal(sig);
        let st = inj.wait(Duration::from_secs(15));
        assert!(st.success(), "{sig}: {st}: {}", inj.log_text());
    }
}

#[test]
fn auto_tls_without_a_webhook_configuration_serves_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"))
        .args([
            "agent-inject".to_string(),
            format!("-listen=127.0.0.1:{port}"),
            "-tls-auto-hosts=127.0.0.1".into(),
        ])
        .env_clear()
        .envs(TestInjector::new().env())
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    // The CA is the process's own; fetch the chain unverified and check the leaf's subject.
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "127.0.0.1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Agent Inject Service"), "{text}");
    assert!(text.contains("Agent Inject CA"), "{text}");
}

/// Lays out `dir` the way the kubelet mounts a Secret: `tls.crt -> ..data/tls.crt`,
/// `..data -> ..<version>/`, and swaps versions by renaming a new `..data` symlink over the old
/// one (one atomic step, no write to `tls.crt` itself).
fn secret_volume_version(dir: &Path, version: &str, b: &Bundle) {
    let v = dir.join(format!("..{version}"));
    std::fs::create_dir(&v).unwrap();
    write_bundle(&v, b);
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(format!("..{version}"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key"] {
        let link = dir.join(f);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(format!("..data/{f}"), &link).unwrap();
        }
    }
}

#[test]
fn secret_volume_symlink_swap_rotates_without_dropping_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let g = Generator::new().unwrap();
    let b1 = g.leaf(&["127.0.0.1".into()], SystemTime::now()).unwrap();
    let b2 = g.leaf(&["127.0.0.1".into()], SystemTime::now()).unwrap();
    secret_volume_version(dir.path(), "2026_01", &b1);
    let inj = Injector::start(dir.path(), &[], &[]);
    let der = |b: &Bundle| {
        CertificateDer::pem_slice_iter(b.cert_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
            .to_vec()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A keep-alive connection opened before the rotation.
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(
                CertificateDer::pem_slice_iter(b1.ca_pem.as_bytes())
                    .next()
                    .unwrap()
                    .unwrap(),
            )
            .unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(inj.addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(
                rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        assert_eq!(
            tls.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
            der(&b1)
        );
        let (mut send, c) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(c);
        let get = || {
            hyper::Request::builder()
                .uri("/health/ready")
                .header("host", "127.0.0.1")
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        assert_eq!(send.send_request(get()).await.unwrap().status(), 204);

        secret_volume_version(dir.path(), "2026_02", &b2);
        std::fs::remove_dir_all(dir.path().join("..2026_01")).unwrap();
        let t0 = Instant::now();
        loop {
            // A fresh connection, from a thread of its own (`https` runs its own runtime).
            let (addr, ca) = (inj.addr, b1.ca_pem.clone());
            let r =
                std::thread::spawn(move || https(addr, &ca, "GET", "/health/ready", None, vec![]))
                    .join()
                    .unwrap();
            if r.server_cert == der(&b2) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the swapped certificate was not picked up: {}",
                inj.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The connection opened before the rotation still works.
        assert_eq!(send.send_request(get()).await.unwrap().status(), 204);
    });
}

#[test]
fn json_logs_and_no_pod_spec_at_info() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(dir.path(), &["-log-format=json"], &[]);
    let body = data("basic.review.json");
    let r = https(
        inj.addr,
        &b.ca_pem,
        "POST",
        "/mutate",
        Some("application/json"),
        body.into_bytes(),
    );
    assert_eq!(r.status, 200);
    let (log, lines) = json_log_once(&inj, "injected");
    let injected = lines
        .iter()
        .find(|l| {
            l["@message"]
                .as_str()
                .is_some_and(|m| m.contains("injected"))
        })
        .unwrap_or_else(|| panic!("{log}"));
    let review: Value = serde_json::from_str(&data("basic.review.json")).unwrap();
    assert_eq!(
        injected["namespace"], review["request"]["namespace"],
        "{injected}"
    );
    assert_eq!(injected["uid"], review["request"]["uid"], "{injected}");
    // The pod's containers (images, env) never reach the info log.
    let image = review["request"]["object"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap();
    assert!(!log.contains(image), "{log}");
}

/// The injector's JSON log once it contains `needle` (or after 5 s), and its lines parsed.
fn json_log_once(inj: &Injector, needle: &str) -> (String, Vec<Value>) {
    let t0 = Instant::now();
    let log = loop {
        let log = inj.log_text();
        if log.contains(needle) || t0.elapsed() > Duration::from_secs(5) {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let lines = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (log, lines)
}

#[test]
fn every_line_logged_while_handling_a_review_names_it() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(dir.path(), &["-log-format=json"], &[]);
    let post = |uid: &str, namespace: &str, metadata: Value| {
        let review = serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "namespace": namespace,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "object": {"metadata": metadata, "spec": {"containers": [{"name": "app",
                    "volumeMounts": [{"name": "sa",
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}]}}}});
        let r = https(
            inj.addr,
            &b.ca_pem,
            "POST",
            "/mutate",
            Some("application/json"),
            serde_json::to_vec(&review).unwrap(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    };
    // Refused: the answer's line.
    post(
        "u-refused",
        "team-a",
        serde_json::json!({"generateName": "web-",
            "annotations": {"vault.hashicorp.com/agent-inject": "yes"}}),
    );
    // Injected, and the pipeline itself logs (a telemetry value of the wrong type).
    post(
        "u-telemetry",
        "team-b",
        serde_json::json!({"name": "api-0", "annotations": {
            "vault.hashicorp.com/agent-inject": "true", "vault.hashicorp.com/role": "r",
            "vault.hashicorp.com/agent-telemetry-statsd-address": "123"}}),
    );
    let (log, lines) = json_log_once(&inj, "injected the agent");
    let with = |needle: &str| -> Vec<&Value> {
        let found: Vec<&Value> = lines
            .iter()
            .filter(|l| l["@message"].as_str().is_some_and(|m| m.contains(needle)))
            .collect();
        assert!(!found.is_empty(), "no line with {needle:?}: {log}");
        found
    };
    for l in with("refused the pod") {
        assert_eq!(l["uid"], "u-refused", "{l}");
        assert_eq!(l["namespace"], "team-a", "{l}");
        assert_eq!(l["kind"], "Pod", "{l}");
        assert_eq!(l["pod"], "web-", "{l}");
    }
    for l in with("agent-telemetry value has the wrong type")
        .into_iter()
        .chain(with("injected the agent"))
    {
        assert_eq!(l["uid"], "u-telemetry", "{l}");
        assert_eq!(l["namespace"], "team-b", "{l}");
        assert_eq!(l["pod"], "api-0", "{l}");
    }
}

/// The checks at admission (injector.md §2.6) through the real server: a broken template is
/// refused, misspelt keys come back as `response.warnings`, and both are counted by reason and
/// logged in the review's span.
#[test]
fn admission_checks_refuse_and_warn_over_https() {
    let (dir, _g, b) = setup();
    let inj = Injector::start(
        dir.path(),
        &["-telemetry-path=/metrics", "-log-format=json"],
        &[],
    );
    let post = |fixture: &str| -> Value {
        let body = data(fixture);
        let r = https(
            inj.addr,
            &b.ca_pem,
            "POST",
            "/mutate",
            Some("application/json"),
            body.clone().into_bytes(),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let got: Value = serde_json::from_slice(&r.body).unwrap();
        let want: Value =
            serde_json::from_slice(&review(body.as_bytes(), &settings()).unwrap()).unwrap();
        assert_eq!(got, want, "{fixture}");
        got["response"].clone()
    };
    let refused = post("checks-broken-template.review.json");
    assert_eq!(refused["allowed"], false);
    let message = refused["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "error validating agent configuration: annotation vault.hashicorp.com/agent-inject-template-db: template: :1: "
        ),
        "{message}"
    );
    let warned = post("checks-warnings.review.json");
    assert_eq!(warned["allowed"], true);
    assert!(warned["patch"].is_string());
    let warnings: Vec<&str> = warned["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.contains(
            &"unknown annotation vault.hashicorp.com/agent-inject-secrets-cfg; did you mean agent-inject-secret-cfg?"
        ),
        "{warnings:?}"
    );
    let text = String::from_utf8(https(inj.addr, &b.ca_pem, "GET", "/metrics", None, vec![]).body)
        .unwrap();
    for line in [
        "vaultlet_injector_refusals_total{reason=\"template\"} 1",
        // One unknown key in the refused pod, three in the admitted one.
        "vaultlet_injector_admission_warnings_total{reason=\"unknown_key\"} 4",
        "vaultlet_injector_admission_warnings_total{reason=\"no_effect\"} 2",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // The last line the two reviews log.
    let (log, lines) = json_log_once(&inj, "injected the agent");
    let refusal = lines
        .iter()
        .find(|l| l["@message"] == "refused the pod")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(refusal["reason"], "template", "{refusal}");
    assert_eq!(
        refusal["uid"], "c0ffee00-0000-4000-8000-000000000001",
        "{refusal}"
    );
    assert_eq!(refusal["namespace"], "app", "{refusal}");
    let warning = lines
        .iter()
        .find(|l| {
            l["@message"] == "annotation warning"
                && l["uid"] == "c0ffee00-0000-4000-8000-000000000002"
        })
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(warning["reason"], "unknown_key", "{warning}");
    assert_eq!(warning["namespace"], "app", "{warning}");
}
