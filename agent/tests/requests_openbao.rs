//! What a pod start costs Vault (issue 21), counted in a real OpenBao's audit log: one login, no
//! renewal of the token that login just gave (agent.md §3.4), one KV mount lookup per mount
//! however many paths of it the templates read (agent.md §5.3), and one read per secret. A token
//! read from a file is still renewed at once.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

mod agent_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_common::AgentRun;
use serde_json::{Value, json};
use vaultlet_tests::{JwtIssuer, KUBERNETES_API, OpenBao};

const SUBJECT: &str = "system:serviceaccount:ns1:app";

/// The paths the templates read (as in bench/agent_bench.py's CONSUL10): three on the KV v2 mount
/// `secret/`, one on the KV v1 mount `kv1/`, the CA of the PKI mount `pki/`.
const PATHS: [&str; 5] = [
    "secret/data/database/config",
    "secret/data/consul/gossip",
    "secret/data/app/env",
    "kv1/app/config",
    "pki/cert/ca",
];

/// A raft-backed server (audit log on) with the three mounts seeded and policy `app`.
fn server() -> OpenBao {
    let bao = OpenBao::start_raft();
    bao.enable_kv("secret", 2);
    bao.enable_kv("kv1", 1);
    for p in ["database/config", "consul/gossip", "app/env"] {
        bao.kv_put("secret", p, json!({"v": p}));
    }
    bao.kv_put("kv1", "app/config", json!({"v": "kv1"}));
    bao.enable_pki("pki", "r", &["example.com"]);
    bao.write_policy(
        "app",
        r#"path "secret/*" { capabilities = ["read"] }
path "kv1/*" { capabilities = ["read"] }
path "pki/cert/ca" { capabilities = ["read"] }"#,
    );
    bao
}

/// Templates for [`PATHS`] writing under `out`, and their files.
fn templates(out: &Path) -> (Vec<Value>, Vec<PathBuf>) {
    let files: Vec<PathBuf> = (0..PATHS.len())
        .map(|i| out.join(format!("f{i}")))
        .collect();
    let t = PATHS
        .iter()
        .zip(&files)
        .map(|(p, f)| {
            json!({"destination": f.to_str().unwrap(),
                   "contents": format!("{{{{ with secret \"{p}\" }}}}ok{{{{ end }}}}")})
        })
        .collect();
    (t, files)
}

/// The agent's requests in the audit log (the harness's own, made with the root token or
/// enabling the audit device, left out), counted by `operation path`, the mount lookups under `lookup <path>`.
fn requests(bao: &OpenBao) -> BTreeMap<String, usize> {
    let log = std::fs::read_to_string(bao.audit_log()).unwrap();
    let mut out = BTreeMap::new();
    for line in log.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let root = e
            .pointer("/auth/policies")
            .and_then(Value::as_array)
            .is_some_and(|p| p.iter().any(|x| x == "root"));
        let path = e["request"]["path"].as_str().unwrap_or_default();
        // The harness enabling the audit device is logged without a token.
        if e["type"] != "request" || root || path.starts_with("sys/audit/") {
            continue;
        }
        let key = match path.strip_prefix("sys/internal/ui/mounts/") {
            Some(p) => format!("lookup {p}"),
            None => format!("{} {path}", e["request"]["operation"].as_str().unwrap()),
        };
        *out.entry(key).or_default() += 1;
    }
    out
}

fn starts_with(reqs: &BTreeMap<String, usize>, prefix: &str) -> usize {
    reqs.iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, n)| n)
        .sum()
}

/// Starts a sidecar with `method` and the templates, waits until every file is rendered and a
/// moment more; returns the agent's requests and the run.
fn pod_start(
    bao: &OpenBao,
    dir: tempfile::TempDir,
    method: Value,
) -> (BTreeMap<String, usize>, AgentRun) {
    let (t, files) = templates(&dir.path().join("out"));
    let cfg = json!({
        "auto_auth": {
            "method": method,
            "sink": [{"type": "file", "config": {"path": dir.path().join("sink").to_str().unwrap()}}]
        },
        "vault": {"address": bao.addr()},
        "template": t,
        "template_config": {"exit_on_retry_failure": true},
    });
    let run = AgentRun::start(dir, &cfg, &[]);
    for f in &files {
        run.wait_file(f, Duration::from_secs(30), |s| s == "ok");
    }
    std::thread::sleep(Duration::from_secs(1));
    (requests(bao), run)
}

#[test]
fn a_pod_start_logs_in_once_renews_nothing_and_looks_up_each_mount_once() {
    let bao = server();
    let issuer = JwtIssuer::new(KUBERNETES_API);
    bao.enable_jwt_auth("jwt", &issuer);
    bao.jwt_role(
        "jwt",
        "app",
        SUBJECT,
        &["vault"],
        &["default", "app"],
        json!({"token_ttl": "1h"}),
    );
    let dir = tempfile::tempdir().unwrap();
    let jwt = dir.path().join("jwt");
    let minted = issuer.mint_service_account("ns1", "app", &["vault"], Duration::from_secs(3600));
    std::fs::write(&jwt, minted).unwrap();
    let method = json!({"type": "jwt", "mount_path": "auth/jwt",
        "config": {"path": jwt.to_str().unwrap(), "role": "app", "remove_jwt_after_reading": "false"}});
    let (reqs, run) = pod_start(&bao, dir, method);
    let log = run.log();
    assert_eq!(
        reqs.get("update auth/jwt/login"),
        Some(&1),
        "{reqs:?}\n{log}"
    );
    assert_eq!(starts_with(&reqs, "update auth/token/renew"), 0, "{reqs:?}");
    // One lookup per mount: secret/, kv1/, pki/ (which path of a mount asks first varies).
    assert_eq!(starts_with(&reqs, "lookup "), 3, "{reqs:?}");
    for mount in ["secret/", "kv1/", "pki/"] {
        assert_eq!(
            starts_with(&reqs, &format!("lookup {mount}")),
            1,
            "{reqs:?}"
        );
    }
    for p in PATHS {
        assert_eq!(reqs.get(&format!("read {p}")), Some(&1), "{reqs:?}");
    }
    let total: usize = reqs.values().sum();
    assert_eq!(total, 1 + 3 + PATHS.len(), "nothing else: {reqs:?}");
}

#[test]
fn a_token_read_from_a_file_is_renewed_at_once() {
    let bao = server();
    let made = bao.api(
        "POST",
        "auth/token/create",
        Some(json!({"policies": ["app"], "ttl": "1h", "renewable": true})),
    );
    let token = made["auth"]["client_token"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, &token).unwrap();
    let method =
        json!({"type": "token_file", "config": {"token_file_path": file.to_str().unwrap()}});
    let (reqs, run) = pod_start(&bao, dir, method);
    let log = run.log();
    assert_eq!(
        reqs.get("read auth/token/lookup-self"),
        Some(&1),
        "{reqs:?}\n{log}"
    );
    assert_eq!(
        reqs.get("update auth/token/renew-self"),
        Some(&1),
        "{reqs:?}\n{log}"
    );
    assert_eq!(starts_with(&reqs, "lookup "), 3, "{reqs:?}");
}
