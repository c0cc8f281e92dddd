//! vaultlet-agent: the container the injector adds to a pod.
//!
//! It logs in to Vault, keeps its token renewed, and renders templates of secrets into files.
//!
//! # Layers
//!
//! A module imports only from its own layer or the layers below it (never from above):
//!
//! 1. bottom: [`cli`] (the flags' shapes), [`connection`] (where Vault is), [`logging`],
//!    [`metrics`], [`shutdown`], [`atomic_file`], [`signal`] — they import nothing from the agent —
//!    and [`copy_self`] (writes through `atomic_file`);
//! 2. [`template`] (the template engine);
//! 3. [`token`] (token lifetime);
//! 4. [`auth`] (the login loop), [`sink`], [`cache`];
//! 5. [`render`] (the template runtime; its input types live in `render::handoff`), [`supervise`]
//!    (process-supervisor mode: the child process and its rendered environment);
//! 6. [`proxy`] (the listeners);
//! 7. [`settings`] (flags + environment + config resolved into the types of the layers below);
//! 8. top: [`process`] (the run loop, PID file, signals); `main.rs` above all.

// Unit tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
pub mod atomic_file;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod connection;
pub mod copy_self;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod proxy;
pub mod render;
pub mod settings;
pub mod shutdown;
pub mod signal;
pub mod sink;
pub mod supervise;
// The engine is its own crate (`template/`); this re-export keeps the `crate::template::…` paths
// of the agent (and `vaultlet_agent::template::…` for its users) compiling unchanged.
pub use vaultlet_template as template;
pub mod token;
