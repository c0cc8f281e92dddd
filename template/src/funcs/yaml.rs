//! YAML for `toYAML` and `parseYAML`: an emitter reproducing gopkg.in/yaml.v2 (libyaml's rules:
//! natural key order, plain/quoted/literal style choice, folding of long plain scalars at 80
//! columns, yaml.v2's escapes) and `parseYAML` as yaml.v2 decodes into an `interface{}`: the
//! structure from saphyr-parser's events, scalars typed by yaml.v2's YAML 1.1 resolver, tags,
//! anchors and merge keys (agent.md §4.4).
//!
//! saphyr-parser follows YAML 1.2; yaml.v2 is a port of libyaml, which reads YAML 1.1 and differs
//! in flow collections, tabs, comments, block scalars and directives. Those corners are decided in
//! the scanner, out of reach of any pre- or post-processing, so the workspace uses a patched copy
//! (`third_party/saphyr-parser`, its README lists the changes; it reads NEL, LS and PS as line
//! breaks as libyaml does). Here: the check libyaml's reader makes first (control characters),
//! reading the first document's end as yaml.v2 does, and errors in yaml.v2's words and line
//! numbers (agent.md §4.4.1).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::Value;
use crate::value::format_float_g;

/// libyaml's preferred line width.
const BEST_WIDTH: usize = 80;

// ----------------------------------------------------------------------------------------------
// Emitter
// ----------------------------------------------------------------------------------------------

/// yaml.v2 `Marshal` of a value, without the trailing newline.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let mut e = Emitter { out: String::new() };
    let node = Node::from_value(v)?;
    match &node {
        Node::Map(m) if !m.is_empty() => e.map(m, 0),
        Node::Seq(s) if !s.is_empty() => e.seq(s, 0),
        // A scalar alone: libyaml indents its continuation lines by two.
        other => e.scalar_or_empty(other, 2),
    }
    Ok(e.out.trim().to_string())
}

/// What yaml.v2 sees: mappings keep their emission order (sorted for Go maps, declared for structs).
enum Node {
    /// Keys are `Raw` (typed keys of a parsed map) or `Str`.
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
    /// A plain-resolving token: numbers, bools, null.
    Raw(String),
    Str(String),
    /// A `!!binary` literal block: base64 lines, each ending in `\n`.
    Binary(String),
}

impl Node {
    fn from_value(v: &Value) -> Result<Node, String> {
        Ok(match v {
            Value::Nil | Value::NilPtr(_) => Node::Raw("null".into()),
            Value::Bool(b) => Node::Raw(b.to_string()),
            Value::Int(i) | Value::Int64(i) => Node::Raw(i.to_string()),
            Value::Uint(u) => Node::Raw(u.to_string()),
            Value::Float(f) => Node::Raw(yaml_float(*f)),
            Value::Number(n) => {
                if let Ok(i) = n.parse::<i64>() {
                    Node::Raw(i.to_string())
                } else if let Ok(f) = super::parse::go_float(n) {
                    Node::Raw(yaml_float(f))
                } else {
                    Node::Str(n.to_string())
                }
            }
            Value::String(s) => Node::Str(s.to_string()),
            Value::NilList | Value::NilAnyList => Node::Seq(Vec::new()),
            Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
                Node::Seq(l.iter().map(Node::from_value).collect::<Result<_, _>>()?)
            }
            Value::Map(m) | Value::StrMap(m) => {
                // yaml.v2 orders keys by their runes (a bad byte is U+FFFD) and writes a key
                // that is not UTF-8 as `!!binary` (agent.md §4.5.3).
                let mut keys: Vec<(&crate::value::Key, &Value)> = m.iter().collect();
                keys.sort_by(|a, b| natural_cmp(a.0.text(), b.0.text()));
                Node::Map(
                    keys.into_iter()
                        .map(|(k, v)| {
                            let key = match k {
                                crate::value::Key::Str(s) => Node::Str(s.clone()),
                                k => Node::from_value(&k.to_value())?,
                            };
                            Ok((key, Node::from_value(v)?))
                        })
                        .collect::<Result<_, String>>()?,
                )
            }
            Value::AnyMap(m) => {
                let mut entries: Vec<&(Value, Value)> = m.iter().collect();
                entries.sort_by(|a, b| key_list_cmp(&a.0, &b.0));
                Node::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| Ok((Node::from_value(k)?, Node::from_value(v)?)))
                        .collect::<Result<_, String>>()?,
                )
            }
            Value::Record(r) => Node::Map(
                r.fields
                    .iter()
                    .map(|(n, v)| Ok((Node::Str(n.to_lowercase()), Node::from_value(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Object(o) if o.go_int().is_some() => {
                Node::Raw(v.go_int().unwrap_or(Value::Nil).print())
            }
            Value::Object(o) => match o.type_name() {
                "dependency.PemEncoded" => Node::Map(
                    ["Cert", "Key", "CA", "CAChain"]
                        .iter()
                        .map(|n| {
                            Ok((
                                Node::Str(n.to_lowercase()),
                                Node::from_value(&o.field(n).unwrap_or(Value::Nil))?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                ),
                // A time is written as a plain timestamp, a version as its text (a string).
                "time.Time" => Node::Raw(super::serialize::marshal_text(o.as_ref())),
                "*semver.Version" => Node::from_value(&Value::str(o.print()))?,
                // A string that is not UTF-8 (`crate::gostr`): yaml.v2 writes its base64 with the
                // `!!binary` tag; from 70 characters on, in lines of 70, each ending in a line
                // break, which makes it a literal block.
                "string" => match o.go_string() {
                    Some((_, b)) => {
                        let b64 = super::encoding::b64enc(false, b);
                        if b64.len() < 70 {
                            Node::Raw(format!("!!binary {b64}"))
                        } else {
                            let mut lines = String::with_capacity(b64.len() + b64.len() / 70 + 1);
                            for chunk in b64.as_bytes().chunks(70) {
                                lines.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                                lines.push('\n');
                            }
                            Node::Binary(lines)
                        }
                    }
                    None => return Err(format!("cannot marshal type: {}", o.type_name())),
                },
                t => return Err(format!("cannot marshal type: {t}")),
            },
        })
    }
}

fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            ".inf".into()
        } else {
            "-.inf".into()
        }
    } else {
        format_float_g(f)
    }
}

/// yaml.v2's order of `map[interface {}]interface {}` keys (its `keyList`): numbers and bools by
/// value (false = 0, true = 1; on a tie bool, then int, uint64, float64), then nil, then strings
/// by [`natural_cmp`].
fn key_list_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    // Go's reflect.Kind numbers, which yaml.v2 compares.
    fn kind(v: &Value) -> u8 {
        match v {
            Value::Bool(_) => 1,
            Value::Int(_) => 2,
            Value::Uint(_) => 11,
            Value::Float(_) => 14,
            Value::String(_) => 24,
            _ => 20,
        }
    }
    fn num(v: &Value) -> Option<f64> {
        match v {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::Uint(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
    match (num(a), num(b)) {
        (Some(x), Some(y)) if x != y => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        (Some(_), Some(_)) if kind(a) != kind(b) => kind(a).cmp(&kind(b)),
        (Some(_), Some(_)) => crate::value::any_map_order(a, b),
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => natural_cmp(x, y),
            _ => kind(a).cmp(&kind(b)),
        },
    }
}

/// yaml.v2's key order: runs of digits compare numerically, letters sort after non-letters.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let less = |a: &str, b: &str| -> bool {
        let ar: Vec<char> = a.chars().collect();
        let br: Vec<char> = b.chars().collect();
        let mut i = 0;
        while i < ar.len() && i < br.len() {
            if ar[i] == br[i] {
                i += 1;
                continue;
            }
            let al = ar[i].is_alphabetic();
            let bl = br[i].is_alphabetic();
            if al && bl {
                return ar[i] < br[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn): (i64, i64) = (0, 0);
            if ar[i] == '0' || br[i] == '0' {
                let mut j = i;
                while j > 0 && ar[j - 1].is_ascii_digit() {
                    j -= 1;
                    if ar[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < ar.len() && ar[ai].is_ascii_digit() {
                an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
                ai += 1;
            }
            let mut bi = i;
            while bi < br.len() && br[bi].is_ascii_digit() {
                bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
                bi += 1;
            }
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return ar[i] < br[i];
        }
        ar.len() < br.len()
    };
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
}

impl Emitter {
    /// The column libyaml counts: characters since the last line break of any kind.
    fn column(&self) -> usize {
        let line = self.out.rsplit(is_break).next().unwrap_or("");
        line.chars().count()
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    /// A new line at `indent` (no break when already at a line start).
    fn line(&mut self, indent: usize) {
        if !self.at_line_start() {
            self.out.push('\n');
        }
        self.out.push_str(&" ".repeat(indent));
    }

    fn map(&mut self, m: &[(Node, Node)], indent: usize) {
        for (idx, (k, v)) in m.iter().enumerate() {
            if idx > 0 || !self.out.is_empty() && !self.out.ends_with("- ") {
                self.line(indent);
            }
            match k {
                Node::Str(k) => self.string(k, indent + 2, true),
                // A `!!binary` block (a key of 52 bytes or more that is not UTF-8) is no simple
                // key: libyaml writes `? key`, then `:` on a line of its own (agent.md §4.5.3).
                Node::Binary(_) => {
                    self.out.push_str("? ");
                    self.scalar_or_empty(k, indent + 2);
                    self.out.push_str(&" ".repeat(indent));
                }
                other => self.scalar_or_empty(other, indent + 2),
            }
            self.out.push(':');
            match v {
                Node::Map(inner) if !inner.is_empty() => self.map(inner, indent + 2),
                Node::Seq(items) if !items.is_empty() => self.seq(items, indent),
                other => {
                    self.out.push(' ');
                    self.scalar_or_empty(other, indent + 2);
                }
            }
        }
    }

    fn seq(&mut self, items: &[Node], indent: usize) {
        for (idx, item) in items.iter().enumerate() {
            if idx > 0 || !self.out.is_empty() && !self.out.ends_with("- ") {
                self.line(indent);
            }
            self.out.push_str("- ");
            match item {
                Node::Map(inner) if !inner.is_empty() => self.map(inner, indent + 2),
                Node::Seq(inner) if !inner.is_empty() => self.seq(inner, indent + 2),
                other => self.scalar_or_empty(other, indent + 2),
            }
        }
    }

    fn scalar_or_empty(&mut self, n: &Node, indent: usize) {
        match n {
            Node::Map(_) => self.out.push_str("{}"),
            Node::Seq(_) => self.out.push_str("[]"),
            Node::Raw(r) => self.out.push_str(r),
            Node::Str(s) => self.string(s, indent, false),
            Node::Binary(s) => {
                self.out.push_str("!!binary ");
                self.literal(s, indent);
            }
        }
    }

    /// A string scalar: plain when it reads back as the same string, else quoted or a literal block.
    fn string(&mut self, s: &str, indent: usize, key: bool) {
        let requested = if s.contains('\n') {
            Style::Literal
        } else if resolves_to_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        let a = analyze(s);
        let mut style = requested;
        if style == Style::Plain && (!a.block_plain || (s.is_empty() && key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.folded(s, indent, !key, false),
            Style::Single => {
                self.out.push('\'');
                self.folded(&s.replace('\'', "''"), indent, !key, true);
                self.out.push('\'');
            }
            Style::Double => self.double(s, indent, !key),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Writes a plain or single-quoted body, breaking at a space once past the line width. In a
    /// single-quoted body a line break (U+2028, `\r`…) is written as is and the text after it
    /// is indented, as libyaml does.
    fn folded(&mut self, s: &str, indent: usize, allow_breaks: bool, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if quoted && is_break(c) {
                if !breaks && c == '\n' {
                    self.out.push('\n');
                }
                self.out.push(c);
                breaks = true;
                continue;
            }
            if breaks {
                self.out.push_str(&" ".repeat(indent));
                breaks = false;
            }
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                let inner = !quoted || (i != 0 && i + 1 != chars.len());
                if allow_breaks && !spaces && self.column() > BEST_WIDTH && !next_space && inner {
                    self.out.push('\n');
                    self.out.push_str(&" ".repeat(indent));
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
        }
    }

    /// A double-quoted scalar with libyaml's escapes; past the line width a space becomes a line
    /// break (a following space is protected with `\`).
    ///
    /// yaml.v2's BOM test looks at the scalar's first character whatever the position, so a
    /// string that starts with U+FEFF has every character escaped (`"\uFEFF\x61\x20…"`).
    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('"');
        let chars: Vec<char> = s.chars().collect();
        let bom = s.starts_with('\u{FEFF}');
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            let code = c as u32;
            if bom || !printable(c) || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\u{7}' => "\\a".into(),
                    '\u{8}' => "\\b".into(),
                    '\t' => "\\t".into(),
                    '\n' => "\\n".into(),
                    '\u{b}' => "\\v".into(),
                    '\u{c}' => "\\f".into(),
                    '\r' => "\\r".into(),
                    '\u{1b}' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    _ if code <= 0xFF => format!("\\x{code:02X}"),
                    _ if code <= 0xFFFF => format!("\\u{code:04X}"),
                    _ => format!("\\U{code:08X}"),
                };
                self.out.push_str(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column() > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                {
                    self.out.push('\n');
                    self.out.push_str(&" ".repeat(indent));
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                    }
                } else {
                    self.out.push(c);
                }
                spaces = true;
            } else {
                self.out.push(c);
                spaces = false;
            }
        }
        self.out.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push('2');
        }
        let chars: Vec<char> = s.chars().collect();
        match chars.as_slice() {
            [] => self.out.push('-'),
            [.., last] if !is_break(*last) => self.out.push('-'),
            [_] => self.out.push('+'),
            [.., prev, _] if is_break(*prev) => self.out.push('+'),
            _ => {}
        }
        self.out.push('\n');
        let mut at_start = true;
        for c in chars {
            if is_break(c) {
                self.out.push('\n');
                at_start = true;
            } else {
                if at_start {
                    self.out.push_str(&" ".repeat(indent));
                    at_start = false;
                }
                self.out.push(c);
            }
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// yaml.v2's `is_printable` (its UTF-8 byte test): LF, ASCII 0x20–0x7E, U+00A0–U+D7FF and
/// U+E000–U+FFFD except the BOM. NEL (U+0085) and everything outside the Basic Multilingual
/// Plane are not printable, so they are written as `\N` and `\UXXXXXXXX` escapes.
fn printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn blankz(c: Option<&char>) -> bool {
    match c {
        None => true,
        Some(c) => *c == ' ' || *c == '\t' || is_break(*c) || *c == '\0',
    }
}

/// libyaml's `yaml_emitter_analyze_scalar`, reduced to what block context needs.
struct Analysis {
    block_plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_ind = s.starts_with("---") || s.starts_with("...");
    let (mut special, mut line_breaks) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) =
        (false, false, false, false);
    let mut preceded_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_ws = blankz(chars.get(i + 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_ind = true,
                '?' | ':' | '-' if followed_ws => block_ind = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_ws => block_ind = true,
                '#' if preceded_ws => block_ind = true,
                _ => {}
            }
        }
        if !printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == n - 1;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            leading_break |= i == 0;
            trailing_break |= i == n - 1;
            space_break |= prev_space;
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = blankz(Some(&c));
    }
    let mut a = Analysis {
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single = false;
        a.block = false;
    }
    if line_breaks || block_ind {
        a.block_plain = false;
    }
    a
}

/// Whether yaml.v2 would read `s` back, unquoted, as a string (not null, bool, number, timestamp…).
pub fn resolves_to_string(s: &str) -> bool {
    if matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | ".inf"
            | ".Inf"
            | ".INF"
            | "+.inf"
            | "+.Inf"
            | "+.INF"
            | "-.inf"
            | "-.Inf"
            | "-.INF"
            | ".nan"
            | ".NaN"
            | ".NAN"
            | "<<"
    ) {
        return false;
    }
    scalar_kind(s).is_none() && !is_base60_float(s) && !is_timestamp(s)
}

/// A plain scalar that yaml.v2 resolves to a number: `Some(value)`.
fn scalar_kind(s: &str) -> Option<Value> {
    let first = s.chars().next()?;
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return None;
    }
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int_base0(&plain) {
        return Some(Value::Int(i));
    }
    if let Some(u) = go_parse_uint_base0(&plain) {
        return Some(Value::Uint(u));
    }
    if yaml_style_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return Some(Value::Float(f));
    }
    for (prefix, neg) in [("0b", false), ("-0b", true)] {
        if let Some(bits) = plain.strip_prefix(prefix)
            && let Ok(v) = i64::from_str_radix(bits, 2)
        {
            return Some(Value::Int(if neg { -v } else { v }));
        }
    }
    None
}

/// yaml.v2's `strconv.ParseUint(plain, 0, 64)` (`plain` has its `_` removed already).
fn go_parse_uint_base0(s: &str) -> Option<u64> {
    vaultlet_shared::go::strconv::parse_uint(s, 0).ok()
}

/// yaml.v2's `strconv.ParseInt(plain, 0, 64)` (`plain` has its `_` removed already).
fn go_parse_int_base0(s: &str) -> Option<i64> {
    vaultlet_shared::go::strconv::parse_int(s, 0).ok()
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit() || c == '_')) {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    let mut hc = head.chars();
    if !hc.next().is_some_and(|c| c.is_ascii_digit()) || !hc.all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && rest.iter().all(|p| {
            let b = p.as_bytes();
            match b {
                [d] => d.is_ascii_digit(),
                [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
                _ => false,
            }
        })
}

/// The timestamp forms yaml.v2 resolves (`2006-1-2`, with `T`/`t`/space time and optional zone).
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let num = |i: &mut usize, max: usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max {
            *i += 1;
        }
        *i > start
    };
    let mut i = 5;
    if !num(&mut i, 2) || b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    if !num(&mut i, 2) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if !matches!(sep, b'T' | b't' | b' ') {
        return false;
    }
    i += 1;
    for k in 0..3 {
        if !num(&mut i, 2) {
            return false;
        }
        if k < 2 {
            if b.get(i) != Some(&b':') {
                return false;
            }
            i += 1;
        }
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !num(&mut i, 9) {
            return false;
        }
    }
    if sep == b' ' {
        return i == b.len();
    }
    match &b[i..] {
        b"Z" => true,
        [s, h1, h2, b':', m1, m2] => {
            matches!(s, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

// ----------------------------------------------------------------------------------------------
// Parser: saphyr-parser's events, decoded as yaml.v2 decodes into `interface{}`
// ----------------------------------------------------------------------------------------------

/// A node of the first document, aliases already pointing at their anchored node.
enum YNode {
    Scalar {
        text: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<Rc<YNode>>),
    Map(Vec<(Rc<YNode>, Rc<YNode>)>),
    Alias(Rc<YNode>),
    /// An alias inside the node its anchor names (yaml.v2 fails on it when decoding, after the
    /// whole document parsed): the name as a placeholder of its length.
    Cycle(String),
}

/// How many nodes one document may expand to through aliases (yaml.v2 refuses "excessive aliasing").
const MAX_DECODED: usize = 1_000_000;

/// How deep lists and maps may nest: the engine's bound on nested values (reliability.md,
/// "Bounds"), which also keeps the recursive builder and decoder within the stack.
const MAX_DEPTH: usize = 512;

/// How deep flow collections (`[…]`, `{…}`) may nest: saphyr-parser's own bound.
const MAX_FLOW_DEPTH: usize = 255;

/// `yaml.Unmarshal` into an `interface{}` (agent.md §4.4): the first document only; mappings are
/// `map[interface {}]interface {}` ([`Value::AnyMap`]) with typed keys, sequences
/// `[]interface {}`, scalars typed by yaml.v2's YAML 1.1 rules (`yes` is true, `0x1F` an int,
/// timestamps stay strings), tags (`!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!binary`),
/// anchors, aliases and merge keys (`<<`).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    // libyaml's reader refuses these before the scanner sees them.
    if !text.chars().all(yaml_v2_allowed_char) {
        return Err("yaml: control characters are not allowed".into());
    }
    let mut b = Builder {
        p: saphyr_parser::Parser::new_from_str(text),
        text,
        anchors: HashMap::new(),
        depth: 0,
        at: 0,
    };
    let Some(root) = b.document()? else {
        return Ok(Value::Nil);
    };
    let mut d = Decoder {
        budget: MAX_DECODED,
    };
    d.value(&root)
}

/// The characters libyaml's reader accepts (YAML 1.1's printable set).
/// Input that starts with a UTF-16 byte order mark, read as yaml.v2's reader (libyaml's) reads it:
/// the text without the mark, or the reader's error (a lone or missing surrogate, an odd byte at
/// the end, a control character). `None` when there is no such mark.
pub fn utf16_text(b: &[u8]) -> Option<Result<String, &'static str>> {
    let little = match b {
        [0xff, 0xfe, ..] => true,
        [0xfe, 0xff, ..] => false,
        _ => return None,
    };
    let unit = |i: usize| -> Option<u32> {
        let (x, y) = (*b.get(i)?, *b.get(i + 1)?);
        Some(u32::from(if little {
            u16::from_le_bytes([x, y])
        } else {
            u16::from_be_bytes([x, y])
        }))
    };
    let mut out = String::with_capacity(b.len() / 2);
    let mut i = 2;
    while i < b.len() {
        let Some(v) = unit(i) else {
            return Some(Err("yaml: incomplete UTF-16 character"));
        };
        let c = if v & 0xfc00 == 0xdc00 {
            return Some(Err("yaml: unexpected low surrogate area"));
        } else if v & 0xfc00 == 0xd800 {
            let Some(w) = unit(i + 2) else {
                return Some(Err("yaml: incomplete UTF-16 surrogate pair"));
            };
            if w & 0xfc00 != 0xdc00 {
                return Some(Err("yaml: expected low surrogate area"));
            }
            i += 4;
            0x10000 + ((v & 0x3ff) << 10) + (w & 0x3ff)
        } else {
            i += 2;
            v
        };
        match char::from_u32(c) {
            Some(c) if yaml_v2_allowed_char(c) => out.push(c),
            _ => return Some(Err("yaml: control characters are not allowed")),
        }
    }
    Some(Ok(out))
}

/// What yaml.v2's reader (libyaml's) says of input that is not UTF-8, character by character as
/// it decodes: the first bad octet or sequence, or a control character before it. (Input with a
/// UTF-16 byte order mark goes to [`utf16_text`] first.)
pub fn reader_error(b: &[u8]) -> Option<&'static str> {
    let mut i = 0;
    while i < b.len() {
        let lead = b[i];
        let (width, mut value) = match lead {
            0x00..=0x7F => (1, u32::from(lead)),
            _ if lead & 0xE0 == 0xC0 => (2, u32::from(lead & 0x1F)),
            _ if lead & 0xF0 == 0xE0 => (3, u32::from(lead & 0x0F)),
            _ if lead & 0xF8 == 0xF0 => (4, u32::from(lead & 0x07)),
            _ => return Some("yaml: invalid leading UTF-8 octet"),
        };
        if i + width > b.len() {
            return Some("yaml: incomplete UTF-8 octet sequence");
        }
        for &t in &b[i + 1..i + width] {
            if t & 0xC0 != 0x80 {
                return Some("yaml: invalid trailing UTF-8 octet");
            }
            value = (value << 6) | u32::from(t & 0x3F);
        }
        let shortest = match width {
            1 => true,
            2 => value >= 0x80,
            3 => value >= 0x800,
            _ => value >= 0x10000,
        };
        if !shortest {
            return Some("yaml: invalid length of a UTF-8 sequence");
        }
        match char::from_u32(value) {
            None => return Some("yaml: invalid Unicode character"),
            Some(c) if !yaml_v2_allowed_char(c) => {
                return Some("yaml: control characters are not allowed");
            }
            Some(_) => {}
        }
        i += width;
    }
    None
}

fn yaml_v2_allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

struct Builder<'a> {
    p: saphyr_parser::Parser<'a, saphyr_parser::StrInput<'a>>,
    text: &'a str,
    anchors: HashMap<usize, Rc<YNode>>,
    depth: usize,
    /// Where (char index) the last event starts.
    at: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<saphyr_parser::Event<'a>, String> {
        match self.p.next_event() {
            Some(Ok((ev, span))) => {
                self.at = span.start.index();
                Ok(ev)
            }
            Some(Err(e)) => Err(self.scan_error(&e)),
            None => Ok(saphyr_parser::Event::StreamEnd),
        }
    }

    /// yaml.v2's wording where it differs from the parser's (`yaml: line N: …`).
    fn scan_error(&self, e: &saphyr_parser::ScanError) -> String {
        let m = e.marker();
        if e.info().contains("unknown anchor") {
            // The name is part of the (maybe secret) input: named by its length (crate::redact).
            return format!(
                "yaml: unknown anchor {} referenced",
                self.alias_name(m.index())
            );
        }
        if e.info() == "recursion limit exceeded" {
            // saphyr-parser's bound on nested flow collections (its flow level is a `u8`).
            return format!("yaml: exceeded max depth of {MAX_FLOW_DEPTH}");
        }
        let (parser, msg) = libyaml_problem(e.info());
        // yaml.v2 names the line of libyaml's problem mark, counted from 0 and, for a scanner
        // error, plus one; line 0 is not named. The parser's mark is the start of the token it
        // did not expect, which yaml.v2 therefore names one line early.
        let line = if parser {
            m.line().saturating_sub(1)
        } else {
            m.line()
        };
        if line > usize::from(!parser) {
            format!("yaml: line {line}: {msg}")
        } else {
            format!("yaml: {msg}")
        }
    }

    /// The name of the alias at char index `at` (`*name`) as a placeholder of its length.
    fn alias_name(&self, at: usize) -> String {
        let len = self
            .text
            .chars()
            .skip(at)
            .skip_while(|c| *c == '*')
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
            .count();
        crate::redact::placeholder("string", len)
    }

    /// The root node of the first document; `None` for an empty stream.
    fn document(&mut self) -> Result<Option<Rc<YNode>>, String> {
        use saphyr_parser::Event;
        loop {
            match self.next()? {
                Event::StreamStart | Event::Nothing => {}
                Event::DocumentStart(_) => break,
                _ => return Ok(None),
            }
        }
        let ev = self.next()?;
        if matches!(ev, Event::DocumentEnd | Event::StreamEnd) {
            return Ok(None);
        }
        let root = self.node(ev)?;
        // yaml.v2 reads the document's end too: what follows the root node on its line (or a
        // line that cannot continue it) fails here, a next document is not read.
        self.next()?;
        Ok(Some(root))
    }

    fn node(&mut self, ev: saphyr_parser::Event<'a>) -> Result<Rc<YNode>, String> {
        use saphyr_parser::Event;
        if matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..)) {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("yaml: exceeded max depth of {MAX_DEPTH}"));
            }
        }
        let (node, anchor) = match ev {
            Event::Scalar(text, style, anchor, tag) => (
                YNode::Scalar {
                    text: text.into_owned(),
                    plain: style == saphyr_parser::ScalarStyle::Plain,
                    tag: tag.map(|t| short_tag(&t.handle, &t.suffix)),
                },
                anchor,
            ),
            Event::Alias(id) => {
                return Ok(Rc::new(match self.anchors.get(&id) {
                    Some(target) => YNode::Alias(target.clone()),
                    None => YNode::Cycle(self.alias_name(self.at)),
                }));
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Event::SequenceEnd => break,
                        Event::StreamEnd => return Err("yaml: unexpected end of stream".into()),
                        ev => items.push(self.node(ev)?),
                    }
                }
                (YNode::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut pairs = Vec::new();
                loop {
                    let k = match self.next()? {
                        Event::MappingEnd => break,
                        Event::StreamEnd => return Err("yaml: unexpected end of stream".into()),
                        ev => self.node(ev)?,
                    };
                    let ev = self.next()?;
                    let v = self.node(ev)?;
                    pairs.push((k, v));
                }
                (YNode::Map(pairs), anchor)
            }
            _ => return Err("yaml: did not find expected node content".into()),
        };
        if matches!(node, YNode::Seq(_) | YNode::Map(_)) {
            self.depth -= 1;
        }
        let node = Rc::new(node);
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

/// libyaml's wording of a saphyr-parser error and whether libyaml raises it in its parser (rather
/// than its scanner): the context ("while parsing a block mapping, ") is dropped as yaml.v2 drops
/// it, and the messages that differ are renamed.
fn libyaml_problem(info: &str) -> (bool, String) {
    let problem = match info.split_once(", ") {
        Some((context, p)) if context.starts_with("while ") => p,
        _ => info,
    };
    let problem = match problem {
        "simple key expect ':'" | "simple key expected" => "could not find expected ':'",
        "expected ',' or ']'" => "did not find expected ',' or ']'",
        "did not find expected hexadecimal number" => "did not find expected hexdecimal number",
        "the handle wasn't declared" => "found undefined tag handle",
        "found an invalid escape sequence" => "did not find URI escaped octet",
        "found an incorrect leading UTF-8 byte" => "found an incorrect leading UTF-8 octet",
        "found an incorrect trailing UTF-8 byte" => "found an incorrect trailing UTF-8 octet",
        // A `- ` in a flow collection: libyaml's scanner gives a block entry the parser refuses.
        "\"-\" is only valid inside a block" => "did not find expected node content",
        // yaml.v2 passes these through `fmt.Sprintf` as a format: `%Y` has no argument.
        "found duplicate %YAML directive" => "found duplicate %!Y(MISSING)AML directive",
        "found duplicate %TAG directive" => "found duplicate %!T(MISSING)AG directive",
        p => p,
    };
    let parser = matches!(
        problem,
        "did not find expected <document start>"
            | "did not find expected key"
            | "did not find expected '-' indicator"
            | "did not find expected ',' or ']'"
            | "did not find expected ',' or '}'"
            | "did not find expected node content"
            | "found undefined tag handle"
            | "found incompatible YAML document"
            | "found duplicate %!Y(MISSING)AML directive"
            | "found duplicate %!T(MISSING)AG directive"
    );
    (parser, problem.to_string())
}

/// `tag:yaml.org,2002:int` ⇒ `!!int` (yaml.v2's `shortTag`); local tags as written.
fn short_tag(handle: &str, suffix: &str) -> String {
    if handle == "tag:yaml.org,2002:" || handle == "!!" {
        format!("!!{suffix}")
    } else if let Some(rest) = suffix
        .strip_prefix("tag:yaml.org,2002:")
        .filter(|_| handle.is_empty())
    {
        // A verbatim tag (`!<tag:yaml.org,2002:int>`).
        format!("!!{rest}")
    } else if handle.is_empty() {
        suffix.to_string()
    } else {
        format!("{handle}{suffix}")
    }
}

struct Decoder {
    budget: usize,
}

impl Decoder {
    fn value(&mut self, n: &YNode) -> Result<Value, String> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or("yaml: document contains excessive aliasing")?;
        match n {
            YNode::Alias(target) => self.value(target),
            YNode::Cycle(name) => Err(format!("yaml: anchor {name} value contains itself")),
            YNode::Scalar { text, plain, tag } => decode_scalar(text, *plain, tag.as_deref()),
            YNode::Seq(items) => Ok(Value::list(
                items
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Result<_, _>>()?,
            )),
            YNode::Map(pairs) => {
                let mut entries = Entries::default();
                self.mapping(pairs, &mut entries)?;
                let mut entries = entries.pairs;
                entries.sort_by(|a, b| crate::value::any_map_order(&a.0, &b.0));
                Ok(Value::AnyMap(Arc::new(entries)))
            }
        }
    }

    /// A mapping's pairs in document order into `out`: later keys (and merged ones) overwrite.
    fn mapping(
        &mut self,
        pairs: &[(Rc<YNode>, Rc<YNode>)],
        out: &mut Entries,
    ) -> Result<(), String> {
        for (k, v) in pairs {
            if is_merge(k) {
                self.merge(v, out)?;
                continue;
            }
            let key = self.value(k)?;
            if matches!(
                key,
                Value::List(_)
                    | Value::AnyMap(_)
                    | Value::Map(_)
                    | Value::NilList
                    | Value::NilAnyList
            ) {
                return Err(format!(
                    "yaml: invalid map key: {}",
                    crate::redact::placeholder(key.type_name(), go_sharp_v(&key).len())
                ));
            }
            let val = self.value(v)?;
            out.insert(key, val);
        }
        Ok(())
    }

    /// `<<: *a`, `<<: {…}` or `<<: [*a, *b]` (the first listed wins, as in yaml.v2).
    fn merge(&mut self, n: &YNode, out: &mut Entries) -> Result<(), String> {
        const WANT_MAP: &str = "yaml: map merge requires map or sequence of maps as the value";
        match deref(n) {
            YNode::Map(pairs) => self.mapping(pairs, out),
            YNode::Seq(items) => {
                for item in items.iter().rev() {
                    match deref(item) {
                        YNode::Map(pairs) => self.mapping(pairs, out)?,
                        _ => return Err(WANT_MAP.into()),
                    }
                }
                Ok(())
            }
            _ => Err(WANT_MAP.into()),
        }
    }
}

fn deref(n: &YNode) -> &YNode {
    match n {
        YNode::Alias(t) => deref(t),
        other => other,
    }
}

fn is_merge(n: &YNode) -> bool {
    matches!(n, YNode::Scalar { text, plain, tag } if text == "<<"
        && ((*plain && tag.is_none()) || tag.as_deref() == Some("!!merge")))
}

/// A mapping's entries while it is decoded, with an index from each key as Go's map compares it
/// to its place, so a map of n keys is built in O(n) rather than by a scan per key.
#[derive(Default)]
struct Entries {
    pairs: Vec<(Value, Value)>,
    index: HashMap<KeyId, usize>,
}

/// A decoded key as Go's `==` on `interface {}` sees it ([`crate::value::same_key`]): its dynamic
/// type and value; `+0` and `-0` are one key, and a NaN is equal to nothing (no id).
#[derive(Hash, PartialEq, Eq)]
enum KeyId {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(u64),
    Str(Box<[u8]>),
}

impl KeyId {
    fn of(v: &Value) -> Option<KeyId> {
        Some(match v {
            Value::Nil => KeyId::Nil,
            Value::Bool(b) => KeyId::Bool(*b),
            Value::Int(i) => KeyId::Int(*i),
            Value::Uint(u) => KeyId::Uint(*u),
            Value::Float(f) if f.is_nan() => return None,
            Value::Float(f) => KeyId::Float(if *f == 0.0 { 0 } else { f.to_bits() }),
            Value::String(s) => KeyId::Str(s.as_bytes().into()),
            Value::Object(o) => KeyId::Str(o.go_string()?.1.into()),
            _ => return None,
        })
    }
}

impl Entries {
    /// A later key replaces an equal earlier one and its value.
    fn insert(&mut self, key: Value, val: Value) {
        let Some(id) = KeyId::of(&key) else {
            self.pairs.push((key, val));
            return;
        };
        match self.index.get(&id) {
            // Go's map stores the later key too (`-0` over `0`).
            Some(&at) => self.pairs[at] = (key, val),
            None => {
                self.index.insert(id, self.pairs.len());
                self.pairs.push((key, val));
            }
        }
    }
}

/// Go's `%#v` of a value yaml.v2 refuses as a map key.
fn go_sharp_v(v: &Value) -> String {
    match v {
        Value::Nil => "interface {}(nil)".into(),
        Value::String(s) => super::args::go_quote_str(s),
        Value::List(l) => format!(
            "[]interface {{}}{{{}}}",
            l.iter().map(go_sharp_v).collect::<Vec<_>>().join(", ")
        ),
        Value::AnyMap(m) => format!(
            "map[interface {{}}]interface {{}}{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}:{}", go_sharp_v(k), go_sharp_v(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.print(),
    }
}

/// One scalar as yaml.v2's `resolve`: untagged quoted ones are strings; a tag must agree with
/// what the text resolves to (`!!float` also takes an int), else `cannot decode !!X … as a !!T`.
fn decode_scalar(text: &str, plain: bool, tag: Option<&str>) -> Result<Value, String> {
    let tag = match tag {
        None if !plain => return Ok(Value::str(text)),
        None => "",
        Some("!") => return Ok(Value::str(text)),
        Some(t) => t,
    };
    match tag {
        "" | "!!str" | "!!bool" | "!!int" | "!!float" | "!!timestamp" | "!!null" => {}
        "!!binary" => {
            use base64::Engine as _;
            let clean: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            return base64::engine::general_purpose::STANDARD
                .decode(clean.as_bytes())
                // Bytes that are not UTF-8 stay bytes (a Go string holds any bytes).
                .map(crate::gostr::from_bytes)
                .map_err(|_| "yaml: !!binary value contains invalid base64 data".to_string());
        }
        // Any other tag (`!custom`, `!!map` on a scalar…): the text as a string.
        _ => return Ok(Value::str(text)),
    }
    if tag == "!!str" {
        return Ok(Value::str(text));
    }
    let (rtag, v) = resolve_typed(text);
    if tag.is_empty() || tag == rtag {
        return Ok(v);
    }
    if tag == "!!float"
        && rtag == "!!int"
        && let Value::Int(i) = v
    {
        return Ok(Value::Float(i as f64));
    }
    // Go quotes the text; it is part of the (maybe secret) input, so named by its length here.
    Err(format!(
        "yaml: cannot decode {rtag} {} as a {tag}",
        crate::redact::placeholder("string", text.len())
    ))
}

/// A plain scalar's yaml.v2 tag and value (timestamps stay strings in an `interface{}`).
fn resolve_typed(t: &str) -> (&'static str, Value) {
    match resolve_plain(t) {
        Value::Nil => ("!!null", Value::Nil),
        v @ Value::Bool(_) => ("!!bool", v),
        v @ (Value::Int(_) | Value::Uint(_)) => ("!!int", v),
        v @ Value::Float(_) => ("!!float", v),
        v if is_timestamp(t) => ("!!timestamp", v),
        v => ("!!str", v),
    }
}

fn resolve_plain(t: &str) -> Value {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => Value::Nil,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => Value::Float(f64::NAN),
        _ if is_timestamp(t) => Value::str(t),
        _ => scalar_kind(t).unwrap_or_else(|| Value::str(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::json;
    use super::*;
    use std::sync::Arc;

    fn y(text: &str) -> String {
        to_yaml(&json(text)).unwrap()
    }

    #[test]
    fn emits_like_yaml_v2() {
        let cfg = r#"{"db":{"host":"db.internal","port":5432,"opts":{"ssl":true,"timeout":"5s"},"replicas":["r1","r2"]},"feature_flags":[],"ratio":0.75,"note":null}"#;
        assert_eq!(
            y(cfg),
            "db:\n  host: db.internal\n  opts:\n    ssl: true\n    timeout: 5s\n  port: 5432\n  replicas:\n  - r1\n  - r2\nfeature_flags: []\nnote: null\nratio: 0.75"
        );
        assert_eq!(
            y(r#"{"big":12345678901234567890,"exp":1e3,"one":1.0}"#),
            "big: 1.2345678901234567e+19\nexp: 1000\none: 1"
        );
        assert_eq!(
            y(r#"{"empty":"","y":"y","n":"1","t":"true","o":"off","z":"~","m":"line1\nline2"}"#),
            "empty: \"\"\nm: |-\n  line1\n  line2\n\"n\": \"1\"\no: \"off\"\nt: \"true\"\n\"y\": \"y\"\nz: \"~\""
        );
        assert_eq!(
            y(r#"{"a":"x\n","b":"x\n\n","c":" lead\nx"}"#),
            "a: |\n  x\nb: |+\n  x\n\nc: |2-\n   lead\n  x"
        );
        assert_eq!(
            y(r##"{"s":" space","t":"trail ","c":"a: b","h":"#x","d":"- x","q":"it's"}"##),
            "c: 'a: b'\nd: '- x'\nh: '#x'\nq: it's\ns: ' space'\nt: 'trail '"
        );
        assert_eq!(
            y(r#"{"tab":"a\tb","ctl":"bell\u0007","nb":"a\u00a0b"}"#),
            "ctl: \"bell\\a\"\nnb: a\u{a0}b\ntab: \"a\\tb\""
        );
        assert_eq!(
            y(
                r#"{"ts":"2026-11-22T10:48:29.094194076Z","d":"2024-01-02","v":"1.2.3","x":"0x1F","b":"1:20"}"#
            ),
            "b: \"1:20\"\nd: \"2024-01-02\"\nts: \"2026-11-22T10:48:29.094194076Z\"\nv: 1.2.3\nx: \"0x1F\""
        );
        assert_eq!(
            y(r#"[{"name":"web","tags":["a"]},{"name":"db","tags":[]},[1,[2]],{}]"#),
            "- name: web\n  tags:\n  - a\n- name: db\n  tags: []\n- - 1\n  - - 2\n- {}"
        );
        assert_eq!(y(r#""x""#), "x");
        assert_eq!(y("{}"), "{}");
        assert_eq!(y("null"), "null");
    }

    #[test]
    fn keys_sort_naturally() {
        assert_eq!(
            y(
                r#"{"b":1,"a":2,"B":3,"A":4,"10":5,"9":6,"_u":7,"a-b":8,"a_b":9,"Z":11,"aa":12," space":13}"#
            ),
            "' space': 13\n_u: 7\n\"9\": 6\n\"10\": 5\nA: 4\nB: 3\nZ: 11\na: 2\na-b: 8\na_b: 9\naa: 12\nb: 1"
        );
    }

    #[test]
    fn long_plain_scalars_fold_at_80_columns() {
        let words = vec!["word"; 30].join(" ");
        let out = to_yaml(&Value::map(
            [("k".into(), Value::str(words.clone()))].into(),
        ))
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].len() > 80 && lines[0].len() <= 86, "{}", lines[0]);
        assert!(lines[1].starts_with("  word"));
        // Reading it back joins the lines with a space.
        assert_eq!(parse_yaml(&out).unwrap().print(), format!("map[k:{words}]"));
    }

    #[test]
    fn long_double_quoted_scalars_fold_too() {
        let text = format!("\t{}  end", vec!["word"; 25].join(" "));
        let out = to_yaml(&Value::map([("k".into(), Value::str(text.clone()))].into())).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("k: \"\\tword word"));
        assert!(lines[1].starts_with("  word"));
        assert_eq!(parse_yaml(&out).unwrap().print(), format!("map[k:{text}]"));
    }

    #[test]
    fn records_use_lowercase_field_names() {
        let r = Value::Record(Arc::new(crate::Record {
            type_name: "*dependency.Secret",
            fields: vec![
                ("RequestID", Value::str("r")),
                ("Auth", Value::NilPtr("*x")),
                ("Warnings", Value::NilList),
            ],
        }));
        assert_eq!(
            to_yaml(&r).unwrap(),
            "requestid: r\nauth: null\nwarnings: []"
        );
    }

    #[test]
    fn parses_common_yaml() {
        let v = parse_yaml("a: 1\nb: [x, y]\n").unwrap();
        assert_eq!(v.print(), "map[a:1 b:[x true]]");
        assert!(
            matches!(&v, Value::AnyMap(m) if matches!(&m[0], (Value::String(k), Value::Int(1)) if &**k == "a"))
        );
        let doc = "# comment\nname: app # trailing\nlist:\n- a\n- 'b c'\n- \"d\\te\"\nnested:\n  x: 1.5\n  yy: yes\n  z: ~\nitems:\n  - name: web\n    port: 80\n  - name: db\ntext: |\n  l1\n  l2\nfold: >-\n  a\n  b\nflow: {k: v, nn: 2}\n";
        assert_eq!(
            parse_yaml(doc).unwrap().print(),
            "map[flow:map[k:v nn:2] fold:a b items:[map[name:web port:80] map[name:db]] list:[a b c d\te] name:app nested:map[x:1.5 yy:true z:<nil>] text:l1\nl2\n]"
        );
        assert_eq!(
            parse_yaml("- 1\n- - 2\n  - 3\n").unwrap().print(),
            "[1 [2 3]]"
        );
        assert_eq!(parse_yaml("just text").unwrap().print(), "just text");
        assert!(parse_yaml("a: 1\n  b: 2\n").is_err());
    }

    #[test]
    fn odd_input_gives_errors_not_panics() {
        for text in [
            "-",
            "- ",
            ":",
            ": x",
            "a:",
            "a:\n",
            "- - -",
            "[",
            "{",
            "[a, {b: [c]}",
            "\"unterminated",
            "'x",
            "a: |",
            "a: >\n",
            "a: |2\n   x",
            "\t- x",
            "é: ü\n  ö",
            "- é\n  - x",
            "a: 'it''s'",
            "? complex",
            "a: [1, 2]]",
            "---\n...",
            "a:\n  - b\n c: d",
            "- a: 1\n  - b",
            "#only comment",
        ] {
            let _ = parse_yaml(text);
        }
        for text in [
            "",
            " ",
            "\u{85}x",
            "a\u{2028}b",
            "- ",
            "#",
            "'",
            "\"",
            "x\r\ny",
            "ü ",
            "\u{feff}",
        ] {
            let v = Value::map([(text.into(), Value::str(text))].into());
            let out = to_yaml(&v).unwrap();
            assert!(!out.is_empty());
        }
    }

    fn types(v: &Value) -> String {
        match v {
            Value::AnyMap(m) => m
                .iter()
                .map(|(k, v)| format!("{}:{}={}", k.type_name(), k.print(), v.print()))
                .collect::<Vec<_>>()
                .join(";"),
            Value::List(l) => l
                .iter()
                .map(|v| v.type_name())
                .collect::<Vec<_>>()
                .join(" "),
            other => other.type_name().to_string(),
        }
    }

    #[test]
    fn maps_have_typed_keys_in_go_order() {
        let v = parse_yaml(
            "1: one\ntrue: t\n1.5: f\n~: n\nb: s\n0x10: hex\n-3: neg\na: x\nfalse: ff\n2: two\n",
        )
        .unwrap();
        assert_eq!(v.type_name(), "map[interface {}]interface {}");
        // fmt and range: nil, strings, ints, floats, bools (each by value).
        assert_eq!(
            v.print(),
            "map[<nil>:false a:x b:s -3:neg 1:one 2:two 16:hex 1.5:f false:ff true:t]"
        );
        assert_eq!(
            types(&v),
            "<nil>:<nil>=false;string:a=x;string:b=s;int:-3=neg;int:1=one;int:2=two;int:16=hex;float64:1.5=f;bool:false=ff;bool:true=t"
        );
        // yaml.v2 writes them back numbers first (false = 0, true = 1), then null, then strings.
        assert_eq!(
            to_yaml(&v).unwrap(),
            "-3: neg\nfalse: ff\ntrue: t\n1: one\n1.5: f\n2: two\n16: hex\nnull: false\na: x\nb: s"
        );
        let big = parse_yaml("18446744073709551615: big\n1: x").unwrap();
        assert_eq!(big.print(), "map[18446744073709551615:big 1:x]");
        assert_eq!(
            parse_yaml("x: 1\nx: 2\ny: 3").unwrap().print(),
            "map[x:2 true:3]"
        );
    }

    #[test]
    fn input_that_is_not_utf8_fails_as_the_reader_says() {
        for (b, want) in [
            (&b"a: x\xffy"[..], Some("yaml: invalid leading UTF-8 octet")),
            (b"a: \xc3", Some("yaml: incomplete UTF-8 octet sequence")),
            (b"a: \xc3x", Some("yaml: invalid trailing UTF-8 octet")),
            (
                b"a: \xc0\x80",
                Some("yaml: invalid length of a UTF-8 sequence"),
            ),
            (b"a: \xed\xa0\x80", Some("yaml: invalid Unicode character")),
            (
                b"\x01 \xff",
                Some("yaml: control characters are not allowed"),
            ),
            (b"\xff \x01", Some("yaml: invalid leading UTF-8 octet")),
            (b"a: \xc3\xa9", None),
        ] {
            assert_eq!(reader_error(b), want, "{b:?}");
        }
        let le = |s: &str| {
            let mut b = vec![0xff, 0xfe];
            s.encode_utf16().for_each(|u| b.extend(u.to_le_bytes()));
            b
        };
        assert_eq!(utf16_text(&le("a: é😀")), Some(Ok("a: é😀".into())));
        assert_eq!(
            utf16_text(&[0xfe, 0xff, 0, b'a', 0, b':', 0, b' ', 0, b'1']),
            Some(Ok("a: 1".into()))
        );
        assert_eq!(
            utf16_text(&[0xff, 0xfe, b'a', 0, b'b']),
            Some(Err("yaml: incomplete UTF-16 character"))
        );
        assert_eq!(
            utf16_text(&[0xff, 0xfe, 0x00, 0xdc]),
            Some(Err("yaml: unexpected low surrogate area"))
        );
        assert_eq!(
            utf16_text(&[0xff, 0xfe, 0x3d, 0xd8, b'a', 0]),
            Some(Err("yaml: expected low surrogate area"))
        );
        assert_eq!(utf16_text(b"a: 1"), None);
    }

    #[test]
    fn equal_keys_are_one_entry_as_in_a_go_map() {
        let v = parse_yaml(
            "a: 1\n0.0: z\n-0.0: nz\n!!binary /w==: p\n!!binary /w==: q\n1: i\n\"1\": s\n.nan: 1\n.nan: 2\na: 3\n",
        )
        .unwrap();
        let Value::AnyMap(m) = &v else { panic!() };
        // a, 0 (-0), 0xff, 1, "1" and two NaNs.
        assert_eq!(m.len(), 7);
        let keys: Vec<String> = m
            .iter()
            .filter(|(k, _)| !matches!(k, Value::Float(f) if f.is_nan()))
            .map(|(k, v)| format!("{}:{}={}", k.type_name(), k.print(), v.print()))
            .collect();
        // The later of two equal keys stays, with its value; a byte key sorts among the strings.
        assert_eq!(
            keys,
            [
                "string:1=s",
                "string:a=3",
                "string:\u{fffd}=q",
                "int:1=i",
                "float64:-0=nz"
            ]
        );
    }

    #[test]
    fn scalars_resolve_as_yaml_v2() {
        let v = parse_yaml("[1, a, 2.5, ~, yes, 1:20, 2001-12-14, 0b101, 0o17, 017, 1_000, +12, .5, 1e3, 0x_1F, .inf, -.Inf, .nan, 9223372036854775808, -9223372036854775809, 1e400, '1', \"true\"]").unwrap();
        assert_eq!(
            v.print(),
            "[1 a 2.5 <nil> true 1:20 2001-12-14 5 15 15 1000 12 0.5 1000 31 +Inf -Inf NaN 9223372036854775808 -9.223372036854776e+18 1e400 1 true]"
        );
        assert_eq!(
            types(&v),
            "int string float64 <nil> bool string string int int int int int float64 float64 int float64 float64 float64 uint64 float64 string string string"
        );
        assert!(matches!(
            parse_yaml("# only a comment").unwrap(),
            Value::Nil
        ));
        assert_eq!(parse_yaml("a: 1\n---\nb: 2").unwrap().print(), "map[a:1]");
    }

    #[test]
    fn tags_decide_or_are_checked() {
        let v = parse_yaml("s: !!str 5\ni: !!int \"7\"\nf: !!float 1\nb: !!bool yes\nbin: !!binary aGVsbG8=\nc: !custom 5\nnl: !!null ~\ne: !!str\nt: !!timestamp 2001-12-14\nex: ! 5\n").unwrap();
        assert_eq!(
            types(&v),
            "string:b=true;string:bin=hello;string:c=5;string:e=;string:ex=5;string:f=1;string:i=7;string:nl=<nil>;string:s=5;string:t=2001-12-14"
        );
        let Value::AnyMap(m) = &v else { panic!() };
        let ty = |k: &str| {
            m.iter()
                .find(|(x, _)| x.print() == k)
                .unwrap()
                .1
                .type_name()
        };
        assert_eq!(
            (ty("s"), ty("i"), ty("f"), ty("b")),
            ("string", "int", "float64", "bool")
        );
        assert_eq!(
            parse_yaml("a: !!int abc").unwrap_err(),
            "yaml: cannot decode !!str <string, 3 bytes> as a !!int"
        );
        assert_eq!(
            parse_yaml("a: !!int 1.5").unwrap_err(),
            "yaml: cannot decode !!float <string, 3 bytes> as a !!int"
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let doc = "base: &b\n  x: 1\n  k: 2\nother: &o {z: 3, x: 9}\nm1:\n  <<: *b\n  k: 20\nm2:\n  k: 20\n  <<: *b\nm3:\n  <<: [*b, *o]\nm4:\n  <<: [*o, *b]\nlist: &l [1, 2]\ncopy: *l\ns: &s scal\ns2: *s\n";
        assert_eq!(
            parse_yaml(doc).unwrap().print(),
            "map[base:map[k:2 x:1] copy:[1 2] list:[1 2] m1:map[k:20 x:1] m2:map[k:2 x:1] m3:map[k:2 x:1 z:3] m4:map[k:2 x:9 z:3] other:map[x:9 z:3] s:scal s2:scal]"
        );
        assert_eq!(
            parse_yaml("a: *nope").unwrap_err(),
            "yaml: unknown anchor <string, 4 bytes> referenced"
        );
        assert_eq!(
            parse_yaml("a: {b: 1}\n<<: 5").unwrap_err(),
            "yaml: map merge requires map or sequence of maps as the value"
        );
        assert_eq!(
            parse_yaml("? [1, a]\n: x").unwrap_err(),
            "yaml: invalid map key: <[]interface {}, 22 bytes>"
        );
        // Aliases that multiply beyond reason are refused, not expanded.
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert_eq!(
            parse_yaml(&bomb).unwrap_err(),
            "yaml: document contains excessive aliasing"
        );
    }

    /// `printf "%#v"` of `parseYAML` of each input and the errors, as bao agent 2.7.2 rendered
    /// them: the corners where libyaml (yaml.v2) reads YAML otherwise than YAML 1.2 does.
    #[test]
    fn reads_what_yaml_v2_reads() {
        for (text, want) in [
            ("[a, -]", r#"[]interface {}{"a", "-"}"#),
            ("{a: -}", r#"map[interface {}]interface {}{"a":"-"}"#),
            ("[-, a]", r#"[]interface {}{"-", "a"}"#),
            (
                "{?}",
                r#"map[interface {}]interface {}{interface {}(nil):interface {}(nil)}"#,
            ),
            (
                "[?a]",
                r#"[]interface {}{map[interface {}]interface {}{"a":interface {}(nil)}}"#,
            ),
            ("[a:]", r#"[]interface {}{"a:"}"#),
            ("[a,#c\nb]", r#"[]interface {}{"a", "b"}"#),
            ("a:\tb", r#"map[interface {}]interface {}{"a":"b"}"#),
            (
                "a: |\n  \n  x",
                r#"map[interface {}]interface {}{"a":"\nx"}"#,
            ),
            ("--- |\n x", r#""x""#),
            ("a: | # c\n  x", r#"map[interface {}]interface {}{"a":"x"}"#),
            (
                "a: |\n  x\n   y",
                r#"map[interface {}]interface {}{"a":"x\n y"}"#,
            ),
            ("a: 'x'#c", r#"map[interface {}]interface {}{"a":"x"}"#),
            ("\"a\" b", r#""a""#),
            (
                "a: [\nb\n]",
                r#"map[interface {}]interface {}{"a":[]interface {}{"b"}}"#,
            ),
            (
                "a:\n  [b,\nc]",
                r#"map[interface {}]interface {}{"a":[]interface {}{"b", "c"}}"#,
            ),
            (
                "a: {\nb: c\n}",
                r#"map[interface {}]interface {}{"a":map[interface {}]interface {}{"b":"c"}}"#,
            ),
            (
                "a: \u{feff}b",
                r#"map[interface {}]interface {}{"a":"\ufeffb"}"#,
            ),
            ("---\n\u{feff}a", r#""\ufeffa""#),
            ("\u{feff}a: 1", r#"map[interface {}]interface {}{"a":1}"#),
            ("!<tag:yaml.org,2002:int> 1", r#"1"#),
            (
                "&a: x",
                r#"map[interface {}]interface {}{interface {}(nil):"x"}"#,
            ),
            (
                "{&a: b}",
                r#"map[interface {}]interface {}{interface {}(nil):"b"}"#,
            ),
            ("!a,b c", r#""c""#),
            ("a\n...\nb", r#""a""#),
            ("---\n...\n---\nb", r#"<nil>"#),
            (
                "%YAML 1.1\n---\na: 1",
                r#"map[interface {}]interface {}{"a":1}"#,
            ),
            (
                "a:\t\n  b: 1",
                r#"map[interface {}]interface {}{"a":map[interface {}]interface {}{"b":1}}"#,
            ),
            (
                "a: 'x\u{85}y'",
                r#"map[interface {}]interface {}{"a":"x y"}"#,
            ),
            (
                "a: |\n  x\u{85}  y\n",
                r#"map[interface {}]interface {}{"a":"x\ny\n"}"#,
            ),
            ("{}: v", r#"map[interface {}]interface {}{}"#),
            ("[]k: v", r#"[]interface {}{}"#),
            ("1 #c>\n  y", r#"1"#),
            ("|-\n- ", r#""""#),
            (
                "\n  ?",
                r#"map[interface {}]interface {}{interface {}(nil):interface {}(nil)}"#,
            ),
            ("a #c -\n  \"d\"a", r#""a""#),
            (
                "a: 'x\n  y'\nb: \"m\n\t l \\\n  e\"\n",
                r#"map[interface {}]interface {}{"a":"x y", "b":"m l e"}"#,
            ),
        ] {
            let v = parse_yaml(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let got = crate::printf::sprintf("%#v", &[v]).text;
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// LS (U+2028) and PS (U+2029) are line breaks as CR, LF and NEL are; a break that is content
    /// is `\n` for CR, LF, CR LF and NEL and itself for LS and PS, and only a `\n` folds. Outputs
    /// and errors as bao agent 2.7.2 rendered them (agent.md §4.4.1).
    #[test]
    fn unicode_line_breaks_as_yaml_v2() {
        let cases = [
            (
                "a: x\u{2028}b: c",
                r#"map[interface {}]interface {}{"a":"x", "b":"c"}"#,
            ),
            (
                "a: x\u{2028}  b",
                r#"map[interface {}]interface {}{"a":"x\u2028b"}"#,
            ),
            (
                "a: x\u{2028}\n  b",
                r#"map[interface {}]interface {}{"a":"x\u2028\nb"}"#,
            ),
            (
                "a: x\n\u{2028}  b",
                r#"map[interface {}]interface {}{"a":"x\u2028b"}"#,
            ),
            (
                "a: 'x\u{2028}  y'",
                r#"map[interface {}]interface {}{"a":"x\u2028y"}"#,
            ),
            (
                "a: \"x\\\u{2028}y\"",
                r#"map[interface {}]interface {}{"a":"xy"}"#,
            ),
            (
                "a: >\n  x\u{2029}\u{2029}  y\n",
                r#"map[interface {}]interface {}{"a":"x\u2029\u2029y\n"}"#,
            ),
            (
                "a: >\n  x\n\u{2029}  y\n",
                r#"map[interface {}]interface {}{"a":"x\u2029y\n"}"#,
            ),
            (
                "a: |\n  x\u{2028}",
                r#"map[interface {}]interface {}{"a":"x\u2028"}"#,
            ),
            (
                "a: |-\n  x\u{2028}",
                r#"map[interface {}]interface {}{"a":"x"}"#,
            ),
            ("[a\u{2028} b]", r#"[]interface {}{"a\u2028b"}"#),
            ("# c\u{2028}a: 1", r#"map[interface {}]interface {}{"a":1}"#),
            ("- a\u{2028}- b", r#"[]interface {}{"a", "b"}"#),
            ("---\u{2028}x", r#""x""#),
            // An LS line before the content, breaks after an LS in a folded block.
            (
                "a: |\n\u{2028}  x\n",
                r#"map[interface {}]interface {}{"a":"\u2028x\n"}"#,
            ),
            (
                "a: >\n  x\u{2028}\n\n  y\n",
                r#"map[interface {}]interface {}{"a":"x\u2028\n\ny\n"}"#,
            ),
            // NEL: CR NEL is two breaks (CR LF is one).
            (
                "a: \"x\\\r\u{85}y\"",
                r#"map[interface {}]interface {}{"a":"x\ny"}"#,
            ),
            ("a\r\u{85}b", r#""a\nb""#),
            ("a\u{2028}\u{85}b", r#""a\u2028\nb""#),
            (
                "a: |\n  x\r\u{85}  y",
                r#"map[interface {}]interface {}{"a":"x\n\ny"}"#,
            ),
        ];
        for (text, want) in cases {
            let v = parse_yaml(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let got = crate::printf::sprintf("%#v", &[v]).text;
            assert_eq!(got, want, "{text:?}");
        }
        for (text, want) in [
            ("a: x\u{2028}b", "yaml: line 3: could not find expected ':'"),
            (
                "\u{2028}\u{2028}\u{2028}a: b: c",
                "yaml: line 4: mapping values are not allowed in this context",
            ),
            (
                "a: b\u{2028}c: [d\u{2028}e",
                "yaml: line 3: did not find expected ',' or ']'",
            ),
            (
                "a: '\u{2028}\u{2028}\u{2028}",
                "yaml: line 4: found unexpected end of stream",
            ),
            (
                "a:\n  - x\u{2028} - y",
                "yaml: line 2: did not find expected key",
            ),
            // conformance yaml-v2-unicode-break-error
            (
                "a: 1\u{2028}b: [x\u{2029}y",
                "yaml: line 3: did not find expected ',' or ']'",
            ),
        ] {
            assert_eq!(parse_yaml(text).unwrap_err(), want, "{text:?}");
        }
    }

    #[test]
    fn fails_where_yaml_v2_fails_with_its_words() {
        for (text, want) in [
            (
                "a: b: c",
                r#"yaml: mapping values are not allowed in this context"#,
            ),
            (
                "a: 1\n  b: 2",
                r#"yaml: line 2: mapping values are not allowed in this context"#,
            ),
            (
                "a:\n  - b\n c: d",
                r#"yaml: line 2: did not find expected key"#,
            ),
            (
                "- a\nb: c",
                r#"yaml: line 1: did not find expected '-' indicator"#,
            ),
            (
                "a: [1, 2",
                r#"yaml: line 1: did not find expected ',' or ']'"#,
            ),
            (
                "a: {b: 1",
                r#"yaml: line 1: did not find expected ',' or '}'"#,
            ),
            ("[", r#"yaml: line 1: did not find expected node content"#),
            ("]", r#"yaml: did not find expected node content"#),
            ("a: [1, 2]]", r#"yaml: did not find expected key"#),
            ("x: y\nz", r#"yaml: line 3: could not find expected ':'"#),
            (
                "a\nb: c",
                r#"yaml: line 2: mapping values are not allowed in this context"#,
            ),
            (":", r#"yaml: did not find expected key"#),
            (": x", r#"yaml: did not find expected key"#),
            ("[ : x ]", r#"yaml: did not find expected node content"#),
            ("{: x}", r#"yaml: did not find expected node content"#),
            ("[?]", r#"yaml: line 1: did not find expected ',' or ']'"#),
            ("[a?b]", r#"yaml: did not find expected ',' or ']'"#),
            ("[- a]", r#"yaml: did not find expected node content"#),
            ("[:x]", r#"yaml: did not find expected node content"#),
            ("@a", r#"yaml: found character that cannot start any token"#),
            (
                "a: b\n@c",
                r#"yaml: line 2: found character that cannot start any token"#,
            ),
            (
                "\ta: b",
                r#"yaml: found character that cannot start any token"#,
            ),
            (
                "a:\n\tb: c",
                r#"yaml: line 2: found character that cannot start any token"#,
            ),
            (
                "a:\n  b: c\n\t",
                r#"yaml: line 3: found a tab character that violates indentation"#,
            ),
            (
                "a: |\n\tx",
                r#"yaml: line 2: found a tab character where an indentation space is expected"#,
            ),
            (
                "-\ta",
                r#"yaml: found character that cannot start any token"#,
            ),
            (
                "'a\n...\nb'",
                r#"yaml: line 2: found unexpected document indicator"#,
            ),
            (
                "a: \"b\nc",
                r#"yaml: line 2: found unexpected end of stream"#,
            ),
            ("\"\\q\"", r#"yaml: found unknown escape character"#),
            ("\"a\\/b\"", r#"yaml: found unknown escape character"#),
            (
                "\"\\x4\"",
                r#"yaml: did not find expected hexdecimal number"#,
            ),
            (
                "&a.b x",
                r#"yaml: did not find expected alphabetic or numeric character"#,
            ),
            (
                "a: *",
                r#"yaml: did not find expected alphabetic or numeric character"#,
            ),
            ("!<> x", r#"yaml: did not find expected tag URI"#),
            ("!e!x a", r#"yaml: found undefined tag handle"#),
            (
                "%YAML 1.2\n---\na: 1",
                r#"yaml: found incompatible YAML document"#,
            ),
            ("%FOO bar\n---\na", r#"yaml: found unknown directive name"#),
            (
                "%YAML 1.1\n%YAML 1.1\n---\na",
                r#"yaml: line 1: found duplicate %!Y(MISSING)AML directive"#,
            ),
            (
                "%TAG ! !foo\n%TAG ! !bar\n---\na",
                r#"yaml: line 1: found duplicate %!T(MISSING)AG directive"#,
            ),
            ("...", r#"yaml: did not find expected node content"#),
            (
                "--- a: b\n- c",
                r#"yaml: mapping values are not allowed in this context"#,
            ),
            ("a: \u{1}", r#"yaml: control characters are not allowed"#),
            ("a: |2\n x", r#"yaml: line 1: did not find expected key"#),
            (
                "a: |0\n x",
                r#"yaml: found an indentation indicator equal to 0"#,
            ),
            (
                "a: |x\n  y",
                r#"yaml: did not find expected comment or line break"#,
            ),
            ("a: \u{85}b", r#"yaml: line 3: could not find expected ':'"#),
            ("-   \n{", r#"yaml: line 3: could not find expected ':'"#),
            (
                ":&x k: v...\n!!str \n[",
                r#"yaml: line 3: could not find expected ':'"#,
            ),
            (
                "[\n  k2: v2#c}",
                r#"yaml: line 1: did not find expected ',' or ']'"#,
            ),
            (
                "'q'{- |-",
                r#"yaml: found character that cannot start any token"#,
            ),
            (
                "\n  k2: v2&x |-\n  'q'\n    ",
                r#"yaml: line 5: could not find expected ':'"#,
            ),
            (
                "{&x [*x: ? \n    ",
                r#"yaml: did not find expected node content"#,
            ),
            (
                "k: v---\n'q'  |-!t !!str ",
                r#"yaml: line 2: could not find expected ':'"#,
            ),
            (
                "[\n  k2: v2\t[\"d\"--  #c- ",
                r#"yaml: line 1: did not find expected ',' or ']'"#,
            ),
            (
                "%YA\"ML 1.1\n---\na",
                r#"yaml: found unexpected non-alphabetical character"#,
            ),
            (
                "%YAML 1.1\n%TAG ![e! tag:x,2000:\n---\na",
                r#"yaml: line 2: did not find expected whitespace"#,
            ),
            (
                "%YAML 1.1\n%TAG e! tag:x,2000:\n---\na",
                r#"yaml: line 2: did not find expected '!'"#,
            ),
            (
                "%TAG !e! tag:x,2000:\n---\nfoo: !e!ba} baz}",
                r#"yaml: line 3: did not find expected whitespace or line break"#,
            ),
            (
                "k: v\n%# c2\n",
                r#"yaml: line 2: could not find expected directive name"#,
            ),
        ] {
            assert_eq!(parse_yaml(text).unwrap_err(), want, "{text:?}");
        }
        // yaml.v2 reads the document's end, not the next document.
        assert_eq!(parse_yaml("a\n---\n[").unwrap().print(), "a");
        // A key of more than 1024 characters is no simple key (in flow context too).
        let k = "k".repeat(1024);
        assert!(parse_yaml(&format!("{k}: v")).is_ok());
        assert_eq!(
            parse_yaml(&format!("{k}k: v")).unwrap_err(),
            "yaml: mapping values are not allowed in this context"
        );
        assert_eq!(
            parse_yaml(&format!("[{k}k: v]")).unwrap_err(),
            "yaml: did not find expected ',' or ']'"
        );
        // Names of anchors are input: named by their length.
        assert_eq!(
            parse_yaml("&a [1, *a]").unwrap_err(),
            "yaml: anchor <string, 1 bytes> value contains itself"
        );
        assert_eq!(
            parse_yaml("{*ab: b}").unwrap_err(),
            "yaml: unknown anchor <string, 2 bytes> referenced"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}1", "- ".repeat(5000));
        assert_eq!(
            parse_yaml(&deep).unwrap_err(),
            "yaml: exceeded max depth of 512"
        );
        // Flow collections nest at most 255 deep in saphyr-parser.
        let flow = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert_eq!(
            parse_yaml(&flow).unwrap_err(),
            "yaml: exceeded max depth of 255"
        );
        let ok = format!("{}1{}", "[".repeat(255), "]".repeat(255));
        assert!(parse_yaml(&ok).is_ok());
        let over = format!("{}1{}", "[".repeat(256), "]".repeat(256));
        assert!(parse_yaml(&over).is_err());
        // Malformed input: the parser's error with yaml.v2's prefix.
        assert!(
            parse_yaml("a: [1, 2")
                .unwrap_err()
                .starts_with("yaml: line ")
        );
        assert!(parse_yaml("a: 1\n  b: 2\n").is_err());
    }

    #[test]
    fn keys_that_are_not_utf8_are_binary() {
        use crate::value::Key;
        let k = |b: &[u8]| Key::from_bytes(b.to_vec());
        let m = Value::map([(k(b"\xff"), Value::Int(1)), (k(b"a"), Value::Int(2))].into());
        assert_eq!(to_yaml(&m).unwrap(), "!!binary /w==: 1\na: 2");
        // 52 bytes and more: a literal block, which libyaml writes as a `?` key.
        let long = Value::map([(k(&[0xff; 60]), Value::str("v"))].into());
        let lines = format!("{}\n  {}", "/".repeat(70), "/".repeat(10));
        assert_eq!(
            to_yaml(&long).unwrap(),
            format!("? !!binary |\n  {lines}\n: v")
        );
        let nested = Value::map([(k(b"k"), long)].into());
        let lines = format!("{}\n    {}", "/".repeat(70), "/".repeat(10));
        assert_eq!(
            to_yaml(&nested).unwrap(),
            format!("k:\n  ? !!binary |\n    {lines}\n  : v")
        );
    }

    #[test]
    fn escapes_as_yaml_v2_in_every_unicode_range() {
        let m =
            |k: &str, v: &str| to_yaml(&Value::map([(k.into(), Value::str(v))].into())).unwrap();
        // Outside the BMP: not printable for yaml.v2, so \U escapes (and quotes).
        assert_eq!(
            m("astral", "😀 𝔘 x"),
            "astral: \"\\U0001F600 \\U0001D518 x\""
        );
        assert_eq!(m("key😀", "v"), "\"key\\U0001F600\": v");
        assert_eq!(m("nel", "a\u{85}b"), "nel: \"a\\Nb\"");
        assert_eq!(m("fffe", "a\u{fffe}b"), "fffe: \"a\\uFFFEb\"");
        assert_eq!(
            m("ctl", "\u{1}\u{7f}\u{80}\u{9f}"),
            "ctl: \"\\x01\\x7F\\x80\\x9F\""
        );
        // Printable BMP text stays plain, up to U+D7FF and from U+E000.
        assert_eq!(
            m("bmp", "é中\u{d7ff}\u{e000}\u{fffd}"),
            "bmp: é中\u{d7ff}\u{e000}\u{fffd}"
        );
        // A leading BOM makes yaml.v2 escape every character; elsewhere only the BOM.
        assert_eq!(
            m("bom", "\u{feff}a b\u{a0}é"),
            "bom: \"\\uFEFF\\x61\\x20\\x62\\_\\xE9\""
        );
        assert_eq!(m("k", "a\u{feff}b"), "k: \"a\\uFEFFb\"");
        // U+2028 is a line break: single quotes, the break written raw, the rest indented.
        assert_eq!(
            m("ls", "a\u{2028}b\u{2029}c d"),
            "ls: 'a\u{2028}  b\u{2029}  c d'"
        );
    }

    #[test]
    fn round_trips_through_the_emitter() {
        let v = json(r#"{"a":{"b":["x","1",{"c":"multi\nline"}]},"n":null,"e":{},"t":"true"}"#);
        let text = to_yaml(&v).unwrap();
        let back = parse_yaml(&text).unwrap();
        assert_eq!(back.print(), v.print());
    }
}
