//! Namespace defaults (extension, injector.md §2.7): a reflector over the namespaces' metadata
//! (a `meta.k8s.io/v1` `PartialObjectMetadata` list and watch: names and annotations, no spec)
//! keeps them in memory; admission reads that cache through
//! [`crate::mutate::NamespaceDefaults`], never the API.

use std::time::Duration;

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::watch;
use vaultlet_shared::annotations::Annotations;

use crate::mutate::NamespaceDefaults;

/// The namespaces as last seen.
#[derive(Clone)]
pub struct NamespaceCache {
    store: Store<PartialObjectMeta<Namespace>>,
    /// The first error of the list or watch (e.g. 403 without the RBAC), for start-up to report.
    failed: watch::Receiver<Option<String>>,
}

impl NamespaceCache {
    /// Starts the reflector (until `shutdown`); the cache fills once the first list is in.
    pub fn start(client: kube::Client, mut shutdown: watch::Receiver<bool>) -> Self {
        let (store, writer) = reflector::store();
        let stream = reflector::reflector(
            writer,
            watcher::watcher(
                Api::<PartialObjectMeta<Namespace>>::all(client),
                watcher::Config::default().any_semantic(),
            )
            // Only the name and the annotations are read: the rest is not kept in memory.
            .modify(|ns| {
                let m = &mut ns.metadata;
                m.managed_fields = None;
                m.labels = None;
                m.owner_references = None;
                m.finalizers = None;
            }),
        )
        .default_backoff();
        let (failed_tx, failed) = watch::channel(None);
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                tokio::select! {
                    ev = stream.next() => match ev {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "namespace defaults: cannot list or watch namespaces (RBAC: namespaces get/list/watch); retrying");
                            failed_tx.send_if_modified(|f| f.is_none() && { *f = Some(e.to_string()); true });
                        }
                        None => return,
                    },
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                }
            }
        });
        Self { store, failed }
    }

    /// Waits for the first complete list, at most `limit`, and no longer once the list or watch
    /// has failed (a cluster without the RBAC must not delay start-up): `Err` says why not.
    pub async fn wait_until_ready(&self, limit: Duration) -> Result<(), String> {
        let mut failed = self.failed.clone();
        tokio::select! {
            r = tokio::time::timeout(limit, self.store.wait_until_ready()) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err("the reflector stopped".into()),
                Err(_) => Err(format!("no namespace list after {limit:?}")),
            },
            r = failed.wait_for(Option::is_some) => Err(match r {
                Ok(e) => e.clone().unwrap_or_default(),
                Err(_) => "the reflector stopped".into(),
            }),
        }
    }
}

impl NamespaceDefaults for NamespaceCache {
    fn annotations(&self, namespace: &str) -> Option<Annotations> {
        let ns = self.store.get(&ObjectRef::new(namespace))?;
        let a = ns.metadata.annotations.as_ref()?;
        let a = Annotations::from_pairs(a.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let any = a.iter().next().is_some();
        any.then_some(a)
    }
}
