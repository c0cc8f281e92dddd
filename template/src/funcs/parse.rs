//! `parseBool`, `parseInt`, `parseUint`, `parseFloat`: Go's `strconv` parsers (integers base 10,
//! floats in every Go literal form), results `bool`, `int64`, `uint64`, `float64`; `""` ⇒ zero,
//! errors as `parseInt: strconv.ParseInt: parsing "x": invalid syntax` (agent.md §4.5).

use vaultlet_shared::go::strconv;

use super::args;
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "parseBool" => parse_bool,
        "parseInt" => parse_int,
        "parseUint" => parse_uint,
        "parseFloat" => parse_float,
        _ => return None,
    })
}

/// Go's `strconv.ParseBool`.
pub fn go_bool(s: &str) -> Result<bool, String> {
    strconv::parse_bool(s).map_err(|e| e.to_string())
}

/// Go's `strconv.ParseInt(s, 10, 64)`.
pub fn go_int(s: &str) -> Result<i64, String> {
    strconv::parse_int(s, 10).map_err(|e| e.to_string())
}

/// Go's `strconv.ParseUint(s, 10, 64)`.
pub fn go_uint(s: &str) -> Result<u64, String> {
    strconv::parse_uint(s, 10).map_err(|e| e.to_string())
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal forms, `_` separators, `inf`, `nan`.
pub fn go_float(s: &str) -> Result<f64, String> {
    strconv::parse_float(s).map_err(|e| e.to_string())
}

fn one<'a>(name: &str, a: &'a [Value]) -> Result<&'a str, String> {
    args::arity(name, a, 1)?;
    args::string(&a[0])
}

fn parse_bool(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = one("parseBool", a)?;
    if s.is_empty() {
        return Ok(Value::Bool(false));
    }
    go_bool(s)
        .map(Value::Bool)
        .map_err(|e| format!("parseBool: {e}"))
}

fn parse_int(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = one("parseInt", a)?;
    if s.is_empty() {
        return Ok(Value::Int64(0));
    }
    go_int(s)
        .map(Value::Int64)
        .map_err(|e| format!("parseInt: {e}"))
}

fn parse_uint(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = one("parseUint", a)?;
    if s.is_empty() {
        return Ok(Value::Uint(0));
    }
    go_uint(s)
        .map(Value::Uint)
        .map_err(|e| format!("parseUint: {e}"))
}

fn parse_float(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = one("parseFloat", a)?;
    if s.is_empty() {
        return Ok(Value::Float(0.0));
    }
    go_float(s)
        .map(Value::Float)
        .map_err(|e| format!("parseFloat: {e}"))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn parses_like_strconv() {
        assert_eq!(show("parseBool", &[s("T")]), "true");
        assert_eq!(show("parseBool", &[s("")]), "false");
        assert_eq!(
            show("parseBool", &[s("yes")]),
            "ERR parseBool: strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(show("parseInt", &[s("42")]), "42");
        assert_eq!(show("parseInt", &[s("-7")]), "-7");
        assert_eq!(show("parseInt", &[s("+7")]), "7");
        assert_eq!(show("parseInt", &[s("")]), "0");
        assert_eq!(
            show("parseInt", &[s("1_000")]),
            "ERR parseInt: strconv.ParseInt: parsing \"1_000\": invalid syntax"
        );
        assert_eq!(
            show("parseInt", &[s("99999999999999999999")]),
            "ERR parseInt: strconv.ParseInt: parsing \"99999999999999999999\": value out of range"
        );
        assert_eq!(
            show("parseInt", &[Value::Number("42".into())]),
            "ERR wrong type for value; expected string; got json.Number"
        );
        assert_eq!(
            show("parseUint", &[s("18446744073709551615")]),
            "18446744073709551615"
        );
        assert_eq!(
            show("parseUint", &[s("-1")]),
            "ERR parseUint: strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        assert_eq!(show("parseFloat", &[s("3.14")]), "3.14");
        assert_eq!(show("parseFloat", &[s("1e3")]), "1000");
        assert_eq!(show("parseFloat", &[s("")]), "0");
        assert_eq!(show("parseFloat", &[s("-Inf")]), "-Inf");
        assert_eq!(
            show("parseFloat", &[s("1e400")]),
            "ERR parseFloat: strconv.ParseFloat: parsing \"1e400\": value out of range"
        );
        assert_eq!(
            show("parseFloat", &[s("abc")]),
            "ERR parseFloat: strconv.ParseFloat: parsing \"abc\": invalid syntax"
        );
        assert!(matches!(
            call("parseUint", &[s("1")]).unwrap(),
            Value::Uint(1)
        ));
        assert!(matches!(
            call("parseInt", &[s("7")]).unwrap(),
            Value::Int64(7)
        ));
        assert_eq!(show("parseFloat", &[s("0x1p-2")]), "0.25");
        assert_eq!(show("parseFloat", &[s("1_000.5")]), "1000.5");
        assert_eq!(show("parseFloat", &[s(".5")]), "0.5");
        assert_eq!(
            show("parseFloat", &[s("0x10")]),
            "ERR parseFloat: strconv.ParseFloat: parsing \"0x10\": invalid syntax"
        );
    }
}
