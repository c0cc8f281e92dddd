//! The render pass decision (agent.md §5.1, §5.7, §5.9), without I/O: what changed ⇒ which
//! templates execute ⇒ for each, write, hold or fail ⇒ which commands run. [`Passes`] holds the
//! state of every template of one runner ([`Slot`]); [`Passes::plan`] executes the templates that
//! need it on the fetched data and returns [`Action`]s, which the runner (`runner`) carries out:
//! it starts and stops fetchers, checks and writes destinations, runs commands, and reports back
//! what the destinations said ([`Passes::offer`], [`Passes::written`]). Executing a template is
//! computation only: the engine sees the data passed in, the environment and the clock. Time
//! comes in as a value.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::command::CommandRun;
use super::error::RenderError;
use super::handlebars::HbTemplate;
use super::quiescence::{Quiescence, Verdict};
use super::write::{self, WriteSpec};
use crate::template::{
    AGENT_TEMPLATE_NAME, Context, Dependency, Fetched, Options, Rendered, Template, TemplateError,
};

/// One `template` stanza, ready to run.
#[derive(Clone, Debug)]
pub struct TemplateJob {
    /// `source` (re-read and re-parsed when it changes), or `None` for `contents`.
    pub source: Option<PathBuf>,
    /// The template text (of `contents`, or `source` as last read).
    pub text: String,
    pub options: Options,
    pub write: WriteSpec,
    pub command: Option<CommandRun>,
    /// `engine = "handlebars"` instead of the Go dialect.
    pub handlebars: bool,
    /// `wait { min max }` (agent.md §5.7), `None` when unset or zero.
    pub wait: Option<(Duration, Duration)>,
    /// `env_template "NAME"` (agent.md §1.11): the output is this environment variable's value,
    /// kept in memory by the runner; `write` is not used.
    pub env: Option<String>,
}

impl TemplateJob {
    /// How errors name the template, as upstream's do: its source, or `(dynamic)` for `contents`.
    pub fn source_name(&self) -> String {
        self.source
            .as_ref()
            .map_or("(dynamic)".to_string(), |p| p.display().to_string())
    }

    /// Where the template goes: its destination, or the variable's name for an env template.
    pub fn destination(&self) -> String {
        match &self.env {
            Some(name) => name.clone(),
            None => self.write.path.display().to_string(),
        }
    }

    /// How logs name the template: its source or `(dynamic)`, and its destination.
    pub fn label(&self) -> String {
        format!("{} => {}", self.source_name(), self.destination())
    }
}

/// A parsed template of either dialect.
pub enum Compiled {
    Go(Template),
    Handlebars(HbTemplate),
}

impl Compiled {
    /// Parses a job's template; errors name the template.
    pub fn parse(job: &TemplateJob) -> Result<Compiled, RenderError> {
        let c = if job.handlebars {
            HbTemplate::parse(&job.text).map(Compiled::Handlebars)
        } else {
            Template::parse(AGENT_TEMPLATE_NAME, &job.text, job.options.clone()).map(Compiled::Go)
        };
        c.map_err(|source| RenderError::Template {
            label: job.source_name(),
            destination: job.destination(),
            source,
        })
    }

    /// Executes the template on the fetched data; the flag says whether it read the clock.
    fn execute(
        &self,
        values: &HashMap<Dependency, Fetched>,
        environment: &HashMap<String, String>,
    ) -> Result<(Rendered, bool), TemplateError> {
        match self {
            Compiled::Go(t) => {
                let mut ctx = StoreCtx {
                    values,
                    environment,
                    read_clock: Cell::new(false),
                };
                let r = t.execute(&mut ctx)?;
                Ok((r, ctx.read_clock.get()))
            }
            Compiled::Handlebars(t) => t.execute(values).map(|r| (r, false)),
        }
    }
}

struct StoreCtx<'a> {
    values: &'a HashMap<Dependency, Fetched>,
    /// The agent's environment as the settings step read it (the `env` function).
    environment: &'a HashMap<String, String>,
    /// Set when the template reads the clock (`timestamp`): its output can change with no new data.
    read_clock: Cell<bool>,
}

impl Context for StoreCtx<'_> {
    fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>> {
        self.values.get(dep).cloned().map(Ok)
    }
    fn env(&self, name: &str) -> Option<String> {
        self.environment.get(name).cloned()
    }
    fn now(&self) -> SystemTime {
        self.read_clock.set(true);
        SystemTime::now()
    }
    fn real_path(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }
}

/// Parses every job's template; errors name the template.
pub fn parse_all(jobs: &[TemplateJob]) -> Result<Vec<Compiled>, RenderError> {
    jobs.iter().map(Compiled::parse).collect()
}

/// Everything the runner keeps about one template.
pub struct Slot {
    /// The stanza (its text changes when its `source` does).
    pub job: TemplateJob,
    /// What the destination is known to hold (`write::Seen`); used by the runner's writes.
    pub seen: write::Seen,
    compiled: Compiled,
    /// The `wait` hold (agent.md §5.7), when the stanza has one.
    hold: Option<Quiescence>,
    /// The dependencies its last execution used.
    used: HashSet<Dependency>,
    /// Executed in the next pass.
    dirty: bool,
    /// Its last execution read the clock, so any wake-up may change its output.
    reads_clock: bool,
    /// Written, or found current on disk, at least once (agent.md §6).
    rendered: bool,
}

/// What the runner does for a pass, in this order.
#[derive(Debug)]
pub enum Action {
    /// Start fetching `dep`: a template used it and no fetcher serves it yet (agent.md §5.2).
    Fetch(Dependency),
    /// Stop fetching `dep` and forget its data: no template used it in its last execution
    /// (agent.md §5.1).
    Forget(Dependency),
    /// Write `text` to the destination of template `slot` unless it holds exactly that
    /// (agent.md §5.8), then report with [`Passes::written`].
    Write { slot: usize, text: Vec<u8> },
    /// Template `slot` has a `wait` (agent.md §5.7) and complete output: check whether its
    /// destination already holds `text`, then ask [`Passes::offer`] whether to write it now.
    Offer { slot: usize, text: Vec<u8> },
    /// Stop the runner (agent.md §5.6): this template failed to execute; later ones were not
    /// executed.
    Fail(RenderError),
}

/// The state of every template of one runner, in config order.
pub struct Passes {
    slots: Vec<Slot>,
    /// The dependencies a fetcher serves: every one a template used in its last execution.
    fetching: HashSet<Dependency>,
    /// The earliest end of a `wait` hold seen in this pass.
    wake: Option<Instant>,
    /// The templates whose command runs after this pass, in config order, one per command.
    to_run: Vec<usize>,
    /// What the `env` function reads ([`Passes::with_environment`]; empty by default).
    environment: Arc<HashMap<String, String>>,
}

impl Passes {
    /// Parses every job; nothing has executed yet, so the first pass executes them all.
    pub fn new(jobs: Vec<TemplateJob>) -> Result<Passes, RenderError> {
        let slots = jobs
            .into_iter()
            .map(|job| {
                Ok(Slot {
                    compiled: Compiled::parse(&job)?,
                    hold: job.wait.map(|(min, max)| Quiescence::new(min, max)),
                    job,
                    seen: write::Seen::default(),
                    used: HashSet::new(),
                    dirty: true,
                    reads_clock: false,
                    rendered: false,
                })
            })
            .collect::<Result<_, RenderError>>()?;
        Ok(Passes {
            slots,
            fetching: HashSet::new(),
            wake: None,
            to_run: Vec::new(),
            environment: Arc::default(),
        })
    }

    /// The environment the templates' `env` function reads (the agent's, as the settings step
    /// read it once).
    pub fn with_environment(mut self, environment: Arc<HashMap<String, String>>) -> Passes {
        self.environment = environment;
        self
    }

    /// One pass (agent.md §5.1 (3)): executes the templates whose data changed (or that read the
    /// clock), in config order, on `values`, and appends what to do to `actions`. A complete
    /// output is written; an incomplete one (a dependency without data yet, agent.md §5.7) is
    /// not; once every template has been rendered, output of a template with a `wait` is offered
    /// to its hold. The first execution error ends the pass.
    ///
    /// Every pass executes every template in consul-template (agent.md §5.1 (3)). A template's
    /// output depends only on its text, the environment, the data it used and the clock, so here
    /// only the templates whose data changed or that read the clock execute: the files written
    /// are the same, for a fraction of the work.
    pub fn plan(&mut self, values: &HashMap<Dependency, Fetched>, actions: &mut Vec<Action>) {
        // Quiescence applies once every template has been rendered once (agent.md §5.7).
        let all_once = self.all_rendered();
        self.wake = None;
        self.to_run.clear();
        let mut deps_moved = false;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if !s.dirty {
                continue;
            }
            s.dirty = false;
            let r = match s.compiled.execute(values, &self.environment) {
                Ok((r, clock)) => {
                    s.reads_clock = clock;
                    r
                }
                Err(source) => {
                    actions.push(Action::Fail(RenderError::Template {
                        label: s.job.source_name(),
                        destination: s.job.destination(),
                        source,
                    }));
                    return;
                }
            };
            for d in &r.used {
                if !self.fetching.contains(d) {
                    self.fetching.insert(d.clone());
                    actions.push(Action::Fetch(d.clone()));
                }
            }
            let used: HashSet<Dependency> = r.used.into_iter().collect();
            if used != s.used {
                s.used = used;
                deps_moved = true;
            }
            if !r.missing.is_empty() {
                continue;
            }
            let slot = i;
            let text = r.binary.unwrap_or_else(|| r.text.into_bytes());
            actions.push(if s.hold.is_some() && all_once {
                Action::Offer { slot, text }
            } else {
                Action::Write { slot, text }
            });
        }
        // Dependencies no template uses any more are stopped and forgotten (agent.md §5.1). Only a
        // changed set of used dependencies can leave one unused.
        if deps_moved {
            let slots = &self.slots;
            self.fetching.retain(|d| {
                let keep = slots.iter().any(|s| s.used.contains(d));
                if !keep {
                    actions.push(Action::Forget(d.clone()));
                }
                keep
            });
        }
    }

    /// The answer to [`Action::Offer`]: `current` says whether the destination already holds
    /// `text`. `true` ⇒ write it now (then report with [`Passes::written`]); `false` ⇒ nothing
    /// to write, or held until [`Passes::wake`], when the template executes again (agent.md §5.7).
    pub fn offer(&mut self, slot: usize, current: bool, text: &[u8], now: Instant) -> bool {
        let s = &mut self.slots[slot];
        let Some(q) = s.hold.as_mut() else {
            return !current;
        };
        if current {
            q.settle();
            return false;
        }
        match q.offer(now, text) {
            Verdict::Write => true,
            Verdict::HoldUntil(t) => {
                self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
                s.dirty = true;
                false
            }
        }
    }

    /// The answer to a write: the destination now holds the template's output; `changed` ⇒ it
    /// was (re)written, so its command runs after the pass (agent.md §5.9: config order, each
    /// command at most once per pass).
    pub fn written(&mut self, slot: usize, changed: bool) {
        self.slots[slot].rendered = true;
        if !changed {
            return;
        }
        if let Some(c) = &self.slots[slot].job.command {
            let slots = &self.slots;
            if !self
                .to_run
                .iter()
                .any(|&j| slots[j].job.command.as_ref() == Some(c))
            {
                self.to_run.push(slot);
            }
        }
    }

    /// The commands to run after this pass, in order.
    pub fn commands(&self) -> impl Iterator<Item = &CommandRun> {
        self.to_run
            .iter()
            .filter_map(|&i| self.slots[i].job.command.as_ref())
    }

    /// Every template has been written or found current at least once (init mode is done,
    /// agent.md §6).
    pub fn all_rendered(&self) -> bool {
        self.slots.iter().all(|s| s.rendered)
    }

    /// When the earliest `wait` hold of the last pass ends: the runner wakes then and plans again.
    pub fn wake(&self) -> Option<Instant> {
        self.wake
    }

    /// The runner woke up (news or a hold's end): templates that read the clock execute again.
    pub fn woke(&mut self) {
        for s in &mut self.slots {
            s.dirty |= s.reads_clock;
        }
    }

    /// `dep` has new data: the templates that used it execute again.
    pub fn data_changed(&mut self, dep: &Dependency) {
        for s in &mut self.slots {
            if s.used.contains(dep) {
                s.dirty = true;
            }
        }
    }

    /// The templates' stanzas, in config order.
    pub fn jobs(&self) -> impl Iterator<Item = &TemplateJob> {
        self.slots.iter().map(|s| &s.job)
    }

    /// The stanzas, to update their text from their sources; then call [`Passes::reparse`].
    pub fn jobs_mut(&mut self) -> impl Iterator<Item = &mut TemplateJob> {
        self.slots.iter_mut().map(|s| &mut s.job)
    }

    /// Parses every template again (a source changed); on success all of them execute in the
    /// next pass, on error nothing changes.
    pub fn reparse(&mut self) -> Result<(), RenderError> {
        let compiled = self
            .slots
            .iter()
            .map(|s| Compiled::parse(&s.job))
            .collect::<Result<Vec<_>, _>>()?;
        for (s, c) in self.slots.iter_mut().zip(compiled) {
            s.compiled = c;
            s.dirty = true;
        }
        Ok(())
    }

    /// One template's state, for the runner's writes.
    pub fn slot_mut(&mut self, slot: usize) -> &mut Slot {
        &mut self.slots[slot]
    }
}

#[cfg(test)]
#[path = "pass_tests.rs"]
mod tests;
