//! Startup and shutdown (injector.md §6.2): logging, the certificate source, the listener, the
//! server, and the signals (SIGINT and SIGTERM both drain gracefully).
//!
//! Certificate sources:
//! - **files** (`-tls-cert-file`/`-tls-key-file`): loaded now; if they cannot be loaded yet (e.g.
//!   cert-manager has not issued them) the server still starts, refuses handshakes, and picks them
//!   up as soon as they load (see [`crate::tls::files`]). With `-tls-auto` and
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

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::k8s::namespaces::NamespaceCache;
use crate::k8s::{self, ConfigError};
use crate::metrics::Metrics;
use crate::mutate::{NamespaceDefaults, NoNamespaceDefaults};
use crate::server::{self, AppState};
use crate::settings::{Settings, StartupError};
use crate::tls::api::KubeClient;
use crate::tls::auto::Generator;
use crate::tls::cluster::{Backoff, CaFilePublisher, ClusterTls, ClusterTlsConfig};
use crate::tls::files::{self, CertFiles};
use crate::tls::leader::Elector;
use crate::tls::{self, CertSlot, certified_key};

/// Sets up logging as `-log-level`/`-log-format` say.
pub fn init_logging(s: &Settings) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(s.log_level)
        .with_writer(std::io::stderr)
        .with_target(false);
    if s.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
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
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
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
                        Some(Elector::new(&namespace(env), &pod_name(env)?))
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
    let addr = s.bind_address()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError(format!("Error listening: {e}")))?;
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
    let state = Arc::new(AppState {
        defaults: s.defaults.clone(),
        metrics: s.telemetry_path.as_ref().map(|_| Metrics::new()),
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
