//! Loading agent configs: every example of agent.md (HCL and JSON give the same value), round
//! trips through `to_json_go`, the injector's exact bytes, merging, the environment and octal.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use vaultlet_shared::config::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

fn hcl(name: &str) -> LoadedConfig {
    AgentConfig::from_hcl_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn json(name: &str) -> LoadedConfig {
    AgentConfig::from_json_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn round_trip(c: &AgentConfig) {
    let bytes = c.to_json_go().unwrap();
    let back = AgentConfig::from_json_str(std::str::from_utf8(&bytes).unwrap())
        .unwrap_or_else(|e| panic!("re-parse failed: {e}\n{}", String::from_utf8_lossy(&bytes)));
    assert_eq!(&back.config, c, "{}", String::from_utf8_lossy(&bytes));
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
}

#[test]
fn injector_sidecar_config_parses() {
    let l = json("injector-sidecar.json");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    let a = c.auto_auth.as_ref().unwrap();
    assert_eq!(a.method.method_type, "kubernetes");
    assert_eq!(a.method.mount_path.as_deref(), Some("auth/kubernetes"));
    assert_eq!(a.method.config["role"], "app");
    assert_eq!(a.sinks.len(), 1);
    assert_eq!(a.sinks[0].sink_type, "file");
    assert_eq!(a.sinks[0].config["path"], "/home/vault/.vault-token");
    assert!(!c.exit_after_auth);
    assert_eq!(c.pid_file.as_deref(), Some("/home/vault/.pid"));
    let v = c.vault.as_ref().unwrap();
    assert_eq!(v.address.as_deref(), Some("https://vault.vault.svc:8200"));
    assert_eq!(v.ca_cert.as_deref(), Some("/vault/tls/ca.crt"));
    assert_eq!(v.effective_num_retries(), 12);
    assert_eq!(c.templates.len(), 1);
    let t = &c.templates[0];
    assert_eq!(t.destination.as_deref(), Some("/vault/secrets/db-creds"));
    assert!(
        t.contents
            .as_deref()
            .unwrap()
            .ends_with("{{ $v }}\n{{ end }}{{ end }}")
    );
    assert!(c.template_config.as_ref().unwrap().exit_on_retry_failure);
    round_trip(c);
}

#[test]
fn to_json_go_reproduces_the_injector_bytes() {
    // injector.md §3: compact, keys in emission order, Go escaping. The fixture is the
    // pretty-printed form of exactly these bytes.
    let c = json("injector-sidecar.json").config;
    let expected = concat!(
        r#"{"auto_auth":{"method":{"type":"kubernetes","mount_path":"auth/kubernetes","#,
        r#""config":{"role":"app","token_path":"/var/run/secrets/kubernetes.io/serviceaccount/token"}},"#,
        r#""sink":[{"type":"file","config":{"path":"/home/vault/.vault-token"}}]},"#,
        r#""exit_after_auth":false,"pid_file":"/home/vault/.pid","#,
        r#""vault":{"address":"https://vault.vault.svc:8200","ca_cert":"/vault/tls/ca.crt"},"#,
        r#""template":[{"destination":"/vault/secrets/db-creds","#,
        r#""contents":"{{ with secret \"database/creds/app\" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}","#,
        r#""left_delimiter":"{{","right_delimiter":"}}"}],"#,
        r#""template_config":{"exit_on_retry_failure":true}}"#
    );
    assert_eq!(
        String::from_utf8(c.to_json_go().unwrap()).unwrap(),
        expected
    );
}

#[test]
fn to_json_go_escapes_like_go() {
    let mut c = json("injector-sidecar.json").config;
    c.templates[0].contents = Some("{{ if and (gt 1 0) (lt 0 1) }}a && b <c>{{ end }}".into());
    let out = String::from_utf8(c.to_json_go().unwrap()).unwrap();
    assert!(out.contains(r#"a \u0026\u0026 b \u003cc\u003e"#), "{out}");
    round_trip(&c);
}

#[test]
fn auto_auth_example_hcl_equals_json() {
    let h = hcl("auto-auth.hcl");
    let j = json("auto-auth.json");
    assert_eq!(h.config, j.config);
    assert!(h.warnings.is_empty() && j.warnings.is_empty());
    let a = h.config.auto_auth.as_ref().unwrap();
    let m = &a.method;
    assert_eq!(m.method_type, "kubernetes");
    assert_eq!(m.effective_mount_path(), "auth/kubernetes");
    assert_eq!(m.canonical_namespace().as_deref(), Some("team1/"));
    assert_eq!(m.min_backoff, Some(GoDuration(Duration::from_secs(1))));
    assert_eq!(m.max_backoff, Some(GoDuration(Duration::from_secs(300))));
    // HCL1 octal literal: mode = 0640 is 416 = 0o640.
    assert_eq!(a.sinks[0].config["mode"].as_u64(), Some(0o640));
    assert_eq!(
        a.sinks[1].wrap_ttl,
        Some(GoDuration(Duration::from_secs(300)))
    );
    assert!(a.sinks[1].derive_key);
    round_trip(&h.config);
}

#[test]
fn hcl_mode_0600_is_octal() {
    let l = AgentConfig::from_hcl_str(
        "auto_auth {\n  method \"kubernetes\" {\n    config = { role = \"r\" }\n  }\n  sink \"file\" {\n    config = {\n      path = \"/t\"\n      mode = 0600\n    }\n  }\n}\n",
    )
    .unwrap();
    let sink = &l.config.auto_auth.unwrap().sinks[0];
    assert_eq!(sink.config["mode"].as_u64(), Some(0o600));
    assert_eq!(sink.config["mode"].as_u64(), Some(384));
}

#[test]
fn hcl_blocks_written_on_one_line_load_as_upstream() {
    let one_line = AgentConfig::from_hcl_str(
        "auto_auth { method \"kubernetes\" { config { role = \"r\" } } sink \"file\" { config { path = \"/t\" mode = 0640 } } }\ntemplate { source = \"/a\" destination = \"/b\" }\n",
    )
    .unwrap();
    let spread = AgentConfig::from_hcl_str(
        "auto_auth {\n  method \"kubernetes\" {\n    config {\n      role = \"r\"\n    }\n  }\n  sink \"file\" {\n    config {\n      path = \"/t\"\n      mode = 0640\n    }\n  }\n}\ntemplate {\n  source = \"/a\"\n  destination = \"/b\"\n}\n",
    )
    .unwrap();
    assert_eq!(one_line.config, spread.config);
    assert!(one_line.warnings.is_empty(), "{:?}", one_line.warnings);
    let sink = &one_line.config.auto_auth.as_ref().unwrap().sinks[0];
    assert_eq!(sink.config["path"], "/t");
    assert_eq!(sink.config["mode"].as_u64(), Some(0o640));
    let t = &one_line.config.templates[0];
    assert_eq!(t.source.as_deref(), Some("/a"));
    assert_eq!(t.destination.as_deref(), Some("/b"));
}

#[test]
fn cache_listener_example_hcl_equals_json() {
    let h = hcl("cache-listener.hcl");
    let j = json("cache-listener.json");
    assert_eq!(h.config, j.config);
    let c = &h.config;
    let cache = c.cache.as_ref().unwrap();
    assert_eq!(cache.use_auto_auth_token, Some(UseAutoAuthToken::Force));
    assert_eq!(
        c.effective_use_auto_auth_token(),
        Some(UseAutoAuthToken::Force)
    );
    let p = cache.persist.as_ref().unwrap();
    assert_eq!(p.persist_type, "kubernetes");
    assert_eq!(p.path, "/vault/agent-cache");
    assert!(p.exit_on_err && !p.keep_after_import);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].listener_type, "tcp");
    assert!(c.listeners[0].tls_disable);
    assert_eq!(
        c.listeners[0].agent_api,
        Some(AgentApi { enable_quit: true })
    );
    assert_eq!(c.listeners[1].role.as_deref(), Some("metrics_only"));
    let tc = c.template_config.as_ref().unwrap();
    assert_eq!(
        tc.static_secret_render_interval,
        Some(GoDuration(Duration::from_secs(600)))
    );
    assert_eq!(tc.max_connections_per_host, Some(20));
    assert_eq!(tc.lease_renewal_threshold, Some(0.75));
    assert_eq!(c.disable_idle_connections, ["auto-auth", "templating"]);
    let v = c.vault.as_ref().unwrap();
    assert_eq!(v.tls_skip_verify, Some(true));
    assert_eq!(v.effective_num_retries(), 0);
    let t = c.telemetry.as_ref().unwrap();
    assert_eq!(t.prometheus_retention(), Some(Duration::from_secs(86400)));
    assert!(t.disable_hostname);
    round_trip(c);
}

#[test]
fn templates_example_hcl_equals_json() {
    let h = hcl("templates.hcl");
    let j = json("templates.json");
    assert_eq!(h.config, j.config);
    let t = &h.config.templates;
    assert_eq!(t.len(), 3);
    assert_eq!(
        t[0].contents.as_deref(),
        Some(
            "{{ with secret \"kv/data/app\" }}\nexport PASSWORD=\"{{ .Data.data.password }}\" # ${HOME} stays literal\n{{ end }}\n"
        )
    );
    assert_eq!(t[0].perms, Some(FileMode(0o400)));
    assert_eq!(t[0].effective_command(), ["pkill -HUP app"]);
    assert!(t[0].error_on_missing_key);
    assert_eq!(
        t[0].wait.unwrap().max,
        Some(GoDuration(Duration::from_secs(10)))
    );
    assert_eq!(t[1].perms, Some(FileMode(0o600)));
    assert_eq!(t[1].group.as_deref(), Some("1000"));
    assert_eq!(t[1].function_denylist, ["file", "env*"]);
    assert_eq!(t[1].effective_command(), ["/bin/touch", "/tmp/done"]);
    assert_eq!(t[1].effective_command_timeout(), Duration::from_secs(15));
    assert_eq!(t[1].engine.as_deref(), Some("handlebars"));
    assert_eq!(t[2].wait.unwrap().effective_max(), Duration::from_secs(30));
    assert_eq!(t[2].effective_command_timeout(), Duration::from_secs(60));
    round_trip(&h.config);
}

#[test]
fn exec_env_template_example_hcl_equals_json() {
    let h = hcl("exec-env.hcl");
    let j = json("exec-env.json");
    assert_eq!(h.config, j.config);
    let c = &h.config;
    assert_eq!(c.exec.as_ref().unwrap().command, ["app", "arg"]);
    assert_eq!(c.env_templates.len(), 2);
    assert_eq!(c.env_templates[0].name, "DB_PASSWORD");
    assert!(c.env_templates[0].error_on_missing_key);
    assert_eq!(
        c.env_templates[1].source.as_deref(),
        Some("/etc/api-key.tpl")
    );
    round_trip(c);
}

#[test]
fn command_string_splits_on_commas() {
    let c = CommandSpec::Shell("echo a,b".into());
    assert_eq!(c.argv(), ["echo a", "b"]);
}

#[test]
fn unknown_keys_outside_strict_blocks_are_warnings() {
    let l = AgentConfig::from_json_str(
        r#"{"auto_auth":{"method":{"type":"kubernetes","colour":"red"},"sink":{"type":"file","config":{"path":"/t"}}},"bogus":1}"#,
    )
    .unwrap();
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    assert!(
        l.warnings
            .iter()
            .any(|w| w.contains("auto_auth.method") && w.contains("\"colour\""))
    );
    assert!(l.warnings.iter().any(|w| w.contains("\"bogus\"")));
}

#[test]
fn merge_rules_across_a_directory_and_files() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["10-auth.hcl", "20-more.json", "30-auth.hcl"] {
        std::fs::copy(data("merge-dir").join(f), dir.path().join(f)).unwrap();
    }
    // Skipped: editor temp files, other extensions, subdirectories.
    for junk in ["40-auth.hcl~", ".#50.hcl", "#60.hcl#", "README.md"] {
        std::fs::write(dir.path().join(junk), "broken {").unwrap();
    }
    std::fs::create_dir(dir.path().join("sub.hcl")).unwrap();
    std::fs::write(dir.path().join("sub.hcl/x.hcl"), "broken {").unwrap();

    let extra = dir.path().join("extra.conf");
    std::fs::write(
        &extra,
        "template_config {\n  exit_on_retry_failure = true\n}\npid_file = \"/tmp/last.pid\"\n",
    )
    .unwrap();

    let l = AgentConfig::load_paths(&[dir.path().to_path_buf(), extra]).unwrap();
    let c = l.config;
    // Later auto_auth replaces wholesale.
    let a = c.auto_auth.as_ref().unwrap();
    assert_eq!(a.method.method_type, "jwt");
    assert_eq!(a.method.config["role"], "second");
    assert_eq!(a.sinks.len(), 1);
    // Booleans OR-ed; empty pid_file does not replace; later non-empty does.
    assert!(c.exit_after_auth);
    assert_eq!(c.pid_file.as_deref(), Some("/tmp/last.pid"));
    // Lists concatenate in order.
    let dests: Vec<_> = c
        .templates
        .iter()
        .map(|t| t.destination.clone().unwrap())
        .collect();
    assert_eq!(dests, ["/tmp/a", "/tmp/b"]);
    let kinds: Vec<_> = c
        .listeners
        .iter()
        .map(|l| l.listener_type.as_str())
        .collect();
    assert_eq!(kinds, ["tcp", "unix"]);
    assert_eq!(c.disable_idle_connections, ["auto-auth", "templating"]);
    assert_eq!(
        c.vault.unwrap().address.as_deref(),
        Some("http://127.0.0.1:8200")
    );
    assert_eq!(c.log_level.as_deref(), Some("debug"));
    assert!(c.template_config.unwrap().exit_on_retry_failure);
}

#[test]
fn merge_validates_once_after_merging() {
    // Alone, the first file fails validation (cache without template or listener) ...
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.hcl");
    let b = dir.path().join("b.hcl");
    std::fs::write(&a, "cache {\n}\n").unwrap();
    std::fs::write(
        &b,
        "listener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = true\n}\n",
    )
    .unwrap();
    let err = AgentConfig::load_paths(std::slice::from_ref(&a)).unwrap_err();
    assert!(
        err.to_string().contains("enabling the cache requires"),
        "{err}"
    );
    // ... but merged with the second it is fine.
    AgentConfig::load_paths(&[a, b]).unwrap();
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.hcl");
    std::fs::write(&f, "vault {\n  tls_skip_verify = \"maybe\"\n}\n").unwrap();
    let err = AgentConfig::load_paths(std::slice::from_ref(&f))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.hcl"), "{err}");
    assert!(
        err.contains("vault.tls_skip_verify: \"maybe\" is not a boolean"),
        "{err}"
    );
    let missing = AgentConfig::load_paths(&[dir.path().join("nope.hcl")]).unwrap_err();
    assert!(missing.to_string().contains("nope.hcl"), "{missing}");
}

#[test]
fn env_base64_config() {
    let text = read("injector-sidecar.json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let expected = AgentConfig::from_json_str(&text).unwrap().config;

    let vault_only = |k: &str| (k == "VAULT_CONFIG").then(|| b64.clone());
    let got = AgentConfig::from_env(vault_only).unwrap().unwrap();
    assert_eq!(got.config, expected);

    assert!(AgentConfig::from_env(|_| None).unwrap().is_none());

    // BAO_CONFIG wins when present, even when empty.
    let both_bao_empty = |k: &str| match k {
        "VAULT_CONFIG" => Some(b64.clone()),
        "BAO_CONFIG" => Some(String::new()),
        _ => None,
    };
    let err = AgentConfig::from_env(both_bao_empty)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("BAO_CONFIG"), "{err}");

    let bad = |k: &str| (k == "VAULT_CONFIG").then(|| "%%%".to_string());
    let err = AgentConfig::from_env(bad).unwrap_err().to_string();
    assert!(
        err.contains("VAULT_CONFIG") && err.contains("base64"),
        "{err}"
    );

    // The injector's own output goes through the environment unchanged.
    let again = base64::engine::general_purpose::STANDARD.encode(expected.to_json_go().unwrap());
    let bao = |k: &str| (k == "BAO_CONFIG").then(|| again.clone());
    assert_eq!(
        AgentConfig::from_env(bao).unwrap().unwrap().config,
        expected
    );
}

#[test]
fn env_overrides_disable_lists() {
    let mut c = hcl("cache-listener.hcl").config;
    c.apply_env_overrides(|k| {
        (k == "VAULT_AGENT_DISABLE_KEEP_ALIVES").then(|| "Templating,auto-auth".into())
    })
    .unwrap();
    assert_eq!(c.disable_keep_alives, ["templating", "auto-auth"]);
    assert_eq!(c.disable_idle_connections, ["auto-auth", "templating"]);
    let err = c
        .apply_env_overrides(|k| (k == "BAO_AGENT_DISABLE_IDLE_CONNECTIONS").then(|| "nope".into()))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown disable_idle_connections value: nope"),
        "{err}"
    );
}

#[test]
fn serde_traits_match_the_loaders() {
    let c = json("injector-sidecar.json").config;
    let v = serde_json::to_value(&c).unwrap();
    let back: AgentConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back, c);
}

#[test]
fn hcl_block_attribute_and_json_shapes_agree() {
    let blocks = r#"
vault {
  address = "http://127.0.0.1:8200"
}
auto_auth {
  method "kubernetes" {
    config {
      role = "r"
    }
  }
  sink "file" {
    config {
      path = "/t"
    }
  }
}
template {
  destination = "/d"
  contents    = "x"
}
listener "tcp" {
  address = "127.0.0.1:8100"
}
"#;
    let attributes = r#"
vault = { address = "http://127.0.0.1:8200" }
auto_auth = {
  method = { type = "kubernetes", config = { role = "r" } }
  sink = [{ type = "file", config = { path = "/t" } }]
}
template = [{ destination = "/d", contents = "x" }]
listener = [{ type = "tcp", address = "127.0.0.1:8100" }]
"#;
    let json_single = r#"{"vault":{"address":"http://127.0.0.1:8200"},
      "auto_auth":{"method":{"kubernetes":{"config":{"role":"r"}}},"sink":{"file":{"config":{"path":"/t"}}}},
      "template":{"destination":"/d","contents":"x"},
      "listener":{"tcp":{"address":"127.0.0.1:8100"}}}"#;
    let a = AgentConfig::from_hcl_str(blocks).unwrap().config;
    let b = AgentConfig::from_hcl_str(attributes).unwrap().config;
    let c = AgentConfig::from_json_str(json_single).unwrap().config;
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.listeners[0].address, "127.0.0.1:8100");
    round_trip(&a);
}
