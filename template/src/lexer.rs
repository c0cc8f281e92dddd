//! The lexer of Go's `text/template` (agent.md §4.1): splits a template into text and action
//! tokens, applying trim markers (`{{- ` / ` -}}`), comments and custom delimiters. No regex: one
//! forward scan over the bytes.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Plain text between actions (already trimmed by trim markers).
    Text,
    LeftDelim,
    RightDelim,
    /// A run of spaces inside an action (separates arguments).
    Space,
    /// `.Name` (one element; the parser joins chains).
    Field,
    /// `$` or `$name`.
    Variable,
    Identifier,
    /// `"…"` with quotes.
    String,
    /// `` `…` `` with backquotes.
    RawString,
    /// `'a'` with quotes.
    CharConst,
    Number,
    Bool,
    Nil,
    /// `.` alone.
    Dot,
    Pipe,
    LeftParen,
    RightParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// Another printable ASCII character (`,`).
    Char,
    Comment,
    KwBlock,
    KwBreak,
    KwContinue,
    KwDefine,
    KwElse,
    KwEnd,
    KwIf,
    KwRange,
    KwTemplate,
    KwWith,
    Eof,
    /// A lexing error; `msg` is the message.
    Error,
}

/// One token: its kind, the bytes it covers (for `Text`, after trimming), and its 1-based line.
#[derive(Clone, Debug)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    pub line: u32,
    /// The error message for [`Kind::Error`].
    pub msg: Option<String>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Tokenises `input` with the given delimiters. The last token is `Eof` or `Error`.
pub fn lex(input: &str, left: &str, right: &str) -> Vec<Token> {
    let mut lx = Lexer {
        input,
        bytes: input.as_bytes(),
        left,
        right,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        tokens: Vec::with_capacity(input.len() / 4 + 4),
        paren_depth: 0,
    };
    lx.run();
    lx.tokens
}

struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    left: &'a str,
    right: &'a str,
    pos: usize,
    start: usize,
    line: u32,
    start_line: u32,
    tokens: Vec<Token>,
    paren_depth: i32,
}

enum State {
    Text,
    LeftDelim,
    Inside,
    Done,
}

impl Lexer<'_> {
    fn run(&mut self) {
        let mut st = State::Text;
        loop {
            st = match st {
                State::Text => self.lex_text(),
                State::LeftDelim => self.lex_left_delim(),
                State::Inside => self.lex_inside(),
                State::Done => return,
            }
        }
    }

    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn emit(&mut self, kind: Kind) {
        self.tokens.push(Token {
            kind,
            start: self.start,
            end: self.pos,
            line: self.start_line,
            msg: None,
        });
        self.ignore();
    }

    /// Skips to `pos`, counting newlines.
    fn ignore(&mut self) {
        self.line += count_nl(&self.bytes[self.start.min(self.pos)..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn error(&mut self, msg: String) -> State {
        self.tokens.push(Token {
            kind: Kind::Error,
            start: self.start,
            end: self.pos,
            line: self.start_line,
            msg: Some(msg),
        });
        State::Done
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn has_left_trim(s: &[u8]) -> bool {
        s.len() >= 2 && s[0] == b'-' && is_space(s[1])
    }

    fn has_right_trim(s: &[u8]) -> bool {
        s.len() >= 2 && is_space(s[0]) && s[1] == b'-'
    }

    /// At a right delimiter (possibly with a trim marker before it)? Returns (delim, trim).
    fn at_right_delim(&self) -> (bool, bool) {
        let r = &self.bytes[self.pos..];
        if Self::has_right_trim(r) && r[2..].starts_with(self.right.as_bytes()) {
            return (true, true);
        }
        (r.starts_with(self.right.as_bytes()), false)
    }

    fn lex_text(&mut self) -> State {
        match self.rest().find(self.left) {
            Some(x) => {
                let at = self.pos + x;
                let after = &self.bytes[at + self.left.len()..];
                let mut end = at;
                if Self::has_left_trim(after) {
                    while end > self.pos && is_space(self.bytes[end - 1]) {
                        end -= 1;
                    }
                }
                if end > self.pos {
                    self.tokens.push(Token {
                        kind: Kind::Text,
                        start: self.start,
                        end,
                        line: self.start_line,
                        msg: None,
                    });
                }
                self.pos = at;
                self.ignore();
                State::LeftDelim
            }
            None => {
                self.pos = self.input.len();
                if self.pos > self.start {
                    self.emit(Kind::Text);
                }
                self.emit(Kind::Eof);
                State::Done
            }
        }
    }

    fn lex_left_delim(&mut self) -> State {
        self.pos += self.left.len();
        let trim = Self::has_left_trim(&self.bytes[self.pos..]);
        let after = if trim { 2 } else { 0 };
        if self.bytes[self.pos + after..].starts_with(b"/*") {
            self.pos += after;
            self.ignore();
            return self.lex_comment();
        }
        self.emit(Kind::LeftDelim);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        State::Inside
    }

    fn lex_comment(&mut self) -> State {
        let Some(x) = self.rest().find("*/") else {
            return self.error("unclosed comment".into());
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".into());
        }
        self.emit(Kind::Comment);
        if trim {
            self.pos += 2;
        }
        self.pos += self.right.len();
        if trim {
            self.skip_leading_space();
        }
        self.ignore();
        State::Text
    }

    fn skip_leading_space(&mut self) {
        while self.pos < self.bytes.len() && is_space(self.bytes[self.pos]) {
            self.pos += 1;
        }
    }

    fn lex_right_delim(&mut self, trim: bool) -> State {
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += self.right.len();
        self.emit(Kind::RightDelim);
        if trim {
            self.skip_leading_space();
            self.ignore();
        }
        State::Text
    }

    fn lex_inside(&mut self) -> State {
        let (delim, trim) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return self.lex_right_delim(trim);
            }
            return self.error("unclosed left paren".into());
        }
        let Some(c) = self.next_char() else {
            return self.error("unclosed action".into());
        };
        match c {
            c if c.is_ascii() && is_space(c as u8) => {
                self.pos -= 1;
                self.lex_space()
            }
            '=' => {
                self.emit(Kind::Assign);
                State::Inside
            }
            ':' => {
                if self.next_char() != Some('=') {
                    return self.error("expected :=".into());
                }
                self.emit(Kind::Declare);
                State::Inside
            }
            '|' => {
                self.emit(Kind::Pipe);
                State::Inside
            }
            '"' => self.lex_quote(b'"', Kind::String, "unterminated quoted string"),
            '\'' => self.lex_quote(b'\'', Kind::CharConst, "unterminated character constant"),
            '`' => match self.rest().find('`') {
                Some(x) => {
                    self.pos += x + 1;
                    self.emit(Kind::RawString);
                    State::Inside
                }
                None => self.error("unterminated raw quoted string".into()),
            },
            '$' => self.lex_field_or_var(Kind::Variable),
            '.' => {
                if self.pos < self.bytes.len() && !self.bytes[self.pos].is_ascii_digit() {
                    return self.lex_field_or_var(Kind::Field);
                }
                self.pos -= 1;
                self.lex_number()
            }
            '+' | '-' | '0'..='9' => {
                self.pos -= 1;
                self.lex_number()
            }
            c if is_alnum(c) => {
                self.pos -= c.len_utf8();
                self.lex_identifier()
            }
            '(' => {
                self.emit(Kind::LeftParen);
                self.paren_depth += 1;
                State::Inside
            }
            ')' => {
                self.emit(Kind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.error("unexpected right paren".into());
                }
                State::Inside
            }
            c if c.is_ascii() && !c.is_ascii_control() => {
                self.emit(Kind::Char);
                State::Inside
            }
            c => self.error(format!(
                "unrecognized character in action: {}",
                go_char_u(c)
            )),
        }
    }

    fn lex_space(&mut self) -> State {
        let mut n = 0;
        while self.pos < self.bytes.len() && is_space(self.bytes[self.pos]) {
            self.pos += 1;
            n += 1;
        }
        let r = &self.bytes[self.pos - 1..];
        if Self::has_right_trim(r) && r[2..].starts_with(self.right.as_bytes()) {
            self.pos -= 1;
            if n == 1 {
                return State::Inside;
            }
        }
        self.emit(Kind::Space);
        State::Inside
    }

    fn lex_quote(&mut self, q: u8, kind: Kind, unterminated: &str) -> State {
        loop {
            if self.pos >= self.bytes.len() {
                return self.error(unterminated.into());
            }
            let b = self.bytes[self.pos];
            self.pos += 1;
            if b == b'\\' {
                if self.pos >= self.bytes.len() || self.bytes[self.pos] == b'\n' {
                    return self.error(unterminated.into());
                }
                let c = self.peek_char().unwrap_or('\0');
                self.pos += c.len_utf8();
            } else if b == b'\n' {
                return self.error(unterminated.into());
            } else if b == q {
                break;
            }
        }
        self.emit(kind);
        State::Inside
    }

    fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(self.right),
        }
    }

    fn lex_field_or_var(&mut self, kind: Kind) -> State {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return State::Inside;
        }
        while let Some(c) = self.peek_char() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or('\0');
            return self.error(format!("bad character {}", go_char_u(c)));
        }
        self.emit(kind);
        State::Inside
    }

    fn lex_identifier(&mut self) -> State {
        while let Some(c) = self.peek_char() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        if !self.at_terminator() {
            let c = self.peek_char().unwrap_or('\0');
            return self.error(format!("bad character {}", go_char_u(c)));
        }
        let kind = match &self.input[self.start..self.pos] {
            "block" => Kind::KwBlock,
            "break" => Kind::KwBreak,
            "continue" => Kind::KwContinue,
            "define" => Kind::KwDefine,
            "else" => Kind::KwElse,
            "end" => Kind::KwEnd,
            "if" => Kind::KwIf,
            "range" => Kind::KwRange,
            "nil" => Kind::Nil,
            "template" => Kind::KwTemplate,
            "with" => Kind::KwWith,
            "true" | "false" => Kind::Bool,
            _ => Kind::Identifier,
        };
        self.emit(kind);
        State::Inside
    }

    fn accept(&mut self, set: &[u8]) -> bool {
        if self.pos < self.bytes.len() && set.contains(&self.bytes[self.pos]) {
            self.pos += 1;
            return true;
        }
        false
    }

    fn accept_run(&mut self, set: &[u8]) {
        while self.accept(set) {}
    }

    fn lex_number(&mut self) -> State {
        let bad = |lx: &mut Self| {
            let text = lx.input[lx.start..lx.pos].to_string();
            lx.error(format!("bad number syntax: {}", go_quote(&text)))
        };
        if !self.scan_number() {
            return bad(self);
        }
        if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
            // Go's complex form `1+2i`: no spaces, must end in `i` (the parser rejects it later).
            if !self.scan_number() || self.bytes[self.pos - 1] != b'i' {
                return bad(self);
            }
        }
        self.emit(Kind::Number);
        State::Inside
    }

    fn scan_number(&mut self) -> bool {
        self.accept(b"+-");
        let mut digits: &[u8] = b"0123456789_";
        if self.accept(b"0") {
            if self.accept(b"xX") {
                digits = b"0123456789abcdefABCDEF_";
            } else if self.accept(b"oO") {
                digits = b"01234567_";
            } else if self.accept(b"bB") {
                digits = b"01_";
            }
        }
        self.accept_run(digits);
        if self.accept(b".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept(b"eE") {
            self.accept(b"+-");
            self.accept_run(b"0123456789_");
        }
        if digits.len() == 23 && self.accept(b"pP") {
            self.accept(b"+-");
            self.accept_run(b"0123456789_");
        }
        self.accept(b"i");
        if let Some(c) = self.peek_char()
            && is_alnum(c)
        {
            self.pos += c.len_utf8();
            return false;
        }
        true
    }
}

fn count_nl(b: &[u8]) -> u32 {
    b.iter().filter(|&&c| c == b'\n').count() as u32
}

/// Go's `%#U` of a rune: `U+0023 '#'`.
pub fn go_char_u(c: char) -> String {
    if c.is_control() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// Go's `%q` of a string (`strconv.Quote`), used in messages and `printf "%q"`.
pub fn go_quote(s: &str) -> String {
    vaultlet_shared::go::strconv::quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        lex(src, "{{", "}}")
            .into_iter()
            .map(|t| {
                (
                    t.kind,
                    t.msg.unwrap_or_else(|| src[t.start..t.end].to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn text_and_fields() {
        let k = kinds("a {{ .Data.x | f 1 }} b");
        let want = [
            (Kind::Text, "a "),
            (Kind::LeftDelim, "{{"),
            (Kind::Space, " "),
            (Kind::Field, ".Data"),
            (Kind::Field, ".x"),
            (Kind::Space, " "),
            (Kind::Pipe, "|"),
            (Kind::Space, " "),
            (Kind::Identifier, "f"),
            (Kind::Space, " "),
            (Kind::Number, "1"),
            (Kind::Space, " "),
            (Kind::RightDelim, "}}"),
            (Kind::Text, " b"),
            (Kind::Eof, ""),
        ];
        assert_eq!(
            k,
            want.iter()
                .map(|(k, s)| (*k, s.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn trim_markers_and_negative_numbers() {
        let k = kinds("a \n {{- 3 -}} \n b{{-3}}");
        assert_eq!(k[0], (Kind::Text, "a".into()));
        assert_eq!(k[3], (Kind::RightDelim, "}}".into()));
        assert_eq!(k[4], (Kind::Text, "b".into()));
        assert_eq!(k[6], (Kind::Number, "-3".into()));
    }

    #[test]
    fn comments_custom_delims_and_errors() {
        let k = kinds("x {{- /* c */ -}} y");
        assert_eq!(
            k.iter().map(|t| t.0).collect::<Vec<_>>(),
            [Kind::Text, Kind::Comment, Kind::Text, Kind::Eof]
        );
        assert_eq!(k[2].1, "y");
        let t = lex("[[ .a ]]{{ x }}", "[[", "]]");
        assert_eq!(t.last().map(|t| t.kind), Some(Kind::Eof));
        assert_eq!(t[t.len() - 2].kind, Kind::Text);
        assert_eq!(kinds("{{ .a").last().unwrap().1, "unclosed action");
        assert_eq!(
            kinds("{{ \"abc }}").last().unwrap().1,
            "unterminated quoted string"
        );
        assert_eq!(kinds("{{/* x }}").last().unwrap().1, "unclosed comment");
        assert_eq!(
            kinds("{{/* x */ 1}}").last().unwrap().1,
            "comment ends before closing delimiter"
        );
        assert_eq!(
            kinds("{{ 3x }}").last().unwrap().1,
            "bad number syntax: \"3x\""
        );
        assert_eq!(kinds("{{ ) }}").last().unwrap().1, "unexpected right paren");
        assert_eq!(
            kinds("{{1-}}").last().unwrap().1,
            "bad number syntax: \"1-\""
        );
    }

    #[test]
    fn keywords_and_lines() {
        let t = lex("\n{{if\n$x}}", "{{", "}}");
        assert_eq!(t[1].kind, Kind::LeftDelim);
        assert_eq!(t[1].line, 2);
        assert_eq!(t[2].kind, Kind::KwIf);
        assert_eq!(t[4].kind, Kind::Variable);
        assert_eq!(t[4].line, 3);
    }
}
