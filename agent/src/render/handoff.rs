//! What the template runtime receives from the agent's run loop (`process::run`): the resolved
//! [`RenderSettings`] (built once by the settings step, templates already parsed) and
//! the channels of a [`TemplateHandoff`]. It lives here, with its consumer, so that `render` takes
//! nothing from the layers above it.
//!
//! # Contract
//!
//! The runtime is a one-shot [`TemplateRuntime`] given a [`TemplateHandoff`] (a `watch` receiver of
//! auth tokens — `None` until the first login, then only changed tokens — the shutdown signal, and
//! the [`Refusals`] to report a refused token to, agent.md §3.6) that returns a future:
//! - **init mode** (`exit_after_auth`): the future must resolve `Ok(())` once every template has been
//!   rendered once; the agent exits 0 when that and "every sink wrote the token" both hold. `Err` ⇒
//!   exit 1 with the message.
//! - **sidecar mode**: the future runs until shutdown; `Ok(())` is ignored (the agent keeps running
//!   until a signal), `Err` ⇒ the agent stops with exit 1 (`exit_on_retry_failure`).
//!
//! With no runtime given (or no templates), "templates rendered" is immediately true.
//!
//! With a persistent cache (agent.md §7.3) the handoff also carries the leases restored for the
//! sidecar ([`TemplateHandoff::restored_leases`]) or, in init mode, where to report the leases
//! rendered with ([`TemplateHandoff::lease_report`]; sent before the future resolves `Ok`).
//! Env templates (process-supervisor mode, agent.md §1.11) are rendered in memory: the runtime
//! sends their values on [`TemplateHandoff::env`] once every template has rendered, and again
//! whenever one of them changes (also when a new token starts a new runner, with the same values
//! then: the receiver compares).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use super::error::RenderError;
use super::runner::RunnerSettings;
use crate::cache::LeaseRecord;
use crate::connection::Connection;
use crate::token::AuthToken;
use crate::token::check::Refusals;

/// Variables by name with their values' bytes: a Go string, and so a rendered value, need not be
/// UTF-8, and the child gets the bytes as upstream passes them (agent.md §1.11, §4.5.3).
pub type EnvMap = BTreeMap<String, Vec<u8>>;

/// The env templates' values by variable name, complete (agent.md §1.11).
pub type RenderedEnv = Arc<EnvMap>;

/// The template runtime's settings, resolved before start-up.
#[derive(Clone, Debug)]
pub struct RenderSettings {
    /// The jobs (one per `template` stanza), refresh, retries and command environment.
    pub runner: RunnerSettings,
    /// `template_config.exit_on_retry_failure` (agent.md §5.6).
    pub exit_on_retry_failure: bool,
}

/// What the template runtime receives.
pub struct TemplateHandoff {
    pub settings: Arc<RenderSettings>,
    /// Auth tokens: `None` until the first login; afterwards each new (changed) token.
    pub tokens: watch::Receiver<Option<AuthToken>>,
    /// Turns `true` when the agent shuts down.
    pub shutdown: watch::Receiver<bool>,
    /// Where a fetch refused in a way that may mean a dead token is reported: auto-auth checks
    /// the token and, if it is dead, logs in again and hands over a new one (agent.md §3.6).
    pub refusals: Refusals,
    /// Init mode: render once and resolve.
    pub exit_after_auth: bool,
    /// Set to `true` once every template has been rendered once (either mode; it stays `true`
    /// across runner restarts). The native sidecar's readiness marker waits for it (injector.md §4.10).
    pub rendered: watch::Sender<bool>,
    /// Where Vault is, after `-address`/`VAULT_ADDR`/`vault` stanza precedence (agent.md §1.1),
    /// with the TLS files and namespace: build the template client from this.
    pub connection: Arc<Connection>,
    /// Where the env templates' values go (agent.md §1.11); `None` without env templates.
    pub env: Option<watch::Sender<Option<RenderedEnv>>>,
    /// Sidecar: the leased answers restored from the persistent cache with the token they belong
    /// to (agent.md §7.3); the first runner with that token starts from them.
    pub restored_leases: Option<CachedLeases>,
    /// Init mode with a persistent cache: where the runtime reports, once every template has
    /// rendered, the token it rendered with and the leased answers it holds (agent.md §7.3).
    pub lease_report: Option<oneshot::Sender<CachedLeases>>,
}

/// Leased template answers and the token they were fetched with (agent.md §7.3). No `Debug`: it
/// holds a token.
pub struct CachedLeases {
    pub token: String,
    pub leases: Vec<LeaseRecord>,
}

/// The future a [`TemplateRuntime`] returns (`Err`: why the runtime stopped; the agent stops with it).
pub type TemplateFuture = Pin<Box<dyn Future<Output = Result<(), RenderError>>>>;

/// The template runtime's entry point (see the module docs for its contract).
pub type TemplateRuntime = Box<dyn FnOnce(TemplateHandoff) -> TemplateFuture>;
