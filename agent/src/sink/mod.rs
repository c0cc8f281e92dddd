//! Sinks (agent.md §3.7): where the auto-auth token is written. The sink server follows the token
//! channel, writes every new token to every sink — the token itself, or with `wrap_ttl` the JSON of
//! a response-wrapping of it plus `\n` — (a failed write is retried after 2s ± 1s until it works or a
//! newer token supersedes it) and reports when all sinks hold the current token.

pub mod file;

use std::time::Duration;

use tokio::sync::watch;

use serde_json::{Map, Value};

use crate::shutdown::shutdown_requested;
use crate::token::{ApiError, AuthToken, TokenApi};
pub use file::{FileSink, SinkError};

/// A configured sink: the file, and the TTL to response-wrap the token with (if any).
#[derive(Debug, Clone)]
pub struct Sink {
    pub file: FileSink,
    pub wrap_ttl: Option<Duration>,
}

/// Why Vault's `wrap_info` cannot be written to a sink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WrapInfoError {
    #[error("wrap_info is not an object")]
    NotAnObject,
    #[error("wrap_info has no token")]
    NoToken,
}

/// The sink content for a wrapped token: Vault's `wrap_info` fields in upstream's order
/// (`token`, `accessor`, `ttl`, `creation_time`, `creation_path`, `wrapped_accessor`) as JSON, then `\n`.
pub fn wrapped_content(wrap_info: &Value) -> Result<Vec<u8>, WrapInfoError> {
    let Some(info) = wrap_info.as_object() else {
        return Err(WrapInfoError::NotAnObject);
    };
    if info
        .get("token")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(WrapInfoError::NoToken);
    }
    let mut out = Map::new();
    for key in [
        "token",
        "accessor",
        "ttl",
        "creation_time",
        "creation_path",
        "wrapped_accessor",
    ] {
        let default = if key == "ttl" {
            Value::from(0)
        } else {
            Value::from("")
        };
        out.insert(key.into(), info.get(key).cloned().unwrap_or(default));
    }
    let mut bytes = Value::Object(out).to_string().into_bytes();
    bytes.push(b'\n');
    Ok(bytes)
}

/// What to write to `sink` for `token`.
async fn content_for<A: TokenApi>(
    api: &A,
    sink: &Sink,
    token: &AuthToken,
) -> Result<Vec<u8>, ApiError> {
    match sink.wrap_ttl {
        None => Ok(token.client_token().as_bytes().to_vec()),
        Some(ttl) => {
            let info = api.wrap_token(token.client_token(), ttl).await?;
            Ok(wrapped_content(&info)?)
        }
    }
}

/// Delay before retrying a failed sink write: `2s ± 1s` (draw `u ∈ [0, 1)`).
pub fn retry_delay(u: f64) -> Duration {
    Duration::from_secs_f64(1.0 + 2.0 * u.clamp(0.0, 1.0))
}

/// Writes tokens from `tokens` to `sinks` until shutdown. After every sink has written a token,
/// `written` is bumped (its value counts fully written tokens): init mode waits for it to be ≥ 1.
/// With no sinks, each token counts as written at once. `api` is used only by wrapping sinks.
pub async fn serve<A: TokenApi>(
    api: &A,
    sinks: Vec<Sink>,
    mut tokens: watch::Receiver<Option<AuthToken>>,
    written: watch::Sender<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let token = tokens.borrow_and_update().clone();
        if let Some(token) = token {
            let mut pending: Vec<&Sink> = sinks.iter().collect();
            loop {
                let mut failed = Vec::new();
                for sink in pending {
                    let path = sink.file.path().display();
                    let result = match content_for(api, sink, &token).await {
                        Ok(bytes) => sink.file.write(&bytes).map_err(ApiError::from),
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(()) => {
                            tracing::info!(target: "sink.file", path = %path, "token written")
                        }
                        Err(e) => {
                            tracing::error!(target: "sink.file", path = %path, error = %e, "error writing token to sink, will retry");
                            failed.push(sink);
                        }
                    }
                }
                pending = failed;
                if pending.is_empty() {
                    written.send_modify(|n| *n += 1);
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(retry_delay(rand::random())) => {}
                    () = shutdown_requested(&mut shutdown) => return,
                    // A newer token supersedes this one: start over with it.
                    changed = tokens.changed() => if changed.is_err() { return } else { break },
                }
            }
            if tokens.has_changed().unwrap_or(false) {
                continue;
            }
        }
        tokio::select! {
            changed = tokens.changed() => if changed.is_err() { return },
            () = shutdown_requested(&mut shutdown) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_is_one_to_three_seconds() {
        assert_eq!(retry_delay(0.0), Duration::from_secs(1));
        assert_eq!(retry_delay(0.5), Duration::from_secs(2));
        assert!(retry_delay(0.999) < Duration::from_secs(3));
    }

    /// Only wrapping calls reach the API from the sink server.
    struct NoApi;

    impl TokenApi for NoApi {
        async fn login(&self, _: &str, _: &Value) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
        async fn lookup_self(&self, _: &str) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
        async fn renew_self(&self, _: &str) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
    }

    fn plain(path: &std::path::Path, mode: u32) -> Sink {
        Sink {
            file: FileSink::new(path, mode),
            wrap_ttl: None,
        }
    }

    #[test]
    fn wrapped_content_orders_fields_and_ends_with_newline() {
        let info = serde_json::json!({
            "wrapped_accessor": "", "creation_path": "sys/wrapping/wrap", "ttl": 300,
            "creation_time": "2026-11-22T10:00:00.1Z", "accessor": "acc", "token": "hvs.w"
        });
        let bytes = wrapped_content(&info).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "{\"token\":\"hvs.w\",\"accessor\":\"acc\",\"ttl\":300,\"creation_time\":\"2026-11-22T10:00:00.1Z\",\"creation_path\":\"sys/wrapping/wrap\",\"wrapped_accessor\":\"\"}\n"
        );
        assert!(wrapped_content(&serde_json::json!({"ttl": 1})).is_err());
    }

    #[tokio::test]
    async fn a_wrapping_sink_without_wrap_support_keeps_retrying_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wrapped");
        let sinks = vec![Sink {
            file: FileSink::new(&path, 0o640),
            wrap_ttl: Some(Duration::from_secs(60)),
        }];
        let (_tok_tx, tok_rx) = watch::channel(Some(tok("one")));
        let (written_tx, written_rx) = watch::channel(0u64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let server =
            tokio::spawn(async move { serve(&NoApi, sinks, tok_rx, written_tx, stop_rx).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(*written_rx.borrow(), 0);
        assert!(!path.exists());
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }

    fn tok(s: &str) -> AuthToken {
        AuthToken::new(s, "a", Duration::from_secs(60), true, vec![], "service")
    }

    #[tokio::test]
    async fn writes_each_new_token_to_every_sink() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let sinks = vec![plain(&a, 0o640), plain(&b, 0o600)];
        let (tok_tx, tok_rx) = watch::channel(None);
        let (written_tx, mut written_rx) = watch::channel(0u64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let server =
            tokio::spawn(async move { serve(&NoApi, sinks, tok_rx, written_tx, stop_rx).await });
        tok_tx.send(Some(tok("one"))).unwrap();
        written_rx.wait_for(|n| *n >= 1).await.unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&b).unwrap(), b"one");
        tok_tx.send(Some(tok("two"))).unwrap();
        written_rx.wait_for(|n| *n >= 2).await.unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"two");
        stop_tx.send(true).unwrap();
        server.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_sink_is_retried_until_it_works() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("later");
        let path = sub.join("token");
        let (tok_tx, tok_rx) = watch::channel(Some(tok("one")));
        let (written_tx, mut written_rx) = watch::channel(0u64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let sinks = vec![plain(&path, 0o640)];
        let server =
            tokio::spawn(async move { serve(&NoApi, sinks, tok_rx, written_tx, stop_rx).await });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(*written_rx.borrow(), 0);
        std::fs::create_dir(&sub).unwrap();
        written_rx.wait_for(|n| *n >= 1).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        stop_tx.send(true).unwrap();
        server.await.unwrap();
        drop(tok_tx);
    }
}
