//! The rendering runtime end to end: the built agent against a real OpenBao dev server
//! (agent.md §5–6): shared PKI issuance, re-render on change, commands, outages.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

mod agent_common;

use std::time::Duration;

use agent_common::AgentRun;
use serde_json::{Value, json};
use vaultlet_tests::OpenBao;

/// A token_file auto-auth config (the root token) plus `extra` merged in.
fn config(bao: &OpenBao, dir: &std::path::Path, extra: Value) -> Value {
    let tok = dir.join("token");
    std::fs::write(&tok, bao.root_token()).unwrap();
    let mut c = json!({
        "auto_auth": {
            "method": {"type": "token_file", "config": {"token_file_path": tok.to_str().unwrap()}},
            "sink": [{"type": "file", "config": {"path": dir.join("sink").to_str().unwrap()}}]
        },
        "vault": {"address": bao.addr()},
    });
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn spki_of_cert(pem: &str) -> Vec<u8> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = p.parse_x509().unwrap();
    cert.tbs_certificate.subject_pki.raw.to_vec()
}

#[test]
fn consul_server_cert_and_key_templates_share_one_issuance() {
    let bao = OpenBao::start();
    bao.enable_pki("pki", "consul-server", &["dc1.consul"]);
    bao.api(
        "POST",
        "pki/roles/consul-server",
        Some(json!({"allowed_domains": "dc1.consul", "allow_subdomains": true, "allow_localhost": true,
                    "allow_ip_sans": true, "key_type": "ec", "key_bits": 256, "max_ttl": "720h"})),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("secrets");
    let args = r#""pki/issue/consul-server" "common_name=server.dc1.consul" "ttl=1h" "alt_names=localhost" "ip_sans=127.0.0.1" "private_key_format=pkcs8""#;
    // The key template lists the params in another order and spacing: still one identity (agent.md §5.2).
    let args_reordered = r#""pki/issue/consul-server" "private_key_format=pkcs8" "ttl = 1h" "common_name=server.dc1.consul" "ip_sans=127.0.0.1" "alt_names=localhost""#;
    let cfg = config(
        &bao,
        dir.path(),
        json!({
            "exit_after_auth": true,
            "template": [
                {"destination": out.join("servercert.crt").to_str().unwrap(),
                 "contents": format!("{{{{- with secret {args} -}}}}{{{{ .Data.certificate }}}}{{{{- end -}}}}")},
                {"destination": out.join("servercert.key").to_str().unwrap(), "perms": "0400",
                 "contents": format!("{{{{- with secret {args_reordered} -}}}}{{{{ .Data.private_key }}}}{{{{- end -}}}}")},
            ],
            "template_config": {"exit_on_retry_failure": true},
        }),
    );
    let mut run = AgentRun::start(dir, &cfg, &[]);
    let status = run
        .wait_exit(Duration::from_secs(30))
        .expect("init mode exits");
    assert!(status.success(), "agent log:\n{}", run.log());
    let cert = std::fs::read_to_string(out.join("servercert.crt")).unwrap();
    let key = std::fs::read_to_string(out.join("servercert.key")).unwrap();
    let kp = rcgen::KeyPair::from_pem(&key).expect("a PKCS#8 EC key");
    assert_eq!(
        spki_of_cert(&cert),
        rcgen::PublicKeyData::subject_public_key_info(&kp),
        "the key belongs to the certificate"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(out.join("servercert.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o400
    );
    // One issuance: the PKI mount has exactly one leaf besides the root.
    let certs = bao.api("LIST", "pki/certs", None);
    let n = certs["data"]["keys"].as_array().unwrap().len();
    assert_eq!(n, 2, "root + one leaf, got {certs}");
}

#[test]
fn a_changed_kv2_secret_is_rendered_again_and_the_command_runs_once_per_change() {
    let bao = OpenBao::start();
    bao.kv_put("secret", "app", json!({"password": "one"}));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out/app.txt");
    let count = dir.path().join("count");
    let cfg = config(
        &bao,
        dir.path(),
        json!({
            "template": [{"destination": dest.to_str().unwrap(),
                          "contents": "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
                          "command": format!("sh -c 'echo x >> {}'", count.display())}],
            "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
        }),
    );
    let run = AgentRun::start(dir, &cfg, &[]);
    run.wait_file(&dest, Duration::from_secs(20), |s| s == "one");
    run.wait_file(&count, Duration::from_secs(10), |s| s.lines().count() == 1);
    bao.kv_put("secret", "app", json!({"password": "two"}));
    run.wait_file(&dest, Duration::from_secs(10), |s| s == "two");
    run.wait_file(&count, Duration::from_secs(10), |s| s.lines().count() == 2);
    // Unchanged data over several more intervals: no rewrite, no command.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        2,
        "log:\n{}",
        run.log()
    );
}

#[test]
fn a_template_that_reads_the_clock_is_executed_again_at_every_pass() {
    // Upstream executes every template at every pass (agent.md §5.1): a `timestamp` template
    // with no secret of its own is rewritten whenever another template's secret is refreshed.
    let bao = OpenBao::start();
    bao.kv_put("secret", "app", json!({"password": "one"}));
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("out/app.txt");
    let clock = dir.path().join("out/clock.txt");
    let cfg = config(
        &bao,
        dir.path(),
        json!({
            "template": [
                {"destination": app.to_str().unwrap(),
                 "contents": "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}"},
                {"destination": clock.to_str().unwrap(),
                 "contents": "{{ timestamp \"15:04:05.000\" }}"},
            ],
            "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
        }),
    );
    let run = AgentRun::start(dir, &cfg, &[]);
    run.wait_file(&app, Duration::from_secs(20), |s| s == "one");
    let first = run.wait_file(&clock, Duration::from_secs(10), |s| {
        s.len() == "15:04:05.000".len()
    });
    run.wait_file(&clock, Duration::from_secs(10), |s| s != first);
}

#[test]
fn vault_stopping_mid_run_leaves_every_file_intact() {
    let mut bao = OpenBao::start();
    bao.kv_put("secret", "a", json!({"v": "alpha"}));
    bao.kv_put("secret", "b", json!({"v": "beta"}));
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let cfg = config(
        &bao,
        dir.path(),
        json!({
            "template": [
                {"destination": a.to_str().unwrap(), "contents": "{{ with secret \"secret/a\" }}{{ .Data.data.v }}{{ end }}"},
                {"destination": b.to_str().unwrap(), "contents": "{{ with secret \"secret/b\" }}{{ .Data.data | toJSON }}{{ end }}"},
            ],
            "vault": {"address": bao.addr(), "retry": {"num_retries": 2}},
            "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
        }),
    );
    let mut run = AgentRun::start(dir, &cfg, &[]);
    run.wait_file(&a, Duration::from_secs(20), |s| s == "alpha");
    run.wait_file(&b, Duration::from_secs(20), |s| s == r#"{"v":"beta"}"#);
    bao.stop();
    // The retries run out (2 retries): the agent exits 1 as upstream's sidecar does; the files stay.
    let status = run
        .wait_exit(Duration::from_secs(60))
        .expect("gives up after the retries");
    assert_eq!(status.code(), Some(1), "log:\n{}", run.log());
    assert_eq!(std::fs::read_to_string(&a).unwrap(), "alpha");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), r#"{"v":"beta"}"#);
    let log = run.log();
    assert!(log.contains("exceeded maximum retries"), "{log}");
    assert!(
        !log.contains("alpha") && !log.contains("beta"),
        "no secret in logs:\n{log}"
    );
}

#[test]
fn init_mode_failure_names_the_template_and_writes_nothing() {
    let bao = OpenBao::start();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("missing.txt");
    let cfg = config(
        &bao,
        dir.path(),
        json!({
            "exit_after_auth": true,
            "template": [{"destination": dest.to_str().unwrap(),
                          "contents": "{{ with secret \"secret/nope\" }}{{ .Data.data.x }}{{ end }}"}],
            "vault": {"address": bao.addr(), "retry": {"num_retries": -1}},
            "template_config": {"exit_on_retry_failure": true},
        }),
    );
    let mut run = AgentRun::start(dir, &cfg, &[]);
    let status = run.wait_exit(Duration::from_secs(30)).expect("exits");
    assert_eq!(status.code(), Some(1), "log:\n{}", run.log());
    assert!(run.log().contains("secret/nope"), "{}", run.log());
    assert!(!dest.exists());
}

/// agent.md §6.1: a failed template ends the agent with upstream's stop line (as `bao agent`
/// 2.7.2 prints it), in both log formats, plus our `destination` field.
#[test]
fn a_failed_template_ends_with_upstreams_stop_line_in_both_formats() {
    let bao = OpenBao::start();
    for format in ["standard", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let cfg = config(
            &bao,
            dir.path(),
            json!({
                "exit_after_auth": true,
                "log_format": format,
                "template": [{"destination": dest.to_str().unwrap(),
                              "contents": "{{ index (secret \"secret/app\").Data \"k\" }}"}],
                "template_config": {"exit_on_retry_failure": true},
            }),
        );
        let mut run = AgentRun::start(dir, &cfg, &[]);
        let status = run.wait_exit(Duration::from_secs(30)).expect("exits");
        let log = run.log();
        assert_eq!(status.code(), Some(1), "{log}");
        let error = r#"template server: (dynamic): execute: template: :1:3: executing \"\" at <index (secret \"secret/app\").Data \"k\">: error calling index: index of untyped nil"#;
        let line = log
            .lines()
            .find(|l| l.contains("runtime error encountered"))
            .unwrap_or_else(|| panic!("no stop line: {log}"));
        if format == "json" {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["@module"], "agent", "{line}");
            assert_eq!(v["@level"], "error", "{line}");
            assert_eq!(v["error"], error.replace(r#"\""#, "\""), "{line}");
            assert_eq!(v["exitCode"], 1, "{line}");
            assert_eq!(v["destination"], dest.to_str().unwrap(), "{line}");
        } else {
            let want = format!(
                "[ERROR] agent: runtime error encountered: error=\"{error}\" destination={} exitCode=1",
                dest.display()
            );
            assert!(line.ends_with(&want), "{line}\nwant …{want}");
        }
        assert!(
            log.lines()
                .any(|l| l == "Error encountered during run, refer to logs for more details."),
            "{log}"
        );
        assert!(!log.contains("agent stopped"), "{log}");
        let first = if format == "json" {
            r#""@message":"template server error","@module":"template.server""#
        } else {
            "[ERROR] template.server: template server error: error="
        };
        assert!(
            log.lines().any(|l| l.contains(first)
                && l.contains("index of untyped nil")
                && l.contains("-1ns")),
            "{log}"
        );
        assert!(!dest.exists());
    }
}

#[test]
fn wait_holds_a_change_back_but_not_the_first_render() {
    let bao = OpenBao::start();
    bao.kv_put("secret", "app", json!({"password": "one"}));
    let dir = tempfile::tempdir().unwrap();
    let held = dir.path().join("held.txt");
    let free = dir.path().join("free.txt");
    let contents = "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}";
    let cfg = config(
        &bao,
        dir.path(),
        json!({
            "template": [
                {"destination": held.to_str().unwrap(), "contents": contents,
                 "wait": {"min": "4s", "max": "20s"}},
                {"destination": free.to_str().unwrap(), "contents": contents},
            ],
            "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
        }),
    );
    let run = AgentRun::start(dir, &cfg, &[]);
    // The first render is not held: both files come in the same pass.
    run.wait_file(&free, Duration::from_secs(20), |s| s == "one");
    assert_eq!(std::fs::read_to_string(&held).unwrap(), "one");
    bao.kv_put("secret", "app", json!({"password": "two"}));
    run.wait_file(&free, Duration::from_secs(10), |s| s == "two");
    // The pass that wrote free.txt started the hold of held.txt (min 4 s).
    assert_eq!(
        std::fs::read_to_string(&held).unwrap(),
        "one",
        "log:\n{}",
        run.log()
    );
    run.wait_file(&held, Duration::from_secs(15), |s| s == "two");
}

/// Issue 16, failure 2: a template failing on a secret's value, at trace level, never prints the
/// value — one run per kind of failing function, against the real server; the marker must appear
/// nowhere in the agent's stdout/stderr, and the error still names the template's position.
#[test]
fn a_template_failing_on_a_secret_never_logs_its_value_at_trace_level() {
    const MARKER: &str = "Zq9TRACEMARKERx7";
    let bao = OpenBao::start();
    bao.kv_put(
        "secret",
        "app",
        json!({
            "m": MARKER,
            "json": format!("{{\"a\": [{MARKER}"),
            "yaml": format!("a: {MARKER}\n  - {MARKER}\nb: [x"),
            "re": format!("({MARKER}"),
            "b64": format!("{MARKER}!!"),
            "list": ["x"],
        }),
    );
    let calls = [
        "parseInt .Data.data.m",
        "parseUint .Data.data.m",
        "parseFloat .Data.data.m",
        "parseBool .Data.data.m",
        "parseJSON .Data.data.json",
        "parseYAML .Data.data.yaml",
        "toTOML .Data.data.m",
        "lt .Data.data.m 5",
        "index .Data.data.list .Data.data.m",
        "regexMatch .Data.data.re \"x\"",
        "base64Decode .Data.data.b64",
        "sprig_semverCompare .Data.data.m \"1.0.0\"",
        "executeTemplate .Data.data.m",
    ];
    for call in calls {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.txt");
        let cfg = config(
            &bao,
            dir.path(),
            json!({
                "exit_after_auth": true,
                "template": [{"destination": dest.to_str().unwrap(),
                              "contents": format!("{{{{ with secret \"secret/app\" }}}}{{{{ {call} }}}}{{{{ end }}}}")}],
                "template_config": {"exit_on_retry_failure": true},
            }),
        );
        let mut run = AgentRun::start(dir, &cfg, &["-log-level=trace"]);
        let status = run
            .wait_exit(Duration::from_secs(30))
            .expect("init mode exits");
        let log = run.log();
        assert!(!status.success(), "{call}: rendered; log:\n{log}");
        assert!(!dest.exists(), "{call}");
        assert!(
            !log.contains(MARKER),
            "{call}: the value is in the log:\n{log}"
        );
        // The log line quotes the error, so a `"` in the node reads `\"` there.
        assert!(
            log.contains(&format!("at <{}>", call.replace('"', "\\\""))),
            "{call}: the error names the node:\n{log}"
        );
        assert!(
            log.contains("Log Level: trace"),
            "{call}: ran at trace level:\n{log}"
        );
    }
}
