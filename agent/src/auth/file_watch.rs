//! Watches an auth method's credential file (the kubernetes service-account token, the jwt file)
//! with the OS's file notifications instead of polling: the file's **directory** is watched,
//! because Kubernetes rotates projected tokens by swapping a `..data` symlink beside the file, and
//! each change is reported as [`FileEvent::Changed`] or [`FileEvent::Vanished`].

use std::path::{Path, PathBuf};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// What happened to the watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileEvent {
    /// The file is there and something in its directory changed (a write or a rotation).
    Changed,
    /// The file was there and is gone.
    Vanished,
}

/// What identifies one version of the file (symlinks followed): device, inode, size, mtime.
pub type Stamp = (u64, u64, u64, Option<std::time::SystemTime>);

/// The file's current stamp, `None` when it is not there.
pub fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.modified().ok()))
}

/// The event to report after a change in the directory, from the file's stamp now and at the
/// last report (pure). Other files of the directory changing report nothing.
pub fn classify(now: Option<Stamp>, before: Option<Stamp>) -> Option<FileEvent> {
    match (now, before) {
        (Some(n), b) if Some(n) != b => Some(FileEvent::Changed),
        (None, Some(_)) => Some(FileEvent::Vanished),
        _ => None,
    }
}

/// A running watch; dropping it stops the OS watcher.
pub struct FileWatch {
    path: PathBuf,
    _watcher: notify::RecommendedWatcher,
    raw: mpsc::Receiver<()>,
    last: Option<Stamp>,
}

impl FileWatch {
    /// Starts watching `path` (its directory must exist).
    pub fn start(path: &Path) -> Result<Self, notify::Error> {
        // One pending wake-up is all `next` needs: it re-reads the file's stamp when it wakes,
        // so an OS event dropped while one is pending (channel full) loses nothing
        // (docs/reliability.md, "Bounds").
        let (tx, raw) = mpsc::channel(1);
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if res.is_ok() {
                    let _ = tx.try_send(());
                }
            })?;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(Self {
            path: path.to_path_buf(),
            _watcher: watcher,
            raw,
            last: stamp(path),
        })
    }

    /// The watched file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next event (bursts of OS events are coalesced); never resolves after the watcher died.
    pub async fn next(&mut self) -> FileEvent {
        loop {
            if self.raw.recv().await.is_none() {
                return std::future::pending().await;
            }
            while self.raw.try_recv().is_ok() {}
            let now = stamp(&self.path);
            let event = classify(now, self.last);
            self.last = now;
            if let Some(e) = event {
                return e;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn classification() {
        let a = Some((1, 2, 3, None));
        let b = Some((1, 9, 3, None));
        assert_eq!(classify(a, None), Some(FileEvent::Changed));
        assert_eq!(classify(b, a), Some(FileEvent::Changed), "rotated");
        assert_eq!(
            classify(a, a),
            None,
            "another file of the directory changed"
        );
        assert_eq!(classify(None, a), Some(FileEvent::Vanished));
        assert_eq!(classify(None, None), None);
    }

    #[tokio::test]
    async fn sees_a_write_and_a_removal() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let mut w = FileWatch::start(&file).unwrap();
        std::fs::write(&file, "a").unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap();
        assert_eq!(e, FileEvent::Changed);
        std::fs::remove_file(&file).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if w.next().await == FileEvent::Vanished {
                    return FileEvent::Vanished;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(e, FileEvent::Vanished);
    }
}
