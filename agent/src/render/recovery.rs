//! One agent's way back after Vault was unavailable (agent.md §5.11): while Vault is down one
//! fetch probes it and the others wait; once Vault answers, the refreshes that waited go together
//! after a delay this agent draws, so a fleet that lost Vault together does not come back in the
//! same second (a refresh with a schedule of its own waits for its next point instead: the runner
//! asks for its turn as a first fetch would). Pure: the runner (`agent/src/render/runner.rs`)
//! passes in the time and the random draw, and does the waiting.

use std::time::{Duration, Instant};

use vaultlet_shared::vault::VaultError;

use super::fetch::FetchError;

/// Whether a failed fetch means Vault itself is unavailable to this agent, rather than this one
/// request being refused: nothing answered (connection refused or reset), Vault is sealed or has
/// no active node (503, or OpenBao's 500 `local node not active but active cluster node not
/// found` while a restarted node takes the lead), asks for fewer requests (429), or a proxy in
/// front of it has no upstream (502, 504). Left out: any other 500 (a secrets engine answers 500
/// when its own backend fails) and a
/// request that timed out (a slow path, such as a certificate issued under load, says nothing
/// about the other paths) (agent.md §5.11).
pub fn is_outage(e: &FetchError) -> bool {
    match e {
        FetchError::Vault(v) => match v {
            VaultError::ConnectionRefused { .. } | VaultError::Transport { .. } => true,
            VaultError::Status { status: 500, .. } => v
                .vault_errors()
                .iter()
                .any(|e| e.contains("node not active")),
            VaultError::Status { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        },
        _ => false,
    }
}

/// What a fetcher does before it sends a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Send it now.
    Go,
    /// Another fetch is probing Vault: wait until the gate changes.
    Hold,
    /// Vault answers again; this refresh goes at that instant (or when the gate changes).
    Until(Instant),
}

#[derive(Clone, Debug, PartialEq)]
enum State<Id> {
    /// Vault answers: every fetch goes.
    Up,
    /// A fetch found Vault unavailable; `probe` is the one fetch that keeps trying (`None`: the
    /// next fetcher to come takes the role).
    Down { probe: Option<Id> },
    /// Vault answered the probe; the refreshes that wait go at `at`.
    Releasing { at: Instant },
}

/// The gate the fetchers of one runner share (agent.md §5.11). `Id` names a fetcher.
#[derive(Clone, Debug)]
pub struct Gate<Id> {
    state: State<Id>,
    spread: Duration,
}

impl<Id: PartialEq + Clone> Gate<Id> {
    /// A gate whose releases are drawn in `[0, spread]` after Vault answers again.
    pub fn new(spread: Duration) -> Gate<Id> {
        Gate {
            state: State::Up,
            spread,
        }
    }

    /// Whether Vault is taken to be unavailable (a probe is out or wanted).
    pub fn is_down(&self) -> bool {
        matches!(self.state, State::Down { .. })
    }

    /// When the held refreshes go, while Vault is answering again after an outage.
    pub fn release_at(&self) -> Option<Instant> {
        match self.state {
            State::Releasing { at } => Some(at),
            _ => None,
        }
    }

    /// Before fetcher `id` sends a fetch at `now`. `refresh`: the dependency already has data
    /// (a first fetch, which nothing rendered is waiting for, is not held back by the spread).
    pub fn turn(&mut self, id: &Id, refresh: bool, now: Instant) -> Turn {
        match &mut self.state {
            State::Up => Turn::Go,
            State::Down { probe } => match probe {
                Some(p) if p == id => Turn::Go,
                Some(_) => Turn::Hold,
                None => {
                    *probe = Some(id.clone());
                    Turn::Go
                }
            },
            State::Releasing { at } => {
                let at = *at;
                if now >= at {
                    self.state = State::Up;
                    Turn::Go
                } else if refresh {
                    Turn::Until(at)
                } else {
                    Turn::Go
                }
            }
        }
    }

    /// Fetcher `id`'s fetch failed; `outage`: [`is_outage`]. Any other failure is an answer
    /// from Vault ([`Gate::answered`]). `u` in [0, 1) draws the release. `true` when the gate
    /// changed (waiters must look again).
    pub fn failed(&mut self, id: &Id, outage: bool, now: Instant, u: f64) -> bool {
        if !outage {
            return self.answered(now, u);
        }
        match &mut self.state {
            State::Down { probe: Some(_) } => false,
            State::Down { probe } => {
                *probe = Some(id.clone());
                false
            }
            State::Up | State::Releasing { .. } => {
                self.state = State::Down {
                    probe: Some(id.clone()),
                };
                true
            }
        }
    }

    /// Vault answered a fetch at `now`. After an outage the waiting refreshes are released at
    /// `now + spread × u`. `true` when the gate changed.
    pub fn answered(&mut self, now: Instant, u: f64) -> bool {
        if !self.is_down() {
            return false;
        }
        let u = u.clamp(0.0, 1.0);
        self.state = State::Releasing {
            at: now + self.spread.mul_f64(u),
        };
        true
    }

    /// Fetcher `id` stopped (its dependency is no longer used, or the runner ended): if it was
    /// the probe, the next fetcher to come probes instead. `true` when the gate changed.
    pub fn leave(&mut self, id: &Id) -> bool {
        match &mut self.state {
            State::Down { probe } if probe.as_ref() == Some(id) => {
                *probe = None;
                true
            }
            _ => false,
        }
    }
}

/// The longest delay between Vault answering again and an agent's held refreshes going: half
/// the static refresh interval (agent.md §5.11), so that an agent is current again about as
/// soon as a refresh would have made it, and a fleet's refreshes are spread over a window
/// as wide as their steady schedule spreads them over.
pub fn spread_for(static_interval: Duration) -> Duration {
    static_interval / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn while_vault_is_down_one_fetch_probes_and_the_others_hold() {
        let t0 = Instant::now();
        let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
        assert_eq!(g.turn(&1, true, t0), Turn::Go, "up: all go");
        assert_eq!(g.turn(&2, true, t0), Turn::Go);
        // Both were in flight; 1 fails first and becomes the probe.
        assert!(g.failed(&1, true, at(t0, 10), 0.3));
        assert!(!g.failed(&2, true, at(t0, 11), 0.3), "already down");
        assert_eq!(g.turn(&2, true, at(t0, 300)), Turn::Hold);
        assert_eq!(
            g.turn(&3, false, at(t0, 300)),
            Turn::Hold,
            "first fetches too"
        );
        assert_eq!(g.turn(&1, true, at(t0, 400)), Turn::Go, "the probe retries");
        assert!(!g.failed(&1, true, at(t0, 500), 0.3));
        assert_eq!(g.turn(&2, true, at(t0, 900)), Turn::Hold);
    }

    #[test]
    fn vault_answering_releases_the_refreshes_together_after_the_drawn_delay() {
        let t0 = Instant::now();
        let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
        g.failed(&1, true, t0, 0.0);
        assert_eq!(g.turn(&2, true, t0), Turn::Hold);
        assert!(g.answered(at(t0, 1000), 0.5));
        let release = at(t0, 3500);
        assert_eq!(g.turn(&2, true, at(t0, 1001)), Turn::Until(release));
        assert_eq!(g.turn(&3, true, at(t0, 2000)), Turn::Until(release));
        assert_eq!(
            g.turn(&4, false, at(t0, 1001)),
            Turn::Go,
            "a first fetch does not wait for the spread"
        );
        assert_eq!(g.turn(&2, true, release), Turn::Go);
        assert_eq!(g.turn(&3, true, release), Turn::Go, "up again");
        assert!(!g.answered(at(t0, 4000), 0.9), "nothing to release");
    }

    #[test]
    fn the_delay_is_drawn_within_the_spread() {
        let t0 = Instant::now();
        for (u, want) in [(0.0, 0), (0.25, 1250), (0.999, 4995), (7.0, 5000)] {
            let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
            g.failed(&1, true, t0, 0.0);
            g.answered(t0, u);
            assert_eq!(g.turn(&2, true, t0), {
                if want == 0 {
                    Turn::Go
                } else {
                    Turn::Until(at(t0, want))
                }
            });
        }
        assert_eq!(spread_for(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(
            spread_for(Duration::from_secs(300)),
            Duration::from_secs(150)
        );
    }

    #[test]
    fn a_refusal_is_an_answer_and_a_new_outage_holds_again() {
        let t0 = Instant::now();
        let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
        g.failed(&1, true, t0, 0.0);
        // The probe's path is refused (403/404/500): Vault answers, the others go.
        assert!(g.failed(&1, false, at(t0, 100), 0.0));
        assert_eq!(g.turn(&2, true, at(t0, 100)), Turn::Go);
        // Down again while releasing: hold again.
        let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
        g.failed(&1, true, t0, 0.0);
        g.answered(t0, 0.9);
        assert!(
            g.failed(&3, true, at(t0, 10), 0.0),
            "a first fetch found it down"
        );
        assert!(g.is_down());
        assert_eq!(g.turn(&2, true, at(t0, 20)), Turn::Hold);
        assert_eq!(g.turn(&3, true, at(t0, 20)), Turn::Go);
        // A non-outage failure while up changes nothing.
        let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
        assert!(!g.failed(&1, false, t0, 0.0));
        assert_eq!(g.turn(&2, true, t0), Turn::Go);
    }

    #[test]
    fn a_probe_that_stops_hands_the_role_on() {
        let t0 = Instant::now();
        let mut g: Gate<u32> = Gate::new(Duration::from_secs(5));
        g.failed(&1, true, t0, 0.0);
        assert!(!g.leave(&2), "not the probe");
        assert_eq!(g.turn(&2, true, t0), Turn::Hold);
        assert!(g.leave(&1));
        assert_eq!(g.turn(&2, true, t0), Turn::Go, "2 probes now");
        assert_eq!(g.turn(&3, true, t0), Turn::Hold);
    }

    #[test]
    fn outages_are_told_from_refusals() {
        let status = |s: u16| {
            FetchError::Vault(VaultError::Status {
                method: "GET".into(),
                path: "secret/data/a".into(),
                status: s,
                errors: vec![],
            })
        };
        for s in [429, 502, 503, 504] {
            assert!(is_outage(&status(s)), "{s}");
        }
        for s in [400, 403, 404, 412, 500, 501] {
            assert!(!is_outage(&status(s)), "{s}");
        }
        let standby = FetchError::Vault(VaultError::Status {
            method: "GET".into(),
            path: "secret/data/a".into(),
            status: 500,
            errors: vec!["local node not active but active cluster node not found".into()],
        });
        assert!(is_outage(&standby), "no active node yet");
        let refused = FetchError::Vault(VaultError::ConnectionRefused {
            method: "GET".into(),
            path: "p".into(),
            addr: "http://127.0.0.1:1".into(),
        });
        assert!(is_outage(&refused));
        let slow = FetchError::Vault(VaultError::Timeout {
            method: "PUT".into(),
            path: "pki/issue/r".into(),
            addr: "http://127.0.0.1:1".into(),
            timeout: Duration::from_secs(60),
        });
        assert!(!is_outage(&slow), "one slow path is not an outage");
        assert!(!is_outage(&FetchError::NoSecret("p".into())));
    }
}
