//! Startup and shutdown (injector.md §6.2): logging, the certificate source, the listener, the
//! server, and the signals (SIGINT and SIGTERM both drain gracefully).
//!
//! Certificate sources:
//! - **files** (`-tls-cert-file`/`-tls-key-file`): loaded now; if they cannot be loaded yet (e.g.
//!   cert-manager has not issued them) the server still starts, refuses handshakes, and picks them
//!   up as soon as they load (see [`crate::tls::files`]).
//! - **auto** (no files): a CA and a serving leaf are generated before listening and the leaf is
//!   re-issued before it expires. Publishing the CA into the webhook configuration named by
//!   `-tls-auto` and sharing the certificate between replicas need the Kubernetes API, which this
//!   build does not talk to yet: with `-tls-auto` set the injector refuses to start and says so,
//!   rather than serve a certificate the API server will not trust.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::{Settings, StartupError};
use crate::metrics::Metrics;
use crate::server::{self, AppState};
use crate::tls::auto::Generator;
use crate::tls::files::{self, CertFiles};
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

/// Runs the injector until SIGINT/SIGTERM. `ready` (for tests and embedding) receives the bound
/// address once the server accepts connections.
pub async fn run(
    s: Settings,
    ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), StartupError> {
    for w in &s.tls.warnings {
        tracing::warn!("{w}");
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
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
        }
        None => {
            if let Some(name) = &s.tls.webhook_config {
                return Err(StartupError(format!(
                    "Failed to configure TLS: -tls-auto={name}: keeping a webhook configuration's caBundle in sync needs the Kubernetes API, which this build of vaultlet-injector does not support yet; give -tls-cert-file/-tls-key-file (e.g. from cert-manager) instead"
                )));
            }
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
    let state = Arc::new(AppState {
        defaults: s.defaults.clone(),
        metrics: s.telemetry_path.as_ref().map(|_| Metrics::new()),
    });
    let app = server::router(state, s.telemetry_path.as_deref());
    tracing::info!(address = %local, "Starting handler");
    if let Some(tx) = ready {
        let _ = tx.send(local);
    }
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = shutdown_tx.send(true);
    });
    server::serve(listener, Arc::new(tls), app, shutdown_rx).await;
    Ok(())
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
