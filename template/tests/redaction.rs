//! Issue 16, failure 2: no execution error carries a value from the data (`vaultlet_template::redact`).
//! Each function family that can fail on a value is run on a secret holding a distinctive marker;
//! the error must not contain the marker, and must still say where (template name, line, column).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use vaultlet_shared::vault::Secret;
use vaultlet_template::{Context, Dependency, Fetched, Options, Template};

const MARKER: &str = "Zq9MARKERx7";

struct Ctx(Arc<Secret>);

impl Context for Ctx {
    fn fetch(&mut self, _dep: &Dependency) -> Option<Result<Fetched, String>> {
        Some(Ok(Fetched::Secret(Some(self.0.clone()))))
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
    fn real_path(&self, _path: &Path) -> Option<PathBuf> {
        None
    }
}

fn ctx() -> Ctx {
    let body = serde_json::json!({
        "data": {
            "m": MARKER,
            "num": "12345Zq9MARKERx7",
            "json": format!("{{\"a\": 7{MARKER}}}"),
            "bignum": "{\"a\": 98765432e999999}",
            "yaml": format!("a: {MARKER}\n  - {MARKER}\nb: [x"),
            "re": format!("({MARKER}"),
            "b64": format!("{MARKER}!!"),
            "list": ["x"],
            "nested": { MARKER: MARKER },
        }
    });
    Ctx(Arc::new(
        Secret::from_json(body.to_string().as_bytes()).unwrap(),
    ))
}

/// The error of `{{ EXPR }}` run against the secret; panics if it renders.
fn error_of(expr: &str) -> String {
    let text = format!("{{{{ with secret \"kv/app\" }}}}{{{{ {expr} }}}}{{{{ end }}}}");
    let t = Template::parse("t.tmpl", &text, Options::default()).unwrap();
    match t.execute(&mut ctx()) {
        Ok(r) => panic!("{expr} rendered {:?}", r.text),
        Err(e) => e.to_string(),
    }
}

fn assert_clean(expr: &str, marker: &str) {
    let e = error_of(expr);
    eprintln!("{e}");
    assert!(!e.contains(marker), "{expr}: {e}");
    assert!(
        e.contains("template: t.tmpl:1:"),
        "{expr}: the position: {e}"
    );
}

#[test]
fn parse_functions() {
    for f in ["parseInt", "parseUint", "parseFloat", "parseBool"] {
        let e = error_of(&format!("{f} .Data.m"));
        assert!(!e.contains(MARKER), "{e}");
        assert!(
            e.contains("parsing <string, 11 bytes>: invalid syntax"),
            "{e}"
        );
    }
    assert_clean(".Data.m | parseInt", MARKER);
    assert_clean("loop .Data.m", MARKER);
}

#[test]
fn json_and_yaml() {
    assert_clean("parseJSON .Data.json", MARKER);
    assert_clean("parseJSON .Data.bignum", "98765432e999999");
    assert_clean("parseYAML .Data.yaml", MARKER);
    assert_clean("toTOML .Data.m", MARKER);
}

#[test]
fn comparisons_and_index() {
    assert_clean("lt .Data.m 5", MARKER);
    assert_clean("eq .Data.m .Data.list", MARKER);
    assert_clean("index .Data.list .Data.m", MARKER);
    assert_clean("index .Data.list (parseInt .Data.m)", MARKER);
    assert_clean("index .Data.nested .Data.m 99", MARKER);
    assert_clean("slice .Data.m 99", MARKER);
    assert_clean("index .Data.m 20", MARKER);
}

#[test]
fn printf_errors() {
    assert_clean("printf .Data.list", MARKER);
    // Output text, not an error: Go's `%!d(string=…)` stays (docs/differences.md).
    let t = Template::parse(
        "t",
        "{{ with secret \"kv\" }}{{ printf \"%d\" .Data.m }}{{ end }}",
        Options::default(),
    )
    .unwrap();
    assert_eq!(
        t.execute(&mut ctx()).unwrap().text,
        format!("%!d(string={MARKER})")
    );
}

#[test]
fn regex_base64_and_sprig() {
    assert_clean("regexMatch .Data.re \"x\"", MARKER);
    assert_clean("regexReplaceAll .Data.re \"x\" \"y\"", MARKER);
    assert_clean("base64Decode .Data.b64", MARKER);
    assert_clean("base64URLDecode .Data.b64", MARKER);
    assert_clean("sprig_semverCompare .Data.m \"1.0.0\"", MARKER);
    assert_clean("sprig_fail .Data.m", MARKER);
    assert_clean("sprig_required .Data.m nil", MARKER);
    assert_clean("secret \"kv/other\" .Data.m", MARKER);
    assert_clean("executeTemplate .Data.m", MARKER);
    assert_clean("explodeMap .Data.nested | toJSON | parseInt", MARKER);
    // A method of an object (scratch), whose key comes from the data.
    assert_clean(
        "scratch.Set .Data.m \"x\" }}{{ scratch.MapSet .Data.m \"k\" \"v\"",
        MARKER,
    );
}

#[test]
fn a_literal_in_the_template_is_kept() {
    // Template text is not data: `fail "…"` and a literal argument keep Go's text.
    let e = error_of("parseInt \"abc\"");
    assert!(e.contains(r#"parsing "abc": invalid syntax"#), "{e}");
}
