//! The API proxy's connection to Vault: a hyper client with rustls set up from the agent's
//! [`Connection`] (CA file / directory / PEM bytes, client certificate, server name,
//! skip-verify). The proxy forwards raw requests, which the shared client does not expose, so it
//! keeps its own small transport; the trust settings are the same as the shared client's.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::auth::connection::Connection;

/// A TLS or file problem building the upstream client.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Setup(String),
}

/// The pooled HTTP(S) client to Vault.
pub type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the client for `conn` (reads the TLS files now).
pub fn upstream(conn: &Connection) -> Result<Upstream, HttpError> {
    let tls = tls_config(conn)?;
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let builder = match conn.tls_server_name.clone().filter(|n| !n.is_empty()) {
        Some(name) => builder
            .with_server_name_resolver(move |_: &http::Uri| ServerName::try_from(name.clone())),
        None => builder,
    };
    let connector = builder.enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

fn read_certs(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>, HttpError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut &pem[..]).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(HttpError::Setup(format!(
            "{origin}: no PEM certificate found"
        ))),
        Err(e) => Err(HttpError::Setup(format!("{origin}: {e}"))),
    }
}

/// `tls_skip_verify`: accepts any certificate chain and name, but still checks the handshake
/// signatures (so the peer holds the key of the certificate it shows).
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(conn: &Connection) -> Result<rustls::ClientConfig, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    let custom = conn.ca_cert.is_some() || conn.ca_path.is_some() || conn.ca_cert_bytes.is_some();
    if let Some(path) = &conn.ca_cert {
        let pem = std::fs::read(path)
            .map_err(|e| HttpError::Setup(format!("ca_cert {}: {e}", path.display())))?;
        for c in read_certs(&pem, &path.display().to_string())? {
            roots
                .add(c)
                .map_err(|e| HttpError::Setup(format!("ca_cert {}: {e}", path.display())))?;
        }
    }
    if let Some(dir) = &conn.ca_path {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| HttpError::Setup(format!("ca_path {}: {e}", dir.display())))?;
        for entry in entries.flatten() {
            if let Ok(pem) = std::fs::read(entry.path()) {
                for c in read_certs(&pem, &entry.path().display().to_string()).unwrap_or_default() {
                    let _ = roots.add(c);
                }
            }
        }
    }
    if let Some(pem) = &conn.ca_cert_bytes {
        for c in read_certs(pem.as_bytes(), "VAULT_CACERT_BYTES")? {
            roots
                .add(c)
                .map_err(|e| HttpError::Setup(format!("VAULT_CACERT_BYTES: {e}")))?;
        }
    }
    if !custom {
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Setup(e.to_string()))?;
    let builder = if conn.tls_skip_verify {
        tracing::warn!(target: "proxy", "tls_skip_verify is set: the Vault server's certificate is not verified");
        versions
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
    } else {
        versions.with_root_certificates(roots)
    };
    match (&conn.client_cert, &conn.client_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert)
                .map_err(|e| HttpError::Setup(format!("client_cert {}: {e}", cert.display())))?;
            let key_pem = std::fs::read(key)
                .map_err(|e| HttpError::Setup(format!("client_key {}: {e}", key.display())))?;
            let certs = read_certs(&cert_pem, &cert.display().to_string())?;
            let key_der = rustls_pemfile::private_key(&mut &key_pem[..])
                .map_err(|e| HttpError::Setup(format!("client_key {}: {e}", key.display())))?
                .ok_or_else(|| {
                    HttpError::Setup(format!(
                        "client_key {}: no private key found",
                        key.display()
                    ))
                })?;
            builder
                .with_client_auth_cert(certs, key_der)
                .map_err(|e| HttpError::Setup(format!("client certificate: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(HttpError::Setup(
            "client_cert and client_key must be given together".into(),
        )),
    }
}
