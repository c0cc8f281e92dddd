//! Lists and maps: `split`, `join`, `splitToMap`, `contains`, `in`, `containsAll`/`Any`/`None`/
//! `NotAll`, `mergeMap`, `mergeMapWithOverride`, `explodeMap`, `loop` (agent.md §4.5).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::args;
use crate::value::Key;
use crate::{CallEnv, Func, Object, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "split" => split,
        "join" => join,
        "splitToMap" => split_to_map,
        "contains" => contains,
        "in" => in_,
        "containsAll" => contains_all,
        "containsAny" => contains_any,
        "containsNone" => contains_none,
        "containsNotAll" => contains_not_all,
        "mergeMap" => merge_map,
        "mergeMapWithOverride" => merge_map_override,
        "explodeMap" => explode_map,
        "loop" => loop_,
        _ => return None,
    })
}

/// Go's `strings.Split` (an empty separator splits into characters).
pub fn go_split<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return s
            .char_indices()
            .map(|(i, c)| &s[i..i + c.len_utf8()])
            .collect();
    }
    s.split(sep).collect()
}

/// A Go `[]string` of byte slices (items that are not UTF-8 stay bytes, `crate::gostr`).
pub fn byte_strings(parts: Vec<&[u8]>) -> Value {
    Value::Strings(Arc::new(
        parts
            .into_iter()
            .map(|p| crate::gostr::from_bytes(p.to_vec()))
            .collect(),
    ))
}

fn split(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("split", a, 2)?;
    if crate::gostr::any_binary(a) {
        let (sep, s) = (args::string_bytes(&a[0])?, args::string_bytes(&a[1])?);
        let s = crate::gostr::trim_func(s, super::strings::go_space);
        if s.is_empty() {
            return Ok(Value::strings(Vec::<&str>::new()));
        }
        return Ok(byte_strings(crate::gostr::split(s, sep, -1)));
    }
    let (sep, s) = (args::string(&a[0])?, args::string(&a[1])?);
    let s = s.trim_matches(super::strings::go_space);
    if s.is_empty() {
        return Ok(Value::strings(Vec::<&str>::new()));
    }
    Ok(Value::strings(go_split(s, sep)))
}

fn join(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("join", a, 2)?;
    if let Value::Strings(items) = &a[1]
        && (crate::gostr::any_binary(items) || crate::gostr::any_binary(&a[..1]))
    {
        return Ok(join_bytes(args::string_bytes(&a[0])?, items));
    }
    let sep = args::string(&a[0])?;
    let items = args::string_list(&a[1])?;
    Ok(Value::str(
        items.iter().map(|s| &**s).collect::<Vec<_>>().join(sep),
    ))
}

/// Go's `strings.Join` of strings of any bytes (`crate::gostr`).
pub fn join_bytes(sep: &[u8], items: &[Value]) -> Value {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(crate::gostr::bytes(item).unwrap_or_default());
    }
    crate::gostr::from_bytes(out)
}

fn split_to_map(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("splitToMap", a, 3)?;
    if crate::gostr::any_binary(a) {
        return split_to_map_bytes(a);
    }
    let (sep1, sep2, s) = (
        args::string(&a[0])?,
        args::string(&a[1])?,
        args::string(&a[2])?,
    );
    let s = s.trim_matches(super::strings::go_space);
    let mut m = BTreeMap::new();
    if !s.is_empty() {
        for item in go_split(s, sep1) {
            if let Some((k, v)) = item.split_once(sep2) {
                m.insert(Key::from(k), Value::str(v));
            }
        }
    }
    Ok(Value::map(m))
}

/// `splitToMap` on strings that are not UTF-8 (agent.md §4.5.3): keys and values keep their bytes.
fn split_to_map_bytes(a: &[Value]) -> Result<Value, String> {
    use crate::gostr;
    let (sep1, sep2, s) = (
        args::string_bytes(&a[0])?,
        args::string_bytes(&a[1])?,
        args::string_bytes(&a[2])?,
    );
    let s = gostr::trim_func(s, super::strings::go_space);
    let mut m = BTreeMap::new();
    if !s.is_empty() {
        for item in gostr::split(s, sep1, -1) {
            if let Some(at) = gostr::find(item, sep2).filter(|_| !sep2.is_empty()) {
                let (k, v) = (&item[..at], &item[at + sep2.len()..]);
                m.insert(Key::from_bytes(k.to_vec()), gostr::from_bytes(v.to_vec()));
            }
        }
    }
    Ok(Value::map(m))
}

/// Upstream's `in(l, v)`: a list holds `v` (ints compare with ints, floats with floats, strings
/// with strings of the same Go type), or a string contains `v` (same type).
pub fn holds(l: &Value, v: &Value) -> bool {
    match l {
        Value::List(items) | Value::Strings(items) | Value::Ints(items) => {
            items.iter().any(|x| match (x, v) {
                (Value::Int(p) | Value::Int64(p), Value::Int(q) | Value::Int64(q)) => p == q,
                (Value::Float(p), Value::Float(q)) => p == q,
                (Value::String(p), Value::String(q)) | (Value::Number(p), Value::Number(q)) => {
                    p == q
                }
                (x, v) if go_string(x) && go_string(v) => {
                    crate::gostr::bytes(x) == crate::gostr::bytes(v)
                }
                _ => false,
            })
        }
        Value::String(h) => {
            matches!(v, Value::String(n) if h.contains(&**n))
                || crate::gostr::invalid_utf8(v)
                    .is_some_and(|n| crate::gostr::find(h.as_bytes(), n).is_some())
        }
        h if crate::gostr::invalid_utf8(h).is_some() && go_string(v) => crate::gostr::find(
            crate::gostr::bytes(h).unwrap_or_default(),
            crate::gostr::bytes(v).unwrap_or_default(),
        )
        .is_some(),
        Value::Number(h) => matches!(v, Value::Number(n) if h.contains(&**n)),
        _ => false,
    }
}

/// A value of Go type `string` (valid UTF-8 or not; not a `json.Number`).
fn go_string(v: &Value) -> bool {
    matches!(v, Value::String(_)) || crate::gostr::invalid_utf8(v).is_some()
}

fn contains(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("contains", a, 2)?;
    Ok(Value::Bool(holds(&a[1], &a[0])))
}

fn in_(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("in", a, 2)?;
    Ok(Value::Bool(holds(&a[0], &a[1])))
}

/// The `containsAll`/`Any`/`None`/`NotAll` family: `(needles, haystack)`.
fn contains_some(name: &str, a: &[Value], ret_true: bool, invert: bool) -> Result<Value, String> {
    args::arity(name, a, 2)?;
    let needles = args::list(&a[0])?;
    for n in &needles {
        if holds(&a[1], n) != invert {
            return Ok(Value::Bool(!ret_true));
        }
    }
    Ok(Value::Bool(ret_true))
}

fn contains_all(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    contains_some("containsAll", a, true, true)
}

fn contains_any(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    contains_some("containsAny", a, false, false)
}

fn contains_none(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    contains_some("containsNone", a, true, false)
}

fn contains_not_all(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    contains_some("containsNotAll", a, false, true)
}

/// Go's notion of an empty value as `mergo` tests it.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Nil | Value::NilList | Value::NilAnyList | Value::NilPtr(_) => true,
        Value::Bool(b) => !b,
        Value::Int(i) | Value::Int64(i) => *i == 0,
        Value::Uint(u) => *u == 0,
        Value::Float(f) => *f == 0.0,
        Value::Number(s) | Value::String(s) => s.is_empty(),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => l.is_empty(),
        Value::Map(m) | Value::StrMap(m) => m.is_empty(),
        Value::AnyMap(m) => m.is_empty(),
        Value::Object(o) => o.go_int().is_some_and(|g| g.value == 0),
        Value::Record(_) => false,
    }
}

/// `mergo.Map(&dst, src[, WithOverride])` on `map[string]interface{}`: nested maps merge; a key
/// missing or empty in `dst` takes `src`'s value; with `override` `src` wins except over a
/// non-empty list or a map (those merge or stay).
pub fn merge(dst: &mut BTreeMap<Key, Value>, src: &BTreeMap<Key, Value>, override_: bool) {
    for (k, sv) in src {
        let dv = dst.get(k).cloned();
        if let (Some(Value::Map(dm)), Value::Map(sm)) = (&dv, sv) {
            let mut merged = dm.as_ref().clone();
            merge(&mut merged, sm, override_);
            if !dm.is_empty() {
                dst.insert(k.clone(), Value::map(merged));
                continue;
            }
            dst.insert(k.clone(), sv.clone());
            continue;
        }
        if let Some(d) = &dv
            && !is_empty(d)
            && matches!(
                sv,
                Value::List(_)
                    | Value::Strings(_)
                    | Value::Ints(_)
                    | Value::NilList
                    | Value::NilAnyList
            )
        {
            continue;
        }
        if override_ || dv.as_ref().is_none_or(is_empty) {
            dst.insert(k.clone(), sv.clone());
        }
    }
}

fn merge_map(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("mergeMap", a, 2)?;
    let mut dst = args::map(&a[0])?;
    merge(&mut dst, &args::map(&a[1])?, false);
    Ok(Value::map(dst))
}

fn merge_map_override(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("mergeMapWithOverride", a, 2)?;
    let mut dst = args::map(&a[0])?;
    merge(&mut dst, &args::map(&a[1])?, true);
    Ok(Value::map(dst))
}

/// One key of `explodeMap` into `m`; keys are split on `/` as bytes (a key that is not UTF-8
/// keeps its bytes, agent.md §4.5.3).
fn explode_into(m: &mut BTreeMap<Key, Value>, k: &[u8], v: &Value, p: &[u8]) -> Result<(), String> {
    if let Some(at) = k.iter().position(|&b| b == b'/') {
        let (top, rest) = (&k[..at], &k[at + 1..]);
        let mut nest = match m.get(top) {
            None => BTreeMap::new(),
            Some(Value::Map(n)) => n.as_ref().clone(),
            Some(other) => {
                return Err(format!(
                    "not a map: {}: {} already has value {}",
                    crate::gostr::quote(p, false),
                    crate::gostr::quote(top, false),
                    args::go_q(other)
                ));
            }
        };
        explode_into(&mut nest, rest, v, k)?;
        m.insert(Key::from_bytes(top.to_vec()), Value::map(nest));
        return Ok(());
    }
    if !k.is_empty() {
        m.insert(Key::from_bytes(k.to_vec()), v.clone());
    }
    Ok(())
}

fn explode_map(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("explodeMap", a, 1)?;
    let input = args::map(&a[0])?;
    let mut out = BTreeMap::new();
    for (k, v) in &input {
        let k = k.as_bytes();
        explode_into(&mut out, k, v, k).map_err(|e| format!("explodeMap: {e}"))?;
    }
    Ok(Value::map(out))
}

/// `loop`'s channel of ints, consumed by `range`.
#[derive(Debug)]
pub struct IntChannel {
    pub start: i64,
    pub stop: i64,
}

impl Object for IntChannel {
    fn type_name(&self) -> &'static str {
        "<-chan int64"
    }
    fn print(&self) -> String {
        // Go prints the channel's address; there is nothing stable to reproduce.
        "0xc000000000".to_string()
    }
    fn range_items(&self) -> Option<Vec<Value>> {
        Some(
            (self.start..self.stop.max(self.start))
                .map(Value::Int64)
                .collect(),
        )
    }
}

/// Largest channel `loop` will produce; a bigger range is almost surely a mistake.
const MAX_LOOP: i64 = 10_000_000;

fn loop_bound(v: &Value) -> Result<i64, String> {
    if let Some(u) = v.go_int() {
        return loop_bound(&u);
    }
    match v {
        Value::Int(i) | Value::Int64(i) => Ok(*i),
        Value::Uint(u) => Ok(*u as i64),
        Value::String(s) => {
            if s.is_empty() {
                Ok(0)
            } else {
                super::parse::go_int(s).map_err(|e| format!("parseInt: {e}"))
            }
        }
        other => Err(format!("loop: bad argument type: {}", other.type_name())),
    }
}

fn loop_(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let (start, stop) = match a {
        [n] => (0, loop_bound(n)?),
        [s, e] => (loop_bound(s)?, loop_bound(e)?),
        _ => {
            return Err(format!(
                "loop: wrong number of arguments, expected 1 or 2, but got {}",
                a.len()
            ));
        }
    };
    if stop.saturating_sub(start) > MAX_LOOP {
        return Err(format!(
            "loop: range of {} items is too large (limit {MAX_LOOP})",
            stop - start
        ));
    }
    Ok(Value::Object(Arc::new(IntChannel { start, stop })))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn split_join_and_contains_work_on_bytes() {
        let b = bin(b"\xff\x80\xfeab");
        let parts = call("split", &[bin(b"\x80"), b.clone()]).unwrap();
        assert_eq!(parts.type_name(), "[]string");
        assert_eq!(bytes("join", &[Value::str(","), parts]), b"\xff,\xfeab");
        let runes = call("split", &[Value::str(""), bin(b"\xe2\x82A")]).unwrap();
        assert_eq!(crate::gostr::strval(&runes).into_bytes(), b"[\xe2 \x82 A]");
        assert_eq!(
            bytes("join", &[bin(b"\xff"), Value::strings(["a", "b"])]),
            b"a\xffb"
        );
        assert_eq!(show("contains", &[bin(b"\x80"), b.clone()]), "true");
        assert_eq!(show("in", &[b.clone(), Value::str("ab")]), "true");
        assert_eq!(show("in", &[Value::list(vec![b.clone()]), b]), "true");
    }

    #[test]
    fn split_and_join() {
        assert_eq!(show("split", &[s(","), s("a,b,,c")]), "[a b  c]");
        assert_eq!(show("split", &[s(","), s("")]), "[]");
        assert_eq!(show("split", &[s(","), s("  ")]), "[]");
        assert!(
            matches!(call("split", &[s(","), s("")]).unwrap(), Value::Strings(l) if l.is_empty())
        );
        assert_eq!(show("split", &[s(","), s(" a,b\n")]), "[a b]");
        assert_eq!(show("split", &[s(""), s("héj")]), "[h é j]");
        let parts = call("split", &[s(","), s("h1:8500,h2:8500, h3:8500")]).unwrap();
        assert_eq!(show("join", &[s(";"), parts]), "h1:8500;h2:8500; h3:8500");
        assert_eq!(show("join", &[s(";"), Value::NilList]), "");
        assert_eq!(
            show("join", &[s(";"), json("[1]")]),
            "ERR wrong type for value; expected []string; got []interface {}"
        );
    }

    #[test]
    fn split_to_map_drops_items_without_the_separator() {
        assert_eq!(
            show("splitToMap", &[s(","), s("="), s("a=1,b=2,c,d=x=y")]),
            "map[a:1 b:2 d:x=y]"
        );
        assert_eq!(show("splitToMap", &[s(","), s("="), s(" ")]), "map[]");
    }

    #[test]
    fn membership_follows_go_types() {
        assert_eq!(show("contains", &[s("x"), s("xyz")]), "true");
        assert_eq!(show("contains", &[s("q"), s("xyz")]), "false");
        assert_eq!(show("contains", &[s("b"), json(r#"["a","b"]"#)]), "true");
        // JSON numbers are json.Number: equal only to json.Number.
        assert_eq!(show("contains", &[i(1), json("[1,2]")]), "false");
        assert_eq!(
            show("contains", &[Value::Number("1".into()), json("[1,2]")]),
            "true"
        );
        assert_eq!(
            show("contains", &[i(2), Value::list(vec![i(1), i(2)])]),
            "true"
        );
        assert_eq!(show("in", &[Value::list(vec![i(1), i(2)]), i(2)]), "true");
        assert_eq!(show("in", &[s("abc"), s("bc")]), "true");
        assert_eq!(show("in", &[s("abc"), Value::Number("1".into())]), "false");
        let hay = json(r#"["a","b","c"]"#);
        assert_eq!(
            show("containsAll", &[json(r#"["a","b"]"#), hay.clone()]),
            "true"
        );
        assert_eq!(
            show("containsAll", &[json(r#"["a","z"]"#), hay.clone()]),
            "false"
        );
        assert_eq!(
            show("containsAny", &[json(r#"["z","b"]"#), hay.clone()]),
            "true"
        );
        assert_eq!(
            show("containsAny", &[json(r#"["z"]"#), hay.clone()]),
            "false"
        );
        assert_eq!(
            show("containsNone", &[json(r#"["z"]"#), hay.clone()]),
            "true"
        );
        assert_eq!(
            show("containsNone", &[json(r#"["a"]"#), hay.clone()]),
            "false"
        );
        assert_eq!(
            show("containsNotAll", &[json(r#"["a","z"]"#), hay.clone()]),
            "true"
        );
        assert_eq!(show("containsNotAll", &[json(r#"["a"]"#), hay]), "false");
        assert_eq!(show("containsAll", &[json("[]"), s("x")]), "true");
    }

    #[test]
    fn merging_maps() {
        let dst = json(r#"{"a":"1","n":{"x":"dx"},"e":"","l":["d"]}"#);
        let src = json(r#"{"a":"2","b":"3","n":{"x":"sx","y":"sy"},"e":"filled","l":["s"]}"#);
        assert_eq!(
            show("mergeMap", &[dst.clone(), src.clone()]),
            "map[a:1 b:3 e:filled l:[d] n:map[x:dx y:sy]]"
        );
        assert_eq!(
            show("mergeMapWithOverride", &[dst, src]),
            "map[a:2 b:3 e:filled l:[d] n:map[x:sx y:sy]]"
        );
        assert_eq!(
            show("mergeMap", &[s("x"), json("{}")]),
            "ERR wrong type for value; expected map[string]interface {}; got string"
        );
    }

    #[test]
    fn explode_map_nests_on_slashes() {
        let m = json(r#"{"a/b/c":"1","a/d":"2","e":"3","f/":"4"}"#);
        assert_eq!(
            show("explodeMap", &[m]),
            "map[a:map[b:map[c:1] d:2] e:3 f:map[]]"
        );
        let clash = json(r#"{"a":"x","a/b":"y"}"#);
        assert_eq!(
            show("explodeMap", &[clash]),
            "ERR explodeMap: not a map: \"a/b\": \"a\" already has value \"x\""
        );
    }

    #[test]
    fn loop_yields_ints() {
        let items = |v: Value| match v {
            Value::Object(o) => o
                .range_items()
                .unwrap()
                .iter()
                .map(|x| x.print())
                .collect::<Vec<_>>()
                .join(","),
            _ => panic!(),
        };
        assert_eq!(items(call("loop", &[i(3)]).unwrap()), "0,1,2");
        assert_eq!(items(call("loop", &[i(5), i(8)]).unwrap()), "5,6,7");
        assert_eq!(items(call("loop", &[s("2")]).unwrap()), "0,1");
        assert_eq!(items(call("loop", &[i(5), i(2)]).unwrap()), "");
        assert_eq!(
            show("loop", &[Value::Float(1.0)]),
            "ERR loop: bad argument type: float64"
        );
        assert_eq!(
            show("loop", &[]),
            "ERR loop: wrong number of arguments, expected 1 or 2, but got 0"
        );
    }
}
