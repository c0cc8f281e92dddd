//! A loopback HTTP proxy in front of Vault that can misbehave on demand: pass requests through,
//! answer 500/503 itself, delay every answer, or never answer at all. It counts the requests it
//! sees, so a fault scenario can tell how hard a client hammers a failing server. It serves from
//! its own thread and runtime (like the TokenReview stand-in) and stops when dropped.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::oneshot;

/// How the proxy treats the next requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward to the upstream server.
    Pass,
    /// Answer 500 and 503 in turn, without asking upstream (a failing server or load balancer).
    Fail,
    /// Forward, but hold each answer back this long first (a slow server).
    Delay(Duration),
    /// Read the request and never answer; the connection stays open until the client gives up.
    Silent,
}

struct State {
    mode: Mutex<Mode>,
    requests: AtomicU64,
    upstream: String,
}

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A running proxy; stops (dropping every held connection) when dropped.
pub struct FaultProxy {
    url: String,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://127.0.0.1:PORT`), passing.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            mode: Mutex::new(Mode::Pass),
            requests: AtomicU64::new(0),
            upstream: upstream.trim_end_matches('/').to_string(),
        });
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let client: Client<HttpConnector, Incoming> =
                        Client::builder(TokioExecutor::new()).build_http();
                    loop {
                        let (tcp, _) = tokio::select! {
                            _ = &mut stop_rx => return,
                            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                        };
                        let _ = tcp.set_nodelay(true);
                        let st = st.clone();
                        let client = client.clone();
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |req| {
                                handle(req, st.clone(), client.clone())
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
                        });
                    }
                });
                // Dropping the runtime drops every connection still held (Silent).
                rt.shutdown_background();
            })
            .expect("proxy thread");
        FaultProxy {
            url: format!("http://{addr}"),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, the address to give the client.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Switches how the next requests are treated (requests already held keep waiting).
    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// How many requests it has received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    st: Arc<State>,
    client: Client<HttpConnector, Incoming>,
) -> Result<Response<Body>, Box<dyn std::error::Error + Send + Sync>> {
    let n = st.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *st.mode.lock().unwrap();
    match mode {
        Mode::Fail => {
            let status = if n.is_multiple_of(2) {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let body = Full::new(Bytes::from_static(b"{\"errors\":[\"injected fault\"]}\n"))
                .map_err(|e: Infallible| match e {})
                .map_err(Into::into)
                .boxed();
            return Ok(Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(body)?);
        }
        Mode::Silent => std::future::pending::<()>().await,
        Mode::Delay(d) => tokio::time::sleep(d).await,
        Mode::Pass => {}
    }
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = format!("{}{path}", st.upstream).parse()?;
    // An unreachable upstream closes the client's connection without an answer.
    let resp = client.request(Request::from_parts(parts, body)).await?;
    Ok(resp.map(|b| b.map_err(Into::into).boxed()))
}
