//! The second template dialect: Handlebars (the `handlebars` crate), opted into per template
//! with `"engine": "handlebars"`. An extension for new users; the Go dialect stays the default
//! and the compatibility contract.
//!
//! A `secret` helper works like the Go function (agent.md §4.5): `(secret "path")` reads,
//! `(secret "pki/issue/x" "common_name=a")` writes; it shares fetches with Go templates through the
//! same [`Dependency`] identity (agent.md §5.2) and yields nothing until the data has arrived. Its value
//! has the Go field names: `RequestID`, `LeaseID`, `LeaseDuration`, `Renewable`, `Data`,
//! `Warnings`. Output is not HTML-escaped (secrets are not HTML), and a missing field is an
//! error (strict mode), so a typo cannot silently render an empty secret.
//!
//! ```handlebars
//! {{#with (secret "secret/data/app")}}password={{Data.data.password}}{{/with}}
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperDef, RenderContext, RenderError,
    RenderErrorReason, ScopedJson,
};
use serde_json::{Value as JsonValue, json};

use crate::template::{Dependency, Fetched, Rendered, TemplateError};

const NAME: &str = "t";

/// A parsed Handlebars template.
pub struct HbTemplate {
    reg: Handlebars<'static>,
}

impl std::fmt::Debug for HbTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HbTemplate")
    }
}

#[derive(Default)]
struct Calls {
    used: Vec<Dependency>,
    missing: Vec<Dependency>,
}

struct SecretHelper {
    values: Arc<HashMap<Dependency, Fetched>>,
    calls: Arc<Mutex<Calls>>,
}

/// A `secret` argument after the path that is not `k=v`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not k=v pair {0:?}")]
pub struct NotKvPair(pub String);

/// The dependency of `secret PATH [k=v…]` (agent.md §5.2: path trimmed; params split at the first `=`,
/// trimmed, sorted; empty ones skipped).
pub fn secret_dependency(path: &str, args: &[&str]) -> Result<Dependency, NotKvPair> {
    let path = path.trim().trim_matches('/').to_string();
    let mut params = Vec::new();
    for a in args.iter().filter(|a| !a.trim().is_empty()) {
        let (k, v) = a.split_once('=').ok_or_else(|| NotKvPair(a.to_string()))?;
        params.push((k.trim().to_string(), v.trim().to_string()));
    }
    if params.is_empty() {
        return Ok(Dependency::Read { path });
    }
    params.sort();
    Ok(Dependency::Write { path, params })
}

fn secret_json(s: &vaultlet_shared::vault::Secret) -> JsonValue {
    json!({
        "RequestID": s.request_id,
        "LeaseID": s.lease_id,
        "LeaseDuration": s.lease_duration,
        "Renewable": s.renewable,
        "Data": s.data,
        "Warnings": s.warnings,
    })
}

impl HelperDef for SecretHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc HbContext,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args: Vec<&str> = h
            .params()
            .iter()
            .filter_map(|p| p.value().as_str())
            .collect();
        if args.len() != h.params().len() || args.is_empty() {
            return Err(
                RenderErrorReason::Other("secret: takes a path and k=v strings".into()).into(),
            );
        }
        let dep = secret_dependency(args[0], &args[1..])
            .map_err(|e| RenderErrorReason::Other(format!("secret: {e}")))?;
        let mut calls = self.calls.lock().expect("calls lock");
        calls.used.push(dep.clone());
        let v = match self.values.get(&dep) {
            None => {
                calls.missing.push(dep);
                JsonValue::Null
            }
            Some(Fetched::Secret(Some(s))) => secret_json(s),
            Some(_) => JsonValue::Null,
        };
        Ok(ScopedJson::Derived(v))
    }
}

impl HbTemplate {
    /// Parses `text`; errors carry Handlebars' line and column.
    pub fn parse(text: &str) -> Result<HbTemplate, TemplateError> {
        let mut reg = Handlebars::new();
        reg.set_strict_mode(true);
        reg.register_escape_fn(handlebars::no_escape);
        reg.register_template_string(NAME, text)
            .map_err(|e| TemplateError::Parse(e.to_string()))?;
        Ok(HbTemplate { reg })
    }

    /// Renders against the fetched values; like the Go engine it reports used and missing
    /// dependencies. While something is missing, strict-mode errors are expected (the data is
    /// not there yet) and are not reported.
    pub fn execute(
        &self,
        values: &HashMap<Dependency, Fetched>,
    ) -> Result<Rendered, TemplateError> {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let mut reg = self.reg.clone();
        reg.register_helper(
            "secret",
            Box::new(SecretHelper {
                values: Arc::new(values.clone()),
                calls: calls.clone(),
            }),
        );
        let out = reg.render(NAME, &JsonValue::Null);
        let calls = std::mem::take(&mut *calls.lock().expect("calls lock"));
        match out {
            Ok(text) => Ok(Rendered {
                text,
                binary: None,
                used: calls.used,
                missing: calls.missing,
            }),
            Err(_) if !calls.missing.is_empty() => Ok(Rendered {
                text: String::new(),
                binary: None,
                used: calls.used,
                missing: calls.missing,
            }),
            Err(e) => Err(TemplateError::Execute(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vaultlet_shared::vault::Secret;

    #[test]
    fn secret_helper_reads_shared_dependencies() {
        let t = HbTemplate::parse(
            r#"{{#with (secret "secret/data/app")}}pw={{Data.data.password}} <&>{{/with}}"#,
        )
        .unwrap();
        let first = t.execute(&HashMap::new()).unwrap();
        assert_eq!(
            first.missing,
            vec![Dependency::Read {
                path: "secret/data/app".into()
            }]
        );
        let s = Secret::from_json(br#"{"data":{"data":{"password":"p&<1>"}}}"#).unwrap();
        let mut values = HashMap::new();
        values.insert(first.missing[0].clone(), Fetched::Secret(Some(Arc::new(s))));
        let r = t.execute(&values).unwrap();
        assert_eq!(r.text, "pw=p&<1> <&>");
        assert!(r.missing.is_empty());
    }

    #[test]
    fn typos_are_errors_and_params_share_the_go_identity() {
        let t =
            HbTemplate::parse(r#"{{#with (secret "kv/app")}}{{Data.pasword}}{{/with}}"#).unwrap();
        let s = Secret::from_json(br#"{"data":{"password":"x"}}"#).unwrap();
        let mut values = HashMap::new();
        values.insert(
            Dependency::Read {
                path: "kv/app".into(),
            },
            Fetched::Secret(Some(Arc::new(s))),
        );
        let e = t.execute(&values).unwrap_err().to_string();
        assert!(e.starts_with("execute: ") && e.contains("pasword"), "{e}");
        assert_eq!(
            secret_dependency("/pki/issue/r/ ", &["ttl = 1h", "", "common_name=a"]).unwrap(),
            Dependency::Write {
                path: "pki/issue/r".into(),
                params: vec![
                    ("common_name".into(), "a".into()),
                    ("ttl".into(), "1h".into())
                ]
            }
        );
        assert!(HbTemplate::parse("{{#with}}").is_err());
    }
}
