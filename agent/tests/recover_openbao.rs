//! Recovery after a Vault restart (agent.md §5.11) against a real OpenBao with raft storage,
//! stopped and started again under a running agent: while it is down one fetch probes it and the
//! others wait; once it answers the others go together at their next scheduled point, the probe's
//! dependency with them; every file stays intact throughout; and after that every dependency is
//! read a full band after the previous read. The reads are counted in the server's audit log.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

mod agent_common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use agent_common::AgentRun;
use serde_json::{Value, json};
use vaultlet_tests::OpenBao;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
/// `static_secret_render_interval`: refreshes every 3.4–3.8 s, so a held refresh goes within
/// 3.8 s of the probe's answer.
const REFRESH_S: f64 = 4.0;

/// Seconds of an audit `time` (RFC 3339, UTC), counted from the start of its month (the test
/// runs for a minute).
fn audit_secs(t: &str) -> f64 {
    let (date, time) = t.trim_end_matches('Z').split_once('T').expect("RFC 3339");
    let day: f64 = date.rsplit('-').next().unwrap().parse().unwrap();
    let mut parts = time.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    day * 86_400.0 + h * 3600.0 + m * 60.0 + s
}

/// The agent's reads of `secret/data/<name>` in the audit log from byte `from`, by name.
fn reads(bao: &OpenBao, from: usize) -> BTreeMap<String, Vec<f64>> {
    let log = std::fs::read_to_string(bao.audit_log()).unwrap();
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in log[from..].lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let r = &e["request"];
        if e["type"] != "request" || r["operation"] != "read" {
            continue;
        }
        if let Some(name) = r["path"]
            .as_str()
            .and_then(|p| p.strip_prefix("secret/data/"))
        {
            out.entry(name.to_string())
                .or_default()
                .push(audit_secs(e["time"].as_str().unwrap()));
        }
    }
    for v in out.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    out
}

/// Reads every file every 50 ms until stopped; returns what it found missing, empty or neither
/// of the two values.
fn sample(files: Vec<PathBuf>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut bad = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            for f in &files {
                match std::fs::read_to_string(f) {
                    Ok(s) if s == "one" || s == "two" => {}
                    Ok(s) => bad.push(format!("{}: {s:?}", f.display())),
                    Err(e) => bad.push(format!("{}: {e}", f.display())),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bad
    })
}

#[test]
fn after_a_restart_one_fetch_probes_the_others_follow_together_on_their_schedule() {
    let mut bao = OpenBao::start_raft();
    bao.enable_kv("secret", 2);
    for n in NAMES {
        bao.kv_put("secret", n, json!({"v": "one"}));
    }
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("token");
    std::fs::write(&tok, bao.root_token()).unwrap();
    let out = dir.path().join("out");
    let files: Vec<PathBuf> = NAMES.iter().map(|n| out.join(n)).collect();
    let templates: Vec<Value> = NAMES
        .iter()
        .zip(&files)
        .map(|(n, f)| {
            json!({"destination": f.to_str().unwrap(),
                   "contents": format!("{{{{ with secret \"secret/{n}\" }}}}{{{{ .Data.data.v }}}}{{{{ end }}}}")})
        })
        .collect();
    let cfg = json!({
        "auto_auth": {
            "method": {"type": "token_file", "config": {"token_file_path": tok.to_str().unwrap()}},
            "sink": [{"type": "file", "config": {"path": dir.path().join("sink").to_str().unwrap()}}]
        },
        "vault": {"address": bao.addr()},
        "template": templates,
        "template_config": {"static_secret_render_interval": format!("{REFRESH_S}s"), "exit_on_retry_failure": true},
    });
    let mut run = AgentRun::start(dir, &cfg, &[]);
    for f in &files {
        run.wait_file(f, Duration::from_secs(20), |s| s == "one");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = sample(files.clone(), stop.clone());

    bao.stop();
    run.wait_log(Duration::from_secs(20), |l| l.contains("retry attempt 1 "));
    // Long enough for the probe's second retry (each attempt holds two HTTP retries, ~4 s).
    std::thread::sleep(Duration::from_secs(7));
    let from = std::fs::metadata(bao.audit_log()).unwrap().len() as usize;
    bao.restart();
    let ready = Instant::now();
    for n in NAMES {
        bao.kv_put("secret", n, json!({"v": "two"}));
    }
    for f in &files {
        run.wait_file(f, Duration::from_secs(20), |s| s == "two");
    }
    let current = ready.elapsed();
    // Two refreshes after the recovery, to see when each dependency is read next.
    std::thread::sleep(Duration::from_secs_f64(REFRESH_S * 2.0));
    stop.store(true, Ordering::Relaxed);
    let bad = sampler.join().unwrap();
    let log = run.log();
    assert!(
        run.child.try_wait().unwrap().is_none(),
        "still running:\n{log}"
    );
    assert!(bad.is_empty(), "files not intact: {bad:?}\n{log}");

    // While Vault was down one dependency probed it: only its fetch was retried more than once.
    let retried: Vec<&str> = NAMES
        .iter()
        .copied()
        .filter(|n| {
            log.lines()
                .any(|l| l.contains("retry attempt 2 ") && l.contains(&format!("secret/data/{n}")))
        })
        .collect();
    assert_eq!(retried.len(), 1, "one probe, not {retried:?}:\n{log}");
    assert_eq!(
        log.matches("Vault is unavailable: this fetch probes it")
            .count(),
        1,
        "{log}"
    );
    assert_eq!(log.matches("Vault answers again").count(), 1, "{log}");

    // Current again within the probe's retry cycle plus the next scheduled point (≤ 0.95 ×
    // REFRESH_S) and one refresh for a value read before it changed.
    assert!(current < Duration::from_secs(12), "{current:?}\n{log}");

    let reads = reads(&bao, from);
    assert_eq!(reads.len(), NAMES.len(), "{reads:?}");
    let probe = retried[0];
    let first = |n: &str| reads[n][0];
    let released: Vec<f64> = NAMES
        .iter()
        .filter(|n| **n != probe)
        .map(|n| first(n))
        .collect();
    let (lo, hi) = released
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
    // The others were held until the probe got its answer, then went together at their next
    // scheduled point (agent.md §5.11), the probe's dependency with them.
    assert!(
        lo >= first(probe),
        "held until the probe's answer: {reads:?}"
    );
    assert!(hi - lo < 0.2, "released together: {reads:?}\n{log}");
    assert!(
        lo - first(probe) <= REFRESH_S * 0.95 + 0.2,
        "within a band: {reads:?}"
    );
    let probe_next = reads[probe][1];
    assert!(
        (probe_next - lo).abs() < 0.2,
        "the probe's dependency rejoins the others: {reads:?}"
    );
    // From then on every next read a full band after the previous one.
    for (n, ts) in &reads {
        let from = usize::from(n.as_str() == probe);
        for w in ts[from..].windows(2) {
            assert!(
                w[1] - w[0] >= REFRESH_S * 0.85 - 0.1,
                "{n} read again {:.2} s after its previous read: {reads:?}\n{log}",
                w[1] - w[0]
            );
        }
        assert!(ts.len() >= 2, "{n} refreshed after the recovery: {reads:?}");
    }
}
