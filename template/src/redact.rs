//! Keeps data out of error messages (issue 16, failure 2; a deliberate difference from Go's engine,
//! `docs/differences.md`). A template's data is mostly secrets, and an execution error is logged, so
//! no error this crate returns carries a value from the data: where Go's text quotes a value
//! (`strconv.ParseInt: parsing "hunter22": invalid syntax`), ours names its type and length
//! instead (`strconv.ParseInt: parsing <string, 8 bytes>: invalid syntax`); the template name,
//! line, column and the node (`at <parseInt .Data.pin>`, template text, never data) say where.
//!
//! How: the functions keep Go's exact texts (their unit tests compare them), and the evaluator
//! passes every failed call's message through [`scrub`] with the call's arguments before it
//! becomes an error: each string in the arguments (map keys and nested items included, numbers
//! in their printed form) is replaced where the message quotes it (`"…"` as Go's `%q` writes it) or,
//! for values of [`MIN_RAW`] bytes or more, where it appears bare. Nothing written to a file
//! depends on an error's text (an error aborts the render), so only the returned text changes.
//! Output text is not an error: `printf "%d" .Data.x` still renders `%!d(string=…)`, as Go does.

use crate::Value;
use crate::value::format_float_g;

/// Values shorter than this are replaced only where the message quotes them: replacing a bare `1`
/// or `ok` would garble the message's own words and numbers.
pub const MIN_RAW: usize = 4;

/// At most this many values are collected from the arguments (a bound on the work per error).
const MAX_VALUES: usize = 10_000;

/// `<TYPE, N bytes>`: what an error says instead of a value.
pub fn placeholder(type_name: &str, len: usize) -> String {
    format!("<{type_name}, {len} bytes>")
}

/// `msg` with every value of `args` (see the module docs) replaced by its [`placeholder`].
pub fn scrub<V: std::borrow::Borrow<Value>>(msg: &str, args: &[V]) -> String {
    let mut values = Vec::new();
    for a in args {
        collect(a.borrow(), 0, &mut values);
    }
    // Longest first, so a value containing another is replaced whole; equal texts side by side.
    values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
    values.dedup_by(|a, b| a.0 == b.0);
    let mut out = msg.to_string();
    for (text, type_name) in &values {
        if text.is_empty() {
            continue;
        }
        let p = placeholder(type_name, text.len());
        let quoted = crate::lexer::go_quote(text);
        if out.contains(&quoted) {
            out = out.replace(&quoted, &p);
        }
        if text.len() >= MIN_RAW && out.contains(text.as_str()) {
            out = out.replace(text.as_str(), &p);
        }
    }
    out
}

fn collect(v: &Value, depth: usize, out: &mut Vec<(String, &'static str)>) {
    if out.len() >= MAX_VALUES || depth > 64 {
        return;
    }
    let t = v.type_name();
    match v {
        Value::String(s) | Value::Number(s) => out.push((s.to_string(), t)),
        Value::Int(i) | Value::Int64(i) => out.push((i.to_string(), t)),
        Value::Uint(u) => out.push((u.to_string(), t)),
        Value::Float(f) => out.push((format_float_g(*f), t)),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            l.iter().for_each(|x| collect(x, depth + 1, out))
        }
        Value::Map(m) | Value::StrMap(m) => {
            for (k, x) in m.iter() {
                out.push((k.text().to_string(), "string"));
                collect(x, depth + 1, out);
            }
        }
        Value::AnyMap(m) => {
            for (k, x) in m.iter() {
                collect(k, depth + 1, out);
                collect(x, depth + 1, out);
            }
        }
        Value::Record(r) => r
            .fields
            .iter()
            .for_each(|(_, x)| collect(x, depth + 1, out)),
        Value::Nil
        | Value::NilList
        | Value::NilAnyList
        | Value::Bool(_)
        | Value::NilPtr(_)
        | Value::Object(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn quoted_and_bare_values_are_replaced() {
        let v = [Value::str("hunter22")];
        assert_eq!(
            scrub(
                r#"strconv.ParseInt: parsing "hunter22": invalid syntax"#,
                &v
            ),
            "strconv.ParseInt: parsing <string, 8 bytes>: invalid syntax"
        );
        assert_eq!(
            scrub("improper constraint: hunter22", &v),
            "improper constraint: <string, 8 bytes>"
        );
        // Go's quoting of the value is what is searched for.
        let v = [Value::str("a\"b\tc")];
        assert_eq!(scrub(r#"x "a\"b\tc" y"#, &v), "x <string, 5 bytes> y");
    }

    #[test]
    fn short_values_only_when_quoted() {
        let v = [Value::str("1x")];
        assert_eq!(scrub(r#"line 1x: "1x""#, &v), "line 1x: <string, 2 bytes>");
    }

    #[test]
    fn nested_values_and_keys() {
        let mut inner = BTreeMap::new();
        inner.insert("sekrit-key".into(), Value::Number("987654321".into()));
        let v = [Value::list(vec![Value::map(inner)]), Value::Int(123456)];
        assert_eq!(
            scrub(
                r#"map has no entry for key "sekrit-key"; 987654321; index out of range: 123456"#,
                &v
            ),
            "map has no entry for key <string, 10 bytes>; <json.Number, 9 bytes>; index out of range: <int, 6 bytes>"
        );
    }

    #[test]
    fn a_longer_value_wins_over_its_part() {
        let v = [Value::str("abcd"), Value::str("abcdefgh")];
        assert_eq!(
            scrub("abcdefgh abcd", &v),
            "<string, 8 bytes> <string, 4 bytes>"
        );
    }
}
