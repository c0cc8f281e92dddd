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
