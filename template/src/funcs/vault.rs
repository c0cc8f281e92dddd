//! The functions that need data from the runtime: `secret`, `secrets`, `pkiCert` and `file`
//! (agent.md §4.5, §4.6, §5.2, §5.3). Each builds the dependency's identity, records it as used,
//! and returns the fetched value, or nil (recording it as missing) until the data has arrived.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use vaultlet_shared::json::Json;
use vaultlet_shared::vault::Secret;

use super::args;
use crate::{CallEnv, Context, Dependency, Fetched, Func, Object, Record, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "secret" => secret,
        "secrets" => secrets,
        "pkiCert" => pki_cert,
        "file" => file,
        _ => return None,
    })
}

/// `p` with surrounding spaces and `/` removed (dependency identity, agent.md §5.2).
pub fn clean_path(p: &str) -> String {
    p.trim().trim_matches('/').to_string()
}

/// `k=v` write parameters: split at the first `=`, both sides trimmed, empty arguments skipped,
/// later duplicates win; sorted by key.
pub fn parse_params(rest: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut params = BTreeMap::new();
    for s in rest {
        if s.is_empty() {
            continue;
        }
        let Some((k, v)) = s.split_once('=') else {
            return Err(format!("not k=v pair {}", args::go_quote_str(s)));
        };
        params.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(params.into_iter().collect())
}

/// Records `dep` as used and asks the runtime for it; `None` means "not here yet" (also recorded).
fn fetch(env: &mut CallEnv<'_>, dep: Dependency) -> Option<Result<Fetched, String>> {
    env.used.push(dep.clone());
    let got = env.ctx.fetch(&dep);
    if got.is_none() {
        env.missing.push(dep);
    }
    got
}

fn unexpected(what: &str) -> String {
    format!("internal error: unexpected data for {what}")
}

fn secret(env: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = args::strings(a)?;
    let Some((path, rest)) = s.split_first() else {
        return Ok(Value::Nil);
    };
    let dep = if rest.is_empty() {
        let p = clean_path(path);
        if p.is_empty() {
            return Err("vault.read: invalid format: \"\"".into());
        }
        Dependency::Read { path: p }
    } else {
        let params = parse_params(rest)?;
        let p = clean_path(path);
        if p.is_empty() {
            return Err("vault.write: invalid format: \"\"".into());
        }
        Dependency::Write { path: p, params }
    };
    match fetch(env, dep) {
        None => Ok(Value::Nil),
        Some(Err(e)) => Err(e),
        Some(Ok(Fetched::Secret(Some(s)))) => Ok(secret_value(&s)),
        Some(Ok(Fetched::Secret(None))) => Ok(Value::Nil),
        Some(Ok(_)) => Err(unexpected("secret")),
    }
}

/// The `*dependency.Secret` record a template sees (agent.md §4.2, §4.6).
pub fn secret_value(s: &Secret) -> Value {
    let data = match (&s.data_literal, &s.data) {
        (Some(j), _) => Value::from_json(j),
        (None, Some(m)) => {
            Value::from_json(&Json::from_value(&serde_json::Value::Object(m.clone())))
        }
        (None, None) => Value::Nil,
    };
    let warnings = match &s.warnings {
        None => Value::NilList,
        Some(w) => Value::strings(w.iter().map(String::as_str)),
    };
    let auth = match &s.auth {
        None => Value::NilPtr("*dependency.SecretAuth"),
        Some(a) => {
            let policies = if a.policies.is_empty() {
                Value::NilList
            } else {
                Value::strings(a.policies.iter().map(String::as_str))
            };
            let metadata: BTreeMap<crate::value::Key, Value> = a
                .metadata
                .iter()
                .flatten()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (crate::value::Key::Str(k.clone()), Value::str(text))
                })
                .collect();
            Value::Record(Arc::new(Record {
                type_name: "*dependency.SecretAuth",
                fields: vec![
                    ("ClientToken", Value::str(a.client_token.as_str())),
                    ("Accessor", Value::str(a.accessor.as_str())),
                    ("Policies", policies),
                    ("Metadata", Value::map(metadata)),
                    ("LeaseDuration", Value::Int(a.lease_duration)),
                    ("Renewable", Value::Bool(a.renewable)),
                ],
            }))
        }
    };
    let wrap = match &s.wrap_info {
        None => Value::NilPtr("*dependency.SecretWrapInfo"),
        Some(w) => Value::Record(Arc::new(Record {
            type_name: "*dependency.SecretWrapInfo",
            fields: vec![
                ("Token", Value::str(w.token.as_str())),
                ("TTL", Value::Int(w.ttl)),
                ("CreationTime", Value::str(w.creation_time.as_str())),
                ("WrappedAccessor", Value::str(w.wrapped_accessor.as_str())),
            ],
        })),
    };
    Value::Record(Arc::new(Record {
        type_name: "*dependency.Secret",
        fields: vec![
            ("RequestID", Value::str(s.request_id.as_str())),
            ("LeaseID", Value::str(s.lease_id.as_str())),
            ("LeaseDuration", Value::Int(s.lease_duration)),
            ("Renewable", Value::Bool(s.renewable)),
            ("Data", data),
            ("Warnings", warnings),
            ("Auth", auth),
            ("WrapInfo", wrap),
        ],
    }))
}

fn secrets(env: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("secrets", a, 1)?;
    let path = args::string(&a[0])?;
    if path.is_empty() {
        return Ok(Value::NilList);
    }
    let p = clean_path(path);
    if p.is_empty() {
        return Err("vault.list: invalid format: \"\"".into());
    }
    match fetch(env, Dependency::List { path: p }) {
        // Go returns a nil `[]string`: ranging over it yields nothing.
        None => Ok(Value::NilList),
        Some(Err(e)) => Err(e),
        // No keys is Go's nil `[]string` too: `toJSON` gives `null`, `%#v` `[]string(nil)`.
        Some(Ok(Fetched::List(keys))) if keys.is_empty() => Ok(Value::NilList),
        Some(Ok(Fetched::List(keys))) => Ok(Value::strings(keys)),
        Some(Ok(_)) => Err(unexpected("secrets")),
    }
}

fn pki_cert(env: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = args::strings(a)?;
    let Some((path, rest)) = s.split_first() else {
        return Ok(Value::Nil);
    };
    let params = parse_params(rest)?;
    let p = clean_path(path);
    if p.is_empty() {
        return Err("vault.read: invalid format: \"\"".into());
    }
    // Upstream keeps only the URL path of a `pkiCert` argument.
    let p = p.split('?').next().unwrap_or_default().to_string();
    let dest = env.opts.destination.clone().unwrap_or_default();
    match fetch(
        env,
        Dependency::Pki {
            path: p,
            dest,
            params,
        },
    ) {
        None => Ok(Value::Nil),
        Some(Err(e)) => Err(e),
        Some(Ok(Fetched::Pki {
            cert,
            key,
            ca,
            ca_chain,
        })) => Ok(Value::Object(Arc::new(PemBundle {
            cert,
            key,
            ca,
            ca_chain,
        }))),
        Some(Ok(_)) => Err(unexpected("pkiCert")),
    }
}

/// `pkiCert`'s result: Go's `dependency.PemEncoded` with its `Data` method (returns itself).
#[derive(Clone, Debug)]
pub struct PemBundle {
    pub cert: String,
    pub key: String,
    pub ca: String,
    pub ca_chain: Vec<String>,
}

impl PemBundle {
    /// The fields in declaration order, for `toJSON` and printing.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("Cert", Value::str(self.cert.as_str())),
            ("Key", Value::str(self.key.as_str())),
            ("CA", Value::str(self.ca.as_str())),
            (
                "CAChain",
                Value::strings(self.ca_chain.iter().map(String::as_str)),
            ),
        ]
    }
}

impl Object for PemBundle {
    fn type_name(&self) -> &'static str {
        "dependency.PemEncoded"
    }
    fn field(&self, name: &str) -> Option<Value> {
        self.fields()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
    fn method(&self, name: &str, a: &[Value]) -> Option<Result<Value, String>> {
        (name == "Data").then(|| {
            args::arity("Data", a, 0)?;
            Ok(Value::Object(Arc::new(self.clone())))
        })
    }
    fn print(&self) -> String {
        Value::Record(Arc::new(Record {
            type_name: "dependency.PemEncoded",
            fields: self.fields(),
        }))
        .print()
    }
}

fn file(env: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("file", a, 1)?;
    let s = args::string(&a[0])?;
    if s.is_empty() {
        return Ok(Value::str(""));
    }
    let path = sandboxed(&*env.ctx, env.opts.sandbox_path.as_deref(), s.trim())?;
    match fetch(env, Dependency::File { path }) {
        None => Ok(Value::str("")),
        Some(Err(e)) => Err(e),
        Some(Ok(Fetched::File(text))) => Ok(Value::str(text)),
        Some(Ok(_)) => Err(unexpected("file")),
    }
}

/// Go's `filepath.Clean`, lexically.
pub fn clean(p: &str) -> PathBuf {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(x) => parts.push(x.to_str().unwrap_or_default()),
            Component::ParentDir => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let joined = parts.join("/");
    PathBuf::from(match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    })
}

/// `p` with symlinks resolved in its longest existing prefix (the rest appended), so a link
/// inside the sandbox that points out of it is caught even before the file exists. The file
/// system is the runtime's: [`Context::real_path`].
fn resolve_existing(ctx: &dyn Context, p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Some(real) = ctx.real_path(&existing) {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (
            existing.file_name().map(|f| f.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// The cleaned path of `file`'s argument, refused when it leaves the sandbox. Symlinks are resolved
/// (as upstream does) when both paths exist, so a link out of the sandbox is refused too.
pub fn sandboxed(ctx: &dyn Context, sandbox: Option<&Path>, path: &str) -> Result<String, String> {
    let cleaned = clean(path);
    let Some(sb) = sandbox.filter(|s| !s.as_os_str().is_empty()) else {
        return Ok(cleaned.to_string_lossy().into_owned());
    };
    let sb_real = resolve_existing(ctx, &clean(&sb.to_string_lossy()));
    let target = resolve_existing(ctx, &cleaned);
    if sb_real.is_absolute() != target.is_absolute() {
        return Err(format!(
            "failed to get relative path: Rel: can't make {} relative to {}",
            target.display(),
            sb_real.display()
        ));
    }
    if !target.starts_with(&sb_real) {
        return Err(format!("'{path}' is outside of sandbox"));
    }
    Ok(target.to_string_lossy().into_owned())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests write their fixtures directly
mod tests {
    use super::super::testutil::*;
    use super::*;
    use vaultlet_shared::vault::SecretAuth;

    fn kv_secret(body: &str) -> Arc<Secret> {
        Arc::new(Secret::from_json(body.as_bytes()).unwrap())
    }

    #[test]
    fn read_is_missing_until_fetched_then_a_record() {
        let mut h = Harness::default();
        let v = h.call("secret", &[s(" /kv/app/ ")]).unwrap();
        assert!(matches!(v, Value::Nil));
        let dep = Dependency::Read {
            path: "kv/app".into(),
        };
        assert_eq!(h.used, vec![dep.clone()]);
        assert_eq!(h.missing, vec![dep.clone()]);

        let body = r#"{"request_id":"r1","lease_id":"","lease_duration":2764800,"renewable":false,
            "data":{"password":"p","n":1e3},"warnings":null}"#;
        h.ctx
            .data
            .insert(dep.clone(), Ok(Fetched::Secret(Some(kv_secret(body)))));
        h.missing.clear();
        let v = h.call("secret", &[s("kv/app")]).unwrap();
        assert!(h.missing.is_empty());
        assert_eq!(
            v.print(),
            "{r1  2764800 false map[n:1e3 password:p] [] <nil> <nil>}"
        );
        assert_eq!(v.type_name(), "*dependency.Secret");
        let Value::Record(r) = v else { panic!() };
        let names: Vec<_> = r.fields.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "RequestID",
                "LeaseID",
                "LeaseDuration",
                "Renewable",
                "Data",
                "Warnings",
                "Auth",
                "WrapInfo"
            ]
        );
    }

    #[test]
    fn query_string_is_part_of_a_read() {
        let mut h = Harness::default();
        h.call("secret", &[s("secret/data/app?version=2")]).unwrap();
        assert_eq!(
            h.used,
            vec![Dependency::Read {
                path: "secret/data/app?version=2".into()
            }]
        );
    }

    #[test]
    fn write_params_are_sorted_trimmed_and_checked() {
        let mut h = Harness::default();
        h.call(
            "secret",
            &[s("pki/issue/r"), s("ttl = 1h"), s(""), s("common_name=a=b")],
        )
        .unwrap();
        assert_eq!(
            h.used,
            vec![Dependency::Write {
                path: "pki/issue/r".into(),
                params: vec![
                    ("common_name".into(), "a=b".into()),
                    ("ttl".into(), "1h".into())
                ]
            }]
        );
        assert_eq!(
            h.call("secret", &[s("p"), s("novalue")]).unwrap_err(),
            "not k=v pair \"novalue\""
        );
        assert_eq!(
            h.call("secret", &[s("//")]).unwrap_err(),
            "vault.read: invalid format: \"\""
        );
        assert!(matches!(h.call("secret", &[]).unwrap(), Value::Nil));
        assert_eq!(
            h.call("secret", &[Value::Int(1)]).unwrap_err(),
            "wrong type for value; expected string; got int"
        );
    }

    #[test]
    fn fetch_errors_and_empty_answers() {
        let mut h = Harness::default();
        let dep = Dependency::Read { path: "x".into() };
        h.ctx
            .data
            .insert(dep.clone(), Err("no secret exists at x".into()));
        assert_eq!(
            h.call("secret", &[s("x")]).unwrap_err(),
            "no secret exists at x"
        );
        h.ctx.data.insert(dep, Ok(Fetched::Secret(None)));
        assert!(matches!(h.call("secret", &[s("x")]).unwrap(), Value::Nil));
    }

    #[test]
    fn auth_and_warnings_shapes() {
        let s = Secret {
            warnings: Some(vec!["w1".into()]),
            auth: Some(SecretAuth {
                client_token: "tok".into(),
                accessor: "acc".into(),
                policies: vec!["default".into()],
                lease_duration: 60,
                renewable: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = secret_value(&s);
        assert_eq!(
            v.print(),
            "{  0 false <nil> [w1] {tok acc [default] map[] 60 true} <nil>}"
        );
    }

    #[test]
    fn secrets_lists_keys() {
        let mut h = Harness::default();
        assert!(matches!(
            h.call("secrets", &[s("secret/")]).unwrap(),
            Value::NilList
        ));
        let dep = Dependency::List {
            path: "secret".into(),
        };
        assert_eq!(h.missing, vec![dep.clone()]);
        h.ctx
            .data
            .insert(dep, Ok(Fetched::List(vec!["a".into(), "b/".into()])));
        assert_eq!(
            h.call("secrets", &[s("secret/")]).unwrap().print(),
            "[a b/]"
        );
        assert!(matches!(
            h.call("secrets", &[s("")]).unwrap(),
            Value::NilList
        ));
        let empty = Dependency::List {
            path: "secret/empty".into(),
        };
        h.ctx.data.insert(empty, Ok(Fetched::List(Vec::new())));
        assert!(matches!(
            h.call("secrets", &[s("secret/empty/")]).unwrap(),
            Value::NilList
        ));
    }

    #[test]
    fn pki_cert_identity_is_path_and_destination() {
        let mut h = Harness::default();
        h.opts.destination = Some("/vault/secrets/cert.pem".into());
        h.call(
            "pkiCert",
            &[s("pki/issue/r"), s("common_name=a"), s("ttl=1h")],
        )
        .unwrap();
        let dep = Dependency::Pki {
            path: "pki/issue/r".into(),
            dest: "/vault/secrets/cert.pem".into(),
            params: vec![
                ("common_name".into(), "a".into()),
                ("ttl".into(), "1h".into()),
            ],
        };
        assert_eq!(h.missing, vec![dep.clone()]);
        h.ctx.data.insert(
            dep,
            Ok(Fetched::Pki {
                cert: "C\n".into(),
                key: "K\n".into(),
                ca: "A\n".into(),
                ca_chain: vec!["A\n".into()],
            }),
        );
        let v = h
            .call(
                "pkiCert",
                &[s("pki/issue/r"), s("ttl=1h"), s("common_name=a")],
            )
            .unwrap();
        let Value::Object(o) = &v else { panic!() };
        assert_eq!(o.field("Cert").unwrap().print(), "C\n");
        assert_eq!(o.field("CAChain").unwrap().print(), "[A\n]");
        let Some(Ok(Value::Object(d))) = o.method("Data", &[]) else {
            panic!()
        };
        assert_eq!(d.field("Key").unwrap().print(), "K\n");
        assert!(o.method("Nope", &[]).is_none());
    }

    #[test]
    fn file_reads_through_the_context_inside_the_sandbox() {
        let mut h = Harness::default();
        assert_eq!(h.call("file", &[s("")]).unwrap().print(), "");
        assert!(h.used.is_empty());
        assert_eq!(
            h.call("file", &[s("/etc/x/../app.conf")]).unwrap().print(),
            ""
        );
        let dep = Dependency::File {
            path: "/etc/app.conf".into(),
        };
        assert_eq!(h.missing, vec![dep.clone()]);
        h.ctx.data.insert(dep, Ok(Fetched::File("hello".into())));
        assert_eq!(
            h.call("file", &[s("/etc/app.conf")]).unwrap().print(),
            "hello"
        );

        h.opts.sandbox_path = Some("/nonexistent-sandbox/a".into());
        assert_eq!(
            h.call("file", &[s("/nonexistent-sandbox/b/f")])
                .unwrap_err(),
            "'/nonexistent-sandbox/b/f' is outside of sandbox"
        );
        assert_eq!(
            h.call("file", &[s("/nonexistent-sandbox/a/../../etc/passwd")])
                .unwrap_err(),
            "'/nonexistent-sandbox/a/../../etc/passwd' is outside of sandbox"
        );
        assert!(
            h.call("file", &[s("/nonexistent-sandbox/a/in.txt")])
                .is_ok()
        );
        assert!(
            h.call("file", &[s("relative.txt")])
                .unwrap_err()
                .contains("relative")
        );
    }

    #[test]
    fn symlinks_out_of_the_sandbox_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sb = dir.path().join("sb");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&sb).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, sb.join("link")).unwrap();
        std::fs::write(sb.join("ok.txt"), "x").unwrap();
        let disk = FakeCtx {
            disk: true,
            ..FakeCtx::default()
        };
        let inside = format!("{}/ok.txt", sb.display());
        assert!(
            sandboxed(&disk, Some(&sb), &inside)
                .unwrap()
                .ends_with("/sb/ok.txt")
        );
        for escaping in ["link/secret.txt", "link/not-yet/x"] {
            let p = format!("{}/{escaping}", sb.display());
            assert_eq!(
                sandboxed(&disk, Some(&sb), &p).unwrap_err(),
                format!("'{p}' is outside of sandbox")
            );
        }
        let later = format!("{}/later/x.txt", sb.display());
        assert!(sandboxed(&disk, Some(&sb), &later).is_ok());
    }

    #[test]
    fn the_sandbox_check_resolves_links_through_the_context() {
        /// A file system of `/sb` (a directory) and `/sb/link` (a link to `/elsewhere`).
        struct Links;
        impl Context for Links {
            fn fetch(&mut self, _dep: &Dependency) -> Option<Result<Fetched, String>> {
                None
            }
            fn env(&self, _name: &str) -> Option<String> {
                None
            }
            fn now(&self) -> std::time::SystemTime {
                std::time::UNIX_EPOCH
            }
            fn real_path(&self, path: &Path) -> Option<PathBuf> {
                match path.to_str()? {
                    "/" | "/sb" => Some(path.to_path_buf()),
                    "/sb/link" => Some("/elsewhere".into()),
                    _ => None,
                }
            }
        }
        assert_eq!(
            sandboxed(&Links, Some(Path::new("/sb")), "/sb/a/x").unwrap(),
            "/sb/a/x"
        );
        assert_eq!(
            sandboxed(&Links, Some(Path::new("/sb")), "/sb/link/x").unwrap_err(),
            "'/sb/link/x' is outside of sandbox"
        );
        // Without the runtime's links the same path is inside.
        assert!(sandboxed(&FakeCtx::default(), Some(Path::new("/sb")), "/sb/link/x").is_ok());
    }

    #[test]
    fn clean_is_lexical_like_go() {
        assert_eq!(clean("/a/b/../c/./d/"), PathBuf::from("/a/c/d"));
        assert_eq!(clean("/../x"), PathBuf::from("/x"));
        assert_eq!(clean("a/../../b"), PathBuf::from("../b"));
        assert_eq!(clean(""), PathBuf::from("."));
    }
}
