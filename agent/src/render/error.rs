//! Why a template runner (or the runtime around it) stopped (agent.md §5.6). The texts are the ones
//! users read in the agent's log and exit message (`template server: <error>`), so each variant
//! prints exactly what the runtime printed when these errors were plain strings.

use std::path::PathBuf;

use vaultlet_shared::vault::VaultError;

use super::command::CommandError;
use super::fetch::FetchError;
use super::write::WriteError;
use crate::template::TemplateError;

/// A fatal error of the rendering runtime.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template settings are wrong (the message names the template and the key).
    #[error("{0}")]
    Settings(String),
    /// The Vault client for templates cannot be built.
    #[error(transparent)]
    Client(VaultError),
    /// Auto-auth ended before it handed over a token.
    #[error("auto-auth stopped")]
    AuthStopped,
    /// A template failed to parse or to execute (agent.md §5.6: no retry); `label` names its
    /// source or `(dynamic)`, as upstream's text does; `destination` goes to the log beside it.
    #[error("{label}: {source}")]
    Template {
        label: String,
        destination: String,
        #[source]
        source: TemplateError,
    },
    /// A template `source` could not be read again after it changed.
    #[error("failed to read template source {}: {source}", path.display())]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A dependency kept failing through all its retries (agent.md §5.6).
    #[error("{0} (exceeded maximum retries)")]
    GaveUp(#[source] FetchError),
    /// Writing a destination failed (agent.md §5.8); the old file is untouched.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// Commands of one pass failed (agent.md §5.9); all of them, in the order they ran.
    #[error("{}", join(.0))]
    Commands(Vec<CommandError>),
}

fn join(errors: &[CommandError]) -> String {
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_the_ones_users_read() {
        let e = RenderError::Template {
            label: "(dynamic)".into(),
            destination: "/v/s".into(),
            source: TemplateError::Execute("boom".into()),
        };
        assert_eq!(e.to_string(), "(dynamic): execute: boom");
        let e = RenderError::GaveUp(FetchError::NoSecret("kv/app".into()));
        assert_eq!(
            e.to_string(),
            "no secret exists at kv/app (exceeded maximum retries)"
        );
        let argv = vec!["exit 3".to_string()];
        let e = RenderError::Commands(vec![
            CommandError::Failed {
                argv: argv.clone(),
                code: Some(3),
            },
            CommandError::Timeout { argv },
        ]);
        assert_eq!(
            e.to_string(),
            "command [\"exit 3\"]: command exited with a non-zero exit status; \
             command [\"exit 3\"]: command did not exit within time limit"
        );
        let e = RenderError::Source {
            path: "/t/a.tmpl".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(
            e.to_string()
                .starts_with("failed to read template source /t/a.tmpl: "),
            "{e}"
        );
    }
}
