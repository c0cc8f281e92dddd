//! The harness against the real OpenBao server: it starts, seeds, logs in through both auth
//! methods, serves TLS, stops and restarts, and runs several servers at once.

use std::time::Duration;

use serde_json::{Value, json};
use vaultlet_tests::{JwtIssuer, KUBERNETES_API, KubernetesAuth, OpenBao};

const ISS: &str = KUBERNETES_API;

#[test]
fn kv_v1_and_v2_seeding_is_readable_with_number_literals_kept() {
    let bao = OpenBao::start();
    bao.enable_kv("kv1", 1);
    bao.kv_put_raw("kv1", "app", r#"{"n": 1e3, "big": 12345678901234567890}"#);
    bao.kv_put("secret", "app", json!({"user": "me"}));
    let (code, v1) = bao.api_raw("GET", "kv1/app", None);
    assert_eq!(code, 200);
    assert!(v1.contains("1e3") || v1.contains("1000"), "{v1}");
    assert!(v1.contains("12345678901234567890"), "{v1}");
    let v2 = bao.api("GET", "secret/data/app", None);
    assert_eq!(v2["data"]["data"]["user"], "me");
}

#[test]
fn jwt_login_with_a_minted_service_account_token() {
    let bao = OpenBao::start();
    let issuer = JwtIssuer::new(ISS);
    bao.enable_jwt_auth("jwt", &issuer);
    bao.jwt_role(
        "jwt",
        "app",
        "system:serviceaccount:ns1:app",
        &["vault"],
        &["default"],
        json!({"token_ttl": "1h"}),
    );
    let jwt = issuer.mint_service_account("ns1", "app", &["vault"], Duration::from_secs(600));
    let ok = bao.api(
        "POST",
        "auth/jwt/login",
        Some(json!({"role": "app", "jwt": jwt})),
    );
    assert!(
        ok["auth"]["client_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(ok["auth"]["lease_duration"], 3600);

    let wrong_aud = issuer.mint_service_account("ns1", "app", &["other"], Duration::from_secs(600));
    let (code, text) = bao.api_raw(
        "POST",
        "auth/jwt/login",
        Some(&json!({"role": "app", "jwt": wrong_aud}).to_string()),
    );
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("aud"), "{text}");
}

#[test]
fn kubernetes_login_through_the_tokenreview_responder() {
    let k8s = KubernetesAuth::start();
    let (bao, reviewer) = (&k8s.bao, &k8s.reviewer);
    k8s.role("app", "ns1", "app", None, json!({"ttl": "1h"}));
    let jwt = k8s.jwt("ns1", "app");
    let ok = bao.api(
        "POST",
        "auth/kubernetes/login",
        Some(json!({"role": "app", "jwt": jwt})),
    );
    assert!(
        ok["auth"]["client_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(ok["auth"]["metadata"]["service_account_name"], "app");
    assert_eq!(reviewer.requests(), 1);
    bao.api(
        "POST",
        "auth/kubernetes/login",
        Some(json!({"role": "app", "jwt": jwt})),
    );
    assert_eq!(reviewer.requests(), 2);

    // A token signed by another key is refused (the responder checks the signature itself).
    let forged = JwtIssuer::new(ISS).mint_service_account(
        "ns1",
        "app",
        &["vault"],
        Duration::from_secs(600),
    );
    let (code, text) = bao.api_raw(
        "POST",
        "auth/kubernetes/login",
        Some(&json!({"role": "app", "jwt": forged}).to_string()),
    );
    assert!(code == 403 || code == 400, "HTTP {code}: {text}");
    assert!(text.contains("permission denied"), "{text}");
}

#[test]
fn tls_dev_server_is_reachable_with_its_ca() {
    let bao = OpenBao::start_tls();
    assert!(bao.addr().starts_with("https://127.0.0.1:"));
    let ca = bao.ca_cert_path().unwrap();
    assert!(
        std::fs::read_to_string(&ca)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    let health = bao.api("GET", "sys/health", None);
    assert_eq!(health["initialized"], true);
}

#[test]
fn stop_and_restart_on_the_same_port() {
    let mut bao = OpenBao::start();
    let port = bao.port();
    bao.stop();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening after stop"
    );
    bao.restart();
    assert_eq!(bao.port(), port);
    assert_eq!(bao.api("GET", "sys/health", None)["sealed"], false);
}

#[test]
fn two_servers_at_once_and_pki_and_namespaces() {
    let a = OpenBao::start();
    let b = OpenBao::start();
    assert_ne!(a.addr(), b.addr());
    let ca = a.enable_pki("pki", "web", &["example.com"]);
    assert!(ca.contains("BEGIN CERTIFICATE"));
    let issued = a.api(
        "POST",
        "pki/issue/web",
        Some(json!({"common_name": "a.example.com", "ttl": "1h"})),
    );
    assert!(
        issued["data"]["certificate"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    b.create_namespace("team1");
    b.api_in_namespace(
        "team1",
        "POST",
        "sys/mounts/kv",
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    );
    b.api_in_namespace("team1", "POST", "kv/x", Some(json!({"v": "in-ns"})));
    let read: Value = b.api_in_namespace("team1", "GET", "kv/x", None);
    assert_eq!(read["data"]["v"], "in-ns");
    assert!(b.bao(&["version"]).contains("OpenBao"));
}

#[test]
fn raft_storage_survives_a_crash_and_a_reset_wipes_it() {
    let mut bao = OpenBao::start_raft();
    let first_root = bao.root_token().to_string();
    assert_ne!(first_root, "root", "the root token comes from sys/init");
    bao.api(
        "POST",
        "sys/mounts/kv1",
        Some(json!({"type": "kv", "options": {"version": "1"}})),
    );
    bao.kv_put("kv1", "app", json!({"user": "me"}));
    bao.crash();
    bao.restart();
    let (code, body) = bao.api_raw("GET", "kv1/app", None);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"me\""), "{body}");
    assert_eq!(
        bao.root_token(),
        first_root,
        "the same data, the same root token"
    );
    assert!(
        std::fs::read_to_string(bao.audit_log())
            .unwrap()
            .contains("kv1/app")
    );
    bao.reset();
    assert_ne!(bao.root_token(), first_root, "initialised again");
    let (code, body) = bao.api_raw("GET", "kv1/app", None);
    assert_ne!(code, 200, "the mount is gone after a reset: {body}");
}
