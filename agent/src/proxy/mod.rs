//! The agent's local listener (agent.md §7.1): `listener "tcp"` blocks served over plain HTTP/1
//! (`tls_disable`), each answering
//! - `GET /agent/v1/metrics`: the Prometheus text of the agent's counters;
//! - `/agent/v1/quit`: with `agent_api { enable_quit = true }`, `POST`/`PUT` ⇒ 200 and the agent
//!   shuts down gracefully (exit 0); other methods ⇒ 405; not enabled ⇒ 404;
//! - everything else: proxied to Vault (same method, path, query, body and headers;
//!   `Accept-Encoding` and hop-by-hop headers dropped; `User-Agent` prefixed), adding the
//!   auto-auth token when the request has none (`use_auto_auth_token = true`) or always
//!   (`"force"`), from `api_proxy` or else the `cache` stanza.
//!
//! A request sent with the auto-auth token that Vault answers in a way that may mean the token is
//! dead (a 403, a 400/401 speaking of the token) is reported to auto-auth, which checks the token
//! and logs in again if it is dead (agent.md §3.6); the client gets Vault's answer unchanged, and
//! its next request goes out with the new token.
//!
//! `require_request_header = true` ⇒ requests without `X-Vault-Request: true` get 412;
//! `role = "metrics_only"` serves only the metrics. The quit endpoint has no authentication, as
//! upstream: bind the listener to loopback.

pub mod upstream;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use vaultlet_shared::vault::{RetryPolicy, suggests_dead_token};

use crate::connection::Connection;
use crate::metrics::Metrics;
use crate::shutdown::shutdown_requested;
use crate::token::AuthToken;
use crate::token::check::Refusals;
use upstream::Upstream;

/// How long a proxied request waits for the first auto-auth token before going out without it.
const FIRST_TOKEN_WAIT: Duration = Duration::from_secs(10);

/// Why the listeners cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Binding the address failed.
    #[error("error starting listener {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings for Vault are wrong.
    #[error("{0}")]
    Upstream(#[from] upstream::HttpError),
}

/// One `listener` block, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSpec {
    pub address: String,
    pub require_request_header: bool,
    pub metrics_only: bool,
    pub enable_quit: bool,
}

/// Whether and how proxied requests get the auto-auth token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// Requests go out with the client's token, or none.
    Off,
    /// Requests without `X-Vault-Token` get the auto-auth token.
    IfMissing,
    /// The auto-auth token replaces any client token.
    Force,
}

/// What a request is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Quit,
    Forward,
    Reject(StatusCode, &'static str),
}

/// Where a request goes (pure).
pub fn route(spec: &ListenerSpec, method: &Method, path: &str, headers: &HeaderMap) -> Route {
    if spec.require_request_header
        && headers.get("X-Vault-Request").and_then(|v| v.to_str().ok()) != Some("true")
    {
        return Route::Reject(
            StatusCode::PRECONDITION_FAILED,
            "missing \"X-Vault-Request\" header",
        );
    }
    let path = path.trim_end_matches('/');
    if path == "/agent/v1/metrics" {
        return if method == Method::GET {
            Route::Metrics
        } else {
            Route::Reject(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        };
    }
    if spec.metrics_only {
        return Route::Reject(StatusCode::NOT_FOUND, "not found");
    }
    if path == "/agent/v1/quit" {
        return if !spec.enable_quit {
            Route::Reject(StatusCode::NOT_FOUND, "not found")
        } else if method == Method::POST || method == Method::PUT {
            Route::Quit
        } else {
            Route::Reject(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        };
    }
    Route::Forward
}

/// The token a forwarded request carries (pure).
pub fn outgoing_token<'a>(
    mode: TokenMode,
    client: Option<&'a str>,
    auto: Option<&'a str>,
) -> Option<&'a str> {
    let client = client.filter(|t| !t.is_empty());
    match mode {
        TokenMode::Off => client,
        TokenMode::IfMissing => client.or(auto),
        TokenMode::Force => auto.or(client),
    }
}

/// Headers never forwarded in either direction.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// What the proxy shares between connections.
pub struct ProxyState {
    upstream: Upstream,
    address: String,
    namespace: Option<String>,
    tokens: watch::Receiver<Option<AuthToken>>,
    mode: TokenMode,
    quit: Arc<Notify>,
    metrics: Arc<Metrics>,
    /// Retries of a request on a transport error or a 5xx other than 501 (`vault.retry`).
    retries: u32,
    /// Where refusals of the auto-auth token are reported (agent.md §3.6).
    refusals: Refusals,
}

impl ProxyState {
    /// The proxy to `conn`'s Vault, taking auto-auth tokens from `tokens`; `quit` is notified by
    /// `/agent/v1/quit`; `retries` as `vault.retry.num_retries` (effective value); refusals of
    /// the auto-auth token go to `refusals`.
    pub fn new(
        conn: &Connection,
        tokens: watch::Receiver<Option<AuthToken>>,
        mode: TokenMode,
        quit: Arc<Notify>,
        metrics: Arc<Metrics>,
        retries: u32,
        refusals: Refusals,
    ) -> Result<Self, ProxyError> {
        Ok(Self {
            upstream: upstream::upstream(conn)?,
            address: conn.address.trim_end_matches('/').to_string(),
            namespace: conn.namespace.clone().filter(|n| !n.is_empty()),
            tokens,
            mode,
            quit,
            metrics,
            retries,
            refusals,
        })
    }

    async fn auto_token(&self) -> Option<String> {
        let mut rx = self.tokens.clone();
        let current = rx.borrow().as_ref().map(|t| t.client_token().to_string());
        if current.is_some() {
            return current;
        }
        match tokio::time::timeout(FIRST_TOKEN_WAIT, rx.wait_for(Option::is_some)).await {
            Ok(Ok(t)) => t.as_ref().map(|t| t.client_token().to_string()),
            _ => None,
        }
    }

    async fn forward(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let uri = format!("{}{}", self.address, path_and_query);
        let mut out = Request::builder().method(parts.method.clone()).uri(&uri);
        let headers = out.headers_mut().expect("fresh builder");
        for (name, value) in &parts.headers {
            if is_hop_by_hop(name)
                || name == header::ACCEPT_ENCODING
                || name == header::USER_AGENT
                || name.as_str() == "x-vault-token"
            {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        let client_ua = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ua = format!(
            "Vault Agent API Proxy/vaultlet-{}; {client_ua}",
            env!("CARGO_PKG_VERSION")
        );
        if let Ok(v) = HeaderValue::from_str(ua.trim_end_matches("; ")) {
            headers.insert(header::USER_AGENT, v);
        }
        if let (Some(ns), false) = (&self.namespace, headers.contains_key("x-vault-namespace"))
            && let Ok(v) = HeaderValue::from_str(ns)
        {
            headers.insert("x-vault-namespace", v);
        }
        let client_token = parts
            .headers
            .get("x-vault-token")
            .and_then(|v| v.to_str().ok());
        let auto = if self.mode == TokenMode::Off
            || (self.mode == TokenMode::IfMissing && client_token.is_some_and(|t| !t.is_empty()))
        {
            None
        } else {
            self.auto_token().await
        };
        let outgoing = outgoing_token(self.mode, client_token, auto.as_deref());
        if let Some(t) = outgoing
            && let Ok(mut v) = HeaderValue::from_str(t)
        {
            v.set_sensitive(true);
            headers.insert("x-vault-token", v);
        }
        // The auto-auth token, when this request carries it (agent.md §3.6).
        let sent_auto = auto.as_deref().filter(|a| outgoing == Some(*a));
        let template = match out.body(()) {
            Ok(r) => r,
            Err(e) => return error_response(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let method = parts.method;
        let path = parts.uri.path().to_string();
        let mut attempt = 0u32;
        let (rparts, bytes) = loop {
            let mut req = Request::new(Full::new(body.clone()));
            *req.method_mut() = template.method().clone();
            *req.uri_mut() = template.uri().clone();
            *req.headers_mut() = template.headers().clone();
            let result = match self.upstream.request(req).await {
                Ok(resp) => {
                    let (rparts, rbody) = resp.into_parts();
                    rbody
                        .collect()
                        .await
                        .map(|b| (rparts, b.to_bytes()))
                        .map_err(|e| format!("error reading Vault's answer: {e}"))
                }
                Err(e) => Err(format!("error reaching Vault at {}: {e}", self.address)),
            };
            let retry = match &result {
                Ok((p, _)) => retried_status(p.status),
                Err(_) => true,
            };
            if !retry || attempt >= self.retries {
                match result {
                    Ok(r) => break r,
                    Err(msg) => {
                        tracing::warn!(target: "proxy", %method, %path, error = %msg, "error forwarding the request to Vault");
                        return error_response(StatusCode::BAD_GATEWAY, &msg);
                    }
                }
            }
            attempt += 1;
            let policy = RetryPolicy {
                max_retries: self.retries,
                wait_min: Duration::from_millis(1000),
                wait_max: Duration::from_millis(1500),
            };
            let sleep = policy.delay(attempt, rand::random(), None, None);
            tracing::debug!(target: "proxy", %method, %path, attempt, backoff = ?sleep, "retrying the request to Vault");
            tokio::time::sleep(sleep).await;
        };
        tracing::debug!(target: "proxy", %method, %path, status = rparts.status.as_u16(), "proxied request");
        if let Some(t) = sent_auto
            && refused_token(rparts.status, &bytes)
        {
            tracing::debug!(target: "proxy", %method, %path, "Vault refused the auto-auth token, reporting it to auto-auth");
            self.refusals.report(t);
        }
        let mut builder = Response::builder().status(rparts.status);
        let h = builder.headers_mut().expect("fresh builder");
        for (name, value) in &rparts.headers {
            if !is_hop_by_hop(name) {
                h.append(name.clone(), value.clone());
            }
        }
        builder
            .body(Full::new(bytes))
            .unwrap_or_else(|e| error_response(StatusCode::BAD_GATEWAY, &e.to_string()))
    }

    async fn handle(&self, spec: &ListenerSpec, req: Request<Incoming>) -> Response<Full<Bytes>> {
        match route(spec, req.method(), req.uri().path(), req.headers()) {
            Route::Reject(status, msg) => error_response(status, msg),
            Route::Metrics => Response::builder()
                .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
                .body(Full::new(Bytes::from(self.metrics.prometheus_text())))
                .expect("static response"),
            Route::Quit => {
                tracing::info!(target: "proxy", "received quit request, shutting down");
                let quit = self.quit.clone();
                // Let this answer go out before the agent stops.
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    quit.notify_one();
                });
                Response::new(Full::new(Bytes::new()))
            }
            Route::Forward => self.forward(req).await,
        }
    }
}

/// Vault answers the proxy retries (agent.md §7.1: 5xx except 501).
pub fn retried_status(status: StatusCode) -> bool {
    status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
}

/// Whether Vault's answer (status and body) may mean the token sent is dead (agent.md §3.6). The
/// body is only read for the statuses that can mean it.
pub fn refused_token(status: StatusCode, body: &[u8]) -> bool {
    if !matches!(status.as_u16(), 400 | 401 | 403) {
        return false;
    }
    let errors: Vec<String> = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errors")?.as_array().map(|l| {
                l.iter()
                    .filter_map(|e| e.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default();
    suggests_dead_token(status.as_u16(), &errors)
}

/// `{"errors":[msg]}` with `status`.
fn error_response(status: StatusCode, msg: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errors": [msg] }).to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response")
}

/// A bound listener, ready to serve.
pub struct Bound {
    pub spec: ListenerSpec,
    pub listener: TcpListener,
}

impl Bound {
    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

/// Binds every listener (before the PID file is written, agent.md §8.1).
pub async fn bind(specs: Vec<ListenerSpec>) -> Result<Vec<Bound>, ProxyError> {
    let mut out = Vec::new();
    for spec in specs {
        let listener =
            TcpListener::bind(&spec.address)
                .await
                .map_err(|source| ProxyError::Bind {
                    addr: spec.address.clone(),
                    source,
                })?;
        tracing::info!(target: "proxy", address = %spec.address, "starting listener");
        out.push(Bound { spec, listener });
    }
    Ok(out)
}

/// Serves every bound listener until `shutdown` turns true.
pub async fn serve(bound: Vec<Bound>, state: Arc<ProxyState>, mut shutdown: watch::Receiver<bool>) {
    let mut tasks = tokio::task::JoinSet::new();
    for b in bound {
        let state = state.clone();
        tasks.spawn(accept_loop(b, state));
    }
    shutdown_requested(&mut shutdown).await;
    tasks.abort_all();
}

async fn accept_loop(bound: Bound, state: Arc<ProxyState>) {
    let spec = Arc::new(bound.spec);
    loop {
        let (stream, _) = match bound.listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(target: "proxy", error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let spec = spec.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                let spec = spec.clone();
                async move { Ok::<_, Infallible>(state.handle(&spec, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(target: "proxy", error = %e, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(require: bool, metrics_only: bool, quit: bool) -> ListenerSpec {
        ListenerSpec {
            address: "127.0.0.1:0".into(),
            require_request_header: require,
            metrics_only,
            enable_quit: quit,
        }
    }

    #[test]
    fn quit_only_when_enabled_and_posted() {
        let h = HeaderMap::new();
        let on = spec(false, false, true);
        assert_eq!(route(&on, &Method::POST, "/agent/v1/quit", &h), Route::Quit);
        assert_eq!(
            route(&on, &Method::GET, "/agent/v1/quit", &h),
            Route::Reject(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        );
        let off = spec(false, false, false);
        assert!(matches!(
            route(&off, &Method::POST, "/agent/v1/quit", &h),
            Route::Reject(StatusCode::NOT_FOUND, _)
        ));
        assert_eq!(
            route(&off, &Method::GET, "/v1/secret/data/x", &h),
            Route::Forward
        );
    }

    #[test]
    fn request_header_and_metrics_only() {
        let mut h = HeaderMap::new();
        let req = spec(true, false, true);
        assert!(matches!(
            route(&req, &Method::GET, "/v1/sys/health", &h),
            Route::Reject(StatusCode::PRECONDITION_FAILED, _)
        ));
        h.insert("X-Vault-Request", HeaderValue::from_static("true"));
        assert_eq!(
            route(&req, &Method::GET, "/v1/sys/health", &h),
            Route::Forward
        );
        let m = spec(false, true, true);
        assert_eq!(
            route(&m, &Method::GET, "/agent/v1/metrics", &h),
            Route::Metrics
        );
        assert!(matches!(
            route(&m, &Method::GET, "/v1/sys/health", &h),
            Route::Reject(StatusCode::NOT_FOUND, _)
        ));
    }

    #[test]
    fn token_modes() {
        assert_eq!(outgoing_token(TokenMode::Off, None, Some("a")), None);
        assert_eq!(
            outgoing_token(TokenMode::Off, Some("c"), Some("a")),
            Some("c")
        );
        assert_eq!(
            outgoing_token(TokenMode::IfMissing, None, Some("a")),
            Some("a")
        );
        assert_eq!(
            outgoing_token(TokenMode::IfMissing, Some(""), Some("a")),
            Some("a")
        );
        assert_eq!(
            outgoing_token(TokenMode::IfMissing, Some("c"), Some("a")),
            Some("c")
        );
        assert_eq!(
            outgoing_token(TokenMode::Force, Some("c"), Some("a")),
            Some("a")
        );
    }

    /// A fake Vault: `/v1/flaky` answers 502 once then 200, `/v1/unimpl` always 501, `/v1/denied`
    /// 403 `permission denied`; it records the `X-Vault-Token` it got and counts requests.
    async fn fake_vault() -> (
        String,
        Arc<std::sync::atomic::AtomicUsize>,
        Arc<std::sync::Mutex<Vec<Option<String>>>>,
    ) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let tokens = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, t) = (count.clone(), tokens.clone());
        let flaky = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let (stream, _) = l.accept().await.unwrap();
                let (c, t, flaky) = (c.clone(), t.clone(), flaky.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        c.fetch_add(1, Ordering::SeqCst);
                        t.lock().unwrap().push(
                            req.headers()
                                .get("x-vault-token")
                                .map(|v| v.to_str().unwrap().to_string()),
                        );
                        let (status, body): (u16, &'static [u8]) = match req.uri().path() {
                            "/v1/flaky" if flaky.fetch_add(1, Ordering::SeqCst) == 0 => {
                                (502, b"{}")
                            }
                            "/v1/unimpl" => (501, b"{}"),
                            "/v1/denied" => (403, b"{\"errors\":[\"permission denied\"]}"),
                            _ => (200, b"{\"ok\":true}"),
                        };
                        async move {
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::from_static(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (format!("http://{addr}"), count, tokens)
    }

    #[tokio::test]
    async fn forwards_with_the_auto_token_retrying_5xx_but_not_501() {
        use std::sync::atomic::Ordering;
        let (vault, count, seen) = fake_vault().await;
        let conn = Connection {
            address: vault,
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let (_tx, rx) = watch::channel(Some(AuthToken::new(
            "auto-tok",
            "acc",
            Duration::from_secs(60),
            true,
            vec![],
            "service",
        )));
        let state = ProxyState::new(
            &conn,
            rx,
            TokenMode::IfMissing,
            Arc::new(Notify::new()),
            Arc::new(Metrics::default()),
            2,
            Refusals::channel().0,
        )
        .unwrap();
        let bound = bind(vec![spec(false, false, false)]).await.unwrap();
        let addr = bound[0].local_addr().unwrap();
        let (_stop, stop_rx) = watch::channel(false);
        tokio::spawn(serve(bound, Arc::new(state), stop_rx));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let get = |path: &str, token: Option<&str>| {
            let mut b = Request::get(format!("http://{addr}{path}"));
            if let Some(t) = token {
                b = b.header("X-Vault-Token", t);
            }
            client.request(b.body(Full::new(Bytes::new())).unwrap())
        };
        let r = get("/v1/flaky", None).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(count.load(Ordering::SeqCst), 2, "one retry after the 502");
        let r = get("/v1/unimpl", Some("client-tok")).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_IMPLEMENTED);
        assert_eq!(count.load(Ordering::SeqCst), 3, "501 is not retried");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                Some("auto-tok".to_string()),
                Some("auto-tok".to_string()),
                Some("client-tok".to_string())
            ]
        );
    }

    #[test]
    fn which_answers_report_the_token() {
        let denied = br#"{"errors":["permission denied"]}"#;
        assert!(refused_token(StatusCode::FORBIDDEN, denied));
        assert!(refused_token(StatusCode::FORBIDDEN, b"not json"));
        assert!(refused_token(
            StatusCode::BAD_REQUEST,
            br#"{"errors":["bad token"]}"#
        ));
        assert!(!refused_token(
            StatusCode::BAD_REQUEST,
            br#"{"errors":["missing role"]}"#
        ));
        assert!(!refused_token(StatusCode::NOT_FOUND, denied));
        assert!(!refused_token(StatusCode::OK, denied));
    }

    #[tokio::test]
    async fn a_refused_auto_auth_token_is_reported_and_the_answer_passed_on() {
        let (vault, _count, _seen) = fake_vault().await;
        let conn = Connection {
            address: vault,
            timeout: Duration::from_secs(5),
            ..Default::default()
        };
        let (_tx, rx) = watch::channel(Some(AuthToken::new(
            "auto-tok",
            "acc",
            Duration::from_secs(60),
            true,
            vec![],
            "service",
        )));
        let (refusals, inbox) = Refusals::channel();
        let state = ProxyState::new(
            &conn,
            rx,
            TokenMode::IfMissing,
            Arc::new(Notify::new()),
            Arc::new(Metrics::default()),
            0,
            refusals,
        )
        .unwrap();
        let bound = bind(vec![spec(false, false, false)]).await.unwrap();
        let addr = bound[0].local_addr().unwrap();
        let (_stop, stop_rx) = watch::channel(false);
        tokio::spawn(serve(bound, Arc::new(state), stop_rx));
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
        let get = |path: &str, token: Option<&str>| {
            let mut b = Request::get(format!("http://{addr}{path}"));
            if let Some(t) = token {
                b = b.header("X-Vault-Token", t);
            }
            client.request(b.body(Full::new(Bytes::new())).unwrap())
        };
        // A client's own token refused: nothing to report.
        let r = get("/v1/denied", Some("client-tok")).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(!inbox.latest_is("client-tok") && !inbox.latest_is("auto-tok"));
        // Allowed with the auto-auth token: nothing to report.
        let r = get("/v1/ok", None).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(!inbox.latest_is("auto-tok"));
        // Refused with the auto-auth token: reported; the client gets Vault's answer.
        let r = get("/v1/denied", None).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let body = r.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"errors":["permission denied"]}"#);
        assert!(inbox.latest_is("auto-tok"));
    }
}
