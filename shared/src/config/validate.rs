//! Validation of a whole (merged) config: the per-stanza rules of agent.md §1.5–1.9 and the
//! cross-field rules of agent.md §1.12, with upstream's messages where upstream has one. Pure.

use super::error::ConfigError;
use super::model::*;

type Result<T> = std::result::Result<T, ConfigError>;

const SUBSYSTEMS: &[&str] = &["auto-auth", "caching", "proxying", "templating", ""];

pub(crate) fn validate(c: &AgentConfig) -> Result<()> {
    if let Some(a) = &c.auto_auth {
        auto_auth(a)?;
    }
    for (i, t) in c.templates.iter().enumerate() {
        template(&format!("template[{i}]"), t)?;
    }
    for (i, l) in c.listeners.iter().enumerate() {
        let path = format!("listener[{i}]");
        if !matches!(l.listener_type.as_str(), "tcp" | "unix") {
            return Err(ConfigError::invalid(
                &path,
                format!("invalid listener type {:?}", l.listener_type),
            ));
        }
        if let Some(r) = l.role.as_deref()
            && !matches!(r, "" | "default" | "metrics_only")
        {
            return Err(ConfigError::invalid(
                &format!("{path}.role"),
                format!("{r:?} is not \"default\" or \"metrics_only\""),
            ));
        }
    }
    if let Some(tc) = &c.template_config
        && let Some(f) = tc.lease_renewal_threshold
        && !f.is_finite()
    {
        return Err(ConfigError::Unserialisable {
            path: "template_config.lease_renewal_threshold".into(),
            value: f.to_string(),
        });
    }
    for (key, list) in [
        ("disable_idle_connections", &c.disable_idle_connections),
        ("disable_keep_alives", &c.disable_keep_alives),
    ] {
        if let Some(bad) = list.iter().find(|v| !SUBSYSTEMS.contains(&v.as_str())) {
            return Err(ConfigError::invalid(
                key,
                format!("unknown {key} value: {bad}"),
            ));
        }
    }
    if let Some(p) = c.cache.as_ref().and_then(|c| c.persist.as_ref()) {
        if p.persist_type != "kubernetes" {
            return Err(ConfigError::invalid(
                "cache.persist.type",
                format!(
                    "persistent key protection type {:?} not supported",
                    p.persist_type
                ),
            ));
        }
        if p.path.is_empty() {
            return Err(ConfigError::invalid(
                "cache.persist.path",
                "must specify persistent cache path",
            ));
        }
    }
    cross_field(c)?;
    env_templates(c)
}

fn auto_auth(a: &AutoAuth) -> Result<()> {
    let m = &a.method;
    if m.method_type.is_empty() {
        return Err(ConfigError::invalid(
            "auto_auth.method",
            "method type must be specified",
        ));
    }
    let (min, max) = (m.effective_min_backoff(), m.effective_max_backoff());
    if min > max {
        return Err(ConfigError::invalid(
            "auto_auth.method",
            format!(
                "auth handler: min_backoff cannot be greater than max_backoff (min_backoff {}, max_backoff {})",
                super::GoDuration(min),
                super::GoDuration(max)
            ),
        ));
    }
    let method_wraps = m.wrap_ttl.is_some_and(|d| !d.0.is_zero());
    if method_wraps {
        if a.sinks.len() != 1 {
            return Err(ConfigError::invalid(
                "auto_auth",
                "error parsing auto_auth: wrapping enabled on auth method and 0 or many sinks defined",
            ));
        }
        if a.sinks[0].wrap_ttl.is_some_and(|d| !d.0.is_zero()) {
            return Err(ConfigError::invalid(
                "auto_auth",
                "error parsing auto_auth: wrapping enabled both on auth method and sink",
            ));
        }
    }
    for (i, s) in a.sinks.iter().enumerate() {
        let path = format!("auto_auth.sink[{i}]");
        if s.sink_type != "file" {
            return Err(ConfigError::invalid(
                &path,
                format!("Unknown sink type {:?}", s.sink_type),
            ));
        }
        if !s.config.contains_key("path") {
            return Err(ConfigError::MissingKey {
                path: format!("{path}.config"),
                key: "path".into(),
            });
        }
        let dh_type = s.dh_type.as_deref().unwrap_or("");
        let dh_path = s.dh_path.as_deref().unwrap_or("");
        if !matches!(dh_type, "" | "curve25519") {
            return Err(ConfigError::invalid(
                &format!("{path}.dh_type"),
                format!("invalid value for 'dh_type': {dh_type:?}"),
            ));
        }
        let aad = s.aad.as_deref().is_some_and(|x| !x.is_empty())
            || s.aad_env_var.as_deref().is_some_and(|x| !x.is_empty());
        match (dh_type.is_empty(), dh_path.is_empty()) {
            (true, true) => {
                if aad {
                    return Err(ConfigError::invalid(
                        &path,
                        "specifying AAD data without 'dh_type' does not make sense",
                    ));
                }
                if s.derive_key {
                    return Err(ConfigError::invalid(
                        &path,
                        "specifying 'derive_key' data without 'dh_type' does not make sense",
                    ));
                }
            }
            (false, false) => {}
            _ => {
                return Err(ConfigError::invalid(
                    &path,
                    "'dh_type' and 'dh_path' must be specified together",
                ));
            }
        }
    }
    Ok(())
}

fn template(path: &str, t: &TemplateStanza) -> Result<()> {
    let has_source = t.source.as_deref().is_some_and(|s| !s.is_empty());
    let has_contents = t.contents.as_deref().is_some_and(|s| !s.is_empty());
    if has_source && has_contents {
        return Err(ConfigError::invalid(
            path,
            "cannot specify both 'source' and 'contents'",
        ));
    }
    if !has_source && !has_contents {
        return Err(ConfigError::invalid(
            path,
            "must specify exactly one of 'source' or 'contents'",
        ));
    }
    if t.destination.as_deref().is_none_or(str::is_empty) {
        return Err(ConfigError::MissingKey {
            path: path.to_string(),
            key: "destination".into(),
        });
    }
    if let Some(e) = t.engine.as_deref()
        && !matches!(e, "go" | "handlebars")
    {
        return Err(ConfigError::invalid(
            &format!("{path}.engine"),
            format!("{e:?} is not \"go\" or \"handlebars\""),
        ));
    }
    Ok(())
}

fn cross_field(c: &AgentConfig) -> Result<()> {
    let cache_token = c.cache.as_ref().and_then(|x| x.use_auto_auth_token);
    if let (Some(_), Some(p)) = (cache_token, c.api_proxy.as_ref())
        && p.use_auto_auth_token.is_some()
    {
        return Err(ConfigError::rule(
            "use_auto_auth_token defined in both api_proxy and cache config. Please remove this configuration from the cache block",
        ));
    }
    let method_wraps = c
        .auto_auth
        .as_ref()
        .and_then(|a| a.method.wrap_ttl)
        .is_some_and(|d| !d.0.is_zero());
    if let Some(cache) = &c.cache {
        if c.listeners.is_empty() && c.templates.is_empty() && c.env_templates.is_empty() {
            return Err(ConfigError::rule(
                "enabling the cache requires at least 1 template or 1 listener to be defined",
            ));
        }
        if cache
            .use_auto_auth_token
            .is_some_and(UseAutoAuthToken::enabled)
        {
            if c.auto_auth.is_none() {
                return Err(ConfigError::rule(
                    "cache.use_auto_auth_token is true but auto_auth not configured",
                ));
            }
            if method_wraps {
                return Err(ConfigError::rule(
                    "cache.use_auto_auth_token is true and auto_auth uses wrapping",
                ));
            }
        }
    }
    // Upstream turns a cache-level token setting into an api_proxy when api_proxy is absent.
    let proxy_token = c.effective_use_auto_auth_token();
    let has_proxy = c.api_proxy.is_some() || proxy_token.is_some_and(UseAutoAuthToken::enabled);
    if has_proxy {
        if c.listeners.is_empty() {
            return Err(ConfigError::rule(
                "configuring the api_proxy requires at least 1 listener to be defined",
            ));
        }
        if proxy_token.is_some_and(UseAutoAuthToken::enabled) {
            if c.auto_auth.is_none() {
                return Err(ConfigError::rule(
                    "api_proxy.use_auto_auth_token is true but auto_auth not configured",
                ));
            }
            if method_wraps {
                return Err(ConfigError::rule(
                    "api_proxy.use_auto_auth_token is true and auto_auth uses wrapping",
                ));
            }
        }
    }
    if let Some(a) = &c.auto_auth
        && a.sinks.is_empty()
        && !proxy_token.is_some_and(UseAutoAuthToken::enabled)
        && c.templates.is_empty()
        && c.env_templates.is_empty()
    {
        return Err(ConfigError::rule(
            "auto_auth requires at least one sink or at least one template or api_proxy.use_auto_auth_token=true",
        ));
    }
    if c.auto_auth.is_none() && c.cache.is_none() && c.listeners.is_empty() {
        return Err(ConfigError::rule(
            "no auto_auth, cache, or listener block found in config",
        ));
    }
    Ok(())
}

fn env_templates(c: &AgentConfig) -> Result<()> {
    if c.exec.is_none() && c.env_templates.is_empty() {
        return Ok(());
    }
    let Some(exec) = &c.exec else {
        return Err(ConfigError::rule(
            "a top-level 'exec' element must be specified with 'env_template' entries",
        ));
    };
    if c.env_templates.is_empty() {
        return Err(ConfigError::rule(
            "must specify at least one 'env_template' element with a top-level 'exec' element",
        ));
    }
    if c.api_proxy.is_some() {
        return Err(ConfigError::rule(
            "'api_proxy' cannot be specified with 'env_template' entries",
        ));
    }
    if !c.templates.is_empty() {
        return Err(ConfigError::rule(
            "'template' cannot be specified with 'env_template' entries",
        ));
    }
    if exec.command.is_empty() || exec.command[0].is_empty() {
        return Err(ConfigError::invalid(
            "exec.command",
            "'exec' requires a non-empty 'command' field",
        ));
    }
    let restart = exec
        .restart_on_secret_changes
        .as_deref()
        .unwrap_or("always");
    if !matches!(restart, "always" | "never") {
        return Err(ConfigError::invalid(
            "exec.restart_on_secret_changes",
            format!("'exec.restart_on_secret_changes' unexpected value: {restart:?}"),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for t in &c.env_templates {
        let path = format!("env_template[{}]", t.name);
        if !seen.insert(t.name.as_str()) {
            return Err(ConfigError::invalid(
                &path,
                format!("duplicate environment variable name: {:?}", t.name),
            ));
        }
        match (t.contents.is_some(), t.source.is_some()) {
            (false, false) => {
                return Err(ConfigError::invalid(
                    &path,
                    "either 'contents' or 'source' must be specified",
                ));
            }
            (true, true) => {
                return Err(ConfigError::invalid(
                    &path,
                    "'contents' and 'source' cannot be specified together",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}
