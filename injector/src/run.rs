//! Startup and shutdown (injector.md §6.2): logging, the certificate source, the listener, the
//! server, and the signals. SIGINT and SIGTERM both make `/readyz` say not ready at once, keep
//! serving for `-shutdown-delay` (a second signal cuts it short), then drain (injector.md §6.3.2).
//! `:PORT` is bound dual-stack (injector.md §6.3.3).
//!
//! Certificate sources:
//! - **files** (`-tls-cert-file`/`-tls-key-file`): loaded now; if they cannot be loaded yet (e.g.
//!   cert-manager has not issued them) the server still starts with a placeholder certificate
//!   nobody trusts (so `/livez` answers and `/readyz` says why it is not ready), and picks them up
//!   as soon as they load (see [`crate::tls::files`]). With `-tls-auto` and
//!   `-tls-ca-cert-file`, the CA file is published as the webhook's caBundle
//!   ([`crate::tls::cluster::CaFilePublisher`]).
//! - **auto in a cluster** (no files, and `-tls-auto` or `-use-leader-elector`): the Kubernetes
//!   API is needed (`-kubeconfig`, the in-cluster config, or the default kubeconfig, see
//!   [`crate::k8s::connect`]; else exit 1 `Error loading in-cluster K8S config: …`);
//!   [`crate::tls::cluster::ClusterTls`] generates, publishes and shares the certificate, and the
//!   listener opens only once the first certificate is served (as upstream).
//! - **auto, standalone** (no files, no `-tls-auto`, no election): a CA and a leaf generated in
//!   process, the leaf re-issued before it expires; nothing is published (tests, local runs).
//!
//! With `-namespace-defaults` (injector.md §2.7) the namespace reflector starts and the listener
//! waits up to [`NAMESPACE_SYNC`] for its first list; with `-watch-escaped-pods`
//! (injector.md §2.8) the pod watch starts. Both need the Kubernetes API; without any
//! configuration for it (a local run) they are off, with a warning.

use std::io::IsTerminal as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::k8s::namespaces::NamespaceCache;
use crate::k8s::{self, ConfigError};
use crate::metrics::Metrics;
use crate::mutate::{NamespaceDefaults, NoNamespaceDefaults};
use crate::server::{self, AppState, Health};
use crate::settings::{Listen, Settings, StartupError};
use crate::tls::api::KubeClient;
use crate::tls::auto::Generator;
use crate::tls::cluster::{Backoff, CaFilePublisher, ClusterTls, ClusterTlsConfig};
use crate::tls::files::{self, CertFiles};
use crate::tls::leader::Elector;
use crate::tls::{self, CertSlot, certified_key};

/// Sets up logging as `-log-level`/`-log-format` say.
pub fn init_logging(s: &Settings) {
    init_log(s.log_level, s.log_json);
}

/// Logs to stderr in hclog's shape (injector.md §6.7): text, coloured only on a terminal, or
/// JSON; every line of ours under upstream's module name `handler`.
pub fn init_log(level: tracing::Level, json: bool) {
    use vaultlet_shared::logging::{LogFormat, Style, init_with_writer};
    let style = Style {
        format: if json {
            LogFormat::Json
        } else {
            LogFormat::Standard
        },
        color: !json && std::io::stderr().is_terminal(),
        module: |target| {
            if target.starts_with("vaultlet_injector") {
                "handler"
            } else {
                target
            }
        },
    };
    init_with_writer(level.into(), style, std::io::stderr);
}

/// How long the listener waits for the namespace reflector's first list.
pub const NAMESPACE_SYNC: Duration = Duration::from_secs(10);

/// Runs the injector until SIGINT/SIGTERM, in the process's environment (in a cluster:
/// `NAMESPACE`, `POD_NAME`; the Kubernetes client reads its own). `ready` (for tests and
/// embedding) receives the bound address once the server accepts connections.
pub async fn run(
    s: Settings,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), StartupError> {
    // `NAMESPACE` and `POD_NAME` (downward API), read where the Lease identity is made.
    #[allow(clippy::disallowed_methods)]
    let env = |k: &str| std::env::var(k).ok();
    run_with(s, ready, &env).await
}

/// [`run`] with `NAMESPACE` and `POD_NAME` read through `env`. The Kubernetes client is made
/// from `-kubeconfig` or the defaults ([`k8s::connect`]) when a TLS mode or a watch needs it.
pub async fn run_with(
    s: Settings,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<(), StartupError> {
    for w in &s.tls.warnings {
        tracing::warn!("{w}");
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tls_needs_api = match &s.tls.files {
        Some(_) => s.tls.webhook_config.is_some() && s.tls.ca_file.is_some(),
        None => s.tls.webhook_config.is_some() || s.use_leader_elector,
    };
    let client = if tls_needs_api || s.namespace_defaults || s.watch_escaped_pods {
        match k8s::connect(s.kubeconfig.as_deref()).await {
            Ok(c) => Some(c),
            Err(e) if tls_needs_api || s.kubeconfig.is_some() => return Err(in_cluster_error(e)),
            Err(e) => {
                tracing::warn!(error = %e, "no Kubernetes API configuration: namespace defaults and the escaped-pods watch are off");
                None
            }
        }
    } else {
        None
    };
    let api = || {
        client
            .clone()
            .map(|c| Arc::new(KubeClient::new(c)))
            .ok_or_else(|| in_cluster_error(ConfigError("no client".into())))
    };
    let slot = CertSlot::new();
    let health = Health::new(slot.clone());
    tokio::spawn(shutdown_on_signal(
        health.clone(),
        s.shutdown_delay,
        shutdown_tx,
    ));
    match &s.tls.files {
        Some((cert, key)) => {
            let files = CertFiles {
                cert: cert.into(),
                key: key.into(),
            };
            let current = match files.load_into(&slot) {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::error!(error = %e, "cannot load the serving certificate yet; retrying");
                    install_placeholder(&slot, &s.tls.auto_hosts)?;
                    (Vec::new(), Vec::new())
                }
            };
            tokio::spawn(files::watch_files(
                files,
                slot.clone(),
                current,
                shutdown_rx.clone(),
            ));
            match (&s.tls.webhook_config, &s.tls.ca_file) {
                (Some(name), Some(ca)) => {
                    let api = api()?;
                    let elector = if s.use_leader_elector {
                        Some(
                            Elector::new(&namespace(env), &pod_name(env)?).with_lease(&s.tls.lease),
                        )
                    } else {
                        None
                    };
                    let publisher = CaFilePublisher {
                        api,
                        webhook: name.clone(),
                        ca_file: ca.into(),
                        elector,
                        backoff: Backoff::default(),
                    };
                    tokio::spawn(publisher.run(shutdown_rx.clone()));
                }
                (Some(name), None) => tracing::info!(
                    webhook_config = %name,
                    "-tls-auto without -tls-ca-cert-file: the webhook's caBundle is left as it is"
                ),
                _ => {}
            }
        }
        None if s.tls.webhook_config.is_some() || s.use_leader_elector => {
            let api = api()?;
            let identity = if s.use_leader_elector {
                Some(pod_name(env)?)
            } else {
                None
            };
            let cfg = ClusterTlsConfig {
                webhook: s.tls.webhook_config.clone(),
                hosts: s.tls.auto_hosts.clone(),
                namespace: namespace(env),
                secret: s.tls.secret.clone(),
                lease: s.tls.lease.clone(),
                identity,
            };
            tokio::spawn(ClusterTls::new(api, slot.clone(), cfg).run(shutdown_rx.clone()));
            tracing::info!("waiting for the first certificate");
            let mut stop = shutdown_rx.clone();
            while !slot.is_ready() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = async { let _ = stop.wait_for(|s| *s).await; } => return Ok(()),
                }
            }
        }
        None => {
            let generator = Generator::new()
                .map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
            let bundle = issue(&generator, &s.tls.auto_hosts, &slot)?;
            tracing::info!(
                "serving a generated certificate (auto-TLS without a webhook configuration)"
            );
            tokio::spawn(renew_loop(
                generator,
                s.tls.auto_hosts.clone(),
                slot.clone(),
                bundle.renew_at(),
                shutdown_rx.clone(),
            ));
        }
    }
    let tls = tls::server_config(slot, &s.tls)
        .map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
    let listener = bind(s.bind_address()?).await?;
    let local = listener
        .local_addr()
        .map_err(|e| StartupError(format!("Error listening: {e}")))?;
    let namespaces: Arc<dyn NamespaceDefaults> = match &client {
        Some(c) if s.namespace_defaults => {
            let cache = NamespaceCache::start(c.clone(), shutdown_rx.clone());
            match cache.wait_until_ready(NAMESPACE_SYNC).await {
                Ok(()) => tracing::info!("namespace defaults: watching namespaces"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "namespace defaults: no namespace list yet; serving without them until it comes (-namespace-defaults=false turns them off)"
                ),
            }
            Arc::new(cache)
        }
        _ => Arc::new(NoNamespaceDefaults),
    };
    health.set_listening();
    let state = Arc::new(AppState {
        defaults: s.defaults.clone(),
        metrics: s.telemetry_path.as_ref().map(|_| Metrics::new()),
        health,
        namespaces,
    });
    if let Some(c) = client.as_ref().filter(|_| s.watch_escaped_pods) {
        let gauge = state.metrics.as_ref().map(Metrics::escaped_pods);
        tokio::spawn(k8s::escaped::run(c.clone(), gauge, shutdown_rx.clone()));
    }
    let app = server::router(state, s.telemetry_path.as_deref());
    tracing::info!(address = %local, "Starting handler");
    if let Some(tx) = ready {
        let _ = tx.send(local);
    }
    let limits = server::Limits {
        max_connections: s.max_connections,
        request_timeout: s.request_timeout,
    };
    tracing::info!(
        max_connections = limits.max_connections,
        request_timeout = ?limits.request_timeout,
        "serving within limits"
    );
    server::serve_with(listener, Arc::new(tls), app, shutdown_rx, limits).await;
    Ok(())
}

/// Binds `-listen` (injector.md §6.3.3): `:PORT` on `[::]` with `IPV6_V6ONLY` off, so IPv4
/// clients connect too (Go's `:PORT`), or on `0.0.0.0` where the host has no IPv6; an explicit
/// address as given.
async fn bind(l: Listen) -> Result<TcpListener, StartupError> {
    let err = |e: std::io::Error| StartupError(format!("Error listening: {e}"));
    match l {
        Listen::Addr(a) => TcpListener::bind(a).await.map_err(err),
        Listen::AnyInterface(port) => match bind_dual_stack(port) {
            Ok(l) => TcpListener::from_std(l).map_err(err),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                Err(err(e))
            }
            Err(e) => {
                tracing::info!(error = %e, "no IPv6 here; listening on IPv4 only");
                TcpListener::bind((Ipv4Addr::UNSPECIFIED, port))
                    .await
                    .map_err(err)
            }
        },
    }
}

fn bind_dual_stack(port: u16) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    s.set_only_v6(false)?;
    // As tokio's `TcpListener::bind` does: a restarted injector rebinds at once.
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// Serves a generated certificate nobody trusts until the files load (injector.md §6.3.1).
fn install_placeholder(slot: &CertSlot, hosts: &[String]) -> Result<(), StartupError> {
    let g = Generator::new().map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
    let b = g
        .leaf(hosts, SystemTime::now())
        .map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
    let ck = certified_key(b.cert_pem.as_bytes(), b.key_pem.as_bytes(), "placeholder")
        .map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
    slot.install_placeholder(Arc::new(ck));
    tracing::info!(
        "serving a placeholder certificate until the files load; /readyz says not ready"
    );
    Ok(())
}

fn in_cluster_error(e: ConfigError) -> StartupError {
    StartupError(format!("Error loading in-cluster K8S config: {e}"))
}

/// `NAMESPACE` (the chart sets it from the downward API), else `default` as upstream.
fn namespace(env: &dyn Fn(&str) -> Option<String>) -> String {
    env("NAMESPACE")
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into())
}

/// This replica's identity in the Lease: `POD_NAME` (downward API), else `HOSTNAME` (a pod's
/// hostname is its name unless the spec overrides it).
fn pod_name(env: &dyn Fn(&str) -> Option<String>) -> Result<String, StartupError> {
    env("POD_NAME")
        .or_else(|| env("HOSTNAME"))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| StartupError("Error starting leader election: POD_NAME is not set".into()))
}

fn issue(
    g: &Generator,
    hosts: &[String],
    slot: &CertSlot,
) -> Result<tls::auto::Bundle, StartupError> {
    let b = g
        .leaf(hosts, SystemTime::now())
        .map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
    let ck = certified_key(
        b.cert_pem.as_bytes(),
        b.key_pem.as_bytes(),
        "generated certificate",
    )
    .map_err(|e| StartupError(format!("Failed to configure TLS: {e}")))?;
    slot.install(Arc::new(ck));
    Ok(b)
}

async fn renew_loop(
    g: Generator,
    hosts: Vec<String>,
    slot: Arc<CertSlot>,
    mut at: SystemTime,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let wait = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
        }
        match issue(&g, &hosts, &slot) {
            Ok(b) => {
                tracing::info!("issued a new serving certificate");
                at = b.renew_at();
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot issue a new serving certificate; retrying in 1m");
                at = SystemTime::now() + Duration::from_secs(60);
            }
        }
    }
}

/// On SIGTERM or SIGINT (injector.md §6.3.2): not ready at once; serving on for `delay` while
/// endpoints and the API server's connections move away (a second signal, or a listener not yet
/// open, skips it); then `stop` turns true and the server drains.
async fn shutdown_on_signal(health: Arc<Health>, delay: Duration, stop: watch::Sender<bool>) {
    wait_for_signal().await;
    health.stop();
    if health.is_listening() && !delay.is_zero() {
        tracing::info!(delay = ?delay, "shutdown requested: not ready; serving until the delay ends");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wait_for_signal() => tracing::info!("second signal: not waiting any longer"),
        }
    }
    tracing::info!("shutting down");
    let _ = stop.send(true);
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
