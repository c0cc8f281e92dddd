//! The `copy-self` subcommand (extension, injector.md §4.11): the injector's env-copy init
//! container copies the running agent binary (`/proc/self/exe`) into a memory `emptyDir` that the
//! wrapped app containers mount, so they can run the agent without a shell or a `cp` in any image.
//! The copy is written through [`crate::atomic_file`] with mode 0755: a container that starts the
//! copy never sees it half-written.

use std::io;
use std::path::Path;

use crate::atomic_file::Staged;

/// Copies the file at `from` (the running binary: `/proc/self/exe`) to `dest`, mode 0755;
/// returns the number of bytes copied.
pub fn copy(from: &Path, dest: &Path) -> io::Result<u64> {
    let mut src = std::fs::File::open(from)?;
    let staged = Staged::new(dest)?;
    staged.set_mode(0o755)?;
    let n = io::copy(&mut src, &mut staged.file())?;
    staged.commit()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn copies_the_bytes_executable_and_replaces_an_old_copy() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("agent");
        std::fs::write(&from, b"\x7fELF binary").unwrap();
        let dest = dir.path().join("bin-agent");
        std::fs::write(&dest, b"old").unwrap();
        assert_eq!(copy(&from, &dest).unwrap(), 11);
        assert_eq!(std::fs::read(&dest).unwrap(), b"\x7fELF binary");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
        let e = copy(&dir.path().join("missing"), &dest).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
