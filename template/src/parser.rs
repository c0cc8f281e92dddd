//! The parser of Go's `text/template`: tokens ⇒ [`ast`] tree plus the `define`d templates, with
//! Go's parse-time checks (unknown functions, undefined variables, `break` outside `range`…) and
//! its error texts (`template: NAME:LINE: …`).

use std::collections::HashMap;
use std::sync::Arc;

use super::Func;
use super::ast::{Arg, Branch, Builtin, Callee, Cmd, List, Node, Num, Pipe};
use super::lexer::{Kind, Token, go_quote, lex};

/// A parsed template: its body and the templates it defines.
#[derive(Debug)]
pub struct Parsed {
    pub root: List,
    pub defines: HashMap<Arc<str>, Arc<List>>,
}

/// Deepest nesting the parser accepts: `if`/`with`/`range`/`block` bodies, `else if` chains and
/// parenthesized pipelines each count one level. Go limits parentheses alone to 10000 (its stacks
/// grow); the parser recurses on the native stack, so beyond this it fails with Go's
/// `max expression depth exceeded` (`tests::deepest_nesting_fits_a_worker_stack` parses it on a
/// 2 MiB thread, tokio's worker stack).
pub const MAX_NESTING: u32 = 100;

/// Resolves a non-builtin function name.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Func>;

/// Parses `text`; errors are `template: NAME:LINE: message`.
pub fn parse(
    name: &str,
    text: &str,
    left: &str,
    right: &str,
    denylist: &[String],
    lookup: Lookup<'_>,
) -> Result<Parsed, String> {
    let tokens = lex(text, left, right);
    let mut p = Parser {
        name,
        text,
        tokens,
        i: 0,
        line: 1,
        vars: vec!["$".into()],
        range_depth: 0,
        nesting: 0,
        denylist,
        lookup,
        defines: HashMap::new(),
    };
    let root = p.parse_top()?;
    Ok(Parsed {
        root,
        defines: p.defines,
    })
}

/// Go's `*` glob: `*` matches any run of characters.
pub fn glob_match(pat: &str, name: &str) -> bool {
    match pat.split_once('*') {
        None => pat == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

struct Parser<'a> {
    name: &'a str,
    text: &'a str,
    tokens: Vec<Token>,
    i: usize,
    line: u32,
    vars: Vec<Arc<str>>,
    range_depth: u32,
    /// Current nesting (see [`MAX_NESTING`]).
    nesting: u32,
    denylist: &'a [String],
    lookup: Lookup<'a>,
    defines: HashMap<Arc<str>, Arc<List>>,
}

/// An item list ended by `{{end}}` or `{{else}}`.
enum Stop {
    End,
    Else,
}

type PResult<T> = Result<T, String>;

impl Parser<'_> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> PResult<T> {
        Err(format!("template: {}:{}: {msg}", self.name, self.line))
    }

    fn next(&mut self) -> Token {
        let t = self.tokens[self.i.min(self.tokens.len() - 1)].clone();
        if self.i < self.tokens.len() {
            self.i += 1;
        }
        self.line = t.line;
        t
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.kind != Kind::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn src(&self, t: &Token) -> &str {
        &self.text[t.start..t.end]
    }

    /// Go's `%s` of an item in `unexpected …` messages: keywords as `<if>`, the rest quoted
    /// (`%.10q...` when longer than 10 bytes).
    fn describe(&self, t: &Token) -> String {
        match t.kind {
            Kind::Eof => "EOF".into(),
            Kind::Error => t.msg.clone().unwrap_or_default(),
            k if is_keyword(k) => format!("<{}>", self.src(t)),
            _ => {
                let s = self.src(t);
                if s.len() > 10 {
                    format!("{}...", go_quote(&s.chars().take(10).collect::<String>()))
                } else {
                    go_quote(s)
                }
            }
        }
    }

    fn unexpected<T>(&self, t: &Token, context: &str) -> PResult<T> {
        if t.kind == Kind::Error {
            let msg = t.msg.clone().unwrap_or_default();
            return Err(format!("template: {}:{}: {msg}", self.name, t.line));
        }
        self.err(format!("unexpected {} in {context}", self.describe(t)))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if t.kind != kind {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn parse_top(&mut self) -> PResult<List> {
        let mut root = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                Kind::Eof => return Ok(root),
                Kind::LeftDelim => {
                    self.next();
                    if self.next_non_space().kind == Kind::KwDefine {
                        self.parse_definition()?;
                        continue;
                    }
                    // Back up to the left delimiter.
                    while self.tokens[self.i - 1].kind != Kind::LeftDelim {
                        self.backup();
                    }
                    self.backup();
                }
                _ => {}
            }
            match self.text_or_action()? {
                Item::Node(Some(n)) => root.push(n),
                Item::Node(None) => {}
                Item::End => return self.err("unexpected {{end}}"),
                Item::Else => return self.err("unexpected {{else}}"),
            }
        }
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let name_tok = self.next_non_space();
        let name = match name_tok.kind {
            Kind::String | Kind::RawString => unquote(self.src(&name_tok))
                .map_err(|e| format!("template: {}:{}: {e}", self.name, self.line))?,
            _ => return self.unexpected(&name_tok, context),
        };
        self.expect(Kind::RightDelim, context)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, stop) = self.item_list()?;
        self.vars = saved;
        if !matches!(stop, Stop::End) {
            return self.err("unexpected {{else}} in define clause");
        }
        self.add_define(name.into(), list)
    }

    /// Go's `Tree.add`: an empty definition never replaces one; two non-empty ones are an error.
    fn add_define(&mut self, name: Arc<str>, list: List) -> PResult<()> {
        let is_empty = |l: &List| {
            l.iter()
                .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
        };
        match self.defines.get(&name) {
            Some(old) if !is_empty(old) => {
                if !is_empty(&list) {
                    return self.err(format!(
                        "template: multiple definition of template {}",
                        go_quote(&name)
                    ));
                }
            }
            _ => {
                self.defines.insert(name, Arc::new(list));
            }
        }
        Ok(())
    }

    /// Runs `f` one nesting level deeper (see [`MAX_NESTING`]).
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.nesting >= MAX_NESTING {
            return self.err("max expression depth exceeded");
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    fn item_list(&mut self) -> PResult<(List, Stop)> {
        let mut list = Vec::new();
        while self.peek_non_space().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(Some(n)) => list.push(n),
                Item::Node(None) => {}
                Item::End => return Ok((list, Stop::End)),
                Item::Else => return Ok((list, Stop::Else)),
            }
        }
        self.err("unexpected EOF")
    }

    fn text_or_action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        match t.kind {
            Kind::Text => Ok(Item::Node(Some(Node::Text(self.src(&t).into())))),
            Kind::LeftDelim => self.action(),
            Kind::Comment => Ok(Item::Node(None)),
            _ => self.unexpected(&t, "input"),
        }
    }

    fn action(&mut self) -> PResult<Item> {
        let t = self.next_non_space();
        let n = match t.kind {
            Kind::KwBlock => self.block_control()?,
            Kind::KwBreak | Kind::KwContinue => {
                let kw = if t.kind == Kind::KwBreak {
                    "break"
                } else {
                    "continue"
                };
                let after = self.next_non_space();
                if after.kind != Kind::RightDelim {
                    return self.unexpected(&after, &format!("{{{{{kw}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.err(format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                }
                if kw == "break" {
                    Node::Break(t.start)
                } else {
                    Node::Continue(t.start)
                }
            }
            Kind::KwElse => {
                let p = self.peek_non_space();
                if p.kind != Kind::KwIf && p.kind != Kind::KwWith {
                    self.expect(Kind::RightDelim, "else")?;
                }
                return Ok(Item::Else);
            }
            Kind::KwEnd => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Item::End);
            }
            Kind::KwIf => Node::If(self.parse_control("if")?),
            Kind::KwWith => Node::With(self.parse_control("with")?),
            Kind::KwRange => Node::Range(self.parse_control("range")?),
            Kind::KwTemplate => self.template_control()?,
            Kind::KwDefine => return self.err("unexpected <define> in command"),
            _ => {
                self.backup();
                let p = self.peek();
                let pipe = self.pipeline("command", Kind::RightDelim)?;
                Node::Action { pos: p.start, pipe }
            }
        };
        Ok(Item::Node(Some(n)))
    }

    fn parse_control(&mut self, context: &str) -> PResult<Branch> {
        self.nested(|p| p.parse_control_inner(context))
    }

    fn parse_control_inner(&mut self, context: &str) -> PResult<Branch> {
        let mark = self.vars.len();
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let (list, stop) = self.item_list()?;
        if context == "range" {
            self.range_depth -= 1;
        }
        let mut else_list = None;
        if let Stop::Else = stop {
            let p = self.peek_non_space();
            if context == "if" && p.kind == Kind::KwIf {
                self.next_non_space();
                else_list = Some(vec![Node::If(self.parse_control("if")?)]);
            } else if context == "with" && p.kind == Kind::KwWith {
                self.next_non_space();
                else_list = Some(vec![Node::With(self.parse_control("with")?)]);
            } else {
                let (l, stop) = self.item_list()?;
                if !matches!(stop, Stop::End) {
                    return self.err("expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        self.vars.truncate(mark);
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, context: &str) -> PResult<Arc<str>> {
        let t = self.next_non_space();
        match t.kind {
            Kind::String | Kind::RawString => {
                let s = unquote(self.src(&t))
                    .map_err(|e| format!("template: {}:{}: {e}", self.name, self.line))?;
                Ok(s.into())
            }
            _ => self.unexpected(&t, context),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let pos = self.peek_non_space().start;
        let name = self.template_name(context)?;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            Some(self.pipeline(context, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block_control(&mut self) -> PResult<Node> {
        self.nested(Self::block_control_inner)
    }

    fn block_control_inner(&mut self) -> PResult<Node> {
        let context = "block clause";
        let pos = self.tokens[self.i - 1].start;
        let name = self.template_name(context)?;
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let (list, stop) = self.item_list()?;
        self.vars = saved;
        self.range_depth = saved_depth;
        if !matches!(stop, Stop::End) {
            return self.err("unexpected {{else}} in block clause");
        }
        self.add_define(name.clone(), list)?;
        Ok(Node::Template {
            pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.start,
            decl: Vec::new(),
            is_assign: false,
            cmds: Vec::new(),
        };
        'decls: loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let vi = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            let vname: Arc<str> = self.src(&v).into();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(vname.clone());
                    self.vars.push(vname);
                    break;
                }
                Kind::Char if self.src(&next) == "," => {
                    self.next_non_space();
                    pipe.decl.push(vname.clone());
                    self.vars.push(vname);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => continue 'decls,
                            _ => return self.err("range can only initialize variables"),
                        }
                    }
                    return self.err(format!("too many declarations in {context}"));
                }
                _ => {
                    // "$x foo" or "$x}}": $x is an operand, not a declaration.
                    self.i = vi;
                    break;
                }
            }
        }
        loop {
            let t = self.next_non_space();
            if t.kind == end {
                if pipe.cmds.is_empty() {
                    return self.err(format!("missing value for {context}"));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Arg::Bool(..)
                            | Arg::Dot(_)
                            | Arg::Nil(_)
                            | Arg::Number { .. }
                            | Arg::String { .. }
                    ) {
                        return self.err(format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        ));
                    }
                }
                return Ok(pipe);
            }
            match t.kind {
                Kind::Bool
                | Kind::CharConst
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&t, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().start;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(a) = self.operand()? {
                args.push(a);
            }
            let t = self.next();
            match t.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&t, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.err("empty command");
        }
        Ok(Cmd { pos, args })
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().start;
        let mut idents = Vec::new();
        while self.peek().kind == Kind::Field {
            let t = self.next();
            idents.push(Arc::from(&self.src(&t)[1..]));
        }
        Ok(Some(match node {
            Arg::Field {
                idents: mut first, ..
            } => {
                first.extend(idents);
                Arg::Field {
                    pos: chain_pos,
                    idents: first,
                }
            }
            Arg::Variable {
                name,
                idents: mut first,
                ..
            } => {
                first.extend(idents);
                Arg::Variable {
                    pos: chain_pos,
                    name,
                    idents: first,
                }
            }
            n @ (Arg::Bool(..)
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil(_)
            | Arg::Dot(_)) => {
                return self.err(format!(
                    "unexpected . after term {}",
                    go_quote(&n.to_string())
                ));
            }
            n => Arg::Chain {
                pos: chain_pos,
                node: Box::new(n),
                idents,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let t = self.next_non_space();
        let pos = t.start;
        Ok(Some(match t.kind {
            Kind::Identifier => {
                let name = self.src(&t);
                let callee = self.resolve(name)?;
                Arg::Ident {
                    pos,
                    name: name.into(),
                    callee,
                }
            }
            Kind::Dot => Arg::Dot(pos),
            Kind::Nil => Arg::Nil(pos),
            Kind::Variable => {
                let name = self.src(&t);
                if !self.vars.iter().any(|v| &**v == name) {
                    return self.err(format!("undefined variable {}", go_quote(name)));
                }
                Arg::Variable {
                    pos,
                    name: name.into(),
                    idents: Vec::new(),
                }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: vec![Arc::from(&self.src(&t)[1..])],
            },
            Kind::Bool => Arg::Bool(pos, self.src(&t) == "true"),
            Kind::Number | Kind::CharConst => {
                let text = self.src(&t);
                let num = if t.kind == Kind::CharConst {
                    let s = unquote_char(text)
                        .map_err(|e| format!("template: {}:{}: {e}", self.name, self.line))?;
                    Num::Int(s as i64)
                } else {
                    parse_number(text)
                        .map_err(|e| format!("template: {}:{}: {e}", self.name, self.line))?
                };
                Arg::Number {
                    pos,
                    text: text.into(),
                    num,
                }
            }
            Kind::LeftParen => {
                let p = self.nested(|p| p.pipeline("parenthesized pipeline", Kind::RightParen))?;
                Arg::Pipe(Box::new(p))
            }
            Kind::String | Kind::RawString => {
                let quoted = self.src(&t);
                let b = unquote_bytes(quoted)
                    .map_err(|e| format!("template: {}:{}: {e}", self.name, self.line))?;
                let (s, binary) = match String::from_utf8(b) {
                    Ok(s) => (s, None),
                    Err(e) => {
                        let v = crate::gostr::from_bytes(e.into_bytes());
                        (v.print(), Some(v))
                    }
                };
                Arg::String {
                    pos,
                    quoted: quoted.into(),
                    text: s.into(),
                    binary,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn resolve(&self, name: &str) -> PResult<Callee> {
        if let Some(b) = Builtin::lookup(name) {
            return Ok(Callee::Builtin(b));
        }
        let found = if name == "executeTemplate" {
            Some(Callee::ExecuteTemplate)
        } else {
            (self.lookup)(name).map(Callee::Ext)
        };
        match found {
            Some(c) => {
                if self.denylist.iter().any(|p| glob_match(p, name)) {
                    Ok(Callee::Disabled)
                } else {
                    Ok(c)
                }
            }
            None => self.err(format!("function {} not defined", go_quote(name))),
        }
    }
}

enum Item {
    Node(Option<Node>),
    End,
    Else,
}

fn is_keyword(k: Kind) -> bool {
    matches!(
        k,
        Kind::KwBlock
            | Kind::KwBreak
            | Kind::KwContinue
            | Kind::KwDefine
            | Kind::KwElse
            | Kind::KwEnd
            | Kind::KwIf
            | Kind::KwRange
            | Kind::KwTemplate
            | Kind::KwWith
    )
}

/// Go's number literal rules (`parse.newNumber` + `idealConstant`): ints (any base, `_`
/// separators) stay ints; decimal text with `.`/`e` and hex floats (`0x1p-2`) are floats; an integer too big for a uint64
/// (or one Go only reads as a float, like `09`) is `integer overflow`.
pub fn parse_number(text: &str) -> Result<Num, String> {
    let lower = text.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    let is_hex = unsigned.starts_with("0x");
    let has_float_mark = if is_hex {
        lower.contains('p') || lower.contains('.')
    } else {
        lower.contains(['.', 'e', 'p'])
    };
    let illegal = || format!("illegal number syntax: {}", go_quote(text));
    if lower.ends_with('i') {
        return Err(illegal()); // complex numbers: not supported
    }
    if is_hex && has_float_mark {
        // A hex float (`0x1p-2`): Go reads it with `strconv.ParseFloat`; always a float64.
        return match vaultlet_shared::go::strconv::parse_float(text) {
            Ok(f) if f.is_finite() => Ok(Num::Float(f)),
            _ => Err(illegal()),
        };
    }
    if !has_float_mark {
        // Go's parser: `strconv.ParseInt(text, 0, 64)`, else `ParseUint(text, 0, 64)`.
        if let Ok(v) = vaultlet_shared::go::strconv::parse_int(text, 0) {
            return Ok(Num::Int(v));
        }
        if vaultlet_shared::go::strconv::parse_uint(text, 0).is_ok() {
            return Ok(Num::Overflow);
        }
    }
    if !underscores_ok(text) {
        return Err(illegal());
    }
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    match cleaned.parse::<f64>() {
        Ok(f)
            if f.is_finite()
                && !text.contains(|c: char| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E')) =>
        {
            if has_float_mark {
                Ok(Num::Float(f))
            } else {
                Err(format!("integer overflow: {}", go_quote(text)))
            }
        }
        _ => Err(illegal()),
    }
}

/// Go's rule for `_` in number literals: only between digits (a base prefix counts as one).
fn underscores_ok(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).filter(|&i| b[i] == b'_').all(|i| {
        i > 0
            && i + 1 < b.len()
            && b[i - 1].is_ascii_alphanumeric()
            && b[i + 1].is_ascii_alphanumeric()
    })
}

/// Go's `strconv.Unquote` for `"…"` and `` `…` `` literals.
pub fn unquote(s: &str) -> Result<String, String> {
    unquote_bytes(s)
        .map(|b| String::from_utf8(b).unwrap_or_else(|e| crate::gostr::lossy(e.as_bytes())))
}

/// [`unquote`] giving the bytes (`"\xff"` is one byte, `crate::gostr`).
pub fn unquote_bytes(s: &str) -> Result<Vec<u8>, String> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Ok(s[1..s.len() - 1].replace('\r', "").into_bytes());
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return Err("invalid syntax".into());
    }
    let body = &s[1..s.len() - 1];
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some((_, e)) = chars.next() else {
            return Err("invalid syntax".into());
        };
        let mut take_hex = |n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let (_, h) = chars.next().ok_or("invalid syntax")?;
                v = v * 16 + h.to_digit(16).ok_or("invalid syntax")?;
            }
            Ok(v)
        };
        match e {
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(11),
            '\\' => out.push(b'\\'),
            '"' => out.push(b'"'),
            'x' => out.push(take_hex(2)? as u8),
            'u' | 'U' => {
                let v = take_hex(if e == 'u' { 4 } else { 8 })?;
                let c = char::from_u32(v).ok_or("invalid syntax")?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let (_, o) = chars.next().ok_or("invalid syntax")?;
                    v = v * 8 + o.to_digit(8).ok_or("invalid syntax")?;
                }
                if v > 255 {
                    return Err("invalid syntax".into());
                }
                out.push(v as u8);
            }
            _ => return Err("invalid syntax".into()),
        }
    }
    Ok(out)
}

/// A char constant `'a'` ⇒ its code point.
fn unquote_char(s: &str) -> Result<u32, String> {
    let body = s
        .strip_prefix('\'')
        .and_then(|b| b.strip_suffix('\''))
        .ok_or("invalid syntax")?;
    let as_str = if body == "\"" {
        "\"".to_string()
    } else if body == "\\'" {
        "'".to_string()
    } else {
        unquote(&format!("\"{body}\""))?
    };
    let mut it = as_str.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c as u32),
        (None, _) => Err("invalid syntax".into()),
        _ => Err(format!("malformed character constant: {s}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(src: &str) -> Result<Parsed, String> {
        parse("t", src, "{{", "}}", &[], &|n: &str| {
            if n == "f" {
                Some((|_, _| Ok(super::super::Value::Nil)) as Func)
            } else {
                None
            }
        })
    }

    #[test]
    fn deepest_nesting_fits_a_worker_stack() {
        // Every shape nests past the bound; the parser must fail with Go's message on a 2 MiB
        // thread (tokio's worker stack, where the injector checks templates), not overflow.
        let n = MAX_NESTING as usize + 5;
        let shapes = [
            format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)),
            format!("{}x{}", "{{ if 1 }}".repeat(n), "{{ end }}".repeat(n)),
            format!("{}x{}", "{{ range 1 }}".repeat(n), "{{ end }}".repeat(n)),
            format!("{{{{ if 1 }}}}{}{{{{ end }}}}", "{{ else if 1 }}".repeat(n)),
            format!(
                "{}x{}",
                "{{ block \"b\" 1 }}".repeat(n),
                "{{ end }}".repeat(n)
            ),
            format!("{}x", "{{ with (f (f (f 1))) }}".repeat(n)),
        ];
        for src in shapes {
            let e = std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || p(&src).err())
                .unwrap()
                .join()
                .unwrap();
            assert_eq!(
                e.as_deref(),
                Some("template: t:1: max expression depth exceeded")
            );
        }
        // Just inside the bound parses.
        let m = MAX_NESTING as usize - 1;
        let src = format!("{}x{}", "{{ if 1 }}".repeat(m), "{{ end }}".repeat(m));
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || p(&src).map(|_| ()))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(parsed, Ok(()));
    }

    #[test]
    fn node_strings_and_chain_positions() {
        let parsed = p("ab{{ .Data.nope.deeper }}{{ $x := (f 1).a | f \"s\" }}").unwrap();
        assert_eq!(parsed.root.len(), 3);
        match &parsed.root[1] {
            Node::Action { pipe, .. } => {
                assert_eq!(pipe.to_string(), ".Data.nope.deeper");
                // Go puts a chain at its second field.
                assert_eq!(pipe.cmds[0].args[0].pos(), 10);
            }
            n => panic!("{n:?}"),
        }
        assert_eq!(parsed.root[2].to_string(), "{{$x := (f 1).a | f \"s\"}}");
    }

    #[test]
    fn parse_errors_in_go_words() {
        assert_eq!(
            p("{{ nope 1 }}").unwrap_err(),
            "template: t:1: function \"nope\" not defined"
        );
        assert_eq!(
            p("\n{{ $x }}").unwrap_err(),
            "template: t:2: undefined variable \"$x\""
        );
        assert_eq!(
            p("{{ if 1 }}").unwrap_err(),
            "template: t:1: unexpected EOF"
        );
        assert_eq!(
            p("{{ end }}").unwrap_err(),
            "template: t:1: unexpected {{end}}"
        );
        assert_eq!(
            p("{{ break }}").unwrap_err(),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            p("{{ if }}{{ end }}").unwrap_err(),
            "template: t:1: missing value for if"
        );
        assert_eq!(
            p("{{ .a | \"x\" }}").unwrap_err(),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(p("{{ .a").unwrap_err(), "template: t:1: unclosed action");
        assert_eq!(
            p("{{ \"x\".a }}").unwrap_err(),
            "template: t:1: unexpected . after term \"\\\"x\\\"\""
        );
        assert_eq!(
            p("{{ 1 }}{{ else }}").unwrap_err(),
            "template: t:1: unexpected {{else}}"
        );
        assert!(
            p("{{ $x := 1 }}{{ if true }}{{ $y := 2 }}{{ end }}{{ $y }}")
                .unwrap_err()
                .contains("undefined variable \"$y\"")
        );
    }

    #[test]
    fn defines_and_else_chains() {
        let parsed = p("{{ define \"a\" }}A{{ end }}{{ if 1 }}x{{ else if 2 }}y{{ else }}z{{ end }}{{ block \"b\" . }}B{{ end }}").unwrap();
        assert!(parsed.defines.contains_key("a") && parsed.defines.contains_key("b"));
        let twice = p(
            "{{ define \"a\" }} {{ end }}{{ define \"a\" }}2{{ end }}{{ define \"a\" }} {{ end }}",
        )
        .unwrap();
        assert_eq!(twice.defines["a"][0].to_string(), "2");
        assert_eq!(
            p("{{ define \"a\" }}1{{ end }}{{ define \"a\" }}2{{ end }}").unwrap_err(),
            "template: t:1: template: multiple definition of template \"a\""
        );
        assert_eq!(
            parsed.root[0].to_string(),
            "{{if 1}}x{{else}}{{if 2}}y{{else}}z{{end}}{{end}}"
        );
    }

    #[test]
    fn numbers_like_go() {
        assert_eq!(parse_number("42"), Ok(Num::Int(42)));
        assert_eq!(parse_number("0x1F"), Ok(Num::Int(31)));
        assert_eq!(parse_number("0o17"), Ok(Num::Int(15)));
        assert_eq!(parse_number("017"), Ok(Num::Int(15)));
        assert_eq!(parse_number("1_000"), Ok(Num::Int(1000)));
        assert_eq!(parse_number("-3"), Ok(Num::Int(-3)));
        assert_eq!(parse_number("1.5"), Ok(Num::Float(1.5)));
        assert_eq!(parse_number("1e3"), Ok(Num::Float(1000.0)));
        assert_eq!(parse_number("18446744073709551615"), Ok(Num::Overflow));
        assert_eq!(
            parse_number("99999999999999999999"),
            Err("integer overflow: \"99999999999999999999\"".into())
        );
        assert_eq!(parse_number("09"), Err("integer overflow: \"09\"".into()));
        assert_eq!(
            parse_number("1e400"),
            Err("illegal number syntax: \"1e400\"".into())
        );
        assert_eq!(parse_number("0x1p-2"), Ok(Num::Float(0.25)));
        assert_eq!(parse_number("0X1P+3"), Ok(Num::Float(8.0)));
        assert_eq!(parse_number("-0x1.8p1"), Ok(Num::Float(-3.0)));
        assert_eq!(parse_number(".5"), Ok(Num::Float(0.5)));
        assert_eq!(parse_number("1_000.5"), Ok(Num::Float(1000.5)));
        assert_eq!(parse_number("0b101"), Ok(Num::Int(5)));
        assert_eq!(
            parse_number("0x1.8"),
            Err("illegal number syntax: \"0x1.8\"".into())
        );
        assert_eq!(
            parse_number("0x1p2000"),
            Err("illegal number syntax: \"0x1p2000\"".into())
        );
        assert_eq!(unquote_char("'a'"), Ok(97));
        assert_eq!(unquote_char("'\\n'"), Ok(10));
        assert_eq!(
            unquote_char("'ab'"),
            Err("malformed character constant: 'ab'".into())
        );
        assert_eq!(
            parse_number("1__0"),
            Err("illegal number syntax: \"1__0\"".into())
        );
        assert_eq!(parse_number("0x_1F"), Ok(Num::Int(31)));
    }

    #[test]
    fn unquote_go_escapes() {
        assert_eq!(unquote(r#""a\tb\x41\u00e9\101\"""#).unwrap(), "a\tbAéA\"");
        assert_eq!(unquote("`raw\\n`").unwrap(), "raw\\n");
        assert!(unquote(r#""\q""#).is_err());
    }

    #[test]
    fn glob() {
        assert!(glob_match("sprig_*", "sprig_upper"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*c*e", "abcde"));
        assert!(!glob_match("sprig_*", "env"));
        assert!(glob_match("env", "env"));
    }
}
