//! Writing a rendered template to its destination (agent.md §5.8): unchanged bytes ⇒ nothing
//! happens; otherwise a temp file in the same directory (created 0600), owner, mode, optional
//! backup, then fsync and an atomic rename ([`crate::atomic_file`]). Any failure leaves the old
//! file exactly as it was.
//!
//! "Unchanged" is decided as upstream does, by reading the destination back and comparing, with
//! one saving: [`Seen`] remembers what this process last wrote or read there together with the
//! file's identity, size, mode, owner and times. While `stat` reports exactly those, and they had
//! settled (the change time at least [`SETTLE`] old when remembered, so a later write cannot share
//! its timestamp), the file still holds those bytes and is not read again. A sidecar re-rendering
//! unchanged secrets every few seconds then costs one `stat` per file instead of seven syscalls.

use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use crate::atomic_file;

/// How to write one destination.
#[derive(Clone, Debug, Default)]
pub struct WriteSpec {
    pub path: PathBuf,
    /// `perms`; unset ⇒ the existing file's mode, else 0644.
    pub perms: Option<u32>,
    /// `create_dest_dirs` (default true).
    pub create_dest_dirs: bool,
    /// `backup`.
    pub backup: bool,
    /// `user` / `group`: names or numeric ids.
    pub user: Option<String>,
    pub group: Option<String>,
}

/// A failed write, naming the destination.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("failed writing file {path}: parent directory is missing")]
    ParentMissing { path: PathBuf },
    #[error("failed writing file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("failed writing file {path}: unknown {what} {name:?}")]
    UnknownOwner {
        path: PathBuf,
        what: &'static str,
        name: String,
    },
}

/// How old a file's change time must be before its `stat` alone vouches for its content: longer
/// than the timestamp granularity of any filesystem a destination is likely to be on (tmpfs and
/// ext4 keep nanoseconds; the coarsest common ones keep 1 s).
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// What this process last wrote to, or read from, one destination (see the module doc).
#[derive(Debug)]
pub struct Seen {
    last: Option<(Stamp, Vec<u8>)>,
    settle: std::time::Duration,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            last: None,
            settle: SETTLE,
        }
    }
}

/// The parts of a file's `stat` that any change of its content or attributes moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

impl Seen {
    /// The content the file described by `meta` is known to hold, if `meta` is exactly what was
    /// remembered.
    fn content(&self, meta: &fs::Metadata) -> Option<&[u8]> {
        match &self.last {
            Some((stamp, bytes)) if *stamp == Stamp::of(meta) => Some(bytes),
            _ => None,
        }
    }

    /// Remembers that the file described by `meta` holds `bytes`, if its change time is settled
    /// (else forgets, so the next check reads the file).
    fn record(&mut self, meta: &fs::Metadata, bytes: &[u8]) {
        let changed = std::time::UNIX_EPOCH
            + std::time::Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec() as u32);
        let settled = std::time::SystemTime::now()
            .duration_since(changed)
            .is_ok_and(|age| age >= self.settle);
        self.last = settled.then(|| (Stamp::of(meta), bytes.to_vec()));
    }
}

/// Whether a file with `meta` has the requested mode and owner.
fn attributes_match(
    spec: &WriteSpec,
    meta: &fs::Metadata,
    uid: Option<u32>,
    gid: Option<u32>,
) -> bool {
    meta.is_file()
        && uid.is_none_or(|u| u == meta.uid())
        && gid.is_none_or(|g| g == meta.gid())
        && spec.perms.is_none_or(|p| meta.mode() & 0o7777 == p)
}

/// Whether a file with `meta` holds exactly `bytes`: from `seen` when it vouches, else read back
/// (and remembered).
fn holds(path: &Path, meta: &fs::Metadata, bytes: &[u8], seen: &mut Seen) -> bool {
    if let Some(known) = seen.content(meta) {
        return known == bytes;
    }
    let same = fs::read(path).is_ok_and(|old| old == bytes);
    if same {
        seen.record(meta, bytes);
    }
    same
}

/// Whether the destination already holds exactly `bytes` with the requested mode and owner (a
/// write would change nothing).
pub fn is_current(spec: &WriteSpec, bytes: &[u8], seen: &mut Seen) -> bool {
    let Ok(meta) = fs::metadata(&spec.path) else {
        return false;
    };
    let Ok((uid, gid)) = owner_ids(spec) else {
        return false;
    };
    attributes_match(spec, &meta, uid, gid) && holds(&spec.path, &meta, bytes, seen)
}

/// Writes `bytes` to `spec.path` unless it already holds exactly them. `Ok(true)` ⇒ written.
pub fn write_if_changed(
    spec: &WriteSpec,
    bytes: &[u8],
    seen: &mut Seen,
) -> Result<bool, WriteError> {
    let path = &spec.path;
    let io = |source: std::io::Error| WriteError::Io {
        path: path.clone(),
        source,
    };
    let existing = fs::metadata(path).ok();
    let (uid, gid) = owner_ids(spec)?;
    if let Some(meta) = &existing
        && attributes_match(spec, meta, uid, gid)
        && holds(path, meta, bytes, seen)
    {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        if !spec.create_dest_dirs {
            return Err(WriteError::ParentMissing { path: path.clone() });
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&dir)
            .map_err(io)?;
    }
    // A 0600 temp file beside the destination; it is removed if we fail.
    let mut tmp = atomic_file::Staged::new(path).map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    let mode = spec
        .perms
        .or_else(|| existing.as_ref().map(|m| m.mode() & 0o7777))
        .unwrap_or(0o644);
    if let Some(m) = &existing {
        // Best effort, as upstream: keep the current owner.
        let _ = tmp.set_owner(Some(m.uid()), Some(m.gid()));
    }
    tmp.set_owner(uid, gid).map_err(io)?;
    // After the chown, which may clear set-id bits.
    tmp.set_mode(mode).map_err(io)?;
    if spec.backup && existing.is_some() {
        backup(path);
    }
    seen.last = None;
    tmp.commit().map_err(io)?;
    Ok(true)
}

use std::os::unix::fs::DirBuilderExt as _;

// `backup`: hard-links the current file as `.bak` (the old `.bak` moved aside first); nothing is
// written, so the atomic-write rule does not apply to its rename.
#[allow(clippy::disallowed_methods)]
fn backup(path: &Path) {
    let bak = PathBuf::from(format!("{}.bak", path.display()));
    let old = PathBuf::from(format!("{}.old.bak", path.display()));
    let _ = fs::rename(&bak, &old);
    if let Err(e) = fs::hard_link(path, &bak) {
        tracing::warn!(target: "template", path = %path.display(), "could not backup: {e}");
    }
    let _ = fs::remove_file(&old);
}

fn owner_ids(spec: &WriteSpec) -> Result<(Option<u32>, Option<u32>), WriteError> {
    let look = |name: &Option<String>,
                file: &str,
                what: &'static str|
     -> Result<Option<u32>, WriteError> {
        let Some(n) = name.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        if let Ok(id) = n.parse::<u32>() {
            return Ok(Some(id));
        }
        let db = fs::read_to_string(file).unwrap_or_default();
        db.lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id = f.nth(1)?.parse::<u32>().ok()?;
                (name == n).then_some(id)
            })
            .next()
            .map(Some)
            .ok_or_else(|| WriteError::UnknownOwner {
                path: spec.path.clone(),
                what,
                name: n.to_string(),
            })
    };
    Ok((
        look(&spec.user, "/etc/passwd", "user")?,
        look(&spec.group, "/etc/group", "group")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn spec(path: PathBuf) -> WriteSpec {
        WriteSpec {
            path,
            create_dest_dirs: true,
            ..WriteSpec::default()
        }
    }

    #[test]
    fn writes_atomically_with_modes_and_skips_identical_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/out.txt");
        let mut s = spec(p.clone());
        s.perms = Some(0o600);
        assert!(write_if_changed(&s, b"one", &mut Seen::default()).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(
            fs::metadata(p.parent().unwrap()).unwrap().mode() & 0o777,
            0o755
        );
        let mtime = fs::metadata(&p).unwrap().modified().unwrap();
        assert!(
            !write_if_changed(&s, b"one", &mut Seen::default()).unwrap(),
            "identical ⇒ untouched"
        );
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), mtime);
        assert!(write_if_changed(&s, b"two", &mut Seen::default()).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn default_mode_is_0644_or_the_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_if_changed(&spec(p.clone()), b"x", &mut Seen::default()).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_if_changed(&spec(p.clone()), b"y", &mut Seen::default()).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn missing_parent_without_create_dest_dirs_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(dir.path().join("nope/f"));
        s.create_dest_dirs = false;
        let e = write_if_changed(&s, b"x", &mut Seen::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("parent directory is missing") && e.contains("nope/f"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_if_changed(&spec(p.clone()), b"keep", &mut Seen::default()).unwrap();
        let mut s = spec(p.clone());
        s.user = Some("no-such-user-vaultlet".into());
        assert!(write_if_changed(&s, b"new", &mut Seen::default()).is_err());
        assert_eq!(fs::read(&p).unwrap(), b"keep");
    }

    fn settled_at_once() -> Seen {
        Seen {
            last: None,
            settle: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn seen_vouches_only_for_a_settled_unchanged_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let s = spec(p.clone());
        write_if_changed(&s, b"one", &mut Seen::default()).unwrap();
        let meta = fs::metadata(&p).unwrap();
        // Just written: its change time is not settled, so nothing is vouched for.
        let mut fresh = Seen::default();
        assert!(is_current(&s, b"one", &mut fresh), "read back");
        assert!(fresh.content(&meta).is_none());
        let mut seen = settled_at_once();
        assert!(is_current(&s, b"one", &mut seen));
        assert_eq!(seen.content(&meta), Some(&b"one"[..]));
        assert!(!is_current(&s, b"two", &mut seen), "known to differ");
        // Rewritten in place, same size: the stamp moves, so the file is read again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&p, b"owt").unwrap();
        let meta2 = fs::metadata(&p).unwrap();
        assert!(seen.content(&meta2).is_none(), "{meta:?} vs {meta2:?}");
        assert!(!is_current(&s, b"one", &mut seen));
        assert!(is_current(&s, b"owt", &mut seen));
    }

    #[test]
    fn an_outside_change_is_put_right_despite_what_was_seen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let s = spec(p.clone());
        let mut seen = settled_at_once();
        assert!(write_if_changed(&s, b"secret-v1", &mut seen).unwrap());
        assert!(!write_if_changed(&s, b"secret-v1", &mut seen).unwrap());
        assert!(seen.last.is_some(), "read back once, then remembered");
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&p, b"tampered!").unwrap();
        assert!(write_if_changed(&s, b"secret-v1", &mut seen).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"secret-v1");
        fs::remove_file(&p).unwrap();
        assert!(write_if_changed(&s, b"secret-v1", &mut seen).unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"secret-v1");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        let mut s2 = s.clone();
        s2.perms = Some(0o644);
        assert!(
            write_if_changed(&s2, b"secret-v1", &mut seen).unwrap(),
            "mode put back"
        );
    }

    #[test]
    fn backup_links_the_previous_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut s = spec(p.clone());
        s.backup = true;
        write_if_changed(&s, b"v1", &mut Seen::default()).unwrap();
        write_if_changed(&s, b"v2", &mut Seen::default()).unwrap();
        assert_eq!(fs::read(dir.path().join("f.bak")).unwrap(), b"v1");
        assert_eq!(fs::read(&p).unwrap(), b"v2");
    }
}
