//! When a dependency is fetched again (agent.md §5.4) and how long a failed fetch waits before
//! its next attempt (agent.md §5.6). Pure functions of the fetched data, the current time and a random
//! draw, so every rule is unit-tested without sleeping.

use std::time::Duration;

use vaultlet_shared::vault::Secret;

/// The knobs of agent.md §5.4.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Refresh {
    /// `lease_renewal_threshold` (default 0.9).
    pub threshold: f64,
    /// `static_secret_render_interval` (default 5m).
    pub static_interval: Duration,
}

impl Refresh {
    /// `static_secret_render_interval × f`: the wait for a secret without a lease.
    pub fn jittered(&self) -> Next {
        Next::Jittered(Jitter {
            span: self.static_interval,
            threshold: self.threshold,
        })
    }
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            threshold: 0.9,
            static_interval: Duration::from_secs(300),
        }
    }
}

/// What to do after a successful fetch of a secret.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Fetch again after exactly this long.
    Refetch(Duration),
    /// Fetch again after `span × f` (agent.md §5.4's jittered rows); [`super::pacing`] picks the instant.
    Jittered(Jitter),
    /// A renewable lease: keep it alive with lease renewals (agent.md §5.5), re-read when that ends.
    Renew,
}

/// A wait of `span × f`, `f` = [`fraction`]`(threshold, u)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    pub span: Duration,
    pub threshold: f64,
}

impl Jitter {
    /// The wait for the draw `u` in [0, 1).
    pub fn at(&self, u: f64) -> Duration {
        scaled(self.span.as_secs_f64(), fraction(self.threshold, u))
    }

    /// The shortest and longest wait any draw gives: `span × [T − 0.05, T + 0.05]`, within
    /// `[0, span]`.
    pub fn bounds(&self) -> (Duration, Duration) {
        let t = self.threshold;
        let secs = self.span.as_secs_f64();
        let (lo, hi) = if t <= 0.0 || t >= 1.0 {
            (t.clamp(0.0, 1.0), t.clamp(0.0, 1.0))
        } else {
            ((t - 0.05).max(0.0), (t + 0.05).min(1.0))
        };
        (scaled(secs, lo), scaled(secs, hi))
    }
}

/// `f = T + U(−0.05, +0.05)`, replaced by `T` outside (0, 1). `u` is a uniform draw in [0, 1).
pub fn fraction(threshold: f64, u: f64) -> f64 {
    let f = threshold + (u * 0.1 - 0.05);
    if f <= 0.0 || f >= 1.0 { threshold } else { f }
}

fn scaled(secs: f64, f: f64) -> Duration {
    Duration::from_secs_f64((secs * f).max(0.0))
}

fn data_i64(s: &Secret, key: &str) -> Option<i64> {
    let v = s.data.as_ref()?.get(key)?;
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .or_else(|| v.as_str()?.parse().ok())
}

/// The schedule after fetching `s` with `secret` (a read or a write). `now_unix` in seconds.
pub fn after_secret(s: &Secret, now_unix: i64, r: &Refresh) -> Next {
    let jittered = |secs: i64| {
        Next::Jittered(Jitter {
            span: Duration::from_secs(secs.max(0) as u64),
            threshold: r.threshold,
        })
    };
    if s.renewable && s.lease_duration > 0 {
        return Next::Renew;
    }
    let has = |k: &str| s.data.as_ref().is_some_and(|d| d.contains_key(k));
    if s.lease_id.is_empty()
        && has("certificate")
        && let Some(exp) = data_i64(s, "expiration")
    {
        return jittered(exp - now_unix);
    }
    if s.lease_id.is_empty()
        && has("secret_id")
        && let Some(ttl) = data_i64(s, "secret_id_ttl").filter(|t| *t > 0)
    {
        return jittered(ttl + 1);
    }
    if s.lease_id.is_empty()
        && has("rotation_period")
        && let Some(ttl) = data_i64(s, "ttl").filter(|t| *t > 0)
    {
        return Next::Refetch(Duration::from_secs((ttl + 1) as u64));
    }
    if s.lease_duration > 0 {
        return jittered(s.lease_duration);
    }
    r.jittered()
}

/// `pkiCert`: at `NotBefore + T × (NotAfter − NotBefore)` (Quirk Q-T1: no jitter), relative to now.
pub fn pki_rotation(not_before: i64, not_after: i64, now_unix_ms: i64, threshold: f64) -> Duration {
    let span_ms = (not_after - not_before) * 1000;
    let at_ms = not_before * 1000 + (span_ms as f64 * threshold) as i64;
    Duration::from_millis((at_ms - now_unix_ms).max(0) as u64)
}

/// The retry sleeps of agent.md §5.6: `base × 2ⁿ` capped at `max`, no jitter; `None` once `n` reaches
/// `retries` (give up).
pub fn retry_sleep(n: u32, retries: u32, base: Duration, max: Duration) -> Option<Duration> {
    if n >= retries {
        return None;
    }
    let d = base
        .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
        .unwrap_or(max);
    Some(d.min(max))
}

/// A retry sleep of [`retry_sleep`] shortened by up to 25 % (`u` in [0, 1)), the auth backoff's
/// jitter (agent.md §3.3), so agents that failed together do not retry in lockstep; never
/// longer than the cap. Upstream's template retries have no jitter (docs/reliability.md,
/// "Bounds").
pub fn retry_jitter(d: Duration, u: f64) -> Duration {
    let u = u.clamp(0.0, 1.0);
    Duration::from_nanos((d.as_nanos() as f64 * (1.0 - 0.25 * u)).floor() as u64)
}

/// Renewal of a renewable lease (agent.md §5.5 with §3.4's algorithm): the next renewal after
/// `remaining` (the lease left), i.e. `2/3 · remaining + grace/3`, where grace is 10 % of the
/// lease at the first renewal (upstream draws it in [0.8, 0.9] of 10 %; `u` in [0,1)).
pub fn renew_after(remaining: Duration, lease: Duration, u: f64) -> Duration {
    let grace = lease.as_secs_f64() * 0.1 * (0.8 + 0.1 * u);
    Duration::from_secs_f64((remaining.as_secs_f64() * 2.0 / 3.0 + grace / 3.0).max(0.0))
}

/// Whether a lease with `remaining` left is within its grace (stop renewing, read again).
pub fn within_grace(remaining: Duration, lease: Duration) -> bool {
    remaining.as_secs_f64() <= lease.as_secs_f64() * 0.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(json: &str) -> Secret {
        Secret::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn fraction_jitters_within_five_points_and_falls_back() {
        assert!((fraction(0.9, 0.0) - 0.85).abs() < 1e-9);
        assert!((fraction(0.9, 0.999_999) - 0.95).abs() < 1e-5);
        assert_eq!(fraction(0.99, 0.99), 0.99, "1.039 is outside (0,1): T");
        assert_eq!(fraction(0.01, 0.0), 0.01, "-0.04 is outside (0,1): T");
    }

    #[test]
    fn jitter_bounds_hold_every_draw() {
        for t in [0.01, 0.5, 0.9, 0.97, 0.99] {
            let j = Jitter {
                span: Duration::from_secs(1000),
                threshold: t,
            };
            let (lo, hi) = j.bounds();
            for i in 0..1000 {
                let d = j.at(i as f64 / 1000.0);
                assert!(lo <= d && d <= hi, "T={t}: {d:?} outside {lo:?}..{hi:?}");
            }
        }
    }

    #[test]
    fn kv_v2_without_lease_uses_the_static_interval_times_f() {
        let s = secret(r#"{"lease_duration":0,"renewable":false,"data":{"data":{"a":"1"}}}"#);
        let r = Refresh::default();
        let Next::Jittered(j) = after_secret(&s, 0, &r) else {
            panic!("not jittered")
        };
        assert_eq!(j.span, Duration::from_secs(300));
        assert_eq!(j.at(0.0), Duration::from_secs(255));
        assert_eq!(j.at(0.5), Duration::from_secs(270));
        assert_eq!(
            j.bounds(),
            (Duration::from_secs(255), Duration::from_secs(285))
        );
    }

    #[test]
    fn kv_v1_uses_its_lease() {
        let s = secret(r#"{"lease_duration":30,"renewable":false,"data":{"a":"1"}}"#);
        assert_eq!(
            after_secret(&s, 0, &Refresh::default()),
            Next::Jittered(Jitter {
                span: Duration::from_secs(30),
                threshold: 0.9
            })
        );
    }

    #[test]
    fn renewable_leases_are_renewed() {
        let s = secret(
            r#"{"lease_id":"database/creds/x/1","lease_duration":3600,"renewable":true,"data":{}}"#,
        );
        assert_eq!(after_secret(&s, 0, &Refresh::default()), Next::Renew);
    }

    #[test]
    fn certificates_refresh_before_expiry() {
        let s = secret(r#"{"lease_duration":0,"data":{"certificate":"x","expiration":1000}}"#);
        let span = |now| match after_secret(&s, now, &Refresh::default()) {
            Next::Jittered(j) => j.at(0.5),
            other => panic!("{other:?}"),
        };
        assert_eq!(span(0), Duration::from_secs(900));
        assert_eq!(span(2000), Duration::ZERO);
    }

    #[test]
    fn rotating_and_secret_id_rules() {
        let rot = secret(r#"{"data":{"rotation_period":86400,"ttl":99,"password":"p"}}"#);
        assert_eq!(
            after_secret(&rot, 0, &Refresh::default()),
            Next::Refetch(Duration::from_secs(100))
        );
        let sid = secret(r#"{"data":{"secret_id":"s","secret_id_ttl":99}}"#);
        assert_eq!(
            after_secret(&sid, 0, &Refresh::default()),
            Next::Jittered(Jitter {
                span: Duration::from_secs(100),
                threshold: 0.9
            })
        );
    }

    #[test]
    fn pki_rotation_has_no_jitter() {
        assert_eq!(
            pki_rotation(1000, 2000, 1_000_000, 0.9),
            Duration::from_secs(900)
        );
        assert_eq!(pki_rotation(1000, 2000, 5_000_000, 0.9), Duration::ZERO);
    }

    #[test]
    fn retry_sleeps_double_then_cap_then_give_up() {
        let base = Duration::from_millis(250);
        let max = Duration::from_secs(60);
        let sleeps: Vec<_> = (0..13).map(|n| retry_sleep(n, 12, base, max)).collect();
        let secs: Vec<f64> = sleeps.iter().flatten().map(Duration::as_secs_f64).collect();
        assert_eq!(
            secs,
            vec![
                0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0
            ]
        );
        assert_eq!(sleeps[12], None);
        assert_eq!(
            retry_sleep(0, 0, base, max),
            None,
            "num_retries -1 ⇒ no retries"
        );
    }

    #[test]
    fn retry_jitter_shortens_by_at_most_a_quarter() {
        let d = Duration::from_secs(60);
        assert_eq!(retry_jitter(d, 0.0), d);
        assert_eq!(retry_jitter(d, 0.5), Duration::from_millis(52_500));
        let low = retry_jitter(d, 0.999_999);
        assert!(
            low > Duration::from_secs(45) && low < Duration::from_secs(46),
            "{low:?}"
        );
    }

    #[test]
    fn renewal_timing() {
        let lease = Duration::from_secs(3600);
        let d = renew_after(lease, lease, 0.5);
        assert!(
            d > Duration::from_secs(2400) && d < Duration::from_secs(2520),
            "{d:?}"
        );
        assert!(within_grace(Duration::from_secs(300), lease));
        assert!(!within_grace(Duration::from_secs(1000), lease));
    }
}
