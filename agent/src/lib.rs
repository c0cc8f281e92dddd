//! vaultlet-agent: the container the injector adds to a pod.
//!
//! It logs in to Vault, keeps its token renewed, and renders templates of secrets into files.
// Unit tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod atomic_file;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod process;
pub mod proxy;
pub mod render;
pub mod sink;
pub mod template;
pub mod token;
