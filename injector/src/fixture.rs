//! The injector settings tests run with, written once (issue 14, item 8): the unit tests, the
//! integration tests (`injector/tests/`) and the end-to-end tests (`tests/tests/`) all build their
//! [`Settings`] and [`InjectorDefaults`] here. The binary does not use this module.
//!
//! A [`TestInjector`] is a configuration given the way an operator gives it, as `AGENT_INJECT_*`
//! environment ([`TestInjector::env`], what a spawned binary gets) and flags; its settings are
//! read through the real command line ([`crate::cli::parse`], [`Settings::from_cli`]), so an
//! in-process review and the spawned binary are configured alike.

use vaultlet_shared::annotations::{AgentFlavor, InjectorDefaults};

use crate::cli::{Invocation, parse};
use crate::settings::Settings;

/// The Vault address tests use unless they name another (the golden files carry it).
pub const VAULT_ADDR: &str = "https://vault.vault.svc:8200";

/// The agent image tests use for every flavor (fixed, so that outputs do not change with the
/// crate's version).
pub const AGENT_IMAGE: &str = "vaultlet/vaultlet:test";

/// One test injector's configuration: upstream's defaults, except the Vault address, the agent
/// image and the flavor.
#[derive(Debug, Clone)]
pub struct TestInjector {
    vault_address: String,
    flavor: AgentFlavor,
}

impl Default for TestInjector {
    fn default() -> Self {
        Self {
            vault_address: VAULT_ADDR.to_owned(),
            flavor: AgentFlavor::Vaultlet,
        }
    }
}

impl TestInjector {
    /// [`VAULT_ADDR`], [`AGENT_IMAGE`], the vaultlet flavor, and upstream's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Another Vault address (the command line requires one).
    pub fn vault_address(mut self, address: &str) -> Self {
        address.clone_into(&mut self.vault_address);
        self
    }

    /// Another agent flavor (the image stays [`AGENT_IMAGE`]).
    pub fn flavor(mut self, flavor: AgentFlavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// The `AGENT_INJECT_*` environment that configures the injector so.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let flavor = match self.flavor {
            AgentFlavor::Vaultlet => "vaultlet",
            AgentFlavor::Vault => "vault",
            AgentFlavor::Openbao => "openbao",
        };
        vec![
            ("AGENT_INJECT_VAULT_ADDR", self.vault_address.clone()),
            ("AGENT_INJECT_VAULT_IMAGE", AGENT_IMAGE.to_owned()),
            ("AGENT_INJECT_AGENT_FLAVOR", flavor.to_owned()),
            // Upstream's resources for every flavor, so that outputs stay comparable with
            // upstream's (our flavor's own defaults: injector.md §4.5, tested in settings.rs).
            ("AGENT_INJECT_CPU_REQUEST", "250m".to_owned()),
            ("AGENT_INJECT_MEM_REQUEST", "64Mi".to_owned()),
            ("AGENT_INJECT_CPU_LIMIT", "500m".to_owned()),
            ("AGENT_INJECT_MEM_LIMIT", "128Mi".to_owned()),
        ]
    }

    /// The validated settings of `vaultlet-injector agent-inject <flags>` in [`Self::env`];
    /// panics with the startup error when they are refused.
    pub fn settings(&self, flags: &[&str]) -> Settings {
        let mut args = vec!["vaultlet-injector".into(), "agent-inject".into()];
        args.extend(flags.iter().map(Into::into));
        let env = self.env();
        let lookup = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        match parse(args, &lookup) {
            Ok(Invocation::Serve(f)) => Settings::from_cli(*f)
                .unwrap_or_else(|e| panic!("the test injector's settings are refused: {e}")),
            Ok(Invocation::Version | Invocation::Render(_)) => {
                unreachable!("`agent-inject` is not another subcommand")
            }
            Err(e) => panic!("the test injector's flags are refused: {e}"),
        }
    }

    /// The agent defaults (what `/mutate` is configured with), as [`Self::settings`] has them.
    pub fn defaults(&self) -> InjectorDefaults {
        self.settings(&[]).defaults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_and_settings_agree() {
        let t = TestInjector::new()
            .vault_address("http://127.0.0.1:8200")
            .flavor(AgentFlavor::Openbao);
        let d = t.defaults();
        assert_eq!(d.vault_address, "http://127.0.0.1:8200");
        assert_eq!(d.vault_image, AGENT_IMAGE);
        assert_eq!(d.agent_flavor, AgentFlavor::Openbao);
        // Everything else is upstream's default.
        assert_eq!(
            d,
            InjectorDefaults {
                vault_address: "http://127.0.0.1:8200".into(),
                vault_image: AGENT_IMAGE.into(),
                ..InjectorDefaults::for_flavor(AgentFlavor::Openbao)
            }
        );
        let s = t.settings(&["-listen=127.0.0.1:0"]);
        assert_eq!(s.listen, "127.0.0.1:0");
        assert_eq!(s.defaults, d);
    }
}
