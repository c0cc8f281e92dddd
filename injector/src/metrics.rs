//! Prometheus metrics with upstream's names and help texts (injector.md §6.6), served in the text
//! format at `-telemetry-path` when it is set, as Go's client writes it ([`crate::exposition`]);
//! the `process_*` metrics ([`crate::process_metrics`]); and ours (extension): refusals and
//! warnings by reason (injector.md §2.6).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::admission::Outcome;

/// Upstream's buckets for the processing time, in milliseconds.
const BUCKETS_MS: [f64; 13] = [
    5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InjectionLabels {
    namespace: String,
    injection_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceLabel {
    namespace: String,
}

/// A bounded reason label (`Refusal::reason`, `WarningKind::label`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The injector's metrics.
pub struct Metrics {
    registry: Registry,
    queue: Gauge,
    duration: Histogram,
    injections: Family<InjectionLabels, Counter>,
    failures: Family<NamespaceLabel, Counter>,
    refusals: Family<ReasonLabel, Counter>,
    warnings: Family<ReasonLabel, Counter>,
    escaped: Family<NamespaceLabel, Gauge>,
}

/// The escaped-pods gauge (injector.md §2.8), written by the pod watch.
#[derive(Clone, Debug, Default)]
pub struct EscapedGauge(Family<NamespaceLabel, Gauge>);

impl EscapedGauge {
    /// Sets the count of `namespace`; 0 drops its series.
    pub fn set(&self, namespace: &str, n: i64) {
        let label = NamespaceLabel {
            namespace: namespace.to_string(),
        };
        if n == 0 {
            self.0.remove(&label);
        } else {
            self.0.get_or_create(&label).set(n);
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let queue = Gauge::default();
        let duration = Histogram::new(BUCKETS_MS);
        let injections = Family::<InjectionLabels, Counter>::default();
        let failures = Family::<NamespaceLabel, Counter>::default();
        registry.register(
            "vault_agent_injector_request_queue_length",
            "Count of webhook requests in the injector's queue",
            queue.clone(),
        );
        registry.register(
            "vault_agent_injector_request_processing_duration_ms",
            "Webhook request processing times in milliseconds",
            duration.clone(),
        );
        // prometheus-client appends `_total` to counters.
        registry.register(
            "vault_agent_injector_injections_by_namespace",
            "Total count of Agent Sidecar injections by namespace",
            injections.clone(),
        );
        registry.register(
            "vault_agent_injector_failed_injections_by_namespace",
            "Total count of failed Agent Sidecar injections by namespace",
            failures.clone(),
        );
        let refusals = Family::<ReasonLabel, Counter>::default();
        let warnings = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "vaultlet_injector_refusals",
            "Pods refused, by the step that refused them",
            refusals.clone(),
        );
        registry.register(
            "vaultlet_injector_admission_warnings",
            "Warnings returned with admission answers, by reason",
            warnings.clone(),
        );
        registry.register_collector(Box::new(crate::process_metrics::ProcessCollector));
        let escaped = Family::<NamespaceLabel, Gauge>::default();
        registry.register(
            "vaultlet_injector_escaped_pods",
            "Pods annotated for injection that run without it (no agent-inject-status), by namespace",
            escaped.clone(),
        );
        Self {
            registry,
            queue,
            duration,
            injections,
            failures,
            refusals,
            warnings,
            escaped,
        }
    }

    /// The escaped-pods gauge, for the pod watch to set.
    pub fn escaped_pods(&self) -> EscapedGauge {
        EscapedGauge(self.escaped.clone())
    }

    /// A `/mutate` call started; the guard ends it (gauge down, time observed) when dropped.
    pub fn request(&self) -> RequestGuard<'_> {
        self.queue.inc();
        RequestGuard {
            m: self,
            start: std::time::Instant::now(),
        }
    }

    /// Counts what a review decided.
    pub fn record(&self, o: &Outcome) {
        for w in &o.warnings {
            self.warnings
                .get_or_create(&ReasonLabel {
                    reason: w.kind.label(),
                })
                .inc();
        }
        if let Some(reason) = o.refusal_reason {
            self.refusals.get_or_create(&ReasonLabel { reason }).inc();
        }
        if o.refused {
            self.failures
                .get_or_create(&NamespaceLabel {
                    namespace: o.namespace.clone(),
                })
                .inc();
        } else if o.patched && (o.init_injected || o.sidecar_injected) {
            let injection_type = match (o.init_injected, o.sidecar_injected) {
                (true, true) => "init_and_sidecar",
                (true, false) => "init_only",
                _ => "sidecar_only",
            };
            self.injections
                .get_or_create(&InjectionLabels {
                    namespace: o.namespace.clone(),
                    injection_type,
                })
                .inc();
        }
    }

    /// A response could not be written back (counted as a failure, as upstream does).
    pub fn write_failed(&self, namespace: &str) {
        self.failures
            .get_or_create(&NamespaceLabel {
                namespace: namespace.to_string(),
            })
            .inc();
    }

    /// The text exposition (Prometheus' text format 0.0.4, numbers as Go writes them).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        crate::exposition::text_format(&out)
    }
}

/// Ends one request's measurement on drop.
pub struct RequestGuard<'a> {
    m: &'a Metrics,
    start: std::time::Instant,
}

impl Drop for RequestGuard<'_> {
    fn drop(&mut self) {
        self.m.queue.dec();
        self.m
            .duration
            .observe(self.start.elapsed().as_millis() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_and_counts_match_upstream() {
        let m = Metrics::new();
        {
            let _g = m.request();
            assert!(
                m.encode()
                    .contains("vault_agent_injector_request_queue_length 1")
            );
        }
        m.record(&Outcome {
            patched: true,
            init_injected: true,
            sidecar_injected: true,
            namespace: "app".into(),
            ..Outcome::default()
        });
        m.record(&Outcome {
            patched: true,
            init_injected: true,
            namespace: "app".into(),
            ..Outcome::default()
        });
        m.record(&Outcome {
            refused: true,
            namespace: "kube-system".into(),
            refusal_reason: Some("system_namespace"),
            ..Outcome::default()
        });
        // Allowed but skipped: counts nowhere.
        m.record(&Outcome {
            namespace: "app".into(),
            ..Outcome::default()
        });
        let text = m.encode();
        assert!(
            text.contains("vault_agent_injector_request_queue_length 0"),
            "{text}"
        );
        assert!(
            text.contains("vault_agent_injector_request_processing_duration_ms_count 1"),
            "{text}"
        );
        // Go's client writes bucket bounds in their shortest form.
        assert!(text.contains("le=\"7500\""), "{text}");
        assert!(text.contains("le=\"+Inf\""), "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.contains(
            "vault_agent_injector_injections_by_namespace_total{namespace=\"app\",injection_type=\"init_and_sidecar\"} 1"
        ), "{text}");
        assert!(text.contains(
            "vault_agent_injector_injections_by_namespace_total{namespace=\"app\",injection_type=\"init_only\"} 1"
        ), "{text}");
        assert!(text.contains(
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"kube-system\"} 1"
        ), "{text}");
        assert!(text.contains("# HELP vault_agent_injector_injections_by_namespace_total Total count of Agent Sidecar injections by namespace"), "{text}");
        assert!(
            text.contains("# TYPE vault_agent_injector_injections_by_namespace_total counter"),
            "{text}"
        );
        assert!(
            text.contains("vaultlet_injector_refusals_total{reason=\"system_namespace\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn refusals_and_warnings_are_counted_by_reason() {
        use crate::mutate::checks::{Warning, WarningKind};
        let m = Metrics::new();
        let w = |kind| Warning {
            kind,
            text: "w".into(),
        };
        m.record(&Outcome {
            patched: true,
            init_injected: true,
            namespace: "app".into(),
            warnings: vec![
                w(WarningKind::UnknownKey),
                w(WarningKind::UnknownKey),
                w(WarningKind::NoEffect),
            ],
            ..Outcome::default()
        });
        m.record(&Outcome {
            refused: true,
            namespace: "app".into(),
            refusal_reason: Some("template"),
            warnings: vec![w(WarningKind::UnknownKey)],
            ..Outcome::default()
        });
        let text = m.encode();
        for line in [
            "vaultlet_injector_admission_warnings_total{reason=\"unknown_key\"} 3",
            "vaultlet_injector_admission_warnings_total{reason=\"no_effect\"} 1",
            "vaultlet_injector_refusals_total{reason=\"template\"} 1",
            "vault_agent_injector_failed_injections_by_namespace_total{namespace=\"app\"} 1",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }
}
