//! The injector as a cluster component, against the built binary over real HTTPS: the health
//! endpoints before and after the serving certificate loads and during the shutdown delay
//! (injector.md §6.3.1); the delay itself and an in-flight request finishing after it
//! (injector.md §6.3.2); `:PORT` answering on IPv6 and IPv4 loopback (injector.md §6.3.3); the log
//! lines' shape (injector.md §6.7: hclog JSON keys, text without colour when not on a terminal and
//! with it on one, refusals and warnings naming the request and the reason); the metrics' Go text
//! format (injector.md §6.6); `version`, `-version`, `--version`, help.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls_pki_types::pem::PemObject as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_injector::tls::auto::{Bundle, Generator};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_vaultlet-injector")
}

/// A certificate for both loopback addresses, from a fresh test CA.
fn bundle() -> Bundle {
    Generator::new()
        .unwrap()
        .leaf(
            &["127.0.0.1".into(), "::1".into(), "localhost".into()],
            SystemTime::now(),
        )
        .unwrap()
}

fn write_bundle(dir: &Path, b: &Bundle) {
    std::fs::write(dir.join("ca.pem"), &b.ca_pem).unwrap();
    // Key first: the watcher loads the pair once both match.
    std::fs::write(dir.join("tls.key"), &b.key_pem).unwrap();
    std::fs::write(dir.join("tls.crt"), &b.cert_pem).unwrap();
}

struct Injector {
    child: Child,
    /// Where to connect (loopback).
    addr: SocketAddr,
    dir: PathBuf,
    log: PathBuf,
}

impl Injector {
    /// Starts the injector on `listen` (`{port}` is replaced by a free port) with the
    /// certificate files of `dir` (which may not exist yet), stderr to a file.
    fn start(dir: &Path, listen: &str, extra: &[&str]) -> Injector {
        let port = vaultlet_tests::free_port();
        let log = dir.join(format!("injector-{port}.log"));
        let child = Command::new(bin())
            .arg("agent-inject")
            .arg(format!(
                "-listen={}",
                listen.replace("{port}", &port.to_string())
            ))
            .arg(format!("-tls-cert-file={}", dir.join("tls.crt").display()))
            .arg(format!("-tls-key-file={}", dir.join("tls.key").display()))
            .args(extra)
            .env_clear()
            .envs(TestInjector::new().env())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut inj = Injector {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            dir: dir.to_path_buf(),
            log,
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(inj.addr).is_err() {
            if let Some(s) = inj.child.try_wait().unwrap() {
                panic!("injector exited {s}: {}", inj.log_text());
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "injector did not listen: {}",
                inj.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        inj
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log once it contains `needle` (or after 5 s).
    fn log_once(&self, needle: &str) -> String {
        let t0 = Instant::now();
        loop {
            let log = self.log_text();
            if log.contains(needle) || t0.elapsed() > Duration::from_secs(5) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// `curl` on `url_host` (`127.0.0.1` or `[::1]`): status code and body. `verify` checks the
    /// server against the test CA; otherwise any certificate is taken (`-k`).
    fn curl(&self, url_host: &str, method: &str, path: &str, verify: bool) -> (u16, String) {
        let url = format!("https://{url_host}:{}{path}", self.addr.port());
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-o", "-", "-w", "\n%{http_code}"]);
        if verify {
            cmd.arg("--cacert").arg(self.dir.join("ca.pem"));
        } else {
            cmd.arg("-k");
        }
        let out = cmd.arg(url).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.curl("127.0.0.1", "GET", path, true)
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS connection to `addr` that trusts only `ca_pem`.
async fn tls(addr: SocketAddr, ca_pem: &str) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = rustls_pki_types::ServerName::from(addr.ip());
    tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
}

#[test]
fn health_endpoints_before_and_after_the_certificate_loads() {
    let dir = tempfile::tempdir().unwrap();
    // No certificate files yet (cert-manager has not issued them).
    let inj = Injector::start(dir.path(), "127.0.0.1:{port}", &[]);
    // A placeholder certificate nobody trusts answers the probes (kubelet does not verify).
    assert_eq!(
        inj.curl("127.0.0.1", "GET", "/livez", false),
        (200, "ok\n".into())
    );
    assert_eq!(
        inj.curl("127.0.0.1", "GET", "/healthz", false),
        (200, "ok\n".into())
    );
    assert_eq!(
        inj.curl("127.0.0.1", "GET", "/readyz", false),
        (503, "not ready: no serving certificate loaded yet\n".into())
    );
    assert_eq!(inj.curl("127.0.0.1", "GET", "/health/ready", false).0, 503);
    let b = bundle();
    std::fs::write(dir.path().join("ca.pem"), &b.ca_pem).unwrap();
    // A client that verifies (the API server) does not accept the placeholder.
    assert_eq!(inj.get("/livez").0, 0, "{}", inj.log_text());
    write_bundle(dir.path(), &b);
    let t0 = Instant::now();
    while inj.get("/readyz") != (200, "ok\n".into()) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "not ready after the files were written: {}",
            inj.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(inj.get("/livez"), (200, "ok\n".into()));
    assert_eq!(inj.get("/health/ready"), (204, String::new()));
    assert_eq!(inj.curl("127.0.0.1", "POST", "/health/ready", true).0, 204);
    assert_eq!(inj.curl("127.0.0.1", "HEAD", "/readyz", true).0, 200);
}

#[test]
fn sigterm_keeps_serving_for_the_delay_then_drains_the_request_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let b = bundle();
    write_bundle(dir.path(), &b);
    let delay = Duration::from_secs(3);
    let mut inj = Injector::start(dir.path(), "127.0.0.1:{port}", &["-shutdown-delay=3s"]);
    assert_eq!(inj.get("/readyz").0, 200);
    let review = data("basic.review.json");
    let (head, tail) = review.as_bytes().split_at(review.len() / 2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A request in flight: headers and half the body sent before the signal.
    let mut conn = rt.block_on(async {
        let mut s = tls(inj.addr, &b.ca_pem).await.unwrap();
        let headers = format!(
            "POST /mutate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            review.len()
        );
        s.write_all(headers.as_bytes()).await.unwrap();
        s.write_all(head).await.unwrap();
        s.flush().await.unwrap();
        s
    });
    let t0 = Instant::now();
    inj.signal("-TERM");
    // During the delay: not ready, still live, still injecting on new connections.
    let t_ready = Instant::now();
    loop {
        let (code, body) = inj.get("/readyz");
        if code == 503 {
            assert_eq!(body, "not ready: shutting down\n");
            break;
        }
        assert!(t_ready.elapsed() < Duration::from_secs(1), "still ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(inj.get("/health/ready").0, 503);
    assert_eq!(inj.get("/livez"), (200, "ok\n".into()));
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.path().join("ca.pem"))
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(format!(
            "@{}/tests/data/basic.review.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(format!("https://127.0.0.1:{}/mutate", inj.addr.port()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    assert!(
        t0.elapsed() < delay,
        "the checks above took longer than the delay"
    );
    assert!(inj.exited().is_none(), "exited during the delay");
    // After the delay: no new connections...
    let t_closed = Instant::now();
    while std::net::TcpStream::connect(inj.addr).is_ok() {
        assert!(
            t_closed.elapsed() < Duration::from_secs(5),
            "still accepting after the delay: {}",
            inj.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        t0.elapsed() >= delay,
        "stopped accepting {:?} after the signal, before the delay",
        t0.elapsed()
    );
    // ...but the request in flight is answered.
    let answer = rt.block_on(async {
        conn.write_all(tail).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    });
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["response"]["allowed"], true, "{body}");
    let t_exit = Instant::now();
    let status = loop {
        if let Some(s) = inj.exited() {
            break s;
        }
        assert!(t_exit.elapsed() < Duration::from_secs(10), "did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", inj.log_text());
}

#[test]
fn no_delay_when_it_is_zero_and_a_second_signal_cuts_it_short() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &bundle());
    for (extra, signals) in [
        (&["-shutdown-delay=0"][..], &["-TERM"][..]),
        (&["-shutdown-delay=1m"], &["-INT", "-INT"]),
    ] {
        let mut inj = Injector::start(dir.path(), "127.0.0.1:{port}", extra);
        assert_eq!(inj.get("/readyz").0, 200);
        inj.signal(signals[0]);
        let t0 = Instant::now();
        if let Some(second) = signals.get(1) {
            // The first signal is handled (the delay has begun) before the second is sent.
            let log = inj.log_once("shutdown requested");
            assert!(log.contains("shutdown requested"), "{log}");
            inj.signal(second);
        }
        let status = loop {
            if let Some(s) = inj.exited() {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(3),
                "{extra:?}: did not exit: {}",
                inj.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
    }
}

#[test]
fn colon_port_answers_on_ipv6_and_ipv4_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &bundle());
    let inj = Injector::start(dir.path(), ":{port}", &[]);
    assert_eq!(
        inj.curl("127.0.0.1", "GET", "/livez", true),
        (200, "ok\n".into())
    );
    assert_eq!(
        inj.curl("[::1]", "GET", "/livez", true),
        (200, "ok\n".into())
    );
    let log = inj.log_once("Starting handler");
    assert!(
        log.contains(&format!("address=[::]:{}", inj.addr.port())),
        "{log}"
    );
    // An explicit address is bound as given: IPv4 loopback only.
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &bundle());
    let inj = Injector::start(dir.path(), "127.0.0.1:{port}", &[]);
    assert_eq!(inj.curl("127.0.0.1", "GET", "/livez", true).0, 200);
    assert_eq!(inj.curl("[::1]", "GET", "/livez", true).0, 0);
}

/// POSTs the review fixture `name`; the answer's status.
fn post(inj: &Injector, name: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(inj.dir.join("ca.pem"))
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(format!("@{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR")))
        .arg(format!("https://127.0.0.1:{}/mutate", inj.addr.port()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

const REFUSED_UID: &str = "c0ffee00-0000-4000-8000-000000000001";
const WARNED_UID: &str = "c0ffee00-0000-4000-8000-000000000002";

#[test]
fn json_logs_are_hclog_shaped_and_name_the_request_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &bundle());
    let inj = Injector::start(dir.path(), "127.0.0.1:{port}", &["-log-format=json"]);
    assert_eq!(post(&inj, "checks-broken-template.review.json"), 200);
    assert_eq!(post(&inj, "checks-warnings.review.json"), 200);
    let log = inj.log_once("injected the agent");
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for l in &lines {
        for key in ["@level", "@message", "@module", "@timestamp"] {
            assert!(l[key].is_string(), "{key} missing: {l}");
        }
        assert!(
            ["trace", "debug", "info", "warn", "error"].contains(&l["@level"].as_str().unwrap()),
            "{l}"
        );
        assert_eq!(l["@module"], "handler", "{l}");
        let ts = l["@timestamp"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "{ts}"
        );
    }
    let refusal = lines
        .iter()
        .find(|l| l["@message"] == "refused the pod")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(refusal["@level"], "warn");
    assert_eq!(refusal["uid"], REFUSED_UID, "{refusal}");
    assert_eq!(refusal["namespace"], "app", "{refusal}");
    assert_eq!(refusal["kind"], "Pod", "{refusal}");
    assert_eq!(refusal["reason"], "template", "{refusal}");
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .starts_with("error validating agent configuration: annotation vault.hashicorp.com/agent-inject-template-db: template: "),
        "{refusal}"
    );
    let warnings: Vec<&Value> = lines
        .iter()
        .filter(|l| l["@message"] == "annotation warning" && l["uid"] == WARNED_UID)
        .collect();
    assert!(!warnings.is_empty(), "{log}");
    for w in warnings {
        assert_eq!(w["@level"], "warn", "{w}");
        assert_eq!(w["namespace"], "app", "{w}");
        assert!(w["reason"].is_string() && w["warning"].is_string(), "{w}");
    }
    let injected = lines
        .iter()
        .find(|l| l["@message"] == "injected the agent")
        .unwrap();
    assert_eq!(injected["uid"], WARNED_UID);
    assert!(injected["init"].is_boolean(), "{injected}");
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ [LEVEL] handler: `, as hclog writes a line.
fn is_hclog_text_line(l: &str) -> bool {
    let b = l.as_bytes();
    let ts_ok = b.len() > 25
        && b[..24].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    ts_ok
        && [
            " [TRACE] handler: ",
            " [DEBUG] handler: ",
            " [INFO]  handler: ",
            " [WARN]  handler: ",
            " [ERROR] handler: ",
        ]
        .iter()
        .any(|tag| l[24..].starts_with(tag))
}

#[test]
fn text_logs_are_hclog_lines_without_colour_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &bundle());
    let inj = Injector::start(dir.path(), "127.0.0.1:{port}", &[]);
    assert_eq!(post(&inj, "checks-broken-template.review.json"), 200);
    let log = inj.log_once("refused the pod");
    assert!(!log.contains('\x1b'), "ANSI codes in a file: {log:?}");
    for l in log.lines() {
        assert!(is_hclog_text_line(l), "{l:?}");
    }
    let refusal = log.lines().find(|l| l.contains("refused the pod")).unwrap();
    assert!(
        refusal.contains(&format!(
            " [WARN]  handler: refused the pod: uid={REFUSED_UID} namespace=app kind=Pod pod="
        )),
        "{refusal}"
    );
    assert!(
        refusal.contains(" reason=template error=\"error validating agent configuration: "),
        "{refusal}"
    );
}

#[test]
fn text_logs_are_coloured_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no `script` to give the injector a terminal");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // stdin, stdout and stderr on a pseudo-terminal; the injector exits at once (no Vault
    // address), after logging nothing, so log through the startup warning of -tls-min-version.
    let typescript = dir.path().join("typescript");
    let cmd = format!(
        "{} agent-inject -vault-address=http://v -listen=127.0.0.1:0 -tls-min-version=tls10 -tls-cert-file=/nonexistent -tls-key-file=/nonexistent -shutdown-delay=0 & sleep 1; kill $!",
        bin()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd])
        .arg(&typescript)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&typescript).unwrap_or_default()
        + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\x1b[93m") && text.contains("[WARN]  handler: -tls-min-version=tls10"),
        "{text:?}"
    );
}

#[test]
fn metrics_are_written_as_gos_client_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &bundle());
    let inj = Injector::start(
        dir.path(),
        "127.0.0.1:{port}",
        &["-telemetry-path=/metrics"],
    );
    assert_eq!(post(&inj, "basic.review.json"), 200);
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "--cacert"])
        .arg(dir.path().join("ca.pem"))
        .arg(format!("https://127.0.0.1:{}/metrics", inj.addr.port()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{text}"
    );
    for line in [
        "vault_agent_injector_request_processing_duration_ms_bucket{le=\"5\"} ",
        "vault_agent_injector_request_processing_duration_ms_bucket{le=\"10000\"} 1",
        "vault_agent_injector_request_processing_duration_ms_bucket{le=\"+Inf\"} 1",
        "# TYPE vault_agent_injector_injections_by_namespace_total counter",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_start_time_seconds gauge",
        "# TYPE process_open_fds gauge",
        "# TYPE process_max_fds gauge",
        "# TYPE process_virtual_memory_bytes gauge",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    assert!(!text.contains("# EOF"), "{text}");
}

#[test]
fn version_in_every_form_and_help_for_every_flag() {
    let want = format!("vaultlet-injector {}\n", env!("CARGO_PKG_VERSION"));
    for args in [
        &["version"][..],
        &["-version"],
        &["--version"],
        &["agent-inject", "-version"],
    ] {
        let out = Command::new(bin()).args(args).env_clear().output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{args:?}");
    }
    for args in [&["--help"][..], &["-h"], &["agent-inject", "-help"]] {
        let out = Command::new(bin()).args(args).env_clear().output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in [
            "--listen",
            "--shutdown-delay",
            "--vault-auth-type",
            "--tls-key-file",
            "--version",
        ] {
            assert!(help.contains(flag), "{flag} not in {args:?}:\n{help}");
        }
        // Every flag line is followed by its help text, not by the next flag.
        let lines: Vec<&str> = help.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim_start().starts_with("--") && !l.contains("  ") {
                let next = lines.get(i + 1).map(|n| n.trim_start()).unwrap_or("");
                assert!(
                    !next.is_empty() && !next.starts_with("--"),
                    "no help text for {l:?}"
                );
            }
        }
    }
}
