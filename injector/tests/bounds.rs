//! The webhook's bounds against the built binary over real HTTPS (docs/reliability.md, "Bounds"):
//! `-max-connections` makes the excess wait and the injector serves it as soon as a slot frees;
//! `-request-timeout` cuts off a client that sends its headers or its body too slowly, and twice
//! that a client that sends nothing at all after the handshake, so no slow client holds a slot
//! for long.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use rustls_pki_types::pem::PemObject as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_injector::tls::auto::{Bundle, Generator};

/// The request timeout the tests run the injector with.
const TIMEOUT: Duration = Duration::from_secs(2);

struct Injector {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    ca: String,
}

impl Injector {
    fn start(max_connections: usize) -> Injector {
        let dir = tempfile::tempdir().unwrap();
        let b: Bundle = Generator::new()
            .unwrap()
            .leaf(&["127.0.0.1".into()], SystemTime::now())
            .unwrap();
        write(dir.path(), "tls.crt", &b.cert_pem);
        write(dir.path(), "tls.key", &b.key_pem);
        let port = vaultlet_tests::free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"))
            .arg("agent-inject")
            .arg(format!("-listen=127.0.0.1:{port}"))
            .arg(format!(
                "-tls-cert-file={}",
                dir.path().join("tls.crt").display()
            ))
            .arg(format!(
                "-tls-key-file={}",
                dir.path().join("tls.key").display()
            ))
            .arg(format!("-max-connections={max_connections}"))
            .env_clear()
            .envs(TestInjector::new().env())
            .env(
                "AGENT_INJECT_REQUEST_TIMEOUT",
                format!("{}ms", TIMEOUT.as_millis()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "injector did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Injector {
            child,
            addr,
            _dir: dir,
            ca: b.ca_pem,
        }
    }

    async fn tls(&self) -> std::io::Result<TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = TcpStream::connect(self.addr).await?;
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
    }

    /// `GET /health/ready` on a new connection: the status line.
    async fn ready(&self) -> String {
        let mut s = self.tls().await.expect("TLS handshake");
        s.write_all(b"GET /health/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// Reads until the server closes the connection (or `limit` passes): how long that took, and
/// what it sent.
async fn until_closed(s: &mut TlsStream<TcpStream>, limit: Duration) -> (Duration, String) {
    let t0 = Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    (t0.elapsed(), String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_and_are_served_when_a_slot_frees() {
    let inj = Injector::start(3);
    assert_eq!(inj.ready().await, "HTTP/1.1 204 No Content");
    // Three idle connections take every slot.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(inj.tls().await.expect("TLS handshake within the cap"));
    }
    // A fourth is not served while they hold them (well inside the request timeout)…
    let inj = Arc::new(inj);
    let fourth = tokio::spawn({
        let inj = inj.clone();
        async move { inj.ready().await }
    });
    tokio::time::sleep(TIMEOUT / 3).await;
    assert!(
        !fourth.is_finished(),
        "a connection over the cap was served"
    );
    // … and is served at once when they go.
    let t0 = Instant::now();
    held.clear();
    let status = tokio::time::timeout(Duration::from_secs(5), fourth)
        .await
        .expect("the waiting connection was served")
        .unwrap();
    assert_eq!(status, "HTTP/1.1 204 No Content");
    assert!(t0.elapsed() < TIMEOUT, "{:?}", t0.elapsed());
    // Everyone else is served too.
    for _ in 0..5 {
        assert_eq!(inj.ready().await, "HTTP/1.1 204 No Content");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_and_free_their_slot() {
    let inj = Injector::start(2);
    // Silent after the handshake: closed by the header timeout.
    let mut silent = inj.tls().await.unwrap();
    // Headers one byte at a time, never finished.
    let mut loris = inj.tls().await.unwrap();
    let slow = tokio::spawn(async move {
        let t0 = Instant::now();
        for b in b"POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-slow: "
            .iter()
            .cycle()
        {
            if loris.write_all(&[*b]).await.is_err() || loris.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if t0.elapsed() > TIMEOUT * 4 {
                break;
            }
        }
        let (_, sent) = until_closed(&mut loris, Duration::from_millis(100)).await;
        (t0.elapsed(), sent)
    });
    let (took, _) = until_closed(&mut silent, TIMEOUT * 4).await;
    // Measured from when the client saw the handshake end, a little after the server's last
    // byte: hence the margin below twice the timeout.
    assert!(
        took > TIMEOUT * 2 - Duration::from_millis(300) && took < TIMEOUT * 3,
        "an idle connection stayed open {took:?} (limit: twice the request timeout)"
    );
    let (took, _) = slow.await.unwrap();
    assert!(
        took > TIMEOUT - Duration::from_millis(300) && took < TIMEOUT * 2,
        "a slow-header client stayed {took:?}"
    );
    // Both slots are free again.
    assert_eq!(inj.ready().await, "HTTP/1.1 204 No Content");
    assert_eq!(inj.ready().await, "HTTP/1.1 204 No Content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_answered_408() {
    let inj = Injector::start(4);
    let mut s = inj.tls().await.unwrap();
    s.write_all(
        b"POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let (took, answer) = until_closed(&mut s, TIMEOUT * 4).await;
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout"),
        "{answer:?}"
    );
    assert!(
        answer.contains("request not completed within 2s"),
        "{answer:?}"
    );
    assert!(t0.elapsed() >= TIMEOUT && took < TIMEOUT * 2, "{took:?}");
}
