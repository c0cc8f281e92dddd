//! The Vault client against a real OpenBao dev server (the harness in `vaultlet-tests`).

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use vaultlet_shared::vault::{Client, ClientConfig, VaultError};
use vaultlet_tests::{JwtIssuer, OpenBao};

fn client(bao: &OpenBao) -> Client {
    let mut cfg = ClientConfig {
        address: bao.addr().to_string(),
        ..ClientConfig::default()
    };
    if let Some(ca) = bao.ca_cert_path() {
        cfg.ca_cert = Some(ca);
    }
    Client::new(cfg).unwrap().with_token(bao.root_token())
}

#[tokio::test]
async fn kv_v1_and_v2_read_write_list_keep_number_literals() {
    let bao = OpenBao::start();
    bao.enable_kv("kv1", 1);
    let c = client(&bao);
    bao.kv_put_raw(
        "kv1",
        "app/types",
        r#"{"exp": 1e3, "big": 12345678901234567890, "f": 1.0}"#,
    );
    bao.kv_put_raw(
        "secret",
        "app/types",
        r#"{"exp": 1e3, "big": 12345678901234567890, "f": 1.0}"#,
    );

    // The server decides how it stores `1e3` (OpenBao answers `1e+3`); the client must hand on
    // exactly the literal the server sent, never a re-formatted float.
    let (_, raw1) = bao.api_raw("GET", "kv1/app/types", None);
    let exp_literal = raw1
        .split("\"exp\":")
        .nth(1)
        .unwrap()
        .split([',', '}'])
        .next()
        .unwrap()
        .trim()
        .to_string();
    assert!(exp_literal.starts_with("1e"), "raw answer: {raw1}");
    let v1 = c.read_secret("kv1/app/types").await.unwrap().unwrap();
    let d = v1.data.clone().unwrap();
    assert_eq!(
        d["exp"].to_string(),
        "1e+3",
        "serde_json normalises exponents"
    );
    let lit = v1.data_literal.as_ref().unwrap();
    assert_eq!(
        lit.get("exp"),
        Some(&vaultlet_shared::json::Json::Number(
            exp_literal.clone().into()
        ))
    );
    assert_eq!(
        lit.get("big"),
        Some(&vaultlet_shared::json::Json::Number(
            "12345678901234567890".into()
        ))
    );
    assert_eq!(d["big"].to_string(), "12345678901234567890");
    assert_eq!(d["f"].to_string(), "1.0");
    assert!(v1.lease_duration > 0, "KV v1 reports the mount's lease");

    // KV v2: the client detects the mount and reads secret/data/app/types.
    let v2 = c.read_secret("secret/app/types").await.unwrap().unwrap();
    let inner = v2.data.as_ref().unwrap()["data"].as_object().unwrap();
    let (_, raw2) = bao.api_raw("GET", "secret/data/app/types", None);
    let exp2 = raw2
        .split("\"exp\":")
        .nth(1)
        .unwrap()
        .split([',', '}'])
        .next()
        .unwrap()
        .trim()
        .to_string();
    let lit2 = v2.data_literal.as_ref().unwrap().get("data").unwrap();
    assert_eq!(
        lit2.get("exp"),
        Some(&vaultlet_shared::json::Json::Number(exp2.clone().into()))
    );
    // KV v2 itself re-encodes through float64 (agent.md §9): whatever it sends, we keep.
    assert!(raw2.contains("\"big\":12345678901234567000"), "{raw2}");
    assert_eq!(inner["big"].to_string(), "12345678901234567000");
    assert!(v2.data.as_ref().unwrap()["metadata"]["version"].is_number());

    // Writes: v2 gets {"data": …}; v1 takes the params as they are.
    let mut p = Map::new();
    p.insert("user".into(), json!("alice"));
    c.write_secret("secret/app/new", p.clone()).await.unwrap();
    c.write_secret("kv1/app/new", p).await.unwrap();
    let back = c.read_secret("secret/app/new").await.unwrap().unwrap();
    assert_eq!(back.data.unwrap()["data"]["user"], "alice");
    assert_eq!(
        c.read("kv1/app/new")
            .await
            .unwrap()
            .unwrap()
            .data_str("user"),
        Some("alice")
    );

    // Lists: sorted keys, folders end in /.
    assert_eq!(
        c.list_secret("secret/app").await.unwrap(),
        vec!["new", "types"]
    );
    bao.kv_put("kv1", "app/sub/x", json!({"v": 1}));
    assert_eq!(
        c.list_secret("kv1/app").await.unwrap(),
        vec!["new", "sub/", "types"]
    );

    // A missing secret is None, as the Go client's Read; delete works.
    assert!(c.read_secret("secret/nope").await.unwrap().is_none());
    c.delete("kv1/app/new").await.unwrap();
    assert!(c.read("kv1/app/new").await.unwrap().is_none());
}

#[tokio::test]
async fn pki_issue_through_write_with_params() {
    let bao = OpenBao::start();
    bao.enable_pki("pki", "web", &["example.com"]);
    let c = client(&bao);
    let mut p = Map::new();
    p.insert("common_name".into(), json!("a.example.com"));
    p.insert("ttl".into(), json!("1h"));
    p.insert("alt_names".into(), json!("b.example.com"));
    let s = c.write_secret("pki/issue/web", p).await.unwrap().unwrap();
    assert!(
        s.data_str("certificate")
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(s.data_str("private_key").unwrap().contains("PRIVATE KEY"));
    assert!(
        s.lease_id.starts_with("pki/issue/web/"),
        "role has generate_lease: {}",
        s.lease_id
    );
    // The lease can be renewed-or-refused and revoked through sys/leases.
    c.revoke_lease(&s.lease_id).await.unwrap();
}

#[tokio::test]
async fn token_lookup_renew_revoke() {
    let bao = OpenBao::start();
    let created = bao.api(
        "POST",
        "auth/token/create",
        Some(json!({"ttl": "1h", "policies": ["default"]})),
    );
    let token = created["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    let accessor = created["auth"]["accessor"].as_str().unwrap().to_string();
    let c = client(&bao).with_token(&token);
    let look = c.lookup_self().await.unwrap();
    assert_eq!(look.data_str("accessor"), Some(accessor.as_str()));
    assert!(look.token_ttl().unwrap() > 3500);
    let renewed = c.renew_self(0).await.unwrap();
    let auth = renewed.auth.unwrap();
    assert_eq!(auth.accessor, accessor);
    assert!(auth.renewable);
    assert!(
        !format!("{auth:?}").contains(&token),
        "Debug redacts the token"
    );
    c.revoke_self().await.unwrap();
    let err = c.lookup_self().await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(
        err.to_string().contains("GET auth/token/lookup-self"),
        "{err}"
    );
    assert!(
        !err.to_string().contains(&token),
        "errors never carry the token: {err}"
    );
}

#[tokio::test]
async fn namespaced_requests() {
    let bao = OpenBao::start();
    bao.create_namespace("team1");
    bao.api_in_namespace(
        "team1",
        "POST",
        "sys/mounts/kv",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    bao.api_in_namespace(
        "team1",
        "POST",
        "kv/data/app",
        Some(json!({"data": {"where": "team1"}})),
    );
    let c = client(&bao).with_namespace("team1");
    let s = c.read_secret("kv/app").await.unwrap().unwrap();
    assert_eq!(s.data.unwrap()["data"]["where"], "team1");
    // The root namespace has no such mount.
    assert!(client(&bao).read_secret("kv/app").await.unwrap().is_none());
}

#[tokio::test]
async fn tls_verifies_with_the_ca_and_fails_clearly_without_it() {
    let bao = OpenBao::start_tls();
    let ok = client(&bao);
    assert_eq!(ok.health().await.unwrap()["initialized"], true);

    // A CA that did not sign the server's certificate.
    let other = OpenBao::start_tls();
    let wrong = Client::new(ClientConfig {
        address: bao.addr().into(),
        ca_cert: other.ca_cert_path(),
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap();
    let err = wrong.health().await.unwrap_err();
    assert!(matches!(err, VaultError::Certificate { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("did not verify") && msg.contains("vault-ca.pem"),
        "{msg}"
    );

    let skip = Client::new(ClientConfig {
        address: bao.addr().into(),
        tls_skip_verify: true,
        ..ClientConfig::default()
    })
    .unwrap();
    assert_eq!(skip.health().await.unwrap()["initialized"], true);

    // tls_server_name: the dev certificate is for 127.0.0.1/localhost.
    let named = Client::new(ClientConfig {
        address: bao.addr().into(),
        ca_cert: bao.ca_cert_path(),
        tls_server_name: Some("localhost".into()),
        ..ClientConfig::default()
    })
    .unwrap();
    assert_eq!(named.health().await.unwrap()["initialized"], true);
}

/// A server on 127.0.0.1 that answers every request with `status` and counts them.
fn counting_server(status: u16) -> (String, Arc<AtomicUsize>) {
    counting_server_with(status, r#"{"errors":["try later"]}"#)
}

/// [`counting_server`] answering `body`.
fn counting_server_with(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", l.local_addr().unwrap());
    let n = Arc::new(AtomicUsize::new(0));
    let count = n.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            count.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, n)
}

#[tokio::test]
async fn retries_stop_at_the_configured_count() {
    let (addr, n) = counting_server(503);
    let c = Client::new(ClientConfig {
        address: addr.clone(),
        max_retries: 3,
        retry_wait_min: Duration::from_millis(10),
        retry_wait_max: Duration::from_millis(20),
        ..ClientConfig::default()
    })
    .unwrap();
    let err = c.read("secret/x").await.unwrap_err();
    assert_eq!(n.load(Ordering::SeqCst), 4, "1 attempt + 3 retries");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.vault_errors(), ["try later"]);

    // 501 and 4xx are not retried.
    let (addr, n) = counting_server(501);
    let c = Client::new(ClientConfig {
        address: addr,
        max_retries: 3,
        ..ClientConfig::default()
    })
    .unwrap();
    assert_eq!(c.read("secret/x").await.unwrap_err().status(), Some(501));
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn connection_refused_is_a_clear_error() {
    let port = vaultlet_tests::free_port();
    let c = Client::new(ClientConfig {
        address: format!("http://127.0.0.1:{port}"),
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap();
    let err = c.read("secret/x").await.unwrap_err();
    assert!(
        matches!(err, VaultError::ConnectionRefused { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "GET secret/x: connection refused by http://127.0.0.1:{port} (is Vault running there?)"
        )
    );
}

#[tokio::test]
async fn jwt_login_with_a_service_account_token() {
    let bao = OpenBao::start();
    let issuer = JwtIssuer::new("https://kubernetes.default.svc.cluster.local");
    bao.enable_jwt_auth("jwt", &issuer);
    bao.jwt_role(
        "jwt",
        "app",
        "system:serviceaccount:ns:app",
        &["vault"],
        &["default"],
        json!({"token_ttl": "10m"}),
    );
    let c = Client::new(ClientConfig {
        address: bao.addr().into(),
        ..ClientConfig::default()
    })
    .unwrap();
    let jwt = issuer.mint_service_account("ns", "app", &["vault"], Duration::from_secs(300));
    let s = c
        .login("auth/jwt/", &json!({"role": "app", "jwt": jwt}))
        .await
        .unwrap();
    let auth = s.auth.unwrap();
    assert_eq!(auth.lease_duration, 600);
    assert!(auth.policies.contains(&"default".to_string()));
    let me = c
        .with_token(&auth.client_token)
        .lookup_self()
        .await
        .unwrap();
    assert_eq!(me.data.unwrap()["meta"]["role"], Value::from("app"));

    let bad = issuer.mint_service_account("ns", "app", &["other"], Duration::from_secs(300));
    let err = c
        .login("auth/jwt", &json!({"role": "app", "jwt": bad}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string()
            .starts_with("PUT auth/jwt/login: Vault answered 400"),
        "{err}"
    );
}

/// A minimal HTTP CONNECT proxy on 127.0.0.1: records each CONNECT target and tunnels it to the
/// same port on 127.0.0.1 (so any host name reaches the local server).
fn connect_proxy() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(client.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                }
                let target = first.split_whitespace().nth(1).unwrap_or("").to_string();
                log.lock().unwrap().push(first.trim().to_string());
                let port = target.rsplit(':').next().unwrap_or("0");
                let upstream = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
                let mut c = client;
                c.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .unwrap();
                let (mut c2, mut u2) = (c.try_clone().unwrap(), upstream.try_clone().unwrap());
                let mut u = upstream;
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                    let _ = c2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut reader, &mut u);
                let _ = u.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn https_vault_is_reached_through_a_connect_proxy_with_tls_end_to_end() {
    let bao = OpenBao::start_tls();
    let (proxy, seen) = connect_proxy();
    let c = Client::new(ClientConfig {
        // A name only the proxy can resolve: the client must not connect directly.
        address: format!("https://vault.invalid:{}", bao.port()),
        ca_cert: bao.ca_cert_path(),
        tls_server_name: Some("localhost".into()),
        proxy: Some(proxy),
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap()
    .with_token(bao.root_token());
    assert_eq!(c.health().await.unwrap()["initialized"], true);
    let s = c.read("sys/mounts").await.unwrap().expect("mounts");
    assert!(s.data.is_some());
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|l| l == &format!("CONNECT vault.invalid:{} HTTP/1.1", bao.port())),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_kv_mount_lookup_is_reused_for_later_reads_of_the_path() {
    // Every request answers 404 with no errors: the lookup says "no mount", the read "no secret".
    let (addr, n) = counting_server_with(404, r#"{"errors":[]}"#);
    let c = Client::new(ClientConfig {
        address: addr,
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap();
    assert!(c.read_secret("secret/app").await.unwrap().is_none());
    assert_eq!(n.load(Ordering::SeqCst), 2, "lookup + read");
    assert!(c.read_secret("secret/app").await.unwrap().is_none());
    assert_eq!(
        n.load(Ordering::SeqCst),
        3,
        "the second read reuses the lookup"
    );
    assert!(c.read_secret("secret/other").await.unwrap().is_none());
    assert_eq!(n.load(Ordering::SeqCst), 5, "another path is looked up");
}

#[tokio::test]
async fn a_kv_mount_lookup_expires() {
    let (addr, n) = counting_server_with(404, r#"{"errors":[]}"#);
    let c = Client::new(ClientConfig {
        address: addr,
        max_retries: 0,
        mount_cache_ttl: Duration::from_millis(300),
        ..ClientConfig::default()
    })
    .unwrap();
    assert!(c.read_secret("secret/app").await.unwrap().is_none());
    assert!(c.read_secret("secret/app").await.unwrap().is_none());
    assert_eq!(n.load(Ordering::SeqCst), 3, "lookup + read + read");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(c.read_secret("secret/app").await.unwrap().is_none());
    assert_eq!(
        n.load(Ordering::SeqCst),
        5,
        "after the TTL the path is looked up again"
    );
}

#[tokio::test]
async fn one_lookup_serves_every_path_of_its_mount_even_when_read_together() {
    // Every request answers with the description of a KV v2 mount `secret/`: the lookup names
    // the mount, and the reads get some data.
    let (addr, n) = counting_server_with(
        200,
        r#"{"data":{"path":"secret/","type":"kv","options":{"version":"2"}}}"#,
    );
    let c = Client::new(ClientConfig {
        address: addr,
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap();
    let (a, b, d) = tokio::join!(
        c.read_secret("secret/a"),
        c.read_secret("secret/b/c"),
        c.read_secret("secret/data/d"),
    );
    for r in [a, b, d] {
        assert!(r.unwrap().is_some());
    }
    assert_eq!(
        n.load(Ordering::SeqCst),
        4,
        "one lookup for the mount, then three reads"
    );
    assert!(c.read_secret("secret/e").await.unwrap().is_some());
    assert_eq!(n.load(Ordering::SeqCst), 5, "a later path reuses it too");
}
