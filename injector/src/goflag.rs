//! Go's `flag` package conventions, which clap does not have, adapted in a pre-pass over the
//! arguments (injector.md §6.1):
//! - single-dash long flags (`-listen=:8080`, `-listen :8080`, bare booleans `-use-leader-elector`),
//!   and the one-letter names of `render`'s own flags (`-f pod.yaml`, `--f=pod.yaml`);
//! - parsing stops at the first argument that is not a flag and ignores the rest, so the Helm
//!   chart's literal `2>&1` argument is harmless;
//! - an environment variable set to a non-empty value **overrides** the flag (upstream applies the
//!   environment after the flags; clap's own precedence is the reverse, so the pre-pass drops such
//!   flags and lets clap read the variable).

use std::ffi::OsString;

/// Turns Go-style arguments into clap's `--name=value` form, stopping at the first non-flag,
/// dropping flags whose environment variable is set, and appending those variables' values (the
/// environment wins).
pub(crate) fn go_flags(
    cmd: &clap::Command,
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<OsString>, clap::Error> {
    let mut out = Vec::new();
    let mut it = args.into_iter().peekable();
    while let Some(arg) = it.next() {
        let Some(s) = arg.to_str() else { break };
        if s == "--" || !s.starts_with('-') || s == "-" {
            break; // Go's flag package stops here; the rest (e.g. `2>&1`) is ignored.
        }
        let body = s.trim_start_matches('-');
        if s.starts_with("---") || body.is_empty() {
            return Err(cmd.clone().error(
                clap::error::ErrorKind::UnknownArgument,
                format!("bad flag syntax: {s}"),
            ));
        }
        if matches!(body, "h" | "help") {
            out.push(OsString::from("--help"));
            continue;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        // A flag is named by its long name or, for the few that have one (`render -f`), its
        // one-letter short name; either way clap gets the long name.
        let short = name.parse::<char>().ok();
        let Some(def) = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(name) || (short.is_some() && a.get_short() == short))
        else {
            return Err(cmd.clone().error(
                clap::error::ErrorKind::UnknownArgument,
                format!("flag provided but not defined: -{name}"),
            ));
        };
        let is_bool = def.get_num_args().is_some_and(|r| r.min_values() == 0);
        let value = match value {
            Some(v) => Some(v),
            None if is_bool => None,
            None => match it.next().and_then(|v| v.into_string().ok()) {
                Some(v) => Some(v),
                None => {
                    return Err(cmd.clone().error(
                        clap::error::ErrorKind::InvalidValue,
                        format!("flag needs an argument: -{name}"),
                    ));
                }
            },
        };
        let env_set = def
            .get_env()
            .and_then(|e| e.to_str())
            .and_then(env)
            .is_some_and(|v| !v.is_empty());
        if env_set {
            continue;
        }
        let long = def.get_long().unwrap_or(name);
        out.push(OsString::from(match value {
            Some(v) => format!("--{long}={v}"),
            None => format!("--{long}"),
        }));
    }
    // The environment, read through `env` (not by clap) so the precedence above holds and tests
    // do not depend on the process environment.
    for a in cmd.get_arguments() {
        let (Some(long), Some(var)) = (a.get_long(), a.get_env().and_then(|e| e.to_str())) else {
            continue;
        };
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            out.push(OsString::from(format!("--{long}={v}")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use vaultlet_shared::annotations::AgentFlavor;

    use crate::settings::tests::run;

    #[test]
    fn go_style_flags_and_the_charts_stray_argument() {
        let s = run(
            &[
                "vaultlet-injector",
                "agent-inject",
                "-listen",
                "127.0.0.1:9443",
                "--vault-address=http://v",
                "-use-leader-elector",
                "-set-security-context=false",
                "2>&1",
                "-log-level=nonsense-ignored-after-stop",
            ],
            &[],
        );
        assert_eq!(s.listen, "127.0.0.1:9443");
        assert!(s.use_leader_elector);
        assert!(!s.defaults.set_security_context);
        assert_eq!(s.log_level, tracing::Level::INFO);
    }

    #[test]
    fn non_empty_env_overrides_flags_empty_env_does_not() {
        let s = run(
            &[
                "x",
                "-vault-address=http://flag",
                "-cpu-limit=1",
                "-memory-limit=2Gi",
            ],
            &[
                ("AGENT_INJECT_VAULT_ADDR", "http://env"),
                ("AGENT_INJECT_CPU_LIMIT", ""),
                ("AGENT_INJECT_MEM_LIMIT", "3Gi"),
                ("AGENT_INJECT_REVOKE_ON_SHUTDOWN", "T"),
                ("AGENT_INJECT_AGENT_FLAVOR", "openbao"),
            ],
        );
        assert_eq!(s.defaults.vault_address, "http://env");
        assert_eq!(s.defaults.cpu_limit, "1");
        assert_eq!(s.defaults.memory_limit, "3Gi");
        assert!(s.defaults.revoke_on_shutdown);
        assert_eq!(s.defaults.agent_flavor, AgentFlavor::Openbao);
    }
}
