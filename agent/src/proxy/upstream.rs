//! The API proxy's connection to Vault: a hyper client whose rustls settings come from the shared
//! client's [`client_tls`] (CA file / directory / PEM bytes, client certificate, skip-verify), with
//! the agent's [`Connection`] as input, plus the server-name override. The proxy forwards raw
//! requests, which the shared client does not expose, so it keeps its own small transport.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::ServerName;
use vaultlet_shared::vault::tls::client_tls;

use crate::connection::Connection;

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
    if conn.tls_skip_verify {
        tracing::warn!(target: "proxy", "tls_skip_verify is set: the Vault server's certificate is not verified");
    }
    let (tls, _trust) =
        client_tls(&conn.client_config()).map_err(|e| HttpError::Setup(e.to_string()))?;
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
