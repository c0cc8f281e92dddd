//! vaultlet-agent: the container the injector adds to a pod.
//!
//! It logs in to Vault, keeps its token renewed, and renders templates of secrets into files.
