//! A stand-in for kube-apiserver, for the injector's Kubernetes client (`kube`): HTTPS on
//! 127.0.0.1 from its own thread, a bearer token checked on every request, and the real API's
//! JSON for the calls the injector makes — get, create (POST), replace (PUT, with the
//! `resourceVersion` check that makes optimistic updates safe), JSON and merge patches, delete,
//! lists (with `limit`/`continue` paging) and watches (a stream of `ADDED`/`MODIFIED`/`DELETED`
//! events from the `resourceVersion` asked for, `BOOKMARK`s when `allowWatchBookmarks=true`, an
//! `ERROR` event with a 410 `Expired` Status for a version older than the retained history, the
//! stream closed after `timeoutSeconds`), in full or as `meta.k8s.io/v1` `PartialObjectMetadata`
//! when the `Accept` header asks for it (what kube's `metadata_watcher` sends).
//!
//! Errors are `Status` objects with the real reasons (`NotFound`, `AlreadyExists`, `Conflict`,
//! `Unauthorized`, `Expired`, `UnsupportedMediaType`). What it does not implement (label or field
//! selectors, streaming lists (`sendInitialEvents`), strategic merge and apply patches, other
//! resources) is answered with an error, never silently ignored. Objects are shaped by the test; the server sets `metadata.resourceVersion`,
//! `uid`, `creationTimestamp` and `namespace` as the real one does.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

/// The resources the stand-in serves: (API prefix, plural, kind, apiVersion, namespaced).
const RESOURCES: &[(&str, &str, &str, &str, bool)] = &[
    ("/api/v1", "namespaces", "Namespace", "v1", false),
    ("/api/v1", "pods", "Pod", "v1", true),
    ("/api/v1", "secrets", "Secret", "v1", true),
    (
        "/apis/coordination.k8s.io/v1",
        "leases",
        "Lease",
        "coordination.k8s.io/v1",
        true,
    ),
    (
        "/apis/admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        "admissionregistration.k8s.io/v1",
        false,
    ),
];

/// One request as the stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    /// The query string ("" when none).
    pub query: String,
    pub content_type: String,
    pub accept: String,
}

/// One stored change: (resourceVersion, plural, namespace, event type, object after it).
type Change = (u64, &'static str, String, &'static str, Value);

#[derive(Default)]
struct State {
    /// (plural, namespace ("" for cluster-scoped), name) → object.
    objects: BTreeMap<(&'static str, String, String), Value>,
    version: u64,
    /// Every change, oldest first; watches replay from here.
    changes: Vec<Change>,
    /// Watches from a version below this one get a 410 (the history was compacted).
    compacted_at: u64,
    requests: Vec<ApiRequest>,
    next_uid: u64,
    /// Resources (plural) the client may not touch: 403, as RBAC answers.
    forbidden: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    /// The latest resourceVersion, for watches to wake on.
    latest: watch::Sender<u64>,
    /// Bumped to end every open watch.
    closing: watch::Sender<u64>,
    token: String,
    bookmark_every: Duration,
}

/// A running API server stand-in; stops when dropped.
pub struct ApiServer {
    url: String,
    ca_pem: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Starts a server that accepts the bearer token `token`, sending watch bookmarks every
    /// second.
    pub fn start(token: &str) -> ApiServer {
        Self::start_with(token, Duration::from_secs(1))
    }

    /// [`ApiServer::start`] with the bookmark interval (the real server: about a minute).
    pub fn start_with(token: &str, bookmark_every: Duration) -> ApiServer {
        let cert = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("self-signed certificate");
        let ca_pem = cert.cert.pem();
        let key_der =
            rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key_der)
        .expect("server certificate");
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr: SocketAddr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            latest: watch::channel(0).0,
            closing: watch::channel(0).0,
            token: token.to_string(),
            bookmark_every,
        });
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("apiserver".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        let (tcp, _) = tokio::select! {
                            _ = &mut stop_rx => return,
                            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                        };
                        let _ = tcp.set_nodelay(true);
                        let acceptor = acceptor.clone();
                        let sh = sh.clone();
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let svc = hyper::service::service_fn(move |req| {
                                let sh = sh.clone();
                                async move { Ok::<_, Infallible>(handle(req, sh).await) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                                .await;
                        });
                    }
                });
            })
            .expect("apiserver thread");
        ApiServer {
            url: format!("https://{addr}"),
            ca_pem,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM of its self-signed certificate (the cluster CA).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Writes a kubeconfig for this server (its CA inline, the bearer token) to `path`.
    pub fn write_kubeconfig(&self, path: &Path) {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: tester\n  user:\n    token: {}\ncontexts:\n- name: standin\n  context:\n    cluster: standin\n    user: tester\n    namespace: default\ncurrent-context: standin\n",
            self.url, self.shared.token
        );
        std::fs::write(path, text).expect("write kubeconfig");
    }

    /// Stores `object` as if created through the API (its kind and `metadata.namespace` say
    /// where); answers it as stored.
    pub fn create(&self, object: Value) -> Value {
        let plural = plural_of_kind(object["kind"].as_str().unwrap_or_default());
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut s = self.shared.state.lock().unwrap();
        let o = s.create(plural, &ns, object).expect("create");
        drop(s);
        self.notify();
        o
    }

    /// Changes a stored object with `f` (a new resourceVersion, a `MODIFIED` event).
    pub fn modify(&self, plural: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let plural = resource(plural).expect("known resource").1;
        let mut s = self.shared.state.lock().unwrap();
        let key = (plural, ns.to_string(), name.to_string());
        let mut o = s.objects.get(&key).cloned().expect("object to modify");
        f(&mut o);
        s.store(plural, ns, name, o, "MODIFIED");
        drop(s);
        self.notify();
    }

    /// Deletes a stored object (a `DELETED` event).
    pub fn delete(&self, plural: &str, ns: &str, name: &str) {
        let plural = resource(plural).expect("known resource").1;
        let mut s = self.shared.state.lock().unwrap();
        s.delete(plural, ns, name).expect("object to delete");
        drop(s);
        self.notify();
    }

    /// A stored object.
    pub fn get(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let plural = resource(plural)?.1;
        let s = self.shared.state.lock().unwrap();
        s.objects
            .get(&(plural, ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Ends every open watch stream (as a restarting API server or a load balancer does); the
    /// clients resume from the last version they saw.
    pub fn close_watches(&self) {
        self.shared.closing.send_modify(|n| *n += 1);
    }

    /// Other writes happen (the global version moves on), then the history up to now is
    /// compacted and open watches end: a watch resumed from an older version gets a 410
    /// `Expired` and the client must list again.
    pub fn compact(&self) {
        let mut s = self.shared.state.lock().unwrap();
        s.version += 1;
        s.compacted_at = s.version;
        s.changes.clear();
        drop(s);
        self.notify();
        self.close_watches();
    }

    /// Answers 403 `Forbidden` for every request on `plural` from now on (RBAC without it).
    pub fn forbid(&self, plural: &str) {
        let mut s = self.shared.state.lock().unwrap();
        s.forbidden.push(plural.to_string());
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ApiRequest> {
        self.shared.state.lock().unwrap().requests.clone()
    }

    fn notify(&self) {
        let v = self.shared.state.lock().unwrap().version;
        self.shared.latest.send_replace(v);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn plural_of_kind(kind: &str) -> &'static str {
    RESOURCES
        .iter()
        .find(|r| r.2 == kind)
        .map(|r| r.1)
        .unwrap_or_else(|| panic!("the stand-in does not serve kind {kind:?}"))
}

fn resource(
    plural: &str,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str, bool)> {
    RESOURCES.iter().find(|r| r.1 == plural)
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

type ApiError = (u16, Value);

impl State {
    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn store(
        &mut self,
        plural: &'static str,
        ns: &str,
        name: &str,
        mut o: Value,
        kind: &'static str,
    ) -> Value {
        let v = self.bump();
        o["metadata"]["resourceVersion"] = json!(v.to_string());
        self.objects
            .insert((plural, ns.to_string(), name.to_string()), o.clone());
        self.changes
            .push((v, plural, ns.to_string(), kind, o.clone()));
        o
    }

    fn create(&mut self, plural: &'static str, ns: &str, mut o: Value) -> Result<Value, ApiError> {
        let r = resource(plural).expect("known resource");
        let Some(name) = o["metadata"]["name"].as_str().filter(|n| !n.is_empty()) else {
            return Err((422, status(422, "Invalid", "metadata.name: Required value")));
        };
        let name = name.to_string();
        if self
            .objects
            .contains_key(&(plural, ns.to_string(), name.clone()))
        {
            let m = format!("{plural} {name:?} already exists");
            return Err((409, status(409, "AlreadyExists", &m)));
        }
        self.next_uid += 1;
        o["kind"] = json!(r.2);
        o["apiVersion"] = json!(r.3);
        if r.4 {
            o["metadata"]["namespace"] = json!(ns);
        }
        o["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", self.next_uid));
        o["metadata"]["creationTimestamp"] = json!("2026-12-06T00:00:00Z");
        Ok(self.store(plural, ns, &name, o, "ADDED"))
    }

    fn delete(&mut self, plural: &'static str, ns: &str, name: &str) -> Result<Value, ApiError> {
        let Some(o) = self
            .objects
            .remove(&(plural, ns.to_string(), name.to_string()))
        else {
            return Err(not_found(plural, name));
        };
        let v = self.bump();
        let mut gone = o.clone();
        gone["metadata"]["resourceVersion"] = json!(v.to_string());
        self.changes
            .push((v, plural, ns.to_string(), "DELETED", gone));
        Ok(o)
    }
}

fn not_found(plural: &str, name: &str) -> ApiError {
    (
        404,
        status(404, "NotFound", &format!("{plural} {name:?} not found")),
    )
}

/// What a path names.
struct Target {
    plural: &'static str,
    /// The namespace in the path (None: cluster-scoped, or all namespaces).
    namespace: Option<String>,
    name: Option<String>,
    namespaced: bool,
}

fn parse_path(path: &str) -> Option<Target> {
    let (prefix, rest) = if let Some(r) = path.strip_prefix("/api/v1/") {
        ("/api/v1", r)
    } else {
        let r = path.strip_prefix("/apis/")?;
        let mut it = r.splitn(3, '/');
        let (g, v, rest) = (it.next()?, it.next()?, it.next()?);
        let prefix = RESOURCES
            .iter()
            .find(|x| x.0 == format!("/apis/{g}/{v}"))?
            .0;
        (prefix, rest)
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let find = |plural: &str| RESOURCES.iter().find(|r| r.0 == prefix && r.1 == plural);
    let (r, ns, name) = match segs.as_slice() {
        ["namespaces", ns, plural] => (find(plural)?, Some(ns.to_string()), None),
        ["namespaces", ns, plural, name] => {
            (find(plural)?, Some(ns.to_string()), Some(name.to_string()))
        }
        [plural] => (find(plural)?, None, None),
        [plural, name] => (find(plural)?, None, Some(name.to_string())),
        _ => return None,
    };
    if ns.is_some() && !r.4 {
        return None;
    }
    Some(Target {
        plural: r.1,
        namespace: ns,
        name,
        namespaced: r.4,
    })
}

fn query_pairs(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.replace("%2C", ",").replace("%3D", "="))
        })
        .collect()
}

/// An object as `PartialObjectMetadata` (only `metadata`).
fn as_metadata(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
}

type Reply = Response<WatchBody>;

fn reply(code: u16, body: Value) -> Reply {
    Response::builder()
        .status(StatusCode::from_u16(code).expect("status code"))
        .header("Content-Type", "application/json")
        .body(WatchBody::Full(Full::new(Bytes::from(body.to_string()))))
        .expect("response")
}

async fn handle(req: Request<Incoming>, sh: Arc<Shared>) -> Reply {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let seen = ApiRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        content_type: header("content-type"),
        accept: header("accept"),
    };
    sh.state.lock().unwrap().requests.push(seen.clone());
    if header("authorization") != format!("Bearer {}", sh.token) {
        return reply(401, status(401, "Unauthorized", "Unauthorized"));
    }
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(400, status(400, "BadRequest", "unreadable body")),
    };
    let Some(t) = parse_path(&seen.path) else {
        return reply(
            404,
            status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ),
        );
    };
    if sh
        .state
        .lock()
        .unwrap()
        .forbidden
        .iter()
        .any(|p| p == t.plural)
    {
        let m = format!(
            "{} is forbidden: User \"system:serviceaccount:test:injector\" cannot {} resource \"{}\"",
            t.plural,
            seen.method.to_lowercase(),
            t.plural
        );
        return reply(403, status(403, "Forbidden", &m));
    }
    let q = query_pairs(&seen.query);
    if q.contains_key("labelSelector")
        || q.contains_key("fieldSelector")
        || q.get("sendInitialEvents").is_some_and(|v| v == "true")
    {
        return reply(
            400,
            status(
                400,
                "BadRequest",
                "selectors and streaming lists are not implemented by the stand-in",
            ),
        );
    }
    let metadata_only = seen.accept.contains("as=PartialObjectMetadata");
    let ns = t.namespace.clone().unwrap_or_default();
    match (method, t.name.clone()) {
        (Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch_stream(sh, t, &q, metadata_only)
        }
        (Method::GET, None) => list(
            &sh,
            &t,
            &q,
            metadata_only,
            seen.accept.contains("as=PartialObjectMetadataList"),
        ),
        (Method::GET, Some(name)) => {
            let s = sh.state.lock().unwrap();
            match s.objects.get(&(t.plural, ns, name.clone())) {
                Some(o) if metadata_only => reply(200, as_metadata(o)),
                Some(o) => reply(200, o.clone()),
                None => {
                    let (c, b) = not_found(t.plural, &name);
                    reply(c, b)
                }
            }
        }
        (Method::POST, None) => {
            if t.namespaced && t.namespace.is_none() {
                return reply(
                    405,
                    status(405, "MethodNotAllowed", "create needs a namespace"),
                );
            }
            let Ok(o) = serde_json::from_slice::<Value>(&body) else {
                return reply(400, status(400, "BadRequest", "the body is not JSON"));
            };
            if !seen.content_type.starts_with("application/json") {
                return reply(415, status(415, "UnsupportedMediaType", &seen.content_type));
            }
            let r = sh.state.lock().unwrap().create(t.plural, &ns, o);
            finish(&sh, r, 201)
        }
        (Method::PUT, Some(name)) => {
            let Ok(mut o) = serde_json::from_slice::<Value>(&body) else {
                return reply(400, status(400, "BadRequest", "the body is not JSON"));
            };
            let mut s = sh.state.lock().unwrap();
            let key = (t.plural, ns.clone(), name.clone());
            let Some(cur) = s.objects.get(&key).cloned() else {
                drop(s);
                let (c, b) = not_found(t.plural, &name);
                return reply(c, b);
            };
            let sent = o["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            if !sent.is_empty() && Some(sent) != cur["metadata"]["resourceVersion"].as_str() {
                let m = format!(
                    "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                    t.plural
                );
                return reply(409, status(409, "Conflict", &m));
            }
            for k in ["uid", "creationTimestamp", "namespace"] {
                o["metadata"][k] = cur["metadata"][k].clone();
            }
            let o = s.store(t.plural, &ns, &name, o, "MODIFIED");
            drop(s);
            finish(&sh, Ok(o), 200)
        }
        (Method::PATCH, Some(name)) => {
            let mut s = sh.state.lock().unwrap();
            let key = (t.plural, ns.clone(), name.clone());
            let Some(mut cur) = s.objects.get(&key).cloned() else {
                drop(s);
                let (c, b) = not_found(t.plural, &name);
                return reply(c, b);
            };
            let Ok(p) = serde_json::from_slice::<Value>(&body) else {
                return reply(400, status(400, "BadRequest", "the body is not JSON"));
            };
            match seen.content_type.as_str() {
                "application/json-patch+json" => {
                    let Ok(p) = serde_json::from_value::<json_patch::Patch>(p) else {
                        return reply(400, status(400, "BadRequest", "not a JSON patch"));
                    };
                    if let Err(e) = json_patch::patch(&mut cur, &p) {
                        return reply(422, status(422, "Invalid", &e.to_string()));
                    }
                }
                "application/merge-patch+json" => json_patch::merge(&mut cur, &p),
                other => {
                    let m = format!("the stand-in does not implement patches of type {other:?}");
                    return reply(415, status(415, "UnsupportedMediaType", &m));
                }
            }
            let o = s.store(t.plural, &ns, &name, cur, "MODIFIED");
            drop(s);
            finish(&sh, Ok(o), 200)
        }
        (Method::DELETE, Some(name)) => {
            let r = sh.state.lock().unwrap().delete(t.plural, &ns, &name);
            finish(&sh, r, 200)
        }
        _ => reply(
            405,
            status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
        ),
    }
}

fn finish(sh: &Shared, r: Result<Value, ApiError>, ok: u16) -> Reply {
    match r {
        Ok(o) => {
            let v = sh.state.lock().unwrap().version;
            sh.latest.send_replace(v);
            reply(ok, o)
        }
        Err((c, b)) => reply(c, b),
    }
}

fn in_scope(t: &Target, plural: &str, ns: &str) -> bool {
    plural == t.plural && t.namespace.as_deref().is_none_or(|n| n == ns)
}

fn list(
    sh: &Shared,
    t: &Target,
    q: &BTreeMap<String, String>,
    metadata_only: bool,
    as_list: bool,
) -> Reply {
    let s = sh.state.lock().unwrap();
    let r = resource(t.plural).expect("known resource");
    let all: Vec<Value> = s
        .objects
        .iter()
        .filter(|((p, ns, _), _)| in_scope(t, p, ns))
        .map(|(_, o)| {
            if metadata_only || as_list {
                as_metadata(o)
            } else {
                o.clone()
            }
        })
        .collect();
    // `continue` is "<resourceVersion>:<offset>", as opaque to the client as the real one.
    let (version, start) = match q.get("continue") {
        Some(c) => {
            let (v, o) = c.split_once(':').unwrap_or(("", ""));
            match (v.parse::<u64>(), o.parse::<usize>()) {
                (Ok(v), Ok(o)) => (v, o),
                _ => return reply(400, status(400, "BadRequest", "invalid continue token")),
            }
        }
        None => (s.version, 0),
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(all.len());
    let mut metadata = json!({"resourceVersion": version.to_string()});
    if end < all.len() {
        metadata["continue"] = json!(format!("{version}:{end}"));
    }
    let items: Vec<Value> = all.get(start..end).unwrap_or_default().to_vec();
    let (kind, api_version) = if as_list {
        ("PartialObjectMetadataList".to_string(), "meta.k8s.io/v1")
    } else {
        (format!("{}List", r.2), r.3)
    };
    reply(
        200,
        json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}),
    )
}

fn watch_stream(
    sh: Arc<Shared>,
    t: Target,
    q: &BTreeMap<String, String>,
    metadata_only: bool,
) -> Reply {
    // No version (or "0"): the current objects as synthetic ADDED events, then what follows.
    let (from, initial): (u64, Vec<Value>) = match q.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => {
            let s = sh.state.lock().unwrap();
            let now = s
                .objects
                .iter()
                .filter(|((p, ns, _), _)| in_scope(&t, p, ns))
                .map(|(_, o)| {
                    let o = if metadata_only {
                        as_metadata(o)
                    } else {
                        o.clone()
                    };
                    json!({"type": "ADDED", "object": o})
                })
                .collect();
            (s.version, now)
        }
        Some(v) => match v.parse() {
            Ok(v) => (v, Vec::new()),
            Err(_) => return reply(400, status(400, "BadRequest", "invalid resourceVersion")),
        },
    };
    let bookmarks = q.get("allowWatchBookmarks").is_some_and(|b| b == "true");
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let r = resource(t.plural).expect("known resource");
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut latest = sh.latest.subscribe();
    let mut closing = sh.closing.subscribe();
    tokio::spawn(async move {
        let line = |v: Value| {
            let mut b = v.to_string().into_bytes();
            b.push(b'\n');
            Bytes::from(b)
        };
        for e in initial {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        let mut sent = from;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval(sh.bookmark_every);
        tick.tick().await;
        loop {
            let expired = {
                let s = sh.state.lock().unwrap();
                (sent < s.compacted_at)
                    .then(|| format!("too old resource version: {sent} ({})", s.compacted_at))
            };
            if let Some(m) = expired {
                let e = json!({"type": "ERROR", "object": status(410, "Expired", &m)});
                let _ = tx.send(line(e)).await;
                return;
            }
            let (events, current) = {
                let s = sh.state.lock().unwrap();
                let ev: Vec<Value> = s
                    .changes
                    .iter()
                    .filter(|(v, p, ns, _, _)| *v > sent && in_scope(&t, p, ns))
                    .map(|(_, _, _, kind, o)| {
                        let o = if metadata_only {
                            as_metadata(o)
                        } else {
                            o.clone()
                        };
                        json!({"type": kind, "object": o})
                    })
                    .collect();
                (ev, s.version)
            };
            for e in events {
                if tx.send(line(e)).await.is_err() {
                    return;
                }
            }
            sent = current;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = closing.changed() => return,
                r = latest.changed() => if r.is_err() { return },
                _ = tick.tick(), if bookmarks => {
                    let current = sh.state.lock().unwrap().version;
                    let kind = if metadata_only { "PartialObjectMetadata" } else { r.2 };
                    let api_version = if metadata_only { "meta.k8s.io/v1" } else { r.3 };
                    let b = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": current.max(sent).to_string()}}});
                    if tx.send(line(b)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Transfer-Encoding", "chunked")
        .body(WatchBody::Stream(rx))
        .expect("response")
}

/// A whole body, or a watch's lines as they come.
pub enum WatchBody {
    Full(Full<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            WatchBody::Full(f) => Pin::new(f).poll_frame(cx),
            WatchBody::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One request with the bearer token; answers the status and the body (a watch: until the
    /// server closes it or `lines` lines came).
    async fn call(
        api: &ApiServer,
        method: &str,
        path: &str,
        body: &str,
        lines: usize,
    ) -> (u16, String) {
        use rustls_pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        let ca = rustls_pki_types::CertificateDer::from_pem_slice(api.ca_pem().as_bytes()).unwrap();
        roots.add(ca).unwrap();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let addr = api.url().trim_start_matches("https://").to_string();
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(
                rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
                tcp,
            )
            .await
            .unwrap();
        let (mut send, c) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(c);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {}", api.shared.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut out = String::new();
        while out.lines().count() < lines.max(1) {
            match body.frame().await {
                Some(Ok(f)) => {
                    if let Ok(d) = f.into_data() {
                        out.push_str(&String::from_utf8_lossy(&d));
                    }
                }
                _ => break,
            }
        }
        (status, out)
    }

    #[tokio::test]
    async fn lists_page_watches_replay_and_expire_and_writes_check_versions() {
        let api = ApiServer::start("t");
        for n in ["a", "b", "c"] {
            api.create(json!({"kind": "Namespace", "metadata": {"name": n}}));
        }
        let (code, page) = call(&api, "GET", "/api/v1/namespaces?limit=2", "", 1).await;
        let page: Value = serde_json::from_str(&page).unwrap();
        assert_eq!((code, page["kind"].as_str()), (200, Some("NamespaceList")));
        assert_eq!(page["items"].as_array().unwrap().len(), 2);
        let token = page["metadata"]["continue"].as_str().unwrap().to_string();
        let (_, rest) = call(
            &api,
            "GET",
            &format!("/api/v1/namespaces?limit=2&continue={token}"),
            "",
            1,
        )
        .await;
        let rest: Value = serde_json::from_str(&rest).unwrap();
        assert_eq!(rest["items"][0]["metadata"]["name"], "c");
        assert!(rest["metadata"].get("continue").is_none());
        // A watch from the version after "a" replays "b" and "c".
        let (_, w) = call(
            &api,
            "GET",
            "/api/v1/namespaces?watch=true&resourceVersion=1",
            "",
            2,
        )
        .await;
        let names: Vec<Value> = w
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect();
        assert_eq!(names[0]["type"], "ADDED");
        assert_eq!(names[0]["object"]["metadata"]["name"], "b");
        assert_eq!(names[1]["object"]["metadata"]["name"], "c");
        // After a compaction, the same watch is a 410.
        api.compact();
        let (_, w) = call(
            &api,
            "GET",
            "/api/v1/namespaces?watch=true&resourceVersion=1",
            "",
            1,
        )
        .await;
        let e: Value = serde_json::from_str(w.lines().next().unwrap()).unwrap();
        assert_eq!(e["type"], "ERROR");
        assert_eq!(e["object"]["code"], 410);
        assert_eq!(e["object"]["reason"], "Expired");
        // A replace with a stale version is a 409; a create of an existing name too.
        let stale = json!({"kind": "Namespace", "metadata": {"name": "a", "resourceVersion": "0"}});
        let (code, body) = call(&api, "PUT", "/api/v1/namespaces/a", &stale.to_string(), 1).await;
        assert_eq!(code, 409, "{body}");
        assert!(body.contains("\"Conflict\""), "{body}");
        let (code, _) = call(&api, "POST", "/api/v1/namespaces", &stale.to_string(), 1).await;
        assert_eq!(code, 409);
        // Selectors are not implemented, and say so.
        let (code, _) = call(&api, "GET", "/api/v1/pods?labelSelector=a%3Db", "", 1).await;
        assert_eq!(code, 400);
    }

    #[test]
    fn paths_name_what_the_real_api_names() {
        let t = parse_path("/api/v1/namespaces/ns/secrets/x").unwrap();
        assert_eq!(
            (t.plural, t.namespace.as_deref(), t.name.as_deref()),
            ("secrets", Some("ns"), Some("x"))
        );
        let t = parse_path("/api/v1/namespaces/ns").unwrap();
        assert_eq!(
            (t.plural, t.namespace, t.name.as_deref()),
            ("namespaces", None, Some("ns"))
        );
        let t = parse_path("/api/v1/pods").unwrap();
        assert_eq!((t.plural, t.namespace, t.name), ("pods", None, None));
        let t = parse_path("/apis/coordination.k8s.io/v1/namespaces/a/leases/l").unwrap();
        assert_eq!(t.plural, "leases");
        assert!(parse_path("/apis/coordination.k8s.io/v1/namespaces/a/secrets/l").is_none());
        assert!(parse_path("/api/v1/namespaces/a/namespaces").is_none());
    }
}
