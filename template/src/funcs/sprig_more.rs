//! The rest of Sprig v3's deterministic functions under the `sprig_` prefix (agent.md §4.5.1): the
//! float family (`addf` … `minf`, computed in decimal as Sprig does), `toDecimal`, `abbrevboth`,
//! the case converters (`swapcase`, `camelcase`, `snakecase`, `kebabcase`), `wrap`/`wrapWith`,
//! `urlParse`/`urlJoin` (Go's `net/url` rules), `semver` (a version object with Go's methods),
//! `decryptAES` and `hello` (and, from [`sprig_crypto`](super::sprig_crypto), `derivePassword` and
//! `buildCustomCert`); its tests hold the table of every Sprig name (present, or absent and
//! why).
//!
//! [`sprig`](super::sprig) owns the older part of the library and asks this module for the names
//! it does not know.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::args;
use super::sprig::to_f64;
use crate::gostr::{self, Key};
use crate::{CallEnv, Func, Object, Value};

pub(super) fn lookup(short: &str) -> Option<Func> {
    Some(match short {
        "hello" => hello,
        "addf" => addf,
        "add1f" => add1f,
        "subf" => subf,
        "mulf" => mulf,
        "divf" => divf,
        "maxf" => maxf,
        "minf" => minf,
        "toDecimal" => to_decimal,
        "abbrevboth" => abbrevboth,
        "swapcase" => swapcase,
        "camelcase" => camelcase,
        "snakecase" => snakecase,
        "kebabcase" => kebabcase,
        "wrap" => wrap,
        "wrapWith" => wrap_with,
        "urlParse" => url_parse,
        "urlJoin" => url_join,
        "semver" => semver,
        "decryptAES" => decrypt_aes,
        "derivePassword" => super::sprig_crypto::derive_password,
        "buildCustomCert" => super::sprig_crypto::build_custom_cert,
        _ => return super::sprig_time::lookup(short),
    })
}

fn n_args<'a>(name: &str, a: &'a [Value], n: usize) -> Result<&'a [Value], String> {
    args::arity(&format!("sprig_{name}"), a, n)?;
    Ok(a)
}

fn hello(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    n_args("hello", a, 0)?;
    Ok(Value::str("Hello!"))
}

// ----------------------------------------------------------------------------------------------
// Floats: Sprig converts each operand with `toFloat64`, takes its shortest decimal form, computes
// exactly in decimal (division rounds half away from zero at 16 places) and converts back.
// ----------------------------------------------------------------------------------------------

/// `m × 10^e`, exact while the mantissa fits; [`Dec::op`] falls back to binary floats beyond.
#[derive(Clone, Copy, Debug)]
struct Dec {
    m: i128,
    e: i32,
}

impl Dec {
    /// The shortest decimal that reads back as `f` (Go's `decimal.NewFromFloat`).
    fn from_f64(f: f64) -> Result<Dec, String> {
        if !f.is_finite() {
            return Err(format!(
                "Cannot create a Decimal from {}",
                crate::value::format_float_g(f)
            ));
        }
        if f == 0.0 {
            return Ok(Dec { m: 0, e: 0 });
        }
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let m: i128 = format!("{int}{frac}").parse().unwrap_or(0);
        Ok(Dec {
            m,
            e: exp - frac.len() as i32,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.m, self.e).parse().unwrap_or(0.0)
    }

    /// `self` with exponent `e` (≤ its own), if the mantissa fits.
    fn rescale(self, e: i32) -> Option<i128> {
        let k = u32::try_from(self.e - e).ok()?;
        10i128.checked_pow(k)?.checked_mul(self.m)
    }

    fn add(self, o: Dec) -> Option<Dec> {
        let e = self.e.min(o.e);
        Some(Dec {
            m: self.rescale(e)?.checked_add(o.rescale(e)?)?,
            e,
        })
    }

    fn mul(self, o: Dec) -> Option<Dec> {
        Some(Dec {
            m: self.m.checked_mul(o.m)?,
            e: self.e.checked_add(o.e)?,
        })
    }

    /// Quotient rounded half away from zero to 16 decimal places.
    fn div(self, o: Dec) -> Option<Dec> {
        const PLACES: i32 = 16;
        let k = self.e - o.e + PLACES;
        let (num, den) = if k >= 0 {
            (self.rescale(self.e - k)?, o.m)
        } else {
            (self.m, o.rescale(o.e + k)?)
        };
        let (q, r) = (num / den, num % den);
        let q = if r.unsigned_abs().checked_mul(2)? >= den.unsigned_abs() {
            q + if (num < 0) != (den < 0) { -1 } else { 1 }
        } else {
            q
        };
        Some(Dec { m: q, e: -PLACES })
    }
}

#[derive(Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

/// Sprig's `execDecimalOp`: folds `rest` into `first` with `op`.
fn decimal_fold(first: &Value, rest: &[Value], op: Op) -> Result<Value, String> {
    let mut acc = Dec::from_f64(to_f64(first))?;
    for x in rest {
        let d = Dec::from_f64(to_f64(x))?;
        let exact = match op {
            Op::Add => acc.add(d),
            Op::Sub => acc.add(Dec { m: -d.m, e: d.e }),
            Op::Mul => acc.mul(d),
            Op::Div => {
                if d.m == 0 {
                    return Err("decimal division by 0".into());
                }
                acc.div(d)
            }
        };
        acc = match exact {
            Some(v) => v,
            // Beyond 38 digits: binary floating point, which agrees but in the last place.
            None => {
                let (p, q) = (acc.to_f64(), d.to_f64());
                let f = match op {
                    Op::Add => p + q,
                    Op::Sub => p - q,
                    Op::Mul => p * q,
                    Op::Div => p / q,
                };
                if !f.is_finite() {
                    return Ok(Value::Float(f));
                }
                Dec::from_f64(f)?
            }
        };
    }
    Ok(Value::Float(acc.to_f64()))
}

fn addf(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    decimal_fold(&Value::Float(0.0), a, Op::Add)
}

fn add1f(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let a = n_args("add1f", a, 1)?;
    decimal_fold(&a[0], &[Value::Int(1)], Op::Add)
}

fn subf(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::at_least("sprig_subf", a, 1)?;
    decimal_fold(&a[0], &a[1..], Op::Sub)
}

fn mulf(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::at_least("sprig_mulf", a, 1)?;
    decimal_fold(&a[0], &a[1..], Op::Mul)
}

fn divf(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::at_least("sprig_divf", a, 1)?;
    decimal_fold(&a[0], &a[1..], Op::Div)
}

/// Go's `math.Max`/`math.Min`: NaN wins, and `+0` is above `-0`.
fn go_extreme(a: f64, b: f64, max: bool) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        let neg = if max {
            a.is_sign_negative() && b.is_sign_negative()
        } else {
            a.is_sign_negative() || b.is_sign_negative()
        };
        return if neg { -0.0 } else { 0.0 };
    }
    if (a > b) == max { a } else { b }
}

fn fold_extreme(name: &str, a: &[Value], max: bool) -> Result<Value, String> {
    args::at_least(&format!("sprig_{name}"), a, 1)?;
    let f = a[1..]
        .iter()
        .fold(to_f64(&a[0]), |acc, x| go_extreme(acc, to_f64(x), max));
    Ok(Value::Float(f))
}

fn maxf(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    fold_extreme("maxf", a, true)
}

fn minf(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    fold_extreme("minf", a, false)
}

/// `toDecimal`: the `%v` text of the value read as an octal number; 0 when it is not one.
fn to_decimal(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let v = &n_args("toDecimal", a, 1)?[0];
    let text = v.print();
    let n = vaultlet_shared::go::strconv::parse_int(&text, 8).unwrap_or(0);
    Ok(Value::Int64(n))
}

// ----------------------------------------------------------------------------------------------
// Strings
// ----------------------------------------------------------------------------------------------

/// Apache-commons style abbreviation with a left offset; byte offsets, as Go slices strings, so
/// a multibyte character may be cut (the result is then not UTF-8, `crate::gostr`).
fn abbreviate_full(b: &[u8], offset: i64, width: i64) -> Vec<u8> {
    let len = b.len() as i64;
    if b.is_empty() || len <= width {
        return b.to_vec();
    }
    let keep = width - 3;
    let mut offset = offset.min(len);
    if len - offset < keep {
        offset = len - keep;
    }
    let cat = |a: &[u8], z: &[u8]| [a, z].concat();
    if offset <= 4 {
        return cat(&b[..keep as usize], b"...");
    }
    if width < 7 {
        // goutils returns an error here, which Sprig drops.
        return Vec::new();
    }
    if offset + keep < len {
        return cat(b"...", &abbreviate_full(&b[offset as usize..], 0, keep));
    }
    cat(b"...", &b[(len - keep) as usize..])
}

fn abbrevboth(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let a = n_args("abbrevboth", a, 3)?;
    let (left, right, s) = (
        args::int(&a[0])?,
        args::int(&a[1])?,
        args::string_bytes(&a[2])?,
    );
    if right < 4 || (left > 0 && right < 7) {
        return Ok(a[2].clone());
    }
    Ok(crate::gostr::from_bytes(abbreviate_full(s, left, right)))
}

/// Go's `unicode.IsTitle` (category Lt).
fn is_title(c: char) -> bool {
    matches!(c as u32, 0x01C5 | 0x01C8 | 0x01CB | 0x01F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F
        | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Go's `unicode.ToLower`: one rune (`İ` lowers to `i`, where Unicode's full mapping adds a dot).
fn lower_char(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn upper_char(c: char) -> char {
    super::strings::simple_upper(c)
}

/// Go's `unicode.ToTitle`: the upper case, except for the Latin digraphs (`ǆ` ⇒ `ǅ`).
fn title_char(c: char) -> char {
    super::strings::simple_title(c)
}

/// Letters Unicode counts as upper or lower case that are not in Go's `Lu`/`Ll` (the
/// Other_Uppercase/Other_Lowercase symbols: Roman numerals, circled letters, the iota subscript).
fn other_case(c: char) -> bool {
    matches!(c as u32, 0x0345 | 0x2160..=0x217F | 0x24B6..=0x24E9 | 0x1F130..=0x1F189)
}

/// Go's `unicode.IsUpper`/`IsLower` (categories Lu/Ll).
fn is_upper(c: char) -> bool {
    c.is_uppercase() && !is_title(c) && !other_case(c) && lower_char(c) != c
}

fn is_lower(c: char) -> bool {
    (c.is_lowercase() && !other_case(c) && upper_char(c) != c) || matches!(c, 'ß' | 'ĸ' | 'ŉ')
}

/// goutils' `SwapCase`: upper and title case go down; lower case goes up, to title case at the
/// start of a word.
pub fn swap_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut after_space = true;
    for c in s.chars() {
        if is_upper(c) || is_title(c) {
            out.push(lower_char(c));
            after_space = false;
        } else if is_lower(c) {
            out.push(if after_space {
                title_char(c)
            } else {
                upper_char(c)
            });
            after_space = false;
        } else {
            out.push(c);
            after_space = c.is_whitespace();
        }
    }
    out
}

fn one_str<'a>(name: &str, a: &'a [Value]) -> Result<&'a str, String> {
    args::string(&n_args(name, a, 1)?[0])
}

fn swapcase(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(swap_case(one_str("swapcase", a)?)))
}

/// xstrings' word separators: `-`, `_` and white space.
fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// Go's `unicode.IsPunct` (general category P): ASCII exactly, the common blocks beyond.
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c);
    }
    matches!(c as u32, 0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x37E | 0x387
        | 0x55A..=0x55F | 0x589 | 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3 | 0x5F4 | 0x60C | 0x61B
        | 0x61F | 0x66A..=0x66D | 0x6D4 | 0x964 | 0x965 | 0x970 | 0xE4F | 0xE5A | 0xE5B
        | 0x2010..=0x2027 | 0x2030..=0x2043 | 0x2045..=0x2051 | 0x2053..=0x205E | 0x207D | 0x207E
        | 0x208D | 0x208E | 0x2308..=0x230B | 0x2329 | 0x232A | 0x2768..=0x2775 | 0x27C5 | 0x27C6
        | 0x27E6..=0x27EF | 0x2983..=0x2998 | 0x29D8..=0x29DB | 0x29FC | 0x29FD
        | 0x2E00..=0x2E2E | 0x2E30..=0x2E4F | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F
        | 0x3030 | 0x303D | 0x30A0 | 0x30FB | 0xFE10..=0xFE19 | 0xFE30..=0xFE52 | 0xFE54..=0xFE61
        | 0xFE63 | 0xFE68 | 0xFE6A | 0xFE6B | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F
        | 0xFF1A | 0xFF1B | 0xFF1F | 0xFF20 | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D
        | 0xFF5F..=0xFF65)
}

/// A letter that is not a CJK ideograph (xstrings treats those as neither letters nor words).
fn is_alphabet(c: char) -> bool {
    c.is_alphabetic()
        && !c.is_numeric()
        && !matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3FFFF)
}

/// Go's `unicode.IsNumber` (categories Nd, Nl, No).
fn is_number(c: char) -> bool {
    c.is_numeric()
}

/// `camelcase`: connectors drop out and the letter after them goes up; leading and repeated
/// connectors are kept, other letters are untouched.
pub fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    let mut cur = None;
    for c in it.by_ref() {
        if is_connector(c) {
            out.push(c);
        } else {
            cur = Some(upper_char(c));
            break;
        }
    }
    let Some(mut cur) = cur else {
        // Only connectors: the last one is written once more.
        if let Some(c) = s.chars().last() {
            out.push(c);
        }
        return out;
    };
    for next in it {
        let prev = cur;
        cur = next;
        if is_connector(prev) && is_connector(next) {
            out.push(prev);
        } else if is_connector(prev) {
            cur = upper_char(next);
        } else {
            out.push(prev);
        }
    }
    out.push(cur);
    out
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Word {
    /// Past the end.
    End,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextValidRune`: the first character of `s` that is not U+FFFD (Go's `RuneError`,
/// also what a bad byte decodes to) and the length up to its end; `prev` and the whole length
/// when there is none. U+FFFD thus joins the word around it, or the next one.
fn next_valid(s: &str, prev: char) -> (char, usize) {
    match s.char_indices().find(|(_, c)| *c != '\u{FFFD}') {
        Some((i, c)) => (c, i + c.len_utf8()),
        None => (prev, s.len()),
    }
}

/// Splits `s` into xstrings' words: runs of connectors, punctuation, numbers or lower-case
/// letters; an upper-case run keeps its last letter for the next word when lower case follows
/// (`HTTPServer` ⇒ `HTTP`, `Server`); other characters run until one of those starts. U+FFFD
/// goes with the next character ([`next_valid`]).
fn words(s: &str) -> Vec<(Word, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (c, first) = next_valid(rest, '\u{FFFD}');
        if c == '\u{FFFD}' {
            out.push((Word::Other, rest));
            break;
        }
        // The end of the run of characters matching `pred` after the first, and the length of
        // its last step (the last character with the U+FFFD before it).
        let run_steps = |pred: &dyn Fn(char) -> bool| -> (usize, usize) {
            let (mut at, mut last, mut step) = (first, c, first);
            while at < rest.len() {
                let (x, n) = next_valid(&rest[at..], last);
                if !pred(x) {
                    break;
                }
                at += n;
                last = x;
                step = n;
            }
            (at, step)
        };
        let run = |pred: &dyn Fn(char) -> bool| run_steps(pred).0;
        let (kind, len) = if is_connector(c) {
            (Word::Connector, run(&is_connector))
        } else if is_punct(c) {
            (Word::Punct, run(&is_punct))
        } else if is_upper(c) {
            let after = &rest[first..];
            match (!after.is_empty()).then(|| next_valid(after, c).0) {
                Some(n) if is_upper(n) => {
                    let (end, last) = run_steps(&is_upper);
                    match (end < rest.len()).then(|| next_valid(&rest[end..], c).0) {
                        Some(n) if is_alphabet(n) => (Word::Upper, end - last),
                        _ => (Word::Upper, end),
                    }
                }
                Some(n) if is_alphabet(n) => {
                    (Word::Upper, run(&|x| is_alphabet(x) && !is_upper(x)))
                }
                _ => (Word::Upper, first),
            }
        } else if is_alphabet(c) {
            (Word::Alpha, run(&|x| is_alphabet(x) && !is_upper(x)))
        } else if is_number(c) {
            (Word::Number, run(&is_number))
        } else {
            (
                Word::Other,
                run(&|x| !(is_connector(x) || is_alphabet(x) || is_number(x) || is_punct(x))),
            )
        };
        out.push((kind, &rest[..len]));
        rest = &rest[len..];
    }
    out
}

/// Writes a word: upper-case and connector words are lowered, each connector becoming `sep`.
fn put_lower(out: &mut String, kind: Word, w: &str, sep: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(w);
        return;
    }
    for c in w.chars() {
        out.push(if is_connector(c) {
            sep
        } else if is_upper(c) {
            lower_char(c)
        } else {
            c
        });
    }
}

/// `snakecase`/`kebabcase`: words lowered and joined by `sep`; a number sticks to the word before
/// it unless lower-case letters follow it (`Bld4Floor3rd` ⇒ `bld4_floor_3rd`).
pub fn separated_lower(s: &str, sep: char) -> String {
    let ws = words(s);
    let at = |i: usize| ws.get(i).copied().unwrap_or((Word::End, ""));
    let mut out = String::with_capacity(s.len() + 4);
    let mut i = 0;
    let cont = |k: Word| k == Word::Alpha || k == Word::Number;
    let joins = |k: Word| !matches!(k, Word::End | Word::Punct | Word::Connector);
    while i + 1 < ws.len() {
        let (prev, last) = ws[i];
        if prev != Word::Connector {
            put_lower(&mut out, prev, last, sep);
        }
        i += 1;
        match prev {
            Word::Number => {
                while cont(at(i).0) {
                    put_lower(&mut out, at(i).0, at(i).1, sep);
                    i += 1;
                }
                if joins(at(i).0) {
                    out.push(sep);
                }
            }
            Word::Connector => put_lower(&mut out, prev, last, sep),
            Word::Punct => {}
            _ => {
                let kind = at(i).0;
                if kind != Word::Number {
                    if kind != Word::Connector && kind != Word::Punct {
                        out.push(sep);
                    }
                    continue;
                }
                if i + 1 >= ws.len() {
                    continue;
                }
                let number = at(i).1;
                i += 1;
                if at(i).0 != Word::Alpha {
                    put_lower(&mut out, Word::Number, number, sep);
                    if !matches!(at(i).0, Word::Connector | Word::Punct) {
                        out.push(sep);
                    }
                    continue;
                }
                out.push(sep);
                put_lower(&mut out, Word::Number, number, sep);
                while cont(at(i).0) {
                    put_lower(&mut out, at(i).0, at(i).1, sep);
                    i += 1;
                }
                if joins(at(i).0) {
                    out.push(sep);
                }
            }
        }
    }
    let (kind, w) = at(i);
    put_lower(&mut out, kind, w, sep);
    out
}

fn camelcase(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(camel_case(one_str("camelcase", a)?)))
}

fn snakecase(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(separated_lower(one_str("snakecase", a)?, '_')))
}

fn kebabcase(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(separated_lower(one_str("kebabcase", a)?, '-')))
}

/// goutils' `WrapCustom`: breaks at the last space within `width` bytes; a longer word is cut at
/// `width` when `cut_long`, otherwise kept whole up to the next space.
pub fn wrap_text(b: &[u8], width: i64, newline: &[u8], cut_long: bool) -> Vec<u8> {
    if b.is_empty() {
        return Vec::new();
    }
    let newline = if newline.is_empty() { b"\n" } else { newline };
    let width = width.max(1) as usize;
    let mut out: Vec<u8> = Vec::with_capacity(b.len() + 8);
    let mut at = 0;
    while b.len() - at > width {
        if b[at] == b' ' {
            at += 1;
            continue;
        }
        let window = &b[at..at + width + 1];
        if let Some(sp) = window.iter().rposition(|c| *c == b' ') {
            out.extend_from_slice(&b[at..at + sp]);
            out.extend_from_slice(newline);
            at += sp + 1;
        } else if cut_long {
            out.extend_from_slice(&b[at..at + width]);
            out.extend_from_slice(newline);
            at += width;
        } else {
            match b[at + width..].iter().position(|c| *c == b' ') {
                None => {
                    out.extend_from_slice(&b[at..]);
                    at = b.len();
                }
                Some(i) => {
                    out.extend_from_slice(&b[at..at + width + i]);
                    out.extend_from_slice(newline);
                    at += width + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[at..]);
    out
}

fn wrap(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let a = n_args("wrap", a, 2)?;
    let (w, s) = (args::int(&a[0])?, args::string_bytes(&a[1])?);
    Ok(crate::gostr::from_bytes(wrap_text(s, w, b"", false)))
}

fn wrap_with(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let a = n_args("wrapWith", a, 3)?;
    let (w, sep, s) = (
        args::int(&a[0])?,
        args::string_bytes(&a[1])?,
        args::string_bytes(&a[2])?,
    );
    Ok(crate::gostr::from_bytes(wrap_text(s, w, sep, true)))
}

// ----------------------------------------------------------------------------------------------
// URLs (Go's `net/url`: parse, escape, and `URL.String`)
// ----------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Enc {
    Path,
    Host,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Enc) -> bool {
    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
        return false;
    }
    if mode == Enc::Host
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Enc::Path => c == b'?',
            Enc::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Enc::Fragment => false,
            Enc::Host => true,
        },
        b'!' | b'(' | b')' | b'*' if mode == Enc::Fragment => false,
        _ => true,
    }
}

fn escape(s: &[u8], mode: Enc) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// Go's `url.unescape` for the modes `Parse` uses, on bytes: `%ff` is the byte 0xff, so a part
/// may not be UTF-8 (agent.md §4.5.3); the error is its `EscapeError` text.
fn unescape(b: &[u8], mode: Enc) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |x: u8| (x as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|x| hex(*x)),
                    b.get(i + 2).and_then(|x| hex(*x)),
                ) {
                    (Some(h), Some(l)) => {
                        let v = (h * 16 + l) as u8;
                        if mode == Enc::Host && v < 0x80 && b[..i].contains(&b'[') {
                            // Only within an IPv6 zone; kept simple: allowed.
                        } else if mode == Enc::Host && v < 0x80 && v != b'%' {
                            return Err(format!(
                                "invalid URL escape {}",
                                gostr::quote(&b[i..i + 3], false)
                            ));
                        }
                        out.push(v);
                        i += 3;
                    }
                    _ => {
                        let end = (i + 3).min(b.len());
                        return Err(format!(
                            "invalid URL escape {}",
                            gostr::quote(&b[i..end], false)
                        ));
                    }
                }
            }
            c => {
                if mode == Enc::Host && c < 0x80 && should_escape(c, Enc::Host) {
                    return Err(format!(
                        "invalid character {} in host name",
                        gostr::quote(&[c], false)
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A parsed URL; its parts are bytes, as Go's strings are (agent.md §4.5.3).
#[derive(Default)]
pub(crate) struct Url {
    scheme: Vec<u8>,
    opaque: Vec<u8>,
    user: Option<(Vec<u8>, Option<Vec<u8>>)>,
    pub(crate) host: Vec<u8>,
    path: Vec<u8>,
    force_query: bool,
    raw_query: Vec<u8>,
    fragment: Vec<u8>,
}

/// `Userinfo.String()`: escaped, so always ASCII.
fn user_string(user: &(Vec<u8>, Option<Vec<u8>>)) -> String {
    let mut s = escape(&user.0, Enc::UserPassword);
    if let Some(p) = &user.1 {
        s.push(':');
        s.push_str(&escape(p, Enc::UserPassword));
    }
    s
}

fn cut(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&c| c == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// Go's `url.Parse`; the error is the text after `parse "…": `.
pub(crate) fn parse_url(raw: &[u8]) -> Result<Url, String> {
    let mut u = Url::default();
    let (rest, frag) = match cut(raw, b'#') {
        Some((r, f)) => (r, Some(f)),
        None => (raw, None),
    };
    if let Some(f) = frag {
        u.fragment = unescape(f, Enc::Fragment)?;
    }
    if rest.iter().any(|&c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if rest == b"*" {
        u.path = b"*".to_vec();
        return Ok(u);
    }
    // Scheme.
    let mut rest = rest;
    for (i, &c) in rest.iter().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => break,
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                u.scheme = rest[..i].to_ascii_lowercase();
                rest = &rest[i + 1..];
                break;
            }
            _ => break,
        }
    }
    if rest.ends_with(b"?") && rest.iter().filter(|&&c| c == b'?').count() == 1 {
        u.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = cut(rest, b'?') {
        u.raw_query = q.to_vec();
        rest = r;
    }
    if !rest.starts_with(b"/") {
        if !u.scheme.is_empty() {
            u.opaque = rest.to_vec();
            return Ok(u);
        }
        let seg = cut(rest, b'/').map_or(rest, |(s, _)| s);
        if seg.contains(&b':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!u.scheme.is_empty() || !rest.starts_with(b"///")) && rest.starts_with(b"//") {
        let after = &rest[2..];
        let (authority, path) = match after.iter().position(|&c| c == b'/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, &b""[..]),
        };
        let host_part = match authority.iter().rposition(|&c| c == b'@') {
            Some(i) => {
                let info = &authority[..i];
                let valid = info.iter().all(|&c| {
                    c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c) || c >= 0x80
                });
                if !valid {
                    return Err("net/url: invalid userinfo".into());
                }
                u.user = Some(match cut(info, b':') {
                    Some((n, p)) => (
                        unescape(n, Enc::UserPassword)?,
                        Some(unescape(p, Enc::UserPassword)?),
                    ),
                    None => (unescape(info, Enc::UserPassword)?, None),
                });
                &authority[i + 1..]
            }
            None => authority,
        };
        u.host = parse_host(host_part)?;
        rest = path;
    }
    u.path = unescape(rest, Enc::Path)?;
    Ok(u)
}

fn parse_host(h: &[u8]) -> Result<Vec<u8>, String> {
    let port = if let Some(inner) = h.strip_prefix(b"[") {
        let Some(close) = inner.iter().rposition(|&c| c == b']') else {
            return Err("missing ']' in host".into());
        };
        &inner[close + 1..]
    } else {
        h.iter()
            .rposition(|&c| c == b':')
            .map_or(&b""[..], |i| &h[i..])
    };
    if !valid_port(port) {
        return Err(format!(
            "invalid port {} after host",
            gostr::quote(port, false)
        ));
    }
    unescape(h, Enc::Host)
}

fn valid_port(p: &[u8]) -> bool {
    p.is_empty()
        || p.strip_prefix(b":")
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
}

/// `URL.Hostname()`: the host without its port and IPv6 brackets.
fn hostname(host: &[u8]) -> &[u8] {
    let h = if host.starts_with(b"[") {
        host
    } else {
        match host.iter().rposition(|&c| c == b':') {
            Some(i) => &host[..i],
            None => host,
        }
    };
    if let Some(inner) = h.strip_prefix(b"[") {
        return match inner.iter().position(|&c| c == b']') {
            Some(i) => &inner[..i],
            None => inner,
        };
    }
    h
}

/// Go's `URL.String()`.
fn url_string(u: &Url) -> Vec<u8> {
    let mut out = Vec::new();
    if !u.scheme.is_empty() {
        out.extend_from_slice(&u.scheme);
        out.push(b':');
    }
    if !u.opaque.is_empty() {
        out.extend_from_slice(&u.opaque);
    } else {
        if !u.scheme.is_empty() || !u.host.is_empty() || u.user.is_some() {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                out.extend_from_slice(b"//");
            }
            if let Some(user) = &u.user {
                out.extend_from_slice(user_string(user).as_bytes());
                out.push(b'@');
            }
            out.extend_from_slice(escape(&u.host, Enc::Host).as_bytes());
        }
        let path = if u.path == b"*" {
            "*".to_string()
        } else {
            escape(&u.path, Enc::Path)
        };
        if !path.is_empty() && !path.starts_with('/') && !u.host.is_empty() {
            out.push(b'/');
        }
        if out.is_empty() && path.split('/').next().unwrap_or("").contains(':') {
            out.extend_from_slice(b"./");
        }
        out.extend_from_slice(path.as_bytes());
    }
    if u.force_query || !u.raw_query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(&u.raw_query);
    }
    if !u.fragment.is_empty() {
        out.push(b'#');
        out.extend_from_slice(escape(&u.fragment, Enc::Fragment).as_bytes());
    }
    out
}

/// Sprig's `urlParse`: the parts keep their bytes (the input's, and those `%ff` unescapes to),
/// so a part may be a string that is not UTF-8 (agent.md §4.5.3); `userinfo` is escaped again.
fn url_parse(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let raw = args::string_bytes(&n_args("urlParse", a, 1)?[0])?;
    let u = parse_url(raw).map_err(|e| {
        format!(
            "unable to parse url: parse {}: {e}",
            gostr::quote(raw, false)
        )
    })?;
    let s = |x: &[u8]| gostr::from_bytes(x.to_vec());
    let mut m = BTreeMap::new();
    m.insert(Key::from("scheme"), s(&u.scheme));
    m.insert(Key::from("host"), s(&u.host));
    m.insert(Key::from("hostname"), s(hostname(&u.host)));
    m.insert(Key::from("path"), s(&u.path));
    m.insert(Key::from("query"), s(&u.raw_query));
    m.insert(Key::from("opaque"), s(&u.opaque));
    m.insert(Key::from("fragment"), s(&u.fragment));
    m.insert(
        Key::from("userinfo"),
        Value::str(u.user.as_ref().map(user_string).unwrap_or_default()),
    );
    Ok(Value::map(m))
}

fn url_join(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let d = args::map(&n_args("urlJoin", a, 1)?[0])?;
    let get = |k: &str| -> Result<Vec<u8>, String> {
        match d.get(k.as_bytes()) {
            None => Ok(Vec::new()),
            // A string that is not UTF-8 (urlParse's parts can be) gives its bytes.
            Some(v) if let Some(b) = gostr::bytes(v) => Ok(b.to_vec()),
            Some(other) => Err(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                super::sprig::kind(other)
            )),
        }
    };
    let mut u = Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        ..Url::default()
    };
    let info = get("userinfo")?;
    if !info.is_empty() {
        let tmp = [&b"proto://"[..], &info, b"@host"].concat();
        let parsed = parse_url(&tmp).map_err(|e| {
            format!(
                "unable to parse userinfo in dict: parse {}: {e}",
                gostr::quote(&tmp, false)
            )
        })?;
        u.user = parsed.user;
    }
    Ok(gostr::from_bytes(url_string(&u)))
}

// ----------------------------------------------------------------------------------------------
// Semantic versions (Masterminds/semver v3 `NewVersion`, coercing)
// ----------------------------------------------------------------------------------------------

/// A parsed version, `*semver.Version` in templates.
#[derive(Clone, Debug, PartialEq)]
pub struct SemVer {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

fn ident_ok(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

impl SemVer {
    /// `semver.NewVersion`: `v`, then one to three numbers, `-pre`, `+meta`; missing parts are 0.
    pub fn parse(s: &str) -> Result<SemVer, String> {
        let invalid = || "invalid semantic version".to_string();
        let body = s.strip_prefix('v').unwrap_or(s);
        let (body, metadata) = match body.split_once('+') {
            Some((b, m)) => (b, m),
            None => (body, ""),
        };
        let (core, pre) = match body.split_once('-') {
            Some((c, p)) => (c, p),
            None => (body, ""),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() > 3
            || parts
                .iter()
                .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid());
        }
        if (body.contains('-') && !pre.split('.').all(ident_ok))
            || (s.contains('+') && !metadata.split('.').all(ident_ok))
        {
            return Err(invalid());
        }
        let num = |i: usize| -> Result<u64, String> {
            match parts.get(i) {
                None => Ok(0),
                Some(p) => p.parse().map_err(|_| {
                    format!(
                        "error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
                        args::go_quote_str(p)
                    )
                }),
            }
        };
        let v = SemVer {
            major: num(0)?,
            minor: num(1)?,
            patch: num(2)?,
            pre: pre.to_string(),
            metadata: metadata.to_string(),
            original: s.to_string(),
        };
        for p in v.pre.split('.').filter(|_| !v.pre.is_empty()) {
            if p.len() > 1 && p.starts_with('0') && p.bytes().all(|c| c.is_ascii_digit()) {
                return Err("version segment starts with 0".into());
            }
        }
        Ok(v)
    }

    /// `Version.Compare`: -1, 0 or 1 (metadata ignored).
    pub fn compare(&self, o: &SemVer) -> i64 {
        use std::cmp::Ordering::*;
        let ord = (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Equal,
                (true, false) => Greater,
                (false, true) => Less,
                _ => cmp_pre(&self.pre, &o.pre),
            });
        match ord {
            Less => -1,
            Equal => 0,
            Greater => 1,
        }
    }
}

fn cmp_pre(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    let (pa, pb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..pa.len().max(pb.len()) {
        let (x, y) = (
            pa.get(i).copied().unwrap_or(""),
            pb.get(i).copied().unwrap_or(""),
        );
        if x == y {
            continue;
        }
        if x.is_empty() {
            return Less;
        }
        if y.is_empty() {
            return Greater;
        }
        return match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Less,
            (Err(_), Ok(_)) => Greater,
            _ => x.cmp(y),
        };
    }
    Equal
}

impl std::fmt::Display for SemVer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

impl Object for SemVer {
    fn type_name(&self) -> &'static str {
        "*semver.Version"
    }

    fn method(&self, name: &str, a: &[Value]) -> Option<Result<Value, String>> {
        let no_args = |v: Value| -> Result<Value, String> {
            if a.is_empty() {
                Ok(v)
            } else {
                Err(format!(
                    "wrong number of args for {name}: want 0 got {}",
                    a.len()
                ))
            }
        };
        let other = || -> Result<SemVer, String> {
            if a.len() != 1 {
                return Err(format!(
                    "wrong number of args for {name}: want 1 got {}",
                    a.len()
                ));
            }
            match &a[0] {
                Value::Object(o) if o.type_name() == "*semver.Version" => SemVer::parse(&o.print()),
                v => Err(format!(
                    "wrong type for value; expected *semver.Version; got {}",
                    v.type_name()
                )),
            }
        };
        Some(match name {
            "Major" => no_args(Value::Uint(self.major)),
            "Minor" => no_args(Value::Uint(self.minor)),
            "Patch" => no_args(Value::Uint(self.patch)),
            "Prerelease" => no_args(Value::str(self.pre.as_str())),
            "Metadata" => no_args(Value::str(self.metadata.as_str())),
            "Original" => no_args(Value::str(self.original.as_str())),
            "String" => no_args(Value::str(self.to_string())),
            "Compare" => other().map(|o| Value::Int(self.compare(&o))),
            "LessThan" => other().map(|o| Value::Bool(self.compare(&o) < 0)),
            "GreaterThan" => other().map(|o| Value::Bool(self.compare(&o) > 0)),
            "Equal" => other().map(|o| Value::Bool(self.compare(&o) == 0)),
            _ => return None,
        })
    }

    fn print(&self) -> String {
        self.to_string()
    }
}

fn semver(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let v = SemVer::parse(one_str("semver", a)?)?;
    Ok(Value::Object(Arc::new(v)))
}

// ----------------------------------------------------------------------------------------------
// decryptAES: AES-256-CBC, the key the password's first 32 bytes (zero-padded), the IV the first
// block, the padding length the last byte (unchecked, as Sprig does)
// ----------------------------------------------------------------------------------------------

fn decrypt_aes(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    use aws_lc_rs::cipher::{AES_256, DecryptingKey, DecryptionContext, UnboundCipherKey};
    let a = n_args("decryptAES", a, 2)?;
    let (password, crypt64) = (args::string(&a[0])?, args::string(&a[1])?);
    if crypt64.is_empty() {
        return Ok(Value::str(""));
    }
    let mut key = [0u8; 32];
    let pw = password.as_bytes();
    let n = pw.len().min(32);
    key[..n].copy_from_slice(&pw[..n]);
    let crypt = super::encoding::b64dec(false, crypt64)?;
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        ));
    }
    let (iv, body) = crypt.split_at(16);
    if !body.len().is_multiple_of(16) {
        return Err("crypto/cipher: input not full blocks".into());
    }
    if body.is_empty() {
        return Err("runtime error: index out of range [-1]".into());
    }
    let mut data = body.to_vec();
    let mut iv16 = [0u8; 16];
    iv16.copy_from_slice(iv);
    let fail = |_| "crypto/aes: decryption failed".to_string();
    let dk = UnboundCipherKey::new(&AES_256, &key)
        .and_then(DecryptingKey::cbc)
        .map_err(fail)?;
    let plain = dk
        .decrypt(&mut data, DecryptionContext::Iv128(iv16.into()))
        .map_err(fail)?;
    let pad = usize::from(plain[plain.len() - 1]);
    if pad > plain.len() {
        return Err(format!(
            "runtime error: slice bounds out of range [:{}]",
            plain.len() as i64 - pad as i64
        ));
    }
    Ok(crate::gostr::from_bytes(
        plain[..plain.len() - pad].to_vec(),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn sp(name: &str, a: &[Value]) -> String {
        show(&format!("sprig_{name}"), a)
    }

    fn f(x: f64) -> Value {
        Value::Float(x)
    }

    #[test]
    fn case_words_take_u_fffd_with_the_next_character() {
        let f = '\u{FFFD}';
        let snake = |x: &str| separated_lower(x, '_');
        assert_eq!(snake(&format!("{f}{f}A")), format!("{f}{f}a"));
        assert_eq!(snake(&format!("a{f}{f}A")), format!("a_{f}{f}a"));
        assert_eq!(snake(&format!("A{f}{f}A")), format!("a{f}{f}a"));
        assert_eq!(snake(&format!("HTTP{f}Server")), format!("http_{f}server"));
        assert_eq!(snake(&format!("a{f}")), format!("a{f}"));
        assert_eq!(snake(&format!("{f}")), format!("{f}"));
    }

    #[test]
    fn wrap_and_abbrevboth_cut_multibyte_characters_as_go_does() {
        let bytes = |v: Value| crate::gostr::bytes(&v).unwrap().to_vec();
        // `é` is two bytes: a width of 5 cuts the third one in half.
        let v = call("sprig_wrapWith", &[i(5), s("|"), s("ééééé ééé")]).unwrap();
        let mut want = "éé".as_bytes().to_vec();
        want.extend_from_slice(&[0xc3, b'|', 0xa9]);
        assert!(bytes(v).starts_with(&want));
        assert_eq!(sp("wrap", &[i(5), s("ééééé ééé")]), "ééééé\nééé");
        let v = call("sprig_abbrevboth", &[i(5), i(10), s("héllo wörld ça va")]).unwrap();
        assert_eq!(bytes(v), [b"...o w".as_slice(), &[0xc3], b"..."].concat());
    }

    #[test]
    fn floats_compute_in_decimal() {
        assert_eq!(sp("addf", &[f(0.1), f(0.2)]), "0.3");
        assert_eq!(sp("addf", &[]), "0");
        assert_eq!(sp("addf", &[s("x"), i(1)]), "1");
        assert_eq!(sp("subf", &[i(10), f(0.3), f(0.3)]), "9.4");
        assert_eq!(sp("mulf", &[f(1.1), f(1.1)]), "1.21");
        assert_eq!(sp("divf", &[i(1), i(3)]), "0.3333333333333333");
        assert_eq!(sp("divf", &[i(2), i(3)]), "0.6666666666666667");
        assert_eq!(sp("divf", &[i(1), i(7)]), "0.1428571428571429");
        assert_eq!(sp("divf", &[i(-1), i(7)]), "-0.1428571428571429");
        assert_eq!(sp("divf", &[i(1), i(-3)]), "-0.3333333333333333");
        assert_eq!(sp("divf", &[i(1), i(0)]), "ERR decimal division by 0");
        assert_eq!(sp("add1f", &[f(0.1)]), "1.1");
        assert_eq!(sp("maxf", &[i(1), f(2.5), s("3")]), "3");
        assert_eq!(sp("minf", &[i(1), f(-2.5)]), "-2.5");
        assert_eq!(sp("mulf", &[f(1e300), f(1e300)]), "+Inf");
        assert_eq!(sp("divf", &[f(1e300), i(3)]), "3.3333333333333335e+299");
        assert_eq!(sp("addf", &[f(1e300), f(1e-300)]), "1e+300");
        assert_eq!(
            sp(
                "mulf",
                &[f(0.1), f(0.2), f(0.3), f(0.4), f(0.5), f(0.6), f(0.7)]
            ),
            "0.000504"
        );
        assert_eq!(sp("addf", &[Value::Bool(true)]), "1");
        assert_eq!(
            sp("subf", &[]),
            "ERR wrong number of args for sprig_subf: want at least 1 got 0"
        );
        assert_eq!(call("sprig_addf", &[i(1)]).unwrap().type_name(), "float64");
    }

    #[test]
    fn to_decimal_reads_octal() {
        assert_eq!(sp("toDecimal", &[s("0777")]), "511");
        assert_eq!(sp("toDecimal", &[i(777)]), "511");
        assert_eq!(sp("toDecimal", &[s("8")]), "0");
        assert_eq!(sp("toDecimal", &[s("0o17")]), "0");
        assert_eq!(sp("toDecimal", &[s("-17")]), "-15");
        assert_eq!(sp("toDecimal", &[f(1.5)]), "0");
    }

    #[test]
    fn abbreviations_and_case() {
        let t = "1234 5678 9123";
        assert_eq!(sp("abbrevboth", &[i(5), i(10), s(t)]), "...5678...");
        assert_eq!(sp("abbrevboth", &[i(0), i(10), s(t)]), "1234 56...");
        let t = "abcdefghijklmno";
        assert_eq!(sp("abbrevboth", &[i(3), i(10), s(t)]), "abcdefg...");
        assert_eq!(sp("abbrevboth", &[i(10), i(10), s(t)]), "...ijklmno");
        assert_eq!(sp("abbrevboth", &[i(2), i(6), s(t)]), t);
        assert_eq!(sp("abbrevboth", &[i(1), i(7), s(t)]), "abcd...");
        assert_eq!(sp("abbrevboth", &[i(20), i(8), s(t)]), "...klmno");
        assert_eq!(
            sp("swapcase", &[s("Hello World ÀéΣ ß 123 ǅ")]),
            "hELLO wORLD àÉσ ß 123 ǆ"
        );
        assert_eq!(sp("swapcase", &[s("a ǆx")]), "A ǅX");
        for (input, camel) in [
            ("http_server", "HttpServer"),
            ("hello world-foo_bar", "HelloWorldFooBar"),
            ("_complex__case_", "_Complex_Case_"),
            ("Already Camel", "AlreadyCamel"),
            ("foo__bar", "Foo_Bar"),
            ("x", "X"),
            ("", ""),
        ] {
            assert_eq!(camel_case(input), camel, "{input}");
        }
        for (input, snake) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO_PATH", "go_path"),
            ("GO PATH", "go_path"),
            ("hello world", "hello_world"),
            ("a1B2c3", "a1_b_2c3"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            ("ÀbcDéf", "àbc_déf"),
        ] {
            assert_eq!(separated_lower(input, '_'), snake, "{input}");
        }
        assert_eq!(
            sp("kebabcase", &[s("HTTP_Server-v2 x")]),
            "http-server-v2-x"
        );
        assert_eq!(separated_lower("İstanbul", '_'), "istanbul");
        assert_eq!(swap_case("İstanbul"), "iSTANBUL");
        assert_eq!(separated_lower("ⅠⅡ", '_'), "ⅠⅡ");
        assert_eq!(swap_case("ⅠⅡ ⓐ"), "ⅠⅡ ⓐ");
        assert_eq!(separated_lower("😀x", '_'), "😀_x");
    }

    #[test]
    fn wrapping() {
        assert_eq!(
            sp("wrap", &[i(5), s("Hello World this is a test")]),
            "Hello\nWorld\nthis\nis a\ntest"
        );
        assert_eq!(
            sp("wrapWith", &[i(5), s("\t"), s("Hello World")]),
            "Hello\tWorld"
        );
        assert_eq!(
            sp("wrap", &[i(10), s("a verylongwordhere and more")]),
            "a\nverylongwordhere\nand more"
        );
        assert_eq!(sp("wrap", &[i(0), s("a b")]), "a\nb");
        assert_eq!(
            sp("wrapWith", &[i(3), s("<br>"), s("abcdefgh ij")]),
            "abc<br>def<br>gh<br>ij"
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            sp(
                "urlParse",
                &[s(
                    "https://user:pa%20ss@example.com:8443/a%2Fb/c?x=1&y=2#frag"
                )]
            ),
            "map[fragment:frag host:example.com:8443 hostname:example.com opaque: path:/a/b/c query:x=1&y=2 scheme:https userinfo:user:pa%20ss]"
        );
        assert_eq!(
            sp("urlParse", &[s("http://[::1")]),
            "ERR unable to parse url: parse \"http://[::1\": missing ']' in host"
        );
        let d = json(
            r#"{"scheme":"https","host":"h:1","path":"/a b","query":"q=1","fragment":"f g","userinfo":"u:p"}"#,
        );
        assert_eq!(sp("urlJoin", &[d]), "https://u:p@h:1/a%20b?q=1#f%20g");
        assert_eq!(
            sp("urlJoin", &[json(r#"{"opaque":"x","scheme":"mailto"}"#)]),
            "mailto:x"
        );
        assert_eq!(sp("urlJoin", &[json(r#"{"path":"a:b"}"#)]), "./a:b");
        assert_eq!(sp("urlJoin", &[json(r#"{"path":"*"}"#)]), "*");
        assert_eq!(
            sp("urlJoin", &[json(r#"{"host":true}"#)]),
            "ERR unable to parse host key, must be of type string, but bool found"
        );
    }

    #[test]
    fn url_parse_keeps_bytes() {
        let part = |u: &Value, k: &str| match u {
            Value::Map(m) => crate::gostr::bytes(&m[k.as_bytes()]).unwrap().to_vec(),
            _ => panic!("not a map"),
        };
        // `%ff` unescapes to the byte 0xff in the path, fragment and host; userinfo is escaped
        // again; the query is raw.
        let u = call(
            "sprig_urlParse",
            &[s("http://us%ffer:p@h%ff:80/a%ffb?q=%ff#f%fe")],
        )
        .unwrap();
        assert_eq!(part(&u, "path"), b"/a\xffb");
        assert_eq!(part(&u, "fragment"), b"f\xfe");
        assert_eq!(part(&u, "host"), b"h\xff:80");
        assert_eq!(part(&u, "hostname"), b"h\xff");
        assert_eq!(part(&u, "userinfo"), b"us%FFer:p");
        assert_eq!(part(&u, "query"), b"q=%ff");
        // A byte-string input keeps its bytes; urlJoin takes them back.
        let u = call("sprig_urlParse", &[bin(b"https://h\xfe/p\xff?x=\xfd#f")]).unwrap();
        assert_eq!(part(&u, "hostname"), b"h\xfe");
        assert_eq!(part(&u, "path"), b"/p\xff");
        assert_eq!(part(&u, "query"), b"x=\xfd");
        assert_eq!(bytes("sprig_urlJoin", &[u]), b"https://h%FE/p%FF?x=\xfd#f");
        assert_eq!(
            bytes("sprig_urlParse", &[bin(b"http://h/%zz\xff")]),
            b"ERR unable to parse url: parse \"http://h/%zz\\xff\": invalid URL escape \"%zz\""
        );
    }

    #[test]
    fn semver_objects() {
        let v = call("sprig_semver", &[s("1.2.3-beta.1+b5")]).unwrap();
        assert_eq!(v.print(), "1.2.3-beta.1+b5");
        assert_eq!(v.type_name(), "*semver.Version");
        let Value::Object(o) = &v else { panic!() };
        assert_eq!(o.method("Major", &[]).unwrap().unwrap().print(), "1");
        assert_eq!(
            o.method("Prerelease", &[]).unwrap().unwrap().print(),
            "beta.1"
        );
        let w = call("sprig_semver", &[s("v1.2")]).unwrap();
        assert_eq!(w.print(), "1.2.0");
        assert_eq!(o.method("Compare", &[w]).unwrap().unwrap().print(), "1");
        assert_eq!(sp("semver", &[s("nope")]), "ERR invalid semantic version");
        assert_eq!(
            sp("semver", &[s("1.2.3-01")]),
            "ERR version segment starts with 0"
        );
    }

    fn render(src: &str) -> String {
        let t = crate::Template::parse("", src, crate::Options::default()).unwrap();
        let mut ctx = FakeCtx::default();
        t.execute(&mut ctx)
            .map(|r| r.text)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn set_unset_and_merge_change_the_variable_they_were_given() {
        assert_eq!(
            render(
                r#"{{ $d := sprig_dict "a" 1 }}{{ $_ := sprig_set $d "b" 2 }}{{ $d }}{{ $_ := sprig_unset $d "a" }}{{ $d }}"#
            ),
            "map[a:1 b:2]map[b:2]"
        );
        assert_eq!(
            render(
                r#"{{ $m := sprig_dict }}{{ range $i, $k := sprig_list "x" "y" }}{{ $_ := sprig_set $m $k $i }}{{ end }}{{ $m }}"#
            ),
            "map[x:0 y:1]"
        );
        assert_eq!(
            render(
                r#"{{ $d := sprig_dict "in" (sprig_dict "a" 1) }}{{ $_ := sprig_set $d.in "b" 2 }}{{ $d }}"#
            ),
            "map[in:map[a:1 b:2]]"
        );
        assert_eq!(
            render(
                r#"{{ $d := sprig_dict "a" 1 }}{{ $_ := sprig_merge $d (sprig_dict "a" 9 "c" 3) }}{{ $d }}"#
            ),
            "map[a:1 c:3]"
        );
        // Aliases, elements and maps reached through `.` share the map, as in Go; a deep copy
        // does not.
        assert_eq!(
            render(
                r#"{{ $d := sprig_dict "a" 1 }}{{ $e := $d }}{{ $_ := sprig_set $e "b" 2 }}{{ $d }}|{{ $in := sprig_dict "x" 1 }}{{ $o := sprig_dict "in" $in }}{{ $_ := sprig_set $in "y" 2 }}{{ $o }}|{{ $c := sprig_deepCopy $o }}{{ $_ := sprig_unset $c "in" }}{{ $o }} {{ $c }}"#
            ),
            "map[a:1 b:2]|map[in:map[x:1 y:2]]|map[in:map[x:1 y:2]] map[]"
        );
        assert_eq!(
            render(
                r#"{{ $l := sprig_list (sprig_dict "n" 1) (sprig_dict "n" 2) }}{{ range $l }}{{ $_ := sprig_set . "seen" true }}{{ end }}{{ range $i, $m := $l }}{{ $_ := sprig_set $m "i" $i }}{{ end }}{{ $l }}"#
            ),
            "[map[i:0 n:1 seen:true] map[i:1 n:2 seen:true]]"
        );
        assert_eq!(
            render(
                r#"{{ with sprig_dict "d" (sprig_dict "a" 1) }}{{ $_ := sprig_set .d "b" 2 }}{{ .d }}{{ end }}"#
            ),
            "map[a:1 b:2]"
        );
        assert_eq!(
            render(
                r#"{{ $l := split "," "c,a,b" }}{{ $s := sprig_sortAlpha $l }}{{ $l }}|{{ $p := parseJSON "[\"z\",\"y\"]" }}{{ $t := sprig_sortAlpha $p }}{{ $p }}"#
            ),
            "[a b c]|[z y]"
        );
    }

    /// Every name of Sprig v3.2.3's function map (the version OpenBao 2.7.2 links), which
    /// consul-template registers with the `sprig_` prefix: present, or absent for a stated reason.
    const SPRIG_PRESENT: &[&str] = &[
        "buildCustomCert",
        "derivePassword",
        "abbrev",
        "abbrevboth",
        "add",
        "add1",
        "add1f",
        "addf",
        "adler32sum",
        "all",
        "any",
        "append",
        "atoi",
        "b32dec",
        "b32enc",
        "b64dec",
        "b64enc",
        "base",
        "biggest",
        "camelcase",
        "cat",
        "ceil",
        "chunk",
        "clean",
        "coalesce",
        "compact",
        "concat",
        "contains",
        "deepCopy",
        "deepEqual",
        "default",
        "dict",
        "dig",
        "dir",
        "div",
        "divf",
        "empty",
        "ext",
        "fail",
        "first",
        "float64",
        "floor",
        "fromJson",
        "get",
        "has",
        "hasKey",
        "hasPrefix",
        "hasSuffix",
        "hello",
        "indent",
        "initial",
        "initials",
        "int",
        "int64",
        "isAbs",
        "join",
        "kebabcase",
        "keys",
        "kindIs",
        "kindOf",
        "last",
        "list",
        "lower",
        "max",
        "maxf",
        "merge",
        "mergeOverwrite",
        "min",
        "minf",
        "mod",
        "mul",
        "mulf",
        "mustAppend",
        "mustChunk",
        "mustCompact",
        "mustDeepCopy",
        "mustFirst",
        "mustFromJson",
        "mustHas",
        "mustInitial",
        "mustLast",
        "mustMerge",
        "mustMergeOverwrite",
        "mustPrepend",
        "mustPush",
        "mustRegexFind",
        "mustRegexFindAll",
        "mustRegexMatch",
        "mustRegexReplaceAll",
        "mustRegexReplaceAllLiteral",
        "mustRegexSplit",
        "mustRest",
        "mustReverse",
        "mustSlice",
        "mustToJson",
        "mustToPrettyJson",
        "mustToRawJson",
        "mustUniq",
        "mustWithout",
        "nindent",
        "nospace",
        "omit",
        "osBase",
        "osClean",
        "osDir",
        "osExt",
        "osIsAbs",
        "pick",
        "pluck",
        "plural",
        "prepend",
        "push",
        "quote",
        "regexFind",
        "regexFindAll",
        "regexMatch",
        "regexQuoteMeta",
        "regexReplaceAll",
        "regexReplaceAllLiteral",
        "regexSplit",
        "repeat",
        "replace",
        "rest",
        "reverse",
        "round",
        "semver",
        "semverCompare",
        "seq",
        "set",
        "sha1sum",
        "sha256sum",
        "slice",
        "snakecase",
        "sortAlpha",
        "split",
        "splitList",
        "splitn",
        "squote",
        "sub",
        "subf",
        "substr",
        "swapcase",
        "ternary",
        "title",
        "toDecimal",
        "toJson",
        "toPrettyJson",
        "toRawJson",
        "toString",
        "toStrings",
        "trim",
        "trimAll",
        "trimPrefix",
        "trimSuffix",
        "trimall",
        "trunc",
        "tuple",
        "typeIs",
        "typeIsLike",
        "typeOf",
        "uniq",
        "unset",
        "until",
        "untilStep",
        "untitle",
        "upper",
        "urlJoin",
        "urlParse",
        "values",
        "without",
        "wrap",
        "wrapWith",
        "toDate",
        "mustToDate",
        "unixEpoch",
        "duration",
        "durationRound",
        "mustDateModify",
        "must_date_modify",
        "decryptAES",
    ];
    /// Not repeatable, so HashiCorp's consul-template leaves them out (Sprig's hermetic map);
    /// OpenBao's agent still has them (docs/differences.md).
    const SPRIG_NON_HERMETIC: &[&str] = &[
        "date",
        "date_in_zone",
        "date_modify",
        "now",
        "htmlDate",
        "htmlDateInZone",
        "dateInZone",
        "dateModify",
        "randAlphaNum",
        "randAlpha",
        "randAscii",
        "randNumeric",
        "randBytes",
        "uuidv4",
        "env",
        "expandenv",
        "getHostByName",
    ];
    /// In the hermetic map, but random or clock-dependent all the same: left out.
    const SPRIG_NOT_REPEATABLE: &[&str] = &[
        "ago",
        "randInt",
        "shuffle",
        "bcrypt",
        "htpasswd",
        "genPrivateKey",
        "genCA",
        "genCAWithKey",
        "genSelfSignedCert",
        "genSelfSignedCertWithKey",
        "genSignedCert",
        "genSignedCertWithKey",
        "encryptAES",
    ];

    #[test]
    fn every_sprig_name_is_present_or_absent_on_purpose() {
        assert_eq!(
            SPRIG_PRESENT.len() + SPRIG_NON_HERMETIC.len() + SPRIG_NOT_REPEATABLE.len(),
            210
        );
        for n in SPRIG_PRESENT {
            assert!(
                super::super::lookup(&format!("sprig_{n}")).is_some(),
                "sprig_{n}"
            );
        }
        for n in SPRIG_NON_HERMETIC.iter().chain(SPRIG_NOT_REPEATABLE) {
            assert!(
                super::super::lookup(&format!("sprig_{n}")).is_none(),
                "sprig_{n}"
            );
        }
    }

    #[test]
    fn decrypt_aes_cbc() {
        // `hello, world` under AES-256-CBC, key "secretkey" zero-padded, IV 00…0f (openssl enc).
        let ct = "AAECAwQFBgcICQoLDA0OD8szLCS9oJdOuDdMW1Y+phA=";
        assert_eq!(sp("decryptAES", &[s("secretkey"), s(ct)]), "hello, world");
        assert_eq!(sp("decryptAES", &[s("secretkey"), s("")]), "");
        assert_eq!(
            sp("decryptAES", &[s("k"), s("!!")]),
            "ERR illegal base64 data at input byte 0"
        );
        assert_eq!(
            sp("decryptAES", &[s("k"), s("AAEC")]),
            "ERR runtime error: slice bounds out of range [:16] with capacity 3"
        );
    }

    #[test]
    fn hello() {
        assert_eq!(sp("hello", &[]), "Hello!");
    }
}
