//! Hostile input for the template engine (docs/reliability.md, "Hostile input"): the lexer, the
//! parser and the evaluator on arbitrary text, arbitrary delimiters and arbitrary secret data
//! never panic, finish each input within the time bound, and keep their output under
//! [`MAX_OUTPUT`]. Budget: `PROPTEST_CASES` (see `vaultlet_tests::property`).

#[path = "../../tests/src/property.rs"]
#[allow(dead_code)]
mod property;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use proptest::sample::select;
use vaultlet_shared::vault::Secret;
use vaultlet_template::exec::MAX_OUTPUT;
use vaultlet_template::lexer::lex;
use vaultlet_template::{Context, Dependency, Fetched, Options, Template};

use property::check;

/// Pieces templates are made of: delimiters, keywords, functions (with the data-reading ones),
/// literals, variables, and bits that are almost right.
const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    "{{ ",
    " }}",
    "(",
    ")",
    "|",
    " ",
    "\n",
    "\"",
    "`",
    "'",
    ".",
    ",",
    "=",
    ":=",
    "$",
    "$x",
    "$x := ",
    "$y",
    "$_",
    "/*",
    "*/",
    "{{/* c */}}",
    "if ",
    "else",
    "else if ",
    "end",
    "range ",
    "with ",
    "define \"a\"",
    "template \"a\"",
    "template \"a\" .",
    "block \"b\" .",
    "break",
    "continue",
    "nil",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "3",
    "1e3",
    "0x1F",
    "1_000",
    "'a'",
    "1.5",
    "9223372036854775808",
    "\"s\"",
    "\"\\n\"",
    "\"\\x\"",
    "`raw`",
    ".Data",
    ".Data.data",
    ".Data.k",
    ".Data.list",
    ".a.b.c",
    ".Warnings",
    "secret \"kv/a\"",
    "(secret \"kv/a\")",
    "secrets \"kv/\"",
    "env \"HOME\"",
    "index",
    "index .Data \"k\"",
    "slice",
    "len",
    "printf",
    "printf \"%v%s%d%q%x%*d\"",
    "print",
    "println",
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "call",
    "html",
    "js",
    "urlquery",
    "toJSON",
    "toJSONPretty",
    "toYAML",
    "parseJSON",
    "parseYAML",
    "parseInt",
    "parseFloat",
    "parseBool",
    "base64Decode",
    "base64Encode",
    "split",
    "join",
    "trimSpace",
    "toUpper",
    "replaceAll",
    "regexMatch",
    "regexReplaceAll",
    "loop",
    "loop 5",
    "executeTemplate \"a\"",
    "executeTemplate \"a\" .",
    "scratch.Set \"k\"",
    "scratch.Get \"k\"",
    "sprig_list",
    "sprig_dict",
    "sprig_append",
    "sprig_repeat 3",
    "sprig_until 4",
    "sprig_indent 2",
    "sprig_toString",
    "contains",
    "in",
    "sha256Hex",
    "timestamp",
    "mustEnv",
    "writeToFile",
];

/// Printable ASCII, `min..=max` characters (proptest's regex strategies need its `std` feature).
fn ascii(min: usize, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::char::range(' ', '~'), min..=max).prop_map(String::from_iter)
}

/// Any characters, up to `max`.
fn chars(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

fn template_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => select(PIECES).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => ascii(0, 6),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|v| v.concat())
}

fn delimiter() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["{{", "}}", "[[", "]]", "<%", "%>", "{", "}", "((", "))", "{{{", "|", "\"",
                      "/*", "a", "é", "{{-", " "][..]).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
        1 => ascii(1, 4),
    ]
}

/// Arbitrary JSON, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        chars(12).prop_map(serde_json::Value::String),
        select(
            &[
                "1",
                "-0",
                "true",
                "1e3",
                "{\"a\":1}",
                "[1,2]",
                "a: b",
                "dGVzdA==",
                "x,y"
            ][..]
        )
        .prop_map(|s| serde_json::Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(
                (select(&["k", "data", "list", "a", "b", ""][..]), inner),
                0..6
            )
            .prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A runtime over arbitrary data: every read answers the same secret, every list the same keys.
struct Data {
    secret: Arc<Secret>,
    keys: Vec<String>,
}

impl Context for Data {
    fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>> {
        Some(Ok(match dep {
            Dependency::List { .. } => Fetched::List(self.keys.clone()),
            Dependency::File { .. } => Fetched::File("file contents".into()),
            Dependency::Pki { .. } => return Some(Err("no PKI here".into())),
            _ => Fetched::Secret(Some(self.secret.clone())),
        }))
    }
    fn env(&self, name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/x".into())
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }
    fn real_path(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

#[test]
fn lexer_never_panics_and_tokens_stay_in_the_text() {
    check(
        "lexer",
        3000,
        (template_text(), delimiter(), delimiter()),
        |(text, left, right)| {
            let tokens = lex(&text, &left, &right);
            prop_assert!(!tokens.is_empty());
            for t in &tokens {
                prop_assert!(t.start <= t.end && t.end <= text.len(), "{t:?}");
                prop_assert!(text.is_char_boundary(t.start) && text.is_char_boundary(t.end));
            }
            Ok(())
        },
    );
}

#[test]
fn parser_never_panics_on_any_text_or_delimiters() {
    check(
        "parser",
        3000,
        (template_text(), delimiter(), delimiter(), any::<bool>()),
        |(text, left, right, custom)| {
            let opts = if custom {
                Options {
                    left,
                    right,
                    ..Options::default()
                }
            } else {
                Options::default()
            };
            if let Err(e) = Template::parse("t", &text, opts) {
                prop_assert!(e.to_string().starts_with("parse: template: t:"), "{e}");
            }
            Ok(())
        },
    );
}

#[test]
fn executing_any_parsed_template_on_any_data_never_panics() {
    check(
        "executor",
        1500,
        (
            template_text(),
            json(),
            prop::collection::vec(chars(8), 0..4),
            any::<bool>(),
        ),
        |(text, data, keys, missing_key_error)| {
            let opts = Options {
                missing_key_error,
                ..Options::default()
            };
            let Ok(t) = Template::parse("t", &text, opts) else {
                return Ok(());
            };
            // `.Data` is a map (Vault's answer); the arbitrary value sits under the keys the
            // pieces read, and as KV v2's `.Data.data`.
            let body = serde_json::json!({
                "data": {"k": data.clone(), "list": [data.clone()], "data": {"k": data}},
                "lease_duration": 60,
            })
            .to_string();
            let secret = Secret::from_json(body.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("fixture: {e}")))?;
            let mut ctx = Data {
                secret: Arc::new(secret),
                keys,
            };
            if let Ok(r) = t.execute(&mut ctx) {
                prop_assert!(r.text.len() <= MAX_OUTPUT);
            }
            Ok(())
        },
    );
}

/// Known-hostile shapes, each bounded by one of the limits of docs/reliability.md.
#[test]
fn hostile_templates_stop_at_their_limits() {
    let mut ctx = Data {
        secret: Arc::new(Secret::from_json(br#"{"data":{"k":"v"}}"#).unwrap()),
        keys: vec![],
    };
    for (src, ends) in [
        (
            "{{ range 100000000000 }}x{{ end }}",
            "range: more than 10000000 iterations",
        ),
        (
            r#"{{ $s := "0123456789abcdef" }}{{ range 30 }}{{ $s = print $s $s }}{{ end }}"#,
            "error calling print: result exceeds the limit of 67108864 bytes",
        ),
        (
            r#"{{ range 100 }}{{ sprig_repeat 1000000 "x" }}{{ end }}"#,
            "output exceeds the limit of 67108864 bytes",
        ),
    ] {
        let t = Template::parse("t", src, Options::default()).unwrap();
        let e = t.execute(&mut ctx).unwrap_err().to_string();
        assert!(e.ends_with(ends), "{src}: {e}");
    }
}
