//! The process environment and the clock: `env`, `mustEnv`, `envOrDefault`, `timestamp`
//! (agent.md §4.5). Both come from the [`Context`](crate::Context) so tests are hermetic.

use super::{args, timefmt};
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "env" => env,
        "mustEnv" => must_env,
        "envOrDefault" => env_or_default,
        "timestamp" => timestamp,
        _ => return None,
    })
}

fn env(e: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("env", a, 1)?;
    Ok(Value::str(
        e.ctx.env(args::string(&a[0])?).unwrap_or_default(),
    ))
}

fn must_env(e: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("mustEnv", a, 1)?;
    let name = args::string(&a[0])?;
    match e.ctx.env(name) {
        Some(v) if !v.is_empty() => Ok(Value::str(v)),
        _ => Err(format!("required environment variable {name} is empty")),
    }
}

fn env_or_default(e: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("envOrDefault", a, 2)?;
    let (name, def) = (args::string(&a[0])?, args::string(&a[1])?);
    Ok(match e.ctx.env(name) {
        Some(v) => Value::str(v),
        // The default as given, also a string that is not UTF-8 (agent.md §4.5.3).
        None if crate::gostr::invalid_utf8(&a[1]).is_some() => a[1].clone(),
        None => Value::str(def),
    })
}

fn timestamp(e: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let s = args::strings(a)?;
    let now = e.ctx.now();
    match s.as_slice() {
        [] => Ok(Value::str(timefmt::format(now, timefmt::RFC3339))),
        ["unix"] => Ok(Value::str(timefmt::unix_parts(now).0.to_string())),
        [layout] => Ok(Value::str(timefmt::format(now, layout))),
        _ => Err(format!(
            "timestamp: wrong number of arguments, expected 0 or 1, but got {}",
            s.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn environment_lookups() {
        let mut h = Harness::default();
        h.ctx.env.insert("HOME".into(), "/root".into());
        h.ctx.env.insert("EMPTY".into(), String::new());
        assert_eq!(h.call("env", &[s("HOME")]).unwrap().print(), "/root");
        assert_eq!(h.call("env", &[s("UNSET")]).unwrap().print(), "");
        assert_eq!(h.call("mustEnv", &[s("HOME")]).unwrap().print(), "/root");
        assert_eq!(
            h.call("mustEnv", &[s("EMPTY")]).unwrap_err(),
            "required environment variable EMPTY is empty"
        );
        assert_eq!(
            h.call("mustEnv", &[s("UNSET")]).unwrap_err(),
            "required environment variable UNSET is empty"
        );
        assert_eq!(
            h.call("envOrDefault", &[s("EMPTY"), s("d")])
                .unwrap()
                .print(),
            ""
        );
        assert_eq!(
            h.call("envOrDefault", &[s("UNSET"), s("d")])
                .unwrap()
                .print(),
            "d"
        );
    }

    #[test]
    fn timestamps_use_the_context_clock() {
        let mut h = Harness::default();
        h.ctx.now_unix = 1_795_344_509;
        assert_eq!(
            h.call("timestamp", &[]).unwrap().print(),
            "2026-11-22T10:48:29Z"
        );
        assert_eq!(
            h.call("timestamp", &[s("unix")]).unwrap().print(),
            "1795344509"
        );
        assert_eq!(
            h.call("timestamp", &[s("2006-01-02")]).unwrap().print(),
            "2026-11-22"
        );
        assert_eq!(
            h.call("timestamp", &[s("a"), s("b")]).unwrap_err(),
            "timestamp: wrong number of arguments, expected 0 or 1, but got 2"
        );
    }
}
