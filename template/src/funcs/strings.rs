//! String helpers: case mapping, trimming, replacing, regular expressions and `indent`
//! (agent.md §4.5). The piped value is always the last parameter.

use std::sync::LazyLock;

use super::args;
use crate::gostr;
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "toLower" => to_lower,
        "toUpper" => to_upper,
        "toTitle" => to_title,
        "trimSpace" => trim_space,
        "trim" => trim,
        "trimPrefix" => trim_prefix,
        "trimSuffix" => trim_suffix,
        "replaceAll" => replace_all,
        "regexReplaceAll" => regex_replace_all,
        "regexMatch" => regex_match,
        "indent" => indent,
        _ => return None,
    })
}

fn one<'a>(name: &str, a: &'a [Value]) -> Result<&'a str, String> {
    args::arity(name, a, 1)?;
    args::string(&a[0])
}

fn two<'a>(name: &str, a: &'a [Value]) -> Result<(&'a str, &'a str), String> {
    args::arity(name, a, 2)?;
    Ok((args::string(&a[0])?, args::string(&a[1])?))
}

/// Go's `strings.ToLower`: simple (one rune to one rune) case mapping.
pub fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut m = c.to_lowercase();
            match (m.next(), m.next()) {
                (Some(l), None) => l,
                // 'İ' lowers to "i̇" in full mapping; its simple mapping is 'i'.
                (Some(l), Some(_)) => l,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.ToUpper`: simple case mapping (`ß` stays `ß`).
pub fn go_upper(s: &str) -> String {
    s.chars().map(simple_upper).collect()
}

/// Go's `unicode.ToUpper`: the one-character (simple) mapping. Rust gives the full mapping, so
/// where that is longer the character stays, except for the Greek letters with ypogegrammeni,
/// whose simple mapping is their title-case letter (`ᾳ` ⇒ `ᾼ`).
pub fn simple_upper(c: char) -> char {
    match c as u32 {
        0x1F80..=0x1F87 | 0x1F90..=0x1F97 | 0x1FA0..=0x1FA7 => {
            char::from_u32(c as u32 + 8).unwrap_or(c)
        }
        0x1FB3 => '\u{1FBC}',
        0x1FC3 => '\u{1FCC}',
        0x1FF3 => '\u{1FFC}',
        _ => {
            let mut m = c.to_uppercase();
            match (m.next(), m.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// Go's `unicode.ToTitle`: the upper case, except for the Latin digraphs (`ǆ` ⇒ `ǅ`) and the
/// Georgian Mkhedruli letters, whose title case is themselves.
pub fn simple_title(c: char) -> char {
    match c as u32 {
        0x01C4..=0x01C6 => '\u{01C5}',
        0x01C7..=0x01C9 => '\u{01C8}',
        0x01CA..=0x01CC => '\u{01CB}',
        0x01F1..=0x01F3 => '\u{01F2}',
        0x10D0..=0x10FA | 0x10FD..=0x10FF => c,
        _ => simple_upper(c),
    }
}

/// The full title-case mapping (Unicode's SpecialCasing, as x/text `cases` applies it): where it
/// differs from the full upper case (`ß` ⇒ `Ss`, `ﬁ` ⇒ `Fi`, `և` ⇒ `Եւ`, `ᾀ` ⇒ `ᾈ`, digraphs).
fn push_full_title(c: char, out: &mut String) {
    let special: &[u32] = match c as u32 {
        0x00DF => &[0x53, 0x73],
        0xFB00 => &[0x46, 0x66],
        0xFB01 => &[0x46, 0x69],
        0xFB02 => &[0x46, 0x6C],
        0xFB03 => &[0x46, 0x66, 0x69],
        0xFB04 => &[0x46, 0x66, 0x6C],
        0xFB05 | 0xFB06 => &[0x53, 0x74],
        0x0587 => &[0x535, 0x582],
        0xFB13 => &[0x544, 0x576],
        0xFB14 => &[0x544, 0x565],
        0xFB15 => &[0x544, 0x56B],
        0xFB16 => &[0x54E, 0x576],
        0xFB17 => &[0x544, 0x56D],
        0x1FB2 => &[0x1FBA, 0x345],
        0x1FB4 => &[0x386, 0x345],
        0x1FC2 => &[0x1FCA, 0x345],
        0x1FC4 => &[0x389, 0x345],
        0x1FF2 => &[0x1FFA, 0x345],
        0x1FF4 => &[0x38F, 0x345],
        0x1FB7 => &[0x391, 0x342, 0x345],
        0x1FC7 => &[0x397, 0x342, 0x345],
        0x1FF7 => &[0x3A9, 0x342, 0x345],
        0x1F80..=0x1FAF | 0x1FB3 | 0x1FBC | 0x1FC3 | 0x1FCC | 0x1FF3 | 0x1FFC => {
            out.push(simple_title(c));
            return;
        }
        0x01C4..=0x01CC | 0x01F1..=0x01F3 | 0x10D0..=0x10FA | 0x10FD..=0x10FF => {
            out.push(simple_title(c));
            return;
        }
        _ => {
            out.extend(c.to_uppercase());
            return;
        }
    };
    out.extend(special.iter().filter_map(|u| char::from_u32(*u)));
}

/// A cased character (Unicode's `Cased`: upper, lower or title case, with the circled letters
/// and Roman numerals).
fn is_cased(c: char) -> bool {
    c.is_uppercase()
        || c.is_lowercase()
        || matches!(c as u32, 0x01C5 | 0x01C8 | 0x01CB | 0x01F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F
            | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Word-break `MidLetter`, `MidNumLet` and `Single_Quote`: inside a word, unless doubled.
fn is_mid(c: char) -> bool {
    matches!(
        c,
        ':' | '.'
            | '\''
            | '\u{00B7}'
            | '\u{0387}'
            | '\u{055F}'
            | '\u{05F4}'
            | '\u{2027}'
            | '\u{FE13}'
            | '\u{FE55}'
            | '\u{FF1A}'
            | '\u{2018}'
            | '\u{2019}'
            | '\u{2024}'
            | '\u{FE52}'
            | '\u{FF07}'
            | '\u{FF0E}'
    )
}

/// Not cased and does not end a word (Unicode word-break classes, as x/text `cases` uses them):
/// `ALetter` (letters other than ideographs, kana and the scripts written without spaces, plus a
/// few modifier symbols), `Numeric` (decimal digits), `ExtendNumLet` (`_`), `Extend`
/// (marks), `Format` (but not the zero-width space).
fn continues_word(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    static EXTEND: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^[\p{Nd}\p{M}\p{Pc}\p{Cf}]$").expect("valid"));
    static UNSPACED: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(concat!(
            r"^[\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Myanmar}\p{Khmer}\p{Tai_Le}",
            r"\p{New_Tai_Lue}\p{Tai_Tham}\p{Tai_Viet}\x{3031}-\x{3035}\x{309B}\x{309C}",
            r"\x{30A0}\x{30FC}\x{FF70}\x{3006}\x{3007}\x{3021}-\x{3029}\x{3038}-\x{303A}",
            r"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{17000}-\x{18CFF}",
            r"\x{1B170}-\x{1B2FF}\x{20000}-\x{3FFFF}]$",
        ))
        .expect("valid")
    });
    let n = c as u32;
    if n == 0x200B {
        return false;
    }
    let mut buf = [0u8; 4];
    let one = &*c.encode_utf8(&mut buf);
    EXTEND.is_match(one)
        || n == 0x202F
        || (c.is_alphabetic() && !UNSPACED.is_match(one))
        || matches!(n, 0x00B8 | 0x02C2..=0x02C5 | 0x02D2..=0x02D7 | 0x02DE..=0x02DF | 0x02E5..=0x02EB
            | 0x02ED | 0x02EF..=0x02FF | 0x055A..=0x055C | 0x055E | 0x058A | 0x05F3 | 0xA708..=0xA716
            | 0xA720..=0xA721 | 0xA789..=0xA78A | 0xAB5B | 0xAB6A..=0xAB6B)
}

/// consul-template's `toTitle`, x/text `cases.Title(language.Und, cases.NoLower)`: the first cased
/// letter of each word gets its full title case (`ß` ⇒ `Ss`, `ǆ` ⇒ `ǅ`), the rest stay. A word
/// goes on over letters and digits without case (`1st` ⇒ `1St`), `_`, marks and one of
/// `' . : ’ ·`; anything else ends it, and so do two of those in a row.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    title_into(s, &mut out, &mut (false, false));
    out
}

/// [`title`] of `s` appended to `out`; `state` is (inside a word, the last character was `is_mid`).
fn title_into(s: &str, out: &mut String, state: &mut (bool, bool)) {
    let (mut mid_word, mut prev_mid) = *state;
    for c in s.chars() {
        let mid = is_mid(c);
        if prev_mid && mid {
            mid_word = false;
        }
        if is_cased(c) {
            if mid_word {
                out.push(c);
            } else {
                push_full_title(c, out);
                mid_word = true;
            }
        } else {
            out.push(c);
            if !mid && !continues_word(c) {
                mid_word = false;
            }
        }
        prev_mid = mid;
    }
    *state = (mid_word, prev_mid);
}

/// [`title`] of any bytes: x/text copies a bad byte and ends the word there (`crate::gostr`).
pub fn title_bytes(b: &[u8]) -> Vec<u8> {
    let mut out = String::with_capacity(b.len());
    let mut bytes = Vec::with_capacity(b.len());
    let mut state = (false, false);
    for chunk in b.utf8_chunks() {
        out.clear();
        title_into(chunk.valid(), &mut out, &mut state);
        bytes.extend_from_slice(out.as_bytes());
        if !chunk.invalid().is_empty() {
            bytes.extend_from_slice(chunk.invalid());
            state = (false, false);
        }
    }
    bytes
}

/// Go's `strings.Title` (Sprig's `title`): a letter right after a separator gets `unicode.ToTitle`;
/// separators are ASCII characters other than letters, digits and `_`, and white space.
pub fn strings_title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let sep = if prev.is_ascii() {
                !(prev.is_ascii_alphanumeric() || prev == '_')
            } else {
                go_space(prev)
            };
            prev = c;
            if sep { simple_title(c) } else { c }
        })
        .collect()
}

/// Go's `unicode.IsSpace`.
pub fn go_space(c: char) -> bool {
    c.is_whitespace()
}

fn to_lower(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(go_lower(one("toLower", a)?)))
}

fn to_upper(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(go_upper(one("toUpper", a)?)))
}

fn to_title(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    if gostr::any_binary(a) {
        args::arity("toTitle", a, 1)?;
        return Ok(gostr::from_bytes(title_bytes(args::string_bytes(&a[0])?)));
    }
    Ok(Value::str(title(one("toTitle", a)?)))
}

/// The arguments' bytes when one of them is a string that is not UTF-8 (`crate::gostr`): the
/// functions below then work on bytes, as Go's do.
fn two_bytes<'a>(name: &str, a: &'a [Value]) -> Option<args::BytePair<'a>> {
    gostr::any_binary(a).then(|| {
        args::arity(name, a, 2)?;
        Ok((args::string_bytes(&a[0])?, args::string_bytes(&a[1])?))
    })
}

fn bytes_value(b: &[u8]) -> Result<Value, String> {
    Ok(gostr::from_bytes(b.to_vec()))
}

fn trim_space(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    if gostr::any_binary(a) {
        args::arity("trimSpace", a, 1)?;
        return bytes_value(gostr::trim_func(args::string_bytes(&a[0])?, go_space));
    }
    Ok(Value::str(one("trimSpace", a)?.trim_matches(go_space)))
}

fn trim(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    if let Some(r) = two_bytes("trim", a) {
        let (cutset, s) = r?;
        return bytes_value(gostr::trim_cutset(s, cutset));
    }
    let (cutset, s) = two("trim", a)?;
    Ok(Value::str(s.trim_matches(|c| cutset.contains(c))))
}

fn trim_prefix(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    if let Some(r) = two_bytes("trimPrefix", a) {
        let (p, s) = r?;
        return bytes_value(s.strip_prefix(p).unwrap_or(s));
    }
    let (p, s) = two("trimPrefix", a)?;
    Ok(Value::str(s.strip_prefix(p).unwrap_or(s)))
}

fn trim_suffix(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    if let Some(r) = two_bytes("trimSuffix", a) {
        let (p, s) = r?;
        return bytes_value(s.strip_suffix(p).unwrap_or(s));
    }
    let (p, s) = two("trimSuffix", a)?;
    Ok(Value::str(s.strip_suffix(p).unwrap_or(s)))
}

fn replace_all(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("replaceAll", a, 3)?;
    if gostr::any_binary(a) {
        let (from, to, s) = (
            args::string_bytes(&a[0])?,
            args::string_bytes(&a[1])?,
            args::string_bytes(&a[2])?,
        );
        return Ok(gostr::from_bytes(gostr::replace(s, from, to, -1)));
    }
    let (from, to, s) = (
        args::string(&a[0])?,
        args::string(&a[1])?,
        args::string(&a[2])?,
    );
    Ok(Value::str(s.replace(from, to)))
}

/// Compiles a Go RE2 expression; the error reads like Go's `error parsing regexp: …`.
pub fn compile(re: &str) -> Result<regex::Regex, String> {
    let translated = re2_syntax(re).map_err(|e| format!("error parsing regexp: {e}"))?;
    regex::Regex::new(&translated).map_err(|e| {
        let detail = e.to_string();
        let last = detail
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_string();
        let last = last.strip_prefix("error: ").unwrap_or(&last).to_string();
        format!("error parsing regexp: {last}: `{re}`")
    })
}

/// [`compile`] of a template value (agent.md §4.5.3): Go's parser refuses a pattern whose bytes
/// are not UTF-8 (`invalid UTF-8`) where its U+FFFD text would compile; the error shows that text.
pub fn compile_value(v: &Value) -> Result<regex::Regex, String> {
    if let Some(b) = gostr::invalid_utf8(v) {
        return Err(format!(
            "error parsing regexp: invalid UTF-8: `{}`",
            gostr::lossy(b)
        ));
    }
    compile(args::string(v)?)
}

/// RE2's syntax in the `regex` crate's (agent.md §4.5.2): the Perl classes `\d`, `\s`, `\w` and
/// the word boundaries `\b`, `\B` are ASCII-only in Go (`\s` is `[\t\n\f\r ]`, without `\v`), while
/// the crate makes them Unicode; `\p{…}` stays Unicode. Inside a class Go reads `[` and doubled
/// `&&`, `--`, `~~` literally, where the crate nests classes or applies set operations, so those
/// are escaped; `\Q…\E` (literal text) and octal escapes (`\012`) are spelled out, as the crate has
/// no such forms; a `{` that does not start a repetition is literal. What Go refuses and the crate
/// would take (nested repetitions `a**`, escapes Go does not know) is an error with Go's text.
pub fn re2_syntax(re: &str) -> Result<String, String> {
    let chars: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 16);
    let mut i = 0;
    // Inside a class: whether anything has been read since `[` or `[^` (a first `]` is literal).
    let mut class: Option<bool> = None;
    // Where the last repetition operator started, when the previous token was one.
    let mut last_repeat: Option<usize> = None;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        i += 1;
        if let Some(seen) = class {
            match c {
                ']' if seen => {
                    out.push(']');
                    class = None;
                    continue;
                }
                '\\' => {
                    let Some(&e) = chars.get(i) else {
                        return Err("trailing backslash at end of expression".into());
                    };
                    i += 1;
                    match e {
                        'd' => out.push_str("0-9"),
                        's' => out.push_str(r"\t\n\f\r "),
                        'w' => out.push_str("0-9A-Za-z_"),
                        'D' => out.push_str("[^0-9]"),
                        'S' => out.push_str(r"[^\t\n\f\r ]"),
                        'W' => out.push_str("[^0-9A-Za-z_]"),
                        _ => i = escape(&chars, i - 1, &mut out)?,
                    }
                }
                '[' if chars.get(i) == Some(&':') => {
                    // An ASCII class name, `[:alpha:]`: copied to its `:]`.
                    out.push('[');
                    while i < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                        if chars[i - 1] == ':' && chars.get(i) == Some(&']') {
                            out.push(']');
                            i += 1;
                            break;
                        }
                    }
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' if chars.get(i) == Some(&'-') => {
                    out.push_str(r"-\-");
                    i += 1;
                }
                _ => out.push(c),
            }
            class = Some(true);
            continue;
        }
        let mut repeat = false;
        match c {
            '\\' => {
                let Some(&e) = chars.get(i) else {
                    return Err("trailing backslash at end of expression".into());
                };
                i += 1;
                match e {
                    'd' => out.push_str("[0-9]"),
                    's' => out.push_str(r"[\t\n\f\r ]"),
                    'w' => out.push_str("[0-9A-Za-z_]"),
                    'D' => out.push_str("[^0-9]"),
                    'S' => out.push_str(r"[^\t\n\f\r ]"),
                    'W' => out.push_str("[^0-9A-Za-z_]"),
                    'b' | 'B' => out.push_str(&format!(r"(?-u:\{e})")),
                    'A' | 'z' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'Q' => {
                        let rest: String = chars[i..].iter().collect();
                        let (lit, used) = match rest.find(r"\E") {
                            Some(end) => (&rest[..end], rest[..end].chars().count() + 2),
                            None => (rest.as_str(), rest.chars().count()),
                        };
                        out.push_str(&format!("(?:{})", regex::escape(lit)));
                        i += used;
                    }
                    _ => i = escape(&chars, i - 1, &mut out)?,
                }
            }
            '[' => {
                out.push('[');
                if chars.get(i) == Some(&'^') {
                    i += 1;
                    out.push('^');
                }
                class = Some(false);
            }
            '*' | '+' | '?' => {
                repeat = true;
                out.push(c);
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
            }
            '{' => match repeat_len(&chars[i..]) {
                Some((len, valid)) => {
                    let op: String = chars[start..i + len].iter().collect();
                    if !valid {
                        return Err(format!("invalid repeat count: `{op}`"));
                    }
                    repeat = true;
                    out.push_str(&op);
                    i += len;
                    if chars.get(i) == Some(&'?') {
                        out.push('?');
                        i += 1;
                    }
                }
                None => out.push_str(r"\{"),
            },
            _ => out.push(c),
        }
        if repeat {
            if let Some(prev) = last_repeat {
                let op: String = chars[prev..i].iter().collect();
                return Err(format!("invalid nested repetition operator: `{op}`"));
            }
            last_repeat = Some(start);
        } else {
            last_repeat = None;
        }
    }
    Ok(out)
}

/// After a `{`: the length of `n}`, `n,}` or `n,m}` (and whether the counts are within RE2's
/// 1000), or `None` when this is no repetition and the `{` is literal.
fn repeat_len(rest: &[char]) -> Option<(usize, bool)> {
    let digits = |from: usize| {
        rest[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let n = digits(0);
    if n == 0 {
        return None;
    }
    let count = |from: usize, len: usize| -> Option<u32> {
        rest[from..from + len]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    };
    let lo = count(0, n);
    let (hi, end) = match rest.get(n) {
        Some('}') => (lo, n),
        Some(',') => match digits(n + 1) {
            0 if rest.get(n + 1) == Some(&'}') => (None, n + 1),
            m if m > 0 && rest.get(n + 1 + m) == Some(&'}') => (count(n + 1, m), n + 1 + m),
            _ => return None,
        },
        _ => return None,
    };
    let within = |x: Option<u32>| x.is_some_and(|x| x <= 1000);
    let valid = within(lo) && (hi.is_none() && rest[end - 1] == ',' || within(hi) && hi >= lo);
    Some((end + 1, valid))
}

/// An escape other than the Perl classes, at `chars[at]` (the character after `\`): what Go
/// accepts, in the crate's spelling; returns the index after it.
fn escape(chars: &[char], at: usize, out: &mut String) -> Result<usize, String> {
    let e = chars[at];
    let mut i = at + 1;
    match e {
        '1'..='7' if !chars.get(i).is_some_and(|d| ('0'..='7').contains(d)) => {
            return Err(format!("invalid escape sequence: `\\{e}`"));
        }
        '0'..='7' => {
            let mut v = e.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.get(i).and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        i += 1;
                    }
                    None => break,
                }
            }
            out.push_str(&format!("\\x{{{v:x}}}"));
        }
        'a' | 'f' | 'n' | 'r' | 't' | 'v' => {
            out.push('\\');
            out.push(e);
        }
        'p' | 'P' if !go_unicode_class(&chars[i..]) => {
            // Go knows general categories and scripts by their exact names, and `Any`; the crate
            // (with features another crate may turn on) also boolean properties, ages and loose
            // spellings, which Go refuses.
            let class: String = if chars.get(i) == Some(&'{') {
                chars[i..]
                    .iter()
                    .take_while(|c| **c != '}')
                    .chain(Some(&'}'))
                    .collect()
            } else {
                chars.get(i).map(|c| c.to_string()).unwrap_or_default()
            };
            return Err(format!("invalid character class range: `\\{e}{class}`"));
        }
        'p' | 'P' if chars.get(i) == Some(&'{') && chars.get(i + 1) == Some(&'^') => {
            // Go's negation inside the braces (`\p{^Greek}`) is the crate's `\P{Greek}`.
            out.push('\\');
            out.push(if e == 'p' { 'P' } else { 'p' });
            out.push('{');
            i += 2;
            while let Some(&c) = chars.get(i) {
                out.push(c);
                i += 1;
                if c == '}' {
                    break;
                }
            }
        }
        'x' | 'p' | 'P' => {
            // Hex and Unicode classes read alike in both (`\x41`, `\x{e9}`, `\pL`, `\p{Greek}`):
            // copied with their operand; the crate reports malformed ones.
            out.push('\\');
            out.push(e);
            if chars.get(i) == Some(&'{') {
                while let Some(&c) = chars.get(i) {
                    out.push(c);
                    i += 1;
                    if c == '}' {
                        break;
                    }
                }
            } else {
                let n = if e == 'x' { 2 } else { 1 };
                for _ in 0..n {
                    if let Some(&c) = chars.get(i) {
                        out.push(c);
                        i += 1;
                    }
                }
            }
        }
        c if c.is_ascii_punctuation() => {
            if regex_syntax_meta(c) {
                out.push('\\');
                out.push(c);
            } else {
                out.push_str(&format!("\\x{{{:x}}}", c as u32));
            }
        }
        c => {
            let shown: String = chars[at - 1..=at].iter().collect();
            let _ = c;
            return Err(format!("invalid escape sequence: `{shown}`"));
        }
    }
    Ok(i)
}

/// The characters the crate itself treats as special (and so allows escaping).
fn regex_syntax_meta(c: char) -> bool {
    r"\.+*?()|[]{}^$#&-~".contains(c)
}

/// A string that is not UTF-8 (`crate::gostr`) as Go's regexp reads it: each bad byte is U+FFFD,
/// so a regex runs on the U+FFFD text and its match offsets are mapped back to the bytes.
pub struct Haystack<'a> {
    pub bytes: &'a [u8],
    pub text: String,
    /// The byte offset of each text offset (and of the end).
    at: Vec<usize>,
}

impl<'a> Haystack<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let text = gostr::lossy(bytes);
        let mut at = Vec::with_capacity(text.len() + 1);
        let mut off = 0;
        for chunk in bytes.utf8_chunks() {
            at.extend(off..off + chunk.valid().len());
            off += chunk.valid().len();
            for _ in chunk.invalid() {
                at.extend([off; 3]);
                off += 1;
            }
        }
        at.push(off);
        Haystack { bytes, text, at }
    }

    /// The bytes of the text's `start..end`.
    pub fn span(&self, start: usize, end: usize) -> &'a [u8] {
        &self.bytes[self.at[start]..self.at[end]]
    }

    /// Go's `ReplaceAllString` (`literal`: `ReplaceAllLiteralString`): `$1`, `${name}` and `$$`
    /// in `repl` expand to the groups' bytes.
    pub fn replace_all(&self, re: &regex::Regex, repl: &[u8], literal: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len());
        let mut last = 0;
        for caps in re.captures_iter(&self.text) {
            let m = caps.get(0).map_or(0..0, |m| m.range());
            out.extend_from_slice(self.span(last, m.start));
            if literal {
                out.extend_from_slice(repl);
            } else {
                self.expand(re, &caps, repl, &mut out);
            }
            last = m.end;
        }
        out.extend_from_slice(self.span(last, self.text.len()));
        out
    }

    /// Go's `Regexp.Expand`: a malformed `$` is written as it is, an unknown group as nothing.
    fn expand(&self, re: &regex::Regex, caps: &regex::Captures<'_>, t: &[u8], out: &mut Vec<u8>) {
        let mut i = 0;
        while i < t.len() {
            if t[i] != b'$' {
                out.push(t[i]);
                i += 1;
                continue;
            }
            i += 1;
            if t.get(i) == Some(&b'$') {
                out.push(b'$');
                i += 1;
                continue;
            }
            let brace = t.get(i) == Some(&b'{');
            let start = i + usize::from(brace);
            let mut end = start;
            while end < t.len() {
                let (c, n) = gostr::decode_rune(&t[end..]);
                if !(c.is_alphanumeric() || c == '_') {
                    break;
                }
                end += n;
            }
            if end == start || (brace && t.get(end) != Some(&b'}')) {
                out.push(b'$');
                continue;
            }
            let name = std::str::from_utf8(&t[start..end]).unwrap_or_default();
            let group = match name.parse::<usize>() {
                Ok(n) if !(name.starts_with('0') && name.len() > 1) => caps.get(n),
                _ => re
                    .capture_names()
                    .position(|x| x == Some(name))
                    .and_then(|k| caps.get(k)),
            };
            if let Some(g) = group {
                out.extend_from_slice(self.span(g.start(), g.end()));
            }
            i = end + usize::from(brace);
        }
    }
}

fn regex_replace_all(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("regexReplaceAll", a, 3)?;
    if gostr::any_binary(&a[1..]) {
        let re = compile_value(&a[0])?;
        let (repl, s) = (args::string_bytes(&a[1])?, args::string_bytes(&a[2])?);
        return Ok(gostr::from_bytes(
            Haystack::new(s).replace_all(&re, repl, false),
        ));
    }
    let (_, repl, s) = (
        args::string(&a[0])?,
        args::string(&a[1])?,
        args::string(&a[2])?,
    );
    Ok(Value::str(
        compile_value(&a[0])?.replace_all(s, repl).into_owned(),
    ))
}

fn regex_match(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let (_, s) = two("regexMatch", a)?;
    Ok(Value::Bool(compile_value(&a[0])?.is_match(s)))
}

/// Prefixes the start of every non-empty line with `n` spaces.
pub fn indent_text(n: i64, s: &str) -> Result<String, String> {
    if n < 0 {
        return Err("indent value must be a positive integer".into());
    }
    let prefix = " ".repeat(n as usize);
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c != '\n' {
            out.push_str(&prefix);
        }
        out.push(c);
        at_start = c == '\n';
    }
    Ok(out)
}

/// [`indent_text`] of any bytes (`crate::gostr`).
pub fn indent_bytes(n: i64, s: &[u8]) -> Result<Vec<u8>, String> {
    if n < 0 {
        return Err("indent value must be a positive integer".into());
    }
    let mut out = Vec::with_capacity(s.len());
    let mut at_start = true;
    for &c in s {
        if at_start && c != b'\n' {
            out.extend(std::iter::repeat_n(b' ', n as usize));
        }
        out.push(c);
        at_start = c == b'\n';
    }
    Ok(out)
}

fn indent(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("indent", a, 2)?;
    let n = args::int(&a[0])?;
    if gostr::any_binary(a) {
        return Ok(gostr::from_bytes(indent_bytes(
            n,
            args::string_bytes(&a[1])?,
        )?));
    }
    Ok(Value::str(indent_text(n, args::string(&a[1])?)?))
}

/// Whether `rest` (what follows `\p` or `\P`) names a class Go's RE2 knows: a general category
/// or a script of Unicode 15.0 by its exact name, or `Any`; `^` negates inside braces.
fn go_unicode_class(rest: &[char]) -> bool {
    let name: String = match rest.first() {
        Some('{') => rest[1..].iter().take_while(|c| **c != '}').collect(),
        Some(c) => c.to_string(),
        None => return true, // malformed: the crate reports it
    };
    let name = name.strip_prefix('^').unwrap_or(&name);
    GO_CATEGORIES.contains(&name) || GO_SCRIPTS.binary_search(&name).is_ok() || name == "Any"
}

/// Go's `unicode.Categories`.
const GO_CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N",
    "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So",
    "Z", "Zl", "Zp", "Zs",
];

/// Go's `unicode.Scripts` (Unicode 15.0.0), sorted.
const GO_SCRIPTS: &[&str] = &[
    "Adlam",
    "Ahom",
    "Anatolian_Hieroglyphs",
    "Arabic",
    "Armenian",
    "Avestan",
    "Balinese",
    "Bamum",
    "Bassa_Vah",
    "Batak",
    "Bengali",
    "Bhaiksuki",
    "Bopomofo",
    "Brahmi",
    "Braille",
    "Buginese",
    "Buhid",
    "Canadian_Aboriginal",
    "Carian",
    "Caucasian_Albanian",
    "Chakma",
    "Cham",
    "Cherokee",
    "Chorasmian",
    "Common",
    "Coptic",
    "Cuneiform",
    "Cypriot",
    "Cypro_Minoan",
    "Cyrillic",
    "Deseret",
    "Devanagari",
    "Dives_Akuru",
    "Dogra",
    "Duployan",
    "Egyptian_Hieroglyphs",
    "Elbasan",
    "Elymaic",
    "Ethiopic",
    "Georgian",
    "Glagolitic",
    "Gothic",
    "Grantha",
    "Greek",
    "Gujarati",
    "Gunjala_Gondi",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hanifi_Rohingya",
    "Hanunoo",
    "Hatran",
    "Hebrew",
    "Hiragana",
    "Imperial_Aramaic",
    "Inherited",
    "Inscriptional_Pahlavi",
    "Inscriptional_Parthian",
    "Javanese",
    "Kaithi",
    "Kannada",
    "Katakana",
    "Kawi",
    "Kayah_Li",
    "Kharoshthi",
    "Khitan_Small_Script",
    "Khmer",
    "Khojki",
    "Khudawadi",
    "Lao",
    "Latin",
    "Lepcha",
    "Limbu",
    "Linear_A",
    "Linear_B",
    "Lisu",
    "Lycian",
    "Lydian",
    "Mahajani",
    "Makasar",
    "Malayalam",
    "Mandaic",
    "Manichaean",
    "Marchen",
    "Masaram_Gondi",
    "Medefaidrin",
    "Meetei_Mayek",
    "Mende_Kikakui",
    "Meroitic_Cursive",
    "Meroitic_Hieroglyphs",
    "Miao",
    "Modi",
    "Mongolian",
    "Mro",
    "Multani",
    "Myanmar",
    "Nabataean",
    "Nag_Mundari",
    "Nandinagari",
    "New_Tai_Lue",
    "Newa",
    "Nko",
    "Nushu",
    "Nyiakeng_Puachue_Hmong",
    "Ogham",
    "Ol_Chiki",
    "Old_Hungarian",
    "Old_Italic",
    "Old_North_Arabian",
    "Old_Permic",
    "Old_Persian",
    "Old_Sogdian",
    "Old_South_Arabian",
    "Old_Turkic",
    "Old_Uyghur",
    "Oriya",
    "Osage",
    "Osmanya",
    "Pahawh_Hmong",
    "Palmyrene",
    "Pau_Cin_Hau",
    "Phags_Pa",
    "Phoenician",
    "Psalter_Pahlavi",
    "Rejang",
    "Runic",
    "Samaritan",
    "Saurashtra",
    "Sharada",
    "Shavian",
    "Siddham",
    "SignWriting",
    "Sinhala",
    "Sogdian",
    "Sora_Sompeng",
    "Soyombo",
    "Sundanese",
    "Syloti_Nagri",
    "Syriac",
    "Tagalog",
    "Tagbanwa",
    "Tai_Le",
    "Tai_Tham",
    "Tai_Viet",
    "Takri",
    "Tamil",
    "Tangsa",
    "Tangut",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
    "Tifinagh",
    "Tirhuta",
    "Toto",
    "Ugaritic",
    "Vai",
    "Vithkuqi",
    "Wancho",
    "Warang_Citi",
    "Yezidi",
    "Yi",
    "Zanabazar_Square",
];

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn regex_patterns_that_are_not_utf8_are_refused() {
        let err = "ERR error parsing regexp: invalid UTF-8: `\u{fffd}`";
        assert_eq!(show("regexMatch", &[bin(b"\xff"), s("\u{fffd}")]), err);
        assert_eq!(
            show("regexReplaceAll", &[bin(b"\xff"), s("y"), s("x")]),
            err
        );
        assert_eq!(
            show("regexReplaceAll", &[bin(b"\xff"), s("y"), bin(b"\xff")]),
            err
        );
    }

    #[test]
    fn regexes_read_bad_bytes_as_u_fffd_and_keep_them() {
        let b = bin(b"\xff\x80\xfeaba");
        assert_eq!(
            bytes("regexReplaceAll", &[s("a"), s("X"), b.clone()]),
            b"\xff\x80\xfeXbX"
        );
        assert_eq!(
            bytes("regexReplaceAll", &[s("(a)(b)"), s("[$2$1]"), b.clone()]),
            b"\xff\x80\xfe[ba]a"
        );
        assert_eq!(
            bytes("regexReplaceAll", &[s("[^a]"), s("."), b.clone()]),
            b"...a.a"
        );
        assert_eq!(
            bytes(
                "regexReplaceAll",
                &[s("(?P<x>a)"), bin(b"<${x}>$x1$\xfe"), b.clone()]
            ),
            b"\xff\x80\xfe<a>$\xfeb<a>$\xfe"
        );
        assert_eq!(show("regexMatch", &[s("^.{6}$"), b]), "true");
        let h = Haystack::new(b"\xe2\x82Ab");
        assert_eq!(h.text, "\u{FFFD}\u{FFFD}Ab");
        assert_eq!(h.span(3, 7), b"\x82A");
    }

    #[test]
    fn strings_that_are_not_utf8_keep_their_bytes() {
        let b = bin(b"\xff\x80\xfeab");
        let sp = bin(b" \xff \n");
        assert_eq!(bytes("trimSpace", std::slice::from_ref(&sp)), b"\xff");
        assert_eq!(bytes("trim", &[bin(b" \xff"), sp.clone()]), b"\n");
        assert_eq!(bytes("trim", &[bin(b"\xff"), sp]), b" \xff \n");
        assert_eq!(bytes("trim", &[s("\u{FFFD}"), b.clone()]), b"ab");
        assert_eq!(
            bytes("trimPrefix", &[bin(b"\xff"), b.clone()]),
            b"\x80\xfeab"
        );
        assert_eq!(bytes("trimSuffix", &[s("b"), b.clone()]), b"\xff\x80\xfea");
        assert_eq!(
            bytes("replaceAll", &[s(""), s("-"), b.clone()]),
            b"-\xff-\x80-\xfe-a-b-"
        );
        assert_eq!(
            bytes("replaceAll", &[s("a"), bin(b"\xfe"), s("xax")]),
            b"x\xfex"
        );
        assert_eq!(
            bytes("indent", &[i(1), bin(b"\xff\n\n\xfe")]),
            b" \xff\n\n \xfe"
        );
        // Case mapping decodes runes: U+FFFD for each bad byte; x/text's title keeps them.
        assert_eq!(show("toUpper", &[bin(b"\xe2\x82a")]), "\u{FFFD}\u{FFFD}A");
        assert_eq!(bytes("toTitle", &[bin(b"a\xffb a")]), b"A\xffB A");
        assert_eq!(
            bytes("toTitle", &[bin(b"\xc3\x9f\xff\xc3\x9f")]),
            b"Ss\xffSs"
        );
    }

    #[test]
    fn to_title_is_x_text_title_with_full_title_case() {
        let t = |x: &str| show("toTitle", &[s(x)]);
        assert_eq!(t("ßa straße ﬁx ǆx ŉx"), "Ssa Straße Fix ǅx ʼNx");
        assert_eq!(t("1st 2nd ½x"), "1St 2Nd ½X");
        assert_eq!(t("o'neil o’neil a.b x:y a·b"), "O'neil O’neil A.b X:y A·b");
        assert_eq!(t("a..b a''b a-b a/b a«b a_b"), "A..B A''B A-B A/B A«B A_b");
        assert_eq!(t("aBC ᾳx ᾀx ΐx ǅx"), "ABC ᾼx ᾈx \u{399}\u{308}\u{301}x ǅx");
        // Georgian Mkhedruli letters are their own title case; CJK has no case.
        assert_eq!(t("ა 日本 abc"), "ა 日本 Abc");
        // Word-break classes: ideographs and kana end a word, 々 and modifier symbols do not.
        assert_eq!(
            t("a日b a々b aアb a˂b a\u{2066}b a\u{200b}b"),
            "A日B A々b AアB A˂b A\u{2066}b A\u{200b}B"
        );
    }

    #[test]
    fn strings_title_is_go_s_with_its_separators() {
        let t = strings_title;
        assert_eq!(t("ßa ﬁx ǆx ǳy 1st"), "ßa ﬁx ǅx ǲy 1st");
        assert_eq!(
            t("o'neil o’neil a.b x«y» a·b"),
            "O'Neil O’neil A.B X«y» A·b"
        );
        assert_eq!(
            t("hello-world_x a\u{a0}b a\u{3000}b"),
            "Hello-World_x A\u{a0}B A\u{3000}B"
        );
        assert_eq!(t("ა ᾳx"), "ა ᾼx");
    }

    #[test]
    fn upper_and_lower_are_one_character_each() {
        assert_eq!(go_upper("ß ŉ ǅ ǆ ı ﬁ ᾳ ᾀ ᾈ"), "ß ŉ Ǆ Ǆ I ﬁ ᾼ ᾈ ᾈ");
        assert_eq!(go_lower("İ K Ǆ ǅ ᾈ"), "i k ǆ ǆ ᾀ");
        assert_eq!(simple_title('ǆ'), 'ǅ');
        assert_eq!(simple_title('ß'), 'ß');
    }

    #[test]
    fn regex_unicode_classes_are_go_s() {
        // Go's RE2 knows general categories, scripts and case folding …
        assert!(compile(r"^\p{Greek}+$").unwrap().is_match("αβγ"));
        assert!(compile(r"^\pL\p{Lu}$").unwrap().is_match("aÄ"));
        assert!(compile(r"(?i)^straSSe|ärger$").unwrap().is_match("ÄRGER"));
        assert!(compile(r"^\w+\s\d$").unwrap().is_match("ab 1"));
        // … but not Unicode boolean properties or ages, and neither does vaultlet.
        let e = compile(r"\p{Alphabetic}").unwrap_err();
        assert!(e.starts_with("error parsing regexp: "), "{e}");
        assert!(e.ends_with("`\\p{Alphabetic}`"), "{e}");
        assert!(compile(r"\p{Age:3.0}").is_err());
        // Exact names only (the crate also takes `greek`, `Letter`, `White_Space`).
        for bad in [
            r"\p{greek}",
            r"\p{Letter}",
            r"\P{White_Space}",
            r"[\p{Emoji}]",
        ] {
            assert!(compile(bad).is_err(), "{bad}");
        }
        assert!(compile(r"^\p{^Greek}\PL\p{Any}$").unwrap().is_match("a1b"));
    }

    #[test]
    fn the_script_table_is_sorted_for_its_binary_search() {
        assert!(GO_SCRIPTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn perl_classes_and_word_boundaries_are_ascii_as_in_re2() {
        let m = |re: &str, s: &str| compile(re).unwrap().is_match(s);
        assert!(!m(r"^\w+$", "café"));
        assert!(m(r"^\w+$", "cafe_1"));
        assert!(!m(r"^\d$", "٣"));
        assert!(!m(r"^\s$", "\u{a0}"));
        assert!(!m(r"^\s$", "\u{b}"));
        assert!(m(r"^\s+$", " \t\n\r\u{c}"));
        assert!(m(r"^\S$", "\u{a0}"));
        assert!(m(r"^\W$", "é"));
        assert!(m(r"^\D\D$", "٣x"));
        // `é` is not a word character, so there is a boundary between it and `x`.
        assert!(m(r"é\bx", "éx"));
        assert!(!m(r"\Bé", "xé"));
        assert!(m(r"^[\w-]+$", "a-b_c"));
        assert!(!m(r"^[\w]+$", "ä"));
        assert!(m(r"^[^\d]+$", "٣"));
        assert!(m(r"^[\D]$", "a"));
        assert!(m(r"^\p{L}+$", "ä"));
        assert!(m(r"^[\p{Greek}\d]+$", "α1"));
        // Go reads `[`, `&&` and `~~` inside a class literally.
        assert!(m(r"^[[]+$", "[["));
        assert!(m(r"^[a&&b]+$", "a&b"));
        assert!(m(r"^[~~]$", "~"));
        assert!(m(r"^[]a]+$", "]a"));
        assert!(m(r"^[[:alpha:]]+$", "ab"));
        assert!(m(r"^\Qa.b\E$", "a.b"));
        assert!(!m(r"^\Qa.b\E$", "axb"));
        assert_eq!(
            re2_syntax(r"\w\s\b").unwrap(),
            r"[0-9A-Za-z_][\t\n\f\r ](?-u:\b)"
        );
        // Go's forms the crate lacks or reads otherwise.
        assert!(m(r"^a{,2}$", "a{,2}"));
        assert!(m(r"^\101\0$", "A\0"));
        assert!(m(r"^\_\!\@$", "_!@"));
        assert!(m(r"^a*?b{2}?$", "abb"));
        assert!(m(r"^(a*)*$", "aa"));
        let err = |re: &str| compile(re).unwrap_err();
        assert_eq!(
            err("a++"),
            "error parsing regexp: invalid nested repetition operator: `++`"
        );
        assert_eq!(
            err("a{2}*"),
            "error parsing regexp: invalid nested repetition operator: `{2}*`"
        );
        assert_eq!(
            err("a**?"),
            "error parsing regexp: invalid nested repetition operator: `**?`"
        );
        assert_eq!(
            err(r"(a)\1"),
            r"error parsing regexp: invalid escape sequence: `\1`"
        );
        assert_eq!(
            err(r"\C"),
            r"error parsing regexp: invalid escape sequence: `\C`"
        );
        assert_eq!(
            err(r"\8"),
            r"error parsing regexp: invalid escape sequence: `\8`"
        );
        assert_eq!(
            err("a{1001}"),
            "error parsing regexp: invalid repeat count: `{1001}`"
        );
        assert_eq!(
            err("x\\"),
            "error parsing regexp: trailing backslash at end of expression"
        );
    }

    #[test]
    fn case_mapping_is_go_simple_mapping() {
        assert_eq!(show("toUpper", &[s("HeLLo WoRLD äÖ")]), "HELLO WORLD ÄÖ");
        assert_eq!(show("toLower", &[s("HeLLo WoRLD äÖ")]), "hello world äö");
        assert_eq!(show("toUpper", &[s("straße")]), "STRAßE");
        assert_eq!(show("toLower", &[s("ΟΔΟΣ")]), "οδοσ");
        assert_eq!(show("toTitle", &[s("hello world äö")]), "Hello World Äö");
        assert_eq!(show("toTitle", &[s("appuser")]), "Appuser");
        assert_eq!(
            show("toTitle", &[s("mIxed-case_x don't")]),
            "MIxed-Case_x Don't"
        );
        assert_eq!(
            show("toUpper", &[Value::Number("1".into())]),
            "ERR wrong type for value; expected string; got json.Number"
        );
        assert_eq!(
            show("toUpper", &[]),
            "ERR wrong number of args for toUpper: want 1 got 0"
        );
    }

    #[test]
    fn trimming() {
        assert_eq!(show("trimSpace", &[s("  padded value \n")]), "padded value");
        assert_eq!(show("trimSpace", &[s("\u{a0}x\u{3000}")]), "x");
        assert_eq!(
            show("trim", &[s(" \n"), s("  padded value \n")]),
            "padded value"
        );
        assert_eq!(show("trim", &[s("ab"), s("abxba")]), "x");
        assert_eq!(
            show(
                "trimPrefix",
                &[s("-----BEGIN X-----\n"), s("-----BEGIN X-----\nAAAA\n")]
            ),
            "AAAA\n"
        );
        assert_eq!(show("trimPrefix", &[s("zz"), s("abc")]), "abc");
        assert_eq!(show("trimSuffix", &[s("\n"), s("x\n\n")]), "x\n");
    }

    #[test]
    fn replacing() {
        assert_eq!(
            show("replaceAll", &[s("&"), s("and"), s("p@ss&<1>&")]),
            "p@ssand<1>and"
        );
        assert_eq!(show("replaceAll", &[s(""), s("-"), s("ab")]), "-a-b-");
        assert_eq!(
            show("regexReplaceAll", &[s("l+"), s("L"), s("hello")]),
            "heLo"
        );
        assert_eq!(
            show(
                "regexReplaceAll",
                &[s("(\\w+)@(\\w+)"), s("$2 at $1"), s("me@host")]
            ),
            "host at me"
        );
        assert!(
            show("regexReplaceAll", &[s("("), s(""), s("x")])
                .starts_with("ERR error parsing regexp: ")
        );
        assert_eq!(show("regexMatch", &[s("^a.c$"), s("abc")]), "true");
        assert_eq!(show("regexMatch", &[s("^a.c$"), s("abcd")]), "false");
    }

    #[test]
    fn indent_prefixes_non_empty_lines() {
        assert_eq!(show("indent", &[i(2), s("a\n\nb\n")]), "  a\n\n  b\n");
        assert_eq!(show("indent", &[i(0), s("a")]), "a");
        assert_eq!(
            show("indent", &[i(-1), s("a")]),
            "ERR indent value must be a positive integer"
        );
        assert_eq!(
            show("indent", &[s("2"), s("a")]),
            "ERR wrong type for value; expected int; got string"
        );
    }
}
