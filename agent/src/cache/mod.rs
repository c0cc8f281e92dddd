//! The persistent cache handoff (agent.md §7.3, `cache { persist "kubernetes" { … } }`): the init
//! container (`exit_after_auth`) stores its auto-auth token in an encrypted file in
//! `persist.path`; the sidecar starts from it (lookup-self, agent.md §3.1a) instead of logging in again,
//! then deletes the file unless `keep_after_import`.
//!
//! # Format (ours, not upstream's BoltDB)
//!
//! `vaultlet-agent-cache.json`, mode 0600, written atomically:
//! `{"format":"vaultlet-agent-cache/1","salt":B64,"records":{"auto-auth-token":{"nonce":B64,"sealed":B64}}}`.
//! Each record is AES-256-GCM sealed with a fresh random 96-bit nonce and the record's name as
//! additional data.
//!
//! # What protects the key (quirk Q-C1, fixed)
//!
//! Upstream stores a random AES key **in clear** in the same file and only binds the records to
//! the service-account JWT as additional data, so anyone who can read the volume can decrypt it.
//! Here the key is **never stored**: it is derived with HKDF-SHA256 from the pod's
//! service-account JWT (`service_account_token_file`, trimmed; the secret input) and a random
//! 256-bit salt kept in the file. Reading the cache therefore needs the SA JWT as well as the
//! file — the same credential that would let the reader log in as the pod anyway. A rotated
//! projected token makes an old cache unreadable (as upstream); the sidecar then logs in normally.
//!
//! # Leased template answers (agent.md §7.3)
//!
//! Besides the token, the init container stores the answers its templates got **with a renewable
//! lease** (database credentials and the like) in a second record, `template-leases`, sealed the
//! same way: `{"version":1,"leases":[LeaseRecord…]}`. The sidecar's template runtime starts from
//! them and renews those leases instead of fetching new credentials. Answers without a lease (KV)
//! are not stored. The file format stays `vaultlet-agent-cache/1`: a reader that knows only the
//! token record ignores the other record (an older sidecar takes the token and fetches its own
//! secrets, as before); a `template-leases` record of an unknown version is ignored with a warning.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use vaultlet_shared::config::Persist;

/// The cache file's name inside `persist.path`.
pub const FILE_NAME: &str = "vaultlet-agent-cache.json";
const FORMAT: &str = "vaultlet-agent-cache/1";
const HKDF_INFO: &[u8] = b"vaultlet agent persistent cache v1";
const AUTO_AUTH: &str = "auto-auth-token";
const LEASES: &str = "template-leases";
const LEASES_VERSION: u32 = 1;
/// Default service-account token file.
pub const DEFAULT_SA_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Why the cache could not be read or written. Never contains a token or the JWT.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("persist: type {0:?} is not supported (only \"kubernetes\")")]
    Type(String),
    #[error("persist: path is empty")]
    NoPath,
    #[error("error reading the service account token {path}: {source}")]
    SaToken {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("service account token {0} is empty")]
    EmptySaToken(PathBuf),
    #[error("persistent cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "persistent cache {0}: cannot decrypt (the service account token changed, or the file was altered)"
    )]
    Decrypt(PathBuf),
    #[error("persistent cache {path}: {reason}")]
    Format { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    sealed: String,
}

#[derive(Serialize, Deserialize)]
struct FileBody {
    format: String,
    salt: String,
    records: std::collections::BTreeMap<String, Sealed>,
}

/// One leased answer a template got in the init container, as stored for the sidecar.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The dependency's kind (agent.md §5.2): `read` or `write`.
    pub kind: String,
    /// The dependency's path, as its identity has it.
    pub path: String,
    /// A write's params, sorted (the identity); empty for a read.
    #[serde(default)]
    pub params: Vec<(String, String)>,
    /// Vault's answer as JSON text (lease id, duration, renewable, data).
    pub response: String,
    /// Unix seconds at which `lease_duration` of `response` was granted (the fetch or the last
    /// renewal).
    pub fetched_at: i64,
}

#[derive(Serialize, Deserialize)]
struct LeasesBody {
    version: u32,
    #[serde(default)]
    leases: Vec<LeaseRecord>,
}

/// What a cache file holds.
#[derive(Debug, Default, PartialEq)]
pub struct Imported {
    /// The auto-auth token.
    pub token: Option<String>,
    /// The init container's leased template answers (empty when none or unreadable).
    pub leases: Vec<LeaseRecord>,
}

/// The configured persistent cache.
#[derive(Debug, Clone)]
pub struct PersistentCache {
    pub file: PathBuf,
    pub sa_token_file: PathBuf,
    pub keep_after_import: bool,
    pub exit_on_err: bool,
}

fn key(sa_jwt: &str, salt: &[u8]) -> LessSafeKey {
    let okm = Salt::new(HKDF_SHA256, salt).extract(sa_jwt.trim().as_bytes());
    let okm = okm
        .expand(&[HKDF_INFO], &AES_256_GCM)
        .expect("HKDF output of 32 bytes");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// Seals `plain` under record name `name` (pure apart from the random nonce).
fn seal(k: &LessSafeKey, name: &str, plain: &[u8]) -> Sealed {
    let nonce_bytes: [u8; NONCE_LEN] = rand::random();
    let mut buf = plain.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(name.as_bytes()),
        &mut buf,
    )
    .expect("AES-GCM seal");
    Sealed {
        nonce: B64.encode(nonce_bytes),
        sealed: B64.encode(buf),
    }
}

fn open(k: &LessSafeKey, name: &str, s: &Sealed) -> Option<Vec<u8>> {
    let nonce: [u8; NONCE_LEN] = B64.decode(&s.nonce).ok()?.try_into().ok()?;
    let mut buf = B64.decode(&s.sealed).ok()?;
    let plain = k
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(name.as_bytes()),
            &mut buf,
        )
        .ok()?;
    Some(plain.to_vec())
}

/// The file content holding `token` and `leases`, keyed from `sa_jwt` (fresh salt and nonces).
pub fn encode(sa_jwt: &str, token: &str, leases: &[LeaseRecord]) -> Vec<u8> {
    let salt: [u8; 32] = rand::random();
    let k = key(sa_jwt, &salt);
    let mut records = std::collections::BTreeMap::new();
    records.insert(AUTO_AUTH.to_string(), seal(&k, AUTO_AUTH, token.as_bytes()));
    if !leases.is_empty() {
        let body = serde_json::to_vec(&LeasesBody {
            version: LEASES_VERSION,
            leases: leases.to_vec(),
        })
        .expect("serialisable");
        records.insert(LEASES.to_string(), seal(&k, LEASES, &body));
    }
    serde_json::to_vec(&FileBody {
        format: FORMAT.into(),
        salt: B64.encode(salt),
        records,
    })
    .expect("serialisable")
}

/// The token and leases in a file's `content`, opened with `sa_jwt`. `path` is for errors only.
pub fn decode(path: &Path, sa_jwt: &str, content: &[u8]) -> Result<Imported, CacheError> {
    let format = |reason: String| CacheError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let body: FileBody =
        serde_json::from_slice(content).map_err(|e| format(format!("not a cache file: {e}")))?;
    if body.format != FORMAT {
        return Err(format(format!("unknown format {:?}", body.format)));
    }
    let salt = B64
        .decode(&body.salt)
        .map_err(|e| format(format!("salt: {e}")))?;
    let k = key(sa_jwt, &salt);
    let Some(rec) = body.records.get(AUTO_AUTH) else {
        return Ok(Imported::default());
    };
    let plain = open(&k, AUTO_AUTH, rec).ok_or_else(|| CacheError::Decrypt(path.to_path_buf()))?;
    let token = String::from_utf8(plain).map_err(|_| format("token is not UTF-8".into()))?;
    let leases = match body.records.get(LEASES) {
        None => Vec::new(),
        Some(rec) => {
            let plain =
                open(&k, LEASES, rec).ok_or_else(|| CacheError::Decrypt(path.to_path_buf()))?;
            match serde_json::from_slice::<LeasesBody>(&plain) {
                Ok(b) if b.version == LEASES_VERSION => b.leases,
                Ok(b) => {
                    tracing::warn!(target: "cache", version = b.version, "ignoring the template leases of an unknown version; the templates fetch anew");
                    Vec::new()
                }
                Err(e) => {
                    tracing::warn!(target: "cache", "ignoring unreadable template leases ({e}); the templates fetch anew");
                    Vec::new()
                }
            }
        }
    };
    Ok(Imported {
        token: Some(token),
        leases,
    })
}

impl PersistentCache {
    /// From `cache.persist`.
    pub fn from_config(p: &Persist) -> Result<Self, CacheError> {
        if p.persist_type != "kubernetes" {
            return Err(CacheError::Type(p.persist_type.clone()));
        }
        if p.path.is_empty() {
            return Err(CacheError::NoPath);
        }
        Ok(Self {
            file: Path::new(&p.path).join(FILE_NAME),
            sa_token_file: PathBuf::from(
                p.service_account_token_file
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .unwrap_or(DEFAULT_SA_TOKEN_FILE),
            ),
            keep_after_import: p.keep_after_import,
            exit_on_err: p.exit_on_err,
        })
    }

    fn sa_jwt(&self) -> Result<String, CacheError> {
        let jwt =
            std::fs::read_to_string(&self.sa_token_file).map_err(|source| CacheError::SaToken {
                path: self.sa_token_file.clone(),
                source,
            })?;
        if jwt.trim().is_empty() {
            return Err(CacheError::EmptySaToken(self.sa_token_file.clone()));
        }
        Ok(jwt)
    }

    /// Whether a cache file is there to import.
    pub fn exists(&self) -> bool {
        self.file.exists()
    }

    /// Reads the stored auto-auth token and leases, then deletes the file unless
    /// `keep_after_import`.
    pub fn import(&self) -> Result<Imported, CacheError> {
        let content = std::fs::read(&self.file).map_err(|source| CacheError::Io {
            path: self.file.clone(),
            source,
        })?;
        let imported = decode(&self.file, &self.sa_jwt()?, &content)?;
        if !self.keep_after_import {
            std::fs::remove_file(&self.file).map_err(|source| CacheError::Io {
                path: self.file.clone(),
                source,
            })?;
        }
        Ok(imported)
    }

    /// Stores `token` and the template `leases` (atomically, mode 0600).
    pub fn store(&self, token: &str, leases: &[LeaseRecord]) -> Result<(), CacheError> {
        let content = encode(&self.sa_jwt()?, token, leases);
        crate::atomic_file::write(&self.file, &content, 0o600, None, None).map_err(|source| {
            CacheError::Io {
                path: self.file.clone(),
                source,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_the_sa_jwt() {
        let p = Path::new("/c");
        let bytes = encode("jwt-one\n", "hvs.TOKEN", &[]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("hvs.TOKEN"), "sealed");
        assert!(
            !text.contains("jwt-one"),
            "no key material derived in clear"
        );
        assert_eq!(
            decode(p, "jwt-one", &bytes).unwrap().token.as_deref(),
            Some("hvs.TOKEN")
        );
        assert!(matches!(
            decode(p, "jwt-two", &bytes),
            Err(CacheError::Decrypt(_))
        ));
    }

    #[test]
    fn tampering_is_detected() {
        let bytes = encode("jwt", "hvs.TOKEN", &[]);
        let mut body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let sealed = body["records"][AUTO_AUTH]["sealed"]
            .as_str()
            .unwrap()
            .to_string();
        let mut raw = B64.decode(sealed).unwrap();
        raw[0] ^= 1;
        body["records"][AUTO_AUTH]["sealed"] = B64.encode(raw).into();
        let e = decode(Path::new("/c"), "jwt", body.to_string().as_bytes()).unwrap_err();
        assert!(matches!(e, CacheError::Decrypt(_)), "{e}");
    }

    #[test]
    fn store_import_deletes_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sa = dir.path().join("sa");
        std::fs::write(&sa, "sa.jwt.x\n").unwrap();
        let mut c = PersistentCache::from_config(&Persist {
            persist_type: "kubernetes".into(),
            path: dir.path().to_str().unwrap().into(),
            keep_after_import: true,
            exit_on_err: false,
            service_account_token_file: Some(sa.to_str().unwrap().into()),
        })
        .unwrap();
        c.store("hvs.A", &[]).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&c.file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(c.import().unwrap().token.as_deref(), Some("hvs.A"));
        assert!(c.exists(), "kept");
        c.keep_after_import = false;
        assert_eq!(c.import().unwrap().token.as_deref(), Some("hvs.A"));
        assert!(!c.exists(), "deleted after import");
    }

    fn lease() -> LeaseRecord {
        LeaseRecord {
            kind: "read".into(),
            path: "database/creds/app".into(),
            params: vec![],
            response: r#"{"lease_id":"database/creds/app/x","lease_duration":3600,"renewable":true,"data":{"username":"v-app","password":"pw-SECRET"}}"#.into(),
            fetched_at: 1_700_000_000,
        }
    }

    #[test]
    fn leases_travel_sealed_beside_the_token() {
        let p = Path::new("/c");
        let bytes = encode("jwt", "hvs.TOKEN", &[lease()]);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            !text.contains("pw-SECRET") && !text.contains("database/creds"),
            "sealed"
        );
        let got = decode(p, "jwt", &bytes).unwrap();
        assert_eq!(got.token.as_deref(), Some("hvs.TOKEN"));
        assert_eq!(got.leases, vec![lease()]);
        assert!(matches!(
            decode(p, "other", &bytes),
            Err(CacheError::Decrypt(_))
        ));
        // No leases: no record at all (the file an older agent wrote and reads).
        let body: serde_json::Value =
            serde_json::from_slice(&encode("jwt", "hvs.TOKEN", &[])).unwrap();
        assert_eq!(body["format"], FORMAT);
        assert!(body["records"].get(LEASES).is_none());
    }

    #[test]
    fn a_reader_that_knows_only_the_token_still_reads_it() {
        // What a sidecar of the previous release does: the token record alone.
        let bytes = encode("jwt", "hvs.TOKEN", &[lease()]);
        let body: FileBody = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.format, "vaultlet-agent-cache/1");
        let k = key("jwt", &B64.decode(&body.salt).unwrap());
        let token = open(&k, AUTO_AUTH, &body.records[AUTO_AUTH]).unwrap();
        assert_eq!(token, b"hvs.TOKEN");
    }

    #[test]
    fn leases_of_an_unknown_version_are_ignored() {
        let salt: [u8; 32] = [7; 32];
        let k = key("jwt", &salt);
        let mut records = std::collections::BTreeMap::new();
        records.insert(AUTO_AUTH.to_string(), seal(&k, AUTO_AUTH, b"hvs.T"));
        records.insert(
            LEASES.to_string(),
            seal(&k, LEASES, br#"{"version":9,"leases":[]}"#),
        );
        let bytes = serde_json::to_vec(&FileBody {
            format: FORMAT.into(),
            salt: B64.encode(salt),
            records,
        })
        .unwrap();
        let got = decode(Path::new("/c"), "jwt", &bytes).unwrap();
        assert_eq!(got.token.as_deref(), Some("hvs.T"));
        assert!(got.leases.is_empty());
    }

    #[test]
    fn only_kubernetes_type() {
        let e = PersistentCache::from_config(&Persist {
            persist_type: "bolt".into(),
            path: "/x".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("kubernetes"), "{e}");
    }
}
