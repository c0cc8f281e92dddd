//! The `listener` blocks (agent.md §7.1) as [`ListenerSpec`]s, unsupported options refused with the
//! key named, and the proxy's [`TokenMode`] (agent.md §1.9).

use vaultlet_shared::config::{AgentConfig, UseAutoAuthToken};

use crate::proxy::{ListenerSpec, TokenMode};

/// A `listener` block vaultlet does not serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListenerError {
    #[error("listener[{0}]: type {1:?} is not supported by vaultlet (use \"tcp\")")]
    Type(usize, String),
    #[error(
        "listener[{0}]: TLS listeners are not supported by vaultlet yet; set tls_disable = true (and bind to 127.0.0.1)"
    )]
    Tls(usize),
    #[error("listener[{0}].role: {1:?} is not \"default\" or \"metrics_only\"")]
    Role(usize, String),
}

/// The listener blocks of `config`.
pub fn from_config(config: &AgentConfig) -> Result<Vec<ListenerSpec>, ListenerError> {
    let mut out = Vec::new();
    for (i, l) in config.listeners.iter().enumerate() {
        if l.listener_type != "tcp" {
            return Err(ListenerError::Type(i, l.listener_type.clone()));
        }
        if !l.tls_disable {
            return Err(ListenerError::Tls(i));
        }
        let metrics_only = match l.role.as_deref() {
            None | Some("" | "default") => false,
            Some("metrics_only") => true,
            Some(other) => return Err(ListenerError::Role(i, other.to_string())),
        };
        out.push(ListenerSpec {
            address: if l.address.is_empty() {
                "127.0.0.1:8200".into()
            } else {
                l.address.clone()
            },
            require_request_header: l.require_request_header,
            metrics_only,
            enable_quit: l.agent_api.as_ref().is_some_and(|a| a.enable_quit),
        });
    }
    Ok(out)
}

/// `api_proxy.use_auto_auth_token`, else `cache.use_auto_auth_token`, else off.
pub fn token_mode(config: &AgentConfig) -> TokenMode {
    match config.effective_use_auto_auth_token() {
        Some(UseAutoAuthToken::True) => TokenMode::IfMissing,
        Some(UseAutoAuthToken::Force) => TokenMode::Force,
        Some(UseAutoAuthToken::False) | None => TokenMode::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listener_config() {
        let cfg = AgentConfig::from_json_str(
            &json!({
                "listener": [{"tcp": {"address": "127.0.0.1:8200", "tls_disable": true,
                              "agent_api": {"enable_quit": true}}}],
                "cache": {"use_auto_auth_token": "force"},
                "auto_auth": {"method": {"type": "jwt", "config": {"path": "/x", "role": "r"}}}
            })
            .to_string(),
        )
        .unwrap()
        .config;
        let specs = from_config(&cfg).unwrap();
        assert_eq!(specs.len(), 1);
        assert!(specs[0].enable_quit);
        assert_eq!(token_mode(&cfg), TokenMode::Force);
        let tls = AgentConfig::from_json_str(
            &json!({"listener": [{"tcp": {"address": "127.0.0.1:8200"}}]}).to_string(),
        )
        .unwrap()
        .config;
        let e = from_config(&tls).unwrap_err().to_string();
        assert!(e.contains("tls_disable"), "{e}");
    }
}
