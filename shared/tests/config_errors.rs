//! Bad configs: each error names the offending key (and value), and the cross-field rules of
//! agent.md §1.12 use upstream's messages.

use vaultlet_shared::config::AgentConfig;

const METHOD: &str = r#""method":{"type":"kubernetes","config":{"role":"r"}}"#;
const SINK: &str = r#""sink":[{"type":"file","config":{"path":"/t"}}]"#;

fn aa(extra_method: &str, sinks: &str) -> String {
    format!(r#"{{"auto_auth":{{"method":{{"type":"kubernetes"{extra_method}}}{sinks}}}}}"#)
}

fn json_err(s: &str) -> String {
    match AgentConfig::from_json_str(s) {
        Ok(_) => panic!("accepted: {s}"),
        Err(e) => e.to_string(),
    }
}

fn hcl_err(s: &str) -> String {
    match AgentConfig::from_hcl_str(s) {
        Ok(_) => panic!("accepted: {s}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_values_name_key_and_value() {
    let sink = format!(",{SINK}");
    let cases: Vec<(String, &str)> = vec![
        (
            aa(r#","min_backoff":"lots""#, &sink),
            r#"auto_auth.method.min_backoff: "lots" is not a duration"#,
        ),
        (
            aa(r#","max_backoff":true"#, &sink),
            "auto_auth.method.max_backoff: true is not a duration",
        ),
        (
            aa(r#","wrap_ttl":"-5s""#, &sink),
            r#"auto_auth.method.wrap_ttl: "-5s" is not a duration"#,
        ),
        (
            aa(r#","exit_on_err":"yes""#, &sink),
            r#"auto_auth.method.exit_on_err: "yes" is not a boolean"#,
        ),
        (
            aa(r#","config":"role=r""#, &sink),
            r#"auto_auth.method.config: "role=r" is not an object"#,
        ),
        (
            aa(
                "",
                r#","sink":[{"type":"file","config":{"path":"/t"},"wrap_ttl":"1x"}]"#,
            ),
            r#"auto_auth.sink[0].wrap_ttl: "1x" is not a duration"#,
        ),
        (
            aa(
                "",
                r#","sink":[{"type":"file","config":{"path":"/t"},"derive_key":"maybe"}]"#,
            ),
            r#"auto_auth.sink[0].derive_key: "maybe" is not a boolean"#,
        ),
        (
            format!(r#"{{"auto_auth":{{{METHOD},{SINK}}},"vault":{{"tls_skip_verify":"sure"}}}}"#),
            r#"vault.tls_skip_verify: "sure" is not a boolean"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"vault":{{"retry":{{"num_retries":"many"}}}}}}"#
            ),
            r#"vault.retry.num_retries: "many" is not an integer"#,
        ),
        (
            format!(r#"{{"auto_auth":{{{METHOD},{SINK}}},"vault":{{"address":["a"]}}}}"#),
            r#"vault.address: ["a"] is not a string"#,
        ),
        (
            format!(r#"{{"auto_auth":{{{METHOD},{SINK}}},"exit_after_auth":"tRuE"}}"#),
            r#"exit_after_auth: "tRuE" is not a boolean"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template_config":{{"static_secret_render_interval":"soon"}}}}"#
            ),
            r#"template_config.static_secret_render_interval: "soon" is not a duration"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template_config":{{"max_connections_per_host":-1}}}}"#
            ),
            "template_config.max_connections_per_host: -1 is not a non-negative integer",
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template_config":{{"lease_renewal_threshold":"one-third"}}}}"#
            ),
            r#"template_config.lease_renewal_threshold: "one-third" is not a number"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":[{{"destination":"/d","contents":"x","perms":"0999"}}]}}"#
            ),
            r#"template[0].perms: "0999" is not a file mode"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":[{{"destination":"/d","contents":"x","perms":""}}]}}"#
            ),
            r#"template[0].perms: "" is not a file mode"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":[{{"destination":"/d","contents":"x","command_timeout":"30"}}]}}"#
            ),
            r#"template[0].command_timeout: "30" is not a Go duration"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":[{{"destination":"/d","contents":"x","wait":"5s:1s"}}]}}"#
            ),
            "template[0].wait: wait: min must be less than max",
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":[{{"destination":"/d","contents":"x","wait":"a:b:c"}}]}}"#
            ),
            r#"template[0].wait: "a:b:c" is not a wait spec"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":[{{"destination":"/d","contents":"x","command":{{"a":1}}}}]}}"#
            ),
            r#"template[0].command: {"a":1} is not a command"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"listener":[{{"type":"tcp","tls_disable":"nah"}}]}}"#
            ),
            r#"listener[0].tls_disable: "nah" is not a boolean"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"cache":{{"use_auto_auth_token":"always"}},"listener":[{{"type":"tcp"}}]}}"#
            ),
            r#"cache.use_auto_auth_token: value of 'use_auto_auth_token' can be either true/false/force, "always" is an invalid option"#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"api_proxy":{{"use_auto_auth_token":3}},"listener":[{{"type":"tcp"}}]}}"#
            ),
            r#"api_proxy.use_auto_auth_token: 3 is not true, false or "force""#,
        ),
        (
            format!(
                r#"{{"auto_auth":{{{METHOD},{SINK}}},"telemetry":{{"prometheus_retention_time":"forever"}}}}"#
            ),
            r#"telemetry.prometheus_retention_time: "forever" is not a duration"#,
        ),
        (
            format!(r#"{{"auto_auth":{{{METHOD},{SINK}}},"disable_keep_alives":[true]}}"#),
            "disable_keep_alives[0]: true is not a string",
        ),
        (
            format!(r#"{{"auto_auth":{{{METHOD},{SINK}}},"template":"x"}}"#),
            r#"template: "x" is not a block"#,
        ),
        (
            "[1]".to_string(),
            "config: [1] is not an object at the top level",
        ),
    ];
    for (input, want) in &cases {
        let got = json_err(input);
        assert!(
            got.contains(want),
            "input: {input}\n want: {want}\n  got: {got}"
        );
    }
}

#[test]
fn strict_blocks_reject_unknown_keys() {
    let base = format!(r#""auto_auth":{{{METHOD},{SINK}}}"#);
    let cases = [
        (
            format!(
                r#"{{{base},"template":[{{"destination":"/d","contents":"x"}},{{"destination":"/d","contents":"x","foo":1}}]}}"#
            ),
            r#"template[1]: invalid key "foo""#,
        ),
        (
            format!(
                r#"{{{base},"template":[{{"destination":"/d","contents":"x","exec":{{"command":"x","bar":1}}}}]}}"#
            ),
            r#"template[0].exec: invalid key "bar""#,
        ),
        (
            format!(
                r#"{{{base},"exec":{{"command":["a"],"baz":1}},"env_template":{{"A":{{"contents":"x"}}}}}}"#
            ),
            r#"exec: invalid key "baz""#,
        ),
        (
            format!(
                r#"{{{base},"exec":{{"command":["a"]}},"env_template":{{"A":{{"contents":"x","qux":1}}}}}}"#
            ),
            r#"env_template[A]: invalid key "qux""#,
        ),
        (
            format!(
                r#"{{{base},"exec":{{"command":["a"]}},"env_template":{{"A":{{"contents":"x","destination":"/d"}}}}}}"#
            ),
            "env_template[A]: 'destination' is not allowed",
        ),
        (
            format!(
                r#"{{{base},"exec":{{"command":["a"]}},"env_template":{{"A":{{"contents":"x","perms":"0600"}}}}}}"#
            ),
            "env_template[A]: 'perms' is not allowed",
        ),
    ];
    for (input, want) in &cases {
        let got = json_err(input);
        assert!(
            got.contains(want),
            "input: {input}\n want: {want}\n  got: {got}"
        );
    }
}

#[test]
fn stanza_rules() {
    let base = format!(r#""auto_auth":{{{METHOD},{SINK}}}"#);
    let cases: Vec<(String, &str)> = vec![
        (format!(r#"{{{base},"template":[{{"destination":"/a","contents":"x"}},{{"destination":"/a"}},{{"destination":"/c","contents":"x"}}]}}"#), "template[1]: must specify exactly one of 'source' or 'contents'"),
        (format!(r#"{{{base},"template":[{{"destination":"/a","contents":"x"}},{{"destination":"/a"}},{{"destination":"/c","contents":"x","source":"/s"}}]}}"#), "template[1]: must specify exactly one of 'source' or 'contents'"),
        (format!(r#"{{{base},"template":[{{"destination":"/a","contents":"x"}},{{"destination":"/b","contents":"x"}},{{"destination":"/c","contents":"x","source":"/s"}}]}}"#), "template[2]: cannot specify both 'source' and 'contents'"),
        (format!(r#"{{{base},"template":[{{"contents":"x"}}]}}"#), r#"template[0]: missing required key "destination""#),
        (format!(r#"{{{base},"template":[{{"destination":"/a","contents":"x","engine":"jinja"}}]}}"#), r#"template[0].engine: "jinja" is not"#),
        (r#"{"auto_auth":{"method":{"type":"kubernetes","min_backoff":"10m","max_backoff":"5m"},"sink":{"type":"file","config":{"path":"/t"}}}}"#.into(), "auth handler: min_backoff cannot be greater than max_backoff"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes","min_backoff":"6m"},"sink":{"type":"file","config":{"path":"/t"}}}}"#.into(), "auth handler: min_backoff cannot be greater than max_backoff"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes","wrap_ttl":"5m"},"sink":[{"type":"file","config":{"path":"/a"}},{"type":"file","config":{"path":"/b"}}]}}"#.into(), "wrapping enabled on auth method and 0 or many sinks defined"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes","wrap_ttl":"5m"},"sink":[{"type":"file","wrap_ttl":"1m","config":{"path":"/a"}}]}}"#.into(), "wrapping enabled both on auth method and sink"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":[{"type":"file","dh_type":"p256","dh_path":"/d","config":{"path":"/a"}}]}}"#.into(), r#"auto_auth.sink[0].dh_type: invalid value for 'dh_type': "p256""#),
        (r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":[{"type":"file","dh_type":"curve25519","config":{"path":"/a"}}]}}"#.into(), "auto_auth.sink[0]: 'dh_type' and 'dh_path' must be specified together"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":[{"type":"file","aad":"x","config":{"path":"/a"}}]}}"#.into(), "auto_auth.sink[0]: specifying AAD data without 'dh_type' does not make sense"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":[{"type":"file","derive_key":true,"config":{"path":"/a"}}]}}"#.into(), "auto_auth.sink[0]: specifying 'derive_key' data without 'dh_type' does not make sense"),
        (r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":[{"type":"s3","config":{"path":"/a"}}]}}"#.into(), r#"auto_auth.sink[0]: Unknown sink type "s3""#),
        (r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":[{"type":"file","config":{}}]}}"#.into(), r#"auto_auth.sink[0].config: missing required key "path""#),
        (r#"{"auto_auth":{"method":{"config":{"role":"r"}},"sink":[{"type":"file","config":{"path":"/a"}}]}}"#.into(), "auto_auth.method: method type must be specified"),
        (r#"{"auto_auth":{"sink":[{"type":"file","config":{"path":"/a"}}]}}"#.into(), r#"auto_auth: one and only one "method" block is required"#),
        (r#"{"auto_auth":{"method":[{"type":"a"},{"type":"b"}],"sink":[{"type":"file","config":{"path":"/a"}}]}}"#.into(), r#"auto_auth: one and only one "method" block is required"#),
        (format!(r#"{{{base},"vault":[{{"address":"a"}},{{"address":"b"}}]}}"#), r#"vault: one and only one "vault" block is required"#),
        (format!(r#"{{{base},"listener":[{{"type":"udp"}}]}}"#), r#"listener[0]: invalid listener type "udp""#),
        (format!(r#"{{{base},"listener":[{{"type":"tcp","role":"admin"}}]}}"#), r#"listener[0].role: "admin" is not"#),
        (format!(r#"{{{base},"listener":[{{"address":"127.0.0.1:1"}}]}}"#), "listener[0]: listener type must be specified"),
        (format!(r#"{{{base},"disable_idle_connections":["auto-auth","everything"]}}"#), "unknown disable_idle_connections value: everything"),
        (format!(r#"{{{base},"disable_keep_alives":"caching,sometimes"}}"#), "unknown disable_keep_alives value: sometimes"),
        (format!(r#"{{{base},"listener":[{{"type":"tcp"}}],"cache":{{"persist":{{"type":"kubernetes"}}}}}}"#), "cache.persist.path: must specify persistent cache path"),
        (format!(r#"{{{base},"listener":[{{"type":"tcp"}}],"cache":{{"persist":{{"type":"disk","path":"/p"}}}}}}"#), r#"persistent key protection type "disk" not supported"#),
        (format!(r#"{{{base},"listener":[{{"type":"tcp"}}],"cache":{{"persist":{{"path":"/p"}}}}}}"#), "cache.persist: persist type must be specified"),
        (format!(r#"{{{base},"template_config":[{{}},{{}}]}}"#), r#"template_config: at most one "template_config" block is allowed"#),
    ];
    for (input, want) in &cases {
        let got = json_err(input);
        assert!(
            got.contains(want),
            "input: {input}\n want: {want}\n  got: {got}"
        );
    }
}

/// agent.md §1.12, upstream's messages verbatim.
#[test]
fn cross_field_rules() {
    let cases: Vec<(&str, &str)> = vec![
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}}}"#,
            "auto_auth requires at least one sink or at least one template or api_proxy.use_auto_auth_token=true",
        ),
        (
            r#"{"vault":{"address":"http://127.0.0.1:8200"}}"#,
            "no auto_auth, cache, or listener block found in config",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":{"type":"file","config":{"path":"/t"}}},"cache":{}}"#,
            "enabling the cache requires at least 1 template or 1 listener to be defined",
        ),
        (
            r#"{"cache":{"use_auto_auth_token":true},"listener":{"type":"tcp"}}"#,
            "cache.use_auto_auth_token is true but auto_auth not configured",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes","wrap_ttl":"1m"},"sink":{"type":"file","config":{"path":"/t"}}},"cache":{"use_auto_auth_token":"force"},"listener":{"type":"tcp"}}"#,
            "cache.use_auto_auth_token is true and auto_auth uses wrapping",
        ),
        (
            r#"{"api_proxy":{"use_auto_auth_token":true},"listener":{"type":"tcp"}}"#,
            "api_proxy.use_auto_auth_token is true but auto_auth not configured",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes","wrap_ttl":"1m"},"sink":{"type":"file","config":{"path":"/t"}}},"api_proxy":{"use_auto_auth_token":true},"listener":{"type":"tcp"}}"#,
            "api_proxy.use_auto_auth_token is true and auto_auth uses wrapping",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":{"type":"file","config":{"path":"/t"}}},"api_proxy":{}}"#,
            "configuring the api_proxy requires at least 1 listener to be defined",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":{"type":"file","config":{"path":"/t"}}},"api_proxy":{"use_auto_auth_token":true},"cache":{"use_auto_auth_token":true},"listener":{"type":"tcp"}}"#,
            "use_auto_auth_token defined in both api_proxy and cache config. Please remove this configuration from the cache block",
        ),
        // A cache-level token setting becomes the proxy's, which needs a listener.
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":{"type":"file","config":{"path":"/t"}}},"cache":{"use_auto_auth_token":"true"},"template":[{"destination":"/d","contents":"x"}]}"#,
            "configuring the api_proxy requires at least 1 listener to be defined",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"env_template":{"A":{"contents":"x"}}}"#,
            "a top-level 'exec' element must be specified with 'env_template' entries",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":{"type":"file","config":{"path":"/t"}}},"exec":{"command":["a"]}}"#,
            "must specify at least one 'env_template' element with a top-level 'exec' element",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":["a"]},"env_template":{"A":{"contents":"x"}},"template":[{"destination":"/d","contents":"x"}]}"#,
            "'template' cannot be specified with 'env_template' entries",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":["a"]},"env_template":{"A":{"contents":"x"}},"api_proxy":{},"listener":{"type":"tcp"}}"#,
            "'api_proxy' cannot be specified with 'env_template' entries",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":[]},"env_template":{"A":{"contents":"x"}}}"#,
            "'exec' requires a non-empty 'command' field",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":["a"],"restart_on_secret_changes":"sometimes"},"env_template":{"A":{"contents":"x"}}}"#,
            "'exec.restart_on_secret_changes' unexpected value: \"sometimes\"",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":["a"]},"env_template":[{"A":{"contents":"x"}},{"A":{"contents":"y"}}]}"#,
            "duplicate environment variable name: \"A\"",
        ),
        (
            r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":["a"]},"env_template":{"A":{}}}"#,
            "env_template[A]: either 'contents' or 'source' must be specified",
        ),
    ];
    for (input, want) in &cases {
        let got = json_err(input);
        assert!(
            got.contains(want),
            "input: {input}\n want: {want}\n  got: {got}"
        );
    }
    // The only-method shape that upstream rejects (Quirk Q-A2) is accepted when it is valid.
    AgentConfig::from_json_str(
        r#"{"auto_auth":{"method":{"type":"kubernetes","config":{"role":"r"}}},"template":[{"destination":"/d","contents":"x"}]}"#,
    )
    .unwrap();
}

#[test]
fn hcl_errors_name_the_key() {
    let cases = [
        (
            "auto_auth {\n  method \"kubernetes\" {\n    min_backoff = \"lots\"\n  }\n  sink \"file\" {\n    config = { path = \"/t\" }\n  }\n}\n",
            r#"auto_auth.method.min_backoff: "lots" is not a duration"#,
        ),
        (
            "auto_auth {\n  method \"kubernetes\" {\n  }\n}\ntemplate {\n  destination = \"/d\"\n  contents = \"x\"\n  colour = \"red\"\n}\n",
            r#"template[0]: invalid key "colour""#,
        ),
        (
            "auto_auth {\n  method \"kubernetes\" {\n  }\n  sink \"file\" {\n    config = {\n      path = \"/t\"\n      mode = 0800\n    }\n  }\n}\n",
            "invalid octal number \"0800\"",
        ),
        (
            "vault {\n  address = \"x\"\n}\nvault {\n  address = \"y\"\n}\nlistener \"tcp\" {\n}\n",
            r#"vault: one and only one "vault" block is required"#,
        ),
        ("auto_auth {\n", "syntax error"),
    ];
    for (input, want) in cases {
        let got = hcl_err(input);
        assert!(
            got.contains(want),
            "input: {input}\n want: {want}\n  got: {got}"
        );
    }
}

#[test]
fn nan_threshold_cannot_be_emitted() {
    let mut c = AgentConfig::from_json_str(
        r#"{"auto_auth":{"method":{"type":"kubernetes"},"sink":{"type":"file","config":{"path":"/t"}}}}"#,
    )
    .unwrap()
    .config;
    c.template_config = Some(vaultlet_shared::config::TemplateConfig {
        exit_on_retry_failure: true,
        lease_renewal_threshold: Some(f64::INFINITY),
        ..Default::default()
    });
    let err = c.to_json_go().unwrap_err().to_string();
    assert!(
        err.contains("template_config.lease_renewal_threshold"),
        "{err}"
    );
    assert!(c.validate().is_err());
}

/// agent.md §1.11: `exec.restart_stop_signal` names a signal of upstream's list (any case; empty
/// means SIGNULL), an unlabelled `env_template` is refused as upstream words it, and of two keys
/// an env template may not use, the one upstream checks first is named.
#[test]
fn exec_and_env_template_details() {
    let base =
        r#""auto_auth":{"method":{"type":"kubernetes"}},"env_template":{"A":{"contents":"x"}}"#;
    let got = json_err(&format!(
        r#"{{{base},"exec":{{"command":["a"],"restart_stop_signal":"notasignal"}}}}"#
    ));
    assert!(
        got.contains(r#"invalid signal "notasignal" - valid signals are ["SIGABRT" "SIGALRM" "#)
            && got.contains(r#" "SIGXFSZ"]"#),
        "{got}"
    );
    for (given, want) in [
        (None, "SIGTERM"),
        (Some("sigusr1"), "SIGUSR1"),
        (Some(""), "SIGNULL"),
    ] {
        let mut exec = serde_json::json!({"command": ["a"]});
        if let Some(g) = given {
            exec["restart_stop_signal"] = g.into();
        }
        let c = AgentConfig::from_json_str(&format!(r#"{{{base},"exec":{exec}}}"#))
            .unwrap()
            .config;
        assert_eq!(c.exec.unwrap().stop_signal(), Some(want), "{given:?}");
    }
    let got = hcl_err(
        "auto_auth {\n  method \"kubernetes\" {\n  }\n}\nexec {\n  command = [\"a\"]\n}\nenv_template {\n  contents = \"x\"\n}\n",
    );
    assert!(
        got.contains("expected one and only one environment variable name, got 0"),
        "{got}"
    );
    let got = json_err(
        r#"{"auto_auth":{"method":{"type":"kubernetes"}},"exec":{"command":["a"]},"env_template":{"A":{"contents":"x","destination":"/d","create_dest_dirs":true}}}"#,
    );
    assert!(
        got.contains("env_template[A]: 'create_dest_dirs' is not allowed"),
        "{got}"
    );
}
