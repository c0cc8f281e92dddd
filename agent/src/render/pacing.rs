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

    /// The first point at or after `at_least` of the schedule a fetch scheduled at `base`
    /// follows ([`Pacer::next`] applied again and again): where a refresh held back while
    /// Vault was unavailable goes, so that it keeps its phase (agent.md §5.11). After a very
    /// long wait (over 10 000 points), counted from `at_least`'s slot instead.
    pub fn on_chain(&self, base: Instant, jitter: Jitter, at_least: Instant) -> Instant {
        let mut p = base;
        for _ in 0..10_000 {
            let next = self.next(p, jitter);
            if next >= at_least {
                return next;
            }
            if next <= p {
                break;
            }
            p = next;
        }
        self.next(self.slot(at_least), jitter)
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
    fn a_held_refresh_keeps_its_phase_on_its_own_schedule() {
        let p = Pacer::new(Instant::now(), 13);
        let j = jitter(10_000);
        let base = p.slot(p.origin);
        let mut points = vec![base];
        for _ in 0..5 {
            points.push(p.next(*points.last().unwrap(), j));
        }
        // Vault was down from before points[1] until 12.3 s: the refresh due at points[1] goes
        // at the first later point of the same schedule.
        let now = base + Duration::from_millis(12_300);
        let at = p.on_chain(base, j, now);
        assert_eq!(at, *points.iter().find(|t| **t >= now).unwrap());
        // A recovered fetch (the probe) waits at least a band, on the same schedule.
        let (lo, _) = j.bounds();
        let next = p.on_chain(base, j, now + lo);
        assert!(
            next >= now + lo && points.contains(&next),
            "{:?}",
            next - now
        );
        assert_eq!(p.next(at, j), next, "it meets the others again");
        // Nothing to advance over: counted from the slot of `at_least`.
        let zero = Jitter {
            span: Duration::ZERO,
            threshold: 0.9,
        };
        let later = base + Duration::from_secs(3);
        assert_eq!(p.on_chain(base, zero, later), p.slot(later));
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
}
