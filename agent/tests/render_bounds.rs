//! The render runner's bounded event queue (docs/reliability.md, "Bounds"): more dependencies
//! than the queue holds all report in and render, in init mode against a real OpenBao.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

mod agent_common;

use std::time::Duration;

use agent_common::AgentRun;
use serde_json::json;
use vaultlet_tests::OpenBao;

#[test]
fn more_dependencies_than_the_event_queue_holds_all_render() {
    let bao = OpenBao::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // 600 `file` dependencies (the queue holds 256 events): each fetcher reports once, waiting
    // for room while the queue is full.
    let n = 600;
    let mut contents = String::new();
    for i in 0..n {
        std::fs::write(data.join(format!("f{i}")), format!("{i},")).unwrap();
        contents.push_str(&format!(
            "{{{{ file \"{}\" }}}}",
            data.join(format!("f{i}")).display()
        ));
    }
    let tok = dir.path().join("token");
    std::fs::write(&tok, bao.root_token()).unwrap();
    let out = dir.path().join("out");
    let cfg = json!({
        "auto_auth": {
            "method": {"type": "token_file", "config": {"token_file_path": tok.to_str().unwrap()}},
        },
        "vault": {"address": bao.addr()},
        "exit_after_auth": true,
        "template": [{"destination": out.to_str().unwrap(), "contents": contents}],
        "template_config": {"exit_on_retry_failure": true},
    });
    let mut run = AgentRun::start(dir, &cfg, &[]);
    let status = run
        .wait_exit(Duration::from_secs(60))
        .expect("init mode exits");
    assert!(status.success(), "agent log:\n{}", run.log());
    let expected: String = (0..n).map(|i| format!("{i},")).collect();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
}
