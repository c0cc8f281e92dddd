//! The HTTPS server (injector.md §2.1, §6.3): axum routes over rustls, HTTP/1.1 and HTTP/2 by
//! ALPN. `/mutate` answers AdmissionReviews (any method; `Content-Type: application/json` exactly;
//! 8 MiB body cap ⇒ 413), `/health/ready` answers 204 to any method, the telemetry path (when set)
//! serves Prometheus text, everything else is 404. Shutdown stops accepting, lets in-flight
//! requests finish (up to a deadline) and returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use vaultlet_shared::annotations::InjectorDefaults;

use crate::admission::{review_span, review_with_outcome};
use crate::metrics::Metrics;

/// Largest AdmissionReview accepted (a pod spec is far smaller; the API server caps at 3 MiB).
pub const BODY_LIMIT: usize = 8 << 20;

/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);

/// What the handlers share.
pub struct AppState {
    pub defaults: InjectorDefaults,
    pub metrics: Option<Metrics>,
}

/// The routes.
pub fn router(state: Arc<AppState>, telemetry_path: Option<&str>) -> Router {
    let mut r = Router::new()
        .route("/mutate", any(mutate))
        .route("/health/ready", any(|| async { StatusCode::NO_CONTENT }));
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
    review_span().in_scope(|| match review_with_outcome(&body, &st.defaults) {
        Ok((out, outcome)) => {
            // The span names the request (uid, namespace, kind, pod); these add why.
            for w in &outcome.warnings {
                tracing::info!(reason = w.kind.label(), warning = %w.text, "annotation warning");
            }
            if outcome.refused {
                let reason = outcome.refusal_reason.unwrap_or("");
                tracing::warn!(reason, "refused the pod");
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
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            m.encode(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves `app` over TLS on `listener` until `shutdown` turns true, then drains.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
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
            let tls =
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
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
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
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
