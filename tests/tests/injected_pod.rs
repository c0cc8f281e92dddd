//! The pod the injector makes, run for real: an AdmissionReview goes through the injector's
//! admission handler, the patch is applied with `json-patch`, and the injected agent containers are
//! run as local processes exactly as the kubelet would run them (their command, args and env; every
//! path under one of their volume mounts mapped under a temp dir) against a real OpenBao server,
//! logging in with `kubernetes` auth through the TokenReview responder.
//!
//! The same generated `VAULT_CONFIG` is also run under the real `bao agent` (decoded to a file, as
//! upstream's `/bin/sh -ec` form does), and both agents must render the same bytes with the same
//! modes — the config our injector writes is a config the real agent accepts.
//!
//! A pod whose config is too large for an environment variable gets it as an annotation projected by
//! a `downwardAPI` volume (injector.md §3.7): the test writes that file from the patched pod's
//! annotation as the kubelet would, and both agents (ours, and `bao agent` through the `openbao`
//! flavor's own `/bin/sh -ec` command) must read it with `-config` and render.
//!
//! A native sidecar Job and a native sidecar Deployment pod (injector.md §4.10) run in the
//! kubelet's order: the agent init container, its `startupProbe` polled until it passes, the app,
//! then the preStop hook and SIGTERM; with a real dynamic database secret (OpenBao's database
//! engine on a real PostgreSQL, `vaultlet_tests::Postgres`), one lease per pod.
//!
//! A pod with `agent-inject-env-<name>` (injector.md §4.11) runs its env-copy init container (our
//! agent copying itself) and then the wrapped app container's own command, the copy of the agent, which
//! `execve`s the app (`/bin/sleep`): the app runs under the wrapper's PID with the variable in its
//! environment, and the value is nowhere in the patched pod. With `agent-inject-env-restart` the
//! wrapper stays and restarts the app when the KV value changes.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_shared::annotations::AgentFlavor;
use vaultlet_tests::bao_binary;
use vaultlet_tests::faults::workspace_bin;
use vaultlet_tests::pod::{Prepared, Runner, container, image_exec, prepare, sigterm};
use vaultlet_tests::{
    JwtIssuer, KUBERNETES_API, KubernetesAuth, OpenBao, Postgres, TokenReviewer, eventually,
    skip_or_fail, within,
};

const ISS: &str = KUBERNETES_API;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct World {
    bao: OpenBao,
    issuer: JwtIssuer,
    reviewer: TokenReviewer,
    gossip: String,
}

fn world() -> World {
    let k8s = KubernetesAuth::start();
    let bao = &k8s.bao;
    // The HashiCorp tutorial's orgchart app.
    bao.api(
        "POST",
        "sys/mounts/internal",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    bao.kv_put_raw(
        "internal",
        "database/config",
        r#"{"username": "db-readonly-username", "password": "db-secret-password", "port": 5432}"#,
    );
    k8s.role(
        "internal-app",
        "default",
        "internal-app",
        Some(r#"path "internal/data/database/config" { capabilities = ["read"] }"#),
        json!({"ttl": "1h"}),
    );
    // A Consul server: gossip key, server certificate from PKI, CA.
    bao.api(
        "POST",
        "sys/mounts/consul-kv",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    let gossip = B64.encode(rand_bytes());
    bao.kv_put("consul-kv", "secret/gossip", json!({ "gossip": gossip }));
    bao.enable_pki("pki", "consul-server", &["dc1.consul"]);
    k8s.role(
        "consul-server",
        "consul",
        "consul-server",
        Some(
            "path \"consul-kv/data/secret/gossip\" { capabilities = [\"read\"] }\n\
             path \"pki/issue/consul-server\" { capabilities = [\"create\", \"update\"] }\n\
             path \"pki/cert/ca\" { capabilities = [\"read\"] }\n",
        ),
        json!({"ttl": "1h"}),
    );
    let KubernetesAuth {
        bao,
        issuer,
        reviewer,
    } = k8s;
    World {
        bao,
        issuer,
        reviewer,
        gossip,
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    b
}

fn sa_volume() -> Value {
    json!({"name": "kube-api-access-x1", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}})
}

fn sa_mount() -> Value {
    json!({"name": "kube-api-access-x1", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true})
}

fn orgchart_pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "orgchart-0", "namespace": "default", "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "internal-app",
            "vault.hashicorp.com/agent-inject-secret-database-config.txt": "internal/data/database/config",
            "vault.hashicorp.com/agent-inject-secret-db.json": "internal/data/database/config",
            "vault.hashicorp.com/agent-inject-template-db.json":
                "{{ with secret \"internal/data/database/config\" }}{{ .Data.data | toJSONPretty }}{{ end }}",
            "vault.hashicorp.com/agent-inject-secret-env": "internal/data/database/config",
            "vault.hashicorp.com/agent-inject-template-env":
                "{{ with secret \"internal/data/database/config\" }}{{ range $k, $v := .Data.data }}export {{ $k }}={{ $v }}\n{{ end }}{{ end }}",
            "vault.hashicorp.com/agent-inject-perms-env": "0400",
        }},
        "spec": {"serviceAccountName": "internal-app",
            "containers": [{"name": "orgchart", "image": "jweissig/app:0.0.1", "volumeMounts": [sa_mount()]}],
            "volumes": [sa_volume()]},
    })
}

const CONSUL_PARAMS: &str = r#""common_name=server.dc1.consul" "ttl=24h" "alt_names=localhost,server.dc1.consul" "ip_sans=127.0.0.1""#;

fn consul_server_pod() -> Value {
    let with = |field: &str| {
        format!(
            "{{{{- with secret \"pki/issue/consul-server\" {CONSUL_PARAMS} -}}}}{{{{- .Data.{field} -}}}}{{{{- end -}}}}"
        )
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "consul-server-0", "namespace": "consul", "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/agent-init-first": "true",
            "vault.hashicorp.com/role": "consul-server",
            "vault.hashicorp.com/agent-inject-secret-gossip.txt": "consul-kv/data/secret/gossip",
            "vault.hashicorp.com/agent-inject-template-gossip.txt":
                "{{- with secret \"consul-kv/data/secret/gossip\" -}}{{- .Data.data.gossip -}}{{- end -}}",
            "vault.hashicorp.com/agent-inject-secret-servercert.crt": "pki/issue/consul-server",
            "vault.hashicorp.com/agent-inject-template-servercert.crt": with("certificate"),
            "vault.hashicorp.com/agent-inject-secret-servercert.key": "pki/issue/consul-server",
            "vault.hashicorp.com/agent-inject-template-servercert.key": with("private_key"),
            "vault.hashicorp.com/agent-inject-secret-serverca.crt": "pki/cert/ca",
            "vault.hashicorp.com/agent-inject-template-serverca.crt":
                "{{- with secret \"pki/cert/ca\" -}}{{- .Data.certificate -}}{{- end -}}",
        }},
        "spec": {"serviceAccountName": "consul-server",
            "containers": [{"name": "consul", "image": "hashicorp/consul:1.20", "volumeMounts": [sa_mount()]}],
            "volumes": [sa_volume()]},
    })
}

/// The pod after the injector's patch.
fn inject(pod: &Value, vault_addr: &str) -> Value {
    let settings = TestInjector::new().vault_address(vault_addr).defaults();
    let req = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "0d5c8a8e-0000-4000-8000-000000000001",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod},
    });
    let out = review(req.to_string().as_bytes(), &settings).expect("review");
    let resp: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
    let patch: json_patch::Patch = serde_json::from_slice(
        &B64.decode(resp["response"]["patch"].as_str().expect("a patch"))
            .unwrap(),
    )
    .unwrap();
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).expect("patch applies");
    patched
}

/// Starts `prepared` with our agent (the container's own command) or with the real `bao agent`
/// (the config decoded to a file, as upstream's shell form does).
fn spawn(p: &Prepared, sandbox: &Path, real_bao: bool) -> Child {
    if real_bao {
        p.spawn(sandbox, Runner::BaoAgent, "bao.log")
    } else {
        p.spawn(sandbox, Runner::Vaultlet, "vaultlet.log")
    }
}

/// Starts the container's own command and args (the `/bin/sh -ec` form of the upstream flavors),
/// with the real `bao` first on `PATH`; logs to `bao.log`.
fn spawn_container(p: &Prepared, sandbox: &Path) -> Child {
    p.spawn(sandbox, Runner::Command, "bao.log")
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    within(limit, || child.try_wait().unwrap()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the agent did not exit within {limit:?}");
    })
}

fn log_of(sandbox: &Path, real_bao: bool) -> String {
    std::fs::read_to_string(sandbox.join(if real_bao { "bao.log" } else { "vaultlet.log" }))
        .unwrap_or_default()
}

/// Runs the init container of `pod` under both agents; returns the two sandboxes.
fn run_init_both(w: &World, pod: &Value, root: &Path) -> [PathBuf; 2] {
    let patched = inject(pod, w.bao.addr());
    let init = container(&patched, "initContainers", "vault-agent-init");
    let ns = pod["metadata"]["namespace"].as_str().unwrap();
    let sa = pod["spec"]["serviceAccountName"].as_str().unwrap();
    let mut out = Vec::new();
    for real_bao in [false, true] {
        let sandbox = root.join(if real_bao { "bao" } else { "vaultlet" });
        let jwt = w
            .issuer
            .mint_service_account(ns, sa, &[ISS], Duration::from_secs(600));
        let p = prepare(init, &patched, &sandbox, &jwt);
        assert_eq!(
            p.config["exit_after_auth"], true,
            "init config: {}",
            p.config
        );
        let mut child = spawn(&p, &sandbox, real_bao);
        let status = wait_exit(&mut child, Duration::from_secs(60));
        assert!(
            status.success(),
            "{} exited {status}; log:\n{}",
            if real_bao {
                "bao agent"
            } else {
                "vaultlet-agent"
            },
            log_of(&sandbox, real_bao)
        );
        out.push(sandbox);
    }
    [out[0].clone(), out[1].clone()]
}

fn secret(sandbox: &Path, name: &str) -> (String, u32) {
    let p = sandbox.join("vault/secrets").join(name);
    let body = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    (body, mode)
}

fn openssl(args: &[&str]) -> String {
    let o = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn orgchart_init_container_renders_as_the_real_agent_does() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let [ours, theirs] = run_init_both(&w, &orgchart_pod(), dir.path());
    for name in ["database-config.txt", "db.json", "env"] {
        let (a, am) = secret(&ours, name);
        let (b, bm) = secret(&theirs, name);
        assert_eq!(a, b, "{name}: vaultlet vs bao agent");
        assert_eq!(am, bm, "{name}: modes differ");
    }
    let (db, _) = secret(&ours, "database-config.txt");
    assert!(db.contains("password:db-secret-password"), "{db}");
    let (env, mode) = secret(&ours, "env");
    assert_eq!(mode, 0o400);
    assert!(env.contains("export port=5432\n"), "{env}");
    let (json, _) = secret(&ours, "db.json");
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["username"], "db-readonly-username", "{json}");
    assert!(json.contains("\n  \"port\": 5432"), "{json}");
    // The sink the sidecar's preStop hook would read.
    for s in [&ours, &theirs] {
        let token = std::fs::read_to_string(s.join("home/vault/.vault-token")).unwrap();
        assert!(!token.trim().is_empty());
    }
}

#[test]
fn consul_server_init_container_gets_one_pki_issuance_under_both_agents() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let [ours, theirs] = run_init_both(&w, &consul_server_pod(), dir.path());
    for s in [&ours, &theirs] {
        let (gossip, _) = secret(s, "gossip.txt");
        assert_eq!(gossip, w.gossip);
        let crt = s.join("vault/secrets/servercert.crt");
        let key = s.join("vault/secrets/servercert.key");
        let ca = s.join("vault/secrets/serverca.crt");
        assert_eq!(
            openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"]),
            openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]),
            "servercert.key must belong to servercert.crt in {}",
            s.display()
        );
        openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            crt.to_str().unwrap(),
        ]);
    }
    assert_eq!(
        secret(&ours, "serverca.crt"),
        secret(&theirs, "serverca.crt")
    );
    // Two agents, one issuance each: root + two leaves.
    let certs = w.bao.api("LIST", "pki/certs", None);
    assert_eq!(
        certs["data"]["keys"].as_array().unwrap().len(),
        3,
        "{certs}"
    );
}

#[test]
fn sidecar_config_runs_under_both_agents_and_stops_on_sigterm() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let pod = orgchart_pod();
    let patched = inject(&pod, w.bao.addr());
    let sidecar = container(&patched, "containers", "vault-agent");
    for real_bao in [false, true] {
        let sandbox = dir.path().join(if real_bao { "bao" } else { "vaultlet" });
        let jwt = w.issuer.mint_service_account(
            "default",
            "internal-app",
            &[ISS],
            Duration::from_secs(600),
        );
        let p = prepare(sidecar, &patched, &sandbox, &jwt);
        assert_eq!(p.config["exit_after_auth"], false);
        let mut child = spawn(&p, &sandbox, real_bao);
        let target = sandbox.join("vault/secrets/database-config.txt");
        let rendered = within(Duration::from_secs(30), || {
            if let Some(s) = child.try_wait().unwrap() {
                panic!("exited early ({s}); log:\n{}", log_of(&sandbox, real_bao));
            }
            target.exists()
        });
        assert!(
            rendered.is_some(),
            "no render in 30 s; log:\n{}",
            log_of(&sandbox, real_bao)
        );
        // Still running: a sidecar (the wait is the point: it does not exit).
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none());
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = wait_exit(&mut child, Duration::from_secs(15));
        if !real_bao {
            assert!(
                status.success(),
                "{status}; log:\n{}",
                log_of(&sandbox, false)
            );
        }
    }
}

/// The injector binary serving HTTPS on 127.0.0.1 with a certificate from a test CA.
struct InjectorProcess {
    child: Child,
    url: String,
    ca: PathBuf,
}

impl Drop for InjectorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_injector(dir: &Path, vault_addr: &str) -> InjectorProcess {
    start_injector_with(dir, vault_addr, AgentFlavor::Vaultlet)
}

fn start_injector_with(dir: &Path, vault_addr: &str, flavor: AgentFlavor) -> InjectorProcess {
    let g = vaultlet_injector::tls::auto::Generator::new().unwrap();
    let b = g
        .leaf(&["127.0.0.1".into()], std::time::SystemTime::now())
        .unwrap();
    let (crt, key, ca) = (dir.join("tls.crt"), dir.join("tls.key"), dir.join("ca.crt"));
    std::fs::write(&crt, &b.cert_pem).unwrap();
    std::fs::write(&key, &b.key_pem).unwrap();
    std::fs::write(&ca, &b.ca_pem).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(workspace_bin("vaultlet-injector"))
        .args([
            "agent-inject".to_string(),
            format!("-listen=127.0.0.1:{port}"),
            format!("-tls-cert-file={}", crt.display()),
            format!("-tls-key-file={}", key.display()),
        ])
        .env_clear()
        .envs(
            TestInjector::new()
                .vault_address(vault_addr)
                .flavor(flavor)
                .env(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("injector.log")).unwrap())
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(20), || {
        if let Some(s) = child.try_wait().unwrap() {
            panic!(
                "injector exited {s}: {}",
                std::fs::read_to_string(dir.join("injector.log")).unwrap_or_default()
            );
        }
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    InjectorProcess {
        child,
        url: format!("https://127.0.0.1:{port}"),
        ca,
    }
}

/// POSTs the AdmissionReview of `pod` to the injector with curl, verifying the server against the
/// test CA, and applies the returned patch.
fn inject_over_https(inj: &InjectorProcess, pod: &Value, dir: &Path) -> Value {
    let req = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "0d5c8a8e-0000-4000-8000-000000000002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
            "object": pod},
    });
    let body = dir.join("review.json");
    std::fs::write(&body, req.to_string()).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--fail", "--cacert"])
        .arg(&inj.ca)
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg(format!("{}/mutate", inj.url))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resp["response"]["allowed"], true, "{resp}");
    assert_eq!(
        resp["response"]["uid"],
        "0d5c8a8e-0000-4000-8000-000000000002"
    );
    let patch: json_patch::Patch = serde_json::from_slice(
        &B64.decode(resp["response"]["patch"].as_str().expect("a patch"))
            .unwrap(),
    )
    .unwrap();
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).expect("patch applies");
    patched
}

#[test]
fn end_to_end_the_injector_over_https_then_the_injected_init_container() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let inj = start_injector(dir.path(), w.bao.addr());
    let pod = consul_server_pod();
    let patched = inject_over_https(&inj, &pod, dir.path());
    // The same pod as the in-process handler makes.
    assert_eq!(patched, inject(&pod, w.bao.addr()));
    let names = |list: &str| -> Vec<String> {
        patched["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("initContainers"), ["vault-agent-init"]);
    assert_eq!(
        names("containers"),
        ["consul", "vault-agent"],
        "the sidecar comes after the app"
    );
    let init = container(&patched, "initContainers", "vault-agent-init");
    let sandbox = dir.path().join("pod");
    let jwt =
        w.issuer
            .mint_service_account("consul", "consul-server", &[ISS], Duration::from_secs(600));
    let p = prepare(init, &patched, &sandbox, &jwt);
    let mut child = spawn(&p, &sandbox, false);
    let status = wait_exit(&mut child, Duration::from_secs(60));
    assert!(status.success(), "{status}: {}", log_of(&sandbox, false));
    let (gossip, mode) = secret(&sandbox, "gossip.txt");
    assert_eq!(gossip, w.gossip);
    assert_eq!(mode, 0o644, "upstream's default template perms");
    let crt = sandbox.join("vault/secrets/servercert.crt");
    let key = sandbox.join("vault/secrets/servercert.key");
    assert_eq!(
        openssl(&["x509", "-in", crt.to_str().unwrap(), "-noout", "-pubkey"]),
        openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout"]),
    );
    // The token sink the sidecar and the preStop hook read.
    let sink = sandbox.join("home/vault/.vault-token");
    assert!(!std::fs::read_to_string(sink).unwrap().trim().is_empty());
    assert!(
        !log_of(&sandbox, false).contains(&w.gossip),
        "the agent must never log a secret"
    );
}

/// `n` secrets with default templates of one short KV path: the config is about 3.4 times the
/// size of the annotations that ask for it.
fn large_config_pod(n: usize) -> Value {
    let mut pod = orgchart_pod();
    let a = pod["metadata"]["annotations"].as_object_mut().unwrap();
    a.retain(|k, _| {
        !k.contains("agent-inject-secret-") && !k.contains("-template-") && !k.contains("-perms-")
    });
    for i in 0..n {
        a.insert(
            format!("vault.hashicorp.com/agent-inject-secret-{i:04}"),
            json!("k/data/s"),
        );
    }
    pod
}

/// The sum of every annotation's key and value length, as Kubernetes counts it.
fn annotation_bytes(pod: &Value) -> usize {
    pod["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| k.len() + v.as_str().unwrap().len())
        .sum()
}

/// Checks one pod with `kubernetes-validate` (strict) for every Kubernetes version from 1.29 on,
/// as `patched_pod_schema.rs` does.
fn validate_pod(pod: &Value, dir: &Path) {
    const SCRIPT: &str = r#"
import json, sys
import kubernetes_validate
from kubernetes_validate import utils
from packaging.version import Version
versions = [v for v in utils.all_versions() if Version(v) >= Version("1.29")]
assert versions
obj = json.load(open(sys.argv[1]))
for v in versions:
    kubernetes_validate.validate(obj, v, strict=True)
print(f"valid for {versions[0]}..{versions[-1]}")
"#;
    let py = vaultlet_tests::python_with_kubernetes_validate();
    let file = dir.join("patched-pod.json");
    std::fs::write(&file, serde_json::to_vec_pretty(pod).unwrap()).unwrap();
    let out = Command::new(py)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the patched pod is not a valid Pod:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn end_to_end_a_200_kb_config_is_mounted_from_an_annotation_and_read_by_both_agents() {
    const SECRETS: usize = 1000;
    let w = world();
    // A short path the orgchart role may read, so that many secrets fit in few annotation bytes.
    w.bao.api(
        "POST",
        "sys/mounts/k",
        Some(json!({"type": "kv", "options": {"version": "2"}})),
    );
    w.bao
        .kv_put("k", "s", json!({"password": "db-secret-password"}));
    w.bao.write_policy(
        "internal-app",
        "path \"internal/data/database/config\" { capabilities = [\"read\"] }\n\
         path \"k/data/s\" { capabilities = [\"read\"] }\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let pod = large_config_pod(SECRETS);
    for flavor in [AgentFlavor::Vaultlet, AgentFlavor::Openbao] {
        let fdir = dir.path().join(format!("{flavor:?}"));
        std::fs::create_dir_all(&fdir).unwrap();
        let inj = start_injector_with(&fdir, w.bao.addr(), flavor);
        let patched = inject_over_https(&inj, &pod, &fdir);
        drop(inj);
        // One annotation holds the config, well over what one environment string may hold.
        let config = patched["metadata"]["annotations"]["vault.hashicorp.com/agent-config-sidecar"]
            .as_str()
            .expect("the config annotation");
        assert!(config.len() > 180_000, "config: {} bytes", config.len());
        assert!(
            annotation_bytes(&patched) <= 262_144,
            "annotations: {} bytes",
            annotation_bytes(&patched)
        );
        validate_pod(&patched, &fdir);
        let volume = patched["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "vault-agent-config")
            .expect("the downwardAPI volume");
        assert_eq!(
            volume["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"],
            "metadata.annotations['vault.hashicorp.com/agent-config-sidecar']"
        );
        for (list, name) in [
            ("initContainers", "vault-agent-init"),
            ("containers", "vault-agent"),
        ] {
            let c = container(&patched, list, name);
            let env = c["env"].to_string();
            assert!(
                !env.contains("VAULT_CONFIG") && !env.contains("BAO_CONFIG"),
                "{env}"
            );
            assert!(c.to_string().len() < 8192, "{name} stays small");
        }
        // The init container, as the kubelet runs it.
        let jwt = w.issuer.mint_service_account(
            "default",
            "internal-app",
            &[ISS],
            Duration::from_secs(600),
        );
        let init = container(&patched, "initContainers", "vault-agent-init");
        let sandbox = fdir.join("init");
        let p = prepare(init, &patched, &sandbox, &jwt);
        assert_eq!(p.config["template"].as_array().unwrap().len(), SECRETS);
        let real_bao = flavor != AgentFlavor::Vaultlet;
        let mut child = if real_bao {
            assert_eq!(p.argv[..2], ["/bin/sh", "-ec"], "{:?}", p.argv);
            assert!(p.argv[2].starts_with("bao agent -config="), "{:?}", p.argv);
            spawn_container(&p, &sandbox)
        } else {
            spawn(&p, &sandbox, false)
        };
        let status = wait_exit(&mut child, Duration::from_secs(120));
        assert!(
            status.success(),
            "{flavor:?} init exited {status}; log:\n{}",
            log_of(&sandbox, real_bao)
        );
        let rendered = std::fs::read_dir(sandbox.join("vault/secrets"))
            .unwrap()
            .count();
        assert_eq!(rendered, SECRETS, "{flavor:?}");
        for name in ["0000", "0999"] {
            let (body, _) = secret(&sandbox, name);
            assert!(
                body.contains("password:db-secret-password"),
                "{name}: {body}"
            );
        }
        // The sidecar: renders from the same file, keeps running, stops on SIGTERM.
        let sidecar = container(&patched, "containers", "vault-agent");
        let sandbox = fdir.join("sidecar");
        let p = prepare(sidecar, &patched, &sandbox, &jwt);
        assert_eq!(p.config["exit_after_auth"], false);
        let mut child = if real_bao {
            spawn_container(&p, &sandbox)
        } else {
            spawn(&p, &sandbox, false)
        };
        let target = sandbox.join("vault/secrets/0999");
        let done = within(Duration::from_secs(60), || {
            if let Some(s) = child.try_wait().unwrap() {
                panic!("exited early ({s}); log:\n{}", log_of(&sandbox, real_bao));
            }
            target.exists()
        });
        assert!(
            done.is_some(),
            "{flavor:?} sidecar: no render in 60 s; log:\n{}",
            log_of(&sandbox, real_bao)
        );
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        wait_exit(&mut child, Duration::from_secs(15));
    }
}

fn token_accessors(bao: &OpenBao) -> usize {
    bao.api("LIST", "auth/token/accessors", None)["data"]["keys"]
        .as_array()
        .map_or(0, Vec::len)
}

/// The database role the native sidecar pods read their credentials from.
const DB_CREDS: &str = "database/creds/orgchart";

/// The leases OpenBao holds under [`DB_CREDS`].
fn db_leases(bao: &OpenBao) -> Vec<String> {
    let (code, body) = bao.api_raw("LIST", &format!("sys/leases/lookup/{DB_CREDS}/"), None);
    if code == 404 {
        return Vec::new();
    }
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{DB_CREDS}/{}", k.as_str().unwrap()))
        .collect()
}

/// (username, password) in a rendered `db-creds` file.
fn db_creds(text: &str) -> (String, String) {
    let mut lines = text.lines();
    let user = lines.next().unwrap_or_default().to_string();
    let password = lines.next().unwrap_or_default().to_string();
    assert!(user.starts_with("v-"), "not database credentials: {text:?}");
    (user, password)
}

/// The app container, as a process: it copies the secrets it finds at start (`/vault/secrets`,
/// mapped into the sandbox) to `<sandbox>/app-saw`, then exits (a Job) or keeps running until
/// SIGTERM (a Deployment's pod).
fn start_app(sandbox: &Path, job: bool) -> Child {
    // The copy is renamed into place, so that what the test reads is complete.
    let copy = r#"cp -R "$1" "$2.tmp" && mv "$2.tmp" "$2""#;
    let script = if job {
        copy.to_string()
    } else {
        format!("{copy} && trap 'exit 0' TERM && while :; do sleep 0.1; done")
    };
    Command::new("/bin/sh")
        .args(["-c", &script, "app"])
        .arg(sandbox.join("vault/secrets"))
        .arg(sandbox.join("app-saw"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// A native sidecar pod (injector.md §4.10) through the injector over HTTPS, its containers run in
/// the kubelet's order: the agent init container, its `startupProbe` polled until it passes, the
/// app; then, for a Job, the app exits and the kubelet stops the agent (preStop hook, SIGTERM);
/// for a Deployment's pod being deleted, the app gets SIGTERM first, then the agent. Secrets: KV,
/// a leased child token, and a real dynamic database secret (OpenBao's database engine on a real
/// PostgreSQL, when it can run here): the app sees them at start, the database login works, and
/// the pod holds one lease per secret, which `agent-revoke-on-shutdown` revokes with the token.
#[test]
fn end_to_end_a_native_sidecar_job_logs_in_once_and_stops_on_sigterm() {
    let w = world();
    let pg = match Postgres::start() {
        Ok(pg) => Some(pg),
        Err(why) => {
            skip_or_fail(
                "end_to_end_a_native_sidecar_job_logs_in_once_and_stops_on_sigterm (its database secret)",
                &why,
            );
            None
        }
    };
    let mut policy = "path \"internal/data/database/config\" { capabilities = [\"read\"] }\n\
         path \"auth/token/create\" { capabilities = [\"create\", \"update\"] }\n"
        .to_string();
    if let Some(pg) = &pg {
        pg.database_engine(&w.bao, "database", "orgchart", "1h", "24h");
        policy.push_str(&format!(
            "path \"{DB_CREDS}\" {{ capabilities = [\"read\"] }}\n"
        ));
    }
    w.bao.write_policy("internal-app", &policy);
    let dir = tempfile::tempdir().unwrap();
    let inj = start_injector(dir.path(), w.bao.addr());
    for job in [true, false] {
        let variant = if job { "job" } else { "deployment" };
        let vdir = dir.path().join(variant);
        std::fs::create_dir_all(&vdir).unwrap();
        let mut pod = orgchart_pod();
        pod["metadata"]["name"] = Value::from(format!("orgchart-{variant}"));
        let a = pod["metadata"]["annotations"].as_object_mut().unwrap();
        for (k, v) in [
            ("vault.hashicorp.com/agent-native-sidecar", "true"),
            ("vault.hashicorp.com/agent-revoke-on-shutdown", "true"),
            ("vault.hashicorp.com/agent-revoke-grace", "1"),
            // A leased secret of its own: a child token, issued once per pod.
            (
                "vault.hashicorp.com/agent-inject-secret-child",
                "auth/token/create",
            ),
            (
                "vault.hashicorp.com/agent-inject-template-child",
                "{{ with secret \"auth/token/create\" \"policies=default\" \"ttl=1h\" }}{{ .Auth.Accessor }}{{ end }}",
            ),
        ] {
            a.insert(k.into(), Value::from(v));
        }
        if pg.is_some() {
            a.insert(
                "vault.hashicorp.com/agent-inject-secret-db-creds".into(),
                Value::from(DB_CREDS),
            );
            a.insert(
                "vault.hashicorp.com/agent-inject-template-db-creds".into(),
                Value::from(
                    "{{ with secret \"database/creds/orgchart\" }}{{ .Data.username }}\n{{ .Data.password }}\n{{ end }}",
                ),
            );
        }
        if job {
            pod["spec"]["restartPolicy"] = Value::from("Never");
        }
        let patched = inject_over_https(&inj, &pod, &vdir);
        assert_eq!(patched, inject(&pod, w.bao.addr()));
        let agent = container(&patched, "initContainers", "vault-agent");
        assert_eq!(agent["restartPolicy"], "Always");
        assert_eq!(
            patched["spec"]["containers"].as_array().unwrap().len(),
            1,
            "no classic sidecar"
        );
        assert_eq!(
            patched["spec"]["initContainers"].as_array().unwrap().len(),
            1,
            "no classic init container"
        );
        let sandbox = vdir.join("pod");
        let jwt = w.issuer.mint_service_account(
            "default",
            "internal-app",
            &[ISS],
            Duration::from_secs(600),
        );
        let p = prepare(agent, &patched, &sandbox, &jwt);
        assert_eq!(p.config["exit_after_auth"], false);
        let probe = &agent["startupProbe"]["exec"]["command"];
        // Before the agent runs the probe fails, saying why.
        let early = p.exec(probe);
        assert!(!early.status.success());
        let why = String::from_utf8_lossy(&early.stderr);
        assert!(why.contains("not ready"), "{why}");
        // Every login makes a token: OpenBao's list of token accessors counts them (the TokenReview
        // stand-in also sees renewals; OpenBao 2 enables no audit device through the API).
        let accessors = token_accessors(&w.bao);
        let leases_before = db_leases(&w.bao);
        assert!(leases_before.is_empty(), "{variant}: {leases_before:?}");
        let mut child = spawn(&p, &sandbox, false);
        // The kubelet polls the startup probe; the app starts once it passes.
        let ready = within(Duration::from_secs(30), || {
            if let Some(s) = child.try_wait().unwrap() {
                panic!("exited early ({s}); log:\n{}", log_of(&sandbox, false));
            }
            p.exec(probe).status.success()
        });
        assert!(
            ready.is_some(),
            "the probe never passed; log:\n{}",
            log_of(&sandbox, false)
        );
        // The app: its secrets are there when it starts.
        let mut app = start_app(&sandbox, job);
        let copied = sandbox.join("app-saw");
        eventually(Duration::from_secs(10), || copied.exists());
        let saw = |name: &str| {
            let f = copied.join(name);
            std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        };
        for name in ["database-config.txt", "db.json", "env"] {
            let body = saw(name);
            assert!(body.contains("db-secret-password"), "{name}: {body}");
        }
        let creds = pg.as_ref().map(|pg| {
            let (user, password) = db_creds(&saw("db-creds"));
            // The app logs in to the database with what it found.
            assert_eq!(
                pg.query_as(&user, &password, "select current_user")
                    .unwrap_or_else(|e| panic!("{user} cannot log in: {e}")),
                user
            );
            (user, password)
        });
        // The Job's app exits; the agent keeps running meanwhile (a sidecar) …
        let running_app = if job {
            let status = wait_exit(&mut app, Duration::from_secs(10));
            assert!(status.success(), "app: {status}");
            None
        } else {
            Some(app)
        };
        std::thread::sleep(Duration::from_millis(300));
        assert!(child.try_wait().unwrap().is_none());
        // … with one login and one token for the whole pod.
        let child_token = secret(&sandbox, "child").0;
        assert!(!child_token.trim().is_empty());
        // Held a while: the leases are renewed, not fetched again.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(secret(&sandbox, "child").0, child_token, "the same lease");
        assert_eq!(
            token_accessors(&w.bao) - accessors,
            2,
            "one login token and one child token per pod; log:\n{}",
            log_of(&sandbox, false)
        );
        let held = db_leases(&w.bao);
        if let Some((user, password)) = &creds {
            assert_eq!(
                held.len(),
                1,
                "{variant}: one database lease for the pod: {held:?}; log:\n{}",
                log_of(&sandbox, false)
            );
            assert_eq!(
                db_creds(&secret(&sandbox, "db-creds").0),
                (user.clone(), password.clone()),
                "the app's credentials stay"
            );
            assert!(
                !log_of(&sandbox, false).contains(password.as_str()),
                "never log a secret"
            );
        }
        assert!(w.reviewer.requests() >= 1);
        let token = std::fs::read_to_string(sandbox.join("home/vault/.vault-token")).unwrap();
        if let Some(mut app) = running_app {
            // The pod is deleted: the app containers are stopped first …
            sigterm(&app);
            let status = wait_exit(&mut app, Duration::from_secs(10));
            assert!(status.success(), "app: {status}");
        }
        // … then the kubelet stops the sidecar: preStop hook first, then SIGTERM.
        let hook = p.exec(&agent["lifecycle"]["preStop"]["exec"]["command"]);
        assert!(
            hook.status.success(),
            "preStop: {}",
            String::from_utf8_lossy(&hook.stderr)
        );
        sigterm(&child);
        let stopped = std::time::Instant::now();
        let status = wait_exit(&mut child, Duration::from_secs(2));
        assert!(
            status.success(),
            "{status}; log:\n{}",
            log_of(&sandbox, false)
        );
        assert!(stopped.elapsed() < Duration::from_secs(2));
        // Revoked: the root token cannot look it up any more …
        let (code, _) = w.bao.api_raw(
            "POST",
            "auth/token/lookup",
            Some(&json!({ "token": token.trim() }).to_string()),
        );
        assert_ne!(code, 200, "the token is revoked");
        // … and its database lease went with it: the user is gone.
        if let (Some(pg), Some((user, password))) = (&pg, &creds) {
            eventually(Duration::from_secs(10), || db_leases(&w.bao).is_empty());
            assert!(
                pg.query_as(user, password, "select 1").is_err(),
                "{user} still logs in after the revocation"
            );
        }
        // A stopped agent is not ready.
        assert!(!p.exec(probe).status.success());
    }
}

/// A pod whose `app` container gets `DB_PASSWORD` from a template (injector.md §4.11).
fn env_pod(restart: bool) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "env-0", "namespace": "default", "annotations": {
            "vault.hashicorp.com/agent-inject": "true",
            "vault.hashicorp.com/role": "internal-app",
            "vault.hashicorp.com/agent-inject-env-DB_PASSWORD":
                "{{ with secret \"internal/data/database/config\" }}{{ .Data.data.password }}{{ end }}",
            "vault.hashicorp.com/template-static-secret-render-interval": "1s",
        }},
        "spec": {
            "serviceAccountName": "internal-app",
            "containers": [{"name": "app", "image": "example/app:1",
                "command": ["/bin/sleep"], "args": ["600"],
                "env": [{"name": "APP_MODE", "value": "test"}],
                "volumeMounts": [sa_mount()]}],
            "volumes": [sa_volume()],
        },
    });
    if restart {
        pod["metadata"]["annotations"]["vault.hashicorp.com/agent-inject-env-restart"] =
            json!("true");
    }
    pod
}

/// The environment of a process, from `/proc/<pid>/environ`.
fn environ(pid: u32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let s = String::from_utf8_lossy(kv);
            let (k, v) = s.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// Injects `pod`, runs the env-copy init container (our agent copying itself into the sandbox's
/// `/vault/bin`), then starts the wrapped `app` container's own command: the copy.
fn start_wrapped_app(w: &World, pod: &Value, sandbox: &Path) -> (Value, Prepared, Child) {
    let patched = inject(pod, w.bao.addr());
    let copy = container(&patched, "initContainers", "vault-env-copy");
    assert_eq!(
        patched["spec"]["initContainers"][0]["name"], "vault-env-copy",
        "the copy runs first"
    );
    let (program, args) = image_exec(&copy["command"]);
    assert_eq!(args, ["copy-self", "/vault/bin/vaultlet-agent"]);
    let bin = sandbox.join("vault/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let out = Command::new(program)
        .args(["copy-self", bin.join("vaultlet-agent").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "copy-self: {out:?}");
    let mode = std::fs::metadata(bin.join("vaultlet-agent"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let app = container(&patched, "containers", "app");
    let jwt =
        w.issuer
            .mint_service_account("default", "internal-app", &[ISS], Duration::from_secs(600));
    let p = prepare(app, &patched, sandbox, &jwt);
    assert_eq!(p.argv[0], "/vault/bin/vaultlet-agent", "{:?}", p.argv);
    assert_eq!(&p.argv[p.argv.len() - 3..], ["--", "/bin/sleep", "600"]);
    let log = std::fs::File::create(sandbox.join("vaultlet.log")).unwrap();
    let child = Command::new(bin.join("vaultlet-agent"))
        .args(&p.argv[1..])
        .env_clear()
        .envs(&p.env)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    (patched, p, child)
}

#[test]
fn end_to_end_env_vars_the_wrapper_becomes_the_app_with_its_variable() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let (patched, p, mut child) = start_wrapped_app(&w, &env_pod(false), dir.path());
    let pid = child.id();
    // The wrapper's own process becomes the app (execve): same PID, the app's command line.
    let exec = within(Duration::from_secs(30), || {
        if let Some(s) = child.try_wait().unwrap() {
            panic!("exited early ({s}); log:\n{}", log_of(dir.path(), false));
        }
        cmdline(pid) == ["/bin/sleep", "600"]
    });
    assert!(
        exec.is_some(),
        "not replaced by the app in 30 s; log:\n{}",
        log_of(dir.path(), false)
    );
    let env = environ(pid);
    assert_eq!(
        env.get("DB_PASSWORD").map(String::as_str),
        Some("db-secret-password")
    );
    assert_eq!(env.get("APP_MODE").map(String::as_str), Some("test"));
    assert!(
        !env.contains_key("VAULT_CONFIG"),
        "the wrapper's config is not the app's: {:?}",
        env.keys()
    );
    assert!(children_of(pid).is_empty(), "no supervisor left behind");
    // The app starts in a standard signal state: the agent's ignored SIGPIPE and any mask are not
    // inherited through the execve.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {status}"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    assert_eq!(field("SigIgn:") & (1 << (13 - 1)), 0, "SIGPIPE ignored");
    assert_eq!(field("SigBlk:"), 0, "signals blocked");
    // The value is in no pod spec and no file of the sandbox.
    assert!(!patched.to_string().contains("db-secret-password"));
    for e in walk(dir.path()) {
        if e.ends_with("vaultlet-agent") {
            continue;
        }
        let bytes = std::fs::read(&e).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("db-secret-password"),
            "{} holds the value",
            e.display()
        );
    }
    validate_pod(&patched, dir.path());
    let _ = child.kill();
    let _ = child.wait();
    // The wrapper's config is Vault Agent's own process-supervisor mode: the real `bao agent`
    // runs it (supervising, as `restart_on_secret_changes = "never"` has it) and gives the app the
    // same variable.
    let cfg = dir.path().join("wrapper-config.json");
    std::fs::write(&cfg, p.config.to_string()).unwrap();
    let log = std::fs::File::create(dir.path().join("bao.log")).unwrap();
    let mut bao = Command::new(bao_binary())
        .args(["agent", &format!("-config={}", cfg.display())])
        .env_clear()
        .envs(&p.env)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let under_bao = within(Duration::from_secs(30), || {
        app_child(bao.id(), "db-secret-password")
    });
    let _ = bao.kill();
    let _ = bao.wait();
    let app = under_bao.unwrap_or_else(|| {
        panic!(
            "bao agent did not start the app with the value; log:\n{}",
            log_of(dir.path(), true)
        )
    });
    let _ = Command::new("kill")
        .args(["-KILL", &app.to_string()])
        .status();
}

/// The child of `pid` running the app with `DB_PASSWORD` = `value`.
fn app_child(pid: u32, value: &str) -> Option<u32> {
    children_of(pid).into_iter().find(|c| {
        cmdline(*c) == ["/bin/sleep", "600"]
            && environ(*c).get("DB_PASSWORD").map(String::as_str) == Some(value)
    })
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn end_to_end_env_vars_with_restart_the_app_restarts_with_the_new_value() {
    let w = world();
    let dir = tempfile::tempdir().unwrap();
    let (_patched, _, mut child) = start_wrapped_app(&w, &env_pod(true), dir.path());
    let pid = child.id();
    let first = within(Duration::from_secs(30), || {
        app_child(pid, "db-secret-password")
    })
    .unwrap_or_else(|| panic!("no app child in 30 s; log:\n{}", log_of(dir.path(), false)));
    assert!(!environ(first).contains_key("VAULT_CONFIG"));
    // The wrapper stays, as the app's supervisor.
    assert_eq!(
        Path::new(&cmdline(pid)[0]),
        dir.path().join("vault/bin/vaultlet-agent")
    );
    w.bao.kv_put_raw(
        "internal",
        "database/config",
        r#"{"username": "db-readonly-username", "password": "rotated-password", "port": 5432}"#,
    );
    let second = within(Duration::from_secs(30), || {
        app_child(pid, "rotated-password")
    })
    .unwrap_or_else(|| {
        panic!(
            "not restarted with the new value in 30 s; log:\n{}",
            log_of(dir.path(), false)
        )
    });
    assert_ne!(first, second);
    assert!(
        !children_of(pid).contains(&first),
        "the old app was stopped"
    );
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(15));
    assert!(
        status.success(),
        "{status}; log:\n{}",
        log_of(dir.path(), false)
    );
}
