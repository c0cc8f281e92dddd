//! The annotation value parsers of injector.md §1.1 (Go `ParseBool`, ints, floats, durations, csv).

use crate::config::GoDuration;
use crate::go::strconv;

/// Go `strconv.ParseBool`, except that the empty string is `false`: upstream's annotation reader
/// treats an annotation set to `""` as not set (injector.md §1.1).
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.is_empty() {
        return Some(false);
    }
    strconv::parse_bool(s).ok()
}

/// Go `strconv.ParseInt(s, 10, 64)` (plain base 10: no prefixes, no `_`), except that `""` is 0
/// as upstream's annotation reader treats an empty value.
pub fn parse_int(s: &str) -> Option<i64> {
    if s.is_empty() {
        return Some(0);
    }
    strconv::parse_int(s, 10).ok()
}

/// Go `strconv.ParseUint(s, 10, 64)`; `""` is an error.
pub fn parse_uint(s: &str) -> Option<u64> {
    strconv::parse_uint(s, 10).ok()
}

/// Go float syntax (decimal, exponent, `inf`, `nan`; `_` separators are not accepted).
pub fn parse_float(s: &str) -> Option<f64> {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return s.parse::<f64>().ok();
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_digit() || b"eE.+-".contains(&b))
    {
        return None;
    }
    s.parse::<f64>().ok()
}

/// Go `time.ParseDuration`.
pub fn parse_duration(s: &str) -> Option<GoDuration> {
    GoDuration::parse_go(s).ok()
}

/// Split on `,` with no trimming and no removal of empty items; `""` is the empty list.
pub fn parse_csv(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_accepts_exactly_the_go_set() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["", "0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["tRuE", "yes", "on", "secure", " true"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("007"), Some(7));
        assert_eq!(parse_int(""), Some(0));
        for bad in ["root", "1.5", "0x10", "-", "99999999999999999999"] {
            assert_eq!(parse_int(bad), None, "{bad}");
        }
        assert_eq!(parse_uint("5"), Some(5));
        for bad in ["", "-1", "+1", "foobar", "5s"] {
            assert_eq!(parse_uint(bad), None, "{bad}");
        }
    }

    #[test]
    fn floats_and_csv() {
        assert_eq!(parse_float("0.75"), Some(0.75));
        assert_eq!(parse_float("1e2"), Some(100.0));
        assert!(parse_float("nan").unwrap().is_nan());
        assert_eq!(parse_float("one-third"), None);
        assert_eq!(parse_float(""), None);
        assert_eq!(parse_csv("a, b,,c"), vec!["a", " b", "", "c"]);
        assert!(parse_csv("").is_empty());
    }

    #[test]
    fn durations() {
        assert!(parse_duration("1s").is_some());
        assert!(parse_duration("1h30m").is_some());
        assert!(parse_duration("5").is_none());
        assert!(parse_duration("1d").is_none());
    }
}
