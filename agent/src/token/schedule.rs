//! The lifetime-watcher schedule of agent.md §3.4 as pure functions: when to renew a token next,
//! when to give up and log in again, and how to back off after a failed renewal.
//!
//! Random draws (`u ∈ [0, 1)`) are parameters, so every rule is tested without sleeping or a clock.

use std::time::Duration;

/// First sleep after a failed renewal.
pub const RENEW_ERROR_INITIAL: Duration = Duration::from_secs(10);
/// Longest sleep after failed renewals.
pub const RENEW_ERROR_MAX: Duration = Duration::from_secs(300);

/// Grace period for a lease of duration `d`: `0.1·d + u·0.1·d` (10–20 % of `d`; 0 when `d` is 0).
pub fn grace_for(d: Duration, u: f64) -> Duration {
    if d.is_zero() {
        return Duration::ZERO;
    }
    let tenth = d.as_secs_f64() * 0.1;
    Duration::from_secs_f64(tenth + u.clamp(0.0, 1.0) * tenth)
}

/// What the watcher does after it learned the remaining lifetime of its token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next {
    /// Sleep this long, then renew (or, for a non-renewable token, recount).
    SleepThenRenew(Duration),
    /// The token is about to expire (or its max TTL caps it): the caller logs in again.
    Relogin,
}

/// The watcher's state between renewals: the current grace and the previous remaining lifetime.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifetimeSchedule {
    grace: Duration,
    prior: Duration,
}

impl LifetimeSchedule {
    /// A schedule for a token just obtained with lease duration `initial_ttl` (grace draw `u`).
    pub fn new(initial_ttl: Duration, u: f64) -> Self {
        Self {
            grace: grace_for(initial_ttl, u),
            prior: initial_ttl,
        }
    }

    /// The grace currently in force.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// One step of agent.md §3.4: given the `remaining` lifetime (the renewal's answer, or the countdown of a
    /// non-renewable token), decide the next wake-up. `u` is the draw used if the grace is recomputed
    /// (it is only while the lifetime keeps growing).
    pub fn step(&mut self, remaining: Duration, u: f64) -> Next {
        if remaining > self.prior {
            self.grace = grace_for(remaining, u);
        }
        let sleep = remaining.mul_f64(2.0 / 3.0) + self.grace / 3;
        self.prior = remaining;
        if remaining <= self.grace || remaining.saturating_sub(sleep) <= self.grace {
            Next::Relogin
        } else {
            Next::SleepThenRenew(sleep)
        }
    }
}

/// Sleep before retry number `attempt` (0-based) of a failed renewal: 10s × 2^attempt, capped at 5m,
/// with ±50 % jitter (`u = 0.5` is the centre), or `None` once it would run past `remaining`, the
/// lifetime the old token still has (then the watcher is done with an error and the caller re-logs in).
pub fn renew_error_backoff(attempt: u32, u: f64, remaining: Duration) -> Option<Duration> {
    let base = RENEW_ERROR_INITIAL
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(RENEW_ERROR_MAX);
    let factor = 0.5 + u.clamp(0.0, 1.0); // 0.5 ..= 1.5
    let sleep = base.mul_f64(factor);
    (sleep < remaining).then_some(sleep)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn grace_is_ten_to_twenty_percent() {
        assert_eq!(grace_for(secs(10.0), 0.0), secs(1.0));
        assert_eq!(grace_for(secs(10.0), 0.5), secs(1.5));
        assert!(grace_for(secs(10.0), 0.999_999) < secs(2.0));
        assert_eq!(grace_for(Duration::ZERO, 0.7), Duration::ZERO);
    }

    #[test]
    fn renews_at_about_seventy_percent_of_ttl() {
        // T = 9s, grace drawn at 0 ⇒ 0.9s; sleep = 6 + 0.3 = 6.3s.
        let mut s = LifetimeSchedule::new(secs(9.0), 0.0);
        assert_eq!(s.step(secs(9.0), 0.0), Next::SleepThenRenew(secs(6.3)));
        // Draw 0.999 ⇒ grace ≈ 1.8s ⇒ sleep ≈ 6.6s: 70–73 % of T.
        let mut s = LifetimeSchedule::new(secs(9.0), 0.999);
        match s.step(secs(9.0), 0.0) {
            Next::SleepThenRenew(d) => assert!(d > secs(6.59) && d < secs(6.61), "{d:?}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn observed_oracle_max_ttl_forces_relogin() {
        // Observed: T = 9s, max TTL 30s; renewals return 9, 9, 9, 9, then 3.8 ⇒ re-login at once.
        let mut s = LifetimeSchedule::new(secs(9.0), 0.5); // grace 1.35s
        for _ in 0..4 {
            assert!(matches!(s.step(secs(9.0), 0.5), Next::SleepThenRenew(_)));
        }
        assert_eq!(s.step(secs(3.8), 0.5), Next::Relogin);
    }

    #[test]
    fn relogin_threshold_is_four_graces() {
        // R ≤ 4·grace ⇔ R − (2/3·R + grace/3) ≤ grace.
        let mut s = LifetimeSchedule::new(secs(10.0), 0.0); // grace 1s
        assert!(matches!(s.step(secs(4.01), 0.0), Next::SleepThenRenew(_)));
        let mut s = LifetimeSchedule::new(secs(10.0), 0.0);
        assert_eq!(s.step(secs(3.99), 0.0), Next::Relogin);
    }

    #[test]
    fn grace_grows_only_while_ttl_grows() {
        let mut s = LifetimeSchedule::new(secs(10.0), 0.0);
        s.step(secs(100.0), 0.0);
        assert_eq!(s.grace(), secs(10.0));
        s.step(secs(50.0), 0.9);
        assert_eq!(s.grace(), secs(10.0), "a shrinking TTL keeps the grace");
    }

    #[test]
    fn zero_ttl_relogs_immediately() {
        let mut s = LifetimeSchedule::new(Duration::ZERO, 0.3);
        assert_eq!(s.step(Duration::ZERO, 0.3), Next::Relogin);
    }

    #[test]
    fn renew_error_backoff_doubles_and_stops_at_remaining() {
        let far = secs(10_000.0);
        assert_eq!(renew_error_backoff(0, 0.5, far), Some(secs(10.0)));
        assert_eq!(renew_error_backoff(1, 0.5, far), Some(secs(20.0)));
        assert_eq!(renew_error_backoff(0, 0.0, far), Some(secs(5.0)));
        assert_eq!(renew_error_backoff(0, 1.0, far), Some(secs(15.0)));
        assert_eq!(renew_error_backoff(9, 0.5, far), Some(secs(300.0)));
        assert_eq!(renew_error_backoff(0, 0.5, secs(9.0)), None);
        assert_eq!(renew_error_backoff(0, 0.5, secs(10.5)), Some(secs(10.0)));
    }
}
