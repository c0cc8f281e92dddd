//! vaultlet-template: the template language — Go's `text/template` dialect with consul-template's
//! functions (agent.md §4) — parsed and evaluated without I/O.
//!
//! Why its own crate: it is half of the agent's code and has nothing to do with the runtime around
//! it (logging in, fetching, writing files). Apart, each side is easy to read on its own, the
//! compiler enforces that the engine does no I/O (it depends on nothing that could do any but
//! `vaultlet-shared`'s types), and other crates (the injector, to check templates; tests) can use
//! exactly the parser the agent runs without pulling in the agent.
//!
//! Why our own engine rather than `gtmpl`: the contract is byte-exact output of Go's engine, which
//! needs Go's `fmt` printing of maps/lists/records, `json.Number` as a string-kind value holding
//! the literal text, records with methods (`pkiCert`'s `.Data`, `scratch`), stateful functions
//! that record dependencies for the runtime, Go's exact error texts, `break`/`continue` and
//! custom delimiters; gtmpl's value model (`gtmpl_value::Value`) has none of json.Number,
//! records with methods or typed nil pointers, and its printing differs.
//!
//! Layout:
//! - this file: the API — [`Template`] (parse once, execute many times), [`Options`],
//!   [`Dependency`] / [`Fetched`], the [`Context`] trait, errors.
//! - [`value`]: the dynamic values and their `%v` printing; [`gostr`]: Go strings that are not UTF-8
//!   (their bytes reach the output).
//! - `lexer`, `parser`, `ast`: text ⇒ tree (positions kept for errors).
//! - `exec`: the evaluator, the built-ins (`and`, `or`, `eq`, `index`, `printf`, …) in `builtins`,
//!   Go `fmt` verbs in `printf`.
//! - [`redact`]: keeps data out of error messages (Go's texts quote values; ours name their type
//!   and length instead — a deliberate difference, docs/differences.md).
//! - `funcs/`: consul-template's functions; those that need data (`secret`, `secrets`, `pkiCert`,
//!   `file`) ask a [`Context`] and record a [`Dependency`].
//!
//! No I/O: everything from outside — Vault data and file contents, environment variables, the
//! clock, symbolic links on the sandbox check — comes through [`Context`], which the agent's
//! rendering runtime (`vaultlet_agent::render`) implements; tests implement it over in-memory data
//! (or a temporary directory). The runtime executes a parsed [`Template`] against its [`Context`];
//! the first pass returns the dependencies still missing (their calls gave nil), the runtime
//! fetches them and executes again until nothing is missing.

pub mod ast;
pub mod builtins;
pub mod exec;
pub mod funcs;
pub mod gostr;
pub mod lexer;
pub mod parser;
pub mod printf;
pub mod redact;
pub mod value;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

pub use value::{Object, Record, Value};

/// Parse and execution options of one template.
#[derive(Clone, Debug)]
pub struct Options {
    /// `left_delimiter`, default `{{`.
    pub left: String,
    /// `right_delimiter`, default `}}`.
    pub right: String,
    /// `error_on_missing_key`: a missing map key is an execution error instead of nil.
    pub missing_key_error: bool,
    /// `function_denylist` globs (`sprig_*`): calling a match fails with `function is disabled`.
    pub denylist: Vec<String>,
    /// `sandbox_path`: `file` (and `writeToFile`) may only touch paths under it.
    pub sandbox_path: Option<PathBuf>,
    /// The destination file (for `pkiCert`'s cache identity, agent.md §5.2), if any.
    pub destination: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            left: "{{".into(),
            right: "}}".into(),
            missing_key_error: false,
            denylist: Vec::new(),
            sandbox_path: None,
            destination: None,
        }
    }
}

/// The name the agent parses every template under: consul-template's `template.New("")`, so errors
/// read `template: :LINE: …` (agent.md §5.6). The injector's admission check (injector.md §2.6)
/// parses under the same name, so its messages are the agent's.
pub const AGENT_TEMPLATE_NAME: &str = "";

impl Options {
    /// The parse options of a `template` stanza's delimiters as the agent reads them: an absent or
    /// empty delimiter is the default (`{{`, `}}`). The one place that rule lives, shared by the
    /// agent and the injector's admission check (injector.md §2.6).
    pub fn with_delimiters(left: Option<&str>, right: Option<&str>) -> Options {
        let pick = |d: Option<&str>, default: &str| {
            d.filter(|d| !d.is_empty()).unwrap_or(default).to_owned()
        };
        Options {
            left: pick(left, "{{"),
            right: pick(right, "}}"),
            ..Options::default()
        }
    }
}

/// What a template depends on; the identity of a fetch shared by all templates (agent.md §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// `secret "p"`: a read. `path` trimmed of spaces and `/`, query string kept.
    Read { path: String },
    /// `secret "p" "k=v"…`: a write; params sorted by key (order and spacing do not matter).
    Write {
        path: String,
        params: Vec<(String, String)>,
    },
    /// `secrets "p"`: a list.
    List { path: String },
    /// `pkiCert "p" "k=v"…`: identity is path + destination; params ride along.
    Pki {
        path: String,
        dest: String,
        params: Vec<(String, String)>,
    },
    /// `file "f"`.
    File { path: String },
}

/// A fetched dependency as the runtime hands it to the template functions.
#[derive(Clone, Debug)]
pub enum Fetched {
    /// A Vault answer (read or write); `None` for an empty answer (a KV v1 write).
    Secret(Option<Arc<vaultlet_shared::vault::Secret>>),
    /// A list's keys, sorted.
    List(Vec<String>),
    /// A certificate bundle for `pkiCert` (PEM blocks, each ending in `\n`).
    Pki {
        cert: String,
        key: String,
        ca: String,
        ca_chain: Vec<String>,
    },
    /// File contents.
    File(String),
}

/// What template functions may ask of the runtime: the engine's only window on the world. Implemented
/// by the agent's rendering runtime (`vaultlet_agent::render`); tests implement it over in-memory
/// data.
pub trait Context {
    /// The current value of a dependency; `None` when it has not been fetched yet. `Some(Err)` is a
    /// fetch error the function reports as its own error.
    fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>>;
    /// An environment variable of the agent process.
    fn env(&self, name: &str) -> Option<String>;
    /// The current time (injected so tests are deterministic).
    fn now(&self) -> SystemTime;
    /// `path` with every symbolic link resolved (as `realpath(3)` does), or `None` when it does
    /// not exist or cannot be resolved. The `file` function's
    /// `sandbox_path` check (agent.md §1.7) asks it, so a link out of the sandbox is refused.
    fn real_path(&self, path: &Path) -> Option<PathBuf>;
}

/// What one function call sees besides its arguments.
pub struct CallEnv<'a> {
    /// The runtime's data and environment.
    pub ctx: &'a mut dyn Context,
    /// The template's options (denylist, sandbox, destination…).
    pub opts: &'a Options,
    /// Dependencies this execution used, in call order (duplicates allowed; the runtime dedups).
    pub used: &'a mut Vec<Dependency>,
    /// Dependencies whose data has not arrived yet (their call returned nil).
    pub missing: &'a mut Vec<Dependency>,
    /// This execution's scratch pad, created by the first `scratch` call.
    pub scratch: &'a mut Option<Value>,
}

/// A template function: Go's `func(args…) (value, error)`. `Err(msg)` becomes Go's
/// `error calling NAME: msg`. Each function checks its own argument count and types with Go's
/// messages (`wrong number of args for NAME: want 1 got 2`, [`Value::expect_str`]).
pub type Func = fn(&mut CallEnv<'_>, &[Value]) -> Result<Value, String>;

/// A parse or execution error, in Go's words with the template name, line and column:
/// `template: NAME:LINE:COL: executing "NAME" at <.Data.foo>: map has no entry for key "foo"`.
/// An execution error never carries a value from the data: where Go's text quotes one, ours
/// names its type and length (`parsing <string, 8 bytes>`), see [`redact`].
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum TemplateError {
    #[error("parse: {0}")]
    Parse(String),
    #[error("execute: {0}")]
    Execute(String),
}

/// The outcome of one execution.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub text: String,
    /// The exact output when it is not valid UTF-8 (a Go string of arbitrary bytes was written,
    /// [`gostr`]); `text` then has U+FFFD in their place. Write [`Rendered::bytes`].
    pub binary: Option<Vec<u8>>,
    /// Every dependency the execution touched, in call order.
    pub used: Vec<Dependency>,
    /// Dependencies not yet fetched; when non-empty the text is incomplete and must not be written.
    pub missing: Vec<Dependency>,
}

impl Rendered {
    /// The output's bytes, as they are to be written.
    pub fn bytes(&self) -> &[u8] {
        self.binary.as_deref().unwrap_or(self.text.as_bytes())
    }
}

/// A parsed template: immutable, `Send + Sync`, executed many times.
#[derive(Debug)]
pub struct Template {
    prog: exec::Program,
}

impl Template {
    /// Parses `text` with consul-template's functions. Errors are Go's
    /// (`template: NAME:LINE: function "x" not defined`).
    pub fn parse(name: &str, text: &str, opts: Options) -> Result<Template, TemplateError> {
        Template::parse_with(name, text, opts, &exec::default_lookup)
    }

    /// Parses with a caller-supplied table of non-builtin functions (tests, embedding).
    pub fn parse_with(
        name: &str,
        text: &str,
        opts: Options,
        lookup: parser::Lookup<'_>,
    ) -> Result<Template, TemplateError> {
        let parsed = parser::parse(name, text, &opts.left, &opts.right, &opts.denylist, lookup)
            .map_err(TemplateError::Parse)?;
        Ok(Template {
            prog: exec::Program {
                name: name.to_string(),
                text: Arc::from(text),
                root: parsed.root,
                defines: parsed.defines,
                opts,
            },
        })
    }

    /// Runs the template with dot = nil. A function that returns nil because its data has not
    /// arrived records the dependency in `missing`; the text is then incomplete.
    pub fn execute(&self, ctx: &mut dyn Context) -> Result<Rendered, TemplateError> {
        self.try_execute(ctx).map_err(|f| f.error)
    }

    /// [`Template::execute`] that keeps the dependencies recorded before a failure: an error
    /// while `missing` is non-empty usually means "not ready yet" (e.g. `(secret "x").Data.k`
    /// with `error_on_missing_key` on the first pass), not a broken template.
    pub fn try_execute(&self, ctx: &mut dyn Context) -> Result<Rendered, Failed> {
        let out = exec::execute(&self.prog, ctx);
        match out.result {
            Ok(text) => Ok(Rendered {
                text: match &out.binary {
                    Some(b) => gostr::lossy(b),
                    None => text,
                },
                binary: out.binary,
                used: out.used,
                missing: out.missing,
            }),
            // Upstream passes the execution error's text through Go's `fmt` once more as a
            // format, so a `%` in it reads as a verb (`100%d` => `100%!d(MISSING)`); ours too.
            Err(e) => Err(Failed {
                error: TemplateError::Execute(printf::sprintf(&e, &[]).into_lossy()),
                used: out.used,
                missing: out.missing,
            }),
        }
    }

    pub fn options(&self) -> &Options {
        &self.prog.opts
    }
}

/// A failed execution with what it recorded before failing.
#[derive(Clone, Debug)]
pub struct Failed {
    pub error: TemplateError,
    pub used: Vec<Dependency>,
    pub missing: Vec<Dependency>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_default_when_absent_or_empty_and_errors_carry_the_agents_name() {
        let o = Options::with_delimiters(None, Some(""));
        assert_eq!((o.left.as_str(), o.right.as_str()), ("{{", "}}"));
        let o = Options::with_delimiters(Some("[["), Some("]]"));
        assert_eq!((o.left.as_str(), o.right.as_str()), ("[[", "]]"));
        assert!(Template::parse(AGENT_TEMPLATE_NAME, "{{ [[ .x ]]", o.clone()).is_ok());
        let e = Template::parse(AGENT_TEMPLATE_NAME, "[[ .x ", o).unwrap_err();
        assert!(e.to_string().starts_with("parse: template: :1: "), "{e}");
    }
}
