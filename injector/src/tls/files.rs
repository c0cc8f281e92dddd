//! Disk mode (injector.md §6.4): the serving certificate and key come from files, e.g. a mounted
//! Kubernetes Secret that cert-manager rotates. They are re-read when `notify` reports a change in
//! their directories and, as a safety net for volume types that deliver no events, every second
//! (two small reads); a pair equal to the one being served is ignored, and a pair that does not
//! load (half-written, mismatched) is logged and retried while the previous certificate stays in
//! service. Open connections are never touched: the next handshake picks the new pair.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::{CertSlot, TlsError, certified_key};

/// The certificate and key files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CertFiles {
    fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let read = |p: &Path, what: &str| {
            std::fs::read(p).map_err(|e| TlsError::Invalid {
                what: format!("{what} {}", p.display()),
                reason: e.to_string(),
            })
        };
        Ok((
            read(&self.cert, "-tls-cert-file")?,
            read(&self.key, "-tls-key-file")?,
        ))
    }

    fn origin(&self) -> String {
        format!("{} / {}", self.cert.display(), self.key.display())
    }

    /// Loads the pair once and installs it; the error names the files.
    pub fn load_into(&self, slot: &CertSlot) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let (c, k) = self.read()?;
        let ck = certified_key(&c, &k, &self.origin())?;
        slot.install(Arc::new(ck));
        Ok((c, k))
    }
}

/// Keeps `slot` in step with the files until `shutdown` turns true. `current` is the pair being
/// served (from [`CertFiles::load_into`]).
pub async fn watch_files(
    files: CertFiles,
    slot: Arc<CertSlot>,
    mut current: (Vec<u8>, Vec<u8>),
    mut shutdown: watch::Receiver<bool>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let _watcher = {
        let tx = tx.clone();
        let w = notify::recommended_watcher(move |_ev: notify::Result<notify::Event>| {
            let _ = tx.send(());
        });
        match w {
            Ok(mut w) => {
                let mut dirs: Vec<PathBuf> = [&files.cert, &files.key]
                    .iter()
                    .filter_map(|p| p.parent().map(Path::to_path_buf))
                    .map(|d| {
                        if d.as_os_str().is_empty() {
                            PathBuf::from(".")
                        } else {
                            d
                        }
                    })
                    .collect();
                dirs.dedup();
                for d in dirs {
                    if let Err(e) = w.watch(&d, RecursiveMode::NonRecursive) {
                        tracing::warn!(dir = %d.display(), error = %e, "cannot watch the certificate directory; polling only");
                    }
                }
                Some(w)
            }
            Err(e) => {
                tracing::warn!(error = %e, "file notifications unavailable; polling the certificate files");
                None
            }
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
            _ = tick.tick() => {}
            Some(()) = rx.recv() => {
                // Let a writer finish (cert and key are often replaced one after the other).
                tokio::time::sleep(Duration::from_millis(50)).await;
                while rx.try_recv().is_ok() {}
            }
        }
        let pair = match files.read() {
            Ok(p) => p,
            Err(e) => {
                report(&mut last_error, e.to_string());
                continue;
            }
        };
        if pair == current {
            continue;
        }
        match certified_key(&pair.0, &pair.1, &files.origin()) {
            Ok(ck) => {
                slot.install(Arc::new(ck));
                current = pair;
                last_error = None;
                tracing::info!(cert = %files.cert.display(), "loaded a new serving certificate");
            }
            Err(e) => report(&mut last_error, e.to_string()),
        }
    }
}

/// Logs an error once per distinct message (the poll would repeat it every second).
fn report(last: &mut Option<String>, msg: String) {
    if last.as_deref() != Some(&msg) {
        tracing::warn!(error = %msg, "cannot load the serving certificate; keeping the current one");
        *last = Some(msg);
    }
}
