//! Prometheus' text format 0.0.4 as Go's client writes it (injector.md §6.6). prometheus-client
//! writes OpenMetrics; [`text_format`] rewrites that line by line: a counter's `# HELP` and
//! `# TYPE` carry its `_total` name, `# UNIT` and `# EOF` go, and every number (sample values and
//! `le` labels) is written as Go's `strconv.FormatFloat(v, 'g', -1, 64)` does (`5`, `0.005`,
//! `1.048576e+06`, `+Inf`), so dashboards and alerts written against vault-k8s match. Pure.

/// The OpenMetrics text `om` in Prometheus' text format.
pub fn text_format(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    let mut help: Option<(&str, &str)> = None;
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take());
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (total, kind) = match kind {
                "counter" if !name.ends_with("_total") => (format!("{name}_total"), kind),
                "unknown" => (name.to_string(), "untyped"),
                _ => (name.to_string(), kind),
            };
            match help.take() {
                Some((n, h)) if n == name => flush_help(&mut out, Some((&total, h))),
                other => flush_help(&mut out, other),
            }
            out.push_str("# TYPE ");
            out.push_str(&total);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
            continue;
        }
        flush_help(&mut out, help.take());
        if line.starts_with('#') {
            out.push_str(line);
        } else {
            sample(&mut out, line);
        }
        out.push('\n');
    }
    flush_help(&mut out, help.take());
    out
}

fn flush_help(out: &mut String, help: Option<(&str, &str)>) {
    if let Some((name, text)) = help {
        out.push_str("# HELP ");
        out.push_str(name);
        out.push(' ');
        out.push_str(text);
        out.push('\n');
    }
}

/// One sample line, `name{labels} value`, with `le` and the value in Go's form.
fn sample(out: &mut String, line: &str) {
    let value = match line.find('{') {
        Some(open) => {
            let close = labels_end(line, open);
            out.push_str(&line[..=open]);
            labels(out, &line[open + 1..close]);
            out.push('}');
            &line[close + 1..]
        }
        None => {
            let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
            out.push_str(name);
            rest
        }
    };
    let value = value.trim_start();
    let (number, rest) = value.split_once(' ').unwrap_or((value, ""));
    out.push(' ');
    out.push_str(&number_go(number));
    if !rest.is_empty() {
        out.push(' ');
        out.push_str(rest);
    }
}

/// The index of the `}` closing the label set opened at `open` (quotes and escapes honoured).
fn labels_end(line: &str, open: usize) -> usize {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices().skip_while(|(i, _)| *i <= open) {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return i,
            _ => {}
        }
    }
    line.len() - 1
}

/// `a="x",le="5.0"` with `le`'s value in Go's form.
fn labels(out: &mut String, set: &str) {
    let mut rest = set;
    while !rest.is_empty() {
        let Some((name, after)) = rest.split_once("=\"") else {
            out.push_str(rest);
            return;
        };
        // The value ends at the first unescaped quote.
        let mut end = after.len();
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let value = &after[..end];
        out.push_str(name);
        out.push_str("=\"");
        if name == "le" || name == "quantile" {
            out.push_str(&number_go(value));
        } else {
            out.push_str(value);
        }
        out.push('"');
        rest = after.get(end + 1..).unwrap_or("");
        if let Some(r) = rest.strip_prefix(',') {
            out.push(',');
            rest = r;
        }
    }
}

/// A number as Go writes it; anything that is not a number as it is.
fn number_go(s: &str) -> String {
    match s {
        "+Inf" | "-Inf" | "NaN" => s.to_string(),
        _ => s.parse::<f64>().map_or_else(|_| s.to_string(), go_float),
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` as Prometheus' Go client writes samples: the
/// shortest digits that read back as `f`, in exponent form when the exponent is below -4 or at
/// least 6 (`1e+06`, `2.5e-05`), else plain (`0.005`, `7500`); `+Inf`, `-Inf`, `NaN`, `0`.
pub fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_formats_them() {
        for (f, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (5.0, "5"),
            (0.005, "0.005"),
            (0.0001, "0.0001"),
            (0.000025, "2.5e-05"),
            (7500.0, "7500"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1048576.0, "1.048576e+06"),
            (12345678.0, "1.2345678e+07"),
            (1.7123456789e9, "1.7123456789e+09"),
            (u64::MAX as f64, "1.8446744073709552e+19"),
            (1e100, "1e+100"),
            (12.5, "12.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
        assert_eq!(go_float(f64::NAN), "NaN");
    }

    #[test]
    fn openmetrics_becomes_text_format() {
        let om = "\
# HELP vault_agent_injector_request_queue_length Count of webhook requests in the injector's queue.
# TYPE vault_agent_injector_request_queue_length gauge
vault_agent_injector_request_queue_length 0
# HELP d Webhook request processing times in milliseconds.
# TYPE d histogram
d_sum 12.0
d_count 2
d_bucket{le=\"5.0\"} 1
d_bucket{le=\"7500.0\"} 2
d_bucket{le=\"+Inf\"} 2
# HELP c Total count.
# TYPE c counter
c_total{namespace=\"a,le=\\\"1.0\\\"}\",injection_type=\"init_only\"} 1
# HELP process_cpu_seconds CPU time.
# TYPE process_cpu_seconds counter
# UNIT process_cpu_seconds seconds
process_cpu_seconds_total 0.25
# HELP process_resident_memory_bytes RSS.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 12345678.0
# EOF
";
        assert_eq!(
            text_format(om),
            "\
# HELP vault_agent_injector_request_queue_length Count of webhook requests in the injector's queue.
# TYPE vault_agent_injector_request_queue_length gauge
vault_agent_injector_request_queue_length 0
# HELP d Webhook request processing times in milliseconds.
# TYPE d histogram
d_sum 12
d_count 2
d_bucket{le=\"5\"} 1
d_bucket{le=\"7500\"} 2
d_bucket{le=\"+Inf\"} 2
# HELP c_total Total count.
# TYPE c_total counter
c_total{namespace=\"a,le=\\\"1.0\\\"}\",injection_type=\"init_only\"} 1
# HELP process_cpu_seconds_total CPU time.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 0.25
# HELP process_resident_memory_bytes RSS.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2345678e+07
"
        );
    }
}
