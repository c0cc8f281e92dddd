//! Go's `time.Time.Format` for UTC instants: the reference-time layout language
//! (`2006-01-02T15:04:05Z07:00`, `Jan`, `Monday`, `.000`, `MST`, …) used by `timestamp`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Go's `time.RFC3339`.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

/// Go's month names (`time.Month.String`), January first.
pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Go's weekday names (`time.Weekday.String`), Sunday first.
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A UTC instant broken into calendar fields.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Civil {
    pub year: i64,
    /// 1–12.
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// 0 = Sunday.
    pub weekday: u32,
    /// 1–366.
    pub yday: u32,
}

/// Seconds (may be negative) and nanoseconds since the Unix epoch of `t`.
pub fn unix_parts(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let (s, n) = (d.as_secs() as i64, d.subsec_nanos());
            if n == 0 {
                (-s, 0)
            } else {
                (-s - 1, 1_000_000_000 - n)
            }
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Breaks a Unix time into UTC calendar fields (proleptic Gregorian).
pub fn civil(secs: i64, nanos: u32) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUM[(month - 1) as usize] + day + u32::from(month > 2 && is_leap(year));
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        nanos,
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

/// Formats `t` (UTC) with a Go layout string.
pub fn format(t: SystemTime, layout: &str) -> String {
    let (secs, nanos) = unix_parts(t);
    format_civil(&civil(secs, nanos), layout)
}

fn starts(s: &str, p: &str) -> bool {
    s.starts_with(p)
}

/// Formats calendar fields with a Go layout string (zone is always UTC).
pub fn format_civil(c: &Civil, layout: &str) -> String {
    format_civil_in(c, layout, 0, "UTC")
}

/// Formats calendar fields (already shifted to the zone) with a Go layout string, in a zone
/// `offset` seconds east of UTC named `name` (`""`: a zone known only by its offset, which `MST`
/// then prints as `-0700` does).
pub fn format_civil_in(c: &Civil, layout: &str, offset: i32, name: &str) -> String {
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout;
    let h12 = if c.hour.is_multiple_of(12) {
        12
    } else {
        c.hour % 12
    };
    while let Some(ch) = rest.chars().next() {
        // (text to emit, bytes of layout consumed)
        let std: Option<(String, usize)> = match ch {
            'J' if starts(rest, "January") => Some((MONTHS[c.month as usize - 1].into(), 7)),
            'J' if starts(rest, "Jan") => Some((MONTHS[c.month as usize - 1][..3].into(), 3)),
            'M' if starts(rest, "Monday") => Some((DAYS[c.weekday as usize].into(), 6)),
            'M' if starts(rest, "Mon") => Some((DAYS[c.weekday as usize][..3].into(), 3)),
            'M' if starts(rest, "MST") && name.is_empty() => {
                Some((zone_digits(offset, false, true, false), 3))
            }
            'M' if starts(rest, "MST") => Some((name.to_string(), 3)),
            '0' if starts(rest, "002") => Some((format!("{:03}", c.yday), 3)),
            '0' => match rest.as_bytes().get(1) {
                Some(b'1') => Some((format!("{:02}", c.month), 2)),
                Some(b'2') => Some((format!("{:02}", c.day), 2)),
                Some(b'3') => Some((format!("{:02}", h12), 2)),
                Some(b'4') => Some((format!("{:02}", c.minute), 2)),
                Some(b'5') => Some((format!("{:02}", c.second), 2)),
                Some(b'6') => Some((format!("{:02}", c.year.rem_euclid(100)), 2)),
                _ => None,
            },
            '1' if starts(rest, "15") => Some((format!("{:02}", c.hour), 2)),
            '1' => Some((c.month.to_string(), 1)),
            '2' if starts(rest, "2006") => Some((format!("{:04}", c.year), 4)),
            '2' => Some((c.day.to_string(), 1)),
            '_' if starts(rest, "__2") => Some((format!("{:>3}", c.yday), 3)),
            '_' if starts(rest, "_2") && !starts(rest, "_2006") => {
                Some((format!("{:>2}", c.day), 2))
            }
            '3' => Some((h12.to_string(), 1)),
            '4' => Some((c.minute.to_string(), 1)),
            '5' => Some((c.second.to_string(), 1)),
            'P' if starts(rest, "PM") => Some((if c.hour >= 12 { "PM" } else { "AM" }.into(), 2)),
            'p' if starts(rest, "pm") => Some((if c.hour >= 12 { "pm" } else { "am" }.into(), 2)),
            '-' | 'Z' => zone(rest, offset),
            '.' | ',' => fraction(rest, c.nanos),
            _ => None,
        };
        match std {
            Some((text, n)) => {
                out.push_str(&text);
                rest = &rest[n..];
            }
            None => {
                out.push(ch);
                rest = &rest[ch.len_utf8()..];
            }
        }
    }
    out
}

/// Zone offset layouts; UTC is `Z` in the `Z…` forms and `+00…` in the `-…` forms.
fn zone(rest: &str, offset: i32) -> Option<(String, usize)> {
    // (form, with minutes, with seconds, colons)
    const FORMS: [(&str, bool, bool, bool); 5] = [
        ("070000", true, true, false),
        ("07:00:00", true, true, true),
        ("0700", true, false, false),
        ("07:00", true, false, true),
        ("07", false, false, false),
    ];
    let z = rest.starts_with('Z');
    for (form, minutes, seconds, colons) in FORMS {
        if rest[1..].starts_with(form) {
            let text = if z && offset == 0 {
                "Z".to_string()
            } else {
                let mut t = zone_digits(offset, colons, minutes, seconds);
                if !minutes {
                    t.truncate(3);
                }
                t
            };
            return Some((text, 1 + form.len()));
        }
    }
    None
}

/// `±hh[:]mm[[:]ss]` of an offset in seconds east of UTC.
fn zone_digits(offset: i32, colons: bool, minutes: bool, seconds: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let a = offset.unsigned_abs();
    let sep = if colons { ":" } else { "" };
    let mut t = format!("{sign}{:02}", a / 3600);
    if minutes {
        t.push_str(&format!("{sep}{:02}", a / 60 % 60));
    }
    if seconds {
        t.push_str(&format!("{sep}{:02}", a % 60));
    }
    t
}

/// `.000` (fixed digits) or `.999` (trailing zeros dropped, dot too when zero).
fn fraction(rest: &str, nanos: u32) -> Option<(String, usize)> {
    let b = rest.as_bytes();
    let d = *b.get(1)?;
    if d != b'0' && d != b'9' {
        return None;
    }
    let n = b[1..].iter().take_while(|x| **x == d).count();
    if b.get(1 + n).is_some_and(|x| x.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{nanos:09}");
    let take = &digits[..n.min(9)];
    let sep = b[0] as char;
    let text = if d == b'0' {
        format!("{sep}{take}")
    } else {
        let t = take.trim_end_matches('0');
        if t.is_empty() {
            String::new()
        } else {
            format!("{sep}{t}")
        }
    };
    Some((text, 1 + n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn rfc3339_and_common_layouts() {
        // 2026-11-22T10:48:29.094194076Z is a Sunday, day 326.
        let t = at(1_795_344_509, 94_194_076);
        assert_eq!(format(t, RFC3339), "2026-11-22T10:48:29Z");
        assert_eq!(
            format(t, "2006-01-02 15:04:05.000 MST -07:00 Z0700"),
            "2026-11-22 10:48:29.094 UTC +00:00 Z"
        );
        assert_eq!(
            format(t, "Mon Jan _2 3:4:5 PM 06 002 .999999999"),
            "Sun Nov 22 10:48:29 AM 26 326 .094194076"
        );
        assert_eq!(format(t, "Monday, January 2"), "Sunday, November 22");
        assert_eq!(
            format(at(0, 0), "2006-01-02T15:04:05.999Z07:00 pm"),
            "1970-01-01T00:00:00Z am"
        );
        assert_eq!(
            format(at(951_782_400, 0), "2006-01-02 002 Mon"),
            "2000-02-29 060 Tue"
        );
        assert_eq!(
            format(at(1_703_980_800 + 13 * 3600, 0), "03:04 PM 1/2"),
            "01:00 PM 12/31"
        );
        assert_eq!(format(t, "literal text: 2006"), "literal text: 2026");
    }

    #[test]
    fn civil_handles_leap_years() {
        let c = civil(1_709_208_000, 0); // 2024-02-29 12:00:00
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.yday, c.weekday),
            (2024, 2, 29, 12, 60, 4)
        );
        let c = civil(1_735_603_200, 0); // 2024-12-31
        assert_eq!((c.year, c.month, c.day, c.yday), (2024, 12, 31, 366));
    }
}
