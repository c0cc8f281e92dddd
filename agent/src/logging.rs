//! Log set-up (agent.md §8.4): `standard` lines like
//! `2026-11-22T10:42:16.184Z [INFO]  auth.handler: authentication successful: key=value`, or `json`
//! objects with `@level`, `@message`, `@module`, `@timestamp` and the fields. The module is the
//! tracing target (`auth.handler`, `sink.file`, …). Third-party crates are capped at `info` so a
//! `trace` run never prints wire data. Bottom layer: imports nothing from the agent.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// A log setting the agent refuses, or a failed level reload.
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

/// UTC RFC 3339 with milliseconds for a time since the epoch, e.g. `2026-11-22T10:42:16.184Z`.
pub fn rfc3339_millis(secs: u64, millis: u32) -> String {
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
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_millis(d.as_secs(), d.subsec_millis())
}

/// The message and key/value fields of one event.
#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(String, serde_json::Value)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs
                .push((field.name().to_string(), serde_json::Value::from(value)));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.pairs
            .push((field.name().to_string(), serde_json::Value::from(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.pairs
            .push((field.name().to_string(), serde_json::Value::from(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.pairs
            .push((field.name().to_string(), serde_json::Value::from(value)));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((
                field.name().to_string(),
                serde_json::Value::from(format!("{value:?}")),
            ));
        }
    }
}

/// Our two line formats.
struct AgentFormat(LogFormat);

fn level_tag(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "[TRACE] ",
        Level::DEBUG => "[DEBUG] ",
        Level::INFO => "[INFO]  ",
        Level::WARN => "[WARN]  ",
        Level::ERROR => "[ERROR] ",
    }
}

/// One `standard` line (without the newline).
fn standard_line(ts: &str, level: &Level, module: &str, fields: &Fields) -> String {
    let mut line = format!("{ts} {}{module}: {}", level_tag(level), fields.message);
    if !fields.pairs.is_empty() {
        line.push(':');
        for (k, v) in &fields.pairs {
            match v {
                serde_json::Value::String(s) if s.contains(' ') || s.is_empty() => {
                    let _ = write!(line, " {k}={s:?}");
                }
                serde_json::Value::String(s) => {
                    let _ = write!(line, " {k}={s}");
                }
                other => {
                    let _ = write!(line, " {k}={other}");
                }
            }
        }
    }
    line
}

/// One `json` line (without the newline).
fn json_line(ts: &str, level: &Level, module: &str, fields: &Fields) -> String {
    let mut obj = serde_json::Map::new();
    obj.insert("@level".into(), level.as_str().to_ascii_lowercase().into());
    obj.insert("@message".into(), fields.message.clone().into());
    obj.insert("@module".into(), module.into());
    obj.insert("@timestamp".into(), ts.into());
    for (k, v) in &fields.pairs {
        obj.insert(k.clone(), v.clone());
    }
    serde_json::Value::Object(obj).to_string()
}

impl<S, N> FormatEvent<S, N> for AgentFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let ts = now();
        let line = match self.0 {
            LogFormat::Standard => standard_line(&ts, meta.level(), meta.target(), &fields),
            LogFormat::Json => json_line(&ts, meta.level(), meta.target(), &fields),
        };
        writeln!(writer, "{line}")
    }
}

/// Changes the log level of the installed subscriber (SIGHUP reload, agent.md §8.2).
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
}

/// Installs the global subscriber writing to stderr. Call once.
pub fn init(level: LevelFilter, format: LogFormat) -> LevelSetter {
    init_with_writer(level, format, std::io::stderr)
}

/// [`init`] with another writer (tests capture the agent's log with it). Call once.
pub fn init_with_writer<W>(level: LevelFilter, format: LogFormat, writer: W) -> LevelSetter
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter_for(level));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .event_format(AgentFormat(format));
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
        let f = Fields {
            message: "authentication successful, sending token to sinks".into(),
            pairs: vec![("accessor".into(), "abc".into()), ("ttl".into(), 5.into())],
        };
        assert_eq!(
            standard_line("T", &Level::INFO, "auth.handler", &f),
            "T [INFO]  auth.handler: authentication successful, sending token to sinks: accessor=abc ttl=5"
        );
        let f = Fields {
            message: "x".into(),
            pairs: vec![],
        };
        assert_eq!(standard_line("T", &Level::ERROR, "m", &f), "T [ERROR] m: x");
    }

    #[test]
    fn json_line_shape() {
        let f = Fields {
            message: "token written".into(),
            pairs: vec![("path".into(), "/a b".into())],
        };
        let v: serde_json::Value =
            serde_json::from_str(&json_line("T", &Level::WARN, "sink.file", &f)).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "token written");
        assert_eq!(v["@module"], "sink.file");
        assert_eq!(v["@timestamp"], "T");
        assert_eq!(v["path"], "/a b");
    }

    #[test]
    fn third_party_crates_are_capped_at_info() {
        let f = filter_for(LevelFilter::TRACE);
        assert!(f.would_enable("auth.jwt", &Level::TRACE));
        for target in ["notify::inotify", "inotify", "hyper::proto", "log"] {
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
