//! `AgentConfig` to the JSON the injector base64s into `VAULT_CONFIG` (injector.md §3): upstream's
//! JSON dialect (`"method": {"type": …}`, `"sink": [{…}]`, `"template": [...]`), keys in struct
//! order, empty/unset/false fields omitted as the injector omits them, compact, and Go's
//! `encoding/json` string escaping (`<` `>` `&` U+2028 U+2029 as `\u…`).

use serde_json::{Map, Number, Value};

use super::error::ConfigError;
use super::model::*;

type Result<T> = std::result::Result<T, ConfigError>;

struct Out(Map<String, Value>);

impl Out {
    fn new() -> Self {
        Out(Map::new())
    }
    fn put(&mut self, k: &str, v: Value) {
        self.0.insert(k.to_string(), v);
    }
    fn opt_str(&mut self, k: &str, v: &Option<String>) {
        if let Some(s) = v {
            self.put(k, Value::String(s.clone()));
        }
    }
    fn nonempty(&mut self, k: &str, v: &Option<String>) {
        if let Some(s) = v.as_ref().filter(|s| !s.is_empty()) {
            self.put(k, Value::String(s.clone()));
        }
    }
    fn opt_bool(&mut self, k: &str, v: Option<bool>) {
        if let Some(b) = v {
            self.put(k, Value::Bool(b));
        }
    }
    fn flag(&mut self, k: &str, v: bool) {
        if v {
            self.put(k, Value::Bool(true));
        }
    }
    fn opt_int(&mut self, k: &str, v: Option<i64>) {
        if let Some(i) = v {
            self.put(k, Value::from(i));
        }
    }
    fn opt_dur(&mut self, k: &str, v: Option<super::GoDuration>) {
        if let Some(d) = v {
            self.put(k, Value::String(d.to_string()));
        }
    }
    fn list(&mut self, k: &str, v: &[String]) {
        if !v.is_empty() {
            self.put(k, Value::from(v.to_vec()));
        }
    }
    fn map(&mut self, k: &str, v: &std::collections::BTreeMap<String, Value>) {
        if !v.is_empty() {
            self.put(k, Value::Object(v.clone().into_iter().collect()));
        }
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// The config as a JSON value in emission order.
pub(crate) fn to_value(c: &AgentConfig) -> Result<Value> {
    let mut o = Out::new();
    if let Some(a) = &c.auto_auth {
        o.put("auto_auth", auto_auth(a));
    }
    o.put("exit_after_auth", Value::Bool(c.exit_after_auth));
    o.opt_str("pid_file", &c.pid_file);
    if let Some(v) = &c.vault {
        o.put("vault", vault(v));
    }
    if !c.templates.is_empty() {
        o.put(
            "template",
            Value::Array(c.templates.iter().map(template).collect()),
        );
    }
    if !c.listeners.is_empty() {
        o.put(
            "listener",
            Value::Array(c.listeners.iter().map(listener).collect()),
        );
    }
    if let Some(cache) = &c.cache {
        let mut m = Out::new();
        if let Some(u) = cache.use_auto_auth_token {
            m.put("use_auto_auth_token", Value::from(u.as_str()));
        }
        if let Some(p) = &cache.persist {
            let mut po = Out::new();
            po.put("type", Value::from(p.persist_type.clone()));
            po.put("path", Value::from(p.path.clone()));
            po.flag("keep_after_import", p.keep_after_import);
            po.flag("exit_on_err", p.exit_on_err);
            po.opt_str("service_account_token_file", &p.service_account_token_file);
            m.put("persist", po.done());
        }
        o.put("cache", m.done());
    }
    if let Some(p) = &c.api_proxy {
        let mut m = Out::new();
        if let Some(u) = p.use_auto_auth_token {
            m.put("use_auto_auth_token", Value::from(u.as_str()));
        }
        o.put("api_proxy", m.done());
    }
    if let Some(tc) = &c.template_config {
        let mut m = Out::new();
        m.put(
            "exit_on_retry_failure",
            Value::Bool(tc.exit_on_retry_failure),
        );
        m.opt_dur(
            "static_secret_render_interval",
            tc.static_secret_render_interval,
        );
        if let Some(n) = tc.max_connections_per_host {
            m.put("max_connections_per_host", Value::from(n));
        }
        if let Some(f) = tc.lease_renewal_threshold {
            let n = Number::from_f64(f).ok_or_else(|| ConfigError::Unserialisable {
                path: "template_config.lease_renewal_threshold".into(),
                value: f.to_string(),
            })?;
            m.put("lease_renewal_threshold", Value::Number(n));
        }
        o.put("template_config", m.done());
    }
    o.list("disable_idle_connections", &c.disable_idle_connections);
    o.list("disable_keep_alives", &c.disable_keep_alives);
    if let Some(t) = &c.telemetry {
        o.put("telemetry", telemetry(t));
    }
    o.opt_str("log_level", &c.log_level);
    o.opt_str("log_format", &c.log_format);
    o.opt_str("log_file", &c.log_file);
    o.opt_int("log_rotate_bytes", c.log_rotate_bytes);
    o.opt_str("log_rotate_duration", &c.log_rotate_duration);
    o.opt_int("log_rotate_max_files", c.log_rotate_max_files);
    if let Some(e) = &c.exec {
        let mut m = Out::new();
        m.put("command", Value::from(e.command.clone()));
        m.opt_str("restart_on_secret_changes", &e.restart_on_secret_changes);
        m.opt_str("restart_stop_signal", &e.restart_stop_signal);
        o.put("exec", m.done());
    }
    if !c.env_templates.is_empty() {
        // HCL1 JSON: each entry is {"NAME": {...}}.
        let items = c
            .env_templates
            .iter()
            .map(|t| {
                let mut m = Out::new();
                m.opt_str("contents", &t.contents);
                m.opt_str("source", &t.source);
                m.flag("error_on_missing_key", t.error_on_missing_key);
                m.opt_bool("error_fatal", t.error_fatal);
                m.opt_str("left_delimiter", &t.left_delimiter);
                m.opt_str("right_delimiter", &t.right_delimiter);
                m.list("function_denylist", &t.function_denylist);
                let mut w = Map::new();
                w.insert(t.name.clone(), m.done());
                Value::Object(w)
            })
            .collect();
        o.put("env_template", Value::Array(items));
    }
    Ok(o.done())
}

fn auto_auth(a: &AutoAuth) -> Value {
    let m = &a.method;
    let mut mo = Out::new();
    mo.put("type", Value::from(m.method_type.clone()));
    mo.nonempty("mount_path", &m.mount_path);
    mo.opt_dur("min_backoff", m.min_backoff);
    mo.opt_dur("max_backoff", m.max_backoff);
    mo.nonempty("namespace", &m.namespace);
    mo.map("config", &m.config);
    mo.flag("exit_on_err", m.exit_on_err);
    mo.opt_dur("wrap_ttl", m.wrap_ttl);
    let mut o = Out::new();
    if a.sinks.is_empty() {
        // Quirk Q-A2: upstream's HCL1 JSON reader mistakes `"auto_auth": {"method": {…}}` without
        // a sink for a labelled block and rejects it; a one-element list reads the same everywhere.
        o.put("method", Value::Array(vec![mo.done()]));
    } else {
        o.put("method", mo.done());
    }
    if !a.sinks.is_empty() {
        let sinks = a
            .sinks
            .iter()
            .map(|s| {
                let mut so = Out::new();
                so.put("type", Value::from(s.sink_type.clone()));
                so.map("config", &s.config);
                so.opt_dur("wrap_ttl", s.wrap_ttl);
                so.opt_str("dh_type", &s.dh_type);
                so.opt_str("dh_path", &s.dh_path);
                so.flag("derive_key", s.derive_key);
                so.opt_str("aad", &s.aad);
                so.opt_str("aad_env_var", &s.aad_env_var);
                so.done()
            })
            .collect();
        o.put("sink", Value::Array(sinks));
    }
    o.done()
}

fn vault(v: &VaultStanza) -> Value {
    let mut o = Out::new();
    o.opt_str("address", &v.address);
    o.opt_str("ca_cert", &v.ca_cert);
    o.opt_str("ca_path", &v.ca_path);
    o.opt_bool("tls_skip_verify", v.tls_skip_verify);
    o.opt_str("client_cert", &v.client_cert);
    o.opt_str("client_key", &v.client_key);
    o.opt_str("tls_server_name", &v.tls_server_name);
    o.opt_str("namespace", &v.namespace);
    if let Some(r) = &v.retry {
        let mut ro = Out::new();
        ro.opt_int("num_retries", r.num_retries);
        o.put("retry", ro.done());
    }
    o.done()
}

fn command(c: &CommandSpec) -> Value {
    match c {
        CommandSpec::Shell(s) => Value::from(s.clone()),
        CommandSpec::Argv(v) => Value::from(v.clone()),
    }
}

fn template(t: &TemplateStanza) -> Value {
    let mut o = Out::new();
    o.opt_str("destination", &t.destination);
    o.opt_str("contents", &t.contents);
    o.opt_str("left_delimiter", &t.left_delimiter);
    o.opt_str("right_delimiter", &t.right_delimiter);
    if let Some(c) = &t.command {
        o.put("command", command(c));
    }
    o.opt_str("source", &t.source);
    if let Some(p) = t.perms {
        o.put("perms", Value::from(p.to_string()));
    }
    o.flag("error_on_missing_key", t.error_on_missing_key);
    if let Some(e) = &t.exec {
        let mut eo = Out::new();
        if let Some(c) = &e.command {
            eo.put("command", command(c));
        }
        eo.opt_dur("timeout", e.timeout);
        if let Some(env) = &e.env {
            eo.put("env", env.clone());
        }
        o.put("exec", eo.done());
    }
    o.opt_dur("command_timeout", t.command_timeout);
    o.opt_bool("error_fatal", t.error_fatal);
    o.opt_bool("create_dest_dirs", t.create_dest_dirs);
    o.flag("backup", t.backup);
    if let Some(w) = &t.wait {
        let mut wo = Out::new();
        wo.put("min", Value::from(w.min.to_string()));
        wo.opt_dur("max", w.max);
        o.put("wait", wo.done());
    }
    o.opt_str("user", &t.user);
    o.opt_str("group", &t.group);
    o.opt_str("sandbox_path", &t.sandbox_path);
    o.list("function_denylist", &t.function_denylist);
    o.opt_str("engine", &t.engine);
    o.done()
}

fn listener(l: &Listener) -> Value {
    let mut o = Out::new();
    o.put("type", Value::from(l.listener_type.clone()));
    if !l.address.is_empty() {
        o.put("address", Value::from(l.address.clone()));
    }
    o.flag("tls_disable", l.tls_disable);
    o.opt_str("tls_cert_file", &l.tls_cert_file);
    o.opt_str("tls_key_file", &l.tls_key_file);
    o.flag("require_request_header", l.require_request_header);
    o.opt_str("role", &l.role);
    if let Some(a) = &l.agent_api {
        let mut ao = Out::new();
        ao.flag("enable_quit", a.enable_quit);
        o.put("agent_api", ao.done());
    }
    o.done()
}

fn telemetry(t: &Telemetry) -> Value {
    let mut o = Out::new();
    o.nonempty("usage_gauge_period", &t.usage_gauge_period);
    o.opt_int("maximum_gauge_cardinality", t.maximum_gauge_cardinality);
    o.flag("disable_hostname", t.disable_hostname);
    o.flag("enable_hostname_label", t.enable_hostname_label);
    o.nonempty("lease_metrics_epsilon", &t.lease_metrics_epsilon);
    o.opt_int("num_lease_metrics_buckets", t.num_lease_metrics_buckets);
    o.flag(
        "add_lease_metrics_namespace_labels",
        t.add_lease_metrics_namespace_labels,
    );
    o.opt_bool("filter_default", t.filter_default);
    o.list("prefix_filter", &t.prefix_filter);
    o.nonempty("statsite_address", &t.statsite_address);
    o.nonempty("statsd_address", &t.statsd_address);
    o.nonempty("circonus_api_token", &t.circonus_api_token);
    o.nonempty("circonus_api_app", &t.circonus_api_app);
    o.nonempty("circonus_api_url", &t.circonus_api_url);
    o.nonempty(
        "circonus_submission_interval",
        &t.circonus_submission_interval,
    );
    o.nonempty("circonus_submission_url", &t.circonus_submission_url);
    o.nonempty("circonus_check_id", &t.circonus_check_id);
    o.flag(
        "circonus_check_force_metric_activation",
        t.circonus_check_force_metric_activation,
    );
    o.nonempty("circonus_check_instance_id", &t.circonus_check_instance_id);
    o.nonempty("circonus_check_search_tag", &t.circonus_check_search_tag);
    o.nonempty(
        "circonus_check_display_name",
        &t.circonus_check_display_name,
    );
    o.nonempty("circonus_check_tags", &t.circonus_check_tags);
    o.nonempty("circonus_broker_id", &t.circonus_broker_id);
    o.nonempty("circonus_broker_select_tag", &t.circonus_broker_select_tag);
    o.nonempty("dogstatsd_addr", &t.dogstatsd_addr);
    o.list("dogstatsd_tags", &t.dogstatsd_tags);
    o.nonempty("prometheus_retention_time", &t.prometheus_retention_time);
    o.nonempty("stackdriver_project_id", &t.stackdriver_project_id);
    o.nonempty("stackdriver_location", &t.stackdriver_location);
    o.nonempty("stackdriver_namespace", &t.stackdriver_namespace);
    o.flag("stackdriver_debug_logs", t.stackdriver_debug_logs);
    o.nonempty("metrics_prefix", &t.metrics_prefix);
    o.done()
}

/// Compact JSON with Go's `encoding/json` escaping.
pub fn write_go_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_go_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_go_json(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_go_string(k, out);
                out.push(b':');
                write_go_json(x, out);
            }
            out.push(b'}');
        }
    }
}

/// One JSON string as Go writes it with HTML escaping on.
pub fn write_go_string(s: &str, out: &mut Vec<u8>) {
    crate::go::json::quote_to(out, s, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping_round_trips_and_leaves_nothing_unescaped() {
        // Every ASCII byte, a lone 0xE2 lead (U+2000 .. U+2FFF other than the two separators),
        // both separators at the end, and multi-byte text around them.
        let mut s: String = (0u8..0x80).map(char::from).collect();
        s.push_str("\u{2027}\u{2028}x\u{202a}é\u{1f600}<\u{2029}");
        let mut out = Vec::new();
        write_go_string(&s, &mut out);
        let text = String::from_utf8(out).unwrap();
        let back: String = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        let inner = &text[1..text.len() - 1];
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!inner.contains(bad), "{bad:?} left in {inner}");
        }
        assert!(
            inner.bytes().all(|b| b >= 0x20),
            "a control byte left in {inner}"
        );
        assert!(text.ends_with("\\u003c\\u2029\""), "{text}");
    }

    #[test]
    fn go_escaping() {
        let mut out = Vec::new();
        write_go_string("a<b>&c\u{2028}\u{2029}\"\\\n\t\u{1}\u{8}é", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\t\\u0001\\bé\""
        );
    }

    #[test]
    fn nan_threshold_is_refused() {
        let c = AgentConfig {
            template_config: Some(TemplateConfig {
                lease_renewal_threshold: Some(f64::NAN),
                ..Default::default()
            }),
            ..Default::default()
        };
        let err = to_value(&c).unwrap_err().to_string();
        assert!(
            err.contains("template_config.lease_renewal_threshold"),
            "{err}"
        );
    }

    #[test]
    fn threshold_shortest_float() {
        let c = AgentConfig {
            template_config: Some(TemplateConfig {
                exit_on_retry_failure: true,
                lease_renewal_threshold: Some(0.75),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_go_json(&to_value(&c).unwrap(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"exit_after_auth":false,"template_config":{"exit_on_retry_failure":true,"lease_renewal_threshold":0.75}}"#
        );
    }
}
