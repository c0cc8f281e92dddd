//! HCL **v1** text to the generic JSON tree that `decode` reads.
//!
//! Approach: a token-aware pre-pass, then `hcl-rs` (an HCL2 parser) on the result. hcl-rs meets
//! HCL1's block/attribute/heredoc/comment syntax, but disagrees on two lexical points that matter
//! for agent configs, and the pre-pass fixes exactly those, skipping strings, comments and heredocs:
//! - integer literals with a leading `0` are octal in HCL1 (`mode = 0600` is 384) and `0x…` is hex;
//!   HCL2 reads `0600` as 600 and has no hex. The pass rewrites them to decimal.
//! - `${` and `%{` inside strings and heredocs are template syntax in HCL2 but plain text in HCL1
//!   (shell commands use `${VAR}`). The pass escapes them (`$${`, `%%{`), which HCL2 unescapes.
//!
//! - HCL1 separates the items of a block or object by any whitespace or an optional comma, so a
//!   block may be written on one line (`config { path = "/t" mode = 0640 }`); HCL2 wants each
//!   item of a block on its own line and the braces of a multi-line block on lines of their own.
//!   The pass inserts those line breaks ([`Layout`]); a config laid out one item per line, as
//!   every example is, passes unchanged.
//!
//! Shape of the output: attributes become keys (a repeated attribute: the last wins); blocks become
//! arrays of objects under their name, each label wrapping the body (`method "kubernetes" {…}` ⇒
//! `"method": [{"kubernetes": {…}}]`), which is the HCL1 JSON dialect `decode` already accepts.

use hcl::eval::{Context, Evaluate};
use hcl::{Body, Structure};
use serde_json::{Map, Value};

use super::error::ConfigError;

/// Parse HCL1 text; `origin` names the file (or `<input>`) in errors.
pub(crate) fn parse(text: &str, origin: &str) -> Result<Value, ConfigError> {
    let pre = preprocess(text).map_err(|message| ConfigError::Syntax {
        origin: origin.to_string(),
        message,
    })?;
    let body = hcl::parse(&pre).map_err(|e| ConfigError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    body_to_value(&body, origin).map(Value::Object)
}

fn body_to_value(body: &Body, origin: &str) -> Result<Map<String, Value>, ConfigError> {
    let ctx = Context::new();
    let mut out = Map::new();
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let v = a.expr().evaluate(&ctx).map_err(|e| ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: format!("{}: {e}", a.key()),
                })?;
                let v = serde_json::to_value(&v).map_err(|e| ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: format!("{}: {e}", a.key()),
                })?;
                out.insert(a.key().to_string(), v);
            }
            Structure::Block(b) => {
                let mut v = Value::Object(body_to_value(b.body(), origin)?);
                for label in b.labels().iter().rev() {
                    let mut m = Map::new();
                    m.insert(label.as_str().to_string(), v);
                    v = Value::Object(m);
                }
                match out.get_mut(b.identifier()) {
                    Some(Value::Array(items)) => items.push(v),
                    _ => {
                        out.insert(b.identifier().to_string(), Value::Array(vec![v]));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The lexical pre-pass described in the module doc.
pub(crate) fn preprocess(src: &str) -> Result<String, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len() + 16);
    let mut i = 0;
    let n = chars.len();
    let mut lay = Layout::new();
    while i < n {
        let c = chars[i];
        // Comments.
        if c == '#' || (c == '/' && chars.get(i + 1) == Some(&'/')) {
            while i < n && chars[i] != '\n' {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            out.push_str("/*");
            i += 2;
            while i < n && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                out.push(chars[i]);
                i += 1;
            }
            if i >= n {
                return Err("unterminated /* comment".into());
            }
            out.push_str("*/");
            i += 2;
            continue;
        }
        // Quoted strings.
        if c == '"' {
            lay.atom(&mut out);
            out.push('"');
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated string".into());
                };
                match d {
                    '\\' => {
                        out.push('\\');
                        if let Some(&e) = chars.get(i + 1) {
                            out.push(e);
                        }
                        i += 2;
                    }
                    '"' => {
                        out.push('"');
                        i += 1;
                        break;
                    }
                    '\n' => return Err("newline in a quoted string".into()),
                    '$' | '%' if chars.get(i + 1) == Some(&'{') => {
                        out.push(d);
                        out.push(d);
                        out.push('{');
                        i += 2;
                    }
                    _ => {
                        out.push(d);
                        i += 1;
                    }
                }
            }
            continue;
        }
        // Heredocs: <<EOT or <<-EOT, then lines up to the marker line.
        if c == '<' && chars.get(i + 1) == Some(&'<') {
            let mut j = i + 2;
            if chars.get(j) == Some(&'-') {
                j += 1;
            }
            let start = j;
            while j < n && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let marker: String = chars[start..j].iter().collect();
            if !marker.is_empty() && chars.get(j) == Some(&'\n') {
                lay.atom(&mut out);
                lay.top().multi = true;
                out.extend(&chars[i..=j]);
                i = j + 1;
                loop {
                    if i >= n {
                        return Err(format!("heredoc {marker:?} is not closed"));
                    }
                    let line_end = (i..n).find(|&k| chars[k] == '\n').unwrap_or(n);
                    let line: String = chars[i..line_end].iter().collect();
                    if line.trim() == marker {
                        out.push_str(&line);
                        i = line_end;
                        break;
                    }
                    out.push_str(&line.replace("${", "$${").replace("%{", "%%{"));
                    if line_end < n {
                        out.push('\n');
                    }
                    i = line_end + 1;
                }
                continue;
            }
        }
        // Numbers that start a token.
        if c.is_ascii_digit() && !prev_is_ident(&chars, i) {
            let mut j = i;
            while j < n && (chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_')
            {
                // Stop at an exponent sign handled below; letters cover hex digits and 'e'.
                j += 1;
            }
            // Exponent with sign (1e-3).
            while j < n
                && (chars[j] == '-' || chars[j] == '+')
                && matches!(chars.get(j - 1), Some('e' | 'E'))
                && !chars[i..j].iter().any(|c| *c == 'x' || *c == 'X')
            {
                j += 1;
                while j < n && chars[j].is_ascii_digit() {
                    j += 1;
                }
            }
            let tok: String = chars[i..j].iter().collect();
            lay.atom(&mut out);
            out.push_str(&rewrite_number(&tok)?);
            i = j;
            continue;
        }
        // Identifiers (keys, labels, `true`, …).
        if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < n && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '-' | '.')) {
                j += 1;
            }
            lay.atom(&mut out);
            out.extend(&chars[i..j]);
            i = j;
            continue;
        }
        if lay.punct(c, &mut out) {
            out.push(c);
        }
        i += 1;
    }
    Ok(out)
}

/// What a brace or bracket opened: a block body (or the file), an object value, or a list / call
/// whose inside the layout pass leaves alone.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Body,
    Object,
    Other,
}

/// Where the pass is within one item (`key "label" = value` or `key "label" { … }`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    /// Before an item.
    Start,
    /// After its key(s).
    Keys,
    /// After `=`: the value comes next.
    Value,
    /// The value (or the block) is complete; a next item on this line needs a line break.
    Done,
    /// Something the pass does not model (HCL2 expressions): nothing is inserted until the next
    /// line.
    Skip,
}

#[derive(Debug)]
struct Frame {
    kind: Kind,
    st: St,
    /// A block's body (not the file's top level).
    block: bool,
    /// Output position just after the opening `{`.
    open_at: usize,
    /// Whether something followed the opening `{` on its line (`None`: nothing yet).
    inline: Option<bool>,
    /// Whether the body spans lines, or must (two items, a nested block).
    multi: bool,
}

/// The one-line-block part of the pre-pass (module doc): follows items through blocks, objects
/// and lists, and inserts the line breaks HCL2 needs where HCL1 needs none.
struct Layout {
    frames: Vec<Frame>,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            frames: vec![Frame {
                kind: Kind::Body,
                st: St::Start,
                block: false,
                open_at: 0,
                inline: Some(false),
                multi: true,
            }],
        }
    }

    fn top(&mut self) -> &mut Frame {
        let last = self.frames.len() - 1;
        &mut self.frames[last]
    }

    fn note_token(&mut self) {
        let f = self.top();
        f.inline.get_or_insert(true);
    }

    /// Sets the state of the current item, unless inside a list or call.
    fn set(&mut self, st: St) {
        let f = self.top();
        if f.kind != Kind::Other {
            f.st = st;
        }
    }

    /// A key, label or value token (identifier, string, number, heredoc) is about to be written.
    fn atom(&mut self, out: &mut String) {
        self.note_token();
        let f = self.top();
        if f.kind == Kind::Other {
            return;
        }
        f.st = match f.st {
            St::Start | St::Keys => St::Keys,
            St::Value => St::Done,
            St::Done => {
                // A next item on the same line.
                out.push('\n');
                f.multi = true;
                St::Keys
            }
            St::Skip => St::Skip,
        };
    }

    /// Punctuation or whitespace `c` outside strings and comments; `false` ⇒ drop it.
    fn punct(&mut self, c: char, out: &mut String) -> bool {
        if matches!(c, ' ' | '\t' | '\r') {
            return true;
        }
        if c == '\n' {
            let f = self.top();
            f.inline.get_or_insert(false);
            f.multi = true;
            if matches!(f.st, St::Start | St::Done | St::Skip) {
                f.st = St::Start;
            }
            return true;
        }
        self.note_token();
        let (kind, st) = {
            let f = self.top();
            (f.kind, f.st)
        };
        match c {
            '{' => {
                let (child, block) = match (kind, st) {
                    (Kind::Other, _) => (Kind::Object, false),
                    (_, St::Keys) => (Kind::Body, true),
                    (_, St::Value) => (Kind::Object, false),
                    _ => (Kind::Other, false),
                };
                self.set(if child == Kind::Other {
                    St::Skip
                } else {
                    St::Done
                });
                if block {
                    // A block inside a block makes the outer one span lines.
                    self.top().multi = true;
                }
                out.push('{');
                self.frames.push(Frame {
                    kind: child,
                    st: St::Start,
                    block,
                    open_at: out.len(),
                    inline: None,
                    multi: false,
                });
                return false;
            }
            '}' | ']' | ')' => {
                if self.frames.len() > 1 {
                    let f = self.frames.pop().expect("more than one frame");
                    if c == '}' && f.block && f.multi {
                        if f.inline == Some(true) {
                            out.insert(f.open_at, '\n');
                        }
                        let line = &out[out.rfind('\n').map_or(0, |k| k + 1)..];
                        if !line.trim().is_empty() {
                            out.push('\n');
                        }
                    }
                    let multi = f.multi;
                    self.top().multi |= multi;
                }
            }
            '[' | '(' => {
                self.set(if st == St::Value { St::Done } else { St::Skip });
                self.frames.push(Frame {
                    kind: Kind::Other,
                    st: St::Start,
                    block: false,
                    open_at: out.len() + 1,
                    inline: None,
                    multi: false,
                });
            }
            '=' if st == St::Keys => self.set(St::Value),
            ':' if st == St::Keys && kind == Kind::Object => self.set(St::Value),
            // HCL1 allows a comma after an item of a block; HCL2 does not (a line break follows
            // instead if another item comes on this line).
            ',' if st == St::Done && kind == Kind::Body => return false,
            ',' if st == St::Done => self.set(St::Start),
            '-' if st == St::Value => {}
            _ => self.set(St::Skip),
        }
        true
    }
}

fn prev_is_ident(chars: &[char], i: usize) -> bool {
    let Some(k) = i.checked_sub(1) else {
        return false;
    };
    let p = chars[k];
    if p.is_alphanumeric() || p == '_' || p == '.' {
        return true;
    }
    if p == '-' {
        // `foo-1` is an identifier; `-1` after `=`/space/`[`/`,` is a negative number.
        return k
            .checked_sub(1)
            .is_some_and(|m| chars[m].is_alphanumeric() || chars[m] == '_');
    }
    false
}

/// `0600` ⇒ `384`, `0x1F` ⇒ `31`; anything else unchanged.
fn rewrite_number(tok: &str) -> Result<String, String> {
    // HCL1 reads both with Go's `strconv.ParseInt(tok, 0, 64)`.
    let go_int = |what: &str| {
        crate::go::strconv::parse_int(tok, 0)
            .map(|v| v.to_string())
            .map_err(|_| format!("invalid {what} number {tok:?}"))
    };
    if tok.to_ascii_lowercase().starts_with("0x") {
        return go_int("hex");
    }
    if tok.len() > 1 && tok.starts_with('0') && tok.bytes().all(|b| b.is_ascii_digit()) {
        return go_int("octal");
    }
    Ok(tok.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn octal_and_hex_outside_strings() {
        let p =
            preprocess("mode = 0600\nx = 0x1F\ny = \"0600\" # 0700\nz = 1.05\nw = 0\n").unwrap();
        assert_eq!(
            p,
            "mode = 384\nx = 31\ny = \"0600\" # 0700\nz = 1.05\nw = 0\n"
        );
    }

    #[test]
    fn identifiers_and_negatives() {
        assert_eq!(preprocess("a-0600 = 1").unwrap(), "a-0600 = 1");
        assert_eq!(preprocess("a = -010").unwrap(), "a = -8");
        assert_eq!(preprocess("sha256 = 1e-3").unwrap(), "sha256 = 1e-3");
    }

    #[test]
    fn invalid_octal_is_an_error() {
        assert!(preprocess("mode = 0800").is_err());
    }

    #[test]
    fn escapes_interpolation() {
        assert_eq!(
            preprocess("c = \"echo ${HOME} %{x}\"").unwrap(),
            "c = \"echo $${HOME} %%{x}\""
        );
        let v = parse("c = \"echo ${HOME} \\\"q\\\"\"\n", "t").unwrap();
        assert_eq!(v, json!({"c": "echo ${HOME} \"q\""}));
    }

    #[test]
    fn heredocs() {
        let v = parse("c = <<EOT\n{{ with secret \"a\" }}${X} 0600\nEOT\n", "t").unwrap();
        assert_eq!(v, json!({"c": "{{ with secret \"a\" }}${X} 0600\n"}));
        let v = parse("c = <<-EOT\n    a\n    b\n    EOT\n", "t").unwrap();
        assert_eq!(v, json!({"c": "a\nb\n"}));
    }

    #[test]
    fn blocks_and_labels() {
        let v = parse(
            "auto_auth {\n method \"kubernetes\" {\n  config = { role = \"x\" }\n }\n sink \"file\" {\n  config {\n   path = \"/t\"\n   mode = 0640\n  }\n }\n}\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"auto_auth": [{"method": [{"kubernetes": {"config": {"role": "x"}}}],
                "sink": [{"file": {"config": [{"path": "/t", "mode": 416}]}}]}]})
        );
    }

    #[test]
    fn comments() {
        let v = parse("// a\n# b\n/* c\n 0600 */ a = 1\n", "t").unwrap();
        assert_eq!(v, json!({"a": 1}));
    }

    #[test]
    fn one_line_blocks_load_as_in_hcl1() {
        let v = parse(
            "template { source = \"/a\" destination = \"/b\" }\nsink \"file\" { config { path = \"/t\" mode = 0640 } }\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"template": [{"source": "/a", "destination": "/b"}],
                "sink": [{"file": {"config": [{"path": "/t", "mode": 416}]}}]})
        );
        // Commas between the items of a block, several blocks on a line, an object value and a
        // list of objects without separators, braces that close on an item's line.
        let v = parse(
            "a { x = 1, y = [1, 2], z = true } b { w = -010 }\nc = { p = \"q\" r = { s = 1 t = 2 } }\nl = [{ u = 1 v = 2 }]\nd { e = 1\n  f = 2 }\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"a": [{"x": 1, "y": [1, 2], "z": true}], "b": [{"w": -8}],
                "c": {"p": "q", "r": {"s": 1, "t": 2}}, "l": [{"u": 1, "v": 2}],
                "d": [{"e": 1, "f": 2}]})
        );
        let v = parse(
            "m { b = [{ c = 1 d = 2 }] n = -1 o = 2.5e-3 s = \"{ x = 1 y = 2 }\" } # { z }\n",
            "t",
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"m": [{"b": [{"c": 1, "d": 2}], "n": -1, "o": 0.0025, "s": "{ x = 1 y = 2 }"}]})
        );
    }

    #[test]
    fn the_layout_pass_leaves_one_item_per_line_alone() {
        for src in [
            "a {\n  b = 1\n  c \"l\" {\n    d = [1, 2]\n  }\n}\n",
            "config { path = \"/t\" }\n",
            "x = { a = 1, b = \"2\" }\ny = f(1, 2) ? 3 : 4\n",
            "t {\n  c = <<EOT\nx { y = 1 z = 2 }\nEOT\n}\n",
        ] {
            assert_eq!(preprocess(src).unwrap(), src);
        }
    }
}
