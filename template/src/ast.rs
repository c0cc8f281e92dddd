//! The parse tree of a template: Go `text/template` nodes, with byte positions for error messages
//! and `Display` printing the node as Go's `Node.String()` does (the `at <…>` part of errors).

use std::fmt;
use std::sync::Arc;

use super::Func;

/// A list of nodes (a template body or a branch).
pub type List = Vec<Node>;

/// A statement-level node.
#[derive(Debug)]
pub enum Node {
    Text(Arc<str>),
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Branch),
    With(Branch),
    Range(Branch),
    Template {
        pos: usize,
        name: Arc<str>,
        pipe: Option<Pipe>,
    },
    Break(usize),
    Continue(usize),
}

/// `if`/`with`/`range`: the pipeline, its body and the optional `else` body.
#[derive(Debug)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// A pipeline with its optional declarations (`$x :=` / `$x =` / `$i, $e :=`).
#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub decl: Vec<Arc<str>>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline: its operands, the first being the function or value.
#[derive(Debug)]
pub struct Cmd {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// What a function name resolved to at parse time.
#[derive(Clone, Copy, Debug)]
pub enum Callee {
    Builtin(Builtin),
    /// `executeTemplate`, which needs the engine.
    ExecuteTemplate,
    /// A consul-template function.
    Ext(Func),
    /// A name matching the denylist: fails with `function is disabled` when called.
    Disabled,
}

/// Go's built-in template functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Print,
    Printf,
    Println,
    Html,
    Js,
    Urlquery,
    Call,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Builtin {
    pub fn lookup(name: &str) -> Option<Builtin> {
        Some(match name {
            "and" => Builtin::And,
            "or" => Builtin::Or,
            "not" => Builtin::Not,
            "len" => Builtin::Len,
            "index" => Builtin::Index,
            "slice" => Builtin::Slice,
            "print" => Builtin::Print,
            "printf" => Builtin::Printf,
            "println" => Builtin::Println,
            "html" => Builtin::Html,
            "js" => Builtin::Js,
            "urlquery" => Builtin::Urlquery,
            "call" => Builtin::Call,
            "eq" => Builtin::Eq,
            "ne" => Builtin::Ne,
            "lt" => Builtin::Lt,
            "le" => Builtin::Le,
            "gt" => Builtin::Gt,
            "ge" => Builtin::Ge,
            _ => return None,
        })
    }
}

/// A numeric literal, evaluated as Go's `idealConstant` does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    Int(i64),
    Float(f64),
    /// Fits no int: an error when evaluated (`… overflows int`).
    Overflow,
}

/// An operand.
#[derive(Debug)]
pub enum Arg {
    /// `.A.b`: fields from dot.
    Field {
        pos: usize,
        idents: Vec<Arc<str>>,
    },
    /// `$x.a.b`: a variable and optional fields.
    Variable {
        pos: usize,
        name: Arc<str>,
        idents: Vec<Arc<str>>,
    },
    /// `(pipe).a.b` (or fields after another term).
    Chain {
        pos: usize,
        node: Box<Arg>,
        idents: Vec<Arc<str>>,
    },
    Ident {
        pos: usize,
        name: Arc<str>,
        callee: Callee,
    },
    Pipe(Box<Pipe>),
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number {
        pos: usize,
        text: Arc<str>,
        num: Num,
    },
    String {
        pos: usize,
        quoted: Arc<str>,
        text: Arc<str>,
        /// The value when the literal is not UTF-8 (`"\xff"`, `crate::gostr`); `text` then has
        /// U+FFFD for its bad bytes.
        binary: Option<super::Value>,
    },
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

fn write_idents(f: &mut fmt::Formatter<'_>, idents: &[Arc<str>]) -> fmt::Result {
    for i in idents {
        write!(f, ".{i}")?;
    }
    Ok(())
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => write_idents(f, idents),
            Arg::Variable { name, idents, .. } => {
                f.write_str(name)?;
                write_idents(f, idents)
            }
            Arg::Chain { node, idents, .. } => {
                if let Arg::Pipe(p) = &**node {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                write_idents(f, idents)
            }
            Arg::Ident { name, .. } => f.write_str(name),
            Arg::Pipe(p) => write!(f, "{p}"),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number { text, .. } => f.write_str(text),
            Arg::String { quoted, .. } => f.write_str(quoted),
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(p) = a {
                write!(f, "({p})")?;
            } else {
                write!(f, "{a}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, d) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(d)?;
            }
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, l: &List) -> fmt::Result {
    for n in l {
        write!(f, "{n}")?;
    }
    Ok(())
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let branch = |f: &mut fmt::Formatter<'_>, kw: &str, b: &Branch| -> fmt::Result {
            write!(f, "{{{{{kw} {}}}}}", b.pipe)?;
            write_list(f, &b.list)?;
            if let Some(e) = &b.else_list {
                f.write_str("{{else}}")?;
                write_list(f, e)?;
            }
            f.write_str("{{end}}")
        };
        match self {
            Node::Text(t) => f.write_str(t),
            Node::Action { pipe, .. } => write!(f, "{{{{{pipe}}}}}"),
            Node::If(b) => branch(f, "if", b),
            Node::With(b) => branch(f, "with", b),
            Node::Range(b) => branch(f, "range", b),
            Node::Template { name, pipe, .. } => match pipe {
                Some(p) => write!(f, "{{{{template {} {p}}}}}", super::lexer::go_quote(name)),
                None => write!(f, "{{{{template {}}}}}", super::lexer::go_quote(name)),
            },
            Node::Break(_) => f.write_str("{{break}}"),
            Node::Continue(_) => f.write_str("{{continue}}"),
        }
    }
}
