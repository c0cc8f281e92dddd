//! Durations as Vault Agent reads and writes them: Go `time.ParseDuration` syntax, the looser
//! "seconds or Go duration or `<n>d`" rule of Vault's `ParseDurationSecond` (agent.md §1.3), and
//! Go's `Duration.String()` formatting for output.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A non-negative duration that prints like Go's `time.Duration.String()` (`"1s"`, `"5m0s"`,
/// `"1.5s"`, `"300ms"`). [`FromStr`] uses the lenient config rule ([`GoDuration::parse_lenient`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub Duration);

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration")]
    Invalid,
    #[error("missing unit in duration")]
    MissingUnit,
    #[error("unknown unit {0:?} in duration")]
    UnknownUnit(String),
    #[error("duration out of range")]
    Overflow,
    #[error("negative durations are not allowed")]
    Negative,
}

/// Go's largest duration: i64::MAX nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

impl GoDuration {
    /// Strict Go `time.ParseDuration`: `300ms`, `1.5h`, `1h30m`, bare `0`; units `ns us µs ms s m h`.
    /// A leading `+` is allowed; a negative value is rejected (agent durations are never negative).
    pub fn parse_go(s: &str) -> Result<Self, DurationError> {
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if rest.is_empty() {
            return Err(DurationError::Invalid);
        }
        let mut total: u128 = 0;
        while !rest.is_empty() {
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let int_part = &rest[..int_len];
            rest = &rest[int_len..];
            let mut frac_part = "";
            if let Some(r) = rest.strip_prefix('.') {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                frac_part = &r[..n];
                rest = &r[n..];
            }
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(DurationError::Invalid);
            }
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| *c == '.' || c.is_ascii_digit())
                .map_or(rest.len(), |(i, _)| i);
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let scale: u128 = match unit {
                "" => return Err(DurationError::MissingUnit),
                "ns" => 1,
                "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                other => return Err(DurationError::UnknownUnit(other.to_string())),
            };
            let int: u128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| DurationError::Overflow)?
            };
            let mut v = int.checked_mul(scale).ok_or(DurationError::Overflow)?;
            // Fraction: add frac * scale, truncated to whole nanoseconds like Go. Like Go, digits
            // past what an int64 holds (19) are ignored; more would overflow `frac * scale`.
            let mut div: u128 = 1;
            let mut frac: u128 = 0;
            for d in frac_part.bytes().take(19) {
                frac = frac * 10 + u128::from(d - b'0');
                div *= 10;
            }
            v += frac * scale / div;
            total = total.checked_add(v).ok_or(DurationError::Overflow)?;
            if total > MAX_NANOS {
                return Err(DurationError::Overflow);
            }
        }
        if neg && total != 0 {
            return Err(DurationError::Negative);
        }
        Ok(GoDuration(nanos_to_duration(total)))
    }

    /// The config rule of agent.md §1.3 for a string: `""` ⇒ 0, all digits ⇒ seconds, `<n>d` ⇒ days,
    /// otherwise a Go duration.
    pub fn parse_lenient(s: &str) -> Result<Self, DurationError> {
        if s.is_empty() {
            return Ok(GoDuration(Duration::ZERO));
        }
        if let Some(days) = s.strip_suffix('d') {
            let n: i64 = days.parse().map_err(|_| DurationError::Invalid)?;
            return Self::from_seconds(n, 86_400);
        }
        if let Ok(n) = s.parse::<i64>() {
            return Self::from_seconds(n, 1);
        }
        Self::parse_go(s)
    }

    /// Whole seconds (an integer config value).
    pub fn from_seconds(n: i64, unit: u64) -> Result<Self, DurationError> {
        if n < 0 {
            return Err(DurationError::Negative);
        }
        let secs = (n as u64)
            .checked_mul(unit)
            .ok_or(DurationError::Overflow)?;
        if u128::from(secs) * 1_000_000_000 > MAX_NANOS {
            return Err(DurationError::Overflow);
        }
        Ok(GoDuration(Duration::from_secs(secs)))
    }

    /// The wrapped value.
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

fn nanos_to_duration(n: u128) -> Duration {
    Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> Self {
        GoDuration(d)
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_lenient(s)
    }
}

/// `v / 10^prec` with trailing zeros (and a bare point) removed, as Go's `fmtFrac` + `fmtInt`.
fn frac(v: u128, prec: u32) -> String {
    let p = 10u128.pow(prec);
    let (int, f) = (v / p, v % p);
    if f == 0 {
        return int.to_string();
    }
    let digits = format!("{:0width$}", f, width = prec as usize);
    format!("{int}.{}", digits.trim_end_matches('0'))
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_nanos();
        if n == 0 {
            return f.write_str("0s");
        }
        if n < 1_000 {
            return write!(f, "{n}ns");
        }
        if n < 1_000_000 {
            return write!(f, "{}\u{b5}s", frac(n, 3));
        }
        if n < 1_000_000_000 {
            return write!(f, "{}ms", frac(n, 6));
        }
        let secs_nanos = n % 60_000_000_000;
        let mins_total = n / 60_000_000_000;
        let (hours, mins) = (mins_total / 60, mins_total % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || mins > 0 {
            write!(f, "{mins}m")?;
        }
        write!(f, "{}s", frac(secs_nanos, 9))
    }
}

impl serde::Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Duration {
        GoDuration::parse_go(s).unwrap().0
    }

    #[test]
    fn parses_go_syntax() {
        assert_eq!(d("300ms"), Duration::from_millis(300));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("1h30m"), Duration::from_secs(5400));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d("+5s"), Duration::from_secs(5));
        assert_eq!(d("1us"), Duration::from_micros(1));
        assert_eq!(d("1\u{b5}s"), Duration::from_micros(1));
        assert_eq!(d("1\u{3bc}s"), Duration::from_micros(1));
        assert_eq!(d(".5s"), Duration::from_millis(500));
        assert_eq!(d("2562047h"), Duration::from_secs(2562047 * 3600));
        // Long fractions (found by shared/tests/hostile_input.rs): digits past 19 are ignored,
        // no overflow.
        assert_eq!(
            d(".92233720368547758079223372036854775807h"),
            Duration::from_nanos(3_320_413_933_267)
        );
        assert_eq!(
            d("0.99999999999999999999999999999s"),
            Duration::from_nanos(999_999_999)
        );
    }

    #[test]
    fn rejects_bad_go_syntax() {
        assert_eq!(GoDuration::parse_go("5"), Err(DurationError::MissingUnit));
        assert_eq!(
            GoDuration::parse_go("1d"),
            Err(DurationError::UnknownUnit("d".into()))
        );
        assert_eq!(GoDuration::parse_go(""), Err(DurationError::Invalid));
        assert_eq!(GoDuration::parse_go("x"), Err(DurationError::Invalid));
        assert_eq!(GoDuration::parse_go("."), Err(DurationError::Invalid));
        assert_eq!(GoDuration::parse_go("-1s"), Err(DurationError::Negative));
        assert_eq!(
            GoDuration::parse_go("3000000h"),
            Err(DurationError::Overflow)
        );
    }

    #[test]
    fn lenient_rules() {
        let l = |s| GoDuration::parse_lenient(s).unwrap().0;
        assert_eq!(l(""), Duration::ZERO);
        assert_eq!(l("30"), Duration::from_secs(30));
        assert_eq!(l("2d"), Duration::from_secs(2 * 86400));
        assert_eq!(l("1m"), Duration::from_secs(60));
        assert!(GoDuration::parse_lenient("lots").is_err());
        assert!(GoDuration::parse_lenient("1.5d").is_err());
        assert!(GoDuration::parse_lenient("-3").is_err());
    }

    #[test]
    fn formats_like_go() {
        let s = |d: Duration| GoDuration(d).to_string();
        assert_eq!(s(Duration::ZERO), "0s");
        assert_eq!(s(Duration::from_secs(1)), "1s");
        assert_eq!(s(Duration::from_secs(300)), "5m0s");
        assert_eq!(s(Duration::from_millis(1500)), "1.5s");
        assert_eq!(s(Duration::from_millis(300)), "300ms");
        assert_eq!(s(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(s(Duration::from_nanos(1500)), "1.5\u{b5}s");
        assert_eq!(s(Duration::from_nanos(12)), "12ns");
        assert_eq!(s(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(s(Duration::from_secs(3661)), "1h1m1s");
        assert_eq!(s(Duration::new(90, 1)), "1m30.000000001s");
    }

    #[test]
    fn format_parses_back() {
        for ns in [
            1u64,
            999,
            1_000,
            1_500_000,
            999_999_999,
            1_000_000_000,
            61_500_000_000,
            86_400_000_000_123,
        ] {
            let g = GoDuration(Duration::from_nanos(ns));
            assert_eq!(GoDuration::parse_go(&g.to_string()).unwrap(), g, "{g}");
        }
    }
}
