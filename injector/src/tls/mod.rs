//! The serving certificate (injector.md §6.3–6.4): a slot the TLS acceptor reads on every
//! handshake, filled and swapped by a certificate source — [`files`] (disk mode, hot-reloaded) or
//! [`auto`] (generated CA + leaf) — so a rotation never drops a connection. A handshake before the
//! first certificate fails (`no certificate available`), unless a placeholder was installed: disk
//! mode serves a generated certificate nobody trusts until the files load, so that the health
//! endpoints answer meanwhile (injector.md §6.3.1).
//!
//! In a cluster, auto-TLS publishes its CA and shares its certificate through the Kubernetes API:
//! [`cluster`] (the loop), [`webhook`] (caBundle), [`share`] (the Secret), [`leader`] (the
//! Lease), all over the [`kube::KubeApi`] seam whose real implementation is [`api`] (kube's
//! typed APIs).

pub mod api;
pub mod auto;
pub mod cluster;
pub mod files;
pub mod kube;
pub mod leader;
pub mod share;
pub mod webhook;

use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::settings::TlsSettings;

/// A certificate or key that cannot be used, naming the file or the reason.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("failed to generate a certificate: {0}")]
    Generate(String),
}

/// The current serving certificate.
#[derive(Debug, Default)]
pub struct CertSlot {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    /// Served while `current` is empty.
    placeholder: std::sync::OnceLock<Arc<CertifiedKey>>,
}

impl CertSlot {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Serves `key` from the next handshake on.
    pub fn install(&self, key: Arc<CertifiedKey>) {
        *self.current.write().expect("cert slot lock") = Some(key);
    }

    /// Serves `key` until a certificate is installed (the first call wins); [`Self::is_ready`]
    /// stays false.
    pub fn install_placeholder(&self, key: Arc<CertifiedKey>) {
        let _ = self.placeholder.set(key);
    }

    /// The certificate being served, if any.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.current.read().expect("cert slot lock").clone()
    }

    /// Whether a certificate is being served.
    pub fn is_ready(&self) -> bool {
        self.current.read().expect("cert slot lock").is_some()
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let c = self.current.read().expect("cert slot lock").clone();
        let c = c.or_else(|| self.placeholder.get().cloned());
        if c.is_none() {
            tracing::warn!("TLS handshake refused: no certificate available");
        }
        c
    }
}

/// Parses a PEM certificate chain and PEM private key into a signing key pair.
pub fn certified_key(
    cert_pem: &[u8],
    key_pem: &[u8],
    origin: &str,
) -> Result<CertifiedKey, TlsError> {
    let bad = |reason: String| TlsError::Invalid {
        what: origin.to_string(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("certificate: {e}")))?;
    if chain.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => bad("no PEM private key found".into()),
        e => bad(format!("key: {e}")),
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let ck = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        bad(format!(
            "key does not match the certificate or is unsupported: {e}"
        ))
    })?;
    Ok(ck)
}

/// The rustls server settings: HTTP/2 and HTTP/1.1 by ALPN, the minimum version and cipher suites
/// of the flags, certificates from `slot`.
pub fn server_config(
    slot: Arc<CertSlot>,
    t: &TlsSettings,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if !t.cipher_suites.is_empty() {
        provider
            .cipher_suites
            .retain(|c| c.version() == &rustls::version::TLS13 || t.cipher_suites.contains(c));
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if t.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Invalid {
            what: "TLS settings".into(),
            reason: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(slot);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_does_not_match_is_refused_with_the_origin() {
        let a = auto::Generator::new().unwrap();
        let one = a
            .leaf(&["localhost".into()], std::time::SystemTime::now())
            .unwrap();
        let two = a
            .leaf(&["localhost".into()], std::time::SystemTime::now())
            .unwrap();
        assert!(certified_key(one.cert_pem.as_bytes(), one.key_pem.as_bytes(), "x").is_ok());
        let e = certified_key(one.cert_pem.as_bytes(), two.key_pem.as_bytes(), "/etc/tls")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/etc/tls: key does not match"), "{e}");
        let e = certified_key(b"junk", b"junk", "/c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn an_empty_slot_serves_nothing_until_installed() {
        let slot = CertSlot::new();
        assert!(!slot.is_ready());
        let g = auto::Generator::new().unwrap();
        let p = g
            .leaf(&["localhost".into()], std::time::SystemTime::now())
            .unwrap();
        slot.install_placeholder(Arc::new(
            certified_key(p.cert_pem.as_bytes(), p.key_pem.as_bytes(), "gen").unwrap(),
        ));
        assert!(
            !slot.is_ready(),
            "a placeholder is not a serving certificate"
        );
        assert!(slot.current().is_none());
        let b = g
            .leaf(&["localhost".into()], std::time::SystemTime::now())
            .unwrap();
        slot.install(Arc::new(
            certified_key(b.cert_pem.as_bytes(), b.key_pem.as_bytes(), "gen").unwrap(),
        ));
        assert!(slot.is_ready());
    }
}
