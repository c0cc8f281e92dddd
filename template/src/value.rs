//! The values a template computes with: Go's dynamic values as consul-template sees them
//! (agent.md §4.2), and their `fmt` `%v` printing (§4.3).
//!
//! A JSON number from Vault is [`Value::Number`]: string kind, literal text (Go `json.Number`).
//! Maps are `BTreeMap<Key, _>` ([`Key`]: a Go string's bytes), whose order is Go's byte-wise key
//! order for printing and `range`.
//! Records (`*dependency.Secret`, its `Auth`/`WrapInfo`) keep their fields in declaration order.
//! Values with methods (`scratch`, `pkiCert`'s result, `loop` channels) are [`Object`]s, and so
//! are the integers of other Go types that templates meet ([`GoInt`]: `uint8`, `time.Month`).

use std::collections::BTreeMap;
use std::sync::Arc;

use vaultlet_shared::json::Json;

pub use crate::gostr::Key;

/// A template value.
#[derive(Clone, Debug)]
pub enum Value {
    /// Untyped nil (an empty `interface{}`): missing map key, JSON null, the data given to Execute.
    /// Printed alone as `<no value>`, inside a map or list as `<nil>`.
    Nil,
    Bool(bool),
    /// Go `int`: template literals, `len`, Sprig's `int`/`atoi`, `.LeaseDuration`.
    Int(i64),
    /// Go `int64`: consul-template's math helpers, `parseInt`, `loop`, Sprig's `add`…`max`,
    /// `int64`, `toDecimal` (agent.md §4.2). It behaves as `Int` except where Go's type shows:
    /// `%T`, `%#v`, a parameter typed `int`, Sprig's `duration`/`durationRound`.
    Int64(i64),
    /// Go `uint64` (`parseUint`, yaml.v2's big integers, a semver's parts).
    Uint(u64),
    Float(f64),
    /// Go `json.Number`: a string-kind value holding the literal text from Vault.
    Number(Arc<str>),
    String(Arc<str>),
    List(Arc<Vec<Value>>),
    /// Go `[]string` (`split`, `secrets`, Sprig's `splitList`/`keys`…): every item a `String`, or
    /// a string that is not UTF-8 (`crate::gostr`) where one was split or listed.
    /// It prints and ranges like a list; functions whose Go parameter is `[]string` accept only
    /// this, those that take `[]interface {}` refuse it (agent.md §4.2).
    Strings(Arc<Vec<Value>>),
    /// Go `[]int` (Sprig's `until`, `untilStep`): every item an `Int`. Like [`Value::Strings`]
    /// it prints and ranges like a list, and a `[]string` or `[]interface {}` parameter refuses it.
    Ints(Arc<Vec<Value>>),
    /// A nil slice (`[]string(nil)`, e.g. `.Warnings` with none): prints `[]`, `toJSON` gives `null`.
    NilList,
    /// A nil `[]interface {}` (`scratch.MapValues` of a key that holds no map): like
    /// [`Value::NilList`], but of the type [`Value::List`] has.
    NilAnyList,
    /// Go `map[string]interface {}`: keys are Go strings' bytes ([`Key`]).
    Map(Arc<BTreeMap<Key, Value>>),
    /// Go `map[string]string` (Sprig's `split`, `splitn`): every value a string. It prints,
    /// indexes, ranges and serializes like [`Value::Map`]; a `map[string]interface {}` parameter
    /// refuses it, as Go's does (agent.md §4.2).
    StrMap(Arc<BTreeMap<Key, Value>>),
    /// Go `map[interface {}]interface {}` (what `parseYAML` gives, agent.md §4.4): typed keys
    /// (string, int, uint64, float64, bool, nil), entries kept in [`any_map_order`].
    AnyMap(Arc<Vec<(Value, Value)>>),
    Record(Arc<Record>),
    /// A typed nil pointer (`.Auth` when absent): prints `<nil>`; type name like `*api.SecretAuth`.
    NilPtr(&'static str),
    /// Anything with methods.
    Object(Arc<dyn Object>),
}

/// A Go struct value (through a pointer, as consul-template hands them out).
#[derive(Clone, Debug)]
pub struct Record {
    /// Go type for `%T` and messages, e.g. `*dependency.Secret`.
    pub type_name: &'static str,
    pub fields: Vec<(&'static str, Value)>,
}

/// Where `%v` printing goes: a `String`, where a string that is not UTF-8 (`crate::gostr`) can only
/// be its U+FFFD text, or a [`crate::gostr::GoText`], which keeps its bytes.
pub trait GoWrite: std::fmt::Write {
    /// A string that is not UTF-8 (a [`Value::Object`] whose `go_string` is `Some`).
    fn go_string(&mut self, v: &Value);
}

impl GoWrite for String {
    fn go_string(&mut self, v: &Value) {
        if let Value::Object(o) = v {
            self.push_str(&o.print());
        }
    }
}

/// A value with methods: the engine calls [`Object::method`] for `.Name args…` chains.
pub trait Object: std::fmt::Debug + Send + Sync {
    /// Go type for `%T` and messages, e.g. `*template.Scratch`.
    fn type_name(&self) -> &'static str;
    /// `.Name` as a field, if the type has one.
    fn field(&self, _name: &str) -> Option<Value> {
        None
    }
    /// `.Name args…` as a method call; `None` if there is no such method.
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    /// `%v` printing.
    fn print(&self) -> String;
    /// Items when ranged over (channels from `loop`); `None` if not rangeable.
    fn range_items(&self) -> Option<Vec<Value>> {
        None
    }
    /// A Go string that is not valid UTF-8 (`crate::gostr`): its U+FFFD text and its bytes.
    fn go_string(&self) -> Option<(&str, &[u8])> {
        None
    }
    /// An integer of another Go type ([`GoInt`]).
    fn go_int(&self) -> Option<&GoInt> {
        None
    }
}

/// A Go integer whose type is neither `int`, `int64` nor `uint64` (agent.md §4.2): `uint8`
/// (`index` of a string gives a byte), `time.Month` and `time.Weekday` (a time's `.Month`,
/// `.Weekday`). Reflection sees its kind, so it compares, counts and converts as the integer
/// underneath ([`GoInt::underlying`]); `%T`, `%#v` and Sprig's `typeOf`/`kindOf` see its type,
/// and a type with a `String` method ([`GoInt::names`]) prints its name where `fmt` calls it.
#[derive(Clone, Debug)]
pub struct GoInt {
    pub type_name: &'static str,
    pub value: i64,
    /// An unsigned kind (`uint8`): underneath is a `uint64`, else an `int`.
    pub unsigned: bool,
    /// The `String` method: names from `first` on (`time.Month`'s from 1), and the short type
    /// name Go prints for a value out of range (`%!Month(13)`).
    pub names: Option<(&'static [&'static str], i64, &'static str)>,
    /// Go's reflect kind (`uint8`, `int`).
    pub kind: &'static str,
}

impl GoInt {
    /// A `uint8` (a byte).
    pub fn byte(b: u8) -> Value {
        Value::Object(Arc::new(GoInt {
            type_name: "uint8",
            value: i64::from(b),
            unsigned: true,
            names: None,
            kind: "uint8",
        }))
    }

    /// An `int`-kind value of a named type with a `String` method that names `names[v - first]`.
    pub fn named(
        type_name: &'static str,
        value: i64,
        names: &'static [&'static str],
        first: i64,
    ) -> Value {
        let short = type_name.rsplit('.').next().unwrap_or(type_name);
        Value::Object(Arc::new(GoInt {
            type_name,
            value,
            unsigned: false,
            names: Some((names, first, short)),
            kind: "int",
        }))
    }

    /// The integer underneath, as reflection reads it: [`Value::Uint`] or [`Value::Int`].
    pub fn underlying(&self) -> Value {
        if self.unsigned {
            Value::Uint(self.value as u64)
        } else {
            Value::Int(self.value)
        }
    }

    /// What its `String` method returns, if it has one.
    pub fn string(&self) -> Option<String> {
        let (names, first, short) = self.names?;
        Some(
            usize::try_from(self.value - first)
                .ok()
                .and_then(|i| names.get(i))
                .map_or_else(|| format!("%!{short}({})", self.value), |n| n.to_string()),
        )
    }
}

impl Object for GoInt {
    fn type_name(&self) -> &'static str {
        self.type_name
    }
    fn method(&self, name: &str, a: &[Value]) -> Option<Result<Value, String>> {
        let s = self.string().filter(|_| name == "String")?;
        Some(if a.is_empty() {
            Ok(Value::str(s))
        } else {
            Err(format!(
                "wrong number of args for String: want 0 got {}",
                a.len()
            ))
        })
    }
    fn print(&self) -> String {
        self.string().unwrap_or_else(|| self.underlying().print())
    }
    fn go_int(&self) -> Option<&GoInt> {
        Some(self)
    }
}

impl Value {
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// A Go `[]string`.
    pub fn strings<S: Into<Arc<str>>>(items: impl IntoIterator<Item = S>) -> Value {
        Value::Strings(Arc::new(
            items.into_iter().map(|x| Value::String(x.into())).collect(),
        ))
    }

    pub fn map(m: BTreeMap<Key, Value>) -> Value {
        Value::Map(Arc::new(m))
    }

    /// A literal-exact JSON value from Vault (numbers become [`Value::Number`]).
    pub fn from_json(j: &Json) -> Value {
        match j {
            Json::Null => Value::Nil,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(Arc::from(&**n)),
            Json::String(s) => Value::str(s.as_str()),
            Json::Array(a) => Value::list(a.iter().map(Value::from_json).collect()),
            Json::Object(m) => Value::map(
                m.iter()
                    .map(|(k, v)| (Key::Str(k.clone()), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The integer underneath a [`GoInt`] (`uint8`, `time.Month`), as reflection reads it.
    pub fn go_int(&self) -> Option<Value> {
        match self {
            Value::Object(o) => o.go_int().map(GoInt::underlying),
            _ => None,
        }
    }

    /// The value of a signed integer of any size (`int`, `int64`).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// Go's `%T` name of the value's dynamic type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Uint(_) => "uint64",
            Value::Float(_) => "float64",
            Value::Number(_) => "json.Number",
            Value::String(_) => "string",
            Value::List(_) | Value::NilAnyList => "[]interface {}",
            Value::Strings(_) | Value::NilList => "[]string",
            Value::Ints(_) => "[]int",
            Value::Map(_) => "map[string]interface {}",
            Value::StrMap(_) => "map[string]string",
            Value::AnyMap(_) => "map[interface {}]interface {}",
            Value::Record(r) => r.type_name,
            Value::NilPtr(t) => t,
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go truthiness (agent.md §4.1): false, zero, nil, empty string/slice/map are false.
    /// A Number is a non-empty string, so `0` from JSON is true.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil | Value::NilList | Value::NilAnyList | Value::NilPtr(_) => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Number(s) | Value::String(s) => !s.is_empty(),
            Value::List(l) | Value::Strings(l) | Value::Ints(l) => !l.is_empty(),
            Value::Map(m) | Value::StrMap(m) => !m.is_empty(),
            Value::AnyMap(m) => !m.is_empty(),
            Value::Object(o) => o.go_int().is_none_or(|g| g.value != 0),
            Value::Record(_) => true,
        }
    }

    /// The string of a string-typed argument; Go's reflection error otherwise.
    pub fn expect_str(&self) -> Result<&str, String> {
        match self {
            Value::String(s) => Ok(s),
            other => Err(format!(
                "wrong type for value; expected string; got {}",
                other.type_name()
            )),
        }
    }

    /// `{{ v }}`: the text an action prints (agent.md §4.3 rule 1–3).
    pub fn print_top(&self) -> String {
        match self {
            Value::Nil => "<no value>".to_string(),
            v => v.print(),
        }
    }

    /// [`Value::print_top`] appended to `out` (no intermediate string for the common cases).
    pub fn write_top<W: GoWrite>(&self, out: &mut W) {
        match self {
            Value::Nil => {
                let _ = out.write_str("<no value>");
            }
            v => v.write_v(out),
        }
    }

    /// Go `fmt` `%v` of the value when nested or given to `print`.
    pub fn print(&self) -> String {
        let mut out = String::new();
        self.write_v(&mut out);
        out
    }

    /// Go `fmt` `%v` of the value appended to `out`.
    pub fn write_v<W: GoWrite>(&self, out: &mut W) {
        match self {
            Value::Nil | Value::NilPtr(_) => put(out, "<nil>"),
            Value::Bool(b) => put(out, if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Uint(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => put(out, &format_float_g(*f)),
            Value::Number(s) | Value::String(s) => put(out, s),
            Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
                put(out, "[");
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        put(out, " ");
                    }
                    v.write_v(out);
                }
                put(out, "]");
            }
            Value::NilList | Value::NilAnyList => put(out, "[]"),
            Value::Map(m) | Value::StrMap(m) => {
                put(out, "map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        put(out, " ");
                    }
                    k.write_v(out);
                    put(out, ":");
                    v.write_v(out);
                }
                put(out, "]");
            }
            Value::AnyMap(m) => {
                put(out, "map[");
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        put(out, " ");
                    }
                    k.write_v(out);
                    put(out, ":");
                    v.write_v(out);
                }
                put(out, "]");
            }
            Value::Record(r) => {
                // `%v` of a pointer to a struct at the top level prints `&{…}`; the engine's action
                // printing dereferences once (rule 2), which is what `print` of a record gives here.
                put(out, "{");
                for (i, (_, v)) in r.fields.iter().enumerate() {
                    if i > 0 {
                        put(out, " ");
                    }
                    v.write_nested_field(out);
                }
                put(out, "}");
            }
            Value::Object(o) if o.go_string().is_some() => out.go_string(self),
            Value::Object(o) => put(out, &o.print()),
        }
    }

    /// A struct field printed inside `{…}`: pointers inside a struct print as addresses in Go
    /// (`0xc000…`), except nil ones, which print `<nil>`. Records nested in records are pointers;
    /// we print them as `&{…}`-free `{…}` (Go would print an address — non-deterministic, never relied on).
    fn write_nested_field<W: GoWrite>(&self, out: &mut W) {
        self.write_v(out)
    }
}

fn put<W: GoWrite>(out: &mut W, s: &str) {
    let _ = out.write_str(s);
}

/// Go's `fmt`/`range` order of `map[interface {}]interface {}` keys (`internal/fmtsort`): nil
/// first, then by dynamic type — in the order of the type descriptors in Vault Agent's binary,
/// observed as string, uint64, int, float64, bool — then by value within a type (agent.md §4.4).
pub fn any_map_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    /// A Go string's bytes, also of one that is not UTF-8 (a `!!binary` key).
    fn str_bytes(v: &Value) -> Option<&[u8]> {
        match v {
            Value::String(s) => Some(s.as_bytes()),
            Value::Object(o) => o.go_string().map(|(_, b)| b),
            _ => None,
        }
    }
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Nil => 0,
            _ if str_bytes(v).is_some() => 1,
            Value::Uint(_) => 2,
            Value::Int(_) => 3,
            Value::Float(_) => 4,
            Value::Bool(_) => 5,
            _ => 6,
        }
    }
    if let (Some(x), Some(y)) = (str_bytes(a), str_bytes(b)) {
        return x.cmp(y);
    }
    match (a, b) {
        (Value::Uint(x), Value::Uint(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        // NaN sorts first, as fmtsort does.
        (Value::Float(x), Value::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            _ => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
        },
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Go's `==` on two map keys of `map[interface {}]interface {}`: same dynamic type and value.
pub fn same_key(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Uint(x), Value::Uint(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        // Two strings that are not UTF-8 (`!!binary` keys): equal bytes.
        (Value::Object(x), Value::Object(y)) => match (x.go_string(), y.go_string()) {
            (Some((_, x)), Some((_, y))) => x == y,
            _ => false,
        },
        _ => false,
    }
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` as `fmt` `%v` prints a float64 (agent.md §4.3 float rule).
pub fn format_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.234567e6".
    let e_form = format!("{f:e}");
    let (mant, exp) = e_form.split_once('e').unwrap_or((&e_form, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // Go's %v is %g with the shortest digits, and for shortest it decides with precision 6.
    if !(-4..6).contains(&exp) {
        go_exp(mant, exp)
    } else {
        format!("{f}")
    }
}

/// `m e±XX` with at least two exponent digits.
pub fn go_exp(mant: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_maps_lists_and_nils_like_go() {
        let j = Json::parse(r#"{"z":{"y":[1,2],"x":null},"a":"1","Upper":"U","l":["a","b",1,true,null],"e":{},"n":1e3}"#)
            .unwrap();
        let v = Value::from_json(&j);
        assert_eq!(
            v.print(),
            "map[Upper:U a:1 e:map[] l:[a b 1 true <nil>] n:1e3 z:map[x:<nil> y:[1 2]]]"
        );
        assert_eq!(Value::Nil.print_top(), "<no value>");
        assert_eq!(Value::NilPtr("*api.SecretAuth").print_top(), "<nil>");
        assert_eq!(Value::NilList.print(), "[]");
    }

    #[test]
    fn floats_print_as_go_percent_v() {
        let cases = [
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e20, "1e+20"),
            (1.5e300, "1.5e+300"),
            (1.0, "1"),
            (2.5, "2.5"),
            (-0.5, "-0.5"),
        ];
        for (f, want) in cases {
            assert_eq!(format_float_g(f), want, "{f}");
        }
    }

    #[test]
    fn numbers_are_truthy_strings() {
        assert!(Value::Number("0".into()).truthy());
        assert!(!Value::Int(0).truthy());
        assert!(!Value::str("").truthy());
        assert!(!Value::Nil.truthy());
        assert_eq!(
            Value::Number("42".into()).expect_str().unwrap_err(),
            "wrong type for value; expected string; got json.Number"
        );
    }
}
