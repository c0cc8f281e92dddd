//! Encodings and digests: `base64Encode`/`Decode` (standard and URL alphabets, padded),
//! `sha256Hex`, `md5sum`, `hmacSHA256Hex` (agent.md §4.5), plus the MD5/SHA-1 digests Sprig reuses.

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest as _, Sha256};

use super::args;
use crate::{CallEnv, Func, Value};

pub(super) fn lookup(name: &str) -> Option<Func> {
    Some(match name {
        "base64Encode" => b64_encode,
        "base64Decode" => b64_decode,
        "base64URLEncode" => b64url_encode,
        "base64URLDecode" => b64url_decode,
        "sha256Hex" => sha256_hex,
        "md5sum" => md5sum,
        "hmacSHA256Hex" => hmac_sha256_hex,
        _ => return None,
    })
}

/// Go's `base64.StdEncoding` / `URLEncoding` decoders: padding required, trailing bits tolerated.
fn engine(url: bool) -> GeneralPurpose {
    let cfg = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
    GeneralPurpose::new(
        if url {
            &alphabet::URL_SAFE
        } else {
            &alphabet::STANDARD
        },
        cfg,
    )
}

/// Encodes with padding.
pub fn b64enc(url: bool, data: &[u8]) -> String {
    engine(url).encode(data)
}

/// Decodes as Go's `base64.StdEncoding` / `URLEncoding` do (`DecodeString`): padding required,
/// trailing bits tolerated, `\r` and `\n` skipped anywhere; the error names the input byte Go's
/// decoder names (`illegal base64 data at input byte N`, counted in the input as given). Our own
/// quantum loop rather than the `base64` crate's decoder: the crate reports other offsets (for a
/// short last quantum, a padding error or input with line breaks), and the offset is printed by
/// Sprig's `b64dec`, so it is output.
pub fn b64dec(url: bool, s: &str) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let value = |c: u8| -> Option<u8> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if !url => 62,
            b'/' if !url => 63,
            b'-' if url => 62,
            b'_' if url => 63,
            _ => return None,
        })
    };
    let corrupt = |at: usize| format!("illegal base64 data at input byte {at}");
    let skip_breaks = |mut i: usize| {
        while i < src.len() && (src[i] == b'\n' || src[i] == b'\r') {
            i += 1;
        }
        i
    };
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let mut q = [0u8; 4];
        let mut len = 4;
        let mut j = 0;
        let mut trailing = None;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // A short last quantum: the padding is missing (Go counts from its start).
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(c) {
                q[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(corrupt(si - 1));
            }
            if j == 2 {
                // `==` expected; the first `=` is read.
                si = skip_breaks(si);
                if si == src.len() {
                    return Err(corrupt(src.len()));
                }
                if src[si] != b'=' {
                    return Err(corrupt(si - 1));
                }
                si += 1;
            }
            si = skip_breaks(si);
            if si < src.len() {
                trailing = Some(si);
            }
            len = j;
            break;
        }
        let v =
            u32::from(q[0]) << 18 | u32::from(q[1]) << 12 | u32::from(q[2]) << 6 | u32::from(q[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if let Some(at) = trailing {
            return Err(corrupt(at));
        }
        if len < 4 {
            return Ok(out);
        }
    }
}

fn one<'a>(name: &str, a: &'a [Value]) -> Result<&'a str, String> {
    args::arity(name, a, 1)?;
    args::string(&a[0])
}

/// The one argument's bytes (a Go string of any bytes, `crate::gostr`).
fn one_bytes<'a>(name: &str, a: &'a [Value]) -> Result<&'a [u8], String> {
    args::arity(name, a, 1)?;
    args::string_bytes(&a[0])
}

fn b64_encode(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(b64enc(false, one_bytes("base64Encode", a)?)))
}

fn b64url_encode(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(b64enc(true, one_bytes("base64URLEncode", a)?)))
}

fn b64_decode(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let bytes = b64dec(false, one("base64Decode", a)?).map_err(|e| format!("base64Decode: {e}"))?;
    Ok(crate::gostr::from_bytes(bytes))
}

fn b64url_decode(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    let bytes =
        b64dec(true, one("base64URLDecode", a)?).map_err(|e| format!("base64URLDecode: {e}"))?;
    Ok(crate::gostr::from_bytes(bytes))
}

fn sha256_hex(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(hex::encode(Sha256::digest(one_bytes(
        "sha256Hex",
        a,
    )?))))
}

fn md5sum(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::str(hex::encode(md5(one_bytes("md5sum", a)?))))
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

fn hmac_sha256_hex(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("hmacSHA256Hex", a, 2)?;
    args::string(&a[0])?;
    args::string(&a[1])?;
    // The strings' bytes, also of one that is not UTF-8 (agent.md §4.5.3).
    let (msg, key) = (
        crate::gostr::bytes(&a[0]).unwrap_or_default(),
        crate::gostr::bytes(&a[1]).unwrap_or_default(),
    );
    Ok(Value::str(hex::encode(hmac_sha256(key, msg))))
}

/// MD5 (RFC 1321); only for `md5sum`/`sprig_md5sum`, never for security.
pub fn md5(data: &[u8]) -> [u8; 16] {
    ::md5::Md5::digest(data).into()
}

/// SHA-1 (FIPS 180-4); only for `sprig_sha1sum`.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn base64_round_trips_and_reports_bad_input() {
        assert_eq!(show("base64Encode", &[s("p@ss&<1>")]), "cEBzcyY8MT4=");
        assert_eq!(
            show("base64Encode", &[s("app:p@ss&<1>")]),
            "YXBwOnBAc3MmPDE+"
        );
        assert_eq!(show("base64Decode", &[s("cEBzcyY8MT4=")]), "p@ss&<1>");
        // Binary data keeps its bytes (agent.md §4.5.3); re-encoding and hashing see them.
        let bin = call("base64Decode", &[s("/4D+AGFi")]).unwrap();
        assert_eq!(
            crate::gostr::invalid_utf8(&bin),
            Some(&[0xff, 0x80, 0xfe, 0, b'a', b'b'][..])
        );
        assert_eq!(show("base64Encode", std::slice::from_ref(&bin)), "/4D+AGFi");
        assert_eq!(
            show("base64URLEncode", std::slice::from_ref(&bin)),
            "_4D-AGFi"
        );
        let url = call("base64URLDecode", &[s("_4D-")]).unwrap();
        assert_eq!(
            crate::gostr::invalid_utf8(&url),
            Some(&[0xff, 0x80, 0xfe][..])
        );
        let short = call("base64Decode", &[s("/4D+")]).unwrap();
        assert_eq!(
            show("sha256Hex", std::slice::from_ref(&short)),
            "eead71784b9e9a1171d2b155aa5d7e726aa88c9f2135c77757bcfd5e0ff93dbc"
        );
        assert_eq!(show("md5sum", &[short]), "381f56a94defb1410a48da28eb920e40");
        assert_eq!(
            show("base64Decode", &[s("aGVsbG8g\nd29ybGQ=")]),
            "hello world"
        );
        assert_eq!(show("base64URLEncode", &[s("hi??>")]), "aGk_Pz4=");
        assert_eq!(show("base64URLDecode", &[s("aGk_Pz8-")]), "hi???>");
        assert_eq!(
            show("base64Decode", &[s("a!==")]),
            "ERR base64Decode: illegal base64 data at input byte 1"
        );
        assert_eq!(
            show("base64URLDecode", &[s("aGk/Pz8-")]),
            "ERR base64URLDecode: illegal base64 data at input byte 3"
        );
        assert!(
            show("base64Decode", &[s("YWJ")]).starts_with("ERR base64Decode: illegal base64 data")
        );
    }

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(
            show("sha256Hex", &[s("hello")]),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            show("md5sum", &[s("hello")]),
            "5d41402abc4b2a76b9719d911017c592"
        );
        assert_eq!(hex::encode(md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hex::encode(md5(&[b'a'; 1000])),
            "cabe45dcc9ae5b66ba86600cca6b8ba8"
        );
        assert_eq!(
            show("hmacSHA256Hex", &[s("msg"), s("key")]),
            "2d93cbc1be167bcb1637a4a23cbff01a7878f0c50ee833954ea5221bb1b8c628"
        );
        assert_eq!(
            hex::encode(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(sha1(&[b'a'; 1000])),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
        // RFC 4231 test case 6: a key longer than the block.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
