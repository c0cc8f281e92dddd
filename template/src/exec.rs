//! The evaluator: walks a parsed template against a [`Context`], with Go `text/template`'s
//! semantics for dot, variables, field chains, pipelines, control structures and built-ins, and
//! its error texts `template: NAME:LINE:COL: executing "NAME" at <NODE>: …` (agent.md §4.1–4.3).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::ast::{Arg, Branch, Builtin, Callee, Cmd, List, Node, Num, Pipe};
use super::builtins;
use super::printf::{sprint, sprintf, sprintf_bytes, sprintln};
use super::{CallEnv, Context, Dependency, Options, Value};

/// Deepest nesting while executing: `{{template}}`/`executeTemplate` calls, `if`/`with`/`range`
/// bodies and pipelines (parenthesized ones nest) each count one level. Go counts only template
/// calls and allows 100000 (its stacks grow); ours is the native stack, so the bound keeps it safe:
/// `tests::deepest_recursion_fits_the_agents_stack` recurses to it on a thread with the agent's
/// 8 MiB main-thread stack. Beyond it, Go's error `exceeded maximum template depth (1000)`.
pub const MAX_DEPTH: usize = 1000;

/// Most bytes one execution may write (its output, and text captured by `executeTemplate`), and
/// the largest string a function or `printf` may return: beyond it the execution fails
/// (`output exceeds the limit of 67108864 bytes`) instead of exhausting memory. Go has no
/// such limit.
pub const MAX_OUTPUT: usize = 64 << 20;

/// Deepest nesting of lists and maps a function may return (`{{ $l = list $l }}` in a loop):
/// printing and dropping a value recurse over it, so a deeper one fails the call
/// (`result nests deeper than 512 levels`). Secrets parse to at most 512 levels too (`json.rs`).
pub const MAX_VALUE_NESTING: usize = 512;

/// Most `range` iterations one execution may run, over all `range` actions together (integers,
/// lists, maps, channels): `{{range 1000000000000}}` or nested ranges fail (`range: more than
/// 10000000 iterations`) instead of running for hours. Go has no such limit.
pub const MAX_RANGE_ITERATIONS: u64 = 10_000_000;

/// A parsed template ready to execute.
#[derive(Debug)]
pub struct Program {
    pub name: String,
    pub text: Arc<str>,
    pub root: List,
    pub defines: HashMap<Arc<str>, Arc<List>>,
    pub opts: Options,
}

/// Why evaluation stopped early.
pub enum Flow {
    Break,
    Continue,
    Error(String),
}

type R<T> = Result<T, Flow>;

/// The node an error is reported at (Go's `state.node`).
#[derive(Clone, Copy)]
enum At<'a> {
    None,
    Node(&'a Node),
    Pipe(&'a Pipe),
    Cmd(&'a Cmd),
    Arg(&'a Arg),
}

impl At<'_> {
    fn pos(&self) -> Option<usize> {
        match self {
            At::None => None,
            At::Node(n) => Some(node_pos(n)),
            At::Pipe(p) => Some(p.pos),
            At::Cmd(c) => Some(c.pos),
            At::Arg(a) => Some(a.pos()),
        }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::None => Ok(()),
            At::Node(n) => write!(f, "{n}"),
            At::Pipe(p) => write!(f, "{p}"),
            At::Cmd(c) => write!(f, "{c}"),
            At::Arg(a) => write!(f, "{a}"),
        }
    }
}

/// Where Go reports an argument that does not fit its parameter (`validateType`, agent.md §5.7):
/// at the last node evaluated before the check — for the first argument that fails, the last
/// node its evaluation visited (`(secret "p").Data.k` ⇒ `<"p">`); for the piped final value,
/// the last argument's, or the function's name when there is none. `None`: not found.
fn arg_error_at<'a>(m: &str, vals: &[Value], ats: &[At<'a>], ident_at: At<'a>) -> Option<At<'a>> {
    let bad = if m.starts_with("invalid value; ") {
        vals.iter().position(|v| matches!(v, Value::Nil))?
    } else {
        let got = m.rsplit_once("; got ")?.1;
        vals.iter().position(|v| v.type_name() == got)?
    };
    Some(match ats.get(bad) {
        Some(at) => *at,
        None => ats.last().copied().unwrap_or(ident_at),
    })
}

fn node_pos(n: &Node) -> usize {
    match n {
        Node::Text(_) => 0,
        Node::Action { pos, .. }
        | Node::Template { pos, .. }
        | Node::Break(pos)
        | Node::Continue(pos) => *pos,
        Node::If(b) | Node::With(b) | Node::Range(b) => b.pos,
    }
}

struct Var {
    name: Arc<str>,
    value: Value,
    /// The value came out of a map or list element (Go: an `interface{}`), so a nil is a nil
    /// interface and field access on it is an error.
    boxed: bool,
}

/// The outcome of one run: the output (or Go's error) and what the functions recorded, which
/// is kept even when execution fails.
pub struct Outcome {
    pub result: Result<String, String>,
    /// The exact output when a string that is not valid UTF-8 was written (`crate::gostr`).
    pub binary: Option<Vec<u8>>,
    pub used: Vec<Dependency>,
    pub missing: Vec<Dependency>,
}

/// Resolves a consul-template function name (`funcs/`); the engine's default lookup.
pub fn default_lookup(name: &str) -> Option<super::Func> {
    super::funcs::lookup(name)
}

/// Executes `prog` with dot = nil.
pub fn execute(prog: &Program, ctx: &mut dyn Context) -> Outcome {
    let mut used = Vec::new();
    let mut missing = Vec::new();
    let mut scratch = None;
    let mut st = State {
        prog,
        tmpl_name: &prog.name,
        vars: vec![Var {
            name: "$".into(),
            value: Value::Nil,
            boxed: false,
        }],
        dots: Vec::new(),
        out: String::with_capacity(prog.text.len() + 64),
        raw: Vec::new(),
        ctx,
        used: &mut used,
        missing: &mut missing,
        scratch: &mut scratch,
        at: At::None,
        depth: 0,
        written: 0,
        iterations: 0,
    };
    let result = match st.walk_list(&Value::Nil, false, &prog.root) {
        Ok(()) => Ok(std::mem::take(&mut st.out)),
        Err(Flow::Error(e)) => Err(e),
        Err(_) => Err(st.fail("internal error: break or continue outside range")),
    };
    let binary = match &result {
        Ok(text) if !st.raw.is_empty() => Some(crate::gostr::splice(text, &st.raw)),
        _ => None,
    };
    Outcome {
        result,
        binary,
        used,
        missing,
    }
}

struct State<'a, 'c> {
    prog: &'a Program,
    tmpl_name: &'a str,
    vars: Vec<Var>,
    /// The dots of the lists being walked that hold maps or lists, innermost last.
    dots: Vec<Value>,
    out: String,
    /// Strings that are not valid UTF-8 written to `out`, at their offsets (`crate::gostr`).
    raw: Vec<(usize, Value)>,
    ctx: &'c mut dyn Context,
    used: &'c mut Vec<Dependency>,
    missing: &'c mut Vec<Dependency>,
    scratch: &'c mut Option<Value>,
    at: At<'a>,
    depth: usize,
    /// Bytes written so far (see [`MAX_OUTPUT`]).
    written: usize,
    /// `range` iterations run so far (see [`MAX_RANGE_ITERATIONS`]).
    iterations: u64,
}

/// A value and whether it is boxed (see [`Var::boxed`]).
type Dot<'v> = (&'v Value, bool);

impl<'a> State<'a, '_> {
    /// Go's `state.errorf`: the message with the template name, position and node.
    fn fail(&self, msg: impl fmt::Display) -> String {
        let name = self.tmpl_name;
        match self.at.pos() {
            None => format!("template: {name}: {msg}"),
            Some(pos) => {
                let text = &self.prog.text[..pos.min(self.prog.text.len())];
                let line = 1 + text.bytes().filter(|&b| b == b'\n').count();
                let col = match text.rfind('\n') {
                    Some(i) => pos - (i + 1),
                    None => pos,
                };
                let context = self.at.to_string();
                format!(
                    "template: {}:{line}:{col}: executing {} at <{context}>: {msg}",
                    self.prog.name,
                    super::lexer::go_quote(name)
                )
            }
        }
    }

    fn err<T>(&self, msg: impl fmt::Display) -> R<T> {
        Err(Flow::Error(self.fail(msg)))
    }

    /// Counts `n` bytes written; past [`MAX_OUTPUT`] the execution fails.
    fn wrote(&mut self, n: usize) -> R<()> {
        self.written += n;
        if self.written > MAX_OUTPUT {
            return self.err(format!("output exceeds the limit of {MAX_OUTPUT} bytes"));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, boxed: bool, list: &'a List) -> R<()> {
        if container_id(dot).is_none() && !matches!(dot, Value::Record(_)) {
            for n in list {
                self.walk(dot, boxed, n)?;
            }
            return Ok(());
        }
        // A dot that holds maps or lists may be changed in place by a Sprig call (see
        // `write_back`): each node reads it afresh from the stack, where the change lands.
        self.dots.push(dot.clone());
        let slot = self.dots.len() - 1;
        let mut r = Ok(());
        for n in list {
            let dot = self.dots[slot].clone();
            r = self.walk(&dot, boxed, n);
            if r.is_err() {
                break;
            }
        }
        self.dots.truncate(slot);
        r
    }

    fn walk(&mut self, dot: &Value, boxed: bool, node: &'a Node) -> R<()> {
        self.at = At::Node(node);
        match node {
            Node::Text(t) => {
                self.out.push_str(t);
                self.wrote(t.len())
            }
            Node::Action { pipe, .. } => {
                let v = self.eval_pipeline((dot, boxed), pipe)?;
                if pipe.decl.is_empty() {
                    self.at = At::Node(node);
                    if let Some(b) = crate::gostr::invalid_utf8(&v) {
                        let n = b.len();
                        self.raw.push((self.out.len(), v));
                        return self.wrote(n);
                    }
                    let before = self.out.len();
                    if matches!(
                        v,
                        Value::List(_)
                            | Value::Strings(_)
                            | Value::Map(_)
                            | Value::StrMap(_)
                            | Value::AnyMap(_)
                    ) {
                        // A list or map may hold strings that are not UTF-8 (`crate::gostr`).
                        let mut t = crate::gostr::GoText {
                            text: std::mem::take(&mut self.out),
                            raw: std::mem::take(&mut self.raw),
                        };
                        v.write_top(&mut t);
                        (self.out, self.raw) = (t.text, t.raw);
                    } else {
                        v.write_top(&mut self.out);
                    }
                    return self.wrote(self.out.len() - before);
                }
                Ok(())
            }
            Node::If(b) => self.walk_if_with(dot, boxed, b, false),
            Node::With(b) => self.walk_if_with(dot, boxed, b, true),
            Node::Range(b) => self.walk_range(dot, boxed, b),
            Node::Template { name, pipe, .. } => {
                let prog = self.prog;
                let Some(list) = prog.defines.get(name) else {
                    return self.err(format!(
                        "template {} not defined",
                        super::lexer::go_quote(name)
                    ));
                };
                if self.depth >= MAX_DEPTH {
                    return self.err(format!("exceeded maximum template depth ({MAX_DEPTH})"));
                }
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline((dot, boxed), p)?,
                    None => Value::Nil,
                };
                self.run_nested(name, new_dot, list)
            }
            Node::Break(_) => Err(Flow::Break),
            Node::Continue(_) => Err(Flow::Continue),
        }
    }

    /// Runs a defined template with a fresh variable scope; its output goes to `self.out`.
    fn run_nested(&mut self, name: &'a str, dot: Value, list: &'a List) -> R<()> {
        let saved_vars = std::mem::replace(
            &mut self.vars,
            vec![Var {
                name: "$".into(),
                value: dot.clone(),
                boxed: false,
            }],
        );
        let saved_name = std::mem::replace(&mut self.tmpl_name, name);
        self.depth += 1;
        let r = self.walk_list(&dot, false, list);
        self.depth -= 1;
        self.tmpl_name = saved_name;
        self.vars = saved_vars;
        match r {
            Err(Flow::Break | Flow::Continue) => Ok(()),
            r => r,
        }
    }

    /// One level deeper (see [`MAX_DEPTH`]); the caller calls [`Self::leave`] after.
    fn enter(&mut self) -> R<()> {
        if self.depth >= MAX_DEPTH {
            return self.err(format!("exceeded maximum template depth ({MAX_DEPTH})"));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave<T>(&mut self, r: R<T>) -> R<T> {
        self.depth -= 1;
        r
    }

    fn walk_if_with(&mut self, dot: &Value, boxed: bool, b: &'a Branch, is_with: bool) -> R<()> {
        self.enter()?;
        let r = self.walk_if_with_inner(dot, boxed, b, is_with);
        self.leave(r)
    }

    fn walk_if_with_inner(
        &mut self,
        dot: &Value,
        boxed: bool,
        b: &'a Branch,
        is_with: bool,
    ) -> R<()> {
        let mark = self.vars.len();
        let r = (|| {
            let v = self.eval_pipeline((dot, boxed), &b.pipe)?;
            if v.truthy() {
                if is_with {
                    self.walk_list(&v, false, &b.list)
                } else {
                    self.walk_list(dot, boxed, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk_list(dot, boxed, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn walk_range(&mut self, dot: &Value, boxed: bool, b: &'a Branch) -> R<()> {
        self.enter()?;
        let outer = self.vars.len();
        let r = self.walk_range_inner(dot, boxed, b);
        let r = self.leave(r);
        self.vars.truncate(outer);
        match r {
            Err(Flow::Break) => Ok(()),
            r => r,
        }
    }

    fn walk_range_inner(&mut self, dot: &Value, boxed: bool, b: &'a Branch) -> R<()> {
        let val = self.eval_pipeline((dot, boxed), &b.pipe)?;
        let mark = self.vars.len();
        let ndecl = b.pipe.decl.len();
        let mut ran = false;
        match &val {
            Value::List(items) | Value::Strings(items) | Value::Ints(items) => {
                for (i, e) in items.iter().enumerate() {
                    ran = true;
                    self.iteration(b, mark, Value::Int(i as i64), e.clone(), true)?;
                }
            }
            Value::Map(m) | Value::StrMap(m) => {
                for (k, e) in m.iter() {
                    ran = true;
                    self.iteration(b, mark, k.to_value(), e.clone(), true)?;
                }
            }
            Value::AnyMap(m) => {
                for (k, e) in m.iter() {
                    ran = true;
                    self.iteration(b, mark, k.clone(), e.clone(), true)?;
                }
            }
            Value::Int(_) | Value::Int64(_) | Value::Uint(_) => {
                if ndecl > 1 {
                    // Go prints the value; unless written in the template, it may be a secret
                    // (crate::redact).
                    let literal = matches!(&b.pipe.cmds[..], [c] if matches!(&c.args[..], [Arg::Number { .. }]));
                    let shown = if literal {
                        val.print()
                    } else {
                        crate::redact::placeholder(val.type_name(), val.print().len())
                    };
                    return self.err(format!(
                        "can't use {shown} to iterate over more than one variable"
                    ));
                }
                let n = match val {
                    Value::Int(n) | Value::Int64(n) => n.max(0) as u64,
                    Value::Uint(n) => n,
                    _ => 0,
                };
                for i in 0..n {
                    ran = true;
                    // Go ranges over an integer with values of its type.
                    let iv = match val {
                        Value::Int64(_) => Value::Int64(i as i64),
                        Value::Uint(_) => Value::Uint(i),
                        _ => Value::Int(i as i64),
                    };
                    self.iteration(b, mark, iv.clone(), iv, false)?;
                }
            }
            // A channel (`loop`): with two variables the first is the receive count, an `int`,
            // as in the Go of `bao agent` 2.7.2.
            Value::Object(o) => match o.range_items() {
                Some(items) => {
                    for (i, e) in items.into_iter().enumerate() {
                        ran = true;
                        self.iteration(b, mark, Value::Int(i as i64), e, false)?;
                    }
                }
                None => {
                    return self.err(format!(
                        "range can't iterate over value of type {}",
                        val.type_name()
                    ));
                }
            },
            Value::Nil | Value::NilList | Value::NilAnyList => {}
            // Never print the value itself: it may be a secret.
            other => {
                return self.err(format!(
                    "range can't iterate over value of type {}",
                    other.type_name()
                ));
            }
        }
        if !ran && let Some(e) = &b.else_list {
            return self.walk_list(dot, boxed, e);
        }
        Ok(())
    }

    fn iteration(
        &mut self,
        b: &'a Branch,
        mark: usize,
        index: Value,
        elem: Value,
        boxed: bool,
    ) -> R<()> {
        self.iterations += 1;
        if self.iterations > MAX_RANGE_ITERATIONS {
            return self.err(format!(
                "range: more than {MAX_RANGE_ITERATIONS} iterations"
            ));
        }
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(&decl[0], index.clone(), false)?;
                    self.set_var(&decl[1], elem.clone(), boxed)?;
                } else {
                    self.set_var(&decl[0], elem.clone(), boxed)?;
                }
            } else {
                let top = self.vars.len() - 1;
                self.vars[top].value = elem.clone();
                self.vars[top].boxed = boxed;
                if decl.len() > 1 {
                    self.vars[top - 1].value = index;
                    self.vars[top - 1].boxed = false;
                }
            }
        }
        let r = self.walk_list(&elem, boxed, &b.list);
        self.vars.truncate(mark);
        match r {
            Err(Flow::Continue) => Ok(()),
            r => r,
        }
    }

    fn set_var(&mut self, name: &str, value: Value, boxed: bool) -> R<()> {
        match self.vars.iter_mut().rev().find(|v| &*v.name == name) {
            Some(v) => {
                v.value = value;
                v.boxed = boxed;
                Ok(())
            }
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    /// Sprig's `set`/`unset`/`merge…` change the map they are given, `sortAlpha` the `[]string`
    /// (Go maps and slices are references); ours are values, so every variable and dot that holds
    /// the same map or list (the same allocation: `$e := $d`, `$d.inner`, a range element,
    /// `.Data` inside `with secret …`) gets the changed one instead (agent.md §4.5.1).
    fn write_back(&mut self, old: &Value, new: &Value) {
        let Some(target) = container_id(old) else {
            return;
        };
        for v in &mut self.vars {
            if let Some(updated) = replace_shared(&v.value, target, new) {
                v.value = updated;
            }
        }
        for d in &mut self.dots {
            if let Some(updated) = replace_shared(d, target, new) {
                *d = updated;
            }
        }
    }

    fn var_value(&self, name: &str) -> R<(Value, bool)> {
        match self.vars.iter().rev().find(|v| &*v.name == name) {
            Some(v) => Ok((v.value.clone(), v.boxed)),
            None => self.err(format!("undefined variable: {name}")),
        }
    }

    fn eval_pipeline(&mut self, dot: Dot<'_>, pipe: &'a Pipe) -> R<Value> {
        self.at = At::Pipe(pipe);
        self.enter()?;
        let r = self.eval_pipeline_inner(dot, pipe);
        self.leave(r)
    }

    fn eval_pipeline_inner(&mut self, dot: Dot<'_>, pipe: &'a Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for d in &pipe.decl {
            if pipe.is_assign {
                self.set_var(d, value.clone(), false)?;
            } else {
                self.vars.push(Var {
                    name: d.clone(),
                    value: value.clone(),
                    boxed: false,
                });
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], final_: &Option<Value>) -> R<()> {
        if args.len() > 1 || final_.is_some() {
            return self.err(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: Dot<'_>, cmd: &'a Cmd, final_: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = At::Arg(first);
                self.eval_field_chain(dot, dot.0.clone(), dot.1, first, idents, &cmd.args, final_)
            }
            Arg::Chain { node, idents, .. } => {
                self.at = At::Arg(first);
                if let Arg::Nil(_) = **node {
                    return self.err(format!("indirection through explicit nil in {first}"));
                }
                let recv = self.eval_arg(dot, node)?;
                self.eval_field_chain(dot, recv, false, first, idents, &cmd.args, final_)
            }
            Arg::Variable { name, idents, .. } => {
                self.at = At::Arg(first);
                let (v, boxed) = self.var_value(name)?;
                if idents.is_empty() {
                    self.not_a_function(&cmd.args, &final_)?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, boxed, first, idents, &cmd.args, final_)
            }
            Arg::Ident { name, callee, .. } => {
                self.at = At::Arg(first);
                self.eval_function(dot, name, *callee, cmd, &cmd.args[1..], final_)
            }
            Arg::Pipe(p) => {
                self.not_a_function(&cmd.args, &final_)?;
                self.eval_pipeline(dot, p)
            }
            _ => {
                self.at = At::Arg(first);
                self.not_a_function(&cmd.args, &final_)?;
                match first {
                    Arg::Nil(_) => self.err("nil is not a command"),
                    other => self.eval_arg(dot, other),
                }
            }
        }
    }

    /// Evaluates one argument (Go's `evalArg` for an `interface{}` parameter).
    fn eval_arg(&mut self, dot: Dot<'_>, arg: &'a Arg) -> R<Value> {
        self.at = At::Arg(arg);
        match arg {
            Arg::Dot(_) => Ok(dot.0.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::String {
                binary: Some(v), ..
            } => Ok(v.clone()),
            Arg::String { text, .. } => Ok(Value::String(text.clone())),
            Arg::Number { num, text, .. } => match num {
                Num::Int(i) => Ok(Value::Int(*i)),
                Num::Float(f) => Ok(Value::Float(*f)),
                Num::Overflow => self.err(format!("{text} overflows int")),
            },
            Arg::Field { idents, .. } => self.eval_field_chain(
                dot,
                dot.0.clone(),
                dot.1,
                arg,
                idents,
                std::slice::from_ref(arg),
                None,
            ),
            Arg::Variable { name, idents, .. } => {
                let (v, boxed) = self.var_value(name)?;
                if idents.is_empty() {
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, boxed, arg, idents, std::slice::from_ref(arg), None)
            }
            Arg::Chain { node, idents, .. } => {
                if let Arg::Nil(_) = **node {
                    return self.err(format!("indirection through explicit nil in {arg}"));
                }
                let recv = self.eval_arg(dot, node)?;
                self.eval_field_chain(
                    dot,
                    recv,
                    false,
                    arg,
                    idents,
                    std::slice::from_ref(arg),
                    None,
                )
            }
            Arg::Pipe(p) => self.eval_pipeline(dot, p),
            Arg::Ident { name, callee, .. } => {
                // A function name as an argument is called without arguments.
                let at = At::Arg(arg);
                self.call(dot, name, *callee, at, at, &[], None)
            }
        }
    }

    fn eval_function(
        &mut self,
        dot: Dot<'_>,
        name: &'a str,
        callee: Callee,
        cmd: &'a Cmd,
        args: &'a [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let ident_at = At::Arg(&cmd.args[0]);
        self.call(dot, name, callee, ident_at, At::Cmd(cmd), args, final_)
    }

    fn arg_count_error<T>(
        &mut self,
        at: At<'a>,
        name: &str,
        want: usize,
        at_least: bool,
        got: usize,
    ) -> R<T> {
        self.at = at;
        if at_least {
            self.err(format!(
                "wrong number of args for {name}: want at least {want} got {got}"
            ))
        } else {
            self.err(format!(
                "wrong number of args for {name}: want {want} got {got}"
            ))
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        dot: Dot<'_>,
        name: &'a str,
        callee: Callee,
        ident_at: At<'a>,
        call_at: At<'a>,
        args: &'a [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let n = args.len() + usize::from(final_.is_some());
        if let Callee::Builtin(b) = callee {
            // Arity as Go's signatures declare it.
            let (want, at_least) = match b {
                Builtin::Not | Builtin::Len => (1, false),
                Builtin::Lt | Builtin::Le | Builtin::Gt | Builtin::Ge | Builtin::Ne => (2, false),
                Builtin::And
                | Builtin::Or
                | Builtin::Index
                | Builtin::Slice
                | Builtin::Printf
                | Builtin::Eq
                | Builtin::Call => (1, true),
                Builtin::Print
                | Builtin::Println
                | Builtin::Html
                | Builtin::Js
                | Builtin::Urlquery => (0, true),
            };
            if (at_least && n < want) || (!at_least && n != want) {
                return self.arg_count_error(
                    ident_at,
                    name,
                    want,
                    at_least,
                    if at_least { args.len() } else { n },
                );
            }
            if matches!(b, Builtin::And | Builtin::Or) {
                let is_or = b == Builtin::Or;
                let mut v = Value::Nil;
                for a in args {
                    v = self.eval_arg(dot, a)?;
                    if v.truthy() == is_or {
                        return Ok(v);
                    }
                }
                if let Some(f) = final_ {
                    v = f;
                }
                return Ok(v);
            }
            if b == Builtin::Printf {
                // The format is a `string` parameter: Go converts nothing.
                let mut vals = Vec::with_capacity(n);
                for a in args {
                    vals.push(self.eval_arg(dot, a)?);
                }
                vals.extend(final_);
                let out = match &vals[0] {
                    Value::String(s) => sprintf(s, &vals[1..]),
                    // A format that is not UTF-8 (`crate::gostr`) keeps its bytes too.
                    v if let Some(b) = crate::gostr::invalid_utf8(v) => {
                        sprintf_bytes(b, &vals[1..])
                    }
                    other => {
                        let t = other.type_name();
                        if let Some(a) = args.first() {
                            self.at = At::Arg(a);
                            match a {
                                Arg::Nil(_) => return self.err("cannot assign nil to string"),
                                Arg::Number { .. } | Arg::Bool(..) => {
                                    return self.err(format!("expected string; found {a}"));
                                }
                                _ => {}
                            }
                        }
                        return self.err(format!("wrong type for value; expected string; got {t}"));
                    }
                };
                if out.len() > MAX_OUTPUT {
                    self.at = call_at;
                    return self.err(format!(
                        "error calling printf: result exceeds the limit of {MAX_OUTPUT} bytes"
                    ));
                }
                return Ok(out.into_value());
            }
        }
        let mut vals = Vec::with_capacity(n);
        // Where Go's `state.at` is after each argument: the last node its evaluation visited.
        let mut ats = Vec::with_capacity(n);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
            ats.push(self.at);
        }
        vals.extend(final_);
        let r: Result<Value, String> = match callee {
            // Go's `len` of a nil met as a field (`.Data.k`, a JSON null or a missing key)
            // sees a nil interface; a nil from anywhere else (a variable, `index`, a pipeline)
            // is the zero reflect.Value, whose `Type` panics (builtins::len).
            Callee::Builtin(Builtin::Len)
                if matches!(vals.first(), Some(Value::Nil))
                    && matches!(args.first(), Some(Arg::Field { .. })) =>
            {
                Err("len of nil pointer".into())
            }
            Callee::Builtin(b) => run_builtin(b, &vals),
            Callee::Disabled => Err("function is disabled".into()),
            Callee::ExecuteTemplate => self.execute_template(&vals, &data_args(args, &vals)),
            Callee::Ext(f) => {
                let mut env = CallEnv {
                    ctx: &mut *self.ctx,
                    opts: &self.prog.opts,
                    used: self.used,
                    missing: self.missing,
                    scratch: self.scratch,
                };
                match f(&mut env, &vals) {
                    Err(m) if m.starts_with("wrong number of args for ") => {
                        self.at = ident_at;
                        return self.err(m);
                    }
                    Err(m)
                        if m.starts_with("wrong type for value;")
                            || m.starts_with("invalid value; expected ") =>
                    {
                        self.at = arg_error_at(&m, &vals, &ats, ident_at).unwrap_or(call_at);
                        return self.err(m);
                    }
                    r => r,
                }
            }
        };
        match r {
            Ok(v) if nests_deeper(&v, MAX_VALUE_NESTING, &mut HashMap::new()) => {
                self.at = call_at;
                self.err(format!(
                    "error calling {name}: result nests deeper than {MAX_VALUE_NESTING} levels"
                ))
            }
            // A string's length, also one that is not UTF-8 (`crate::gostr`).
            Ok(ref v)
                if matches!(v, Value::String(_) | Value::Object(_))
                    && crate::gostr::bytes(v).is_some_and(|b| b.len() > MAX_OUTPUT) =>
            {
                self.at = call_at;
                self.err(format!(
                    "error calling {name}: result exceeds the limit of {MAX_OUTPUT} bytes"
                ))
            }
            Ok(v) => {
                if let Some(first) = vals.first()
                    && crate::funcs::sprig::changes_first_arg(name, first, &v)
                {
                    self.write_back(first, &v);
                }
                Ok(v)
            }
            Err(m) => {
                self.at = call_at;
                // A nested template's error is scrubbed where it happened; its prefix is template
                // text (names, positions) that the data must not replace.
                let m = if matches!(callee, Callee::ExecuteTemplate) {
                    m
                } else {
                    crate::redact::scrub(&m, &data_args(args, &vals))
                };
                self.err(format!("error calling {name}: {m}"))
            }
        }
    }

    /// consul-template's `executeTemplate NAME [DOT]`.
    /// `executeTemplate NAME [DOT]`; `data` are the arguments not written in the template.
    fn execute_template(&mut self, vals: &[Value], data: &[&Value]) -> Result<Value, String> {
        let name = match vals.first() {
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(format!(
                    "wrong type for value; expected string; got {}",
                    other.type_name()
                ));
            }
            None => {
                return Err(
                    "wrong number of args for executeTemplate: want at least 1 got 0".into(),
                );
            }
        };
        let dot = match vals.len() {
            1 => Value::Nil,
            2 => vals[1].clone(),
            k => {
                return Err(format!(
                    "executeTemplate: wrong number of arguments, expected 1 or 2, got {k}"
                ));
            }
        };
        let prog = self.prog;
        let Some((key, list)) = prog.defines.get_key_value(&*name) else {
            // The name may come from data (crate::redact); a literal name reads as written.
            return Err(crate::redact::scrub(
                &format!(
                    "template: no template {} associated with template {}",
                    super::lexer::go_quote(&name),
                    super::lexer::go_quote(&prog.name)
                ),
                data,
            ));
        };
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(format!("exceeded maximum template depth ({MAX_DEPTH})")));
        }
        let saved_out = std::mem::take(&mut self.out);
        let saved_raw = std::mem::take(&mut self.raw);
        let saved_at = self.at;
        let r = self.run_nested(key, dot, list);
        let text = std::mem::replace(&mut self.out, saved_out);
        let raw = std::mem::replace(&mut self.raw, saved_raw);
        self.at = saved_at;
        let text = if raw.is_empty() {
            Value::str(text)
        } else {
            crate::gostr::from_bytes(crate::gostr::splice(&text, &raw))
        };
        match r {
            Ok(()) | Err(Flow::Break | Flow::Continue) => Ok(text),
            Err(Flow::Error(e)) => Err(e),
        }
    }

    /// Go's `evalFieldChain`: all but the last field are plain reads; the last gets the arguments.
    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: Dot<'_>,
        mut recv: Value,
        mut boxed: bool,
        node: &'a Arg,
        idents: &'a [Arc<str>],
        args: &'a [Arg],
        final_: Option<Value>,
    ) -> R<Value> {
        let last = idents.len() - 1;
        for id in &idents[..last] {
            (recv, boxed) = self.eval_field(dot, id, node, &[], None, &recv, boxed)?;
        }
        let cmd_args = if args.len() > 1 { &args[1..] } else { &[] };
        Ok(self
            .eval_field(dot, &idents[last], node, cmd_args, final_, &recv, boxed)?
            .0)
    }

    /// Reads `.name` of `recv`, or calls the method `name` with the arguments.
    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: Dot<'_>,
        name: &str,
        node: &'a Arg,
        args: &'a [Arg],
        final_: Option<Value>,
        recv: &Value,
        boxed: bool,
    ) -> R<(Value, bool)> {
        let has_args = !args.is_empty() || final_.is_some();
        let type_name = if boxed {
            "interface {}"
        } else {
            recv.type_name()
        };
        match recv {
            Value::Nil => {
                if boxed {
                    return self.err(format!("nil pointer evaluating interface {{}}.{name}"));
                }
                if self.prog.opts.missing_key_error {
                    return self.err(format!(
                        "nil data; no entry for key {}",
                        super::lexer::go_quote(name)
                    ));
                }
                Ok((Value::Nil, false))
            }
            Value::Map(m) | Value::StrMap(m) => {
                if has_args {
                    return self.err(format!("{name} is not a method but has arguments"));
                }
                match m.get(name.as_bytes()) {
                    Some(v) => Ok((v.clone(), true)),
                    None if self.prog.opts.missing_key_error => self.err(format!(
                        "map has no entry for key {}",
                        super::lexer::go_quote(name)
                    )),
                    None => Ok((Value::Nil, true)),
                }
            }
            // A string is assignable to `interface {}`, so `.name` looks the string key up.
            Value::AnyMap(m) => {
                if has_args {
                    return self.err(format!("{name} is not a method but has arguments"));
                }
                match m
                    .iter()
                    .find(|(k, _)| matches!(k, Value::String(s) if &**s == name))
                {
                    Some((_, v)) => Ok((v.clone(), true)),
                    None if self.prog.opts.missing_key_error => self.err(format!(
                        "map has no entry for key {}",
                        super::lexer::go_quote(name)
                    )),
                    None => Ok((Value::Nil, true)),
                }
            }
            Value::Record(r) => match r.fields.iter().find(|(f, _)| *f == name) {
                Some((_, v)) => {
                    if has_args {
                        return self.err(format!(
                            "{name} has arguments but cannot be invoked as function"
                        ));
                    }
                    Ok((v.clone(), false))
                }
                None => self.err(format!("can't evaluate field {name} in type {type_name}")),
            },
            Value::Object(o) => {
                let o = o.clone();
                let saved_at = self.at;
                let mut vals = Vec::with_capacity(args.len() + 1);
                for a in args {
                    vals.push(self.eval_arg(dot, a)?);
                }
                vals.extend(final_);
                if let Some(r) = o.method(name, &vals) {
                    return match r {
                        Ok(v) => Ok((v, false)),
                        Err(m) => {
                            self.at = At::Arg(node);
                            if m.starts_with("wrong number of args for ") {
                                self.err(m)
                            } else {
                                let m = crate::redact::scrub(&m, &data_args(args, &vals));
                                self.err(format!("error calling {name}: {m}"))
                            }
                        }
                    };
                }
                self.at = saved_at;
                match o.field(name) {
                    Some(v) => {
                        if has_args {
                            return self.err(format!(
                                "{name} has arguments but cannot be invoked as function"
                            ));
                        }
                        Ok((v, false))
                    }
                    None => self.err(format!("can't evaluate field {name} in type {type_name}")),
                }
            }
            Value::NilPtr(t) => {
                if nil_ptr_has_field(t, name) {
                    self.err(format!("nil pointer evaluating {t}.{name}"))
                } else {
                    self.err(format!("can't evaluate field {name} in type {t}"))
                }
            }
            _ => self.err(format!("can't evaluate field {name} in type {type_name}")),
        }
    }
}

/// Whether the struct behind a typed nil pointer has the field (Go tells "nil pointer
/// evaluating" from "can't evaluate field" by the static type).
fn nil_ptr_has_field(type_name: &str, field: &str) -> bool {
    let fields: &[&str] = if type_name.ends_with(".SecretAuth") {
        &[
            "ClientToken",
            "Accessor",
            "Policies",
            "TokenPolicies",
            "IdentityPolicies",
            "Metadata",
            "Orphan",
            "EntityID",
            "LeaseDuration",
            "Renewable",
            "MFARequirement",
        ]
    } else if type_name.ends_with(".SecretWrapInfo") {
        &[
            "Token",
            "Accessor",
            "TTL",
            "CreationTime",
            "CreationPath",
            "WrappedAccessor",
        ]
    } else {
        return true;
    };
    fields.contains(&field)
}

/// The values of a call that may come from data, for [`crate::redact::scrub`]: all but the
/// string and number literals written in the template (`fail "no such user"` keeps its text).
fn data_args<'v>(args: &[Arg], vals: &'v [Value]) -> Vec<&'v Value> {
    vals.iter()
        .enumerate()
        .filter(|(i, _)| !matches!(args.get(*i), Some(Arg::String { .. } | Arg::Number { .. })))
        .map(|(_, v)| v)
        .collect()
}

fn run_builtin(b: Builtin, v: &[Value]) -> Result<Value, String> {
    Ok(match b {
        Builtin::Not => Value::Bool(!v[0].truthy()),
        Builtin::Len => builtins::len(&v[0])?,
        Builtin::Index => builtins::index(&v[0], &v[1..])?,
        Builtin::Slice => builtins::slice(&v[0], &v[1..])?,
        Builtin::Print => sprint(v).into_value(),
        Builtin::Println => sprintln(v).into_value(),
        Builtin::Html => builtins::escape("html", v),
        Builtin::Js => builtins::escape("js", v),
        Builtin::Urlquery => builtins::escape("urlquery", v),
        Builtin::Eq => Value::Bool(builtins::eq(v)?),
        Builtin::Ne => Value::Bool(!builtins::eq(v)?),
        Builtin::Lt => Value::Bool(builtins::lt(&v[0], &v[1])?),
        Builtin::Le => Value::Bool(builtins::le(&v[0], &v[1])?),
        Builtin::Gt => Value::Bool(!builtins::le(&v[0], &v[1])?),
        Builtin::Ge => Value::Bool(!builtins::lt(&v[0], &v[1])?),
        Builtin::Call => {
            return Err(match &v[0] {
                Value::Nil => "call of nil".to_string(),
                other => format!("non-function of type {}", other.type_name()),
            });
        }
        // Handled by the evaluator before we get here.
        Builtin::And | Builtin::Or | Builtin::Printf => Value::Nil,
    })
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;

/// Whether `v` has lists or maps nested more than `limit` deep. Shared containers (`list $l $l`)
/// are visited once (`seen` holds their addresses), so the walk is linear in distinct containers.
/// The allocation behind a map or list value: what Go would share by reference.
fn container_id(v: &Value) -> Option<*const ()> {
    match v {
        Value::Map(m) => Some(Arc::as_ptr(m) as *const ()),
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => Some(Arc::as_ptr(l) as *const ()),
        _ => None,
    }
}

/// `v` with each occurrence of the container `target` (at any depth) replaced by `new`; `None`
/// when `v` holds none.
fn replace_shared(v: &Value, target: *const (), new: &Value) -> Option<Value> {
    if container_id(v) == Some(target) {
        return Some(new.clone());
    }
    match v {
        Value::Map(m) => {
            let mut changed: Option<std::collections::BTreeMap<crate::value::Key, Value>> = None;
            for (k, x) in m.iter() {
                if let Some(nx) = replace_shared(x, target, new) {
                    changed
                        .get_or_insert_with(|| m.as_ref().clone())
                        .insert(k.clone(), nx);
                }
            }
            changed.map(Value::map)
        }
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            let mut changed: Option<Vec<Value>> = None;
            for (i, x) in l.iter().enumerate() {
                if let Some(nx) = replace_shared(x, target, new) {
                    changed.get_or_insert_with(|| l.as_ref().clone())[i] = nx;
                }
            }
            changed.map(|items| match v {
                Value::Strings(_) => Value::Strings(Arc::new(items)),
                Value::Ints(_) => Value::Ints(Arc::new(items)),
                _ => Value::list(items),
            })
        }
        Value::Record(r) => {
            let mut changed: Option<Vec<(&'static str, Value)>> = None;
            for (i, (_, x)) in r.fields.iter().enumerate() {
                if let Some(nx) = replace_shared(x, target, new) {
                    changed.get_or_insert_with(|| r.fields.clone())[i].1 = nx;
                }
            }
            changed.map(|fields| {
                Value::Record(Arc::new(crate::Record {
                    type_name: r.type_name,
                    fields,
                }))
            })
        }
        _ => None,
    }
}

fn nests_deeper(v: &Value, limit: usize, seen: &mut HashMap<usize, usize>) -> bool {
    let (addr, children): (usize, Box<dyn Iterator<Item = &Value>>) = match v {
        Value::List(l) | Value::Strings(l) | Value::Ints(l) => {
            (Arc::as_ptr(l) as usize, Box::new(l.iter()))
        }
        Value::Map(m) => (Arc::as_ptr(m) as usize, Box::new(m.values())),
        Value::AnyMap(m) => (Arc::as_ptr(m) as usize, Box::new(m.iter().map(|(_, v)| v))),
        _ => return false,
    };
    if limit == 0 {
        return true;
    }
    // Seen before with at least this much room left: it fitted then, so it fits now.
    if seen.get(&addr).is_some_and(|&l| l >= limit) {
        return false;
    }
    seen.insert(addr, limit);
    for c in children {
        if nests_deeper(c, limit - 1, seen) {
            return true;
        }
    }
    false
}
