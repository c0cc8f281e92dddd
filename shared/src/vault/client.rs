//! The Vault client: one pooled hyper connection pool per [`Client`], cheap views with a token
//! or namespace, HTTP-level retries (agent.md §2.3), and the operations the agent and the template runtime
//! need. Tokens are sent only in `X-Vault-Token` and never appear in errors or logs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::ServerName;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::kv::{KvMount, KvOp, MountCache, rewrite_v2};
use super::proxy::{Connector, proxy_for};
use super::retry::RetryPolicy;
use super::{ClientConfig, Secret, VaultError, WrapInfo};
use crate::config::GoDuration;

type Http = HyperClient<HttpsConnector<Connector>, Full<Bytes>>;

struct Inner {
    http: Http,
    base: String,
    cfg: ClientConfig,
    trust: String,
    limiter: Option<Arc<Semaphore>>,
    /// KV mount lookups, kept for `mount_cache_ttl` ([`MOUNT_TTL`] by default) (see [`Client::kv_mount`]).
    mounts: std::sync::Mutex<MountCache>,
    /// One lookup at a time per namespace and first path segment, so that the paths of one mount
    /// fetched together share one lookup (see [`Client::kv_mount`]).
    lookups: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long a KV mount lookup is reused. Upstream repeats the lookup before every read; a mount
/// does not change type under a running agent in practice, and the lookup doubles the requests of
/// every refresh (measured: the sidecar's CPU and the server's load).
pub const MOUNT_TTL: Duration = Duration::from_secs(300);

/// A Vault client. Clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    token: Option<Arc<str>>,
    namespace: Option<Arc<str>>,
    retries: Option<u32>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.inner.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// A raw answer.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl Client {
    /// A client for `cfg`; fails when a TLS file cannot be read or the address is not a URL.
    pub fn new(cfg: ClientConfig) -> Result<Client, VaultError> {
        let base = cfg.address.trim_end_matches('/').to_string();
        let uri: http::Uri = base
            .parse()
            .map_err(|_| VaultError::Config(format!("address: {:?} is not a URL", cfg.address)))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => {
                return Err(VaultError::Config(format!(
                    "address: {:?} must start with http:// or https://",
                    cfg.address
                )));
            }
        }
        let (tls, trust) = super::tls::client_tls(&cfg)?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(30)));
        tcp.set_keepalive(Some(Duration::from_secs(30)));
        let builder = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let builder = match &cfg.tls_server_name {
            Some(name) if !name.is_empty() => {
                let sn = ServerName::try_from(name.clone()).map_err(|_| {
                    VaultError::Config(format!("tls_server_name: {name:?} is not a server name"))
                })?;
                builder.with_server_name_resolver(FixedServerNameResolver::new(sn))
            }
            _ => builder,
        };
        let proxy = match &cfg.proxy {
            Some(p) => proxy_for(&base, &|k: &str| {
                (k == "VAULT_HTTP_PROXY").then(|| p.clone())
            }),
            None => proxy_for(&base, &|k: &str| {
                cfg.proxy_env
                    .iter()
                    .find(|(name, _)| name == k)
                    .map(|(_, v)| v.clone())
            }),
        };
        if proxy.is_some() && base.starts_with("http://") {
            tracing::warn!(address = %base, "an outbound proxy is set but Vault's address is plain http://: connecting directly");
        }
        let connector = builder
            .enable_http1()
            .wrap_connector(Connector::new(tcp, &base, proxy));
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(cfg.idle_timeout)
            .pool_max_idle_per_host(cfg.max_idle_per_host)
            .build(connector);
        let limiter = cfg
            .max_connections_per_host
            .map(|n| Arc::new(Semaphore::new(n.max(1))));
        let namespace = cfg
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .map(Arc::from);
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                cfg,
                trust,
                limiter,
                mounts: std::sync::Mutex::new(MountCache::default()),
                lookups: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
            token: None,
            namespace,
            retries: None,
        })
    }

    /// The same client sending `token` in `X-Vault-Token`.
    pub fn with_token(&self, token: impl AsRef<str>) -> Client {
        Client {
            token: Some(Arc::from(token.as_ref())),
            ..self.clone()
        }
    }

    /// The same client sending no token.
    pub fn without_token(&self) -> Client {
        Client {
            token: None,
            ..self.clone()
        }
    }

    /// The same client in namespace `ns` ("" = none).
    pub fn with_namespace(&self, ns: impl AsRef<str>) -> Client {
        let ns = ns.as_ref();
        Client {
            namespace: (!ns.is_empty()).then(|| Arc::from(ns)),
            ..self.clone()
        }
    }

    /// The same client with another HTTP-level retry count (the auth handler uses 0).
    pub fn with_max_retries(&self, n: u32) -> Client {
        Client {
            retries: Some(n),
            ..self.clone()
        }
    }

    /// The server address (`http(s)://host:port`, no trailing `/`).
    pub fn address(&self) -> &str {
        &self.inner.base
    }

    /// The settings the client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    // --- transport ----------------------------------------------------------------------------

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        wrap_ttl: Option<Duration>,
    ) -> Result<Answer, VaultError> {
        let path = path.trim_start_matches('/');
        let bytes = body.map(|b| Bytes::from(serde_json::to_vec(b).expect("JSON serialises")));
        let policy = RetryPolicy {
            max_retries: self.retries.unwrap_or(self.inner.cfg.max_retries),
            wait_min: self.inner.cfg.retry_wait_min,
            wait_max: self.inner.cfg.retry_wait_max,
        };
        let mut attempt = 0u32;
        loop {
            let result = self.send_once(&method, path, bytes.clone(), wrap_ttl).await;
            let (retry, status, retry_after) = match &result {
                Ok((a, ra)) => (
                    RetryPolicy::retry_status(a.status.as_u16()),
                    Some(a.status.as_u16()),
                    *ra,
                ),
                Err(e) => (
                    matches!(
                        e,
                        VaultError::ConnectionRefused { .. } | VaultError::Transport { .. }
                    ),
                    None,
                    None,
                ),
            };
            if !retry || attempt >= policy.max_retries {
                return result.map(|(a, _)| a);
            }
            attempt += 1;
            let delay = policy.delay(attempt, rand::random::<f64>(), status, retry_after);
            tracing::debug!(method = %method, path, attempt, ?delay, "retrying Vault request");
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<Bytes>,
        wrap_ttl: Option<Duration>,
    ) -> Result<(Answer, Option<u64>), VaultError> {
        let _permit = match &self.inner.limiter {
            Some(s) => Some(
                s.clone()
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed"),
            ),
            None => None,
        };
        let uri = format!("{}/v1/{}", self.inner.base, path);
        let mut req = Request::builder().method(method.clone()).uri(&uri);
        req = req.header("X-Vault-Request", "true");
        if let Some(t) = &self.token {
            let mut v = HeaderValue::from_str(t).map_err(|_| {
                VaultError::Config("the Vault token has characters a header cannot carry".into())
            })?;
            v.set_sensitive(true);
            req = req.header("X-Vault-Token", v);
        }
        if let Some(ns) = &self.namespace {
            req = req.header("X-Vault-Namespace", ns.as_ref());
        }
        if let Some(ttl) = wrap_ttl {
            req = req.header("X-Vault-Wrap-TTL", GoDuration(ttl).to_string());
        }
        if body.is_some() {
            req = req.header("Content-Type", "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| self.transport(method, path, e.to_string()))?;
        let timeout = self.inner.cfg.timeout;
        let fut = async {
            let resp = self
                .inner
                .http
                .request(req)
                .await
                .map_err(|e| self.classify(method, path, &e))?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.transport(method, path, e.to_string()))?
                .to_bytes();
            Ok((Answer { status, body }, retry_after))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(VaultError::Timeout {
                method: method.to_string(),
                path: path.to_string(),
                addr: self.inner.base.clone(),
                timeout,
            }),
        }
    }

    fn transport(&self, method: &Method, path: &str, reason: String) -> VaultError {
        VaultError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            addr: self.inner.base.clone(),
            reason,
        }
    }

    fn classify(
        &self,
        method: &Method,
        path: &str,
        err: &(dyn std::error::Error + 'static),
    ) -> VaultError {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
        let mut last = err.to_string();
        while let Some(e) = cur {
            let io = e.downcast_ref::<std::io::Error>();
            if io.is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
                return VaultError::ConnectionRefused {
                    method: method.to_string(),
                    path: path.to_string(),
                    addr: self.inner.base.clone(),
                };
            }
            let tls = e.downcast_ref::<rustls::Error>().or_else(|| {
                io.and_then(|io| io.get_ref())
                    .and_then(|i| i.downcast_ref::<rustls::Error>())
            });
            if let Some(rustls::Error::InvalidCertificate(reason)) = tls {
                return VaultError::Certificate {
                    method: method.to_string(),
                    path: path.to_string(),
                    addr: self.inner.base.clone(),
                    trust: self.inner.trust.clone(),
                    reason: format!("{reason:?}"),
                };
            }
            // Some layers (hyper-util's connector) flatten the rustls error into text.
            let text = e.to_string();
            if let Some(reason) = text.strip_prefix("invalid peer certificate: ") {
                return VaultError::Certificate {
                    method: method.to_string(),
                    path: path.to_string(),
                    addr: self.inner.base.clone(),
                    trust: self.inner.trust.clone(),
                    reason: reason.to_string(),
                };
            }
            last = text;
            cur = e.source();
        }
        self.transport(method, path, last)
    }

    /// The error for a non-2xx answer.
    fn status_error(method: &Method, path: &str, a: &Answer) -> VaultError {
        let errors = serde_json::from_slice::<Value>(&a.body)
            .ok()
            .and_then(|v| v.get("errors").and_then(Value::as_array).cloned())
            .map(|l| {
                l.into_iter()
                    .filter_map(|e| e.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        VaultError::Status {
            method: method.to_string(),
            path: path.to_string(),
            status: a.status.as_u16(),
            errors,
        }
    }

    fn decode(method: &Method, path: &str, a: &Answer) -> Result<Option<Secret>, VaultError> {
        if a.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let bad = |e: super::response::NotAResponse| VaultError::Decode {
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        };
        Secret::from_json(&a.body).map(Some).map_err(bad)
    }

    /// Sends a request; 2xx ⇒ the parsed answer (None when empty), else an error.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Secret>, VaultError> {
        let a = self.send(method.clone(), path, body, None).await?;
        if !a.status.is_success() {
            return Err(Self::status_error(&method, path, &a));
        }
        Self::decode(&method, path, &a)
    }

    // --- operations ---------------------------------------------------------------------------

    /// `PUT /v1/<mount_path>/login` with `body`, sending no token.
    pub async fn login(&self, mount_path: &str, body: &Value) -> Result<Secret, VaultError> {
        let path = format!("{}/login", mount_path.trim_matches('/'));
        self.without_token()
            .call(Method::PUT, &path, Some(body))
            .await?
            .ok_or_else(|| VaultError::Decode {
                method: "PUT".into(),
                path,
                reason: "empty login answer".into(),
            })
    }

    /// `GET auth/token/lookup-self`.
    pub async fn lookup_self(&self) -> Result<Secret, VaultError> {
        self.required(Method::GET, "auth/token/lookup-self", None)
            .await
    }

    /// `PUT auth/token/renew-self` with `{"increment": n}`.
    pub async fn renew_self(&self, increment: i64) -> Result<Secret, VaultError> {
        self.required(
            Method::PUT,
            "auth/token/renew-self",
            Some(&json!({"increment": increment})),
        )
        .await
    }

    /// `PUT auth/token/revoke-self`.
    pub async fn revoke_self(&self) -> Result<(), VaultError> {
        self.call(Method::PUT, "auth/token/revoke-self", None)
            .await
            .map(|_| ())
    }

    async fn required(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Secret, VaultError> {
        self.call(method.clone(), path, body)
            .await?
            .ok_or_else(|| VaultError::Decode {
                method: method.to_string(),
                path: path.into(),
                reason: "empty answer".into(),
            })
    }

    /// `GET /v1/<path>` (a query string in `path` is kept). A 404 is `Ok(None)`, as the Go
    /// client's `Read` (unless the 404 carries data or warnings).
    pub async fn read(&self, path: &str) -> Result<Option<Secret>, VaultError> {
        let a = self.send(Method::GET, path, None, None).await?;
        if a.status == StatusCode::NOT_FOUND {
            let s = Self::decode(&Method::GET, path, &a).ok().flatten();
            return Ok(s.filter(|s| {
                s.data.as_ref().is_some_and(|d| !d.is_empty())
                    || s.warnings.as_ref().is_some_and(|w| !w.is_empty())
            }));
        }
        if !a.status.is_success() {
            return Err(Self::status_error(&Method::GET, path, &a));
        }
        Self::decode(&Method::GET, path, &a)
    }

    /// `PUT /v1/<path>` with `body`.
    pub async fn write(&self, path: &str, body: &Value) -> Result<Option<Secret>, VaultError> {
        self.call(Method::PUT, path, Some(body)).await
    }

    /// `GET /v1/<path>?list=true`; a 404 is `Ok(None)`.
    pub async fn list(&self, path: &str) -> Result<Option<Secret>, VaultError> {
        let p = format!("{}?list=true", path.trim_end_matches('/'));
        self.read(&p).await
    }

    /// `DELETE /v1/<path>`.
    pub async fn delete(&self, path: &str) -> Result<(), VaultError> {
        self.call(Method::DELETE, path, None).await.map(|_| ())
    }

    /// `PUT sys/leases/renew`.
    pub async fn renew_lease(&self, lease_id: &str, increment: i64) -> Result<Secret, VaultError> {
        self.required(
            Method::PUT,
            "sys/leases/renew",
            Some(&json!({"lease_id": lease_id, "increment": increment})),
        )
        .await
    }

    /// `PUT sys/leases/revoke`.
    pub async fn revoke_lease(&self, lease_id: &str) -> Result<(), VaultError> {
        self.call(
            Method::PUT,
            "sys/leases/revoke",
            Some(&json!({"lease_id": lease_id})),
        )
        .await
        .map(|_| ())
    }

    /// Response-wraps `data` for `ttl` (`sys/wrapping/wrap`).
    pub async fn wrap(&self, data: &Value, ttl: Duration) -> Result<WrapInfo, VaultError> {
        let path = "sys/wrapping/wrap";
        let a = self.send(Method::PUT, path, Some(data), Some(ttl)).await?;
        if !a.status.is_success() {
            return Err(Self::status_error(&Method::PUT, path, &a));
        }
        Self::decode(&Method::PUT, path, &a)?
            .and_then(|s| s.wrap_info)
            .ok_or_else(|| VaultError::Decode {
                method: "PUT".into(),
                path: path.into(),
                reason: "no wrap_info".into(),
            })
    }

    /// Unwraps a wrapping token (sent as the request's token).
    pub async fn unwrap(&self, wrapping_token: &str) -> Result<Option<Secret>, VaultError> {
        self.with_token(wrapping_token)
            .call(Method::PUT, "sys/wrapping/unwrap", None)
            .await
    }

    /// `GET sys/health` (any status answers: standby and sealed servers answer non-200).
    pub async fn health(&self) -> Result<Value, VaultError> {
        let a = self.send(Method::GET, "sys/health", None, None).await?;
        serde_json::from_slice(&a.body).map_err(|e| VaultError::Decode {
            method: "GET".into(),
            path: "sys/health".into(),
            reason: e.to_string(),
        })
    }

    // --- KV v2 --------------------------------------------------------------------------------

    /// The KV mount `path` lives on, from `sys/internal/ui/mounts/<path>`; `None` when the path is
    /// not on a KV mount or the lookup fails (then the path is used as given, as upstream does).
    /// Answers are kept for `mount_cache_ttl`, one per mount ([`MountCache`]): the paths of one
    /// mount share a lookup. Lookups of paths with the same first segment go one at a time, so
    /// the reads of one mount sent together wait for the first one's answer instead of each
    /// asking (agent.md §5.3).
    pub async fn kv_mount(&self, path: &str) -> Option<KvMount> {
        let clean = path.split('?').next().unwrap_or(path).trim_matches('/');
        let ns = self.namespace.as_deref().unwrap_or("");
        let ttl = self.inner.cfg.mount_cache_ttl;
        let cached = || {
            self.inner.mounts.lock().expect("mounts lock").get(
                ns,
                clean,
                std::time::Instant::now(),
                ttl,
            )
        };
        if let Some(m) = cached() {
            return m;
        }
        let first = clean.split('/').next().unwrap_or(clean);
        let turn = self
            .inner
            .lookups
            .lock()
            .expect("lookups lock")
            .entry(format!("{ns}\0{first}"))
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if let Some(m) = cached() {
            return m;
        }
        let (mount, m, definite) = self.kv_mount_uncached(clean).await;
        if definite {
            self.inner.mounts.lock().expect("mounts lock").put(
                ns,
                clean,
                mount.as_deref(),
                m.clone(),
                std::time::Instant::now(),
            );
        }
        m
    }

    /// The lookup: the mount path the server reported, what it means for KV, and whether the
    /// answer is the server's (cacheable) rather than a failure to ask.
    async fn kv_mount_uncached(&self, clean: &str) -> (Option<String>, Option<KvMount>, bool) {
        let lookup = format!("sys/internal/ui/mounts/{clean}");
        match self.read(&lookup).await {
            Ok(Some(s)) => {
                let (mount, kv) = Self::kv_mount_of(s);
                (mount, kv, true)
            }
            Ok(None) => (None, None, true),
            Err(e) => {
                tracing::warn!(path = clean, error = %e, "failed to check if path is KVv2, assume not");
                (None, None, false)
            }
        }
    }

    /// The mount path an answer reports (any type) and, on a KV mount, its version.
    fn kv_mount_of(s: Secret) -> (Option<String>, Option<KvMount>) {
        let Some(d) = s.data else {
            return (None, None);
        };
        let path = d.get("path").and_then(Value::as_str).map(str::to_string);
        if d.get("type").and_then(Value::as_str) != Some("kv") {
            return (path, None);
        }
        let version = match d
            .get("options")
            .and_then(|o| o.get("version"))
            .and_then(Value::as_str)
        {
            Some("2") => 2,
            _ => 1,
        };
        let kv = path.clone().map(|path| KvMount { path, version });
        (path, kv)
    }

    /// The path to use for `op` on `path`, after KV v2 detection.
    pub async fn kv_path(&self, path: &str, op: KvOp) -> (String, bool) {
        let path = path.trim().trim_matches('/');
        let (bare, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        match self.kv_mount(bare).await {
            Some(m) if m.version == 2 => {
                let p = rewrite_v2(&m.path, bare, op);
                (query.map(|q| format!("{p}?{q}")).unwrap_or(p), true)
            }
            _ => (path.to_string(), false),
        }
    }

    /// consul-template's read: KV v2 detection and rewriting, then `GET`.
    pub async fn read_secret(&self, path: &str) -> Result<Option<Secret>, VaultError> {
        let (p, _) = self.kv_path(path, KvOp::Read).await;
        self.read(&p).await
    }

    /// consul-template's write: on KV v2 the params are sent as `{"data": {...}}`.
    pub async fn write_secret(
        &self,
        path: &str,
        params: Map<String, Value>,
    ) -> Result<Option<Secret>, VaultError> {
        let (p, v2) = self.kv_path(path, KvOp::Write).await;
        let body = if v2 {
            json!({"data": params})
        } else {
            Value::Object(params)
        };
        self.write(&p, &body).await
    }

    /// consul-template's list: the sorted `keys` (empty when there are none).
    pub async fn list_secret(&self, path: &str) -> Result<Vec<String>, VaultError> {
        let (p, _) = self.kv_path(path, KvOp::List).await;
        let Some(s) = self.list(&p).await? else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        if let Some(list) = s
            .data
            .as_ref()
            .and_then(|d| d.get("keys"))
            .and_then(Value::as_array)
        {
            for k in list {
                match k.as_str() {
                    Some(k) => keys.push(k.to_string()),
                    None => {
                        return Err(VaultError::Decode {
                            method: "LIST".into(),
                            path: p,
                            reason: "a key in the list is not a string".into(),
                        });
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}
