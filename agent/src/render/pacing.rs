//! When, exactly, a dependency with a jittered refresh (agent.md §5.4: `span × f`, `f` in
//! `[T − 0.05, T + 0.05]`) is fetched again, so that the fetches of one agent share their
//! wake-ups.
//!
//! Upstream draws `f` per fetch and sleeps from the end of each fetch, so an agent's dependencies
//! drift apart and every one of them wakes the process on its own. Each wake-up of an idle sidecar
//! costs far more than the work it does (cold caches; measured ≈ 160 µs against ≈ 10 µs of
//! syscalls), so here:
//!
//! - the next fetch is at a point of a grid (a quarter of the band, at least 64 ms) inside the
//!   band `base + span × [T − 0.05, T + 0.05]`, where `base` is the instant the fetch was
//!   *scheduled* for. Of the points inside, the one a per-process seed ranks highest wins: a
//!   uniform pick, the same for every dependency whose band holds the same points. So the
//!   dependencies fetched together stay together, chains whose bands overlap merge, and two
//!   agents still pick independently, which is what the jitter is for;
//! - grid points are multiples of 64 ms from the tokio runtime's own time origin when
//!   [`mark_runtime_start`] was called just before the runtime was built. tokio keeps a timer
//!   more than 64 ms away in a coarser wheel level whose slot starts up to 64 ms early; a
//!   deadline on a slot boundary fires at that first wake instead of a second one 1–63 ms later.
//!   Without the mark everything still holds except that saving.
//!
//! Every fetch stays inside the band agent.md §5.4 gives it; only the jitter's distribution within the
//! band is coarser, and the sleep counts from the fetch's scheduled start rather than its end
//! (a difference of one request's duration).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::schedule::Jitter;

/// tokio's timer wheel: level-0 slots are 1 ms, so a level-1 slot spans 64 ms.
const WHEEL_SLOT: Duration = Duration::from_millis(64);

/// Longer waits are cut to this (a lease of centuries must not overflow an `Instant`; tokio
/// cannot sleep past ~2 years in one go anyway, and re-arms).
const MAX_SPAN: Duration = Duration::from_secs(10 * 365 * 86_400);

static RUNTIME_START: OnceLock<Instant> = OnceLock::new();

/// Half the width of the re-drawn refresh after a held answer, as a fraction of the span.
const HELD_HALF_WIDTH: f64 = 0.3;
/// Keeps the held-answer draw apart from the grid ranking of the same slot.
const HELD_SALT: u64 = 0x9e6c_63d0_676a_9a99;

/// Records "now" as the time origin of the tokio runtime about to be built. Call it right
/// before `Builder::build()`; only the first call counts.
pub fn mark_runtime_start() {
    let _ = RUNTIME_START.set(Instant::now());
}

/// The schedule of one process's jittered refreshes (cheap to copy).
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    origin: Instant,
    seed: u64,
}

impl Pacer {
    /// A pacer for this process: the runtime's time origin if it was marked (else the first
    /// call's now, shared by later calls) and a random seed drawn once.
    pub fn for_process() -> Pacer {
        static SEED: OnceLock<u64> = OnceLock::new();
        Pacer {
            origin: *RUNTIME_START.get_or_init(Instant::now),
            seed: *SEED.get_or_init(rand::random),
        }
    }

    pub fn new(origin: Instant, seed: u64) -> Pacer {
        Pacer { origin, seed }
    }

    /// The start of the 64 ms slot holding `t`: the base of a chain's first fetch, shared by
    /// every dependency first fetched within that slot.
    pub fn slot(&self, t: Instant) -> Instant {
        let since = t.saturating_duration_since(self.origin);
        self.origin + floor_to(since, WHEEL_SLOT)
    }

    /// [`Pacer::next`], unless that is already past at `now` (the fetch outlasted its period,
    /// e.g. through retries): then counted from `now`'s slot.
    pub fn next_after(&self, base: Instant, jitter: Jitter, now: Instant) -> Instant {
        let at = self.next(base, jitter);
        if at < now {
            self.next(self.slot(now), jitter)
        } else {
            at
        }
    }

    /// The next fetch after one that was retried or held back while Vault was unavailable
    /// (agent.md §5.11): a full band after `now`, the end of that fetch, on this process's grid.
    /// [`Pacer::next_after`] would keep the old schedule point, which can fall a moment after
    /// the recovered fetch and read everything again.
    pub fn next_after_recovery(&self, jitter: Jitter, now: Instant) -> Instant {
        self.next(self.slot(now), jitter)
    }

    /// The next fetch after one whose answer came [`Pacer::held_answer`] late (the server held
    /// it, e.g. while it became active after an unseal; agent.md §5.11): `span × f` after `now`'s
    /// slot with `f` drawn uniformly in `[T − 0.3, T + 0.3]` (0.6–1.2 for the default 0.9), on the
    /// 64 ms grid. Its mean is the regular band's (`span × T`), so an agent reads no more often
    /// than it would have; its width re-spreads agents whose answers came back together. The draw
    /// is this process's for `now`'s slot, so fetches answered together stay together.
    pub fn next_after_held_answer(&self, jitter: Jitter, now: Instant) -> Instant {
        let span = jitter.span.min(MAX_SPAN);
        let slot = self.slot(now);
        let since = slot.saturating_duration_since(self.origin);
        let u = unit(mix(self.seed ^ HELD_SALT ^ since.as_millis() as u64));
        let f = (jitter.threshold - HELD_HALF_WIDTH + 2.0 * HELD_HALF_WIDTH * u).max(0.0);
        self.origin + floor_to(since + span.mul_f64(f), WHEEL_SLOT)
    }

    /// Whether an answer that took `took` came back late enough to have been held by the server:
    /// longer than half the regular band (`span / 20`: 0.5 s for a 10 s refresh, 15 s for the
    /// default 5m), which is more than the band can absorb and far more than a read takes.
    pub fn held_answer(jitter: Jitter, took: Duration) -> bool {
        took > jitter.span.min(MAX_SPAN) / 20
    }

    /// The instant to fetch again, for a fetch scheduled at `base`: of the grid points inside
    /// the band, the one this process's seed ranks highest (a uniform pick among them, and the
    /// same pick for every chain whose band holds the same points, so chains that come close
    /// merge); the plain draw `base + span × f` when no grid point is inside.
    pub fn next(&self, base: Instant, jitter: Jitter) -> Instant {
        let jitter = Jitter {
            span: jitter.span.min(MAX_SPAN),
            ..jitter
        };
        let since = base.saturating_duration_since(self.origin);
        let (lo, hi) = jitter.bounds();
        let (lo, hi) = (since + lo, since + hi);
        let grid = grid_for(hi - lo);
        let mut best: Option<(u64, Duration)> = None;
        let mut p = floor_to(lo + grid - Duration::from_nanos(1), grid);
        // At most ~9 points: the grid is at least a quarter of the band less one slot.
        for _ in 0..16 {
            if p > hi {
                break;
            }
            let rank = mix(self.seed ^ p.as_millis() as u64);
            if best.is_none_or(|(r, _)| rank > r) {
                best = Some((rank, p));
            }
            p += grid;
        }
        match best {
            Some((_, p)) => self.origin + p,
            None => {
                let u = unit(mix(self.seed ^ since.as_millis() as u64));
                base + jitter.at(u)
            }
        }
    }
}

/// A quarter of the band, as a multiple of the wheel slot, at least one slot.
fn grid_for(band: Duration) -> Duration {
    floor_to(band / 4, WHEEL_SLOT).max(WHEEL_SLOT)
}

fn floor_to(d: Duration, step: Duration) -> Duration {
    let step = step.as_nanos();
    let n = d.as_nanos() / step * step;
    Duration::new((n / 1_000_000_000) as u64, (n % 1_000_000_000) as u32)
}

/// splitmix64's finaliser: a well-spread 64-bit hash of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) from a hash.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jitter(span_ms: u64) -> Jitter {
        Jitter {
            span: Duration::from_millis(span_ms),
            threshold: 0.9,
        }
    }

    fn ms(p: &Pacer, t: Instant) -> u128 {
        (t - p.origin).as_millis()
    }

    #[test]
    fn dependencies_fetched_together_stay_together() {
        let p = Pacer::new(Instant::now(), 7);
        // Two first fetches 20 ms apart in the same 64 ms slot share a base.
        let a = p.slot(p.origin + Duration::from_millis(130));
        let b = p.slot(p.origin + Duration::from_millis(150));
        assert_eq!(a, b);
        assert_eq!(ms(&p, a), 128);
        let (mut x, mut y) = (a, b);
        for _ in 0..50 {
            x = p.next(x, jitter(2000));
            y = p.next(y, jitter(2000));
            assert_eq!(x, y);
        }
    }

    #[test]
    fn every_fetch_stays_in_the_band_on_a_wheel_slot() {
        let p = Pacer::new(Instant::now(), 42);
        for span in [2000u64, 10_000, 300_000, 86_400_000] {
            let mut base = p.slot(p.origin + Duration::from_millis(5));
            for _ in 0..200 {
                let next = p.next(base, jitter(span));
                let waited = (next - base).as_secs_f64() * 1000.0;
                let span = span as f64;
                assert!(
                    waited >= span * 0.85 - 1e-6 && waited <= span * 0.95 + 1e-6,
                    "{waited} ms of {span}"
                );
                assert_eq!(ms(&p, next) % 64, 0, "on a 64 ms boundary");
                base = next;
            }
        }
    }

    #[test]
    fn the_draw_still_spreads_over_the_band() {
        // 5 min: band 30 s, grid 7.488 s ⇒ 4 or 5 points; all of them get used.
        let p = Pacer::new(Instant::now(), 1);
        let mut seen = std::collections::BTreeSet::new();
        let mut base = p.origin;
        for _ in 0..400 {
            let next = p.next(base, jitter(300_000));
            seen.insert(ms(&p, next) - ms(&p, base));
            base = next;
        }
        assert!(seen.len() >= 4, "{seen:?}");
        // Two processes (seeds) do not move in lockstep.
        let q = Pacer::new(p.origin, 2);
        let (mut a, mut b) = (p.origin, q.origin);
        let mut same = 0;
        for _ in 0..100 {
            a = p.next(a, jitter(300_000));
            b = q.next(b, jitter(300_000));
            same += usize::from(ms(&p, a) == ms(&q, b));
        }
        assert!(same < 100, "independent seeds drew the same schedule");
    }

    #[test]
    fn chains_whose_bands_overlap_merge() {
        let p = Pacer::new(Instant::now(), 3);
        let mut a = p.slot(p.origin);
        let mut b = p.slot(p.origin + Duration::from_millis(70));
        assert_ne!(a, b);
        let mut met = None;
        for i in 0..10 {
            a = p.next(a, jitter(2000));
            b = p.next(b, jitter(2000));
            if a == b {
                met = Some(i);
                break;
            }
        }
        assert!(met.is_some(), "two chains 64 ms apart never met");
    }

    #[test]
    fn a_late_fetch_counts_from_now() {
        let p = Pacer::new(Instant::now(), 11);
        let base = p.slot(p.origin);
        let on_time = base + Duration::from_millis(10);
        assert_eq!(
            p.next_after(base, jitter(2000), on_time),
            p.next(base, jitter(2000))
        );
        let late = base + Duration::from_secs(30); // retries took 30 s
        let next = p.next_after(base, jitter(2000), late);
        let waited = (next - p.slot(late)).as_millis();
        assert!(
            (1700..=1900).contains(&waited),
            "{waited} ms after now's slot"
        );
    }

    #[test]
    fn a_recovered_fetch_waits_a_full_band_on_the_same_grid() {
        let p = Pacer::new(Instant::now(), 13);
        let j = jitter(10_000);
        let base = p.slot(p.origin);
        // The fetch due at `base` was retried until Vault came back 4 s later.
        let now = base + Duration::from_millis(4_000);
        let old = p.next_after(base, j, now);
        let (lo, hi) = j.bounds();
        assert!(
            old < now + lo,
            "the old point comes {:?} after the recovery",
            old - now
        );
        let next = p.next_after_recovery(j, now);
        assert!(
            next >= now + lo - WHEEL_SLOT && next <= now + hi,
            "{:?} after the recovery",
            next - now
        );
        assert_eq!(ms(&p, next) % 64, 0, "on the grid");
        // Fetches that recovered together (same slot) stay together.
        let other = p.next_after_recovery(j, now + Duration::from_millis(20));
        assert_eq!(
            ms(&p, now) / 64,
            ms(&p, now + Duration::from_millis(20)) / 64
        );
        assert_eq!(next, other);
    }

    #[test]
    fn absurd_leases_neither_panic_nor_spin() {
        let p = Pacer::new(Instant::now(), 5);
        let base = p.slot(p.origin + Duration::from_millis(900));
        for secs in [i64::MAX as u64, 1 << 40, 400 * 365 * 86_400] {
            let j = Jitter {
                span: Duration::from_secs(secs),
                threshold: 0.9,
            };
            let next = p.next(base, j);
            let waited = next - base;
            assert!(
                waited >= MAX_SPAN.mul_f64(0.85) && waited <= MAX_SPAN.mul_f64(0.95),
                "{waited:?}"
            );
        }
        let zero = Jitter {
            span: Duration::ZERO,
            threshold: 0.9,
        };
        assert_eq!(p.next(base, zero), base, "an expired certificate: at once");
    }

    #[test]
    fn a_band_narrower_than_the_grid_keeps_the_exact_draw() {
        let p = Pacer::new(Instant::now(), 9);
        let base = p.origin + Duration::from_millis(10);
        let next = p.next(base, jitter(100)); // band 85..95 ms: no 64 ms point inside
        let waited = (next - base).as_secs_f64() * 1000.0;
        assert!((85.0..=95.0).contains(&waited), "{waited}");
    }

    #[test]
    fn a_held_answer_redraws_over_a_wider_band_with_the_same_mean() {
        let j = jitter(10_000);
        assert!(!Pacer::held_answer(j, Duration::from_millis(20)));
        assert!(!Pacer::held_answer(j, Duration::from_millis(500)));
        assert!(Pacer::held_answer(j, Duration::from_millis(501)));
        let mut waits = Vec::new();
        for seed in 0..2000u64 {
            let p = Pacer::new(Instant::now(), seed);
            let now = p.origin + Duration::from_millis(40_000 + seed % 7 * 10);
            let next = p.next_after_held_answer(j, now);
            assert_eq!(ms(&p, next) % 64, 0, "on the grid");
            let waited = (next - p.slot(now)).as_secs_f64();
            assert!((5.93..=12.0).contains(&waited), "{waited}");
            waits.push(waited);
            // Fetches answered in the same slot stay together.
            assert_eq!(p.next_after_held_answer(j, p.slot(now)), next);
        }
        let mean = waits.iter().sum::<f64>() / waits.len() as f64;
        // The regular band's mean is 9 s (less ≤ 64 ms for the grid).
        assert!((8.8..9.1).contains(&mean), "mean {mean}");
        let low = waits.iter().filter(|w| **w < 7.5).count();
        let high = waits.iter().filter(|w| **w > 10.5).count();
        assert!(low > 300 && high > 300, "spread: {low} low, {high} high");
    }
}
