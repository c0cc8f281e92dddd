//! Serialising and parsing: `toJSON`, `toJSONPretty`, `toUnescapedJSON`, `toUnescapedJSONPretty`,
//! `toYAML`, `toTOML`, `parseJSON`, `parseYAML` (agent.md §4.4). JSON output is Go's
//! `encoding/json` byte for byte: sorted map keys, struct fields in declaration order, Numbers as
//! their literal text, Go's float format and escaping.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use vaultlet_shared::json::Json;

use super::{args, yaml};
use crate::gostr::{GoText, Key};
use crate::value::go_exp;
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "toJSON" => to_json,
        "toJSONPretty" => to_json_pretty,
        "toUnescapedJSON" => to_unescaped_json,
        "toUnescapedJSONPretty" => to_unescaped_json_pretty,
        "toYAML" => to_yaml,
        "toTOML" => to_toml,
        "parseJSON" => parse_json,
        "parseYAML" => parse_yaml,
        _ => return None,
    })
}

/// Go `encoding/json` `Marshal` (`indent` = `MarshalIndent(v, "", indent)`, `html` = HTML escaping).
pub fn go_json(v: &Value, indent: Option<&str>, html: bool) -> Result<String, String> {
    let mut out = String::new();
    write_json(&mut out, v, indent, html, 0)?;
    Ok(out)
}

/// Go's JSON string quoting (Go ≥ 1.22: `\b` and `\f` short escapes; U+2028/9 always escaped).
pub fn quote(out: &mut String, s: &str, html: bool) {
    vaultlet_shared::json::go_quote_with(out, s, html)
}

/// Go's `encoding/json` float64 format: shortest digits, plain unless `|f| < 1e-6` or `≥ 1e21`.
pub fn json_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::value::format_float_g(f)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format!("{f:e}");
        let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut s = go_exp(mant, exp);
        // Go trims `e-07` to `e-7`.
        let n = s.len();
        if n >= 4 && &s[n - 4..n - 1] == "e-0" {
            s.remove(n - 2);
        }
        return Ok(s);
    }
    Ok(format!("{f}"))
}

fn newline(out: &mut String, indent: Option<&str>, level: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

fn write_members<'a>(
    out: &mut String,
    members: impl ExactSizeIterator<Item = (&'a str, &'a Value)>,
    indent: Option<&str>,
    html: bool,
    level: usize,
) -> Result<(), String> {
    if members.len() == 0 {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, level + 1);
        quote(out, k, html);
        out.push(':');
        if indent.is_some() {
            out.push(' ');
        }
        write_json(out, v, indent, html, level + 1)?;
    }
    newline(out, indent, level);
    out.push('}');
    Ok(())
}

/// Go's error for a map key that is not a string or an integer: where the object starts (a JSON
/// pointer to it unless it is the top level) and the byte offset after its `{`, counted in the
/// compact form even when indenting (Go indents after encoding).
fn member_name_error(out: &str) -> String {
    let path = json_pointer_at_end(out);
    let within = if path.is_empty() {
        String::new()
    } else {
        format!("within \"{path}\" ")
    };
    format!(
        "json: unsupported value: jsontext: object member name must be a string {within}after offset {}",
        compact_len(out) + 2
    )
}

/// The length of `out` without the indentation whitespace outside strings.
fn compact_len(out: &str) -> usize {
    let (mut n, mut in_str, mut esc) = (0, false, false);
    for b in out.bytes() {
        if in_str {
            n += 1;
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
        } else if !matches!(b, b' ' | b'\n') {
            n += 1;
            in_str = b == b'"';
        }
    }
    n
}

/// The JSON pointer of the value that starts at the end of `out` (a prefix of our own output).
fn json_pointer_at_end(out: &str) -> String {
    // (is an object, current member name or item index)
    let mut stack: Vec<(bool, String, usize)> = Vec::new();
    let b = out.as_bytes();
    let mut i = 0;
    let mut pending_name: Option<String> = None;
    while i < b.len() {
        match b[i] {
            b'{' => stack.push((true, String::new(), 0)),
            b'[' => stack.push((false, String::new(), 0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.2 += 1;
                }
            }
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let raw = &out[start..i.min(out.len())];
                pending_name = Some(raw.to_string());
            }
            b':' => {
                if let (Some(top), Some(n)) = (stack.last_mut(), pending_name.take()) {
                    top.1 = Json::parse(&format!("\"{n}\""))
                        .ok()
                        .and_then(|j| match j {
                            Json::String(s) => Some(s),
                            _ => None,
                        })
                        .unwrap_or(n);
                }
            }
            _ => {}
        }
        i += 1;
    }
    stack
        .iter()
        .map(|(obj, name, idx)| {
            if *obj {
                format!("/{}", name.replace('~', "~0").replace('/', "~1"))
            } else {
                format!("/{idx}")
            }
        })
        .collect()
}

fn write_json(
    out: &mut String,
    v: &Value,
    indent: Option<&str>,
    html: bool,
    level: usize,
) -> Result<(), String> {
    match v {
        Value::Nil | Value::NilPtr(_) | Value::NilList | Value::NilAnyList => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::Number(n) => {
            if n.is_empty() {
                out.push('0');
            } else if matches!(Json::parse(n), Ok(Json::Number(_))) {
                out.push_str(n);
            } else {
                return Err(format!(
                    "json: invalid number literal {}",
                    args::go_quote_str(n)
                ));
            }
        }
        Value::String(s) => quote(out, s, html),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_json(out, item, indent, html, level + 1)?;
            }
            newline(out, indent, level);
            out.push(']');
        }
        Value::Map(m) | Value::StrMap(m) => write_members(
            out,
            // encoding/json writes a key that is not UTF-8 with U+FFFD (agent.md §4.5.3).
            m.iter().map(|(k, v)| (k.text(), v)),
            indent,
            html,
            level,
        )?,
        Value::AnyMap(m) => {
            // Go's encoding/json (v2 underneath, Go ≥ 1.25) names a member by the key's dynamic
            // value: strings and integers; anything else (bool, float, nil) is refused.
            let mut members: Vec<(String, &Value)> = Vec::with_capacity(m.len());
            for (k, v) in m.iter() {
                let name = match k {
                    Value::String(s) => s.to_string(),
                    Value::Int(i) => i.to_string(),
                    Value::Uint(u) => u.to_string(),
                    _ => return Err(member_name_error(out)),
                };
                members.push((name, v));
            }
            members.sort_by(|a, b| a.0.cmp(&b.0));
            write_members(
                out,
                members.iter().map(|(k, v)| (k.as_str(), *v)),
                indent,
                html,
                level,
            )?
        }
        Value::Record(r) => write_members(
            out,
            r.fields.iter().map(|(k, v)| (*k, v)),
            indent,
            html,
            level,
        )?,
        Value::Object(o) => match o.type_name() {
            "dependency.PemEncoded" => {
                let fields: Vec<(&str, Value)> = ["Cert", "Key", "CA", "CAChain"]
                    .into_iter()
                    .map(|n| (n, o.field(n).unwrap_or(Value::Nil)))
                    .collect();
                write_members(
                    out,
                    fields.iter().map(|(k, v)| (*k, v)),
                    indent,
                    html,
                    level,
                )?
            }
            // Their `MarshalJSON`: a time in RFC 3339 with nanoseconds, a version as its string.
            "time.Time" | "*semver.Version" => quote(out, &marshal_text(o.as_ref()), html),
            // A string that is not UTF-8 (`crate::gostr`): Go writes U+FFFD for each bad byte.
            "string" => quote(out, &o.print(), html),
            // `uint8`, `time.Month`: the number.
            _ if o.go_int().is_some() => out.push_str(&v.go_int().unwrap_or(Value::Nil).print()),
            t => return Err(format!("json: unsupported type: {t}")),
        },
    }
    Ok(())
}

fn one<'a>(name: &str, a: &'a [Value]) -> Result<&'a Value, String> {
    args::arity(name, a, 1)?;
    Ok(&a[0])
}

/// The text a `time.Time` (RFC 3339 with nanoseconds) or a `*semver.Version` (its string)
/// marshals to.
pub fn marshal_text(o: &dyn crate::Object) -> String {
    match o.method(
        "Format",
        &[Value::str("2006-01-02T15:04:05.999999999Z07:00")],
    ) {
        Some(Ok(Value::String(s))) => s.to_string(),
        _ => o.print(),
    }
}

fn to_json(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = go_json(one("toJSON", a)?, None, true).map_err(|e| format!("toJSON: {e}"))?;
    Ok(Value::str(s.trim()))
}

fn to_json_pretty(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = go_json(one("toJSONPretty", a)?, Some("  "), true)
        .map_err(|e| format!("toJSONPretty: {e}"))?;
    Ok(Value::str(s.trim()))
}

fn to_unescaped_json(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = go_json(one("toUnescapedJSON", a)?, None, false)
        .map_err(|e| format!("toUnescapedJSON: {e}"))?;
    Ok(Value::str(s))
}

fn to_unescaped_json_pretty(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = go_json(one("toUnescapedJSONPretty", a)?, Some("  "), false)
        .map_err(|e| format!("toUnescapedJSONPretty: {e}"))?;
    Ok(Value::str(s))
}

fn to_yaml(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = yaml::to_yaml(one("toYAML", a)?).map_err(|e| format!("toYAML: {e}"))?;
    Ok(Value::str(s))
}

fn to_toml(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let mut s = toml(one("toTOML", a)?).map_err(|e| format!("toTOML: {e}"))?;
    // It starts with a key or a table header, never with white space.
    s.trim_end();
    Ok(s.into_value())
}

/// JSON (with Go's float64 numbers) ⇒ value.
pub fn json_to_value(j: &Json) -> Result<Value, String> {
    Ok(match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            // The number is part of the (secret) input, not an argument: named by its length
            // here, as crate::redact does for whole arguments.
            let shown = || crate::redact::placeholder("number", n.len());
            let f: f64 = n
                .parse()
                .map_err(|_| format!("invalid number {}", shown()))?;
            if f.is_infinite() {
                return Err(format!(
                    "json: cannot unmarshal number {} into Go value of type float64",
                    shown()
                ));
            }
            Value::Float(f)
        }
        Json::String(s) => Value::str(s.as_str()),
        Json::Array(a) => Value::list(a.iter().map(json_to_value).collect::<Result<_, _>>()?),
        Json::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                out.insert(Key::Str(k.clone()), json_to_value(v)?);
            }
            Value::map(out)
        }
    })
}

fn parse_json(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("parseJSON", a, 1)?;
    let s = args::string(&a[0])?;
    if s.is_empty() {
        return Ok(Value::map(BTreeMap::new()));
    }
    let j = Json::parse(s).map_err(|e| e.to_string())?;
    json_to_value(&j)
}

fn parse_yaml(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("parseYAML", a, 1)?;
    let s = args::string(&a[0])?;
    // yaml.v2 reads bytes: UTF-16 after its byte order mark, and input that is not UTF-8 fails
    // in its reader (agent.md §4.5.3).
    if let Some(b) = crate::gostr::invalid_utf8(&a[0]) {
        if let Some(text) = yaml::utf16_text(b) {
            // The input is not empty (it has the mark), so no empty-map shortcut.
            return yaml::parse_yaml(&text?);
        }
        if let Some(e) = yaml::reader_error(b) {
            return Err(e.into());
        }
    }
    if s.is_empty() {
        return Ok(Value::map(BTreeMap::new()));
    }
    yaml::parse_yaml(s)
}

// ----------------------------------------------------------------------------------------------
// TOML (BurntSushi/toml encoder layout)
// ----------------------------------------------------------------------------------------------

/// TOML of a map: plain keys first, then tables (`[a.b]`, nested ones indented two spaces per level)
/// and arrays of tables; nil values are left out.
pub fn toml(v: &Value) -> Result<GoText, String> {
    // A parsed YAML map (`map[interface {}]interface {}`), at any depth, has no string key type.
    if has_any_map(v) {
        return Err("toml: cannot encode a map with non-string key type".into());
    }
    let (Value::Map(m) | Value::StrMap(m)) = v else {
        return Err(format!(
            "toml: top-level values must be Go maps or structs, not {}",
            v.type_name()
        ));
    };
    let mut out = GoText::default();
    toml_table(&mut out, &[], m)?;
    Ok(out)
}

fn has_any_map(v: &Value) -> bool {
    match v {
        Value::AnyMap(_) => true,
        Value::Map(m) => m.values().any(has_any_map),
        Value::List(l) => l.iter().any(has_any_map),
        _ => false,
    }
}

/// A key, bare or quoted; a key that is not UTF-8 is quoted with its bad bytes as they are
/// (agent.md §4.5.3).
fn toml_key(out: &mut GoText, k: &Key) {
    let b = k.as_bytes();
    if !b.is_empty()
        && b.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
    {
        out.push_str(k.text());
    } else {
        toml_quote_bytes(out, b);
    }
}

fn toml_quote(out: &mut GoText, s: &str) {
    out.push('"');
    toml_escape(&mut out.text, s);
    out.push('"');
}

/// A string that is not UTF-8 (`crate::gostr`): BurntSushi/toml escapes on bytes, so the bad
/// bytes are written as they are.
fn toml_quote_bytes(out: &mut GoText, b: &[u8]) {
    out.push('"');
    for chunk in b.utf8_chunks() {
        toml_escape(&mut out.text, chunk.valid());
        out.push_bytes(chunk.invalid());
    }
    out.push('"');
}

fn toml_escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_) | Value::StrMap(_))
}

fn is_table_array(v: &Value) -> bool {
    matches!(v, Value::List(l) if !l.is_empty() && l.iter().all(is_table))
}

fn toml_inline(out: &mut GoText, v: &Value) -> Result<(), String> {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => toml_float(out, *f),
        Value::Number(n) => toml_number(out, n)?,
        Value::String(s) => toml_quote(out, s),
        v if crate::gostr::invalid_utf8(v).is_some() => {
            toml_quote_bytes(out, crate::gostr::invalid_utf8(v).unwrap_or_default());
        }
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            out.push('[');
            for (i, item) in l.iter().filter(|x| !matches!(x, Value::Nil)).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                toml_inline(out, item)?;
            }
            out.push(']');
        }
        Value::NilList | Value::NilAnyList => out.push_str("[]"),
        Value::Map(m) | Value::StrMap(m) => {
            out.push('{');
            for (i, (k, v)) in m
                .iter()
                .filter(|(_, v)| !matches!(v, Value::Nil))
                .enumerate()
            {
                if i > 0 {
                    out.push_str(", ");
                }
                toml_key(out, k);
                out.push_str(" = ");
                toml_inline(out, v)?;
            }
            out.push('}');
        }
        other => return Err(format!("toml: unsupported type: {}", other.type_name())),
    }
    Ok(())
}

/// BurntSushi/toml's float: NaN and infinities by name, else every digit (Go's `'f'`, shortest;
/// Rust's `Display` prints the same) with `.0` added when there is no point: `1e20` is
/// `100000000000000000000.0`, `1e-7` is `0.0000001`, `-0.0` stays `-0.0`.
fn toml_float(out: &mut GoText, f: f64) {
    if f.is_nan() {
        out.push_str(if f.is_sign_negative() { "-nan" } else { "nan" });
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "inf" } else { "-inf" });
    } else {
        let s = format!("{f}");
        out.push_str(&s);
        if !s.contains('.') {
            out.push_str(".0");
        }
    }
}

/// A `json.Number` from Vault as BurntSushi/toml writes it: its `Int64()` when the text is a
/// decimal integer that fits (`42`), else its `Float64()` as a float ([`toml_float`]: `1.0` is
/// `1.0`, `1e3` is `1000.0`, `12345678901234567890` is `12345678901234567000.0`); an empty
/// Number is `0`. (KV v2 hands these back already normalised: `1e3` arrives as `1000`.)
fn toml_number(out: &mut GoText, n: &str) -> Result<(), String> {
    if n.is_empty() {
        out.push('0');
        return Ok(());
    }
    if let Ok(i) = n.parse::<i64>() {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    let f = super::parse::go_float(n).map_err(|_| {
        format!(
            "unable to convert {} to int64 or float64",
            args::go_quote_str(n)
        )
    })?;
    toml_float(out, f);
    Ok(())
}

fn toml_table(out: &mut GoText, path: &[Key], m: &BTreeMap<Key, Value>) -> Result<(), String> {
    let key_indent = "  ".repeat(path.len());
    for (k, v) in m {
        if matches!(v, Value::Nil | Value::NilPtr(_)) || is_table(v) || is_table_array(v) {
            continue;
        }
        out.push_str(&key_indent);
        toml_key(out, k);
        out.push_str(" = ");
        toml_inline(out, v)?;
        out.push('\n');
    }
    for (k, v) in m {
        let mut sub = path.to_vec();
        sub.push(k.clone());
        let mut name = GoText::default();
        for (i, k) in sub.iter().enumerate() {
            if i > 0 {
                name.push('.');
            }
            toml_key(&mut name, k);
        }
        let header_ind = "  ".repeat(sub.len() - 1);
        let header = |out: &mut GoText, open: &str, close: &str| {
            out.push_str(&header_ind);
            out.push_str(open);
            out.append(name.clone());
            out.push_str(close);
        };
        match v {
            Value::Map(inner) | Value::StrMap(inner) => {
                if sub.len() == 1 && !out.is_empty() {
                    out.push('\n');
                }
                header(out, "[", "]\n");
                toml_table(out, &sub, inner)?;
            }
            Value::List(items) if is_table_array(v) => {
                for item in items.iter() {
                    if let Value::Map(inner) | Value::StrMap(inner) = item {
                        if sub.len() == 1 && !out.is_empty() {
                            out.push('\n');
                        }
                        header(out, "[[", "]]\n");
                        toml_table(out, &sub, inner)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn to_json_is_go_encoding_json() {
        let cfg = json(
            r#"{"db":{"host":"db.internal","port":5432,"opts":{"ssl":true,"timeout":"5s"},"replicas":["r1","r2"]},"feature_flags":[],"ratio":0.75,"note":null}"#,
        );
        assert_eq!(
            show("toJSON", std::slice::from_ref(&cfg)),
            r#"{"db":{"host":"db.internal","opts":{"ssl":true,"timeout":"5s"},"port":5432,"replicas":["r1","r2"]},"feature_flags":[],"note":null,"ratio":0.75}"#
        );
        assert_eq!(
            show("toJSONPretty", &[cfg]),
            "{\n  \"db\": {\n    \"host\": \"db.internal\",\n    \"opts\": {\n      \"ssl\": true,\n      \"timeout\": \"5s\"\n    },\n    \"port\": 5432,\n    \"replicas\": [\n      \"r1\",\n      \"r2\"\n    ]\n  },\n  \"feature_flags\": [],\n  \"note\": null,\n  \"ratio\": 0.75\n}"
        );
        let web = json(r#"{"password":"p@ss&<1>","n":1e3,"big":12345678901234567890,"one":1.0}"#);
        assert_eq!(
            show("toJSON", std::slice::from_ref(&web)),
            r#"{"big":12345678901234567890,"n":1e3,"one":1.0,"password":"p@ss\u0026\u003c1\u003e"}"#
        );
        assert_eq!(
            show("toUnescapedJSON", &[web]),
            r#"{"big":12345678901234567890,"n":1e3,"one":1.0,"password":"p@ss&<1>"}"#
        );
        assert_eq!(
            show("toJSON", &[s("a\u{8}\u{c}\u{1}\u{2028}é")]),
            r#""a\b\f\u0001\u2028é""#
        );
        assert_eq!(show("toJSON", &[Value::NilList]), "null");
        assert_eq!(show("toJSON", &[Value::Nil]), "null");
        assert_eq!(show("toJSON", &[Value::list(vec![])]), "[]");
        assert_eq!(
            show("toUnescapedJSONPretty", &[json(r#"{"a":["<"],"b":{}}"#)]),
            "{\n  \"a\": [\n    \"<\"\n  ],\n  \"b\": {}\n}"
        );
    }

    #[test]
    fn secret_records_use_go_field_names_in_order() {
        let r = Value::Record(Arc::new(crate::Record {
            type_name: "*dependency.Secret",
            fields: vec![
                ("RequestID", s("r")),
                ("LeaseDuration", i(30)),
                ("Data", json(r#"{"b":1,"a":2}"#)),
                ("Warnings", Value::NilList),
                ("Auth", Value::NilPtr("*dependency.SecretAuth")),
            ],
        }));
        assert_eq!(
            show("toJSON", &[r]),
            r#"{"RequestID":"r","LeaseDuration":30,"Data":{"a":2,"b":1},"Warnings":null,"Auth":null}"#
        );
    }

    #[test]
    fn floats_follow_go_json() {
        let parsed = call(
            "parseJSON",
            &[s(
                "[123456,1234567,0.0001,0.00001,1.5e300,-0.5,100,1.0,2.50,1e21,1e20,1e-7]",
            )],
        )
        .unwrap();
        assert_eq!(
            parsed.print(),
            "[123456 1.234567e+06 0.0001 1e-05 1.5e+300 -0.5 100 1 2.5 1e+21 1e+20 1e-07]"
        );
        assert_eq!(
            show("toJSON", &[parsed]),
            "[123456,1234567,0.0001,0.00001,1.5e+300,-0.5,100,1,2.5,1e+21,100000000000000000000,1e-7]"
        );
        assert_eq!(
            show("toJSON", &[Value::Float(f64::NAN)]),
            "ERR toJSON: json: unsupported value: NaN"
        );
        assert_eq!(
            show("toJSON", &[Value::Number("abc".into())]),
            "ERR toJSON: json: invalid number literal \"abc\""
        );
    }

    #[test]
    fn parse_json_gives_floats_maps_and_lists() {
        let v = call(
            "parseJSON",
            &[s(r#"{"a":[1,2],"s":"x<y","n":null,"t":true}"#)],
        )
        .unwrap();
        let Value::Map(m) = &v else { panic!() };
        assert!(
            matches!(&m[b"a".as_slice()], Value::List(l) if matches!(l[0], Value::Float(f) if f == 1.0))
        );
        assert_eq!(
            show("toJSON", &[v]),
            r#"{"a":[1,2],"n":null,"s":"x\u003cy","t":true}"#
        );
        assert_eq!(show("parseJSON", &[s("")]), "map[]");
        assert!(show("parseJSON", &[s("{bad")]).starts_with("ERR invalid JSON"));
        assert_eq!(
            show("parseJSON", &[s("12345678901234567890")]),
            "1.2345678901234567e+19"
        );
    }

    #[test]
    fn yaml_functions() {
        assert_eq!(
            show("toYAML", &[json(r#"{"y":"y","multi":"line1\nline2"}"#)]),
            "multi: |-\n  line1\n  line2\n\"y\": \"y\""
        );
        assert_eq!(
            show("parseYAML", &[s("a: 1\nb: [x, y]\n")]),
            "map[a:1 b:[x true]]"
        );
        assert_eq!(show("parseYAML", &[s("")]), "map[]");
    }

    #[test]
    fn parsed_yaml_maps_in_json_and_toml() {
        let y = |t: &str| call("parseYAML", &[s(t)]).unwrap();
        assert_eq!(
            show(
                "toJSON",
                &[y(
                    "b: 1\n1: x\n-2: y\n18446744073709551615: z\n10: [1, {c: yes}]"
                )]
            ),
            r#"{"-2":true,"1":"x","10":[1,{"c":true}],"18446744073709551615":"z","b":1}"#
        );
        assert_eq!(
            show("toJSON", &[y("a: 1\ntrue: x")]),
            "ERR toJSON: json: unsupported value: jsontext: object member name must be a string after offset 2"
        );
        assert_eq!(
            show("toJSON", &[y("aa: 1\nbb: {cc: 1, true: 2}")]),
            "ERR toJSON: json: unsupported value: jsontext: object member name must be a string within \"/bb\" after offset 15"
        );
        assert_eq!(
            show("toJSON", &[y("x: [1, {1.5: 2}]")]),
            "ERR toJSON: json: unsupported value: jsontext: object member name must be a string within \"/x/1\" after offset 10"
        );
        assert_eq!(
            show("toJSONPretty", &[y("x: [1, {true: 2}]")]),
            "ERR toJSONPretty: json: unsupported value: jsontext: object member name must be a string within \"/x/1\" after offset 10"
        );
        assert_eq!(
            show("toTOML", &[y("a: 1")]),
            "ERR toTOML: toml: cannot encode a map with non-string key type"
        );
    }

    #[test]
    fn toml_numbers() {
        let v = json(
            r#"{"a":1e20,"b":1.0,"c":1e-7,"d":3,"e":2.5,"f":-0.0,"g":123456789012345678901234,"i":1e16,"j":0.1}"#,
        );
        let floats = call("parseJSON", &[s(&toml_src(&v))]).unwrap();
        assert_eq!(
            show("toTOML", &[floats]),
            "a = 100000000000000000000.0\nb = 1.0\nc = 0.0000001\nd = 3.0\ne = 2.5\nf = -0.0\ng = 123456789012345690000000.0\ni = 10000000000000000.0\nj = 0.1"
        );
        // json.Number from Vault: decimal integers that fit an int64 as integers, the rest as floats.
        assert_eq!(
            show("toTOML", &[v]),
            "a = 100000000000000000000.0\nb = 1.0\nc = 0.0000001\nd = 3\ne = 2.5\nf = -0.0\ng = 123456789012345690000000.0\ni = 10000000000000000.0\nj = 0.1"
        );
        assert_eq!(
            show(
                "toTOML",
                &[json(r#"{"big":12345678901234567890,"exp":1e3,"neg":-7}"#)]
            ),
            "big = 12345678901234567000.0\nexp = 1000.0\nneg = -7"
        );
    }

    fn toml_src(v: &Value) -> String {
        go_json(v, None, false).unwrap()
    }

    #[test]
    fn toml_layout() {
        let v = json(
            r#"{"name":"app","port":8080,"ratio":1.5,"tags":["a","b"],"db":{"host":"h","opts":{"ssl":true}},"servers":[{"n":"a"},{"n":"b"}],"nil":null,"sp ace":"x"}"#,
        );
        assert_eq!(
            show("toTOML", &[v]),
            "name = \"app\"\nport = 8080\nratio = 1.5\n\"sp ace\" = \"x\"\ntags = [\"a\", \"b\"]\n\n[db]\n  host = \"h\"\n  [db.opts]\n    ssl = true\n\n[[servers]]\n  n = \"a\"\n\n[[servers]]\n  n = \"b\""
        );
        assert_eq!(
            show("toTOML", &[s("x")]),
            "ERR toTOML: toml: top-level values must be Go maps or structs, not string"
        );
    }

    #[test]
    fn binary_strings_in_yaml_and_toml() {
        let long = crate::gostr::from_bytes(vec![0xff; 52]);
        let y = show("toYAML", std::slice::from_ref(&long));
        assert_eq!(y, format!("!!binary |\n  {}w\n  ==", "/".repeat(69)));
        let m = Value::map([("k".into(), long)].into_iter().collect());
        assert!(show("toYAML", &[m]).starts_with("k: !!binary |\n  ///"));
        let short = crate::gostr::from_bytes(vec![0xff, b'"', b'\n']);
        let m = Value::map([("k".into(), short)].into_iter().collect());
        assert_eq!(
            super::super::testutil::bytes("toTOML", &[m]),
            b"k = \"\xff\\\"\\n\""
        );
    }
}
