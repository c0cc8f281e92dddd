//! hclog-shaped log lines for both binaries (agent.md §8.4, injector.md §6.7): `standard` lines like
//! `2026-11-22T10:42:16.184Z [INFO]  auth.handler: authentication successful: key=value`, or `json`
//! objects with `@level`, `@message`, `@module`, `@timestamp` and the fields. The module is the
//! tracing target, renamed by the caller's [`Style::module`] (the injector's is upstream's
//! `handler`). The fields of the spans an event is logged in come first, as hclog's `With` fields
//! do, so a line written while the injector handles a review names the review. A text value is
//! quoted with Go's `strconv.Quote` when it is empty or holds a space, a quote, an `=` or a control
//! character, so one record stays one line. Colour (text only) when the caller says the output is
//! a terminal. Third-party crates are capped at `info` so a `trace` run never prints wire data.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::go::json::quote_to;
use crate::go::strconv::quote;

/// A log setting that cannot be used, or a failed level reload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("log format {0:?} is not supported: use \"standard\" or \"json\"")]
    Format(String),
    #[error("log level {0:?} is not one of trace, debug, info, warn, error")]
    Level(String),
    /// The installed subscriber refused the new level.
    #[error("{0}")]
    Reload(String),
}

/// `standard` or `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Standard,
    Json,
}

impl FromStr for LogFormat {
    type Err = LogError;
    fn from_str(s: &str) -> Result<Self, LogError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "standard" => Ok(Self::Standard),
            "json" => Ok(Self::Json),
            other => Err(LogError::Format(other.to_string())),
        }
    }
}

/// Parses a level name (`trace`, `debug`, `info`, `warn`/`warning`, `error`; `off` is accepted too).
pub fn parse_level(s: &str) -> Result<LevelFilter, LogError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" | "info" => Ok(LevelFilter::INFO),
        "trace" => Ok(LevelFilter::TRACE),
        "debug" => Ok(LevelFilter::DEBUG),
        "warn" | "warning" => Ok(LevelFilter::WARN),
        "error" | "err" => Ok(LevelFilter::ERROR),
        "off" => Ok(LevelFilter::OFF),
        other => Err(LogError::Level(other.to_string())),
    }
}

/// How lines look: the format, colour, and the module name a tracing target is logged under.
#[derive(Clone, Copy)]
pub struct Style {
    pub format: LogFormat,
    /// ANSI colour by level (text only; the caller sets it when the output is a terminal).
    pub color: bool,
    /// The `@module` of a target (the agent: the target itself).
    pub module: fn(&str) -> &str,
}

impl Style {
    /// `format`, no colour, the target as the module.
    pub fn plain(format: LogFormat) -> Style {
        Style {
            format,
            color: false,
            module: |t| t,
        }
    }
}

/// UTC RFC 3339 with milliseconds for a time since the epoch, e.g. `2026-11-22T10:42:16.184Z`.
pub fn rfc3339_millis(secs: u64, millis: u32) -> String {
    let mut s = String::with_capacity(24);
    push_rfc3339_millis(&mut s, secs, millis);
    s
}

fn push_rfc3339_millis(out: &mut String, secs: u64, millis: u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), valid for all dates after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

fn push_now(out: &mut String) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    push_rfc3339_millis(out, d.as_secs(), d.subsec_millis());
}

/// Whether a text value is written quoted: empty, or holding a character that would make the
/// `key=value` list ambiguous or break the line.
fn needs_quoting(s: &str) -> bool {
    s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=')
}

/// Appends one field in the format's pair syntax: ` k=v` (standard) or `,"k":v` (json).
/// `raw` is a number or a bool (never quoted); otherwise `value` is a string.
fn push_pair(out: &mut String, format: LogFormat, key: &str, value: &str, raw: bool) {
    match format {
        LogFormat::Standard => {
            out.push(' ');
            out.push_str(key);
            out.push('=');
            if !raw && needs_quoting(value) {
                out.push_str(&quote(value));
            } else {
                out.push_str(value);
            }
        }
        LogFormat::Json => {
            out.push(',');
            quote_to(out, key, true);
            out.push(':');
            if raw {
                out.push_str(value);
            } else {
                quote_to(out, value, true);
            }
        }
    }
}

/// Records fields into the pair syntax; the `message` field, when a place is given for it, apart.
struct Pairs<'a> {
    format: LogFormat,
    out: &'a mut String,
    message: Option<&'a mut String>,
}

impl Pairs<'_> {
    fn raw(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let mut v = String::new();
        let _ = v.write_fmt(value);
        push_pair(self.out, self.format, field.name(), &v, true);
    }
}

impl Visit for Pairs<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match &mut self.message {
            Some(m) if field.name() == "message" => m.push_str(value),
            _ => push_pair(self.out, self.format, field.name(), value, false),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        push_pair(
            self.out,
            self.format,
            field.name(),
            if value { "true" } else { "false" },
            true,
        );
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.raw(field, format_args!("{value}"));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.raw(field, format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match &mut self.message {
            Some(m) if field.name() == "message" => {
                let _ = write!(m, "{value:?}");
            }
            _ => {
                let v = format!("{value:?}");
                push_pair(self.out, self.format, field.name(), &v, false);
            }
        }
    }
}

/// The fields of spans, kept in the pair syntax so an event appends them as they are.
pub struct HclogFields(LogFormat);

impl<'w> FormatFields<'w> for HclogFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut out = String::new();
        fields.record(&mut Pairs {
            format: self.0,
            out: &mut out,
            message: None,
        });
        writer.write_str(&out)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        // Each pair carries its own separator.
        fields.record(&mut Pairs {
            format: self.0,
            out: &mut current.fields,
            message: None,
        });
        Ok(())
    }
}

/// The event formatter.
struct HclogFormat(Style);

fn level_tag(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "[TRACE] ",
        Level::DEBUG => "[DEBUG] ",
        Level::INFO => "[INFO]  ",
        Level::WARN => "[WARN]  ",
        Level::ERROR => "[ERROR] ",
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// hclog's colours by level (bright green, white, blue, yellow, red).
fn level_color(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "\x1b[92m",
        Level::DEBUG => "\x1b[97m",
        Level::INFO => "\x1b[94m",
        Level::WARN => "\x1b[93m",
        Level::ERROR => "\x1b[91m",
    }
}

/// One line (with its newline) from its parts; `pairs` is already in the format's pair syntax.
fn line(
    style: &Style,
    ts: &str,
    level: &Level,
    module: &str,
    message: &str,
    pairs: &str,
) -> String {
    let mut out = String::with_capacity(64 + message.len() + pairs.len());
    match style.format {
        LogFormat::Standard => {
            if style.color {
                out.push_str(level_color(level));
            }
            out.push_str(ts);
            out.push(' ');
            out.push_str(level_tag(level));
            out.push_str(module);
            out.push_str(": ");
            out.push_str(message);
            if !pairs.is_empty() {
                out.push(':');
                out.push_str(pairs);
            }
            if style.color {
                out.push_str("\x1b[0m");
            }
        }
        LogFormat::Json => {
            out.push_str("{\"@level\":\"");
            out.push_str(level_name(level));
            out.push_str("\",\"@message\":");
            quote_to(&mut out, message, true);
            out.push_str(",\"@module\":");
            quote_to(&mut out, module, true);
            out.push_str(",\"@timestamp\":\"");
            out.push_str(ts);
            out.push('"');
            out.push_str(pairs);
            out.push('}');
        }
    }
    out.push('\n');
    out
}

impl<S> FormatEvent<S, HclogFields> for HclogFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, HclogFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let format = self.0.format;
        let mut pairs = String::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<FormattedFields<HclogFields>>() {
                    pairs.push_str(&f.fields);
                }
            }
        }
        let mut message = String::new();
        event.record(&mut Pairs {
            format,
            out: &mut pairs,
            message: Some(&mut message),
        });
        let meta = event.metadata();
        let mut ts = String::with_capacity(24);
        push_now(&mut ts);
        let module = (self.0.module)(meta.target());
        writer.write_str(&line(&self.0, &ts, meta.level(), module, &message, &pairs))
    }
}

/// Changes the log level of the installed subscriber (the agent's SIGHUP reload, agent.md §8.2).
pub struct LevelSetter(Box<dyn Fn(LevelFilter) -> Result<(), LogError> + Send + Sync>);

impl LevelSetter {
    /// Applies `level` from now on.
    pub fn set(&self, level: LevelFilter) -> Result<(), LogError> {
        (self.0)(level)
    }
}

fn filter_for(level: LevelFilter) -> Targets {
    let third_party = level.min(LevelFilter::INFO);
    Targets::new()
        .with_default(level)
        .with_target("hyper", third_party)
        .with_target("hyper_util", third_party)
        .with_target("rustls", third_party)
        .with_target("h2", third_party)
        .with_target("tokio", third_party)
        .with_target("mio", third_party)
        .with_target("log", third_party)
        // The file watcher's crates log one `log` record per inotify event at trace level; in a
        // directory the agent's own log lands in, each line would make another (issue 16).
        .with_target("notify", third_party)
        .with_target("inotify", third_party)
        .with_target("tower", third_party)
        .with_target("kube", third_party)
        .with_target("kube_client", third_party)
        .with_target("kube_runtime", third_party)
}

/// Installs the global subscriber writing to `writer` (stderr, or a test's buffer). Call once.
pub fn init_with_writer<W>(level: LevelFilter, style: Style, writer: W) -> LevelSetter
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter_for(level));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .fmt_fields(HclogFields(style.format))
        .event_format(HclogFormat(style));
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
    LevelSetter(Box::new(move |level| {
        handle
            .reload(filter_for(level))
            .map_err(|e| LogError::Reload(e.to_string()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(format: LogFormat, kv: &[(&str, &str, bool)]) -> String {
        let mut out = String::new();
        for (k, v, raw) in kv {
            push_pair(&mut out, format, k, v, *raw);
        }
        out
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339_millis(0, 0), "1970-01-01T00:00:00.000Z");
        // 2026-11-22T10:42:16Z
        assert_eq!(
            rfc3339_millis(1_795_344_136, 184),
            "2026-11-22T10:42:16.184Z"
        );
        assert_eq!(rfc3339_millis(951_782_400, 5), "2000-02-29T00:00:00.005Z");
    }

    #[test]
    fn standard_line_shape() {
        let p = pairs(
            LogFormat::Standard,
            &[("accessor", "abc", false), ("ttl", "5", true)],
        );
        let plain = Style::plain(LogFormat::Standard);
        assert_eq!(
            line(
                &plain,
                "T",
                &Level::INFO,
                "auth.handler",
                "authentication successful, sending token to sinks",
                &p
            ),
            "T [INFO]  auth.handler: authentication successful, sending token to sinks: accessor=abc ttl=5\n"
        );
        assert_eq!(
            line(&plain, "T", &Level::ERROR, "m", "x", ""),
            "T [ERROR] m: x\n"
        );
        let colored = Style {
            color: true,
            ..plain
        };
        assert_eq!(
            line(&colored, "T", &Level::WARN, "handler", "x", ""),
            "\x1b[93mT [WARN]  handler: x\x1b[0m\n"
        );
    }

    #[test]
    fn text_values_are_quoted_only_when_they_must_be() {
        let p = pairs(
            LogFormat::Standard,
            &[
                ("a", "127.0.0.1:8080", false),
                ("b", "", false),
                ("c", "two words", false),
                ("d", "line\nbreak", false),
                ("e", "say \"hi\"", false),
                ("f", "k=v", false),
                ("g", "\x1b[31mred", false),
            ],
        );
        assert_eq!(
            p,
            r#" a=127.0.0.1:8080 b="" c="two words" d="line\nbreak" e="say \"hi\"" f="k=v" g="\x1b[31mred""#
        );
    }

    #[test]
    fn json_line_shape() {
        let p = pairs(
            LogFormat::Json,
            &[
                ("path", "/a b", false),
                ("n", "3", true),
                ("ok", "true", true),
            ],
        );
        let json = line(
            &Style::plain(LogFormat::Json),
            "T",
            &Level::WARN,
            "sink.file",
            "token <written>",
            &p,
        );
        assert!(json.ends_with("}\n"), "{json}");
        assert!(
            json.starts_with(r#"{"@level":"warn","@message":"token \u003cwritten\u003e","@module":"sink.file","@timestamp":"T""#),
            "{json}"
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "token <written>");
        assert_eq!(v["@module"], "sink.file");
        assert_eq!(v["@timestamp"], "T");
        assert_eq!(v["path"], "/a b");
        assert_eq!(v["n"], 3);
        assert_eq!(v["ok"], true);
    }

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What `f` logs through the formatter of `style`.
    fn logged(style: Style, f: impl FnOnce()) -> String {
        let buf = Buf::default();
        let out = buf.clone();
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || out.clone())
            .with_ansi(false)
            .fmt_fields(HclogFields(style.format))
            .event_format(HclogFormat(style));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn review() {
        let span = tracing::info_span!(
            "review",
            uid = tracing::field::Empty,
            namespace = tracing::field::Empty
        );
        let _g = span.enter();
        span.record("uid", "u-1");
        span.record("namespace", "team a");
        tracing::warn!(reason = "template", n = 2, "refused the pod");
    }

    #[test]
    fn span_fields_come_first_and_the_module_is_renamed() {
        let style = Style {
            format: LogFormat::Standard,
            color: false,
            module: |t| {
                if t.starts_with("vaultlet_shared") {
                    "handler"
                } else {
                    t
                }
            },
        };
        let text = logged(style, review);
        let (ts, rest) = text.split_once(' ').unwrap();
        assert_eq!(ts.len(), "2026-11-22T10:42:16.184Z".len(), "{text}");
        assert_eq!(
            rest,
            "[WARN]  handler: refused the pod: uid=u-1 namespace=\"team a\" reason=template n=2\n"
        );
        let json = logged(
            Style {
                format: LogFormat::Json,
                ..style
            },
            review,
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "refused the pod");
        assert_eq!(v["@module"], "handler");
        assert_eq!(v["uid"], "u-1");
        assert_eq!(v["namespace"], "team a");
        assert_eq!(v["reason"], "template");
        assert_eq!(v["n"], 2);
        assert!(v["@timestamp"].as_str().unwrap().ends_with('Z'), "{json}");
    }

    #[test]
    fn third_party_crates_are_capped_at_info() {
        let f = filter_for(LevelFilter::TRACE);
        assert!(f.would_enable("auth.jwt", &Level::TRACE));
        for target in [
            "notify::inotify",
            "inotify",
            "hyper::proto",
            "log",
            "kube_client",
        ] {
            assert!(!f.would_enable(target, &Level::TRACE), "{target}");
            assert!(!f.would_enable(target, &Level::DEBUG), "{target}");
            assert!(f.would_enable(target, &Level::INFO), "{target}");
        }
    }

    #[test]
    fn level_and_format_parsing() {
        assert_eq!(parse_level("TRACE").unwrap(), LevelFilter::TRACE);
        assert_eq!(parse_level("warn").unwrap(), LevelFilter::WARN);
        assert_eq!(
            parse_level("loud").unwrap_err().to_string(),
            r#"log level "loud" is not one of trace, debug, info, warn, error"#
        );
        assert_eq!("json".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!(
            "xml".parse::<LogFormat>().unwrap_err().to_string(),
            r#"log format "xml" is not supported: use "standard" or "json""#
        );
    }
}
