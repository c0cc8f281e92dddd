//! Every patched pod validates against the Kubernetes schema: each AdmissionReview fixture of
//! `injector/tests/data/` goes through the admission handler (for each agent flavor), the patch is
//! applied with `json-patch`, and the pod is checked with the PyPI package `kubernetes-validate`
//! (strict: unknown fields are errors) for Kubernetes 1.29 through the newest version it knows. Native
//! sidecar pods (injector.md §4.10) are also checked against 1.28 (the first version with
//! `restartPolicy` on init containers, behind the `SidecarContainers` feature gate there), and
//! shown to need it: 1.27's schema refuses them.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::process::Command;

use base64::Engine as _;
use serde_json::Value;
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_shared::annotations::AgentFlavor;
use vaultlet_tests::workspace_root;

/// The validator script; `SINCE` (the oldest version checked) and `UPTO` (an exclusive upper
/// bound, empty for none) are replaced before it runs.
const VALIDATE: &str = r#"
import json, sys
import kubernetes_validate
from kubernetes_validate import utils
from packaging.version import Version
versions = sorted({v for v in utils.all_versions() if Version(v) >= Version("SINCE") and ("UPTO" == "" or Version(v) < Version("UPTO"))}, key=Version)
assert versions, "kubernetes-validate knows no version in SINCE..UPTO"
bad = []
for path in sys.argv[1:]:
    obj = json.load(open(path))
    for v in versions:
        try:
            kubernetes_validate.validate(obj, v, strict=True)
        except Exception as e:
            bad.append(f"{path} (Kubernetes {v}): {e}")
print("\n".join(bad))
print(f"checked {len(sys.argv) - 1} pods against {versions[0]}..{versions[-1]}", file=sys.stderr)
sys.exit(1 if bad else 0)
"#;

/// The project's venv python with `kubernetes-validate` (installed by `scripts/setup-venv`).
fn python() -> std::path::PathBuf {
    vaultlet_tests::python_with_kubernetes_validate()
}

fn validator(since: &str, upto: &str) -> String {
    VALIDATE.replace("SINCE", since).replace("UPTO", upto)
}

fn patched(review_json: &str, flavor: AgentFlavor) -> Option<Value> {
    let settings = TestInjector::new().flavor(flavor).defaults();
    let out = review(review_json.as_bytes(), &settings).expect("review");
    let resp: Value = serde_json::from_slice(&out).unwrap();
    let patch = resp["response"]["patch"].as_str()?;
    let patch: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(patch)
            .unwrap(),
    )
    .unwrap();
    let input: Value = serde_json::from_str(review_json).unwrap();
    let mut pod = input["request"]["object"].clone();
    json_patch::patch(&mut pod, &patch).expect("patch applies");
    Some(pod)
}

fn fixtures() -> Vec<(String, String)> {
    let dir = workspace_root().join("injector/tests/data");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".review.json")?
                .to_string();
            Some((name, std::fs::read_to_string(&p).unwrap()))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_patched_fixture_pod_is_a_valid_kubernetes_pod() {
    let fixtures = fixtures();
    assert!(
        fixtures.len() >= 3,
        "fixtures: {:?}",
        fixtures.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, review_json) in &fixtures {
        for flavor in [
            AgentFlavor::Vaultlet,
            AgentFlavor::Vault,
            AgentFlavor::Openbao,
        ] {
            let Some(mut pod) = patched(review_json, flavor) else {
                continue;
            };
            // Admission sees pods before defaulting; the schema wants the fields it requires.
            if pod["metadata"]["name"].as_str().is_none() {
                pod["metadata"]["name"] = Value::from(format!("{name}-x"));
            }
            let p = dir.path().join(format!("{name}-{flavor:?}.json"));
            std::fs::write(&p, serde_json::to_vec_pretty(&pod).unwrap()).unwrap();
            files.push(p);
        }
    }
    assert!(files.len() >= 6, "patched pods: {files:?}");
    let out = Command::new(python())
        .arg("-c")
        .arg(validator("1.29", ""))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "schema errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_validator_rejects_a_broken_pod() {
    // Guards the test above against a validator that accepts anything.
    let (_, review_json) = fixtures().into_iter().next().unwrap();
    let mut pod = patched(&review_json, AgentFlavor::Vaultlet).expect("an injected fixture");
    pod["metadata"]["name"] = Value::from("x");
    pod["spec"]["initContainers"][0]["resources"]["limits"]["cpu"] = Value::from("lots");
    pod["spec"]["containers"][0]["bogusField"] = Value::from(1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.json");
    std::fs::write(&p, pod.to_string()).unwrap();
    let out = Command::new(python())
        .arg("-c")
        .arg(validator("1.29", ""))
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bogusField"), "{text}");
}

#[test]
fn native_sidecar_pods_are_valid_from_kubernetes_1_28_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, review_json) in fixtures() {
        if !review_json.contains("agent-native-sidecar\":\"true") {
            continue;
        }
        let mut pod = patched(&review_json, AgentFlavor::Vaultlet).expect("a patch");
        assert_eq!(
            pod["spec"]["initContainers"][0]["restartPolicy"], "Always",
            "{name}"
        );
        pod["metadata"]["name"] = Value::from(format!("{name}-x"));
        let p = dir.path().join(format!("{name}.json"));
        std::fs::write(&p, serde_json::to_vec_pretty(&pod).unwrap()).unwrap();
        files.push(p);
    }
    assert!(!files.is_empty(), "no native sidecar fixture");
    let run = |since: &str, upto: &str| {
        Command::new(python())
            .arg("-c")
            .arg(validator(since, upto))
            .args(&files)
            .output()
            .unwrap()
    };
    let out = run("1.28", "");
    assert!(
        out.status.success(),
        "schema errors:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let old = run("1.27", "1.28");
    assert!(
        !old.status.success(),
        "1.27 has no restartPolicy on containers"
    );
    let text = String::from_utf8_lossy(&old.stdout);
    assert!(text.contains("restartPolicy"), "{text}");
}
