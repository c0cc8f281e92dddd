//! The shutdown signal every long-running task selects on: a `watch` channel of `bool` that turns
//! `true` once (agent.md §8.2). Bottom layer: imports nothing from the agent.

use tokio::sync::watch;

/// Waits until `shutdown` holds `true`.
pub async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    // An Err means the sender is gone: treat it as shutdown too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
