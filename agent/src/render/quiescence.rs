//! Per-template quiescence, `wait { min max }` (agent.md §5.7): once every template has been
//! rendered once, a change to a template's output is held back until `min` has passed without a
//! further change, but never longer than `max` after the first held change. Pure: the runner passes
//! the clock in.

use std::time::Duration;

use tokio::time::Instant;

/// The hold state of one template with a `wait`.
#[derive(Debug, Clone)]
pub struct Quiescence {
    min: Duration,
    max: Duration,
    pending: Option<Pending>,
}

#[derive(Debug, Clone)]
struct Pending {
    text: Vec<u8>,
    first: Instant,
    last: Instant,
}

/// What to do with a changed output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it now.
    Write,
    /// Hold it; look again at this instant.
    HoldUntil(Instant),
}

impl Quiescence {
    /// `max` below `min` is raised to `min` (the config loader already refuses min > max).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            pending: None,
        }
    }

    /// Offers output that differs from the destination's content.
    pub fn offer(&mut self, now: Instant, text: &[u8]) -> Verdict {
        let p = self.pending.get_or_insert_with(|| Pending {
            text: text.to_vec(),
            first: now,
            last: now,
        });
        if p.text != text {
            p.text = text.to_vec();
            p.last = now;
        }
        let deadline = (p.last + self.min).min(p.first + self.max);
        if now >= deadline {
            self.pending = None;
            Verdict::Write
        } else {
            Verdict::HoldUntil(deadline)
        }
    }

    /// The output went back to what the destination holds: nothing is pending any more.
    pub fn settle(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_single_change_waits_min() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(2 * S, 10 * S);
        assert_eq!(q.offer(t0, b"a"), Verdict::HoldUntil(t0 + 2 * S));
        assert_eq!(q.offer(t0 + S, b"a"), Verdict::HoldUntil(t0 + 2 * S));
        assert_eq!(q.offer(t0 + 2 * S, b"a"), Verdict::Write);
    }

    #[test]
    fn further_changes_restart_min_but_max_caps_the_hold() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(2 * S, 5 * S);
        assert_eq!(q.offer(t0, b"a"), Verdict::HoldUntil(t0 + 2 * S));
        assert_eq!(q.offer(t0 + S, b"b"), Verdict::HoldUntil(t0 + 3 * S));
        assert_eq!(q.offer(t0 + 2 * S, b"c"), Verdict::HoldUntil(t0 + 4 * S));
        assert_eq!(q.offer(t0 + 4 * S, b"d"), Verdict::HoldUntil(t0 + 5 * S));
        assert_eq!(q.offer(t0 + 5 * S, b"e"), Verdict::Write);
        // A new hold starts fresh after a write.
        assert_eq!(q.offer(t0 + 6 * S, b"f"), Verdict::HoldUntil(t0 + 8 * S));
    }

    #[test]
    fn settling_forgets_the_hold() {
        let t0 = Instant::now();
        let mut q = Quiescence::new(2 * S, 8 * S);
        q.offer(t0, b"a");
        q.settle();
        assert_eq!(q.offer(t0 + 3 * S, b"b"), Verdict::HoldUntil(t0 + 5 * S));
    }
}
