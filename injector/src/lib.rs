//! vaultlet-injector: the mutating admission webhook that adds the agent to annotated pods.
//!
//! - [`admission`]: AdmissionReview in, AdmissionReview out (the pure `/mutate` handler).
//! - [`mutate`]: the decision pipeline, the injected containers, volumes, generated config and patch.
//! - [`cli`]: the flags and their `AGENT_INJECT_*` environment twins, as clap structs.
//! - [`goflag`]: Go's `flag` conventions (single dash, stop at the first non-flag, env wins).
//! - [`settings`]: the flags validated into typed [`settings::Settings`].
//! - [`server`]: the HTTPS routes and the connection loop.
//! - [`tls`]: the serving certificate: files (hot-reloaded) or generated (auto-TLS).
//! - [`k8s`]: the Kubernetes client (kube), the namespace reflector, the escaped-pods watch.
//! - [`metrics`]: upstream's Prometheus metrics; [`process_metrics`]: `process_*` from `/proc`;
//!   [`exposition`]: Prometheus' text format as Go's client writes it.
//! - [`run`]: startup in upstream's order, signals, shutdown.
//! - [`preview`]: `render`, the offline preview of what the webhook does to a file's objects.
//! - [`fixture`]: the injector settings tests run with (tests only).

// Unit tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod admission;
pub mod cli;
pub mod exposition;
pub mod fixture;
pub mod goflag;
pub mod k8s;
pub mod metrics;
pub mod mutate;
pub mod preview;
pub mod process_metrics;
pub mod run;
pub mod server;
pub mod settings;
pub mod tls;
