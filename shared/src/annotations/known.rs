//! What the admission checks (extension, injector.md §2.6) know beyond the parsers: whether a key is
//! one of the table's, the known key nearest to a misspelt one, the auth methods each agent flavor
//! can log in with, and the annotations our agent accepts without effect.

use super::defaults::AgentFlavor;
use super::table::{ANNOTATIONS, lookup};

/// The auth methods our agent logs in with (`agent/src/auth/method.rs`; a test there checks that
/// it accepts exactly these).
pub const VAULTLET_AUTH_TYPES: &[&str] = &["approle", "jwt", "kubernetes", "token_file"];

/// The auto-auth methods of Vault Agent (the `vault` flavor's default image, `hashicorp/vault`).
pub const VAULT_AUTH_TYPES: &[&str] = &[
    "alicloud",
    "approle",
    "aws",
    "azure",
    "cert",
    "cf",
    "gcp",
    "jwt",
    "kerberos",
    "kubernetes",
    "ldap",
    "oci",
    "pcf",
    "token_file",
];

/// The auto-auth methods of OpenBao Agent (the `openbao` flavor's default image): OpenBao 2 dropped
/// the cloud providers' methods.
pub const OPENBAO_AUTH_TYPES: &[&str] = &[
    "approle",
    "cert",
    "jwt",
    "kerberos",
    "kubernetes",
    "token_file",
];

/// Annotations our agent accepts but that change nothing in what it does (docs/differences.md);
/// families end in `-`.
pub const NO_EFFECT_WITH_VAULTLET: &[(&str, &str)] = &[
    ("agent-telemetry-", "the vaultlet agent sends no telemetry"),
    ("agent-disable-idle-connections", NOT_APPLIED),
    ("agent-disable-keep-alives", NOT_APPLIED),
    ("template-max-connections-per-host", NOT_APPLIED),
    (
        "go-max-procs",
        "GOMAXPROCS means nothing to the vaultlet agent",
    ),
];

const NOT_APPLIED: &str = "the vaultlet agent does not apply it";

impl AgentFlavor {
    /// The auth types (`auth-type`, `auto_auth.method.type`) this flavor's agent can log in with,
    /// sorted.
    pub fn auth_types(self) -> &'static [&'static str] {
        match self {
            Self::Vaultlet => VAULTLET_AUTH_TYPES,
            Self::Vault => VAULT_AUTH_TYPES,
            Self::Openbao => OPENBAO_AUTH_TYPES,
        }
    }

    /// The agent's name in messages.
    pub fn agent_name(self) -> &'static str {
        match self {
            Self::Vaultlet => "vaultlet",
            Self::Vault => "Vault",
            Self::Openbao => "OpenBao",
        }
    }
}

/// Whether `name` (without prefix) is an annotation of the table: a plain key, or any key that
/// starts with a family's prefix (`agent-inject-secret-<anything>`).
pub fn is_known(name: &str) -> bool {
    lookup(name).is_some()
        || ANNOTATIONS
            .iter()
            .any(|d| d.family && name.starts_with(d.name))
}

/// The known key (without prefix) nearest to an unknown `name` by edit distance, when one is close
/// enough to be a likely misspelling. For a family the suggestion keeps the rest of `name` as the
/// `<name>` part: `agent-inject-secrets-db` ⇒ `agent-inject-secret-db`.
pub fn nearest_known(name: &str) -> Option<String> {
    let key = name.as_bytes();
    let mut row = Vec::with_capacity(key.len() + 1);
    // (cost, split not at a dash, suggestion) of the best candidate so far.
    let mut best: Option<(usize, bool, String)> = None;
    let mut offer = |cost: usize, off_dash: bool, make: &dyn Fn() -> String| {
        if best
            .as_ref()
            .is_none_or(|(c, o, _)| (cost, off_dash) < (*c, *o))
        {
            best = Some((cost, off_dash, make()));
        }
    };
    for d in ANNOTATIONS {
        if !d.family {
            distances(d.name.as_bytes(), key, &mut row);
            offer(row[key.len()], false, &|| d.name.to_owned());
            continue;
        }
        // The family's stem against every prefix of `name`; the rest of `name` is the suffix,
        // after a dash that stands for the family's own (or one dash inserted).
        distances(d.name.trim_end_matches('-').as_bytes(), key, &mut row);
        for (j, &dist) in row.iter().enumerate() {
            let at_dash = key.get(j) == Some(&b'-');
            let (cost, rest) = if at_dash {
                (dist, &name[j + 1..])
            } else if name.is_char_boundary(j) {
                (dist + 1, &name[j..])
            } else {
                continue;
            };
            offer(cost, !at_dash, &|| {
                let suffix = if rest.is_empty() { "<name>" } else { rest };
                format!("{}{suffix}", d.name)
            });
        }
    }
    let (cost, _, suggestion) = best?;
    (cost <= 1 + name.len() / 8).then_some(suggestion)
}

/// `row[j]` = Levenshtein distance (in bytes) between `a` and `b[..j]`, for every `j`.
fn distances(a: &[u8], b: &[u8], row: &mut Vec<usize>) {
    row.clear();
    row.extend(0..=b.len());
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for j in 1..=b.len() {
            let up = row[j];
            row[j] = (diag + usize::from(ca != b[j - 1]))
                .min(up + 1)
                .min(row[j - 1] + 1);
            diag = up;
        }
    }
}

/// Why a key the pod set has no effect with our agent, when it has none (`None` for an empty
/// value, which asks for nothing).
pub fn no_effect_with_vaultlet(name: &str, value: &str) -> Option<&'static str> {
    if value.is_empty() {
        return None;
    }
    NO_EFFECT_WITH_VAULTLET
        .iter()
        .find(|(k, _)| {
            if k.ends_with('-') {
                name.starts_with(k)
            } else {
                name == *k
            }
        })
        .filter(|(k, _)| !(*k == "template-max-connections-per-host" && value.trim() == "0"))
        .map(|(_, why)| *why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_plain_and_families() {
        for k in [
            "agent-inject",
            "role",
            "agent-inject-secret-db",
            "agent-inject-template-db.txt",
            "agent-inject-file-x",
            "agent-inject-command-x",
            "agent-inject-perms-x",
            "auth-config-role",
            "agent-telemetry-prometheus_retention_time",
            "secret-volume-path",
            "secret-volume-path-x",
        ] {
            assert!(is_known(k), "{k}");
        }
        for k in [
            "agent-inject-secrets-db",
            "agent-injet",
            "rol",
            "secret-volume-paths",
            "agent-inject-secret",
            "",
        ] {
            assert!(!is_known(k), "{k}");
        }
    }

    #[test]
    fn nearest_known_key_keeps_the_family_suffix() {
        let near = |k: &str| nearest_known(k);
        assert_eq!(
            near("agent-inject-secrets-db").as_deref(),
            Some("agent-inject-secret-db")
        );
        assert_eq!(
            near("agent-inject-templates-db.txt").as_deref(),
            Some("agent-inject-template-db.txt")
        );
        assert_eq!(
            near("agent-inject-secretdb").as_deref(),
            Some("agent-inject-secret-db")
        );
        assert_eq!(
            near("agent-inject-secret").as_deref(),
            Some("agent-inject-secret-<name>")
        );
        assert_eq!(near("agent-injet").as_deref(), Some("agent-inject"));
        assert_eq!(
            near("agent-prepopulate").as_deref(),
            Some("agent-pre-populate")
        );
        assert_eq!(near("rol").as_deref(), Some("role"));
        assert_eq!(
            near("agent-requests-memory").as_deref(),
            Some("agent-requests-mem")
        );
        assert_eq!(near("auth-types").as_deref(), Some("auth-type"));
        // Nothing close: no suggestion.
        assert_eq!(near("something-else-entirely"), None);
        assert_eq!(near("x"), None);
        // Non-ASCII keys split only at character boundaries (slicing elsewhere would panic).
        assert!(near("agent-inject-secrét").is_some());
        assert_eq!(
            near("é-agent-inject-secret-x").as_deref(),
            Some("agent-inject-secret-x")
        );
    }

    #[test]
    fn distances_are_levenshtein_against_every_prefix() {
        let mut row = Vec::new();
        distances(b"kitten", b"sitting", &mut row);
        assert_eq!(row[7], 3);
        assert_eq!(row[0], 6);
        distances(b"", b"ab", &mut row);
        assert_eq!(row, vec![0, 1, 2]);
    }

    #[test]
    fn auth_types_by_flavor() {
        assert_eq!(
            AgentFlavor::Vaultlet.auth_types(),
            ["approle", "jwt", "kubernetes", "token_file"]
        );
        for flavor in [
            AgentFlavor::Vaultlet,
            AgentFlavor::Vault,
            AgentFlavor::Openbao,
        ] {
            let t = flavor.auth_types();
            assert!(t.contains(&"kubernetes"), "{flavor:?}");
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{flavor:?} sorted");
        }
        assert!(AgentFlavor::Vault.auth_types().contains(&"gcp"));
        assert!(!AgentFlavor::Openbao.auth_types().contains(&"gcp"));
        assert!(!AgentFlavor::Vaultlet.auth_types().contains(&"cert"));
    }

    #[test]
    fn values_without_effect() {
        assert!(no_effect_with_vaultlet("agent-telemetry-statsd_address", "x:1").is_some());
        assert!(no_effect_with_vaultlet("agent-disable-keep-alives", "templating").is_some());
        assert!(no_effect_with_vaultlet("agent-disable-keep-alives", "").is_none());
        assert!(no_effect_with_vaultlet("template-max-connections-per-host", "0").is_none());
        assert!(no_effect_with_vaultlet("template-max-connections-per-host", "4").is_some());
        assert!(no_effect_with_vaultlet("go-max-procs", "2").is_some());
        assert!(no_effect_with_vaultlet("role", "r").is_none());
        // Every key listed is a known annotation.
        for (k, _) in NO_EFFECT_WITH_VAULTLET {
            assert!(is_known(k), "{k}");
        }
    }
}
