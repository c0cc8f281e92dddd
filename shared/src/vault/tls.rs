//! The rustls client configuration: the CA file / directory / PEM bytes the user names — or, when
//! none is named, the system roots (as Vault's Go client does: a named CA replaces the system pool) —
//! an optional client certificate (mTLS), TLS 1.2 or newer, and — only when the user turns
//! verification off — a verifier that accepts any server certificate. The agent's API proxy builds
//! its transport from the same function.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::{ClientConfig, VaultError};

/// Builds the TLS settings; returns them with a description of what is trusted (for errors).
pub fn client_tls(cfg: &ClientConfig) -> Result<(rustls::ClientConfig, String), VaultError> {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| VaultError::Config(format!("TLS: {e}")))?;
    let mut trust = Vec::new();
    let builder = if cfg.tls_skip_verify {
        trust.push("nothing (tls_skip_verify is on)".to_string());
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let custom = cfg.ca_cert.is_some() || cfg.ca_path.is_some() || cfg.ca_cert_bytes.is_some();
        // A plain-HTTP address never does a handshake: reading the system store (≈150 files,
        // a few ms and ~0.4 MB per process) would buy nothing.
        let plain_http = cfg.address.starts_with("http://");
        if !custom && !plain_http {
            let added = system_roots(&mut roots);
            if added > 0 {
                trust.push("the system roots".to_string());
            }
        }
        if let Some(file) = &cfg.ca_cert {
            add_pem_file(&mut roots, file, "ca_cert")?;
            trust.push(format!("ca_cert {}", file.display()));
        }
        if let Some(dir) = &cfg.ca_path {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                VaultError::Config(format!("ca_path: cannot read {}: {e}", dir.display()))
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_file() {
                    add_pem_file(&mut roots, &p, "ca_path")?;
                }
            }
            trust.push(format!("ca_path {}", dir.display()));
        }
        if let Some(pem) = &cfg.ca_cert_bytes {
            let n = add_pem(&mut roots, pem.as_bytes());
            if n == 0 {
                return Err(VaultError::Config(
                    "VAULT_CACERT_BYTES: no PEM certificate in it".into(),
                ));
            }
            trust.push("VAULT_CACERT_BYTES".to_string());
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client_cert")?;
            let key = read_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| VaultError::Config(format!("client_cert/client_key: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(VaultError::Config(
                "client_cert and client_key must be given together".into(),
            ));
        }
    };
    Ok((config, trust.join(" + ")))
}

/// Adds the system trust store, read once per process and shared by every client after that.
fn system_roots(roots: &mut RootCertStore) -> usize {
    static NATIVE: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    let certs = NATIVE.get_or_init(|| rustls_native_certs::load_native_certs().certs);
    roots.add_parsable_certificates(certs.iter().cloned()).0
}

fn add_pem(roots: &mut RootCertStore, pem: &[u8]) -> usize {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pem).flatten().collect();
    roots.add_parsable_certificates(certs).0
}

fn add_pem_file(roots: &mut RootCertStore, file: &Path, key: &str) -> Result<(), VaultError> {
    let pem = std::fs::read(file)
        .map_err(|e| VaultError::Config(format!("{key}: cannot read {}: {e}", file.display())))?;
    if add_pem(roots, &pem) == 0 {
        return Err(VaultError::Config(format!(
            "{key}: no PEM certificate in {}",
            file.display()
        )));
    }
    Ok(())
}

fn read_certs(file: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>, VaultError> {
    let pem = std::fs::read(file)
        .map_err(|e| VaultError::Config(format!("{key}: cannot read {}: {e}", file.display())))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).flatten().collect();
    if certs.is_empty() {
        return Err(VaultError::Config(format!(
            "{key}: no PEM certificate in {}",
            file.display()
        )));
    }
    Ok(certs)
}

fn read_key(file: &Path) -> Result<PrivateKeyDer<'static>, VaultError> {
    let pem = std::fs::read(file).map_err(|e| {
        VaultError::Config(format!("client_key: cannot read {}: {e}", file.display()))
    })?;
    PrivateKeyDer::from_pem_slice(&pem).ok().ok_or_else(|| {
        VaultError::Config(format!(
            "client_key: no PEM private key in {}",
            file.display()
        ))
    })
}

/// Accepts any server certificate: used only when the user sets `tls_skip_verify`.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn a_named_ca_replaces_the_system_roots() {
        let cfg = ClientConfig {
            address: "https://vault:8200".into(),
            ca_cert_bytes: Some(ca_pem()),
            ..ClientConfig::default()
        };
        let (_, trust) = client_tls(&cfg).unwrap();
        assert_eq!(trust, "VAULT_CACERT_BYTES");
    }

    #[test]
    fn bad_ca_bytes_are_named() {
        let cfg = ClientConfig {
            ca_cert_bytes: Some("not a pem".into()),
            ..ClientConfig::default()
        };
        let e = client_tls(&cfg).unwrap_err().to_string();
        assert!(e.contains("VAULT_CACERT_BYTES"), "{e}");
    }

    #[test]
    fn client_cert_without_key_is_refused() {
        let cfg = ClientConfig {
            client_cert: Some("/c.pem".into()),
            ..ClientConfig::default()
        };
        let e = client_tls(&cfg).unwrap_err().to_string();
        assert!(e.contains("client_cert and client_key"), "{e}");
    }
}
