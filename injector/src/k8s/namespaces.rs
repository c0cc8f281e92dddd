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
            ),
        )
        .default_backoff();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            loop {
                tokio::select! {
                    ev = stream.next() => match ev {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => tracing::warn!(error = %e, "namespace defaults: cannot list or watch namespaces; retrying"),
                        None => return,
                    },
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
                }
            }
        });
        Self { store }
    }

    /// Waits (at most `limit`) for the first complete list; answers whether it came.
    pub async fn wait_until_ready(&self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.store.wait_until_ready()).await,
            Ok(Ok(()))
        )
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
