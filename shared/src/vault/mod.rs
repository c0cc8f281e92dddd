//! The Vault HTTP client: hyper 1 + rustls (aws-lc-rs), no OpenSSL.
//!
//! - [`ClientConfig`]: address, TLS (CA file / directory / PEM bytes, client certificate,
//!   server name, skip-verify), namespace, timeout, retries, pool sizes. The agent fills it from
//!   its flags, the `VAULT_*` / `BAO_*` environment and its config (its `connection` module is
//!   the one reader of those variables).
//! - [`Client`]: cheap to clone; [`Client::with_token`] / [`Client::with_namespace`] give views
//!   that share one connection pool. Logins, token self-operations, logical read / write / list /
//!   delete, lease renew / revoke, response wrapping, and KV v2 detection with the path rewriting
//!   consul-template does ([`kv`]).
//! - Responses keep every JSON number as its literal text (the workspace's serde_json has
//!   `arbitrary_precision`), so `1e3` and `12345678901234567890` reach templates as written.
//! - Errors ([`VaultError`]) carry method, path, status and Vault's `errors` list — never a token,
//!   a request body or a secret value.

mod client;
mod env;
mod error;
pub mod kv;
pub use kv::KvOp;
pub mod proxy;
mod response;
mod retry;
pub mod tls;

pub use client::Client;
pub use env::{ClientConfig, parse_go_bool};
pub use error::{VaultError, suggests_dead_token};
pub use kv::KvMount;
pub use response::{Secret, SecretAuth, WrapInfo};
pub use retry::RetryPolicy;
