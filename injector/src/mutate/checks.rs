//! Checks at admission (extension, injector.md §2.6): mistakes in a pod's annotations answered when
//! the pod is created instead of in a crash-looping agent container. Refused: a template the agent
//! could not parse (syntax, unknown function), an auth type the injected agent cannot log in with,
//! a command that needs a shell for our shell-less image, a bad `agent-inject-signal-<name>`,
//! `agent-inject-env-<name>` that cannot be honoured (upstream agent, ConfigMap config, a chosen
//! container that is missing or sets no `command`, a template that does not parse).
//! Warned about (the pod is admitted): keys under the prefixes that no annotation has, values our
//! agent accepts without effect. Pure (no I/O); each template is parsed at most once per review,
//! and a template that parsed is remembered ([`PARSED`]), so the pods of one workload, which carry
//! the same templates, are not parsed again at each admission.

use vaultlet_shared::annotations::known::{is_known, nearest_known, no_effect_with_vaultlet};
use vaultlet_shared::annotations::{AgentFlavor, AgentSpec, Annotations};
use vaultlet_shared::config::CommandSpec;
use vaultlet_shared::signal::{SignalError, parse_signal_target};
use vaultlet_template::{
    AGENT_TEMPLATE_NAME, CallEnv, Func, Options, Template, TemplateError, Value,
};

use super::agent_config::{template_contents, template_delimiters};
use super::pod::Container;

/// Templates that parsed, by everything their parse depends on (the flavor's function set, the
/// delimiters, the text): the parse was about a tenth of a review's CPU, and a Deployment's pods
/// repeat the same templates (injector.md §2.6). Only successes are kept (a refusal is
/// parsed again, to word its error); bounded by [`PARSED_CACHE_BYTES`] of keys, then emptied.
static PARSED: std::sync::Mutex<Option<ParsedCache>> = std::sync::Mutex::new(None);

/// The most key bytes [`PARSED`] holds before it starts over.
const PARSED_CACHE_BYTES: usize = 4 << 20;

#[derive(Default)]
struct ParsedCache {
    keys: std::collections::HashSet<String>,
    bytes: usize,
}

fn parsed_key(upstream: bool, left: &str, right: &str, text: &str) -> String {
    use std::fmt::Write as _;
    // Length-prefixed, so no two (left, right, text) give one key.
    let mut k = String::with_capacity(left.len() + right.len() + text.len() + 24);
    k.push(if upstream { 'u' } else { 'v' });
    for part in [left, right] {
        let _ = write!(k, "{}:", part.len());
        k.push_str(part);
    }
    k.push_str(text);
    k
}

fn parsed_before(key: &str) -> bool {
    let cache = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cache.as_ref().is_some_and(|c| c.keys.contains(key))
}

fn remember_parsed(key: String) {
    let mut cache = PARSED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let c = cache.get_or_insert_with(ParsedCache::default);
    if c.bytes + key.len() > PARSED_CACHE_BYTES {
        c.keys.clear();
        c.bytes = 0;
    }
    c.bytes += key.len();
    c.keys.insert(key);
}

/// Most warnings one answer carries: Kubernetes may drop some of a large number. When there are
/// more, the last one says how many were left out.
pub const MAX_WARNINGS: usize = 8;

/// The length warnings aim at: Kubernetes advises 120 characters and may truncate past 256.
pub const WARNING_LEN: usize = 120;

/// A mistake that refuses the pod; `Display` names the annotation key with its prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// A template the agent would fail to parse: the Go-style error (`template: :1: …`).
    #[error("annotation {key}{delimiters}: {error}")]
    Template {
        key: String,
        /// ` (delimiters [[ ]])` when the secret has custom delimiters, else empty.
        delimiters: String,
        error: String,
    },
    /// An auth type the injected agent has no method for.
    #[error(
        "annotation {key}: {value:?} is not an auth method the {agent} agent supports{from_flag}; supported: {supported}"
    )]
    AuthType {
        key: String,
        value: String,
        agent: &'static str,
        /// Says so when the value is the injector's `-vault-auth-type` default.
        from_flag: &'static str,
        supported: String,
    },
    /// A native sidecar asked of an upstream agent, which cannot answer its startup probe
    /// (injector.md §4.10).
    #[error(
        "annotation {key}: a native sidecar needs the vaultlet agent, which answers its startup probe; the {agent} agent cannot (set it to false or use the vaultlet agent flavor)"
    )]
    NativeSidecar { key: String, agent: &'static str },
    /// A command the agent would hand to `sh -c`, for the vaultlet image, which has no shell.
    #[error(
        "annotation {key}: {value:?} needs a shell (a command with spaces runs under sh -c) and the vaultlet agent image has none; use the argv form (commas, e.g. \"/usr/sbin/nginx,-s,reload\") or, to signal the app, {signal_key}: \"HUP <process>\""
    )]
    ShellCommand {
        key: String,
        value: String,
        signal_key: String,
    },
    /// An `agent-inject-signal-<name>` value that is not `<SIGNAL> <process>`.
    #[error("annotation {key}: {}", signal_why(.value, .error))]
    Signal {
        key: String,
        value: String,
        error: SignalError,
    },
    /// `agent-inject-signal-<name>` with an upstream agent, whose image has no `signal` command.
    #[error(
        "annotation {key}: the {agent} agent has no signal command (a vaultlet extension); use {command_key} with a shell command such as \"kill -HUP $(pidof nginx)\""
    )]
    SignalUpstream {
        key: String,
        agent: &'static str,
        command_key: String,
    },
    /// Both a command and a signal for one secret.
    #[error(
        "annotations {command_key} and {key} are both set; a secret has one command, use only one"
    )]
    SignalAndCommand { key: String, command_key: String },
    /// A signal for a pod whose processes the agent cannot see.
    #[error(
        "annotation {key}: the pod sets shareProcessNamespace: false, so the agent cannot see the app's processes to signal them"
    )]
    SignalNoSharedPid { key: String },
    /// `agent-inject-env-<name>` with an upstream agent (extension, injector.md §4.11).
    #[error(
        "annotation {key}: environment variables from templates are a vaultlet extension and the {agent} agent cannot wrap the app to set them; render a file with agent-inject-secret-<name> instead, or use the vaultlet agent flavor"
    )]
    EnvUpstream { key: String, agent: &'static str },
    /// `agent-inject-env-<name>` with the agent config in a ConfigMap.
    #[error(
        "annotation {key}: environment variables need the agent config the injector generates, and {configmap_key} replaces it; remove one of them"
    )]
    EnvConfigMap { key: String, configmap_key: String },
    /// `agent-inject-env-containers` names no app container (or nothing).
    #[error("annotation {key}: {}", env_container_why(.container))]
    EnvNoContainer { key: String, container: String },
    /// A chosen container without `command`: its image's entrypoint is unknown at admission.
    #[error(
        "annotation {key}: container {container:?} sets no command, and the injector cannot know its image's entrypoint without a registry; set the container's command (and args) to what the image runs, e.g. command: [\"/app/server\"] (docker inspect shows the image's Entrypoint and Cmd), or leave the container out with agent-inject-env-containers"
    )]
    EnvNoCommand { key: String, container: String },
}

/// What is wrong with an `agent-inject-env-containers` entry.
fn env_container_why(container: &str) -> String {
    if container.is_empty() {
        "names no container for the environment variables".to_owned()
    } else {
        format!("no app container is named {container:?}")
    }
}

/// The value, then what is wrong with it (the shape error already quotes the value).
fn signal_why(value: &str, error: &SignalError) -> String {
    match error {
        SignalError::Shape(_) => error.to_string(),
        SignalError::Unknown(_) => format!("{value:?}: {error}"),
    }
}

impl CheckError {
    /// The metrics and log label of the refusal.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Template { .. } => "template",
            Self::AuthType { .. } => "auth_type",
            Self::NativeSidecar { .. } => "native_sidecar",
            Self::ShellCommand { .. } => "command",
            Self::Signal { .. }
            | Self::SignalUpstream { .. }
            | Self::SignalAndCommand { .. }
            | Self::SignalNoSharedPid { .. } => "signal",
            Self::EnvUpstream { .. }
            | Self::EnvConfigMap { .. }
            | Self::EnvNoContainer { .. }
            | Self::EnvNoCommand { .. } => "env",
        }
    }
}

/// What a warning is about (a bounded metrics and log label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// A key under the prefixes that no annotation has.
    UnknownKey,
    /// A value our agent accepts without effect.
    NoEffect,
}

impl WarningKind {
    /// The metrics and log label.
    pub fn label(self) -> &'static str {
        match self {
            Self::UnknownKey => "unknown_key",
            Self::NoEffect => "no_effect",
        }
    }
}

/// One warning of an admitted (or refused) pod; `text` goes into `response.warnings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub text: String,
}

/// The warnings an answer carries: at most [`MAX_WARNINGS`] of them, the last of those replaced
/// by a count of the ones left out when there are more.
pub fn shown(warnings: &[Warning]) -> (&[Warning], Option<String>) {
    if warnings.len() <= MAX_WARNINGS {
        return (warnings, None);
    }
    let kept = MAX_WARNINGS - 1;
    let more = warnings.len() - kept;
    (
        &warnings[..kept],
        Some(format!("{more} more annotation warnings not shown")),
    )
}

/// A warning for every key under the prefixes that is not an annotation, naming the nearest known
/// key when one is close: `unknown annotation vault.hashicorp.com/agent-inject-secrets-db; did you
/// mean vault.hashicorp.com/agent-inject-secret-db?`.
pub fn unknown_keys(pod: &Annotations, out: &mut Vec<Warning>) {
    for (prefix, name, _) in pod.iter_prefixed() {
        if is_known(name) {
            continue;
        }
        let text = match nearest_known(name) {
            None => format!("unknown annotation {prefix}{name}"),
            Some(near) => {
                let long =
                    format!("unknown annotation {prefix}{name}; did you mean {prefix}{near}?");
                if long.len() <= WARNING_LEN {
                    long
                } else {
                    format!("unknown annotation {prefix}{name}; did you mean {near}?")
                }
            }
        };
        out.push(Warning {
            kind: WarningKind::UnknownKey,
            text,
        });
    }
}

/// A warning for every value the pod sets that the injected agent accepts without effect
/// (docs/differences.md); only our agent has such values.
pub fn no_effect(pod: &Annotations, flavor: AgentFlavor, out: &mut Vec<Warning>) {
    if flavor != AgentFlavor::Vaultlet {
        return;
    }
    for (prefix, name, value) in pod.iter_prefixed() {
        if let Some(why) = no_effect_with_vaultlet(name, value) {
            out.push(Warning {
                kind: WarningKind::NoEffect,
                text: format!("{prefix}{name} has no effect: {why}"),
            });
        }
    }
}

/// Native sidecar mode (injector.md §4.10): `agent-pre-populate: "false"` has no effect there
/// (the one agent always renders before the app starts).
pub fn native_sidecar(spec: &AgentSpec, pod: &Annotations, out: &mut Vec<Warning>) {
    if spec.native() && !spec.pre_populate {
        out.push(Warning {
            kind: WarningKind::NoEffect,
            text: format!(
                "{}agent-pre-populate has no effect: a native sidecar renders before the app starts",
                pod.prefix_of("agent-pre-populate")
            ),
        });
    }
}

/// The functions a template may name for an upstream agent: ours (consul-template's), and any
/// other `sprig_*` name except the non-hermetic ones upstream leaves out too (docs/differences.md):
/// upstream has every hermetic Sprig function, our engine a subset, and a template only upstream
/// can run must not be refused for it.
fn upstream_lookup(name: &str) -> Option<Func> {
    if let Some(f) = vaultlet_template::exec::default_lookup(name) {
        return Some(f);
    }
    let sprig = name.strip_prefix("sprig_")?;
    let non_hermetic = sprig == "now"
        || sprig.starts_with("date")
        || sprig.starts_with("rand")
        || matches!(sprig, "uuidv4" | "env" | "expandenv" | "getHostByName");
    (!non_hermetic).then_some(unchecked as Func)
}

/// Stands for a function only the upstream agent has; never called (templates are only parsed).
fn unchecked(_: &mut CallEnv<'_>, _: &[Value]) -> Result<Value, String> {
    Err("not available in vaultlet".into())
}

/// The refusing checks, on a pod whose spec is valid: the auth type, then every template the agent
/// will parse, in secret order. Nothing to check when no agent container is injected or the agent
/// reads its config from a ConfigMap.
pub fn refusals(
    spec: &AgentSpec,
    pod: &Annotations,
    flavor: AgentFlavor,
) -> Result<(), CheckError> {
    if spec.native() && flavor != AgentFlavor::Vaultlet {
        return Err(CheckError::NativeSidecar {
            key: format!(
                "{}agent-native-sidecar",
                pod.prefix_of("agent-native-sidecar")
            ),
            agent: flavor.agent_name(),
        });
    }
    let no_agent = !spec.pre_populate && spec.pre_populate_only;
    if no_agent || !spec.configmap.is_empty() {
        return Ok(());
    }
    auth_type(spec, pod, flavor)?;
    templates(spec, pod, flavor)
}

/// Whether the sidecar signals the app for some secret (`agent-inject-signal-<name>`, extension,
/// injector.md §1.4): the patch then turns on `shareProcessNamespace`.
pub fn signals_app(spec: &AgentSpec) -> bool {
    !spec.pre_populate_only
        && spec.configmap.is_empty()
        && spec.secrets.iter().any(|s| !s.signal.is_empty())
}

/// The commands after a change (extension, injector.md §1.4, agent.md §5.9), in secret order:
/// `agent-inject-signal-<name>` must be `<SIGNAL> <process>`, alone (no command for the same
/// secret), for the vaultlet agent, in a pod that does not turn the shared PID namespace off; and
/// with the vaultlet agent an `agent-inject-command-<name>` must not need a shell (the rule the
/// agent uses: one command with whitespace runs under `sh -c`, `CommandSpec::needs_shell`). Same
/// exemptions as [`refusals`]. `pod_share_pid` is the pod's own `shareProcessNamespace`.
pub fn commands(
    spec: &AgentSpec,
    pod: &Annotations,
    flavor: AgentFlavor,
    pod_share_pid: Option<bool>,
) -> Result<(), CheckError> {
    let no_agent = !spec.pre_populate && spec.pre_populate_only;
    if no_agent || !spec.configmap.is_empty() {
        return Ok(());
    }
    for s in &spec.secrets {
        let name = |family: &str| {
            let n = format!("{family}{}", s.raw_name);
            format!("{}{n}", pod.prefix_of(&n))
        };
        let (command_key, signal_key) =
            (name("agent-inject-command-"), name("agent-inject-signal-"));
        if !s.signal.is_empty() {
            if !s.command.is_empty() {
                return Err(CheckError::SignalAndCommand {
                    key: signal_key,
                    command_key,
                });
            }
            if flavor != AgentFlavor::Vaultlet {
                return Err(CheckError::SignalUpstream {
                    key: signal_key,
                    agent: flavor.agent_name(),
                    command_key,
                });
            }
            if let Err(error) = parse_signal_target(&s.signal) {
                return Err(CheckError::Signal {
                    key: signal_key,
                    value: s.signal.clone(),
                    error,
                });
            }
            if pod_share_pid == Some(false) && !spec.pre_populate_only {
                return Err(CheckError::SignalNoSharedPid { key: signal_key });
            }
        }
        if flavor == AgentFlavor::Vaultlet && CommandSpec::Shell(s.command.clone()).needs_shell() {
            return Err(CheckError::ShellCommand {
                key: command_key,
                value: s.command.clone(),
                signal_key,
            });
        }
    }
    Ok(())
}

/// `agent-inject-env-<name>` (extension, injector.md §4.11), when the pod has such variables: the
/// vaultlet agent, the generated config, every chosen container present among `containers` and
/// setting `command`, every template parsed as the agent parses it. The first variable's key is
/// the one named when the whole feature is refused.
pub fn env_vars(
    spec: &AgentSpec,
    pod: &Annotations,
    flavor: AgentFlavor,
    containers: &[Container],
) -> Result<(), CheckError> {
    let Some(first) = spec.env.first() else {
        return Ok(());
    };
    let key = |name: &str| format!("{}{name}", pod.prefix_of(name));
    let first_key = key(&format!("agent-inject-env-{}", first.name));
    if flavor != AgentFlavor::Vaultlet {
        return Err(CheckError::EnvUpstream {
            key: first_key,
            agent: flavor.agent_name(),
        });
    }
    if !spec.configmap.is_empty() {
        return Err(CheckError::EnvConfigMap {
            key: first_key,
            configmap_key: key("agent-configmap"),
        });
    }
    let containers_key = if pod.get("agent-inject-env-containers").is_some() {
        key("agent-inject-env-containers")
    } else {
        first_key
    };
    if spec.env_containers.is_empty() {
        return Err(CheckError::EnvNoContainer {
            key: containers_key,
            container: String::new(),
        });
    }
    for name in &spec.env_containers {
        let Some(c) = containers.iter().find(|c| &c.name == name) else {
            return Err(CheckError::EnvNoContainer {
                key: containers_key,
                container: name.clone(),
            });
        };
        if c.command.as_ref().is_none_or(Vec::is_empty) {
            return Err(CheckError::EnvNoCommand {
                key: containers_key,
                container: name.clone(),
            });
        }
    }
    for v in &spec.env {
        let opts = Options::with_delimiters(None, None);
        if let Err(e) = Template::parse(AGENT_TEMPLATE_NAME, &v.template, opts) {
            return Err(CheckError::Template {
                key: key(&format!("agent-inject-env-{}", v.name)),
                delimiters: String::new(),
                error: match e {
                    TemplateError::Parse(m) | TemplateError::Execute(m) => m,
                },
            });
        }
    }
    Ok(())
}

/// The auth type against the list of what the flavor's agent can log in with.
pub fn auth_type(
    spec: &AgentSpec,
    pod: &Annotations,
    flavor: AgentFlavor,
) -> Result<(), CheckError> {
    let supported = flavor.auth_types();
    if supported.contains(&spec.auth_type.as_str()) {
        return Ok(());
    }
    Err(CheckError::AuthType {
        key: format!("{}auth-type", pod.prefix_of("auth-type")),
        value: spec.auth_type.clone(),
        agent: flavor.agent_name(),
        from_flag: if pod.get("auth-type").is_none() {
            " (the injector's -vault-auth-type default)"
        } else {
            ""
        },
        supported: supported.join(", "),
    })
}

/// Every template with contents (inline or default; a template file lives in the agent container
/// and cannot be read here) parsed as the agent parses it: same name, same delimiters, same
/// functions (for an upstream agent, see [`upstream_lookup`]).
pub fn templates(
    spec: &AgentSpec,
    pod: &Annotations,
    flavor: AgentFlavor,
) -> Result<(), CheckError> {
    for s in &spec.secrets {
        let Some(text) = template_contents(spec, s) else {
            continue;
        };
        let (left, right) = template_delimiters(s);
        let upstream = !matches!(flavor, AgentFlavor::Vaultlet);
        let cache_key = parsed_key(upstream, left, right, &text);
        if parsed_before(&cache_key) {
            continue;
        }
        let opts = Options::with_delimiters(Some(left), Some(right));
        let parsed = if upstream {
            Template::parse_with(AGENT_TEMPLATE_NAME, &text, opts, &upstream_lookup)
        } else {
            Template::parse(AGENT_TEMPLATE_NAME, &text, opts)
        };
        let Err(e) = parsed else {
            remember_parsed(cache_key);
            continue;
        };
        // The default template holds the secret's path: that is the value to fix.
        let family = if s.template.is_empty() {
            "agent-inject-secret-"
        } else {
            "agent-inject-template-"
        };
        let name = format!("{family}{}", s.raw_name);
        let custom = !s.left_delim.is_empty() || !s.right_delim.is_empty();
        return Err(CheckError::Template {
            key: format!("{}{name}", pod.prefix_of(&name)),
            delimiters: if custom {
                format!(" (delimiters {left} {right})")
            } else {
                String::new()
            },
            error: match e {
                TemplateError::Parse(m) | TemplateError::Execute(m) => m,
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaultlet_shared::annotations::{ContainerFacts, InjectorDefaults, PodFacts};

    fn annotations(pairs: &[(&str, &str)]) -> Annotations {
        Annotations::from_pairs(pairs.iter().copied())
    }

    fn spec_of(a: &Annotations, flavor: AgentFlavor) -> AgentSpec {
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
        let settings = InjectorDefaults {
            vault_address: "https://vault:8200".into(),
            ..InjectorDefaults::for_flavor(flavor)
        };
        AgentSpec::build(a, &pod, "ns", &settings).expect("valid spec")
    }

    fn refusal(pairs: &[(&str, &str)], flavor: AgentFlavor) -> Option<CheckError> {
        let mut all = vec![("vault.hashicorp.com/role", "r")];
        all.extend_from_slice(pairs);
        let a = annotations(&all);
        refusals(&spec_of(&a, flavor), &a, flavor).err()
    }

    #[test]
    fn a_broken_template_is_refused_with_the_key_and_go_position() {
        let e = refusal(
            &[
                ("vault.hashicorp.com/agent-inject-secret-db", "kv/db"),
                (
                    "vault.hashicorp.com/agent-inject-template-db",
                    "{{ with secret \"kv/db\" }}{{ .Data.data.pw }{{ end }}",
                ),
            ],
            AgentFlavor::Vaultlet,
        )
        .expect("refused");
        assert_eq!(e.reason(), "template");
        let m = e.to_string();
        assert!(
            m.starts_with("annotation vault.hashicorp.com/agent-inject-template-db: template: :1:"),
            "{m}"
        );
        // An unknown function, under the openbao.org/ prefix the pod used.
        let e = refusal(
            &[(
                "openbao.org/agent-inject-template-x",
                "{{ secrt \"kv/x\" }}",
            )],
            AgentFlavor::Vaultlet,
        )
        .unwrap();
        assert_eq!(
            e.to_string(),
            "annotation openbao.org/agent-inject-template-x: template: :1: function \"secrt\" not defined"
        );
        // The upstream flavors parse with the same functions, and every hermetic Sprig function
        // (upstream has all of them, our engine a subset).
        fn t(v: &str) -> [(&str, &str); 1] {
            [("vault.hashicorp.com/agent-inject-template-x", v)]
        }
        assert!(refusal(&t("{{ secrt }}"), AgentFlavor::Vault).is_some());
        // (`genPrivateKey` is random, so vaultlet leaves it out on purpose.)
        let semver = t("{{ sprig_genPrivateKey \"ecdsa\" }}");
        assert!(refusal(&semver, AgentFlavor::Vaultlet).is_some());
        assert_eq!(refusal(&semver, AgentFlavor::Vault), None);
        assert_eq!(refusal(&semver, AgentFlavor::Openbao), None);
        for f in [
            "sprig_now",
            "sprig_date",
            "sprig_randAlpha",
            "sprig_env",
            "sprig_uuidv4",
        ] {
            let e = refusal(&t(&format!("{{{{ {f} }}}}")), AgentFlavor::Vault);
            assert!(e.is_some(), "{f}");
        }
        // Sprig's deterministic crypto helpers are ours too.
        for f in ["sprig_derivePassword", "sprig_buildCustomCert"] {
            let e = refusal(&t(&format!("{{{{ {f} }}}}")), AgentFlavor::Vaultlet);
            assert_eq!(e, None, "{f}");
        }
        // A syntax error is one for every agent.
        assert!(refusal(&t("{{ sprig_semver }"), AgentFlavor::Vault).is_some());
    }

    #[test]
    fn a_remembered_parse_is_kept_apart_by_flavor_and_delimiters() {
        // Parsed (and remembered) for an upstream agent, which may have any Sprig function: our
        // agent still refuses the same text.
        let t = [(
            "vault.hashicorp.com/agent-inject-template-a",
            "{{ sprig_noSuchFunctionHere 1 }}",
        )];
        for _ in 0..2 {
            assert_eq!(refusal(&t, AgentFlavor::Vault), None);
            assert!(refusal(&t, AgentFlavor::Vaultlet).is_some());
        }
        // Text under the default delimiters, an unclosed action under `[[ ]]`.
        let plain = [("vault.hashicorp.com/agent-inject-template-b", "[[ .Data x")];
        let custom = [
            plain[0],
            ("vault.hashicorp.com/agent-template-left-delim-b", "[["),
            ("vault.hashicorp.com/agent-template-right-delim-b", "]]"),
        ];
        for _ in 0..2 {
            assert_eq!(refusal(&plain, AgentFlavor::Vaultlet), None);
            assert!(refusal(&custom, AgentFlavor::Vaultlet).is_some());
        }
        // No two (delimiters, text) share a key.
        assert_ne!(
            parsed_key(false, "a", "bc", "d"),
            parsed_key(false, "ab", "c", "d")
        );
    }

    #[test]
    fn templates_parse_with_their_delimiters_and_the_default_template_with_its_path() {
        // Custom delimiters: `{{` is text, `[[ … ]]` must parse.
        let ok = [
            (
                "vault.hashicorp.com/agent-inject-template-a",
                "{{ [[ .Data ]]",
            ),
            ("vault.hashicorp.com/agent-template-left-delim-a", "[["),
            ("vault.hashicorp.com/agent-template-right-delim-a", "]]"),
        ];
        assert_eq!(refusal(&ok, AgentFlavor::Vaultlet), None);
        let bad = [
            ("vault.hashicorp.com/agent-inject-template-a", "[[ .Data "),
            ("vault.hashicorp.com/agent-template-left-delim-a", "[["),
            ("vault.hashicorp.com/agent-template-right-delim-a", "]]"),
        ];
        let m = refusal(&bad, AgentFlavor::Vaultlet).unwrap().to_string();
        assert!(
            m.starts_with(
                "annotation vault.hashicorp.com/agent-inject-template-a (delimiters [[ ]]): template: :1:"
            ),
            "{m}"
        );
        // The default templates (map and json) with a sane path parse; a quote in the path breaks
        // the default template, and the key to fix is the secret's.
        for kind in ["map", "json"] {
            let t = ("vault.hashicorp.com/agent-inject-default-template", kind);
            let good = [
                ("vault.hashicorp.com/agent-inject-secret-db", "kv/data/db"),
                t,
            ];
            assert_eq!(refusal(&good, AgentFlavor::Vaultlet), None, "{kind}");
            let quoted = [("vault.hashicorp.com/agent-inject-secret-db", "kv/\"db"), t];
            let m = refusal(&quoted, AgentFlavor::Vaultlet).unwrap().to_string();
            assert!(
                m.starts_with(
                    "annotation vault.hashicorp.com/agent-inject-secret-db: template: :1:"
                ),
                "{kind}: {m}"
            );
        }
        // A template file lives in the agent container: not checked.
        let file = [
            ("vault.hashicorp.com/agent-inject-secret-f", "kv/\"f"),
            (
                "vault.hashicorp.com/agent-inject-template-file-f",
                "/etc/t/f.tpl",
            ),
        ];
        assert_eq!(refusal(&file, AgentFlavor::Vaultlet), None);
        // Config-map mode: the annotations' templates are not rendered.
        let cm = [
            ("vault.hashicorp.com/agent-inject-template-x", "{{"),
            ("vault.hashicorp.com/agent-configmap", "cm"),
        ];
        assert_eq!(refusal(&cm, AgentFlavor::Vaultlet), None);
        // No agent container at all: nothing renders.
        let none = [
            ("vault.hashicorp.com/agent-inject-template-x", "{{"),
            ("vault.hashicorp.com/agent-pre-populate", "false"),
            ("vault.hashicorp.com/agent-pre-populate-only", "true"),
        ];
        assert_eq!(refusal(&none, AgentFlavor::Vaultlet), None);
    }

    #[test]
    fn auth_types_follow_the_flavor() {
        let gcp = [("vault.hashicorp.com/auth-type", "gcp")];
        let e = refusal(&gcp, AgentFlavor::Vaultlet).unwrap();
        assert_eq!(e.reason(), "auth_type");
        assert_eq!(
            e.to_string(),
            "annotation vault.hashicorp.com/auth-type: \"gcp\" is not an auth method the vaultlet agent supports; supported: approle, jwt, kubernetes, token_file"
        );
        assert_eq!(refusal(&gcp, AgentFlavor::Vault), None);
        let m = refusal(&gcp, AgentFlavor::Openbao).unwrap().to_string();
        assert!(
            m.ends_with("the OpenBao agent supports; supported: approle, cert, jwt, kerberos, kubernetes, token_file"),
            "{m}"
        );
        for ok in ["kubernetes", "jwt", "approle", "token_file"] {
            let a = [("vault.hashicorp.com/auth-type", ok)];
            assert_eq!(refusal(&a, AgentFlavor::Vaultlet), None, "{ok}");
        }
        // The injector's own default is named as such.
        let a = annotations(&[("vault.hashicorp.com/role", "r")]);
        let mut spec = spec_of(&a, AgentFlavor::Vaultlet);
        spec.auth_type = "aws".into();
        let m = auth_type(&spec, &a, AgentFlavor::Vaultlet)
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("\"aws\" is not an auth method the vaultlet agent supports (the injector's -vault-auth-type default); supported:"),
            "{m}"
        );
    }

    #[test]
    fn unknown_keys_get_a_warning_naming_the_nearest_key() {
        let a = annotations(&[
            ("vault.hashicorp.com/agent-inject", "true"),
            ("vault.hashicorp.com/agent-inject-secrets-db", "kv/db"),
            ("openbao.org/rol", "r"),
            ("vault.hashicorp.com/something-else-entirely", "x"),
            ("vault.hashicorp.com/agent-inject-secret-db", "kv/db"),
            ("example.com/agent-injet", "x"),
        ]);
        let mut w = Vec::new();
        unknown_keys(&a, &mut w);
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "unknown annotation vault.hashicorp.com/agent-inject-secrets-db; did you mean vault.hashicorp.com/agent-inject-secret-db?",
                "unknown annotation openbao.org/rol; did you mean openbao.org/role?",
                "unknown annotation vault.hashicorp.com/something-else-entirely",
            ]
        );
        assert!(w.iter().all(|w| w.kind == WarningKind::UnknownKey));
        assert!(texts.iter().all(|t| t.len() <= WARNING_LEN), "{texts:?}");
        // A long key: the suggestion drops the prefix to stay short.
        let long = format!(
            "vault.hashicorp.com/agent-inject-templates-{}",
            "n".repeat(30)
        );
        let a = annotations(&[(long.as_str(), "x")]);
        let mut w = Vec::new();
        unknown_keys(&a, &mut w);
        assert_eq!(
            w[0].text,
            format!(
                "unknown annotation {long}; did you mean agent-inject-template-{}?",
                "n".repeat(30)
            )
        );
    }

    #[test]
    fn values_without_effect_warn_with_our_agent_only() {
        let a = annotations(&[
            (
                "vault.hashicorp.com/agent-telemetry-statsd_address",
                "statsd:8125",
            ),
            (
                "vault.hashicorp.com/agent-disable-keep-alives",
                "templating",
            ),
            ("vault.hashicorp.com/agent-disable-idle-connections", ""),
            ("vault.hashicorp.com/role", "r"),
        ]);
        let mut w = Vec::new();
        no_effect(&a, AgentFlavor::Vaultlet, &mut w);
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "vault.hashicorp.com/agent-disable-keep-alives has no effect: the vaultlet agent does not apply it",
                "vault.hashicorp.com/agent-telemetry-statsd_address has no effect: the vaultlet agent sends no telemetry",
            ]
        );
        assert!(texts.iter().all(|t| t.len() <= WARNING_LEN), "{texts:?}");
        let mut w = Vec::new();
        no_effect(&a, AgentFlavor::Vault, &mut w);
        assert!(w.is_empty());
    }

    #[test]
    fn at_most_max_warnings_are_shown() {
        let w = |i: usize| Warning {
            kind: WarningKind::UnknownKey,
            text: format!("w{i}"),
        };
        let few: Vec<Warning> = (0..MAX_WARNINGS).map(w).collect();
        assert_eq!(shown(&few), (&few[..], None));
        let many: Vec<Warning> = (0..MAX_WARNINGS + 5).map(w).collect();
        let (list, more) = shown(&many);
        assert_eq!(list.len(), MAX_WARNINGS - 1);
        assert_eq!(
            more.as_deref(),
            Some("6 more annotation warnings not shown")
        );
    }

    fn command_refusal(
        pairs: &[(&str, &str)],
        flavor: AgentFlavor,
        pod_pid: Option<bool>,
    ) -> Option<CheckError> {
        let mut all = vec![
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-inject-secret-db", "kv/db"),
        ];
        all.extend_from_slice(pairs);
        let a = annotations(&all);
        commands(&spec_of(&a, flavor), &a, flavor, pod_pid).err()
    }

    #[test]
    fn shell_commands_and_signals_are_checked_where_they_would_run() {
        let shell = [("vault.hashicorp.com/agent-inject-command-db", "kill -HUP 1")];
        let e = command_refusal(&shell, AgentFlavor::Vaultlet, None).unwrap();
        assert_eq!(e.reason(), "command");
        // Upstream images have sh; argv commands need none.
        assert!(command_refusal(&shell, AgentFlavor::Vault, None).is_none());
        assert!(command_refusal(&shell, AgentFlavor::Openbao, None).is_none());
        let argv = [(
            "vault.hashicorp.com/agent-inject-command-db",
            "/usr/sbin/nginx,-s,reload",
        )];
        assert!(command_refusal(&argv, AgentFlavor::Vaultlet, None).is_none());
        // Config-map mode runs the ConfigMap's config, not the annotations'.
        let cm = [shell[0], ("vault.hashicorp.com/agent-configmap", "cm")];
        assert!(command_refusal(&cm, AgentFlavor::Vaultlet, None).is_none());

        let sig = [("vault.hashicorp.com/agent-inject-signal-db", "SIGUSR1 app")];
        assert!(command_refusal(&sig, AgentFlavor::Vaultlet, None).is_none());
        assert!(command_refusal(&sig, AgentFlavor::Vaultlet, Some(true)).is_none());
        let e = command_refusal(&sig, AgentFlavor::Vaultlet, Some(false)).unwrap();
        assert_eq!(e.reason(), "signal");
        let e = command_refusal(&sig, AgentFlavor::Vault, None).unwrap();
        assert!(
            e.to_string()
                .contains("the Vault agent has no signal command"),
            "{e}"
        );
        for bad in ["HUP", "nginx HUP", "HUP a b"] {
            let v = [("vault.hashicorp.com/agent-inject-signal-db", bad)];
            let e = command_refusal(&v, AgentFlavor::Vaultlet, None).unwrap();
            assert!(
                e.to_string()
                    .starts_with("annotation vault.hashicorp.com/agent-inject-signal-db: \""),
                "{bad}: {e}"
            );
        }
        // The pod gets a shared PID namespace only where a sidecar signals.
        let a = annotations(&[("vault.hashicorp.com/role", "r"), sig[0]]);
        assert!(!signals_app(&spec_of(&a, AgentFlavor::Vaultlet)));
        let with_secret = [
            ("vault.hashicorp.com/role", "r"),
            ("vault.hashicorp.com/agent-inject-secret-db", "kv/db"),
            sig[0],
        ];
        assert!(signals_app(&spec_of(
            &annotations(&with_secret),
            AgentFlavor::Vaultlet
        )));
        let mut only_init = with_secret.to_vec();
        only_init.push(("vault.hashicorp.com/agent-pre-populate-only", "true"));
        assert!(!signals_app(&spec_of(
            &annotations(&only_init),
            AgentFlavor::Vaultlet
        )));
    }
}

#[cfg(test)]
mod env_tests {
    use super::*;
    use vaultlet_shared::annotations::{ContainerFacts, InjectorDefaults, PodFacts};

    fn check(pairs: &[(&str, &str)], containers: &[Container]) -> Result<(), CheckError> {
        let a = Annotations::from_pairs(pairs.iter().copied());
        let pod = PodFacts {
            name: "p".into(),
            containers: containers
                .iter()
                .map(|c| ContainerFacts {
                    name: c.name.clone(),
                    mounts: vec![(
                        "sa".into(),
                        "/var/run/secrets/kubernetes.io/serviceaccount".into(),
                    )],
                    ..ContainerFacts::default()
                })
                .collect(),
            ..PodFacts::default()
        };
        let settings = InjectorDefaults {
            vault_address: "https://vault:8200".into(),
            ..InjectorDefaults::for_flavor(AgentFlavor::Vaultlet)
        };
        let spec = AgentSpec::build(&a, &pod, "ns", &settings).expect("valid spec");
        env_vars(&spec, &a, AgentFlavor::Vaultlet, containers)
    }

    fn app(name: &str, command: Option<&[&str]>) -> Container {
        Container {
            name: name.into(),
            command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
            ..Container::default()
        }
    }

    const BASE: [(&str, &str); 3] = [
        ("vault.hashicorp.com/agent-inject", "true"),
        ("vault.hashicorp.com/role", "r"),
        ("vault.hashicorp.com/agent-inject-env-A", "{{ \"x\" }}"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        BASE.iter().chain(extra).copied().collect()
    }

    #[test]
    fn no_variables_no_check() {
        let r = check(&BASE[..2], &[app("app", None)]);
        assert_eq!(r, Ok(()));
    }

    #[test]
    fn every_chosen_container_must_exist_and_set_a_command() {
        let ok = [app("app", Some(&["/app"])), app("side", None)];
        assert_eq!(
            check(
                &with(&[("vault.hashicorp.com/agent-inject-env-containers", "app")]),
                &ok
            ),
            Ok(())
        );
        // Default: every app container, the one without command refused.
        let e = check(&BASE, &ok).unwrap_err();
        assert_eq!(
            e,
            CheckError::EnvNoCommand {
                key: "vault.hashicorp.com/agent-inject-env-A".into(),
                container: "side".into()
            }
        );
        let e = check(
            &with(&[("openbao.org/agent-inject-env-containers", "app,nope")]),
            &ok,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "annotation openbao.org/agent-inject-env-containers: no app container is named \"nope\""
        );
        let e = check(
            &with(&[("vault.hashicorp.com/agent-inject-env-containers", " , ")]),
            &ok,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("names no container for the environment variables")
        );
        assert_eq!(e.reason(), "env");
    }

    #[test]
    fn a_configmap_config_or_a_broken_template_is_refused() {
        let ok = [app("app", Some(&["/app"]))];
        let e = check(&with(&[("vault.hashicorp.com/agent-configmap", "cm")]), &ok).unwrap_err();
        assert!(
            e.to_string()
                .contains("and vault.hashicorp.com/agent-configmap replaces it"),
            "{e}"
        );
        let e = check(
            &with(&[("vault.hashicorp.com/agent-inject-env-B", "{{ .x ")]),
            &ok,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("annotation vault.hashicorp.com/agent-inject-env-B: template: "),
            "{e}"
        );
    }
}
