//! One runner (agent.md §5.1): executes every template, starts one fetcher per distinct
//! dependency (§5.2: templates share fetches), re-renders when data arrives, writes complete
//! templates (§5.8), runs commands after the pass (§5.9), and stops at the first fatal error
//! (§5.6). Init mode returns once every template has been rendered once (§6).

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use vaultlet_shared::vault::Client;

use super::command::{self, CommandRun};
use super::fetch;
use super::handlebars::HbTemplate;
use super::pacing::Pacer;
use super::quiescence::{Quiescence, Verdict};
use super::schedule::{self, Next, Refresh};
use super::write::{self, WriteSpec};
use crate::template::{
    AGENT_TEMPLATE_NAME, Context, Dependency, Fetched, Options, Rendered, Template,
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
    /// `wait { min max }` (§5.7), `None` when unset or zero.
    pub wait: Option<(Duration, Duration)>,
}

/// A parsed template of either dialect.
pub enum Compiled {
    Go(Template),
    Handlebars(HbTemplate),
}

impl Compiled {
    /// Executes the template on the fetched data; the flag says whether it read the clock.
    fn execute(&self, values: &HashMap<Dependency, Fetched>) -> Result<(Rendered, bool), String> {
        match self {
            Compiled::Go(t) => {
                let mut ctx = StoreCtx {
                    values,
                    read_clock: Cell::new(false),
                };
                let r = t.execute(&mut ctx).map_err(|e| e.to_string())?;
                Ok((r, ctx.read_clock.get()))
            }
            Compiled::Handlebars(t) => t.execute(values).map(|r| (r, false)),
        }
    }
}

impl TemplateJob {
    /// How logs and errors name the template: its source or `(dynamic)`, and its destination.
    pub fn label(&self) -> String {
        let src = self
            .source
            .as_ref()
            .map_or("(dynamic)".to_string(), |p| p.display().to_string());
        format!("{src} => {}", self.write.path.display())
    }
}

/// Everything a runner needs besides the Vault client.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    pub jobs: Vec<TemplateJob>,
    pub refresh: Refresh,
    /// `vault.retry.num_retries` (−1 ⇒ 0).
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Added to the agent's environment for commands (§5.9).
    pub command_env: Vec<(String, String)>,
}

enum Event {
    /// A dependency has new data (`None`: a timer, e.g. the end of a `wait` hold).
    Updated(Option<Dependency>),
    Failed(Dependency, String),
    SourceChanged,
}

type Store = Arc<Mutex<HashMap<Dependency, Fetched>>>;

struct StoreCtx<'a> {
    values: &'a HashMap<Dependency, Fetched>,
    /// Set when the template reads the clock (`timestamp`): its output can change with no new data.
    read_clock: Cell<bool>,
}

impl Context for StoreCtx<'_> {
    fn fetch(&mut self, dep: &Dependency) -> Option<Result<Fetched, String>> {
        self.values.get(dep).cloned().map(Ok)
    }
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
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
pub fn parse_all(jobs: &[TemplateJob]) -> Result<Vec<Compiled>, String> {
    jobs.iter()
        .map(|j| {
            let c = if j.handlebars {
                HbTemplate::parse(&j.text).map(Compiled::Handlebars)
            } else {
                Template::parse(AGENT_TEMPLATE_NAME, &j.text, j.options.clone())
                    .map(Compiled::Go)
                    .map_err(|e| e.to_string())
            };
            c.map_err(|e| format!("{}: {e}", j.label()))
        })
        .collect()
}

/// Runs until shutdown (sidecar) or until every template rendered once (`init`). `Err` is the
/// fatal error that stopped it.
pub async fn run(
    client: Client,
    mut settings: RunnerSettings,
    init: bool,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut templates = parse_all(&settings.jobs)?;
    let store: Store = Arc::new(Mutex::new(HashMap::new()));
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut fetchers: HashMap<Dependency, JoinHandle<()>> = HashMap::new();
    let mut rendered = vec![false; templates.len()];
    // Every pass executes every template in consul-template (spec §5.1 (3)). A template's output
    // depends only on its text, the environment, the data it used and the clock, so a pass here
    // executes only the templates whose data changed or that read the clock: the files written
    // are the same, for a fraction of the work.
    let mut used_by: Vec<HashSet<Dependency>> = vec![HashSet::new(); templates.len()];
    let mut dirty = vec![true; templates.len()];
    let mut reads_clock = vec![false; templates.len()];
    let mut seen: Vec<write::Seen> = settings
        .jobs
        .iter()
        .map(|_| write::Seen::default())
        .collect();
    let _watcher = watch_sources(&settings.jobs, tx.clone());
    let mut holds: Vec<Option<Quiescence>> = settings
        .jobs
        .iter()
        .map(|j| j.wait.map(|(min, max)| Quiescence::new(min, max)))
        .collect();
    let result = loop {
        // Quiescence applies once every template has been rendered once (§5.7).
        let all_once = rendered.iter().all(|r| *r);
        let mut wake: Option<tokio::time::Instant> = None;
        // One pass over the dirty templates in config order.
        let mut commands: Vec<CommandRun> = Vec::new();
        let mut failure = None;
        for (i, t) in templates.iter().enumerate() {
            if !dirty[i] {
                continue;
            }
            dirty[i] = false;
            let job = &settings.jobs[i];
            let out = {
                let values = store.lock().expect("store lock");
                t.execute(&values)
            };
            let r = match out {
                Ok((r, clock)) => {
                    reads_clock[i] = clock;
                    r
                }
                Err(e) => {
                    failure = Some(format!("{}: {e}", job.label()));
                    break;
                }
            };
            for d in &r.used {
                if !fetchers.contains_key(d) {
                    fetchers.insert(
                        d.clone(),
                        spawn_fetcher(&client, d.clone(), &settings, store.clone(), tx.clone()),
                    );
                }
            }
            used_by[i] = r.used.into_iter().collect();
            if !r.missing.is_empty() {
                continue;
            }
            if let Some(q) = holds[i].as_mut().filter(|_| all_once) {
                if write::is_current(&job.write, r.text.as_bytes(), &mut seen[i]) {
                    q.settle();
                    continue;
                }
                if let Verdict::HoldUntil(t) =
                    q.offer(tokio::time::Instant::now(), r.text.as_bytes())
                {
                    wake = Some(wake.map_or(t, |w| w.min(t)));
                    dirty[i] = true; // looked at again when the hold ends
                    continue;
                }
            }
            match write::write_if_changed(&job.write, r.text.as_bytes(), &mut seen[i]) {
                Ok(changed) => {
                    rendered[i] = true;
                    if changed {
                        tracing::info!(target: "template", template = %job.label(), "rendered");
                        if let Some(c) = &job.command {
                            if !commands.contains(c) {
                                commands.push(c.clone());
                            }
                        }
                    }
                }
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(f) = failure {
            break Err(f);
        }
        // Dependencies no template uses any more are stopped and forgotten.
        fetchers.retain(|d, h| {
            let keep = used_by.iter().any(|u| u.contains(d));
            if !keep {
                h.abort();
                store.lock().expect("store lock").remove(d);
            }
            keep
        });
        let mut errors = Vec::new();
        for c in &commands {
            if let Err(e) = command::run(c, &settings.command_env).await {
                errors.push(e.to_string());
            }
        }
        if !errors.is_empty() {
            break Err(errors.join("; "));
        }
        if init && rendered.iter().all(|r| *r) {
            break Ok(());
        }
        // Wait for news, then drain whatever else is pending.
        let first = tokio::select! {
            ev = rx.recv() => ev,
            _ = shutdown.wait_for(|s| *s) => break Ok(()),
            _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => Some(Event::Updated(None)),
        };
        let mut events: Vec<Event> = first.into_iter().collect();
        while let Ok(ev) = rx.try_recv() {
            events.push(ev);
        }
        let mut fatal = None;
        for (i, clock) in reads_clock.iter().enumerate() {
            dirty[i] |= *clock;
        }
        for ev in events {
            match ev {
                Event::Updated(None) => {}
                Event::Updated(Some(d)) => {
                    for (i, u) in used_by.iter().enumerate() {
                        if u.contains(&d) {
                            dirty[i] = true;
                        }
                    }
                }
                Event::Failed(d, e) => {
                    fetchers.remove(&d);
                    fatal = Some(e);
                }
                Event::SourceChanged => match reload_sources(&mut settings.jobs) {
                    Ok(true) => match parse_all(&settings.jobs) {
                        Ok(t) => {
                            templates = t;
                            dirty.iter_mut().for_each(|d| *d = true);
                        }
                        Err(e) => fatal = Some(e),
                    },
                    Ok(false) => {}
                    Err(e) => fatal = Some(e),
                },
            }
        }
        if let Some(e) = fatal {
            break Err(e);
        }
    };
    for (_, h) in fetchers {
        h.abort();
    }
    result
}

/// Re-reads every `source`; `Ok(true)` when any text changed.
fn reload_sources(jobs: &mut [TemplateJob]) -> Result<bool, String> {
    let mut changed = false;
    for j in jobs.iter_mut() {
        if let Some(src) = &j.source {
            let text = std::fs::read_to_string(src)
                .map_err(|e| format!("failed to read template source {}: {e}", src.display()))?;
            if text != j.text {
                tracing::info!(target: "template", source = %src.display(), "template source changed");
                j.text = text;
                changed = true;
            }
        }
    }
    Ok(changed)
}

/// Watches the directories of template sources (ConfigMap volumes swap a `..data` symlink, so
/// the directory is watched, not the file).
fn watch_sources(
    jobs: &[TemplateJob],
    tx: mpsc::UnboundedSender<Event>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let dirs: HashSet<PathBuf> = jobs
        .iter()
        .filter_map(|j| j.source.as_ref()?.parent().map(PathBuf::from))
        .collect();
    if dirs.is_empty() {
        return None;
    }
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            let _ = tx.send(Event::SourceChanged);
        }
    })
    .map_err(|e| tracing::warn!(target: "template", "cannot watch template sources: {e}"))
    .ok()?;
    for d in dirs {
        if let Err(e) = w.watch(&d, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(target: "template", dir = %d.display(), "cannot watch template source directory: {e}");
        }
    }
    Some(w)
}

fn spawn_fetcher(
    client: &Client,
    dep: Dependency,
    settings: &RunnerSettings,
    store: Store,
    tx: mpsc::UnboundedSender<Event>,
) -> JoinHandle<()> {
    let client = client.clone();
    let refresh = settings.refresh;
    let (retries, base_backoff, max) = (
        settings.retries,
        settings.backoff_base,
        settings.backoff_max,
    );
    let pacer = Pacer::for_process();
    tokio::spawn(async move {
        if let Dependency::File { path } = &dep {
            return watch_file(path, &dep, &store, &tx).await;
        }
        // The instant this fetch was scheduled for (see `pacing`).
        let mut base = pacer.slot(Instant::now());
        loop {
            let mut attempt = 0u32;
            let outcome = loop {
                match fetch::fetch(&client, &dep, &refresh).await {
                    Ok(o) => break o,
                    Err(e) => match schedule::retry_sleep(attempt, retries, base_backoff, max) {
                        Some(d) => {
                            tracing::warn!(target: "template", dependency = ?dep, "retry attempt {} after {:?}: {e}", attempt + 1, d);
                            tokio::time::sleep(d).await;
                            attempt += 1;
                        }
                        None => {
                            let _ = tx.send(Event::Failed(
                                dep.clone(),
                                format!("{e} (exceeded maximum retries)"),
                            ));
                            return;
                        }
                    },
                }
            };
            store
                .lock()
                .expect("store lock")
                .insert(dep.clone(), outcome.value.clone());
            if tx.send(Event::Updated(Some(dep.clone()))).is_err() {
                return;
            }
            base = match outcome.next {
                Next::Refetch(d) => {
                    tokio::time::sleep(d).await;
                    pacer.slot(Instant::now())
                }
                Next::Jittered(j) => {
                    let at = pacer.next_after(base, j, Instant::now());
                    tokio::time::sleep_until(at.into()).await;
                    at
                }
                Next::Renew => {
                    renew_lease(&client, &outcome.value, &store, &dep).await;
                    pacer.slot(Instant::now())
                }
            };
        }
    })
}

/// §5.5: renew the lease until renewal fails, stops being renewable or reaches its max TTL.
async fn renew_lease(client: &Client, value: &Fetched, store: &Store, dep: &Dependency) {
    let Fetched::Secret(Some(s)) = value else {
        return;
    };
    let lease = Duration::from_secs(s.lease_duration.max(0) as u64);
    let mut remaining = lease;
    let u: f64 = rand::random();
    loop {
        tokio::time::sleep(schedule::renew_after(remaining, lease, u)).await;
        match client.renew_lease(&s.lease_id, 0).await {
            Ok(r) if r.renewable && r.lease_duration > 0 => {
                remaining = Duration::from_secs(r.lease_duration as u64);
                let mut updated = (**s).clone();
                updated.lease_duration = r.lease_duration;
                store
                    .lock()
                    .expect("store lock")
                    .insert(dep.clone(), Fetched::Secret(Some(Arc::new(updated))));
                if schedule::within_grace(remaining, lease) {
                    return;
                }
            }
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(target: "template", lease_id = %s.lease_id, "lease renewal failed, reading again: {e}");
                return;
            }
        }
    }
}

/// `file`: stat every 2 s; re-read when it appears or its size or mtime changes.
async fn watch_file(
    path: &str,
    dep: &Dependency,
    store: &Store,
    tx: &mpsc::UnboundedSender<Event>,
) {
    let mut last: Option<(u64, Option<SystemTime>)> = None;
    loop {
        if let Ok(m) = std::fs::metadata(path) {
            let sig = (m.len(), m.modified().ok());
            if last != Some(sig) {
                if let Ok(text) = std::fs::read_to_string(path) {
                    last = Some(sig);
                    store
                        .lock()
                        .expect("store lock")
                        .insert(dep.clone(), Fetched::File(text));
                    if tx.send(Event::Updated(Some(dep.clone()))).is_err() {
                        return;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
