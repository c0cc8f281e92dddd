//! consul-template's functions (agent.md §4.5), found by name for the engine.
//!
//! Each family lives in its own module and answers `lookup` for the names it owns; this module
//! chains them. The engine treats a name unknown here (and not a built-in) as a parse error, so
//! every supported name must be listed by some family.

pub mod args;
pub mod collections;
pub mod consul;
pub mod encoding;
pub mod env;
pub mod go_x509;
pub mod math;
pub mod parse;
pub mod scratch;
pub mod serialize;
pub mod sprig;
pub mod sprig_crypto;
pub mod sprig_more;
pub mod sprig_time;
pub mod strings;
pub mod timefmt;
pub mod vault;
pub mod yaml;

use super::Func;

/// The function called `name` in templates, if consul-template (as Vault Agent ships it) has one.
pub fn lookup(name: &str) -> Option<Func> {
    vault::lookup(name)
        .or_else(|| strings::lookup(name))
        .or_else(|| encoding::lookup(name))
        .or_else(|| serialize::lookup(name))
        .or_else(|| parse::lookup(name))
        .or_else(|| math::lookup(name))
        .or_else(|| collections::lookup(name))
        .or_else(|| env::lookup(name))
        .or_else(|| scratch::lookup(name))
        .or_else(|| sprig::lookup(name))
        .or_else(|| consul::lookup(name))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A fake runtime for calling functions directly in unit tests.
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use crate::{CallEnv, Context, Dependency, Fetched, Options, Value};

    #[derive(Default)]
    pub struct FakeCtx {
        pub data: HashMap<Dependency, Result<Fetched, String>>,
        pub env: HashMap<String, String>,
        pub now_unix: u64,
        /// Resolve symbolic links on the real file system (a test's temporary directory); off,
        /// no path exists (links are only a file system's).
        pub disk: bool,
    }

    impl Context for FakeCtx {
        fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>> {
            self.data.get(dep).cloned()
        }
        fn env(&self, name: &str) -> Option<String> {
            self.env.get(name).cloned()
        }
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(self.now_unix)
        }
        fn real_path(&self, path: &Path) -> Option<PathBuf> {
            self.disk
                .then(|| std::fs::canonicalize(path).ok())
                .flatten()
        }
    }

    /// Everything a call needs, owned.
    #[derive(Default)]
    pub struct Harness {
        pub ctx: FakeCtx,
        pub opts: Options,
        pub used: Vec<Dependency>,
        pub missing: Vec<Dependency>,
        pub scratch: Option<Value>,
    }

    impl Harness {
        pub fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
            let f = super::lookup(name).unwrap_or_else(|| panic!("no function {name}"));
            let mut env = CallEnv {
                ctx: &mut self.ctx,
                opts: &self.opts,
                used: &mut self.used,
                missing: &mut self.missing,
                scratch: &mut self.scratch,
            };
            f(&mut env, args)
        }
    }

    /// Calls `name` with a fresh harness.
    pub fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        Harness::default().call(name, args)
    }

    /// Calls `name` and prints the result as an action would.
    pub fn show(name: &str, args: &[Value]) -> String {
        match call(name, args) {
            Ok(v) => v.print_top(),
            Err(e) => format!("ERR {e}"),
        }
    }

    pub fn s(x: &str) -> Value {
        Value::str(x)
    }

    /// A Go string of these bytes (`crate::gostr`).
    pub fn bin(b: &[u8]) -> Value {
        crate::gostr::from_bytes(b.to_vec())
    }

    /// Calls `name` and gives the bytes of the string it returns (or `ERR …`).
    pub fn bytes(name: &str, args: &[Value]) -> Vec<u8> {
        match call(name, args) {
            Ok(v) => match crate::gostr::bytes(&v) {
                Some(b) => b.to_vec(),
                None => v.print_top().into_bytes(),
            },
            Err(e) => format!("ERR {e}").into_bytes(),
        }
    }

    pub fn i(x: i64) -> Value {
        Value::Int(x)
    }

    pub fn json(text: &str) -> Value {
        Value::from_json(&vaultlet_shared::json::Json::parse(text).unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_name_is_known() {
        for name in [
            "secret",
            "secrets",
            "pkiCert",
            "file",
            "base64Encode",
            "base64Decode",
            "base64URLEncode",
            "base64URLDecode",
            "toJSON",
            "toJSONPretty",
            "toUnescapedJSON",
            "toUnescapedJSONPretty",
            "toYAML",
            "toTOML",
            "toLower",
            "toUpper",
            "toTitle",
            "trimSpace",
            "trim",
            "trimPrefix",
            "trimSuffix",
            "replaceAll",
            "regexReplaceAll",
            "regexMatch",
            "split",
            "join",
            "splitToMap",
            "contains",
            "in",
            "containsAll",
            "containsAny",
            "containsNone",
            "containsNotAll",
            "indent",
            "env",
            "mustEnv",
            "envOrDefault",
            "timestamp",
            "parseJSON",
            "parseYAML",
            "parseBool",
            "parseInt",
            "parseUint",
            "parseFloat",
            "add",
            "subtract",
            "multiply",
            "divide",
            "modulo",
            "minimum",
            "maximum",
            "loop",
            "mergeMap",
            "mergeMapWithOverride",
            "explodeMap",
            "sha256Hex",
            "md5sum",
            "hmacSHA256Hex",
            "scratch",
            "key",
            "service",
            "nomadVar",
            "sprig_upper",
            "sprig_default",
            "sprig_b64enc",
            "sprig_dict",
            "sprig_list",
            "sprig_toJson",
            "sprig_trunc",
            "sprig_quote",
            "sprig_sha256sum",
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
        for name in [
            "nope",
            "sprig_now",
            "sprig_env",
            "sprig_randAlpha",
            "sprig_uuidv4",
            "printf",
        ] {
            assert!(lookup(name).is_none(), "{name}");
        }
    }
}
