//! The real OpenBao agent accepts what `to_json_go` writes: every fixture config, made runnable
//! (loopback addresses, temp paths), is started with `bao agent -config=…`; it must come up and
//! keep running (retrying a dead Vault) instead of exiting with a configuration error.
//!
//! Needs the `bao` binary: `$BAO_BIN`, else `<workspace>/.venv/bin/bao`. Set
//! `VAULTLET_SKIP_BAO=1` to skip on machines without it.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vaultlet_shared::config::*;

fn bao() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BAO_BIN") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/bao");
    p.exists().then_some(p)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Point everything that touches the machine at loopback or `dir`.
fn make_runnable(mut c: AgentConfig, dir: &Path) -> AgentConfig {
    let tmp = |name: &str| dir.join(name).display().to_string();
    let token = tmp("token-file");
    std::fs::write(&token, "s.dummy").unwrap();
    c.vault.get_or_insert_with(Default::default).address = Some("http://127.0.0.1:1".into());
    c.vault.as_mut().unwrap().ca_cert = None;
    if let Some(a) = c.auto_auth.as_mut() {
        for v in a.method.config.values_mut() {
            if let Value::String(s) = v
                && s.starts_with('/')
            {
                *s = token.clone();
            }
        }
        for (i, s) in a.sinks.iter_mut().enumerate() {
            s.config
                .insert("path".into(), Value::from(tmp(&format!("sink-{i}"))));
            if s.dh_path.is_some() {
                // {"curve25519_public_key": base64 of 32 bytes}
                let key = tmp("dh.json");
                std::fs::write(
                    &key,
                    r#"{"curve25519_public_key":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="}"#,
                )
                .unwrap();
                s.dh_path = Some(key);
            }
        }
    }
    for l in &mut c.listeners {
        l.address = format!("127.0.0.1:{}", free_port());
    }
    if let Some(p) = c.cache.as_mut().and_then(|c| c.persist.as_mut()) {
        p.path = tmp("cache");
        std::fs::create_dir_all(&p.path).unwrap();
        p.service_account_token_file = Some(token.clone());
        p.exit_on_err = false;
    }
    for (i, t) in c.templates.iter_mut().enumerate() {
        t.destination = Some(tmp(&format!("out-{i}")));
        t.engine = None; // vaultlet extension; upstream rejects it.
        if t.source.is_some() {
            std::fs::write(tmp(&format!("src-{i}")), "x").unwrap();
            t.source = Some(tmp(&format!("src-{i}")));
        }
        t.sandbox_path = None;
    }
    for t in &mut c.env_templates {
        if t.source.is_some() {
            std::fs::write(tmp("env-src"), "x").unwrap();
            t.source = Some(tmp("env-src"));
        }
    }
    c.pid_file = Some(tmp("pid"));
    c
}

/// Run `bao agent` on the bytes; `Ok(())` if it is still up after two seconds.
fn bao_accepts(bao: &Path, bytes: &[u8], dir: &Path) -> Result<(), String> {
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, bytes).unwrap();
    let out_path = dir.join("agent.log");
    let log = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new(bao)
        .arg("agent")
        .arg(format!("-config={}", cfg.display()))
        .env_remove("VAULT_ADDR")
        .env_remove("BAO_ADDR")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > Duration::from_secs(2) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let log = std::fs::read_to_string(&out_path).unwrap_or_default();
    match status {
        None if !log
            .to_ascii_lowercase()
            .contains("error loading configuration") =>
        {
            Ok(())
        }
        _ => Err(format!("bao agent exited ({status:?}):\n{log}")),
    }
}

#[test]
fn bao_agent_accepts_to_json_go_output() {
    let Some(bao) = bao() else {
        if std::env::var_os("VAULTLET_SKIP_BAO").is_some() {
            return;
        }
        panic!("bao binary not found: set BAO_BIN, or VAULTLET_SKIP_BAO=1 to skip");
    };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config");
    let fixtures = [
        "injector-sidecar.json",
        "auto-auth.hcl",
        "cache-listener.hcl",
        "templates.hcl",
        "exec-env.hcl",
    ];
    for f in fixtures {
        let text = std::fs::read_to_string(data.join(f)).unwrap();
        let parsed = if f.ends_with(".json") {
            AgentConfig::from_json_str(&text)
        } else {
            AgentConfig::from_hcl_str(&text)
        }
        .unwrap()
        .config;
        let dir = tempfile::tempdir().unwrap();
        let c = make_runnable(parsed, dir.path());
        c.validate().unwrap();
        let bytes = c.to_json_go().unwrap();
        if let Err(e) = bao_accepts(&bao, &bytes, dir.path()) {
            panic!("{f}: {e}\nconfig: {}", String::from_utf8_lossy(&bytes));
        }
    }
}
