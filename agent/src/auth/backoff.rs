//! The auto-auth backoff of agent.md §3.3: how long to sleep after each failed login or renewal.
//!
//! Pure: the random draws are passed in, so the schedule is tested without sleeping.
//! `j(t) = floor(t × (1 − 0.25 × u))` with `u ∈ [0, 1)`; after a reset the current value is `j(min)`;
//! a failure sleeps the current value, then the next one becomes `j(min(2 × current, max))`.

use std::time::Duration;

/// Default `min_backoff` (agent.md §1.6).
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Default `max_backoff` (agent.md §1.6).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The exponential backoff of the login loop, with up to 25 % downward jitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthBackoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

/// Shortens `t` by up to 25 %: `floor(t × (1 − 0.25 × u))`, at nanosecond resolution.
pub fn jitter(t: Duration, u: f64) -> Duration {
    let u = u.clamp(0.0, 1.0);
    let nanos = t.as_nanos() as f64 * (1.0 - 0.25 * u);
    Duration::from_nanos(nanos.floor() as u64)
}

impl AuthBackoff {
    /// A backoff between `min` and `max` (a `max` below `min` is raised to `min`), reset with draw `u`.
    pub fn new(min: Duration, max: Duration, u: f64) -> Self {
        let max = max.max(min);
        Self {
            min,
            max,
            current: jitter(min, u),
        }
    }

    /// The sleep the next failure will take.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Records a failure: returns how long to sleep now, and grows the next sleep using draw `u`.
    pub fn fail(&mut self, u: f64) -> Duration {
        let sleep = self.current;
        let doubled = self.current.saturating_mul(2).min(self.max);
        self.current = jitter(doubled, u);
        sleep
    }

    /// A successful login: back to `j(min)` using draw `u`.
    pub fn reset(&mut self, u: f64) {
        self.current = jitter(self.min, u);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn jitter_takes_off_at_most_a_quarter() {
        assert_eq!(jitter(Duration::from_secs(4), 0.0), Duration::from_secs(4));
        assert_eq!(
            jitter(Duration::from_secs(4), 0.5),
            Duration::from_millis(3500)
        );
        let almost = jitter(Duration::from_secs(4), 0.999_999);
        assert!(almost > Duration::from_secs(3) && almost < Duration::from_millis(3001));
    }

    #[test]
    fn doubles_up_to_max_without_jitter() {
        let mut b = AuthBackoff::new(S, Duration::from_secs(10), 0.0);
        let sleeps: Vec<u64> = (0..6).map(|_| b.fail(0.0).as_secs()).collect();
        assert_eq!(sleeps, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_compounds_on_the_jittered_value() {
        // Draw 0.5 every time: 1s×0.875, then 2×that×0.875 …
        let mut b = AuthBackoff::new(S, Duration::from_secs(300), 0.5);
        assert_eq!(b.fail(0.5), Duration::from_millis(875));
        assert_eq!(b.fail(0.5), Duration::from_nanos(1_531_250_000));
        assert_eq!(b.fail(0.5), Duration::from_nanos(2_679_687_500));
    }

    #[test]
    fn sleeps_stay_within_the_spec_envelope() {
        // Any draw: sleep n (0-based) lies in [0.75 × min(2^n, max) × 0.75^n … min(2^n, max)].
        let mut b = AuthBackoff::new(S, Duration::from_secs(5), 0.999);
        let mut upper = 1.0f64;
        for _ in 0..8 {
            let s = b.fail(0.999).as_secs_f64();
            assert!(s <= upper + 1e-9, "{s} > {upper}");
            assert!(s > 0.0);
            upper = (upper * 2.0).min(5.0);
        }
    }

    #[test]
    fn reset_goes_back_to_min() {
        let mut b = AuthBackoff::new(S, Duration::from_secs(300), 0.0);
        b.fail(0.0);
        b.fail(0.0);
        assert_eq!(b.current(), Duration::from_secs(4));
        b.reset(0.0);
        assert_eq!(b.current(), S);
        assert_eq!(b.fail(0.0), S);
    }

    #[test]
    fn max_below_min_is_raised() {
        let mut b = AuthBackoff::new(Duration::from_secs(3), S, 0.0);
        assert_eq!(b.fail(0.0), Duration::from_secs(3));
        assert_eq!(b.fail(0.0), Duration::from_secs(3));
    }
}
