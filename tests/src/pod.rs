//! The injected pod's containers run as local processes, as the kubelet would run them: a
//! container's command, args and env (values and `fieldRef`s), every absolute path under one of
//! its volume mounts mapped under one sandbox directory (containers of one pod that share a
//! volume get the same directory, as in the pod), the service-account token written where the
//! kubelet projects it, `downwardAPI` files written from the pod's annotations, and exec hooks
//! and probes run in the container's environment. Used by `tests/tests/injected_pod.rs` and
//! `tests/tests/lease_handoff.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::faults::workspace_bin;
use crate::{bao_binary, free_port};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Where the kubelet projects the service-account token.
pub const SA_DIR: &str = "var/run/secrets/kubernetes.io/serviceaccount";

/// Container `name` of the pod's `list` (`initContainers` or `containers`); panics when absent.
pub fn container<'a>(pod: &'a Value, list: &str, name: &str) -> &'a Value {
    pod["spec"][list]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {list} container {name} in {pod}"))
}

/// How one container is run locally.
pub struct Prepared {
    /// The container's command and args, `-config=` words mapped into the sandbox.
    pub argv: Vec<String>,
    /// Its environment (with `PATH`, and `HOME` in the sandbox).
    pub env: BTreeMap<String, String>,
    /// The decoded (and path-mapped) agent config.
    pub config: Value,
}

/// Prepares container `c` of `pod` in `sandbox`: maps every absolute path under one of its volume
/// mounts into the sandbox, creates the mount directories, writes the service-account token
/// `sa_jwt`, resolves the env and the agent config (`VAULT_CONFIG`/`BAO_CONFIG`, or the file its
/// `-config` names, written from a `downwardAPI` volume as the kubelet does).
///
/// Two things of the config are adapted to the sandbox beyond paths: the persistent cache's
/// `service_account_token_file` (whose default is the kubelet's path) points at the sandbox's
/// token, and each listener gets a free port (the fixed 8200 would collide between tests run at
/// once).
pub fn prepare(c: &Value, pod: &Value, sandbox: &Path, sa_jwt: &str) -> Prepared {
    let mut mounts: Vec<String> = c["volumeMounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["mountPath"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in &mounts {
        std::fs::create_dir_all(sandbox.join(m.trim_start_matches('/'))).unwrap();
    }
    let sa_dir = sandbox.join(SA_DIR);
    std::fs::create_dir_all(&sa_dir).unwrap();
    std::fs::write(sa_dir.join("token"), sa_jwt).unwrap();
    let map = |s: &str| -> String {
        let under = |m: &str| s == m || s.starts_with(&format!("{}/", m.trim_end_matches('/')));
        if mounts.iter().any(|m| under(m)) || under(&format!("/{SA_DIR}")) {
            return sandbox
                .join(s.trim_start_matches('/'))
                .display()
                .to_string();
        }
        s.to_string()
    };
    fn remap(v: &mut Value, map: &dyn Fn(&str) -> String) {
        match v {
            Value::String(s) if s.starts_with('/') => *s = map(s),
            Value::Array(a) => a.iter_mut().for_each(|x| remap(x, map)),
            Value::Object(o) => o.values_mut().for_each(|x| remap(x, map)),
            _ => {}
        }
    }
    let localize = |config: &mut Value| {
        remap(config, &map);
        // (`get_mut`, not indexing: an index would add the missing keys as `null`.)
        let persist = config.get_mut("cache").and_then(|c| c.get_mut("persist"));
        if let Some(p) = persist.and_then(Value::as_object_mut) {
            p.insert(
                "service_account_token_file".into(),
                json!(sa_dir.join("token").display().to_string()),
            );
        }
        let listeners = config.get_mut("listener").and_then(Value::as_array_mut);
        for l in listeners.into_iter().flatten() {
            l["address"] = json!(format!("127.0.0.1:{}", free_port()));
        }
    };
    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_default(),
    );
    env.insert(
        "HOME".to_string(),
        sandbox.join("home/vault").display().to_string(),
    );
    let mut config = Value::Null;
    for e in c["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_string()
        } else {
            match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.namespace") => pod["metadata"]["namespace"].as_str().unwrap().into(),
                Some("metadata.name") => pod["metadata"]["name"].as_str().unwrap().into(),
                Some(_) => "127.0.0.1".into(),
                None => continue,
            }
        };
        if name == "VAULT_CONFIG" || name == "BAO_CONFIG" {
            config = serde_json::from_slice(&B64.decode(&value).unwrap()).unwrap();
            localize(&mut config);
            env.insert(name, B64.encode(config.to_string()));
        } else {
            env.insert(name, value);
        }
    }
    // `-config=<path>` words (also inside a `/bin/sh -ec` script) point into the sandbox.
    let map_words = |s: &str| -> String {
        s.split(' ')
            .map(|w| match w.strip_prefix("-config=") {
                Some(path) => format!("-config={}", map(path)),
                None => w.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let argv: Vec<String> = c["command"]
        .as_array()
        .into_iter()
        .chain(c["args"].as_array())
        .flatten()
        .map(|v| map_words(v.as_str().unwrap()))
        .collect();
    // downwardAPI volumes: the kubelet writes each item's field (here: an annotation holding the
    // agent config, injector.md §3.7) into a file under the mount.
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        let volume = pod["spec"]["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == m["name"]));
        let items = volume.and_then(|v| v["downwardAPI"]["items"].as_array());
        for item in items.into_iter().flatten() {
            let field = item["fieldRef"]["fieldPath"].as_str().unwrap();
            let key = field
                .strip_prefix("metadata.annotations['")
                .and_then(|f| f.strip_suffix("']"))
                .unwrap_or_else(|| panic!("unsupported fieldPath {field}"));
            let value = pod["metadata"]["annotations"][key]
                .as_str()
                .unwrap_or_else(|| panic!("the pod has no annotation {key}"));
            let mut file_config: Value = serde_json::from_str(value).expect("a JSON config");
            localize(&mut file_config);
            let dir = sandbox.join(m["mountPath"].as_str().unwrap().trim_start_matches('/'));
            std::fs::write(
                dir.join(item["path"].as_str().unwrap()),
                file_config.to_string(),
            )
            .unwrap();
        }
    }
    if config.is_null() {
        let file = argv
            .iter()
            .flat_map(|a| a.split(' '))
            .find_map(|w| w.strip_prefix("-config="));
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            config = serde_json::from_str(&text).unwrap();
        }
    }
    assert!(
        !config.is_null(),
        "{} has neither VAULT_CONFIG nor a -config file",
        c["name"]
    );
    Prepared { argv, env, config }
}

/// What runs a prepared agent container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// The container's own command, our built agent standing for the image's `/vaultlet-agent`.
    Vaultlet,
    /// The real `bao agent` with the config decoded to a file, as upstream's shell form does.
    BaoAgent,
    /// The container's own command and args as they are (the `/bin/sh -ec` form of the upstream
    /// flavors), with the real `bao` first on `PATH`.
    Command,
}

impl Prepared {
    /// Starts the container as `runner` says; stdout and stderr go to `<sandbox>/<log>`.
    pub fn spawn(&self, sandbox: &Path, runner: Runner, log: &str) -> Child {
        let mut env = self.env.clone();
        let (program, args): (PathBuf, Vec<String>) = match runner {
            Runner::Vaultlet => {
                assert_eq!(
                    Path::new(&self.argv[0]).file_name().unwrap(),
                    "vaultlet-agent",
                    "the injected container runs our agent directly: {:?}",
                    self.argv
                );
                (workspace_bin("vaultlet-agent"), self.argv[1..].to_vec())
            }
            Runner::BaoAgent => {
                let cfg = sandbox.join("agent-config.json");
                std::fs::write(&cfg, self.config.to_string()).unwrap();
                (
                    bao_binary(),
                    vec!["agent".into(), format!("-config={}", cfg.display())],
                )
            }
            Runner::Command => {
                let bao_dir = bao_binary().parent().unwrap().display().to_string();
                env.insert("PATH".into(), format!("{bao_dir}:{}", self.env["PATH"]));
                (PathBuf::from(&self.argv[0]), self.argv[1..].to_vec())
            }
        };
        let log = std::fs::File::create(sandbox.join(log)).unwrap();
        Command::new(program)
            .args(args)
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// Runs an exec hook or probe of the container (`command`, whose program must be the image's
    /// `/vaultlet-agent`, mapped to the built agent) as the kubelet does: in the container's
    /// environment.
    pub fn exec(&self, command: &Value) -> Output {
        let (program, args) = image_exec(command);
        Command::new(program)
            .args(args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

/// A container command run from our image (`["/vaultlet-agent", …]`): the built agent and its
/// arguments.
pub fn image_exec(command: &Value) -> (PathBuf, Vec<String>) {
    let argv: Vec<String> = command
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(argv[0], "/vaultlet-agent", "{argv:?}");
    (workspace_bin("vaultlet-agent"), argv[1..].to_vec())
}

/// Sends SIGTERM to `child`, as the kubelet stops a container.
pub fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -TERM {}", child.id());
}
