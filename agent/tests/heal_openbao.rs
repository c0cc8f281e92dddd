//! Self-healing of a dead auto-auth token (agent.md §3.6) against a real OpenBao dev server, which
//! answers a revoked token with a bare `403 permission denied` — the same words as a real
//! permission denial. The built agent runs as a child process; the tests revoke its token with
//! the root token (or take a path out of its policy) and watch its files, its sink and its log.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

#[path = "agent_common.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{AgentRun, curl, jwt_config, lookup_token};
use serde_json::{Value, json};
use vaultlet_tests::{JwtIssuer, KUBERNETES_API, OpenBao, eventually, free_port};

const SUBJECT: &str = "system:serviceaccount:ns1:app";
/// What the agent logs for each `lookup-self` of a refused token, and for each healing re-login.
const CHECKING: &str = "checking the token with lookup-self";
const ABANDONING: &str = "abandoning the invalid auto-auth token";
const LOGGED_IN: &str = "authentication successful";

/// A server with `jwt` auth, role `app` (tokens of `token_ttl`) with policy `app` reading
/// `secret/data/*`, and the agent's tempdir holding a JWT for it.
fn setup(token_ttl: &str) -> (OpenBao, tempfile::TempDir, std::path::PathBuf) {
    let issuer = JwtIssuer::new(KUBERNETES_API);
    let bao = OpenBao::start();
    bao.enable_jwt_auth("jwt", &issuer);
    bao.write_policy("app", r#"path "secret/data/*" { capabilities = ["read"] }"#);
    bao.jwt_role(
        "jwt",
        "app",
        SUBJECT,
        &["vault"],
        &["default", "app"],
        json!({"token_ttl": token_ttl, "token_max_ttl": "24h"}),
    );
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt");
    let minted = issuer.mint_service_account("ns1", "app", &["vault"], Duration::from_secs(3600));
    std::fs::write(&jwt, minted).unwrap();
    (bao, dir, jwt)
}

/// The jwt config writing its token to `<dir>/token`, with `extra` merged in.
fn config(bao: &OpenBao, dir: &Path, jwt: &Path, extra: Value) -> Value {
    let mut c = jwt_config(bao.addr(), jwt, "app", &dir.join("token"));
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// A sidecar template rendering `secret/<name>`'s `v` into `<dir>/out/<name>`, re-read every second.
fn template(dir: &Path, name: &str) -> Value {
    json!({"destination": dir.join("out").join(name).to_str().unwrap(),
           "contents": format!("{{{{ with secret \"secret/{name}\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}")})
}

fn revoke(bao: &OpenBao, token: &str) {
    bao.api("POST", "auth/token/revoke", Some(json!({ "token": token })));
    assert!(lookup_token(bao, token).is_err(), "revoked");
}

fn count(log: &str, what: &str) -> usize {
    log.matches(what).count()
}

fn assert_no_token(log: &str, tokens: &[&str]) {
    for t in tokens {
        assert!(!log.contains(t), "a token leaked into the log:\n{log}");
    }
}

#[test]
fn a_revoked_token_is_replaced_at_once_and_every_template_renders_with_the_new_one() {
    let (bao, dir, jwt) = setup("1h");
    let names = ["a", "b", "c"];
    for n in names {
        bao.kv_put("secret", n, json!({"v": "one"}));
    }
    let out = dir.path().join("out");
    let sink = dir.path().join("token");
    let templates: Vec<Value> = names.iter().map(|n| template(dir.path(), n)).collect();
    let cfg = config(
        &bao,
        dir.path(),
        &jwt,
        json!({
            "template": templates,
            "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
        }),
    );
    let run = AgentRun::start(dir, &cfg, &[]);
    for n in names {
        run.wait_file(&out.join(n), Duration::from_secs(20), |s| s == "one");
    }
    let first = std::fs::read_to_string(&sink).unwrap();

    revoke(&bao, &first);
    for n in names {
        bao.kv_put("secret", n, json!({"v": "two"}));
    }
    let revoked = Instant::now();
    for n in names {
        run.wait_file(&out.join(n), Duration::from_secs(10), |s| s == "two");
    }
    let healed_in = revoked.elapsed();
    // One fetch interval (1 s), one lookup, one login, one fetch.
    assert!(
        healed_in < Duration::from_secs(5),
        "{healed_in:?}\n{}",
        run.log()
    );
    let second = std::fs::read_to_string(&sink).unwrap();
    assert_ne!(second, first, "the sink holds the new token");
    assert!(lookup_token(&bao, &second).is_ok());
    // Three fetchers refused at once: one check, one re-login; and it stays so.
    std::thread::sleep(Duration::from_secs(2));
    let log = run.log();
    assert_eq!(count(&log, CHECKING), 1, "{log}");
    assert_eq!(count(&log, ABANDONING), 1, "{log}");
    assert_eq!(count(&log, LOGGED_IN), 2, "{log}");
    // The old runner's fetchers stopped with it: none retried with the dead token.
    assert!(!log.contains("retry attempt 2"), "{log}");
    assert_no_token(&log, &[&first, &second]);
}

#[test]
fn a_policy_losing_the_path_keeps_the_token_and_the_file() {
    let (bao, dir, jwt) = setup("1h");
    bao.kv_put("secret", "a", json!({"v": "one"}));
    let file = dir.path().join("out/a");
    let sink = dir.path().join("token");
    let mut cfg = config(
        &bao,
        dir.path(),
        &jwt,
        json!({
            "template": [template(dir.path(), "a")],
            "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
        }),
    );
    // The fetch retries at their default pace (0.25 s doubling; agent.md §5.6).
    let method = cfg["auto_auth"]["method"].as_object_mut().unwrap();
    method.remove("min_backoff");
    method.remove("max_backoff");
    let mut run = AgentRun::start(dir, &cfg, &[]);
    run.wait_file(&file, Duration::from_secs(20), |s| s == "one");
    let token = std::fs::read_to_string(&sink).unwrap();
    let accessor = lookup_token(&bao, &token).unwrap()["accessor"].clone();

    bao.write_policy(
        "app",
        r#"path "secret/data/other" { capabilities = ["read"] }"#,
    );
    let denied = Instant::now();
    run.wait_log(Duration::from_secs(10), |l| {
        l.contains("the auto-auth token is valid")
    });
    // Let the fetch retry a while (after 0.25, 0.5, 1, 2, 4 s …).
    std::thread::sleep(Duration::from_secs(7));
    let elapsed = denied.elapsed();
    let log = run.log();
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "still running:\n{log}"
    );
    // The real denial stays what it is: the fetch's retries, no re-login.
    let retries = count(&log, "retry attempt");
    assert!(
        retries >= 4 && log.contains("permission denied"),
        "retried as before:\n{log}"
    );
    assert_eq!(count(&log, LOGGED_IN), 1, "no re-login:\n{log}");
    assert_eq!(count(&log, ABANDONING), 0, "{log}");
    // At most one lookup per 5 s, however often the fetch is retried.
    let checks = count(&log, CHECKING);
    let bound = elapsed.as_secs() as usize / 5 + 1;
    assert!(
        (1..=bound).contains(&checks) && checks < retries,
        "{checks} checks for {retries} retries in {elapsed:?}:\n{log}"
    );
    assert_eq!(std::fs::read_to_string(&sink).unwrap(), token);
    assert_eq!(lookup_token(&bao, &token).unwrap()["accessor"], accessor);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "one", "kept");
    assert_no_token(&log, &[&token]);
}

#[test]
fn with_no_templates_a_revoked_token_is_replaced_at_its_next_renewal() {
    // A 9 s token from a login is first renewed after ≈ 6.3–6.6 s, then as often (agent.md §3.4).
    let (bao, dir, jwt) = setup("9s");
    let sink = dir.path().join("token");
    let cfg = config(&bao, dir.path(), &jwt, json!({}));
    let run = AgentRun::start(dir, &cfg, &[]);
    let first = run.wait_file(&sink, Duration::from_secs(20), |s| !s.is_empty());
    run.wait_log(Duration::from_secs(10), |l| {
        l.contains("renewed auth token")
    });
    revoke(&bao, &first);
    let revoked = Instant::now();
    let second = run.wait_file(&sink, Duration::from_secs(20), |s| s != first);
    let took = revoked.elapsed();
    let log = run.log();
    // At the next renewal, not after backing off until the old lease runs out.
    assert!(took < Duration::from_secs(8), "{took:?}\n{log}");
    assert!(lookup_token(&bao, &second).is_ok());
    assert_eq!(count(&log, ABANDONING), 1, "{log}");
    assert!(
        !log.contains("error renewing auth token"),
        "healed, not retried:\n{log}"
    );
    assert_eq!(count(&log, LOGGED_IN), 2, "{log}");
    assert_no_token(&log, &[&first, &second]);
}

#[test]
fn the_proxy_passes_on_the_refusal_then_the_next_request_has_the_new_token() {
    let (bao, dir, jwt) = setup("1h");
    bao.kv_put("secret", "app", json!({"v": "me"}));
    let sink = dir.path().join("token");
    let port = free_port();
    let cfg = config(
        &bao,
        dir.path(),
        &jwt,
        json!({
            "listener": [{"tcp": {"address": format!("127.0.0.1:{port}"), "tls_disable": true}}],
            "cache": {"use_auto_auth_token": true},
        }),
    );
    let run = AgentRun::start(dir, &cfg, &[]);
    let first = run.wait_file(&sink, Duration::from_secs(20), |s| !s.is_empty());
    let url = format!("http://127.0.0.1:{port}/v1/secret/data/app");
    let (code, body) = curl("GET", &url, &[], None);
    assert_eq!(code, 200, "{body}\n{}", run.log());

    revoke(&bao, &first);
    // Vault's answer to the request made with the dead token, unchanged.
    let (code, body) = curl("GET", &url, &[], None);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("permission denied"), "{body}");
    // The agent logs in again; a following request goes out with the new token.
    let body = eventually(Duration::from_secs(10), || {
        let (code, body) = curl("GET", &url, &[], None);
        (code == 200).then_some(body)
    });
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["data"]["v"], "me");
    let second = std::fs::read_to_string(&sink).unwrap();
    assert_ne!(second, first);
    let log = run.log();
    assert_eq!(count(&log, CHECKING), 1, "{log}");
    assert_eq!(count(&log, ABANDONING), 1, "{log}");
    assert_eq!(count(&log, LOGGED_IN), 2, "{log}");
    assert_no_token(&log, &[&first, &second]);
}
