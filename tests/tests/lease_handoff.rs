//! One lease per pod in classic mode (issue 19, agent.md §7.3): with `agent-cache-enable`, the
//! injected init container hands its leased template answers to the sidecar through the
//! persistent cache, and the sidecar renews them instead of fetching new credentials.
//!
//! Real dynamic secrets: OpenBao's database secrets engine against a real PostgreSQL started on
//! loopback (`vaultlet_tests::Postgres`). The pod is patched by the injector's admission handler;
//! its init container and then its sidecar run as local processes with the container's own
//! command, env and `VAULT_CONFIG`, every volume-mount path mapped under one sandbox (the volumes
//! the two containers share are the same directories, as in the pod). Without PostgreSQL the
//! tests skip with a message (`VAULTLET_REQUIRE_POSTGRES=1` turns that into a failure).

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use vaultlet_injector::admission::review;
use vaultlet_injector::fixture::TestInjector;
use vaultlet_tests::pod::{Runner, container, prepare};
use vaultlet_tests::{KubernetesAuth, Postgres, eventually, skip_or_fail, within};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const ROLE: &str = "app";
const CREDS: &str = "database/creds/app";

struct World {
    k8s: KubernetesAuth,
    pg: Postgres,
}

/// OpenBao with kubernetes auth and the database engine on a fresh PostgreSQL; `None` (after a
/// loud skip message) when PostgreSQL cannot run here.
fn world(test: &str) -> Option<World> {
    let pg = match Postgres::start() {
        Ok(pg) => pg,
        Err(why) => {
            skip_or_fail(test, &why);
            return None;
        }
    };
    let k8s = KubernetesAuth::start();
    pg.database_engine(&k8s.bao, "database", ROLE, "1h", "24h");
    k8s.bao.enable_kv("kv", 2);
    k8s.bao.kv_put("kv", "app", json!({"greeting": "hello"}));
    k8s.role(
        ROLE,
        "default",
        ROLE,
        Some(&format!(
            "path \"{CREDS}\" {{ capabilities = [\"read\"] }}\npath \"kv/data/app\" {{ capabilities = [\"read\"] }}\n"
        )),
        json!({"ttl": "1h"}),
    );
    Some(World { k8s, pg })
}

fn pod(cache: bool) -> Value {
    let mut annotations = json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/role": ROLE,
        "vault.hashicorp.com/agent-inject-secret-db-creds": CREDS,
        "vault.hashicorp.com/agent-inject-template-db-creds":
            "{{ with secret \"database/creds/app\" }}{{ .Data.username }}\n{{ .Data.password }}\n{{ end }}",
        // A KV secret (no lease): not handed over, read by each container as always.
        "vault.hashicorp.com/agent-inject-secret-greeting": "kv/data/app",
        "vault.hashicorp.com/agent-inject-template-greeting":
            "{{ with secret \"kv/data/app\" }}{{ .Data.data.greeting }}{{ end }}",
    });
    if cache {
        annotations["vault.hashicorp.com/agent-cache-enable"] = json!("true");
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app-0", "namespace": "default", "annotations": annotations},
        "spec": {"serviceAccountName": ROLE,
            "containers": [{"name": "app", "image": "app:1", "volumeMounts": [
                {"name": "kube-api-access-x1", "readOnly": true,
                 "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
            "volumes": [{"name": "kube-api-access-x1", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}]},
    })
}

/// The pod after the injector's patch.
fn inject(pod: &Value, vault_addr: &str) -> Value {
    inject_with(pod, vault_addr, &[])
}

/// The pod after the patch of an injector started with `flags`.
fn inject_with(pod: &Value, vault_addr: &str, flags: &[&str]) -> Value {
    let settings = TestInjector::new()
        .vault_address(vault_addr)
        .settings(flags)
        .defaults;
    let req = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "0d5c8a8e-0000-4000-8000-000000000019",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
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

/// Starts container `c` of `pod` as a process in `sandbox` (the volumes the containers share are
/// the same directories there); logs to `<sandbox>/<log>`.
fn start(c: &Value, pod: &Value, sandbox: &Path, jwt: &str, log: &str) -> Child {
    prepare(c, pod, sandbox, jwt).spawn(sandbox, Runner::Vaultlet, log)
}

fn log(sandbox: &Path, name: &str) -> String {
    std::fs::read_to_string(sandbox.join(name)).unwrap_or_default()
}

/// Logins an agent made (its auth handler logs each one).
fn logins(log: &str) -> usize {
    log.matches("authenticating: method=").count()
}

fn wait_exit(child: &mut Child, limit: Duration, sandbox: &Path, name: &str) {
    let status = within(limit, || child.try_wait().unwrap()).unwrap_or_else(|| {
        let _ = child.kill();
        panic!(
            "{name} did not exit within {limit:?}:\n{}",
            log(sandbox, name)
        );
    });
    assert!(
        status.success(),
        "{name} exited {status}:\n{}",
        log(sandbox, name)
    );
}

fn stop(mut child: Child, sandbox: &Path, name: &str) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    wait_exit(&mut child, Duration::from_secs(15), sandbox, name);
}

/// (username, password) in the rendered file.
fn creds(sandbox: &Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(sandbox.join("vault/secrets/db-creds")).ok()?;
    let mut lines = text.lines();
    let user = lines.next()?.to_string();
    let password = lines.next()?.to_string();
    Some((user, password))
}

/// The leases Vault holds under the role's creds path.
fn leases(w: &World) -> Vec<String> {
    let (code, body) = w
        .k8s
        .bao
        .api_raw("LIST", &format!("sys/leases/lookup/{CREDS}/"), None);
    if code == 404 {
        return Vec::new();
    }
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| format!("{CREDS}/{}", k.as_str().unwrap()))
        .collect()
}

fn expire_time(w: &World, lease: &str) -> String {
    let v = w
        .k8s
        .bao
        .api("PUT", "sys/leases/lookup", Some(json!({"lease_id": lease})));
    v["data"]["expire_time"].as_str().unwrap().to_string()
}

/// The pod's service-account token: one projected file that both containers read (the persistent
/// cache's key is derived from it).
fn jwt(w: &World) -> String {
    w.k8s.jwt("default", ROLE)
}

/// Runs the init container to completion; returns its wall time.
fn run_init(jwt: &str, patched: &Value, sandbox: &Path) -> Duration {
    let init = container(patched, "initContainers", "vault-agent-init");
    let t0 = Instant::now();
    let mut child = start(init, patched, sandbox, jwt, "init.log");
    wait_exit(&mut child, Duration::from_secs(60), sandbox, "init.log");
    t0.elapsed()
}

#[test]
fn the_sidecar_keeps_and_renews_the_init_containers_database_lease() {
    let Some(w) = world("the_sidecar_keeps_and_renews_the_init_containers_database_lease") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path();
    let patched = inject(&pod(true), w.k8s.bao.addr());
    let jwt = jwt(&w);
    run_init(&jwt, &patched, sandbox);
    let (user, password) = creds(sandbox).expect("the init container rendered the creds");
    assert!(user.starts_with("v-"), "{user}");
    let cache = sandbox.join("vault/agent-cache/vaultlet-agent-cache.json");
    let sealed = std::fs::read_to_string(&cache).unwrap_or_else(|e| {
        panic!(
            "the init container wrote no cache ({e}):\n{}",
            log(sandbox, "init.log")
        )
    });
    assert!(
        !sealed.contains(&user) && !sealed.contains(&password),
        "the leases are sealed"
    );
    let init_log = log(sandbox, "init.log");
    assert!(!init_log.contains(&password), "never log a secret");
    assert!(
        init_log.contains("stored the template leases in the persistent cache: file=")
            && init_log.contains("leases=1"),
        "the database lease only, not the KV answer:\n{init_log}"
    );
    let held = leases(&w);
    assert_eq!(held.len(), 1, "{held:?}");
    let expires = expire_time(&w, &held[0]);
    // expire_time has sub-second precision; a renewal a moment later moves it.
    std::thread::sleep(Duration::from_millis(1100));

    let sidecar = container(&patched, "containers", "vault-agent");
    let child = start(sidecar, &patched, sandbox, &jwt, "sidecar.log");
    eventually(Duration::from_secs(30), || {
        log(sandbox, "sidecar.log").contains("renewed the lease restored from the persistent cache")
    });
    // Give a wrongly fetched second lease the time to appear.
    std::thread::sleep(Duration::from_millis(500));
    let side_log = log(sandbox, "sidecar.log");
    assert_eq!(
        creds(sandbox),
        Some((user.clone(), password.clone())),
        "the sidecar kept the init container's credentials:\n{side_log}"
    );
    assert_eq!(leases(&w), held, "one lease for the pod:\n{side_log}");
    assert!(
        expire_time(&w, &held[0]) > expires,
        "the sidecar renewed the lease"
    );
    assert_eq!(
        logins(&side_log),
        0,
        "the sidecar used the init container's token:\n{side_log}"
    );
    assert!(!cache.exists(), "the sidecar consumed the cache");
    assert_eq!(
        w.pg.query_as(&user, &password, "select current_user")
            .unwrap_or_else(|e| panic!("{user} cannot log in: {e}")),
        user
    );
    assert!(!side_log.contains(&password), "never log a secret");
    assert_eq!(
        std::fs::read_to_string(sandbox.join("vault/secrets/greeting")).unwrap(),
        "hello"
    );
    stop(child, sandbox, "sidecar.log");
}

#[test]
fn a_lease_revoked_before_the_sidecar_starts_is_fetched_anew() {
    let Some(w) = world("a_lease_revoked_before_the_sidecar_starts_is_fetched_anew") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path();
    let patched = inject(&pod(true), w.k8s.bao.addr());
    let jwt = jwt(&w);
    run_init(&jwt, &patched, sandbox);
    let (user, password) = creds(sandbox).unwrap();
    let held = leases(&w);
    assert_eq!(held.len(), 1);
    w.k8s.bao.api(
        "PUT",
        "sys/leases/revoke",
        Some(json!({"lease_id": held[0]})),
    );
    assert!(
        w.pg.query_as(&user, &password, "select 1").is_err(),
        "revoked"
    );

    let sidecar = container(&patched, "containers", "vault-agent");
    let child = start(sidecar, &patched, sandbox, &jwt, "sidecar.log");
    let (new_user, new_password) = eventually(Duration::from_secs(30), || {
        creds(sandbox).filter(|(u, _)| *u != user)
    });
    assert_eq!(
        w.pg.query_as(&new_user, &new_password, "select current_user")
            .unwrap(),
        new_user
    );
    let now = leases(&w);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, held);
    let side_log = log(sandbox, "sidecar.log");
    assert!(side_log.contains("fetching anew"), "{side_log}");
    stop(child, sandbox, "sidecar.log");
}

/// The injector's `-cache-handoff` (injector.md §3.4.1), for a pod that does not ask for the cache:
/// the same handoff through the persistent cache, without the listener `agent-cache-enable` adds.
#[test]
fn the_injectors_cache_handoff_keeps_the_database_lease_without_a_listener() {
    let Some(w) = world("the_injectors_cache_handoff_keeps_the_database_lease_without_a_listener")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path();
    let patched = inject_with(&pod(false), w.k8s.bao.addr(), &["-cache-handoff"]);
    let sidecar = container(&patched, "containers", "vault-agent");
    for c in [
        container(&patched, "initContainers", "vault-agent-init"),
        sidecar,
    ] {
        let config = prepare(c, &patched, &sandbox.join("configs"), "jwt").config;
        assert!(config.get("listener").is_none(), "{config}");
        assert_eq!(config["cache"]["persist"]["type"], "kubernetes", "{config}");
    }
    let jwt = jwt(&w);
    run_init(&jwt, &patched, sandbox);
    let (user, password) = creds(sandbox).expect("the init container rendered the creds");
    let held = leases(&w);
    assert_eq!(held.len(), 1, "{held:?}");
    let child = start(sidecar, &patched, sandbox, &jwt, "sidecar.log");
    eventually(Duration::from_secs(30), || {
        log(sandbox, "sidecar.log").contains("renewed the lease restored from the persistent cache")
    });
    std::thread::sleep(Duration::from_millis(500));
    let side_log = log(sandbox, "sidecar.log");
    assert_eq!(
        creds(sandbox),
        Some((user.clone(), password.clone())),
        "the sidecar kept the init container's credentials:\n{side_log}"
    );
    assert_eq!(leases(&w), held, "one lease for the pod:\n{side_log}");
    assert_eq!(logins(&side_log), 0, "one login for the pod:\n{side_log}");
    assert_eq!(
        w.pg.query_as(&user, &password, "select current_user")
            .unwrap_or_else(|e| panic!("{user} cannot log in: {e}")),
        user
    );
    stop(child, sandbox, "sidecar.log");
}

/// The measurement behind the default (docs/design/agent.md §7.3): one pod without the cache, one
/// with `agent-cache-enable`, one under the injector's `-cache-handoff`; init container then sidecar. Counts logins and leases and
/// times the init container and the sidecar's first complete file; prints the numbers.
#[test]
fn measure_the_handoff_against_a_pod_without_the_cache() {
    let Some(w) = world("measure_the_handoff_against_a_pod_without_the_cache") else {
        return;
    };
    let mut lines = Vec::new();
    // (the pod's agent-cache-enable, the injector's -cache-handoff)
    for (annotation, flag) in [(false, false), (true, false), (false, true)] {
        let cache = annotation || flag;
        let dir = tempfile::tempdir().unwrap();
        let sandbox = dir.path();
        let leases_before = leases(&w).len();
        let flags: &[&str] = if flag { &["-cache-handoff"] } else { &[] };
        let patched = inject_with(&pod(annotation), w.k8s.bao.addr(), flags);
        let jwt = jwt(&w);
        let init_time = run_init(&jwt, &patched, sandbox);
        let (user, _) = creds(sandbox).unwrap();
        let sidecar = container(&patched, "containers", "vault-agent");
        let t0 = Instant::now();
        let child = start(sidecar, &patched, sandbox, &jwt, "sidecar.log");
        // The sidecar's data is current: new credentials written (no cache) or the restored lease
        // renewed (cache).
        eventually(Duration::from_secs(30), || {
            if cache {
                log(sandbox, "sidecar.log").contains("renewed the lease restored")
            } else {
                creds(sandbox).is_some_and(|(u, _)| u != user)
            }
        });
        let sidecar_time = t0.elapsed();
        std::thread::sleep(Duration::from_millis(500));
        let logins = logins(&log(sandbox, "init.log")) + logins(&log(sandbox, "sidecar.log"));
        let new_leases = leases(&w).len() - leases_before;

        let same_user = creds(sandbox).unwrap().0 == user;
        stop(child, sandbox, "sidecar.log");
        lines.push(format!(
            "agent-cache-enable={annotation} -cache-handoff={flag}: logins={logins} leases={new_leases} same_user={same_user} init={init_time:?} sidecar_ready={sidecar_time:?}"
        ));
        if cache {
            assert_eq!((logins, new_leases, same_user), (1, 1, true));
        } else {
            assert_eq!((logins, new_leases, same_user), (2, 2, false));
        }
    }
    eprintln!("lease handoff measurement:\n  {}", lines.join("\n  "));
}
