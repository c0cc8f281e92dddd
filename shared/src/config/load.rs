//! Reading configs from disk (`-config` files and directories) and from the environment
//! (`VAULT_CONFIG` / `BAO_CONFIG`, standard base64 of the JSON config). The only I/O of `config`.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::error::ConfigError;
use super::{AgentConfig, LoadedConfig};

/// Editor temp files upstream skips in a config directory.
pub(crate) fn is_temporary_file(name: &str) -> bool {
    name.ends_with('~') || name.starts_with(".#") || (name.starts_with('#') && name.ends_with('#'))
}

/// The files a `-config` path stands for: itself, or the `*.hcl`/`*.json` files of a directory
/// (no subdirectories, no editor temp files), sorted by name so the merge order is deterministic.
pub(crate) fn expand(path: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if (name.ends_with(".hcl") || name.ends_with(".json")) && !is_temporary_file(&name) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// One file, JSON when its first non-blank character is `{` (as HCL1 decides), else HCL1.
pub(crate) fn parse_file(
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<AgentConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    let loaded = if text.trim_start().starts_with('{') {
        super::parse_json(&text, &origin)
    } else {
        super::parse_hcl(&text, &origin)
    };
    let loaded = loaded.map_err(|e| ConfigError::File {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    warnings.extend(
        loaded
            .warnings
            .into_iter()
            .map(|w| format!("{origin}: {w}")),
    );
    Ok(loaded.config)
}

/// `BAO_CONFIG` when present (even empty), else `VAULT_CONFIG`; `None` when neither is set.
pub(crate) fn from_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<LoadedConfig>, ConfigError> {
    let (var, value) = match (lookup("BAO_CONFIG"), lookup("VAULT_CONFIG")) {
        (Some(v), _) => ("BAO_CONFIG", v),
        (None, Some(v)) => ("VAULT_CONFIG", v),
        (None, None) => return Ok(None),
    };
    let env_err = |message: String| ConfigError::Env {
        var: var.to_string(),
        message,
    };
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(env_err("is empty".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| env_err(format!("is not standard base64: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| env_err("decodes to invalid UTF-8".into()))?;
    let loaded = super::parse_json(&text, var)?;
    loaded.config.validate()?;
    Ok(Some(loaded))
}

impl AgentConfig {
    /// Load and merge every `-config` path in order, then validate once (agent.md §1.3).
    pub fn load_paths(paths: &[PathBuf]) -> Result<LoadedConfig, ConfigError> {
        let mut warnings = Vec::new();
        let mut merged: Option<AgentConfig> = None;
        for p in paths {
            for file in expand(p)? {
                let c = parse_file(&file, &mut warnings)?;
                merged = Some(match merged {
                    None => c,
                    Some(m) => m.merge(c),
                });
            }
        }
        let config = merged.unwrap_or_default();
        config.validate()?;
        Ok(LoadedConfig { config, warnings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_files() {
        assert!(is_temporary_file("a.hcl~"));
        assert!(is_temporary_file(".#a.hcl"));
        assert!(is_temporary_file("#a.hcl#"));
        assert!(!is_temporary_file("a.hcl"));
    }
}
