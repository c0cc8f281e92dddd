//! How the generated agent configs reach the agent containers (injector.md §3.7): in the
//! environment as upstream does, or, when a config is too large for one environment string, as a
//! pod annotation the injector writes, projected into the containers by a `downwardAPI` volume.
//! Pure: sizes and names in, a plan out.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use vaultlet_shared::annotations::{AgentFlavor, AgentSpec};

use super::agent_config::{AgentConfigError, Role, agent_config, agent_config_json, encode};

/// Linux's limit on one `argv`/`envp` string, `NAME=value` and its NUL included (32 pages).
pub const MAX_ARG_STRLEN: usize = 131_072;
/// Head room kept below [`MAX_ARG_STRLEN`] (one page).
pub const ENV_SAFETY_MARGIN: usize = 4_096;
/// The largest `NAME=value` + NUL environment string the injector writes: 126,976 bytes.
pub const ENV_STRING_LIMIT: usize = MAX_ARG_STRLEN - ENV_SAFETY_MARGIN;
/// Kubernetes' limit on all of a pod's annotations together, the sum of every key's and value's
/// length (`TotalAnnotationSizeLimitB`).
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 262_144;

/// The annotation holding the sidecar's config (also read by the init container when the two
/// configs differ only in `exit_after_auth`).
pub const ANNOTATION_SIDECAR: &str = "vault.hashicorp.com/agent-config-sidecar";
/// The annotation holding the init container's config when it has its own.
pub const ANNOTATION_INIT: &str = "vault.hashicorp.com/agent-config-init";
/// The `downwardAPI` volume projecting those annotations.
pub const VOLUME: &str = "vault-agent-config";
/// Where the agent containers mount [`VOLUME`] (read-only).
pub const MOUNT_PATH: &str = "/vault/agent-config";
/// The file of [`ANNOTATION_SIDECAR`] under [`MOUNT_PATH`].
pub const FILE_SIDECAR: &str = "config.json";
/// The file of [`ANNOTATION_INIT`] under [`MOUNT_PATH`].
pub const FILE_INIT: &str = "config-init.json";

/// The status annotation the patch always adds (injector.md §2.4 item 10).
const STATUS_KEY: &str = "vault.hashicorp.com/agent-inject-status";
const STATUS_VALUE: &str = "injected";

/// How one agent container gets its generated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Config-map mode: no generated config (the agent reads `/vault/configs`).
    ConfigMap,
    /// The config JSON, base64 in `VAULT_CONFIG` / `BAO_CONFIG` (upstream's way).
    Env(Vec<u8>),
    /// Read with `-config=<MOUNT_PATH>/<file>`; `exit_after_auth` adds `-exit-after-auth`
    /// (the init container reading the sidecar's config).
    File {
        file: &'static str,
        exit_after_auth: bool,
    },
}

impl Delivery {
    /// The `-config` path of file delivery.
    pub fn path(&self) -> Option<String> {
        match self {
            Self::File { file, .. } => Some(format!("{MOUNT_PATH}/{file}")),
            _ => None,
        }
    }
}

/// Why no delivery fits (the pod is refused with this text after `error creating patch for agent: `).
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error(transparent)]
    Config(#[from] AgentConfigError),
    #[error(
        "the generated agent config is {config} bytes, too large for an environment variable \
         ({env_limit} bytes at most) and for the pod's annotations: with it they would total \
         {total} bytes, over the Kubernetes limit of {limit} bytes"
    )]
    TooLarge {
        config: usize,
        env_limit: usize,
        total: usize,
        limit: usize,
    },
}

/// What the patch does for the generated configs of one pod.
#[derive(Debug)]
pub struct Plan {
    /// For `vault-agent-init` (meaningless when it is not injected).
    pub init: Delivery,
    /// For `vault-agent` (meaningless when it is not injected).
    pub sidecar: Delivery,
    /// Annotations to add, key and value, in order (file delivery only).
    pub annotations: Vec<(&'static str, String)>,
}

impl Plan {
    /// The `downwardAPI` volume of file delivery, `None` otherwise.
    pub fn volume(&self) -> Option<Value> {
        if self.annotations.is_empty() {
            return None;
        }
        let items: Vec<Value> = self
            .annotations
            .iter()
            .map(|(key, _)| {
                let path = if *key == ANNOTATION_INIT {
                    FILE_INIT
                } else {
                    FILE_SIDECAR
                };
                json!({"path": path, "fieldRef": {"fieldPath": format!("metadata.annotations['{key}']")}})
            })
            .collect();
        Some(json!({"name": VOLUME, "downwardAPI": {"items": items}}))
    }
}

/// The length of the environment string `NAME=<base64 of config_len bytes>` with its NUL.
pub fn env_string_len(var: &str, config_len: usize) -> usize {
    var.len() + 1 + config_len.div_ceil(3) * 4 + 1
}

/// Whether a config of `config_len` bytes may go into the environment variable `var`.
pub fn fits_env(var: &str, config_len: usize) -> bool {
    env_string_len(var, config_len) <= ENV_STRING_LIMIT
}

/// The environment variable of the generated config for `flavor` (injector.md §4.2).
pub fn config_var(flavor: AgentFlavor) -> &'static str {
    if flavor == AgentFlavor::Openbao {
        "BAO_CONFIG"
    } else {
        "VAULT_CONFIG"
    }
}

fn json_of(spec: &AgentSpec, role: Role) -> Result<Vec<u8>, AgentConfigError> {
    agent_config_json(spec, role)
}

/// Decide the delivery of each injected container's config (injector.md §3.7). `existing` are the
/// pod's annotations, counted against [`TOTAL_ANNOTATION_SIZE_LIMIT`] with what file delivery adds.
pub fn plan(
    spec: &AgentSpec,
    flavor: AgentFlavor,
    existing: Option<&BTreeMap<String, String>>,
) -> Result<Plan, DeliveryError> {
    let init_wanted = spec.pre_populate && !spec.native();
    let sidecar_wanted = !spec.pre_populate_only;
    if !spec.configmap.is_empty() || !(init_wanted || sidecar_wanted) {
        return Ok(Plan {
            init: Delivery::ConfigMap,
            sidecar: Delivery::ConfigMap,
            annotations: Vec::new(),
        });
    }
    let init = init_wanted.then(|| json_of(spec, Role::Init)).transpose()?;
    let sidecar = sidecar_wanted
        .then(|| json_of(spec, Role::Sidecar))
        .transpose()?;
    let var = config_var(flavor);
    if init.iter().chain(&sidecar).all(|c| fits_env(var, c.len())) {
        return Ok(Plan {
            init: Delivery::Env(init.unwrap_or_default()),
            sidecar: Delivery::Env(sidecar.unwrap_or_default()),
            annotations: Vec::new(),
        });
    }
    let mut annotations = Vec::new();
    let file = |file| Delivery::File {
        file,
        exit_after_auth: false,
    };
    let (init_d, sidecar_d) = match (init, sidecar) {
        (Some(i), Some(s)) => {
            // One copy when the init config is the sidecar's with `exit_after_auth` set, which
            // is always the case today (injector.md §3.4: a cache is in both or neither); the
            // comparison keeps this right should the two ever differ more.
            let mut as_sidecar = agent_config(spec, Role::Init)?;
            as_sidecar.exit_after_auth = false;
            let shared = encode(spec, &as_sidecar)? == s;
            annotations.push((ANNOTATION_SIDECAR, bytes_to_string(s)));
            let init_d = if shared {
                Delivery::File {
                    file: FILE_SIDECAR,
                    exit_after_auth: true,
                }
            } else {
                annotations.push((ANNOTATION_INIT, bytes_to_string(i)));
                file(FILE_INIT)
            };
            (init_d, file(FILE_SIDECAR))
        }
        (Some(i), None) => {
            annotations.push((ANNOTATION_INIT, bytes_to_string(i)));
            (file(FILE_INIT), Delivery::ConfigMap)
        }
        (None, Some(s)) => {
            annotations.push((ANNOTATION_SIDECAR, bytes_to_string(s)));
            (Delivery::ConfigMap, file(FILE_SIDECAR))
        }
        (None, None) => unreachable!("checked above"),
    };
    let ours = |k: &str| k == STATUS_KEY || annotations.iter().any(|(a, _)| *a == k);
    let kept: usize = existing
        .into_iter()
        .flatten()
        .filter(|(k, _)| !ours(k))
        .map(|(k, v)| k.len() + v.len())
        .sum();
    let added: usize = STATUS_KEY.len()
        + STATUS_VALUE.len()
        + annotations
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>();
    let total = kept + added;
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        return Err(DeliveryError::TooLarge {
            config: annotations.iter().map(|(_, v)| v.len()).max().unwrap_or(0),
            env_limit: ENV_STRING_LIMIT,
            total,
            limit: TOTAL_ANNOTATION_SIZE_LIMIT,
        });
    }
    Ok(Plan {
        init: init_d,
        sidecar: sidecar_d,
        annotations,
    })
}

/// The config JSON as an annotation value (the encoder writes UTF-8).
fn bytes_to_string(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaultlet_shared::annotations::{Annotations, ContainerFacts, PodFacts};

    use crate::fixture::TestInjector;

    fn spec(extra: &[(String, String)]) -> AgentSpec {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
        ];
        pairs.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let pod = PodFacts {
            name: "p".into(),
            containers: vec![ContainerFacts {
                name: "app".into(),
                mounts: vec![(
                    "sa".into(),
                    "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                )],
                ..ContainerFacts::default()
            }],
            ..PodFacts::default()
        };
        AgentSpec::build(
            &Annotations::from_pairs(pairs),
            &pod,
            "ns",
            &TestInjector::new().defaults(),
        )
        .unwrap()
    }

    /// `n` secrets with default templates: about 250 bytes of config each.
    fn secrets(n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|i| {
                (
                    format!("vault.hashicorp.com/agent-inject-secret-s{i:04}"),
                    format!("kv/data/app/s{i:04}"),
                )
            })
            .collect()
    }

    fn with(mut a: Vec<(String, String)>, k: &str, v: &str) -> Vec<(String, String)> {
        a.push((k.into(), v.into()));
        a
    }

    #[test]
    fn the_threshold_counts_name_base64_and_nul() {
        // 3 bytes → 4 base64 chars; "VAULT_CONFIG=" is 13, the NUL 1.
        assert_eq!(env_string_len("VAULT_CONFIG", 3), 13 + 4 + 1);
        assert_eq!(env_string_len("VAULT_CONFIG", 4), 13 + 8 + 1);
        assert_eq!(ENV_STRING_LIMIT, 126_976);
        // The largest config that fits: 4·⌈n/3⌉ ≤ 126,976 − 14 → n ≤ 95,220.
        assert!(fits_env("VAULT_CONFIG", 95_220));
        assert!(!fits_env("VAULT_CONFIG", 95_221));
        // BAO_CONFIG is two bytes shorter: room for one more base64 quantum.
        assert!(fits_env("BAO_CONFIG", 95_223));
        assert!(!fits_env("BAO_CONFIG", 95_224));
        // Far enough below Linux's limit either way.
        assert!(env_string_len("VAULT_CONFIG", 95_220) + ENV_SAFETY_MARGIN <= MAX_ARG_STRLEN);
    }

    #[test]
    fn small_configs_stay_in_the_environment() {
        let p = plan(&spec(&secrets(3)), AgentFlavor::Vaultlet, None).unwrap();
        assert!(p.annotations.is_empty());
        assert!(p.volume().is_none());
        let Delivery::Env(init) = &p.init else {
            panic!("{:?}", p.init)
        };
        assert_eq!(init, &json_of(&spec(&secrets(3)), Role::Init).unwrap());
        assert!(matches!(p.sidecar, Delivery::Env(_)));
    }

    #[test]
    fn a_large_config_is_one_shared_annotation_and_a_downward_api_volume() {
        let s = spec(&secrets(600));
        let sidecar = json_of(&s, Role::Sidecar).unwrap();
        assert!(
            !fits_env("VAULT_CONFIG", sidecar.len()),
            "{}",
            sidecar.len()
        );
        let p = plan(&s, AgentFlavor::Vaultlet, None).unwrap();
        assert_eq!(p.annotations.len(), 1);
        assert_eq!(p.annotations[0].0, ANNOTATION_SIDECAR);
        assert_eq!(p.annotations[0].1.as_bytes(), sidecar.as_slice());
        assert_eq!(
            p.init,
            Delivery::File {
                file: FILE_SIDECAR,
                exit_after_auth: true
            }
        );
        assert_eq!(
            p.sidecar,
            Delivery::File {
                file: FILE_SIDECAR,
                exit_after_auth: false
            }
        );
        assert_eq!(
            p.sidecar.path().as_deref(),
            Some("/vault/agent-config/config.json")
        );
        assert_eq!(
            p.volume().unwrap(),
            json!({"name": "vault-agent-config", "downwardAPI": {"items": [{"path": "config.json",
                "fieldRef": {"fieldPath": "metadata.annotations['vault.hashicorp.com/agent-config-sidecar']"}}]}})
        );
    }

    #[test]
    fn a_persistent_cache_is_in_both_configs_so_they_still_share_one_annotation() {
        // With both containers the configs differ only in `exit_after_auth` (injector.md §3.4):
        // the init container reads the sidecar's file with `-exit-after-auth`.
        let s = spec(&with(
            secrets(600),
            "vault.hashicorp.com/agent-cache-enable",
            "true",
        ));
        assert!(s.persist_cache());
        let p = plan(&s, AgentFlavor::Vaultlet, None).unwrap();
        assert_eq!(p.annotations.len(), 1);
        assert!(p.annotations[0].1.contains("\"persist\""));
        assert_eq!(
            p.init,
            Delivery::File {
                file: FILE_SIDECAR,
                exit_after_auth: true
            }
        );
    }

    #[test]
    fn init_only_and_sidecar_only_pods_use_their_own_annotation() {
        let only = spec(&with(
            secrets(600),
            "vault.hashicorp.com/agent-pre-populate-only",
            "true",
        ));
        let p = plan(&only, AgentFlavor::Openbao, None).unwrap();
        assert_eq!(p.annotations.len(), 1);
        assert_eq!(p.annotations[0].0, ANNOTATION_INIT);
        assert!(p.annotations[0].1.contains("\"exit_after_auth\":true"));
        assert_eq!(
            p.init,
            Delivery::File {
                file: FILE_INIT,
                exit_after_auth: false
            }
        );
        assert_eq!(
            p.volume().unwrap()["downwardAPI"]["items"][0]["path"],
            FILE_INIT
        );
        let no_init = spec(&with(
            secrets(600),
            "vault.hashicorp.com/agent-pre-populate",
            "false",
        ));
        let p = plan(&no_init, AgentFlavor::Vault, None).unwrap();
        assert_eq!(p.annotations[0].0, ANNOTATION_SIDECAR);
        assert_eq!(
            p.sidecar.path().as_deref(),
            Some("/vault/agent-config/config.json")
        );
    }

    #[test]
    fn the_annotation_limit_counts_the_pods_annotations_and_ours() {
        let s = spec(&secrets(600));
        let config = json_of(&s, Role::Sidecar).unwrap().len();
        let ours = ANNOTATION_SIDECAR.len() + config + STATUS_KEY.len() + STATUS_VALUE.len();
        let room = TOTAL_ANNOTATION_SIZE_LIMIT - ours;
        let existing = |n: usize| {
            let mut m = BTreeMap::new();
            m.insert("a".to_owned(), "x".repeat(n - 1));
            // Keys the patch overwrites are not counted twice.
            m.insert(STATUS_KEY.to_owned(), "y".repeat(10_000));
            m.insert(ANNOTATION_SIDECAR.to_owned(), "z".repeat(10_000));
            m
        };
        assert!(plan(&s, AgentFlavor::Vaultlet, Some(&existing(room))).is_ok());
        let err = plan(&s, AgentFlavor::Vaultlet, Some(&existing(room + 1)))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "the generated agent config is {config} bytes, too large for an environment \
                 variable (126976 bytes at most) and for the pod's annotations: with it they \
                 would total 262145 bytes, over the Kubernetes limit of 262144 bytes"
            )
        );
    }

    #[test]
    fn config_map_mode_delivers_nothing() {
        let s = spec(&with(
            secrets(600),
            "vault.hashicorp.com/agent-configmap",
            "cm",
        ));
        let p = plan(&s, AgentFlavor::Vaultlet, None).unwrap();
        assert_eq!(p.init, Delivery::ConfigMap);
        assert!(p.annotations.is_empty());
    }
}
