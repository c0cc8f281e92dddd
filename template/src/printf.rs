//! Go `fmt` over template values: `Sprintf` verbs, flags, width and precision, Go's in-band error
//! forms (`%!d(json.Number=42)`, `%!d(MISSING)`, `%!(EXTRA string=x)`), and `Sprint`/`Sprintln`
//! operand spacing (agent.md §4.1, §4.3).

use std::fmt::Write as _;

use super::gostr::{self, GoText};
use super::lexer::go_quote;
use super::value::{Key, Value, format_float_g, go_exp};

/// Go `fmt.Sprint`: a space between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> GoText {
    let mut out = GoText::default();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = is_string_kind(a);
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_top_v(&mut out, a);
        prev_string = is_string;
    }
    out
}

/// Go `fmt.Sprintln`: operands always separated by a space, newline appended.
pub fn sprintln(args: &[Value]) -> GoText {
    let mut out = GoText::default();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_top_v(&mut out, a);
    }
    out.push('\n');
    out
}

fn is_string_kind(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_)) || gostr::invalid_utf8(v).is_some()
}

/// `%v` of an operand at depth 0: a pointer to a struct prints `&{…}` (a struct value, such as
/// Sprig's `sprig.certificate`, `{…}`).
fn write_top_v(out: &mut GoText, v: &Value) {
    match v {
        Value::Record(r) if r.type_name.starts_with('*') => {
            out.push('&');
            v.write_v(out);
        }
        _ => v.write_v(out),
    }
}

#[derive(Clone, Copy, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    /// `%+v`: struct fields printed with their names.
    plus_v: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go `fmt.Sprintf(format, args…)`.
pub fn sprintf(format: &str, args: &[Value]) -> GoText {
    format_go(format.as_bytes(), Some(format), args)
}

/// [`sprintf`] with a format of any bytes (`crate::gostr`).
pub fn sprintf_bytes(b: &[u8], args: &[Value]) -> GoText {
    format_go(b, None, args)
}

/// `Sprintf` of the format `b`, which is `text` when that is UTF-8 (its runs of literal text then
/// need no check).
fn format_go(b: &[u8], text: Option<&str>, args: &[Value]) -> GoText {
    let mut out = GoText {
        text: String::with_capacity(b.len() + 16),
        raw: Vec::new(),
    };
    let mut i = 0;
    let mut argn = 0;
    let mut reordered = false;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'%' {
            i += 1;
        }
        match text {
            Some(t) => out.push_str(&t[start..i]),
            None => out.push_bytes(&b[start..i]),
        }
        if i >= b.len() {
            break;
        }
        i += 1; // '%'
        let mut sp = Spec::default();
        while i < b.len() {
            match b[i] {
                b'#' => sp.sharp = true,
                b'0' => sp.zero = !sp.minus,
                b'+' => sp.plus = true,
                b'-' => {
                    sp.minus = true;
                    sp.zero = false;
                }
                b' ' => sp.space = true,
                _ => break,
            }
            i += 1;
        }
        let mut good_index = true;
        arg_index(
            b,
            &mut i,
            &mut argn,
            args.len(),
            &mut reordered,
            &mut good_index,
        );
        // Width.
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match args.get(argn).and_then(int_from_arg).as_ref() {
                Some(w) if w.unsigned_abs() <= 1_000_000 => {
                    argn += 1;
                    if *w < 0 {
                        sp.minus = true;
                        sp.zero = false;
                    }
                    sp.width = Some(w.unsigned_abs() as usize);
                }
                _ => {
                    argn += usize::from(argn < args.len());
                    out.push_str("%!(BADWIDTH)");
                }
            }
        } else {
            let (n, ni) = parse_num(b, i);
            sp.width = n;
            i = ni;
        }
        // Precision.
        if i < b.len() && b[i] == b'.' {
            i += 1;
            arg_index(
                b,
                &mut i,
                &mut argn,
                args.len(),
                &mut reordered,
                &mut good_index,
            );
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match args.get(argn).and_then(int_from_arg).as_ref() {
                    Some(p) if (0..=1_000_000).contains(p) => {
                        argn += 1;
                        sp.prec = Some(*p as usize);
                    }
                    _ => {
                        argn += usize::from(argn < args.len());
                        out.push_str("%!(BADPREC)");
                    }
                }
            } else {
                let (n, ni) = parse_num(b, i);
                sp.prec = Some(n.unwrap_or(0));
                i = ni;
            }
        }
        arg_index(
            b,
            &mut i,
            &mut argn,
            args.len(),
            &mut reordered,
            &mut good_index,
        );
        if i >= b.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let (verb, width) = gostr::decode_rune(&b[i..]);
        i += width;
        if verb == '%' {
            out.push('%');
            continue;
        }
        if !good_index {
            let _ = write!(out, "%!{verb}(BADINDEX)");
            continue;
        }
        let Some(arg) = args.get(argn) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argn += 1;
        format_arg(&mut out, arg, verb, &sp);
    }
    if !reordered && argn < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[argn..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if let Value::Nil = a {
                out.push_str("<nil>");
            } else {
                out.push_str(a.type_name());
                out.push('=');
                write_top_v(&mut out, a);
            }
        }
        out.push(')');
    }
    out
}

/// A `*` width or precision operand: any integer that fits an `int` (Go's `intFromArg`).
fn int_from_arg(v: &Value) -> Option<i64> {
    if let Some(u) = v.go_int() {
        return int_from_arg(&u);
    }
    match v {
        Value::Int(i) | Value::Int64(i) => Some(*i),
        Value::Uint(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

/// An explicit argument index `[n]` (1-based) at `i`: moves `argn`; a bad one clears `good`.
fn arg_index(
    b: &[u8],
    i: &mut usize,
    argn: &mut usize,
    nargs: usize,
    reordered: &mut bool,
    good: &mut bool,
) {
    if *i >= b.len() || b[*i] != b'[' {
        return;
    }
    *reordered = true;
    let Some(close) = b[*i..].iter().position(|&c| c == b']') else {
        *good = false;
        return;
    };
    let digits = &b[*i + 1..*i + close];
    let n = std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<usize>().ok());
    *i += close + 1;
    match n {
        Some(n) if n >= 1 && n <= nargs && digits.iter().all(u8::is_ascii_digit) => *argn = n - 1,
        _ => *good = false,
    }
}

/// Go's `strconv.QuoteToASCII` (`%+q`): non-ASCII as `\uXXXX` / `\UXXXXXXXX`.
fn go_quote_ascii(s: &str) -> String {
    let q = go_quote(s);
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        if c.is_ascii() {
            out.push(c);
        } else if (c as u32) < 0x10000 {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
    out
}

fn parse_num(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n.saturating_mul(10).saturating_add((b[i] - b'0') as usize);
        i += 1;
    }
    (
        if i > start {
            Some(n.min(1_000_000))
        } else {
            None
        },
        i,
    )
}

fn pad(out: &mut GoText, s: &str, sp: &Spec, zero_ok: bool) {
    let n = s.chars().count();
    let w = sp.width.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if sp.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if sp.zero && zero_ok {
        // Zeros go after a sign.
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+' | b'-' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn bad_verb(out: &mut GoText, arg: &Value, verb: char, sp: &Spec) {
    let _ = write!(out, "%!{verb}(");
    match arg {
        Value::Nil => out.push_str("<nil>"),
        // Go prints the operand without its `String` method here.
        a @ Value::Object(o) if o.go_int().is_some() => {
            out.push_str(a.type_name());
            out.push('=');
            let _ = write!(out, "{}", o.go_int().map_or(0, |g| g.value));
        }
        a => {
            out.push_str(a.type_name());
            out.push('=');
            format_value(out, a, 'v', sp, 0);
        }
    }
    out.push(')');
}

fn format_arg(out: &mut GoText, arg: &Value, verb: char, sp: &Spec) {
    let mut local;
    let mut sp = sp;
    if verb == 'v' && sp.plus {
        // Go: `%+v` names struct fields and drops the sign flag.
        local = *sp;
        local.plus = false;
        local.plus_v = true;
        sp = &local;
    }
    match verb {
        'T' => pad(out, arg.type_name(), sp, false),
        // Go's `%#v`: the value in Go syntax.
        'v' if sp.sharp => match arg {
            Value::Nil => pad(out, "<nil>", sp, false),
            _ => write_go_syntax(out, arg, 0),
        },
        _ => format_value(out, arg, verb, sp, 0),
    }
}

/// Go's `%#v` of a value inside the operand (`depth` > 0 inside a slice, map or struct):
/// `[]string{"x", "y"}`, `map[string]interface {}{"a":1}`, `interface {}(nil)`, unsigned
/// integers in hex (`0x7`), strings quoted, `&dependency.Secret{Field:…}` (agent.md §4.3).
pub fn write_go_syntax(out: &mut GoText, v: &Value, depth: usize) {
    match v {
        Value::Nil => out.push_str("interface {}(nil)"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Uint(u) => {
            let _ = write!(out, "0x{u:x}");
        }
        Value::Float(f) => out.push_str(&format_float_g(*f)),
        Value::String(s) | Value::Number(s) => out.push_str(&go_quote(s)),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            out.push_str(v.type_name());
            out.push('{');
            for (k, e) in l.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_go_syntax(out, e, depth + 1);
            }
            out.push('}');
        }
        Value::NilList | Value::NilAnyList => {
            out.push_str(v.type_name());
            out.push_str("(nil)");
        }
        Value::Map(m) | Value::StrMap(m) => {
            out.push_str(v.type_name());
            out.push('{');
            for (k, (key, e)) in m.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                match key {
                    Key::Str(s) => out.push_str(&go_quote(s)),
                    // A key that is not UTF-8 quotes its bad bytes as `\xff` (agent.md §4.5.3).
                    Key::Bytes(_) => write_go_syntax(out, &key.to_value(), depth + 1),
                }
                out.push(':');
                write_go_syntax(out, e, depth + 1);
            }
            out.push('}');
        }
        Value::AnyMap(m) => {
            // Keys in Go syntax too (`"x":1, 2:"y"`), in the order %v prints them.
            out.push_str(v.type_name());
            out.push('{');
            for (k, (key, e)) in m.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                write_go_syntax(out, key, depth + 1);
                out.push(':');
                write_go_syntax(out, e, depth + 1);
            }
            out.push('}');
        }
        Value::Record(r) => {
            if depth > 0 {
                // Go prints a non-nil pointer inside a value as its address.
                let _ = write!(out, "({})(0xc000000000)", r.type_name);
                return;
            }
            if let Some(t) = r.type_name.strip_prefix('*') {
                out.push('&');
                out.push_str(t);
            } else {
                out.push_str(r.type_name);
            }
            out.push('{');
            for (k, (field, e)) in r.fields.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                out.push_str(field);
                out.push(':');
                write_go_syntax(out, e, depth + 1);
            }
            out.push('}');
        }
        Value::NilPtr(t) => {
            let _ = write!(out, "({t})(nil)");
        }
        Value::Object(o) => match (o.go_string(), o.go_int()) {
            (Some((_, b)), _) => out.push_str(&gostr::quote(b, false)),
            (None, Some(g)) => write_go_syntax(out, &g.underlying(), depth),
            (None, None) => out.push_str(&o.print()),
        },
    }
}

fn format_value(out: &mut GoText, v: &Value, verb: char, sp: &Spec, depth: usize) {
    match v {
        Value::Nil => match verb {
            'v' | 'T' => pad(out, "<nil>", sp, false),
            _ if depth > 0 => pad(out, "<nil>", sp, false),
            _ => bad_verb(out, v, verb, sp),
        },
        Value::NilPtr(_) => match verb {
            'v' | 's' => pad(out, "<nil>", sp, false),
            _ => bad_verb(out, v, verb, sp),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, sp, false),
            _ => bad_verb(out, v, verb, sp),
        },
        Value::Int(i) | Value::Int64(i) => fmt_integer(out, v, *i < 0, i.unsigned_abs(), verb, sp),
        Value::Uint(u) => fmt_integer(out, v, false, *u, verb, sp),
        Value::Float(f) => fmt_float(out, v, *f, verb, sp),
        Value::String(s) | Value::Number(s) => fmt_string(out, v, s, verb, sp),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            out.push('[');
            for (k, e) in l.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                format_value(out, e, verb, sp, depth + 1);
            }
            out.push(']');
        }
        Value::NilList | Value::NilAnyList => out.push_str("[]"),
        Value::Map(m) | Value::StrMap(m) => {
            out.push_str("map[");
            for (k, (key, e)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                match key {
                    Key::Str(s) => fmt_string(out, &Value::Nil, s, verb, sp),
                    Key::Bytes(_) => format_value(out, &key.to_value(), verb, sp, depth + 1),
                }
                out.push(':');
                format_value(out, e, verb, sp, depth + 1);
            }
            out.push(']');
        }
        Value::AnyMap(m) => {
            out.push_str("map[");
            for (k, (key, e)) in m.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                format_value(out, key, verb, sp, depth + 1);
                out.push(':');
                format_value(out, e, verb, sp, depth + 1);
            }
            out.push(']');
        }
        Value::Record(r) => {
            if depth == 0 && r.type_name.starts_with('*') {
                out.push('&');
            }
            out.push('{');
            for (k, (field, e)) in r.fields.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                if sp.plus_v {
                    out.push_str(field);
                    out.push(':');
                }
                format_value(out, e, verb, sp, depth + 1);
            }
            out.push('}');
        }
        Value::Object(o) if let Some((_, b)) = o.go_string() => fmt_bytes(out, v, b, verb, sp),
        Value::Object(o) => match o.go_int() {
            // A `Stringer` answers the verbs that take a string; other verbs see the integer.
            Some(g) => match g.string() {
                Some(name) if matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') => {
                    fmt_string(out, &Value::str(name.as_str()), &name, verb, sp)
                }
                _ => fmt_integer(out, v, g.value < 0, g.value.unsigned_abs(), verb, sp),
            },
            None => match verb {
                'v' | 's' => pad(out, &o.print(), sp, false),
                _ => bad_verb(out, v, verb, sp),
            },
        },
    }
}

fn fmt_integer(out: &mut GoText, v: &Value, neg: bool, mag: u64, verb: char, sp: &Spec) {
    let digits = match verb {
        'd' | 'v' => mag.to_string(),
        'b' => format!("{mag:b}"),
        'o' | 'O' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        'c' => {
            let c = if neg {
                '\u{FFFD}'
            } else {
                char::from_u32(mag as u32)
                    .filter(|_| mag <= u32::MAX as u64)
                    .unwrap_or('\u{FFFD}')
            };
            return pad(out, &c.to_string(), sp, false);
        }
        'q' => {
            let c = if neg {
                '\u{FFFD}'
            } else {
                char::from_u32(mag as u32)
                    .filter(|_| mag <= u32::MAX as u64)
                    .unwrap_or('\u{FFFD}')
            };
            let q = go_quote(&c.to_string());
            let inner = &q[1..q.len() - 1];
            let inner = if inner == "\\\"" {
                "\"".to_string()
            } else if c == '\'' {
                "\\'".to_string()
            } else {
                inner.to_string()
            };
            return pad(out, &format!("'{inner}'"), sp, false);
        }
        'U' => {
            // Go formats a negative rune as its uint64 bit pattern.
            let bits = if neg {
                (mag as i64).wrapping_neg() as u64
            } else {
                mag
            };
            let mut s = format!("U+{bits:04X}");
            if sp.sharp
                && let Some(c) = char::from_u32(mag as u32)
                && !c.is_control()
            {
                let _ = write!(s, " '{c}'");
            }
            return pad(out, &s, sp, false);
        }
        _ => return bad_verb(out, v, verb, sp),
    };
    let mut digits = digits;
    if let Some(p) = sp.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut s = String::new();
    if neg {
        s.push('-');
    } else if sp.plus {
        s.push('+');
    } else if sp.space {
        s.push(' ');
    }
    match verb {
        'b' if sp.sharp => s.push_str("0b"),
        'o' if sp.sharp && !digits.starts_with('0') => s.push('0'),
        'O' => s.push_str("0o"),
        'x' if sp.sharp => s.push_str("0x"),
        'X' if sp.sharp => s.push_str("0X"),
        _ => {}
    }
    let prefix_len = s.len();
    s.push_str(&digits);
    if sp.zero && sp.prec.is_none() && !sp.minus {
        // Zero padding goes between sign/prefix and digits.
        let w = sp.width.unwrap_or(0);
        if s.len() < w {
            let fill = w - s.len();
            s.insert_str(prefix_len, &"0".repeat(fill));
        }
        out.push_str(&s);
    } else {
        pad(out, &s, sp, false);
    }
}

fn fmt_float(out: &mut GoText, v: &Value, f: f64, verb: char, sp: &Spec) {
    let body = match verb {
        'g' | 'G' if sp.sharp => format_g_sharp(f, sp.prec.unwrap_or(6).max(1)),
        'v' | 'g' | 'G' => match sp.prec {
            None => format_float_g(f),
            Some(p) => format_g_prec(f, p.max(1)),
        },
        'e' | 'E' => format_e(f, sp.prec.unwrap_or(6)),
        'x' | 'X' if sp.sharp && f.is_finite() => {
            sharp_hex(&format_x(f, sp.prec, verb == 'X'), sp.prec, verb)
        }
        'x' | 'X' => format_x(f, sp.prec, verb == 'X'),
        'b' => format_b(f),
        'f' | 'F' => {
            if f.is_finite() {
                format!("{:.*}", sp.prec.unwrap_or(6), f)
            } else {
                format_float_g(f)
            }
        }
        _ => return bad_verb(out, v, verb, sp),
    };
    let mut body = if matches!(verb, 'E' | 'G') {
        body.to_uppercase()
    } else {
        body
    };
    if body == "inf" || body == "+inf" {
        body = "+Inf".into();
    }
    if sp.plus && !body.starts_with(['-', '+']) {
        body.insert(0, '+');
    } else if sp.space && !body.starts_with(['-', '+']) {
        body.insert(0, ' ');
    }
    pad(out, &body, sp, f.is_finite());
}

/// A float64's sign, mantissa (with the implicit bit) and binary exponent, as Go's `strconv`
/// splits it before its `b` and `x` formats.
fn float_parts(f: f64) -> (bool, u64, i32) {
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mut mant = bits & ((1 << 52) - 1);
    let exp = if exp == 0 {
        1
    } else {
        mant |= 1 << 52;
        exp
    };
    (bits >> 63 == 1, mant, exp - 1023)
}

/// `%b` of a float: the mantissa, `p`, and the power of two (`7881299347898368p-51` for 3.5).
fn format_b(f: f64) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    let (neg, mant, exp) = float_parts(f);
    format!("{}{mant}p{:+}", if neg { "-" } else { "" }, exp - 52)
}

/// `%x`/`%X` of a float: Go's hexadecimal form (`0x1.cp+01` for 3.5), the shortest digits, or
/// `prec` of them rounded half to even; the exponent has at least two digits.
fn format_x(f: f64, prec: Option<usize>, upper: bool) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    let (neg, mut mant, mut exp) = float_parts(f);
    if mant == 0 {
        exp = 0;
    }
    // The leading 1 (if any) at bit 60.
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|p| *p < 15) {
        let shift = (p * 4) as u32;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push('0');
    out.push(if upper { 'X' } else { 'x' });
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    let n = match prec {
        None if mant != 0 => Some(usize::MAX),
        Some(p) if p > 0 => Some(p),
        _ => None,
    };
    if let Some(n) = n {
        out.push('.');
        let mut i = 0;
        while i < n && (prec.is_some() || mant != 0) {
            out.push(digits[((mant >> 60) & 15) as usize] as char);
            mant <<= 4;
            i += 1;
        }
    }
    out.push(if upper { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    out
}

/// `%#x`/`%#X` of a float, as Go's `fmt` makes it from the `x` form: a point is always there, and
/// `%#x` pads with zeros to `prec` (6 by default) significant digits, counting from the `x` of
/// `0x`, as Go counts; `%#X` adds no zeros.
fn sharp_hex(body: &str, prec: Option<usize>, verb: char) -> String {
    let mut digits: i64 = if verb == 'x' {
        prec.map_or(6, |p| p as i64)
    } else {
        0
    };
    let (num, tail) = body.split_at(body.find(['p', 'P']).unwrap_or(body.len()));
    let unsigned = num.trim_start_matches('-');
    let mut seen = false;
    for c in unsigned.chars() {
        if c == '.' {
            continue;
        }
        seen |= c != '0';
        if seen {
            digits -= 1;
        }
    }
    let mut out = num.to_string();
    if !num.contains('.') {
        out.push('.');
    }
    for _ in 0..digits.max(0) {
        out.push('0');
    }
    out.push_str(tail);
    out
}

/// `%e` with `prec` digits after the point, Go style exponent (`e+06`).
fn format_e(f: f64, prec: usize) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    let s = format!("{:.*e}", prec, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    go_exp(m, e.parse().unwrap_or(0))
}

/// `%.Pg`: P significant digits, trailing zeros removed.
fn format_g_prec(f: f64, p: usize) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let s = format!("{:.*e}", p - 1, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let strip = |x: &str| -> String {
        if x.contains('.') {
            x.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            x.to_string()
        }
    };
    if exp < -4 || exp >= p as i32 {
        go_exp(&strip(m), exp)
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        strip(&format!("{:.*}", decimals, f))
    }
}

/// `%#.Pg`: like `%.Pg` but trailing zeros (and the point) are kept.
fn format_g_sharp(f: f64, p: usize) -> String {
    if !f.is_finite() {
        return format_float_g(f);
    }
    let s = format!("{:.*e}", p - 1, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = e.parse().unwrap_or(0);
    let with_point = |x: String| if x.contains('.') { x } else { format!("{x}.") };
    if exp < -4 || exp >= p as i32 {
        go_exp(&with_point(m.to_string()), exp)
    } else {
        with_point(format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, f))
    }
}

fn fmt_string(out: &mut GoText, v: &Value, s: &str, verb: char, sp: &Spec) {
    let truncated: &str = match sp.prec {
        Some(p) if matches!(verb, 'v' | 's' | 'q') => match s.char_indices().nth(p) {
            Some((idx, _)) => &s[..idx],
            None => s,
        },
        _ => s,
    };
    match verb {
        'v' | 's' => pad(out, truncated, sp, true),
        'q' => {
            if sp.sharp
                && !truncated.contains('`')
                && !truncated.chars().any(|c| c.is_control() && c != '\t')
            {
                pad(out, &format!("`{truncated}`"), sp, false)
            } else {
                let q = if sp.plus {
                    go_quote_ascii(truncated)
                } else {
                    go_quote(truncated)
                };
                pad(out, &q, sp, false)
            }
        }
        'x' | 'X' => fmt_hex(out, s.as_bytes(), verb, sp),
        _ => {
            if let Value::Nil = v {
                // A map key printed with a bad verb.
                let _ = write!(out, "%!{verb}(string=");
                pad(out, s, sp, false);
                out.push(')');
            } else {
                bad_verb(out, v, verb, sp)
            }
        }
    }
}

/// `%x`/`%X` of a string's bytes (the precision counts bytes).
fn fmt_hex(out: &mut GoText, b: &[u8], verb: char, sp: &Spec) {
    let bytes = match sp.prec {
        Some(p) => &b[..p.min(b.len())],
        None => b,
    };
    let mut h = String::with_capacity(bytes.len() * 2);
    for (k, byte) in bytes.iter().enumerate() {
        if sp.space && k > 0 {
            h.push(' ');
        }
        if sp.sharp && (sp.space || k == 0) {
            h.push_str(if verb == 'x' { "0x" } else { "0X" });
        }
        if verb == 'x' {
            let _ = write!(h, "{byte:02x}");
        } else {
            let _ = write!(h, "{byte:02X}");
        }
    }
    pad(out, &h, sp, false)
}

/// A string that is not UTF-8 (`crate::gostr`) as Go formats its bytes: `%s`/`%v` write them,
/// the precision and width counting runes (a bad byte is one); `%q` escapes bad bytes as `\xff`
/// (never backquoted); `%x` is the bytes in hex.
fn fmt_bytes(out: &mut GoText, v: &Value, b: &[u8], verb: char, sp: &Spec) {
    match verb {
        'v' | 's' | 'q' => {
            let b = match sp.prec {
                Some(p) => match gostr::runes(b).nth(p) {
                    Some((at, _, _)) => &b[..at],
                    None => b,
                },
                None => b,
            };
            if verb == 'q' {
                return pad(out, &gostr::quote(b, sp.plus), sp, false);
            }
            let fill = sp.width.unwrap_or(0).saturating_sub(gostr::rune_count(b));
            let c = if sp.zero { '0' } else { ' ' };
            if !sp.minus {
                out.extend(std::iter::repeat_n(c, fill));
            }
            out.push_bytes(b);
            if sp.minus {
                out.extend(std::iter::repeat_n(' ', fill));
            }
        }
        'x' | 'X' => fmt_hex(out, b, verb, sp),
        _ => bad_verb(out, v, verb, sp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    // The text of the results (none here holds a string that is not UTF-8).
    fn sprintf(f: &str, a: &[Value]) -> String {
        super::sprintf(f, a).into_lossy()
    }
    fn sprint(a: &[Value]) -> String {
        super::sprint(a).into_lossy()
    }
    fn sprintln(a: &[Value]) -> String {
        super::sprintln(a).into_lossy()
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn verbs_flags_widths() {
        let n = Value::Number("5432".into());
        assert_eq!(
            sprintf("%s@%s:%v", &[s("u"), s("h"), n.clone()]),
            "u@h:5432"
        );
        assert_eq!(
            sprintf("%-12s|%12s|", &[s("db-readonly"), s("postgres.svc")]),
            "db-readonly |postgres.svc|"
        );
        assert_eq!(sprintf("%x", &[s("db")]), "6462");
        assert_eq!(sprintf("%5.1f", &[Value::Float(1.23456)]), "  1.2");
        assert_eq!(sprintf("%03d", &[Value::Int(7)]), "007");
        assert_eq!(
            sprintf(
                "%08d|%+d|%-5d|%x|%X|%o|%b|%#x",
                &[
                    Value::Int(-42),
                    Value::Int(3),
                    Value::Int(1),
                    Value::Int(255),
                    Value::Int(255),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(255)
                ]
            ),
            "-0000042|+3|1    |ff|FF|10|101|0xff"
        );
        assert_eq!(
            sprintf(
                "%5.2f|%e|%g|%.3g|%E",
                &[
                    Value::Float(1.23456),
                    Value::Float(1234.5678),
                    Value::Float(1e6),
                    Value::Float(1.23456),
                    Value::Float(0.5)
                ]
            ),
            " 1.23|1.234568e+03|1e+06|1.23|5.000000E-01"
        );
        assert_eq!(
            sprintf(
                "%t|%%|%q|%c|%T",
                &[Value::Bool(true), s("a\tb"), Value::Int(65), n.clone()]
            ),
            "true|%|\"a\\tb\"|A|json.Number"
        );
        assert_eq!(
            sprintf("%.2s|%5s|%-5s|", &[s("abcdef"), s("ab"), s("ab")]),
            "ab|   ab|ab   |"
        );
    }

    #[test]
    fn go_error_forms() {
        let n = Value::Number("42".into());
        assert_eq!(sprintf("%d", &[n]), "%!d(json.Number=42)");
        assert_eq!(sprintf("%d %s", &[Value::Int(1)]), "1 %!s(MISSING)");
        assert_eq!(
            sprintf("x", &[s("x"), Value::Int(3)]),
            "x%!(EXTRA string=x, int=3)"
        );
        assert_eq!(sprintf("%d", &[Value::Nil]), "%!d(<nil>)");
        assert_eq!(sprintf("%z", &[Value::Int(1)]), "%!z(int=1)");
        assert_eq!(sprintf("%t", &[s("x")]), "%!t(string=x)");
        assert_eq!(sprintf("%", &[]), "%!(NOVERB)");
        assert_eq!(sprintf("%v %T", &[Value::Nil, Value::Nil]), "<nil> <nil>");
        assert_eq!(sprintf("%[2]s %[1]s %s", &[s("a"), s("b")]), "b a b");
        assert_eq!(
            sprintf(
                "%#g|%#.3g|%U",
                &[Value::Float(1.0), Value::Float(2.0), Value::Int(-1)]
            ),
            "1.00000|2.00|U+FFFFFFFFFFFFFFFF"
        );
        assert_eq!(
            sprintf("%+q|%q", &[s("é😀"), s("é")]),
            "\"\\u00e9\\U0001f600\"|\"é\""
        );
        let rec = Value::Record(std::sync::Arc::new(crate::Record {
            type_name: "*x.R",
            fields: vec![("A", Value::Int(1)), ("B", Value::str(""))],
        }));
        assert_eq!(
            sprintf("%v|%+v|%+d", &[rec.clone(), rec, Value::Int(3)]),
            "&{1 }|&{A:1 B:}|+3"
        );
        assert_eq!(
            sprintf("%*d", &[Value::Int(10_000_000), Value::Int(1)]),
            "%!(BADWIDTH)1"
        );
        assert_eq!(
            sprintf("%.*d", &[Value::Int(-1), Value::Int(1)]),
            "%!(BADPREC)1"
        );
        assert_eq!(sprintf("%[3]s", &[s("a")]), "%!s(BADINDEX)");
        assert_eq!(sprintf("%[1]s", &[s("a"), s("b")]), "a");
        assert_eq!(
            sprintf(
                "%*d|%-*d|%.*f",
                &[
                    Value::Int(4),
                    Value::Int(7),
                    Value::Int(3),
                    Value::Int(1),
                    Value::Int(2),
                    Value::Float(1.0)
                ]
            ),
            "   7|1  |1.00"
        );
    }

    #[test]
    fn typed_integers_print_as_go_does() {
        use crate::value::GoInt;
        let b = GoInt::byte(97);
        assert_eq!(
            sprintf("%v %T %#v %c %q %x %05d %U", &vec![b.clone(); 8]),
            "97 uint8 0x61 a 'a' 61 00097 U+0061"
        );
        assert_eq!(
            sprintf("%s %t", &[b.clone(), b.clone()]),
            "%!s(uint8=97) %!t(uint8=97)"
        );
        // A `Stringer` (time.Month) answers %v %s %x %X %q with its name, the rest with its number;
        // a bad verb shows the number.
        let m = GoInt::named("time.Month", 3, &["January", "February", "March"], 1);
        assert_eq!(
            sprintf(
                "%d|%v|%s|%T|%#v|%x|%q|%5v|%-7s|%X|%03d|%t",
                &vec![m.clone(); 12]
            ),
            "3|March|March|time.Month|3|4d61726368|\"March\"|March|March  |4D61726368|003|%!t(time.Month=3)"
        );
        assert_eq!(sprint(&[m.clone(), Value::Int(1)]), "March 1");
        assert_eq!(sprintf("%*d|", &[m.clone(), Value::Int(7)]), "  7|");
        let list = Value::list(vec![m.clone(), b]);
        assert_eq!(
            sprintf("%v %#v", &[list.clone(), list]),
            "[March 97] []interface {}{3, 0x61}"
        );
        let out_of_range = GoInt::named("time.Month", 13, &["January"], 1);
        assert_eq!(out_of_range.print(), "%!Month(13)");
        assert!(m.truthy() && !GoInt::byte(0).truthy());
        assert_eq!(
            sprintf("%T %#v", &[Value::NilAnyList, Value::NilAnyList]),
            "[]interface {} []interface {}(nil)"
        );
    }

    #[test]
    fn composite_values() {
        let mut m = BTreeMap::new();
        m.insert("b".into(), Value::Int(2));
        m.insert("a".into(), Value::Nil);
        let v = Value::map(m);
        assert_eq!(sprintf("%v", std::slice::from_ref(&v)), "map[a:<nil> b:2]");
        assert_eq!(
            sprintf("%d", &[Value::list(vec![Value::Int(1), Value::Int(2)])]),
            "[1 2]"
        );
        assert_eq!(sprintf("%T", &[v]), "map[string]interface {}");
        // Sprig's split gives a map[string]string: same print, its own type.
        let mut m = BTreeMap::new();
        m.insert("_0".into(), Value::str("a"));
        let v = Value::StrMap(std::sync::Arc::new(m));
        assert_eq!(sprintf("%v", std::slice::from_ref(&v)), "map[_0:a]");
        assert_eq!(
            sprintf("%#v", std::slice::from_ref(&v)),
            r#"map[string]string{"_0":"a"}"#
        );
        assert_eq!(
            crate::funcs::args::map(&v).unwrap_err(),
            "wrong type for value; expected map[string]interface {}; got map[string]string"
        );
    }

    #[test]
    fn hex_and_binary_floats_as_go_writes_them() {
        for (f, x, b) in [
            (3.5, "0x1.cp+01", "7881299347898368p-51"),
            (1.0, "0x1p+00", "4503599627370496p-52"),
            (0.0, "0x0p+00", "0p-1074"),
        ] {
            assert_eq!(format_x(f, None, false), x, "{f}");
            assert_eq!(format_b(f), b, "{f}");
        }
        assert_eq!(format_x(3.5, None, true), "0X1.CP+01");
        assert_eq!(format_x(1.0 / 3.0, Some(3), false), "0x1.555p-02");
        assert_eq!(format_x(1.0, Some(2), false), "0x1.00p+00");
        assert_eq!(format_x(1.96875, Some(0), false), "0x1p+01");
    }

    #[test]
    fn go_syntax_percent_sharp_v() {
        let mut m = BTreeMap::new();
        m.insert("b".into(), Value::list(vec![Value::Int(1), Value::Nil]));
        m.insert("a".into(), Value::str("x\"y"));
        assert_eq!(
            sprintf("%#v", &[Value::map(m)]),
            "map[string]interface {}{\"a\":\"x\\\"y\", \"b\":[]interface {}{1, interface {}(nil)}}"
        );
        assert_eq!(
            sprintf(
                "%#v|%#v|%#v|%#v|%#v",
                &[
                    Value::strings(["x", "y"]),
                    Value::Uint(255),
                    Value::Int64(-3),
                    Value::Number("42".into()),
                    Value::Float(1e21)
                ]
            ),
            "[]string{\"x\", \"y\"}|0xff|-3|\"42\"|1e+21"
        );
        assert_eq!(
            sprintf(
                "%#v|%#v|%#v",
                &[Value::Nil, Value::NilList, Value::NilPtr("*api.SecretAuth")]
            ),
            "<nil>|[]string(nil)|(*api.SecretAuth)(nil)"
        );
        let rec = Value::Record(std::sync::Arc::new(crate::Record {
            type_name: "*x.R",
            fields: vec![("A", Value::Int(1)), ("B", Value::str(""))],
        }));
        assert_eq!(sprintf("%#v", &[rec]), "&x.R{A:1, B:\"\"}");
        assert_eq!(
            sprintf(
                "%T %T %T",
                &[Value::Int64(1), Value::Uint(1), Value::Int(1)]
            ),
            "int64 uint64 int"
        );
        assert_eq!(sprintf("%*d|", &[Value::Int64(3), Value::Int(7)]), "  7|");
    }

    #[test]
    fn sprint_spacing() {
        assert_eq!(sprint(&[Value::Int(1), Value::Int(2)]), "1 2");
        assert_eq!(sprint(&[s("a"), Value::Int(1), s("b")]), "a1b");
        assert_eq!(sprint(&[Value::Number("1".into()), Value::Int(2)]), "12");
        assert_eq!(sprint(&[Value::Nil, Value::Bool(true)]), "<nil> true");
        assert_eq!(sprintln(&[s("a"), s("b")]), "a b\n");
    }

    #[test]
    fn strings_that_are_not_utf8_print_their_bytes() {
        let b = crate::gostr::from_bytes(b"\xff\x80\xfeab".to_vec());
        let bytes = |t: GoText| t.into_bytes();
        assert_eq!(
            bytes(super::sprintf(
                "%s|%v|%x|%X|%q|%T",
                &[
                    b.clone(),
                    b.clone(),
                    b.clone(),
                    b.clone(),
                    b.clone(),
                    b.clone()
                ]
            )),
            b"\xff\x80\xfeab|\xff\x80\xfeab|ff80fe6162|FF80FE6162|\"\\xff\\x80\\xfeab\"|string"
        );
        assert_eq!(
            bytes(super::sprintf("[%6s][%-6s][%.1s][%#q][%d]", &[b.clone(), b.clone(), b.clone(), b.clone(), b.clone()])),
            b"[ \xff\x80\xfeab][\xff\x80\xfeab ][\xff][\"\\xff\\x80\\xfeab\"][%!d(string=\xff\x80\xfeab)]"
        );
        assert_eq!(
            bytes(super::sprintf(
                "%v",
                &[Value::list(vec![b.clone(), s("x")])]
            )),
            b"[\xff\x80\xfeab x]"
        );
        assert_eq!(
            bytes(super::sprintf("x", std::slice::from_ref(&b))),
            b"x%!(EXTRA string=\xff\x80\xfeab)"
        );
        assert_eq!(bytes(sprintf_bytes(b"\xfe%d", &[Value::Int(1)])), b"\xfe1");
        assert_eq!(
            bytes(super::sprint(&[b.clone(), Value::Int(1)])),
            b"\xff\x80\xfeab1"
        );
        assert_eq!(
            bytes(super::sprintln(&[b, Value::Int(1)])),
            b"\xff\x80\xfeab 1\n"
        );
    }
}
