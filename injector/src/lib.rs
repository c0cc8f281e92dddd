//! vaultlet-injector: the mutating admission webhook that adds the agent to annotated pods.
//!
//! - [`admission`]: AdmissionReview in, AdmissionReview out (the pure `/mutate` handler).
//! - [`mutate`]: the decision pipeline, the injected containers, volumes, generated config and patch.

pub mod admission;
pub mod mutate;
