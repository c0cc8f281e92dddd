//! The HTTPS server (injector.md §2.1, §6.3): axum routes over rustls, HTTP/1.1 and HTTP/2 by
//! ALPN. `/mutate` answers AdmissionReviews (any method; `Content-Type: application/json` exactly;
//! 8 MiB body cap ⇒ 413); the health endpoints (injector.md §6.3.1) answer any method: `/livez`
//! and `/healthz` 200 while the process serves, `/readyz` 200 once a serving certificate is
//! loaded and until shutdown starts (else 503 and why), `/health/ready` the same as 204/503; the
//! telemetry path (when set) serves Prometheus text; everything else is 404. Shutdown stops
//! accepting, lets in-flight requests finish (up to a deadline) and returns.
//!
//! Bounds (docs/reliability.md, "Bounds"): at most [`Limits::max_connections`] connections are
//! served at once (more wait in the listen backlog until one ends); a connection must finish its
//! TLS handshake, and each HTTP/1 request its headers, within [`Limits::request_timeout`], and
//! each request (body read and answer) within the same time, else 408 — so a slow client holds
//! a slot for at most that long. A connection that moves no bytes either way for twice that time
//! (idle after the handshake or between requests; a request in flight is answered, 408 at the
//! latest, before then) is closed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use vaultlet_shared::annotations::InjectorDefaults;

use crate::admission::{review_in_namespace, review_span};
use crate::metrics::Metrics;
use crate::mutate::NamespaceDefaults;
use crate::tls::CertSlot;

/// Largest AdmissionReview accepted (a pod spec is far smaller; the API server caps at 3 MiB).
pub const BODY_LIMIT: usize = 8 << 20;

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// The server's bounds (`-max-connections`, `-request-timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; 0 means no limit.
    pub max_connections: usize,
    /// TLS handshake, HTTP/1 request headers, and each whole request.
    pub request_timeout: Duration,
}

impl Limits {
    /// The flags' defaults.
    pub const DEFAULT: Limits = Limits {
        max_connections: 1024,
        request_timeout: Duration::from_secs(10),
    };
}

/// What the handlers share.
pub struct AppState {
    pub defaults: InjectorDefaults,
    pub metrics: Option<Metrics>,
    /// The namespaces' annotations (injector.md §2.7), from memory.
    pub namespaces: Arc<dyn NamespaceDefaults>,
    pub health: Arc<Health>,
}

/// What the health endpoints report (injector.md §6.3.1).
#[derive(Debug)]
pub struct Health {
    cert: Arc<CertSlot>,
    stopping: AtomicBool,
    listening: AtomicBool,
}

impl Health {
    /// Ready once `cert` holds a serving certificate (a placeholder does not count).
    pub fn new(cert: Arc<CertSlot>) -> Arc<Health> {
        Arc::new(Health {
            cert,
            stopping: AtomicBool::new(false),
            listening: AtomicBool::new(false),
        })
    }

    /// Shutdown has started: not ready from now on.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// The listener is open.
    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Relaxed);
    }

    /// Whether the listener is open.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    /// `Ok` when ready, else why not.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.stopping.load(Ordering::Relaxed) {
            Err("shutting down")
        } else if !self.cert.is_ready() {
            Err("no serving certificate loaded yet")
        } else {
            Ok(())
        }
    }
}

/// The routes.
pub fn router(state: Arc<AppState>, telemetry_path: Option<&str>) -> Router {
    let mut r = Router::new()
        .route("/mutate", any(mutate))
        .route("/health/ready", any(health_ready))
        .route("/readyz", any(readyz))
        .route("/livez", any(livez))
        .route("/healthz", any(livez));
    if let Some(p) = telemetry_path {
        let path = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        };
        r = r.route(&path, get(metrics));
    }
    r.fallback(|| async { StatusCode::NOT_FOUND })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Upstream's probe path: 204 when ready, 503 when not (no body either way).
async fn health_ready(State(st): State<Arc<AppState>>) -> StatusCode {
    match st.health.ready() {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

async fn readyz(State(st): State<Arc<AppState>>) -> Response {
    match st.health.ready() {
        Ok(()) => text(StatusCode::OK, "ok\n".into()),
        Err(why) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

async fn livez() -> Response {
    text(StatusCode::OK, "ok\n".into())
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn mutate(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let _guard = st.metrics.as_ref().map(Metrics::request);
    let ct = headers.get(header::CONTENT_TYPE);
    if ct != Some(&HeaderValue::from_static("application/json")) {
        let shown = ct
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        return text(
            StatusCode::BAD_REQUEST,
            format!("Invalid content-type: {shown:?}\n"),
        );
    }
    if body.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Empty request body\n".into());
    }
    // The span opens before the body is decoded, and decoding fills its fields, so every line
    // below (and in the pipeline) names the request (injector.md §6.7).
    review_span().in_scope(|| match review_in_namespace(&body, &st.defaults, &*st.namespaces) {
        Ok((out, outcome)) => {
            // The span names the request (uid, namespace, kind, pod); these add why
            // (injector.md §6.7).
            for w in &outcome.warnings {
                tracing::warn!(reason = w.kind.label(), warning = %w.text, "annotation warning");
            }
            if outcome.refused {
                let reason = outcome.refusal_reason.unwrap_or("");
                let error = outcome.refusal_message.as_deref().unwrap_or("");
                tracing::warn!(reason, error, "refused the pod");
            } else if outcome.patched {
                tracing::info!(
                    init = outcome.init_injected,
                    sidecar = outcome.sidecar_injected,
                    "injected the agent"
                );
            } else {
                tracing::debug!("nothing to inject");
            }
            if let Some(m) = &st.metrics {
                m.record(&outcome);
            }
            ([(header::CONTENT_TYPE, "application/json")], out).into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad admission request");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            text(status, format!("{e}\n"))
        }
    })
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    match &st.metrics {
        Some(m) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            m.encode(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Fails a request that takes longer than `limit` (reading its body included) with 408.
async fn deadline(limit: Duration, req: axum::extract::Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::debug!("request timed out after {limit:?}");
            text(
                StatusCode::REQUEST_TIMEOUT,
                format!("request not completed within {limit:?}\n"),
            )
        }
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` turns true, then drains; with the
/// default [`Limits`].
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    shutdown: watch::Receiver<bool>,
) {
    serve_with(listener, tls, app, shutdown, Limits::DEFAULT).await;
}

/// [`serve`] within `limits`.
pub async fn serve_with(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
    limits: Limits,
) {
    let timeout = limits.request_timeout;
    let app = app.layer(middleware::from_fn(move |req, next| {
        deadline(timeout, req, next)
    }));
    let slots =
        (limits.max_connections > 0).then(|| Arc::new(Semaphore::new(limits.max_connections)));
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    builder.http2().timer(TokioTimer::new());
    loop {
        // A free slot first: while all are taken, new connections wait in the backlog.
        let permit = match &slots {
            Some(s) => tokio::select! {
                p = s.clone().acquire_owned() => p.ok(),
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            },
            None => None,
        };
        let (tcp, peer): (tokio::net::TcpStream, SocketAddr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let tls = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = TowerToHyperService::new(app);
            let (tls, last) = Activity::new(tls);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            tokio::select! {
                r = watcher.watch(conn.into_owned()) => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                _ = idle(last, 2 * timeout) => {
                    tracing::debug!(%peer, "no bytes either way for {:?}; closing", 2 * timeout);
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {DRAIN:?}; closing");
    }
}

/// A stream that notes when bytes last moved either way, so an idle connection (one that sent
/// nothing after the handshake, or nothing more after an answer) can be closed.
struct Activity<T> {
    inner: T,
    last: Arc<std::sync::Mutex<tokio::time::Instant>>,
}

impl<T> Activity<T> {
    fn new(inner: T) -> (Self, Arc<std::sync::Mutex<tokio::time::Instant>>) {
        let last = Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
        (
            Activity {
                inner,
                last: last.clone(),
            },
            last,
        )
    }

    fn touch(&self) {
        if let Ok(mut l) = self.last.lock() {
            *l = tokio::time::Instant::now();
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Returns once no bytes have moved for `limit` (per `last`).
async fn idle(last: Arc<std::sync::Mutex<tokio::time::Instant>>, limit: Duration) {
    loop {
        let at = *last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            + limit;
        if tokio::time::Instant::now() >= at {
            return;
        }
        tokio::time::sleep_until(at).await;
    }
}
