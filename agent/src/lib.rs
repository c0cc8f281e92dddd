//! vaultlet-agent: the container the injector adds to a pod.
//!
//! It logs in to Vault, keeps its token renewed, and renders templates of secrets into files.
pub mod auth;
pub mod cache;
pub mod cli;
pub mod process;
pub mod proxy;
pub mod render;
pub mod sink;
// The engine is its own crate (`template/`); this re-export keeps the `crate::template::…` paths
// of the agent (and `vaultlet_agent::template::…` for its users) compiling unchanged.
pub use vaultlet_template as template;
pub mod token;
