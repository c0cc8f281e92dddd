//! Leader election over a `coordination.k8s.io/v1` Lease (injector.md §0, which replaces §6.5's
//! ConfigMap lock): with `-use-leader-elector`, exactly one replica generates the auto-TLS
//! certificate, publishes its CA and shares the certificate through a Secret.
//!
//! The protocol is client-go's: the holder renews `spec.renewTime` every couple of seconds; a
//! candidate takes the Lease over (optimistic update on `resourceVersion`, so one writer wins)
//! once it has seen the same record unchanged for `leaseDurationSeconds` of *its own* clock — no
//! comparison of clocks between nodes. A holder that cannot renew for [`RENEW_DEADLINE`] stops
//! acting as leader before anyone may take over (lease duration [`LEASE_DURATION`]).
//! Time is passed in, so the tests drive it without sleeping.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;

use super::kube::{KubeApi, KubeError};

/// The default of `-tls-auto-lease` (vault-k8s's name; injector.md §6.5.1).
pub const LEASE_NAME: &str = "vault-k8s-leader";
/// How long a record must stay unchanged before another replica takes over.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long a leader keeps acting as one without a successful renewal.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How often [`Elector::step`] should be called.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// One replica's view of the election.
#[derive(Debug)]
pub struct Elector {
    namespace: String,
    /// The Lease's name ([`LEASE_NAME`] unless [`Elector::with_lease`]).
    lease: String,
    identity: String,
    /// The other holder's record (resourceVersion) and when this replica first saw it.
    observed: Option<(String, SystemTime)>,
    /// Leader until then (last successful acquire/renew + [`RENEW_DEADLINE`]).
    leading_until: Option<SystemTime>,
}

/// The Lease's MicroTime (`2026-11-22T23:42:49.123456Z` on the wire, see [`micro_time`]).
fn lease_time(t: SystemTime) -> MicroTime {
    MicroTime(Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// `2026-11-22T23:42:49.123456Z`: the Lease's MicroTime as the API carries it.
#[cfg(test)]
fn micro_time(t: SystemTime) -> String {
    let d = time::OffsetDateTime::from(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        d.microsecond()
    )
}

impl Elector {
    /// `identity` is this replica's pod name (`POD_NAME`).
    pub fn new(namespace: &str, identity: &str) -> Self {
        Self {
            namespace: namespace.into(),
            lease: LEASE_NAME.into(),
            identity: identity.into(),
            observed: None,
            leading_until: None,
        }
    }

    /// Elects over the Lease `name` instead of [`LEASE_NAME`] (`-tls-auto-lease`).
    pub fn with_lease(mut self, name: &str) -> Self {
        self.lease = name.into();
        self
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Acquires or renews the Lease; answers whether this replica is the leader now. API errors
    /// are logged: a leader stays leader until its renew deadline, a follower stays follower.
    pub async fn step<K: KubeApi>(&mut self, api: &K, now: SystemTime) -> bool {
        match self.try_step(api, now).await {
            Ok(true) => {
                self.leading_until = Some(now + RENEW_DEADLINE);
                true
            }
            Ok(false) => {
                self.leading_until = None;
                false
            }
            Err(e) => {
                let leading = self.leading_until.is_some_and(|t| now < t);
                tracing::warn!(error = %e, lease = %self.lease, leading, "leader election: cannot read or renew the Lease");
                if !leading {
                    self.leading_until = None;
                }
                leading
            }
        }
    }

    async fn try_step<K: KubeApi>(&mut self, api: &K, now: SystemTime) -> Result<bool, KubeError> {
        let Some(lease) = api.get_lease(&self.namespace, &self.lease).await? else {
            let obj = Lease {
                metadata: ObjectMeta {
                    name: Some(self.lease.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return won(api.create_lease(&self.namespace, &obj).await);
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        if holder == self.identity {
            let mut obj = lease.clone();
            let mut renewed = self.spec(now, now, transitions);
            if spec.acquire_time.is_some() {
                renewed.acquire_time = spec.acquire_time.clone();
            }
            obj.spec = Some(renewed);
            return won(api.update_lease(&self.namespace, &self.lease, &obj).await);
        }
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if !holder.is_empty() {
            match &self.observed {
                Some((seen, since)) if *seen == rv => {
                    if now.duration_since(*since).unwrap_or_default() < LEASE_DURATION {
                        return Ok(false);
                    }
                }
                _ => {
                    self.observed = Some((rv, now));
                    return Ok(false);
                }
            }
            tracing::info!(
                previous = holder,
                "leader election: the Lease expired; taking over"
            );
        }
        let mut obj = lease.clone();
        obj.spec = Some(self.spec(now, now, transitions + 1));
        won(api.update_lease(&self.namespace, &self.lease, &obj).await)
    }

    fn spec(&self, acquired: SystemTime, renewed: SystemTime, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(lease_time(acquired)),
            renew_time: Some(lease_time(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }
}

/// A conflict means another replica wrote first: not an error, just not the leader.
fn won(r: Result<Lease, KubeError>) -> Result<bool, KubeError> {
    match r {
        Ok(_) => Ok(true),
        Err(KubeError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::super::kube::fake::FakeKube;
    use super::*;

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn holder(api: &FakeKube) -> String {
        api.get("lease", "ns", LEASE_NAME).unwrap()["spec"]["holderIdentity"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[tokio::test]
    async fn a_named_lease_is_the_only_one_used() {
        let api = FakeKube::default();
        let mut a = Elector::new("ns", "pod-a").with_lease("mine-leader");
        assert!(a.step(&api, t(0)).await);
        assert_eq!(
            api.get("lease", "ns", "mine-leader").unwrap()["spec"]["holderIdentity"],
            "pod-a"
        );
        assert!(api.get("lease", "ns", LEASE_NAME).is_none());
        // An elector on the default name does not compete with it.
        let mut b = Elector::new("ns", "pod-b");
        assert!(b.step(&api, t(1)).await);
        assert!(a.step(&api, t(2)).await);
    }

    #[tokio::test]
    async fn first_replica_creates_the_lease_and_renews_it() {
        let api = FakeKube::default();
        let mut a = Elector::new("ns", "pod-a");
        assert!(a.step(&api, t(0)).await);
        let lease = api.get("lease", "ns", LEASE_NAME).unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "pod-a");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 15);
        assert_eq!(lease["spec"]["renewTime"], micro_time(t(0)));
        assert!(micro_time(t(0)).ends_with(".000000Z"));
        assert!(a.step(&api, t(2)).await);
        let lease = api.get("lease", "ns", LEASE_NAME).unwrap();
        assert_eq!(lease["spec"]["renewTime"], micro_time(t(2)));
        assert_eq!(lease["spec"]["acquireTime"], micro_time(t(0)));
    }

    #[tokio::test]
    async fn one_leader_at_a_time_and_takeover_after_the_lease_lapses() {
        let api = FakeKube::default();
        let mut a = Elector::new("ns", "pod-a");
        let mut b = Elector::new("ns", "pod-b");
        assert!(a.step(&api, t(0)).await);
        // b sees a renewing: never leader.
        for s in (1..40).step_by(2) {
            assert!(!b.step(&api, t(s)).await, "b leader at {s}");
            assert!(a.step(&api, t(s + 1)).await);
        }
        assert_eq!(holder(&api), "pod-a");
        // a stops renewing (dead); b waits a full lease duration of its own clock.
        assert!(!b.step(&api, t(50)).await);
        assert!(!b.step(&api, t(60)).await);
        assert!(b.step(&api, t(66)).await);
        assert_eq!(holder(&api), "pod-b");
        let lease = api.get("lease", "ns", LEASE_NAME).unwrap();
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
        // a comes back: follower now.
        assert!(!a.step(&api, t(67)).await);
    }

    #[tokio::test]
    async fn racing_candidates_one_wins_by_resource_version() {
        let api = FakeKube::default();
        let mut a = Elector::new("ns", "pod-a");
        let mut b = Elector::new("ns", "pod-b");
        let mut c = Elector::new("ns", "pod-c");
        assert!(a.step(&api, t(0)).await);
        assert!(!b.step(&api, t(1)).await);
        assert!(!c.step(&api, t(1)).await);
        // The record lapses for both; b writes first, c then sees b's fresh record.
        let stale = api.get("lease", "ns", LEASE_NAME).unwrap();
        assert!(b.step(&api, t(20)).await);
        assert!(!c.step(&api, t(20)).await);
        assert_eq!(holder(&api), "pod-b");
        // Had c written with the version it read, the API server's conflict would mean "lost".
        let mut c_write: Lease = serde_json::from_value(stale.clone()).unwrap();
        c_write.spec.as_mut().unwrap().holder_identity = Some("pod-c".into());
        assert_eq!(
            won(api.update_lease("ns", LEASE_NAME, &c_write).await),
            Ok(false)
        );
        assert_eq!(holder(&api), "pod-b");
    }

    #[tokio::test]
    async fn a_leader_that_cannot_renew_steps_down_at_its_deadline() {
        let api = FakeKube::default();
        let mut a = Elector::new("ns", "pod-a");
        assert!(a.step(&api, t(0)).await);
        api.fail("get_lease", true);
        assert!(a.step(&api, t(5)).await, "still within the renew deadline");
        assert!(!a.step(&api, t(11)).await, "past the renew deadline");
        let mut b = Elector::new("ns", "pod-b");
        assert!(!b.step(&api, t(12)).await);
        api.fail("get_lease", false);
        // RENEW_DEADLINE < LEASE_DURATION: nobody else could have taken over before a stepped down.
        assert!(!b.step(&api, t(12)).await);
        assert!(
            !b.step(&api, t(12) + LEASE_DURATION - Duration::from_secs(1))
                .await
        );
    }
}
