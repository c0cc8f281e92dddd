//! Auto-TLS in a cluster (injector.md §6.4–6.5 with §0's Lease): the loop that keeps this
//! replica's serving certificate valid and trusted.
//!
//! - **Leader** (every replica when `-use-leader-elector` is off): generates the CA once per
//!   process, issues a leaf (re-issued after two thirds of its lifetime, injector.md §6.4.1), publishes the CA
//!   bundle into `webhooks[0]` of the `-tls-auto` configuration (the previous CA kept in front for a
//!   smooth rollover) and only then serves the leaf; with leader election it also writes the leaf
//!   into the shared Secret. The bundle is re-checked every [`CHECK_INTERVAL`] (upstream watches
//!   the configuration with an informer and re-checks hourly; a periodic GET needs no
//!   list/watch RBAC and repairs a bundle reset by `helm upgrade` within that interval). A failed
//!   publish is retried with upstream's backoff (0.5 s × 1.5, at most 60 s) and the new leaf is
//!   not served until it succeeds.
//! - **Follower**: polls the Secret every 5 s and serves the certificate it holds; never touches
//!   the webhook configuration.
//!
//! [`CaFilePublisher`] is the disk-mode counterpart: it publishes `-tls-ca-cert-file` as the
//! bundle when `-tls-auto` names a configuration.
//!
//! Each `step` takes the time and returns how long to wait, so tests drive the loop without
//! sleeping.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use super::auto::{Bundle, Generator, rollover_bundle};
use super::kube::KubeApi;
use super::leader::{Elector, RETRY_PERIOD};
use super::share::{self, SharedCert};
use super::webhook::{publish_ca_bundle, read_ca_bundle};
use super::{CertSlot, certified_key};

/// How often the leader re-checks the published CA bundle.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// How often a follower reads the shared Secret.
pub const FOLLOWER_POLL: Duration = Duration::from_secs(5);

/// Upstream's retry schedule for publishing: 0.5 s, ×1.5, at most 60 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: Duration::from_millis(500),
        }
    }
}

impl Backoff {
    /// The next delay; each call grows the following one.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 3 / 2).min(Duration::from_secs(60));
        d
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// What the auto-TLS loop needs to know.
#[derive(Debug, Clone)]
pub struct ClusterTlsConfig {
    /// `-tls-auto`: the configuration whose caBundle is kept in sync (`None`: nothing to publish).
    pub webhook: Option<String>,
    /// `-tls-auto-hosts`.
    pub hosts: Vec<String>,
    /// `NAMESPACE`: where the shared Secret and the Lease live.
    pub namespace: String,
    /// `-tls-auto-secret`: the Secret sharing the certificate (injector.md §6.5.1).
    pub secret: String,
    /// `-tls-auto-lease`: the Lease electing the leader.
    pub lease: String,
    /// `Some(pod name)` with `-use-leader-elector`.
    pub identity: Option<String>,
}

/// The auto-TLS state of this replica.
pub struct ClusterTls<K: KubeApi> {
    api: Arc<K>,
    slot: Arc<CertSlot>,
    cfg: ClusterTlsConfig,
    elector: Option<Elector>,
    leading: bool,
    generator: Option<Generator>,
    bundle: Option<Bundle>,
    /// The CA bundle this leader publishes (computed when it becomes leader).
    ca_bundle: Option<String>,
    /// The current leaf is in the slot.
    installed: bool,
    /// The current leaf is in the shared Secret.
    shared: bool,
    next_check: SystemTime,
    retry_at: SystemTime,
    backoff: Backoff,
    next_poll: SystemTime,
    /// What a follower serves from the Secret.
    from_secret: Option<SharedCert>,
}

impl<K: KubeApi> ClusterTls<K> {
    pub fn new(api: Arc<K>, slot: Arc<CertSlot>, cfg: ClusterTlsConfig) -> Self {
        let elector = cfg
            .identity
            .as_deref()
            .map(|id| Elector::new(&cfg.namespace, id).with_lease(&cfg.lease));
        Self {
            api,
            slot,
            cfg,
            elector,
            leading: false,
            generator: None,
            bundle: None,
            ca_bundle: None,
            installed: false,
            shared: false,
            next_check: SystemTime::UNIX_EPOCH,
            retry_at: SystemTime::UNIX_EPOCH,
            backoff: Backoff::default(),
            next_poll: SystemTime::UNIX_EPOCH,
            from_secret: None,
        }
    }

    /// Whether this replica acted as the leader in its last step.
    pub fn is_leader(&self) -> bool {
        self.leading
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let wait = self.step(SystemTime::now()).await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
            }
        }
    }

    /// One round: election, then the leader's or the follower's work. Returns the time to wait.
    pub async fn step(&mut self, now: SystemTime) -> Duration {
        let leader = match self.elector.as_mut() {
            None => true,
            Some(e) => e.step(&*self.api, now).await,
        };
        if leader != self.leading {
            self.leading = leader;
            if leader {
                if let Some(e) = &self.elector {
                    tracing::info!(identity = e.identity(), "became the auto-TLS leader");
                }
                // A new leadership re-reads the published bundle (another leader may have
                // published its CA meanwhile) and re-publishes before serving.
                self.ca_bundle = None;
                self.installed = false;
                self.shared = false;
                self.retry_at = now;
            } else {
                tracing::info!("following the auto-TLS leader");
                self.from_secret = None;
                self.next_poll = now;
            }
        }
        if leader {
            self.lead(now).await
        } else {
            self.follow(now).await
        }
    }

    fn cadence(&self) -> Duration {
        if self.elector.is_some() {
            RETRY_PERIOD
        } else {
            Duration::from_secs(3600)
        }
    }

    fn retry(&mut self, now: SystemTime, what: &str, err: &dyn std::fmt::Display) -> Duration {
        let d = self.backoff.next_delay();
        tracing::warn!(error = %err, retry_in = ?d, "auto-TLS: {what}");
        self.retry_at = now + d;
        d.min(self.cadence())
    }

    async fn lead(&mut self, now: SystemTime) -> Duration {
        if now < self.retry_at {
            return until(now, self.retry_at).min(self.cadence());
        }
        if self.generator.is_none() {
            match Generator::new_at(now) {
                Ok(g) => self.generator = Some(g),
                Err(e) => return self.retry(now, "cannot generate the CA", &e),
            }
        }
        let Some(generator) = self.generator.as_ref() else {
            return self.cadence();
        };
        if self.bundle.as_ref().is_none_or(|b| now >= b.renew_at()) {
            match generator.leaf(&self.cfg.hosts, now) {
                Ok(b) => {
                    self.bundle = Some(b);
                    self.installed = false;
                    self.shared = false;
                }
                Err(e) => return self.retry(now, "cannot issue the serving certificate", &e),
            }
        }
        if !self.installed || now >= self.next_check {
            if let Some(name) = self.cfg.webhook.clone() {
                let ca_bundle = match &self.ca_bundle {
                    Some(b) => b.clone(),
                    None => match read_ca_bundle(&*self.api, &name).await {
                        Ok(old) => rollover_bundle(&old, generator.ca_pem()),
                        Err(e) => return self.retry(now, "cannot read the CA bundle", &e),
                    },
                };
                self.ca_bundle = Some(ca_bundle.clone());
                if let Err(e) = publish_ca_bundle(&*self.api, &name, &ca_bundle).await {
                    return self.retry(now, "cannot publish the CA bundle", &e);
                }
            }
            if !self.installed {
                let Some(b) = self.bundle.as_ref() else {
                    return self.cadence();
                };
                match certified_key(
                    b.cert_pem.as_bytes(),
                    b.key_pem.as_bytes(),
                    "generated certificate",
                ) {
                    Ok(ck) => {
                        self.slot.install(Arc::new(ck));
                        self.installed = true;
                        tracing::info!("serving a new generated certificate");
                    }
                    Err(e) => return self.retry(now, "cannot use the generated certificate", &e),
                }
            }
            self.next_check = now + CHECK_INTERVAL;
            self.backoff.reset();
        }
        if self.elector.is_some()
            && !self.shared
            && let Some(b) = &self.bundle
        {
            let cert = SharedCert {
                cert_pem: b.cert_pem.clone().into_bytes(),
                key_pem: b.key_pem.clone().into_bytes(),
            };
            match share::write(&*self.api, &self.cfg.namespace, &self.cfg.secret, &cert).await {
                Ok(()) => {
                    self.shared = true;
                    tracing::info!(
                        secret = %self.cfg.secret,
                        "shared the certificate with the other replicas"
                    );
                }
                Err(e) => return self.retry(now, "cannot write the certificate Secret", &e),
            }
        }
        let renew = self.bundle.as_ref().map_or(now, Bundle::renew_at);
        let mut wait = until(now, renew).min(self.cadence());
        if self.cfg.webhook.is_some() {
            wait = wait.min(until(now, self.next_check));
        }
        wait.max(Duration::from_millis(100))
    }

    async fn follow(&mut self, now: SystemTime) -> Duration {
        if now >= self.next_poll {
            self.next_poll = now + FOLLOWER_POLL;
            match share::read(&*self.api, &self.cfg.namespace, &self.cfg.secret).await {
                Ok(Some(c)) if self.from_secret.as_ref() != Some(&c) => {
                    match certified_key(&c.cert_pem, &c.key_pem, &self.cfg.secret) {
                        Ok(ck) => {
                            self.slot.install(Arc::new(ck));
                            self.from_secret = Some(c);
                            tracing::info!(
                                secret = %self.cfg.secret,
                                "serving the leader's certificate"
                            );
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the shared certificate does not load; keeping the current one");
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => tracing::debug!("no shared certificate yet"),
                Err(e) => tracing::warn!(error = %e, "cannot read the shared certificate"),
            }
        }
        until(now, self.next_poll).clamp(Duration::from_millis(100), RETRY_PERIOD)
    }
}

fn until(now: SystemTime, t: SystemTime) -> Duration {
    t.duration_since(now).unwrap_or(Duration::ZERO)
}

/// Disk mode with `-tls-auto`: publishes the CA file as the bundle (the leader only, with
/// `-use-leader-elector`), re-checked every [`CHECK_INTERVAL`] and retried with backoff.
pub struct CaFilePublisher<K: KubeApi> {
    pub api: Arc<K>,
    pub webhook: String,
    pub ca_file: PathBuf,
    pub elector: Option<Elector>,
    pub backoff: Backoff,
}

impl<K: KubeApi> CaFilePublisher<K> {
    /// One round; returns the time to wait.
    pub async fn step(&mut self, now: SystemTime) -> Duration {
        if let Some(e) = self.elector.as_mut()
            && !e.step(&*self.api, now).await
        {
            return RETRY_PERIOD;
        }
        let pem = match std::fs::read_to_string(&self.ca_file) {
            Ok(p) => p,
            Err(e) => {
                let d = self.backoff.next_delay();
                tracing::warn!(file = %self.ca_file.display(), error = %e, "cannot read -tls-ca-cert-file");
                return d;
            }
        };
        match publish_ca_bundle(&*self.api, &self.webhook, &pem).await {
            Ok(_) => {
                self.backoff.reset();
                if self.elector.is_some() {
                    RETRY_PERIOD
                } else {
                    CHECK_INTERVAL
                }
            }
            Err(e) => {
                let d = self.backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?d, "auto-TLS: cannot publish the CA bundle");
                d
            }
        }
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let wait = self.step(SystemTime::now()).await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::kube::fake::FakeKube;
    use super::super::leader::LEASE_DURATION;
    use super::super::webhook::current_ca_bundle;
    use super::*;

    fn cfg(identity: Option<&str>) -> ClusterTlsConfig {
        ClusterTlsConfig {
            webhook: Some("cfg".into()),
            hosts: vec!["injector".into(), "127.0.0.1".into()],
            namespace: "ns".into(),
            secret: share::SECRET_NAME.into(),
            lease: super::super::leader::LEASE_NAME.into(),
            identity: identity.map(String::from),
        }
    }

    fn served(slot: &CertSlot) -> Vec<u8> {
        slot.current().expect("a certificate is served").cert[0]
            .as_ref()
            .to_vec()
    }

    fn pem_der(pem: &[u8]) -> Vec<u8> {
        use rustls::pki_types::{CertificateDer, pem::PemObject as _};
        CertificateDer::pem_slice_iter(pem)
            .next()
            .unwrap()
            .unwrap()
            .as_ref()
            .to_vec()
    }

    fn patches(api: &FakeKube) -> usize {
        api.calls()
            .iter()
            .filter(|c| c.starts_with("patch"))
            .count()
    }

    #[tokio::test]
    async fn without_election_publishes_then_serves_and_reissues_near_expiry() {
        let api = Arc::new(FakeKube::with_webhook("cfg", None));
        let slot = CertSlot::new();
        let mut tls = ClusterTls::new(api.clone(), slot.clone(), cfg(None));
        let t0 = SystemTime::now();
        let wait = tls.step(t0).await;
        assert!(wait <= CHECK_INTERVAL, "{wait:?}");
        let bundle = current_ca_bundle(&api.webhook("cfg"));
        let ca = tls.generator.as_ref().unwrap().ca_pem().to_string();
        assert_eq!(bundle, ca);
        let first = served(&slot);
        assert_eq!(patches(&api), 1);
        // Periodic checks do not re-patch an unchanged bundle, nor re-issue.
        tls.step(t0 + CHECK_INTERVAL).await;
        assert_eq!(patches(&api), 1);
        assert_eq!(served(&slot), first);
        // Someone resets the bundle: repaired at the next check.
        api.put("webhook", "", "cfg", {
            let mut c = api.get("webhook", "", "cfg").unwrap();
            c["webhooks"][0]["clientConfig"]["caBundle"] = serde_json::json!("");
            c
        });
        tls.step(t0 + CHECK_INTERVAL * 2).await;
        assert_eq!(current_ca_bundle(&api.webhook("cfg")), ca);
        // Two thirds into the leaf's lifetime: a new leaf from the same CA.
        let renew = tls.bundle.as_ref().unwrap().renew_at();
        tls.step(renew).await;
        assert_ne!(served(&slot), first);
        assert_eq!(tls.generator.as_ref().unwrap().ca_pem(), ca);
        assert!(
            api.calls()
                .iter()
                .all(|c| !c.contains("secret") && !c.contains("lease"))
        );
    }

    #[tokio::test]
    async fn rollover_keeps_the_previous_ca_in_front() {
        let old = Generator::new().unwrap();
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, old.ca_pem());
        let api = Arc::new(FakeKube::with_webhook("cfg", Some(&b64)));
        let slot = CertSlot::new();
        let mut tls = ClusterTls::new(api.clone(), slot.clone(), cfg(None));
        tls.step(SystemTime::now()).await;
        let bundle = current_ca_bundle(&api.webhook("cfg"));
        assert!(bundle.starts_with(old.ca_pem().trim()));
        assert!(
            bundle
                .trim_end()
                .ends_with(tls.generator.as_ref().unwrap().ca_pem().trim())
        );
    }

    #[tokio::test]
    async fn a_failed_publish_serves_nothing_new_and_backs_off() {
        let api = Arc::new(FakeKube::with_webhook("cfg", None));
        api.fail("patch_webhook_config", true);
        let slot = CertSlot::new();
        let mut tls = ClusterTls::new(api.clone(), slot.clone(), cfg(None));
        let t0 = SystemTime::now();
        assert_eq!(tls.step(t0).await, Duration::from_millis(500));
        assert!(slot.current().is_none());
        // Too early: no new attempt.
        let calls = api.calls().len();
        tls.step(t0 + Duration::from_millis(100)).await;
        assert_eq!(api.calls().len(), calls);
        assert_eq!(
            tls.step(t0 + Duration::from_millis(600)).await,
            Duration::from_millis(750)
        );
        api.fail("patch_webhook_config", false);
        tls.step(t0 + Duration::from_secs(2)).await;
        assert!(slot.current().is_some());
        assert_eq!(tls.backoff.next_delay(), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn leader_shares_the_certificate_and_followers_serve_it_without_patching() {
        let api = Arc::new(FakeKube::with_webhook("cfg", None));
        let (slot_a, slot_b) = (CertSlot::new(), CertSlot::new());
        let mut a = ClusterTls::new(api.clone(), slot_a.clone(), cfg(Some("pod-a")));
        let mut b = ClusterTls::new(api.clone(), slot_b.clone(), cfg(Some("pod-b")));
        let t0 = SystemTime::now();
        assert_eq!(a.step(t0).await, RETRY_PERIOD);
        assert!(a.is_leader());
        let secret = share::read(&*api, "ns", share::SECRET_NAME)
            .await
            .unwrap()
            .expect("shared");
        assert_eq!(served(&slot_a), pem_der(&secret.cert_pem));
        let patches_before = patches(&api);
        b.step(t0 + Duration::from_secs(1)).await;
        assert!(!b.is_leader());
        assert_eq!(served(&slot_b), served(&slot_a));
        // Followers never touch the webhook configuration.
        for s in 1..10 {
            a.step(t0 + Duration::from_secs(2 * s)).await;
            b.step(t0 + Duration::from_secs(2 * s + 1)).await;
        }
        assert!(!b.is_leader());
        assert_eq!(patches(&api), patches_before);
        // The leader re-issues; the follower picks it up from the Secret.
        let renew = a.bundle.as_ref().unwrap().renew_at();
        a.step(renew).await;
        assert_ne!(served(&slot_a), served(&slot_b));
        b.step(renew + Duration::from_secs(1)).await;
        assert!(!b.is_leader());
        assert_eq!(served(&slot_b), served(&slot_a));
    }

    #[tokio::test]
    async fn a_new_leader_publishes_its_ca_next_to_the_old_one() {
        let api = Arc::new(FakeKube::with_webhook("cfg", None));
        let (slot_a, slot_b) = (CertSlot::new(), CertSlot::new());
        let mut a = ClusterTls::new(api.clone(), slot_a, cfg(Some("pod-a")));
        let mut b = ClusterTls::new(api.clone(), slot_b.clone(), cfg(Some("pod-b")));
        let t0 = SystemTime::now();
        a.step(t0).await;
        let ca_a = a.generator.as_ref().unwrap().ca_pem().to_string();
        b.step(t0 + Duration::from_secs(1)).await;
        // a dies; b takes over after a full lease duration of unchanged record.
        b.step(t0 + Duration::from_secs(3)).await;
        b.step(t0 + Duration::from_secs(3) + LEASE_DURATION).await;
        assert!(b.is_leader());
        let ca_b = b.generator.as_ref().unwrap().ca_pem().to_string();
        let bundle = current_ca_bundle(&api.webhook("cfg"));
        assert!(bundle.starts_with(ca_a.trim()), "{bundle}");
        assert!(bundle.trim_end().ends_with(ca_b.trim()));
        let secret = share::read(&*api, "ns", share::SECRET_NAME)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(served(&slot_b), pem_der(&secret.cert_pem));
    }

    #[tokio::test]
    async fn ca_file_is_published_as_is() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.crt");
        std::fs::write(&ca, "PEM-FROM-FILE").unwrap();
        let api = Arc::new(FakeKube::with_webhook("cfg", None));
        let mut p = CaFilePublisher {
            api: api.clone(),
            webhook: "cfg".into(),
            ca_file: ca,
            elector: None,
            backoff: Backoff::default(),
        };
        assert_eq!(p.step(SystemTime::now()).await, CHECK_INTERVAL);
        assert_eq!(current_ca_bundle(&api.webhook("cfg")), "PEM-FROM-FILE");
    }

    #[test]
    fn backoff_is_upstreams() {
        let mut b = Backoff::default();
        let ds: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(ds, [500, 750, 1125, 1687]);
        for _ in 0..20 {
            b.next_delay();
        }
        assert_eq!(b.next_delay(), Duration::from_secs(60));
    }
}
