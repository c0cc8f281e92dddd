//! The Vault calls of auto-auth and `token revoke` over HTTP(S): login, lookup-self, renew-self,
//! revoke-self (agent.md §2.1–2.2), on hyper + rustls, with the connection settings of §1.1
//! (flag > env > config > default).
//!
//! Interim: this is a deliberately small client (no HTTP-level retries — the auth handler forces
//! them to 0 anyway, §2.3 — one request timeout, no proxy support). When `vaultlet_shared::vault`
//! lands, `TokenApi` should be implemented over its `Client` instead and this file removed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use crate::cli::{ConnectionArgs, env_twin, parse_go_bool};
use crate::token::{ApiError, AuthToken, TokenApi};

/// Default Vault address.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// Where and how to reach Vault, after merging flags, env and the `vault` stanza.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub address: String,
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    /// PEM text from `VAULT_CACERT_BYTES`.
    pub ca_cert_bytes: Option<String>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: bool,
    pub namespace: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .field("ca_cert", &self.ca_cert)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// The `vault` stanza values that matter here (so this module does not depend on the config types).
#[derive(Debug, Clone, Default)]
pub struct StanzaValues {
    pub address: Option<String>,
    pub ca_cert: Option<String>,
    pub ca_path: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub tls_server_name: Option<String>,
    pub tls_skip_verify: Option<bool>,
    pub namespace: Option<String>,
}

/// Parses `VAULT_CLIENT_TIMEOUT`: integer seconds or a Go duration like `30s`, `1m`, `500ms`.
fn parse_timeout(s: &str) -> Option<Duration> {
    if let Ok(n) = s.parse::<u64>() {
        return Some(Duration::from_secs(n));
    }
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

impl Connection {
    /// Merges flag > env (`BAO_*` wins over `VAULT_*`) > stanza > default. Errors name the setting.
    pub fn resolve(
        flags: &ConnectionArgs,
        env: &impl Fn(&str) -> Option<String>,
        stanza: &StanzaValues,
    ) -> Result<Self, String> {
        let pick = |flag: Option<String>, var: &str, conf: &Option<String>| {
            flag.or_else(|| env_twin(env, var).filter(|v| !v.is_empty()))
                .or_else(|| conf.clone().filter(|v| !v.is_empty()))
        };
        let path = |flag: &Option<PathBuf>| flag.as_ref().map(|p| p.to_string_lossy().into_owned());
        let skip = match (
            flags.tls_skip_verify,
            env_twin(env, "SKIP_VERIFY").filter(|v| !v.is_empty()),
        ) {
            (Some(b), _) => b,
            (None, Some(v)) => parse_go_bool(&v).map_err(|e| format!("VAULT_SKIP_VERIFY: {e}"))?,
            (None, None) => stanza.tls_skip_verify.unwrap_or(false),
        };
        let timeout = match env_twin(env, "CLIENT_TIMEOUT").filter(|v| !v.is_empty()) {
            Some(v) => parse_timeout(&v)
                .ok_or_else(|| format!("VAULT_CLIENT_TIMEOUT: {v:?} is not a duration"))?,
            None => Duration::from_secs(60),
        };
        Ok(Self {
            address: pick(flags.address.clone(), "ADDR", &stanza.address)
                .unwrap_or_else(|| DEFAULT_ADDRESS.to_string())
                .trim_end_matches('/')
                .to_string(),
            ca_cert: pick(path(&flags.ca_cert), "CACERT", &stanza.ca_cert).map(PathBuf::from),
            ca_path: pick(path(&flags.ca_path), "CAPATH", &stanza.ca_path).map(PathBuf::from),
            ca_cert_bytes: env_twin(env, "CACERT_BYTES").filter(|v| !v.is_empty()),
            client_cert: pick(path(&flags.client_cert), "CLIENT_CERT", &stanza.client_cert)
                .map(PathBuf::from),
            client_key: pick(path(&flags.client_key), "CLIENT_KEY", &stanza.client_key)
                .map(PathBuf::from),
            tls_server_name: pick(
                flags.tls_server_name.clone(),
                "TLS_SERVER_NAME",
                &stanza.tls_server_name,
            ),
            tls_skip_verify: skip,
            namespace: pick(flags.namespace.clone(), "NAMESPACE", &stanza.namespace),
            timeout,
        })
    }
}

/// A failed Vault call: method, path, status and Vault's `errors` (never a token or a body sent).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{method} {url}: Code: {status}. Errors: {}", errors.join("; "))]
    Status {
        method: &'static str,
        url: String,
        status: u16,
        errors: Vec<String>,
    },
    #[error("{method} {url}: {message}")]
    Transport {
        method: &'static str,
        url: String,
        message: String,
    },
    #[error("{0}")]
    Setup(String),
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A small Vault client for auto-auth.
#[derive(Clone)]
pub struct VaultHttp {
    conn: Arc<Connection>,
    client: HttpsClient,
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
        tracing::warn!(target: "auth.handler", "tls_skip_verify is set: the Vault server's certificate is not verified");
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

impl VaultHttp {
    /// A client for `conn` (reads the CA and client certificate files now).
    pub fn new(conn: Connection) -> Result<Self, HttpError> {
        let tls = tls_config(&conn)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match conn.tls_server_name.clone() {
            Some(name) => builder
                .with_server_name_resolver(move |_: &http::Uri| ServerName::try_from(name.clone())),
            None => builder,
        };
        let connector = builder.enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            conn: Arc::new(conn),
            client,
        })
    }

    /// Which CAs this client trusts, for error messages.
    fn trusted_cas(&self) -> String {
        let mut cas = Vec::new();
        if let Some(p) = &self.conn.ca_cert {
            cas.push(format!("ca_cert {}", p.display()));
        }
        if let Some(p) = &self.conn.ca_path {
            cas.push(format!("ca_path {}", p.display()));
        }
        if self.conn.ca_cert_bytes.is_some() {
            cas.push("VAULT_CACERT_BYTES".into());
        }
        if cas.is_empty() {
            cas.push("the system roots".into());
        }
        cas.join(", ")
    }

    /// The Vault address.
    pub fn address(&self) -> &str {
        &self.conn.address
    }

    /// One call: `method /v1/<path>` with an optional token and JSON body; the JSON answer.
    async fn call(
        &self,
        method: &'static str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, HttpError> {
        self.call_with(method, path, token, body, None).await
    }

    /// [`Self::call`] with an optional `X-Vault-Wrap-TTL` (seconds).
    async fn call_with(
        &self,
        method: &'static str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        wrap_ttl_secs: Option<u64>,
    ) -> Result<Value, HttpError> {
        let url = format!("{}/v1/{}", self.conn.address, path.trim_start_matches('/'));
        let transport = |message: String| HttpError::Transport {
            method,
            url: url.clone(),
            message,
        };
        let mut req = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("X-Vault-Request", "true")
            .header(
                "User-Agent",
                concat!("Vault Agent Auto-Auth/vaultlet-", env!("CARGO_PKG_VERSION")),
            );
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        if let Some(ttl) = wrap_ttl_secs {
            req = req.header("X-Vault-Wrap-TTL", ttl.to_string());
        }
        if let Some(ns) = self.conn.namespace.as_deref().filter(|n| !n.is_empty()) {
            req = req.header("X-Vault-Namespace", ns);
        }
        let payload = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        let req = req
            .body(Full::new(payload))
            .map_err(|e| transport(format!("bad request: {e}")))?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| {
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg = format!("{msg}: {s}");
                    src = s.source();
                }
                if msg.contains("invalid peer certificate") {
                    msg = format!(
                        "{msg} (the server's TLS certificate was not accepted; trusted CAs: {})",
                        self.trusted_cas()
                    );
                }
                transport(msg)
            })?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| transport(format!("reading the response: {e}")))?
                .to_bytes();
            Ok::<_, HttpError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.conn.timeout, exchange)
            .await
            .map_err(|_| transport(format!("no answer within {:?}", self.conn.timeout)))??;
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if !(200..300).contains(&status) {
            let errors = json
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            return Err(HttpError::Status {
                method,
                url,
                status,
                errors,
            });
        }
        Ok(json)
    }

    /// `PUT /v1/sys/wrapping/wrap` of `{"token": token}` for `ttl`: Vault's `wrap_info`.
    pub async fn wrap(&self, token: &str, ttl: Duration) -> Result<Value, HttpError> {
        let body = serde_json::json!({ "token": token });
        let json = self
            .call_with(
                "PUT",
                "sys/wrapping/wrap",
                Some(token),
                Some(&body),
                Some(ttl.as_secs().max(1)),
            )
            .await?;
        match json.get("wrap_info") {
            Some(w) if w.is_object() => Ok(w.clone()),
            _ => Err(HttpError::Setup(
                "sys/wrapping/wrap: response has no wrap_info".into(),
            )),
        }
    }

    /// `PUT /v1/auth/token/revoke-self` with `token`.
    pub async fn revoke_self(&self, token: &str) -> Result<(), HttpError> {
        self.call("PUT", "auth/token/revoke-self", Some(token), None)
            .await
            .map(|_| ())
    }

    fn auth_of(&self, path: &str, json: &Value) -> Result<AuthToken, ApiError> {
        json.get("auth")
            .and_then(AuthToken::from_auth_block)
            .ok_or_else(|| format!("{path}: response has no auth.client_token").into())
    }
}

impl TokenApi for VaultHttp {
    async fn login(&self, path: &str, body: &Value) -> Result<AuthToken, ApiError> {
        let json = self.call("PUT", path, None, Some(body)).await?;
        self.auth_of(path, &json)
    }

    async fn lookup_self(&self, token: &str) -> Result<AuthToken, ApiError> {
        let json = self
            .call("GET", "auth/token/lookup-self", Some(token), None)
            .await?;
        match json.get("data") {
            Some(data) if data.is_object() => Ok(AuthToken::from_lookup_data(token, data)),
            _ => Err("auth/token/lookup-self: response has no data".into()),
        }
    }

    async fn wrap_token(&self, token: &str, ttl: Duration) -> Result<Value, ApiError> {
        Ok(self.wrap(token, ttl).await?)
    }

    async fn renew_self(&self, token: &str) -> Result<AuthToken, ApiError> {
        let body = serde_json::json!({"increment": 0});
        let json = self
            .call("PUT", "auth/token/renew-self", Some(token), Some(&body))
            .await?;
        self.auth_of("auth/token/renew-self", &json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn precedence_flag_env_stanza_default() {
        let stanza = StanzaValues {
            address: Some("http://from-config:1".into()),
            namespace: Some("cfg/".into()),
            ..Default::default()
        };
        let none = ConnectionArgs::default();
        let c = Connection::resolve(&none, &env(&[]), &StanzaValues::default()).unwrap();
        assert_eq!(c.address, DEFAULT_ADDRESS);
        let c = Connection::resolve(&none, &env(&[]), &stanza).unwrap();
        assert_eq!(c.address, "http://from-config:1");
        assert_eq!(c.namespace.as_deref(), Some("cfg/"));
        let c =
            Connection::resolve(&none, &env(&[("VAULT_ADDR", "http://env:2/")]), &stanza).unwrap();
        assert_eq!(c.address, "http://env:2");
        let flags = ConnectionArgs {
            address: Some("http://flag:3".into()),
            ..Default::default()
        };
        let c =
            Connection::resolve(&flags, &env(&[("VAULT_ADDR", "http://env:2")]), &stanza).unwrap();
        assert_eq!(c.address, "http://flag:3");
    }

    #[test]
    fn skip_verify_is_a_real_bool() {
        let none = ConnectionArgs::default();
        let c = Connection::resolve(
            &none,
            &env(&[("VAULT_SKIP_VERIFY", "false")]),
            &StanzaValues::default(),
        )
        .unwrap();
        assert!(!c.tls_skip_verify, "quirk Q-A1 fixed");
        let e = Connection::resolve(
            &none,
            &env(&[("VAULT_SKIP_VERIFY", "nah")]),
            &StanzaValues::default(),
        )
        .unwrap_err();
        assert!(e.contains("VAULT_SKIP_VERIFY"), "{e}");
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_timeout("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_timeout("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout("soon"), None);
    }

    #[tokio::test]
    async fn connection_refused_names_the_address() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conn = Connection {
            address: format!("http://127.0.0.1:{port}"),
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let api = VaultHttp::new(conn).unwrap();
        let e = api.lookup_self("tok").await.unwrap_err().to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(!e.contains("tok\""), "{e}");
    }
}
