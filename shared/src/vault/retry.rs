//! HTTP-level retries of one request, as the Go API client does them (agent.md §2.3): retry on
//! connection errors (not certificate failures), 412, 429 and 5xx except 501; sleep
//! `attempt × U[min, max]` (1 s, 1.5 s by default), or what `Retry-After` says on 429/503 (at
//! most [`MAX_RETRY_AFTER`]).

use std::time::Duration;

/// Longest `Retry-After` honoured: a server (or a proxy in front of it) asking for more is
/// waited on this long instead (docs/reliability.md, "Bounds"); Go's client has no cap.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Which answers are retried and how long to wait.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub wait_min: Duration,
    pub wait_max: Duration,
}

impl RetryPolicy {
    /// Whether an answer with this status is retried.
    pub fn retry_status(status: u16) -> bool {
        matches!(status, 412 | 429) || (500..600).contains(&status) && status != 501
    }

    /// The sleep before retry number `attempt` (1-based), given a uniform draw `u` in [0, 1)
    /// and the answer's `Retry-After` seconds (honoured on 429 and 503).
    pub fn delay(
        &self,
        attempt: u32,
        u: f64,
        status: Option<u16>,
        retry_after: Option<u64>,
    ) -> Duration {
        if let (Some(429 | 503), Some(secs)) = (status, retry_after) {
            return Duration::from_secs(secs).min(MAX_RETRY_AFTER);
        }
        let span = self.wait_max.saturating_sub(self.wait_min).as_secs_f64();
        let one = self.wait_min.as_secs_f64() + span * u.clamp(0.0, 1.0);
        Duration::from_secs_f64(one * f64::from(attempt))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statuses_are_retried() {
        for s in [412, 429, 500, 502, 503, 504, 599] {
            assert!(RetryPolicy::retry_status(s), "{s}");
        }
        for s in [200, 204, 400, 403, 404, 501] {
            assert!(!RetryPolicy::retry_status(s), "{s}");
        }
    }

    #[test]
    fn delay_grows_with_the_attempt_within_the_jitter() {
        let p = RetryPolicy {
            max_retries: 2,
            wait_min: Duration::from_secs(1),
            wait_max: Duration::from_millis(1500),
        };
        assert_eq!(p.delay(1, 0.0, None, None), Duration::from_secs(1));
        assert_eq!(p.delay(1, 1.0, None, None), Duration::from_millis(1500));
        assert_eq!(
            p.delay(2, 0.5, Some(500), None),
            Duration::from_millis(2500)
        );
        assert_eq!(p.delay(1, 0.5, Some(429), Some(7)), Duration::from_secs(7));
        assert_eq!(
            p.delay(1, 0.0, Some(500), Some(7)),
            Duration::from_secs(1),
            "Retry-After only on 429/503"
        );
        assert_eq!(
            p.delay(1, 0.5, Some(503), Some(u64::MAX)),
            MAX_RETRY_AFTER,
            "Retry-After is capped"
        );
    }
}
