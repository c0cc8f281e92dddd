//! Waiting for a condition in a test: poll it at a short interval until it holds or a deadline
//! passes. A fixed sleep is either slow (long enough for a loaded machine) or flaky (too short on
//! one); polling is as quick as the condition and as patient as the deadline.

use std::time::{Duration, Instant};

/// How often a condition is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What a polled condition gives: a `bool` (ready when `true`) or an `Option` (ready when `Some`,
/// whose value the wait returns — a file's content, an exit status…).
pub trait Ready {
    type Value;
    fn ready(self) -> Option<Self::Value>;
}

impl Ready for bool {
    type Value = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Value = T;
    fn ready(self) -> Option<T> {
        self
    }
}

/// Polls `condition` every [`POLL_INTERVAL`] until it is ready, for at most `timeout` (it is
/// polled at least once, and once more at the deadline). `None` when time ran out: the caller
/// then says what it waited for, with what helps (an agent's log, say). A condition may panic
/// itself to stop early (a process that exited when it should be running).
pub fn within<R: Ready>(timeout: Duration, mut condition: impl FnMut() -> R) -> Option<R::Value> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition().ready() {
            return Some(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}

/// [`within`], failing the test when time runs out: the panic names the timeout and points at
/// the caller's line.
#[track_caller]
pub fn eventually<R: Ready>(timeout: Duration, condition: impl FnMut() -> R) -> R::Value {
    match within(timeout, condition) {
        Some(value) => value,
        None => panic!("the awaited condition did not hold within {timeout:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn polls_until_ready_and_returns_the_value() {
        let calls = Cell::new(0);
        let got = eventually(Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            (calls.get() == 3).then_some("third")
        });
        assert_eq!(got, "third");
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let t0 = Instant::now();
        assert_eq!(within(Duration::from_millis(100), || false), None);
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[test]
    #[should_panic(expected = "did not hold within 50ms")]
    fn eventually_fails_with_the_timeout() {
        eventually(Duration::from_millis(50), || false);
    }
}
