//! The settings step driven with a map for the environment.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

fn token_file_config(extra: Value) -> Value {
    let mut v = json!({"auto_auth": {"method": {"type": "token_file", "config": {"token_file_path": "/t"}},
                                     "sink": [{"type": "file", "config": {"path": "/nonexistent-vaultlet-dir/s"}}]}});
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn args(flags: &[&str]) -> AgentArgs {
    let mut argv = vec!["vault", "agent"];
    argv.extend_from_slice(flags);
    match crate::cli::Cli::parse_go_style(argv.into_iter().map(Into::into))
        .unwrap()
        .command
    {
        crate::cli::Command::Agent(a) => a,
        _ => unreachable!(),
    }
}

#[test]
fn no_config_at_all_is_a_load_error() {
    let e = Settings::resolve(&args(&[]), &env_of(&[])).unwrap_err();
    assert!(e.is_load());
    assert_eq!(
        e.to_string(),
        "Must specify exactly at least one config path using -config"
    );
}

#[test]
fn config_from_the_environment_and_connection_precedence() {
    let cfg = b64(&token_file_config(
        json!({"vault": {"address": "http://from-config:1"}}),
    ));
    let s = Settings::resolve(&args(&[]), &env_of(&[("VAULT_CONFIG", &cfg)])).unwrap();
    assert_eq!(s.connection.address, "http://from-config:1");
    assert_eq!(s.connection.timeout, Duration::from_secs(60));
    let s = Settings::resolve(
        &args(&["-address=http://flag:3"]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_ADDR", "http://env:2")]),
    )
    .unwrap();
    assert_eq!(s.connection.address, "http://flag:3");
}

#[test]
fn client_timeout_takes_go_durations() {
    let cfg = b64(&token_file_config(json!({})));
    for (v, want) in [
        ("1m30s", 90_000),
        ("60", 60_000),
        ("500ms", 500),
        ("2h", 7_200_000),
    ] {
        let s = Settings::resolve(
            &args(&[]),
            &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_CLIENT_TIMEOUT", v)]),
        )
        .unwrap();
        assert_eq!(s.connection.timeout, Duration::from_millis(want), "{v}");
    }
    let e = Settings::resolve(
        &args(&[]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_CLIENT_TIMEOUT", "soon")]),
    )
    .unwrap_err();
    assert!(!e.is_load());
    assert_eq!(
        e.to_string(),
        r#"VAULT_CLIENT_TIMEOUT: "soon" is not a duration"#
    );
}

#[test]
fn log_settings_flag_env_config() {
    let cfg = b64(&token_file_config(
        json!({"log_level": "warn", "log_format": "json"}),
    ));
    let s = Settings::resolve(&args(&[]), &env_of(&[("VAULT_CONFIG", &cfg)])).unwrap();
    assert_eq!(
        (s.log_level, s.log_format),
        (LevelFilter::WARN, LogFormat::Json)
    );
    let s = Settings::resolve(
        &args(&[]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_LOG_LEVEL", "debug")]),
    )
    .unwrap();
    assert_eq!(s.log_level, LevelFilter::DEBUG);
    let s = Settings::resolve(
        &args(&["-log-level=error", "-log-format=standard"]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_LOG_LEVEL", "debug")]),
    )
    .unwrap();
    assert_eq!(
        (s.log_level, s.log_format),
        (LevelFilter::ERROR, LogFormat::Standard)
    );
    let e = Settings::resolve(
        &args(&["-log-level=loud"]),
        &env_of(&[("VAULT_CONFIG", &cfg)]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"log level "loud" is not one of trace, debug, info, warn, error"#
    );
    let level = reload_log_level(
        &args(&[]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("BAO_LOG_LEVEL", "trace")]),
    )
    .unwrap();
    assert_eq!(level, LevelFilter::TRACE);
}

#[test]
fn max_retries_replaces_the_proxy_retries() {
    let cfg = b64(&token_file_config(json!({})));
    let s = Settings::resolve(&args(&[]), &env_of(&[("VAULT_CONFIG", &cfg)])).unwrap();
    assert_eq!(s.agent.proxy_retries, 12);
    let s = Settings::resolve(
        &args(&[]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_MAX_RETRIES", "3")]),
    )
    .unwrap();
    assert_eq!(s.agent.proxy_retries, 3);
    let e = Settings::resolve(
        &args(&[]),
        &env_of(&[("VAULT_CONFIG", &cfg), ("VAULT_MAX_RETRIES", "-1")]),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"VAULT_MAX_RETRIES: "-1" is not a non-negative integer"#
    );
}

#[test]
fn a_template_syntax_error_is_a_settings_error() {
    let cfg = b64(&token_file_config(json!({
        "template": [{"destination": "/tmp/vaultlet-never", "contents": "{{ .Data.data.pw }"}]
    })));
    let e = Settings::resolve(&args(&[]), &env_of(&[("VAULT_CONFIG", &cfg)])).unwrap_err();
    assert!(
        matches!(e, SettingsError::Template(TemplateError::Parse(_))),
        "{e:?}"
    );
}

#[test]
fn sinks_are_write_checked_separately() {
    let cfg = b64(&token_file_config(json!({
        "auto_auth": {"method": {"type": "token_file", "config": {"token_file_path": "/t"}},
                      "sink": [{"type": "file", "config": {"path": "/nonexistent-vaultlet-dir/t"}}]}
    })));
    let s = Settings::resolve(&args(&[]), &env_of(&[("VAULT_CONFIG", &cfg)])).unwrap();
    let e = s.check_sinks().unwrap_err().to_string();
    assert!(e.contains("error during write check"), "{e}");
}

#[test]
fn revoke_settings() {
    let revoke = |flags: &[&str]| {
        let mut argv = vec!["vault", "token", "revoke"];
        argv.extend_from_slice(flags);
        match crate::cli::Cli::parse_go_style(argv.into_iter().map(Into::into))
            .unwrap()
            .command
        {
            crate::cli::Command::Token {
                command: crate::cli::TokenCommand::Revoke(r),
            } => r,
            _ => unreachable!(),
        }
    };
    let e = RevokeSettings::resolve(&revoke(&[]), &env_of(&[])).unwrap_err();
    assert_eq!(e.to_string(), "Only `token revoke -self` is supported");
    let s = RevokeSettings::resolve(
        &revoke(&["-self", "-delay=2s"]),
        &env_of(&[("HOME", "/h"), ("VAULT_ADDR", "http://v:1")]),
    )
    .unwrap();
    assert_eq!(s.delay, Duration::from_secs(2));
    assert_eq!(s.connection.address, "http://v:1");
    assert!(
        matches!(&s.token, TokenSource::File(p) if p == std::path::Path::new("/h/.vault-token"))
    );
    let s =
        RevokeSettings::resolve(&revoke(&["-self"]), &env_of(&[("BAO_TOKEN", " t \n")])).unwrap();
    assert!(matches!(&s.token, TokenSource::Env(t) if t == "t"));
}

#[test]
fn wrapper_needs_exec_and_strips_the_config_variables() {
    let cfg = b64(&token_file_config(json!({
        "exec": {"command": ["/app", "-x"], "restart_on_secret_changes": "never"},
        "env_template": [{"DB_PASSWORD": {"contents": "{{ \"p\" }}"}}],
    })));
    let env = env_of(&[("VAULT_CONFIG", &cfg)]);
    let s = Settings::resolve(&args(&["-wrapper=exec"]), &env).unwrap();
    let sup = s.agent.supervise.unwrap();
    assert!(sup.replace);
    assert_eq!(sup.command, ["/app", "-x"]);
    assert_eq!(
        sup.env_remove,
        ["VAULT_CONFIG", "BAO_CONFIG", "VAULT_CACERT_BYTES"]
    );
    let s = Settings::resolve(&args(&["-wrapper=supervise", "--", "/b", "$(X)"]), &env).unwrap();
    let sup = s.agent.supervise.unwrap();
    assert!(!sup.replace && sup.env_remove.len() == 3);
    assert_eq!(sup.command, ["/b", "$(X)"], "the argv after -- wins");
    // Without -wrapper: process-supervisor mode as upstream has it.
    let s = Settings::resolve(&args(&[]), &env).unwrap();
    let sup = s.agent.supervise.unwrap();
    assert!(!sup.replace && sup.env_remove.is_empty());
    // Nothing to wrap.
    let plain = b64(&token_file_config(json!({})));
    let e = Settings::resolve(
        &args(&["-wrapper=exec"]),
        &env_of(&[("VAULT_CONFIG", &plain)]),
    )
    .unwrap_err();
    assert!(matches!(e, SettingsError::WrapperWithoutExec), "{e}");
}
