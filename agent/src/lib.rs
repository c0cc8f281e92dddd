//! vaultlet-agent: the container the injector adds to a pod.
//!
//! It logs in to Vault, keeps its token renewed, and renders templates of secrets into files.
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
