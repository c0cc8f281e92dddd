//! Sprig's functions on given times (agent.md §4.5.1): `toDate`/`mustToDate` (Go's
//! `time.ParseInLocation` with a layout), `unixEpoch`, `mustDateModify`/`must_date_modify` (Go's
//! `time.ParseDuration`), `duration`/`durationRound` (Go's `time.Duration` printing; only an
//! `int64` or a string is read, so a literal `int` is `0s`), and the `time.Time` value they pass
//! around, printed as Go prints one.
//!
//! Go parses into the process's local zone; an agent container runs in UTC, and so does this.
//! Those that read the clock (`now`, `ago`, `date*`) are absent on purpose.

use std::sync::Arc;

use super::args;
use super::timefmt::{DAYS, MONTHS, civil, format_civil_in};
use crate::value::GoInt;
use crate::{CallEnv, Func, Object, Value};

pub(super) fn lookup(short: &str) -> Option<Func> {
    Some(match short {
        "toDate" => to_date,
        "mustToDate" => must_to_date,
        "unixEpoch" => unix_epoch,
        "mustDateModify" | "must_date_modify" => must_date_modify,
        "duration" => duration,
        "durationRound" => duration_round,
        _ => return None,
    })
}

/// Go's `time.Time`: an instant, and the zone it is shown in.
#[derive(Clone, Debug, PartialEq)]
pub struct GoTime {
    /// Seconds since the Unix epoch (UTC).
    pub secs: i64,
    pub nanos: u32,
    /// Seconds east of UTC.
    pub offset: i32,
    /// The zone's name (`UTC`), or `""` for a zone known only by its offset.
    pub zone: String,
}

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero `time.Time`.
const ZERO_SECS: i64 = -62_135_596_800;

impl GoTime {
    pub fn zero() -> GoTime {
        GoTime {
            secs: ZERO_SECS,
            nanos: 0,
            offset: 0,
            zone: "UTC".into(),
        }
    }

    /// `Format(layout)`.
    pub fn format(&self, layout: &str) -> String {
        let c = civil(self.secs + i64::from(self.offset), self.nanos);
        format_civil_in(&c, layout, self.offset, &self.zone)
    }

    fn in_utc(&self) -> GoTime {
        GoTime {
            offset: 0,
            zone: "UTC".into(),
            ..self.clone()
        }
    }

    fn field(&self, name: &str) -> Option<Value> {
        let c = civil(self.secs + i64::from(self.offset), self.nanos);
        Some(match name {
            "Unix" => Value::Int64(self.secs),
            "UnixMilli" => Value::Int64(self.secs * 1000 + i64::from(self.nanos / 1_000_000)),
            "UnixNano" => Value::Int64(
                self.secs
                    .wrapping_mul(1_000_000_000)
                    .wrapping_add(i64::from(self.nanos)),
            ),
            "Year" => Value::Int(c.year),
            "Month" => GoInt::named("time.Month", i64::from(c.month), &MONTHS, 1),
            "Day" => Value::Int(i64::from(c.day)),
            "Hour" => Value::Int(i64::from(c.hour)),
            "Minute" => Value::Int(i64::from(c.minute)),
            "Second" => Value::Int(i64::from(c.second)),
            "Nanosecond" => Value::Int(i64::from(c.nanos)),
            "YearDay" => Value::Int(i64::from(c.yday)),
            "Weekday" => GoInt::named("time.Weekday", i64::from(c.weekday), &DAYS, 0),
            "IsZero" => Value::Bool(self.secs == ZERO_SECS && self.nanos == 0),
            "UTC" => Value::Object(Arc::new(self.in_utc())),
            "String" => Value::str(self.print()),
            _ => return None,
        })
    }
}

impl Object for GoTime {
    fn type_name(&self) -> &'static str {
        "time.Time"
    }

    fn method(&self, name: &str, a: &[Value]) -> Option<Result<Value, String>> {
        if name == "Format" {
            return Some(match a {
                [layout] => args::string(layout).map(|l| Value::str(self.format(l))),
                _ => Err(format!(
                    "wrong number of args for Format: want 1 got {}",
                    a.len()
                )),
            });
        }
        let v = self.field(name)?;
        Some(if a.is_empty() {
            Ok(v)
        } else {
            Err(format!(
                "wrong number of args for {name}: want 0 got {}",
                a.len()
            ))
        })
    }

    fn print(&self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }
}

// ----------------------------------------------------------------------------------------------
// Go's time.Parse
// ----------------------------------------------------------------------------------------------

/// The layout elements, longest spellings first where one is a prefix of another.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Elem {
    LongMonth,
    Month,
    LongWeekDay,
    WeekDay,
    Tz,
    ZeroYearDay,
    ZeroMonth,
    ZeroDay,
    ZeroHour12,
    ZeroMinute,
    ZeroSecond,
    Year,
    Hour,
    NumMonth,
    LongYear,
    Day,
    UnderYearDay,
    UnderDay,
    Hour12,
    Minute,
    Second,
    Pm,
    LowerPm,
    /// `Z…`/`-…` offsets: (ISO form with `Z`, minutes, seconds, colons).
    Offset(bool, bool, bool, bool),
    /// `.000`/`.999` and `,…`: (digits, fixed).
    Frac(usize, bool),
}

/// The next element in `layout`: (literal prefix, element and its spelling, rest).
fn next_elem(layout: &str) -> (&str, Option<(Elem, &str)>, &str) {
    let b = layout.as_bytes();
    for i in 0..b.len() {
        let rest = &layout[i..];
        let st = |p: &str| rest.starts_with(p);
        let found: Option<(Elem, usize)> = match b[i] {
            b'J' if st("January") => Some((Elem::LongMonth, 7)),
            b'J' if st("Jan") => Some((Elem::Month, 3)),
            b'M' if st("Monday") => Some((Elem::LongWeekDay, 6)),
            b'M' if st("Mon") => Some((Elem::WeekDay, 3)),
            b'M' if st("MST") => Some((Elem::Tz, 3)),
            b'0' if st("002") => Some((Elem::ZeroYearDay, 3)),
            b'0' => match b.get(i + 1) {
                Some(b'1') => Some((Elem::ZeroMonth, 2)),
                Some(b'2') => Some((Elem::ZeroDay, 2)),
                Some(b'3') => Some((Elem::ZeroHour12, 2)),
                Some(b'4') => Some((Elem::ZeroMinute, 2)),
                Some(b'5') => Some((Elem::ZeroSecond, 2)),
                Some(b'6') => Some((Elem::Year, 2)),
                _ => None,
            },
            b'1' if st("15") => Some((Elem::Hour, 2)),
            b'1' => Some((Elem::NumMonth, 1)),
            b'2' if st("2006") => Some((Elem::LongYear, 4)),
            b'2' => Some((Elem::Day, 1)),
            b'_' if st("__2") => Some((Elem::UnderYearDay, 3)),
            b'_' if st("_2") && !st("_2006") => Some((Elem::UnderDay, 2)),
            b'3' => Some((Elem::Hour12, 1)),
            b'4' => Some((Elem::Minute, 1)),
            b'5' => Some((Elem::Second, 1)),
            b'P' if st("PM") => Some((Elem::Pm, 2)),
            b'p' if st("pm") => Some((Elem::LowerPm, 2)),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                [
                    ("070000", true, true, false),
                    ("07:00:00", true, true, true),
                    ("0700", true, false, false),
                    ("07:00", true, false, true),
                    ("07", false, false, false),
                ]
                .iter()
                .find(|(f, ..)| rest[1..].starts_with(f))
                .map(|(f, m, s, c)| (Elem::Offset(iso, *m, *s, *c), 1 + f.len()))
            }
            b'.' | b',' => {
                let d = b.get(i + 1).copied();
                if d == Some(b'0') || d == Some(b'9') {
                    let d = d.unwrap_or(b'0');
                    let n = b[i + 1..].iter().take_while(|x| **x == d).count();
                    if b.get(i + 1 + n).is_some_and(|x| x.is_ascii_digit()) {
                        None
                    } else {
                        Some((Elem::Frac(n, d == b'0'), 1 + n))
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some((e, len)) = found {
            return (
                &layout[..i],
                Some((e, &layout[i..i + len])),
                &layout[i + len..],
            );
        }
    }
    (layout, None, "")
}

/// Matches the literal `prefix` at the start of `value` (runs of spaces match runs of spaces).
fn skip<'v>(mut value: &'v str, mut prefix: &str) -> Option<&'v str> {
    while let Some(p) = prefix.chars().next() {
        if p == ' ' {
            if !value.is_empty() && !value.starts_with(' ') {
                return None;
            }
            prefix = prefix.trim_start_matches(' ');
            value = value.trim_start_matches(' ');
            continue;
        }
        if !value.starts_with(p) {
            return None;
        }
        prefix = &prefix[p.len_utf8()..];
        value = &value[p.len_utf8()..];
    }
    Some(value)
}

/// One or two digits (exactly two when `fixed`).
fn getnum(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = v.as_bytes();
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    if !b.get(1).is_some_and(u8::is_ascii_digit) {
        if fixed {
            return None;
        }
        return Some((i64::from(b[0] - b'0'), &v[1..]));
    }
    Some((
        i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0'),
        &v[2..],
    ))
}

/// Exactly three digits, or up to three when not `fixed`.
fn getnum3(v: &str, fixed: bool) -> Option<(i64, &str)> {
    let n = v.bytes().take(3).take_while(u8::is_ascii_digit).count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

fn lookup_name<'v>(names: &[&str], v: &'v str, len: Option<usize>) -> Option<(usize, &'v str)> {
    for (i, n) in names.iter().enumerate() {
        let n = match len {
            Some(l) => &n[..l],
            None => n,
        };
        if v.len() >= n.len() && v.is_char_boundary(n.len()) && v[..n.len()].eq_ignore_ascii_case(n)
        {
            return Some((i, &v[n.len()..]));
        }
    }
    None
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Go's `time.ParseInLocation(layout, value, time.Local)` with the local zone UTC.
pub fn parse_time(layout: &str, value: &str) -> Result<GoTime, String> {
    let q = args::go_quote_str;
    let bad = |rest: &str, elem: &str| {
        format!(
            "parsing time {} as {}: cannot parse {} as {}",
            q(value),
            q(layout),
            q(rest),
            q(elem)
        )
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", q(value));
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let (mut pm, mut am) = (false, false);
    let mut zone_offset: Option<i32> = None;
    let mut zone_name: Option<String> = None;
    let mut utc = false;
    let mut lay = layout;
    let mut v = value;
    loop {
        let (prefix, elem, rest) = next_elem(lay);
        v = skip(v, prefix).ok_or_else(|| bad(v, prefix))?;
        let Some((elem, spelled)) = elem else {
            if !v.is_empty() {
                return Err(format!("parsing time {}: extra text: {}", q(value), q(v)));
            }
            break;
        };
        lay = rest;
        let here = v;
        let fail = || bad(here, spelled);
        match elem {
            Elem::Year => {
                let d = v.get(..2).filter(|d| d.bytes().all(|c| c.is_ascii_digit()));
                let d = d.ok_or_else(fail)?;
                let y: i64 = d.parse().map_err(|_| fail())?;
                year = if y >= 69 { 1900 + y } else { 2000 + y };
                v = &v[2..];
            }
            Elem::LongYear => {
                let d = v.get(..4).filter(|d| d.as_bytes()[0].is_ascii_digit());
                let d = d.ok_or_else(fail)?;
                year = d.parse().map_err(|_| fail())?;
                v = &v[4..];
            }
            Elem::Month | Elem::LongMonth => {
                let len = if elem == Elem::Month { Some(3) } else { None };
                let (i, r) = lookup_name(&MONTHS, v, len).ok_or_else(fail)?;
                month = i as i64 + 1;
                v = r;
            }
            Elem::NumMonth | Elem::ZeroMonth => {
                let (m, r) = getnum(v, elem == Elem::ZeroMonth).ok_or_else(fail)?;
                if !(1..=12).contains(&m) {
                    return Err(range("month"));
                }
                month = m;
                v = r;
            }
            Elem::WeekDay | Elem::LongWeekDay => {
                let len = if elem == Elem::WeekDay { Some(3) } else { None };
                v = lookup_name(&DAYS, v, len).ok_or_else(fail)?.1;
            }
            Elem::Day | Elem::UnderDay | Elem::ZeroDay => {
                if elem == Elem::UnderDay && v.starts_with(' ') {
                    v = &v[1..];
                }
                let (d, r) = getnum(v, elem == Elem::ZeroDay).ok_or_else(fail)?;
                day = d;
                v = r;
            }
            Elem::UnderYearDay | Elem::ZeroYearDay => {
                for _ in 0..2 {
                    if elem == Elem::UnderYearDay && v.starts_with(' ') {
                        v = &v[1..];
                    }
                }
                let (d, r) = getnum3(v, elem == Elem::ZeroYearDay).ok_or_else(fail)?;
                yday = d;
                v = r;
            }
            Elem::Hour => {
                let (h, r) = getnum(v, false).ok_or_else(fail)?;
                if !(0..24).contains(&h) {
                    return Err(range("hour"));
                }
                hour = h;
                v = r;
            }
            Elem::Hour12 | Elem::ZeroHour12 => {
                let (h, r) = getnum(v, elem == Elem::ZeroHour12).ok_or_else(fail)?;
                if !(0..=12).contains(&h) {
                    return Err(range("hour"));
                }
                hour = h;
                v = r;
            }
            Elem::Minute | Elem::ZeroMinute => {
                let (m, r) = getnum(v, elem == Elem::ZeroMinute).ok_or_else(fail)?;
                if !(0..60).contains(&m) {
                    return Err(range("minute"));
                }
                min = m;
                v = r;
            }
            Elem::Second | Elem::ZeroSecond => {
                let (s, r) = getnum(v, elem == Elem::ZeroSecond).ok_or_else(fail)?;
                if !(0..60).contains(&s) {
                    return Err(range("second"));
                }
                sec = s;
                v = r;
                // A fraction the layout does not spell out is read all the same.
                let b = v.as_bytes();
                let next_is_frac = matches!(next_elem(lay).1, Some((Elem::Frac(..), _)))
                    && next_elem(lay).0.is_empty();
                if b.len() >= 2
                    && (b[0] == b'.' || b[0] == b',')
                    && b[1].is_ascii_digit()
                    && !next_is_frac
                {
                    let n = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nsec = frac_nanos(&v[1..n]);
                    v = &v[n..];
                }
            }
            Elem::Pm | Elem::LowerPm => {
                let p = v.get(..2).ok_or_else(fail)?;
                let (a, pmv) = if elem == Elem::Pm {
                    ("AM", "PM")
                } else {
                    ("am", "pm")
                };
                if p == pmv {
                    pm = true;
                } else if p == a {
                    am = true;
                } else {
                    return Err(fail());
                }
                v = &v[2..];
            }
            Elem::Offset(iso, minutes, seconds, colons) => {
                if iso && v.starts_with('Z') {
                    v = &v[1..];
                    utc = true;
                    continue;
                }
                let b = v.as_bytes();
                let want = 3
                    + if minutes { 2 + usize::from(colons) } else { 0 }
                    + if seconds { 2 + usize::from(colons) } else { 0 };
                if b.len() < want || (b[0] != b'+' && b[0] != b'-') {
                    return Err(fail());
                }
                let two = |at: usize| -> Option<i32> {
                    let d = v.get(at..at + 2)?;
                    if !d.bytes().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    d.parse().ok()
                };
                let mut at = 1;
                let hh = two(at).ok_or_else(fail)?;
                at += 2;
                let mut mm = 0;
                let mut ss = 0;
                if minutes {
                    if colons {
                        if b[at] != b':' {
                            return Err(fail());
                        }
                        at += 1;
                    }
                    mm = two(at).ok_or_else(fail)?;
                    at += 2;
                }
                if seconds {
                    if colons {
                        if b[at] != b':' {
                            return Err(fail());
                        }
                        at += 1;
                    }
                    ss = two(at).ok_or_else(fail)?;
                    at += 2;
                }
                if hh > 24 || mm > 60 || ss > 60 {
                    return Err(range("time zone offset"));
                }
                let off = (hh * 60 + mm) * 60 + ss;
                zone_offset = Some(if b[0] == b'-' { -off } else { off });
                v = &v[at..];
            }
            Elem::Tz => {
                if v.starts_with("UTC") {
                    v = &v[3..];
                    utc = true;
                    continue;
                }
                let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    return Err(fail());
                }
                zone_name = Some(v[..n].to_string());
                v = &v[n..];
            }
            Elem::Frac(n, fixed) => {
                let b = v.as_bytes();
                let sep_ok = b.first().is_some_and(|c| *c == b'.' || *c == b',');
                if fixed {
                    if !sep_ok || b.len() < 1 + n || !b[1..1 + n].iter().all(u8::is_ascii_digit) {
                        return Err(fail());
                    }
                    nsec = frac_nanos(&v[1..1 + n]);
                    v = &v[1 + n..];
                } else if sep_ok && b.get(1).is_some_and(u8::is_ascii_digit) {
                    let k = 1 + b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nsec = frac_nanos(&v[1..k]);
                    v = &v[k..];
                }
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let leap = days_in(2, year) == 29;
        if yday < 1 || yday > if leap { 366 } else { 365 } {
            return Err(range("day-of-year"));
        }
        let (mut m, mut d) = (1, yday);
        while d > days_in(m, year) {
            d -= days_in(m, year);
            m += 1;
        }
        if (month >= 0 && month != m) || (day >= 0 && day != d) {
            return Err(range("day-of-year"));
        }
        month = m;
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(range("day"));
    }
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec;
    let (offset, zone) = if utc {
        (0, "UTC".to_string())
    } else if let Some(off) = zone_offset {
        // A zone known by its offset alone; the local zone (UTC) only when the offset is 0.
        if off == 0 {
            (0, "UTC".to_string())
        } else {
            (off, String::new())
        }
    } else if let Some(name) = zone_name {
        // An abbreviation the local zone does not use: that name, offset 0 (GMT±h excepted).
        match name.strip_prefix("GMT").and_then(|h| h.parse::<i32>().ok()) {
            Some(h) => (h * 3600, name),
            None => (0, name),
        }
    } else {
        (0, "UTC".to_string())
    };
    Ok(GoTime {
        secs: local - i64::from(offset),
        nanos: nsec as u32,
        offset,
        zone,
    })
}

fn frac_nanos(digits: &str) -> i64 {
    let mut s: String = digits.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

// ----------------------------------------------------------------------------------------------
// Go's time.ParseDuration
// ----------------------------------------------------------------------------------------------

/// Go's `time.ParseDuration`, in nanoseconds.
pub fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", args::go_quote_str(orig));
    let mut s = orig;
    let neg = s.starts_with('-');
    if s.starts_with('-') || s.starts_with('+') {
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s.starts_with('.') || s.as_bytes()[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        let pre = n > 0;
        let mut v: u64 = 0;
        for c in s[..n].bytes() {
            v = v
                .checked_mul(10)
                .and_then(|x| x.checked_add(u64::from(c - b'0')))
                .filter(|x| *x <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        s = &s[n..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(r) = s.strip_prefix('.') {
            let k = r.bytes().take_while(u8::is_ascii_digit).count();
            post = k > 0;
            let mut overflow = false;
            for c in r[..k].bytes() {
                if overflow {
                    continue;
                }
                match f
                    .checked_mul(10)
                    .and_then(|x| x.checked_add(u64::from(c - b'0')))
                {
                    Some(x) if x <= 1 << 63 => {
                        f = x;
                        scale *= 10.0;
                    }
                    _ => overflow = true,
                }
            }
            s = &r[k..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let u = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit_name = &s[..u];
        if unit_name.is_empty() {
            return Err(format!(
                "time: missing unit in duration {}",
                args::go_quote_str(orig)
            ));
        }
        let unit: u64 = match unit_name {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    args::go_quote_str(unit_name),
                    args::go_quote_str(orig)
                ));
            }
        };
        s = &s[u..];
        let mut x = v
            .checked_mul(unit)
            .filter(|x| *x <= 1 << 63)
            .ok_or_else(invalid)?;
        if f > 0 {
            x = x
                .checked_add((f as f64 * (unit as f64 / scale)) as u64)
                .filter(|x| *x <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(x)
            .filter(|x| *x <= 1 << 63)
            .ok_or_else(invalid)?;
    }
    if neg {
        return Ok((total as i64).wrapping_neg());
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(total as i64)
}

// ----------------------------------------------------------------------------------------------
// The functions
// ----------------------------------------------------------------------------------------------

fn two_strs<'a>(name: &str, a: &'a [Value]) -> Result<(&'a str, &'a str), String> {
    args::arity(&format!("sprig_{name}"), a, 2)?;
    Ok((args::string(&a[0])?, args::string(&a[1])?))
}

fn time_arg(v: &Value) -> Result<GoTime, String> {
    match v {
        Value::Object(o) if o.type_name() == "time.Time" => {
            // Read back from its printed form, which carries every field.
            let text = o.print();
            parse_time("2006-01-02 15:04:05.999999999 -0700 MST", &text)
                .map(|mut t| {
                    // The printed zone of an offset-only zone is the offset: keep it nameless.
                    if t.zone.starts_with(['+', '-']) {
                        t.zone.clear();
                    }
                    t
                })
                .or_else(|_| {
                    parse_time("2006-01-02 15:04:05.999999999 -0700 -0700", &text).map(|mut t| {
                        t.zone.clear();
                        t
                    })
                })
        }
        Value::Nil => Err("invalid value; expected time.Time".into()),
        other => Err(format!(
            "wrong type for value; expected time.Time; got {}",
            other.type_name()
        )),
    }
}

fn time_value(t: GoTime) -> Value {
    Value::Object(Arc::new(t))
}

fn to_date(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let (layout, s) = two_strs("toDate", a)?;
    Ok(time_value(
        parse_time(layout, s).unwrap_or_else(|_| GoTime::zero()),
    ))
}

fn must_to_date(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let (layout, s) = two_strs("mustToDate", a)?;
    parse_time(layout, s).map(time_value)
}

fn unix_epoch(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("sprig_unixEpoch", a, 1)?;
    Ok(Value::str(time_arg(&a[0])?.secs.to_string()))
}

fn must_date_modify(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("sprig_mustDateModify", a, 2)?;
    let fmt = args::string(&a[0])?;
    let t = time_arg(&a[1])?;
    let d = parse_duration(fmt)?;
    let total = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos) + i128::from(d);
    Ok(time_value(GoTime {
        secs: total.div_euclid(1_000_000_000) as i64,
        nanos: total.rem_euclid(1_000_000_000) as u32,
        ..t
    }))
}

/// Sprig's `duration`: seconds as a Go `time.Duration` string. Only a string (base 10, else 0)
/// or an `int64` is read; any other type, a template's `int` literal included, is 0 (agent.md §4.5.1).
fn duration(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("sprig_duration", a, 1)?;
    let secs = match &a[0] {
        Value::String(s) => vaultlet_shared::go::strconv::parse_int(s, 10).unwrap_or(0),
        Value::Int64(n) => *n,
        _ => 0,
    };
    Ok(Value::str(go_duration_string(
        secs.wrapping_mul(1_000_000_000),
    )))
}

/// Sprig's `durationRound`: a duration (a `time.ParseDuration` string, an `int64` of nanoseconds,
/// or the time since a `time.Time`) as its largest whole unit: `2h`, `3mo`, `1y`; `0s` otherwise.
fn duration_round(env: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("sprig_durationRound", a, 1)?;
    let d: i64 = match &a[0] {
        Value::String(s) => parse_duration(s).unwrap_or(0),
        Value::Int64(n) => *n,
        Value::Object(o) if o.type_name() == "time.Time" => {
            let t = time_arg(&a[0])?;
            let now = match env.ctx.now().duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => {
                    i128::from(d.as_secs() as i64) * 1_000_000_000 + i128::from(d.subsec_nanos())
                }
                Err(e) => -(e.duration().as_nanos() as i128),
            };
            let then = i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos);
            (now - then).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        }
        _ => 0,
    };
    let u = d.unsigned_abs();
    const SEC: u64 = 1_000_000_000;
    const MIN: u64 = 60 * SEC;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let units: [(u64, &str); 6] = [
        (365 * DAY, "y"),
        (30 * DAY, "mo"),
        (DAY, "d"),
        (HOUR, "h"),
        (MIN, "m"),
        (SEC, "s"),
    ];
    Ok(Value::str(
        units
            .iter()
            .find(|(unit, _)| u > *unit)
            .map(|(unit, name)| format!("{}{name}", u / unit))
            .unwrap_or_else(|| "0s".into()),
    ))
}

/// Go's `time.Duration.String` of `d` nanoseconds: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration_string(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Below a second: the largest of ns, µs, ms, with a fraction.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, scale));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let frac = u % 1_000_000_000;
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&fraction(s * 1_000_000_000 + frac, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / scale` with the fraction's trailing zeros dropped (`1500, 1000` ⇒ `1.5`).
fn fraction(v: u64, scale: u64) -> String {
    let (int, frac) = (v / scale, v % scale);
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn sp(name: &str, a: &[Value]) -> String {
        show(&format!("sprig_{name}"), a)
    }

    fn p(layout: &str, v: &str) -> String {
        match parse_time(layout, v) {
            Ok(t) => t.print(),
            Err(e) => format!("ERR {e}"),
        }
    }

    #[test]
    fn parses_go_layouts() {
        assert_eq!(
            p("2006-01-02", "2024-03-05"),
            "2024-03-05 00:00:00 +0000 UTC"
        );
        assert_eq!(
            p("2006-01-02T15:04:05Z07:00", "2024-03-05T10:20:30.5+01:00"),
            "2024-03-05 10:20:30.5 +0100 +0100"
        );
        assert_eq!(
            p("2006-01-02T15:04:05Z07:00", "2024-03-05T10:20:30Z"),
            "2024-03-05 10:20:30 +0000 UTC"
        );
        assert_eq!(
            p("Jan _2 3:04PM 2006", "Mar  5 1:02PM 2024"),
            "2024-03-05 13:02:00 +0000 UTC"
        );
        assert_eq!(
            p("02 Jan 06 15:04 MST", "05 Mar 24 10:00 PST"),
            "2024-03-05 10:00:00 +0000 PST"
        );
        assert_eq!(
            p("2006-01-02", "bad"),
            "ERR parsing time \"bad\" as \"2006-01-02\": cannot parse \"bad\" as \"2006\""
        );
        assert_eq!(
            p("2006-01-02", "2024-13-05"),
            "ERR parsing time \"2024-13-05\": month out of range"
        );
        assert_eq!(
            p("2006-01-02", "2023-02-29"),
            "ERR parsing time \"2023-02-29\": day out of range"
        );
        assert_eq!(
            p("2006-01-02", "2024-03-05x"),
            "ERR parsing time \"2024-03-05x\": extra text: \"x\""
        );
        assert_eq!(GoTime::zero().print(), "0001-01-01 00:00:00 +0000 UTC");
        // Without a year in the layout the year is 0, as in Go.
        assert_eq!(p("3:04pm", "1:02am"), "0000-01-01 01:02:00 +0000 UTC");
        assert_eq!(
            p("15:04:05 -0700", "10:00:00 -0330"),
            "0000-01-01 10:00:00 -0330 -0330"
        );
    }

    #[test]
    fn sprig_duration_reads_only_int64_and_strings() {
        assert_eq!(sp("duration", &[Value::Int(5)]), "0s");
        assert_eq!(sp("duration", &[s("5")]), "5s");
        assert_eq!(sp("duration", &[Value::Int64(90)]), "1m30s");
        assert_eq!(sp("duration", &[Value::Int64(3600)]), "1h0m0s");
        assert_eq!(sp("duration", &[Value::Int64(-61)]), "-1m1s");
        assert_eq!(sp("duration", &[Value::Float(2.5)]), "0s");
        assert_eq!(sp("duration", &[s("abc")]), "0s");
        assert_eq!(sp("durationRound", &[s("2h10m5s")]), "2h");
        assert_eq!(sp("durationRound", &[Value::Int(5)]), "0s");
        assert_eq!(
            sp("durationRound", &[Value::Int64(3_600_000_000_000)]),
            "60m"
        );
        assert_eq!(sp("durationRound", &[s("2000h")]), "2mo");
        assert_eq!(sp("durationRound", &[s("9000h")]), "1y");
        assert_eq!(sp("durationRound", &[s("-3m")]), "3m");
        assert_eq!(sp("durationRound", &[s("1.5s")]), "1s");
        assert_eq!(sp("durationRound", &[Value::Uint(100)]), "0s");
        assert_eq!(go_duration_string(1_500_000), "1.5ms");
        assert_eq!(go_duration_string(999), "999ns");
        assert_eq!(go_duration_string(1_000), "1µs");
        assert_eq!(go_duration_string(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(go_duration_string(i64::MIN), "-2562047h47m16.854775808s");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("-1.5s"), Ok(-1_500_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("300ms"), Ok(300_000_000));
        assert_eq!(
            parse_duration("x").unwrap_err(),
            "time: invalid duration \"x\""
        );
        assert_eq!(
            parse_duration("5").unwrap_err(),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            parse_duration("5d").unwrap_err(),
            "time: unknown unit \"d\" in duration \"5d\""
        );
    }

    #[test]
    fn month_and_weekday_are_go_types() {
        let t = call("sprig_toDate", &[s("2006-01-02"), s("2024-03-17")]).unwrap();
        let Value::Object(o) = &t else { panic!() };
        let month = o.method("Month", &[]).unwrap().unwrap();
        let day = o.method("Weekday", &[]).unwrap().unwrap();
        assert_eq!(
            (month.type_name(), month.print()),
            ("time.Month", "March".into())
        );
        assert_eq!(
            (day.type_name(), day.print()),
            ("time.Weekday", "Sunday".into())
        );
        assert_eq!(month.go_int().unwrap().print(), "3");
        // Sunday is 0: false, as Go's zero is.
        assert!(!day.truthy());
        let Value::Object(m) = &month else { panic!() };
        assert_eq!(m.method("String", &[]).unwrap().unwrap().print(), "March");
        assert!(m.method("Year", &[]).is_none());
        assert_eq!(sp("add", &[month.clone(), i(1)]), "4");
        assert_eq!(sp("kindOf", std::slice::from_ref(&month)), "int");
        assert_eq!(sp("typeOf", std::slice::from_ref(&month)), "time.Month");
        assert_eq!(show("add", &[i(1), month.clone()]), "4");
        assert_eq!(show("toJSON", &[Value::list(vec![month, day])]), "[3,0]");
    }

    #[test]
    fn functions() {
        let t = call("sprig_toDate", &[s("2006-01-02"), s("2024-03-05")]).unwrap();
        assert_eq!(t.type_name(), "time.Time");
        assert_eq!(sp("unixEpoch", std::slice::from_ref(&t)), "1709596800");
        assert_eq!(
            sp("mustDateModify", &[s("1h30m"), t.clone()]),
            "2024-03-05 01:30:00 +0000 UTC"
        );
        assert_eq!(
            sp("must_date_modify", &[s("-24h"), t.clone()]),
            "2024-03-04 00:00:00 +0000 UTC"
        );
        assert_eq!(
            sp("mustDateModify", &[s("x"), t]),
            "ERR time: invalid duration \"x\""
        );
        assert_eq!(
            sp("toDate", &[s("2006-01-02"), s("bad")]),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            sp("mustToDate", &[s("2006-01-02"), s("bad")]),
            "ERR parsing time \"bad\" as \"2006-01-02\": cannot parse \"bad\" as \"2006\""
        );
        assert_eq!(
            sp("unixEpoch", &[s("2024")]),
            "ERR wrong type for value; expected time.Time; got string"
        );
        let z = call(
            "sprig_toDate",
            &[
                s("2006-01-02T15:04:05Z07:00"),
                s("2024-03-05T10:20:30+01:00"),
            ],
        )
        .unwrap();
        assert_eq!(sp("unixEpoch", std::slice::from_ref(&z)), "1709630430");
        assert_eq!(
            sp("mustDateModify", &[s("1s"), z.clone()]),
            "2024-03-05 10:20:31 +0100 +0100"
        );
        // Marshalled as Go's `MarshalJSON` and yaml.v2 write a time.
        assert_eq!(show("toJSON", &[z]), "\"2024-03-05T10:20:30+01:00\"");
        let t = call("sprig_toDate", &[s("2006-01-02"), s("2024-03-05")]).unwrap();
        assert_eq!(show("toYAML", &[t]), "2024-03-05T00:00:00Z");
        let v = call("sprig_semver", &[s("v1.2.3")]).unwrap();
        assert_eq!(show("toJSON", std::slice::from_ref(&v)), "\"1.2.3\"");
        assert_eq!(show("toYAML", &[v]), "1.2.3");
    }
}
