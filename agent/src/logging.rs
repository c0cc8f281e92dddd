//! Log set-up (agent.md §8.4): the shared hclog-shaped formatter ([`vaultlet_shared::logging`]) with
//! the tracing target as the module (`auth.handler`, `sink.file`, …) and no colour. Bottom layer:
//! imports nothing from the agent.

use tracing_subscriber::filter::LevelFilter;
pub use vaultlet_shared::logging::{LevelSetter, LogError, LogFormat, parse_level, rfc3339_millis};
use vaultlet_shared::logging::{Style, init_with_writer as shared_init};

/// Installs the global subscriber writing to stderr. Call once.
pub fn init(level: LevelFilter, format: LogFormat) -> LevelSetter {
    init_with_writer(level, format, std::io::stderr)
}

/// [`init`] with another writer (tests capture the agent's log with it). Call once.
pub fn init_with_writer<W>(level: LevelFilter, format: LogFormat, writer: W) -> LevelSetter
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    shared_init(level, Style::plain(format), writer)
}
