//! Sprig v3 functions under the `sprig_` prefix (agent.md §4.5): strings, regular expressions,
//! defaults, encodings, lists, dicts, integer math, type tests and paths. The non-hermetic ones
//! (dates, `now`, random, `uuidv4`, `env`, `expandenv`, `getHostByName`) are absent on purpose.
//!
//! Sprig converts loosely (`toInt64` of a string parses it, errors become zero) and its list/dict
//! helpers take any slice or map; that is reproduced here. Go maps are references, so Sprig's
//! `set`/`unset`/`merge` change the map in place; our maps are values, so the engine stores the
//! result to every variable and dot that holds the same map ([`changes_first_arg`]). Names not
//! listed here are looked up in [`sprig_more`](super::sprig_more), then
//! [`sprig_time`](super::sprig_time).

use std::collections::BTreeMap;

use super::{args, collections, encoding, serialize, strings};
use crate::gostr::{self, GoText, Key};
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    let short = name.strip_prefix("sprig_")?;
    Some(match short {
        // strings
        "upper" => upper,
        "lower" => lower,
        "title" => title,
        "untitle" => untitle,
        "trim" => trim,
        "trimAll" | "trimall" => trim_all,
        "trimPrefix" => trim_prefix,
        "trimSuffix" => trim_suffix,
        "trunc" => trunc,
        "abbrev" => abbrev,
        "contains" => contains,
        "hasPrefix" => has_prefix,
        "hasSuffix" => has_suffix,
        "quote" => quote,
        "squote" => squote,
        "cat" => cat,
        "indent" => indent,
        "nindent" => nindent,
        "replace" => replace,
        "repeat" => repeat,
        "substr" => substr,
        "nospace" => nospace,
        "initials" => initials,
        "plural" => plural,
        "toString" => to_string,
        "toStrings" => to_strings,
        "split" => split,
        "splitn" => splitn,
        "splitList" => split_list,
        "join" => join,
        "sortAlpha" => sort_alpha,
        // regular expressions
        "regexMatch" => regex_match,
        "mustRegexMatch" => must_regex_match,
        "regexFind" => regex_find,
        "mustRegexFind" => must_regex_find,
        "regexFindAll" => regex_find_all,
        "mustRegexFindAll" => must_regex_find_all,
        "regexReplaceAll" => regex_replace_all,
        "mustRegexReplaceAll" => must_regex_replace_all,
        "regexReplaceAllLiteral" => regex_replace_all_literal,
        "mustRegexReplaceAllLiteral" => must_regex_replace_all_literal,
        "regexSplit" => regex_split,
        "mustRegexSplit" => must_regex_split,
        "regexQuoteMeta" => regex_quote_meta,
        // defaults and flow
        "default" => default,
        "empty" => empty,
        "coalesce" => coalesce,
        "all" => all,
        "any" => any,
        "ternary" => ternary,
        "fail" => fail,
        "required" => required,
        // JSON
        "toJson" => to_json,
        "mustToJson" => must_to_json,
        "toPrettyJson" => to_pretty_json,
        "mustToPrettyJson" => must_to_pretty_json,
        "toRawJson" => to_raw_json,
        "mustToRawJson" => must_to_raw_json,
        "fromJson" => from_json,
        "mustFromJson" => must_from_json,
        // encodings and digests
        "b64enc" => b64enc,
        "b64dec" => b64dec,
        "b32enc" => b32enc,
        "b32dec" => b32dec,
        "sha1sum" => sha1sum,
        "sha256sum" => sha256sum,
        "adler32sum" => adler32sum,
        // lists
        "list" | "tuple" => list,
        "first" | "mustFirst" => first,
        "last" | "mustLast" => last,
        "rest" | "mustRest" => rest,
        "initial" | "mustInitial" => initial,
        "append" | "push" | "mustAppend" | "mustPush" => append,
        "prepend" | "mustPrepend" => prepend,
        "concat" => concat,
        "reverse" | "mustReverse" => reverse,
        "uniq" | "mustUniq" => uniq,
        "without" | "mustWithout" => without,
        "has" | "mustHas" => has,
        "compact" | "mustCompact" => compact,
        "slice" | "mustSlice" => slice,
        "chunk" | "mustChunk" => chunk,
        "until" => until,
        "untilStep" => until_step,
        "seq" => seq,
        // dicts
        "dict" => dict,
        "get" => get,
        "set" => set,
        "unset" => unset,
        "hasKey" => has_key,
        "pluck" => pluck,
        "keys" => keys,
        "values" => values,
        "pick" => pick,
        "omit" => omit,
        "merge" | "mustMerge" => merge,
        "mergeOverwrite" | "mustMergeOverwrite" => merge_overwrite,
        "dig" => dig,
        "deepCopy" | "mustDeepCopy" => deep_copy,
        // integer math
        "add" => add,
        "add1" => add1,
        "sub" => sub,
        "mul" => mul,
        "div" => div,
        "mod" => modulo,
        "max" | "biggest" => max,
        "min" => min,
        "floor" => floor,
        "ceil" => ceil,
        "round" => round,
        "int" => int,
        "int64" => int64,
        "float64" => float64,
        "atoi" => atoi,
        // types
        "typeOf" => type_of,
        "typeIs" => type_is,
        "typeIsLike" => type_is_like,
        "kindOf" => kind_of,
        "kindIs" => kind_is,
        "deepEqual" => deep_equal,
        // paths
        "base" | "osBase" => base,
        "dir" | "osDir" => dir,
        "ext" | "osExt" => ext,
        "clean" | "osClean" => clean,
        "isAbs" | "osIsAbs" => is_abs,
        // semantic versions
        "semverCompare" => semver_compare,
        _ => return super::sprig_more::lookup(short),
    })
}

/// Whether the call changed its first argument in place in Go (maps and slices are references),
/// given that argument and the result: `set`/`unset`/`merge…` change the map they are given,
/// `sortAlpha` sorts a `[]string` in place. The engine then gives the result to every variable
/// that shares the argument.
pub fn changes_first_arg(name: &str, first: &Value, result: &Value) -> bool {
    match name {
        "sprig_set"
        | "sprig_unset"
        | "sprig_merge"
        | "sprig_mustMerge"
        | "sprig_mergeOverwrite"
        | "sprig_mustMergeOverwrite" => matches!(result, Value::Map(_)),
        "sprig_sortAlpha" => matches!(first, Value::Strings(_)),
        _ => false,
    }
}

// ----------------------------------------------------------------------------------------------
// Conversions (Sprig's `strval`, `toInt64`, `toFloat64`, `empty`)
// ----------------------------------------------------------------------------------------------

/// Sprig's `strval`: strings as is, everything else as `%v`.
pub fn strval(v: &Value) -> String {
    v.print()
}

/// Sprig's (cast's) `toInt64`: numbers truncate, strings parse (base prefixes allowed), failures are 0.
pub fn to_i64(v: &Value) -> i64 {
    if let Some(u) = v.go_int() {
        return to_i64(&u);
    }
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Uint(u) => *u as i64,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::Number(s) | Value::String(s) => parse_int_base0(trim_zero_decimal(s)).unwrap_or(0),
        _ => 0,
    }
}

/// cast's `trimZeroDecimal`: `"5.0"`, `"5.00"` read as `"5"` (a nonzero fraction stays).
fn trim_zero_decimal(s: &str) -> &str {
    let digits = s.trim_end_matches('0');
    match digits.strip_suffix('.') {
        Some(int) if digits.len() < s.len() => int,
        _ => s,
    }
}

/// cast's `strconv.ParseInt(s, 0, 0)` (64-bit).
fn parse_int_base0(s: &str) -> Option<i64> {
    vaultlet_shared::go::strconv::parse_int(s, 0).ok()
}

/// Sprig's (cast's) `toFloat64`; failures are 0.
pub fn to_f64(v: &Value) -> f64 {
    if let Some(u) = v.go_int() {
        return to_f64(&u);
    }
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Uint(u) => *u as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        // cast reads strings with `strconv.ParseFloat` (hex floats, `_` separators).
        Value::Number(s) | Value::String(s) => {
            vaultlet_shared::go::strconv::parse_float(s).unwrap_or(0.0)
        }
        _ => 0.0,
    }
}

/// Sprig's `empty`: nil, zero, false, and empty strings, lists and maps.
pub fn is_empty(v: &Value) -> bool {
    !v.truthy() && !matches!(v, Value::Number(s) if !s.is_empty())
}

/// Go `reflect` kind name.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Uint(_) => "uint64",
        Value::Float(_) => "float64",
        Value::Number(_) | Value::String(_) => "string",
        Value::List(_)
        | Value::Strings(_)
        | Value::Ints(_)
        | Value::NilList
        | Value::NilAnyList => "slice",
        Value::Map(_) | Value::StrMap(_) | Value::AnyMap(_) => "map",
        Value::Record(_) | Value::NilPtr(_) => "ptr",
        Value::Object(o) if o.go_string().is_some() => "string",
        Value::Object(o) if o.go_int().is_some() => o.go_int().map_or("int", |g| g.kind),
        Value::Object(_) => "ptr",
    }
}

/// `reflect.DeepEqual` for template values (types must match).
pub fn deep_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil)
        | (Value::NilList, Value::NilList)
        | (Value::NilAnyList, Value::NilAnyList) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Number(x), Value::Number(y)) | (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y))
        | (Value::Strings(x), Value::Strings(y))
        | (Value::Ints(x), Value::Ints(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_eq(p, q))
        }
        (Value::Map(x), Value::Map(y)) | (Value::StrMap(x), Value::StrMap(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| deep_eq(v, w)))
        }
        (Value::NilPtr(x), Value::NilPtr(y)) => x == y,
        (Value::Object(_), Value::Object(_)) if gostr::invalid_utf8(a).is_some() => {
            gostr::invalid_utf8(a) == gostr::invalid_utf8(b)
        }
        (Value::Record(x), Value::Record(y)) => {
            x.type_name == y.type_name
                && x.fields.len() == y.fields.len()
                && x.fields
                    .iter()
                    .zip(y.fields.iter())
                    .all(|((_, p), (_, q))| deep_eq(p, q))
        }
        // `uint8`, `time.Month`: same type, same value.
        (Value::Object(x), Value::Object(y)) => match (x.go_int(), y.go_int()) {
            (Some(p), Some(q)) => p.type_name == q.type_name && p.value == q.value,
            _ => false,
        },
        _ => false,
    }
}

/// Sprig's `strslice`: a list's non-nil items as strings (of any bytes, `crate::gostr`),
/// anything else as a one-item list.
fn strslice(v: &Value) -> Vec<Value> {
    let one = |x: &Value| match x {
        Value::String(_) => x.clone(),
        x => gostr::strval(x).into_value(),
    };
    match v {
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(one)
            .collect(),
        Value::NilList | Value::NilAnyList | Value::Nil => Vec::new(),
        other => vec![one(other)],
    }
}

fn as_list(func: &str, v: &Value) -> Result<Vec<Value>, String> {
    match v {
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => Ok(l.as_ref().clone()),
        Value::NilList | Value::NilAnyList => Ok(Vec::new()),
        other => Err(format!("Cannot find {func} on type {}", kind(other))),
    }
}

fn as_map(v: &Value) -> Result<BTreeMap<Key, Value>, String> {
    args::map(v)
}

/// A Go `[]string`.
fn str_list(items: Vec<String>) -> Value {
    Value::strings(items)
}

fn ok_str(s: impl Into<std::sync::Arc<str>>) -> Result<Value, String> {
    Ok(Value::str(s))
}

macro_rules! func {
    ($name:ident($a:ident) $body:block) => {
        fn $name(_: &mut CallEnv<'_>, $a: &[Value]) -> Result<Value, String> $body
    };
}

fn n_args<'a>(name: &str, a: &'a [Value], n: usize) -> Result<&'a [Value], String> {
    args::arity(&format!("sprig_{name}"), a, n)?;
    Ok(a)
}

fn s1<'a>(name: &str, a: &'a [Value]) -> Result<&'a str, String> {
    args::string(&n_args(name, a, 1)?[0])
}

/// One argument as bytes (a Go string of any bytes, `crate::gostr`).
fn b1<'a>(name: &str, a: &'a [Value]) -> Result<&'a [u8], String> {
    args::string_bytes(&n_args(name, a, 1)?[0])
}

fn s2<'a>(name: &str, a: &'a [Value]) -> Result<(&'a str, &'a str), String> {
    let a = n_args(name, a, 2)?;
    Ok((args::string(&a[0])?, args::string(&a[1])?))
}

/// Two arguments' bytes when one of them is a string that is not UTF-8 (`crate::gostr`): the
/// functions that work on bytes in Go then take this path.
fn b2<'a>(name: &str, a: &'a [Value]) -> Option<args::BytePair<'a>> {
    gostr::any_binary(a).then(|| {
        let a = n_args(name, a, 2)?;
        Ok((args::string_bytes(&a[0])?, args::string_bytes(&a[1])?))
    })
}

fn ok_bytes(b: &[u8]) -> Result<Value, String> {
    Ok(gostr::from_bytes(b.to_vec()))
}

// ----------------------------------------------------------------------------------------------
// Strings
// ----------------------------------------------------------------------------------------------

func!(upper(a) { ok_str(strings::go_upper(s1("upper", a)?)) });
func!(lower(a) { ok_str(strings::go_lower(s1("lower", a)?)) });
func!(title(a) { ok_str(strings::strings_title(s1("title", a)?)) });
func!(untitle(a) {
    let s = s1("untitle", a)?;
    let mut out = String::new();
    let mut prev_space = true;
    for c in s.chars() {
        if prev_space && c.is_alphabetic() {
            out.push_str(&strings::go_lower(&c.to_string()));
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    ok_str(out)
});
func!(trim(a) {
    if gostr::any_binary(a) {
        return ok_bytes(gostr::trim_func(b1("trim", a)?, strings::go_space));
    }
    ok_str(s1("trim", a)?.trim_matches(strings::go_space))
});
func!(trim_all(a) {
    if let Some(r) = b2("trimAll", a) {
        let (cut, s) = r?;
        return ok_bytes(gostr::trim_cutset(s, cut));
    }
    let (cut, s) = s2("trimAll", a)?;
    ok_str(s.trim_matches(|c| cut.contains(c)))
});
func!(trim_prefix(a) {
    if let Some(r) = b2("trimPrefix", a) {
        let (p, s) = r?;
        return ok_bytes(s.strip_prefix(p).unwrap_or(s));
    }
    let (p, s) = s2("trimPrefix", a)?;
    ok_str(s.strip_prefix(p).unwrap_or(s))
});
func!(trim_suffix(a) {
    if let Some(r) = b2("trimSuffix", a) {
        let (p, s) = r?;
        return ok_bytes(s.strip_suffix(p).unwrap_or(s));
    }
    let (p, s) = s2("trimSuffix", a)?;
    ok_str(s.strip_suffix(p).unwrap_or(s))
});

/// `s[from:to]` as Go slices a string: by bytes, so a multibyte character may be cut
/// (`crate::gostr`).
/// goutils' `DeleteWhiteSpace`: it reads the string byte by byte, each byte taken as the
/// character of that number (Latin-1), drops those Go's `unicode.IsSpace` calls space (so also
/// the bytes 0x85 and 0xA0 inside multibyte characters) and writes the others back as UTF-8;
/// a string with nothing to drop comes back as it was.
pub fn delete_white_space(s: &[u8]) -> Value {
    let kept: String = s
        .iter()
        .map(|b| char::from(*b))
        .filter(|c| !strings::go_space(*c))
        .collect();
    if kept.chars().count() == s.len() {
        gostr::from_bytes(s.to_vec())
    } else {
        Value::str(kept)
    }
}

fn byte_slice(s: &[u8], from: usize, to: usize) -> Value {
    crate::gostr::from_bytes(s[from..to].to_vec())
}

func!(trunc(a) {
    let a = n_args("trunc", a, 2)?;
    let (c, s) = (args::int(&a[0])?, args::string_bytes(&a[1])?);
    let len = s.len() as i64;
    Ok(if c < 0 && len + c > 0 {
        byte_slice(s, (len + c) as usize, s.len())
    } else if c >= 0 && len > c {
        byte_slice(s, 0, c as usize)
    } else {
        a[1].clone()
    })
});
func!(abbrev(a) {
    let a = n_args("abbrev", a, 2)?;
    let (w, s) = (args::int(&a[0])?, args::string_bytes(&a[1])?);
    if w < 4 || s.len() as i64 <= w {
        return Ok(a[1].clone());
    }
    let mut out = s[..(w - 3) as usize].to_vec();
    out.extend_from_slice(b"...");
    Ok(crate::gostr::from_bytes(out))
});
func!(contains(a) {
    if let Some(r) = b2("contains", a) {
        let (sub, s) = r?;
        return Ok(Value::Bool(gostr::find(s, sub).is_some()));
    }
    let (sub, s) = s2("contains", a)?;
    Ok(Value::Bool(s.contains(sub)))
});
func!(has_prefix(a) {
    if let Some(r) = b2("hasPrefix", a) {
        let (p, s) = r?;
        return Ok(Value::Bool(s.starts_with(p)));
    }
    let (p, s) = s2("hasPrefix", a)?;
    Ok(Value::Bool(s.starts_with(p)))
});
func!(has_suffix(a) {
    if let Some(r) = b2("hasSuffix", a) {
        let (p, s) = r?;
        return Ok(Value::Bool(s.ends_with(p)));
    }
    let (p, s) = s2("hasSuffix", a)?;
    Ok(Value::Bool(s.ends_with(p)))
});

/// Sprig's `%v`-joined argument lists (`quote`, `squote`, `cat`): each non-nil argument's
/// `strval` through `each`, separated by spaces; bytes kept (`crate::gostr`).
fn spaced(a: &[Value], each: impl Fn(GoText) -> GoText) -> Value {
    let mut out = GoText::default();
    for (i, v) in a.iter().filter(|v| !matches!(v, Value::Nil)).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.append(each(gostr::strval(v)));
    }
    out.into_value()
}

func!(quote(a) {
    Ok(spaced(a, |t| {
        let q = if t.raw.is_empty() { args::go_quote_str(&t.text) } else { gostr::quote(&t.into_bytes(), false) };
        GoText { text: q, raw: Vec::new() }
    }))
});
func!(squote(a) {
    Ok(spaced(a, |t| {
        let mut q = GoText { text: "'".into(), raw: Vec::new() };
        q.append(t);
        q.push('\'');
        q
    }))
});
func!(cat(a) { Ok(spaced(a, |t| t)) });

fn sprig_indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.max(0) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// [`sprig_indent`] of any bytes (`crate::gostr`), after `lead`.
fn sprig_indent_bytes(lead: &[u8], n: i64, s: &[u8]) -> Value {
    let pad = vec![b' '; n.max(0) as usize];
    let mut out = lead.to_vec();
    out.extend_from_slice(&pad);
    out.extend(gostr::replace(s, b"\n", &[b"\n", &pad[..]].concat(), -1));
    gostr::from_bytes(out)
}

func!(indent(a) {
    let a = n_args("indent", a, 2)?;
    if gostr::any_binary(a) {
        return Ok(sprig_indent_bytes(b"", args::int(&a[0])?, args::string_bytes(&a[1])?));
    }
    ok_str(sprig_indent(args::int(&a[0])?, args::string(&a[1])?))
});
func!(nindent(a) {
    let a = n_args("nindent", a, 2)?;
    if gostr::any_binary(a) {
        return Ok(sprig_indent_bytes(b"\n", args::int(&a[0])?, args::string_bytes(&a[1])?));
    }
    ok_str(format!("\n{}", sprig_indent(args::int(&a[0])?, args::string(&a[1])?)))
});
func!(replace(a) {
    let a = n_args("replace", a, 3)?;
    if gostr::any_binary(a) {
        let (old, new, src) = (args::string_bytes(&a[0])?, args::string_bytes(&a[1])?, args::string_bytes(&a[2])?);
        return Ok(gostr::from_bytes(gostr::replace(src, old, new, -1)));
    }
    let (old, new, src) = (args::string(&a[0])?, args::string(&a[1])?, args::string(&a[2])?);
    ok_str(src.replace(old, new))
});
func!(repeat(a) {
    let a = n_args("repeat", a, 2)?;
    let n = args::int(&a[0])?;
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let s = args::string_bytes(&a[1])?;
    if s.len().saturating_mul(n as usize) > 64 << 20 {
        return Err("strings: Repeat output length overflow".into());
    }
    if gostr::any_binary(a) {
        return Ok(gostr::from_bytes(s.repeat(n as usize)));
    }
    ok_str(args::string(&a[1])?.repeat(n as usize))
});
func!(substr(a) {
    let a = n_args("substr", a, 3)?;
    let (start, end, s) = (args::int(&a[0])?, args::int(&a[1])?, args::string_bytes(&a[2])?);
    let len = s.len() as i64;
    let clamp = |x: i64| x.clamp(0, len) as usize;
    Ok(if start < 0 {
        byte_slice(s, 0, clamp(end))
    } else if end < 0 || end > len {
        byte_slice(s, clamp(start), s.len())
    } else if start > end {
        return Err(format!("runtime error: slice bounds out of range [{start}:{end}]"));
    } else {
        byte_slice(s, clamp(start), clamp(end))
    })
});
func!(nospace(a) { Ok(delete_white_space(b1("nospace", a)?)) });
func!(initials(a) {
    // goutils' `Initials` reads the string byte by byte as Latin-1, as `nospace` does: the first
    // byte after white space (0x85 and 0xA0 are space) is written as that character.
    let mut out = String::new();
    let mut gap = true;
    for c in b1("initials", a)?.iter().map(|b| char::from(*b)) {
        if strings::go_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    ok_str(out)
});
func!(plural(a) {
    let a = n_args("plural", a, 3)?;
    args::string(&a[0])?;
    args::string(&a[1])?;
    Ok(if args::int(&a[2])? == 1 { a[0].clone() } else { a[1].clone() })
});
func!(to_string(a) {
    let v = &n_args("toString", a, 1)?[0];
    // A string is returned as it is, bytes and all, also inside a list or map (`crate::gostr`).
    match v {
        Value::List(_)
        | Value::Strings(_)
        | Value::Map(_)
        | Value::StrMap(_)
        | Value::AnyMap(_)
        | Value::Object(_) => Ok(gostr::strval(v).into_value()),
        v => ok_str(strval(v)),
    }
});
func!(to_strings(a) { Ok(Value::Strings(std::sync::Arc::new(strslice(&n_args("toStrings", a, 1)?[0])))) });

/// Sprig's `split`/`splitn` map of parts, a Go `map[string]string`: `_0`, `_1`, ….
fn parts_map(parts: Vec<&[u8]>) -> Value {
    Value::StrMap(std::sync::Arc::new(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (Key::Str(format!("_{i}")), gostr::from_bytes(p.to_vec())))
            .collect(),
    ))
}

func!(split(a) {
    if let Some(r) = b2("split", a) {
        let (sep, s) = r?;
        return Ok(parts_map(gostr::split(s, sep, -1)));
    }
    let (sep, s) = s2("split", a)?;
    let m = collections::go_split(s, sep).into_iter().enumerate().map(|(i, p)| (Key::Str(format!("_{i}")), Value::str(p))).collect();
    Ok(Value::StrMap(std::sync::Arc::new(m)))
});
func!(splitn(a) {
    let a = n_args("splitn", a, 3)?;
    if gostr::any_binary(a) {
        let (sep, n, s) = (args::string_bytes(&a[0])?, args::int(&a[1])?, args::string_bytes(&a[2])?);
        return Ok(parts_map(gostr::split(s, sep, n)));
    }
    let (sep, n, s) = (args::string(&a[0])?, args::int(&a[1])?, args::string(&a[2])?);
    let parts: Vec<&str> = if n < 0 {
        collections::go_split(s, sep)
    } else if n == 0 {
        Vec::new()
    } else if sep.is_empty() {
        let mut v = collections::go_split(s, sep);
        if v.len() > n as usize {
            let cut: usize = v[..n as usize - 1].iter().map(|p| p.len()).sum();
            v.truncate(n as usize - 1);
            v.push(&s[cut..]);
        }
        v
    } else {
        s.splitn(n as usize, sep).collect()
    };
    Ok(Value::StrMap(std::sync::Arc::new(parts.into_iter().enumerate().map(|(i, p)| (Key::Str(format!("_{i}")), Value::str(p))).collect())))
});
func!(split_list(a) {
    if let Some(r) = b2("splitList", a) {
        let (sep, s) = r?;
        return Ok(collections::byte_strings(gostr::split(s, sep, -1)));
    }
    let (sep, s) = s2("splitList", a)?;
    Ok(Value::strings(collections::go_split(s, sep)))
});
func!(join(a) {
    let a = n_args("join", a, 2)?;
    let items = strslice(&a[1]);
    if gostr::any_binary(&items) || gostr::any_binary(&a[..1]) {
        return Ok(collections::join_bytes(args::string_bytes(&a[0])?, &items));
    }
    let sep = args::string(&a[0])?;
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        if let Value::String(s) = item {
            out.push_str(s);
        }
    }
    ok_str(out)
});
func!(sort_alpha(a) {
    let mut items = strslice(&n_args("sortAlpha", a, 1)?[0]);
    items.sort_by(|x, y| gostr::bytes(x).cmp(&gostr::bytes(y)));
    Ok(Value::Strings(std::sync::Arc::new(items)))
});

// ----------------------------------------------------------------------------------------------
// Regular expressions (Sprig's order: the regex first, the input second)
// ----------------------------------------------------------------------------------------------

fn re(v: &Value) -> Result<regex::Regex, String> {
    strings::compile_value(v)
}

/// The non-`must` functions other than `regexMatch` compile with Go's `regexp.MustCompile`, whose
/// panic fails the render with this text.
fn must_compile_panic(v: &Value, err: String) -> String {
    if let Some(b) = gostr::invalid_utf8(v) {
        return format!("regexp: Compile({}): {err}", gostr::quote(b, false));
    }
    let re = args::string(v).unwrap_or_default();
    let quoted = if re
        .chars()
        .all(|c| c != '`' && (c == '\t' || !c.is_control()))
    {
        format!("`{re}`")
    } else {
        args::go_quote_str(re)
    };
    format!("regexp: Compile({quoted}): {err}")
}

func!(regex_match(a) {
    let (_, s) = s2("regexMatch", a)?;
    Ok(Value::Bool(re(&a[0]).map(|r| r.is_match(s)).unwrap_or(false)))
});
func!(must_regex_match(a) {
    let (_, s) = s2("mustRegexMatch", a)?;
    Ok(Value::Bool(re(&a[0])?.is_match(s)))
});

fn find(name: &str, a: &[Value], must: bool) -> Result<Value, String> {
    let (_, s) = s2(name, a)?;
    if gostr::any_binary(&a[1..]) {
        // The bytes of the match (`crate::gostr`).
        let h = strings::Haystack::new(args::string_bytes(&a[1])?);
        return match re(&a[0]) {
            Ok(r) => ok_bytes(
                r.find(&h.text)
                    .map_or(&b""[..], |m| h.span(m.start(), m.end())),
            ),
            Err(e) if must => Err(e),
            Err(e) => Err(must_compile_panic(&a[0], e)),
        };
    }
    match re(&a[0]) {
        Ok(r) => ok_str(r.find(s).map(|m| m.as_str()).unwrap_or("")),
        Err(e) if must => Err(e),
        Err(e) => Err(must_compile_panic(&a[0], e)),
    }
}

func!(regex_find(a) { find("regexFind", a, false) });
func!(must_regex_find(a) { find("mustRegexFind", a, true) });

fn find_all(name: &str, a: &[Value], must: bool) -> Result<Value, String> {
    let a = n_args(name, a, 3)?;
    let (_, s, n) = (
        args::string(&a[0])?,
        args::string(&a[1])?,
        args::int(&a[2])?,
    );
    if gostr::any_binary(&a[1..2]) {
        let h = strings::Haystack::new(args::string_bytes(&a[1])?);
        return match re(&a[0]) {
            Ok(r) => {
                let take = if n < 0 { usize::MAX } else { n as usize };
                let items: Vec<&[u8]> = r
                    .find_iter(&h.text)
                    .take(take)
                    .map(|m| h.span(m.start(), m.end()))
                    .collect();
                if items.is_empty() {
                    return Ok(Value::NilList);
                }
                Ok(collections::byte_strings(items))
            }
            Err(e) if must => Err(e),
            Err(e) => Err(must_compile_panic(&a[0], e)),
        };
    }
    match re(&a[0]) {
        Ok(r) => {
            let it = r.find_iter(s).map(|m| m.as_str().to_string());
            let items: Vec<String> = if n < 0 {
                it.collect()
            } else {
                it.take(n as usize).collect()
            };
            // Go's `FindAllString` gives a nil `[]string` when nothing matches.
            if items.is_empty() {
                return Ok(Value::NilList);
            }
            Ok(str_list(items))
        }
        Err(e) if must => Err(e),
        Err(e) => Err(must_compile_panic(&a[0], e)),
    }
}

func!(regex_find_all(a) { find_all("regexFindAll", a, false) });
func!(must_regex_find_all(a) { find_all("mustRegexFindAll", a, true) });

fn replace_all(name: &str, a: &[Value], must: bool, literal: bool) -> Result<Value, String> {
    let a = n_args(name, a, 3)?;
    let (_, s, repl) = (
        args::string(&a[0])?,
        args::string(&a[1])?,
        args::string(&a[2])?,
    );
    if gostr::any_binary(&a[1..]) {
        let (s, repl) = (args::string_bytes(&a[1])?, args::string_bytes(&a[2])?);
        return match re(&a[0]) {
            Ok(r) => Ok(gostr::from_bytes(
                strings::Haystack::new(s).replace_all(&r, repl, literal),
            )),
            Err(e) if must => Err(e),
            Err(e) => Err(must_compile_panic(&a[0], e)),
        };
    }
    match re(&a[0]) {
        Ok(r) if literal => ok_str(r.replace_all(s, regex::NoExpand(repl)).into_owned()),
        Ok(r) => ok_str(r.replace_all(s, repl).into_owned()),
        Err(e) if must => Err(e),
        Err(e) => Err(must_compile_panic(&a[0], e)),
    }
}

func!(regex_replace_all(a) { replace_all("regexReplaceAll", a, false, false) });
func!(must_regex_replace_all(a) { replace_all("mustRegexReplaceAll", a, true, false) });
func!(regex_replace_all_literal(a) { replace_all("regexReplaceAllLiteral", a, false, true) });
func!(must_regex_replace_all_literal(a) { replace_all("mustRegexReplaceAllLiteral", a, true, true) });

fn rsplit(name: &str, a: &[Value], must: bool) -> Result<Value, String> {
    let a = n_args(name, a, 3)?;
    let (_, s, n) = (
        args::string(&a[0])?,
        args::string(&a[1])?,
        args::int(&a[2])?,
    );
    if gostr::any_binary(&a[1..2]) {
        let h = strings::Haystack::new(args::string_bytes(&a[1])?);
        return match re(&a[0]) {
            Ok(r) => Ok(go_regex_split(&r, &h, n)),
            Err(e) if must => Err(e),
            Err(e) => Err(must_compile_panic(&a[0], e)),
        };
    }
    match re(&a[0]) {
        Ok(r) => {
            let items: Vec<String> = if n < 0 {
                r.split(s).map(str::to_string).collect()
            } else if n == 0 {
                // Go's `Split` with n == 0 gives a nil `[]string`.
                return Ok(Value::NilList);
            } else {
                r.splitn(s, n as usize).map(str::to_string).collect()
            };
            Ok(str_list(items))
        }
        Err(e) if must => Err(e),
        Err(e) => Err(must_compile_panic(&a[0], e)),
    }
}

/// Go's `Regexp.Split` of a string that is not UTF-8 (`crate::gostr`).
fn go_regex_split(r: &regex::Regex, h: &strings::Haystack<'_>, n: i64) -> Value {
    if n == 0 {
        return Value::NilList;
    }
    if !r.as_str().is_empty() && h.text.is_empty() {
        return Value::strings([""]);
    }
    let take = if n < 0 { usize::MAX } else { n as usize };
    let mut parts: Vec<&[u8]> = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for m in r.find_iter(&h.text).take(take) {
        if n > 0 && parts.len() == take - 1 {
            break;
        }
        end = m.start();
        if m.end() != 0 {
            parts.push(h.span(beg, end));
        }
        beg = m.end();
    }
    if end != h.text.len() {
        parts.push(h.span(beg, h.text.len()));
    }
    collections::byte_strings(parts)
}

func!(regex_split(a) { rsplit("regexSplit", a, false) });
func!(must_regex_split(a) { rsplit("mustRegexSplit", a, true) });
func!(regex_quote_meta(a) {
    // Go's `regexp.QuoteMeta` escapes only these (the crate's `escape` also does `#&-~`).
    // On bytes, as Go's does: a string that is not UTF-8 keeps its bytes (agent.md §4.5.3).
    s1("regexQuoteMeta", a)?;
    let s = crate::gostr::bytes(&a[0]).unwrap_or_default();
    let mut out = Vec::with_capacity(s.len() + 4);
    for &c in s {
        if b"\\.+*?()|[]{}^$".contains(&c) {
            out.push(b'\\');
        }
        out.push(c);
    }
    Ok(crate::gostr::from_bytes(out))
});

// ----------------------------------------------------------------------------------------------
// Defaults and flow
// ----------------------------------------------------------------------------------------------

func!(default(a) {
    args::at_least("sprig_default", a, 1)?;
    match a.get(1) {
        Some(given) if !is_empty(given) => Ok(given.clone()),
        _ => Ok(a[0].clone()),
    }
});
func!(empty(a) { Ok(Value::Bool(is_empty(&n_args("empty", a, 1)?[0]))) });
func!(coalesce(a) { Ok(a.iter().find(|v| !is_empty(v)).cloned().unwrap_or(Value::Nil)) });
func!(all(a) { Ok(Value::Bool(a.iter().all(|v| !is_empty(v)))) });
func!(any(a) { Ok(Value::Bool(a.iter().any(|v| !is_empty(v)))) });
func!(ternary(a) {
    let a = n_args("ternary", a, 3)?;
    match &a[2] {
        Value::Bool(c) => Ok(if *c { a[0].clone() } else { a[1].clone() }),
        other => Err(format!("wrong type for value; expected bool; got {}", other.type_name())),
    }
});
func!(fail(a) { Err(s1("fail", a)?.to_string()) });
func!(required(a) {
    let a = n_args("required", a, 2)?;
    let warn = args::string(&a[0])?;
    match &a[1] {
        Value::Nil => Err(warn.to_string()),
        Value::String(s) if s.is_empty() => Err(warn.to_string()),
        v => Ok(v.clone()),
    }
});

// ----------------------------------------------------------------------------------------------
// JSON
// ----------------------------------------------------------------------------------------------

fn json_out(
    name: &str,
    a: &[Value],
    indent: Option<&str>,
    html: bool,
    must: bool,
) -> Result<Value, String> {
    let v = &n_args(name, a, 1)?[0];
    match serialize::go_json(v, indent, html) {
        Ok(s) => ok_str(s),
        Err(e) if must => Err(e),
        Err(_) => ok_str(""),
    }
}

func!(to_json(a) { json_out("toJson", a, None, true, false) });
func!(must_to_json(a) { json_out("mustToJson", a, None, true, true) });
func!(to_pretty_json(a) { json_out("toPrettyJson", a, Some("  "), true, false) });
func!(must_to_pretty_json(a) { json_out("mustToPrettyJson", a, Some("  "), true, true) });
func!(to_raw_json(a) { json_out("toRawJson", a, None, false, false) });
func!(must_to_raw_json(a) { json_out("mustToRawJson", a, None, false, true) });

fn json_in(name: &str, a: &[Value]) -> Result<Value, String> {
    let s = s1(name, a)?;
    let j = vaultlet_shared::json::Json::parse(s).map_err(|e| e.to_string())?;
    serialize::json_to_value(&j)
}

func!(from_json(a) { Ok(json_in("fromJson", a).unwrap_or(Value::Nil)) });
func!(must_from_json(a) { json_in("mustFromJson", a) });

// ----------------------------------------------------------------------------------------------
// Encodings and digests
// ----------------------------------------------------------------------------------------------

func!(b64enc(a) { ok_str(encoding::b64enc(false, b1("b64enc", a)?)) });
func!(b64dec(a) {
    // Sprig returns the decoder's error text as the result.
    let s = s1("b64dec", a)?;
    Ok(match encoding::b64dec(false, s) {
        Ok(b) => crate::gostr::from_bytes(b),
        Err(e) => Value::str(e),
    })
});

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 with padding.
pub fn base32_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 4648 base32 decoding as Go's `base32.StdEncoding.DecodeString` does it: line breaks are
/// removed first, then quanta of 8 are read; padding ends the input (what follows a complete pad
/// is not read), and errors name the byte Go names (`illegal base32 data at input byte N`).
pub fn base32_decode(s: &str) -> Result<Vec<u8>, String> {
    let src: Vec<u8> = s.bytes().filter(|b| *b != b'\r' && *b != b'\n').collect();
    let corrupt = |at: usize| format!("illegal base32 data at input byte {at}");
    let olen = src.len();
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let mut si = 0;
    let mut end = false;
    while si < olen && !end {
        let mut q = [0u8; 8];
        let mut len = 8;
        let mut j = 0;
        while j < 8 {
            if si == olen {
                // The end, and the padding is missing.
                return Err(corrupt(olen - j));
            }
            let c = src[si];
            si += 1;
            let left = olen - si;
            if c == b'=' && j >= 2 && left < 8 {
                if left + j < 7 {
                    return Err(corrupt(olen));
                }
                for k in 0..7 - j {
                    if k < left && src[si + k] != b'=' {
                        return Err(corrupt(si + k - 1));
                    }
                }
                len = j;
                end = true;
                // 1, 3 and 6 symbols do not make a whole byte.
                if matches!(len, 1 | 3 | 6) {
                    return Err(corrupt(si - 1));
                }
                break;
            }
            q[j] = B32
                .iter()
                .position(|b| *b == c)
                .ok_or_else(|| corrupt(si - 1))? as u8;
            j += 1;
        }
        let bits = q
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, v)| acc | (u64::from(*v) << (35 - 5 * i)));
        let n = match len {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            _ => 5,
        };
        out.extend_from_slice(&bits.to_be_bytes()[3..3 + n]);
    }
    Ok(out)
}

func!(b32enc(a) { ok_str(base32_encode(b1("b32enc", a)?)) });
func!(b32dec(a) {
    let s = s1("b32dec", a)?;
    Ok(match base32_decode(s) {
        Ok(b) => crate::gostr::from_bytes(b),
        Err(e) => Value::str(e),
    })
});
func!(sha1sum(a) { ok_str(hex::encode(encoding::sha1(b1("sha1sum", a)?))) });
func!(sha256sum(a) {
    use sha2::Digest as _;
    ok_str(hex::encode(sha2::Sha256::digest(b1("sha256sum", a)?)))
});
func!(adler32sum(a) {
    let (mut x, mut y) = (1u32, 0u32);
    for b in b1("adler32sum", a)?.iter().copied() {
        x = (x + u32::from(b)) % 65521;
        y = (y + x) % 65521;
    }
    ok_str(((y << 16) | x).to_string())
});

// ----------------------------------------------------------------------------------------------
// Lists
// ----------------------------------------------------------------------------------------------

func!(list(a) { Ok(Value::list(a.to_vec())) });
func!(first(a) { Ok(as_list("first", &n_args("first", a, 1)?[0])?.into_iter().next().unwrap_or(Value::Nil)) });
func!(last(a) { Ok(as_list("last", &n_args("last", a, 1)?[0])?.pop().unwrap_or(Value::Nil)) });
func!(rest(a) {
    let l = as_list("rest", &n_args("rest", a, 1)?[0])?;
    Ok(Value::list(l.into_iter().skip(1).collect()))
});
func!(initial(a) {
    let mut l = as_list("initial", &n_args("initial", a, 1)?[0])?;
    l.pop();
    Ok(Value::list(l))
});
func!(append(a) {
    let a = n_args("append", a, 2)?;
    let mut l = as_list("append", &a[0]).map_err(|_| format!("Cannot push on type {}", kind(&a[0])))?;
    l.push(a[1].clone());
    Ok(Value::list(l))
});
func!(prepend(a) {
    let a = n_args("prepend", a, 2)?;
    let mut l = as_list("prepend", &a[0]).map_err(|_| format!("Cannot prepend on type {}", kind(&a[0])))?;
    l.insert(0, a[1].clone());
    Ok(Value::list(l))
});
func!(concat(a) {
    let mut out = Vec::new();
    for v in a {
        out.extend(as_list("concat", v).map_err(|_| format!("Cannot concat type {} as list", kind(v)))?);
    }
    Ok(Value::list(out))
});
func!(reverse(a) {
    let mut l = as_list("reverse", &n_args("reverse", a, 1)?[0])?;
    l.reverse();
    Ok(Value::list(l))
});
func!(uniq(a) {
    let l = as_list("uniq", &n_args("uniq", a, 1)?[0])?;
    let mut out: Vec<Value> = Vec::new();
    for v in l {
        if !out.iter().any(|x| deep_eq(x, &v)) {
            out.push(v);
        }
    }
    Ok(Value::list(out))
});
func!(without(a) {
    args::at_least("sprig_without", a, 1)?;
    let l = as_list("without", &a[0])?;
    Ok(Value::list(l.into_iter().filter(|v| !a[1..].iter().any(|o| deep_eq(o, v))).collect()))
});
func!(has(a) {
    let a = n_args("has", a, 2)?;
    let l = match &a[1] {
        Value::Nil => return Ok(Value::Bool(false)),
        other => as_list("has", other)?,
    };
    Ok(Value::Bool(l.iter().any(|v| deep_eq(v, &a[0]))))
});
func!(compact(a) {
    let l = as_list("compact", &n_args("compact", a, 1)?[0])?;
    Ok(Value::list(l.into_iter().filter(|v| !is_empty(v)).collect()))
});
func!(slice(a) {
    args::at_least("sprig_slice", a, 1)?;
    let l = as_list("slice", &a[0])?;
    let len = l.len() as i64;
    let from = a.get(1).map(to_i64).unwrap_or(0);
    let to = a.get(2).map(to_i64).unwrap_or(len);
    if from < 0 || to > len || from > to {
        return Err(format!("runtime error: slice bounds out of range [{from}:{to}] with capacity {len}"));
    }
    let part = l[from as usize..to as usize].to_vec();
    // A slice of a `[]string` is a `[]string`, of an `[]int` an `[]int`.
    Ok(match &a[0] {
        Value::Strings(_) => Value::Strings(std::sync::Arc::new(part)),
        Value::Ints(_) => Value::Ints(std::sync::Arc::new(part)),
        _ => Value::list(part),
    })
});
func!(chunk(a) {
    let a = n_args("chunk", a, 2)?;
    let size = args::int(&a[0])?;
    let l = as_list("chunk", &a[1])?;
    if size <= 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(Value::list(l.chunks(size as usize).map(|c| Value::list(c.to_vec())).collect()))
});

/// Integers from `start` towards `stop` (exclusive) by `step`; empty when the step points away.
pub fn until_step_ints(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let count = if step == 0 || (stop < start && step > 0) || (stop > start && step < 0) {
        0
    } else {
        ((stop - start).abs() + step.abs() - 1) / step.abs()
    };
    if count > 10_000_000 {
        return Err(format!("untilStep: {count} items is too many"));
    }
    Ok((0..count).map(|i| start + i * step).collect())
}

/// A Go `[]int` (`until`, `untilStep`).
fn ints(v: Vec<i64>) -> Value {
    Value::Ints(std::sync::Arc::new(v.into_iter().map(Value::Int).collect()))
}

func!(until(a) {
    let n = args::int(&n_args("until", a, 1)?[0])?;
    Ok(ints(until_step_ints(0, n, if n < 0 { -1 } else { 1 })?))
});
func!(until_step(a) {
    let a = n_args("untilStep", a, 3)?;
    Ok(ints(until_step_ints(args::int(&a[0])?, args::int(&a[1])?, args::int(&a[2])?)?))
});
func!(seq(a) {
    let p: Vec<i64> = a.iter().map(args::int).collect::<Result<_, _>>()?;
    let nums = match p.as_slice() {
        [] => return ok_str(""),
        [end] => {
            if *end < 1 {
                until_step_ints(1, end - 1, -1)?
            } else {
                until_step_ints(1, end + 1, 1)?
            }
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step_ints(*start, end + step, step)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if (inc < 0 && *step > 0) || (inc > 0 && *step < 0) {
                return ok_str("");
            }
            until_step_ints(*start, end + inc, *step)?
        }
        _ => return Err("sprig_seq: wrong number of arguments".into()),
    };
    ok_str(nums.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
});

// ----------------------------------------------------------------------------------------------
// Dicts
// ----------------------------------------------------------------------------------------------

// A key is the Go string's bytes (agent.md §4.5.3): one that is not UTF-8 stays a distinct key.
func!(dict(a) {
    let mut m = BTreeMap::new();
    for pair in a.chunks(2) {
        let v = pair.get(1).cloned().unwrap_or_else(|| Value::str(""));
        m.insert(Key::of_text(gostr::strval(&pair[0])), v);
    }
    Ok(Value::map(m))
});
func!(get(a) {
    let a = n_args("get", a, 2)?;
    let m = as_map(&a[0])?;
    Ok(m.get(args::string_bytes(&a[1])?).cloned().unwrap_or_else(|| Value::str("")))
});
func!(set(a) {
    let a = n_args("set", a, 3)?;
    let mut m = as_map(&a[0])?;
    m.insert(Key::from_bytes(args::string_bytes(&a[1])?.to_vec()), a[2].clone());
    Ok(Value::map(m))
});
func!(unset(a) {
    let a = n_args("unset", a, 2)?;
    let mut m = as_map(&a[0])?;
    m.remove(args::string_bytes(&a[1])?);
    Ok(Value::map(m))
});
func!(has_key(a) {
    let a = n_args("hasKey", a, 2)?;
    Ok(Value::Bool(as_map(&a[0])?.contains_key(args::string_bytes(&a[1])?)))
});
func!(pluck(a) {
    args::at_least("sprig_pluck", a, 1)?;
    let key = args::string_bytes(&a[0])?;
    let mut out = Vec::new();
    for d in &a[1..] {
        if let Some(v) = as_map(d)?.get(key) {
            out.push(v.clone());
        }
    }
    Ok(Value::list(out))
});
func!(keys(a) {
    let mut out = Vec::new();
    for d in a {
        out.extend(as_map(d)?.keys().map(Key::to_value));
    }
    Ok(Value::Strings(std::sync::Arc::new(out)))
});
func!(values(a) { Ok(Value::list(as_map(&n_args("values", a, 1)?[0])?.into_values().collect())) });
func!(pick(a) {
    args::at_least("sprig_pick", a, 1)?;
    let m = as_map(&a[0])?;
    let mut out = BTreeMap::new();
    for k in &a[1..] {
        let k = args::string_bytes(k)?;
        if let Some(v) = m.get(k) {
            out.insert(Key::from_bytes(k.to_vec()), v.clone());
        }
    }
    Ok(Value::map(out))
});
func!(omit(a) {
    args::at_least("sprig_omit", a, 1)?;
    let mut m = as_map(&a[0])?;
    for k in &a[1..] {
        m.remove(args::string_bytes(k)?);
    }
    Ok(Value::map(m))
});

fn merge_all(name: &str, a: &[Value], override_: bool) -> Result<Value, String> {
    args::at_least(&format!("sprig_{name}"), a, 1)?;
    let mut dst = as_map(&a[0])?;
    for src in &a[1..] {
        collections::merge(&mut dst, &as_map(src)?, override_);
    }
    Ok(Value::map(dst))
}

func!(merge(a) { merge_all("merge", a, false) });
func!(merge_overwrite(a) { merge_all("mergeOverwrite", a, true) });
func!(dig(a) {
    args::at_least("sprig_dig", a, 3)?;
    let dict = &a[a.len() - 1];
    let default = &a[a.len() - 2];
    let mut cur = dict.clone();
    for k in &a[..a.len() - 2] {
        let k = args::string_bytes(k)?;
        let next = match &cur {
            Value::Map(m) => m.get(k).cloned(),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(default.clone()),
        }
    }
    Ok(cur)
});
/// A copy that shares no map or list with the original, so an in-place change to one does not
/// reach the other (agent.md §4.5.1).
fn deep_clone(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::map(m.iter().map(|(k, x)| (k.clone(), deep_clone(x))).collect()),
        Value::StrMap(m) => Value::StrMap(std::sync::Arc::new(m.as_ref().clone())),
        Value::List(l) => Value::list(l.iter().map(deep_clone).collect()),
        Value::Strings(l) => Value::Strings(std::sync::Arc::new(l.as_ref().clone())),
        Value::Ints(l) => Value::Ints(std::sync::Arc::new(l.as_ref().clone())),
        other => other.clone(),
    }
}

func!(deep_copy(a) { Ok(deep_clone(&n_args("deepCopy", a, 1)?[0])) });

// ----------------------------------------------------------------------------------------------
// Integer math (Sprig converts every operand with toInt64)
// ----------------------------------------------------------------------------------------------

func!(add(a) { Ok(Value::Int64(a.iter().map(to_i64).fold(0i64, i64::wrapping_add))) });
func!(add1(a) { Ok(Value::Int64(to_i64(&n_args("add1", a, 1)?[0]).wrapping_add(1))) });
func!(sub(a) {
    let a = n_args("sub", a, 2)?;
    Ok(Value::Int64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
});
func!(mul(a) {
    args::at_least("sprig_mul", a, 1)?;
    Ok(Value::Int64(a.iter().map(to_i64).fold(1i64, i64::wrapping_mul)))
});
func!(div(a) {
    let a = n_args("div", a, 2)?;
    let d = to_i64(&a[1]);
    if d == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(Value::Int64(to_i64(&a[0]).wrapping_div(d)))
});
func!(modulo(a) {
    let a = n_args("mod", a, 2)?;
    let d = to_i64(&a[1]);
    if d == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(Value::Int64(to_i64(&a[0]).wrapping_rem(d)))
});
func!(max(a) {
    args::at_least("sprig_max", a, 1)?;
    Ok(Value::Int64(a.iter().map(to_i64).max().unwrap_or(0)))
});
func!(min(a) {
    args::at_least("sprig_min", a, 1)?;
    Ok(Value::Int64(a.iter().map(to_i64).min().unwrap_or(0)))
});
func!(floor(a) { Ok(Value::Float(to_f64(&n_args("floor", a, 1)?[0]).floor())) });
func!(ceil(a) { Ok(Value::Float(to_f64(&n_args("ceil", a, 1)?[0]).ceil())) });
func!(round(a) {
    args::at_least("sprig_round", a, 2)?;
    let round_on = a.get(2).map(to_f64).unwrap_or(0.5);
    let val = to_f64(&a[0]);
    let pow = 10f64.powf(to_f64(&a[1]));
    let digit = pow * val;
    let frac = digit.fract();
    let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
    Ok(Value::Float(r / pow))
});
func!(int(a) { Ok(Value::Int(to_i64(&n_args("int", a, 1)?[0]))) });
func!(int64(a) { Ok(Value::Int64(to_i64(&n_args("int64", a, 1)?[0]))) });
func!(float64(a) { Ok(Value::Float(to_f64(&n_args("float64", a, 1)?[0]))) });
func!(atoi(a) { Ok(Value::Int(s1("atoi", a)?.parse().unwrap_or(0))) });

// ----------------------------------------------------------------------------------------------
// Types
// ----------------------------------------------------------------------------------------------

func!(type_of(a) { ok_str(n_args("typeOf", a, 1)?[0].type_name()) });
func!(type_is(a) {
    let a = n_args("typeIs", a, 2)?;
    Ok(Value::Bool(args::string(&a[0])? == a[1].type_name()))
});
func!(type_is_like(a) {
    let a = n_args("typeIsLike", a, 2)?;
    let t = args::string(&a[0])?;
    let got = a[1].type_name();
    Ok(Value::Bool(t == got || format!("*{t}") == got))
});
func!(kind_of(a) { ok_str(kind(&n_args("kindOf", a, 1)?[0])) });
func!(kind_is(a) {
    let a = n_args("kindIs", a, 2)?;
    Ok(Value::Bool(args::string(&a[0])? == kind(&a[1])))
});
func!(deep_equal(a) {
    let a = n_args("deepEqual", a, 2)?;
    Ok(Value::Bool(deep_eq(&a[0], &a[1])))
});

// ----------------------------------------------------------------------------------------------
// Paths (Go's `path` package; `os*` variants are the same on Unix)
// ----------------------------------------------------------------------------------------------

/// Go's `path.Clean`.
pub fn path_clean(p: &str) -> String {
    super::vault::clean(p).to_string_lossy().into_owned()
}

/// Go's `path.Clean` on bytes, for a path that is not UTF-8 (`crate::gostr`): `.` and empty
/// elements dropped, `..` removes the element before it (at the root, nothing), `.` if empty.
fn path_clean_bytes(p: &[u8]) -> Vec<u8> {
    let rooted = p.first() == Some(&b'/');
    let mut parts: Vec<&[u8]> = Vec::new();
    for e in gostr::split(p, b"/", -1) {
        match e {
            b"" | b"." => {}
            b".." if parts.last().is_some_and(|l| *l != b"..") => {
                parts.pop();
            }
            b".." if rooted => {}
            e => parts.push(e),
        }
    }
    let mut out = if rooted { b"/".to_vec() } else { Vec::new() };
    out.extend(parts.join(&b'/'));
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

func!(base(a) {
    if gostr::any_binary(a) {
        // Go's `path.Base` on bytes (`crate::gostr`).
        let p = b1("base", a)?;
        let t = p.strip_suffix(b"/").map_or(p, |_| &p[..p.iter().rposition(|c| *c != b'/').map_or(0, |i| i + 1)]);
        return ok_bytes(&t[t.iter().rposition(|c| *c == b'/').map_or(0, |i| i + 1)..]);
    }
    let p = s1("base", a)?;
    if p.is_empty() {
        return ok_str(".");
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return ok_str("/");
    }
    ok_str(t.rsplit('/').next().unwrap_or(t))
});
func!(dir(a) {
    if gostr::any_binary(a) {
        let p = b1("dir", a)?;
        let d = p.iter().rposition(|c| *c == b'/').map_or(&p[..0], |i| &p[..=i]);
        return ok_bytes(&path_clean_bytes(d));
    }
    let p = s1("dir", a)?;
    let d = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    ok_str(path_clean(d))
});
func!(ext(a) {
    if gostr::any_binary(a) {
        // Go's `path.Ext` on bytes (`crate::gostr`).
        let p = b1("ext", a)?;
        return match p.iter().rposition(|c| *c == b'.' || *c == b'/') {
            Some(i) if p[i] == b'.' => ok_bytes(&p[i..]),
            _ => ok_str(""),
        };
    }
    let p = s1("ext", a)?;
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return ok_str(&p[i..]);
        }
    }
    ok_str("")
});
func!(clean(a) {
    if gostr::any_binary(a) {
        return ok_bytes(&path_clean_bytes(b1("clean", a)?));
    }
    ok_str(path_clean(s1("clean", a)?))
});
func!(is_abs(a) { Ok(Value::Bool(s1("isAbs", a)?.starts_with('/'))) });

// ----------------------------------------------------------------------------------------------
// Semantic versions (Masterminds/semver v3 constraints, the common forms)
// ----------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
}

impl Version {
    fn cmp(&self, o: &Version) -> std::cmp::Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| cmp_pre(&self.pre, &o.pre))
    }
}

fn cmp_pre(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Equal,
        (true, false) => return Greater,
        (false, true) => return Less,
        _ => {}
    }
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for (x, y) in pa.iter().zip(pb.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Less,
            (Err(_), Ok(_)) => Greater,
            _ => x.cmp(y),
        };
        if o != Equal {
            return o;
        }
    }
    pa.len().cmp(&pb.len())
}

/// A version with optional `v`, missing minor/patch as 0; `None` parts are wildcards.
/// Major, minor, patch (`None` = wildcard) and pre-release.
type Partial = (Option<u64>, Option<u64>, Option<u64>, String);

fn parse_partial(s: &str) -> Option<Partial> {
    let s = s.trim().strip_prefix(['v', 'V']).unwrap_or(s.trim());
    let s = s.split('+').next()?;
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p.to_string()),
        None => (s, String::new()),
    };
    let mut parts = core.split('.');
    let num = |p: Option<&str>| -> Option<Option<u64>> {
        match p {
            None | Some("x" | "X" | "*") => Some(None),
            Some(d) => d.parse().ok().map(Some),
        }
    };
    let major = num(parts.next())?;
    let minor = num(parts.next())?;
    let patch = num(parts.next())?;
    if parts.next().is_some() || core.is_empty() {
        return None;
    }
    Some((major, minor, patch, pre))
}

fn parse_version(s: &str) -> Result<Version, String> {
    match parse_partial(s) {
        Some((Some(major), minor, patch, pre)) if !s.contains(['x', 'X', '*']) => Ok(Version {
            major,
            minor: minor.unwrap_or(0),
            patch: patch.unwrap_or(0),
            pre,
        }),
        _ => Err("Invalid Semantic Version".into()),
    }
}

/// One comparison of a constraint (`>=1.2`, `~1.2.3`, `^2`, `1.2.x`).
fn check_one(c: &str, v: &Version) -> Result<bool, String> {
    let c = c.trim();
    let bad = || format!("improper constraint: {c}");
    let (op, rest) = ["!=", ">=", "=>", "<=", "=<", ">", "<", "=", "~>", "~", "^"]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|r| (*op, r.trim())))
        .unwrap_or(("", c));
    let (maj, min, pat, pre) = parse_partial(rest).ok_or_else(bad)?;
    let lo = Version {
        major: maj.unwrap_or(0),
        minor: min.unwrap_or(0),
        patch: pat.unwrap_or(0),
        pre: pre.clone(),
    };
    // A pre-release version only satisfies constraints that mention a pre-release.
    if !v.pre.is_empty() && pre.is_empty() {
        return Ok(false);
    }
    use std::cmp::Ordering::*;
    let ord = v.cmp(&lo);
    let next = |level: u8| -> Version {
        match level {
            0 => Version {
                major: lo.major + 1,
                minor: 0,
                patch: 0,
                pre: String::new(),
            },
            1 => Version {
                major: lo.major,
                minor: lo.minor + 1,
                patch: 0,
                pre: String::new(),
            },
            _ => Version {
                major: lo.major,
                minor: lo.minor,
                patch: lo.patch + 1,
                pre: String::new(),
            },
        }
    };
    let wild_level = if maj.is_none() {
        None
    } else if min.is_none() {
        Some(0)
    } else if pat.is_none() {
        Some(1)
    } else {
        Some(2)
    };
    let in_range = |hi: Version| ord != Less && v.cmp(&hi) == Less;
    Ok(match op {
        "" | "=" => match wild_level {
            None => true,
            Some(2) => ord == Equal,
            Some(l) => in_range(next(l)),
        },
        "!=" => match wild_level {
            None => false,
            Some(2) => ord != Equal,
            Some(l) => !in_range(next(l)),
        },
        ">" => match wild_level {
            None => false,
            Some(2) => ord == Greater,
            Some(l) => v.cmp(&next(l)) != Less,
        },
        ">=" | "=>" => ord != Less,
        "<" => ord == Less,
        "<=" | "=<" => match wild_level {
            None | Some(2) => ord != Greater,
            Some(l) => v.cmp(&next(l)) == Less,
        },
        "~" | "~>" => in_range(next(if wild_level == Some(0) { 0 } else { 1 })),
        "^" => {
            let level = if lo.major > 0 || wild_level == Some(0) {
                0
            } else if lo.minor > 0 || wild_level == Some(1) {
                1
            } else {
                2
            };
            in_range(next(level))
        }
        _ => return Err(bad()),
    })
}

/// `constraint` (`a, b || c`, hyphen ranges `1.2 - 1.4`) against `version`.
pub fn semver_check(constraint: &str, version: &str) -> Result<bool, String> {
    let v = parse_version(version)?;
    for group in constraint.split("||") {
        let group = group.trim();
        let mut ok = true;
        let parts: Vec<String> = if let Some((lo, hi)) = group.split_once(" - ") {
            vec![format!(">={}", lo.trim()), format!("<={}", hi.trim())]
        } else {
            group
                .split([',', ' '])
                .filter(|p| !p.trim().is_empty())
                .fold(Vec::<String>::new(), |mut acc, p| {
                    // Re-attach an operator separated from its version by a space (`>= 1.2`).
                    match acc.last_mut() {
                        Some(last) if last.chars().all(|c| "<>=!~^".contains(c)) => {
                            last.push_str(p)
                        }
                        _ => acc.push(p.to_string()),
                    }
                    acc
                })
        };
        if parts.is_empty() {
            return Err(format!("improper constraint: {constraint}"));
        }
        for p in &parts {
            if !check_one(p, &v)? {
                ok = false;
            }
        }
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

func!(semver_compare(a) {
    let (c, v) = s2("semverCompare", a)?;
    semver_check(c, v).map(Value::Bool)
});

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn sp(name: &str, a: &[Value]) -> String {
        show(&format!("sprig_{name}"), a)
    }

    #[test]
    fn sprig_string_helpers_keep_bytes_as_go_does() {
        let b = bin(b"\xff\x80\xfeab");
        let sp = bin(b" \xff \n");
        assert_eq!(
            bytes("sprig_quote", &[b.clone(), i(1)]),
            b"\"\\xff\\x80\\xfeab\" \"1\""
        );
        assert_eq!(
            bytes("sprig_squote", std::slice::from_ref(&b)),
            b"'\xff\x80\xfeab'"
        );
        assert_eq!(
            bytes(
                "sprig_cat",
                &[b.clone(), i(1), Value::list(vec![b.clone()])]
            ),
            b"\xff\x80\xfeab 1 [\xff\x80\xfeab]"
        );
        assert_eq!(bytes("sprig_trim", std::slice::from_ref(&sp)), b"\xff");
        assert_eq!(bytes("sprig_trimAll", &[bin(b"b\xff"), b.clone()]), b"a");
        assert_eq!(
            bytes("sprig_trimPrefix", &[bin(b"\xff\x80"), b.clone()]),
            b"\xfeab"
        );
        assert_eq!(
            bytes("sprig_replace", &[bin(b"\xfe"), s(""), b.clone()]),
            b"\xff\x80ab"
        );
        assert_eq!(bytes("sprig_repeat", &[i(2), bin(b"\xff")]), b"\xff\xff");
        assert_eq!(bytes("sprig_trunc", &[i(2), b.clone()]), b"\xff\x80");
        assert_eq!(bytes("sprig_substr", &[i(1), i(3), b.clone()]), b"\x80\xfe");
        assert_eq!(bytes("sprig_abbrev", &[i(4), b.clone()]), b"\xff...");
        assert_eq!(bytes("sprig_nospace", &[sp]), "ÿ".as_bytes());
        assert_eq!(
            bytes("sprig_nospace", std::slice::from_ref(&b)),
            b"\xff\x80\xfeab"
        );
        assert_eq!(show("sprig_initials", &[s("élan x")]), "Ãx");
        assert_eq!(bytes("sprig_indent", &[i(1), bin(b"\xff\n")]), b" \xff\n ");
        assert_eq!(bytes("sprig_nindent", &[i(1), bin(b"\xff")]), b"\n \xff");
        assert_eq!(
            bytes("sprig_plural", &[b.clone(), s("x"), i(1)]),
            b"\xff\x80\xfeab"
        );
        assert_eq!(bytes("sprig_base", &[bin(b"a/\xff.x")]), b"\xff.x");
        assert_eq!(bytes("sprig_ext", &[bin(b"a/\xff.x\xfe")]), b".x\xfe");
        assert_eq!(show("sprig_contains", &[bin(b"\x80"), b.clone()]), "true");
        assert_eq!(show("sprig_contains", &[s("\u{FFFD}"), b.clone()]), "false");
        assert_eq!(
            show("sprig_hasSuffix", &[bin(b"\xfeab"), b.clone()]),
            "true"
        );
        assert_eq!(
            bytes("sprig_join", &[s("-"), Value::list(vec![b.clone(), i(1)])]),
            b"\xff\x80\xfeab-1"
        );
        let parts = call("sprig_splitList", &[bin(b"\x80"), b.clone()]).unwrap();
        assert_eq!(
            crate::gostr::bytes(&parts_of(&parts)[0]),
            Some(&b"\xff"[..])
        );
        // Go splits on the byte, inside the character U+0080 (C2 80).
        assert_eq!(
            show("sprig_split", &[bin(b"\x80"), s("a\u{80}b")]),
            "map[_0:a\u{FFFD} _1:b]"
        );
        assert_eq!(
            show("sprig_deepEqual", &[b.clone(), bin(b"\xff\x80\xfeab")]),
            "true"
        );
        assert_eq!(
            show("sprig_has", &[b.clone(), Value::list(vec![b.clone()])]),
            "true"
        );
        assert_eq!(
            bytes("sprig_toString", &[Value::list(vec![b])]),
            b"[\xff\x80\xfeab]"
        );
        assert_eq!(
            bytes("sprig_clean", &[bin(b"/../a//\xff/./b/..")]),
            b"/a/\xff"
        );
        assert_eq!(bytes("sprig_clean", &[bin(b"../\xff/..")]), b"..");
        assert_eq!(bytes("sprig_dir", &[bin(b"a/\xff/b")]), b"a/\xff");
        assert_eq!(bytes("sprig_dir", &[bin(b"\xff")]), b".");
        let c = bin(b"\xe2\x82Ab\xe2\x82");
        assert_eq!(
            bytes("sprig_regexFind", &[s("[^a]+"), bin(b"\xffab")]),
            b"\xff"
        );
        let all = call("sprig_regexFindAll", &[s("."), c.clone(), i(2)]).unwrap();
        assert_eq!(gostr::strval(&all).into_bytes(), b"[\xe2 \x82]");
        let parts = call("sprig_regexSplit", &[s("b"), c.clone(), i(-1)]).unwrap();
        assert_eq!(gostr::strval(&parts).into_bytes(), b"[\xe2\x82A \xe2\x82]");
        assert_eq!(
            bytes("sprig_regexReplaceAllLiteral", &[s("A"), c, s("$0")]),
            b"\xe2\x82$0b\xe2\x82"
        );
    }

    fn parts_of(v: &Value) -> Vec<Value> {
        match v {
            Value::Strings(l) => l.as_ref().clone(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn nospace_reads_bytes_as_latin_1_like_goutils() {
        assert_eq!(sp("nospace", &[s("café au lait")]), "cafÃ©aulait");
        // Nothing dropped: the string comes back as it was.
        assert_eq!(sp("nospace", &[s("café")]), "café");
        // 0xA0 (the second byte of `à`) counts as a space.
        assert_eq!(sp("nospace", &[s("à la")]), "Ãla");
        assert_eq!(sp("nospace", &[s("…x y")]), "â\u{80}¦xy");
        assert_eq!(sp("nospace", &[s(" a b\tc ")]), "abc");
    }

    #[test]
    fn byte_slicing_and_decoding_keep_the_bytes() {
        let bytes = |v: Value| crate::gostr::bytes(&v).unwrap().to_vec();
        let é = "é".as_bytes();
        assert_eq!(
            bytes(call("sprig_trunc", &[i(2), s("héllo")]).unwrap()),
            [b'h', é[0]]
        );
        assert_eq!(
            bytes(call("sprig_substr", &[i(2), i(5), s("héllo")]).unwrap()),
            [é[1], b'l', b'l']
        );
        assert_eq!(
            bytes(call("sprig_abbrev", &[i(5), s("héllo world")]).unwrap()),
            [b'h', é[0], b'.', b'.', b'.']
        );
        assert_eq!(
            bytes(call("sprig_b64dec", &[s("/4D+")]).unwrap()),
            [0xff, 0x80, 0xfe]
        );
        assert_eq!(
            bytes(call("sprig_b32dec", &[s("76AP4===")]).unwrap()),
            [0xff, 0x80, 0xfe]
        );
        let bin = call("sprig_b64dec", &[s("/4D+")]).unwrap();
        assert_eq!(sp("b64enc", std::slice::from_ref(&bin)), "/4D+");
        assert_eq!(sp("b32enc", std::slice::from_ref(&bin)), "76AP4===");
        assert_eq!(sp("adler32sum", std::slice::from_ref(&bin)), "83755646");
        assert_eq!(
            sp("sha1sum", std::slice::from_ref(&bin)),
            "92a131000859c40606fa95455e4d02eafa8f09f3"
        );
        let same = call("sprig_toString", std::slice::from_ref(&bin)).unwrap();
        assert_eq!(
            crate::gostr::invalid_utf8(&same),
            Some(&[0xff, 0x80, 0xfe][..])
        );
        assert_eq!(sp("kindOf", std::slice::from_ref(&bin)), "string");
        assert_eq!(show("toYAML", std::slice::from_ref(&bin)), "!!binary /4D+");
        assert_eq!(show("toJSON", &[bin]), "\"\u{fffd}\u{fffd}\u{fffd}\"");
    }

    #[test]
    fn excluded_and_unknown_names_are_absent() {
        for n in [
            "sprig_now",
            "sprig_date",
            "sprig_env",
            "sprig_expandenv",
            "sprig_randAlphaNum",
            "sprig_uuidv4",
            "sprig_getHostByName",
            "upper",
        ] {
            assert!(lookup(n).is_none(), "{n}");
        }
    }

    #[test]
    fn strings() {
        assert_eq!(sp("upper", &[s("abc")]), "ABC");
        assert_eq!(sp("lower", &[s("ÀB")]), "àb");
        assert_eq!(sp("title", &[s("hello world")]), "Hello World");
        assert_eq!(sp("untitle", &[s("Hello World")]), "hello world");
        assert_eq!(sp("trim", &[s("  x \n")]), "x");
        assert_eq!(sp("trimAll", &[s("$"), s("$5.00$")]), "5.00");
        assert_eq!(sp("trimPrefix", &[s("-"), s("-x")]), "x");
        assert_eq!(sp("trimSuffix", &[s("-"), s("x-")]), "x");
        assert_eq!(sp("trunc", &[i(5), s("hello world")]), "hello");
        assert_eq!(sp("trunc", &[i(-5), s("hello world")]), "world");
        assert_eq!(sp("trunc", &[i(50), s("hi")]), "hi");
        assert_eq!(sp("abbrev", &[i(5), s("hello world")]), "he...");
        assert_eq!(sp("abbrev", &[i(3), s("hello world")]), "hello world");
        assert_eq!(sp("contains", &[s("cat"), s("catch")]), "true");
        assert_eq!(sp("hasPrefix", &[s("ca"), s("catch")]), "true");
        assert_eq!(sp("hasSuffix", &[s("ca"), s("catch")]), "false");
        assert_eq!(
            sp("quote", &[s("a\"b"), i(1), Value::Nil]),
            "\"a\\\"b\" \"1\""
        );
        assert_eq!(sp("squote", &[s("a"), s("b")]), "'a' 'b'");
        assert_eq!(sp("cat", &[s("a"), i(1), Value::Nil, s("b")]), "a 1 b");
        assert_eq!(sp("indent", &[i(2), s("a\nb")]), "  a\n  b");
        assert_eq!(sp("nindent", &[i(2), s("a")]), "\n  a");
        assert_eq!(sp("replace", &[s(" "), s("-"), s("a b c")]), "a-b-c");
        assert_eq!(sp("repeat", &[i(3), s("ab")]), "ababab");
        assert_eq!(sp("substr", &[i(0), i(5), s("hello world")]), "hello");
        assert_eq!(sp("substr", &[i(6), i(-1), s("hello world")]), "world");
        assert_eq!(sp("nospace", &[s(" a b\tc ")]), "abc");
        assert_eq!(sp("initials", &[s("First Try")]), "FT");
        assert_eq!(sp("plural", &[s("one"), s("many"), i(1)]), "one");
        assert_eq!(sp("plural", &[s("one"), s("many"), i(2)]), "many");
        assert_eq!(sp("toString", &[Value::Number("1e3".into())]), "1e3");
        assert_eq!(sp("toStrings", &[json(r#"[1,"a",null]"#)]), "[1 a]");
        assert_eq!(
            sp("split", &[s("$"), s("foo$bar$baz")]),
            "map[_0:foo _1:bar _2:baz]"
        );
        assert_eq!(
            sp("splitn", &[s("$"), i(2), s("foo$bar$baz")]),
            "map[_0:foo _1:bar$baz]"
        );
        assert_eq!(sp("splitList", &[s(","), s("a,,b")]), "[a  b]");
        assert_eq!(sp("join", &[s("-"), json(r#"["a",1,true]"#)]), "a-1-true");
        assert_eq!(sp("join", &[s("-"), s("solo")]), "solo");
        assert_eq!(sp("sortAlpha", &[json(r#"["b","a","C"]"#)]), "[C a b]");
        assert_eq!(
            sp("upper", &[Value::Number("1".into())]),
            "ERR wrong type for value; expected string; got json.Number"
        );
    }

    #[test]
    fn regex_patterns_that_are_not_utf8_are_refused() {
        // Go's parser refuses the bytes; Sprig's regexMatch gives false, the others fail.
        let p = bin(b"a\xff");
        assert_eq!(sp("regexMatch", &[p.clone(), s("a\u{fffd}")]), "false");
        assert_eq!(
            sp("mustRegexMatch", &[p.clone(), s("x")]),
            "ERR error parsing regexp: invalid UTF-8: `a\u{fffd}`"
        );
        assert_eq!(
            sp("regexFind", &[p.clone(), s("x")]),
            "ERR regexp: Compile(\"a\\xff\"): error parsing regexp: invalid UTF-8: `a\u{fffd}`"
        );
        for f in ["regexFindAll", "regexSplit"] {
            assert!(
                sp(f, &[p.clone(), s("x"), i(-1)]).starts_with("ERR regexp: Compile(\"a\\xff\")")
            );
        }
        for f in ["regexReplaceAll", "mustRegexReplaceAllLiteral"] {
            assert!(
                sp(f, &[p.clone(), s("x"), s("y")]).contains("invalid UTF-8"),
                "{f}"
            );
        }
    }

    #[test]
    fn regexes() {
        assert_eq!(sp("regexMatch", &[s("^[a-z]+$"), s("abc")]), "true");
        assert_eq!(sp("regexMatch", &[s("("), s("abc")]), "false");
        assert!(sp("mustRegexMatch", &[s("("), s("abc")]).starts_with("ERR error parsing regexp"));
        assert_eq!(sp("regexFind", &[s("[0-9]+"), s("ab12cd34")]), "12");
        assert_eq!(
            sp("regexFind", &[s("(a)\\1"), s("aa")]),
            "ERR regexp: Compile(`(a)\\1`): error parsing regexp: invalid escape sequence: `\\1`"
        );
        assert!(sp("regexSplit", &[s("a**"), s("x"), i(-1)]).starts_with("ERR regexp: Compile("));
        assert_eq!(
            sp("regexFindAll", &[s("[0-9]+"), s("ab12cd34e5"), i(-1)]),
            "[12 34 5]"
        );
        assert_eq!(
            sp("regexFindAll", &[s("[0-9]+"), s("ab12cd34e5"), i(2)]),
            "[12 34]"
        );
        // No match, or n == 0, is Go's nil []string.
        assert!(matches!(
            call("sprig_regexFindAll", &[s("x"), s("abc"), i(-1)]).unwrap(),
            Value::NilList
        ));
        assert!(matches!(
            call("sprig_regexSplit", &[s(","), s("a,b"), i(0)]).unwrap(),
            Value::NilList
        ));
        assert_eq!(
            sp(
                "regexReplaceAll",
                &[s("a(x*)b"), s("-ab-axxb-"), s("${1}W")]
            ),
            "-W-xxW-"
        );
        assert_eq!(
            sp(
                "regexReplaceAllLiteral",
                &[s("a(x*)b"), s("-ab-axxb-"), s("${1}")]
            ),
            "-${1}-${1}-"
        );
        assert_eq!(sp("regexSplit", &[s("z+"), s("pizza"), i(-1)]), "[pi a]");
        assert_eq!(sp("regexQuoteMeta", &[s("1.2.3")]), "1\\.2\\.3");
        assert_eq!(sp("regexQuoteMeta", &[s("a-b#c&d~[")]), "a-b#c&d~\\[");
        assert_eq!(
            sp("regexFindAll", &[s("\\w+"), s("café au"), i(-1)]),
            "[caf au]"
        );
    }

    #[test]
    fn defaults_and_flow() {
        assert_eq!(sp("default", &[s("dflt"), s("")]), "dflt");
        assert_eq!(sp("default", &[s("dflt"), s("x")]), "x");
        assert_eq!(sp("default", &[s("dflt")]), "dflt");
        assert_eq!(sp("default", &[s("dflt"), Value::Number("0".into())]), "0");
        assert_eq!(sp("default", &[s("dflt"), i(0)]), "dflt");
        assert_eq!(sp("empty", &[json("{}")]), "true");
        assert_eq!(sp("empty", &[json("[0]")]), "false");
        assert_eq!(sp("coalesce", &[Value::Nil, s(""), s("x")]), "x");
        assert_eq!(sp("coalesce", &[Value::Nil, s("")]), "<no value>");
        assert_eq!(sp("all", &[s("a"), i(1)]), "true");
        assert_eq!(sp("all", &[s("a"), i(0)]), "false");
        assert_eq!(sp("any", &[s(""), i(1)]), "true");
        assert_eq!(sp("ternary", &[s("y"), s("n"), Value::Bool(false)]), "n");
        assert_eq!(
            sp("ternary", &[s("y"), s("n"), s("true")]),
            "ERR wrong type for value; expected bool; got string"
        );
        assert_eq!(sp("fail", &[s("boom")]), "ERR boom");
        assert_eq!(sp("required", &[s("need x"), s("")]), "ERR need x");
        assert_eq!(sp("required", &[s("need x"), s("v")]), "v");
    }

    #[test]
    fn json_and_encodings() {
        assert_eq!(
            sp("toJson", &[json(r#"{"b":"<","a":1}"#)]),
            r#"{"a":1,"b":"\u003c"}"#
        );
        assert_eq!(sp("toRawJson", &[json(r#"{"b":"<"}"#)]), r#"{"b":"<"}"#);
        assert_eq!(
            sp("toPrettyJson", &[json(r#"{"a":[1]}"#)]),
            "{\n  \"a\": [\n    1\n  ]\n}"
        );
        assert_eq!(sp("toJson", &[Value::Float(f64::NAN)]), "");
        assert!(
            sp("mustToJson", &[Value::Float(f64::NAN)]).starts_with("ERR json: unsupported value")
        );
        assert_eq!(sp("fromJson", &[s(r#"{"a":1}"#)]), "map[a:1]");
        assert_eq!(sp("fromJson", &[s("{bad")]), "<no value>");
        assert!(sp("mustFromJson", &[s("{bad")]).starts_with("ERR invalid JSON"));
        assert_eq!(sp("b64enc", &[s("hello")]), "aGVsbG8=");
        assert_eq!(sp("b64dec", &[s("aGVsbG8=")]), "hello");
        assert_eq!(
            sp("b64dec", &[s("a!==")]),
            "illegal base64 data at input byte 1"
        );
        assert_eq!(sp("b32enc", &[s("hello")]), "NBSWY3DP");
        assert_eq!(sp("b32enc", &[s("hi")]), "NBUQ====");
        assert_eq!(sp("b32dec", &[s("NBUQ====")]), "hi");
        assert_eq!(sp("b32dec", &[s("NBSWY3DP")]), "hello");
        assert_eq!(
            sp("sha1sum", &[s("hello")]),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            sp("sha256sum", &[s("hello")]),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(sp("adler32sum", &[s("hello")]), "103547413");
    }

    #[test]
    fn lists() {
        let l = json(r#"["a","b","c"]"#);
        assert_eq!(sp("list", &[s("a"), i(1)]), "[a 1]");
        assert_eq!(sp("first", std::slice::from_ref(&l)), "a");
        assert_eq!(sp("first", &[json("[]")]), "<no value>");
        assert_eq!(
            sp("first", &[s("x")]),
            "ERR Cannot find first on type string"
        );
        assert_eq!(sp("last", std::slice::from_ref(&l)), "c");
        assert_eq!(sp("rest", std::slice::from_ref(&l)), "[b c]");
        assert_eq!(sp("initial", std::slice::from_ref(&l)), "[a b]");
        assert_eq!(sp("append", &[l.clone(), s("d")]), "[a b c d]");
        assert_eq!(sp("prepend", &[l.clone(), s("z")]), "[z a b c]");
        assert_eq!(sp("concat", &[l.clone(), json("[1]")]), "[a b c 1]");
        assert_eq!(sp("reverse", std::slice::from_ref(&l)), "[c b a]");
        assert_eq!(sp("uniq", &[json(r#"["a","a",1,1]"#)]), "[a 1]");
        assert_eq!(sp("without", &[l.clone(), s("b")]), "[a c]");
        assert_eq!(sp("has", &[s("b"), l.clone()]), "true");
        assert_eq!(sp("has", &[s("z"), l.clone()]), "false");
        assert_eq!(sp("compact", &[json(r#"["a","",null,0,"b"]"#)]), "[a 0 b]");
        assert_eq!(sp("slice", &[l.clone(), i(1)]), "[b c]");
        assert_eq!(sp("slice", &[l.clone(), i(1), i(2)]), "[b]");
        let sl = call("sprig_slice", &[Value::strings(["a", "b", "c"]), i(1)]).unwrap();
        assert_eq!(sl.type_name(), "[]string");
        assert_eq!(sp("chunk", &[i(2), l]), "[[a b] [c]]");
        assert_eq!(sp("until", &[i(3)]), "[0 1 2]");
        // Go's []int: a []string or []interface {} parameter refuses it, Sprig's list helpers take it.
        let u = call("sprig_until", &[i(3)]).unwrap();
        assert_eq!(u.type_name(), "[]int");
        assert_eq!(
            call("join", &[s(","), u.clone()]).unwrap_err(),
            "wrong type for value; expected []string; got []int"
        );
        assert_eq!(sp("last", std::slice::from_ref(&u)), "2");
        assert_eq!(
            call("sprig_slice", &[u, i(1)]).unwrap().type_name(),
            "[]int"
        );
        assert_eq!(sp("until", &[i(-3)]), "[0 -1 -2]");
        assert_eq!(sp("untilStep", &[i(0), i(10), i(3)]), "[0 3 6 9]");
        assert_eq!(sp("seq", &[i(3)]), "1 2 3");
        assert_eq!(sp("seq", &[i(2), i(-2)]), "2 1 0 -1 -2");
        assert_eq!(sp("seq", &[i(0), i(2), i(6)]), "0 2 4 6");
    }

    #[test]
    fn dicts() {
        let d = call("sprig_dict", &[s("b"), i(2), s("a"), i(1), s("odd")]).unwrap();
        assert_eq!(d.print(), "map[a:1 b:2 odd:]");
        assert_eq!(sp("get", &[d.clone(), s("a")]), "1");
        assert_eq!(sp("get", &[d.clone(), s("zz")]), "");
        assert_eq!(
            sp("set", &[d.clone(), s("c"), i(3)]),
            "map[a:1 b:2 c:3 odd:]"
        );
        assert_eq!(sp("unset", &[d.clone(), s("a")]), "map[b:2 odd:]");
        assert_eq!(sp("hasKey", &[d.clone(), s("a")]), "true");
        assert_eq!(
            sp(
                "pluck",
                &[s("a"), d.clone(), json(r#"{"a":"x"}"#), json("{}")]
            ),
            "[1 x]"
        );
        assert_eq!(sp("keys", std::slice::from_ref(&d)), "[a b odd]");
        assert_eq!(sp("values", std::slice::from_ref(&d)), "[1 2 ]");
        assert_eq!(sp("pick", &[d.clone(), s("a"), s("zz")]), "map[a:1]");
        assert_eq!(sp("omit", &[d.clone(), s("a")]), "map[b:2 odd:]");
        assert_eq!(
            sp(
                "merge",
                &[json(r#"{"a":"1"}"#), json(r#"{"a":"2","b":"3"}"#)]
            ),
            "map[a:1 b:3]"
        );
        assert_eq!(
            sp(
                "mergeOverwrite",
                &[json(r#"{"a":"1"}"#), json(r#"{"a":"2","b":"3"}"#)]
            ),
            "map[a:2 b:3]"
        );
        let nested = json(r#"{"a":{"b":{"c":"deep"}}}"#);
        assert_eq!(
            sp("dig", &[s("a"), s("b"), s("c"), s("dflt"), nested.clone()]),
            "deep"
        );
        assert_eq!(sp("dig", &[s("a"), s("x"), s("dflt"), nested]), "dflt");
    }

    #[test]
    fn math_types_and_paths() {
        assert_eq!(sp("add", &[i(1), s("2"), Value::Float(3.9)]), "6");
        assert_eq!(sp("add1", &[i(1)]), "2");
        assert_eq!(sp("sub", &[i(10), i(3)]), "7");
        assert_eq!(sp("mul", &[i(2), i(3), i(4)]), "24");
        assert_eq!(sp("div", &[i(7), i(2)]), "3");
        assert_eq!(
            sp("div", &[i(7), i(0)]),
            "ERR runtime error: integer divide by zero"
        );
        assert_eq!(sp("mod", &[i(7), i(2)]), "1");
        assert_eq!(sp("max", &[i(1), i(9), i(3)]), "9");
        assert_eq!(sp("min", &[i(4), i(2), i(3)]), "2");
        assert_eq!(sp("floor", &[Value::Float(1.7)]), "1");
        assert_eq!(sp("ceil", &[s("1.2")]), "2");
        assert_eq!(sp("round", &[Value::Float(123.5555), i(3)]), "123.556");
        assert_eq!(sp("int", &[s("0x10")]), "16");
        assert_eq!(sp("int", &[Value::Number("42".into())]), "42");
        assert_eq!(sp("float64", &[s("1.5")]), "1.5");
        assert_eq!(sp("atoi", &[s("12x")]), "0");
        assert_eq!(sp("typeOf", &[Value::Number("1".into())]), "json.Number");
        assert_eq!(sp("kindOf", &[json("{}")]), "map");
        assert_eq!(sp("kindIs", &[s("slice"), json("[]")]), "true");
        assert_eq!(sp("typeIs", &[s("string"), s("x")]), "true");
        assert_eq!(
            sp("deepEqual", &[json(r#"{"a":[1]}"#), json(r#"{"a":[1]}"#)]),
            "true"
        );
        assert_eq!(sp("deepEqual", &[i(1), Value::Number("1".into())]), "false");
        assert_eq!(sp("base", &[s("/a/b.txt")]), "b.txt");
        assert_eq!(sp("dir", &[s("/a/b.txt")]), "/a");
        assert_eq!(sp("dir", &[s("b.txt")]), ".");
        assert_eq!(sp("ext", &[s("/a/b.tar.gz")]), ".gz");
        assert_eq!(sp("clean", &[s("/a//b/../c/")]), "/a/c");
        assert_eq!(sp("isAbs", &[s("a/b")]), "false");
    }

    #[test]
    fn semver_constraints() {
        let t = |c: &str, v: &str| semver_check(c, v).unwrap();
        assert!(t(">=1.2.0", "1.2.3"));
        assert!(!t(">=1.2.0", "1.1.9"));
        assert!(t("~1.2.0", "1.2.9"));
        assert!(!t("~1.2.0", "1.3.0"));
        assert!(t("^1.2.0", "1.9.0"));
        assert!(!t("^1.2.0", "2.0.0"));
        assert!(t("^0.2.3", "0.2.9"));
        assert!(!t("^0.2.3", "0.3.0"));
        assert!(t("1.2.x", "1.2.7"));
        assert!(t(">= 1.0, < 2.0", "1.5.0"));
        assert!(!t(">= 1.0, < 2.0", "2.0.0"));
        assert!(t("<1.0 || >=3", "3.1.0"));
        assert!(t("1.2 - 1.4.5", "1.4.5"));
        assert!(!t(">=1.0.0", "1.5.0-beta.1"));
        assert!(t(">=1.0.0-0", "1.5.0-beta.1"));
        assert!(t("=v1.2.3", "1.2.3"));
        assert_eq!(sp("semverCompare", &[s(">=1.2"), s("1.3.0")]), "true");
        assert_eq!(
            sp("semverCompare", &[s(">=1.2"), s("nope")]),
            "ERR Invalid Semantic Version"
        );
        assert_eq!(
            sp("semverCompare", &[s("??1"), s("1.0.0")]),
            "ERR improper constraint: ??1"
        );
    }
}
