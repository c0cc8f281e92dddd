//! Behaviour tests over whole AdmissionReviews: skip rules, every refusal of injector.md §2.3 with its message,
//! ordering rules, flavors, and random inputs that must never panic.

use base64::Engine as _;
use serde_json::{Value, json};
use vaultlet_injector::admission::{AdmissionError, review};
use vaultlet_injector::fixture::TestInjector;
use vaultlet_shared::annotations::{AgentFlavor, InjectorDefaults};

fn injector() -> TestInjector {
    TestInjector::new().vault_address("https://vault:8200")
}

fn settings() -> InjectorDefaults {
    injector().defaults()
}

fn pod(annotations: Value) -> Value {
    json!({
        "metadata": {"name": "p", "annotations": annotations},
        "spec": {
            "containers": [{"name": "app", "volumeMounts": [
                {"name": "sa", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}],
            "volumes": [{"name": "sa", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]
        }
    })
}

fn review_of(pod: &Value, ns: &str, api: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": api, "kind": "AdmissionReview",
        "request": {"uid": "u-1", "namespace": ns, "object": pod}}))
    .unwrap()
}

fn respond_with(pod: &Value, ns: &str, s: &InjectorDefaults) -> Value {
    serde_json::from_slice(&review(&review_of(pod, ns, "admission.k8s.io/v1"), s).unwrap()).unwrap()
}

fn respond(pod: &Value) -> Value {
    respond_with(pod, "default", &settings())
}

fn patched(pod: &Value, s: &InjectorDefaults) -> Value {
    let resp = respond_with(pod, "default", s);
    let b64 = resp["response"]["patch"]
        .as_str()
        .unwrap_or_else(|| panic!("no patch: {resp}"));
    let patch: json_patch::Patch = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap();
    let mut p = pod.clone();
    json_patch::patch(&mut p, &patch).unwrap();
    p
}

fn refusal(pod: &Value) -> String {
    let r = respond(pod);
    assert_eq!(r["response"]["allowed"], false, "{r}");
    r["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn config_of(container: &Value, var: &str) -> Value {
    let env = container["env"].as_array().unwrap();
    let v = env.iter().find(|e| e["name"] == var).unwrap()["value"]
        .as_str()
        .unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(v).unwrap()).unwrap()
}

const INJECT: &str = "vault.hashicorp.com/agent-inject";

#[test]
fn skip_rules() {
    for ann in [
        json!({}),
        json!({INJECT: "false"}),
        json!({INJECT: ""}),
        json!({INJECT: "true", "vault.hashicorp.com/agent-inject-status": "injected", "vault.hashicorp.com/role": "r"}),
    ] {
        let r = respond(&pod(ann.clone()));
        assert_eq!(r["response"]["allowed"], true);
        assert!(r["response"].get("patch").is_none(), "{ann}");
        assert_eq!(r["response"]["uid"], "u-1");
    }
    let mut running = pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r"}));
    running["status"] = json!({"phase": "Running"});
    assert!(respond(&running)["response"].get("patch").is_none());
    // Un-annotated system pods pass untouched.
    let r = respond_with(&pod(json!({})), "kube-system", &settings());
    assert_eq!(r["response"]["allowed"], true);
}

#[test]
fn refusals_carry_the_spec_messages() {
    assert!(
        refusal(&pod(json!({INJECT: "yes"})))
            .starts_with("error checking if should inject agent: ")
    );
    let r = respond_with(
        &pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r"})),
        "kube-public",
        &settings(),
    );
    assert_eq!(
        r["response"]["status"]["message"],
        "error with request namespace: cannot inject into system namespaces: kube-public"
    );
    // A configuration the command line refuses; the handler refuses every injection with it.
    let no_addr = InjectorDefaults {
        vault_address: String::new(),
        ..settings()
    };
    let r = respond_with(&pod(json!({INJECT: "true"})), "default", &no_addr);
    assert_eq!(
        r["response"]["status"]["message"],
        "error adding default annotations: address for Vault required"
    );
    assert_eq!(
        refusal(&pod(json!({INJECT: "true"}))),
        "error validating agent configuration: no Vault role found (annotation vault.hashicorp.com/role is not set)"
    );
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-json-patch": "{"}),
    ));
    assert!(m.starts_with("error adding default annotations: error parsing JSON patch for annotation vault.hashicorp.com/agent-json-patch: "), "{m}");
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-limits-cpu": "lots"}),
    ));
    assert!(m.starts_with("error creating patch for agent: annotation vault.hashicorp.com/agent-limits-cpu: \"lots\" is not a Kubernetes quantity"), "{m}");
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-json-patch": "[{\"op\":\"remove\",\"path\":\"/nope\"}]"}),
    ));
    assert!(
        m.starts_with("error creating patch for agent: failed to apply JSON patch: "),
        "{m}"
    );
    assert!(
        m.ends_with(r#" (annotation vault.hashicorp.com/agent-json-patch: "[{\"op\":\"remove\",\"path\":\"/nope\"}]")"#),
        "{m}"
    );
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-run-as-same-user": "true"}),
    ));
    assert_eq!(
        m,
        "error creating new agent sidecar: No SecurityContext found for Container 0 (annotation vault.hashicorp.com/agent-run-as-same-user: \"true\")"
    );
    let mut sp = pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-share-process-namespace": "true"}),
    );
    sp["spec"]["shareProcessNamespace"] = json!(false);
    assert_eq!(
        refusal(&sp),
        "error creating new agent sidecar: shareProcessNamespace explicitly disabled on the pod, refusing to enable it (annotation vault.hashicorp.com/agent-share-process-namespace: \"true\")"
    );
    let mut no_sa = pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r"}));
    no_sa["spec"]["containers"][0]["volumeMounts"] = json!([]);
    assert_eq!(
        refusal(&no_sa),
        "error creating new agent sidecar: failed to find service account volume mount (annotation vault.hashicorp.com/agent-service-account-token-volume-name: \"\")"
    );
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-inject-default-template": "yaml"}),
    ));
    assert_eq!(
        m,
        "error creating new agent sidecar: invalid default template type: yaml (annotation vault.hashicorp.com/agent-inject-default-template: \"yaml\")"
    );
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/service": ""}),
    ));
    assert_eq!(
        m,
        "error validating agent configuration: no Vault address found (annotation vault.hashicorp.com/service: \"\")"
    );
    let m = refusal(&pod(
        json!({INJECT: "true", "openbao.org/role": "a", "vault.hashicorp.com/role": "b"}),
    ));
    assert!(
        m.contains("vault.hashicorp.com/role and openbao.org/role are both set"),
        "{m}"
    );
    let bad_obj = review(
        br#"{"request":{"uid":"x","namespace":"d","object":{"spec":{"containers":"no"}}}}"#,
        &settings(),
    )
    .unwrap();
    let r: Value = serde_json::from_slice(&bad_obj).unwrap();
    assert_eq!(r["response"]["allowed"], false);
}

#[test]
fn response_shape_and_versions() {
    let p = pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r"}));
    let r: Value = serde_json::from_slice(
        &review(&review_of(&p, "d", "admission.k8s.io/v1beta1"), &settings()).unwrap(),
    )
    .unwrap();
    assert_eq!(r["apiVersion"], "admission.k8s.io/v1beta1");
    assert_eq!(r["kind"], "AdmissionReview");
    assert_eq!(r["response"]["patchType"], "JSONPatch");
    let r: Value = serde_json::from_slice(
        &review(
            br#"{"request":{"uid":"z","namespace":"d","object":{}}}"#,
            &settings(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(r["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(r["response"], json!({"uid": "z", "allowed": true}));
    assert_eq!(review(b"{}", &settings()), Err(AdmissionError::NoRequest));
    assert_eq!(review(b"{}", &settings()).unwrap_err().http_status(), 400);
    let e = review(b"not json", &settings()).unwrap_err();
    assert_eq!(e.http_status(), 500);
    assert!(
        e.to_string()
            .starts_with("error decoding admission request: ")
    );
    assert!(review(br#"{"kind":"Pod","request":{}}"#, &settings()).is_err());
}

#[test]
fn pod_without_volumes_gets_every_volume() {
    let mut p = pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r",
        "vault.hashicorp.com/agent-inject-secret-a": "s/a", "vault.hashicorp.com/secret-volume-path-a": "/etc/a",
        "vault.hashicorp.com/agent-extra-secret": "extra"}));
    p["spec"].as_object_mut().unwrap().remove("volumes");
    let out = patched(&p, &settings());
    assert_eq!(
        names(&out["spec"]["volumes"]),
        vec![
            "home-init",
            "home-sidecar",
            "vault-secrets",
            "vault-secrets-custom-0",
            "extra-secrets"
        ]
    );
    assert_eq!(out["spec"]["volumes"][4]["secret"]["secretName"], "extra");
    assert_eq!(
        out["spec"]["containers"][0]["volumeMounts"][2],
        json!({"name": "vault-secrets-custom-0", "mountPath": "/etc/a"})
    );
    assert_eq!(
        out["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-status"],
        "injected"
    );
}

#[test]
fn init_first_puts_the_agent_first_and_mounts_secrets_in_every_init_container() {
    let mut p = pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "consul-client",
        "vault.hashicorp.com/agent-init-first": "true", "vault.hashicorp.com/agent-pre-populate-only": "true",
        "vault.hashicorp.com/agent-inject-containers": "other"}),
    );
    p["spec"]["initContainers"] = json!([{"name": "copy", "image": "busybox", "args": ["x"]}]);
    let out = patched(&p, &settings());
    assert_eq!(
        names(&out["spec"]["initContainers"]),
        vec!["vault-agent-init", "copy"]
    );
    assert_eq!(out["spec"]["initContainers"][1]["args"], json!(["x"]));
    assert_eq!(
        out["spec"]["initContainers"][1]["volumeMounts"],
        json!([{"name": "vault-secrets", "mountPath": "/vault/secrets"}])
    );
    assert_eq!(
        names(&out["spec"]["containers"]),
        vec!["app"],
        "pre-populate-only: no sidecar"
    );
    assert_eq!(
        out["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "app not in inject-containers"
    );
    assert!(!names(&out["spec"]["volumes"]).contains(&"home-sidecar"));
}

#[test]
fn job_with_cache_listener_and_quit() {
    let p = pod(json!({INJECT: "true", "vault.hashicorp.com/role": "job",
        "vault.hashicorp.com/agent-cache-enable": "true", "vault.hashicorp.com/agent-enable-quit": "true",
        "vault.hashicorp.com/agent-pre-populate": "false"}));
    let out = patched(&p, &settings());
    assert_eq!(
        names(&out["spec"]["containers"]),
        vec!["app", "vault-agent"]
    );
    assert!(out["spec"].get("initContainers").is_none());
    let cfg = config_of(&out["spec"]["containers"][1], "VAULT_CONFIG");
    assert_eq!(
        cfg["listener"],
        json!([{"type": "tcp", "address": "127.0.0.1:8200", "tls_disable": true, "agent_api": {"enable_quit": true}}])
    );
    assert_eq!(cfg["cache"], json!({"use_auto_auth_token": "true"}));
    assert_eq!(cfg["exit_after_auth"], false);
}

#[test]
fn persistent_cache_in_both_configs() {
    let p = pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-cache-enable": "true"}),
    );
    let out = patched(&p, &settings());
    for c in [
        &out["spec"]["initContainers"][0],
        &out["spec"]["containers"][1],
    ] {
        let cfg = config_of(c, "VAULT_CONFIG");
        assert_eq!(
            cfg["cache"]["persist"],
            json!({"type": "kubernetes", "path": "/vault/agent-cache"})
        );
        assert!(
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "vault-agent-cache")
        );
    }
}

#[test]
fn consul_server_pod() {
    let ann = json!({INJECT: "true", "vault.hashicorp.com/role": "consul-server",
        "vault.hashicorp.com/agent-inject-secret-gossip.txt": "consul/data/secret/gossip",
        "vault.hashicorp.com/agent-inject-template-gossip.txt": "{{- with secret \"consul/data/secret/gossip\" -}}{{- .Data.data.key -}}{{- end -}}",
        "vault.hashicorp.com/agent-inject-secret-servercert.crt": "pki_int/issue/consul",
        "vault.hashicorp.com/agent-inject-template-servercert.crt": "{{- with secret \"pki_int/issue/consul\" \"common_name=server.dc1.consul\" -}}{{- .Data.certificate -}}{{- end -}}",
        "vault.hashicorp.com/agent-inject-secret-serverca.crt": "pki/cert/ca",
        "vault.hashicorp.com/agent-inject-template-serverca.crt": "{{- with secret \"pki/cert/ca\" -}}{{- .Data.certificate -}}{{- end -}}",
        "vault.hashicorp.com/agent-extra-secret": "vault-ca",
        "vault.hashicorp.com/ca-cert": "/vault/custom/ca.crt",
        "vault.hashicorp.com/agent-revoke-on-shutdown": "true"});
    let out = patched(&pod(ann), &settings());
    let side = &out["spec"]["containers"][1];
    let cfg = config_of(side, "VAULT_CONFIG");
    let dests: Vec<&str> = cfg["template"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        vec![
            "/vault/secrets/gossip.txt",
            "/vault/secrets/serverca.crt",
            "/vault/secrets/servercert.crt"
        ]
    );
    assert_eq!(
        cfg["vault"],
        json!({"address": "https://vault:8200", "ca_cert": "/vault/custom/ca.crt"})
    );
    assert!(side["volumeMounts"].as_array().unwrap().contains(
        &json!({"name": "extra-secrets", "mountPath": "/vault/custom", "readOnly": true})
    ));
    assert_eq!(
        side["lifecycle"]["preStop"]["exec"]["command"],
        json!([
            "/vaultlet-agent",
            "token",
            "revoke",
            "-delay=5s",
            "-address=https://vault:8200",
            "-ca-cert=/vault/custom/ca.crt",
            "-self"
        ])
    );
}

#[test]
fn upstream_flavors_use_the_shell_forms() {
    let p = pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r", "vault.hashicorp.com/agent-revoke-on-shutdown": "true",
        "vault.hashicorp.com/agent-revoke-grace": "01"}),
    );
    let vault = injector().flavor(AgentFlavor::Vault).defaults();
    let out = patched(&p, &vault);
    let side = &out["spec"]["containers"][1];
    assert_eq!(side["command"], json!(["/bin/sh", "-ec"]));
    assert_eq!(
        side["args"],
        json!([
            "echo ${VAULT_CONFIG?} | base64 -d > /home/vault/config.json && vault agent -config=/home/vault/config.json"
        ])
    );
    assert_eq!(
        side["lifecycle"]["preStop"]["exec"]["command"],
        json!([
            "/bin/sh",
            "-c",
            "/bin/sleep 1 && /bin/vault token revoke -address=https://vault:8200 -self"
        ])
    );
    let bao = injector().flavor(AgentFlavor::Openbao).defaults();
    let out = patched(&p, &bao);
    let init = &out["spec"]["initContainers"][0];
    assert_eq!(
        init["args"],
        json!([
            "echo ${BAO_CONFIG?} | base64 -d > /home/vault/config.json && bao agent -config=/home/vault/config.json"
        ])
    );
    assert_eq!(config_of(init, "BAO_CONFIG")["exit_after_auth"], true);
}

#[test]
fn inject_containers_and_json_patch() {
    let mut p = pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r",
        "vault.hashicorp.com/agent-inject-containers": "b",
        "vault.hashicorp.com/agent-json-patch": "[{\"op\":\"replace\",\"path\":\"/name\",\"value\":\"renamed\"}]"}));
    p["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "b"}));
    let out = patched(&p, &settings());
    assert_eq!(
        names(&out["spec"]["containers"]),
        vec!["app", "b", "renamed"]
    );
    assert_eq!(
        out["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        out["spec"]["containers"][1]["volumeMounts"],
        json!([{"name": "vault-secrets", "mountPath": "/vault/secrets"}])
    );
}

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn random_bodies_and_annotation_values_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let settings = settings();
    let valid = review_of(
        &pod(json!({INJECT: "true", "vault.hashicorp.com/role": "r"})),
        "d",
        "admission.k8s.io/v1",
    );
    for _ in 0..2000 {
        let mut body = valid.clone();
        for _ in 0..(rng.next() % 8) {
            let i = (rng.next() as usize) % body.len();
            body[i] = rng.next() as u8;
        }
        let _ = review(&body, &settings);
        let len = (rng.next() % 64) as usize;
        let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = review(&junk, &settings);
    }
    let keys: Vec<&str> = vaultlet_shared::annotations::ANNOTATIONS
        .iter()
        .map(|d| d.name)
        .collect();
    let alphabet = b"0123456789.-+eEkKMGTPimnu tTrRuUfFalsexyz[]{}\":,/~";
    for _ in 0..3000 {
        let key = keys[(rng.next() as usize) % keys.len()];
        let key = if key.ends_with('-') {
            format!("{key}x")
        } else {
            key.to_owned()
        };
        let len = (rng.next() % 10) as usize;
        let value: String = (0..len)
            .map(|_| alphabet[(rng.next() as usize) % alphabet.len()] as char)
            .collect();
        let p = pod(
            json!({INJECT: "true", "vault.hashicorp.com/role": "r", format!("vault.hashicorp.com/{key}"): value}),
        );
        let out = review(&review_of(&p, "d", "admission.k8s.io/v1"), &settings);
        assert!(out.is_ok(), "{key}={value:?}");
    }
}

/// Checks at admission (injector.md §2.6) that need no golden file: a pod whose `agent-inject` key
/// is misspelt is left alone but told so, in either AdmissionReview version; too many unknown
/// keys are summed up.
#[test]
fn misspelt_keys_warn_even_when_nothing_is_injected() {
    let p =
        pod(json!({"vault.hashicorp.com/agent-injet": "true", "vault.hashicorp.com/role": "r"}));
    for api in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
        let r: Value =
            serde_json::from_slice(&review(&review_of(&p, "default", api), &settings()).unwrap())
                .unwrap();
        assert_eq!(
            r["response"],
            json!({"uid": "u-1", "allowed": true, "warnings": [
                "unknown annotation vault.hashicorp.com/agent-injet; did you mean vault.hashicorp.com/agent-inject?"
            ]}),
            "{api}"
        );
    }
    let mut many = serde_json::Map::new();
    many.insert(INJECT.into(), json!("true"));
    many.insert("vault.hashicorp.com/role".into(), json!("r"));
    for i in 0..20 {
        many.insert(format!("vault.hashicorp.com/nope-{i:02}"), json!("x"));
    }
    let r = respond(&pod(Value::Object(many)));
    assert_eq!(r["response"]["allowed"], true);
    let w = r["response"]["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 8);
    assert_eq!(w[0], "unknown annotation vault.hashicorp.com/nope-00");
    assert_eq!(w[7], "13 more annotation warnings not shown");
}

#[test]
fn checks_refuse_after_the_upstream_validation() {
    // Upstream's validation comes first: no role beats a broken template.
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/agent-inject-template-x": "{{"}),
    ));
    assert_eq!(
        m,
        "error validating agent configuration: no Vault role found (annotation vault.hashicorp.com/role is not set)"
    );
    // The auth type is checked before the templates.
    let m = refusal(&pod(
        json!({INJECT: "true", "vault.hashicorp.com/role": "r",
        "vault.hashicorp.com/auth-type": "aws", "vault.hashicorp.com/agent-inject-template-x": "{{"}),
    ));
    assert!(
        m.starts_with("error validating agent configuration: annotation vault.hashicorp.com/auth-type: \"aws\""),
        "{m}"
    );
    // Templates that parse are admitted: every default-template kind and the test pods' own.
    for kind in ["map", "json", "JSON"] {
        let r = respond(&pod(
            json!({INJECT: "true", "vault.hashicorp.com/role": "r",
            "vault.hashicorp.com/agent-inject-secret-db": "database/creds/db-app",
            "vault.hashicorp.com/agent-inject-default-template": kind}),
        ));
        assert_eq!(r["response"]["allowed"], true, "{kind}: {r}");
        assert!(r["response"].get("warnings").is_none(), "{kind}: {r}");
    }
}
