//! Turns the generic tree (JSON, or HCL1 converted to the same shape by `hcl1`) into typed
//! [`AgentConfig`] values: block shapes (single object, array, labelled `{"kubernetes": {…}}`),
//! the value coercions of agent.md §1.3, strict keys in `template`/`exec`/`env_template` and
//! warnings for unknown keys elsewhere. Pure: no I/O.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::duration::GoDuration;
use super::error::ConfigError;
use super::model::*;

type Result<T> = std::result::Result<T, ConfigError>;

/// Go `strconv.ParseBool`.
pub(crate) fn parse_go_bool(s: &str) -> Option<bool> {
    crate::go::strconv::parse_bool(s).ok()
}

/// Go `strconv.ParseInt(s, 0, 64)`: sign, then `0x`/`0o`/`0b` prefixes or a leading `0` for octal,
/// `_` between digits.
pub(crate) fn parse_go_int(s: &str) -> Option<i64> {
    crate::go::strconv::parse_int(s, 0).ok()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Collects the warnings of one load.
#[derive(Default)]
pub(crate) struct Decoder {
    pub warnings: Vec<String>,
}

/// One object being decoded: fields are taken out as they are read; what is left is unknown.
struct Obj {
    path: String,
    map: Map<String, Value>,
}

impl Obj {
    fn new(path: impl Into<String>, map: Map<String, Value>) -> Self {
        Obj {
            path: path.into(),
            map,
        }
    }

    fn child(&self, key: &str) -> String {
        join(&self.path, key)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        match self.map.remove(key) {
            Some(Value::Null) | None => None,
            Some(v) => Some(v),
        }
    }

    fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn string(&mut self, key: &str) -> Result<Option<String>> {
        let path = self.child(key);
        self.take(key).map(|v| to_string(&path, v)).transpose()
    }

    /// A string where empty means unset.
    fn string_nonempty(&mut self, key: &str) -> Result<Option<String>> {
        Ok(self.string(key)?.filter(|s| !s.is_empty()))
    }

    fn bool(&mut self, key: &str) -> Result<Option<bool>> {
        let path = self.child(key);
        self.take(key).map(|v| to_bool(&path, &v)).transpose()
    }

    fn flag(&mut self, key: &str) -> Result<bool> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    fn int(&mut self, key: &str) -> Result<Option<i64>> {
        let path = self.child(key);
        self.take(key).map(|v| to_int(&path, &v)).transpose()
    }

    fn duration(&mut self, key: &str) -> Result<Option<GoDuration>> {
        let path = self.child(key);
        self.take(key).map(|v| to_duration(&path, &v)).transpose()
    }

    fn go_duration(&mut self, key: &str) -> Result<Option<GoDuration>> {
        let path = self.child(key);
        self.take(key)
            .map(|v| to_go_duration(&path, &v))
            .transpose()
    }

    fn list(&mut self, key: &str) -> Result<Vec<String>> {
        let path = self.child(key);
        self.take(key)
            .map(|v| to_string_list(&path, v))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn map_value(&mut self, key: &str) -> Result<BTreeMap<String, Value>> {
        let path = self.child(key);
        match self.take(key) {
            None => Ok(BTreeMap::new()),
            Some(v) => Ok(merged_object(&path, v)?.into_iter().collect()),
        }
    }

    /// Unknown keys: an error in strict blocks, a warning elsewhere.
    fn finish(self, strict: bool, dec: &mut Decoder) -> Result<()> {
        let where_ = if self.path.is_empty() {
            "top level".to_string()
        } else {
            self.path.clone()
        };
        for key in self.map.keys() {
            if strict {
                return Err(ConfigError::UnknownKey {
                    path: where_,
                    key: key.clone(),
                });
            }
            dec.warnings
                .push(format!("{where_}: unknown key {key:?} is ignored"));
        }
        Ok(())
    }
}

fn to_string(path: &str, v: Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(ConfigError::invalid_value(path, &other, "a string")),
    }
}

fn to_bool(path: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => {
            parse_go_bool(s).ok_or_else(|| ConfigError::invalid_value(path, v, "a boolean"))
        }
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        _ => Err(ConfigError::invalid_value(path, v, "a boolean")),
    }
}

fn to_int(path: &str, v: &Value) -> Result<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ConfigError::invalid_value(path, v, "an integer")),
        Value::String(s) => {
            parse_go_int(s).ok_or_else(|| ConfigError::invalid_value(path, v, "an integer"))
        }
        _ => Err(ConfigError::invalid_value(path, v, "an integer")),
    }
}

fn to_float(path: &str, v: &Value) -> Result<f64> {
    let f = match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    f.ok_or_else(|| ConfigError::invalid_value(path, v, "a number"))
}

/// Vault's `ParseDurationSecond`: integer seconds, or a string by [`GoDuration::parse_lenient`].
fn to_duration(path: &str, v: &Value) -> Result<GoDuration> {
    let bad = || ConfigError::invalid_value(path, v, "a duration");
    match v {
        Value::String(s) => GoDuration::parse_lenient(s).map_err(|_| bad()),
        Value::Number(n) => {
            let secs = match n.as_i64() {
                Some(i) => i,
                None => n.to_string().parse::<f64>().map_err(|_| bad())?.trunc() as i64,
            };
            GoDuration::from_seconds(secs, 1).map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// consul-template durations: a Go duration string only.
fn to_go_duration(path: &str, v: &Value) -> Result<GoDuration> {
    match v {
        Value::String(s) => GoDuration::parse_go(s)
            .map_err(|_| ConfigError::invalid_value(path, v, "a Go duration (e.g. \"30s\")")),
        _ => Err(ConfigError::invalid_value(
            path,
            v,
            "a Go duration string (e.g. \"30s\")",
        )),
    }
}

/// A list of strings, or one string split on commas (mapstructure's weak slice hook).
fn to_string_list(path: &str, v: Value) -> Result<Vec<String>> {
    match v {
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(s.split(',').map(str::to_string).collect()),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, x)| to_string(&format!("{path}[{i}]"), x))
            .collect(),
        other => Err(ConfigError::invalid_value(
            path,
            &other,
            "a list of strings",
        )),
    }
}

/// An object, or a list of objects merged in order (HCL1 repeated `config { }` blocks).
fn merged_object(path: &str, v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        Value::Array(items) => {
            let mut out = Map::new();
            for item in items {
                match item {
                    Value::Object(m) => out.extend(m),
                    other => return Err(ConfigError::invalid_value(path, &other, "an object")),
                }
            }
            Ok(out)
        }
        other => Err(ConfigError::invalid_value(path, &other, "an object")),
    }
}

/// A repeatable block: a single object or an array of objects.
fn blocks(path: &str, v: Value) -> Result<Vec<Map<String, Value>>> {
    match v {
        Value::Object(m) => Ok(vec![m]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, x)| match x {
                Value::Object(m) => Ok(m),
                other => Err(ConfigError::invalid_value(
                    &format!("{path}[{i}]"),
                    &other,
                    "a block (object)",
                )),
            })
            .collect(),
        other => Err(ConfigError::invalid_value(path, &other, "a block (object)")),
    }
}

/// A block that may appear at most once (`message` is upstream's complaint about two).
fn single_block(path: &str, v: Value, message: &str) -> Result<Map<String, Value>> {
    let mut bs = blocks(path, v)?;
    match bs.len() {
        1 => Ok(bs.remove(0)),
        0 => Ok(Map::new()),
        _ => Err(ConfigError::invalid(path, message)),
    }
}

/// A block body with its label, if it had one.
type LabelledBlock = (Option<String>, Map<String, Value>);

/// Splits labelled forms: `{"kubernetes": {…}}` ⇒ `(Some("kubernetes"), {…})`. An object with a
/// `type` key, or with any known field, is unlabelled. Several labels in one object give several
/// blocks, as HCL1 does.
fn labelled(path: &str, obj: Map<String, Value>, known: &[&str]) -> Result<Vec<LabelledBlock>> {
    let is_labelled = !obj.is_empty()
        && !obj.contains_key("type")
        && obj
            .iter()
            .all(|(k, v)| !known.contains(&k.as_str()) && is_block_like(v));
    if !is_labelled {
        return Ok(vec![(None, obj)]);
    }
    let mut out = Vec::new();
    for (label, body) in obj {
        for b in blocks(&join(path, &label), body)? {
            out.push((Some(label.clone()), b));
        }
    }
    Ok(out)
}

fn is_block_like(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_object),
        _ => false,
    }
}

/// The block type: an explicit non-empty `type` wins, else the label lower-cased.
fn block_type(o: &mut Obj, label: Option<&str>, what: &str) -> Result<String> {
    let explicit = o.string("type")?.filter(|s| !s.is_empty());
    explicit
        .or_else(|| label.map(str::to_ascii_lowercase))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConfigError::invalid(&o.path, format!("{what} type must be specified")))
}

fn use_auto_auth_token(o: &mut Obj) -> Result<Option<UseAutoAuthToken>> {
    let path = o.child("use_auto_auth_token");
    match o.take("use_auto_auth_token") {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(if b {
            UseAutoAuthToken::True
        } else {
            UseAutoAuthToken::False
        })),
        Some(Value::String(s)) => UseAutoAuthToken::parse(&s).map(Some).ok_or_else(|| {
            ConfigError::invalid(
                &path,
                format!(
                    "value of 'use_auto_auth_token' can be either true/false/force, {s:?} is an invalid option"
                ),
            )
        }),
        Some(other) => Err(ConfigError::invalid_value(
            &path,
            &other,
            "true, false or \"force\"",
        )),
    }
}

impl Decoder {
    /// Decode a whole config (one file's worth; no cross-field validation).
    pub(crate) fn config(&mut self, root: Value) -> Result<AgentConfig> {
        let map = match root {
            Value::Object(m) => m,
            other => {
                return Err(ConfigError::invalid_value(
                    "config",
                    &other,
                    "an object at the top level",
                ));
            }
        };
        let mut o = Obj::new("", map);
        let mut c = AgentConfig::default();
        if let Some(v) = o.take("auto_auth") {
            let b = single_block("auto_auth", v, "at most one \"auto_auth\" block is allowed")?;
            c.auto_auth = Some(self.auto_auth(b)?);
        }
        c.exit_after_auth = o.flag("exit_after_auth")?;
        c.pid_file = o.string("pid_file")?;
        if let Some(v) = o.take("vault") {
            let b = single_block("vault", v, "one and only one \"vault\" block is required")?;
            c.vault = Some(self.vault(b)?);
        }
        if let Some(v) = o.take("template") {
            for (i, b) in blocks("template", v)?.into_iter().enumerate() {
                c.templates
                    .push(self.template(&format!("template[{i}]"), b)?);
            }
        }
        if let Some(v) = o.take("listener") {
            for b in blocks("listener", v)? {
                for (label, body) in labelled("listener", b, LISTENER_KEYS)? {
                    let path = format!("listener[{}]", c.listeners.len());
                    c.listeners
                        .push(self.listener(&path, label.as_deref(), body)?);
                }
            }
        }
        if let Some(v) = o.take("cache") {
            let b = single_block("cache", v, "one and only one \"cache\" block is required")?;
            c.cache = Some(self.cache(b)?);
        }
        if let Some(v) = o.take("api_proxy") {
            let b = single_block(
                "api_proxy",
                v,
                "one and only one \"api_proxy\" block is required",
            )?;
            let mut p = Obj::new("api_proxy", b);
            let proxy = ApiProxy {
                use_auto_auth_token: use_auto_auth_token(&mut p)?,
            };
            p.finish(false, self)?;
            c.api_proxy = Some(proxy);
        }
        if let Some(v) = o.take("template_config") {
            let b = single_block(
                "template_config",
                v,
                "at most one \"template_config\" block is allowed",
            )?;
            c.template_config = Some(self.template_config(b)?);
        }
        c.disable_idle_connections = o.list("disable_idle_connections")?;
        c.disable_keep_alives = o.list("disable_keep_alives")?;
        if let Some(v) = o.take("telemetry") {
            let b = single_block("telemetry", v, "only one 'telemetry' block is permitted")?;
            c.telemetry = Some(self.telemetry(b)?);
        }
        c.log_level = o.string("log_level")?;
        c.log_format = o.string("log_format")?;
        c.log_file = o.string("log_file")?;
        c.log_rotate_bytes = o.int("log_rotate_bytes")?;
        c.log_rotate_duration = o.string("log_rotate_duration")?;
        c.log_rotate_max_files = o.int("log_rotate_max_files")?;
        if let Some(v) = o.take("exec") {
            let b = single_block("exec", v, "at most one \"exec\" block is allowed")?;
            c.exec = Some(self.exec(b)?);
        }
        if let Some(v) = o.take("env_template") {
            for b in blocks("env_template", v)? {
                for (name, body) in b {
                    let path = format!("env_template[{name}]");
                    let body = match body {
                        Value::Object(m) => m,
                        Value::Array(_) => merged_object(&path, body)?,
                        // An unlabelled `env_template { … }`: its keys look like labels here.
                        _ => {
                            return Err(ConfigError::invalid(
                                "env_template",
                                "expected one and only one environment variable name, got 0",
                            ));
                        }
                    };
                    c.env_templates.push(self.env_template(&path, name, body)?);
                }
            }
        }
        o.finish(false, self)?;
        Ok(c)
    }

    fn auto_auth(&mut self, b: Map<String, Value>) -> Result<AutoAuth> {
        let mut o = Obj::new("auto_auth", b);
        let mut methods = Vec::new();
        if let Some(v) = o.take("method") {
            for mb in blocks("auto_auth.method", v)? {
                methods.extend(labelled("auto_auth.method", mb, METHOD_KEYS)?);
            }
        }
        if methods.len() != 1 {
            return Err(ConfigError::invalid(
                "auto_auth",
                "one and only one \"method\" block is required",
            ));
        }
        let (label, body) = methods.remove(0);
        let method = self.method(label.as_deref(), body)?;
        let mut sinks = Vec::new();
        if let Some(v) = o.take("sink") {
            for sb in blocks("auto_auth.sink", v)? {
                for (label, body) in labelled("auto_auth.sink", sb, SINK_KEYS)? {
                    let path = format!("auto_auth.sink[{}]", sinks.len());
                    sinks.push(self.sink(&path, label.as_deref(), body)?);
                }
            }
        }
        // Test-only upstream knob; accepted silently.
        o.take("enable_reauth_on_new_credentials");
        o.finish(false, self)?;
        Ok(AutoAuth { method, sinks })
    }

    fn method(&mut self, label: Option<&str>, b: Map<String, Value>) -> Result<AuthMethod> {
        let mut o = Obj::new("auto_auth.method", b);
        let m = AuthMethod {
            method_type: block_type(&mut o, label, "method")?,
            mount_path: o.string_nonempty("mount_path")?,
            min_backoff: o.duration("min_backoff")?,
            max_backoff: o.duration("max_backoff")?,
            namespace: o.string_nonempty("namespace")?,
            config: o.map_value("config")?,
            exit_on_err: o.flag("exit_on_err")?,
            wrap_ttl: o.duration("wrap_ttl")?,
        };
        o.finish(false, self)?;
        Ok(m)
    }

    fn sink(&mut self, path: &str, label: Option<&str>, b: Map<String, Value>) -> Result<Sink> {
        let mut o = Obj::new(path, b);
        let s = Sink {
            sink_type: block_type(&mut o, label, "sink")?,
            config: o.map_value("config")?,
            wrap_ttl: o.duration("wrap_ttl")?,
            dh_type: o.string("dh_type")?,
            dh_path: o.string("dh_path")?,
            derive_key: o.flag("derive_key")?,
            aad: o.string("aad")?,
            aad_env_var: o.string("aad_env_var")?,
        };
        o.finish(false, self)?;
        Ok(s)
    }

    fn vault(&mut self, b: Map<String, Value>) -> Result<VaultStanza> {
        let mut o = Obj::new("vault", b);
        let mut v = VaultStanza {
            address: o.string("address")?,
            ca_cert: o.string("ca_cert")?,
            ca_path: o.string("ca_path")?,
            tls_skip_verify: o.bool("tls_skip_verify")?,
            client_cert: o.string("client_cert")?,
            client_key: o.string("client_key")?,
            tls_server_name: o.string("tls_server_name")?,
            namespace: o.string("namespace")?,
            retry: None,
        };
        if let Some(r) = o.take("retry") {
            let rb = single_block(
                "vault.retry",
                r,
                "one and only one \"retry\" block is required",
            )?;
            let mut ro = Obj::new("vault.retry", rb);
            v.retry = Some(RetryStanza {
                num_retries: ro.int("num_retries")?,
            });
            ro.finish(false, self)?;
        }
        o.finish(false, self)?;
        Ok(v)
    }

    fn template(&mut self, path: &str, b: Map<String, Value>) -> Result<TemplateStanza> {
        let mut o = Obj::new(path, b);
        let t = self.template_fields(&mut o)?;
        o.finish(true, self)?;
        Ok(t)
    }

    fn template_fields(&mut self, o: &mut Obj) -> Result<TemplateStanza> {
        let mut t = TemplateStanza {
            destination: o.string("destination")?,
            contents: o.string("contents")?,
            left_delimiter: o.string("left_delimiter")?,
            right_delimiter: o.string("right_delimiter")?,
            ..Default::default()
        };
        if let Some(v) = o.take("command") {
            t.command = Some(command_spec(&o.child("command"), v)?);
        }
        t.source = o.string("source")?;
        if let Some(v) = o.take("perms") {
            t.perms = Some(file_mode(&o.child("perms"), &v)?);
        }
        t.error_on_missing_key = o.flag("error_on_missing_key")?;
        if let Some(v) = o.take("exec") {
            let path = o.child("exec");
            // Several exec blocks: the last wins (consul-template flattening).
            let b = blocks(&path, v)?.pop().unwrap_or_default();
            t.exec = Some(self.template_exec(&path, b)?);
        }
        t.command_timeout = o.go_duration("command_timeout")?;
        t.error_fatal = o.bool("error_fatal")?;
        t.create_dest_dirs = o.bool("create_dest_dirs")?;
        t.backup = o.flag("backup")?;
        if let Some(v) = o.take("wait") {
            t.wait = Some(wait_spec(&o.child("wait"), v)?);
        }
        t.user = o.string("user")?;
        if let Some(uid) = o.int("uid")?
            && t.user.is_none()
        {
            t.user = Some(uid.to_string());
        }
        t.group = o.string("group")?;
        if let Some(gid) = o.int("gid")?
            && t.group.is_none()
        {
            t.group = Some(gid.to_string());
        }
        t.sandbox_path = o.string("sandbox_path")?;
        t.function_denylist = o.list("function_denylist")?;
        t.function_denylist.extend(o.list("function_blacklist")?);
        t.engine = o.string("engine")?;
        Ok(t)
    }

    fn template_exec(&mut self, path: &str, b: Map<String, Value>) -> Result<TemplateExec> {
        let mut o = Obj::new(path, b);
        let mut e = TemplateExec::default();
        if let Some(v) = o.take("command") {
            e.command = Some(command_spec(&o.child("command"), v)?);
        }
        e.timeout = o.go_duration("timeout")?;
        e.env = o.take("env");
        for k in [
            "enabled",
            "kill_signal",
            "kill_timeout",
            "reload_signal",
            "splay",
        ] {
            if o.take(k).is_some() {
                self.warnings.push(format!(
                    "{path}: key {k:?} is not supported by vaultlet and is ignored"
                ));
            }
        }
        o.finish(true, self)?;
        Ok(e)
    }

    fn template_config(&mut self, b: Map<String, Value>) -> Result<TemplateConfig> {
        let mut o = Obj::new("template_config", b);
        let mut tc = TemplateConfig {
            exit_on_retry_failure: o.flag("exit_on_retry_failure")?,
            static_secret_render_interval: o.duration("static_secret_render_interval")?,
            ..Default::default()
        };
        if let Some(n) = o.int("max_connections_per_host")? {
            let path = o.child("max_connections_per_host");
            tc.max_connections_per_host = Some(u32::try_from(n).map_err(|_| {
                ConfigError::invalid_value(&path, &Value::from(n), "a non-negative integer")
            })?);
        }
        if let Some(v) = o.take("lease_renewal_threshold") {
            tc.lease_renewal_threshold = Some(to_float(&o.child("lease_renewal_threshold"), &v)?);
        }
        o.finish(false, self)?;
        Ok(tc)
    }

    fn listener(
        &mut self,
        path: &str,
        label: Option<&str>,
        b: Map<String, Value>,
    ) -> Result<Listener> {
        let mut o = Obj::new(path, b);
        let mut l = Listener {
            listener_type: block_type(&mut o, label, "listener")?,
            address: o.string("address")?.unwrap_or_default(),
            tls_disable: o.flag("tls_disable")?,
            tls_cert_file: o.string("tls_cert_file")?,
            tls_key_file: o.string("tls_key_file")?,
            require_request_header: o.flag("require_request_header")?,
            role: o.string("role")?,
            agent_api: None,
        };
        if let Some(v) = o.take("agent_api") {
            let p = o.child("agent_api");
            let ab = single_block(&p, v, "only one \"agent_api\" block is allowed")?;
            let mut ao = Obj::new(p, ab);
            l.agent_api = Some(AgentApi {
                enable_quit: ao.flag("enable_quit")?,
            });
            ao.finish(false, self)?;
        }
        o.finish(false, self)?;
        Ok(l)
    }

    fn cache(&mut self, b: Map<String, Value>) -> Result<Cache> {
        let mut o = Obj::new("cache", b);
        let mut c = Cache {
            use_auto_auth_token: use_auto_auth_token(&mut o)?,
            persist: None,
        };
        if let Some(v) = o.take("persist") {
            let mut found = Vec::new();
            for pb in blocks("cache.persist", v)? {
                found.extend(labelled("cache.persist", pb, PERSIST_KEYS)?);
            }
            if found.len() > 1 {
                return Err(ConfigError::invalid(
                    "cache",
                    "only one \"persist\" block is required",
                ));
            }
            if let Some((label, body)) = found.pop() {
                let mut po = Obj::new("cache.persist", body);
                c.persist = Some(Persist {
                    persist_type: block_type(&mut po, label.as_deref(), "persist")?,
                    path: po.string("path")?.unwrap_or_default(),
                    keep_after_import: po.flag("keep_after_import")?,
                    exit_on_err: po.flag("exit_on_err")?,
                    service_account_token_file: po.string("service_account_token_file")?,
                });
                po.finish(false, self)?;
            }
        }
        o.finish(false, self)?;
        Ok(c)
    }

    fn telemetry(&mut self, b: Map<String, Value>) -> Result<Telemetry> {
        let mut o = Obj::new("telemetry", b);
        let t = Telemetry {
            usage_gauge_period: duration_text(&mut o, "usage_gauge_period")?,
            maximum_gauge_cardinality: o.int("maximum_gauge_cardinality")?,
            disable_hostname: o.flag("disable_hostname")?,
            enable_hostname_label: o.flag("enable_hostname_label")?,
            lease_metrics_epsilon: duration_text(&mut o, "lease_metrics_epsilon")?,
            num_lease_metrics_buckets: o.int("num_lease_metrics_buckets")?,
            add_lease_metrics_namespace_labels: o.flag("add_lease_metrics_namespace_labels")?,
            filter_default: o.bool("filter_default")?,
            prefix_filter: o.list("prefix_filter")?,
            statsite_address: o.string_nonempty("statsite_address")?,
            statsd_address: o.string_nonempty("statsd_address")?,
            circonus_api_token: o.string_nonempty("circonus_api_token")?,
            circonus_api_app: o.string_nonempty("circonus_api_app")?,
            circonus_api_url: o.string_nonempty("circonus_api_url")?,
            circonus_submission_interval: o.string_nonempty("circonus_submission_interval")?,
            circonus_submission_url: o.string_nonempty("circonus_submission_url")?,
            circonus_check_id: o.string_nonempty("circonus_check_id")?,
            circonus_check_force_metric_activation: o
                .flag("circonus_check_force_metric_activation")?,
            circonus_check_instance_id: o.string_nonempty("circonus_check_instance_id")?,
            circonus_check_search_tag: o.string_nonempty("circonus_check_search_tag")?,
            circonus_check_display_name: o.string_nonempty("circonus_check_display_name")?,
            circonus_check_tags: o.string_nonempty("circonus_check_tags")?,
            circonus_broker_id: o.string_nonempty("circonus_broker_id")?,
            circonus_broker_select_tag: o.string_nonempty("circonus_broker_select_tag")?,
            dogstatsd_addr: o.string_nonempty("dogstatsd_addr")?,
            dogstatsd_tags: o.list("dogstatsd_tags")?,
            prometheus_retention_time: duration_text(&mut o, "prometheus_retention_time")?,
            stackdriver_project_id: o.string_nonempty("stackdriver_project_id")?,
            stackdriver_location: o.string_nonempty("stackdriver_location")?,
            stackdriver_namespace: o.string_nonempty("stackdriver_namespace")?,
            stackdriver_debug_logs: o.flag("stackdriver_debug_logs")?,
            metrics_prefix: o.string_nonempty("metrics_prefix")?,
        };
        o.finish(false, self)?;
        Ok(t)
    }

    fn exec(&mut self, b: Map<String, Value>) -> Result<ExecStanza> {
        let mut o = Obj::new("exec", b);
        let e = ExecStanza {
            command: o.list("command")?,
            restart_on_secret_changes: o.string("restart_on_secret_changes")?,
            restart_stop_signal: o.string("restart_stop_signal")?,
        };
        o.finish(true, self)?;
        if e.stop_signal().is_none() {
            // agent.md §1.11: upstream's message, its list printed as Go's `%q` of a slice.
            let valid: Vec<String> = EXEC_STOP_SIGNALS.iter().map(|n| format!("{n:?}")).collect();
            return Err(ConfigError::invalid(
                "exec.restart_stop_signal",
                format!(
                    "invalid signal {:?} - valid signals are [{}]",
                    e.restart_stop_signal.as_deref().unwrap_or_default(),
                    valid.join(" ")
                ),
            ));
        }
        Ok(e)
    }

    fn env_template(
        &mut self,
        path: &str,
        name: String,
        b: Map<String, Value>,
    ) -> Result<EnvTemplate> {
        let mut o = Obj::new(path, b);
        for k in ENV_TEMPLATE_FORBIDDEN {
            if o.has(k) {
                return Err(ConfigError::invalid(path, format!("'{k}' is not allowed")));
            }
        }
        let mut denylist = o.list("function_denylist")?;
        denylist.extend(o.list("function_blacklist")?);
        let t = EnvTemplate {
            name,
            contents: o.string("contents")?,
            source: o.string("source")?,
            error_on_missing_key: o.flag("error_on_missing_key")?,
            error_fatal: o.bool("error_fatal")?,
            left_delimiter: o.string("left_delimiter")?,
            right_delimiter: o.string("right_delimiter")?,
            function_denylist: denylist,
        };
        o.finish(true, self)?;
        Ok(t)
    }
}

/// A duration-valued telemetry key kept as text: integers become their digits; the text must be
/// a duration by the lenient rule, or `none`.
fn duration_text(o: &mut Obj, key: &str) -> Result<Option<String>> {
    let path = o.child(key);
    let Some(v) = o.take(key) else {
        return Ok(None);
    };
    let text = to_string(&path, v.clone())?;
    if text.is_empty() {
        return Ok(None);
    }
    if text != "none" && GoDuration::parse_lenient(&text).is_err() {
        return Err(ConfigError::invalid_value(&path, &v, "a duration"));
    }
    Ok(Some(text))
}

fn command_spec(path: &str, v: Value) -> Result<CommandSpec> {
    match v {
        Value::String(s) => Ok(CommandSpec::Shell(s)),
        Value::Array(items) => Ok(CommandSpec::Argv(
            items
                .into_iter()
                .enumerate()
                .map(|(i, x)| to_string(&format!("{path}[{i}]"), x))
                .collect::<Result<_>>()?,
        )),
        other => Err(ConfigError::invalid_value(
            path,
            &other,
            "a command (string or list of strings)",
        )),
    }
}

fn file_mode(path: &str, v: &Value) -> Result<FileMode> {
    let m = match v {
        Value::String(s) => FileMode::parse_octal(s),
        Value::Number(n) => n
            .as_u64()
            .filter(|m| *m <= 0o7777)
            .map(|m| FileMode(m as u32)),
        _ => None,
    };
    m.ok_or_else(|| {
        ConfigError::invalid_value(path, v, "a file mode (octal string such as \"0640\")")
    })
}

fn wait_spec(path: &str, v: Value) -> Result<WaitSpec> {
    let w = match v {
        Value::String(s) => {
            let bad = |_| {
                ConfigError::invalid_value(
                    path,
                    &Value::String(s.clone()),
                    "a wait spec (\"min[:max]\")",
                )
            };
            let parts: Vec<&str> = s.trim().split(':').collect();
            match parts.as_slice() {
                [min] => WaitSpec {
                    min: GoDuration::parse_go(min.trim()).map_err(bad)?,
                    max: None,
                },
                [min, max] => WaitSpec {
                    min: GoDuration::parse_go(min.trim()).map_err(bad)?,
                    max: Some(GoDuration::parse_go(max.trim()).map_err(bad)?),
                },
                _ => return Err(bad(super::duration::DurationError::Invalid)),
            }
        }
        other => {
            // Several wait blocks: the last wins.
            let b = blocks(path, other)?.pop().unwrap_or_default();
            let mut o = Obj::new(path, b);
            let w = WaitSpec {
                min: o.go_duration("min")?.unwrap_or_default(),
                max: o.go_duration("max")?,
            };
            if !o.map.is_empty() {
                let key = o.map.keys().next().cloned().unwrap_or_default();
                return Err(ConfigError::UnknownKey {
                    path: path.to_string(),
                    key,
                });
            }
            w
        }
    };
    if w.effective_max() < w.min.0 {
        return Err(ConfigError::invalid(
            path,
            format!(
                "wait: min must be less than max (min {}, max {})",
                w.min,
                GoDuration(w.effective_max())
            ),
        ));
    }
    Ok(w)
}

const METHOD_KEYS: &[&str] = &[
    "type",
    "mount_path",
    "min_backoff",
    "max_backoff",
    "namespace",
    "config",
    "exit_on_err",
    "wrap_ttl",
];
const SINK_KEYS: &[&str] = &[
    "type",
    "config",
    "wrap_ttl",
    "dh_type",
    "dh_path",
    "derive_key",
    "aad",
    "aad_env_var",
];
const LISTENER_KEYS: &[&str] = &[
    "type",
    "address",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "require_request_header",
    "role",
    "agent_api",
    "tls_min_version",
    "tls_max_version",
    "tls_client_ca_file",
    "tls_require_and_verify_client_cert",
    "tls_disable_client_certs",
    "telemetry",
    "profiling",
];
const PERSIST_KEYS: &[&str] = &[
    "type",
    "path",
    "keep_after_import",
    "exit_on_err",
    "service_account_token_file",
];
/// Template keys an `env_template` may not use (agent.md §1.11), in the order upstream checks
/// them (so a block with two of them is refused naming the same one).
const ENV_TEMPLATE_FORBIDDEN: &[&str] = &[
    "backup",
    "command",
    "command_timeout",
    "create_dest_dirs",
    "destination",
    "exec",
    "perms",
    "user",
    "uid",
    "group",
    "gid",
    "wait",
    "sandbox_path",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_int_bases() {
        assert_eq!(parse_go_int("0600"), Some(0o600));
        assert_eq!(parse_go_int("0x1F"), Some(31));
        assert_eq!(parse_go_int("-12"), Some(-12));
        assert_eq!(parse_go_int("0"), Some(0));
        assert_eq!(parse_go_int("08"), None);
        assert_eq!(parse_go_int("1.5"), None);
        assert_eq!(parse_go_int(""), None);
    }

    #[test]
    fn go_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(t), Some(true));
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(f), Some(false));
        }
        for bad in ["tRuE", "yes", "on", ""] {
            assert_eq!(parse_go_bool(bad), None);
        }
    }

    #[test]
    fn labelled_shapes() {
        let v: Value = serde_json::json!({"kubernetes": {"config": {"role": "x"}}});
        let Value::Object(m) = v else { unreachable!() };
        let out = labelled("m", m, METHOD_KEYS).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0.as_deref(), Some("kubernetes"));
        let v: Value = serde_json::json!({"config": {"role": "x"}});
        let Value::Object(m) = v else { unreachable!() };
        let out = labelled("m", m, METHOD_KEYS).unwrap();
        assert_eq!(out[0].0, None);
    }

    #[test]
    fn wait_forms() {
        let w = wait_spec("w", Value::String("5s:30s".into())).unwrap();
        assert_eq!(w.max.unwrap().to_string(), "30s");
        let w = wait_spec("w", Value::String("5s".into())).unwrap();
        assert_eq!(GoDuration(w.effective_max()).to_string(), "20s");
        assert!(wait_spec("w", Value::String("30s:5s".into())).is_err());
        assert!(wait_spec("w", serde_json::json!({"min": "1s", "foo": 1})).is_err());
    }
}
