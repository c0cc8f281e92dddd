//! Hostile AdmissionReviews (docs/reliability.md, "Hostile input"): arbitrary bytes, arbitrary
//! JSON and arbitrary mutations of a real review never make `/mutate`'s handler panic or hang.
//! Each answer is either one well-formed AdmissionReview (with the request's uid, and a patch that
//! applies to the pod it came with) or a clear error with a 4xx/5xx status. Budget:
//! `PROPTEST_CASES` (see `vaultlet_tests::property`).

use base64::Engine;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_tests::property::{check, mutated};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn chars(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Values a pod's fields and annotations might hold, and some they should not.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        select(
            &[
                "true",
                "false",
                "1",
                "web",
                "",
                "map",
                "json",
                "xml",
                "250m",
                "1Gi",
                "-1",
                "5s",
                "database/creds/web",
                "/vault/secrets",
                "{{ .Data }}",
                "[{\"op\":\"add\"}]",
                "Pod",
                "v1",
                "CREATE",
                "admission.k8s.io/v1beta1",
                "kube-api-access-abcde",
                "vault.hashicorp.com/agent-inject",
                "/var/run/secrets/kubernetes.io/serviceaccount",
            ][..]
        )
        .prop_map(|s| Value::String(s.into())),
        chars(10).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Field names of AdmissionReviews and pods, and annotation keys.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&[
            "apiVersion", "kind", "request", "uid", "namespace", "object", "metadata", "name",
            "annotations", "spec", "containers", "initContainers", "volumes", "volumeMounts",
            "mountPath", "securityContext", "runAsUser", "env", "value", "valueFrom",
            "shareProcessNamespace", "serviceAccountName", "projected", "sources",
            "serviceAccountToken", "path", "vault.hashicorp.com/agent-inject",
            "vault.hashicorp.com/role", "vault.hashicorp.com/agent-inject-secret-x",
            "vault.hashicorp.com/agent-inject-template-x", "vault.hashicorp.com/agent-pre-populate-only",
            "vault.hashicorp.com/agent-limits-cpu", "vault.hashicorp.com/agent-json-patch",
            "openbao.org/agent-inject", "vault.hashicorp.com/agent-inject-default-template",
        ][..]).prop_map(str::to_owned),
        1 => chars(8),
    ]
}

/// Checks one answer of the handler to `body`.
fn answer_is_well_formed(body: &[u8]) -> Result<(), TestCaseError> {
    let defaults = TestInjector::new().defaults();
    let answer = match review(body, &defaults) {
        Ok(a) => a,
        Err(e) => {
            prop_assert!(matches!(e.http_status(), 400..=599));
            prop_assert!(!e.to_string().is_empty());
            return Ok(());
        }
    };
    let a: Value = serde_json::from_slice(&answer)
        .map_err(|e| TestCaseError::fail(format!("answer is not JSON: {e}")))?;
    prop_assert_eq!(&a["kind"], "AdmissionReview");
    let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let resp = &a["response"];
    if let Some(uid) = req["request"]["uid"].as_str() {
        prop_assert_eq!(resp["uid"].as_str(), Some(uid));
    }
    prop_assert!(resp["allowed"].is_boolean(), "{}", a);
    if let Some(p) = resp["patch"].as_str() {
        let patch = base64::engine::general_purpose::STANDARD
            .decode(p)
            .map_err(|e| TestCaseError::fail(format!("patch is not base64: {e}")))?;
        let patch: json_patch::Patch = serde_json::from_slice(&patch)
            .map_err(|e| TestCaseError::fail(format!("patch is not a JSON patch: {e}")))?;
        let mut pod = req["request"]["object"].clone();
        json_patch::patch(&mut pod, &patch)
            .map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}")))?;
    }
    Ok(())
}

#[test]
fn arbitrary_bytes_and_json_get_an_answer_or_a_clear_error() {
    check(
        "bytes",
        1000,
        prop::collection::vec(any::<u8>(), 0..256),
        |b| answer_is_well_formed(&b),
    );
    check("json", 1000, json(), |v| {
        answer_is_well_formed(v.to_string().as_bytes())
    });
}

#[test]
fn mutated_reviews_get_an_answer_or_a_clear_error() {
    for name in ["basic.review.json", "inject-containers.review.json"] {
        let base: Value = serde_json::from_str(&data(name)).unwrap();
        check(name, 500, mutated(base, json(), key()), |v| {
            answer_is_well_formed(v.to_string().as_bytes())
        });
    }
}
