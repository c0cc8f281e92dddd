//! YAML for `toYAML` and `parseYAML`: an emitter reproducing gopkg.in/yaml.v2 (libyaml's rules:
//! natural key order, plain/quoted/literal style choice, folding of long plain scalars at 80
//! columns) and a parser for the block/flow subset templates feed to `parseYAML`.

use std::collections::BTreeMap;

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
        other => e.scalar_or_empty(other, 0),
    }
    Ok(e.out.trim().to_string())
}

/// What yaml.v2 sees: mappings keep their emission order (sorted for Go maps, declared for structs).
enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    /// A plain-resolving token: numbers, bools, null.
    Raw(String),
    Str(String),
}

impl Node {
    fn from_value(v: &Value) -> Result<Node, String> {
        Ok(match v {
            Value::Nil | Value::NilPtr(_) => Node::Raw("null".into()),
            Value::Bool(b) => Node::Raw(b.to_string()),
            Value::Int(i) => Node::Raw(i.to_string()),
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
            Value::NilList => Node::Seq(Vec::new()),
            Value::List(l) | Value::Strings(l) => {
                Node::Seq(l.iter().map(Node::from_value).collect::<Result<_, _>>()?)
            }
            Value::Map(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| natural_cmp(a, b));
                Node::Map(
                    keys.into_iter()
                        .map(|k| Ok((k.clone(), Node::from_value(&m[k])?)))
                        .collect::<Result<_, String>>()?,
                )
            }
            Value::Record(r) => Node::Map(
                r.fields
                    .iter()
                    .map(|(n, v)| Ok((n.to_lowercase(), Node::from_value(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Object(o) => match o.type_name() {
                "dependency.PemEncoded" => Node::Map(
                    ["Cert", "Key", "CA", "CAChain"]
                        .iter()
                        .map(|n| {
                            Ok((
                                n.to_lowercase(),
                                Node::from_value(&o.field(n).unwrap_or(Value::Nil))?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                ),
                // A time is written as a plain timestamp, a version as its text (a string).
                "time.Time" => Node::Raw(super::serialize::marshal_text(o.as_ref())),
                "*semver.Version" => Node::from_value(&Value::str(o.print()))?,
                // A string that is not UTF-8 (`crate::gostr`): yaml.v2 writes its base64 with the
                // `!!binary` tag; past 51 bytes it breaks the base64 into a block, not done here.
                "string" => match o.go_string() {
                    Some((_, b)) if b.len() <= 51 => {
                        Node::Raw(format!("!!binary {}", super::encoding::b64enc(false, b)))
                    }
                    _ => {
                        return Err(
                            "cannot marshal a string of more than 51 bytes that is not UTF-8"
                                .into(),
                        );
                    }
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
    fn column(&self) -> usize {
        let line = self.out.rsplit('\n').next().unwrap_or("");
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

    fn map(&mut self, m: &[(String, Node)], indent: usize) {
        for (idx, (k, v)) in m.iter().enumerate() {
            if idx > 0 || !self.out.is_empty() && !self.out.ends_with("- ") {
                self.line(indent);
            }
            self.string(k, indent + 2, true);
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

    /// Writes a plain or single-quoted body, breaking at a space once past the line width.
    fn folded(&mut self, s: &str, indent: usize, allow_breaks: bool, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
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
    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.out.push('"');
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            let code = c as u32;
            if !printable(c) || code == 0xFEFF || is_break(c) || c == '"' || c == '\\' {
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

fn printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
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
// Parser
// ----------------------------------------------------------------------------------------------

/// Parses YAML (block mappings/sequences, flow collections, plain/quoted scalars, literal and
/// folded blocks, comments) into template values as yaml.v2 decodes into `interface{}`.
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let lines: Vec<Line> = text
        .split('\n')
        .enumerate()
        .map(|(n, raw)| Line {
            no: n + 1,
            raw: raw.trim_end_matches('\r').to_string(),
        })
        .collect();
    let mut p = Parser { lines, pos: 0 };
    p.skip_blank();
    if p.pos >= p.lines.len() {
        return Ok(Value::Nil);
    }
    if p.lines[p.pos].content().trim() == "---" {
        p.pos += 1;
        p.skip_blank();
    }
    if p.pos >= p.lines.len() {
        return Ok(Value::Nil);
    }
    let indent = p.lines[p.pos].indent();
    let v = p.block(indent)?;
    p.skip_blank();
    if p.pos < p.lines.len() && p.lines[p.pos].content().trim() != "..." {
        return Err(format!(
            "yaml: line {}: did not find expected key",
            p.lines[p.pos].no
        ));
    }
    Ok(v)
}

struct Line {
    no: usize,
    raw: String,
}

impl Line {
    fn indent(&self) -> usize {
        self.raw.len() - self.raw.trim_start_matches(' ').len()
    }
    /// The line without its comment.
    fn content(&self) -> &str {
        strip_comment(&self.raw)
    }
    fn blank(&self) -> bool {
        self.content().trim().is_empty()
    }
}

fn strip_comment(s: &str) -> &str {
    let b = s.as_bytes();
    let (mut sq, mut dq) = (false, false);
    for i in 0..b.len() {
        match b[i] {
            b'\'' if !dq => sq = !sq,
            b'"' if !sq && (i == 0 || b[i - 1] != b'\\') => dq = !dq,
            b'#' if !sq && !dq && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') => {
                return &s[..i];
            }
            _ => {}
        }
    }
    s
}

struct Parser {
    lines: Vec<Line>,
    pos: usize,
}

impl Parser {
    fn skip_blank(&mut self) {
        while self.pos < self.lines.len() && self.lines[self.pos].blank() {
            self.pos += 1;
        }
    }

    fn err(&self, msg: &str) -> String {
        let no = self.lines.get(self.pos).map_or(self.lines.len(), |l| l.no);
        format!("yaml: line {no}: {msg}")
    }

    /// A block node whose lines start at column `indent`.
    fn block(&mut self, indent: usize) -> Result<Value, String> {
        self.skip_blank();
        let Some(line) = self.lines.get(self.pos) else {
            return Ok(Value::Nil);
        };
        let text = line.content()[indent.min(line.content().len())..]
            .trim_end()
            .to_string();
        if text == "-" || text.starts_with("- ") {
            self.seq(indent)
        } else if split_key(&text).is_some() {
            self.map(indent)
        } else {
            // A multi-line plain scalar at this level.
            let mut parts = vec![text.trim().to_string()];
            self.pos += 1;
            while self.pos < self.lines.len()
                && !self.lines[self.pos].blank()
                && self.lines[self.pos].indent() >= indent
            {
                parts.push(self.lines[self.pos].content().trim().to_string());
                self.pos += 1;
            }
            scalar(&parts.join(" "))
        }
    }

    fn seq(&mut self, indent: usize) -> Result<Value, String> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            let Some(line) = self.lines.get(self.pos) else {
                break;
            };
            if line.indent() != indent {
                if line.indent() > indent {
                    return Err(self.err("did not find expected '-' indicator"));
                }
                break;
            }
            let text = line.content()[indent..].trim_end().to_string();
            if !(text == "-" || text.starts_with("- ")) {
                break;
            }
            let rest = text[1..].trim_start();
            if rest.is_empty() {
                self.pos += 1;
                self.skip_blank();
                let child_indent = self.lines.get(self.pos).map_or(0, |l| l.indent());
                if self.pos < self.lines.len() && child_indent > indent {
                    items.push(self.block(child_indent)?);
                } else {
                    items.push(Value::Nil);
                }
                continue;
            }
            // The item's content starts on this line at a deeper column.
            let col = indent + (text.len() - rest.len());
            if rest.starts_with("- ") || rest == "-" || split_key(rest).is_some() {
                // Re-read this line as if it were indented to `col`.
                // (the line number stays the same for errors).
                let line = &mut self.lines[self.pos];
                line.raw = format!("{}{}", " ".repeat(col), &line.raw[col..]);
                items.push(self.block(col)?);
            } else {
                self.pos += 1;
                items.push(self.inline_value(rest, indent)?);
            }
        }
        Ok(Value::list(items))
    }

    fn map(&mut self, indent: usize) -> Result<Value, String> {
        let mut m = BTreeMap::new();
        loop {
            self.skip_blank();
            let Some(line) = self.lines.get(self.pos) else {
                break;
            };
            if line.indent() != indent {
                if line.indent() > indent {
                    return Err(self.err("mapping values are not allowed in this context"));
                }
                break;
            }
            let text = line.content()[indent..].trim_end().to_string();
            let Some((k, rest)) = split_key(&text) else {
                break;
            };
            let key = key_string(&scalar(k.trim())?);
            self.pos += 1;
            let rest = rest.trim();
            let v = if rest.is_empty() {
                self.skip_blank();
                match self.lines.get(self.pos) {
                    Some(l) if l.indent() > indent => {
                        let ci = l.indent();
                        self.block(ci)?
                    }
                    // An indentless sequence as the value.
                    Some(l)
                        if l.indent() == indent && {
                            let t = &l.content()[indent..];
                            t.trim_end() == "-" || t.starts_with("- ")
                        } =>
                    {
                        self.seq(indent)?
                    }
                    _ => Value::Nil,
                }
            } else {
                self.inline_value(rest, indent)?
            };
            m.insert(key, v);
        }
        Ok(Value::map(m))
    }

    /// A value written after `key:` or `- ` on the same line (flow, quoted, block scalar, plain).
    fn inline_value(&mut self, rest: &str, parent_indent: usize) -> Result<Value, String> {
        if rest.starts_with('|') || rest.starts_with('>') {
            return self.block_scalar(rest, parent_indent);
        }
        if rest.starts_with('[') || rest.starts_with('{') {
            let mut text = rest.to_string();
            while !flow_balanced(&text) && self.pos < self.lines.len() {
                text.push(' ');
                text.push_str(self.lines[self.pos].content().trim());
                self.pos += 1;
            }
            let mut fp = FlowParser {
                s: text.as_bytes(),
                i: 0,
            };
            let v = fp.value()?;
            fp.ws();
            if fp.i != fp.s.len() {
                return Err(self.err("did not find expected node content"));
            }
            return Ok(v);
        }
        // Plain or quoted, possibly continued on deeper lines.
        let mut text = rest.to_string();
        while self.pos < self.lines.len()
            && !self.lines[self.pos].blank()
            && self.lines[self.pos].indent() > parent_indent
        {
            let more = self.lines[self.pos].content().trim().to_string();
            if split_key(&more).is_some() {
                return Err(self.err("mapping values are not allowed in this context"));
            }
            text.push(' ');
            text.push_str(&more);
            self.pos += 1;
        }
        scalar(&text)
    }

    fn block_scalar(&mut self, header: &str, parent_indent: usize) -> Result<Value, String> {
        let folded = header.starts_with('>');
        let chomp = if header.contains('-') {
            '-'
        } else if header.contains('+') {
            '+'
        } else {
            ' '
        };
        let explicit: Option<usize> = header
            .chars()
            .find(|c| c.is_ascii_digit())
            .and_then(|c| c.to_digit(10))
            .map(|d| d as usize);
        let mut body: Vec<String> = Vec::new();
        let mut indent: Option<usize> = explicit.map(|d| parent_indent + d);
        while self.pos < self.lines.len() {
            let raw = self.lines[self.pos].raw.clone();
            if raw.trim().is_empty() {
                body.push(String::new());
                self.pos += 1;
                continue;
            }
            let ind = raw.len() - raw.trim_start_matches(' ').len();
            let want = *indent.get_or_insert(ind);
            if ind < want || ind <= parent_indent {
                break;
            }
            body.push(raw[want..].to_string());
            self.pos += 1;
        }
        let trailing = body.iter().rev().take_while(|l| l.is_empty()).count();
        let content = &body[..body.len() - trailing];
        let mut text = if folded {
            let mut out = String::new();
            for (i, l) in content.iter().enumerate() {
                if i > 0 {
                    let prev = &content[i - 1];
                    if l.is_empty()
                        || prev.is_empty()
                        || l.starts_with(' ')
                        || prev.starts_with(' ')
                    {
                        out.push('\n');
                    } else {
                        out.push(' ');
                    }
                }
                out.push_str(l);
            }
            out
        } else {
            content.join("\n")
        };
        match chomp {
            '-' => {}
            '+' => {
                if !content.is_empty() {
                    text.push('\n');
                }
                text.push_str(&"\n".repeat(trailing));
            }
            _ => {
                if !content.is_empty() {
                    text.push('\n');
                }
            }
        }
        Ok(Value::str(text))
    }
}

/// `key: rest` or `key:` at the start of a line (the key may be quoted).
fn split_key(text: &str) -> Option<(&str, &str)> {
    let b = text.as_bytes();
    let end_of_key = if matches!(b.first(), Some(b'"' | b'\'')) {
        let q = b[0];
        let mut i = 1;
        while i < b.len() {
            if b[i] == q {
                if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            if q == b'"' && b[i] == b'\\' {
                i += 1;
            }
            i += 1;
        }
        i + 1
    } else {
        0
    };
    if matches!(b.first(), Some(b'[' | b'{' | b'-')) && end_of_key == 0 && !text.starts_with("-:") {
        if b.first() == Some(&b'-') && !(text == "-" || text.starts_with("- ")) {
            // "-foo: x" is a key.
        } else {
            return None;
        }
    }
    let mut i = end_of_key.min(b.len());
    while i < b.len() {
        if b[i] == b':' && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t') {
            return Some((&text[..i], &text[i + 1..]));
        }
        i += 1;
    }
    None
}

fn key_string(v: &Value) -> String {
    match v {
        Value::Nil => "<nil>".into(),
        other => other.print(),
    }
}

fn flow_balanced(s: &str) -> bool {
    let (mut depth, mut sq, mut dq) = (0i32, false, false);
    let b = s.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'\'' if !dq => sq = !sq,
            b'"' if !sq && (i == 0 || b[i - 1] != b'\\') => dq = !dq,
            b'[' | b'{' if !sq && !dq => depth += 1,
            b']' | b'}' if !sq && !dq => depth -= 1,
            _ => {}
        }
    }
    depth <= 0
}

/// A complete scalar token (plain or quoted) ⇒ value with yaml.v2's resolution.
fn scalar(t: &str) -> Result<Value, String> {
    let t = t.trim();
    if let Some(body) = t.strip_prefix('"') {
        let body = body
            .strip_suffix('"')
            .ok_or("yaml: found unexpected end of stream")?;
        return Ok(Value::str(unescape_double(body)?));
    }
    if let Some(body) = t.strip_prefix('\'') {
        let body = body
            .strip_suffix('\'')
            .ok_or("yaml: found unexpected end of stream")?;
        return Ok(Value::str(body.replace("''", "'")));
    }
    Ok(resolve_plain(t))
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
        _ => scalar_kind(t).unwrap_or_else(|| Value::str(t)),
    }
}

fn unescape_double(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next().ok_or("yaml: found unknown escape character")?;
        let hex = |it: &mut std::str::Chars<'_>, n: usize| -> Result<char, String> {
            let h: String = it.take(n).collect();
            u32::from_str_radix(&h, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| "yaml: did not find expected hexdecimal number".to_string())
        };
        out.push(match e {
            '0' => '\0',
            'a' => '\u{7}',
            'b' => '\u{8}',
            't' | '\t' => '\t',
            'n' => '\n',
            'v' => '\u{b}',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            'x' => hex(&mut it, 2)?,
            'u' => hex(&mut it, 4)?,
            'U' => hex(&mut it, 8)?,
            _ => return Err("yaml: found unknown escape character".into()),
        });
    }
    Ok(out)
}

struct FlowParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl FlowParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::list(items));
                    }
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err("yaml: did not find expected ',' or ']'".into()),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut m = BTreeMap::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::map(m));
                    }
                    let k = self.token(true)?;
                    self.ws();
                    let v = if self.s.get(self.i) == Some(&b':') {
                        self.i += 1;
                        self.value()?
                    } else {
                        Value::Nil
                    };
                    m.insert(key_string(&k), v);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err("yaml: did not find expected ',' or '}'".into()),
                    }
                }
            }
            _ => self.token(false),
        }
    }

    fn token(&mut self, key: bool) -> Result<Value, String> {
        self.ws();
        let start = self.i;
        match self.s.get(self.i) {
            Some(q @ (b'"' | b'\'')) => {
                let q = *q;
                self.i += 1;
                while self.i < self.s.len() {
                    if self.s[self.i] == b'\\' && q == b'"' {
                        self.i += 2;
                        continue;
                    }
                    if self.s[self.i] == q {
                        if q == b'\'' && self.s.get(self.i + 1) == Some(&b'\'') {
                            self.i += 2;
                            continue;
                        }
                        break;
                    }
                    self.i += 1;
                }
                self.i += 1;
            }
            _ => {
                while self.i < self.s.len() {
                    let c = self.s[self.i];
                    if matches!(c, b',' | b']' | b'}')
                        || (c == b':'
                            && (key || matches!(self.s.get(self.i + 1), Some(b' ') | None)))
                    {
                        break;
                    }
                    self.i += 1;
                }
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i.min(self.s.len())])
            .map_err(|e| e.to_string())?;
        scalar(text)
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
            [("k".to_string(), Value::str(words.clone()))].into(),
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
        let out = to_yaml(&Value::map(
            [("k".to_string(), Value::str(text.clone()))].into(),
        ))
        .unwrap();
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
        assert!(matches!(&v, Value::Map(m) if matches!(m["a"], Value::Int(1))));
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
            let v = Value::map([(text.to_string(), Value::str(text))].into());
            let out = to_yaml(&v).unwrap();
            assert!(!out.is_empty());
        }
    }

    #[test]
    fn round_trips_through_the_emitter() {
        let v = json(r#"{"a":{"b":["x","1",{"c":"multi\nline"}]},"n":null,"e":{},"t":"true"}"#);
        let text = to_yaml(&v).unwrap();
        let back = parse_yaml(&text).unwrap();
        assert_eq!(back.print(), v.print());
    }
}
