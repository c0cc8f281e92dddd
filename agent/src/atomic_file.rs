//! Atomic file replacement, the one way the agent writes a file others read (rendered templates,
//! token sinks, the persistent cache, the PID file; agent.md §5.8): a temp file in the destination's
//! directory (created 0600, so secrets are never readable by others on the way), the requested mode
//! and owner set on it, the bytes written and fsynced, then one `rename` over the destination and an
//! fsync of the directory so the rename itself survives a crash. A reader sees the old file or the
//! new one, never a partial one; on any failure the destination is untouched and the temp file is
//! removed.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A new content for `dest`, staged in a temp file beside it. Dropped without [`Staged::commit`],
/// the temp file is removed and `dest` is untouched.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

/// The directory `dest` lives in (`.` for a bare file name).
fn dir_of(dest: &Path) -> &Path {
    dest.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

impl Staged {
    /// Creates the temp file (mode 0600, a random name starting `.vaultlet-`) in `dest`'s directory.
    pub fn new(dest: &Path) -> io::Result<Staged> {
        let tmp = tempfile::Builder::new()
            .prefix(".vaultlet-")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir_of(dest))?;
        Ok(Staged {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// The temp file.
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// Appends `bytes` to the temp file.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tmp.write_all(bytes)
    }

    /// Sets the mode exactly (not subject to the umask).
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        self.file()
            .set_permissions(fs::Permissions::from_mode(mode))
    }

    /// Sets the owner and/or group; `None` leaves that one as it is.
    pub fn set_owner(&self, uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
        if uid.is_none() && gid.is_none() {
            return Ok(());
        }
        std::os::unix::fs::fchown(self.file(), uid, gid)
    }

    /// fsyncs the temp file, renames it over the destination and fsyncs the directory.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let dir = dir_of(&self.dest).to_path_buf();
        // The one sanctioned rename: the temp file is beside `dest` and fully written.
        #[allow(clippy::disallowed_methods)]
        let persisted = self.tmp.persist(&self.dest);
        persisted.map_err(|e| e.error)?;
        // A directory fsync makes the rename durable; some filesystems refuse it (EINVAL), and
        // the file itself is already safe then.
        match File::open(&dir).and_then(|d| d.sync_all()) {
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            r => r,
        }
    }
}

/// Replaces `dest` with `bytes`, mode `mode`, owner `uid`/`gid` (`None`: the writer's).
pub fn write(
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    uid: Option<u32>,
    gid: Option<u32>,
) -> io::Result<()> {
    let mut staged = Staged::new(dest)?;
    staged.set_mode(mode)?;
    staged.set_owner(uid, gid)?;
    staged.write_all(bytes)?;
    staged.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn writes_content_and_exact_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"one", 0o640, None, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        // A mode the umask would strip is set exactly.
        write(&p, b"two", 0o666, None, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o666);
        assert_eq!(entries(dir.path()), ["f"]);
    }

    #[test]
    fn the_own_owner_can_be_requested() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let me = fs::metadata(dir.path()).unwrap();
        write(&p, b"x", 0o600, Some(me.uid()), Some(me.gid())).unwrap();
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (me.uid(), me.gid()));
    }

    #[test]
    fn nothing_is_visible_at_the_destination_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"old", 0o600, None, None).unwrap();
        let mut s = Staged::new(&p).unwrap();
        s.write_all(b"new, half").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"old");
        let names = entries(dir.path());
        assert_eq!(names.len(), 2);
        let tmp = names.iter().find(|n| *n != "f").unwrap();
        assert!(tmp.starts_with(".vaultlet-"), "{tmp}");
        assert_eq!(
            fs::metadata(dir.path().join(tmp)).unwrap().mode() & 0o777,
            0o600
        );
        s.commit().unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new, half");
        assert_eq!(entries(dir.path()), ["f"]);
    }

    #[test]
    fn a_failure_leaves_the_old_file_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"old", 0o644, None, None).unwrap();
        // Dropped before commit (any error path returns early like this).
        let mut s = Staged::new(&p).unwrap();
        s.write_all(b"new").unwrap();
        drop(s);
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(entries(dir.path()), ["f"]);
        // The rename fails: the destination is a non-empty directory.
        let d = dir.path().join("d");
        fs::create_dir(&d).unwrap();
        fs::create_dir(d.join("inner")).unwrap();
        assert!(write(&d, b"x", 0o644, None, None).is_err());
        assert!(d.join("inner").is_dir());
        assert_eq!(entries(dir.path()), ["d", "f"]);
        // No directory to stage in.
        assert!(write(&dir.path().join("nope/f"), b"x", 0o644, None, None).is_err());
        assert_eq!(entries(dir.path()), ["d", "f"]);
    }

    #[test]
    fn a_bare_file_name_stages_in_the_current_directory() {
        assert_eq!(dir_of(Path::new("f")), Path::new("."));
        assert_eq!(dir_of(Path::new("/a/f")), Path::new("/a"));
    }
}
