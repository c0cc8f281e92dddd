//! The one table of every `vault.hashicorp.com/*` annotation (injector.md §1.3): name, default, kind, doc.

use super::defaults::InjectorDefaults;

/// What a default is computed from during defaulting (injector.md §1.2).
pub struct DefaultCtx<'a> {
    pub settings: &'a InjectorDefaults,
    /// The AdmissionRequest namespace.
    pub namespace: &'a str,
    /// Comma-join of all app container names.
    pub containers_csv: String,
}

/// Where an annotation's injector default comes from.
#[derive(Clone, Copy)]
pub enum DefaultFrom {
    /// Never defaulted.
    None,
    /// A constant.
    Const(&'static str),
    /// Computed from the injector settings / request (`None` ⇒ not inserted).
    Dyn(fn(&DefaultCtx<'_>) -> Option<String>),
}

/// The value grammar of an annotation (injector.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Bool,
    Int,
    Uint,
    Float,
    Duration,
    Quantity,
    String,
    Csv,
    /// An RFC 6902 JSON patch.
    JsonPatch,
    /// JSON value, or the raw string when it is not JSON.
    JsonOrString,
    /// `map` or `json`, case-insensitive.
    TemplateKind,
}

impl ValueKind {
    /// The phrase used in "is not …" error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Self::Bool => "a boolean (1 t T TRUE true True 0 f F FALSE false False)",
            Self::Int => "an integer",
            Self::Uint => "an unsigned integer",
            Self::Float => "a number",
            Self::Duration => "a Go duration (e.g. 5s, 1m30s)",
            Self::Quantity => "a Kubernetes quantity",
            Self::String | Self::Csv | Self::JsonOrString => "a string",
            Self::JsonPatch => "a JSON patch (an array of operations)",
            Self::TemplateKind => "a default template type (map or json)",
        }
    }
}

/// One annotation: its name without prefix, whether it is a family prefix, default, kind and doc.
pub struct AnnotationDef {
    /// Key without the `vault.hashicorp.com/` prefix; families end in `-`.
    pub name: &'static str,
    /// True for per-secret / per-parameter families (`<name>` is appended).
    pub family: bool,
    pub default: DefaultFrom,
    pub kind: ValueKind,
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    default: DefaultFrom,
    kind: ValueKind,
    doc: &'static str,
) -> AnnotationDef {
    AnnotationDef {
        name,
        family: false,
        default,
        kind,
        doc,
    }
}

const fn fam(name: &'static str, kind: ValueKind, doc: &'static str) -> AnnotationDef {
    AnnotationDef {
        name,
        family: true,
        default: DefaultFrom::None,
        kind,
        doc,
    }
}

fn bool_str(b: bool) -> String {
    if b { "true" } else { "false" }.to_owned()
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

use DefaultFrom::{Const, Dyn, None as NoDefault};
use ValueKind as K;

/// Every annotation of injector.md §1.3 (81 distinct names, five of them extensions; two are both a plain key and a family).
pub static ANNOTATIONS: &[AnnotationDef] = &[
    // injector.md §1.3.1 control and placement
    def(
        "agent-inject",
        NoDefault,
        K::Bool,
        "Request injection of the agent (`true`).",
    ),
    def(
        "agent-inject-status",
        NoDefault,
        K::String,
        "`injected` marks an already injected pod (skipped).",
    ),
    def(
        "agent-config-sidecar",
        NoDefault,
        K::String,
        "Written by the injector, not by users: the sidecar's generated config (JSON) when it is too large for an environment variable, mounted from a `downwardAPI` volume at `/vault/agent-config/config.json`; the init container reads it too, with `-exit-after-auth`.",
    ),
    def(
        "agent-config-init",
        NoDefault,
        K::String,
        "Written by the injector, not by users: the init container's generated config when it is too large for an environment variable and there is no sidecar (`/vault/agent-config/config-init.json`).",
    ),
    def(
        "agent-pre-populate",
        NoDefault,
        K::Bool,
        "Inject the init container `vault-agent-init` (default true).",
    ),
    def(
        "agent-pre-populate-only",
        NoDefault,
        K::Bool,
        "Only the init container, no sidecar.",
    ),
    def(
        "agent-init-first",
        NoDefault,
        K::Bool,
        "Put `vault-agent-init` first among init containers.",
    ),
    def(
        "agent-native-sidecar",
        Dyn(|c| Some(bool_str(c.settings.native_sidecar))),
        K::Bool,
        "vaultlet extension, vaultlet flavor only: one agent as a native sidecar (an init container with `restartPolicy: Always` and a `startupProbe`, placed where `vault-agent-init` would go) instead of `vault-agent-init` plus `vault-agent`; Jobs complete, one login per pod. Default: the injector's `-native-sidecar` (false).",
    ),
    def(
        "agent-inject-containers",
        Dyn(|c| Some(c.containers_csv.clone())),
        K::Csv,
        "App containers that get the secrets mounts (default: all).",
    ),
    def(
        "agent-image",
        Dyn(|c| {
            Some(if c.settings.vault_image.is_empty() {
                c.settings.agent_flavor.default_image()
            } else {
                c.settings.vault_image.clone()
            })
        }),
        K::String,
        "Image of the injected containers.",
    ),
    def(
        "agent-request-namespace",
        Dyn(|c| Some(c.namespace.to_owned())),
        K::String,
        "Namespace of the request (recorded).",
    ),
    def(
        "agent-configmap",
        NoDefault,
        K::String,
        "ConfigMap holding `config.hcl`/`config-init.hcl` instead of a generated config.",
    ),
    def(
        "agent-extra-secret",
        NoDefault,
        K::String,
        "Secret mounted at /vault/custom in the agent containers.",
    ),
    def(
        "agent-copy-volume-mounts",
        NoDefault,
        K::String,
        "Copy the volume mounts of this container into the agent containers.",
    ),
    def(
        "agent-service-account-token-volume-name",
        Const(""),
        K::String,
        "Projected volume carrying the service-account token.",
    ),
    def(
        "agent-share-process-namespace",
        NoDefault,
        K::Bool,
        "Set `spec.shareProcessNamespace`.",
    ),
    def(
        "agent-json-patch",
        NoDefault,
        K::JsonPatch,
        "RFC 6902 patch applied to the sidecar container.",
    ),
    def(
        "agent-init-json-patch",
        NoDefault,
        K::JsonPatch,
        "RFC 6902 patch applied to the init container.",
    ),
    // injector.md §1.3.2 secrets and templates
    fam(
        "agent-inject-secret-",
        K::String,
        "Vault path of secret `<name>`.",
    ),
    fam(
        "agent-inject-template-",
        K::String,
        "Template contents for `<name>`.",
    ),
    fam(
        "agent-inject-template-file-",
        K::String,
        "Template file path for `<name>`.",
    ),
    fam(
        "agent-inject-file-",
        K::String,
        "Rendered file name of `<name>` under its mount path.",
    ),
    fam(
        "agent-inject-perms-",
        K::String,
        "File permissions of `<name>` (e.g. 0600).",
    ),
    fam(
        "agent-inject-command-",
        K::String,
        "Command run after `<name>` renders.",
    ),
    fam(
        "agent-inject-signal-",
        K::String,
        "Extension (vaultlet agent only): `<SIGNAL> <process>` (e.g. `HUP nginx`) sent by the sidecar after `<name>` renders, with `shareProcessNamespace` turned on; no shell needed. Not with `agent-inject-command-<name>`.",
    ),
    fam(
        "agent-inject-env-",
        K::String,
        "vaultlet extension, vaultlet flavor only: the template (its text, rendered once at start) of the environment variable `<name>` (a valid variable name: letters, digits, `_`, not starting with a digit) of the app containers of `agent-inject-env-containers`: their `command` runs under the agent copied into the pod, which renders the variables in memory and then replaces itself with the app (see [getting-secrets-into-your-app.md](getting-secrets-into-your-app.md#environment-variables)). `containers` and `restart` are the two keys below, not variables.",
    ),
    def(
        "agent-inject-env-containers",
        NoDefault,
        K::Csv,
        "vaultlet extension: the app containers whose environment gets the `agent-inject-env-<name>` variables (default: all app containers); each must set `command`.",
    ),
    def(
        "agent-inject-env-restart",
        NoDefault,
        K::Bool,
        "vaultlet extension: `true` keeps the agent as the app's supervisor, restarting it when a variable's value changes (default false: the agent replaces itself with the app).",
    ),
    fam(
        "agent-template-left-delim-",
        K::String,
        "Left template delimiter of `<name>`.",
    ),
    fam(
        "agent-template-right-delim-",
        K::String,
        "Right template delimiter of `<name>`.",
    ),
    fam(
        "error-on-missing-key-",
        K::Bool,
        "Fail rendering `<name>` on a missing key.",
    ),
    def(
        "secret-volume-path",
        Const("/vault/secrets"),
        K::String,
        "Mount path of the secrets volume.",
    ),
    fam(
        "secret-volume-path-",
        K::String,
        "Render directory of `<name>`.",
    ),
    def(
        "preserve-secret-case",
        NoDefault,
        K::Bool,
        "Keep the case of secret names.",
    ),
    fam(
        "preserve-secret-case-",
        K::Bool,
        "Keep the case of `<name>`.",
    ),
    def(
        "agent-inject-default-template",
        Dyn(|c| Some(c.settings.default_template.clone())),
        K::TemplateKind,
        "Default template flavour: map or json.",
    ),
    def(
        "agent-inject-token",
        NoDefault,
        K::Bool,
        "Also write the token to `<secret-volume-path>/token`.",
    ),
    // injector.md §1.3.3 Vault connection and auto-auth
    def(
        "service",
        Dyn(|c| Some(c.settings.vault_address.clone())),
        K::String,
        "Vault address.",
    ),
    def("role", NoDefault, K::String, "Auth role."),
    def(
        "auth-type",
        Dyn(|c| {
            Some(if c.settings.vault_auth_type.is_empty() {
                "kubernetes".to_owned()
            } else {
                c.settings.vault_auth_type.clone()
            })
        }),
        K::String,
        "Auto-auth method type.",
    ),
    def(
        "auth-path",
        Dyn(|c| Some(c.settings.vault_auth_path.clone())),
        K::String,
        "Auto-auth mount path.",
    ),
    fam(
        "auth-config-",
        K::String,
        "Auto-auth method config parameter (`-` becomes `_`).",
    ),
    def(
        "namespace",
        Dyn(|c| Some(c.settings.vault_namespace.clone())),
        K::String,
        "Vault namespace of the auth method.",
    ),
    def(
        "auth-min-backoff",
        Dyn(|c| non_empty(&c.settings.auth_min_backoff)),
        K::Duration,
        "Auto-auth minimum backoff.",
    ),
    def(
        "auth-max-backoff",
        Dyn(|c| non_empty(&c.settings.auth_max_backoff)),
        K::Duration,
        "Auto-auth maximum backoff.",
    ),
    def(
        "agent-auto-auth-exit-on-err",
        NoDefault,
        K::Bool,
        "Exit when auto-auth fails.",
    ),
    def("ca-cert", NoDefault, K::String, "CA certificate path."),
    def(
        "ca-key",
        NoDefault,
        K::String,
        "CA directory path (becomes `ca_path`).",
    ),
    def(
        "client-cert",
        NoDefault,
        K::String,
        "Client certificate path.",
    ),
    def("client-key", NoDefault, K::String, "Client key path."),
    def(
        "tls-skip-verify",
        NoDefault,
        K::Bool,
        "Skip TLS verification.",
    ),
    def("tls-server-name", NoDefault, K::String, "TLS server name."),
    def(
        "tls-secret",
        NoDefault,
        K::String,
        "Secret mounted at /vault/tls.",
    ),
    def(
        "client-max-retries",
        NoDefault,
        K::String,
        "Env VAULT_MAX_RETRIES.",
    ),
    def(
        "client-timeout",
        NoDefault,
        K::String,
        "Env VAULT_CLIENT_TIMEOUT.",
    ),
    def(
        "proxy-address",
        Dyn(|c| Some(c.settings.proxy_address.clone())),
        K::String,
        "Env HTTPS_PROXY.",
    ),
    def("go-max-procs", NoDefault, K::String, "Env GOMAXPROCS."),
    def(
        "log-level",
        Const("info"),
        K::String,
        "Env VAULT_LOG_LEVEL.",
    ),
    def(
        "log-format",
        Const("standard"),
        K::String,
        "Env VAULT_LOG_FORMAT.",
    ),
    // injector.md §1.3.4 agent runtime tuning
    def(
        "agent-revoke-on-shutdown",
        Dyn(|c| Some(bool_str(c.settings.revoke_on_shutdown))),
        K::Bool,
        "Revoke the token when the sidecar stops.",
    ),
    def(
        "agent-revoke-grace",
        Const("5"),
        K::Uint,
        "Seconds to wait before revoking.",
    ),
    def(
        "agent-cache-enable",
        Const("false"),
        K::Bool,
        "Enable the caching listener. Under the injector's `-cache-handoff` (vaultlet extension), unset means the persistent cache without the listener and `\"false\"` opts the pod out.",
    ),
    def(
        "agent-cache-use-auto-auth-token",
        Const("true"),
        K::String,
        "cache.use_auto_auth_token.",
    ),
    def(
        "agent-cache-listener-port",
        Const("8200"),
        K::String,
        "Port of the cache listener on 127.0.0.1.",
    ),
    def(
        "agent-cache-exit-on-err",
        Const("false"),
        K::Bool,
        "cache.persist.exit_on_err.",
    ),
    def(
        "agent-enable-quit",
        NoDefault,
        K::Bool,
        "Enable the /agent/v1/quit endpoint.",
    ),
    def(
        "agent-disable-idle-connections",
        Dyn(|c| Some(c.settings.disable_idle_connections.clone())),
        K::Csv,
        "disable_idle_connections.",
    ),
    def(
        "agent-disable-keep-alives",
        Dyn(|c| Some(c.settings.disable_keep_alives.clone())),
        K::Csv,
        "disable_keep_alives.",
    ),
    def(
        "template-config-exit-on-retry-failure",
        Dyn(|c| Some(bool_str(c.settings.template_config_exit_on_retry_failure))),
        K::Bool,
        "template_config.exit_on_retry_failure.",
    ),
    def(
        "template-static-secret-render-interval",
        Dyn(|c| Some(c.settings.template_static_secret_render_interval.clone())),
        K::String,
        "template_config.static_secret_render_interval.",
    ),
    def(
        "template-max-connections-per-host",
        Dyn(|c| Some(c.settings.template_max_connections_per_host.to_string())),
        K::Int,
        "template_config.max_connections_per_host.",
    ),
    def(
        "template-lease-renewal-threshold",
        Dyn(|c| {
            (c.settings.template_lease_renewal_threshold != 0.0)
                .then(|| c.settings.template_lease_renewal_threshold.to_string())
        }),
        K::Float,
        "template_config.lease_renewal_threshold.",
    ),
    fam(
        "agent-telemetry-",
        K::JsonOrString,
        "Telemetry stanza parameter.",
    ),
    // injector.md §1.3.5 resources and security context
    def(
        "agent-limits-cpu",
        Dyn(|c| Some(c.settings.cpu_limit.clone())),
        K::Quantity,
        "CPU limit. Default by agent flavor: the vaultlet agent's shown, `500m` for `vault`/`openbao` (upstream's).",
    ),
    def(
        "agent-limits-mem",
        Dyn(|c| Some(c.settings.memory_limit.clone())),
        K::Quantity,
        "Memory limit. Default by agent flavor: the vaultlet agent's shown, `128Mi` for `vault`/`openbao` (upstream's).",
    ),
    def(
        "agent-limits-ephemeral",
        Dyn(|c| Some(c.settings.ephemeral_limit.clone())),
        K::Quantity,
        "Ephemeral-storage limit.",
    ),
    def(
        "agent-requests-cpu",
        Dyn(|c| Some(c.settings.cpu_request.clone())),
        K::Quantity,
        "CPU request. Default by agent flavor: the vaultlet agent's shown, `250m` for `vault`/`openbao` (upstream's).",
    ),
    def(
        "agent-requests-mem",
        Dyn(|c| Some(c.settings.memory_request.clone())),
        K::Quantity,
        "Memory request. Default by agent flavor: the vaultlet agent's shown, `64Mi` for `vault`/`openbao` (upstream's).",
    ),
    def(
        "agent-requests-ephemeral",
        Dyn(|c| Some(c.settings.ephemeral_request.clone())),
        K::Quantity,
        "Ephemeral-storage request.",
    ),
    def(
        "agent-set-security-context",
        Dyn(|c| Some(bool_str(c.settings.set_security_context))),
        K::Bool,
        "Give the agent containers a security context.",
    ),
    def(
        "agent-run-as-user",
        Dyn(|c| {
            Some(if c.settings.run_as_user.is_empty() {
                "100".to_owned()
            } else {
                c.settings.run_as_user.clone()
            })
        }),
        K::Int,
        "runAsUser of the agent containers.",
    ),
    def(
        "agent-run-as-group",
        Dyn(|c| {
            Some(if c.settings.run_as_group.is_empty() {
                "1000".to_owned()
            } else {
                c.settings.run_as_group.clone()
            })
        }),
        K::Int,
        "runAsGroup of the agent containers.",
    ),
    def(
        "agent-run-as-same-user",
        Dyn(|c| Some(bool_str(c.settings.run_as_same_user))),
        K::Bool,
        "Run as the first app container's user.",
    ),
];

/// The table entry for a plain (non-family) key.
pub fn lookup(name: &str) -> Option<&'static AnnotationDef> {
    ANNOTATIONS.iter().find(|d| !d.family && d.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn table_has_81_distinct_names_and_15_families() {
        let names: BTreeSet<&str> = ANNOTATIONS
            .iter()
            .map(|d| d.name.trim_end_matches('-'))
            .collect();
        // 76 of upstream's, plus the extensions agent-native-sidecar, agent-inject-signal- (a
        // family), agent-inject-env- (a family), agent-inject-env-containers and
        // agent-inject-env-restart.
        assert_eq!(names.len(), 81);
        assert_eq!(ANNOTATIONS.iter().filter(|d| d.family).count(), 15);
        assert!(ANNOTATIONS.iter().all(|d| !d.doc.is_empty()));
    }

    #[test]
    fn dynamic_defaults_follow_settings() {
        let settings = InjectorDefaults {
            vault_auth_type: String::new(),
            ..InjectorDefaults::default()
        };
        let ctx = DefaultCtx {
            settings: &settings,
            namespace: "ns",
            containers_csv: "a,b".into(),
        };
        let get = |n: &str| match lookup(n).unwrap().default {
            DefaultFrom::Dyn(f) => f(&ctx),
            DefaultFrom::Const(c) => Some(c.to_owned()),
            DefaultFrom::None => None,
        };
        assert_eq!(get("auth-type").as_deref(), Some("kubernetes"));
        assert_eq!(get("agent-inject-containers").as_deref(), Some("a,b"));
        assert_eq!(get("agent-request-namespace").as_deref(), Some("ns"));
        assert_eq!(get("auth-min-backoff"), None);
        assert_eq!(get("agent-revoke-grace").as_deref(), Some("5"));
        let no_image = InjectorDefaults {
            vault_image: String::new(),
            ..InjectorDefaults::for_flavor(super::super::AgentFlavor::Vault)
        };
        let ctx = DefaultCtx {
            settings: &no_image,
            namespace: "ns",
            containers_csv: String::new(),
        };
        let DefaultFrom::Dyn(f) = lookup("agent-image").unwrap().default else {
            panic!()
        };
        assert_eq!(f(&ctx).as_deref(), Some("hashicorp/vault:2.0.4"));
    }
}
