//! `vaultlet-agent signal <SIGNAL> <process>`: sends a signal to every process of that name, so a
//! template's command can reload an app without a shell or `kill` in the image (extension,
//! injector.md §1.4, `agent-inject-signal-<name>`; agent.md §5.9 runs it as an argv command).
//!
//! A process matches when its `/proc/<pid>/comm`, the file name of its `/proc/<pid>/exe` or the
//! file name of its `argv[0]` equals the name. This process and its parent (the agent that runs
//! the command) are left out. In a pod, the app's processes are visible only with
//! `shareProcessNamespace: true`. [`matching`] is pure (tests feed it fake `/proc` entries);
//! [`scan`] reads `/proc` and [`send`] calls kill(2).

use std::path::Path;

use vaultlet_shared::signal::SignalName;

/// What `/proc/<pid>` says about one process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcEntry {
    pub pid: i32,
    /// `/proc/<pid>/comm` without its newline (the kernel cuts it at 15 bytes).
    pub comm: String,
    /// File name of the `/proc/<pid>/exe` link, when readable.
    pub exe: Option<String>,
    /// File name of `argv[0]` from `/proc/<pid>/cmdline`, when there is one.
    pub argv0: Option<String>,
    /// Owner of `/proc/<pid>` (the process's effective UID).
    pub uid: Option<u32>,
}

/// Why nothing (or not everything) was signalled.
#[derive(Debug, thiserror::Error)]
pub enum SignalCmdError {
    #[error(transparent)]
    Signal(#[from] vaultlet_shared::signal::SignalError),
    #[error(
        "no process named {0:?} found (in a pod, the agent sees the app's processes only with shareProcessNamespace: true)"
    )]
    NoMatch(String),
    #[error("cannot signal {name:?}: {}", denied_list(.denied))]
    Denied {
        name: String,
        /// `(pid, uid)` of each process the kernel refused to signal.
        denied: Vec<(i32, Option<u32>)>,
        /// How many were signalled all the same.
        sent: usize,
    },
    #[error("cannot signal process {pid}: {source}")]
    Kill { pid: i32, source: std::io::Error },
    #[error("cannot read /proc: {0}")]
    Proc(std::io::Error),
}

fn denied_list(denied: &[(i32, Option<u32>)]) -> String {
    let each: Vec<String> = denied
        .iter()
        .map(|(pid, uid)| match uid {
            Some(u) => format!("permission denied for PID {pid} (UID {u})"),
            None => format!("permission denied for PID {pid}"),
        })
        .collect();
    format!(
        "{}; a process can only signal processes of its own UID (run the agent as the app's user, agent-run-as-user or agent-run-as-same-user)",
        each.join(", ")
    )
}

fn file_name(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

impl ProcEntry {
    /// Whether this process goes by `name` (comm, executable or argv[0] file name).
    pub fn is_named(&self, name: &str) -> bool {
        self.comm == name
            || self.exe.as_deref() == Some(name)
            || self.argv0.as_deref() == Some(name)
    }
}

/// The processes named `name`, in PID order, without the PIDs in `exclude`.
pub fn matching<'a>(entries: &'a [ProcEntry], name: &str, exclude: &[i32]) -> Vec<&'a ProcEntry> {
    let mut out: Vec<&ProcEntry> = entries
        .iter()
        .filter(|e| !exclude.contains(&e.pid) && e.is_named(name))
        .collect();
    out.sort_by_key(|e| e.pid);
    out
}

/// Reads every `/proc/<pid>` under `root`; processes that vanish meanwhile are skipped.
pub fn scan(root: &Path) -> Result<Vec<ProcEntry>, SignalCmdError> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).map_err(SignalCmdError::Proc)? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let exe = std::fs::read_link(dir.join("exe"))
            .ok()
            .and_then(|p| p.to_str().and_then(file_name));
        let argv0 = std::fs::read(dir.join("cmdline")).ok().and_then(|b| {
            let first = b.split(|&c| c == 0).next()?;
            file_name(std::str::from_utf8(first).ok()?)
        });
        out.push(ProcEntry {
            pid,
            comm: comm.trim_end_matches('\n').to_owned(),
            exe,
            argv0,
            uid: std::fs::metadata(&dir).ok().map(|m| m.uid()),
        });
    }
    Ok(out)
}

/// Signals every process named `name` (except this one and its parent); the number signalled.
pub fn send(signal: SignalName, name: &str, root: &Path) -> Result<usize, SignalCmdError> {
    let entries = scan(root)?;
    let exclude = [
        std::process::id() as i32,
        std::os::unix::process::parent_id() as i32,
    ];
    let targets = matching(&entries, name, &exclude);
    if targets.is_empty() {
        return Err(SignalCmdError::NoMatch(name.to_owned()));
    }
    let sig = rustix::process::Signal::from_named_raw(signal.number)
        .ok_or_else(|| vaultlet_shared::signal::SignalError::Unknown(signal.name.to_owned()))?;
    let mut sent = 0;
    let mut denied = Vec::new();
    for t in targets {
        let Some(pid) = rustix::process::Pid::from_raw(t.pid) else {
            continue;
        };
        match rustix::process::kill_process(pid, sig) {
            Ok(()) => sent += 1,
            // Gone since the scan: nothing to signal.
            Err(rustix::io::Errno::SRCH) => {}
            Err(rustix::io::Errno::PERM) => denied.push((t.pid, t.uid)),
            Err(e) => {
                return Err(SignalCmdError::Kill {
                    pid: t.pid,
                    source: e.into(),
                });
            }
        }
    }
    if !denied.is_empty() {
        return Err(SignalCmdError::Denied {
            name: name.to_owned(),
            denied,
            sent,
        });
    }
    if sent == 0 {
        return Err(SignalCmdError::NoMatch(name.to_owned()));
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i32, comm: &str, exe: Option<&str>, argv0: Option<&str>) -> ProcEntry {
        ProcEntry {
            pid,
            comm: comm.into(),
            exe: exe.map(Into::into),
            argv0: argv0.map(Into::into),
            uid: Some(100),
        }
    }

    #[test]
    fn matches_comm_exe_or_argv0_and_leaves_out_excluded_pids() {
        let procs = vec![
            entry(40, "nginx", Some("nginx"), Some("nginx")),
            // A worker renamed itself: comm differs, the executable still matches.
            entry(
                41,
                "nginx: worker",
                Some("nginx"),
                Some("nginx: worker process"),
            ),
            // comm cut at 15 bytes; argv[0] carries the whole name.
            entry(7, "my-long-server-", None, Some("my-long-server-name")),
            entry(
                1,
                "vaultlet-agent",
                Some("vaultlet-agent"),
                Some("vaultlet-agent"),
            ),
            entry(9, "sh", Some("dash"), Some("sh")),
        ];
        let pids = |name: &str, ex: &[i32]| -> Vec<i32> {
            matching(&procs, name, ex).iter().map(|e| e.pid).collect()
        };
        assert_eq!(pids("nginx", &[]), vec![40, 41]);
        assert_eq!(pids("nginx", &[40]), vec![41]);
        assert_eq!(pids("my-long-server-name", &[]), vec![7]);
        assert_eq!(pids("my-long-server-", &[]), vec![7]);
        assert_eq!(pids("dash", &[]), vec![9]);
        assert_eq!(pids("sh", &[]), vec![9]);
        assert_eq!(pids("vaultlet-agent", &[1]), Vec::<i32>::new());
        // Whole names only.
        assert_eq!(pids("ngin", &[]), Vec::<i32>::new());
        assert_eq!(pids("", &[]), Vec::<i32>::new());
    }

    #[test]
    fn file_names_of_paths() {
        assert_eq!(file_name("/usr/sbin/nginx").as_deref(), Some("nginx"));
        assert_eq!(file_name("nginx").as_deref(), Some("nginx"));
        assert_eq!(file_name("/"), None);
        assert_eq!(file_name(""), None);
    }

    #[test]
    fn scan_reads_a_fake_proc_tree() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("123");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("comm"), "nginx\n").unwrap();
        std::fs::write(p.join("cmdline"), b"/usr/sbin/nginx\0-g\0daemon off;\0").unwrap();
        std::os::unix::fs::symlink("/usr/sbin/nginx", p.join("exe")).unwrap();
        std::fs::create_dir(root.path().join("self-not-a-pid")).unwrap();
        // A process that vanished between readdir and read: no comm file.
        std::fs::create_dir(root.path().join("124")).unwrap();
        let got = scan(root.path()).unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].pid, 123);
        assert_eq!(got[0].comm, "nginx");
        assert_eq!(got[0].exe.as_deref(), Some("nginx"));
        assert_eq!(got[0].argv0.as_deref(), Some("nginx"));
    }

    #[test]
    fn errors_say_what_to_do() {
        assert_eq!(
            SignalCmdError::NoMatch("nginx".into()).to_string(),
            "no process named \"nginx\" found (in a pod, the agent sees the app's processes only with shareProcessNamespace: true)"
        );
        let e = SignalCmdError::Denied {
            name: "nginx".into(),
            denied: vec![(42, Some(0))],
            sent: 0,
        };
        assert!(
            e.to_string()
                .starts_with("cannot signal \"nginx\": permission denied for PID 42 (UID 0);"),
            "{e}"
        );
    }
}
