//! Self-healing of a dead auto-auth token (agent.md §3.6). Whoever uses the token — a template
//! fetch, the API proxy — and gets an answer that may mean the token is dead
//! (`vaultlet_shared::vault::suggests_dead_token`: any 403, a 400/401 speaking of the token)
//! reports it through [`Refusals`]; the renewal loop does the same with its own failed renewals.
//! One place decides: the lifetime watcher of the current token ([`super::lifetime`]), which
//! checks the token with one `lookup-self` ([`check`]) and, when Vault refuses that too, ends so
//! that auto-auth logs in again at once.
//!
//! - **Deduplicated.** Reports are coalesced in a `watch` slot (the latest wins); reports about an
//!   older token are ignored; only the watcher's task looks the token up, so many fetchers failing
//!   at once make one lookup, and reports that arrive while a lookup runs are answered by it.
//! - **Rate-limited** by [`CheckGate`]: at most one `lookup-self` per token per
//!   [`CHECK_INTERVAL`] (5 s); a report inside that window is checked once, when it ends. A real
//!   permission denial on one path therefore costs one lookup per 5 s at most, however often
//!   its fetch is retried.
//! - **The verdict** ([`verdict`]): the lookup succeeds ⇒ alive (a real permission denial, which
//!   stays what it is: the fetch's own retries and errors); refused in the same token-shaped way
//!   ⇒ dead; anything else (Vault unreachable, a 5xx) ⇒ unknown, and nothing happens.
//!
//! The token itself never reaches a log; the accessor does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use vaultlet_shared::vault::VaultError;

use super::{ApiError, AuthToken, TokenApi};

/// At most one `lookup-self` per token in this window (agent.md §3.6).
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);

type Slot = watch::Sender<Option<Arc<str>>>;

/// Where the users of the auto-auth token report a refusal that may mean it is dead. Cheap to
/// clone; reporting never blocks and never fails.
#[derive(Clone)]
pub struct Refusals {
    slot: Arc<Slot>,
}

impl std::fmt::Debug for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Refusals")
    }
}

/// The receiving side of [`Refusals`], owned by auto-auth.
pub struct RefusalInbox {
    rx: watch::Receiver<Option<Arc<str>>>,
    /// Every [`Refusals`] is gone: nothing more can arrive.
    closed: bool,
}

impl RefusalInbox {
    /// Whether the latest report is about `token` (for tests of the reporters).
    #[cfg(test)]
    pub(crate) fn latest_is(&self, token: &str) -> bool {
        self.rx.borrow().as_deref() == Some(token)
    }
}

impl Refusals {
    /// A reporting handle and the inbox it feeds.
    pub fn channel() -> (Refusals, RefusalInbox) {
        let (tx, rx) = watch::channel(None);
        (
            Refusals { slot: Arc::new(tx) },
            RefusalInbox { rx, closed: false },
        )
    }

    /// Vault refused a request made with `token` in a way that may mean it is dead.
    pub fn report(&self, token: &str) {
        self.slot.send_replace(Some(Arc::from(token)));
    }

    /// A handle that reports refusals of `token` (what one template runner holds).
    pub fn for_token(&self, token: impl Into<Arc<str>>) -> TokenRefusals {
        TokenRefusals {
            refusals: self.clone(),
            token: token.into(),
        }
    }
}

/// [`Refusals`] bound to the token its holder sends.
#[derive(Clone)]
pub struct TokenRefusals {
    refusals: Refusals,
    token: Arc<str>,
}

impl std::fmt::Debug for TokenRefusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenRefusals")
    }
}

impl TokenRefusals {
    /// Vault refused a request made with the bound token in a way that may mean it is dead.
    pub fn report(&self) {
        self.refusals.report(&self.token);
    }
}

/// The rate limit of token checks, for one token (pure: the instant is passed in).
#[derive(Debug, Clone)]
pub struct CheckGate {
    interval: Duration,
    last: Option<Instant>,
    owed: bool,
}

impl CheckGate {
    /// A gate allowing one check per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            owed: false,
        }
    }

    /// A refusal reported at `now`: `true` ⇒ check now (a new window starts); `false` ⇒ a check
    /// ran less than `interval` ago, and one check is owed when its window ends.
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.last {
            Some(t) if now < t + self.interval => {
                self.owed = true;
                false
            }
            _ => {
                self.last = Some(now);
                self.owed = false;
                true
            }
        }
    }

    /// When the owed check is due, if one is owed.
    pub fn owed_at(&self) -> Option<Instant> {
        match (self.owed, self.last) {
            (true, Some(t)) => Some(t + self.interval),
            _ => None,
        }
    }
}

/// What `lookup-self` said about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Vault knows the token: the refusal was a real permission denial.
    Alive,
    /// Vault refused the lookup too: the token is revoked, expired or unknown.
    Dead,
    /// The lookup did not reach a verdict (Vault unreachable, a 5xx …).
    Unknown,
}

/// Whether a Vault call's error may mean the token is dead (a [`VaultError`] status that
/// `suggests_dead_token`; other errors, e.g. from test fakes, do not).
pub fn is_refusal(e: &ApiError) -> bool {
    e.downcast_ref::<VaultError>()
        .is_some_and(VaultError::suggests_dead_token)
}

/// The verdict of a `lookup-self` answer.
pub fn verdict(lookup: &Result<AuthToken, ApiError>) -> Verdict {
    match lookup {
        Ok(_) => Verdict::Alive,
        Err(e) if is_refusal(e) => Verdict::Dead,
        Err(_) => Verdict::Unknown,
    }
}

/// One `lookup-self` of `token`, logged by its accessor. Reports that arrive in `inbox` while it
/// runs are answered by it.
pub async fn check<A: TokenApi>(api: &A, token: &AuthToken, inbox: &mut RefusalInbox) -> Verdict {
    tracing::info!(target: "auth.handler", accessor = %token.accessor, "Vault refused a request made with the auto-auth token: checking the token with lookup-self");
    let answer = api.lookup_self(token.client_token()).await;
    let v = verdict(&answer);
    match (&v, &answer) {
        (Verdict::Alive, _) => {
            tracing::info!(target: "auth.handler", accessor = %token.accessor, "the auto-auth token is valid: the refusal was a permission denial");
        }
        (Verdict::Dead, Err(e)) => {
            tracing::warn!(target: "auth.handler", accessor = %token.accessor, error = %e, "the auto-auth token is no longer valid");
        }
        (_, Err(e)) => {
            tracing::warn!(target: "auth.handler", accessor = %token.accessor, error = %e, "cannot check the auto-auth token");
        }
        (_, Ok(_)) => {}
    }
    inbox.rx.borrow_and_update();
    v
}

/// Resolves once a reported refusal of `token` is confirmed by `lookup-self` (the token is
/// dead); otherwise never. Cancel-safe between checks: the gate and the inbox keep the state.
pub async fn until_dead<A: TokenApi>(
    api: &A,
    token: &AuthToken,
    inbox: &mut RefusalInbox,
    gate: &mut CheckGate,
) {
    loop {
        let owed = gate.owed_at();
        let check_now = tokio::select! {
            changed = inbox.rx.changed(), if !inbox.closed => match changed {
                Ok(()) => {
                    let about_this =
                        inbox.rx.borrow_and_update().as_deref() == Some(token.client_token());
                    about_this && gate.admit(Instant::now())
                }
                Err(_) => {
                    inbox.closed = true;
                    false
                }
            },
            () = tokio::time::sleep_until(owed.unwrap_or_else(Instant::now)), if owed.is_some() => {
                gate.admit(Instant::now())
            }
            else => {
                std::future::pending::<()>().await;
                false
            }
        };
        if check_now && check(api, token, inbox).await == Verdict::Dead {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn refused(status: u16, msg: &str) -> ApiError {
        Box::new(VaultError::Status {
            method: "GET".into(),
            path: "auth/token/lookup-self".into(),
            status,
            errors: vec![msg.into()],
        })
    }

    fn token(t: &str) -> AuthToken {
        AuthToken::new(t, "acc", Duration::from_secs(3600), true, vec![], "service")
    }

    /// Lookups answer alive or dead; counts them.
    struct Fake {
        dead: bool,
        lookups: Cell<usize>,
    }

    impl TokenApi for Fake {
        async fn login(&self, _: &str, _: &serde_json::Value) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
        async fn lookup_self(&self, t: &str) -> Result<AuthToken, ApiError> {
            self.lookups.set(self.lookups.get() + 1);
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.dead {
                Err(refused(403, "permission denied"))
            } else {
                Ok(token(t))
            }
        }
        async fn renew_self(&self, _: &str) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&Ok(token("t"))), Verdict::Alive);
        assert_eq!(
            verdict(&Err(refused(403, "permission denied"))),
            Verdict::Dead
        );
        assert_eq!(verdict(&Err(refused(400, "bad token"))), Verdict::Dead);
        assert_eq!(verdict(&Err(refused(503, "sealed"))), Verdict::Unknown);
        assert_eq!(verdict(&Err("connection refused".into())), Verdict::Unknown);
        assert!(is_refusal(&refused(403, "permission denied")));
        assert!(!is_refusal(&refused(404, "")));
    }

    #[test]
    fn the_gate_admits_one_check_per_interval_and_owes_one_for_later_reports() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut g = CheckGate::new(CHECK_INTERVAL);
        assert_eq!(g.owed_at(), None);
        assert!(g.admit(t0), "the first report is checked at once");
        assert_eq!(g.owed_at(), None);
        assert!(!g.admit(t0 + s), "inside the window");
        assert!(!g.admit(t0 + 4 * s));
        assert_eq!(g.owed_at(), Some(t0 + CHECK_INTERVAL), "one check owed");
        assert!(g.admit(t0 + CHECK_INTERVAL), "the window ended");
        assert_eq!(g.owed_at(), None, "the owed check was taken");
        assert!(!g.admit(t0 + 6 * s));
        assert!(g.admit(t0 + 11 * s));
    }

    #[tokio::test(start_paused = true)]
    async fn many_reports_at_once_make_one_lookup() {
        let api = Fake {
            dead: true,
            lookups: Cell::new(0),
        };
        let (refusals, mut inbox) = Refusals::channel();
        let t = token("tok");
        let fetchers: Vec<TokenRefusals> = (0..50).map(|_| refusals.for_token("tok")).collect();
        for f in &fetchers {
            f.report();
        }
        let mut gate = CheckGate::new(CHECK_INTERVAL);
        let t0 = Instant::now();
        until_dead(&api, &t, &mut inbox, &mut gate).await;
        assert_eq!(api.lookups.get(), 1);
        assert!(Instant::now() - t0 < Duration::from_millis(100), "at once");
    }

    #[tokio::test(start_paused = true)]
    async fn an_alive_token_is_looked_up_at_most_once_per_interval() {
        let api = Fake {
            dead: false,
            lookups: Cell::new(0),
        };
        let (refusals, mut inbox) = Refusals::channel();
        let t = token("tok");
        // A fetch denied on one path, retried every 250 ms for 12 s.
        let reporter = async {
            for _ in 0..48 {
                refusals.report("tok");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        };
        let mut gate = CheckGate::new(CHECK_INTERVAL);
        tokio::select! {
            () = until_dead(&api, &t, &mut inbox, &mut gate) => panic!("an alive token is never dead"),
            () = reporter => {}
        }
        // Checks at 0, 5 and 10 s.
        assert_eq!(api.lookups.get(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn reports_about_another_token_are_ignored_and_a_late_report_is_checked_when_owed() {
        let api = Fake {
            dead: true,
            lookups: Cell::new(0),
        };
        let (refusals, mut inbox) = Refusals::channel();
        let t = token("new");
        refusals.report("old");
        let mut gate = CheckGate::new(CHECK_INTERVAL);
        // A check ran 1 s ago (found the token alive, say): the next report waits for the window.
        let t0 = Instant::now();
        assert!(gate.admit(t0));
        tokio::time::advance(Duration::from_secs(1)).await;
        let late = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert_eq!(
                api.lookups.get(),
                0,
                "the old token's report made no lookup"
            );
            refusals.report("new");
        };
        let (_, ()) = tokio::join!(until_dead(&api, &t, &mut inbox, &mut gate), late);
        assert_eq!(api.lookups.get(), 1);
        let took = Instant::now() - t0;
        assert!(
            took >= CHECK_INTERVAL && took < CHECK_INTERVAL + Duration::from_millis(100),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_reporter_gone_it_waits_forever_without_spinning() {
        let api = Fake {
            dead: true,
            lookups: Cell::new(0),
        };
        let (refusals, mut inbox) = Refusals::channel();
        drop(refusals);
        let mut gate = CheckGate::new(CHECK_INTERVAL);
        let r = tokio::time::timeout(
            Duration::from_secs(60),
            until_dead(&api, &token("t"), &mut inbox, &mut gate),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(api.lookups.get(), 0);
    }
}
