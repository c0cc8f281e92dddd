//! Names that exist in consul-template but need a Consul or Nomad cluster, plus the few helpers
//! vaultlet leaves out on purpose (`plugin`, `writeToFile`, `sockaddr`, `spew_*`). They parse, so
//! a template mentioning them in an unused branch still works, and fail when called
//! (agent.md §4.5, Rust decision).

use crate::{CallEnv, Func, Value};

macro_rules! refusing {
    ($($f:ident => $name:literal : $why:literal;)*) => {
        $(
            fn $f(_: &mut CallEnv<'_>, _: &[Value]) -> Result<Value, String> {
                Err(format!(concat!("function \"", $name, "\" ", $why)))
            }
        )*
        pub(super) fn lookup(name: &str) -> Option<Func> {
            Some(match name {
                $($name => $f,)*
                _ => return None,
            })
        }
    };
}

refusing! {
    datacenters => "datacenters": "needs Consul, which Vault Agent templates do not support";
    exported_services => "exportedServices": "needs Consul, which Vault Agent templates do not support";
    imported_services => "importedServices": "needs Consul, which Vault Agent templates do not support";
    key => "key": "needs Consul, which Vault Agent templates do not support";
    key_exists => "keyExists": "needs Consul, which Vault Agent templates do not support";
    key_or_default => "keyOrDefault": "needs Consul, which Vault Agent templates do not support";
    ls => "ls": "needs Consul, which Vault Agent templates do not support";
    safe_ls => "safeLs": "needs Consul, which Vault Agent templates do not support";
    node => "node": "needs Consul, which Vault Agent templates do not support";
    nodes => "nodes": "needs Consul, which Vault Agent templates do not support";
    partitions => "partitions": "needs Consul, which Vault Agent templates do not support";
    peerings => "peerings": "needs Consul, which Vault Agent templates do not support";
    service => "service": "needs Consul, which Vault Agent templates do not support";
    connect => "connect": "needs Consul, which Vault Agent templates do not support";
    services => "services": "needs Consul, which Vault Agent templates do not support";
    tree => "tree": "needs Consul, which Vault Agent templates do not support";
    safe_tree => "safeTree": "needs Consul, which Vault Agent templates do not support";
    ca_roots => "caRoots": "needs Consul, which Vault Agent templates do not support";
    ca_leaf => "caLeaf": "needs Consul, which Vault Agent templates do not support";
    by_key => "byKey": "needs Consul, which Vault Agent templates do not support";
    by_port => "byPort": "needs Consul, which Vault Agent templates do not support";
    by_tag => "byTag": "needs Consul, which Vault Agent templates do not support";
    by_meta => "byMeta": "needs Consul, which Vault Agent templates do not support";
    explode => "explode": "needs Consul, which Vault Agent templates do not support";
    nomad_services => "nomadServices": "needs Nomad, which Vault Agent templates do not support";
    nomad_service => "nomadService": "needs Nomad, which Vault Agent templates do not support";
    nomad_var_list => "nomadVarList": "needs Nomad, which Vault Agent templates do not support";
    nomad_var_list_safe => "nomadVarListSafe": "needs Nomad, which Vault Agent templates do not support";
    nomad_var => "nomadVar": "needs Nomad, which Vault Agent templates do not support";
    nomad_var_exists => "nomadVarExists": "needs Nomad, which Vault Agent templates do not support";
    plugin => "plugin": "is not supported by vaultlet (it would run arbitrary programs from a template)";
    write_to_file => "writeToFile": "is not supported by vaultlet";
    sockaddr => "sockaddr": "is not supported by vaultlet";
    spew_dump => "spew_dump": "is not supported by vaultlet";
    spew_sdump => "spew_sdump": "is not supported by vaultlet";
    spew_printf => "spew_printf": "is not supported by vaultlet";
    spew_sprintf => "spew_sprintf": "is not supported by vaultlet";
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;

    #[test]
    fn consul_names_parse_but_fail_when_called() {
        assert_eq!(
            show("key", &[s("a")]),
            "ERR function \"key\" needs Consul, which Vault Agent templates do not support"
        );
        assert_eq!(
            show("service", &[]),
            "ERR function \"service\" needs Consul, which Vault Agent templates do not support"
        );
        assert_eq!(
            show("nomadVar", &[]),
            "ERR function \"nomadVar\" needs Nomad, which Vault Agent templates do not support"
        );
        assert!(
            show("plugin", &[s("/bin/sh")]).starts_with("ERR function \"plugin\" is not supported")
        );
    }
}
