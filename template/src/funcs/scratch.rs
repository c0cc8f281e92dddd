//! `scratch`: a per-execution key/value pad with methods `Key`, `Get`, `Set`, `SetX`, `MapSet`,
//! `MapSetX`, `MapValues` (agent.md §4.5). One pad per execution, created by the first call. Its
//! keys, and those of the maps `MapSet` makes, are the Go strings' bytes (agent.md §4.5.3).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::args;
use crate::gostr;
use crate::value::Key;
use crate::{CallEnv, Func, Object, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    (name == "scratch").then_some(scratch as Func)
}

fn scratch(env: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("scratch", a, 0)?;
    Ok(env
        .scratch
        .get_or_insert_with(|| Value::Object(Arc::new(Scratch::default())))
        .clone())
}

/// Go's `*template.Scratch`.
#[derive(Debug, Default)]
pub struct Scratch {
    values: Mutex<BTreeMap<Key, Value>>,
}

impl Scratch {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<Key, Value>) -> T) -> T {
        let mut guard = self.values.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    fn call(&self, name: &str, a: &[Value]) -> Result<Value, String> {
        match name {
            "Key" => {
                args::arity(name, a, 1)?;
                let k = args::string_bytes(&a[0])?;
                Ok(Value::Bool(self.with(|m| m.contains_key(k))))
            }
            "Get" => {
                args::arity(name, a, 1)?;
                let k = args::string_bytes(&a[0])?;
                Ok(self.with(|m| m.get(k).cloned()).unwrap_or(Value::Nil))
            }
            "Set" | "SetX" => {
                args::arity(name, a, 2)?;
                let k = Key::from_bytes(args::string_bytes(&a[0])?.to_vec());
                let overwrite = name == "Set";
                self.with(|m| {
                    if overwrite || !m.contains_key(&k) {
                        m.insert(k, a[1].clone());
                    }
                });
                Ok(Value::str(""))
            }
            "MapSet" | "MapSetX" => {
                args::arity(name, a, 3)?;
                let k = Key::from_bytes(args::string_bytes(&a[0])?.to_vec());
                let mk = Key::from_bytes(args::string_bytes(&a[1])?.to_vec());
                let overwrite = name == "MapSet";
                self.with(|m| {
                    let entry = m
                        .entry(k.clone())
                        .or_insert_with(|| Value::map(BTreeMap::new()));
                    let Value::Map(inner) = entry else {
                        return Err(format!(
                            "{} is not a map",
                            gostr::quote(k.as_bytes(), false)
                        ));
                    };
                    if overwrite || !inner.contains_key(&mk) {
                        Arc::make_mut(inner).insert(mk, a[2].clone());
                    }
                    Ok(Value::str(""))
                })
            }
            "MapValues" => {
                args::arity(name, a, 1)?;
                let k = args::string_bytes(&a[0])?;
                Ok(self.with(|m| match m.get(k) {
                    Some(Value::Map(inner)) => Value::list(inner.values().cloned().collect()),
                    // Go's `MapValues` gives a nil `[]interface {}` then.
                    _ => Value::NilAnyList,
                }))
            }
            _ => unreachable!("checked by method()"),
        }
    }
}

const METHODS: [&str; 7] = [
    "Key",
    "Get",
    "Set",
    "SetX",
    "MapSet",
    "MapSetX",
    "MapValues",
];

impl Object for Scratch {
    fn type_name(&self) -> &'static str {
        "*template.Scratch"
    }
    fn method(&self, name: &str, a: &[Value]) -> Option<Result<Value, String>> {
        METHODS.contains(&name).then(|| self.call(name, a))
    }
    fn print(&self) -> String {
        // Go prints `&{{0 0} {…mutex…} map[…]}`; only the values are meaningful.
        self.with(|m| {
            format!(
                "&{{map[{}]}}",
                m.iter()
                    .map(|(k, v)| format!("{}:{}", k.text(), v.print()))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn m(o: &Value, name: &str, a: &[Value]) -> Result<Value, String> {
        let Value::Object(o) = o else { panic!() };
        o.method(name, a).expect("method exists")
    }

    #[test]
    fn one_pad_per_execution() {
        let mut h = Harness::default();
        let p = h.call("scratch", &[]).unwrap();
        m(&p, "Set", &[s("a"), i(1)]).unwrap();
        let again = h.call("scratch", &[]).unwrap();
        assert_eq!(m(&again, "Get", &[s("a")]).unwrap().print(), "1");
        assert!(matches!(
            m(&again, "Get", &[s("nope")]).unwrap(),
            Value::Nil
        ));
        assert_eq!(m(&again, "Key", &[s("a")]).unwrap().print(), "true");
        assert_eq!(m(&again, "Key", &[s("b")]).unwrap().print(), "false");
        m(&again, "SetX", &[s("a"), i(2)]).unwrap();
        assert_eq!(m(&again, "Get", &[s("a")]).unwrap().print(), "1");
        m(&again, "Set", &[s("a"), i(3)]).unwrap();
        assert_eq!(m(&again, "Get", &[s("a")]).unwrap().print(), "3");
        assert_eq!(
            Harness::default()
                .call("scratch", &[])
                .map(|v| v.type_name())
                .unwrap(),
            "*template.Scratch"
        );
    }

    #[test]
    fn map_helpers() {
        let p = call("scratch", &[]).unwrap();
        m(&p, "MapSet", &[s("m"), s("b"), s("2")]).unwrap();
        m(&p, "MapSet", &[s("m"), s("a"), s("1")]).unwrap();
        m(&p, "MapSetX", &[s("m"), s("a"), s("x")]).unwrap();
        assert_eq!(m(&p, "MapValues", &[s("m")]).unwrap().print(), "[1 2]");
        assert_eq!(m(&p, "Get", &[s("m")]).unwrap().print(), "map[a:1 b:2]");
        m(&p, "Set", &[s("x"), s("str")]).unwrap();
        assert_eq!(
            m(&p, "MapSet", &[s("x"), s("k"), s("v")]).unwrap_err(),
            "\"x\" is not a map"
        );
        assert!(matches!(
            m(&p, "MapValues", &[s("x")]).unwrap(),
            Value::NilAnyList
        ));
        assert_eq!(
            m(&p, "Set", &[s("x")]).unwrap_err(),
            "wrong number of args for Set: want 2 got 1"
        );
        let Value::Object(o) = &p else { panic!() };
        assert!(o.method("Values", &[]).is_none());
    }
}
