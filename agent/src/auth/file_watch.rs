//! Watches an auth method's credential file (the kubernetes service-account token, the jwt file)
//! with the OS's file notifications instead of polling: the file's **directory** is watched,
//! because Kubernetes rotates projected tokens by swapping a `..data` symlink beside the file, and
//! each change is reported as [`FileEvent::Changed`] or [`FileEvent::Vanished`].
//!
//! Only the events that can concern the file pass the OS callback ([`concerns_file`]): the file's own
//! name, the atomic writer's `..`-prefixed entries (`..data`, `..data_tmp`, the timestamped
//! directories) and events without a path (a queue overflow). Anything else written in the
//! directory — the agent's own log, say — neither wakes the watcher nor logs a line; the `notify`
//! crate's own `log` records (one per inotify event at trace level) are capped at `info` by
//! `crate::logging`, so a trace run cannot feed on itself (issue 16, failure 4).

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

/// Whether an OS event on `paths` (in the watched directory) can concern the file named `name`
/// (pure): an event on the file itself, on an entry of Kubernetes' atomic writer (`..data` and
/// the other `..`-prefixed names of a rotation), on the directory itself, or one naming no path
/// (an overflow: anything may have changed).
pub fn concerns_file(paths: &[PathBuf], dir: &Path, name: &std::ffi::OsStr) -> bool {
    paths.is_empty()
        || paths.iter().any(|p| match p.file_name() {
            Some(n) => n == name || n.as_encoded_bytes().starts_with(b"..") || p == dir,
            None => true,
        })
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
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = path.file_name().unwrap_or_default().to_os_string();
        let watched_dir = dir.clone();
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if res.is_ok_and(|e| concerns_file(&e.paths, &watched_dir, &name)) {
                    let _ = tx.try_send(());
                }
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
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

    #[test]
    fn only_the_file_and_the_rotation_concern_it() {
        let dir = Path::new("/var/run/secrets/tokens");
        let name = std::ffi::OsStr::new("vault-token");
        let ev = |n: &str| vec![dir.join(n)];
        assert!(concerns_file(&ev("vault-token"), dir, name));
        assert!(concerns_file(&ev("..data"), dir, name));
        assert!(concerns_file(&ev("..data_tmp"), dir, name));
        assert!(concerns_file(&ev("..2026_12_06_16_00_00.123"), dir, name));
        assert!(concerns_file(&[], dir, name), "an overflow names no path");
        assert!(concerns_file(&[dir.to_path_buf()], dir, name));
        assert!(!concerns_file(&ev("agent.log"), dir, name));
        assert!(!concerns_file(&ev("vault-token.bak"), dir, name));
        assert!(concerns_file(
            &[dir.join("agent.log"), dir.join("vault-token")],
            dir,
            name
        ));
    }

    /// Another file of the directory written 1000 times (the agent's own log, say) wakes nothing:
    /// no event reaches the consumer's channel; the file's own write still does.
    #[tokio::test]
    async fn other_files_of_the_directory_do_not_wake_it() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "a").unwrap();
        let mut w = FileWatch::start(&file).unwrap();
        let mut log = std::fs::File::create(dir.path().join("agent.log")).unwrap();
        for i in 0..1000 {
            writeln!(log, "line {i}").unwrap();
            log.flush().unwrap();
        }
        drop(log);
        std::fs::remove_file(dir.path().join("agent.log")).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            w.raw.try_recv().is_err(),
            "an event of another file came through"
        );
        std::fs::write(&file, "bb").unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap();
        assert_eq!(e, FileEvent::Changed);
    }

    /// A Kubernetes-style rotation: `token -> ..data/token`, `..data -> ..v1`, swapped to `..v2`.
    #[tokio::test]
    async fn sees_a_data_symlink_rotation() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::fs::write(d.join("..v1/token"), "one").unwrap();
        symlink("..v1", d.join("..data")).unwrap();
        symlink("..data/token", d.join("token")).unwrap();
        let mut w = FileWatch::start(&d.join("token")).unwrap();
        std::fs::create_dir(d.join("..v2")).unwrap();
        std::fs::write(d.join("..v2/token"), "second").unwrap();
        symlink("..v2", d.join("..data_tmp")).unwrap();
        std::fs::rename(d.join("..data_tmp"), d.join("..data")).unwrap();
        std::fs::remove_dir_all(d.join("..v1")).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap();
        assert_eq!(e, FileEvent::Changed);
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
