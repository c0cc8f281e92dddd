//! Sprig's deterministic crypto helpers that need more than a digest (agent.md §4.5.1):
//! `derivePassword` (the Master Password algorithm: an scrypt key from the master password and
//! the user, an HMAC-SHA256 seed from the site and counter, then a password drawn from the
//! type's templates) and `buildCustomCert` (a base64 PEM certificate and private key, checked as
//! Go's `x509` parsers check them, handed back as a `sprig.certificate` with `.Cert` and `.Key`).

use std::sync::Arc;

use super::{args, encoding};
use crate::value::Record;
use crate::{CallEnv, Value};

/// The scope every Master Password key and seed starts with.
const SCOPE: &[u8] = b"com.lyndir.masterpassword";

/// The password templates of each type: one is picked by the seed's first byte.
fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// The characters a template letter stands for.
fn class(letter: u8) -> &'static [u8] {
    match letter {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        b'x' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
        _ => b"",
    }
}

/// `SCOPE`, then `text`'s length (big-endian u32) and `text`.
fn scoped(text: &str) -> Vec<u8> {
    let mut out = SCOPE.to_vec();
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// The Master Password of `password` for `user` at `site`, or Sprig's text for an unknown type
/// (a result, not an error).
pub fn master_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    let Some(templates) = templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut key = [0u8; 64];
    // N = 2^15, r = 8, p = 2: valid parameters, so neither call can fail.
    let params = scrypt::Params::new(15, 8, 2, key.len()).expect("fixed scrypt parameters");
    scrypt::scrypt(password.as_bytes(), &scoped(user), &params, &mut key)
        .expect("64 bytes is a valid scrypt output length");
    let mut msg = scoped(site);
    msg.extend_from_slice(&counter.to_be_bytes());
    let seed = encoding::hmac_sha256(&key, &msg);
    let template = templates[usize::from(seed[0]) % templates.len()];
    template
        .bytes()
        .zip(&seed[1..])
        .map(|(letter, s)| {
            let chars = class(letter);
            char::from(chars[usize::from(*s) % chars.len()])
        })
        .collect()
}

/// `sprig_derivePassword counter type password user site`. The counter is a Go `uint32`: a
/// literal converts, a typed value of another type is refused.
pub(super) fn derive_password(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("sprig_derivePassword", a, 5)?;
    let counter = match &a[0] {
        Value::Int(n) => {
            u32::try_from(*n).map_err(|_| format!("expected unsigned integer; found {n}"))?
        }
        other => {
            return Err(format!(
                "wrong type for value; expected uint32; got {}",
                other.type_name()
            ));
        }
    };
    let [kind, password, user, site] = [&a[1], &a[2], &a[3], &a[4]].map(args::string);
    Ok(Value::str(master_password(
        counter, kind?, password?, user?, site?,
    )))
}

/// `sprig_buildCustomCert b64cert b64key`: both decoded (standard base64), the certificate's first
/// PEM block must be an X.509 certificate and the key's a private key its PEM type names
/// ([`check_key`]); the result holds the decoded PEM texts as given.
pub(super) fn build_custom_cert(_: &mut CallEnv<'_>, a: &[Value]) -> Result<Value, String> {
    args::arity("sprig_buildCustomCert", a, 2)?;
    let (cert64, key64) = (args::string(&a[0])?, args::string(&a[1])?);
    let cert = encoding::b64dec(false, cert64)
        .map_err(|_| "unable to decode base64 certificate".to_string())?;
    let key = encoding::b64dec(false, key64)
        .map_err(|_| "unable to decode base64 private key".to_string())?;
    let (_, der) = pem_decode(&cert).ok_or("unable to decode certificate")?;
    // Go's structural checks give Go's reasons; what they leave to Go's public-key and
    // extension parsers is checked by x509-parser, under Go's most general reason.
    super::go_x509::certificate(&der)
        .and_then(|()| match x509_parser::parse_x509_certificate(&der) {
            Ok(_) => Ok(()),
            Err(_) => Err("x509: malformed certificate".into()),
        })
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    let (kind, der) = pem_decode(&key).ok_or("unable to decode key")?;
    check_key(&kind, &der).map_err(|e| format!("error parsing private key: {e}"))?;
    let text = |b: Vec<u8>| Value::str(String::from_utf8_lossy(&b).into_owned());
    Ok(Value::Record(Arc::new(Record {
        type_name: "sprig.certificate",
        fields: vec![("Cert", text(cert)), ("Key", text(key))],
    })))
}

/// Go's `pem.Decode`: the type and bytes of the first well-formed PEM block, or `None`.
fn pem_decode(data: &[u8]) -> Option<(String, Vec<u8>)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut from = 0;
    while let Some(at) = find(&data[from..], BEGIN).map(|i| i + from) {
        from = at + BEGIN.len();
        if at > 0 && data[at - 1] != b'\n' {
            continue;
        }
        let line_end = data[from..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| i + from);
        let line = trim_end(&data[from..line_end]);
        let Some(kind) = line.strip_suffix(b"-----") else {
            continue;
        };
        let mut end_marker = b"-----END ".to_vec();
        end_marker.extend_from_slice(kind);
        end_marker.extend_from_slice(b"-----");
        let body_start = (line_end + 1).min(data.len());
        let Some(end) = find(&data[body_start..], &end_marker).map(|i| i + body_start) else {
            continue;
        };
        let mut body = &data[body_start..end];
        // Headers (`Name: value` lines) end at a blank line.
        if body
            .split(|&b| b == b'\n')
            .next()
            .is_some_and(|l| l.contains(&b':'))
        {
            match find(body, b"\n\n") {
                Some(i) => body = &body[i + 2..],
                None => continue,
            }
        }
        let text: String = body
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(|&b| char::from(b))
            .collect();
        if let Ok(der) = encoding::b64dec(false, &text) {
            return Some((String::from_utf8_lossy(kind).into_owned(), der));
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

/// One DER element: its tag and contents, and what follows it.
fn der_element(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&first, mut d) = d.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let len = d[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        d = &d[n..];
        len
    };
    (d.len() >= len).then(|| (tag, &d[..len], &d[len..]))
}

/// The key as Sprig reads one: by its PEM type, `PRIVATE KEY` as PKCS #8, `RSA PRIVATE KEY` as
/// PKCS #1, `EC PRIVATE KEY` as SEC 1 (P-224, P-256, P-384, P-521), `ED25519 PRIVATE KEY` as PKCS #8.
fn check_key(kind: &str, der: &[u8]) -> Result<(), String> {
    if kind == "PRIVATE KEY" {
        return check_pkcs8(der).map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(algorithm) = kind.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {kind}"));
    };
    match algorithm {
        "RSA" => check_pkcs1(der).map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => super::go_x509::ec_private_key(None, der)
            .map_err(|e| format!("parsing EC private key from PEM: {e}")),
        "ED25519" => {
            check_pkcs8(der).map_err(|e| format!("parsing ED25519 private key from PEM: {e}"))
        }
        _ => Err(format!("invalid private key type {kind}")),
    }
}

/// Go's `x509.ParsePKCS8PrivateKey`: an RSA key is checked as PKCS #1, an EC key as Go's SEC 1
/// parser checks one (the curve from the algorithm's parameters), an Ed25519 key by AWS-LC.
fn check_pkcs8(der: &[u8]) -> Result<(), String> {
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let bad = || "asn1: structure error".to_string();
    let (tag, body, rest) = der_element(der).ok_or_else(bad)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(bad());
    }
    let (_, _, body) = der_element(body).ok_or_else(bad)?;
    let (_, alg, body) = der_element(body).ok_or_else(bad)?;
    let (_, oid, _) = der_element(alg).ok_or_else(bad)?;
    let (tag, inner, _) = der_element(body).ok_or_else(bad)?;
    if oid == RSA && tag == 0x04 {
        return check_pkcs1(inner)
            .map_err(|e| format!("x509: failed to parse RSA private key embedded in PKCS#8: {e}"));
    }
    if oid == EC && tag == 0x04 {
        // The curve named by the parameters wins over the key's own (none if not an OID).
        let curve = der_element(alg)
            .and_then(|(_, _, params)| der_element(params))
            .filter(|(t, _, _)| *t == 0x06)
            .map(|(_, oid, _)| oid);
        return super::go_x509::ec_private_key(curve, inner)
            .map_err(|e| format!("x509: failed to parse EC private key embedded in PKCS#8: {e}"));
    }
    if aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(der).is_ok() {
        return Ok(());
    }
    Err("x509: PKCS#8 wrapping contained private key with unknown algorithm".into())
}

/// Go's `x509.ParsePKCS1PrivateKey` checks: an `RSAPrivateKey` structure with nothing after it,
/// version 0 or 1, positive modulus and primes, and a modulus that is the product of the primes
/// (and, where AWS-LC takes the size, its whole key check).
fn check_pkcs1(der: &[u8]) -> Result<(), String> {
    let syntax = || "asn1: structure error".to_string();
    let (tag, body, rest) = der_element(der).ok_or_else(syntax)?;
    if !rest.is_empty() {
        return Err("asn1: syntax error: trailing data".into());
    }
    if tag != 0x30 {
        return Err(syntax());
    }
    let mut ints: Vec<&[u8]> = Vec::new();
    let mut d = body;
    while !d.is_empty() && ints.len() < 9 {
        let (tag, int, rest) = der_element(d).ok_or_else(syntax)?;
        if tag != 0x02 || int.is_empty() {
            break;
        }
        ints.push(int);
        d = rest;
    }
    // version, n, e, d, p, q are required; dp, dq, qinv are optional.
    if ints.len() < 6 {
        return Err(syntax());
    }
    let negative = |i: &[u8]| i[0] & 0x80 != 0;
    let positive = |i: &[u8]| !negative(i) && i.iter().any(|&b| b != 0);
    if negative(ints[0]) || ints[0].len() > 1 || ints[0][0] > 1 {
        return Err("x509: unsupported private key version".into());
    }
    let (n, p, q) = (ints[1], ints[4], ints[5]);
    if ![n, ints[3], p, q].iter().all(|i| positive(i)) {
        return Err("x509: private key contains zero or negative value".into());
    }
    if strip(&mul(strip(p), strip(q))) != strip(n) {
        return Err("crypto/rsa: p * q != n".into());
    }
    let bits = strip(n).len() * 8;
    if (2048..=8192).contains(&bits) && aws_lc_rs::rsa::KeyPair::from_der(der).is_err() {
        return Err("crypto/rsa: invalid private key".into());
    }
    Ok(())
}

/// A big-endian unsigned integer without its leading zero bytes.
fn strip(mut x: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = x {
        x = rest;
    }
    x
}

/// The product of two big-endian unsigned integers.
fn mul(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u32; a.len() + b.len()];
    for (i, &x) in a.iter().rev().enumerate() {
        let mut carry = 0u32;
        for (j, &y) in b.iter().rev().enumerate() {
            let t = out[i + j] + u32::from(x) * u32::from(y) + carry;
            out[i + j] = t & 0xff;
            carry = t >> 8;
        }
        let mut k = i + b.len();
        while carry > 0 {
            let t = out[k] + carry;
            out[k] = t & 0xff;
            carry = t >> 8;
            k += 1;
        }
    }
    out.iter().rev().map(|&x| x as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn big_products() {
        assert_eq!(mul(&[0xff, 0xff], &[0xff]), vec![0xfe, 0xff, 0x01]);
        assert_eq!(strip(&mul(&[3], &[5])), &[15]);
        assert_eq!(strip(&mul(&[0x01, 0x00], &[0x01, 0x00])), &[1, 0, 0]);
    }

    #[test]
    fn master_password_of_sprigs_documented_example() {
        assert_eq!(
            master_password(1, "long", "password", "user", "example.com"),
            "ZedaFaxcZaso9*"
        );
    }

    #[test]
    fn unknown_type_is_a_result() {
        assert_eq!(
            show(
                "sprig_derivePassword",
                &[i(1), s("nope"), s("p"), s("u"), s("s")]
            ),
            "cannot find password template nope"
        );
        assert_eq!(
            show(
                "sprig_derivePassword",
                &[i(-1), s("long"), s("p"), s("u"), s("s")]
            ),
            "ERR expected unsigned integer; found -1"
        );
        assert_eq!(
            show(
                "sprig_derivePassword",
                &[Value::Int64(1), s("long"), s("p"), s("u"), s("s")]
            ),
            "ERR wrong type for value; expected uint32; got int64"
        );
    }

    #[test]
    fn pem_blocks() {
        let good = b"junk\n-----BEGIN X-----\nYWJj\nZGVm\n-----END X-----\n";
        assert_eq!(pem_decode(good).unwrap(), ("X".into(), b"abcdef".to_vec()));
        let with_headers = b"-----BEGIN X-----\nProc-Type: 4\n\nYWJj\n-----END X-----\n";
        assert_eq!(pem_decode(with_headers).unwrap().1, b"abc");
        // Not at a line start, no end, bad base64: no block.
        assert!(pem_decode(b"x-----BEGIN X-----\nYWJj\n-----END X-----\n").is_none());
        assert!(pem_decode(b"-----BEGIN X-----\nYWJj\n").is_none());
        assert!(pem_decode(b"-----BEGIN X-----\n!!!!\n-----END X-----\n").is_none());
    }

    #[test]
    fn custom_cert_errors() {
        let e = |c: &str, k: &str| show("sprig_buildCustomCert", &[s(c), s(k)]);
        assert_eq!(e("!", "YQ=="), "ERR unable to decode base64 certificate");
        assert_eq!(e("YQ==", "!"), "ERR unable to decode base64 private key");
        assert_eq!(e("YQ==", "YQ=="), "ERR unable to decode certificate");
        let not_a_cert = encoding::b64enc(
            false,
            b"-----BEGIN CERTIFICATE-----\nYWJj\n-----END CERTIFICATE-----\n",
        );
        assert!(e(&not_a_cert, "YQ==").starts_with("ERR error parsing certificate: "));
    }

    /// The conformance cases whose `error_text` is what `bao agent` 2.7.2 logged after
    /// `error calling sprig_buildCustomCert: `: our error is the same text, and the cases
    /// without one are accepted.
    #[test]
    fn custom_cert_cases_fail_with_the_text_bao_printed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance/cases");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let Some(case) = name
                .strip_prefix("sprig-buildcustomcert")
                .and_then(|_| name.strip_suffix(".tmpl"))
            else {
                continue;
            };
            let tmpl = std::fs::read_to_string(&path).unwrap();
            let args: Vec<&str> = tmpl.split('"').skip(1).step_by(2).take(2).collect();
            let opts = std::fs::read_to_string(format!("{dir}/{case}.opts.json"))
                .map(|o| serde_json::from_str::<serde_json::Value>(&o).unwrap())
                .unwrap_or_default();
            let got = show("sprig_buildCustomCert", &[s(args[0]), s(args[1])]);
            match opts["error_text"].as_str() {
                Some(want) => assert_eq!(got, format!("ERR {want}"), "{case}"),
                None if opts["expect"] == "error" => assert!(got.starts_with("ERR "), "{case}"),
                None => assert!(!got.starts_with("ERR"), "{case}: {got}"),
            }
            n += 1;
        }
        assert!(n >= 20, "{n} cases");
    }
}
