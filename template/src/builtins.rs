//! Go `text/template`'s built-in functions that need no engine state: comparisons (`eq ne lt le
//! gt ge`), `len`, `index`, `slice`, `not` and the escapers `html`, `js`, `urlquery`, with Go's
//! error texts (agent.md §4.1). `and`/`or`, `print*` and `call` live in the evaluator.

use std::fmt::Write as _;
use std::sync::Arc;

use super::printf::sprint;
use super::value::Value;

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";
const NO_COMPARISON: &str = "missing argument for comparison";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) | Value::Number(_) => Kind::Str,
        v if crate::gostr::invalid_utf8(v).is_some() => Kind::Str,
        _ => Kind::Invalid,
    }
}

/// Go compares integers by kind, not size: an `int64` compares as an `int`, a `uint8` as a
/// `uint64`, a `time.Month` as an `int`.
fn widen(v: &Value) -> std::borrow::Cow<'_, Value> {
    match v {
        Value::Int64(i) => std::borrow::Cow::Owned(Value::Int(*i)),
        v => v
            .go_int()
            .map_or(std::borrow::Cow::Borrowed(v), std::borrow::Cow::Owned),
    }
}

/// Go's error for operands of different kinds, naming both types.
fn incompatible(a: &Value, b: &Value) -> String {
    format!("{BAD_COMPARISON}: {} and {}", a.type_name(), b.type_name())
}

fn is_nil(v: &Value) -> bool {
    matches!(
        v,
        Value::Nil | Value::NilPtr(_) | Value::NilList | Value::NilAnyList
    )
}

/// A string's bytes (Go compares strings byte-wise; `crate::gostr` for non-UTF-8 ones).
fn str_of(v: &Value) -> &[u8] {
    crate::gostr::bytes(v).unwrap_or_default()
}

/// `eq a b c…`: a equals any of the others.
pub fn eq(args: &[Value]) -> Result<bool, String> {
    let Some((a, rest)) = args.split_first() else {
        return Err(NO_COMPARISON.into());
    };
    if rest.is_empty() {
        return Err(NO_COMPARISON.into());
    }
    let a0 = a;
    let a = &*widen(a);
    let k1 = basic_kind(a);
    for b0 in rest {
        let b = &*widen(b0);
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            match (a, b) {
                (Value::Int(x), Value::Uint(y)) | (Value::Uint(y), Value::Int(x)) => {
                    *x >= 0 && *x as u64 == *y
                }
                // Only an untyped nil compares (unequal) with a value of another kind; a typed
                // nil (`.Auth`, a nil list) has a type.
                (Value::Nil, _) | (_, Value::Nil) => false,
                _ => return Err(incompatible(a0, b0)),
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Uint(x), Value::Uint(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                _ if k1 == Kind::Str => str_of(a) == str_of(b),
                _ => {
                    if is_nil(a) || is_nil(b) {
                        is_nil(a) == is_nil(b)
                    } else {
                        // Maps, slices and records are not comparable in Go. Go's text quotes
                        // the operands; ours names them by type and length (crate::redact).
                        let shown =
                            |v: &Value| crate::redact::placeholder(v.type_name(), v.print().len());
                        let (ta, tb) = (a0.type_name(), b0.type_name());
                        return Err(if ta == tb {
                            format!("non-comparable type {}: {tb}", shown(b0))
                        } else {
                            format!(
                                "non-comparable types {}: {ta}, {tb}: {}",
                                shown(a0),
                                shown(b0)
                            )
                        });
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `lt a b`.
pub fn lt(a0: &Value, b0: &Value) -> Result<bool, String> {
    let (a, b) = (&*widen(a0), &*widen(b0));
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if k1 != k2 {
        return match (a, b) {
            (Value::Int(x), Value::Uint(y)) => Ok(*x < 0 || (*x as u64) < *y),
            (Value::Uint(x), Value::Int(y)) => Ok(*y >= 0 && *x < *y as u64),
            _ => Err(incompatible(a0, b0)),
        };
    }
    match (a, b) {
        (Value::Bool(_), _) => Err(BAD_COMPARISON_TYPE.into()),
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Uint(x), Value::Uint(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        _ => Ok(str_of(a) < str_of(b)),
    }
}

/// `le a b`.
pub fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(&[a.clone(), b.clone()])
}

/// `len x`.
pub fn len(v: &Value) -> Result<Value, String> {
    let n = match v {
        Value::String(s) | Value::Number(s) => s.len(),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => l.len(),
        Value::NilList | Value::NilAnyList => 0,
        Value::Map(m) | Value::StrMap(m) => m.len(),
        Value::AnyMap(m) => m.len(),
        // An untyped nil reaches Go's `len` as an invalid reflect.Value, whose `Type` panics.
        Value::Nil => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Value::NilPtr(_) => return Err("len of nil pointer".into()),
        Value::Object(o) => match o.range_items() {
            Some(items) => items.len(),
            None if o.go_string().is_some() => o.go_string().map_or(0, |(_, b)| b.len()),
            None => return Err(format!("len of type {}", v.type_name())),
        },
        other => {
            return Err(format!(
                "len of type {}",
                other.type_name().trim_start_matches('*')
            ));
        }
    };
    Ok(Value::Int(n as i64))
}

fn index_arg(i: &Value, cap: usize, slicing: bool) -> Result<usize, String> {
    if let Some(u) = i.go_int() {
        return index_arg(&u, cap, slicing);
    }
    let x: i128 = match i {
        Value::Int(x) | Value::Int64(x) => *x as i128,
        Value::Uint(x) => *x as i128,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || (slicing && x > cap as i128) || (!slicing && x >= cap as i128) {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

/// `index item i j…`.
pub fn index(item: &Value, idx: &[Value]) -> Result<Value, String> {
    if matches!(item, Value::Nil) {
        return Err("index of untyped nil".into());
    }
    let mut cur = item.clone();
    for (n, i) in idx.iter().enumerate() {
        cur = match &cur {
            Value::Nil | Value::NilPtr(_) if n > 0 => return Err("index of nil pointer".into()),
            Value::NilPtr(_) => return Err("index of nil pointer".into()),
            Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
                let x = index_arg(i, l.len(), true)?;
                l.get(x)
                    .cloned()
                    .ok_or("reflect: slice index out of range")?
            }
            Value::NilList | Value::NilAnyList => {
                index_arg(i, 0, true)?;
                return Err("reflect: slice index out of range".into());
            }
            // Any Go string, also one that is not UTF-8 (agent.md §4.5.3): a byte.
            v if crate::gostr::bytes(v).is_some() => {
                let b = crate::gostr::bytes(v).unwrap_or_default();
                let x = index_arg(i, b.len(), true)?;
                crate::value::GoInt::byte(*b.get(x).ok_or("reflect: string index out of range")?)
            }
            Value::Map(m) | Value::StrMap(m) => match i {
                Value::String(k) => m.get(k.as_bytes()).cloned().unwrap_or(Value::Nil),
                Value::Nil => Value::Nil,
                // A string that is not UTF-8 (agent.md §4.5.3) finds the key of its bytes.
                Value::Object(o) if o.go_string().is_some() => {
                    let (_, b) = o.go_string().unwrap_or_default();
                    m.get(b).cloned().unwrap_or(Value::Nil)
                }
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            // Any key converts to `interface {}`; a missing one gives nil.
            Value::AnyMap(m) => m
                .iter()
                .find(|(k, _)| crate::value::same_key(k, i))
                .map_or(Value::Nil, |(_, v)| v.clone()),
            other => {
                return Err(format!(
                    "can't index item of type {}",
                    other.type_name().trim_start_matches('*')
                ));
            }
        };
    }
    Ok(cur)
}

/// `slice item [i [j [k]]]`.
pub fn slice(item: &Value, idx: &[Value]) -> Result<Value, String> {
    if matches!(item, Value::Nil) {
        return Err("slice of untyped nil".into());
    }
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item {
        // Any Go string, also one that is not UTF-8 (agent.md §4.5.3).
        v if crate::gostr::bytes(v).is_some() => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            crate::gostr::bytes(v).unwrap_or_default().len()
        }
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => l.len(),
        Value::NilList | Value::NilAnyList => 0,
        other => {
            return Err(format!(
                "can't slice item of type {}",
                other.type_name().trim_start_matches('*')
            ));
        }
    };
    let mut bounds = [0, len, len];
    for (k, i) in idx.iter().enumerate() {
        bounds[k] = index_arg(i, len, true)?;
    }
    if bounds[0] > bounds[1] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[0], bounds[1]
        ));
    }
    if idx.len() == 3 && bounds[1] > bounds[2] {
        return Err(format!(
            "invalid slice index: {} > {}",
            bounds[1], bounds[2]
        ));
    }
    let (a, b) = (bounds[0], bounds[1]);
    Ok(match item {
        // Go slices a string's bytes: a cut through a character keeps the bytes on each side.
        Value::String(s) => crate::gostr::from_bytes(s.as_bytes()[a..b].to_vec()),
        Value::Number(s) => Value::Number(Arc::from(s.get(a..b).unwrap_or(""))),
        v if crate::gostr::bytes(v).is_some() => {
            crate::gostr::from_bytes(crate::gostr::bytes(v).unwrap_or_default()[a..b].to_vec())
        }
        Value::List(l) => Value::list(l[a..b].to_vec()),
        Value::Strings(l) => Value::Strings(Arc::new(l[a..b].to_vec())),
        Value::Ints(l) => Value::Ints(Arc::new(l[a..b].to_vec())),
        Value::NilAnyList => Value::NilAnyList,
        _ => Value::NilList,
    })
}

/// The text the escapers work on: one string argument as is, otherwise `Sprint` of all, where a
/// missing value (nil) is the string `<no value>`, as Go's `evalArgs` prints it (agent.md §4.3).
fn escaper_text(args: &[Value]) -> String {
    escaper_go_text(args).into_lossy()
}

/// [`escaper_text`] with the bytes of strings that are not UTF-8 (`crate::gostr`).
fn escaper_go_text(args: &[Value]) -> crate::gostr::GoText {
    match args {
        [Value::String(s)] => crate::gostr::GoText {
            text: s.to_string(),
            raw: Vec::new(),
        },
        _ if args.iter().any(|a| matches!(a, Value::Nil)) => {
            let shown: Vec<Value> = args
                .iter()
                .map(|a| match a {
                    Value::Nil => Value::str("<no value>"),
                    a => a.clone(),
                })
                .collect();
            sprint(&shown)
        }
        _ => sprint(args),
    }
}

/// `html`, `js` or `urlquery` (`name`) as the evaluator calls it: Go's escapers work on bytes, so
/// a string that is not UTF-8 (`crate::gostr`) keeps its bad bytes through `html` and `js` (which
/// copy them) and has them `%`-escaped by `urlquery`.
pub fn escape(name: &str, args: &[Value]) -> Value {
    let t = escaper_go_text(args);
    let esc: fn(&str) -> String = match name {
        "html" => html_text,
        "js" => js_text,
        _ => return Value::str(urlquery_bytes(&t.into_bytes())),
    };
    if t.raw.is_empty() {
        return Value::str(esc(&t.text));
    }
    let b = t.into_bytes();
    let mut out = Vec::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.extend_from_slice(esc(chunk.valid()).as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
    crate::gostr::from_bytes(out)
}

/// `html`: Go's `HTMLEscapeString`.
pub fn html(args: &[Value]) -> String {
    html_text(&escaper_text(args))
}

fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `js`: Go's `JSEscapeString`.
pub fn js(args: &[Value]) -> String {
    js_text(&escaper_text(args))
}

fn js_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c if !c.is_ascii() && !is_print(c) => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Approximates Go's `unicode.IsPrint` for non-ASCII runes.
fn is_print(c: char) -> bool {
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{e000}'..='\u{f8ff}'))
}

/// `urlquery`: Go's `url.QueryEscape`.
pub fn urlquery(args: &[Value]) -> String {
    urlquery_bytes(escaper_text(args).as_bytes())
}

fn urlquery_bytes(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn n(s: &str) -> Value {
        Value::Number(s.into())
    }

    #[test]
    fn comparisons_follow_go_kinds() {
        assert_eq!(eq(&[n("5432"), Value::str("5432")]), Ok(true));
        assert_eq!(
            eq(&[n("42"), Value::Int(42)]).unwrap_err(),
            "incompatible types for comparison: json.Number and int"
        );
        assert_eq!(eq(&[Value::Int(1), Value::Int(2), Value::Int(1)]), Ok(true));
        assert_eq!(eq(&[Value::Int(1), Value::Uint(1)]), Ok(true));
        assert_eq!(eq(&[Value::Int(-1), Value::Uint(u64::MAX)]), Ok(false));
        assert_eq!(eq(&[Value::Nil, Value::str("x")]), Ok(false));
        assert_eq!(eq(&[Value::Nil, Value::Nil]), Ok(true));
        assert_eq!(
            eq(&[Value::Int(1)]).unwrap_err(),
            "missing argument for comparison"
        );
        assert_eq!(
            lt(&n("10"), &Value::Int(10)).unwrap_err(),
            "incompatible types for comparison: json.Number and int"
        );
        assert_eq!(
            lt(&Value::Bool(true), &Value::Bool(false)).unwrap_err(),
            "invalid type for comparison"
        );
        assert_eq!(
            lt(&Value::Nil, &Value::Int(1)).unwrap_err(),
            "invalid type for comparison"
        );
        assert_eq!(lt(&Value::Int(-1), &Value::Uint(0)), Ok(true));
        assert_eq!(lt(&Value::str("a"), &Value::str("b")), Ok(true));
        assert_eq!(le(&Value::Float(1.5), &Value::Float(1.5)), Ok(true));
        let m = Value::map(BTreeMap::new());
        assert!(eq(&[m.clone(), m]).is_err());
    }

    #[test]
    fn len_index_slice() {
        let l = Value::list(vec![Value::str("a"), Value::list(vec![Value::Int(7)])]);
        assert_eq!(len(&Value::str("café")).unwrap().print(), "5");
        assert_eq!(len(&l).unwrap().print(), "2");
        assert_eq!(len(&Value::Int(3)).unwrap_err(), "len of type int");
        // An untyped nil reaches Go's `len` as an invalid reflect.Value; a typed one is a pointer.
        assert_eq!(
            len(&Value::Nil).unwrap_err(),
            "reflect: call of reflect.Value.Type on zero Value"
        );
        assert_eq!(
            len(&Value::NilPtr("*api.SecretAuth")).unwrap_err(),
            "len of nil pointer"
        );
        assert_eq!(len(&Value::NilAnyList).unwrap().print(), "0");
        assert_eq!(
            index(&l, &[Value::Int(1), Value::Int(0)]).unwrap().print(),
            "7"
        );
        assert_eq!(
            index(&l, &[Value::Int(3)]).unwrap_err(),
            "index out of range: 3"
        );
        // Go lets the length itself through to reflect, which panics.
        assert_eq!(
            index(&l, &[Value::Int(2)]).unwrap_err(),
            "reflect: slice index out of range"
        );
        assert_eq!(
            index(&l, &[Value::str("x")]).unwrap_err(),
            "cannot index slice/array with type string"
        );
        assert_eq!(
            index(&Value::Nil, &[Value::Int(0)]).unwrap_err(),
            "index of untyped nil"
        );
        let mut m = BTreeMap::new();
        m.insert("space key".into(), Value::str("v"));
        let m = Value::map(m);
        assert_eq!(index(&m, &[Value::str("space key")]).unwrap().print(), "v");
        assert!(matches!(
            index(&m, &[Value::str("nope")]).unwrap(),
            Value::Nil
        ));
        assert_eq!(
            index(&m, &[n("1")]).unwrap_err(),
            "value has type json.Number; should be string"
        );
        // A key that is not UTF-8 is its bytes: "\xff" finds its own key, not the U+FFFD one.
        let mut b = BTreeMap::new();
        b.insert("\u{fffd}".into(), Value::str("w"));
        let key = crate::gostr::from_bytes(b"\xff".to_vec());
        assert!(matches!(
            index(&Value::map(b.clone()), std::slice::from_ref(&key)).unwrap(),
            Value::Nil
        ));
        b.insert(
            crate::value::Key::from_bytes(b"\xff".to_vec()),
            Value::str("x"),
        );
        assert_eq!(index(&Value::map(b.clone()), &[key]).unwrap().print(), "x");
        assert_eq!(
            index(&Value::map(b), &[Value::str("\u{fffd}")])
                .unwrap()
                .print(),
            "w"
        );
        assert_eq!(
            index(&Value::Int(1), &[Value::Int(0)]).unwrap_err(),
            "can't index item of type int"
        );
        assert_eq!(
            slice(&Value::str("hello"), &[Value::Int(1), Value::Int(3)])
                .unwrap()
                .print(),
            "el"
        );
        assert_eq!(slice(&l, &[Value::Int(1)]).unwrap().print(), "[[7]]");
        assert_eq!(
            slice(&Value::str("hi"), &[Value::Int(3)]).unwrap_err(),
            "index out of range: 3"
        );
        assert_eq!(
            slice(&Value::str("hi"), &[Value::Int(2), Value::Int(1)]).unwrap_err(),
            "invalid slice index: 2 > 1"
        );
    }

    #[test]
    fn typed_nils_and_typed_integers_compare_as_go_does() {
        let auth = Value::NilPtr("*dependency.SecretAuth");
        // A typed nil has a type: against another kind it is an error, not `false`.
        assert_eq!(
            eq(&[auth.clone(), Value::Int(1)]).unwrap_err(),
            "incompatible types for comparison: *dependency.SecretAuth and int"
        );
        assert_eq!(
            eq(&[Value::Int(1), Value::NilList]).unwrap_err(),
            "incompatible types for comparison: int and []string"
        );
        assert_eq!(eq(&[auth.clone(), auth]), Ok(true));
        // Values never reach the message (crate::redact): type and length instead.
        let list = Value::list(vec![Value::str("alpha")]);
        let map = Value::map(BTreeMap::new());
        assert_eq!(
            eq(&[list.clone(), list.clone()]).unwrap_err(),
            "non-comparable type <[]interface {}, 7 bytes>: []interface {}"
        );
        assert_eq!(
            eq(&[list, map]).unwrap_err(),
            "non-comparable types <[]interface {}, 7 bytes>: []interface {}, \
             map[string]interface {}: <map[string]interface {}, 5 bytes>"
        );
        // A byte (uint8) and a time.Month compare by their kind's value, name their type.
        let b = crate::value::GoInt::byte(97);
        let march =
            crate::value::GoInt::named("time.Month", 3, &["January", "February", "March"], 1);
        assert_eq!(eq(&[b.clone(), Value::Int(97)]), Ok(true));
        assert_eq!(eq(&[Value::Int(-1), b.clone()]), Ok(false));
        assert_eq!(lt(&b, &Value::Uint(98)), Ok(true));
        assert_eq!(eq(&[march.clone(), Value::Int64(3)]), Ok(true));
        assert_eq!(lt(&march, &Value::Int(3)), Ok(false));
        assert_eq!(
            eq(&[b.clone(), Value::str("a")]).unwrap_err(),
            "incompatible types for comparison: uint8 and string"
        );
        assert_eq!(
            le(&b, &Value::Float(1.5)).unwrap_err(),
            "incompatible types for comparison: uint8 and float64"
        );
        assert_eq!(
            eq(&[march, Value::str("March")]).unwrap_err(),
            "incompatible types for comparison: time.Month and string"
        );
        assert_eq!(len(&b).unwrap_err(), "len of type uint8");
        // `index` of a string is a byte; a byte indexes and slices.
        let got = index(&Value::str("abc"), &[Value::Int(1)]).unwrap();
        assert_eq!((got.type_name(), got.print()), ("uint8", "98".into()));
        let l = Value::strings(["x", "y"]);
        assert_eq!(
            index(&l, &[crate::value::GoInt::byte(1)]).unwrap().print(),
            "y"
        );
        assert_eq!(
            slice(&Value::str("hello"), &[crate::value::GoInt::byte(1)])
                .unwrap()
                .print(),
            "ello"
        );
    }

    #[test]
    fn escapers() {
        assert_eq!(
            html(&[Value::str("<a href=\"x\">'&'</a>")]),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            js(&[Value::str("a'b\"c<d>=&\\\n")]),
            "a\\'b\\\"c\\u003Cd\\u003E\\u003D\\u0026\\\\\\u000A"
        );
        assert_eq!(urlquery(&[Value::str("a b&c=d/é")]), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(urlquery(&[Value::Int(1), Value::Int(2)]), "1+2");
        assert_eq!(urlquery(&[Value::Nil]), "%3Cno+value%3E");
        assert_eq!(
            html(&[Value::Nil, Value::Nil]),
            "&lt;no value&gt;&lt;no value&gt;"
        );
        assert_eq!(js(&[Value::Nil]), "\\u003Cno value\\u003E");
    }
}
