//! From pod annotations to the typed, validated `AgentSpec` (injector.md §1.2–1.5, §2.3 steps 4–6, §5.1).

use std::collections::BTreeMap;

use super::defaults::InjectorDefaults;
use super::parse::{parse_bool, parse_csv, parse_duration, parse_float, parse_int, parse_uint};
use super::quantity::canonical_quantity;
use super::table::{ANNOTATIONS, DefaultCtx, DefaultFrom, ValueKind, lookup};

/// The upstream annotation prefix.
pub const VAULT_PREFIX: &str = "vault.hashicorp.com/";
/// The OpenBao prefix, same meaning.
pub const OPENBAO_PREFIX: &str = "openbao.org/";

/// Why an annotated pod is refused; `Display` is the full refusal message of injector.md §2.3.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("error adding default annotations: {0}")]
    Defaulting(String),
    #[error("error creating new agent sidecar: {0}")]
    Parse(String),
    #[error("error validating agent configuration: {0}")]
    Validation(String),
}

/// A bad annotation value, naming key and value.
pub fn bad_value(prefix: &str, name: &str, value: &str, kind: ValueKind) -> String {
    format!(
        "annotation {prefix}{name}: {value:?} is not {}",
        kind.expected()
    )
}

/// A value as a refusal quotes it: Go-style `"…"`, cut after 200 bytes with its length.
fn shown_value(v: &str) -> String {
    const MAX: usize = 200;
    if v.len() <= MAX {
        return format!("{v:?}");
    }
    let mut end = MAX;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &v[..end], v.len())
}

/// The keys a namespace's annotations never give a pod (injector.md §2.7).
pub const NOT_FROM_NAMESPACE: &[&str] = &["agent-inject", "agent-inject-status"];

/// The pod's annotations with either prefix stripped; remembers which prefix each key used.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations {
    map: BTreeMap<String, (String, &'static str)>,
    conflicts: Vec<String>,
}

impl Annotations {
    /// Keep the `vault.hashicorp.com/` and `openbao.org/` keys; other keys are ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut out = Self::default();
        for (k, v) in pairs {
            let (prefix, name) = if let Some(n) = k.strip_prefix(VAULT_PREFIX) {
                (VAULT_PREFIX, n)
            } else if let Some(n) = k.strip_prefix(OPENBAO_PREFIX) {
                (OPENBAO_PREFIX, n)
            } else {
                continue;
            };
            if let Some((_, p)) = out.map.get(name) {
                if *p != prefix {
                    out.conflicts.push(name.to_owned());
                }
                continue;
            }
            out.map.insert(name.to_owned(), (v.to_owned(), prefix));
        }
        out
    }

    /// The value of a key (without prefix).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|(v, _)| v.as_str())
    }

    /// The prefix the pod used for a key (`vault.hashicorp.com/` when absent or defaulted).
    pub fn prefix_of(&self, name: &str) -> &'static str {
        self.map.get(name).map_or(VAULT_PREFIX, |(_, p)| p)
    }

    fn insert_default(&mut self, name: &str, value: String) {
        self.map.insert(name.to_owned(), (value, VAULT_PREFIX));
    }

    /// Keys (without prefix) and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// The full key of `name` with the prefix the pod used, e.g. `openbao.org/role`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix_of(name))
    }

    /// What a refusal appends to name the annotation behind it (issue 16): ` (annotation
    /// KEY: "VALUE")`, or ` (annotation KEY is not set)`. Values over 200 bytes are cut (a JSON
    /// patch can be long); the length is given.
    pub fn cite(&self, name: &str) -> String {
        let key = self.key(name);
        match self.get(name) {
            None => format!(" (annotation {key} is not set)"),
            Some(v) => format!(" (annotation {key}: {})", shown_value(v)),
        }
    }

    /// The prefix each key used (`vault.hashicorp.com/` or `openbao.org/`), the key without it, and
    /// its value, in key order.
    pub fn iter_prefixed(&self) -> impl Iterator<Item = (&'static str, &str, &str)> {
        self.map
            .iter()
            .map(|(k, (v, p))| (*p, k.as_str(), v.as_str()))
    }

    fn err(&self, name: &str, kind: ValueKind) -> String {
        bad_value(
            self.prefix_of(name),
            name,
            self.get(name).unwrap_or(""),
            kind,
        )
    }

    fn bool_or(&self, name: &str, absent: bool) -> Result<bool, String> {
        match self.get(name) {
            None => Ok(absent),
            Some(v) => parse_bool(v).ok_or_else(|| self.err(name, ValueKind::Bool)),
        }
    }

    fn string(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_owned()
    }

    /// Whether `agent-inject` requests injection (injector.md §2.3 step 2); `Err` for an unparsable value.
    pub fn wants_injection(&self) -> Result<bool, String> {
        self.bool_or("agent-inject", false)
    }

    /// Fills in the keys this pod does not set from its namespace's annotations (extension,
    /// injector.md §2.7): known keys only, with the prefix the namespace used, never
    /// `agent-inject` (the pod opts in itself) nor `agent-inject-status` (the injector's mark).
    /// A key the pod sets, with either prefix, wins.
    pub fn fill_from_namespace(&mut self, namespace: &Annotations) {
        for (name, (value, prefix)) in &namespace.map {
            if NOT_FROM_NAMESPACE.contains(&name.as_str())
                || self.map.contains_key(name)
                || !super::known::is_known(name)
            {
                continue;
            }
            self.map.insert(name.clone(), (value.clone(), prefix));
        }
    }

    /// The conflicting key (set with both prefixes), if any.
    pub fn conflict(&self) -> Option<String> {
        self.conflicts.first().map(|k| {
            format!("annotations {VAULT_PREFIX}{k} and {OPENBAO_PREFIX}{k} are both set; use only one prefix")
        })
    }
}

/// One app container as the spec builder sees it.
#[derive(Debug, Clone, Default)]
pub struct ContainerFacts {
    pub name: String,
    /// `(volume name, mount path)` of each volume mount.
    pub mounts: Vec<(String, String)>,
    /// `None`: no securityContext; `Some(None)`: runAsUser unset.
    pub run_as_user: Option<Option<i64>>,
    /// `(name, literal value)` env entries (`valueFrom` ⇒ empty value).
    pub env: Vec<(String, String)>,
}

/// One pod volume: its name and the first non-empty projected service-account token path.
#[derive(Debug, Clone, Default)]
pub struct VolumeFacts {
    pub name: String,
    pub sa_token_path: Option<String>,
}

/// What the spec builder needs from the pod besides its annotations.
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    pub name: String,
    pub containers: Vec<ContainerFacts>,
    pub volumes: Vec<VolumeFacts>,
    pub share_process_namespace: Option<bool>,
}

/// The default template flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    Map,
    Json,
}

/// One discovered secret (injector.md §1.4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Secret {
    pub raw_name: String,
    pub name: String,
    pub path: String,
    pub template: String,
    pub template_file: String,
    pub mount_path: String,
    pub command: String,
    /// `agent-inject-signal-<raw>` (extension): `<SIGNAL> <process>`, checked at admission.
    pub signal: String,
    pub left_delim: String,
    pub right_delim: String,
    pub file: String,
    pub perms: String,
    pub error_on_missing_key: bool,
}

/// One `agent-inject-env-<name>` (extension, injector.md §4.11): a variable of the wrapped app
/// containers and its template.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvVar {
    /// The variable name: the key after `agent-inject-env-`, as written.
    pub name: String,
    /// The template text (rendered in memory by the wrapper, never written anywhere).
    pub template: String,
}

/// The keys under `agent-inject-env-` that are settings, not variables.
pub const ENV_SETTING_KEYS: [&str; 2] = ["containers", "restart"];

/// Whether `name` is a valid environment variable name: letters, digits and `_`, not starting
/// with a digit (POSIX's portable names, in either case).
pub fn valid_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b == b'_' || b.is_ascii_alphabetic())
        && bytes.all(|b| b == b'_' || b.is_ascii_alphanumeric())
}

/// The `agent-inject-env-<name>` variables (extension, injector.md §4.11), in key order; an empty
/// value is no variable (as an empty `agent-inject-secret-<name>` is no secret). A name that is
/// not a valid variable name refuses the pod, naming key and value.
pub fn discover_env(a: &Annotations) -> Result<Vec<EnvVar>, String> {
    let mut out = Vec::new();
    for (k, v) in a.iter() {
        let Some(name) = k.strip_prefix("agent-inject-env-") else {
            continue;
        };
        if ENV_SETTING_KEYS.contains(&name) || v.trim().is_empty() {
            continue;
        }
        if !valid_env_name(name) {
            return Err(format!(
                "{name:?} is not a valid environment variable name (letters, digits and _, not starting with a digit){}",
                a.cite(k)
            ));
        }
        out.push(EnvVar {
            name: name.to_owned(),
            template: v.to_owned(),
        });
    }
    Ok(out)
}

/// A resource quantity annotation, canonicalised at patch time (errors surface there, injector.md §1.3.5).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityAnnotation {
    /// `cpu`, `memory` or `ephemeral-storage`.
    pub resource: &'static str,
    pub key: String,
    pub value: String,
}

impl QuantityAnnotation {
    /// The canonical quantity, or an error naming the annotation.
    pub fn canonical(&self) -> Result<String, String> {
        canonical_quantity(&self.value).map_err(|e| {
            format!(
                "annotation {}: {:?} is not a Kubernetes quantity ({e})",
                self.key, self.value
            )
        })
    }
}

/// Everything the mutation needs, typed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub namespace: String,
    pub image: String,
    pub configmap: String,
    pub extra_secret: String,
    pub copy_volume_mounts: String,
    pub tls_secret: String,
    pub pre_populate: bool,
    pub pre_populate_only: bool,
    pub init_first: bool,
    /// `agent-native-sidecar` (extension, injector.md §4.10): one restartable init container.
    pub native_sidecar: bool,
    pub inject_containers: Vec<String>,
    pub share_process_namespace: Option<bool>,
    pub json_patch: Option<serde_json::Value>,
    pub init_json_patch: Option<serde_json::Value>,
    pub secrets: Vec<Secret>,
    /// `agent-inject-env-<name>` (extension, injector.md §4.11), in key order.
    pub env: Vec<EnvVar>,
    /// `agent-inject-env-containers`: the app containers wrapped (default: all of them).
    pub env_containers: Vec<String>,
    /// `agent-inject-env-restart`: the wrapper stays as the app's supervisor.
    pub env_restart: bool,
    pub secret_volume_path: String,
    pub default_template: TemplateKind,
    pub inject_token: bool,
    pub address: String,
    pub role: String,
    pub auth_type: String,
    pub auth_path: String,
    pub auth_config: BTreeMap<String, String>,
    pub vault_namespace: String,
    pub min_backoff: String,
    pub max_backoff: String,
    pub auto_auth_exit_on_err: bool,
    pub ca_cert: String,
    pub ca_key: String,
    pub client_cert: String,
    pub client_key: String,
    pub tls_skip_verify: bool,
    pub tls_server_name: String,
    pub client_max_retries: String,
    pub client_timeout: String,
    pub proxy_address: String,
    pub go_max_procs: String,
    pub log_level: String,
    pub log_format: String,
    pub revoke_on_shutdown: bool,
    pub revoke_grace: u64,
    pub cache_enable: bool,
    pub cache_use_auto_auth_token: String,
    pub cache_listener_port: String,
    pub cache_exit_on_err: bool,
    /// The injector's `-cache-handoff` for a pod that does not set `agent-cache-enable` itself
    /// (extension, injector.md §3.4.1): the persistent cache without the listener.
    pub cache_handoff: bool,
    pub enable_quit: bool,
    pub disable_idle_connections: Vec<String>,
    pub disable_keep_alives: Vec<String>,
    pub template_exit_on_retry_failure: bool,
    pub static_secret_render_interval: String,
    pub max_connections_per_host: i64,
    pub lease_renewal_threshold: f64,
    /// `agent-telemetry-*` parameters (`-`→`_`), `None` when there are none.
    pub telemetry: Option<BTreeMap<String, serde_json::Value>>,
    pub limits: Vec<QuantityAnnotation>,
    pub requests: Vec<QuantityAnnotation>,
    pub set_security_context: bool,
    pub run_as_user: i64,
    pub run_as_group: i64,
    pub sa_volume_name: String,
    pub sa_mount_path: String,
    pub sa_token_path: String,
    /// `AWS_*` env copied from app containers plus `auth-config-region` (auth-type `aws` only).
    pub aws_env: Vec<(String, String)>,
    /// IRSA token mount `(volume, path)` (auth-type `aws` only).
    pub irsa_mount: Option<(String, String)>,
    /// `VAULT_CACERT_BYTES` value (decoded flag), empty when unset.
    pub cacert_bytes: String,
    /// The defaulted annotations, so a later refusal can name its key with the prefix the pod
    /// used and its value ([`Annotations::cite`]).
    pub annotations: Annotations,
}

impl AgentSpec {
    /// The persistent-cache case of injector.md §3.4.
    pub fn persist_cache(&self) -> bool {
        (self.cache_enable || self.cache_handoff)
            && self.pre_populate
            && !self.pre_populate_only
            && !self.native()
    }

    /// Native sidecar mode in effect (injector.md §4.10): asked for, and not overridden by
    /// `agent-pre-populate-only`, which keeps a classic init container alone.
    pub fn native(&self) -> bool {
        self.native_sidecar && !self.pre_populate_only
    }

    /// Defaulting, parsing and validation of injector.md §2.3 steps 4–6.
    pub fn build(
        annotations: &Annotations,
        pod: &PodFacts,
        namespace: &str,
        settings: &InjectorDefaults,
    ) -> Result<Self, SpecError> {
        let a = defaulted(annotations, pod, namespace, settings)?;
        let mut spec = parse(&a, pod, settings).map_err(SpecError::Parse)?;
        // injector.md §3.4.1: decided on the pod's own annotations (an explicit
        // `agent-cache-enable: "false"` opts out); a pod without templates has nothing to hand
        // over, and a pod with its own config map keeps that config as it is.
        spec.cache_handoff = settings.cache_handoff
            && annotations.get("agent-cache-enable").is_none()
            && !spec.secrets.is_empty()
            && spec.configmap.is_empty();
        spec.validate(&a).map_err(SpecError::Validation)?;
        Ok(spec)
    }

    /// Upstream's checks; each refusal caused by an annotation ends with [`Annotations::cite`].
    fn validate(&self, a: &Annotations) -> Result<(), String> {
        if self.namespace.is_empty() {
            return Err("namespace missing from request".into());
        }
        if self.sa_volume_name.is_empty()
            || self.sa_mount_path.is_empty()
            || self.sa_token_path.is_empty()
        {
            return Err(
                "no service account token volume name, mount path or token path found".into(),
            );
        }
        if self.image.is_empty() {
            return Err(format!("no Vault image found{}", a.cite("agent-image")));
        }
        if self.configmap.is_empty() {
            if self.auth_type.is_empty() {
                return Err(format!("no Vault Auth Type found{}", a.cite("auth-type")));
            }
            if self.auth_type == "kubernetes"
                && self.role.is_empty()
                && self.auth_config.get("role").is_none_or(String::is_empty)
            {
                return Err(format!("no Vault role found{}", a.cite("role")));
            }
            if self.auth_path.is_empty() {
                return Err(format!("no Vault Auth Path found{}", a.cite("auth-path")));
            }
            if self.address.is_empty() {
                return Err(format!("no Vault address found{}", a.cite("service")));
            }
        }
        Ok(())
    }
}

/// Validate a JSON-patch annotation value: `null` or an array of operation objects.
fn check_json_patch(value: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_str(value).map_err(|e| e.to_string())?;
    match &v {
        serde_json::Value::Null => Ok(v),
        serde_json::Value::Array(ops) => {
            for op in ops {
                let kind = op.get("op").and_then(|o| o.as_str()).unwrap_or("");
                if !matches!(
                    kind,
                    "add" | "remove" | "replace" | "move" | "copy" | "test"
                ) {
                    return Err(format!("invalid operation {op}"));
                }
                if op.get("path").and_then(|p| p.as_str()).is_none() {
                    return Err(format!("operation without path: {op}"));
                }
            }
            Ok(v)
        }
        _ => Err("a JSON patch must be an array of operations".into()),
    }
}

/// Phase 2 (injector.md §1.2): the annotation map with injector defaults inserted.
pub fn defaulted(
    annotations: &Annotations,
    pod: &PodFacts,
    namespace: &str,
    settings: &InjectorDefaults,
) -> Result<Annotations, SpecError> {
    let fail = |m: &str| Err(SpecError::Defaulting(m.to_owned()));
    if settings.vault_address.is_empty() {
        return fail("address for Vault required");
    }
    if settings.vault_auth_path.is_empty() {
        return fail("Vault Auth Path required");
    }
    if namespace.is_empty() {
        return fail("kubernetes namespace required");
    }
    let mut a = annotations.clone();
    let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    let ctx = DefaultCtx {
        settings,
        namespace,
        containers_csv: names.join(","),
    };
    // Flip rule of injector.md §4.6, decided on the pod's own annotations.
    let flip = !settings.set_security_context
        && a.get("agent-set-security-context").is_none()
        && [
            "agent-run-as-user",
            "agent-run-as-same-user",
            "agent-run-as-group",
        ]
        .iter()
        .any(|k| a.get(k).is_some());
    for d in ANNOTATIONS.iter().filter(|d| !d.family) {
        if a.get(d.name).is_some() {
            continue;
        }
        let value = match d.default {
            DefaultFrom::None => None,
            DefaultFrom::Const(c) => Some(c.to_owned()),
            DefaultFrom::Dyn(f) => f(&ctx),
        };
        if let Some(v) = value {
            a.insert_default(d.name, v);
        }
    }
    if flip {
        a.insert_default("agent-set-security-context", "true".into());
    }
    for (key, what) in [("auth-min-backoff", "min"), ("auth-max-backoff", "max")] {
        if let Some(v) = a.get(key).filter(|v| !v.is_empty())
            && parse_duration(v).is_none()
        {
            return Err(SpecError::Defaulting(format!(
                "error parsing {what} backoff as duration: {}",
                a.err(key, ValueKind::Duration)
            )));
        }
    }
    for key in ["agent-json-patch", "agent-init-json-patch"] {
        match a.get(key) {
            Some("") => {
                a.map.remove(key);
            }
            Some(v) => {
                if let Err(e) = check_json_patch(v) {
                    return Err(SpecError::Defaulting(format!(
                        "error parsing JSON patch for annotation {}: {e}{}",
                        a.key(key),
                        a.cite(key)
                    )));
                }
            }
            None => {}
        }
    }
    Ok(a)
}

fn posix_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// POSIX `path.Join` (join with `/`, then clean).
pub fn path_join(a: &str, b: &str) -> String {
    if a.is_empty() {
        return if b.is_empty() {
            String::new()
        } else {
            posix_clean(b)
        };
    }
    posix_clean(&format!("{a}/{b}"))
}

fn sa_token(a: &Annotations, pod: &PodFacts) -> Result<(String, String, String), String> {
    const KEY: &str = "agent-service-account-token-volume-name";
    let want = a.string(KEY);
    let projected = |name: &str| -> Result<String, String> {
        let vol = pod.volumes.iter().find(|v| v.name == name).ok_or_else(|| {
            format!(
                "failed to find volume {name:?} in Pod {:?} volumes{}",
                pod.name,
                a.cite(KEY)
            )
        })?;
        vol.sa_token_path.clone().ok_or_else(|| {
            format!(
                "failed to find tokenPath for projected volume {name:?}{}",
                a.cite(KEY)
            )
        })
    };
    if !want.is_empty() {
        for c in &pod.containers {
            if let Some((_, path)) = c.mounts.iter().find(|(n, _)| *n == want) {
                return Ok((want.clone(), path.clone(), projected(&want)?));
            }
        }
        if pod.volumes.iter().any(|v| v.name == want) {
            let token = projected(&want)?;
            return Ok((
                want,
                "/var/run/secrets/vault.hashicorp.com/serviceaccount".into(),
                token,
            ));
        }
        return Err(format!(
            "failed to find service account volume {want:?}{}",
            a.cite(KEY)
        ));
    }
    for c in &pod.containers {
        if let Some((n, p)) = c.mounts.iter().find(|(_, p)| p.contains("serviceaccount")) {
            return Ok((n.clone(), p.clone(), "token".into()));
        }
    }
    Err(format!(
        "failed to find service account volume mount{}",
        a.cite(KEY)
    ))
}

/// Secret discovery (injector.md §1.4), ordered by raw name.
pub fn discover_secrets(a: &Annotations) -> Result<Vec<Secret>, String> {
    const PREFIXES: [&str; 3] = [
        "agent-inject-secret-",
        "agent-inject-template-file-",
        "agent-inject-template-",
    ];
    let mut raw_names: BTreeMap<String, ()> = BTreeMap::new();
    for (k, v) in a.iter() {
        if v.trim().is_empty() {
            continue;
        }
        if let Some(raw) = PREFIXES.iter().find_map(|p| k.strip_prefix(p)) {
            raw_names.insert(raw.to_owned(), ());
        }
    }
    let global_preserve = a
        .get("preserve-secret-case")
        .and_then(parse_bool)
        .unwrap_or(false);
    let global_path = a.string("secret-volume-path");
    let mut out = Vec::new();
    for raw in raw_names.into_keys() {
        let preserve = match a.get(&format!("preserve-secret-case-{raw}")) {
            Some(v) => parse_bool(v).unwrap_or(false),
            None => global_preserve,
        };
        let name = if preserve {
            raw.clone()
        } else {
            raw.to_lowercase()
        };
        if name.is_empty() {
            continue;
        }
        let get = |p: &str| a.string(&format!("{p}{raw}"));
        let template = get("agent-inject-template-");
        let template_file = if template.is_empty() {
            get("agent-inject-template-file-")
        } else {
            String::new()
        };
        let mount_path = a
            .get(&format!("secret-volume-path-{raw}"))
            .map_or(global_path.clone(), str::to_owned);
        let eomk = format!("error-on-missing-key-{raw}");
        let error_on_missing_key = match a.get(&eomk) {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| a.err(&eomk, ValueKind::Bool))?,
        };
        out.push(Secret {
            path: get("agent-inject-secret-"),
            template,
            template_file,
            mount_path,
            command: get("agent-inject-command-"),
            signal: get("agent-inject-signal-"),
            left_delim: get("agent-template-left-delim-"),
            right_delim: get("agent-template-right-delim-"),
            file: get("agent-inject-file-"),
            perms: get("agent-inject-perms-"),
            error_on_missing_key,
            raw_name: raw,
            name,
        });
    }
    Ok(out)
}

fn parse(
    a: &Annotations,
    pod: &PodFacts,
    settings: &InjectorDefaults,
) -> Result<AgentSpec, String> {
    if let Some(c) = a.conflict() {
        return Err(c);
    }
    let (sa_volume_name, sa_mount_path, sa_token_path) = sa_token(a, pod)?;
    let secrets = discover_secrets(a)?;
    let env = discover_env(a)?;
    let env_containers = match a.get("agent-inject-env-containers") {
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        None => pod.containers.iter().map(|c| c.name.clone()).collect(),
    };
    let env_restart = a.bool_or("agent-inject-env-restart", false)?;
    let mut auth_config = BTreeMap::new();
    auth_config.insert(
        "token_path".to_owned(),
        path_join(&sa_mount_path, &sa_token_path),
    );
    for (k, v) in a.iter() {
        if let Some(p) = k.strip_prefix("auth-config-") {
            auth_config.insert(p.replace('-', "_"), v.to_owned());
        }
    }
    let role = a.string("role");
    if !role.is_empty() {
        auth_config.insert("role".into(), role.clone());
    }
    a.bool_or("agent-inject", false)?;
    let telemetry_params: BTreeMap<String, serde_json::Value> = a
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("agent-telemetry-").map(|p| {
                let val = serde_json::from_str(v)
                    .unwrap_or_else(|_| serde_json::Value::String(v.to_owned()));
                (p.replace('-', "_"), val)
            })
        })
        .collect();
    let init_first = a.bool_or("agent-init-first", false)?;
    let native_sidecar = a.bool_or("agent-native-sidecar", false)?;
    let pre_populate = a.bool_or("agent-pre-populate", true)?;
    let pre_populate_only = a.bool_or("agent-pre-populate-only", false)?;
    let revoke_on_shutdown = a.bool_or("agent-revoke-on-shutdown", false)?;
    let inject_containers = parse_csv(a.get("agent-inject-containers").unwrap_or(""));
    let grace = a.get("agent-revoke-grace").unwrap_or("");
    let revoke_grace =
        parse_uint(grace).ok_or_else(|| a.err("agent-revoke-grace", ValueKind::Uint))?;
    let tls_skip_verify = a.bool_or("tls-skip-verify", false)?;
    let int = |k: &str| parse_int(a.get(k).unwrap_or("")).ok_or_else(|| a.err(k, ValueKind::Int));
    let mut run_as_user = int("agent-run-as-user")?;
    let run_as_group = int("agent-run-as-group")?;
    if a.bool_or("agent-run-as-same-user", false)? {
        let same = |m: &str| format!("{m}{}", a.cite("agent-run-as-same-user"));
        let c0 = pod
            .containers
            .first()
            .ok_or_else(|| same("No containers found in Pod Spec"))?;
        let sc = c0
            .run_as_user
            .ok_or_else(|| same("No SecurityContext found for Container 0"))?;
        let uid = sc.ok_or_else(|| same("RunAsUser is nil for Container 0's SecurityContext"))?;
        if uid == 0 {
            return Err(same("container not allowed to run as root"));
        }
        run_as_user = uid;
    }
    let share_process_namespace = match a.get("agent-share-process-namespace") {
        None => None,
        Some(v) => {
            let b = parse_bool(v).ok_or_else(|| {
                format!(
                    "invalid value {v} for annotation \"{}agent-share-process-namespace\", err={}",
                    a.prefix_of("agent-share-process-namespace"),
                    a.err("agent-share-process-namespace", ValueKind::Bool)
                )
            })?;
            if b && pod.share_process_namespace == Some(false) {
                return Err(format!(
                    "shareProcessNamespace explicitly disabled on the pod, refusing to enable it{}",
                    a.cite("agent-share-process-namespace")
                ));
            }
            Some(b)
        }
    };
    let set_security_context = a.bool_or("agent-set-security-context", true)?;
    let cache_enable = a.bool_or("agent-cache-enable", false)?;
    let cache_exit_on_err = a.bool_or("agent-cache-exit-on-err", false)?;
    let default_template = match a
        .get("agent-inject-default-template")
        .unwrap_or("")
        .to_lowercase()
        .as_str()
    {
        "map" => TemplateKind::Map,
        "json" => TemplateKind::Json,
        other => {
            return Err(format!(
                "invalid default template type: {other}{}",
                a.cite("agent-inject-default-template")
            ));
        }
    };
    let inject_token = a.bool_or("agent-inject-token", false)?;
    let template_exit_on_retry_failure =
        a.bool_or("template-config-exit-on-retry-failure", true)?;
    let max_connections_per_host = int("template-max-connections-per-host")?;
    let lease_renewal_threshold = match a.get("template-lease-renewal-threshold") {
        None => 0.0,
        Some(v) => parse_float(v)
            .ok_or_else(|| a.err("template-lease-renewal-threshold", ValueKind::Float))?,
    };
    let enable_quit = a.bool_or("agent-enable-quit", false)?;
    let auto_auth_exit_on_err = a.bool_or("agent-auto-auth-exit-on-err", false)?;
    let auth_type = a.string("auth-type");
    let (aws_env, irsa_mount) = if auth_type == "aws" {
        aws_bits(a, pod)
    } else {
        (Vec::new(), None)
    };
    let quantity = |resource: &'static str, name: &str| {
        a.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| QuantityAnnotation {
                resource,
                key: format!("{}{name}", a.prefix_of(name)),
                value: v.to_owned(),
            })
    };
    let limits = [
        ("cpu", "agent-limits-cpu"),
        ("memory", "agent-limits-mem"),
        ("ephemeral-storage", "agent-limits-ephemeral"),
    ]
    .iter()
    .filter_map(|(r, n)| quantity(r, n))
    .collect();
    let requests = [
        ("cpu", "agent-requests-cpu"),
        ("memory", "agent-requests-mem"),
        ("ephemeral-storage", "agent-requests-ephemeral"),
    ]
    .iter()
    .filter_map(|(r, n)| quantity(r, n))
    .collect();
    let json = |k: &str| a.get(k).and_then(|v| check_json_patch(v).ok());
    let cacert_bytes = decode_cacert(&settings.vault_cacert_bytes);
    // Keep the table honest: every plain key we read is in it.
    debug_assert!(lookup("agent-image").is_some());
    Ok(AgentSpec {
        namespace: a.string("agent-request-namespace"),
        image: a.string("agent-image"),
        configmap: a.string("agent-configmap"),
        extra_secret: a.string("agent-extra-secret"),
        copy_volume_mounts: a.string("agent-copy-volume-mounts"),
        tls_secret: a.string("tls-secret"),
        pre_populate,
        pre_populate_only,
        init_first,
        native_sidecar,
        inject_containers,
        share_process_namespace,
        json_patch: json("agent-json-patch"),
        init_json_patch: json("agent-init-json-patch"),
        secrets,
        env,
        env_containers,
        env_restart,
        secret_volume_path: a.string("secret-volume-path"),
        default_template,
        inject_token,
        address: a.string("service"),
        role,
        auth_type,
        auth_path: a.string("auth-path"),
        auth_config,
        vault_namespace: a.string("namespace"),
        min_backoff: a.string("auth-min-backoff"),
        max_backoff: a.string("auth-max-backoff"),
        auto_auth_exit_on_err,
        ca_cert: a.string("ca-cert"),
        ca_key: a.string("ca-key"),
        client_cert: a.string("client-cert"),
        client_key: a.string("client-key"),
        tls_skip_verify,
        tls_server_name: a.string("tls-server-name"),
        client_max_retries: a.string("client-max-retries"),
        client_timeout: a.string("client-timeout"),
        proxy_address: a.string("proxy-address"),
        go_max_procs: a.string("go-max-procs"),
        log_level: a.string("log-level"),
        log_format: a.string("log-format"),
        revoke_on_shutdown,
        revoke_grace,
        cache_enable,
        cache_use_auto_auth_token: a.string("agent-cache-use-auto-auth-token"),
        cache_listener_port: a.string("agent-cache-listener-port"),
        cache_exit_on_err,
        cache_handoff: false,
        enable_quit,
        disable_idle_connections: parse_csv(a.get("agent-disable-idle-connections").unwrap_or("")),
        disable_keep_alives: parse_csv(a.get("agent-disable-keep-alives").unwrap_or("")),
        template_exit_on_retry_failure,
        static_secret_render_interval: a.string("template-static-secret-render-interval"),
        max_connections_per_host,
        lease_renewal_threshold,
        telemetry: (!telemetry_params.is_empty()).then_some(telemetry_params),
        limits,
        requests,
        set_security_context,
        run_as_user,
        run_as_group,
        sa_volume_name,
        sa_mount_path,
        sa_token_path,
        aws_env,
        irsa_mount,
        cacert_bytes,
        annotations: a.clone(),
    })
}

fn decode_cacert(v: &str) -> String {
    use base64::Engine as _;
    if v.is_empty() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD
        .decode(v)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_else(|| v.to_owned())
}

type AwsBits = (Vec<(String, String)>, Option<(String, String)>);

fn aws_bits(a: &Annotations, pod: &PodFacts) -> AwsBits {
    let mut env = Vec::new();
    for name in [
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    ] {
        if let Some(v) = pod
            .containers
            .iter()
            .flat_map(|c| &c.env)
            .find(|(n, _)| n == name)
        {
            env.push(v.clone());
        }
    }
    if let Some(region) = a.get("auth-config-region") {
        env.push(("AWS_REGION".into(), region.to_owned()));
    }
    let irsa = pod
        .containers
        .iter()
        .flat_map(|c| &c.mounts)
        .find(|(_, p)| p.contains("eks.amazonaws.com"))
        .cloned();
    (env, irsa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_fills_in_only_known_keys_the_pod_does_not_set() {
        let mut pod = Annotations::from_pairs([
            ("vault.hashicorp.com/agent-inject", "true"),
            ("openbao.org/role", "pod-role"),
        ]);
        let ns = Annotations::from_pairs([
            ("vault.hashicorp.com/role", "ns-role"),
            ("vault.hashicorp.com/auth-path", "auth/k8s-ns"),
            ("openbao.org/agent-inject-secret-db", "db/creds"),
            ("vault.hashicorp.com/agent-inject", "false"),
            ("vault.hashicorp.com/agent-inject-status", "injected"),
            ("vault.hashicorp.com/not-a-key", "x"),
            ("example.com/other", "y"),
        ]);
        pod.fill_from_namespace(&ns);
        let got: Vec<(&str, &str, &str)> = pod.iter_prefixed().collect();
        assert_eq!(
            got,
            [
                ("vault.hashicorp.com/", "agent-inject", "true"),
                ("openbao.org/", "agent-inject-secret-db", "db/creds"),
                ("vault.hashicorp.com/", "auth-path", "auth/k8s-ns"),
                ("openbao.org/", "role", "pod-role"),
            ]
        );
        assert_eq!(pod.conflict(), None);
    }

    fn pod() -> PodFacts {
        PodFacts {
            name: "app".into(),
            containers: vec![ContainerFacts {
                name: "app".into(),
                mounts: vec![(
                    "kube-api-access".into(),
                    "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                )],
                run_as_user: None,
                env: vec![],
            }],
            volumes: vec![],
            share_process_namespace: None,
        }
    }

    fn settings() -> InjectorDefaults {
        InjectorDefaults {
            vault_address: "https://vault:8200".into(),
            ..InjectorDefaults::default()
        }
    }

    fn build(pairs: &[(&str, &str)]) -> Result<AgentSpec, SpecError> {
        let a = Annotations::from_pairs(pairs.iter().copied());
        AgentSpec::build(&a, &pod(), "default", &settings())
    }

    #[test]
    fn env_annotations_name_variables_containers_and_restart() {
        let s = build(&[
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
            ("openbao.org/agent-inject-env-DB_PASSWORD", "{{ .x }}"),
            ("vault.hashicorp.com/agent-inject-env-_lower1", "y"),
            ("vault.hashicorp.com/agent-inject-env-EMPTY", " "),
            (
                "vault.hashicorp.com/agent-inject-env-containers",
                " app , b,",
            ),
            ("vault.hashicorp.com/agent-inject-env-restart", "true"),
        ])
        .unwrap();
        let names: Vec<&str> = s.env.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["DB_PASSWORD", "_lower1"]);
        assert_eq!(s.env[0].template, "{{ .x }}");
        assert_eq!(s.env_containers, ["app", "b"]);
        assert!(s.env_restart);
        // Absent: every app container, no restart, no variables.
        let s = build(&[
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
        ])
        .unwrap();
        assert!(s.env.is_empty() && !s.env_restart);
        assert_eq!(s.env_containers, ["app"]);
    }

    #[test]
    fn a_bad_env_variable_name_or_restart_value_is_refused_naming_the_key() {
        for bad in ["1ABC", "A-B", "A.B"] {
            let key = format!("openbao.org/agent-inject-env-{bad}");
            let e = build(&[
                ("vault.hashicorp.com/agent-inject", "true"),
                ("vault.hashicorp.com/role", "r"),
                (&key, "v"),
            ])
            .unwrap_err()
            .to_string();
            assert!(
                e.contains(&format!("{bad:?} is not a valid environment variable name"))
                    && e.contains(&format!("(annotation {key}: \"v\")")),
                "{e}"
            );
        }
        let e = build(&[
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-inject-env-restart", "yes"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("vault.hashicorp.com/agent-inject-env-restart: \"yes\" is not a boolean"),
            "{e}"
        );
        assert!(valid_env_name("A_1") && valid_env_name("_") && !valid_env_name(""));
    }

    #[test]
    fn defaults_of_a_minimal_pod() {
        let s = build(&[
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
        ])
        .unwrap();
        assert!(s.pre_populate && !s.pre_populate_only);
        assert_eq!(s.revoke_grace, 5);
        assert_eq!(s.run_as_user, 100);
        assert_eq!(s.run_as_group, 1000);
        assert_eq!(
            s.auth_config["token_path"],
            "/var/run/secrets/kubernetes.io/serviceaccount/token"
        );
        assert_eq!(s.auth_config["role"], "r");
        assert_eq!(s.inject_containers, vec!["app"]);
        assert_eq!(s.secret_volume_path, "/vault/secrets");
        // The vaultlet flavor's default (injector.md §4.5; upstream's 500m for vault/openbao).
        assert_eq!(s.limits[0].canonical().unwrap(), "200m");
    }

    #[test]
    fn native_sidecar_annotation_and_its_injector_default() {
        let base = [
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
        ];
        assert!(!build(&base).unwrap().native_sidecar);
        let mut on = base.to_vec();
        on.push(("openbao.org/agent-native-sidecar", "true"));
        let s = build(&on).unwrap();
        assert!(s.native_sidecar && s.native());
        on.push(("vault.hashicorp.com/agent-pre-populate-only", "true"));
        assert!(
            !build(&on).unwrap().native(),
            "pre-populate-only keeps the init container"
        );
        let mut bad = base.to_vec();
        bad.push(("vault.hashicorp.com/agent-native-sidecar", "sometimes"));
        assert!(build(&bad).is_err());
        let defaults = InjectorDefaults {
            native_sidecar: true,
            ..settings()
        };
        let a = Annotations::from_pairs(base.iter().copied());
        let s = AgentSpec::build(&a, &pod(), "default", &defaults).unwrap();
        assert!(s.native());
        let mut off = base.to_vec();
        off.push(("vault.hashicorp.com/agent-native-sidecar", "false"));
        let a = Annotations::from_pairs(off.iter().copied());
        assert!(
            !AgentSpec::build(&a, &pod(), "default", &defaults)
                .unwrap()
                .native()
        );
    }

    #[test]
    fn cache_handoff_from_the_injector_default_where_there_is_something_to_hand_over() {
        let on = InjectorDefaults {
            cache_handoff: true,
            ..settings()
        };
        let spec = |pairs: &[(&str, &str)], d: &InjectorDefaults| {
            let mut all = vec![
                ("vault.hashicorp.com/agent-inject", "true"),
                ("vault.hashicorp.com/role", "r"),
            ];
            all.extend_from_slice(pairs);
            AgentSpec::build(&Annotations::from_pairs(all), &pod(), "default", d).unwrap()
        };
        let secret = (
            "vault.hashicorp.com/agent-inject-secret-db",
            "database/creds/r",
        );
        assert!(
            !spec(&[secret], &settings()).persist_cache(),
            "off by default"
        );
        let s = spec(&[secret], &on);
        assert!(s.cache_handoff && s.persist_cache() && !s.cache_enable);
        // The pod's own agent-cache-enable decides, either way.
        let s = spec(&[secret, ("openbao.org/agent-cache-enable", "false")], &on);
        assert!(!s.cache_handoff && !s.persist_cache());
        let s = spec(
            &[secret, ("vault.hashicorp.com/agent-cache-enable", "true")],
            &on,
        );
        assert!(!s.cache_handoff && s.cache_enable && s.persist_cache());
        // Nothing to hand over, or a config of the pod's own.
        assert!(!spec(&[], &on).persist_cache());
        let own = ("vault.hashicorp.com/agent-configmap", "my-config");
        assert!(!spec(&[secret, own], &on).persist_cache());
        // One agent, or no sidecar.
        for mode in [
            ("vault.hashicorp.com/agent-native-sidecar", "true"),
            ("vault.hashicorp.com/agent-pre-populate-only", "true"),
            ("vault.hashicorp.com/agent-pre-populate", "false"),
        ] {
            assert!(!spec(&[secret, mode], &on).persist_cache(), "{mode:?}");
        }
    }

    #[test]
    fn openbao_prefix_means_the_same_and_both_is_an_error() {
        let s = build(&[
            ("openbao.org/agent-inject", "true"),
            ("openbao.org/role", "r"),
        ])
        .unwrap();
        assert_eq!(s.role, "r");
        let e = build(&[
            ("openbao.org/agent-inject", "true"),
            ("vault.hashicorp.com/role", "r"),
            ("openbao.org/role", "r2"),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("vault.hashicorp.com/role and openbao.org/role are both set"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_key_and_value() {
        let e = build(&[
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-run-as-user", "root"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "error creating new agent sidecar: annotation vault.hashicorp.com/agent-run-as-user: \"root\" is not an integer"
        );
        let e = build(&[
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-revoke-grace", "5s"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("agent-revoke-grace: \"5s\""), "{e}");
        let e = build(&[
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/auth-min-backoff", "x"),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("error adding default annotations: error parsing min backoff"),
            "{e}"
        );
    }

    #[test]
    fn validation_messages() {
        let e = build(&[("vault.hashicorp.com/agent-inject", "true")]).unwrap_err();
        // Upstream's text, then the annotation (issue 16).
        assert_eq!(
            e.to_string(),
            "error validating agent configuration: no Vault role found (annotation vault.hashicorp.com/role is not set)"
        );
        let e = build(&[
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-image", ""),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "error validating agent configuration: no Vault image found (annotation vault.hashicorp.com/agent-image: \"\")"
        );
    }

    /// Issue 16, failure 3: every refusal an annotation causes names its key, with the prefix the
    /// pod used, and its value, after upstream's text.
    #[test]
    fn every_refusal_names_its_annotation() {
        let refusal = |pairs: &[(&str, &str)], pod: PodFacts| {
            let a = Annotations::from_pairs(pairs.iter().copied());
            AgentSpec::build(&a, &pod, "default", &settings())
                .unwrap_err()
                .to_string()
        };
        let cases: [(&[(&str, &str)], &str); 9] = [
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/agent-inject-default-template", "XML"),
                ],
                "error creating new agent sidecar: invalid default template type: xml (annotation vault.hashicorp.com/agent-inject-default-template: \"XML\")",
            ),
            (
                &[
                    ("openbao.org/role", "r"),
                    ("openbao.org/agent-inject-default-template", "xml"),
                ],
                "error creating new agent sidecar: invalid default template type: xml (annotation openbao.org/agent-inject-default-template: \"xml\")",
            ),
            (
                &[("openbao.org/role", "")],
                "error validating agent configuration: no Vault role found (annotation openbao.org/role: \"\")",
            ),
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/auth-type", ""),
                ],
                "error validating agent configuration: no Vault Auth Type found (annotation vault.hashicorp.com/auth-type: \"\")",
            ),
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/auth-path", ""),
                ],
                "error validating agent configuration: no Vault Auth Path found (annotation vault.hashicorp.com/auth-path: \"\")",
            ),
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/service", ""),
                ],
                "error validating agent configuration: no Vault address found (annotation vault.hashicorp.com/service: \"\")",
            ),
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/agent-run-as-same-user", "true"),
                ],
                "error creating new agent sidecar: No SecurityContext found for Container 0 (annotation vault.hashicorp.com/agent-run-as-same-user: \"true\")",
            ),
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    (
                        "vault.hashicorp.com/agent-service-account-token-volume-name",
                        "tok",
                    ),
                ],
                "error creating new agent sidecar: failed to find service account volume \"tok\" (annotation vault.hashicorp.com/agent-service-account-token-volume-name: \"tok\")",
            ),
            (
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/agent-json-patch", "{"),
                ],
                "error adding default annotations: error parsing JSON patch for annotation vault.hashicorp.com/agent-json-patch: EOF while parsing an object at line 1 column 1 (annotation vault.hashicorp.com/agent-json-patch: \"{\")",
            ),
        ];
        for (pairs, want) in cases {
            assert_eq!(refusal(pairs, pod()), want);
        }

        let root = |uid| {
            let mut p = pod();
            p.containers[0].run_as_user = Some(uid);
            p
        };
        let same = [
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-run-as-same-user", "true"),
        ];
        assert_eq!(
            refusal(&same, root(Some(0))),
            "error creating new agent sidecar: container not allowed to run as root (annotation vault.hashicorp.com/agent-run-as-same-user: \"true\")"
        );
        assert_eq!(
            refusal(&same, root(None)),
            "error creating new agent sidecar: RunAsUser is nil for Container 0's SecurityContext (annotation vault.hashicorp.com/agent-run-as-same-user: \"true\")"
        );
        let mut empty = pod();
        empty.containers.clear();
        assert!(refusal(&same, empty).starts_with("error creating new agent sidecar: "));

        let mut no_share = pod();
        no_share.share_process_namespace = Some(false);
        assert_eq!(
            refusal(
                &[
                    ("vault.hashicorp.com/role", "r"),
                    ("vault.hashicorp.com/agent-share-process-namespace", "True")
                ],
                no_share
            ),
            "error creating new agent sidecar: shareProcessNamespace explicitly disabled on the pod, refusing to enable it (annotation vault.hashicorp.com/agent-share-process-namespace: \"True\")"
        );
        let mut no_mount = pod();
        no_mount.containers[0].mounts.clear();
        assert_eq!(
            refusal(&[("vault.hashicorp.com/role", "r")], no_mount),
            "error creating new agent sidecar: failed to find service account volume mount (annotation vault.hashicorp.com/agent-service-account-token-volume-name: \"\")"
        );
        let mut not_projected = pod();
        not_projected.volumes.push(VolumeFacts {
            name: "tok".into(),
            sa_token_path: None,
        });
        assert_eq!(
            refusal(
                &[
                    ("vault.hashicorp.com/role", "r"),
                    (
                        "vault.hashicorp.com/agent-service-account-token-volume-name",
                        "tok"
                    )
                ],
                not_projected
            ),
            "error creating new agent sidecar: failed to find tokenPath for projected volume \"tok\" (annotation vault.hashicorp.com/agent-service-account-token-volume-name: \"tok\")"
        );
        // The bad-value refusals already named key and value (bad_value).
        let e = refusal(
            &[
                ("openbao.org/role", "r"),
                ("openbao.org/agent-revoke-grace", "soon"),
            ],
            pod(),
        );
        assert!(
            e.contains("annotation openbao.org/agent-revoke-grace: \"soon\""),
            "{e}"
        );
        // A long value is cut, with its length.
        let long = format!("[{}", " ".repeat(300));
        let e = refusal(
            &[
                ("vault.hashicorp.com/role", "r"),
                ("vault.hashicorp.com/agent-json-patch", &long),
            ],
            pod(),
        );
        assert!(e.ends_with("… (301 bytes))"), "{e}");
    }

    #[test]
    fn secret_discovery_rules() {
        let a = Annotations::from_pairs([
            ("vault.hashicorp.com/agent-inject-secret-Foo", "secret/foo"),
            ("vault.hashicorp.com/agent-inject-template-Foo", "tpl"),
            (
                "vault.hashicorp.com/agent-inject-template-file-bar",
                "/t/bar",
            ),
            ("vault.hashicorp.com/agent-inject-template-file", "x"),
            ("vault.hashicorp.com/agent-inject-secret-blank", "  "),
            ("vault.hashicorp.com/secret-volume-path", "/vault/secrets"),
            ("vault.hashicorp.com/secret-volume-path-bar", "/etc/bar"),
            ("vault.hashicorp.com/preserve-secret-case-bar", "nope"),
        ]);
        let s = discover_secrets(&a).unwrap();
        let names: Vec<_> = s
            .iter()
            .map(|s| (s.raw_name.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![("Foo", "foo"), ("bar", "bar"), ("file", "file")]
        );
        assert_eq!(s[0].template, "tpl");
        assert_eq!(s[1].template_file, "/t/bar");
        assert_eq!(s[1].mount_path, "/etc/bar");
        assert_eq!(s[2].template, "x");
    }

    #[test]
    fn path_join_cleans() {
        assert_eq!(path_join("/a//b/", "token"), "/a/b/token");
        assert_eq!(
            path_join("/vault/secrets", "/special/foofile"),
            "/vault/secrets/special/foofile"
        );
        assert_eq!(path_join("/vault/secrets", "../x"), "/vault/x");
    }
}
