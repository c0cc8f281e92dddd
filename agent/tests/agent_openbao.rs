//! End-to-end auto-auth against a real OpenBao dev server (issue 3's "Done when"): the built
//! `vaultlet-agent` binary runs as a child process; the tests look at its sink, its exit status,
//! its log and at the server.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

#[path = "agent_common.rs"]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{AgentRun, command, curl, jwt_config, logged_backoffs, lookup_token};
use serde_json::{Value, json};
use vaultlet_tests::{JwtIssuer, KUBERNETES_API, KubernetesAuth, OpenBao, free_port};

const ISS: &str = KUBERNETES_API;
const SUBJECT: &str = "system:serviceaccount:ns1:app";

/// A server with `jwt` auth trusting `issuer`, role `app` bound to SUBJECT / audience `vault`.
fn jwt_server(issuer: &JwtIssuer, role_extra: Value) -> OpenBao {
    let bao = OpenBao::start();
    seed_jwt(&bao, issuer, role_extra);
    bao
}

fn seed_jwt(bao: &OpenBao, issuer: &JwtIssuer, role_extra: Value) {
    bao.enable_jwt_auth("jwt", issuer);
    bao.write_policy("app", r#"path "secret/*" { capabilities = ["read"] }"#);
    bao.jwt_role(
        "jwt",
        "app",
        SUBJECT,
        &["vault"],
        &["default", "app"],
        role_extra,
    );
}

/// A tempdir holding a freshly minted service-account JWT for `aud`.
fn jwt_dir(issuer: &JwtIssuer, aud: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let jwt = issuer.mint_service_account("ns1", "app", &[aud], Duration::from_secs(3600));
    let path = dir.path().join("jwt");
    std::fs::write(&path, &jwt).unwrap();
    (dir, path, jwt)
}

fn sink_token(run: &AgentRun, sink: &Path) -> String {
    run.wait_file(sink, Duration::from_secs(30), |s| !s.is_empty())
}

#[test]
fn jwt_login_writes_the_sink_then_sigterm_is_clean_and_no_log_line_holds_a_secret() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({"token_ttl": "1h"}));
    let (dir, jwt_path, jwt) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let pid = dir.path().join("agent.pid");
    let mut cfg = jwt_config(bao.addr(), &jwt_path, "app", &sink);
    cfg["pid_file"] = json!(pid.to_str().unwrap());
    let mut run = AgentRun::start(dir, &cfg, &["-log-level=trace"]);

    let token = sink_token(&run, &sink);
    assert!(!token.ends_with('\n'), "no trailing newline");
    let mode = std::fs::metadata(&sink).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "default sink mode");
    let data = lookup_token(&bao, &token).expect("the sink holds a live token");
    assert_eq!(data["meta"]["role"], "app", "{data}");
    assert!(pid.exists(), "pid file written");

    run.sigterm();
    let status = run
        .wait_exit(Duration::from_secs(10))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", run.log());
    assert!(!pid.exists(), "pid file removed on shutdown");
    let log = run.log();
    assert!(log.contains("shutdown triggered"), "{log}");
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "{log}");
    assert!(
        !log.contains(&token),
        "the token leaked into the log:\n{log}"
    );
    assert!(!log.contains(&jwt), "the JWT leaked into the log:\n{log}");
    // Not even a recognisable piece of them.
    assert!(!log.contains(&token[token.len() - 12..]), "{log}");
    assert!(!log.contains(&jwt[jwt.len() - 24..]), "{log}");
    assert!(
        lookup_token(&bao, &token).is_ok(),
        "shutdown does not revoke"
    );
}

#[test]
fn wrong_audience_fails_with_vaults_message_and_backs_off_per_spec() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "not-vault");
    let sink = dir.path().join("token");
    let cfg = jwt_config(bao.addr(), &jwt_path, "app", &sink);
    let started = Instant::now();
    let run = AgentRun::start(dir, &cfg, &[]);
    let log = run.wait_log(Duration::from_secs(30), |l| {
        l.matches("error authenticating").count() >= 4
    });
    let elapsed = started.elapsed();
    assert!(!sink.exists());
    let first = log
        .lines()
        .find(|l| l.contains("error authenticating"))
        .unwrap();
    assert!(
        first.contains("aud") && first.contains("400"),
        "Vault's own message: {first}"
    );
    // min 1s, max 4s: j(1s), then j(min(2·prev, 4s)) … each up to 25 % shorter.
    let b = logged_backoffs(&log);
    assert!(b.len() >= 4, "{log}");
    let (lo, hi) = (Duration::from_millis(750), Duration::from_secs(1));
    assert!(b[0] > lo && b[0] <= hi, "first backoff {:?}", b[0]);
    for w in b.windows(2) {
        let target = (w[0] * 2).min(Duration::from_secs(4));
        assert!(
            w[1] <= target && w[1] >= target.mul_f64(0.75),
            "backoffs {b:?} do not follow agent.md §3.3"
        );
    }
    // The agent really slept them: three sleeps happened before the fourth failure.
    let slept: Duration = b[..3].iter().sum();
    assert!(
        elapsed >= slept,
        "4 attempts in {elapsed:?} but backoffs {b:?}"
    );
}

#[test]
fn kubernetes_login_through_token_review_rereads_the_jwt_each_login() {
    let k8s = KubernetesAuth::start();
    let (bao, reviewer) = (&k8s.bao, &k8s.reviewer);
    k8s.role(
        "app",
        "ns1",
        "app",
        None,
        json!({"token_ttl": "3s", "token_explicit_max_ttl": "3s"}),
    );
    let dir = tempfile::tempdir().unwrap();
    let sa = dir.path().join("sa-token");
    std::fs::write(&sa, k8s.jwt("ns1", "app")).unwrap();
    let sink = dir.path().join("token");
    let cfg = json!({
        "auto_auth": {
            "method": {"type": "kubernetes", "mount_path": "auth/kubernetes",
                       "min_backoff": "1s", "max_backoff": "2s",
                       "config": {"role": "app", "token_path": sa.to_str().unwrap()}},
            "sink": [{"type": "file", "config": {"path": sink.to_str().unwrap()}}]
        },
        "vault": {"address": bao.addr()}
    });
    let run = AgentRun::start(dir, &cfg, &[]);
    let first = sink_token(&run, &sink);
    assert!(reviewer.requests() >= 1);
    // The file vanishing is reported at once (watched, not polled), naming the file.
    std::fs::remove_file(&sa).unwrap();
    let log = run.wait_log(Duration::from_secs(5), |l| l.contains("vanished"));
    let line = log.lines().find(|l| l.contains("vanished")).unwrap();
    assert!(line.contains(sa.to_str().unwrap()), "{line}");
    // The file now holds garbage: the next login (the token expires in 3 s) must read it and fail.
    std::fs::write(&sa, "not-a-jwt").unwrap();
    run.wait_log(Duration::from_secs(20), |l| {
        l.contains("error authenticating")
    });
    // A fresh valid token: the one after that succeeds with it.
    std::fs::write(&sa, k8s.jwt("ns1", "app")).unwrap();
    let second = run.wait_file(&sink, Duration::from_secs(20), |s| s != first);
    assert!(lookup_token(bao, &second).is_ok());
    assert!(reviewer.requests() >= 2);
}

/// Lines of the log that mention a renewal.
fn renewals(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("renewed auth token"))
        .count()
}

#[test]
fn a_4s_token_is_renewed_several_times_keeping_its_accessor() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({"token_ttl": "4s", "token_max_ttl": "1h"}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let run = AgentRun::start(dir, &jwt_config(bao.addr(), &jwt_path, "app", &sink), &[]);
    let token = sink_token(&run, &sink);
    let accessor = lookup_token(&bao, &token).unwrap()["accessor"]
        .as_str()
        .unwrap()
        .to_string();
    let log = run.wait_log(Duration::from_secs(30), |l| renewals(l) >= 4);
    // Well past the original 4 s TTL, the same token is alive with a fresh TTL.
    let data = lookup_token(&bao, &token).expect("still alive after renewals");
    assert_eq!(data["accessor"], accessor.as_str());
    let ttl = data["ttl"].as_u64().unwrap();
    assert!((1..=4).contains(&ttl), "fresh ttl {ttl}");
    assert_eq!(std::fs::read_to_string(&sink).unwrap(), token, "{log}");
    assert_eq!(
        log.matches("authentication successful").count(),
        1,
        "no re-login: {log}"
    );
}

#[test]
fn explicit_max_ttl_makes_the_agent_log_in_again_and_the_sink_changes() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(
        &issuer,
        json!({"token_ttl": "4s", "token_explicit_max_ttl": "8s"}),
    );
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let run = AgentRun::start(dir, &jwt_config(bao.addr(), &jwt_path, "app", &sink), &[]);
    let first = sink_token(&run, &sink);
    let started = Instant::now();
    let second = run.wait_file(&sink, Duration::from_secs(25), |s| s != first);
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "re-login near the 8 s cap, took {:?}",
        started.elapsed()
    );
    assert!(lookup_token(&bao, &second).is_ok());
    assert!(run.log().contains("renewed auth token"), "{}", run.log());
}

#[test]
fn server_stopped_and_restarted_the_agent_backs_off_and_logs_in_again() {
    let issuer = JwtIssuer::new(ISS);
    let mut bao = jwt_server(&issuer, json!({"token_ttl": "4s", "token_max_ttl": "1h"}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let mut run = AgentRun::start(dir, &jwt_config(bao.addr(), &jwt_path, "app", &sink), &[]);
    let first = sink_token(&run, &sink);
    bao.stop();
    run.wait_log(Duration::from_secs(30), |l| {
        l.contains("error authenticating") && l.contains("connection refused")
    });
    bao.restart();
    seed_jwt(&bao, &issuer, json!({"token_ttl": "1h"}));
    let second = run.wait_file(&sink, Duration::from_secs(30), |s| s != first);
    assert!(lookup_token(&bao, &second).is_ok());
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "keeps running: {}",
        run.log()
    );
}

#[test]
fn exit_after_auth_exits_0_with_the_sink_written() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let mut run = AgentRun::start(
        dir,
        &jwt_config(bao.addr(), &jwt_path, "app", &sink),
        &["-exit-after-auth"],
    );
    let status = run.wait_exit(Duration::from_secs(30)).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", run.log());
    let token = std::fs::read_to_string(&sink).unwrap();
    assert!(lookup_token(&bao, &token).is_ok());
}

#[test]
fn a_go_duration_client_timeout_logs_in() {
    // What the injector passes for `vault.hashicorp.com/client-timeout: 1m30s` (issue 14's bug:
    // the agent exited 64 on it).
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let mut run = AgentRun::start_with_env(
        dir,
        &jwt_config(bao.addr(), &jwt_path, "app", &sink),
        &["-exit-after-auth"],
        &[("VAULT_CLIENT_TIMEOUT", "1m30s")],
    );
    let status = run.wait_exit(Duration::from_secs(30)).expect("exits");
    assert_eq!(status.code(), Some(0), "{}", run.log());
    let token = std::fs::read_to_string(&sink).unwrap();
    assert!(lookup_token(&bao, &token).is_ok());
}

#[test]
fn a_bad_role_with_exit_on_err_exits_non_zero_with_a_clear_message() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let mut cfg = jwt_config(bao.addr(), &jwt_path, "no-such-role", &sink);
    cfg["auto_auth"]["method"]["exit_on_err"] = json!(true);
    let mut run = AgentRun::start(dir, &cfg, &[]);
    let status = run.wait_exit(Duration::from_secs(30)).expect("exits");
    let log = run.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("no-such-role"), "names the role: {log}");
    assert!(
        log.contains("auth/jwt/login"),
        "names the login path: {log}"
    );
    // Upstream's stop line (agent.md §6.1).
    assert!(
        log.lines().any(
            |l| l.contains("[ERROR] agent: runtime error encountered: error=")
                && l.contains("no-such-role")
                && l.ends_with(" exitCode=1")
        ),
        "{log}"
    );
    assert!(
        log.contains("\nError encountered during run, refer to logs for more details.\n"),
        "{log}"
    );
    assert!(!sink.exists());
}

#[test]
fn token_revoke_self_revokes_the_sinks_token() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let mut run = AgentRun::start(
        dir,
        &jwt_config(bao.addr(), &jwt_path, "app", &sink),
        &["-exit-after-auth"],
    );
    assert_eq!(
        run.wait_exit(Duration::from_secs(30)).unwrap().code(),
        Some(0)
    );
    let token = std::fs::read_to_string(&sink).unwrap();
    assert!(lookup_token(&bao, &token).is_ok());
    let out = command()
        .args([
            "token",
            "revoke",
            &format!("-address={}", bao.addr()),
            "-self",
        ])
        .env("VAULT_TOKEN", &token)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains(&token));
    let err = lookup_token(&bao, &token).unwrap_err();
    assert!(
        err.contains("bad token") || err.contains("invalid"),
        "{err}"
    );
}

#[test]
fn the_proxy_forwards_with_the_auto_auth_token_and_quit_stops_the_agent() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({"token_ttl": "1h"}));
    bao.kv_put("secret", "app", json!({"user": "me"}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let port = free_port();
    let mut cfg = jwt_config(bao.addr(), &jwt_path, "app", &sink);
    cfg["listener"] = json!([{"tcp": {"address": format!("127.0.0.1:{port}"), "tls_disable": true,
                                        "agent_api": {"enable_quit": true}}}]);
    cfg["cache"] = json!({"use_auto_auth_token": true});
    let mut run = AgentRun::start(dir, &cfg, &["-log-level=trace"]);
    let token = sink_token(&run, &sink);
    let base = format!("http://127.0.0.1:{port}");

    // No token in the request: the proxy adds the auto-auth token.
    let (code, body) = curl("GET", &format!("{base}/v1/secret/data/app"), &[], None);
    assert_eq!(code, 200, "{body}\n{}", run.log());
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["data"]["user"], "me");
    // A client token is kept (here a bogus one, which Vault refuses).
    let (code, body) = curl(
        "GET",
        &format!("{base}/v1/secret/data/app"),
        &[("X-Vault-Token", "hvs.bogus")],
        None,
    );
    assert_eq!(code, 403, "{body}");
    // lookup-self through the proxy is the agent's token.
    let (code, body) = curl(
        "GET",
        &format!("{base}/v1/auth/token/lookup-self"),
        &[],
        None,
    );
    assert_eq!(code, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        me["data"]["accessor"],
        lookup_token(&bao, &token).unwrap()["accessor"]
    );
    // Quit: GET is refused, POST stops the agent with exit 0.
    let (code, _) = curl("GET", &format!("{base}/agent/v1/quit"), &[], None);
    assert_eq!(code, 405);
    let (code, body) = curl("POST", &format!("{base}/agent/v1/quit"), &[], None);
    assert_eq!(code, 200, "{body}");
    let status = run
        .wait_exit(Duration::from_secs(10))
        .expect("quit stops it");
    assert_eq!(status.code(), Some(0), "{}", run.log());
    let log = run.log();
    assert!(log.contains("proxied request"), "{log}");
    assert!(
        !log.contains(&token),
        "the token leaked into the log:\n{log}"
    );
    assert!(
        !log.contains("hvs.bogus"),
        "a client token leaked into the log"
    );
}

#[test]
fn quit_is_404_unless_enabled_and_require_request_header_is_honoured() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({"token_ttl": "1h"}));
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let port = free_port();
    let mut cfg = jwt_config(bao.addr(), &jwt_path, "app", &sink);
    cfg["listener"] = json!([{"tcp": {"address": format!("127.0.0.1:{port}"), "tls_disable": true,
                                        "require_request_header": true}}]);
    cfg["api_proxy"] = json!({"use_auto_auth_token": "force"});
    let run = AgentRun::start(dir, &cfg, &[]);
    sink_token(&run, &sink);
    let base = format!("http://127.0.0.1:{port}");
    let (code, body) = curl("GET", &format!("{base}/v1/sys/health"), &[], None);
    assert_eq!(code, 412, "{body}");
    assert!(body.contains("X-Vault-Request"), "{body}");
    let hdr = [("X-Vault-Request", "true"), ("X-Vault-Token", "hvs.bogus")];
    // force: the bogus client token is replaced by the auto-auth token.
    let (code, body) = curl(
        "GET",
        &format!("{base}/v1/auth/token/lookup-self"),
        &hdr,
        None,
    );
    assert_eq!(code, 200, "{body}");
    let (code, _) = curl("POST", &format!("{base}/agent/v1/quit"), &hdr, None);
    assert_eq!(code, 404);
    let (code, body) = curl("GET", &format!("{base}/agent/v1/metrics"), &hdr, None);
    assert_eq!(code, 200);
    assert!(body.contains("auth"), "{body}");
}

#[test]
fn persistent_cache_hands_the_init_token_to_the_sidecar() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(&issuer, json!({"token_ttl": "1h"}));
    let (dir, jwt_path, sa_jwt) = jwt_dir(&issuer, "vault");
    let cache_dir = dir.path().join("agent-cache");
    std::fs::create_dir(&cache_dir).unwrap();
    let sa_file = dir.path().join("sa");
    std::fs::write(&sa_file, &sa_jwt).unwrap();
    let sink = dir.path().join("token");
    let mut cfg = jwt_config(bao.addr(), &jwt_path, "app", &sink);
    cfg["cache"] = json!({"persist": {"type": "kubernetes", "path": cache_dir.to_str().unwrap(),
                                       "service_account_token_file": sa_file.to_str().unwrap()},
                        "use_auto_auth_token": true});
    // As the injector writes it (agent-cache-enable): the cache comes with a listener.
    cfg["listener"] =
        json!([{"tcp": {"address": format!("127.0.0.1:{}", free_port()), "tls_disable": true}}]);
    let dir_path = dir.path().to_path_buf();
    let mut init = AgentRun::start(dir, &cfg, &["-exit-after-auth"]);
    assert_eq!(
        init.wait_exit(Duration::from_secs(30)).unwrap().code(),
        Some(0),
        "{}",
        init.log()
    );
    let init_token = std::fs::read_to_string(&sink).unwrap();
    let file = cache_dir.join("vaultlet-agent-cache.json");
    let stored = std::fs::read_to_string(&file).expect("cache file left for the sidecar");
    assert!(!stored.contains(&init_token), "encrypted at rest");
    assert!(!stored.contains(&sa_jwt), "no key material in clear");

    // The sidecar: same config, a separate sink.
    let sink2 = dir_path.join("token2");
    let mut cfg2 = cfg.clone();
    cfg2["auto_auth"]["sink"][0]["config"]["path"] = json!(sink2.to_str().unwrap());
    cfg2["listener"][0]["tcp"]["address"] = json!(format!("127.0.0.1:{}", free_port()));
    let dir2 = tempfile::tempdir().unwrap();
    let side = AgentRun::start(dir2, &cfg2, &[]);
    let side_token = side.wait_file(&sink2, Duration::from_secs(30), |s| !s.is_empty());
    assert_eq!(
        side_token, init_token,
        "the sidecar starts from the init token"
    );
    assert!(side.log().contains("preloaded token"), "{}", side.log());
    assert!(!file.exists(), "deleted after import");
}

#[test]
fn a_new_jwt_is_taken_from_the_file_at_once_and_used_at_the_next_login() {
    let issuer = JwtIssuer::new(ISS);
    let bao = jwt_server(
        &issuer,
        json!({"token_ttl": "3s", "token_explicit_max_ttl": "3s"}),
    );
    let (dir, jwt_path, _) = jwt_dir(&issuer, "vault");
    let sink = dir.path().join("token");
    let mut cfg = jwt_config(bao.addr(), &jwt_path, "app", &sink);
    cfg["auto_auth"]["method"]["config"]["remove_jwt_after_reading"] = json!(true);
    let run = AgentRun::start(dir, &cfg, &[]);
    let first = sink_token(&run, &sink);
    assert!(!jwt_path.exists(), "removed after reading");
    // A bad JWT arrives: the watcher takes it (and removes the file) before any login needs it …
    std::fs::write(&jwt_path, "not-a-jwt").unwrap();
    run.wait_log(Duration::from_secs(2), |l| l.contains("read a new JWT"));
    assert!(!jwt_path.exists(), "taken at once, not left on disk");
    // … and the next login uses it (and fails), although the file is gone by then.
    run.wait_log(Duration::from_secs(15), |l| {
        l.contains("error authenticating")
    });
    // A good one: taken, and the login after that succeeds.
    std::fs::write(
        &jwt_path,
        issuer.mint_service_account("ns1", "app", &["vault"], Duration::from_secs(3600)),
    )
    .unwrap();
    let second = run.wait_file(&sink, Duration::from_secs(20), |s| s != first);
    assert!(lookup_token(&bao, &second).is_ok());
}
