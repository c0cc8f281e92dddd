//! Issue 16, failure 4: at trace level, a file written over and over beside the watched credential
//! file (the agent's own log landing in the JWT's directory) must neither wake the file watcher
//! nor make a log line — the `notify` crate's per-event `log` records included.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;
use vaultlet_agent::auth::file_watch::{FileEvent, FileWatch};
use vaultlet_agent::logging::{self, LogFormat};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn a_log_file_beside_the_token_is_neither_seen_nor_logged() {
    let out = Captured::default();
    logging::init_with_writer(LevelFilter::TRACE, LogFormat::Standard, out.clone());
    tracing::trace!(target: "auth.jwt", "capture check");

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "jwt").unwrap();
    let mut watch = FileWatch::start(&token).unwrap();
    let mut log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
    for i in 0..1000 {
        writeln!(log, "2026-12-06T16:00:00.000Z [TRACE] line {i}").unwrap();
        log.flush().unwrap();
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(500), watch.next())
            .await
            .is_err(),
        "the watcher woke for another file"
    );
    std::fs::write(&token, "jwt2").unwrap();
    let e = tokio::time::timeout(Duration::from_secs(5), watch.next()).await;
    assert_eq!(e.unwrap(), FileEvent::Changed);

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("capture check"), "the capture works: {text}");
    assert!(!text.contains("agent.log"), "{text}");
    assert!(!text.contains("inotify"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}
