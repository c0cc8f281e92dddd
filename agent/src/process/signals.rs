//! Signals (agent.md §8.2): SIGINT/SIGTERM start a graceful shutdown; a second one exits at once
//! with code 1 (Rust decision); SIGHUP calls the reload hook (the binary re-reads the config and
//! applies only the log level, as upstream does).

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// Listens for signals; on the first SIGINT/SIGTERM sends `true` on `shutdown`, on the second
/// exits the process with code 1. Runs until the process ends.
pub async fn watch_signals(
    shutdown: watch::Sender<bool>,
    on_hangup: impl Fn(),
) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut seen = 0u32;
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = hup.recv() => {
                tracing::info!(target: "agent", "received SIGHUP, reloading the log level");
                on_hangup();
                continue;
            }
        };
        seen += 1;
        if seen > 1 {
            eprintln!("==> second {name} received, exiting now");
            std::process::exit(1);
        }
        eprintln!("==> Vault Agent shutdown triggered");
        tracing::info!(target: "agent", signal = name, "shutdown triggered");
        let _ = shutdown.send(true);
    }
}
