//! When the rendered environment starts or restarts the child (agent.md §1.11), without I/O: a
//! complete set of env-template values that differs from the last one opens a quiet period
//! ([`QUIET`], reset by every further change); when it ends, the child starts with the newest
//! set, or, if one runs, is restarted (`restart_on_secret_changes = "always"`) or kept
//! (`"never"`). A set equal to the last one changes nothing.

use std::time::Duration;

use crate::render::handoff::RenderedEnv;

/// How long the values must stay unchanged before the child (re)starts: upstream's 2 s, which
/// also gathers the burst of renders a refresh makes into one restart.
pub const QUIET: Duration = Duration::from_secs(2);

/// `exec.restart_on_secret_changes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Always,
    Never,
}

/// What to do when the quiet period ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// No child runs: start one with these values.
    Start(RenderedEnv),
    /// Stop the running child, then start one with these values.
    Restart(RenderedEnv),
    /// A child runs and `restart_on_secret_changes = "never"`: leave it.
    Keep,
}

/// The rendered sets seen so far.
#[derive(Debug)]
pub struct Changes {
    restart: Restart,
    /// The last distinct set (what a child was or will be started with).
    last: Option<RenderedEnv>,
    /// The set waiting for the quiet period to end.
    pending: Option<RenderedEnv>,
}

impl Changes {
    pub fn new(restart: Restart) -> Self {
        Self {
            restart,
            last: None,
            pending: None,
        }
    }

    /// A complete set arrived. `true`: it differs from the last one, (re)start the quiet period.
    pub fn rendered(&mut self, env: RenderedEnv) -> bool {
        if self.last.as_ref().is_some_and(|l| **l == *env) {
            return false;
        }
        self.last = Some(env.clone());
        self.pending = Some(env);
        true
    }

    /// The quiet period ended; `running` says whether a child runs now.
    pub fn due(&mut self, running: bool) -> Step {
        let Some(env) = self.pending.take() else {
            return Step::Keep;
        };
        match (running, self.restart) {
            (false, _) => Step::Start(env),
            (true, Restart::Always) => Step::Restart(env),
            (true, Restart::Never) => Step::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn env(pairs: &[(&str, &str)]) -> RenderedEnv {
        Arc::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn the_first_set_starts_the_child_after_the_quiet_period() {
        let mut c = Changes::new(Restart::Always);
        assert_eq!(c.due(false), Step::Keep, "nothing rendered yet");
        assert!(c.rendered(env(&[("A", "1")])));
        assert_eq!(c.due(false), Step::Start(env(&[("A", "1")])));
        assert_eq!(c.due(true), Step::Keep, "started once");
    }

    #[test]
    fn an_unchanged_set_does_not_restart() {
        let mut c = Changes::new(Restart::Always);
        assert!(c.rendered(env(&[("A", "1"), ("B", "2")])));
        assert!(matches!(c.due(false), Step::Start(_)));
        assert!(!c.rendered(env(&[("B", "2"), ("A", "1")])));
        assert_eq!(c.due(true), Step::Keep);
    }

    #[test]
    fn a_changed_value_restarts_with_the_newest_set() {
        let mut c = Changes::new(Restart::Always);
        assert!(c.rendered(env(&[("A", "1")])));
        assert!(matches!(c.due(false), Step::Start(_)));
        assert!(c.rendered(env(&[("A", "2")])));
        // A second change within the quiet period: the newest wins.
        assert!(c.rendered(env(&[("A", "3")])));
        assert_eq!(c.due(true), Step::Restart(env(&[("A", "3")])));
        // Back to an older value is a change too.
        assert!(c.rendered(env(&[("A", "1")])));
        assert_eq!(c.due(true), Step::Restart(env(&[("A", "1")])));
    }

    #[test]
    fn never_keeps_a_running_child_but_starts_a_missing_one() {
        let mut c = Changes::new(Restart::Never);
        assert!(c.rendered(env(&[("A", "1")])));
        assert!(matches!(c.due(false), Step::Start(_)));
        assert!(c.rendered(env(&[("A", "2")])));
        assert_eq!(c.due(true), Step::Keep);
        assert!(c.rendered(env(&[("A", "3")])));
        assert_eq!(c.due(false), Step::Start(env(&[("A", "3")])));
    }
}
