//! Go strings that are not valid UTF-8 (agent.md §4.5.3): a Go `string` is any sequence of bytes,
//! and a template can make one — `base64Decode` of binary data (a keystore, a DER key), Sprig's
//! `b64dec`/`b32dec`, or Sprig's byte-offset slicing (`trunc`, `substr`, `abbrev`, `wrapWith`)
//! cutting a multibyte character — which consul-template writes to the file byte for byte.
//!
//! Design: such a value is a [`ByteString`] object (Go type `string`) holding the bytes and their
//! text with U+FFFD for each bad sequence; every valid string stays a plain [`Value::String`].
//! Why not make every string a byte string: `Value::String(Arc<str>)` is matched all over the
//! engine and its functions, and non-UTF-8 text is rare, so carrying bytes only where they occur
//! keeps the rest as it is. What is exact: the template's output (the evaluator splices the bytes
//! in, [`crate::Rendered::bytes`]), `len`, `eq`/`ne`/`lt`…, truth, `%T`, the text captured by
//! `executeTemplate`, re-encoding (`base64Encode`, `base64URLEncode`, Sprig's `b64enc`/`b32enc`)
//! and the hashes (`sha256Hex`, Sprig's `sha*sum`, `adler32sum`). Any other function sees the
//! U+FFFD text, as Go's own functions do when they decode runes (`toUpper`, `toJSON`), but not
//! where Go works on bytes (`trimSpace`, `printf "%x"`; docs/differences.md).

use std::sync::Arc;

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
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Value::Object(Arc::new(ByteString { bytes, text }))
        }
    }
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
}
