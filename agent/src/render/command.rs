//! Commands run after a template changed (agent.md §5.9): one element with whitespace runs as
//! `sh -c`, otherwise the argv runs directly; in its own process group; killed after the timeout;
//! with the agent's environment plus the Vault connection variables. Without `sh` (vaultlet's image
//! has none) such a command fails with "no shell in this image" and what to use instead.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use vaultlet_shared::config::argv_needs_shell;

/// One command to run, as the config gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRun {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

/// Why a command failed (the destination is added by the caller).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("failed to execute command {argv:?}: {reason}")]
    Spawn { argv: Vec<String>, reason: String },
    #[error("command {argv:?}: command exited with a non-zero exit status")]
    Failed {
        argv: Vec<String>,
        code: Option<i32>,
    },
    #[error("command {argv:?}: command did not exit within time limit")]
    Timeout { argv: Vec<String> },
}

/// The program and arguments actually executed.
pub fn resolve_argv(argv: &[String]) -> Option<Vec<String>> {
    match argv {
        [] => None,
        [one] if one.trim().is_empty() => None,
        [one] if argv_needs_shell(argv) => {
            let sh = find_sh()?;
            Some(vec![
                sh.to_string_lossy().into_owned(),
                "-c".into(),
                one.clone(),
            ])
        }
        many => Some(many.to_vec()),
    }
}

/// The error for a command that needs `sh` in an image without one (vaultlet's is `FROM scratch`).
fn no_shell(argv: &[String]) -> CommandError {
    CommandError::Spawn {
        argv: argv.to_vec(),
        reason: "no shell in this image (no sh in PATH, /bin or /usr/bin): a command with spaces \
                 runs under sh -c; use the argv form (a list, or a string with commas such as \
                 \"/usr/sbin/nginx,-s,reload\") or, to signal the app, \
                 [\"/vaultlet-agent\", \"signal\", \"HUP\", \"<process>\"] \
                 (annotation agent-inject-signal-<name>)"
            .into(),
    }
}

// Looking `sh` up on the live PATH at exec time is what running a command means (Go's
// `exec.LookPath`); it is not configuration.
#[allow(clippy::disallowed_methods)]
fn find_sh() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("sh"))
            .find(|c| c.is_file())
    });
    from_path.or_else(|| {
        ["/bin/sh", "/usr/bin/sh"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
    })
}

/// Runs `cmd` with `extra_env` added to the agent's environment; waits for it.
pub async fn run(cmd: &CommandRun, extra_env: &[(String, String)]) -> Result<(), CommandError> {
    let Some(argv) = resolve_argv(&cmd.argv) else {
        if argv_needs_shell(&cmd.argv) {
            return Err(no_shell(&cmd.argv));
        }
        return Ok(());
    };
    tracing::info!(target: "template", command = ?cmd.argv, "executing command");
    let mut c = tokio::process::Command::new(&argv[0]);
    c.args(&argv[1..])
        .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = c.spawn().map_err(|e| CommandError::Spawn {
        argv: cmd.argv.clone(),
        reason: e.to_string(),
    })?;
    match tokio::time::timeout(cmd.timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(CommandError::Failed {
            argv: cmd.argv.clone(),
            code: status.code(),
        }),
        Ok(Err(e)) => Err(CommandError::Spawn {
            argv: cmd.argv.clone(),
            reason: e.to_string(),
        }),
        Err(_) => {
            let _ = child.kill().await;
            Err(CommandError::Timeout {
                argv: cmd.argv.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn single_string_with_spaces_runs_under_sh() {
        let a = resolve_argv(&s(&["echo a b"])).unwrap();
        assert!(
            a[0].ends_with("/sh") && a[1] == "-c" && a[2] == "echo a b",
            "{a:?}"
        );
        assert_eq!(resolve_argv(&s(&["/bin/true"])).unwrap(), s(&["/bin/true"]));
        assert_eq!(
            resolve_argv(&s(&["/bin/touch", "/tmp/x y"])).unwrap(),
            s(&["/bin/touch", "/tmp/x y"])
        );
        assert_eq!(resolve_argv(&[]), None);
    }

    #[test]
    fn without_sh_the_error_names_the_missing_shell_and_the_alternatives() {
        let e = no_shell(&s(&["kill -HUP $(pidof nginx)"])).to_string();
        assert!(
            e.starts_with(
                "failed to execute command [\"kill -HUP $(pidof nginx)\"]: no shell in this image"
            ),
            "{e}"
        );
        assert!(e.contains("argv form") && e.contains("\"signal\""), "{e}");
    }

    #[tokio::test]
    async fn exit_status_timeout_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("env");
        let ok = CommandRun {
            argv: s(&[&format!("echo $VAULT_ADDR > {}", out.display())]),
            timeout: Duration::from_secs(5),
        };
        run(&ok, &[("VAULT_ADDR".into(), "http://127.0.0.1:1".into())])
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "http://127.0.0.1:1\n"
        );
        let bad = CommandRun {
            argv: s(&["exit 3"]),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(
            run(&bad, &[]).await.unwrap_err(),
            CommandError::Failed {
                argv: s(&["exit 3"]),
                code: Some(3)
            }
        );
        let slow = CommandRun {
            argv: s(&["sleep 5"]),
            timeout: Duration::from_millis(100),
        };
        let e = run(&slow, &[]).await.unwrap_err();
        assert!(
            e.to_string().contains("did not exit within time limit"),
            "{e}"
        );
    }
}
