//! The file sink (agent.md §3.7): writes the token to `path` with no trailing newline, atomically
//! (temp file in the same directory, fsync, rename), with mode (default 0640) and optional owner/group.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The sink file's default mode.
pub const DEFAULT_MODE: u32 = 0o640;

/// Why a sink could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink stanza is wrong.
    #[error("{0}")]
    Config(String),
    /// The start-up write check failed.
    #[error("error creating file sink: error during write check: {path}: {source}")]
    WriteCheck {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing the token failed.
    #[error("error writing token to sink {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A configured file sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSink {
    path: PathBuf,
    mode: u32,
    owner: Option<u32>,
    group: Option<u32>,
}

fn config_u32(config: &BTreeMap<String, Value>, key: &str) -> Result<Option<u32>, SinkError> {
    let bad = |v: &dyn std::fmt::Display| {
        SinkError::Config(format!(
            "auto_auth.sink.config.{key}: {v} is not a non-negative integer"
        ))
    };
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(n)),
        // The injector passes strings; a leading 0 means octal as in HCL.
        Some(Value::String(s)) => {
            let parsed = if s.len() > 1 && s.starts_with('0') {
                u32::from_str_radix(&s[1..], 8).ok()
            } else {
                s.parse().ok()
            };
            parsed.map(Some).ok_or_else(|| bad(&format!("{s:?}")))
        }
        Some(other) => Err(bad(other)),
    }
}

/// A random 8-hex-digit suffix for temp files.
fn suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

impl FileSink {
    /// A sink writing to `path` with `mode`.
    pub fn new(path: impl Into<PathBuf>, mode: u32) -> Self {
        Self {
            path: path.into(),
            mode,
            owner: None,
            group: None,
        }
    }

    /// From a sink's `config` map: `path` (required), `mode` (default 0640; regular-file permission
    /// bits only), `owner`/`group` (Vault) or `uid`/`gid` (OpenBao).
    pub fn from_config(config: &BTreeMap<String, Value>) -> Result<Self, SinkError> {
        let path = match config.get("path") {
            Some(Value::String(p)) if !p.is_empty() => PathBuf::from(p),
            _ => {
                return Err(SinkError::Config(
                    "auto_auth.sink.config.path: 'path' must be specified".into(),
                ));
            }
        };
        let mode = config_u32(config, "mode")?.unwrap_or(DEFAULT_MODE);
        if mode & !0o7777 != 0 {
            return Err(SinkError::Config(format!(
                "auto_auth.sink.config.mode: {mode:#o} does not denote a regular file's permissions"
            )));
        }
        let owner = config_u32(config, "owner")?.or(config_u32(config, "uid")?);
        let group = config_u32(config, "group")?.or(config_u32(config, "gid")?);
        Ok(Self {
            path,
            mode,
            owner,
            group,
        })
    }

    /// Where the token goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file mode.
    pub fn mode(&self) -> u32 {
        self.mode
    }

    fn temp_path(&self) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let base = self
            .path
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sink".into());
        dir.join(format!("{base}.tmp.{}", suffix()))
    }

    /// Creates and removes a temp file beside the sink, proving the directory is writable.
    // A probe file that is removed at once, not a destination: the atomic-write rule does not apply.
    #[allow(clippy::disallowed_methods)]
    pub fn write_check(&self) -> Result<(), SinkError> {
        let tmp = self.temp_path();
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(self.mode)
                .open(&tmp)?;
            f.write_all(format!("{:032x}", rand::random::<u128>()).as_bytes())?;
            drop(f);
            fs::remove_file(&tmp)
        })();
        result.map_err(|source| {
            let _ = fs::remove_file(&tmp);
            SinkError::WriteCheck {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Writes `contents` atomically with the mode and owner (`crate::atomic_file`).
    pub fn write(&self, contents: &[u8]) -> Result<(), SinkError> {
        crate::atomic_file::write(&self.path, contents, self.mode, self.owner, self.group).map_err(
            |source| SinkError::Write {
                path: self.path.clone(),
                source,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt as _;

    fn cfg(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn writes_atomically_with_mode_and_no_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let sink = FileSink::from_config(&cfg(json!({"path": path.to_str().unwrap()}))).unwrap();
        assert_eq!(sink.mode(), 0o640);
        sink.write_check().unwrap();
        sink.write(b"hvs.one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hvs.one");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        sink.write(b"hvs.two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hvs.two");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("token")],
            "no temp files left"
        );
    }

    #[test]
    fn mode_from_int_or_octal_string() {
        let s = FileSink::from_config(&cfg(json!({"path": "/x", "mode": 384}))).unwrap();
        assert_eq!(s.mode(), 0o600);
        let s = FileSink::from_config(&cfg(json!({"path": "/x", "mode": "0600"}))).unwrap();
        assert_eq!(s.mode(), 0o600);
        let e = FileSink::from_config(&cfg(json!({"path": "/x", "mode": 0o100_644}))).unwrap_err();
        assert!(e.to_string().contains("mode"), "{e}");
        let e = FileSink::from_config(&cfg(json!({"mode": 384}))).unwrap_err();
        assert!(e.to_string().contains("path"), "{e}");
    }

    #[test]
    fn explicit_mode_is_exact_despite_umask() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        FileSink::new(&path, 0o666).write(b"x").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o666
        );
    }

    #[test]
    fn write_check_fails_with_the_upstream_prefix() {
        let sink = FileSink::new("/nonexistent-dir-vaultlet/token", DEFAULT_MODE);
        let e = sink.write_check().unwrap_err().to_string();
        assert!(
            e.starts_with("error creating file sink: error during write check:"),
            "{e}"
        );
        assert!(e.contains("/nonexistent-dir-vaultlet/token"), "{e}");
    }
}
