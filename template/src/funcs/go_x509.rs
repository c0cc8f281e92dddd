//! The checks Go's `crypto/x509` makes on what Sprig's `buildCustomCert` hands it (agent.md §4.5.1):
//! a certificate's structure, public key and extension values walked in the order
//! `x509.ParseCertificate` walks them, each failure reported with Go's text, and an EC private key
//! (SEC 1, alone or inside PKCS #8) read as `encoding/asn1` reads it and checked as Go checks one.
//! A certificate's DER is read by the rules of Go's `cryptobyte`: definite, minimal lengths, low
//! tag numbers, minimal integers. Pure functions on bytes.
//!
//! Why our own code: no crate checks in Go's order or words its errors as Go does (`x509-parser`,
//! which the caller still runs after these checks, accepts and refuses other things with other
//! texts). The on-curve test of a public point (`y² = x³ − 3x + b mod p`) uses the small limb
//! arithmetic below rather than a big-integer or curve crate: it runs on public values only (no
//! constant-time need), it is one multiplication chain per key, and AWS-LC, already linked, has no
//! P-224.

/// A DER cursor (Go's `cryptobyte.String`).
#[derive(Clone, Copy)]
struct Der<'a>(&'a [u8]);

const BOOLEAN: u8 = 0x01;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

impl<'a> Der<'a> {
    /// The next element whole and its contents, and the cursor moved past it.
    fn any(&mut self) -> Option<(u8, &'a [u8], Der<'a>)> {
        let s = self.0;
        let (&tag, &len_byte) = (s.first()?, s.get(1)?);
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (header, len) = if len_byte & 0x80 == 0 {
            (2, usize::from(len_byte))
        } else {
            let n = usize::from(len_byte & 0x7f);
            if n == 0 || n > 4 || s.len() < 2 + n {
                return None;
            }
            let len = s[2..2 + n]
                .iter()
                .fold(0u32, |a, &b| (a << 8) | u32::from(b));
            if len < 128 || len >> ((n - 1) * 8) == 0 {
                return None;
            }
            (2 + n, usize::try_from(len).ok()?)
        };
        let end = header.checked_add(len)?;
        if s.len() < end {
            return None;
        }
        self.0 = &s[end..];
        Some((tag, &s[..end], Der(&s[header..end])))
    }

    /// The next element, whole, if it has `tag`.
    fn element(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.any().filter(|e| e.0 == tag).map(|e| e.1)
    }

    /// The contents of the next element, if it has `tag`.
    fn read(&mut self, tag: u8) -> Option<Der<'a>> {
        self.any().filter(|e| e.0 == tag).map(|e| e.2)
    }

    fn peek(&self, tag: u8) -> bool {
        self.0.first() == Some(&tag)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An INTEGER's minimal two's-complement bytes.
    fn integer(&mut self) -> Option<&'a [u8]> {
        self.integer_tagged(INTEGER)
    }

    /// A minimal integer under `tag`.
    fn integer_tagged(&mut self, tag: u8) -> Option<&'a [u8]> {
        let b = self.read(tag)?.0;
        let minimal = match b {
            [] => false,
            [0, x, ..] => x & 0x80 != 0,
            [0xff, x, ..] => x & 0x80 == 0,
            _ => true,
        };
        minimal.then_some(b)
    }

    /// An INTEGER that fits an `int64`.
    fn int64(&mut self) -> Option<i64> {
        self.int64_tagged(INTEGER)
    }

    /// An integer under `tag` that fits an `int64`.
    fn int64_tagged(&mut self, tag: u8) -> Option<i64> {
        let b = self.integer_tagged(tag)?;
        if b.len() > 8 {
            return None;
        }
        let init = if b[0] & 0x80 != 0 { -1i64 } else { 0 };
        Some(b.iter().fold(init, |a, &x| (a << 8) | i64::from(x)))
    }

    fn bit_string(&mut self) -> bool {
        let Some(Der(b)) = self.read(BIT_STRING) else {
            return false;
        };
        let Some((&pad, bits)) = b.split_first() else {
            return false;
        };
        pad <= 7
            && !(bits.is_empty() && pad != 0)
            && bits.last().is_none_or(|&l| l & ((1u8 << pad) - 1) == 0)
    }

    /// A BIT STRING's bits, right-aligned into bytes (Go's `BitString.RightAlign`).
    fn bit_string_data(&mut self) -> Option<Vec<u8>> {
        let mut probe = *self;
        if !probe.bit_string() {
            return None;
        }
        let Der(b) = self.read(BIT_STRING)?;
        let (pad, bits) = (u32::from(b[0]), &b[1..]);
        if pad == 0 || bits.is_empty() {
            return Some(bits.to_vec());
        }
        let mut out = Vec::with_capacity(bits.len());
        for (i, &x) in bits.iter().enumerate() {
            let high = if i == 0 { 0 } else { bits[i - 1] << (8 - pad) };
            out.push(high | (x >> pad));
        }
        Some(out)
    }

    fn boolean(&mut self) -> bool {
        matches!(self.read(BOOLEAN), Some(Der([0x00 | 0xff])))
    }

    /// An OBJECT IDENTIFIER, dotted.
    fn oid(&mut self) -> Option<String> {
        let mut b = self.read(OID)?.0;
        if b.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        while !b.is_empty() {
            parts.push(base128(&mut b)?);
        }
        let first = parts[0];
        let (a, c) = if first < 80 {
            (first / 40, first % 40)
        } else {
            (2, first - 80)
        };
        let mut out = format!("{a}.{c}");
        for p in &parts[1..] {
            out.push_str(&format!(".{p}"));
        }
        Some(out)
    }
}

/// One OID component: at most 5 bytes, minimal, below 2³¹.
fn base128(b: &mut &[u8]) -> Option<u32> {
    let mut ret = 0u32;
    for i in 0.. {
        if i == 5 || ret >= 1 << (31 - 7) {
            return None;
        }
        let (&x, rest) = b.split_first()?;
        *b = rest;
        if i == 0 && x == 0x80 {
            return None;
        }
        ret = (ret << 7) | u32::from(x & 0x7f);
        if x & 0x80 == 0 {
            return Some(ret);
        }
    }
    None
}

/// `x509.ParseCertificate`'s checks, in its order, with its texts: the structure, the public key
/// ([`public_key`]) and the extensions' values ([`extension_value`]).
pub fn certificate(der: &[u8]) -> Result<(), String> {
    let fail = |m: &str| Err(format!("x509: {m}"));
    let mut outer = Der(der);
    let Some(raw) = outer.element(SEQUENCE) else {
        return fail("malformed certificate");
    };
    let Some(mut input) = Der(raw).read(SEQUENCE) else {
        return fail("malformed certificate");
    };
    let Some(mut tbs) = input.read(SEQUENCE) else {
        return fail("malformed tbs certificate");
    };
    let mut version = 0;
    if tbs.peek(0xa0) {
        let Some(mut v) = tbs.read(0xa0) else {
            return fail("malformed version");
        };
        match v.int64() {
            Some(n) if v.is_empty() => version = n,
            _ => return fail("malformed version"),
        }
    }
    if version < 0 {
        return fail("malformed version");
    }
    if version > 2 {
        return fail("invalid version");
    }
    match tbs.integer() {
        None => return fail("malformed serial number"),
        Some(s) if s[0] & 0x80 != 0 => return fail("negative serial number"),
        Some(_) => {}
    }
    let Some(inner_ai) = tbs.read(SEQUENCE) else {
        return fail("malformed signature algorithm identifier");
    };
    let Some(outer_ai) = input.read(SEQUENCE) else {
        return fail("malformed algorithm identifier");
    };
    if inner_ai.0 != outer_ai.0 {
        return fail("inner and outer signature algorithm identifiers don't match");
    }
    algorithm_identifier(inner_ai)?;
    let Some(issuer) = tbs.read(SEQUENCE) else {
        return fail("malformed issuer");
    };
    name(issuer)?;
    let Some(mut validity) = tbs.read(SEQUENCE) else {
        return fail("malformed validity");
    };
    time(&mut validity)?;
    time(&mut validity)?;
    let Some(subject) = tbs.read(SEQUENCE) else {
        return fail("malformed issuer");
    };
    name(subject)?;
    let Some(mut spki) = tbs.read(SEQUENCE) else {
        return fail("malformed spki");
    };
    let Some(key_ai) = spki.read(SEQUENCE) else {
        return fail("malformed public key algorithm identifier");
    };
    let (key_oid, key_params) = algorithm_identifier(key_ai)?;
    let Some(key) = spki.bit_string_data() else {
        return fail("malformed subjectPublicKey");
    };
    public_key(&key_oid, key_params, &key)?;
    if version > 0 {
        if tbs.peek(0x81) && tbs.read(0x81).is_none() {
            return fail("malformed issuerUniqueID");
        }
        if tbs.peek(0x82) && tbs.read(0x82).is_none() {
            return fail("malformed subjectUniqueID");
        }
        if version == 2 && tbs.peek(0xa3) {
            extensions(tbs.read(0xa3))?;
        }
    }
    if !input.bit_string() {
        return fail("malformed signature");
    }
    if raw.len() != der.len() {
        return fail("trailing data");
    }
    Ok(())
}

/// An AlgorithmIdentifier: its OID (dotted) and its parameters, whole (empty when absent).
fn algorithm_identifier(mut ai: Der<'_>) -> Result<(String, &[u8]), String> {
    let oid = ai.oid().ok_or("x509: malformed OID")?;
    if ai.is_empty() {
        return Ok((oid, &[]));
    }
    let (_, params, _) = ai.any().ok_or("x509: malformed parameters")?;
    Ok((oid, params))
}

/// Go's `parsePublicKey` for the algorithms Go knows in a certificate: RSA, ECDSA (P-224 …
/// P-521), Ed25519, DSA and ML-DSA; another (X25519, ML-KEM …) is let through, as in Go.
fn public_key(oid: &str, params: &[u8], data: &[u8]) -> Result<(), String> {
    match oid {
        "1.2.840.113549.1.1.1" => {
            if params != [0x05, 0x00] {
                return Err("x509: RSA key missing NULL parameters".into());
            }
            let mut key = Der(data)
                .read(SEQUENCE)
                .ok_or("x509: invalid RSA public key")?;
            let n = key.integer().ok_or("x509: invalid RSA modulus")?;
            let e = key.int64().ok_or("x509: invalid RSA public exponent")?;
            if n[0] & 0x80 != 0 || n == [0] {
                return Err("x509: RSA modulus is not a positive number".into());
            }
            if e <= 0 {
                return Err("x509: RSA public exponent is not a positive number".into());
            }
            Ok(())
        }
        "1.2.840.10045.2.1" => {
            let named = Der(params).oid().ok_or("x509: invalid ECDSA parameters")?;
            let curve = NIST
                .iter()
                .find(|c| c.oid == named)
                .ok_or("x509: unsupported elliptic curve")?;
            ec_point(curve, data)
        }
        "1.3.101.112" => {
            if !params.is_empty() {
                return Err("x509: Ed25519 key encoded with illegal parameters".into());
            }
            if data.len() != 32 {
                return Err("x509: wrong Ed25519 public key size".into());
            }
            Ok(())
        }
        "1.2.840.10040.4.1" => {
            let y = Der(data).integer().ok_or("x509: invalid DSA public key")?;
            let mut seq = Der(params)
                .read(SEQUENCE)
                .ok_or("x509: invalid DSA parameters")?;
            let pqg = [seq.integer(), seq.integer(), seq.integer()];
            let [Some(p), Some(q), Some(g)] = pqg else {
                return Err("x509: invalid DSA parameters".into());
            };
            let positive = |n: &[u8]| n[0] & 0x80 == 0 && n != [0];
            if ![y, p, q, g].into_iter().all(positive) {
                return Err("x509: zero or negative DSA parameter".into());
            }
            Ok(())
        }
        "2.16.840.1.101.3.4.3.17" | "2.16.840.1.101.3.4.3.18" | "2.16.840.1.101.3.4.3.19" => {
            if !params.is_empty() {
                return Err("x509: ML-DSA key encoded with illegal parameters".into());
            }
            let size = match oid {
                "2.16.840.1.101.3.4.3.17" => 1312,
                "2.16.840.1.101.3.4.3.18" => 1952,
                _ => 2592,
            };
            if data.len() != size {
                return Err("mldsa: invalid public key length".into());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `ecdsa.ParseUncompressedPublicKey`: `04 ‖ x ‖ y`, each coordinate below p, on the curve.
fn ec_point(curve: &Curve, data: &[u8]) -> Result<(), String> {
    if data.first() != Some(&4) {
        return Err("ecdsa: invalid uncompressed public key".into());
    }
    let (p, b) = (
        hex::decode(curve.p).expect("prime"),
        hex::decode(curve.b).expect("b"),
    );
    let len = p.len();
    if data.len() != 1 + 2 * len {
        return Err(format!("invalid {} point encoding", curve.name));
    }
    let (x, y) = (&data[1..1 + len], &data[1 + len..]);
    if x >= p.as_slice() || y >= p.as_slice() {
        return Err(format!("invalid {}Element encoding", curve.name));
    }
    // y² = x³ − 3x + b (mod p)
    let (p, x, y, b) = (limbs(&p), limbs(x), limbs(y), limbs(&b));
    let x3 = mul_mod(&mul_mod(&x, &x, &p), &x, &p);
    let three_x = mul_mod(&x, &[3], &p);
    let rhs = sub_mod(&add_mod(&x3, &b, &p), &three_x, &p);
    if mul_mod(&y, &y, &p) != rhs {
        return Err(format!("{} point not on curve", curve.name));
    }
    Ok(())
}

/// A NIST curve as Go's `crypto/ecdsa` parses a public point on it: its name in Go's errors, its
/// OID, its field prime and `b` (hex, the element's length), `a` being −3 for all.
struct Curve {
    name: &'static str,
    oid: &'static str,
    p: &'static str,
    b: &'static str,
}

const NIST: [Curve; 4] = [
    Curve {
        name: "P224",
        oid: "1.3.132.0.33",
        p: "ffffffffffffffffffffffffffffffff000000000000000000000001",
        b: "b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4",
    },
    Curve {
        name: "P256",
        oid: "1.2.840.10045.3.1.7",
        p: "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
        b: "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
    },
    Curve {
        name: "P384",
        oid: "1.3.132.0.34",
        p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
        b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
    },
    Curve {
        name: "P521",
        oid: "1.3.132.0.35",
        p: "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        b: "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
    },
];

/// Big-endian bytes as little-endian 32-bit limbs, without high zero limbs.
fn limbs(b: &[u8]) -> Vec<u32> {
    let mut out: Vec<u32> = b
        .rchunks(4)
        .map(|c| c.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)))
        .collect();
    trim(&mut out);
    out
}

fn trim(v: &mut Vec<u32>) {
    while v.last() == Some(&0) {
        v.pop();
    }
}

fn cmp_limbs(a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

/// `a − b` for `a ≥ b`.
fn sub_limbs(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i64;
    for (i, &x) in a.iter().enumerate() {
        let v = i64::from(x) - i64::from(b.get(i).copied().unwrap_or(0)) - borrow;
        borrow = i64::from(v < 0);
        out.push(v.rem_euclid(1 << 32) as u32);
    }
    trim(&mut out);
    out
}

/// `a mod p`, one bit at a time.
fn reduce_limbs(a: &[u32], p: &[u32]) -> Vec<u32> {
    let mut r: Vec<u32> = Vec::new();
    for i in (0..a.len() * 32).rev() {
        // r = 2r + bit
        let mut carry = (a[i / 32] >> (i % 32)) & 1;
        for l in r.iter_mut() {
            let next = *l >> 31;
            *l = (*l << 1) | carry;
            carry = next;
        }
        if carry != 0 {
            r.push(carry);
        }
        if cmp_limbs(&r, p).is_ge() {
            r = sub_limbs(&r, p);
        }
    }
    r
}

fn mul_mod(a: &[u32], b: &[u32], p: &[u32]) -> Vec<u32> {
    let mut out = vec![0u32; a.len() + b.len()];
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u64;
        for (j, &y) in b.iter().enumerate() {
            let t = u64::from(out[i + j]) + u64::from(x) * u64::from(y) + carry;
            out[i + j] = t as u32;
            carry = t >> 32;
        }
        out[i + b.len()] = carry as u32;
    }
    trim(&mut out);
    reduce_limbs(&out, p)
}

fn add_mod(a: &[u32], b: &[u32], p: &[u32]) -> Vec<u32> {
    reduce_limbs(&add_limbs(a, b), p)
}

/// `a − b (mod p)` for `a, b < p`.
fn sub_mod(a: &[u32], b: &[u32], p: &[u32]) -> Vec<u32> {
    if cmp_limbs(a, b).is_ge() {
        sub_limbs(a, b)
    } else {
        sub_limbs(&add_limbs(a, p), b)
    }
}

fn add_limbs(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut carry = 0u64;
    for i in 0..a.len().max(b.len()) {
        let t = u64::from(a.get(i).copied().unwrap_or(0))
            + u64::from(b.get(i).copied().unwrap_or(0))
            + carry;
        out.push(t as u32);
        carry = t >> 32;
    }
    out.push(carry as u32);
    trim(&mut out);
    out
}

/// The `[3]` extensions: a SEQUENCE of well-formed extensions, no OID twice.
fn extensions(tagged: Option<Der<'_>>) -> Result<(), String> {
    let malformed = || "x509: malformed extensions".to_string();
    let mut list = tagged
        .ok_or_else(malformed)?
        .read(SEQUENCE)
        .ok_or_else(malformed)?;
    let mut seen: Vec<(String, bool, &[u8])> = Vec::new();
    while !list.is_empty() {
        let mut ext = list.read(SEQUENCE).ok_or("x509: malformed extension")?;
        let id = ext.oid().ok_or("x509: malformed extension OID field")?;
        let critical = ext.peek(BOOLEAN) && ext.0.get(2) == Some(&0xff);
        if ext.peek(BOOLEAN) && !ext.boolean() {
            return Err("x509: malformed extension critical field".into());
        }
        let Some(Der(value)) = ext.read(OCTET_STRING) else {
            return Err("x509: malformed extension value field".into());
        };
        if seen.iter().any(|(s, _, _)| *s == id) {
            return Err(format!(
                "x509: certificate contains duplicate extension with OID \"{id}\""
            ));
        }
        seen.push((id, critical, value));
    }
    seen.iter()
        .try_for_each(|(id, critical, value)| extension_value(id, *critical, value))
}

/// Go's reading of one extension's value, once all are read (`processExtensions`): the kinds it
/// knows, each with its own text; an unknown kind, critical or not, is let through (Go records
/// it, and `buildCustomCert` does not look).
fn extension_value(id: &str, critical: bool, value: &[u8]) -> Result<(), String> {
    let fail = |m: &str| Err(format!("x509: {m}"));
    let mut val = Der(value);
    match id {
        "2.5.29.15" if !val.bit_string() => fail("invalid key usage"),
        "2.5.29.19" if !basic_constraints(val) => fail("invalid basic constraints"),
        "2.5.29.17" => subject_alt_names(val),
        "2.5.29.30" => name_constraints(val),
        "2.5.29.31" => crl_distribution_points(val),
        "2.5.29.35" if critical => fail("authority key identifier incorrectly marked critical"),
        "2.5.29.35" => {
            let ok = val
                .read(SEQUENCE)
                .is_some_and(|mut akid| !akid.peek(0x80) || akid.read(0x80).is_some());
            if ok {
                Ok(())
            } else {
                fail("invalid authority key identifier")
            }
        }
        "2.5.29.36" => {
            let ok = val.read(SEQUENCE).is_some_and(|mut pc| {
                [0x80, 0x81]
                    .into_iter()
                    .all(|tag| !pc.peek(tag) || pc.int64_tagged(tag).is_some())
            });
            if ok {
                Ok(())
            } else {
                fail("invalid policy constraints extension")
            }
        }
        "2.5.29.37" => {
            let ok = val.read(SEQUENCE).is_some_and(|mut list| {
                while !list.is_empty() {
                    if list.oid().is_none() {
                        return false;
                    }
                }
                true
            });
            if ok {
                Ok(())
            } else {
                fail("invalid extended key usages")
            }
        }
        "2.5.29.14" if critical => fail("subject key identifier incorrectly marked critical"),
        "2.5.29.14" if val.read(OCTET_STRING).is_none() => fail("invalid subject key identifier"),
        "2.5.29.32" if !certificate_policies(val) => fail("invalid certificate policies"),
        "2.5.29.33" => {
            let ok = val.read(SEQUENCE).is_some_and(|mut list| {
                while !list.is_empty() {
                    let Some(mut m) = list.read(SEQUENCE) else {
                        return false;
                    };
                    if m.read(OID).is_none() || m.read(OID).is_none() {
                        return false;
                    }
                }
                true
            });
            if ok {
                Ok(())
            } else {
                fail("invalid policy mappings extension")
            }
        }
        "2.5.29.54" if val.int64().is_none() => fail("invalid inhibit any policy extension"),
        "1.3.6.1.5.5.7.1.1" if critical => {
            fail("authority info access incorrectly marked critical")
        }
        "1.3.6.1.5.5.7.1.1" => {
            let ok = val.read(SEQUENCE).is_some_and(|mut list| {
                while !list.is_empty() {
                    let Some(mut access) = list.read(SEQUENCE) else {
                        return false;
                    };
                    if access.oid().is_none() || (access.peek(0x86) && access.read(0x86).is_none())
                    {
                        return false;
                    }
                }
                true
            });
            if ok {
                Ok(())
            } else {
                fail("invalid authority info access")
            }
        }
        _ => Ok(()),
    }
}

/// `BasicConstraints`: a SEQUENCE, a DER BOOLEAN if one comes first, a path length that fits a
/// non-negative `int` if an INTEGER comes next (what follows is not read).
fn basic_constraints(mut val: Der<'_>) -> bool {
    let Some(mut bc) = val.read(SEQUENCE) else {
        return false;
    };
    if bc.peek(BOOLEAN) && !bc.boolean() {
        return false;
    }
    !bc.peek(INTEGER) || bc.int64().is_some_and(|n| n >= 0)
}

/// `subjectAltName`: each name readable; an rfc822Name, dNSName or URI in ASCII, an IP address
/// of 4 bytes or of 16 that is not IPv4-mapped, a URI's host a name Go accepts.
fn subject_alt_names(mut val: Der<'_>) -> Result<(), String> {
    let mut names = val
        .read(SEQUENCE)
        .ok_or("x509: invalid subject alternative names")?;
    while !names.is_empty() {
        let (tag, _, Der(data)) = names
            .any()
            .ok_or("x509: invalid subject alternative name")?;
        let ascii = data.is_ascii();
        match tag {
            0x81 if !ascii => return Err("x509: SAN rfc822Name is malformed".into()),
            0x82 if !ascii => return Err("x509: SAN dNSName is malformed".into()),
            0x86 if !ascii => {
                return Err("x509: SAN uniformResourceIdentifier is malformed".into());
            }
            // Go's `url.Parse` (the port in `sprig_more.rs`), then its host as a domain name.
            0x86 => {
                let q = crate::gostr::quote(data, false);
                let url = super::sprig_more::parse_url(data)
                    .map_err(|e| format!("x509: cannot parse URI {q}: parse {q}: {e}"))?;
                let host = std::str::from_utf8(&url.host).unwrap_or_default();
                if !host.is_empty() && !domain_name_valid(host, false) {
                    return Err(format!("x509: cannot parse URI {q}: invalid domain"));
                }
            }
            0x87 if data.len() == 16 && ipv4_mapped(data) => {
                return Err("x509: SAN iPAddress contains IPv4-mapped IPv6 address".into());
            }
            0x87 if data.len() != 4 && data.len() != 16 => {
                return Err(format!(
                    "x509: cannot parse IP address of length {}",
                    data.len()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Go's `net.IP.To4` of 16 bytes: `::ffff:a.b.c.d`.
fn ipv4_mapped(ip: &[u8]) -> bool {
    ip[..10].iter().all(|&b| b == 0) && ip[10..12] == [0xff, 0xff]
}

/// Go's `parseRFC2821Mailbox` as a test: a quoted string or dot-atoms (a `\\`-escape allowed, no
/// leading, trailing or double dot) as the local part, `@`, and a domain Go's
/// `domainToReverseLabels` takes.
fn rfc2821_mailbox(b: &[u8]) -> bool {
    let mut i = 0;
    if b.first() == Some(&b'"') {
        i = 1;
        loop {
            let Some(&c) = b.get(i) else { return false };
            i += 1;
            match c {
                b'"' => break,
                b'\\' => match b.get(i) {
                    Some(&(1..=9 | 11 | 12 | 14..=127)) => i += 1,
                    _ => return false,
                },
                1..=8 | 11 | 12 | 14..=31 | 32 | 33 | 35..=91 | 93..=127 => {}
                _ => return false,
            }
        }
    } else {
        let mut local = Vec::new();
        while let Some(&c) = b.get(i) {
            let c = if c == b'\\' {
                i += 1;
                match b.get(i) {
                    Some(&e) => e,
                    None => return false,
                }
            } else if c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&c) {
                c
            } else {
                break;
            };
            local.push(c);
            i += 1;
        }
        if local.is_empty()
            || local[0] == b'.'
            || local[local.len() - 1] == b'.'
            || local.windows(2).any(|w| w == b"..")
        {
            return false;
        }
    }
    if b.get(i) != Some(&b'@') {
        return false;
    }
    // A second `@` in the domain is refused too (what `bao agent` 2.7.2 does with
    // `a@b@example.com`).
    let domain = std::str::from_utf8(&b[i + 1..]).unwrap_or("\u{0}");
    !domain.contains('@') && domain_name_valid(domain, false)
}

/// Go's `domainNameValid`: no final dot, no empty label, printable ASCII without spaces; a
/// constraint may start with a dot.
fn domain_name_valid(s: &str, constraint: bool) -> bool {
    if s.is_empty() {
        return true;
    }
    if s.ends_with('.') {
        return false;
    }
    let s = if constraint {
        s.strip_prefix('.').unwrap_or(s)
    } else {
        s
    };
    s.split('.')
        .all(|label| !label.is_empty() && label.bytes().all(|b| (33..=126).contains(&b)))
}

/// `NameConstraints`: one SEQUENCE of optional `[0]` permitted and `[1]` excluded subtrees, not
/// both empty; each subtree's DNS, IP, email and URI bases checked as Go checks them (others are
/// let through).
fn name_constraints(mut outer: Der<'_>) -> Result<(), String> {
    let invalid = || "x509: invalid NameConstraints extension".to_string();
    let mut top = outer.read(SEQUENCE).ok_or_else(invalid)?;
    if !outer.is_empty() {
        return Err(invalid());
    }
    let mut subtrees = [Der(&[]), Der(&[])];
    for (tag, slot) in [0xa0, 0xa1].into_iter().zip(subtrees.iter_mut()) {
        if top.peek(tag) {
            *slot = top.read(tag).ok_or_else(invalid)?;
        }
    }
    if !top.is_empty() {
        return Err(invalid());
    }
    if subtrees.iter().all(Der::is_empty) {
        return Err("x509: empty name constraints extension".into());
    }
    for mut list in subtrees {
        while !list.is_empty() {
            let (tag, _, Der(v)) = list
                .read(SEQUENCE)
                .and_then(|mut s| s.any())
                .ok_or_else(invalid)?;
            let text = || crate::gostr::quote(v, false);
            if matches!(tag, 0x81 | 0x82 | 0x86) && !v.is_ascii() {
                return Err(format!(
                    "x509: invalid constraint value: x509: {} cannot be encoded as an IA5String",
                    text()
                ));
            }
            let s = std::str::from_utf8(v).unwrap_or_default();
            match tag {
                0x82 if !domain_name_valid(s, true) => {
                    return Err(format!(
                        "x509: failed to parse dnsName constraint {}",
                        text()
                    ));
                }
                0x87 => ip_constraint(v)?,
                0x81 if s.contains('@') && !rfc2821_mailbox(v) => {
                    return Err(format!(
                        "x509: failed to parse rfc822Name constraint {}",
                        text()
                    ));
                }
                0x81 if !s.contains('@') && !domain_name_valid(s, true) => {
                    return Err(format!(
                        "x509: failed to parse rfc822Name constraint {}",
                        text()
                    ));
                }
                0x86 if s.parse::<core::net::IpAddr>().is_ok() => {
                    return Err(format!(
                        "x509: failed to parse URI constraint {}: cannot be IP address",
                        text()
                    ));
                }
                0x86 if !domain_name_valid(s, true) => {
                    return Err(format!("x509: failed to parse URI constraint {}", text()));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// An IP constraint: an address and a mask of ones then zeros, 4 + 4 or 16 + 16 bytes, the
/// address not IPv4-mapped.
fn ip_constraint(v: &[u8]) -> Result<(), String> {
    if v.len() != 8 && v.len() != 32 {
        return Err(format!(
            "x509: IP constraint contained value of length {}",
            v.len()
        ));
    }
    let (ip, mask) = v.split_at(v.len() / 2);
    let mut bits = mask
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1));
    if bits.by_ref().any(|b| b == 0) && bits.any(|b| b == 1) {
        return Err(format!(
            "x509: IP constraint contained invalid mask {}",
            hex::encode(mask)
        ));
    }
    if ip.len() == 16 && ipv4_mapped(ip) {
        return Err("x509: IP constraint contained IPv4-mapped IPv6 address".into());
    }
    Ok(())
}

/// `cRLDistributionPoints`: a SEQUENCE of SEQUENCEs; a distribution point's name, when present,
/// a `[0]` fullName whose leading URIs are readable.
fn crl_distribution_points(mut val: Der<'_>) -> Result<(), String> {
    let mut list = val
        .read(SEQUENCE)
        .ok_or("x509: invalid CRL distribution points")?;
    let bad = || "x509: invalid CRL distribution point".to_string();
    while !list.is_empty() {
        let mut dp = list.read(SEQUENCE).ok_or_else(bad)?;
        if !dp.peek(0xa0) {
            continue;
        }
        let mut name = dp.read(0xa0).ok_or_else(bad)?;
        let mut full = name.read(0xa0).ok_or_else(bad)?;
        while full.peek(0x86) {
            full.read(0x86).ok_or_else(bad)?;
        }
    }
    Ok(())
}

/// `certificatePolicies`: SEQUENCEs each starting with a well-formed OID, none twice.
fn certificate_policies(mut val: Der<'_>) -> bool {
    let Some(mut list) = val.read(SEQUENCE) else {
        return false;
    };
    let mut seen = Vec::new();
    while !list.is_empty() {
        let Some(Der(oid)) = list.read(SEQUENCE).and_then(|mut p| p.read(OID)) else {
            return false;
        };
        // Go's `newOIDFromDER`: any size, each component minimal, the last one ended.
        let minimal = oid
            .iter()
            .enumerate()
            .all(|(i, &b)| b != 0x80 || (i > 0 && oid[i - 1] & 0x80 != 0));
        if seen.contains(&oid) || oid.last().is_none_or(|&b| b & 0x80 != 0) || !minimal {
            return false;
        }
        seen.push(oid);
    }
    true
}

/// A Name: SETs of (OID, value) SEQUENCEs, each value readable as Go reads attribute values.
fn name(mut raw: Der<'_>) -> Result<(), String> {
    let bad = |m: &str| Err(format!("x509: invalid RDNSequence{m}"));
    while !raw.is_empty() {
        let Some(mut set) = raw.read(SET) else {
            return bad("");
        };
        while !set.is_empty() {
            let Some(mut atv) = set.read(SEQUENCE) else {
                return bad(": invalid attribute");
            };
            if atv.oid().is_none() {
                return bad(": invalid attribute type");
            }
            if let Err(e) = attribute_value(&mut atv) {
                return bad(&format!(": invalid attribute value: {e}"));
            }
        }
    }
    Ok(())
}

/// Go's `readASN1Any` checks on one attribute value.
fn attribute_value(d: &mut Der<'_>) -> Result<(), String> {
    let (tag, element, Der(v)) = d.any().ok_or("invalid ASN.1 element")?;
    let (ok, what) = match tag {
        0x13 => (v.iter().all(|&b| printable(b)), "invalid PrintableString"),
        0x0c => (std::str::from_utf8(v).is_ok(), "invalid UTF-8 string"),
        0x1e => (bmp_ok(v), "invalid BMPString"),
        0x16 => (v.iter().all(|&b| b < 0x80), "invalid IA5String"),
        0x12 => (
            v.iter().all(|&b| b.is_ascii_digit() || b == b' '),
            "invalid NumericString",
        ),
        INTEGER => (Der(element).int64().is_some(), "invalid ASN.1 integer"),
        BIT_STRING => (Der(element).bit_string(), "invalid ASN.1 BIT STRING"),
        OID => (
            Der(element).oid().is_some(),
            "invalid ASN.1 OBJECT IDENTIFIER",
        ),
        BOOLEAN => (matches!(v, [0x00 | 0xff]), "invalid ASN.1 BOOLEAN"),
        0x17 | 0x18 => return time(&mut Der(element)),
        _ => (true, ""),
    };
    if ok { Ok(()) } else { Err(what.into()) }
}

/// Go's PrintableString set, with `*` and `&`, which it lets through.
fn printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"'()+,-./ :=?*&".contains(&b)
}

fn bmp_ok(v: &[u8]) -> bool {
    if !v.len().is_multiple_of(2) {
        return false;
    }
    let v = v.strip_suffix(&[0, 0]).unwrap_or(v);
    v.chunks(2).all(|c| {
        let p = u16::from_be_bytes([c[0], c[1]]);
        !(p == 0xfffe
            || p == 0xffff
            || (0xfdd0..=0xfdef).contains(&p)
            || (0xd800..=0xdfff).contains(&p))
    })
}

/// A UTCTime or GeneralizedTime that reads back as written (Go parses, formats and compares).
fn time(d: &mut Der<'_>) -> Result<(), String> {
    if d.peek(0x17) {
        let ok = d.read(0x17).is_some_and(|Der(t)| utc_time(t));
        return if ok {
            Ok(())
        } else {
            Err("x509: malformed UTCTime".into())
        };
    }
    if d.peek(0x18) {
        let ok = d.read(0x18).is_some_and(|Der(t)| generalized_time(t));
        return if ok {
            Ok(())
        } else {
            Err("x509: malformed GeneralizedTime".into())
        };
    }
    Err("x509: unsupported time format".into())
}

/// `YYMMDDhhmm[ss]` and a zone, in the one form Go writes back.
fn utc_time(t: &[u8]) -> bool {
    for digits in [12, 10] {
        if t.len() > digits && t[..digits].iter().all(u8::is_ascii_digit) && zone(&t[digits..]) {
            let n = |i: usize| u32::from(t[i] - b'0') * 10 + u32::from(t[i + 1] - b'0');
            let yy = n(0);
            let year = if yy >= 69 { 1900 + yy } else { 2000 + yy };
            let sec = if digits == 12 { n(10) } else { 0 };
            return date_time(year, n(2), n(4), n(6), n(8), sec);
        }
    }
    false
}

/// `YYYYMMDDhhmmss[.fff]` and a zone; a fraction has 1–9 digits and no trailing zero.
fn generalized_time(t: &[u8]) -> bool {
    if t.len() < 15 || !t[..14].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n = |i: usize| u32::from(t[i] - b'0') * 10 + u32::from(t[i + 1] - b'0');
    let mut rest = &t[14..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let len = frac.iter().take_while(|b| b.is_ascii_digit()).count();
        if len == 0 || len > 9 || frac[len - 1] == b'0' {
            return false;
        }
        rest = &frac[len..];
    }
    zone(rest) && date_time(n(0) * 100 + n(2), n(4), n(6), n(8), n(10), n(12))
}

/// `Z`, or `±hhmm` other than zero with hh ≤ 24 and mm ≤ 59.
fn zone(z: &[u8]) -> bool {
    match z {
        b"Z" => true,
        [b'+' | b'-', d @ ..] if d.len() == 4 && d.iter().all(u8::is_ascii_digit) => {
            let hh = (d[0] - b'0') * 10 + (d[1] - b'0');
            let mm = (d[2] - b'0') * 10 + (d[3] - b'0');
            hh <= 24 && mm <= 59 && (hh, mm) != (0, 0)
        }
        _ => false,
    }
}

fn date_time(year: u32, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> bool {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && min < 60 && sec < 60
}

/// The curves Go knows, by the contents of their OID, with their order N (hex).
const CURVES: [(&[u8], &str); 4] = [
    (
        &[0x2b, 0x81, 0x04, 0x00, 0x21],
        "ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d",
    ),
    (
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    ),
    (
        &[0x2b, 0x81, 0x04, 0x00, 0x22],
        "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    ),
    (
        &[0x2b, 0x81, 0x04, 0x00, 0x23],
        "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    ),
];

/// Go's `x509.ParseECPrivateKey` (and its PKCS #8 branch, which passes the curve from the
/// algorithm's parameters as `curve`): version 1, a named curve Go knows (P-224, P-256, P-384,
/// P-521), a scalar no longer than the curve's size but for leading zeros, whose public point is
/// not the identity and which is below the curve's order. The embedded public key is read only as a
/// BIT STRING, as `encoding/asn1` reads it.
pub fn ec_private_key(curve: Option<&[u8]>, der: &[u8]) -> Result<(), String> {
    let (version, scalar, own_curve) =
        sec1_fields(der).map_err(|e| sec1_structure_error(der, &e))?;
    if version != 1 {
        return Err(format!("x509: unknown EC private key version {version}"));
    }
    let oid = curve.or(own_curve);
    let Some(order) = CURVES
        .iter()
        .find(|(o, _)| Some(*o) == oid)
        .map(|(_, n)| hex::decode(n).expect("curve order"))
    else {
        return Err("x509: unknown elliptic curve".into());
    };
    let size = order.len();
    let mut k = scalar;
    while k.len() > size {
        if k[0] != 0 {
            return Err("x509: invalid private key length".into());
        }
        k = &k[1..];
    }
    let mut d = vec![0u8; size - k.len()];
    d.extend_from_slice(k);
    if reduce(&d, &order).iter().all(|&b| b == 0) {
        return Err("ecdsa: invalid public key encoding".into());
    }
    if d >= order {
        return Err("input overflows the modulus".into());
    }
    Ok(())
}

/// An `ECPrivateKey`'s version, scalar and curve OID contents.
type Sec1<'a> = (i64, &'a [u8], Option<&'a [u8]>);

/// `ECPrivateKey ::= SEQUENCE { version INTEGER, privateKey OCTET STRING, [0] OID OPTIONAL,
/// [1] BIT STRING OPTIONAL, … }` as Go's `encoding/asn1` reads it into its struct (later fields
/// and data after the SEQUENCE are ignored; an optional field whose tags do not match is skipped):
/// the version, the scalar and the curve's OID contents, or `encoding/asn1`'s error text.
fn sec1_fields(der: &[u8]) -> Result<Sec1<'_>, String> {
    let (body, _) = asn1_field(der, 0, Asn1Kind::Sequence, None)?;
    let body = body.unwrap_or_default();
    let (version, off) = asn1_field(body, 0, Asn1Kind::Int, None)?;
    let version = asn1_int64(version.unwrap_or_default())?;
    let (scalar, off) = asn1_field(body, off, Asn1Kind::Octets, None)?;
    let (curve, off) = asn1_field(body, off, Asn1Kind::Oid, Some(0))?;
    if let Some(c) = curve {
        asn1_oid(c)?;
    }
    let (public, _) = asn1_field(body, off, Asn1Kind::Bits, Some(1))?;
    if let Some(p) = public {
        asn1_bit_string(p)?;
    }
    Ok((version, scalar.unwrap_or_default(), curve))
}

/// The Go types of `ecPrivateKey`'s fields, as `encoding/asn1` expects them.
#[derive(Clone, Copy)]
enum Asn1Kind {
    Sequence,
    Int,
    Octets,
    Oid,
    Bits,
}

fn asn1_structure(m: &str) -> String {
    format!("asn1: structure error: {m}")
}

fn asn1_syntax(m: &str) -> String {
    format!("asn1: syntax error: {m}")
}

/// `encoding/asn1`'s `parseField` for one field at `off` of `b`: a mandatory field when
/// `explicit` is `None`, else an optional one under that explicit context tag. The contents
/// (`None`: an optional field left out, the offset unchanged) and the offset after it.
fn asn1_field(
    b: &[u8],
    off: usize,
    kind: Asn1Kind,
    explicit: Option<u32>,
) -> Result<(Option<&[u8]>, usize), String> {
    if off == b.len() {
        return match explicit {
            Some(_) => Ok((None, off)),
            None => Err(asn1_syntax("sequence truncated")),
        };
    }
    let (mut t, mut o) = asn1_tag_and_length(b, off)?;
    if let Some(tag) = explicit {
        if o == b.len() {
            return Err(asn1_structure("explicit tag has no child"));
        }
        if t.0 != 2 || t.1 != tag || !(t.3 == 0 || t.2) {
            return Ok((None, off));
        }
        if t.3 == 0 {
            return Err(asn1_structure(
                "zero length explicit tag was not an asn1.Flag",
            ));
        }
        (t, o) = asn1_tag_and_length(b, o)?;
    }
    let (want, compound, name) = match kind {
        Asn1Kind::Sequence => (16, true, "ecPrivateKey"),
        Asn1Kind::Int => (2, false, "int"),
        Asn1Kind::Octets => (4, false, ""),
        Asn1Kind::Oid => (6, false, "ObjectIdentifier"),
        Asn1Kind::Bits => (3, false, "BitString"),
    };
    if t.0 != 0 || t.1 != want || t.2 != compound {
        if explicit.is_some() {
            return Ok((None, off));
        }
        return Err(asn1_structure(&format!(
            "tags don't match ({want} vs {{class:{} tag:{} length:{} isCompound:{}}}) \
             {{optional:false explicit:false application:false private:false defaultValue:<nil> \
             tag:<nil> stringType:0 timeType:0 set:false omitEmpty:false}} {name} @{o}",
            t.0, t.1, t.3, t.2
        )));
    }
    let end = o
        .checked_add(t.3)
        .filter(|&e| e <= b.len())
        .ok_or_else(|| asn1_syntax("data truncated"))?;
    Ok((Some(&b[o..end]), end))
}

/// An element's (class, tag number, constructed, length), as `encoding/asn1` reads them.
type TagLen = (u8, u32, bool, usize);

/// `encoding/asn1`'s `parseTagAndLength`: the element's header and the offset after it.
fn asn1_tag_and_length(b: &[u8], mut off: usize) -> Result<(TagLen, usize), String> {
    let first = b[off];
    off += 1;
    let mut tag = u32::from(first & 0x1f);
    if tag == 0x1f {
        (tag, off) = asn1_base128(b, off)?;
        if tag < 0x1f {
            return Err(asn1_syntax("non-minimal tag"));
        }
    }
    let Some(&l) = b.get(off) else {
        return Err(asn1_syntax("truncated tag or length"));
    };
    off += 1;
    let mut len = usize::from(l);
    if l & 0x80 != 0 {
        let n = l & 0x7f;
        if n == 0 {
            return Err(asn1_syntax("indefinite length found (not DER)"));
        }
        len = 0;
        for _ in 0..n {
            let Some(&x) = b.get(off) else {
                return Err(asn1_syntax("truncated tag or length"));
            };
            off += 1;
            if len >= 1 << 23 {
                return Err(asn1_structure("length too large"));
            }
            len = (len << 8) | usize::from(x);
            if len == 0 {
                return Err(asn1_structure("superfluous leading zeros in length"));
            }
        }
        if len < 0x80 {
            return Err(asn1_structure("non-minimal length"));
        }
    }
    Ok(((first >> 6, tag, first & 0x20 != 0, len), off))
}

/// `encoding/asn1`'s base-128 integer: minimal, at most 4 bytes, below 2³¹.
fn asn1_base128(b: &[u8], mut off: usize) -> Result<(u32, usize), String> {
    let mut ret = 0u64;
    for shifted in 0.. {
        let Some(&x) = b.get(off) else { break };
        if shifted == 5 {
            return Err(asn1_structure("base 128 integer too large"));
        }
        if shifted == 0 && x == 0x80 {
            return Err(asn1_syntax("integer is not minimally encoded"));
        }
        ret = (ret << 7) | u64::from(x & 0x7f);
        off += 1;
        if x & 0x80 == 0 {
            return u32::try_from(ret)
                .ok()
                .filter(|&r| r <= i32::MAX as u32)
                .map(|r| (r, off))
                .ok_or_else(|| asn1_structure("base 128 integer too large"));
        }
    }
    Err(asn1_syntax("truncated base 128 integer"))
}

/// `encoding/asn1`'s `parseInt64`.
fn asn1_int64(b: &[u8]) -> Result<i64, String> {
    match b {
        [] => return Err(asn1_structure("empty integer")),
        [0, x, ..] if x & 0x80 == 0 => {
            return Err(asn1_structure("integer not minimally-encoded"));
        }
        [0xff, x, ..] if x & 0x80 != 0 => {
            return Err(asn1_structure("integer not minimally-encoded"));
        }
        _ if b.len() > 8 => return Err(asn1_structure("integer too large")),
        _ => {}
    }
    let init = if b[0] & 0x80 != 0 { -1i64 } else { 0 };
    Ok(b.iter().fold(init, |a, &x| (a << 8) | i64::from(x)))
}

/// `encoding/asn1`'s `parseObjectIdentifier` errors.
fn asn1_oid(b: &[u8]) -> Result<(), String> {
    if b.is_empty() {
        return Err(asn1_syntax("zero length OBJECT IDENTIFIER"));
    }
    let mut off = 0;
    while off < b.len() {
        off = asn1_base128(b, off)?.1;
    }
    Ok(())
}

/// `encoding/asn1`'s `parseBitString` errors.
fn asn1_bit_string(b: &[u8]) -> Result<(), String> {
    let Some((&pad, bits)) = b.split_first() else {
        return Err(asn1_syntax("zero length BIT STRING"));
    };
    if pad > 7
        || (bits.is_empty() && pad > 0)
        || bits.last().is_some_and(|&l| l & ((1u8 << pad) - 1) != 0)
    {
        return Err(asn1_syntax("invalid padding bits in BIT STRING"));
    }
    Ok(())
}

/// Go's message for a key that is not an `ECPrivateKey`: a hint when it is a PKCS #8 or PKCS #1
/// structure, else `encoding/asn1`'s description of the mismatch.
fn sec1_structure_error(der: &[u8], asn1: &str) -> String {
    let mut body = Der(der).read(SEQUENCE).unwrap_or(Der(&[]));
    if body.int64().is_some() {
        let mut pkcs8 = body;
        if pkcs8.read(SEQUENCE).is_some() && pkcs8.read(OCTET_STRING).is_some() {
            return "x509: failed to parse private key (use ParsePKCS8PrivateKey instead for this key format)".into();
        }
        if (0..5).all(|_| body.integer().is_some()) {
            return "x509: failed to parse private key (use ParsePKCS1PrivateKey instead for this key format)".into();
        }
    }
    format!("x509: failed to parse EC private key: {asn1}")
}

/// `k mod n` for big-endian `k` and `n` of the same length, `k < 256·n`.
fn reduce(k: &[u8], n: &[u8]) -> Vec<u8> {
    let mut r = vec![0u8];
    r.extend_from_slice(k);
    for shift in (0..8).rev() {
        let m = shifted(n, shift);
        if r.as_slice() >= m.as_slice() {
            let mut borrow = 0i16;
            for i in (0..r.len()).rev() {
                let v = i16::from(r[i]) - i16::from(m[i]) - borrow;
                borrow = i16::from(v < 0);
                r[i] = v.rem_euclid(256) as u8;
            }
        }
    }
    r
}

/// `n << shift` (shift < 8), one byte wider.
fn shifted(n: &[u8], shift: u32) -> Vec<u8> {
    let mut out = vec![0u8; n.len() + 1];
    for (i, &b) in n.iter().enumerate() {
        let v = u16::from(b) << shift;
        out[i] |= (v >> 8) as u8;
        out[i + 1] |= v as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        if body.len() < 128 {
            out.push(body.len() as u8);
        } else {
            let len = body.len().to_be_bytes();
            let len: Vec<u8> = len.into_iter().skip_while(|&b| b == 0).collect();
            out.push(0x80 | len.len() as u8);
            out.extend(len);
        }
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn lengths_are_cryptobytes() {
        assert!(Der(&[0x04, 0x01, 0xaa]).any().is_some());
        // Long form for a short length, a leading zero, indefinite, a high tag: refused.
        assert!(Der(&[0x04, 0x81, 0x01, 0xaa]).any().is_none());
        let mut long = vec![0x04, 0x82, 0x00, 0x80];
        long.extend([0u8; 0x80]);
        assert!(Der(&long).any().is_none());
        assert!(Der(&[0x30, 0x80, 0, 0]).any().is_none());
        assert!(Der(&[0x1f, 0x01, 0x00]).any().is_none());
        assert!(Der(&[0x04, 0x02, 0xaa]).any().is_none());
    }

    #[test]
    fn integers_are_minimal() {
        assert_eq!(Der(&[0x02, 0x01, 0xff]).int64(), Some(-1));
        assert_eq!(Der(&[0x02, 0x02, 0x00, 0x80]).int64(), Some(128));
        assert_eq!(Der(&[0x02, 0x02, 0x00, 0x01]).int64(), None);
        assert_eq!(Der(&[0x02, 0x02, 0xff, 0x80]).int64(), None);
        assert_eq!(Der(&[0x02, 0x00]).int64(), None);
        assert_eq!(Der(&der(0x02, &[1; 9])).int64(), None);
    }

    #[test]
    fn oids_and_bit_strings() {
        assert_eq!(
            Der(&[0x06, 0x03, 0x55, 0x1d, 0x0e]).oid().as_deref(),
            Some("2.5.29.14")
        );
        assert_eq!(
            Der(&[0x06, 0x06, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d])
                .oid()
                .as_deref(),
            Some("1.2.840.113549")
        );
        assert!(Der(&[0x06, 0x02, 0x80, 0x01]).oid().is_none());
        assert!(Der(&[0x06, 0x01, 0x86]).oid().is_none());
        assert!(Der(&[0x06, 0x00]).oid().is_none());
        assert!(Der(&[0x03, 0x02, 0x01, 0x80]).bit_string());
        assert!(!Der(&[0x03, 0x02, 0x01, 0x81]).bit_string());
        assert!(!Der(&[0x03, 0x01, 0x01]).bit_string());
        assert!(!Der(&[0x03, 0x02, 0x08, 0x00]).bit_string());
        assert!(Der(&[0x03, 0x01, 0x00]).bit_string());
    }

    #[test]
    fn times_read_back_as_written() {
        assert!(utc_time(b"261207010203Z"));
        assert!(utc_time(b"2612070102Z"));
        assert!(utc_time(b"261207010203+0130"));
        assert!(utc_time(b"261207010203-2400"));
        assert!(utc_time(b"240229000000Z"));
        assert!(!utc_time(b"250229000000Z"));
        assert!(!utc_time(b"261307010203Z"));
        assert!(!utc_time(b"261207240000Z"));
        assert!(!utc_time(b"261207010260Z"));
        assert!(!utc_time(b"261207010203+0000"));
        assert!(!utc_time(b"261207010203+0060"));
        assert!(!utc_time(b"261207010203"));
        assert!(!utc_time(b"261207010203.5Z"));
        assert!(generalized_time(b"20261207010203Z"));
        assert!(generalized_time(b"20261207010203.123456789Z"));
        assert!(generalized_time(b"20000229010203.5+0100"));
        assert!(!generalized_time(b"19000229010203Z"));
        assert!(!generalized_time(b"20261207010203.10Z"));
        assert!(!generalized_time(b"20261207010203.Z"));
        assert!(!generalized_time(b"20261207010203.1234567891Z"));
        assert!(!generalized_time(b"20261207010203,5Z"));
        assert_eq!(
            time(&mut Der(&[0x04, 0x00])).unwrap_err(),
            "x509: unsupported time format"
        );
    }

    #[test]
    fn names_check_their_strings() {
        let atv = |tag: u8, v: &[u8]| {
            let mut body = der(0x06, &[0x55, 0x04, 0x03]);
            body.extend(der(tag, v));
            der(0x30, &der(0x31, &der(0x30, &body)))
        };
        let name_of = |b: &[u8]| name(Der(b).read(SEQUENCE).unwrap());
        assert!(name_of(&atv(0x13, b"Example CA *&")).is_ok());
        assert!(name_of(&atv(0x14, b"\xff")).is_ok());
        assert_eq!(
            name_of(&atv(0x16, b"caf\xc3\xa9")).unwrap_err(),
            "x509: invalid RDNSequence: invalid attribute value: invalid IA5String"
        );
        assert_eq!(
            name_of(&atv(0x1e, &[0xd8, 0x00])).unwrap_err(),
            "x509: invalid RDNSequence: invalid attribute value: invalid BMPString"
        );
        assert!(name_of(&atv(0x1e, &[0x00, 0x41, 0x00, 0x00])).is_ok());
        assert_eq!(
            name_of(&atv(0x17, b"261307010203Z")).unwrap_err(),
            "x509: invalid RDNSequence: invalid attribute value: x509: malformed UTCTime"
        );
        assert_eq!(
            name_of(&der(0x30, &der(0x30, &[]))).unwrap_err(),
            "x509: invalid RDNSequence"
        );
    }

    fn sec1(version: u8, scalar: &[u8], curve: Option<&[u8]>) -> Vec<u8> {
        let mut body = der(0x02, &[version]);
        body.extend(der(0x04, scalar));
        if let Some(c) = curve {
            body.extend(der(0xa0, &der(0x06, c)));
        }
        der(0x30, &body)
    }

    #[test]
    fn ec_keys_as_go_checks_them() {
        for (_, n) in CURVES {
            assert_eq!(hex::decode(n).unwrap().len(), n.len() / 2);
        }
        let (p224, n224) = (CURVES[0].0, hex::decode(CURVES[0].1).unwrap());
        let (p521, n521) = (CURVES[3].0, hex::decode(CURVES[3].1).unwrap());
        assert_eq!(ec_private_key(None, &sec1(1, &[7], Some(p224))), Ok(()));
        // The curve from PKCS #8's parameters wins over the key's own.
        assert_eq!(ec_private_key(Some(p224), &sec1(1, &[7], None)), Ok(()));
        let mut pad = vec![0u8];
        pad.extend(&n224[1..]);
        pad.insert(0, 0);
        assert_eq!(ec_private_key(None, &sec1(1, &pad, Some(p224))), Ok(()));
        let identity = "ecdsa: invalid public key encoding";
        let overflow = "input overflows the modulus";
        assert_eq!(
            ec_private_key(None, &sec1(1, &[], Some(p224))).unwrap_err(),
            identity
        );
        assert_eq!(
            ec_private_key(None, &sec1(1, &n224, Some(p224))).unwrap_err(),
            identity
        );
        let mut n1 = n224.clone();
        *n1.last_mut().unwrap() += 1;
        assert_eq!(
            ec_private_key(None, &sec1(1, &n1, Some(p224))).unwrap_err(),
            overflow
        );
        // P-521's scalar holds multiples of its order: each is the identity, the rest overflow.
        let three_n: Vec<u8> = {
            let mut r = reduce(&n521, &n521);
            assert!(r.iter().all(|&b| b == 0));
            r = vec![0; n521.len()];
            let mut carry = 0u16;
            for i in (0..n521.len()).rev() {
                let v = u16::from(n521[i]) * 3 + carry;
                r[i] = v as u8;
                carry = v >> 8;
            }
            assert_eq!(carry, 0);
            r
        };
        assert_eq!(
            ec_private_key(None, &sec1(1, &three_n, Some(p521))).unwrap_err(),
            identity
        );
        let mut three_n1 = three_n.clone();
        *three_n1.last_mut().unwrap() += 1;
        assert_eq!(
            ec_private_key(None, &sec1(1, &three_n1, Some(p521))).unwrap_err(),
            overflow
        );
        let mut long = vec![1u8];
        long.extend(vec![0u8; 28]);
        assert_eq!(
            ec_private_key(None, &sec1(1, &long, Some(p224))).unwrap_err(),
            "x509: invalid private key length"
        );
        assert_eq!(
            ec_private_key(None, &sec1(0, &[7], Some(p224))).unwrap_err(),
            "x509: unknown EC private key version 0"
        );
        assert_eq!(
            ec_private_key(None, &sec1(1, &[7], Some(&[0x2b, 0x81, 0x04, 0x00, 0x0a])))
                .unwrap_err(),
            "x509: unknown elliptic curve"
        );
        // Not an ECPrivateKey: Go's hints for PKCS #8 and PKCS #1.
        let mut p8 = der(0x02, &[0]);
        p8.extend(der(
            0x30,
            &der(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]),
        ));
        p8.extend(der(0x04, &sec1(1, &[7], Some(p224))));
        assert!(
            ec_private_key(None, &der(0x30, &p8))
                .unwrap_err()
                .contains("use ParsePKCS8PrivateKey")
        );
        let p1: Vec<u8> = (0..9).flat_map(|i| der(0x02, &[i + 1])).collect();
        assert!(
            ec_private_key(None, &der(0x30, &p1))
                .unwrap_err()
                .contains("use ParsePKCS1PrivateKey")
        );
        assert_eq!(
            ec_private_key(None, b"junk").unwrap_err(),
            "x509: failed to parse EC private key: asn1: structure error: tags don't match \
             (16 vs {class:1 tag:10 length:117 isCompound:true}) {optional:false explicit:false \
             application:false private:false defaultValue:<nil> tag:<nil> stringType:0 \
             timeType:0 set:false omitEmpty:false} ecPrivateKey @2"
        );
        // An optional field whose tags do not match is skipped, as `encoding/asn1` skips it.
        let mut body = der(0x02, &[1]);
        body.extend(der(0x04, &[7]));
        body.extend(der(0xa0, &der(0x02, &[1])));
        assert_eq!(
            ec_private_key(None, &der(0x30, &body)).unwrap_err(),
            "x509: unknown elliptic curve"
        );
        assert_eq!(
            asn1_base128(&[0x80, 0x01], 0).unwrap_err(),
            "asn1: syntax error: integer is not minimally encoded"
        );
        assert_eq!(
            asn1_base128(&[0x88, 0x80, 0x80, 0x80, 0x00], 0).unwrap_err(),
            "asn1: structure error: base 128 integer too large"
        );
        assert_eq!(
            asn1_base128(&[0x81], 0).unwrap_err(),
            "asn1: syntax error: truncated base 128 integer"
        );
    }

    #[test]
    fn extension_values_as_go_reads_them() {
        assert!(domain_name_valid("a.example", false));
        assert!(domain_name_valid("", false));
        assert!(domain_name_valid(".example", true));
        assert!(!domain_name_valid(".example", false));
        assert!(!domain_name_valid("a..example", false));
        assert!(!domain_name_valid("example.", true));
        assert!(!domain_name_valid("a b", true));
        assert_eq!(ip_constraint(&[10, 0, 0, 0, 255, 255, 0, 0]), Ok(()));
        assert_eq!(ip_constraint(&[10, 0, 0, 0, 0, 0, 0, 0]), Ok(()));
        assert_eq!(
            ip_constraint(&[10, 0, 0, 0, 255, 254, 1, 0]).unwrap_err(),
            "x509: IP constraint contained invalid mask fffe0100"
        );
        assert_eq!(
            ip_constraint(&[10, 0, 0, 0]).unwrap_err(),
            "x509: IP constraint contained value of length 4"
        );
        let bc = |b: &[u8]| basic_constraints(Der(b));
        assert!(bc(&der(0x30, &[])));
        assert!(bc(&der(0x30, &[0x01, 0x01, 0xff, 0x02, 0x01, 0x00])));
        assert!(!bc(&der(0x30, &[0x02, 0x01, 0xff])));
        assert!(!bc(&der(0x30, &[0x01, 0x01, 0x01])));
        // Policies: an OID of any size, but minimal and ended, never twice.
        let policies = |oids: &[&[u8]]| {
            let body: Vec<u8> = oids.iter().flat_map(|o| der(0x30, &der(0x06, o))).collect();
            certificate_policies(Der(&der(0x30, &body)))
        };
        assert!(policies(&[&[0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]]));
        assert!(!policies(&[&[0x2a, 0x80, 0x01]]));
        assert!(!policies(&[&[0x2a, 0x81]]));
        assert!(!policies(&[&[0x2a, 0x03], &[0x2a, 0x03]]));
    }

    #[test]
    fn public_points_on_each_curve() {
        // Each curve's generator, uncompressed (from `openssl ecparam -param_enc explicit`).
        let generators = [
            "04b70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21bd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34",
            "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
            "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f",
            "0400c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650",
        ];
        for (curve, g) in NIST.iter().zip(generators) {
            let g = hex::decode(g).unwrap();
            assert_eq!(ec_point(curve, &g), Ok(()), "{}", curve.name);
            let mut off = g.clone();
            *off.last_mut().unwrap() ^= 1;
            assert_eq!(
                ec_point(curve, &off).unwrap_err(),
                format!("{} point not on curve", curve.name)
            );
            let mut big = g.clone();
            big[1..1 + (g.len() - 1) / 2].fill(0xff);
            assert_eq!(
                ec_point(curve, &big).unwrap_err(),
                format!("invalid {}Element encoding", curve.name)
            );
            assert_eq!(
                ec_point(curve, &g[..g.len() - 1]).unwrap_err(),
                format!("invalid {} point encoding", curve.name)
            );
            assert_eq!(
                ec_point(curve, &g[1..]).unwrap_err(),
                "ecdsa: invalid uncompressed public key"
            );
        }
    }
}
