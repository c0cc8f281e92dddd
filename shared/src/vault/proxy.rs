//! Outbound proxies for the Vault client, as Go's `http.ProxyFromEnvironment` picks them (Vault's
//! client uses it; the injector's `proxy-address` annotation sets `HTTPS_PROXY`):
//! `HTTPS_PROXY`/`https_proxy` for an `https://` Vault, `NO_PROXY` honoured, and never for
//! `localhost` or a loopback address. `VAULT_HTTP_PROXY` / `VAULT_PROXY_ADDR` (Vault's own
//! overrides) take precedence over the standard variables.
//!
//! The connection to Vault is tunnelled with HTTP `CONNECT` (hyper-util's `Tunnel`), then TLS runs
//! end to end inside it. A plain-`http://` Vault is reached directly: Go would send such requests
//! to the proxy in absolute form, which this client does not do (the agent logs a warning when a
//! proxy is configured for an `http://` address).

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type BoxError = Box<dyn StdError + Send + Sync>;

/// The TCP connector: direct, or through a `CONNECT` tunnel.
#[derive(Clone)]
pub enum Connector {
    Direct(HttpConnector),
    Tunnel(Tunnel<HttpConnector>),
}

/// The environment variables [`proxy_for`] reads.
pub const PROXY_VARS: [&str; 8] = [
    "VAULT_HTTP_PROXY",
    "VAULT_PROXY_ADDR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The [`PROXY_VARS`] that `env` has, for [`super::ClientConfig::proxy_env`].
pub fn capture(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    PROXY_VARS
        .iter()
        .filter_map(|k| env(k).map(|v| (k.to_string(), v)))
        .collect()
}

/// The proxy for `address` (a Vault URL), read through `env`: `Some((proxy uri, basic auth))`.
pub fn proxy_for(
    address: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(Uri, Option<HeaderValue>)> {
    let dst: Uri = address.parse().ok()?;
    let host = dst.host()?.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    {
        return None;
    }
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let vault_override = get("VAULT_HTTP_PROXY").or_else(|| get("VAULT_PROXY_ADDR"));
    let no = get("NO_PROXY")
        .or_else(|| get("no_proxy"))
        .unwrap_or_default();
    let mut b = Matcher::builder().no(no);
    match vault_override {
        Some(p) => b = b.https(p.clone()).http(p),
        None => {
            if let Some(p) = get("HTTPS_PROXY").or_else(|| get("https_proxy")) {
                b = b.https(p);
            }
            if let Some(p) = get("HTTP_PROXY").or_else(|| get("http_proxy")) {
                b = b.http(p);
            }
        }
    }
    let i = b.build().intercept(&dst)?;
    Some((i.uri().clone(), i.basic_auth().cloned()))
}

impl Connector {
    /// A connector for `address`: tunnelled when `proxy` is given and the address is `https://`.
    pub fn new(
        tcp: HttpConnector,
        address: &str,
        proxy: Option<(Uri, Option<HeaderValue>)>,
    ) -> Self {
        match proxy {
            Some((uri, auth)) if address.starts_with("https://") => {
                let t = Tunnel::new(uri, tcp);
                Connector::Tunnel(match auth {
                    Some(a) => t.with_auth(a),
                    None => t,
                })
            }
            _ => Connector::Direct(tcp),
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        match self {
            Connector::Direct(c) => c.poll_ready(cx).map_err(Into::into),
            Connector::Tunnel(t) => t.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        match self {
            Connector::Direct(c) => {
                let f = c.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
            Connector::Tunnel(t) => {
                let f = t.call(dst);
                Box::pin(async move { f.await.map_err(Into::into) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn https_proxy_applies_to_https_vault_but_not_loopback_or_no_proxy() {
        let e = env(&[
            ("HTTPS_PROXY", "http://user:pw@proxy:3128"),
            ("NO_PROXY", "internal.example"),
        ]);
        let (uri, auth) = proxy_for("https://vault.example.com:8200", &e).unwrap();
        assert_eq!(uri.host(), Some("proxy"));
        assert_eq!(uri.port_u16(), Some(3128));
        assert!(auth.is_some());
        assert!(proxy_for("https://127.0.0.1:8200", &e).is_none());
        assert!(proxy_for("https://localhost:8200", &e).is_none());
        assert!(proxy_for("https://vault.internal.example", &e).is_none());
        assert!(proxy_for("https://vault.example.com", &env(&[])).is_none());
    }

    #[test]
    fn vault_http_proxy_wins() {
        let e = env(&[
            ("HTTPS_PROXY", "http://a:1"),
            ("VAULT_HTTP_PROXY", "http://b:2"),
        ]);
        assert_eq!(
            proxy_for("https://v.example:8200", &e).unwrap().0.host(),
            Some("b")
        );
    }
}
