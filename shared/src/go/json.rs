//! Go's `encoding/json` string quoting, byte for byte (Go ≥ 1.22): `\"`, `\\`, `\n`, `\r`, `\t`,
//! `\b`, `\f` short escapes, other controls as `\u00XX`, U+2028/U+2029 always escaped, and `<`,
//! `>`, `&` escaped when HTML escaping is on (`json.Marshal`; an `Encoder` with
//! `SetEscapeHTML(false)` leaves them).

/// Where quoted bytes go: a `String` or a `Vec<u8>`.
pub trait Out {
    /// Appends `s`.
    fn put(&mut self, s: &str);
}

impl Out for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
}

impl Out for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
}

/// Appends `s` as a Go JSON string literal; `html` escapes `<`, `>` and `&`.
pub fn quote_to<O: Out>(out: &mut O, s: &str, html: bool) {
    // Bytes that may need an escape; 0xE2 leads U+2028/U+2029.
    const MAYBE: [bool; 256] = {
        let mut t = [false; 256];
        let mut i = 0;
        while i < 0x20 {
            t[i] = true;
            i += 1;
        }
        t[b'"' as usize] = true;
        t[b'\\' as usize] = true;
        t[b'<' as usize] = true;
        t[b'>' as usize] = true;
        t[b'&' as usize] = true;
        t[0xe2] = true;
        t
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.put("\"");
    // Runs of bytes that need no escape are copied in one go. Every escape starts at an ASCII
    // byte or a UTF-8 lead byte, so `run..i` always falls on char boundaries.
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !MAYBE[usize::from(b)] {
            i += 1;
            continue;
        }
        let unicode = [
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0xf)],
        ];
        let (esc, len): (&[u8], usize) = match b {
            b'"' => (b"\\\"", 1),
            b'\\' => (b"\\\\", 1),
            b'\n' => (b"\\n", 1),
            b'\r' => (b"\\r", 1),
            b'\t' => (b"\\t", 1),
            0x08 => (b"\\b", 1),
            0x0c => (b"\\f", 1),
            b'<' | b'>' | b'&' if !html => {
                i += 1;
                continue;
            }
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; any other 0xE2 sequence is copied.
            0xe2 => match bytes.get(i + 1..i + 3) {
                Some([0x80, 0xa8]) => (b"\\u2028", 3),
                Some([0x80, 0xa9]) => (b"\\u2029", 3),
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => (&unicode, 1),
        };
        out.put(&s[run..i]);
        // Escapes are ASCII.
        out.put(std::str::from_utf8(esc).unwrap_or_default());
        i += len;
        run = i;
    }
    out.put(&s[run..]);
    out.put("\"");
}

/// `s` as a Go JSON string literal with HTML escaping (`json.Marshal`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_to(&mut out, s, true);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_go_does() {
        assert_eq!(
            quote("a<b>&c\u{2028}\u{2029}\"\\\n\t\r\u{1}\u{8}\u{c}\u{1f}é"),
            "\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\t\\r\\u0001\\b\\f\\u001fé\""
        );
        let mut out = String::new();
        quote_to(&mut out, "<a&b>\u{2028}", false);
        assert_eq!(out, "\"<a&b>\\u2028\"");
        let mut bytes = Vec::new();
        quote_to(&mut bytes, "x\u{2027}\u{202a}\u{1f600}<", true);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\"x\u{2027}\u{202a}\u{1f600}\\u003c\""
        );
        assert_eq!(quote(""), "\"\"");
    }

    #[test]
    fn every_string_round_trips_and_nothing_unsafe_is_left() {
        let mut s: String = (0u8..0x80).map(char::from).collect();
        s.push_str("\u{2027}\u{2028}x\u{202a}é\u{1f600}<\u{2029}");
        for html in [true, false] {
            let mut text = String::new();
            quote_to(&mut text, &s, html);
            let back: String = serde_json::from_str(&text).unwrap();
            assert_eq!(back, s);
            let inner = &text[1..text.len() - 1];
            assert!(!inner.contains(['\u{2028}', '\u{2029}']), "{inner}");
            assert_eq!(inner.contains(['<', '>', '&']), !html, "{inner}");
            assert!(inner.bytes().all(|b| b >= 0x20), "{inner}");
        }
    }
}
