//! End-to-end command-line behaviour of `vaultlet-agent` that needs no server: config errors exit
//! 64 before doing anything, with a message naming the key; usage errors; `token revoke` errors.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

#[path = "agent_common.rs"]
mod common;

use common::command;
use serde_json::json;

#[test]
fn bad_config_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.json");
    std::fs::write(&cfg, json!({
        "auto_auth": {"method": {"type": "jwt", "min_backoff": "lots", "config": {"path": "/x", "role": "r"}},
                      "sink": [{"type": "file", "config": {"path": dir.path().join("t").to_str().unwrap()}}]}
    }).to_string()).unwrap();
    let out = command()
        .arg("agent")
        .arg(format!("-config={}", cfg.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("min_backoff"), "{err}");
    assert!(!dir.path().join("t").exists());
}

#[test]
fn unwritable_sink_exits_64_before_doing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, json!({
        "auto_auth": {"method": {"type": "jwt", "config": {"path": "/x", "role": "r"}},
                      "sink": [{"type": "file", "config": {"path": "/nonexistent-vaultlet-dir/t"}}]}
    }).to_string()).unwrap();
    let out = command()
        .arg("agent")
        .arg(format!("-config={}", cfg.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("error during write check"), "{err}");
}

#[test]
fn no_config_at_all_gives_upstreams_message() {
    let out = command().arg("agent").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains("Must specify exactly at least one config path using -config"),
        "{err}"
    );
}

#[test]
fn usage_error_exits_2_and_revoke_without_a_token_fails_clearly() {
    let out = command().args(["agent", "-no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let home = tempfile::tempdir().unwrap();
    let out = command()
        .args(["token", "revoke", "-address=http://127.0.0.1:9", "-self"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains(".vault-token"), "names the token file: {err}");
}

#[test]
fn revoke_against_a_dead_server_names_the_address() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = command()
        .args([
            "token",
            "revoke",
            &format!("-address=http://127.0.0.1:{port}"),
            "-self",
        ])
        .env("VAULT_TOKEN", "hvs.not-a-real-token")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("hvs.not-a-real-token"), "{err}");
}

#[test]
fn template_syntax_error_exits_64_before_logging_in() {
    let dir = tempfile::tempdir().unwrap();
    // A Vault address the test owns: any connection the agent makes would be queued here.
    let vault = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    vault.set_nonblocking(true).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "hvs.not-a-real-token").unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, json!({
        "vault": {"address": format!("http://{}", vault.local_addr().unwrap())},
        "auto_auth": {"method": {"type": "token_file", "config": {"token_file_path": token.to_str().unwrap()}},
                      "sink": [{"type": "file", "config": {"path": dir.path().join("sink").to_str().unwrap()}}]},
        "template": [{"destination": dir.path().join("out").to_str().unwrap(), "contents": "pw={{ .Data.data.pw }"}]
    }).to_string()).unwrap();
    let out = command()
        .arg("agent")
        .arg(format!("-config={}", cfg.display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains(r#"Error: (dynamic) => "#)
            && err.contains(r#"template: :1: unexpected "}" in operand"#),
        "{err}"
    );
    assert!(!err.contains("Vault Agent started"), "{err}");
    match vault.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the agent connected to Vault: {other:?}"),
    }
    assert!(!dir.path().join("sink").exists());
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_go_duration_client_timeout_is_accepted() {
    // `VAULT_CLIENT_TIMEOUT=1m30s` (the `client-timeout` annotation) used to exit 64; a bad value
    // still does, naming the variable.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, json!({
        "auto_auth": {"method": {"type": "jwt", "config": {"path": "/x", "role": "r"}},
                      "sink": [{"type": "file", "config": {"path": "/nonexistent-vaultlet-dir/t"}}]}
    }).to_string()).unwrap();
    let run = |timeout: &str| {
        command()
            .arg("agent")
            .arg(format!("-config={}", cfg.display()))
            .env("VAULT_CLIENT_TIMEOUT", timeout)
            .output()
            .unwrap()
    };
    // Both stop at the sink write check (exit 64) — after the client timeout was accepted.
    let out = run("1m30s");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error during write check"), "{err}");
    let out = run("90 seconds");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(
        err.contains(r#"Error: VAULT_CLIENT_TIMEOUT: "90 seconds" is not a duration"#),
        "{err}"
    );
}

/// `probe` (agent.md §8.7) resolves the configuration as `agent` does: a refused config exits 64,
/// a config without `pid_file` or an agent that has not marked itself ready exits 1 with one line.
#[test]
fn probe_resolves_the_agents_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: serde_json::Value| {
        let mut c = json!({
            "auto_auth": {"method": {"type": "jwt", "config": {"path": "/x", "role": "r"}},
                          "sink": [{"type": "file", "config": {"path": dir.path().join("t").to_str().unwrap()}}]}
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let p = dir.path().join("c.json");
        std::fs::write(&p, c.to_string()).unwrap();
        p
    };
    let probe = |cfg: &std::path::Path| {
        let out = command()
            .arg("probe")
            .arg(format!("-config={}", cfg.display()))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = probe(&config(json!({})));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no pid_file"), "{err}");
    let pid_file = dir.path().join("pid");
    let (code, err) = probe(&config(json!({"pid_file": pid_file.to_str().unwrap()})));
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err.trim(),
        format!(
            "not ready: {}.ready does not exist (templates not rendered yet)",
            pid_file.display()
        )
    );
    let (code, err) = probe(&config(json!({"pid_file": 5, "exit_after_auth": "lots"})));
    assert_eq!(code, Some(64), "{err}");
}

/// agent.md §6.1: a PID file that cannot be written and a listener that cannot bind end the agent
/// as `bao agent` 2.7.2 does: one line on stdout, no log line, exit 1.
#[test]
fn pid_file_and_listener_failures_end_with_upstreams_line() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "hvs.not-a-real-token").unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap();
    let run = |extra: serde_json::Value| {
        let mut c = json!({
            "vault": {"address": "http://127.0.0.1:9"},
            "auto_auth": {"method": {"type": "token_file", "config": {"token_file_path": token.to_str().unwrap()}},
                          "sink": [{"type": "file", "config": {"path": dir.path().join("sink").to_str().unwrap()}}]},
        });
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let cfg = dir.path().join("c.json");
        std::fs::write(&cfg, c.to_string()).unwrap();
        command()
            .arg("agent")
            .arg(format!("-config={}", cfg.display()))
            .output()
            .unwrap()
    };
    let out = run(json!({"pid_file": "/nonexistent-vaultlet-dir/pid"}));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Error storing PID: could not open pid file: open /nonexistent-vaultlet-dir/pid: no such file or directory\n"
    );
    assert!(!err.contains("runtime error encountered"), "{err}");
    let out = run(
        json!({"listener": [{"type": "tcp", "address": taken.to_string(), "tls_disable": true}]}),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("Error starting listener: listen tcp {taken}: bind: address already in use\n")
    );
    assert!(!err.contains("runtime error encountered"), "{err}");
}
