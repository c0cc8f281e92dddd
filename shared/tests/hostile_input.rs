//! Hostile input for the shared parsers (docs/reliability.md, "Hostile input"): pod annotations,
//! the HCL and JSON config loaders, Go durations and Kubernetes quantities never panic and finish
//! each input within the time bound; where an invariant exists (a duration prints and parses back
//! to itself, a canonical quantity is its own canonical form, a config survives its own JSON
//! encoding) it is checked too. Budget: `PROPTEST_CASES` (see `vaultlet_tests::property`).

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use vaultlet_shared::annotations::{
    ANNOTATIONS, AgentSpec, Annotations, ContainerFacts, InjectorDefaults, OPENBAO_PREFIX,
    PodFacts, VAULT_PREFIX, VolumeFacts, canonical_quantity,
};
use vaultlet_shared::config::{AgentConfig, GoDuration};
use vaultlet_tests::property::{check, mutated};

/// Printable ASCII, `min..=max` characters (proptest's regex strategies need its `std` feature).
fn ascii(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::char::range(' ', '~'), min..=max).prop_map(String::from_iter)
}

/// Any characters, up to `max`.
fn chars(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Strings made of the given pieces and a little noise.
fn made_of(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => select(pieces).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => ascii(0, 4),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

const VALUE_PIECES: &[&str] = &[
    "true",
    "false",
    "1",
    "0",
    "-1",
    "T",
    "yes",
    "250m",
    "1Gi",
    "1.5",
    "1e3",
    "0x10",
    "5s",
    "1h30m",
    "-5s",
    "map",
    "json",
    "JSON",
    "xml",
    "/vault/secrets",
    "secret/data/app",
    ",",
    " ",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ":",
    "null",
    "{{",
    "}}",
    "[{\"op\":\"add\",\"path\":\"/x\",\"value\":1}]",
    "[{\"op\":\"bogus\"}]",
    "kubernetes",
    "approle",
    "jwt",
    "role",
    "9223372036854775808",
    "Ki",
    "E",
    "\u{0}",
    "é",
    "\n",
];

/// A key under one of the prefixes: a known annotation (a family with an arbitrary suffix), or
/// an arbitrary name.
fn annotation_key() -> impl Strategy<Value = String> {
    let known = (
        select(ANNOTATIONS.iter().map(|d| d.name).collect::<Vec<_>>()),
        select(&["", "db", "a.b", "x-y", "UPPER", "é", "-", ".."][..]),
    )
        .prop_map(|(name, suffix)| {
            if name.ends_with('-') {
                format!("{name}{suffix}")
            } else {
                name.to_owned()
            }
        });
    let name = prop_oneof![4 => known, 1 => ascii(0, 12)];
    (
        select(&[VAULT_PREFIX, OPENBAO_PREFIX, "", "example.com/"][..]),
        name,
    )
        .prop_map(|(prefix, name)| format!("{prefix}{name}"))
}

fn annotations() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((annotation_key(), made_of(VALUE_PIECES, 6)), 0..24)
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
        volumes: vec![VolumeFacts {
            name: "kube-api-access".into(),
            sa_token_path: None,
        }],
        share_process_namespace: None,
    }
}

#[test]
fn annotations_give_a_spec_or_a_refusal() {
    let defaults = InjectorDefaults::default();
    let pod = pod();
    check("annotations", 2000, annotations(), |pairs| {
        let a = Annotations::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let _ = a.wants_injection();
        let _ = a.conflict();
        if let Err(e) = AgentSpec::build(&a, &pod, "ns", &defaults) {
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(())
    });
}

const HCL_PIECES: &[&str] = &[
    "vault",
    "auto_auth",
    "method",
    "\"kubernetes\"",
    "config",
    "sink",
    "\"file\"",
    "template",
    "template_config",
    "listener",
    "\"tcp\"",
    "cache",
    "api_proxy",
    "exit_after_auth",
    "pid_file",
    "address",
    "role",
    "path",
    "destination",
    "contents",
    "left_delimiter",
    "error_on_missing_key",
    "static_secret_render_interval",
    "retry",
    "num_retries",
    "tls_skip_verify",
    "{",
    "}",
    "[",
    "]",
    "=",
    " = ",
    ",",
    "\n",
    " ",
    "\"",
    "\"x\"",
    "\"5s\"",
    "5",
    "-1",
    "1e400",
    "true",
    "false",
    "#",
    "//",
    "/*",
    "*/",
    "<<EOF\n",
    "EOF\n",
    "${",
    "\\",
    "\"\\u00\"",
    "0x",
    "1.5",
];

/// A config as an operator writes it in HCL.
const BASE_HCL: &str = r#"
vault {
  address = "https://vault.vault.svc:8200"
  retry { num_retries = 5 }
}
auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = { role = "web" }
  }
  sink "file" { config = { path = "/home/vault/.vault-token" } }
}
template_config { static_secret_render_interval = "5m" }
template {
  destination = "/vault/secrets/db"
  contents    = <<EOT
{{ with secret "database/creds/web" }}{{ .Data.username }}{{ end }}
EOT
}
"#;

#[test]
fn hcl_loader_never_panics() {
    assert!(AgentConfig::from_hcl_str(BASE_HCL).is_ok());
    // Arbitrary text, and the base config with pieces spliced in or cut out at any place.
    let splice = (any::<usize>(), 0..8usize, made_of(HCL_PIECES, 3));
    let texts = prop_oneof![
        made_of(HCL_PIECES, 40),
        prop::collection::vec(splice, 1..4).prop_map(|edits| {
            let mut t = BASE_HCL.as_bytes().to_vec();
            for (at, cut, insert) in edits {
                let at = at % (t.len() + 1);
                let end = (at + cut).min(t.len());
                t.splice(at..end, insert.into_bytes());
            }
            String::from_utf8_lossy(&t).into_owned()
        }),
    ];
    check("hcl", 2000, texts, |text| {
        let _ = AgentConfig::from_hcl_str(&text);
        Ok(())
    });
}

fn config_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(&HCL_PIECES[..28]).prop_map(|k| k.trim_matches('"').to_owned()),
        1 => chars(6),
    ]
}

/// Arbitrary JSON whose keys are mostly the config's own.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        made_of(
            &[
                "5s",
                "1",
                "x",
                "/tmp/f",
                "kubernetes",
                "0600",
                "tcp",
                "127.0.0.1:0",
                ""
            ],
            3
        )
        .prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        let key = prop_oneof![
            6 => select(&HCL_PIECES[..28]).prop_map(|k| k.trim_matches('"').to_owned()),
            1 => chars(6),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((key, inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// The agent config the injector writes for a basic pod (injector/tests/data/basic.expected.json).
const BASE_CONFIG: &str = r#"{"auto_auth":{"method":{"type":"kubernetes","mount_path":"auth/kubernetes","config":{"role":"web","token_path":"/var/run/secrets/kubernetes.io/serviceaccount/token"}},"sink":[{"type":"file","config":{"path":"/home/vault/.vault-token"}}]},"exit_after_auth":false,"pid_file":"/home/vault/.pid","vault":{"address":"https://vault.vault.svc:8200"},"template":[{"destination":"/vault/secrets/db-creds","contents":"{{ with secret \"database/creds/web\" }}{{ .Data }}{{ end }}","left_delimiter":"{{","right_delimiter":"}}"}],"template_config":{"exit_on_retry_failure":true}}"#;

#[test]
fn json_loader_never_panics_and_its_configs_survive_their_encoding() {
    let base: serde_json::Value = serde_json::from_str(BASE_CONFIG).unwrap();
    assert!(AgentConfig::from_json_str(BASE_CONFIG).is_ok());
    let loaded_any = std::cell::Cell::new(false);
    let docs = prop_oneof![
        1 => json(),
        3 => mutated(base, json(), config_key()),
    ];
    check("json", 2000, docs, |value| {
        let text = value.to_string();
        let Ok(loaded) = AgentConfig::from_json_str(&text) else {
            return Ok(());
        };
        loaded_any.set(true);
        // What the injector writes (to_json_go) reads back as the same config.
        if let Ok(encoded) = loaded.config.to_json_go() {
            let again = AgentConfig::parse_json_str(std::str::from_utf8(&encoded).unwrap())
                .map_err(|e| TestCaseError::fail(format!("re-reading {text}: {e}")))?;
            prop_assert_eq!(&again.config, &loaded.config, "{}", text);
        }
        Ok(())
    });
    // The round trip above ran (the base config and light mutations of it load).
    assert!(loaded_any.get());
}

#[test]
fn json_loader_never_panics_on_any_text() {
    check(
        "json-text",
        2000,
        made_of(
            &[
                "{",
                "}",
                "[",
                "]",
                ":",
                ",",
                "\"vault\"",
                "\"template\"",
                "1",
                "null",
                "\"",
                "\\u",
                "\\",
                "1e999",
                "-",
                " ",
            ],
            30,
        ),
        |text| {
            let _ = AgentConfig::from_json_str(&text);
            Ok(())
        },
    );
}

const DURATION_PIECES: &[&str] = &[
    "0",
    "1",
    "9",
    "00",
    ".",
    "5",
    "h",
    "m",
    "s",
    "ms",
    "us",
    "µs",
    "ns",
    "d",
    "-",
    "+",
    " ",
    "9223372036854775807",
    "18446744073709551616",
    "e",
    "1.5",
    "0.000000001",
];

#[test]
fn durations_never_panic_and_print_back_to_themselves() {
    check("duration-text", 3000, made_of(DURATION_PIECES, 8), |text| {
        for d in [
            GoDuration::parse_go(&text),
            GoDuration::parse_lenient(&text),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(d.0 <= Duration::from_nanos(i64::MAX as u64));
        }
        Ok(())
    });
    // Go's Duration.String() is exact, so printing and parsing is the identity on 0..=i64::MAX ns.
    check("duration-roundtrip", 3000, 0..=i64::MAX as u64, |nanos| {
        let d = GoDuration(Duration::from_nanos(nanos));
        let printed = d.to_string();
        prop_assert_eq!(GoDuration::parse_go(&printed), Ok(d), "{}", printed);
        prop_assert_eq!(GoDuration::parse_lenient(&printed), Ok(d), "{}", printed);
        Ok(())
    });
    // Whole seconds: the lenient rule reads digits as seconds.
    check(
        "duration-seconds",
        1000,
        0..=(i64::MAX / 1_000_000_000),
        |secs| {
            prop_assert_eq!(
                GoDuration::parse_lenient(&secs.to_string()),
                Ok(GoDuration(Duration::from_secs(secs as u64)))
            );
            Ok(())
        },
    );
}

const QUANTITY_PIECES: &[&str] = &[
    "0",
    "1",
    "5",
    "9",
    "250",
    ".",
    "-",
    "+",
    "e",
    "E",
    "i",
    "n",
    "u",
    "m",
    "k",
    "K",
    "M",
    "G",
    "T",
    "P",
    "Ki",
    "Mi",
    "Gi",
    "Ei",
    "e3",
    "e-3",
    "E18",
    "99999999999999999999",
];

#[test]
fn quantities_never_panic_and_canonical_forms_are_fixed_points() {
    check("quantity", 3000, made_of(QUANTITY_PIECES, 8), |text| {
        if let Ok(c) = canonical_quantity(&text) {
            prop_assert_eq!(canonical_quantity(&c), Ok(c.clone()), "{} -> {}", text, c);
        }
        Ok(())
    });
    // Plain integers: canonical, and the same quantity as their `k`-scaled form.
    check("quantity-int", 2000, 0..1_000_000_000u64, |n| {
        let plain = canonical_quantity(&n.to_string());
        prop_assert!(plain.is_ok(), "{}", n);
        prop_assert_eq!(
            canonical_quantity(&format!("{n}000m")),
            plain.clone(),
            "{}",
            n
        );
        if n % 1000 == 0 {
            prop_assert_eq!(
                canonical_quantity(&format!("{}k", n / 1000)),
                plain,
                "{}",
                n
            );
        }
        Ok(())
    });
}
