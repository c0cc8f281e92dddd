//! The async lifetime watcher (agent.md §3.4): renews the auto-auth token at once when asked to (a
//! token not from a login just made) and then on the [`super::schedule`], backs off on failed
//! renewals, and ends when the caller must log in again.
//! It is also where refusals of the token are checked (agent.md §3.6, [`super::check`]): reported
//! ones while it sleeps, and its own renewals refused in a token-shaped way.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::check::{self, CHECK_INTERVAL, CheckGate, RefusalInbox, Verdict};
use super::schedule::{LifetimeSchedule, Next, renew_error_backoff};
use super::{ApiError, AuthToken, TokenApi};
use crate::metrics::Metrics;
use crate::shutdown::shutdown_requested;

/// Why the watcher stopped.
#[derive(Debug)]
pub enum WatchEnd {
    /// Shutdown was requested.
    Shutdown,
    /// The token is near its end (TTL or max TTL): log in again.
    Expiring,
    /// Vault refused the token and `lookup-self` confirmed it is dead (agent.md §3.6): log in
    /// again at once.
    TokenDead,
    /// Renewals kept failing until the token's lifetime ran out.
    RenewFailed(ApiError),
}

/// Watches `token` until it must be replaced; `renew_first` renews it at once (upstream's lifetime
/// watcher does), otherwise the first renewal waits for the schedule. The token string itself never
/// changes here. Refusals reported to `refusals` are checked while it sleeps.
pub async fn watch_token<A: TokenApi>(
    api: &A,
    token: &AuthToken,
    renew_first: bool,
    shutdown: &mut watch::Receiver<bool>,
    refusals: &mut RefusalInbox,
    metrics: &Metrics,
) -> WatchEnd {
    let mut gate = CheckGate::new(CHECK_INTERVAL);
    let mut schedule = LifetimeSchedule::new(token.ttl, rand::random());
    let mut start = Instant::now();
    let mut last_lease = token.ttl;
    let mut error_attempt = 0u32;
    let mut skip_renewal = !renew_first;
    loop {
        let remaining = if token.renewable && !std::mem::take(&mut skip_renewal) {
            match api.renew_self(token.client_token()).await {
                Ok(renewed) => {
                    start = Instant::now();
                    last_lease = renewed.ttl;
                    error_attempt = 0;
                    metrics.renewal_succeeded();
                    tracing::info!(target: "auth.handler", accessor = %token.accessor, ttl = ?renewed.ttl, "renewed auth token");
                    renewed.ttl
                }
                Err(e) => {
                    metrics.auth_failed();
                    // agent.md §3.6: a refused renewal may mean a dead token; then waiting out
                    // its lease is pointless.
                    if check::is_refusal(&e)
                        && gate.admit(Instant::now())
                        && check::check(api, token, refusals).await == Verdict::Dead
                    {
                        return WatchEnd::TokenDead;
                    }
                    let left = (start + last_lease).saturating_duration_since(Instant::now());
                    match renew_error_backoff(error_attempt, rand::random(), left) {
                        Some(sleep) => {
                            tracing::warn!(target: "auth.handler", error = %e, backoff = ?sleep, "error renewing auth token, retrying");
                            error_attempt += 1;
                            if let Some(end) =
                                pause(sleep, shutdown, api, token, refusals, &mut gate).await
                            {
                                return end;
                            }
                            continue;
                        }
                        None => return WatchEnd::RenewFailed(e),
                    }
                }
            }
        } else {
            (start + token.ttl).saturating_duration_since(Instant::now())
        };
        match schedule.step(remaining, rand::random()) {
            Next::Relogin => return WatchEnd::Expiring,
            Next::SleepThenRenew(sleep) => {
                tracing::debug!(target: "auth.handler", next_renewal_in = ?sleep, "lifetime watcher sleeping");
                if let Some(end) = pause(sleep, shutdown, api, token, refusals, &mut gate).await {
                    return end;
                }
            }
        }
    }
}

/// Sleeps `d` unless shutdown comes first or a reported refusal proves the token dead.
async fn pause<A: TokenApi>(
    d: Duration,
    shutdown: &mut watch::Receiver<bool>,
    api: &A,
    token: &AuthToken,
    refusals: &mut RefusalInbox,
    gate: &mut CheckGate,
) -> Option<WatchEnd> {
    tokio::select! {
        () = tokio::time::sleep(d) => None,
        () = shutdown_requested(shutdown) => Some(WatchEnd::Shutdown),
        () = check::until_dead(api, token, refusals, gate) => Some(WatchEnd::TokenDead),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::check::Refusals;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// An inbox nobody reports to.
    fn inbox() -> RefusalInbox {
        Refusals::channel().1
    }

    /// Renew answers in order (the error `"permission denied"` is Vault's 403, any other a plain
    /// error); records when each renewal and each lookup happened; lookups answer `alive`.
    struct Fake {
        answers: RefCell<VecDeque<Result<u64, &'static str>>>,
        at: RefCell<Vec<Instant>>,
        alive: bool,
        lookups: RefCell<Vec<Instant>>,
    }

    fn fake(answers: Vec<Result<u64, &'static str>>, alive: bool) -> Fake {
        Fake {
            answers: RefCell::new(answers.into()),
            at: RefCell::new(vec![]),
            alive,
            lookups: RefCell::new(vec![]),
        }
    }

    fn denied() -> ApiError {
        Box::new(vaultlet_shared::vault::VaultError::Status {
            method: "PUT".into(),
            path: "auth/token/renew-self".into(),
            status: 403,
            errors: vec!["permission denied".into()],
        })
    }

    impl TokenApi for Fake {
        async fn login(&self, _: &str, _: &serde_json::Value) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
        async fn lookup_self(&self, t: &str) -> Result<AuthToken, ApiError> {
            self.lookups.borrow_mut().push(Instant::now());
            if self.alive {
                Ok(AuthToken::new(
                    t,
                    "acc",
                    Duration::from_secs(9),
                    true,
                    vec![],
                    "service",
                ))
            } else {
                Err(denied())
            }
        }
        async fn renew_self(&self, t: &str) -> Result<AuthToken, ApiError> {
            self.at.borrow_mut().push(Instant::now());
            match self
                .answers
                .borrow_mut()
                .pop_front()
                .expect("unexpected renewal")
            {
                Ok(ttl) => Ok(AuthToken::new(
                    t,
                    "acc",
                    Duration::from_secs(ttl),
                    true,
                    vec![],
                    "service",
                )),
                Err("permission denied") => Err(denied()),
                Err(e) => Err(e.into()),
            }
        }
    }

    fn token(ttl: u64, renewable: bool) -> AuthToken {
        AuthToken::new(
            "tok",
            "acc",
            Duration::from_secs(ttl),
            renewable,
            vec![],
            "service",
        )
    }

    /// Watches a renewable 30s token whose renewals answer `ttls`; returns how it ended, the
    /// renewal times in seconds after the start, and the counters.
    async fn renewals(ttls: Vec<u64>, renew_first: bool) -> (WatchEnd, Vec<f64>, Metrics) {
        let fake = fake(ttls.into_iter().map(Ok).collect(), true);
        let (_tx, mut rx) = watch::channel(false);
        let m = Metrics::default();
        let t0 = Instant::now();
        let token = token(30, true);
        let end = watch_token(&fake, &token, renew_first, &mut rx, &mut inbox(), &m).await;
        let at = fake
            .at
            .borrow()
            .iter()
            .map(|i| (*i - t0).as_secs_f64())
            .collect();
        (end, at, m)
    }

    #[tokio::test(start_paused = true)]
    async fn renews_at_once_then_at_two_thirds_until_max_ttl() {
        let (end, at, m) = renewals(vec![30, 30, 30, 5], true).await;
        assert!(matches!(end, WatchEnd::Expiring), "{end:?}");
        assert_eq!(at.len(), 4);
        assert!(at[0] < 0.001, "renewed right after login: {at:?}");
        for w in at.windows(2) {
            let gap = w[1] - w[0];
            // 2/3·30 + grace/3 with grace in [3, 6) ⇒ [21, 22).
            assert!((21.0..22.0).contains(&gap), "{at:?}");
        }
        assert_eq!(m.renewals(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn in_init_mode_the_first_renewal_waits_for_the_schedule() {
        let (end, at, m) = renewals(vec![30, 5], false).await;
        assert!(matches!(end, WatchEnd::Expiring), "{end:?}");
        assert_eq!(at.len(), 2, "{at:?}");
        assert!((21.0..22.0).contains(&at[0]), "no renewal at login: {at:?}");
        assert_eq!(m.renewals(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn non_renewable_counts_down_and_relogs_at_seventy_percent() {
        let fake = fake(vec![], true);
        let (_tx, mut rx) = watch::channel(false);
        let t0 = Instant::now();
        let end = watch_token(
            &fake,
            &token(100, false),
            true,
            &mut rx,
            &mut inbox(),
            &Metrics::default(),
        )
        .await;
        assert!(matches!(end, WatchEnd::Expiring));
        let took = (Instant::now() - t0).as_secs_f64();
        assert!((70.0..74.0).contains(&took), "{took}");
        assert!(fake.at.borrow().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_renewals_back_off_then_give_up() {
        // Low draws allow a fourth renewal inside the 40 s lease (5 + 10 + 20 s): four answers.
        let fake = fake(vec![Err("boom"); 4], true);
        let (_tx, mut rx) = watch::channel(false);
        let m = Metrics::default();
        let t0 = Instant::now();
        let end = watch_token(&fake, &token(40, true), true, &mut rx, &mut inbox(), &m).await;
        assert!(matches!(end, WatchEnd::RenewFailed(_)), "{end:?}");
        // Sleeps of 5–15s then 10–30s, stopping before the 40s lease would have run out.
        assert!((Instant::now() - t0) < Duration::from_secs(40));
        assert!(fake.at.borrow().len() >= 2);
        assert_eq!(m.failures() as usize, fake.at.borrow().len());
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_and_a_confirmed_refusal_interrupt_the_sleep() {
        let fake = fake(vec![Ok(3600), Ok(3600)], false);
        let (tx, mut rx) = watch::channel(false);
        let (refusals, mut inbox) = Refusals::channel();
        refusals.report("tok");
        let end = watch_token(
            &fake,
            &token(3600, true),
            true,
            &mut rx,
            &mut inbox,
            &Metrics::default(),
        )
        .await;
        assert!(matches!(end, WatchEnd::TokenDead), "{end:?}");
        assert_eq!(fake.lookups.borrow().len(), 1);
        tx.send(true).unwrap();
        let end = watch_token(
            &fake,
            &token(3600, true),
            true,
            &mut rx,
            &mut inbox,
            &Metrics::default(),
        )
        .await;
        assert!(matches!(end, WatchEnd::Shutdown));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_of_a_live_token_changes_nothing() {
        let fake = fake(vec![Ok(30), Ok(30), Ok(5)], true);
        let (_tx, mut rx) = watch::channel(false);
        let (refusals, mut inbox) = Refusals::channel();
        let t0 = Instant::now();
        let report = async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            refusals.report("tok");
            // About an older token: ignored.
            tokio::time::sleep(Duration::from_secs(10)).await;
            refusals.report("older");
        };
        let (t, m) = (token(30, true), Metrics::default());
        let (end, ()) = tokio::join!(
            watch_token(&fake, &t, true, &mut rx, &mut inbox, &m),
            report
        );
        assert!(matches!(end, WatchEnd::Expiring), "{end:?}");
        let lookups = fake.lookups.borrow();
        assert_eq!(lookups.len(), 1, "one check, for the current token");
        assert_eq!((lookups[0] - t0).as_secs(), 3);
        assert_eq!(fake.at.borrow().len(), 3, "renewals on schedule as before");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_renewal_of_a_dead_token_ends_at_once() {
        let fake = fake(vec![Ok(30), Err("permission denied")], false);
        let (_tx, mut rx) = watch::channel(false);
        let m = Metrics::default();
        let t0 = Instant::now();
        let end = watch_token(&fake, &token(30, true), true, &mut rx, &mut inbox(), &m).await;
        assert!(matches!(end, WatchEnd::TokenDead), "{end:?}");
        // At the second renewal (21–22 s), not after waiting out the lease with backoffs.
        let took = (Instant::now() - t0).as_secs_f64();
        assert!((21.0..22.0).contains(&took), "{took}");
        assert_eq!(fake.lookups.borrow().len(), 1);
        assert_eq!(m.failures(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_renewals_of_a_live_token_back_off_as_before() {
        // Low draws allow a fourth renewal inside the 40 s lease (5 + 10 + 20 s): four answers.
        let fake = fake(vec![Err("permission denied"); 4], true);
        let (_tx, mut rx) = watch::channel(false);
        let m = Metrics::default();
        let t0 = Instant::now();
        let end = watch_token(&fake, &token(40, true), true, &mut rx, &mut inbox(), &m).await;
        assert!(matches!(end, WatchEnd::RenewFailed(_)), "{end:?}");
        assert!((Instant::now() - t0) < Duration::from_secs(40));
        let renewals = fake.at.borrow().len();
        assert!(renewals >= 2);
        // The renewal backoff (≥ 5 s) is longer than the check interval: one lookup each.
        assert_eq!(fake.lookups.borrow().len(), renewals);
    }
}
