//! Golden tests: AdmissionReview fixtures in `tests/data/`, the patch applied with `json-patch`, the
//! resulting pod compared (as parsed JSON) with the expected pod. `VAULT_CONFIG`/`BAO_CONFIG` values are
//! compared decoded, as JSON objects. The checks at admission (injector.md §2.6) have golden
//! answers instead: `checks-*.review.json` against `checks-*[.<flavor>].response.json`, the whole
//! `response` (refusal message, warnings) with the patch left out.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use base64::Engine as _;
use serde_json::Value;
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_shared::annotations::{AgentFlavor, InjectorDefaults};

fn settings(flavor: AgentFlavor) -> InjectorDefaults {
    TestInjector::new().flavor(flavor).defaults()
}

fn data(name: &str) -> String {
    let p = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// Decode the config env values in place so they compare as JSON.
fn decode_configs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let is_cfg = matches!(
                m.get("name").and_then(Value::as_str),
                Some("VAULT_CONFIG" | "BAO_CONFIG")
            );
            if is_cfg && let Some(Value::String(b64)) = m.get("value") {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64 config");
                let cfg: Value = serde_json::from_slice(&bytes).expect("config json");
                m.insert("value".into(), cfg);
                return;
            }
            m.values_mut().for_each(decode_configs);
        }
        Value::Array(a) => a.iter_mut().for_each(decode_configs),
        _ => {}
    }
}

/// Run a review and return (response, patched pod).
pub fn run(review_json: &str, flavor: AgentFlavor) -> (Value, Option<Value>) {
    run_with(review_json, &settings(flavor))
}

/// Run a review with the injector configured as `settings`.
fn run_with(review_json: &str, settings: &InjectorDefaults) -> (Value, Option<Value>) {
    let out = review(review_json.as_bytes(), settings).expect("review");
    let resp: Value = serde_json::from_slice(&out).expect("response json");
    let input: Value = serde_json::from_str(review_json).unwrap();
    let Some(patch_b64) = resp["response"]["patch"].as_str() else {
        return (resp, None);
    };
    assert_eq!(resp["response"]["patchType"], "JSONPatch");
    let patch_bytes = base64::engine::general_purpose::STANDARD
        .decode(patch_b64)
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&patch_bytes).expect("patch decodes");
    let mut pod = input["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("patch applies");
    decode_configs(&mut pod);
    (resp, Some(pod))
}

fn golden(case: &str, flavor: AgentFlavor) {
    golden_with(case, &settings(flavor));
}

fn golden_with(case: &str, settings: &InjectorDefaults) {
    let (resp, pod) = run_with(&data(&format!("{case}.review.json")), settings);
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
    // These pods use known annotations only, each with an effect.
    assert!(resp["response"].get("warnings").is_none(), "{resp}");
    let pod = pod.expect("a patch");
    let path = format!(
        "{}/tests/data/{case}.expected.json",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("VAULTLET_BLESS").is_some() && !std::path::Path::new(&path).exists() {
        // Records a new case once; the file is then reviewed by hand and committed.
        std::fs::write(&path, serde_json::to_string_pretty(&pod).unwrap() + "\n").unwrap();
    }
    let expected: Value = serde_json::from_str(&data(&format!("{case}.expected.json"))).unwrap();
    if pod != expected {
        panic!(
            "{case}: patched pod differs\n--- got ---\n{}\n",
            serde_json::to_string_pretty(&pod).unwrap()
        );
    }
}

#[test]
fn basic_pod() {
    golden("basic", AgentFlavor::Vaultlet);
}

#[test]
fn job_pre_populate_only_without_volumes() {
    golden("job-no-volumes", AgentFlavor::Vaultlet);
}

#[test]
fn consul_client_init_first_with_upstream_vault_flavor() {
    golden("consul-client", AgentFlavor::Vault);
}

#[test]
fn consul_server_with_pki_templates_extra_secret_and_ca_cert() {
    golden("consul-server", AgentFlavor::Vaultlet);
}

#[test]
fn job_with_pre_populate_only() {
    golden("job-pre-populate-only", AgentFlavor::Vaultlet);
}

#[test]
fn job_with_cache_listener_and_quit_v1beta1() {
    golden("job-cache-quit", AgentFlavor::Vaultlet);
}

#[test]
fn job_with_a_native_sidecar_first_and_revoke_on_shutdown() {
    golden("job-native-sidecar", AgentFlavor::Vaultlet);
}

/// The injector's `-cache-handoff` (injector.md §3.4.1): the persistent cache in both agents'
/// configs and the cache volume, without the listener `agent-cache-enable` adds.
#[test]
fn deployment_with_the_injectors_cache_handoff() {
    let settings = TestInjector::new().settings(&["-cache-handoff"]).defaults;
    golden_with("cache-handoff", &settings);
    // Without the flag the same pod gets no cache at all, as upstream's injector gives it.
    let (_, pod) = run(&data("cache-handoff.review.json"), AgentFlavor::Vaultlet);
    let pod = pod.unwrap();
    assert!(!pod.to_string().contains("agent-cache"), "{pod}");
}

#[test]
fn inject_containers_with_same_user_and_resources() {
    golden("inject-containers", AgentFlavor::Openbao);
}

/// The answer to `checks-<case>.review.json` against `checks-<case><suffix>.response.json`: the
/// whole `response`, its patch replaced by `"<patch>"` (recorded once with `VAULTLET_BLESS=1`).
fn golden_answer(case: &str, suffix: &str, flavor: AgentFlavor) -> Value {
    let (resp, _) = run(&data(&format!("checks-{case}.review.json")), flavor);
    let mut response = resp["response"].clone();
    if response.get("patch").is_some() {
        response["patch"] = Value::from("<patch>");
    }
    let file = format!("checks-{case}{suffix}.response.json");
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("VAULTLET_BLESS").is_some() && !std::path::Path::new(&path).exists() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&response).unwrap() + "\n",
        )
        .unwrap();
    }
    let expected: Value = serde_json::from_str(&data(&file)).unwrap();
    assert_eq!(
        response,
        expected,
        "{file}: got\n{}",
        serde_json::to_string_pretty(&response).unwrap()
    );
    response
}

#[test]
fn checks_a_broken_template_is_refused_and_the_misspelt_key_warned_about() {
    let r = golden_answer("broken-template", "", AgentFlavor::Vaultlet);
    assert_eq!(r["allowed"], false);
    let m = r["status"]["message"].as_str().unwrap();
    assert!(
        m.contains("vault.hashicorp.com/agent-inject-template-db: template: :1:"),
        "{m}"
    );
    assert_eq!(r["warnings"].as_array().unwrap().len(), 1);
}

#[test]
fn checks_an_unknown_function_with_custom_delimiters_is_refused() {
    let r = golden_answer("bad-function", "", AgentFlavor::Vaultlet);
    let m = r["status"]["message"].as_str().unwrap();
    assert!(m.contains(":2: function \"upcase\" not defined"), "{m}");
}

#[test]
fn checks_warnings_for_misspelt_keys_and_values_without_effect() {
    let r = golden_answer("warnings", "", AgentFlavor::Vaultlet);
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let warnings = r["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().all(|w| w.as_str().unwrap().len() <= 120),
        "{r}"
    );
    // With an upstream agent the same values have an effect: only the unknown keys remain.
    let r = golden_answer("warnings", ".vault", AgentFlavor::Vault);
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w.as_str().unwrap().starts_with("unknown annotation ")),
        "{r}"
    );
}

#[test]
fn checks_auth_types_the_injected_agent_cannot_use_are_refused() {
    let r = golden_answer("auth-type-gcp", "", AgentFlavor::Vaultlet);
    assert_eq!(r["allowed"], false);
    let r = golden_answer("auth-type-gcp", ".openbao", AgentFlavor::Openbao);
    assert_eq!(r["allowed"], false);
    // Vault Agent has a gcp method.
    let (resp, pod) = run(
        &data("checks-auth-type-gcp.review.json"),
        AgentFlavor::Vault,
    );
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
    assert!(pod.is_some());
}

#[test]
fn checks_the_missing_role_refusal_names_the_annotation() {
    let r = golden_answer("no-role", "", AgentFlavor::Vaultlet);
    assert_eq!(
        r["status"]["message"],
        "error validating agent configuration: no Vault role found (annotation vault.hashicorp.com/role is not set)"
    );
}

/// `agent-inject-signal-<name>` (extension, injector.md §1.4): the sidecar's template runs
/// `/vaultlet-agent signal HUP nginx` (argv, no shell), the init container's runs nothing (the
/// app has not started), and the pod shares its PID namespace.
#[test]
fn signal_annotation_sets_the_argv_command_and_shares_the_pid_namespace() {
    golden("signal", AgentFlavor::Vaultlet);
    let (_, pod) = run(&data("signal.review.json"), AgentFlavor::Vaultlet);
    let pod = pod.unwrap();
    assert_eq!(pod["spec"]["shareProcessNamespace"], true);
    let config = |list: &str, name: &str| {
        let c = pod["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "VAULT_CONFIG")
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(
        config("containers", "vault-agent")["template"][0]["exec"]["command"],
        serde_json::json!(["/vaultlet-agent", "signal", "HUP", "nginx"])
    );
    assert!(
        config("initContainers", "vault-agent-init")["template"][0]
            .get("exec")
            .is_none()
    );
}

#[test]
fn checks_a_command_that_needs_a_shell_is_refused_for_the_shell_less_image() {
    let r = golden_answer("shell-command", "", AgentFlavor::Vaultlet);
    assert_eq!(r["allowed"], false);
    let m = r["status"]["message"].as_str().unwrap();
    assert!(
        m.contains("vault.hashicorp.com/agent-inject-signal-db: \\\"HUP <process>\\\"")
            || m.contains("vault.hashicorp.com/agent-inject-signal-db: \"HUP <process>\""),
        "{m}"
    );
    // An upstream image has sh: the same pod is admitted.
    let (resp, pod) = run(
        &data("checks-shell-command.review.json"),
        AgentFlavor::Vault,
    );
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
    assert!(pod.is_some());
}

#[test]
fn checks_signal_refusals_name_the_annotation() {
    for (case, suffix, flavor, needle) in [
        (
            "signal-and-command",
            "",
            AgentFlavor::Vaultlet,
            "are both set",
        ),
        (
            "signal-bad",
            "",
            AgentFlavor::Vaultlet,
            "\"HANGUP\" is not a signal",
        ),
        (
            "signal-no-shared-pid",
            "",
            AgentFlavor::Vaultlet,
            "shareProcessNamespace: false",
        ),
        (
            "signal-bad",
            ".openbao",
            AgentFlavor::Openbao,
            "the OpenBao agent has no signal command",
        ),
    ] {
        let r = golden_answer(case, suffix, flavor);
        assert_eq!(r["allowed"], false, "{case}");
        let m = r["status"]["message"].as_str().unwrap();
        assert!(m.contains(needle), "{case}: {m}");
    }
}

/// The containers of `list` in the patched pod, by name.
fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod["spec"][list]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} container {name}"))
}

#[test]
fn env_annotations_wrap_the_chosen_container_with_the_copied_agent() {
    golden("env", AgentFlavor::Vaultlet);
    let (_, pod) = run(&data("env.review.json"), AgentFlavor::Vaultlet);
    let pod = pod.unwrap();
    // The copy comes first, before the app's own init container and the agent's.
    let init: Vec<&str> = pod["spec"]["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(init, ["vault-env-copy", "migrate", "vault-agent-init"]);
    let web = container(&pod, "containers", "web");
    assert_eq!(
        web["command"],
        serde_json::json!([
            "/vault/bin/vaultlet-agent",
            "agent",
            "-wrapper=exec",
            "--",
            "/app/server"
        ])
    );
    assert_eq!(web["args"], serde_json::json!(["-port", "$(PORT)"]));
    let cfg = web["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "VAULT_CONFIG")
        .unwrap()["value"]
        .clone();
    assert_eq!(
        cfg["exec"],
        serde_json::json!({"command": ["/app/server", "-port", "$(PORT)"], "restart_on_secret_changes": "never"})
    );
    assert!(cfg["auto_auth"].get("sink").is_none(), "{cfg}");
    assert!(cfg.get("template").is_none() && cfg.get("pid_file").is_none());
    // The metrics container (no command) was left out by agent-inject-env-containers.
    let metrics = container(&pod, "containers", "metrics");
    assert!(metrics.get("command").is_none() && metrics.get("env").is_none());
}

#[test]
fn env_restart_keeps_the_agent_as_supervisor_and_mounts_the_token_for_its_login() {
    golden("env-restart", AgentFlavor::Vaultlet);
    let (_, pod) = run(&data("env-restart.review.json"), AgentFlavor::Vaultlet);
    let pod = pod.unwrap();
    let web = container(&pod, "containers", "web");
    assert_eq!(web["command"][2], "-wrapper=supervise");
    let init = pod["spec"]["initContainers"].as_array().unwrap();
    assert_eq!(init.len(), 1, "only the copy: agent-pre-populate is false");
    assert_eq!(init[0]["name"], "vault-env-copy");
    // The wrapper logs in with the token volume the agent uses, mounted where the agent has it.
    let mounts = web["volumeMounts"].as_array().unwrap();
    assert!(
        mounts.iter().any(|m| m["name"] == "token"
            && m["mountPath"] == "/var/run/secrets/vault.hashicorp.com/serviceaccount"
            && m["readOnly"] == true),
        "{mounts:?}"
    );
    assert!(
        mounts
            .iter()
            .any(|m| m["name"] == "vault-env-bin" && m["readOnly"] == true)
    );
}

#[test]
fn checks_env_refusals_name_the_annotation() {
    let r = golden_answer("env-no-command", "", AgentFlavor::Vaultlet);
    let m = r["status"]["message"].as_str().unwrap();
    assert!(
        m.contains(
            "annotation openbao.org/agent-inject-env-API_KEY: container \"metrics\" sets no command"
        ) && m.contains("set the container's command"),
        "{m}"
    );
    let r = golden_answer("env-bad-name", "", AgentFlavor::Vaultlet);
    let m = r["status"]["message"].as_str().unwrap();
    assert!(
        m.contains("\"DB-PASSWORD\" is not a valid environment variable name")
            && m.contains("openbao.org/agent-inject-env-DB-PASSWORD"),
        "{m}"
    );
    for (suffix, flavor, agent) in [
        (".vault", AgentFlavor::Vault, "Vault"),
        (".openbao", AgentFlavor::Openbao, "OpenBao"),
    ] {
        let r = golden_answer("env-upstream", suffix, flavor);
        assert_eq!(r["allowed"], false);
        let m = r["status"]["message"].as_str().unwrap();
        assert!(
            m.contains(&format!("the {agent} agent cannot wrap the app")),
            "{m}"
        );
    }
    // The same pod with our agent is patched.
    assert_eq!(
        golden_answer("env-upstream", "", AgentFlavor::Vaultlet)["allowed"],
        true
    );
}
