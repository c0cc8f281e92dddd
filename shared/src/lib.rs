//! vaultlet-shared: what the injector and the agent both speak.
//!
//! - [`vault`]: the Vault HTTP client (hyper + rustls), its errors and response types.
//! - [`config`]: the Vault Agent configuration types, loaded from JSON or HCL; the injector writes
//!   them and the agent reads them, so this is the one contract between the two binaries.
//! - [`json`]: literal-exact JSON values (numbers as sent) for secrets that reach templates.
//! - [`go`]: the Go primitives whose exact behaviour is the product (`strconv`, JSON quoting).
//! - [`annotations`]: the `vault.hashicorp.com/*` pod annotation table and the typed `AgentSpec`.
//! - [`logging`]: hclog-shaped log lines (text and JSON), the one formatter both binaries log with.
//! - [`signal`]: signal names, for the agent's `signal` subcommand and the annotation that sets it.

pub mod annotations;
pub mod config;
pub mod go;
pub mod json;
pub mod logging;
pub mod signal;
pub mod vault;
