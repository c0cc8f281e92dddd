//! `vaultlet-injector render` as users run it: the real binary, configured by the test injector's
//! `AGENT_INJECT_*` environment, on the Consul server pod of `tests/data/consul-server.review.json`
//! (what it prints must be what the server's answer makes of that pod) and on the orgchart
//! Deployment of `tests/data/orgchart.deployment.yaml` (read from standard input); the printed
//! objects are checked with the PyPI package `kubernetes-validate` (strict). Also a refused pod,
//! and the Go-style flags.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_shared::annotations::AgentFlavor;

const FLAVORS: [AgentFlavor; 3] = [
    AgentFlavor::Vaultlet,
    AgentFlavor::Vault,
    AgentFlavor::Openbao,
];

fn data(name: &str) -> String {
    let p = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// What one run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `vaultlet-injector render <args>` in the test injector's environment (and nothing
/// else), with `stdin` as its standard input.
fn render(flavor: AgentFlavor, args: &[&str], stdin: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"));
    cmd.arg("render")
        .args(args)
        .env_clear()
        .envs(TestInjector::new().flavor(flavor).env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn vaultlet-injector");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The review fixture's pod, and the server's answer to the review (in process).
fn consul_server() -> (Value, Value) {
    let review_json = data("consul-server.review.json");
    let input: Value = serde_json::from_str(&review_json).unwrap();
    (input["request"]["object"].clone(), input)
}

fn server_patch(review_json: &Value, flavor: AgentFlavor) -> Value {
    let settings = TestInjector::new().flavor(flavor).defaults();
    let out = review(review_json.to_string().as_bytes(), &settings).unwrap();
    let resp: Value = serde_json::from_slice(&out).unwrap();
    let b64 = resp["response"]["patch"].as_str().expect("a patch");
    serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// The agent containers' configs, decoded from their environment.
fn env_configs(pod: &Value) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for list in ["initContainers", "containers"] {
        for c in pod["spec"][list].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                if matches!(e["name"].as_str(), Some("VAULT_CONFIG" | "BAO_CONFIG")) {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(e["value"].as_str().unwrap())
                        .unwrap();
                    let cfg = serde_json::from_slice(&bytes).unwrap();
                    out.insert(c["name"].as_str().unwrap().to_owned(), cfg);
                }
            }
        }
    }
    out
}

#[test]
fn the_consul_server_pod_is_previewed_as_the_server_patches_it() {
    let (pod, review_json) = consul_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("consul-server.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&pod).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    for flavor in FLAVORS {
        let patch = server_patch(&review_json, flavor);
        let mut expected = pod.clone();
        let ops: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
        json_patch::patch(&mut expected, &ops).unwrap();

        let r = render(flavor, &["-f", file, "-namespace=consul"], "");
        assert_eq!(r.code, 0, "{flavor:?}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{flavor:?}");
        assert!(r.stdout.starts_with('{'), "JSON in, JSON out");
        let got: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(got, expected, "{flavor:?}: -output pod");

        let r = render(
            flavor,
            &["--filename", file, "-o", "patch", "-n", "consul"],
            "",
        );
        assert_eq!(r.code, 0, "{flavor:?}: {}", r.stderr);
        assert!(r.stdout.starts_with("[\n  {\n"), "pretty");
        let got: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(got, patch, "{flavor:?}: -output patch");

        let r = render(
            flavor,
            &["-output=config", &format!("-f={file}"), "-n=consul"],
            "",
        );
        assert_eq!(r.code, 0, "{flavor:?}: {}", r.stderr);
        let got: Value = serde_json::from_str(&r.stdout).unwrap();
        let want = env_configs(&expected);
        assert_eq!(want.len(), 2, "init and sidecar");
        assert_eq!(got, Value::Object(want), "{flavor:?}: -output config");
    }
}

#[test]
fn the_orgchart_deployment_is_read_from_stdin_and_comes_back_yaml() {
    let yaml = data("orgchart.deployment.yaml");
    let r = render(AgentFlavor::Vaultlet, &["-f", "-"], &yaml);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "");
    assert!(
        r.stdout.starts_with("apiVersion: apps/v1\n"),
        "{}",
        r.stdout
    );
    let d: Value = yaml_serde::from_str(&r.stdout).unwrap();
    let t = &d["spec"]["template"];
    assert_eq!(
        t["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
    let names: Vec<&str> = t["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .chain(t["spec"]["containers"].as_array())
        .flatten()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["vault-agent-init", "orgchart", "vault-agent"]);
    let secrets = t["spec"]["containers"][0]["volumeMounts"].to_string();
    assert!(secrets.contains("/vault/secrets"), "{secrets}");

    // The request's namespace is `default` unless the object or -namespace names another.
    let r = render(AgentFlavor::Vault, &["-f", "-", "-o", "config"], &yaml);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cfg: Value = serde_json::from_str(&r.stdout).unwrap();
    let template = &cfg["vault-agent"]["template"][0];
    assert_eq!(
        template["destination"],
        "/vault/secrets/database-config.txt"
    );
    assert!(
        template["contents"]
            .as_str()
            .unwrap()
            .contains("postgresql://"),
        "{template}"
    );
}

#[test]
fn a_refused_pod_exits_2_with_the_servers_message() {
    let yaml = data("orgchart.deployment.yaml").replace(
        "vault.hashicorp.com/agent-inject: \"true\"",
        "vault.hashicorp.com/agent-inject: \"maybe\"",
    );
    // The server's message for the same pod.
    let d: Value = yaml_serde::from_str(&yaml).unwrap();
    let review_json = serde_json::json!({"request": {"uid": "u", "namespace": "default",
        "object": d["spec"]["template"]}});
    let settings = TestInjector::new().defaults();
    let answer: Value =
        serde_json::from_slice(&review(review_json.to_string().as_bytes(), &settings).unwrap())
            .unwrap();
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("maybe"), "{message}");

    let r = render(AgentFlavor::Vaultlet, &["-f", "-"], &yaml);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        format!(
            "Error: Deployment/orgchart (namespace \"default\"): the injector refuses the pod: {message}\n"
        )
    );
}

#[test]
fn unusable_settings_and_input_exit_1() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vaultlet-injector"));
    let out = cmd
        .args(["render", "-f", "-"])
        .env_clear()
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("No Vault service configured"), "{err}");
    // TLS and leader-election settings are not read: a preview needs no certificate.
    let r = render(
        AgentFlavor::Vaultlet,
        &[
            "-tls-cert-file=/nonexistent/cert.pem",
            "-use-leader-elector",
            "-f",
            "-",
        ],
        "kind: Service\nmetadata: {name: s}\n",
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("Service/s: not a Pod"), "{}", r.stderr);
    let r = render(AgentFlavor::Vaultlet, &["-f", "/nonexistent.yaml"], "");
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("error: reading /nonexistent.yaml"),
        "{}",
        r.stderr
    );
}

const VALIDATE: &str = r#"
import json, sys
import kubernetes_validate
from kubernetes_validate import utils
from packaging.version import Version
versions = [v for v in utils.all_versions() if Version(v) >= Version("1.29")]
assert versions, "kubernetes-validate knows no version >= 1.29"
for path in sys.argv[1:]:
    obj = json.load(open(path))
    for v in versions:
        try:
            kubernetes_validate.validate(obj, v, strict=True)
        except Exception as e:
            print(f"{path} (Kubernetes {v}): {e}".replace("\n", " "))
            break
"#;

/// The project's venv python with `kubernetes-validate` (installed by `scripts/setup-venv`).
fn python() -> std::path::PathBuf {
    vaultlet_tests::python_with_kubernetes_validate()
}

#[test]
fn the_printed_objects_are_valid_kubernetes_objects() {
    let (pod, _) = consul_server();
    let consul = serde_json::to_string(&pod).unwrap();
    let orgchart = data("orgchart.deployment.yaml");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for flavor in FLAVORS {
        for (name, input, ns) in [("consul", &consul, "consul"), ("orgchart", &orgchart, "")] {
            let r = render(flavor, &["-f", "-", "-n", ns], input);
            assert_eq!(r.code, 0, "{name} {flavor:?}: {}", r.stderr);
            let obj: Value = if name == "consul" {
                serde_json::from_str(&r.stdout).unwrap()
            } else {
                yaml_serde::from_str(&r.stdout).unwrap()
            };
            let p = dir.path().join(format!("{name}-{flavor:?}.json"));
            std::fs::write(&p, obj.to_string()).unwrap();
            files.push(p);
        }
    }
    // And one the validator must reject, so that a validator accepting anything fails the test.
    let mut broken: Value = yaml_serde::from_str(&orgchart).unwrap();
    broken["spec"]["template"]["spec"]["containers"][0]["bogusField"] = Value::from(1);
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    files.push(bad.clone());
    let out = Command::new(python())
        .arg("-c")
        .arg(VALIDATE)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8(out.stdout).unwrap();
    let failed: Vec<&str> = report.lines().collect();
    assert_eq!(failed.len(), 1, "schema errors:\n{report}");
    assert!(
        failed[0].starts_with(bad.to_str().unwrap()) && failed[0].contains("bogusField"),
        "{report}"
    );
}

#[test]
fn a_namespace_file_gives_its_annotations_to_the_pods_that_do_not_set_them() {
    let dir = tempfile::tempdir().unwrap();
    let ns = dir.path().join("ns.yaml");
    std::fs::write(
        &ns,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    vault.hashicorp.com/role: shop-role\n    vault.hashicorp.com/agent-inject: \"false\"\n",
    )
    .unwrap();
    let ns_flag = format!("-namespace-file={}", ns.display());
    let pod = |role: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\n  namespace: shop\n  annotations:\n    vault.hashicorp.com/agent-inject: \"true\"\n{role}spec:\n  containers:\n  - name: app\n    image: app\n"
        )
    };
    let role_of = |r: &Run| {
        assert_eq!(r.code, 0, "{}", r.stderr);
        let configs: Value = serde_json::from_str(&r.stdout).unwrap();
        configs["vault-agent"]
            .pointer("/auto_auth/method/config/role")
            .or_else(|| configs["vault-agent"].pointer("/auto_auth/method/0/config/role"))
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no role in {configs}"))
            .to_string()
    };
    let args = ["-f", "-", "-output", "config", ns_flag.as_str()];
    // The namespace's role fills in; its agent-inject does not count; the pod's own role wins.
    let r = render(AgentFlavor::Vaultlet, &args, &pod(""));
    assert_eq!(role_of(&r), "shop-role");
    let r = render(
        AgentFlavor::Vaultlet,
        &args,
        &pod("    vault.hashicorp.com/role: mine\n"),
    );
    assert_eq!(role_of(&r), "mine");
    // Without the file: no role, refused as the server would.
    let r = render(
        AgentFlavor::Vaultlet,
        &["-f", "-", "-output", "config"],
        &pod(""),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no Vault role found"), "{}", r.stderr);
    // A file that is not Namespaces is an error.
    std::fs::write(&ns, "kind: Pod\nmetadata:\n  name: p\n").unwrap();
    let r = render(AgentFlavor::Vaultlet, &args, &pod(""));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not a Namespace"), "{}", r.stderr);
}
