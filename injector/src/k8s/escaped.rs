//! Pods that escaped injection (extension, injector.md §2.8): a metadata-only watch of every pod
//! (`meta.k8s.io/v1` `PartialObjectMetadata`: no spec, no status); a pod whose own annotations ask
//! for injection (`agent-inject` true, either prefix) but carry no `agent-inject-status` was
//! admitted without the webhook (down, unreachable, `failurePolicy: Ignore`, or created before the
//! injector was installed). Each is logged once, and counted per namespace in the
//! `vaultlet_injector_escaped_pods` gauge. Annotations cannot be selected by the API server, so
//! the selection happens here; only the escaped pods are kept in memory.
//!
//! [`Tracker`] is the pure part: watcher events in, what to log and the counts out.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt as _, watcher as watch_objects};
use tokio::sync::watch;
use vaultlet_shared::annotations::Annotations;

use crate::metrics::EscapedGauge;

/// A pod as the watch sees it.
pub type PodMeta = PartialObjectMeta<Pod>;

/// An escaped pod: namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Escaped {
    pub namespace: String,
    pub name: String,
}

/// Whether the pod asks for injection itself and carries no `agent-inject-status`.
pub fn escaped(pod: &PodMeta) -> bool {
    let Some(a) = pod.metadata.annotations.as_ref() else {
        return false;
    };
    // Most pods of a cluster carry no injector annotation: no allocation for them.
    if !a.keys().any(|k| k.ends_with("/agent-inject")) {
        return false;
    }
    let a = Annotations::from_pairs(a.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    a.wants_injection() == Ok(true) && a.get("agent-inject-status").is_none()
}

/// The escaped pods known, by uid.
#[derive(Debug, Default)]
pub struct Tracker {
    current: HashMap<String, Escaped>,
    /// The list being received after a (re)start of the watch.
    pending: Option<HashMap<String, Escaped>>,
    /// Uids already logged (a re-list does not log them again).
    logged: HashSet<String>,
}

fn key(pod: &PodMeta) -> Option<(String, Escaped)> {
    let m = &pod.metadata;
    let uid = m.uid.clone().or_else(|| {
        Some(format!(
            "{}/{}",
            m.namespace.as_deref()?,
            m.name.as_deref()?
        ))
    })?;
    Some((
        uid,
        Escaped {
            namespace: m.namespace.clone().unwrap_or_default(),
            name: m.name.clone().unwrap_or_default(),
        },
    ))
}

impl Tracker {
    /// Takes one watcher event; answers the pods that escaped and were not logged yet.
    pub fn on_event(&mut self, ev: Event<PodMeta>) -> Vec<Escaped> {
        match ev {
            Event::Init => {
                self.pending = Some(HashMap::new());
                Vec::new()
            }
            Event::InitApply(pod) => {
                if escaped(&pod)
                    && let (Some(p), Some((uid, e))) = (self.pending.as_mut(), key(&pod))
                {
                    p.insert(uid, e);
                }
                Vec::new()
            }
            Event::InitDone => {
                if let Some(p) = self.pending.take() {
                    self.current = p;
                }
                self.logged.retain(|uid| self.current.contains_key(uid));
                let mut new: Vec<Escaped> = Vec::new();
                for (uid, e) in &self.current {
                    if self.logged.insert(uid.clone()) {
                        new.push(e.clone());
                    }
                }
                new.sort();
                new
            }
            Event::Apply(pod) => {
                let Some((uid, e)) = key(&pod) else {
                    return Vec::new();
                };
                if !escaped(&pod) {
                    self.current.remove(&uid);
                    self.logged.remove(&uid);
                    return Vec::new();
                }
                self.current.insert(uid.clone(), e.clone());
                if self.logged.insert(uid) {
                    vec![e]
                } else {
                    Vec::new()
                }
            }
            Event::Delete(pod) => {
                if let Some((uid, _)) = key(&pod) {
                    self.current.remove(&uid);
                    self.logged.remove(&uid);
                }
                Vec::new()
            }
        }
    }

    /// Escaped pods per namespace (namespaces without any are absent).
    pub fn counts(&self) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for e in self.current.values() {
            *out.entry(e.namespace.clone()).or_insert(0) += 1;
        }
        out
    }
}

/// Watches pods until `shutdown`, logging each escaped pod once and keeping `gauge` (when
/// metrics are served) equal to [`Tracker::counts`].
pub async fn run(
    client: kube::Client,
    gauge: Option<EscapedGauge>,
    mut shutdown: watch::Receiver<bool>,
) {
    let stream = watch_objects(
        Api::<PodMeta>::all(client),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut tracker = Tracker::default();
    let mut shown: BTreeMap<String, i64> = BTreeMap::new();
    loop {
        let ev = tokio::select! {
            ev = stream.next() => ev,
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
        };
        match ev {
            Some(Ok(ev)) => {
                for e in tracker.on_event(ev) {
                    tracing::warn!(
                        namespace = %e.namespace,
                        pod = %e.name,
                        "pod escaped injection: annotated for injection but admitted without it (no agent-inject-status); recreate it once the webhook is reachable"
                    );
                }
                let counts = tracker.counts();
                if let Some(g) = &gauge
                    && counts != shown
                {
                    for ns in shown.keys().filter(|ns| !counts.contains_key(*ns)) {
                        g.set(ns, 0);
                    }
                    for (ns, n) in &counts {
                        g.set(ns, *n);
                    }
                }
                shown = counts;
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "escaped pods: cannot list or watch pods; retrying");
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: &str, name: &str, uid: &str, annotations: &[(&str, &str)]) -> PodMeta {
        let mut p = PodMeta::default();
        p.metadata.namespace = Some(ns.into());
        p.metadata.name = Some(name.into());
        p.metadata.uid = Some(uid.into());
        p.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        p
    }

    const WANTS: (&str, &str) = ("vault.hashicorp.com/agent-inject", "true");
    const DONE: (&str, &str) = ("vault.hashicorp.com/agent-inject-status", "injected");

    #[test]
    fn only_pods_asking_for_injection_without_status_escaped() {
        assert!(escaped(&pod("a", "p", "1", &[WANTS])));
        assert!(escaped(&pod(
            "a",
            "p",
            "1",
            &[("openbao.org/agent-inject", "1")]
        )));
        assert!(!escaped(&pod("a", "p", "1", &[WANTS, DONE])));
        assert!(!escaped(&pod(
            "a",
            "p",
            "1",
            &[WANTS, ("openbao.org/agent-inject-status", "update")]
        )));
        assert!(!escaped(&pod(
            "a",
            "p",
            "1",
            &[("vault.hashicorp.com/agent-inject", "false")]
        )));
        assert!(!escaped(&pod(
            "a",
            "p",
            "1",
            &[("vault.hashicorp.com/agent-inject", "yes")]
        )));
        assert!(!escaped(&pod("a", "p", "1", &[])));
    }

    #[test]
    fn logged_once_counted_per_namespace_and_dropped_when_injected_or_gone() {
        let mut t = Tracker::default();
        assert!(t.on_event(Event::Init).is_empty());
        t.on_event(Event::InitApply(pod("a", "p1", "1", &[WANTS])));
        t.on_event(Event::InitApply(pod("a", "p2", "2", &[WANTS, DONE])));
        t.on_event(Event::InitApply(pod("b", "p3", "3", &[WANTS])));
        let logged = t.on_event(Event::InitDone);
        assert_eq!(logged.len(), 2);
        assert_eq!(
            t.counts(),
            BTreeMap::from([("a".into(), 1), ("b".into(), 1)])
        );
        // A modification of an escaped pod is not logged again.
        assert!(
            t.on_event(Event::Apply(pod("a", "p1", "1", &[WANTS])))
                .is_empty()
        );
        // A new one is.
        let e = t.on_event(Event::Apply(pod("a", "p4", "4", &[WANTS])));
        assert_eq!(
            e,
            [Escaped {
                namespace: "a".into(),
                name: "p4".into()
            }]
        );
        assert_eq!(t.counts()["a"], 2);
        // It gets its status (an annotation added by hand or a re-creation): it drops.
        t.on_event(Event::Apply(pod("a", "p4", "4", &[WANTS, DONE])));
        t.on_event(Event::Delete(pod("b", "p3", "3", &[WANTS])));
        assert_eq!(t.counts(), BTreeMap::from([("a".into(), 1)]));
        // A re-list (the watch restarted) logs nothing already logged, and forgets what is gone.
        t.on_event(Event::Init);
        t.on_event(Event::InitApply(pod("a", "p1", "1", &[WANTS])));
        assert!(t.on_event(Event::InitDone).is_empty());
        t.on_event(Event::Init);
        assert!(t.on_event(Event::InitDone).is_empty());
        assert!(t.counts().is_empty());
        t.on_event(Event::Init);
        t.on_event(Event::InitApply(pod("a", "p1", "1", &[WANTS])));
        assert_eq!(
            t.on_event(Event::InitDone).len(),
            1,
            "gone, then back: logged again"
        );
    }
}
