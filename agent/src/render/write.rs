//! Writing a rendered template to its destination (agent.md §5.8): unchanged bytes ⇒ nothing
//! happens; otherwise a temp file in the same directory (created 0600), fsync, mode, owner,
//! optional backup, then an atomic rename. Any failure leaves the old file exactly as it was.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

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

/// Whether the destination already holds exactly `bytes` with the requested mode and owner (a
/// write would change nothing).
pub fn is_current(spec: &WriteSpec, bytes: &[u8]) -> bool {
    let Ok(meta) = fs::metadata(&spec.path) else {
        return false;
    };
    let Ok((uid, gid)) = owner_ids(spec) else {
        return false;
    };
    meta.is_file()
        && uid.is_none_or(|u| u == meta.uid())
        && gid.is_none_or(|g| g == meta.gid())
        && spec.perms.is_none_or(|p| meta.mode() & 0o7777 == p)
        && fs::read(&spec.path).is_ok_and(|old| old == bytes)
}

/// Writes `bytes` to `spec.path` unless it already holds exactly them. `Ok(true)` ⇒ written.
pub fn write_if_changed(spec: &WriteSpec, bytes: &[u8]) -> Result<bool, WriteError> {
    let path = &spec.path;
    let io = |source: std::io::Error| WriteError::Io {
        path: path.clone(),
        source,
    };
    let existing = fs::metadata(path).ok();
    let (uid, gid) = owner_ids(spec)?;
    if existing.as_ref().is_some_and(|m| m.is_file()) {
        let meta = existing.as_ref().expect("checked");
        let owner_ok = uid.is_none_or(|u| u == meta.uid()) && gid.is_none_or(|g| g == meta.gid());
        let mode_ok = spec.perms.is_none_or(|p| meta.mode() & 0o7777 == p);
        if owner_ok && mode_ok && fs::read(path).is_ok_and(|old| old == bytes) {
            return Ok(false);
        }
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
    // tempfile creates the file 0600 with a random name in `dir`; it is removed if we fail.
    let mut tmp = tempfile::Builder::new()
        .prefix(".vaultlet-")
        .tempfile_in(&dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    let mode = spec
        .perms
        .or_else(|| existing.as_ref().map(|m| m.mode() & 0o7777))
        .unwrap_or(0o644);
    if let Some(m) = &existing {
        // Best effort, as upstream: keep the current owner.
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid()));
    }
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode)).map_err(io)?;
    if spec.backup && existing.is_some() {
        backup(path);
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(path, uid, gid).map_err(io)?;
    }
    Ok(true)
}

use std::os::unix::fs::DirBuilderExt as _;

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
        assert!(write_if_changed(&s, b"one").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(
            fs::metadata(p.parent().unwrap()).unwrap().mode() & 0o777,
            0o755
        );
        let mtime = fs::metadata(&p).unwrap().modified().unwrap();
        assert!(
            !write_if_changed(&s, b"one").unwrap(),
            "identical ⇒ untouched"
        );
        assert_eq!(fs::metadata(&p).unwrap().modified().unwrap(), mtime);
        assert!(write_if_changed(&s, b"two").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp files left behind");
    }

    #[test]
    fn default_mode_is_0644_or_the_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_if_changed(&spec(p.clone()), b"x").unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_if_changed(&spec(p.clone()), b"y").unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
    }

    #[test]
    fn missing_parent_without_create_dest_dirs_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(dir.path().join("nope/f"));
        s.create_dest_dirs = false;
        let e = write_if_changed(&s, b"x").unwrap_err().to_string();
        assert!(
            e.contains("parent directory is missing") && e.contains("nope/f"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_if_changed(&spec(p.clone()), b"keep").unwrap();
        let mut s = spec(p.clone());
        s.user = Some("no-such-user-vaultlet".into());
        assert!(write_if_changed(&s, b"new").is_err());
        assert_eq!(fs::read(&p).unwrap(), b"keep");
    }

    #[test]
    fn backup_links_the_previous_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let mut s = spec(p.clone());
        s.backup = true;
        write_if_changed(&s, b"v1").unwrap();
        write_if_changed(&s, b"v2").unwrap();
        assert_eq!(fs::read(dir.path().join("f.bak")).unwrap(), b"v1");
        assert_eq!(fs::read(&p).unwrap(), b"v2");
    }
}
