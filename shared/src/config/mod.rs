//! The Vault Agent configuration: the one contract between the injector (which writes it) and
//! the agent (which reads it), and also upstream Vault/OpenBao Agent's own format.
//!
//! - [`model`]: the typed stanzas ([`AgentConfig`] and friends).
//! - `hcl1` / `decode`: HCL1 or JSON text ⇒ generic tree ⇒ typed values, with the coercions of
//!   agent.md §1.3 and warnings for unknown keys.
//! - `validate`: per-stanza and cross-field rules (agent.md §1.5–1.12).
//! - `merge` / `load`: several `-config` paths, and `VAULT_CONFIG` / `BAO_CONFIG`.
//! - `encode`: [`AgentConfig::to_json_go`], the bytes the injector base64s into `VAULT_CONFIG`.

mod decode;
mod duration;
mod encode;
mod error;
mod hcl1;
mod load;
mod merge;
mod model;
mod validate;

pub use duration::{DurationError, GoDuration};
pub use encode::{write_go_json, write_go_string};
pub use error::ConfigError;
pub use model::*;

/// A parsed config plus the warnings (unknown keys, ignored settings) to log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoadedConfig {
    pub config: AgentConfig,
    pub warnings: Vec<String>,
}

pub(crate) fn parse_json(s: &str, origin: &str) -> Result<LoadedConfig, ConfigError> {
    let value: serde_json::Value = serde_json::from_str(s).map_err(|e| ConfigError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    decode_value(value)
}

pub(crate) fn parse_hcl(s: &str, origin: &str) -> Result<LoadedConfig, ConfigError> {
    decode_value(hcl1::parse(s, origin)?)
}

fn decode_value(value: serde_json::Value) -> Result<LoadedConfig, ConfigError> {
    let mut dec = decode::Decoder::default();
    let config = dec.config(value)?;
    Ok(LoadedConfig {
        config,
        warnings: dec.warnings,
    })
}

impl AgentConfig {
    /// Parse one JSON config (HCL1's JSON dialect) and validate it.
    pub fn from_json_str(s: &str) -> Result<LoadedConfig, ConfigError> {
        let loaded = Self::parse_json_str(s)?;
        loaded.config.validate()?;
        Ok(loaded)
    }

    /// Parse one HCL1 config and validate it.
    pub fn from_hcl_str(s: &str) -> Result<LoadedConfig, ConfigError> {
        let loaded = Self::parse_hcl_str(s)?;
        loaded.config.validate()?;
        Ok(loaded)
    }

    /// Parse one JSON config without the whole-config validation (a fragment to merge).
    pub fn parse_json_str(s: &str) -> Result<LoadedConfig, ConfigError> {
        parse_json(s, "<json>")
    }

    /// Parse one HCL1 config without the whole-config validation (a fragment to merge).
    pub fn parse_hcl_str(s: &str) -> Result<LoadedConfig, ConfigError> {
        parse_hcl(s, "<hcl>")
    }

    /// The config from `BAO_CONFIG` (wins when present, even empty) or `VAULT_CONFIG`, holding
    /// standard base64 of the JSON config; `Ok(None)` when neither variable is set.
    pub fn from_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<LoadedConfig>, ConfigError> {
        load::from_env(lookup)
    }

    /// Check the whole (merged) config: agent.md §1.5–1.12.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::validate(self)
    }

    /// Compact JSON in upstream's dialect with Go's escaping (injector.md §3.6). Fails only for
    /// a NaN or infinite `lease_renewal_threshold`, which upstream refuses too.
    pub fn to_json_go(&self) -> Result<Vec<u8>, ConfigError> {
        let v = encode::to_value(self)?;
        let mut out = Vec::with_capacity(512);
        encode::write_go_json(&v, &mut out);
        Ok(out)
    }

    /// The `use_auto_auth_token` the API proxy uses: `api_proxy`'s, else the legacy `cache` one.
    pub fn effective_use_auto_auth_token(&self) -> Option<UseAutoAuthToken> {
        self.api_proxy
            .as_ref()
            .and_then(|p| p.use_auto_auth_token)
            .or_else(|| self.cache.as_ref().and_then(|c| c.use_auto_auth_token))
    }

    /// Replace the `disable_*` lists from `VAULT_AGENT_DISABLE_IDLE_CONNECTIONS` /
    /// `VAULT_AGENT_DISABLE_KEEP_ALIVES` (`BAO_` twins win when present), lower-cased and split
    /// on commas, then re-check their values (agent.md §1.2, §1.10).
    pub fn apply_env_overrides(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for (suffix, list) in [
            (
                "AGENT_DISABLE_IDLE_CONNECTIONS",
                &mut self.disable_idle_connections,
            ),
            ("AGENT_DISABLE_KEEP_ALIVES", &mut self.disable_keep_alives),
        ] {
            let v = lookup(&format!("BAO_{suffix}")).or_else(|| lookup(&format!("VAULT_{suffix}")));
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                *list = v
                    .to_ascii_lowercase()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect();
            }
        }
        self.validate()
    }
}

impl serde::Serialize for AgentConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        encode::to_value(self)
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for AgentConfig {
    /// Decodes (no validation, warnings dropped); use [`AgentConfig::from_json_str`] for both.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        decode_value(v)
            .map(|l| l.config)
            .map_err(serde::de::Error::custom)
    }
}
