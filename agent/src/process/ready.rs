//! The readiness marker a native sidecar's `startupProbe` checks (agent.md §8.7,
//! injector.md §4.10): once the token is written and every template has been rendered once, a long-running
//! agent writes `<pid_file>.ready` (atomically) holding its PID and its start time from
//! `/proc/<pid>/stat`; `vaultlet-agent probe`, resolving the same configuration, passes only when
//! that file names a live process that started at that time (a restarted container's agent, often
//! PID 1 again, has another start time, so a marker left in the `emptyDir` home does not count).
//! Removed on drop.

use std::fs;
use std::path::{Path, PathBuf};

/// Why the probe fails (one line, printed by `vaultlet-agent probe`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("the configuration has no pid_file: the probe finds the agent's state beside it")]
    NoPidFile,
    #[error("not ready: {0} does not exist (templates not rendered yet)")]
    Missing(String),
    #[error("cannot read {0}: {1}")]
    Unreadable(String, String),
    #[error("{0} is not a readiness marker")]
    Malformed(String),
    #[error("stale marker {0}: process {1} is not the agent that wrote it")]
    Stale(String, u32),
}

/// The marker's path for a PID file: the same name with `.ready` appended.
pub fn path_for(pid_file: &Path) -> PathBuf {
    let mut s = pid_file.as_os_str().to_owned();
    s.push(".ready");
    PathBuf::from(s)
}

/// The start time (clock ticks after boot, field 22) in the text of `/proc/<pid>/stat`; the
/// command name (field 2, in parentheses) may contain spaces and parentheses.
pub fn start_time_of(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first, so field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The marker's text: `<pid> <start time>`.
pub fn marker_text(pid: u32, start_time: u64) -> String {
    format!("{pid} {start_time}")
}

/// `(pid, start time)` from a marker's text.
pub fn parse_marker(text: &str) -> Option<(u32, u64)> {
    let mut it = text.split_whitespace();
    let pid = it.next()?.parse().ok()?;
    let start = it.next()?.parse().ok()?;
    it.next().is_none().then_some((pid, start))
}

fn process_start_time(pid: u32) -> Option<u64> {
    start_time_of(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// A written marker; dropping it removes the file.
#[derive(Debug)]
pub struct ReadyFile {
    path: PathBuf,
}

impl ReadyFile {
    /// Writes this process's marker at `path` (mode 0600, `crate::atomic_file`).
    pub fn write(path: &Path) -> std::io::Result<Self> {
        let pid = std::process::id();
        let start = process_start_time(pid).ok_or_else(|| {
            std::io::Error::other(format!("cannot read the start time of process {pid}"))
        })?;
        crate::atomic_file::write(path, marker_text(pid, start).as_bytes(), 0o600, None, None)?;
        Ok(Self {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for ReadyFile {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %e, "could not remove the readiness marker");
        }
    }
}

/// The probe: `Ok` when the marker beside `pid_file` names the live process that wrote it.
pub fn check(pid_file: Option<&Path>) -> Result<(), ProbeError> {
    let path = path_for(pid_file.ok_or(ProbeError::NoPidFile)?);
    let shown = path.display().to_string();
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProbeError::Missing(shown));
        }
        Err(e) => return Err(ProbeError::Unreadable(shown, e.to_string())),
    };
    let (pid, start) = parse_marker(&text).ok_or_else(|| ProbeError::Malformed(shown.clone()))?;
    if process_start_time(pid) == Some(start) {
        Ok(())
    } else {
        Err(ProbeError::Stale(shown, pid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_field_22_even_with_a_strange_name() {
        let stat = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(start_time_of(stat), Some(987_654));
        assert_eq!(start_time_of("42 (x) S 1"), None);
        assert_eq!(start_time_of("no parenthesis"), None);
    }

    #[test]
    fn marker_round_trip_and_malformed() {
        assert_eq!(parse_marker(&marker_text(7, 99)), Some((7, 99)));
        assert_eq!(parse_marker("7"), None);
        assert_eq!(parse_marker("7 99 1"), None);
        assert_eq!(parse_marker("x 99"), None);
        assert_eq!(
            path_for(Path::new("/home/vault/.pid")),
            PathBuf::from("/home/vault/.pid.ready")
        );
    }

    #[test]
    fn check_passes_for_this_process_and_fails_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        assert_eq!(check(None), Err(ProbeError::NoPidFile));
        assert!(matches!(
            check(Some(&pid_file)),
            Err(ProbeError::Missing(_))
        ));
        let marker = ReadyFile::write(&path_for(&pid_file)).unwrap();
        assert_eq!(check(Some(&pid_file)), Ok(()));
        // Same PID, another start time: a marker from an earlier run of the container.
        let me = std::process::id();
        let start = process_start_time(me).unwrap();
        fs::write(path_for(&pid_file), marker_text(me, start + 1)).unwrap();
        assert!(matches!(check(Some(&pid_file)), Err(ProbeError::Stale(_, p)) if p == me));
        fs::write(path_for(&pid_file), "garbage").unwrap();
        assert!(matches!(
            check(Some(&pid_file)),
            Err(ProbeError::Malformed(_))
        ));
        drop(marker);
        assert!(!path_for(&pid_file).exists(), "removed on drop");
    }
}
