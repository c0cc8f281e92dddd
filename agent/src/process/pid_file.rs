//! The PID file (agent.md §1.4 `pid_file`): the process id in decimal, no newline, mode 0600,
//! written atomically at start-up and removed at exit (on drop).

use std::fs;
use std::path::{Path, PathBuf};

/// A written PID file; dropping it removes the file.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes `pid` to `path` atomically (`crate::atomic_file`).
    pub fn write(path: &Path, pid: u32) -> std::io::Result<Self> {
        crate::atomic_file::write(path, pid.to_string().as_bytes(), 0o600, None, None)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the pid file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn decimal_no_newline_0600_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pid");
        let pid = PidFile::write(&path, 4242).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "4242");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        drop(pid);
        assert!(!path.exists());
    }

    #[test]
    fn unwritable_place_is_an_error() {
        assert!(PidFile::write(Path::new("/nonexistent-vaultlet/pid"), 1).is_err());
    }
}
