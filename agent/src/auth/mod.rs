//! Auto-auth (agent.md §3.1): the login loop. Logs in with the configured [`method::Method`], backs
//! off on failures ([`backoff`]), publishes each new token on a `watch` channel (only changed
//! tokens, agent.md §3.5), keeps it alive with the lifetime watcher and logs in again when the
//! watcher ends — at once when the token was found dead (agent.md §3.6, `crate::token::check`).
//!
//! Per-method request builders live in [`kubernetes`], [`jwt`], [`approle`] and [`token_file`].

pub mod approle;
pub mod backoff;
pub mod file_watch;
pub mod jwt;
pub mod kubernetes;
pub mod method;
pub mod token_file;
pub mod vault_api;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::shutdown::shutdown_requested;
use crate::token::check::{CHECK_INTERVAL, CheckGate, RefusalInbox, until_dead};
use crate::token::lifetime::{WatchEnd, watch_token};
use crate::token::{ApiError, AuthToken, TokenApi};
use backoff::AuthBackoff;
use method::{LoginRequest, Method};

/// Why auto-auth failed or could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The method's configuration is wrong.
    #[error("{0}")]
    Config(String),
    /// A credential file could not be read.
    #[error("error reading {path}: {source}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A credential file is empty (or gone) and nothing was read from it before.
    #[error(
        "no credential in {path}: the file is empty or missing and nothing was read from it before"
    )]
    EmptyFile { path: PathBuf },
    /// Vault refused or failed the login.
    #[error("{0}")]
    Vault(ApiError),
    /// `exit_on_err`: a renewal failed and so did the re-login.
    #[error("exceeded max retries failing to renew auth token: {0}")]
    RenewFailed(ApiError),
}

/// A token obtained by a healing re-login (agent.md §3.6) that is itself found dead within this
/// time makes the next re-login wait the auth backoff (agent.md §3.3) instead of going at once:
/// a token Vault keeps refusing (say, one without the `default` policy, so `lookup-self` is
/// denied although it lives) cannot cause a storm of logins.
pub const HEAL_PROBATION: Duration = Duration::from_secs(60);

/// Settings of the login loop from the `auto_auth.method` stanza.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    pub exit_on_err: bool,
    /// `exit_after_auth` (init mode): the process exits as soon as the templates are rendered, so
    /// the credential file is not watched (no watcher thread) and a new token is not renewed at
    /// once — upstream's immediate renewal only races the exit; the renewal schedule still runs
    /// should rendering take long.
    pub one_shot: bool,
    /// HashiCorp pauses this long before a re-login that follows a watcher end (quirk Q-A3).
    pub relogin_pause: Duration,
}

impl Default for LoopSettings {
    fn default() -> Self {
        Self {
            min_backoff: backoff::DEFAULT_MIN_BACKOFF,
            max_backoff: backoff::DEFAULT_MAX_BACKOFF,
            exit_on_err: false,
            one_shot: false,
            relogin_pause: Duration::from_secs(1),
        }
    }
}

/// The running login loop's inputs and outputs.
pub struct AuthHandler<A> {
    pub api: A,
    pub method: Method,
    pub settings: LoopSettings,
    /// Every new token is published here (the sinks and the template runtime subscribe).
    pub tokens: watch::Sender<Option<AuthToken>>,
    /// Refusals of the token reported by the template runtime and the API proxy (agent.md §3.6):
    /// checked with `lookup-self`; a dead token is abandoned and auto-auth logs in again at once.
    pub refusals: RefusalInbox,
    pub metrics: Arc<Metrics>,
    /// A token handed over by the persistent cache (agent.md §7.3): the first iteration looks it up
    /// instead of logging in (agent.md §3.1a).
    pub preloaded: Option<String>,
}

/// One login attempt: the method's request, then the Vault call. The flag says whether the token
/// comes from a login just made (its answer carries the token's TTL), rather than from a file.
async fn attempt<A: TokenApi>(
    api: &A,
    method: &mut Method,
) -> Result<(AuthToken, bool), AuthError> {
    match method.login_request()? {
        LoginRequest::Login { path, body } => api
            .login(&path, &body)
            .await
            .map(|t| (t, true))
            .map_err(AuthError::Vault),
        LoginRequest::LookupSelf { token } => api
            .lookup_self(&token)
            .await
            .map(|t| (t, false))
            .map_err(AuthError::Vault),
    }
}

impl<A: TokenApi> AuthHandler<A> {
    /// Runs until `shutdown` turns true (`Ok`) or, with `exit_on_err`, until the first failure (`Err`).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), AuthError> {
        let s = &self.settings;
        let mut backoff = AuthBackoff::new(s.min_backoff, s.max_backoff, rand::random());
        // Healing re-logins (agent.md §3.6): whether the next login is one, and their own backoff.
        let mut healing = false;
        let mut heal_backoff = AuthBackoff::new(s.min_backoff, s.max_backoff, rand::random());
        let kind = self.method.name();
        let watched = self.method.watched_file().filter(|_| !s.one_shot);
        let mut file_watch = watched.and_then(|p| {
            file_watch::FileWatch::start(p)
                .inspect_err(|e| tracing::warn!(target: "auth.handler", path = %p.display(), error = %e, "cannot watch the credential file; it is read at each login"))
                .ok()
        });
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let from_cache = self.preloaded.is_some();
            let result = match self.preloaded.take() {
                Some(t) => {
                    tracing::info!(target: "auth.handler", "using the preloaded token from the persistent cache");
                    self.api
                        .lookup_self(&t)
                        .await
                        .map(|t| (t, false))
                        .map_err(AuthError::Vault)
                }
                None => {
                    tracing::info!(target: "auth.handler", method = kind, "authenticating");
                    attempt(&self.api, &mut self.method).await
                }
            };
            let (token, fresh_login) = match result {
                Ok(t) => t,
                Err(e) => {
                    self.metrics.auth_failed();
                    if self.settings.exit_on_err && !from_cache {
                        tracing::error!(target: "auth.handler", error = %e, "error authenticating, exiting as exit_on_err is set");
                        return Err(e);
                    }
                    let sleep = backoff.fail(rand::random());
                    tracing::error!(target: "auth.handler", error = %e, backoff = ?sleep, "error authenticating");
                    if sleep_or_shutdown(sleep, &mut shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            tracing::info!(target: "auth.handler", accessor = %token.accessor, ttl = ?token.ttl, renewable = token.renewable, "authentication successful, sending token to sinks");
            self.tokens.send_if_modified(|current| {
                let changed =
                    current.as_ref().map(AuthToken::client_token) != Some(token.client_token());
                *current = Some(token.clone());
                changed
            });
            backoff.reset(rand::random());
            self.metrics.login_succeeded();
            let healed = std::mem::take(&mut healing);
            let logged_in_at = Instant::now();

            let end = if token.is_root() {
                tracing::info!(target: "auth.handler", "not renewing the root token");
                let mut gate = CheckGate::new(CHECK_INTERVAL);
                tokio::select! {
                    () = shutdown_requested(&mut shutdown) => WatchEnd::Shutdown,
                    () = until_dead(&self.api, &token, &mut self.refusals, &mut gate) => WatchEnd::TokenDead,
                }
            } else {
                if token.token_type == "batch" {
                    tracing::info!(target: "auth.handler", "batch tokens are not renewable; logging in again near the end of its TTL");
                }
                // agent.md §3.4: a token from a login just made is not renewed at once (its
                // answer carries the TTL a renewal would report); one handed over by the cache or
                // read from a file is, which also learns its TTL now.
                let watcher = watch_token(
                    &self.api,
                    &token,
                    !self.settings.one_shot && !fresh_login,
                    &mut shutdown,
                    &mut self.refusals,
                    &self.metrics,
                );
                tokio::pin!(watcher);
                loop {
                    let event = async {
                        match file_watch.as_mut() {
                            Some(w) => w.next().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        end = &mut watcher => break end,
                        e = event => self.method.on_file_event(e),
                    }
                }
            };
            match end {
                WatchEnd::Shutdown => return Ok(()),
                WatchEnd::TokenDead => {
                    healing = true;
                    if healed && logged_in_at.elapsed() < HEAL_PROBATION {
                        let sleep = heal_backoff.fail(rand::random());
                        tracing::warn!(target: "auth.handler", accessor = %token.accessor, backoff = ?sleep, "the token of the last re-authentication was refused too, re-authenticating after a backoff");
                        if sleep_or_shutdown(sleep, &mut shutdown).await {
                            return Ok(());
                        }
                    } else {
                        heal_backoff.reset(rand::random());
                        tracing::warn!(target: "auth.handler", accessor = %token.accessor, "abandoning the invalid auto-auth token, re-authenticating at once");
                    }
                }
                WatchEnd::Expiring => {
                    tracing::info!(target: "auth.handler", "lifetime watcher done channel triggered, re-authenticating");
                    if sleep_or_shutdown(self.settings.relogin_pause, &mut shutdown).await {
                        return Ok(());
                    }
                }
                WatchEnd::RenewFailed(e) => {
                    self.metrics.auth_failed();
                    if self.settings.exit_on_err {
                        tracing::error!(target: "auth.handler", error = %e, "exceeded max retries failing to renew auth token");
                        return Err(AuthError::RenewFailed(e));
                    }
                    let sleep = backoff.fail(rand::random());
                    tracing::error!(target: "auth.handler", error = %e, backoff = ?sleep, "error renewing auth token, re-authenticating");
                    if sleep_or_shutdown(sleep, &mut shutdown).await {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Sleeps `d`; returns true if shutdown came first.
async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => false,
        () = shutdown_requested(shutdown) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::check::Refusals;
    use serde_json::{Value, json};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// Logins fail `fail_first` times, then succeed with tokens "t1", "t2", … (TTL `ttl`, not
    /// renewable). Every lookup says the token is dead (Vault's 403), and is counted.
    struct Fake {
        fail_first: usize,
        calls: Rc<RefCell<Vec<tokio::time::Instant>>>,
        ttl: u64,
        lookups: Rc<RefCell<usize>>,
    }

    impl TokenApi for Fake {
        async fn login(&self, path: &str, body: &Value) -> Result<AuthToken, ApiError> {
            assert_eq!(path, "auth/jwt/login");
            assert_eq!(body["role"], "r");
            self.calls.borrow_mut().push(tokio::time::Instant::now());
            let n = self.calls.borrow().len();
            if n <= self.fail_first {
                return Err("permission denied".into());
            }
            Ok(AuthToken::new(
                format!("t{}", n - self.fail_first),
                "acc",
                Duration::from_secs(self.ttl),
                false,
                vec![],
                "service",
            ))
        }
        async fn lookup_self(&self, _: &str) -> Result<AuthToken, ApiError> {
            *self.lookups.borrow_mut() += 1;
            Err(Box::new(vaultlet_shared::vault::VaultError::Status {
                method: "GET".into(),
                path: "auth/token/lookup-self".into(),
                status: 403,
                errors: vec!["permission denied".into()],
            }))
        }
        async fn renew_self(&self, _: &str) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
    }

    fn handler(
        dir: &std::path::Path,
        fake: Fake,
        exit_on_err: bool,
    ) -> (AuthHandler<Fake>, watch::Receiver<Option<AuthToken>>) {
        let jwt = dir.join("jwt");
        std::fs::write(&jwt, "x.y.z").unwrap();
        let cfg = serde_json::from_value(
            json!({"path": jwt.to_str().unwrap(), "role": "r", "remove_jwt_after_reading": false}),
        )
        .unwrap();
        let (tx, rx) = watch::channel(None);
        let h = AuthHandler {
            api: fake,
            method: Method::from_config("jwt", None, &cfg).unwrap(),
            settings: LoopSettings {
                exit_on_err,
                ..LoopSettings::default()
            },
            tokens: tx,
            refusals: Refusals::channel().1,
            preloaded: None,
            metrics: Arc::new(Metrics::default()),
        };
        (h, rx)
    }

    #[tokio::test(start_paused = true)]
    async fn backs_off_then_publishes_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let (h, mut rx) = handler(
            dir.path(),
            Fake {
                fail_first: 3,
                calls: Rc::default(),
                lookups: Rc::default(),
                ttl: 3600,
            },
            false,
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let metrics = h.metrics.clone();
        let run = h.run(stop_rx);
        let check = async {
            rx.wait_for(Option::is_some).await.unwrap();
            assert_eq!(rx.borrow().as_ref().unwrap().client_token(), "t1");
            stop_tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(run, check);
        res.unwrap();
        assert_eq!(metrics.failures(), 3);
        assert_eq!(metrics.successes(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_gaps_follow_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Rc::new(RefCell::new(vec![]));
        let fake = Fake {
            fail_first: 4,
            calls: calls.clone(),
            lookups: Rc::default(),
            ttl: 3600,
        };
        let (h, mut rx) = handler(dir.path(), fake, false);
        let (stop_tx, stop_rx) = watch::channel(false);
        let probe = async {
            rx.wait_for(Option::is_some).await.unwrap();
            stop_tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(h.run(stop_rx), probe);
        res.unwrap();
        let at = calls.borrow();
        assert_eq!(at.len(), 5);
        // agent.md §3.3: sleeps ≈ 1, 2, 4, 8 s, each at most 25 % shorter per doubling, never longer.
        let mut upper = 1.0f64;
        let mut lower = 0.75f64;
        for w in at.windows(2) {
            let gap = (w[1] - w[0]).as_secs_f64();
            assert!(
                gap <= upper + 1e-6 && gap >= lower - 1e-6,
                "gap {gap} not in [{lower}, {upper}]"
            );
            upper *= 2.0;
            lower = lower * 2.0 * 0.75;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn exit_on_err_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let (h, _rx) = handler(
            dir.path(),
            Fake {
                fail_first: 10,
                calls: Rc::default(),
                lookups: Rc::default(),
                ttl: 3600,
            },
            true,
        );
        let (_stop_tx, stop_rx) = watch::channel(false);
        let err = h.run(stop_rx).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn relogs_in_when_the_token_expires_and_publishes_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let (h, mut rx) = handler(
            dir.path(),
            Fake {
                fail_first: 0,
                calls: Rc::default(),
                lookups: Rc::default(),
                ttl: 10,
            },
            false,
        );
        let (stop_tx, stop_rx) = watch::channel(false);
        let check = async {
            rx.wait_for(|t| t.as_ref().is_some_and(|t| t.client_token() == "t2"))
                .await
                .unwrap();
            stop_tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(h.run(stop_rx), check);
        res.unwrap();
    }

    /// Whether a JWT written after the first login is taken from disk (the credential-file
    /// watcher, with `remove_jwt_after_reading`) within `wait`.
    async fn new_jwt_taken(one_shot: bool, wait: Duration) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let (mut h, mut rx) = handler(
            dir.path(),
            Fake {
                fail_first: 0,
                calls: Rc::default(),
                lookups: Rc::default(),
                ttl: 3600,
            },
            false,
        );
        let jwt = dir.path().join("jwt");
        let cfg = serde_json::from_value(
            json!({"path": jwt.to_str().unwrap(), "role": "r", "remove_jwt_after_reading": true}),
        )
        .unwrap();
        h.method = Method::from_config("jwt", None, &cfg).unwrap();
        h.settings.one_shot = one_shot;
        let (stop_tx, stop_rx) = watch::channel(false);
        let probe = async {
            rx.wait_for(Option::is_some).await.unwrap();
            assert!(!jwt.exists(), "the first JWT is removed after reading");
            std::fs::write(&jwt, "a.new.jwt").unwrap();
            let deadline = tokio::time::Instant::now() + wait;
            while jwt.exists() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            stop_tx.send(true).unwrap();
            !jwt.exists()
        };
        let (res, taken) = tokio::join!(h.run(stop_rx), probe);
        res.unwrap();
        taken
    }

    #[tokio::test]
    async fn init_mode_does_not_watch_the_credential_file() {
        // Sidecar: the watcher takes the new JWT at once (the control) …
        assert!(new_jwt_taken(false, Duration::from_secs(5)).await);
        // … init mode (`exit_after_auth`) starts no watcher, so the file stays until a login.
        assert!(!new_jwt_taken(true, Duration::from_millis(700)).await);
    }

    /// A sidecar handler whose logins are recorded in `calls` and whose token refusals come from
    /// the returned [`Refusals`].
    fn healing_handler(
        dir: &std::path::Path,
        calls: &Rc<RefCell<Vec<tokio::time::Instant>>>,
        lookups: &Rc<RefCell<usize>>,
    ) -> (
        AuthHandler<Fake>,
        watch::Receiver<Option<AuthToken>>,
        Refusals,
    ) {
        let fake = Fake {
            fail_first: 0,
            calls: calls.clone(),
            lookups: lookups.clone(),
            ttl: 3600,
        };
        let (mut h, rx) = handler(dir, fake, false);
        let (refusals, inbox) = Refusals::channel();
        h.refusals = inbox;
        (h, rx, refusals)
    }

    async fn token_becomes(rx: &mut watch::Receiver<Option<AuthToken>>, t: &str) {
        rx.wait_for(|x| x.as_ref().is_some_and(|x| x.client_token() == t))
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_token_reported_many_times_makes_one_lookup_and_one_login_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (calls, lookups) = (Rc::default(), Rc::default());
        let (h, mut rx, refusals) = healing_handler(dir.path(), &calls, &lookups);
        let (stop_tx, stop_rx) = watch::channel(false);
        let probe = async {
            token_becomes(&mut rx, "t1").await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            // Twenty fetchers refused at once.
            for _ in 0..20 {
                refusals.report("t1");
            }
            token_becomes(&mut rx, "t2").await;
            // Late reports about the old token change nothing.
            refusals.report("t1");
            tokio::time::sleep(Duration::from_secs(30)).await;
            stop_tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(h.run(stop_rx), probe);
        res.unwrap();
        assert_eq!(*lookups.borrow(), 1, "one lookup");
        let at = calls.borrow();
        assert_eq!(at.len(), 2, "one re-login");
        let gap = at[1] - at[0];
        assert!(
            gap >= Duration::from_secs(30) && gap < Duration::from_millis(30_050),
            "at once, without the 1 s re-login pause: {gap:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_healed_token_refused_again_soon_waits_the_backoff() {
        let dir = tempfile::tempdir().unwrap();
        let (calls, lookups) = (Rc::default(), Rc::default());
        let (h, mut rx, refusals) = healing_handler(dir.path(), &calls, &lookups);
        let (stop_tx, stop_rx) = watch::channel(false);
        let probe = async {
            token_becomes(&mut rx, "t1").await;
            refusals.report("t1");
            token_becomes(&mut rx, "t2").await;
            // The new token is refused at once too (e.g. Vault denies its lookup-self).
            refusals.report("t2");
            token_becomes(&mut rx, "t3").await;
            // After the probation, a refusal heals at once again.
            tokio::time::sleep(HEAL_PROBATION).await;
            refusals.report("t3");
            token_becomes(&mut rx, "t4").await;
            stop_tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(h.run(stop_rx), probe);
        res.unwrap();
        let at = calls.borrow();
        assert_eq!(at.len(), 4);
        assert!(
            at[1] - at[0] < Duration::from_millis(10),
            "first heal at once"
        );
        let backoff = at[2] - at[1];
        assert!(
            backoff >= Duration::from_millis(750) && backoff <= Duration::from_secs(1),
            "second heal waits j(min_backoff): {backoff:?}"
        );
        let late = at[3] - at[2] - HEAL_PROBATION;
        assert!(
            late < Duration::from_millis(10),
            "after probation at once: {late:?}"
        );
    }

    /// Logins and lookups answer a renewable 30 s token; renewals are recorded.
    struct Renewing {
        renewals: Rc<RefCell<Vec<tokio::time::Instant>>>,
    }

    fn renewable(name: &str) -> AuthToken {
        AuthToken::new(
            name,
            "acc",
            Duration::from_secs(30),
            true,
            vec![],
            "service",
        )
    }

    impl TokenApi for Renewing {
        async fn login(&self, _: &str, _: &Value) -> Result<AuthToken, ApiError> {
            Ok(renewable("fresh"))
        }
        async fn lookup_self(&self, t: &str) -> Result<AuthToken, ApiError> {
            Ok(renewable(t))
        }
        async fn renew_self(&self, t: &str) -> Result<AuthToken, ApiError> {
            self.renewals.borrow_mut().push(tokio::time::Instant::now());
            Ok(renewable(t))
        }
    }

    /// Runs the handler (`preloaded`: a token handed over by the cache) for 25 s; the renewal
    /// times in seconds after the start.
    async fn renewal_times(preloaded: Option<&str>) -> Vec<f64> {
        let dir = tempfile::tempdir().unwrap();
        let jwt = dir.path().join("jwt");
        std::fs::write(&jwt, "x.y.z").unwrap();
        let cfg = serde_json::from_value(
            json!({"path": jwt.to_str().unwrap(), "role": "r", "remove_jwt_after_reading": false}),
        )
        .unwrap();
        let renewals = Rc::new(RefCell::new(vec![]));
        let h = AuthHandler {
            api: Renewing {
                renewals: renewals.clone(),
            },
            method: Method::from_config("jwt", None, &cfg).unwrap(),
            settings: LoopSettings::default(),
            tokens: watch::channel(None).0,
            refusals: Refusals::channel().1,
            preloaded: preloaded.map(str::to_string),
            metrics: Arc::new(Metrics::default()),
        };
        let t0 = tokio::time::Instant::now();
        let (stop_tx, stop_rx) = watch::channel(false);
        let stop = async {
            tokio::time::sleep(Duration::from_secs(25)).await;
            stop_tx.send(true).unwrap();
        };
        let (res, ()) = tokio::join!(h.run(stop_rx), stop);
        res.unwrap();
        renewals
            .borrow()
            .iter()
            .map(|t| (*t - t0).as_secs_f64())
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_from_a_login_is_not_renewed_at_once_a_handed_over_one_is() {
        // agent.md §3.4: the login's answer carries the TTL; the first renewal is at 2/3·30 +
        // grace/3, grace in [3, 6) ⇒ [21, 22) s.
        let at = renewal_times(None).await;
        assert_eq!(at.len(), 1, "{at:?}");
        assert!((21.0..22.0).contains(&at[0]), "{at:?}");
        // A token handed over by the persistent cache: renewed at once, then on the schedule.
        let at = renewal_times(Some("handed-over")).await;
        assert_eq!(at.len(), 2, "{at:?}");
        assert!(at[0] < 0.001, "{at:?}");
        assert!((21.0..22.0).contains(&(at[1] - at[0])), "{at:?}");
    }
}
