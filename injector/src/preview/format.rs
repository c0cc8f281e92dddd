//! The documents `render` reads and writes (pure): JSON (one object, or several one after the
//! other) or YAML (several documents separated by `---`), told apart by the first character, and
//! written back in the same format.
//!
//! YAML is read and written with `yaml_serde`, the fork of `serde_yaml` that the YAML
//! organization maintains (`serde_yaml` itself is archived and marked deprecated; `serde_yml` is
//! unmaintained and now forwards to another crate). It is a drop-in with the same API, and its
//! dependencies are `indexmap`, `itoa`, `ryu` and `serde`, which the injector already builds, plus
//! `libyaml-rs`, libyaml translated to Rust (no C compiler, no build script). It goes into the
//! injector only; the agent does not link it.
//!
//! Objects are kept as `serde_json::Value` (the workspace's `preserve_order`: keys come back in
//! the input's order). Numbers are converted to YAML's by value, because `arbitrary_precision`
//! numbers do not serialise as numbers through another format's serializer.

use serde::Deserialize as _;
use serde_json::Value;

/// The format of the input, and so of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// Input that is not JSON or YAML.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("invalid YAML: {0}")]
    Yaml(#[from] yaml_serde::Error),
}

/// JSON when the first non-blank character opens an object or an array, else YAML.
pub fn detect(input: &str) -> Format {
    match input.trim_start().chars().next() {
        Some('{' | '[') => Format::Json,
        _ => Format::Yaml,
    }
}

/// The documents of `input`, empty YAML documents left out.
pub fn documents(input: &str, format: Format) -> Result<Vec<Value>, FormatError> {
    match format {
        Format::Json => Ok(serde_json::Deserializer::from_str(input)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()?),
        Format::Yaml => {
            let mut out = Vec::new();
            for doc in yaml_serde::Deserializer::from_str(input) {
                let v = Value::deserialize(doc)?;
                if !v.is_null() {
                    out.push(v);
                }
            }
            Ok(out)
        }
    }
}

/// `values` as one text: pretty JSON values one after the other, or YAML documents separated by
/// `---`.
pub fn write(values: &[Value], format: Format) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        match format {
            Format::Json => {
                out.push_str(&serde_json::to_string_pretty(v).unwrap_or_default());
                out.push('\n');
            }
            Format::Yaml => {
                if i > 0 {
                    out.push_str("---\n");
                }
                out.push_str(&yaml_serde::to_string(&to_yaml(v)).unwrap_or_default());
            }
        }
    }
    out
}

/// `v` as a YAML value (numbers by value: integers stay integers).
fn to_yaml(v: &Value) -> yaml_serde::Value {
    use yaml_serde::Value as Y;
    match v {
        Value::Null => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => Y::Number(if let Some(i) = n.as_i64() {
            i.into()
        } else if let Some(u) = n.as_u64() {
            u.into()
        } else {
            n.as_f64().unwrap_or(f64::NAN).into()
        }),
        Value::String(s) => Y::String(s.clone()),
        Value::Array(a) => Y::Sequence(a.iter().map(to_yaml).collect()),
        Value::Object(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_json_by_its_first_character() {
        assert_eq!(detect("  \n{\"kind\": \"Pod\"}"), Format::Json);
        assert_eq!(detect("kind: Pod\n"), Format::Yaml);
        assert_eq!(detect("---\nkind: Pod\n"), Format::Yaml);
        assert_eq!(detect("# a comment\n{}"), Format::Yaml);
    }

    #[test]
    fn yaml_documents_round_trip_with_order_numbers_and_quoting() {
        let input = "---\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    b: \"true\"\n    a: \"8080\"\nspec:\n  x: 3\n  y: 1.5\n---\n---\nkind: Job\n";
        let docs = documents(input, Format::Yaml).unwrap();
        assert_eq!(docs.len(), 2, "the empty document is left out");
        let keys: Vec<&String> = docs[0]["metadata"]["annotations"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys, ["b", "a"]);
        assert_eq!(docs[0]["metadata"]["annotations"]["b"], json!("true"));
        let text = write(&docs, Format::Yaml);
        assert_eq!(
            text,
            "kind: Pod\nmetadata:\n  name: p\n  annotations:\n    b: 'true'\n    a: '8080'\nspec:\n  x: 3\n  y: 1.5\n---\nkind: Job\n"
        );
        assert_eq!(documents(&text, Format::Yaml).unwrap(), docs);
    }

    #[test]
    fn json_documents_one_after_the_other() {
        let docs = documents("{\"a\": 1} {\"b\": [2]}\n", Format::Json).unwrap();
        assert_eq!(docs, vec![json!({"a": 1}), json!({"b": [2]})]);
        assert_eq!(
            write(&docs, Format::Json),
            "{\n  \"a\": 1\n}\n{\n  \"b\": [\n    2\n  ]\n}\n"
        );
    }

    #[test]
    fn bad_input_says_which_format() {
        let e = documents("{\"a\": ", Format::Json).unwrap_err();
        assert!(e.to_string().starts_with("invalid JSON: "), "{e}");
        let e = documents("a: [1,\n", Format::Yaml).unwrap_err();
        assert!(e.to_string().starts_with("invalid YAML: "), "{e}");
    }
}
