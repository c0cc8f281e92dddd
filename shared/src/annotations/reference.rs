//! The annotation reference `docs/annotations.md`, rendered from [`ANNOTATIONS`] (the table the
//! injector parses through), so the documentation cannot drift from the code.
//!
//! `shared/tests/docs_reference.rs` compares [`annotations_markdown`] with the committed file;
//! `VAULTLET_BLESS=1 cargo test -p vaultlet-shared --test docs_reference` rewrites it.

use std::fmt::Write as _;

use super::defaults::{AgentFlavor, InjectorDefaults};
use super::known::NO_EFFECT_WITH_VAULTLET;
use super::table::{ANNOTATIONS, AnnotationDef, DefaultCtx, DefaultFrom, ValueKind};

/// The groups of injector.md §1.3, each named by the first table entry that belongs to it.
const GROUPS: &[(&str, &str)] = &[
    ("agent-inject", "Control and placement"),
    ("agent-inject-secret-", "Secrets and templates"),
    ("service", "Vault connection and auto-auth"),
    ("agent-revoke-on-shutdown", "Agent runtime tuning"),
    ("agent-limits-cpu", "Resources and security context"),
];

/// Where each computed (`DefaultFrom::Dyn`) default comes from, and whether the value computed
/// from the injector's own defaults is worth showing (it is not when it depends on the request).
const DYN_SOURCES: &[(&str, &str, bool)] = &[
    (
        "agent-inject-containers",
        "all app containers of the pod, comma-joined",
        false,
    ),
    (
        "agent-image",
        "`-vault-image`; empty ⇒ the agent flavor's image, see below",
        true,
    ),
    (
        "agent-request-namespace",
        "the namespace of the admission request",
        false,
    ),
    (
        "service",
        "`-vault-address` (a required injector setting)",
        false,
    ),
    (
        "auth-type",
        "`-vault-auth-type`; empty ⇒ `kubernetes`",
        true,
    ),
    ("auth-path", "`-vault-auth-path`", true),
    ("namespace", "`-vault-namespace`", true),
    (
        "auth-min-backoff",
        "`-auth-min-backoff`, only when that is non-empty",
        true,
    ),
    (
        "auth-max-backoff",
        "`-auth-max-backoff`, only when that is non-empty",
        true,
    ),
    ("proxy-address", "`-proxy-address`", true),
    ("agent-inject-default-template", "`-default-template`", true),
    ("agent-revoke-on-shutdown", "`-revoke-on-shutdown`", true),
    ("agent-native-sidecar", "`-native-sidecar`", true),
    (
        "agent-disable-idle-connections",
        "`-disable-idle-connections`",
        true,
    ),
    ("agent-disable-keep-alives", "`-disable-keep-alives`", true),
    (
        "template-config-exit-on-retry-failure",
        "`-template-config-exit-on-retry-failure`",
        true,
    ),
    (
        "template-static-secret-render-interval",
        "`-template-static-secret-render-interval`",
        true,
    ),
    (
        "template-max-connections-per-host",
        "`AGENT_INJECT_TEMPLATE_MAX_CONNECTIONS_PER_HOST`",
        true,
    ),
    (
        "template-lease-renewal-threshold",
        "`AGENT_INJECT_TEMPLATE_LEASE_RENEWAL_THRESHOLD`, only when non-zero (upstream never applies it)",
        true,
    ),
    ("agent-limits-cpu", "`-cpu-limit`", true),
    ("agent-limits-mem", "`-memory-limit`", true),
    ("agent-limits-ephemeral", "`-ephemeral-storage-limit`", true),
    ("agent-requests-cpu", "`-cpu-request`", true),
    ("agent-requests-mem", "`-memory-request`", true),
    (
        "agent-requests-ephemeral",
        "`-ephemeral-storage-request`",
        true,
    ),
    (
        "agent-set-security-context",
        "`-set-security-context`",
        true,
    ),
    ("agent-run-as-user", "`-run-as-user`; empty ⇒ `100`", true),
    (
        "agent-run-as-group",
        "`-run-as-group`; empty ⇒ `1000`",
        true,
    ),
    ("agent-run-as-same-user", "`-run-as-same-user`", true),
];

/// Every value kind, in legend order.
const KINDS: &[ValueKind] = &[
    ValueKind::Bool,
    ValueKind::Int,
    ValueKind::Uint,
    ValueKind::Float,
    ValueKind::Duration,
    ValueKind::Quantity,
    ValueKind::String,
    ValueKind::Csv,
    ValueKind::JsonPatch,
    ValueKind::JsonOrString,
    ValueKind::TemplateKind,
];

/// The short name of a value kind used in the tables.
fn kind_label(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Bool => "bool",
        ValueKind::Int => "int",
        ValueKind::Uint => "uint",
        ValueKind::Float => "float",
        ValueKind::Duration => "duration",
        ValueKind::Quantity => "quantity",
        ValueKind::String => "string",
        ValueKind::Csv => "csv",
        ValueKind::JsonPatch => "json-patch",
        ValueKind::JsonOrString => "json-or-string",
        ValueKind::TemplateKind => "template-type",
    }
}

/// What the legend adds to [`ValueKind::expected`].
fn kind_note(k: ValueKind) -> &'static str {
    match k {
        ValueKind::Bool => "exactly these spellings; `\"\"` means false, anything else is an error",
        ValueKind::Int => "optional sign, base 10, 64-bit; `\"\"` means 0",
        ValueKind::Uint => "base-10 digits only; `\"\"` is an error",
        ValueKind::Float => "Go float syntax",
        ValueKind::Duration => "checked only when non-empty",
        ValueKind::Quantity => "`\"\"` means not set; `500mi`, `128mb` are errors",
        ValueKind::String => "used as given",
        ValueKind::Csv => "split on `,` with no trimming",
        ValueKind::JsonPatch => "RFC 6902; an empty value removes the annotation",
        ValueKind::JsonOrString => "decoded as JSON when it parses, else kept as a string",
        ValueKind::TemplateKind => "case-insensitive; anything else is an error",
    }
}

/// The family placeholder appended to a family prefix.
fn placeholder(d: &AnnotationDef) -> &'static str {
    match d.name {
        "auth-config-" | "agent-telemetry-" => "<param>",
        _ => "<name>",
    }
}

fn display_name(d: &AnnotationDef) -> String {
    if d.family {
        format!("{}{}", d.name, placeholder(d))
    } else {
        d.name.to_owned()
    }
}

/// Inline code, with an empty value shown as `""`.
fn code(v: &str) -> String {
    if v.is_empty() {
        "`\"\"`".to_owned()
    } else {
        format!("`{v}`")
    }
}

/// The Default column.
fn default_cell(d: &AnnotationDef, ctx: &DefaultCtx<'_>) -> String {
    match d.default {
        DefaultFrom::None => "—".to_owned(),
        DefaultFrom::Const(v) => code(v),
        DefaultFrom::Dyn(f) => {
            let Some((_, source, show)) = DYN_SOURCES.iter().find(|(n, _, _)| *n == d.name) else {
                return "computed".to_owned();
            };
            match (show, f(ctx)) {
                (true, Some(v)) => {
                    let v = v.replace(env!("CARGO_PKG_VERSION"), "<version>");
                    format!("{} ({source})", code(&v))
                }
                _ => (*source).to_owned(),
            }
        }
    }
}

/// Escapes what would break a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The groups of [`ANNOTATIONS`], split where each group of [`GROUPS`] starts.
fn grouped() -> Vec<(&'static str, Vec<&'static AnnotationDef>)> {
    let mut out: Vec<(&'static str, Vec<&'static AnnotationDef>)> = Vec::new();
    for d in ANNOTATIONS {
        if let Some((_, title)) = GROUPS.iter().find(|(first, _)| *first == d.name)
            && !out.iter().any(|(t, _)| t == title)
        {
            out.push((title, Vec::new()));
        }
        match out.last_mut() {
            Some((_, defs)) => defs.push(d),
            None => out.push(("Other", vec![d])),
        }
    }
    out
}

/// `docs/annotations.md`: an introduction, a legend of value kinds, then one table per group.
pub fn annotations_markdown() -> String {
    let settings = InjectorDefaults::default();
    let ctx = DefaultCtx {
        settings: &settings,
        namespace: "",
        containers_csv: String::new(),
    };
    let mut s = String::new();
    s.push_str(INTRO);
    s.push_str("\n## Value kinds\n\n| Kind | Accepts | Notes |\n|---|---|---|\n");
    for k in KINDS {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            kind_label(*k),
            cell(k.expected()),
            cell(kind_note(*k))
        );
    }
    let count = ANNOTATIONS.len();
    let distinct = {
        let mut names: Vec<&str> = ANNOTATIONS
            .iter()
            .map(|d| d.name.trim_end_matches('-'))
            .collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    };
    let families = ANNOTATIONS.iter().filter(|d| d.family).count();
    let _ = write!(
        s,
        "\n## Annotations\n\n{count} entries for {distinct} distinct names; {families} entries are \
         families (a prefix to which `<name>` or `<param>` is appended). \"Default\" is the value the \
         injector inserts when the key is absent. When it names an injector flag (see \
         [injector.md](injector.md)), the value is that flag's setting, and the value shown is the \
         flag's own default. \"—\" means nothing is inserted and the parser's fallback applies (see \
         the description).\n\nThe default `agent-image` depends on `AGENT_INJECT_AGENT_FLAVOR`:\n"
    );
    for (name, flavor) in [
        ("vaultlet", AgentFlavor::Vaultlet),
        ("vault", AgentFlavor::Vault),
        ("openbao", AgentFlavor::Openbao),
    ] {
        let image = flavor
            .default_image()
            .replace(env!("CARGO_PKG_VERSION"), "<version>");
        let _ = write!(s, "\n- `{name}`: `{image}`");
    }
    s.push('\n');
    for (title, defs) in grouped() {
        let _ = write!(
            s,
            "\n### {title}\n\n| Annotation | Kind | Default | Description |\n|---|---|---|---|\n"
        );
        for d in defs {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                display_name(d),
                kind_label(d.kind),
                cell(&default_cell(d, &ctx)),
                cell(d.doc)
            );
        }
    }
    checks_markdown(&mut s);
    s
}

/// The checks at admission (extension, injector.md §2.6), with the lists they use.
fn checks_markdown(s: &mut String) {
    s.push_str(CHECKS.trim_end());
    for (name, flavor) in [
        ("vaultlet", AgentFlavor::Vaultlet),
        ("vault", AgentFlavor::Vault),
        ("openbao", AgentFlavor::Openbao),
    ] {
        let types: Vec<String> = flavor.auth_types().iter().map(|t| code(t)).collect();
        let _ = write!(s, "\n  - `{name}`: {}", types.join(", "));
    }
    s.push_str(CHECKS_WARNINGS);
    for (key, why) in NO_EFFECT_WITH_VAULTLET {
        let shown = if key.ends_with('-') {
            format!("{key}<param>")
        } else {
            (*key).to_owned()
        };
        let _ = write!(s, "\n  - `{shown}`: {why}");
    }
    s.push_str(
        "\n\nThe missing-role refusal names the key to set:\n\
         `no Vault role found (annotation vault.hashicorp.com/role is not set)`.\n",
    );
}

const CHECKS: &str = r#"
## Checks at admission (vaultlet extension)

Beyond parsing the values, the injector checks a pod that asks for injection for mistakes that would
otherwise show only in a failing agent container. Refusals (`allowed: false`, after upstream's own
validation) say `error validating agent configuration: annotation <prefix><key>…`:

- **Templates.** Every template the agent will render is parsed with the agent's own parser, under the
  same name and with the same delimiters: each `agent-inject-template-<name>`, and the default template
  (`map` or `json`) of a secret without one, which holds the secret's path. A syntax error or a function
  that does not exist refuses the pod with the Go-style position, e.g.
  `annotation vault.hashicorp.com/agent-inject-template-db: template: :1: unexpected "}" in operand`.
  With an upstream agent (`vault`, `openbao` flavors) a `sprig_*` function vaultlet lacks is not an
  error, since upstream has every hermetic Sprig function. Templates read from a file
  (`agent-inject-template-file-<name>`) live in the agent container and are not checked; neither are
  templates in config-map mode.
- **Commands.** With the `vaultlet` flavor, an `agent-inject-command-<name>` that needs a shell (one
  string with spaces after the comma split, which the agent runs with `sh -c`) is refused, since the
  image has none; use the argv form (`/usr/sbin/nginx,-s,reload`) or `agent-inject-signal-<name>`. An
  `agent-inject-signal-<name>` is refused when its value is not `<SIGNAL> <process>`, together with
  `agent-inject-command-<name>`, with an upstream flavor, or in a pod with `shareProcessNamespace: false`
  (see [getting-secrets-into-your-app.md](getting-secrets-into-your-app.md)).
- **Environment variables.** `agent-inject-env-<VAR>` is refused with an upstream flavor, with
  `agent-configmap`, when `agent-inject-env-containers` names no app container or a chosen container
  sets no `command` (the message names it and says how to set one), and when its template does not
  parse.
- **Auth type.** An `auth-type` the injected agent has no login method for is refused with the list of
  the ones it has, which depends on `AGENT_INJECT_AGENT_FLAVOR`:
"#;

const CHECKS_WARNINGS: &str = r#"

Warnings leave the pod admitted; they come back in the AdmissionReview's `response.warnings`, which
`kubectl` prints (at most 8 per pod, each short):

- **Unknown keys.** A key under either prefix that is none of the annotations above (a family counts
  for any `<name>`), with the nearest known key when one is close, e.g.
  `unknown annotation vault.hashicorp.com/agent-inject-secrets-db; did you mean agent-inject-secret-db?`.
  Every pod is checked, also one that does not ask for injection, so a misspelt `agent-inject` is
  reported.
- **Values without effect** with the vaultlet agent (`vaultlet` flavor only; empty values, and a
  `template-max-connections-per-host` of `0`, ask for nothing):"#;

const INTRO: &str = r#"<!-- Generated from shared/src/annotations/table.rs by shared/src/annotations/reference.rs.
     Do not edit by hand: run `VAULTLET_BLESS=1 cargo test -p vaultlet-shared --test docs_reference`. -->

# Pod annotations

The injector reads these annotations from the pod in the AdmissionReview. Every key exists under two
prefixes with the same meaning: `vault.hashicorp.com/` (upstream vault-k8s) and `openbao.org/`. A pod may
mix prefixes across keys, but setting the same key under both prefixes is refused
(`annotations vault.hashicorp.com/<key> and openbao.org/<key> are both set; use only one prefix`). The
tables below give names without the prefix. The patch adds
`vault.hashicorp.com/agent-inject-status: injected` and, only when a generated agent config is too
large for an environment variable, `vault.hashicorp.com/agent-config-sidecar` (or `agent-config-init`)
holding that config (see [injector.md](injector.md#large-agent-configs)).

Injection is requested with `agent-inject: "true"`. Pods whose phase is set to anything but `Pending`
and pods that already carry `agent-inject-status: injected` are let through unchanged; pods in
`kube-system` or `kube-public` are refused.

## Per-secret annotations

A secret is declared by any key `agent-inject-secret-<name>`, `agent-inject-template-<name>` or
`agent-inject-template-file-<name>` whose value is not blank (keys are tested against those three
prefixes in that order, so `agent-inject-template-file-foo` belongs to `foo`). The other per-secret
keys only refine a declared secret:

| Key | Meaning |
|---|---|
| `agent-inject-secret-<name>` | Vault path read by the default template (may be absent for template-only secrets) |
| `agent-inject-template-<name>` | template text |
| `agent-inject-template-file-<name>` | template file inside the agent container; used only when the template text is empty |
| `agent-inject-file-<name>` | file name of the rendered secret, relative to its mount path |
| `agent-inject-perms-<name>` | file mode, e.g. `0600` |
| `agent-inject-command-<name>` | command run after the file changes |
| `agent-inject-signal-<name>` | vaultlet extension: `<SIGNAL> <process>` sent to the app after the file changes, no shell needed (see [getting-secrets-into-your-app.md](getting-secrets-into-your-app.md#signals)) |
| `agent-template-left-delim-<name>`, `agent-template-right-delim-<name>` | template delimiters |
| `error-on-missing-key-<name>` | fail the render on a missing map key (an invalid bool refuses the pod) |
| `secret-volume-path-<name>` | render directory of this secret (default: `secret-volume-path`); each distinct directory gets its own volume |
| `preserve-secret-case-<name>` | keep the case of `<name>` (overrides the global `preserve-secret-case`) |

- `<name>` (the "raw name") is everything after the prefix. Per-secret keys are looked up with the raw
  name exactly, case included. Two raw names that differ only in case are two secrets.
- The rendered file is `<mount path>/<name>` with `<name>` lower-cased unless preserve-case applies
  (an invalid preserve-case value counts as false), or `<mount path>/<agent-inject-file-<name>>`.
- Secrets are processed in byte order of their raw names (upstream's order is random).
- Without a template, the default template (`agent-inject-default-template`: `map` or `json`) prints
  the secret's data. It is written with `{{ }}` even when delimiter annotations are set (upstream
  behaviour), so do not set delimiters on a secret that has no template.

## Environment variables (vaultlet extension)

`agent-inject-env-<VAR>: <template>` gives the app containers the variable `<VAR>` (letters, digits and
`_`, not starting with a digit; any other name refuses the pod) with the template's rendered text, and
never writes it to a file or the pod spec. `agent-inject-env-containers` chooses the containers (default:
every app container; each must set `command`), `agent-inject-env-restart: "true"` restarts the app when a
value changes. The vaultlet agent flavor only; see
[getting-secrets-into-your-app.md](getting-secrets-into-your-app.md#environment-variables).

## Parameter families

- `auth-config-<param>`: adds `<param>` (every `-` replaced by `_`) to `auto_auth.method.config`, as a
  string. `token_path` is set first (from the service-account token mount) and can be overridden by
  `auth-config-token-path`; the `role` annotation, when non-empty, wins over `auth-config-role`.
- `agent-telemetry-<param>`: adds `<param>` (`-` → `_`) to the agent's `telemetry` stanza. The value is
  decoded as JSON when it parses (`"true"` → `true`, `"500"` → `500`, `["a","b"]` → a list), otherwise
  kept as a string (`5s`). If any value has the wrong type for its key, the whole stanza is dropped
  (upstream behaviour).
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_start_is_in_the_table_in_order() {
        let positions: Vec<usize> = GROUPS
            .iter()
            .map(|(first, _)| {
                ANNOTATIONS
                    .iter()
                    .position(|d| d.name == *first)
                    .unwrap_or_else(|| panic!("group start {first} not in the table"))
            })
            .collect();
        assert_eq!(positions[0], 0);
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        assert_eq!(grouped().len(), GROUPS.len());
    }

    #[test]
    fn every_computed_default_has_a_source() {
        for d in ANNOTATIONS {
            if let DefaultFrom::Dyn(_) = d.default {
                assert!(
                    DYN_SOURCES.iter().any(|(n, _, _)| *n == d.name),
                    "no DYN_SOURCES entry for {}",
                    d.name
                );
            }
        }
        for (n, _, _) in DYN_SOURCES {
            assert!(
                ANNOTATIONS
                    .iter()
                    .any(|d| d.name == *n && matches!(d.default, DefaultFrom::Dyn(_))),
                "DYN_SOURCES entry {n} is not a computed default"
            );
        }
    }

    #[test]
    fn every_annotation_is_rendered_once() {
        let md = annotations_markdown();
        for d in ANNOTATIONS {
            let needle = format!("| `{}` | {} |", display_name(d), kind_label(d.kind));
            assert_eq!(md.matches(&needle).count(), 1, "{needle}");
        }
        assert!(md.contains("`auth/kubernetes` (`-vault-auth-path`)"));
        assert!(md.contains("`vaultlet/vaultlet:<version>`"));
    }
}
