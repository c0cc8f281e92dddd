//! Mints RS256 JWTs shaped like Kubernetes projected service-account tokens, with an RSA key
//! generated in-process (aws-lc-rs), and verifies them (for the TokenReview responder).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, KeyPair as _, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// An RSA-2048 signing key and an issuer name.
pub struct JwtIssuer {
    key: KeyPair,
    issuer: String,
}

impl JwtIssuer {
    /// A fresh key for issuer `issuer` (e.g. `https://kubernetes.default.svc.cluster.local`).
    pub fn new(issuer: &str) -> JwtIssuer {
        JwtIssuer {
            key: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
            issuer: issuer.to_string(),
        }
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public key as a PKIX `PUBLIC KEY` PEM.
    pub fn public_key_pem(&self) -> String {
        let der: PublicKeyX509Der<'static> =
            self.key.public_key().as_der().expect("public key DER");
        pem("PUBLIC KEY", der.as_ref())
    }

    /// Signs `claims` (any JSON object) as an RS256 JWT.
    pub fn mint(&self, claims: Value) -> String {
        let header = json!({"alg": "RS256", "kid": "vaultlet-test", "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut sig,
            )
            .expect("RS256 signing");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// A token with the claims kube-apiserver puts in a projected service-account token:
    /// `iss`, `sub = system:serviceaccount:NS:SA`, `aud`, `exp`, `iat`, `nbf`, `jti` and
    /// `kubernetes.io {namespace, pod, serviceaccount, node, warnafter}`. UIDs derive from the
    /// names, so [`service_account_uid`] tells a test which uid the token carries.
    pub fn mint_service_account(
        &self,
        namespace: &str,
        sa: &str,
        audiences: &[&str],
        ttl: Duration,
    ) -> String {
        let now = unix_now();
        let pod = format!("{sa}-0");
        self.mint(json!({
            "aud": audiences,
            "exp": now + ttl.as_secs(),
            "iat": now,
            "nbf": now,
            "iss": self.issuer,
            "jti": uid(&["jti", namespace, sa, &now.to_string(), &rand::random::<u64>().to_string()]),
            "sub": format!("system:serviceaccount:{namespace}:{sa}"),
            "kubernetes.io": {
                "namespace": namespace,
                "node": {"name": "node-1", "uid": uid(&["node", "node-1"])},
                "pod": {"name": pod, "uid": uid(&["pod", namespace, &pod])},
                "serviceaccount": {"name": sa, "uid": service_account_uid(namespace, sa)},
                "warnafter": now + ttl.as_secs().min(3600) * 8 / 10,
            },
        }))
    }

    /// Checks the RS256 signature and `exp`/`nbf`; returns the claims.
    pub fn verify(&self, jwt: &str) -> Result<Value, String> {
        self.verifier().verify(jwt)
    }

    /// The public half, as a cheap value another thread can own.
    pub(crate) fn verifier(&self) -> Verifier {
        Verifier {
            public_key: self.key.public_key().as_ref().to_vec(),
        }
    }
}

/// Verifies tokens of one issuer (its RSA public key, PKCS#1 DER).
#[derive(Clone)]
pub(crate) struct Verifier {
    public_key: Vec<u8>,
}

impl Verifier {
    pub(crate) fn verify(&self, jwt: &str) -> Result<Value, String> {
        let mut parts = jwt.trim().split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWT (want three dot-separated parts)".into());
        };
        let header: Value = decode_part(h)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err("unsupported alg".into());
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| format!("bad signature encoding: {e}"))?;
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &self.public_key)
            .verify(format!("{h}.{c}").as_bytes(), &sig)
            .map_err(|_| "invalid signature".to_string())?;
        let claims: Value = decode_part(c)?;
        let now = unix_now();
        if claims
            .get("exp")
            .and_then(Value::as_u64)
            .is_some_and(|exp| exp <= now)
        {
            return Err("token has expired".into());
        }
        if claims
            .get("nbf")
            .and_then(Value::as_u64)
            .is_some_and(|nbf| nbf > now + 60)
        {
            return Err("token is not valid yet".into());
        }
        Ok(claims)
    }
}

/// The service-account uid a token minted by [`JwtIssuer::mint_service_account`] carries.
pub fn service_account_uid(namespace: &str, sa: &str) -> String {
    uid(&["serviceaccount", namespace, sa])
}

fn decode_part(part: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| format!("bad base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("bad JSON: {e}"))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// A UUID-shaped id derived from names (SHA-256), stable across runs.
fn uid(parts: &[&str]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, parts.join("/").as_bytes());
    let h: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_verifies_and_carries_projected_claims() {
        let iss = JwtIssuer::new("https://kubernetes.default.svc.cluster.local");
        let t = iss.mint_service_account("ns1", "app", &["vault"], Duration::from_secs(60));
        let c = iss.verify(&t).unwrap();
        assert_eq!(c["sub"], "system:serviceaccount:ns1:app");
        assert_eq!(c["aud"], json!(["vault"]));
        assert_eq!(
            c["kubernetes.io"]["serviceaccount"]["uid"],
            service_account_uid("ns1", "app")
        );
        assert!(
            iss.public_key_pem()
                .starts_with("-----BEGIN PUBLIC KEY-----\n")
        );
    }

    #[test]
    fn other_key_tampering_and_expiry_are_refused() {
        let a = JwtIssuer::new("a");
        let b = JwtIssuer::new("a");
        let t = a.mint(json!({"sub": "x", "exp": unix_now() + 60}));
        assert_eq!(b.verify(&t).unwrap_err(), "invalid signature");
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(json!({"sub": "root", "exp": unix_now() + 60}).to_string());
        parts[1] = &forged;
        assert_eq!(a.verify(&parts.join(".")).unwrap_err(), "invalid signature");
        let old = a.mint(json!({"sub": "x", "exp": unix_now() - 5}));
        assert_eq!(a.verify(&old).unwrap_err(), "token has expired");
    }
}
