//! Go's `strconv`: `ParseBool`, `ParseInt`/`ParseUint` (64-bit, any base, base 0 with Go literal
//! prefixes and `_` separators), `ParseFloat` (decimal and hexadecimal forms, `_` separators,
//! `inf`/`infinity`/`nan`), and `Quote`, with Go's `*strconv.NumError` texts.

use std::fmt;

/// Why a parse failed: Go's `strconv.ErrSyntax` or `strconv.ErrRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumErrorKind {
    /// `invalid syntax`
    Syntax,
    /// `value out of range`
    Range,
}

/// Go's `*strconv.NumError`: displays as `strconv.ParseInt: parsing "x": invalid syntax`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("strconv.{func}: parsing {}: {}", quote(.num), match .kind { NumErrorKind::Syntax => "invalid syntax", NumErrorKind::Range => "value out of range" })]
pub struct NumError {
    /// `ParseBool`, `ParseInt` or `ParseUint`.
    pub func: &'static str,
    /// The input as given.
    pub num: String,
    /// Syntax or range.
    pub kind: NumErrorKind,
}

impl NumError {
    fn new(func: &'static str, num: &str, kind: NumErrorKind) -> NumError {
        NumError {
            func,
            num: num.to_string(),
            kind,
        }
    }
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`, nothing else
/// (not the empty string, not `yes`, no surrounding space).
pub fn parse_bool(s: &str) -> Result<bool, NumError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(NumError::new("ParseBool", s, NumErrorKind::Syntax)),
    }
}

/// Go's `strconv.ParseUint(s, base, 64)`. `base` is 0 or 2..=36 (other values panic, as a
/// programming error). Base 0 reads Go literal syntax: `0x`/`0o`/`0b` prefixes (either case), a
/// leading `0` for octal, and `_` between digits or after a prefix. No sign is accepted.
pub fn parse_uint(s: &str, base: u32) -> Result<u64, NumError> {
    uint_as("ParseUint", s, base)
}

/// Go's `strconv.ParseInt(s, base, 64)`: an optional `+`/`-`, then [`parse_uint`]'s syntax;
/// `-9223372036854775808` fits, one more does not (`value out of range`).
pub fn parse_int(s: &str, base: u32) -> Result<i64, NumError> {
    const F: &str = "ParseInt";
    let (neg, body) = match s.as_bytes().first() {
        None => return Err(NumError::new(F, s, NumErrorKind::Syntax)),
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        Some(_) => (false, s),
    };
    let un = match uint_as(F, body, base) {
        Ok(u) => u,
        Err(e) if e.kind == NumErrorKind::Range => u64::MAX,
        Err(e) => return Err(NumError::new(F, s, e.kind)),
    };
    const CUTOFF: u64 = 1 << 63;
    match (neg, un) {
        (false, u) if u >= CUTOFF => Err(NumError::new(F, s, NumErrorKind::Range)),
        (true, u) if u > CUTOFF => Err(NumError::new(F, s, NumErrorKind::Range)),
        (false, u) => Ok(u as i64),
        (true, u) => Ok((u as i64).wrapping_neg()),
    }
}

fn uint_as(func: &'static str, s0: &str, base: u32) -> Result<u64, NumError> {
    assert!(base == 0 || (2..=36).contains(&base), "invalid base {base}");
    let syntax = || NumError::new(func, s0, NumErrorKind::Syntax);
    if s0.is_empty() {
        return Err(syntax());
    }
    let base0 = base == 0;
    let b = s0.as_bytes();
    let (base, digits) = if !base0 {
        (base, b)
    } else if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = match c {
            b'_' if base0 => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' | b'A'..=b'Z' => u32::from(c.to_ascii_lowercase() - b'a') + 10,
            _ => return Err(syntax()),
        };
        if d >= base {
            return Err(syntax());
        }
        n = match n
            .checked_mul(u64::from(base))
            .and_then(|n| n.checked_add(u64::from(d)))
        {
            Some(n) => n,
            None => return Err(NumError::new(func, s0, NumErrorKind::Range)),
        };
    }
    if underscores && !underscore_ok(s0) {
        return Err(syntax());
    }
    Ok(n)
}

/// Go's `strconv.ParseFloat(s, 64)`: Go's float literal syntax — decimal (`1.5`, `.5`, `5.`,
/// `1e3`, `1E-2`) and hexadecimal with a required binary exponent (`0x1p-2`, `0X1.8P+3`), `_`
/// between digits, an optional sign, and `inf`, `infinity`, `nan` in any case (`nan` unsigned).
/// A finite literal beyond the float64 range is `value out of range` (Go returns ±Inf with it).
pub fn parse_float(s: &str) -> Result<f64, NumError> {
    const F: &str = "ParseFloat";
    let syntax = || NumError::new(F, s, NumErrorKind::Syntax);
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity") {
        return Ok(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" && body.len() == s.len() {
        return Ok(f64::NAN);
    }
    let b = lower.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && b[1] == b'x';
    let mut i = if hex { 2 } else { 0 };
    let is_digit = |c: u8| c.is_ascii_digit() || (hex && c.is_ascii_hexdigit());
    // Mantissa: digits with at most one point.
    let (mut mant, mut sticky, mut digits, mut frac_digits, mut dropped) =
        (0u128, false, 0, 0i64, 0i64);
    let mut decimal = String::new();
    let mut point = false;
    let mut underscores = false;
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' && !point {
            point = true;
            decimal.push('.');
        } else if is_digit(c) {
            digits += 1;
            if hex {
                let d = u128::from((c as char).to_digit(16).unwrap_or(0));
                if mant >> 120 == 0 {
                    mant = mant << 4 | d;
                    if point {
                        frac_digits += 1;
                    }
                } else {
                    sticky |= d != 0;
                    if !point {
                        dropped += 1;
                    }
                }
            } else {
                decimal.push(c as char);
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return Err(syntax());
    }
    // Exponent: `p` for hex (required), `e` for decimal (optional).
    let mut exp: i64 = 0;
    let exp_char = if hex { b'p' } else { b'e' };
    if i < b.len() && b[i] == exp_char {
        i += 1;
        let mut eneg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            eneg = b[i] == b'-';
            i += 1;
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if exp < 100_000 {
                exp = exp * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return Err(syntax());
        }
        if eneg {
            exp = -exp;
        }
    } else if hex {
        return Err(syntax());
    }
    if i != b.len() || (underscores && !underscore_ok(s)) {
        return Err(syntax());
    }
    let magnitude = if hex {
        if sticky {
            mant |= 1;
        }
        let e2 = exp - 4 * frac_digits + 4 * dropped;
        scale_pow2(mant as f64, e2)
    } else {
        let text = format!("{decimal}e{exp}");
        text.parse::<f64>().map_err(|_| syntax())?
    };
    if magnitude.is_infinite() {
        return Err(NumError::new(F, s, NumErrorKind::Range));
    }
    Ok(if neg { -magnitude } else { magnitude })
}

/// `m · 2^e` without overflowing the intermediate steps.
fn scale_pow2(mut m: f64, mut e: i64) -> f64 {
    if m == 0.0 {
        return 0.0;
    }
    while e > 0 {
        let step = e.min(1000);
        m *= 2f64.powi(step as i32);
        e -= step;
        if m.is_infinite() {
            return m;
        }
    }
    while e < 0 {
        let step = (-e).min(1000);
        m /= 2f64.powi(step as i32);
        e += step;
        if m == 0.0 {
            return m;
        }
    }
    m
}

/// Go's rule for `_` in base-0 literals: only between digits, or between a base prefix and a digit.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(b'+' | b'-') = b.first() {
        b = &b[1..];
    }
    // What came last: '^' start, '0' a digit or prefix, '_' an underscore, '!' anything else.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &b[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Go's `strconv.Quote` (and `%q` of a string): double quotes, Go escapes (`\a \b \f \n \r \t \v`,
/// `\xNN` for other ASCII controls and DEL, `\uNNNN`/`\UNNNNNNNN` for non-printable runes),
/// printable Unicode kept as is.
///
/// "Printable" approximates Go's `unicode.IsPrint` with what Rust's `char` knows: controls,
/// whitespace other than the space, zero-width U+200B..U+200F and the BOM are escaped.
pub fn quote(s: &str) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control()
                || (c.is_whitespace() && c != ' ')
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{feff}') =>
            {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(r: Result<impl fmt::Debug, NumError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn parse_float_reads_go_literals() {
        let ok = [
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1E-2", 0.01),
            ("+3", 3.0),
            ("-0.5", -0.5),
            ("1_000", 1000.0),
            ("1_000.5", 1000.5),
            ("0x1p-2", 0.25),
            ("0X1P+3", 8.0),
            ("0x1.8p1", 3.0),
            ("0x_1p0", 1.0),
            ("-0x10p0", -16.0),
            ("1e-400", 0.0),
            ("Inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("0x1fffffffffffffp0", 9007199254740991.0),
        ];
        for (s, want) in ok {
            assert_eq!(parse_float(s), Ok(want), "{s}");
        }
        assert!(parse_float("NaN").unwrap().is_nan());
        for bad in [
            "", ".", "e5", "1e", "0x10", "0x1.8", "0b101", "1__0", "_1", "1_", "+nan", "infin",
            "1.2.3", "0x", "1e+", " 1",
        ] {
            assert_eq!(
                err(parse_float(bad)),
                format!("strconv.ParseFloat: parsing {}: invalid syntax", quote(bad)),
                "{bad}"
            );
        }
        assert_eq!(
            err(parse_float("1e400")),
            "strconv.ParseFloat: parsing \"1e400\": value out of range"
        );
        assert_eq!(
            err(parse_float("0x1p2000")),
            "strconv.ParseFloat: parsing \"0x1p2000\": value out of range"
        );
    }

    #[test]
    fn parse_bool_accepts_exactly_the_go_set() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Ok(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Ok(false), "{f}");
        }
        for bad in ["", "tRuE", "yes", "on", " true", "2"] {
            assert!(parse_bool(bad).is_err(), "{bad}");
        }
        assert_eq!(
            err(parse_bool("yes")),
            "strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
    }

    #[test]
    fn parse_int_base_10() {
        assert_eq!(parse_int("42", 10), Ok(42));
        assert_eq!(parse_int("+7", 10), Ok(7));
        assert_eq!(parse_int("-7", 10), Ok(-7));
        assert_eq!(parse_int("007", 10), Ok(7));
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
        assert_eq!(parse_int("9223372036854775807", 10), Ok(i64::MAX));
        for bad in ["", "+", "-", "1_000", "0x10", "1.5", " 1", "+-1", "--1"] {
            assert_eq!(
                parse_int(bad, 10).unwrap_err().kind,
                NumErrorKind::Syntax,
                "{bad}"
            );
        }
        assert_eq!(
            err(parse_int("9223372036854775808", 10)),
            "strconv.ParseInt: parsing \"9223372036854775808\": value out of range"
        );
        assert_eq!(
            err(parse_int("-9223372036854775809", 10)),
            "strconv.ParseInt: parsing \"-9223372036854775809\": value out of range"
        );
        assert_eq!(
            err(parse_int("1_000", 10)),
            "strconv.ParseInt: parsing \"1_000\": invalid syntax"
        );
    }

    #[test]
    fn parse_int_base_0_reads_go_literals() {
        assert_eq!(parse_int("0600", 0), Ok(0o600));
        assert_eq!(parse_int("0x1F", 0), Ok(31));
        assert_eq!(parse_int("0X1f", 0), Ok(31));
        assert_eq!(parse_int("0o17", 0), Ok(15));
        assert_eq!(parse_int("0B101", 0), Ok(5));
        assert_eq!(parse_int("-0x10", 0), Ok(-16));
        assert_eq!(parse_int("0", 0), Ok(0));
        assert_eq!(parse_int("1_000", 0), Ok(1000));
        assert_eq!(parse_int("0x_1F", 0), Ok(31));
        assert_eq!(parse_int("0_7", 0), Ok(7));
        assert_eq!(parse_int("-0x8000000000000000", 0), Ok(i64::MIN));
        // Underscores only between digits or after a prefix; `0x` alone has no digits.
        for bad in [
            "_1", "1_", "1__0", "0x_", "0x", "0b", "08", "0b2", "1.5", "0x1g", "+_1", "",
        ] {
            assert_eq!(
                parse_int(bad, 0).unwrap_err().kind,
                NumErrorKind::Syntax,
                "{bad}"
            );
        }
        assert_eq!(
            parse_int("0x8000000000000000", 0).unwrap_err().kind,
            NumErrorKind::Range
        );
    }

    #[test]
    fn parse_uint_has_no_sign_and_the_full_range() {
        assert_eq!(
            parse_uint("18446744073709551615", 10),
            Ok(18446744073709551615)
        );
        assert_eq!(parse_uint("0xFFFFFFFFFFFFFFFF", 0), Ok(u64::MAX));
        assert_eq!(
            err(parse_uint("18446744073709551616", 10)),
            "strconv.ParseUint: parsing \"18446744073709551616\": value out of range"
        );
        assert_eq!(
            err(parse_uint("-1", 10)),
            "strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        assert!(parse_uint("+1", 10).is_err());
        assert!(parse_uint("", 10).is_err());
        assert_eq!(parse_uint("zz", 36), Ok(35 * 36 + 35));
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(quote("a\tb\"\u{1}é"), "\"a\\tb\\\"\\x01é\"");
        assert_eq!(
            quote("\x07\x08\x0c\x0b\r\n\\"),
            "\"\\a\\b\\f\\v\\r\\n\\\\\""
        );
        assert_eq!(quote("\x7f"), "\"\\x7f\"");
        assert_eq!(
            quote("\u{85}\u{2028}\u{200b}\u{feff}"),
            "\"\\u0085\\u2028\\u200b\\ufeff\""
        );
        assert_eq!(quote("日本 ok"), "\"日本 ok\"");
        assert_eq!(quote(""), "\"\"");
    }
}
