//! Go strings that are not valid UTF-8 (agent.md §4.5.3): a Go `string` is any sequence of bytes,
//! and a template can make one — `base64Decode` of binary data (a keystore, a DER key), Sprig's
//! `b64dec`/`b32dec`, a `"\xff"` literal, or Sprig's byte-offset slicing (`trunc`, `substr`,
//! `abbrev`, `wrapWith`) cutting a multibyte character — which consul-template writes to the file
//! byte for byte.
//!
//! Design: such a value is a [`ByteString`] object (Go type `string`) holding the bytes and their
//! text with U+FFFD for each bad byte (Go's decoding: every byte of a bad sequence is one rune);
//! every valid string stays a plain [`Value::String`]. Why not make every string a byte string:
//! `Value::String(Arc<str>)` is matched all over the engine and its functions, and non-UTF-8 text
//! is rare, so carrying bytes only where they occur keeps the rest as it is.
//!
//! Functions that work on bytes in Go take their arguments' bytes ([`bytes`]) when one of them is
//! a byte string ([`any_binary`]) and build their result with [`from_bytes`], using the byte
//! versions of Go's `strings` functions here ([`find`], [`replace`], [`split`], [`trim_func`],
//! [`trim_cutset`]); their UTF-8 path is unchanged. Text built from parts — `printf`, `print`,
//! `%v` of a list or map, Sprig's `cat`/`quote`, `toTOML` — goes into a [`GoText`], which keeps
//! byte strings aside and splices them in at the end, as the evaluator does with its output.
//! Functions that decode runes see the U+FFFD text, as Go's do (`toUpper`, `toJSON`).
//!
//! Map keys are Go strings too (`sprig_dict (base64Decode "/w==") 1`), so [`Value::Map`] is keyed
//! by [`Key`]: the key's bytes, compared and ordered as bytes (Go's `==` and `%v`/`range` order),
//! so `"\xff"` and `"\u{FFFD}"` are two keys. A UTF-8 key, nearly every one (secret data, JSON,
//! template literals), is a plain `String`; a key that is not UTF-8 is a shared [`ByteString`].
//! Why this and not a separate map type for maps that hold such a key: every function that takes a
//! map would need a second arm, and a key added later would have to convert the map. Why not
//! `Box<[u8]>` keys: printing a key and `range` would check UTF-8 again each time. The enum is as
//! big as a `String` (the `Arc` fits beside its niche), a lookup by a name's bytes
//! (`Borrow<[u8]>`) compares as a `str` lookup did, and a UTF-8 key prints and ranges as before.

use std::sync::Arc;

use crate::value::GoWrite;
use crate::{Object, Value};

/// A Go string whose bytes are not valid UTF-8.
#[derive(Debug)]
pub struct ByteString {
    bytes: Box<[u8]>,
    text: String,
}

impl Object for ByteString {
    fn type_name(&self) -> &'static str {
        "string"
    }
    fn print(&self) -> String {
        self.text.clone()
    }
    fn go_string(&self) -> Option<(&str, &[u8])> {
        Some((&self.text, &self.bytes))
    }
}

/// A Go string of `bytes`: a [`Value::String`] when they are UTF-8, else a [`ByteString`].
pub fn from_bytes(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(s) => Value::str(s),
        Err(e) => {
            let bytes = e.into_bytes().into_boxed_slice();
            let text = lossy(&bytes);
            Value::Object(Arc::new(ByteString { bytes, text }))
        }
    }
}

/// The text Go's rune decoding sees: U+FFFD for every byte of a bad sequence (Rust's
/// `from_utf8_lossy` writes one for a whole truncated sequence).
pub fn lossy(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push('\u{FFFD}');
        }
    }
    out
}

/// Whether any of `args` is a string that is not UTF-8.
pub fn any_binary(args: &[Value]) -> bool {
    args.iter().any(|v| invalid_utf8(v).is_some())
}

/// The bytes of a value that is not valid UTF-8 (`None` for every other value).
pub fn invalid_utf8(v: &Value) -> Option<&[u8]> {
    match v {
        Value::Object(o) => o.go_string().map(|(_, b)| b),
        _ => None,
    }
}

/// The bytes of any Go string value (a string, a `json.Number`, a [`ByteString`]).
pub fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::String(s) | Value::Number(s) => Some(s.as_bytes()),
        v => invalid_utf8(v),
    }
}

/// Output text with byte strings spliced in at their offsets (the evaluator writes their text
/// nowhere and records `(offset, value)` instead).
pub fn splice(text: &str, raw: &[(usize, Value)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + raw.len() * 16);
    let mut at = 0;
    for (off, v) in raw {
        out.extend_from_slice(&text.as_bytes()[at..*off]);
        out.extend_from_slice(invalid_utf8(v).unwrap_or_default());
        at = *off;
    }
    out.extend_from_slice(&text.as_bytes()[at..]);
    out
}

/// Go's `utf8.DecodeRune`: the first rune of `b` and its width; a bad byte is U+FFFD, width 1.
pub fn decode_rune(b: &[u8]) -> (char, usize) {
    let n = match b.first() {
        None => return ('\u{FFFD}', 0),
        Some(0..=0x7f) => return (char::from(b[0]), 1),
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        Some(_) => return ('\u{FFFD}', 1),
    };
    match b.get(..n).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().unwrap_or('\u{FFFD}'), n),
        _ => ('\u{FFFD}', 1),
    }
}

/// Go's `utf8.DecodeLastRune`: the last rune of `b` and its width (a bad byte: U+FFFD, width 1).
pub fn decode_last_rune(b: &[u8]) -> (char, usize) {
    let Some(&last) = b.last() else {
        return ('\u{FFFD}', 0);
    };
    if last < 0x80 {
        return (char::from(last), 1);
    }
    let end = b.len();
    let lim = end.saturating_sub(4);
    let mut start = end - 1;
    while start > lim && (b[start] & 0xc0) == 0x80 {
        start -= 1;
    }
    match decode_rune(&b[start..end]) {
        (c, n) if start + n == end => (c, n),
        _ => ('\u{FFFD}', 1),
    }
}

/// Go's `for i, r := range s`: offset, rune and width of each rune (bad bytes one by one).
pub fn runes(b: &[u8]) -> impl Iterator<Item = (usize, char, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= b.len() {
            return None;
        }
        let (c, n) = decode_rune(&b[i..]);
        let at = i;
        i += n;
        Some((at, c, n))
    })
}

/// Go's `utf8.RuneCount`.
pub fn rune_count(b: &[u8]) -> usize {
    runes(b).count()
}

/// Go's `strconv.Quote` of any bytes: a bad byte is written `\xff` (`ascii`: `QuoteToASCII`,
/// other non-ASCII as `\u` escapes).
pub fn quote(b: &[u8], ascii: bool) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    out.push('"');
    for chunk in b.utf8_chunks() {
        let q = vaultlet_shared::go::strconv::quote(chunk.valid());
        let inner = &q[1..q.len() - 1];
        if ascii {
            for c in inner.chars() {
                if c.is_ascii() {
                    out.push(c);
                } else if (c as u32) < 0x10000 {
                    let _ =
                        std::fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", c as u32));
                } else {
                    let _ =
                        std::fmt::Write::write_fmt(&mut out, format_args!("\\U{:08x}", c as u32));
                }
            }
        } else {
            out.push_str(inner);
        }
        for byte in chunk.invalid() {
            let _ = std::fmt::Write::write_fmt(&mut out, format_args!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

/// Go's `strings.Index`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Go's `strings.Replace(s, old, new, n)` (`n` < 0: all): an empty `old` matches at the start and
/// after each rune.
pub fn replace(s: &[u8], old: &[u8], new: &[u8], n: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut left = if n < 0 { usize::MAX } else { n as usize };
    let mut at = 0;
    if old.is_empty() {
        for (i, _, w) in runes(s) {
            if left == 0 {
                break;
            }
            out.extend_from_slice(new);
            out.extend_from_slice(&s[i..i + w]);
            at = i + w;
            left -= 1;
        }
        if left > 0 && at == s.len() {
            out.extend_from_slice(new);
        }
        out.extend_from_slice(&s[at..]);
        return out;
    }
    while left > 0 {
        let Some(k) = find(&s[at..], old) else { break };
        out.extend_from_slice(&s[at..at + k]);
        out.extend_from_slice(new);
        at += k + old.len();
        left -= 1;
    }
    out.extend_from_slice(&s[at..]);
    out
}

/// Go's `strings.SplitN(s, sep, n)` (`n` < 0: all; 0: none): an empty `sep` splits into runes,
/// each bad byte on its own.
pub fn split<'a>(s: &'a [u8], sep: &[u8], n: i64) -> Vec<&'a [u8]> {
    let limit = if n < 0 { usize::MAX } else { n as usize };
    let mut out = Vec::new();
    if limit == 0 {
        return out;
    }
    if sep.is_empty() {
        for (i, _, w) in runes(s) {
            if out.len() + 1 == limit {
                out.push(&s[i..]);
                return out;
            }
            out.push(&s[i..i + w]);
        }
        return out;
    }
    let mut at = 0;
    while out.len() + 1 < limit {
        let Some(k) = find(&s[at..], sep) else { break };
        out.push(&s[at..at + k]);
        at += k + sep.len();
    }
    out.push(&s[at..]);
    out
}

/// Go's `strings.TrimFunc`: runes matching `f` off both ends (a bad byte is U+FFFD).
pub fn trim_func(s: &[u8], f: impl Fn(char) -> bool) -> &[u8] {
    let mut a = 0;
    while a < s.len() {
        let (c, n) = decode_rune(&s[a..]);
        if !f(c) {
            break;
        }
        a += n;
    }
    let mut b = s.len();
    while b > a {
        let (c, n) = decode_last_rune(&s[a..b]);
        if !f(c) {
            break;
        }
        b -= n;
    }
    &s[a..b]
}

/// Go's `strings.Trim(s, cutset)`: the runes of `cutset` off both ends; a bad byte in `s` is
/// U+FFFD, which a bad byte or U+FFFD in `cutset` matches.
pub fn trim_cutset<'a>(s: &'a [u8], cutset: &[u8]) -> &'a [u8] {
    if cutset.is_empty() {
        return s;
    }
    let set: Vec<char> = runes(cutset).map(|(_, c, _)| c).collect();
    trim_func(s, |c| set.contains(&c))
}

/// A key of a Go `map[string]interface {}` ([`Value::Map`]): the Go string's bytes. Nearly every
/// key is UTF-8 and is a plain `String` ([`Key::Str`]), so building, looking up (by bytes, through
/// `Borrow<[u8]>`, e.g. `m.get(name.as_bytes())`) and printing such a key costs what a `String`
/// key did; a key that is not UTF-8 is the [`ByteString`] value ([`Key::Bytes`]). Equality and
/// order are the bytes', Go's (`"\xff"` and `"\u{FFFD}"` are two keys; `%v` and `range` go in byte
/// order).
#[derive(Clone, Debug)]
pub enum Key {
    Str(String),
    /// Never UTF-8, so never equal to a [`Key::Str`]. (An `Arc`, so that a key is no bigger
    /// than a `String`.)
    Bytes(Arc<ByteString>),
}

impl Key {
    /// The key of any bytes.
    pub fn from_bytes(b: Vec<u8>) -> Key {
        match String::from_utf8(b) {
            Ok(s) => Key::Str(s),
            Err(e) => {
                let bytes = e.into_bytes().into_boxed_slice();
                let text = lossy(&bytes);
                Key::Bytes(Arc::new(ByteString { bytes, text }))
            }
        }
    }

    /// The key of a Go string value (a string, a `json.Number`, a [`ByteString`]).
    pub fn of(v: &Value) -> Option<Key> {
        match v {
            Value::String(s) | Value::Number(s) => Some(Key::Str(s.to_string())),
            v => invalid_utf8(v).map(|b| Key::from_bytes(b.to_vec())),
        }
    }

    /// The key of a text with byte strings in it ([`GoText`], e.g. Sprig's `strval`).
    pub fn of_text(t: GoText) -> Key {
        if t.raw.is_empty() {
            return Key::Str(t.text);
        }
        Key::from_bytes(t.into_bytes())
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Str(s) => s.as_bytes(),
            Key::Bytes(b) => &b.bytes,
        }
    }

    /// The key as text: U+FFFD for each bad byte (where Go decodes runes: `toJSON`, messages).
    pub fn text(&self) -> &str {
        match self {
            Key::Str(s) => s,
            Key::Bytes(b) => &b.text,
        }
    }

    /// The key as a Go string value (a [`ByteString`] when it is not UTF-8).
    pub fn to_value(&self) -> Value {
        match self {
            Key::Str(s) => Value::str(s.as_str()),
            Key::Bytes(b) => Value::Object(b.clone()),
        }
    }

    /// `%v` of the key (its bytes) into `out`.
    pub fn write_v<W: GoWrite>(&self, out: &mut W) {
        match self {
            Key::Str(s) => {
                let _ = out.write_str(s);
            }
            Key::Bytes(_) => out.go_string(&self.to_value()),
        }
    }
}

impl From<String> for Key {
    fn from(s: String) -> Key {
        Key::Str(s)
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Key {
        Key::Str(s.to_string())
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.as_bytes().hash(h);
    }
}

/// Text being built that may hold strings that are not UTF-8: `text` has nothing where one goes,
/// `raw` says which one goes at which offset; [`GoText::into_value`] splices them in.
#[derive(Default, Debug, Clone)]
pub struct GoText {
    pub text: String,
    pub raw: Vec<(usize, Value)>,
}

impl GoText {
    pub fn push_str(&mut self, s: &str) {
        self.text.push_str(s);
    }

    pub fn push(&mut self, c: char) {
        self.text.push(c);
    }

    pub fn extend(&mut self, it: impl IntoIterator<Item = char>) {
        self.text.extend(it);
    }

    /// Any bytes: the text when they are UTF-8, else kept aside.
    pub fn push_bytes(&mut self, b: &[u8]) {
        match std::str::from_utf8(b) {
            Ok(s) => self.text.push_str(s),
            Err(_) => self.raw.push((self.text.len(), from_bytes(b.to_vec()))),
        }
    }

    /// Another text, appended.
    pub fn append(&mut self, other: GoText) {
        let base = self.text.len();
        self.raw
            .extend(other.raw.into_iter().map(|(at, v)| (base + at, v)));
        self.text.push_str(&other.text);
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.raw.is_empty()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
            + self
                .raw
                .iter()
                .map(|(_, v)| invalid_utf8(v).map_or(0, <[u8]>::len))
                .sum::<usize>()
    }

    /// Drops trailing white space (of the text after the last byte string).
    pub fn trim_end(&mut self) {
        let keep = self.raw.last().map_or(0, |(at, _)| *at);
        let end = keep.max(self.text.trim_end().len());
        self.text.truncate(end);
    }

    /// The bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        if self.raw.is_empty() {
            return self.text.into_bytes();
        }
        splice(&self.text, &self.raw)
    }

    /// The Go string: a [`Value::String`] unless a byte string went in.
    pub fn into_value(self) -> Value {
        if self.raw.is_empty() {
            return Value::str(self.text);
        }
        from_bytes(splice(&self.text, &self.raw))
    }

    /// The text with U+FFFD for the bad bytes (where only text can go).
    pub fn into_lossy(self) -> String {
        if self.raw.is_empty() {
            return self.text;
        }
        lossy(&splice(&self.text, &self.raw))
    }
}

impl std::fmt::Write for GoText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.text.push_str(s);
        Ok(())
    }
}

impl GoWrite for GoText {
    fn go_string(&mut self, v: &Value) {
        self.raw.push((self.text.len(), v.clone()));
    }
}

/// `v`'s bytes if it is a string of any kind, else its `%v` printing (Sprig's `strval`).
pub fn strval(v: &Value) -> GoText {
    let mut t = GoText::default();
    match v {
        Value::String(s) => t.text.push_str(s),
        v => v.write_v(&mut t),
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_utf8_becomes_a_byte_string() {
        assert!(matches!(from_bytes(b"ok".to_vec()), Value::String(s) if &*s == "ok"));
        let v = from_bytes(vec![0xff, b'a', 0x80]);
        assert_eq!(v.type_name(), "string");
        assert_eq!(invalid_utf8(&v), Some(&[0xff, b'a', 0x80][..]));
        assert_eq!(v.print(), "\u{fffd}a\u{fffd}");
        // Go decodes each byte of a bad sequence as one U+FFFD.
        assert_eq!(
            from_bytes(vec![0xe2, 0x82, b'a']).print(),
            "\u{fffd}\u{fffd}a"
        );
        assert_eq!(bytes(&Value::str("é")), Some("é".as_bytes()));
        assert_eq!(invalid_utf8(&Value::str("x")), None);
    }

    #[test]
    fn splice_puts_the_bytes_at_their_offsets() {
        let b = from_bytes(vec![0xfe]);
        let raw = vec![(0, b.clone()), (2, b.clone()), (2, b)];
        assert_eq!(splice("ab", &raw), vec![0xfe, b'a', b'b', 0xfe, 0xfe]);
        assert_eq!(splice("ab", &[]), b"ab".to_vec());
    }

    #[test]
    fn decodes_runes_as_go_does() {
        let b = b"a\xe2\x82\xac\xe2\x82\xff\xed\xa0\x80";
        let rs: Vec<(usize, char, usize)> = runes(b).collect();
        assert_eq!(rs[0], (0, 'a', 1));
        assert_eq!(rs[1], (1, '€', 3));
        assert_eq!(rs[2], (4, '\u{FFFD}', 1));
        assert_eq!(rs[3], (5, '\u{FFFD}', 1));
        // A surrogate is three bad bytes.
        assert_eq!(rune_count(b), 8);
        assert_eq!(decode_last_rune(b"x\xe2\x82\xac"), ('€', 3));
        assert_eq!(decode_last_rune(b"x\xe2\x82"), ('\u{FFFD}', 1));
        assert_eq!(decode_last_rune(b"\x80\x80\x80\x80\x80"), ('\u{FFFD}', 1));
        assert_eq!(decode_rune(b""), ('\u{FFFD}', 0));
        assert_eq!(lossy(b"\xe2\x82a"), "\u{FFFD}\u{FFFD}a");
    }

    #[test]
    fn quotes_bad_bytes_as_hex_escapes() {
        assert_eq!(quote(b"\xff\"\xe2\x82\xac\n", false), "\"\\xff\\\"€\\n\"");
        assert_eq!(quote(b"\xff\xe2\x82\xac", true), "\"\\xff\\u20ac\"");
    }

    #[test]
    fn strings_functions_on_bytes_follow_go() {
        assert_eq!(find(b"\xff\x80\xfe", b"\x80\xfe"), Some(1));
        assert_eq!(find(b"ab", b""), Some(0));
        assert_eq!(find(b"ab", b"c"), None);
        assert_eq!(replace(b"\xffa", b"", b"-", -1), b"-\xff-a-");
        assert_eq!(replace(b"\xffa", b"", b"-", 2), b"-\xff-a");
        assert_eq!(replace(b"", b"", b"-", -1), b"-");
        assert_eq!(replace(b"a\xffa", b"a", b"", 1), b"\xffa");
        assert_eq!(
            split(b"a\xffb\xff", b"\xff", -1),
            vec![&b"a"[..], b"b", b""]
        );
        assert_eq!(split(b"a\xffb\xff", b"\xff", 2), vec![&b"a"[..], b"b\xff"]);
        assert_eq!(
            split(b"\xe2\x82A", b"", -1),
            vec![&b"\xe2"[..], b"\x82", b"A"]
        );
        assert_eq!(split(b"\xe2\x82A", b"", 2), vec![&b"\xe2"[..], b"\x82A"]);
        assert!(split(b"a", b",", 0).is_empty());
        assert_eq!(trim_func(b" \xff\t", char::is_whitespace), b"\xff");
        assert_eq!(trim_cutset(b" \xff x\xfe", b" \xff"), b"x");
        assert_eq!(trim_cutset(b" \xff x\xfe", b" "), b"\xff x\xfe");
        assert_eq!(trim_cutset(b"\xffab\xfe", "\u{FFFD}".as_bytes()), b"ab");
        assert_eq!(trim_cutset(b"\xffab", b""), b"\xffab");
    }

    #[test]
    fn map_keys_are_bytes() {
        use std::collections::BTreeMap;
        // A UTF-8 key costs what a `String` key did.
        assert_eq!(size_of::<Key>(), size_of::<String>());
        let ff = Key::from_bytes(vec![0xff]);
        let rune = Key::from("\u{FFFD}");
        assert!(matches!(ff, Key::Bytes(_)));
        assert!(matches!(Key::from_bytes(b"ok".to_vec()), Key::Str(s) if s == "ok"));
        assert_ne!(ff, rune);
        assert_eq!(ff.text(), rune.text());
        // Byte order: ef bf bd < ff, and "\xff" > any UTF-8 text.
        let top = Key::from("\u{10FFFF}");
        assert!(rune < ff && top < ff);
        let mut m = BTreeMap::new();
        m.insert(ff.clone(), Value::Int(1));
        m.insert(rune.clone(), Value::Int(2));
        m.insert(Key::from("a"), Value::Int(3));
        assert_eq!(m.len(), 3);
        assert!(matches!(m.get(&[0xff][..]), Some(Value::Int(1))));
        assert!(matches!(m.get("\u{FFFD}".as_bytes()), Some(Value::Int(2))));
        let order: Vec<&[u8]> = m.keys().map(Key::as_bytes).collect();
        assert_eq!(order, vec![&b"a"[..], "\u{FFFD}".as_bytes(), b"\xff"]);
        // The key's value is the byte string itself; %v into a GoText keeps the bytes.
        assert_eq!(invalid_utf8(&ff.to_value()), Some(&[0xff][..]));
        let mut want = b"map[a:3 ".to_vec();
        want.extend_from_slice("\u{FFFD}".as_bytes());
        want.extend_from_slice(b":2 \xff:1]");
        assert_eq!(strval(&Value::map(m)).into_bytes(), want);
        // Keys of values: strings, numbers, byte strings; Sprig's strval text.
        assert_eq!(
            Key::of(&from_bytes(vec![0xfe])).map(|k| k.as_bytes().to_vec()),
            Some(vec![0xfe])
        );
        assert_eq!(Key::of(&Value::Number("1".into())), Some(Key::from("1")));
        assert_eq!(Key::of(&Value::Int(1)), None);
        assert_eq!(
            Key::of_text(strval(&Value::list(vec![from_bytes(vec![0xff])]))).as_bytes(),
            b"[\xff]"
        );
    }

    #[test]
    fn go_text_keeps_byte_strings_aside() {
        let mut t = GoText::default();
        t.push_str("a");
        t.push_bytes(b"\xff");
        t.push_bytes(b"b");
        let mut u = GoText::default();
        u.push('[');
        u.push_bytes(b"\xfe");
        u.push_str("]  \n");
        t.append(u);
        assert_eq!(t.len(), 9);
        t.trim_end();
        assert_eq!(t.len(), 6);
        assert_eq!(invalid_utf8(&t.into_value()), Some(&b"a\xffb[\xfe]"[..]));
        let mut plain = GoText::default();
        plain.push_str("x");
        assert!(matches!(plain.into_value(), Value::String(s) if &*s == "x"));
        // %v of a list holding one, into a GoText (bytes) and into a String (U+FFFD).
        let l = Value::list(vec![from_bytes(vec![0xff]), Value::Int(1)]);
        assert_eq!(strval(&l).into_bytes(), b"[\xff 1]");
        assert_eq!(l.print(), "[\u{FFFD} 1]");
    }
}
