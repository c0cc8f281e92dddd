//! One fetch of one dependency (agent.md §5.3) with the shared Vault client, and what it means
//! for the next fetch (agent.md §5.4). `pkiCert` reads the template's destination as its cache and issues
//! a new certificate only when that holds none still inside its rotation window.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as JsonValue};
use vaultlet_shared::vault::{Client, Secret, VaultError};

use super::schedule::{self, Next, Refresh};
use crate::template::{Dependency, Fetched};

/// Why one fetch failed. Messages name the path, never a secret value.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Vault refused or could not be reached.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// A read found nothing, or a KV v2 version deleted in the past (agent.md §5.3).
    #[error("no secret exists at {0}")]
    NoSecret(String),
    /// A `file` dependency could not be read.
    #[error("file({path}): {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// `pkiCert`: Vault answered the certificate request with nothing.
    #[error("{0}: empty answer to a certificate request")]
    EmptyCertificateAnswer(String),
    /// `pkiCert`: Vault's answer has no leaf certificate.
    #[error("{0}: the answer holds no certificate")]
    NoCertificate(String),
}

impl FetchError {
    /// Whether Vault's refusal may mean the token is dead, to be checked by auto-auth
    /// (agent.md §3.6); the fetch's own retries go on as for any error.
    pub fn suggests_dead_token(&self) -> bool {
        matches!(self, FetchError::Vault(e) if e.suggests_dead_token())
    }
}

/// A successful fetch and when to fetch again.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub value: Fetched,
    pub next: Next,
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn params_map(params: &[(String, String)]) -> Map<String, JsonValue> {
    params
        .iter()
        .map(|(k, v)| (k.clone(), JsonValue::String(v.clone())))
        .collect()
}

/// Fetches `dep` once.
pub async fn fetch(
    client: &Client,
    dep: &Dependency,
    refresh: &Refresh,
) -> Result<Outcome, FetchError> {
    match dep {
        Dependency::Read { path } => {
            let s = client.read_secret(path).await?;
            let s = s.ok_or_else(|| FetchError::NoSecret(path.clone()))?;
            if kv2_deleted(&s) {
                return Err(FetchError::NoSecret(path.clone()));
            }
            warn_of(path, &s);
            let next = schedule::after_secret(&s, unix_now(), refresh);
            Ok(Outcome {
                value: Fetched::Secret(Some(Arc::new(s))),
                next,
            })
        }
        Dependency::Write { path, params } => {
            let s = client.write_secret(path, params_map(params)).await?;
            let next = match &s {
                Some(s) => {
                    warn_of(path, s);
                    schedule::after_secret(s, unix_now(), refresh)
                }
                None => refresh.jittered(),
            };
            Ok(Outcome {
                value: Fetched::Secret(s.map(Arc::new)),
                next,
            })
        }
        Dependency::List { path } => {
            let mut keys = client.list_secret(path).await?;
            keys.sort();
            Ok(Outcome {
                value: Fetched::List(keys),
                next: Next::Refetch(refresh.static_interval),
            })
        }
        Dependency::Pki { path, dest, params } => {
            fetch_pki(client, path, dest, params, refresh).await
        }
        Dependency::File { path } => {
            let text = std::fs::read_to_string(path).map_err(|source| FetchError::File {
                path: path.clone(),
                source,
            })?;
            Ok(Outcome {
                value: Fetched::File(text),
                next: Next::Refetch(Duration::from_secs(2)),
            })
        }
    }
}

/// A KV v2 read whose version was deleted in the past.
fn kv2_deleted(s: &Secret) -> bool {
    let Some(d) = s.data.as_ref() else {
        return false;
    };
    let Some(meta) = d.get("metadata").and_then(JsonValue::as_object) else {
        return false;
    };
    let deleted = meta
        .get("deletion_time")
        .and_then(JsonValue::as_str)
        .unwrap_or("");
    !deleted.is_empty() && d.get("data").is_none_or(JsonValue::is_null)
}

fn warn_of(path: &str, s: &Secret) {
    for w in s.warnings.iter().flatten() {
        tracing::warn!(target: "template", path, warning = %w, "vault warning");
    }
}

/// The PEM blocks of a bundle, sorted into what `pkiCert` returns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PkiBundle {
    pub cert: String,
    pub key: String,
    pub ca: String,
    pub ca_chain: Vec<String>,
    /// The leaf's validity (unix seconds).
    pub not_before: i64,
    pub not_after: i64,
}

/// Splits `text` into PEM blocks (each ending with `\n`) and classifies them.
pub fn parse_pki_bundle(text: &str) -> PkiBundle {
    let mut b = PkiBundle::default();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = &after[..label_end];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = rest[start..].find(&end_marker) else {
            break;
        };
        let block_end = start + end + end_marker.len();
        let block = format!("{}\n", &rest[start..block_end]);
        rest = &rest[block_end..];
        if label.ends_with("PRIVATE KEY") {
            if b.key.is_empty() {
                b.key = block;
            }
            continue;
        }
        if label != "CERTIFICATE" {
            continue;
        }
        let Ok((_, pem)) = x509_parser::pem::parse_x509_pem(block.as_bytes()) else {
            continue;
        };
        let Ok(cert) = pem.parse_x509() else { continue };
        if cert.is_ca() {
            if b.ca.is_empty() {
                b.ca = block.clone();
            }
            if !b.ca_chain.contains(&block) {
                b.ca_chain.push(block);
            }
        } else if b.cert.is_empty() {
            b.not_before = cert.validity().not_before.timestamp();
            b.not_after = cert.validity().not_after.timestamp();
            b.cert = block;
        }
    }
    b
}

async fn fetch_pki(
    client: &Client,
    path: &str,
    dest: &str,
    params: &[(String, String)],
    refresh: &Refresh,
) -> Result<Outcome, FetchError> {
    let cached = std::fs::read_to_string(Path::new(dest))
        .map(|t| parse_pki_bundle(&t))
        .unwrap_or_default();
    let now_ms = unix_now_ms();
    let usable = |b: &PkiBundle| {
        !b.cert.is_empty()
            && b.not_after * 1000 > now_ms
            && !schedule::pki_rotation(b.not_before, b.not_after, now_ms, refresh.threshold)
                .is_zero()
    };
    let bundle = if usable(&cached) {
        cached
    } else {
        let s = client
            .write(
                path.trim_matches('/'),
                &JsonValue::Object(params_map(params)),
            )
            .await?
            .ok_or_else(|| FetchError::EmptyCertificateAnswer(path.to_string()))?;
        let mut text = String::new();
        for (_, v) in s.data.iter().flatten() {
            match v {
                JsonValue::String(p) => {
                    text.push_str(p);
                    text.push('\n');
                }
                JsonValue::Array(items) => {
                    for p in items.iter().filter_map(JsonValue::as_str) {
                        text.push_str(p);
                        text.push('\n');
                    }
                }
                _ => {}
            }
        }
        let b = parse_pki_bundle(&text);
        if b.cert.is_empty() {
            return Err(FetchError::NoCertificate(path.to_string()));
        }
        b
    };
    let next = Next::Refetch(schedule::pki_rotation(
        bundle.not_before,
        bundle.not_after,
        now_ms,
        refresh.threshold,
    ));
    Ok(Outcome {
        value: Fetched::Pki {
            cert: bundle.cert,
            key: bundle.key,
            ca: bundle.ca,
            ca_chain: bundle.ca_chain,
        },
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(is_ca: bool) -> rcgen::CertificateParams {
        let mut p = rcgen::CertificateParams::new(vec!["example.test".to_string()]).unwrap();
        if is_ca {
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        p
    }

    #[test]
    fn bundles_sort_leaf_key_and_cas() {
        let (cap, cak) = (params(true), rcgen::KeyPair::generate().unwrap());
        let ca = cap.clone().self_signed(&cak).unwrap();
        let lk = rcgen::KeyPair::generate().unwrap();
        let leaf = params(false)
            .signed_by(&lk, &rcgen::Issuer::from_params(&cap, &cak))
            .unwrap();
        let text = format!(
            "{}{}\nnoise\n{}{}",
            leaf.pem(),
            lk.serialize_pem(),
            ca.pem(),
            ca.pem()
        );
        let b = parse_pki_bundle(&text);
        assert_eq!(b.cert, format!("{}\n", leaf.pem().trim_end()));
        assert!(b.key.starts_with("-----BEGIN PRIVATE KEY-----") && b.key.ends_with("-----\n"));
        assert_eq!(b.ca, format!("{}\n", ca.pem().trim_end()));
        assert_eq!(b.ca_chain.len(), 1, "distinct CAs");
        assert!(b.not_after > b.not_before);
    }

    #[test]
    fn kv2_deleted_versions_are_missing() {
        let s = Secret::from_json(
            br#"{"data":{"data":null,"metadata":{"deletion_time":"2020-01-01T00:00:00Z"}}}"#,
        )
        .unwrap();
        assert!(kv2_deleted(&s));
        let s =
            Secret::from_json(br#"{"data":{"data":{"a":"1"},"metadata":{"deletion_time":""}}}"#)
                .unwrap();
        assert!(!kv2_deleted(&s));
    }
}
