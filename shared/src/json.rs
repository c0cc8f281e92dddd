//! A JSON value that keeps every number as the exact text Vault sent.
//!
//! Why our own: agent.md §0.1 requires `1e3`, `1E3`, `1.0` and `12345678901234567890` to reach
//! a template unchanged. serde_json's `arbitrary_precision` keeps digits but normalises
//! exponents (`1e3` becomes `1e+3`), and no well-kept crate offers a literal-exact number. So the
//! Vault client captures a response's `data` as a [`serde_json::value::RawValue`] and this small
//! recursive-descent parser turns that text into a [`Json`] tree. Object keys keep their order of
//! arrival; consumers that must sort (Go's `map` iteration and `json.Marshal`) sort themselves.

/// A JSON value with literal numbers.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number exactly as written in the source text.
    Number(Box<str>),
    String(String),
    Array(Vec<Json>),
    /// Members in source order (duplicate keys: the last one wins, as Go's decoder).
    Object(Vec<(String, Json)>),
}

/// Why a text is not JSON, with the byte offset.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid JSON at byte {offset}: {reason}")]
pub struct JsonError {
    pub offset: usize,
    pub reason: &'static str,
}

impl Json {
    /// Parses a complete JSON text.
    pub fn parse(text: &str) -> Result<Json, JsonError> {
        let mut p = Parser {
            b: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        p.ws();
        let v = p.value()?;
        p.ws();
        if p.i != p.b.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(v)
    }

    /// Member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts a serde_json value (numbers as serde_json prints them).
    pub fn from_value(v: &serde_json::Value) -> Json {
        use serde_json::Value;
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.to_string().into()),
            Value::String(s) => Json::String(s.clone()),
            Value::Array(a) => Json::Array(a.iter().map(Json::from_value).collect()),
            Value::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Serialises as Go's `encoding/json` does for `map[string]interface{}` holding
    /// `json.Number`s: object keys sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, numbers literal.
    pub fn to_go_json(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out, None, 0);
        out
    }

    /// As [`Json::to_go_json`] with `json.MarshalIndent(v, "", indent)`.
    pub fn to_go_json_indent(&self, indent: &str) -> String {
        let mut out = String::new();
        self.write_go(&mut out, Some(indent), 0);
        out
    }

    fn write_go(&self, out: &mut String, indent: Option<&str>, level: usize) {
        let newline = |out: &mut String, level: usize| {
            if let Some(ind) = indent {
                out.push('\n');
                for _ in 0..level {
                    out.push_str(ind);
                }
            }
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => go_quote(out, s),
            Json::Array(a) => {
                if a.is_empty() {
                    out.push_str("[]");
                    return;
                }
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, level + 1);
                    v.write_go(out, indent, level + 1);
                }
                newline(out, level);
                out.push(']');
            }
            Json::Object(m) => {
                if m.is_empty() {
                    out.push_str("{}");
                    return;
                }
                out.push('{');
                for (i, (k, v)) in sorted_members(m).into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    newline(out, level + 1);
                    go_quote(out, k);
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    v.write_go(out, indent, level + 1);
                }
                newline(out, level);
                out.push('}');
            }
        }
    }
}

/// Object members sorted by key, duplicates resolved to the last one (Go map semantics).
pub fn sorted_members(m: &[(String, Json)]) -> Vec<(&str, &Json)> {
    let mut map: std::collections::BTreeMap<&str, &Json> = std::collections::BTreeMap::new();
    for (k, v) in m {
        map.insert(k.as_str(), v);
    }
    map.into_iter().collect()
}

/// Appends `s` quoted as Go's `encoding/json` does (with HTML escaping).
pub fn go_quote(out: &mut String, s: &str) {
    go_quote_with(out, s, true)
}

/// Appends `s` quoted as Go's `encoding/json` does; `html` escapes `<`, `>` and `&` as `Marshal`
/// does (an `Encoder` with `SetEscapeHTML(false)` does not). U+2028/U+2029 are always escaped.
pub fn go_quote_with(out: &mut String, s: &str, html: bool) {
    crate::go::json::quote_to(out, s, html)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 512;

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> JsonError {
        JsonError {
            offset: self.i,
            reason,
        }
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn lit(&mut self, word: &'static [u8], v: Json) -> Result<Json, JsonError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("unknown literal"))
        }
    }

    fn value(&mut self) -> Result<Json, JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'n') => self.lit(b"null", Json::Null),
            Some(b't') => self.lit(b"true", Json::Bool(true)),
            Some(b'f') => self.lit(b"false", Json::Bool(false)),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'[') => self.nested(|p| p.array()),
            Some(b'{') => self.nested(|p| p.object()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn nested(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<Json, JsonError>,
    ) -> Result<Json, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn array(&mut self) -> Result<Json, JsonError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self) -> Result<Json, JsonError> {
        self.i += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            if let Some(slot) = members.iter_mut().find(|(mk, _)| *mk == k) {
                slot.1 = v;
            } else {
                members.push((k, v));
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        let text =
            std::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err("invalid number"))?;
        Ok(Json::Number(text.into()))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let s = std::str::from_utf8(h).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            // The input is a &str, so any run between ASCII delimiters is valid UTF-8.
            out.push_str(
                std::str::from_utf8(&self.b[start..self.i])
                    .map_err(|_| self.err("invalid UTF-8"))?,
            );
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.b[self.i..].starts_with(b"\\u") {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if (0xDC00..0xE000).contains(&lo) {
                                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                    } else {
                                        // Go replaces a lone surrogate with U+FFFD.
                                        out.push('\u{FFFD}');
                                        lo
                                    }
                                } else {
                                    0xFFFD
                                }
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_literal_text() {
        let j = Json::parse(r#"{"a":1e3,"b":1E+3,"c":1.0,"d":12345678901234567890,"e":-0.5e-7}"#)
            .unwrap();
        let lit = |k: &str| match j.get(k).unwrap() {
            Json::Number(n) => n.to_string(),
            _ => panic!(),
        };
        assert_eq!(lit("a"), "1e3");
        assert_eq!(lit("b"), "1E+3");
        assert_eq!(lit("c"), "1.0");
        assert_eq!(lit("d"), "12345678901234567890");
        assert_eq!(lit("e"), "-0.5e-7");
    }

    #[test]
    fn go_json_sorts_keys_and_escapes_html() {
        let j = Json::parse(r#"{"z":[1,"<a&b>"],"a":{"y":null,"x":true},"m":"é\u2028"}"#).unwrap();
        assert_eq!(
            j.to_go_json(),
            r#"{"a":{"x":true,"y":null},"m":"é\u2028","z":[1,"\u003ca\u0026b\u003e"]}"#
        );
        assert_eq!(
            Json::parse(r#"{"b":[],"a":{}}"#)
                .unwrap()
                .to_go_json_indent("  "),
            "{\n  \"a\": {},\n  \"b\": []\n}"
        );
    }

    #[test]
    fn control_characters_escape_as_go_1_22_does() {
        let mut out = String::new();
        go_quote(&mut out, "a\u{8}b\u{c}c\u{1}\t");
        assert_eq!(out, r#""a\bb\fc\u0001\t""#);
    }

    #[test]
    fn strings_unescape_and_surrogates_pair() {
        let j = Json::parse(r#""\ud83d\ude00\n\"\/""#).unwrap();
        assert_eq!(j.as_str(), Some("😀\n\"/"));
    }

    #[test]
    fn bad_input_names_the_offset() {
        assert_eq!(Json::parse("{\"a\":01}").unwrap_err().offset, 6);
        assert!(Json::parse("[1,]").is_err());
        assert!(Json::parse("1 2").is_err());
        assert!(
            Json::parse(&"[".repeat(600))
                .unwrap_err()
                .reason
                .contains("deep")
        );
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let j = Json::parse(r#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(j.to_go_json(), r#"{"a":2}"#);
    }
}
