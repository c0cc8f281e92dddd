//! Argument checking with Go's `text/template` messages: arity and the reflection conversions a
//! typed Go parameter (`string`, `int`, `[]string`, `map[string]interface {}`) applies.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Value;

/// Exactly `n` arguments.
pub fn arity(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

/// At least `n` arguments (a variadic Go function).
pub fn at_least(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() >= n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        ))
    }
}

fn wrong(expected: &str, got: &Value) -> String {
    match got {
        Value::Nil => format!("invalid value; expected {expected}"),
        v => format!(
            "wrong type for value; expected {expected}; got {}",
            v.type_name()
        ),
    }
}

/// A `string` parameter. A string that is not valid UTF-8 (`crate::gostr`) gives its U+FFFD text.
pub fn string(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Object(o) => o
            .go_string()
            .map(|(s, _)| s)
            .ok_or_else(|| wrong("string", v)),
        other => Err(wrong("string", other)),
    }
}

/// A `string` parameter as its bytes, for functions that work on bytes (encoders, hashes): a
/// string that is not valid UTF-8 (`crate::gostr`) keeps its own.
pub fn string_bytes(v: &Value) -> Result<&[u8], String> {
    match crate::gostr::invalid_utf8(v) {
        Some(b) => Ok(b),
        None => string(v).map(str::as_bytes),
    }
}

/// Two `string` parameters as bytes (`crate::gostr`).
pub type BytePair<'a> = Result<(&'a [u8], &'a [u8]), String>;

/// Every argument as a `string` (a `...string` parameter).
pub fn strings(args: &[Value]) -> Result<Vec<&str>, String> {
    args.iter().map(string).collect()
}

/// An `int` parameter. Go converts only untyped constants: an `int64` or `uint64` result of a
/// function is refused (`expected int; got int64`), as reflection refuses it.
pub fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        // A float constant with an integral value converts, as Go's untyped constants do.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(*f as i64),
        other => Err(wrong("int", other)),
    }
}

/// A `[]string` parameter: a Go `[]string` ([`Value::Strings`]); a `[]interface {}` is refused
/// even when its items are all strings, as Go's reflection refuses it.
pub fn string_list(v: &Value) -> Result<Vec<Arc<str>>, String> {
    match v {
        Value::NilList => Ok(Vec::new()),
        Value::Strings(l) => Ok(l
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => Arc::from(other.print()),
            })
            .collect()),
        other => Err(wrong("[]string", other)),
    }
}

/// A `[]interface {}` parameter (a `[]string` is refused).
pub fn list(v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::NilList | Value::NilAnyList => Ok(Vec::new()),
        Value::List(l) => Ok(l.as_ref().clone()),
        other => Err(wrong("[]interface {}", other)),
    }
}

/// A `map[string]interface {}` parameter (nil converts to an empty map).
pub fn map(v: &Value) -> Result<BTreeMap<crate::value::Key, Value>, String> {
    match v {
        Value::Map(m) => Ok(m.as_ref().clone()),
        other => Err(wrong("map[string]interface {}", other)),
    }
}

/// Go's `%q` of a value as `fmt` prints it inside an error message.
pub fn go_q(v: &Value) -> String {
    match v {
        Value::String(s) | Value::Number(s) => go_quote_str(s),
        Value::Nil => "<invalid reflect.Value>".to_string(),
        other => format!("%!q({}={})", other.type_name(), other.print()),
    }
}

/// Go's `strconv.Quote`: double quotes, Go escapes, printable Unicode kept.
pub fn go_quote_str(s: &str) -> String {
    crate::lexer::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_go() {
        assert_eq!(
            arity("f", &[], 1).unwrap_err(),
            "wrong number of args for f: want 1 got 0"
        );
        assert_eq!(
            at_least("f", &[], 1).unwrap_err(),
            "wrong number of args for f: want at least 1 got 0"
        );
        assert_eq!(
            string(&Value::Int(1)).unwrap_err(),
            "wrong type for value; expected string; got int"
        );
        assert_eq!(
            string(&Value::Nil).unwrap_err(),
            "invalid value; expected string"
        );
        assert_eq!(
            int(&Value::str("1")).unwrap_err(),
            "wrong type for value; expected int; got string"
        );
        assert_eq!(int(&Value::Float(4.0)).unwrap(), 4);
        assert_eq!(
            int(&Value::Int64(4)).unwrap_err(),
            "wrong type for value; expected int; got int64"
        );
        assert_eq!(
            int(&Value::Uint(4)).unwrap_err(),
            "wrong type for value; expected int; got uint64"
        );
        assert_eq!(
            string_list(&Value::list(vec![Value::Int(1)])).unwrap_err(),
            "wrong type for value; expected []string; got []interface {}"
        );
        assert_eq!(
            string_list(&Value::list(vec![Value::str("a")])).unwrap_err(),
            "wrong type for value; expected []string; got []interface {}"
        );
        assert_eq!(string_list(&Value::strings(["a"])).unwrap().len(), 1);
        assert_eq!(
            list(&Value::strings(["a"])).unwrap_err(),
            "wrong type for value; expected []interface {}; got []string"
        );
        assert_eq!(go_q(&Value::Number("42".into())), "\"42\"");
        assert_eq!(go_q(&Value::Bool(true)), "%!q(bool=true)");
        assert_eq!(go_quote_str("a\tb\"\u{1}é"), "\"a\\tb\\\"\\x01é\"");
    }
}
