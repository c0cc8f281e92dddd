//! One runner (agent.md §5.1), the I/O edge of [`super::pass`]: starts one fetcher per distinct
//! dependency (agent.md §5.2: templates share fetches), plans a pass whenever data arrives, writes the
//! complete templates (agent.md §5.8), runs commands after the pass (§5.9), and stops at the first fatal
//! error (agent.md §5.6). Init mode returns once every template has been rendered once (§6). A fetch that
//! Vault refuses in a way that may mean a dead token is reported to auto-auth (agent.md §3.6).
//! A dependency restored from the persistent cache starts from the init container's answer once
//! one renewal of its lease succeeds, and init mode reports the leases it holds (agent.md §7.3).
//! Env templates (agent.md §1.11) are kept in memory, never written: once every template has
//! rendered, each change of their values is published as one set. While Vault is unavailable one
//! fetch probes it and the others wait at the runner's [`Gate`] (agent.md §5.11).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use vaultlet_shared::vault::{Client, Secret};

use super::command;
use super::error::RenderError;
use super::fetch::{self, FetchError};
use super::handoff::{EnvMap, RenderedEnv};
use super::leases::{self, HeldLease, Leases};
use super::pacing::Pacer;
use super::pass::{Action, Passes};
pub use super::pass::{Compiled, TemplateJob, parse_all};
use super::recovery::{self, Gate, Turn};
use super::schedule::{self, Jitter, Next, Refresh};
use super::write;
use crate::template::{Dependency, Fetched};
use crate::token::check::TokenRefusals;

/// Everything a runner needs besides the Vault client.
#[derive(Clone, Debug)]
pub struct RunnerSettings {
    pub jobs: Vec<TemplateJob>,
    pub refresh: Refresh,
    /// `vault.retry.num_retries` (−1 ⇒ 0).
    pub retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Added to the agent's environment for commands (agent.md §5.9).
    pub command_env: Vec<(String, String)>,
    /// The agent's environment, read once by the settings step: what the templates' `env`
    /// function sees.
    pub environment: Arc<HashMap<String, String>>,
}

/// Capacity of the runner's event queue. Each fetcher has at most one event in flight (it waits
/// for room, then sleeps until its next fetch), and the runner drains the whole queue after
/// every pass; the runner never sends to it and fetchers wait on nothing else, so a full queue
/// only delays fetchers until the next drain and cannot deadlock (docs/reliability.md,
/// "Bounds"). Template source changes go through a coalescing [`Notify`] instead.
const EVENTS: usize = 256;

enum Event {
    /// A dependency has new data (`None`: a timer, e.g. the end of a `wait` hold).
    Updated(Option<Dependency>),
    Failed(Dependency, FetchError),
    SourceChanged,
}

type Store = Arc<Mutex<HashMap<Dependency, Fetched>>>;
/// The leased answers the fetchers hold now (agent.md §7.3: what init mode hands over).
type Held = Arc<Mutex<HashMap<Dependency, HeldLease>>>;
/// The runner's recovery gate (agent.md §5.11), shared by its fetchers.
type SharedGate = Arc<watch::Sender<Gate<Dependency>>>;

/// The env templates' latest values (agent.md §1.11) and whether they changed since published.
#[derive(Default)]
struct EnvValues {
    values: EnvMap,
    changed: bool,
}

/// The fetcher tasks of one runner, aborted when the runner ends — also when its future is
/// dropped for a new token (agent.md §3.5, §3.6), so that no fetcher goes on with an old token.
struct Fetchers(HashMap<Dependency, JoinHandle<()>>);

impl Drop for Fetchers {
    fn drop(&mut self) {
        for h in self.0.values() {
            h.abort();
        }
    }
}

/// Runs until shutdown (sidecar) or until every template rendered once (`init`). `Err` is the
/// fatal error that stopped it. `refusals` is told of fetches refused with the client's token;
/// `rendered` turns `true` once every template has been rendered once. The env templates' values
/// go to `env_out` (all of them, whenever one changed, once every template has rendered).
pub async fn run(
    client: Client,
    settings: RunnerSettings,
    init: bool,
    shutdown: watch::Receiver<bool>,
    refusals: TokenRefusals,
    rendered: watch::Sender<bool>,
    env_out: Option<&watch::Sender<Option<RenderedEnv>>>,
) -> Result<(), RenderError> {
    run_with(
        client,
        settings,
        init,
        shutdown,
        refusals,
        rendered,
        &mut Leases::default(),
        env_out,
    )
    .await
}

/// [`run`], starting the dependencies found in `leases.seeds` from their restored answers; in init
/// mode `leases.held` gets the leased answers held when every template had rendered (agent.md §7.3).
#[allow(
    clippy::too_many_arguments,
    reason = "the runner's inputs and its three outlets (refusals, rendered, env); bundling them is a follow-up"
)]
pub async fn run_with(
    client: Client,
    mut settings: RunnerSettings,
    init: bool,
    mut shutdown: watch::Receiver<bool>,
    refusals: TokenRefusals,
    rendered: watch::Sender<bool>,
    leases: &mut Leases,
    env_out: Option<&watch::Sender<Option<RenderedEnv>>>,
) -> Result<(), RenderError> {
    let mut passes = Passes::new(std::mem::take(&mut settings.jobs))?
        .with_environment(settings.environment.clone());
    let store: Store = Arc::new(Mutex::new(HashMap::new()));
    let held: Held = Arc::new(Mutex::new(HashMap::new()));
    let gate: SharedGate = Arc::new(watch::Sender::new(Gate::new(recovery::spread_for(
        settings.refresh.static_interval,
    ))));
    let seeds = &mut leases.seeds;
    let (tx, mut rx) = mpsc::channel::<Event>(EVENTS);
    let mut fetchers = Fetchers(HashMap::new());
    let sources = Arc::new(Notify::new());
    let _watcher = watch_sources(passes.jobs(), sources.clone());
    let mut actions: Vec<Action> = Vec::new();
    let mut env = EnvValues::default();
    let result = loop {
        {
            let values = store.lock().expect("store lock");
            passes.plan(&values, &mut actions);
        }
        let mut spawn = |d: Dependency| {
            let seed = seeds.remove(&d);
            let shared = (store.clone(), held.clone(), gate.clone());
            spawn_fetcher(&client, d, seed, &settings, shared, tx.clone(), &refusals)
        };
        if let Err(e) = carry_out(
            &mut passes,
            &mut actions,
            &mut fetchers.0,
            &mut spawn,
            &store,
            &mut env,
        ) {
            break Err(e);
        }
        if env.changed
            && passes.all_rendered()
            && let Some(tx) = env_out
        {
            env.changed = false;
            tx.send_replace(Some(Arc::new(env.values.clone())));
        }
        let mut errors = Vec::new();
        for c in passes.commands() {
            if let Err(e) = command::run(c, &settings.command_env).await {
                errors.push(e);
            }
        }
        if !errors.is_empty() {
            break Err(RenderError::Commands(errors));
        }
        if passes.all_rendered() {
            rendered.send_if_modified(|r| !std::mem::replace(r, true));
            if init {
                let values = store.lock().expect("store lock");
                leases.held = held
                    .lock()
                    .expect("held lock")
                    .iter()
                    .filter(|(d, _)| values.contains_key(*d))
                    .map(|(d, l)| (d.clone(), l.clone()))
                    .collect();
                break Ok(());
            }
        }
        // Wait for news, then drain whatever else is pending.
        let wake = passes.wake();
        let first = tokio::select! {
            ev = rx.recv() => ev,
            () = sources.notified() => Some(Event::SourceChanged),
            _ = shutdown.wait_for(|s| *s) => break Ok(()),
            _ = tokio::time::sleep_until(wake.unwrap_or_else(tokio::time::Instant::now)), if wake.is_some() => Some(Event::Updated(None)),
        };
        let mut events: Vec<Event> = first.into_iter().collect();
        while let Ok(ev) = rx.try_recv() {
            events.push(ev);
        }
        let mut fatal = None;
        passes.woke();
        for ev in events {
            match ev {
                Event::Updated(None) => {}
                Event::Updated(Some(d)) => passes.data_changed(&d),
                Event::Failed(d, e) => {
                    fetchers.0.remove(&d);
                    fatal = Some(RenderError::GaveUp(e));
                }
                Event::SourceChanged => match reload_sources(passes.jobs_mut()) {
                    Ok(true) => {
                        if let Err(e) = passes.reparse() {
                            fatal = Some(e);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => fatal = Some(e),
                },
            }
        }
        if let Some(e) = fatal {
            break Err(e);
        }
    };
    drop(fetchers);
    result
}

/// Carries out one pass's actions in order; the first failure stops it (agent.md §5.6, §5.8:
/// the old file stays).
fn carry_out(
    passes: &mut Passes,
    actions: &mut Vec<Action>,
    fetchers: &mut HashMap<Dependency, JoinHandle<()>>,
    spawn: &mut dyn FnMut(Dependency) -> JoinHandle<()>,
    store: &Store,
    env: &mut EnvValues,
) -> Result<(), RenderError> {
    for action in actions.drain(..) {
        match action {
            Action::Fetch(d) => {
                let h = spawn(d.clone());
                fetchers.insert(d, h);
            }
            Action::Forget(d) => {
                if let Some(h) = fetchers.remove(&d) {
                    h.abort();
                }
                store.lock().expect("store lock").remove(&d);
            }
            Action::Write { slot, text } => write_out(passes, slot, &text, env)?,
            Action::Offer { slot, text } => {
                let s = passes.slot_mut(slot);
                let current = write::is_current(&s.job.write, &text, &mut s.seen);
                let now = tokio::time::Instant::now();
                if passes.offer(slot, current, &text, now) {
                    write_out(passes, slot, &text, env)?;
                }
            }
            Action::Fail(e) => return Err(e),
        }
    }
    Ok(())
}

/// Writes one template's output (an env template's into `env`) and reports the outcome to
/// `passes`.
fn write_out(
    passes: &mut Passes,
    slot: usize,
    text: &[u8],
    env: &mut EnvValues,
) -> Result<(), RenderError> {
    let s = passes.slot_mut(slot);
    if let Some(name) = &s.job.env {
        // The value keeps its bytes, UTF-8 or not, as Go's environment does.
        let changed = env.values.get(name).is_none_or(|v| v.as_slice() != text);
        if changed {
            tracing::info!(target: "template", template = %s.job.label(), "rendered");
            env.values.insert(name.clone(), text.to_vec());
            env.changed = true;
        }
        passes.written(slot, changed);
        return Ok(());
    }
    let changed = write::write_if_changed(&s.job.write, text, &mut s.seen)?;
    if changed {
        tracing::info!(target: "template", template = %s.job.label(), "rendered");
    }
    passes.written(slot, changed);
    Ok(())
}

/// Re-reads every `source`; `Ok(true)` when any text changed.
fn reload_sources<'a>(
    jobs: impl Iterator<Item = &'a mut TemplateJob>,
) -> Result<bool, RenderError> {
    let mut changed = false;
    for j in jobs {
        if let Some(src) = &j.source {
            let text = std::fs::read_to_string(src).map_err(|source| RenderError::Source {
                path: src.clone(),
                source,
            })?;
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
fn watch_sources<'a>(
    jobs: impl Iterator<Item = &'a TemplateJob>,
    changed: Arc<Notify>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let dirs: HashSet<PathBuf> = jobs
        .filter_map(|j| j.source.as_ref()?.parent().map(PathBuf::from))
        .collect();
    if dirs.is_empty() {
        return None;
    }
    let mut w = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !e.kind.is_access()) {
            // Coalesced: a burst of OS events is one pending notification.
            changed.notify_one();
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
    seed: Option<HeldLease>,
    settings: &RunnerSettings,
    (store, held, gate): (Store, Held, SharedGate),
    tx: mpsc::Sender<Event>,
    refusals: &TokenRefusals,
) -> JoinHandle<()> {
    let client = client.clone();
    // agent.md §5.11: a fetch's first attempt goes without HTTP-level retries, so that an outage
    // is seen at its first refusal and the other fetches are held from then on.
    let first_try = client.with_max_retries(0);
    let refusals = refusals.clone();
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
        let _leave = LeaveGate(gate.clone(), dep.clone());
        // Whether the dependency has data (a refresh, not a first fetch; agent.md §5.11).
        let mut has_data = false;
        // agent.md §7.3: a restored lease that renews is this dependency's first answer; one that
        // does not is fetched anew below.
        if let Some(seed) = seed
            && let Some((secret, remaining)) = adopt(&client, &dep, seed).await
        {
            let value = Fetched::Secret(Some(secret.clone()));
            store.lock().expect("store lock").insert(dep.clone(), value);
            if tx.send(Event::Updated(Some(dep.clone()))).await.is_err() {
                return;
            }
            has_data = true;
            renew_lease(&client, &secret, remaining, &store, &held, &dep).await;
        }
        // The instant this fetch was scheduled for (see `pacing`).
        let mut base = pacer.slot(Instant::now());
        // The band of the dependency's jittered refreshes, once it has one: a refresh held back
        // while Vault was unavailable goes at its own next point of that schedule (agent.md §5.11).
        let mut chain: Option<Jitter> = None;
        loop {
            let mut attempt = 0u32;
            // Held back at the gate (agent.md §5.11).
            let mut held_back = false;
            // Moved to a later point of its schedule after it was held (agent.md §5.11).
            let mut rebased = false;
            let outcome = loop {
                let waited = take_turn(&gate, &dep, has_data && chain.is_none()).await;
                held_back |= waited;
                if waited
                    && has_data
                    && let Some(j) = chain
                {
                    // agent.md §5.11: Vault answers again; this refresh keeps its phase: it
                    // goes at the first point of its schedule from now on (then takes its
                    // turn again, should Vault be down again by then).
                    base = pacer.on_chain(base, j, Instant::now());
                    rebased = true;
                    tokio::time::sleep_until(base.into()).await;
                    continue;
                }
                let c = if attempt == 0 { &first_try } else { &client };
                match fetch::fetch(c, &dep, &refresh).await {
                    Ok(o) => {
                        gate_answered(&gate, &dep);
                        break o;
                    }
                    Err(e) => {
                        // agent.md §3.6: auto-auth checks the token; a dead one is replaced and
                        // this runner restarted. Meanwhile the retries go on as for any error.
                        if e.suggests_dead_token() {
                            refusals.report();
                        }
                        gate_failed(&gate, &dep, &e);
                        match schedule::retry_sleep(attempt, retries, base_backoff, max) {
                            Some(d) => {
                                let d = schedule::retry_jitter(d, rand::random());
                                tracing::warn!(target: "template", dependency = ?dep, "retry attempt {} after {:?}: {e}", attempt + 1, d);
                                tokio::time::sleep(d).await;
                                attempt += 1;
                            }
                            None => {
                                let _ = tx.send(Event::Failed(dep.clone(), e)).await;
                                return;
                            }
                        }
                    }
                }
            };
            store
                .lock()
                .expect("store lock")
                .insert(dep.clone(), outcome.value.clone());
            has_data = true;
            // Retried (the probe, or a fetch that failed before the others were held) or held,
            // and not moved to a point of its schedule (agent.md §5.11).
            let recovered = (attempt > 0 || held_back) && !rebased;
            let refreshed = chain.is_some();
            chain = match outcome.next {
                Next::Jittered(j) => Some(j),
                _ => None,
            };
            match &outcome.value {
                Fetched::Secret(Some(s))
                    if outcome.next == Next::Renew && leases::handed_over(s) =>
                {
                    let l = HeldLease {
                        secret: s.clone(),
                        granted_at: fetch::unix_now(),
                    };
                    held.lock().expect("held lock").insert(dep.clone(), l);
                }
                _ => {
                    held.lock().expect("held lock").remove(&dep);
                }
            }
            if tx.send(Event::Updated(Some(dep.clone()))).await.is_err() {
                return;
            }
            base = match outcome.next {
                Next::Refetch(d) => {
                    tokio::time::sleep(d).await;
                    pacer.slot(Instant::now())
                }
                Next::Jittered(j) => {
                    // agent.md §5.11: after a recovered refresh (the probe), the point of its
                    // schedule where the refreshes it held go, so it keeps its phase too; after
                    // a recovered first fetch, a full band later (no second read).
                    let at = if recovered && refreshed {
                        pacer.on_chain(base, j, Instant::now())
                    } else if recovered {
                        pacer.next(pacer.slot(Instant::now()), j)
                    } else {
                        pacer.next_after(base, j, Instant::now())
                    };
                    tokio::time::sleep_until(at.into()).await;
                    at
                }
                Next::Renew => {
                    if let Fetched::Secret(Some(s)) = &outcome.value {
                        let lease = Duration::from_secs(s.lease_duration.max(0) as u64);
                        renew_lease(&client, s, lease, &store, &held, &dep).await;
                    }
                    held.lock().expect("held lock").remove(&dep);
                    pacer.slot(Instant::now())
                }
            };
        }
    })
}

/// Hands the probe role on when a fetcher stops (agent.md §5.11).
struct LeaveGate(SharedGate, Dependency);

impl Drop for LeaveGate {
    fn drop(&mut self) {
        self.0.send_if_modified(|g| g.leave(&self.1));
    }
}

/// Waits until `dep` may fetch (agent.md §5.11): at once unless Vault is unavailable (another
/// fetch probes it) or answers again after an outage (a refresh waits for this agent's release
/// instant). `true` when it waited.
async fn take_turn(gate: &SharedGate, dep: &Dependency, refresh: bool) -> bool {
    let mut rx = gate.subscribe();
    let mut waited = false;
    loop {
        let mut turn = Turn::Go;
        // Taking the probe role or ending a release concerns no waiter: no notification.
        gate.send_if_modified(|g| {
            turn = g.turn(dep, refresh, Instant::now());
            false
        });
        match turn {
            Turn::Go => return waited,
            Turn::Hold => {
                if !waited {
                    tracing::debug!(target: "template", dependency = ?dep, "Vault is unavailable: waiting for the fetch that probes it");
                }
                let _ = rx.changed().await;
            }
            Turn::Until(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => {}
                    _ = rx.changed() => {}
                }
            }
        }
        waited = true;
    }
}

/// A fetch of `dep` got Vault's answer: after an outage the held refreshes are released.
fn gate_answered(gate: &SharedGate, dep: &Dependency) {
    if gate.send_if_modified(|g| g.answered(Instant::now(), rand::random())) {
        log_release(gate, dep);
    }
}

/// A fetch of `dep` failed with `e`: an outage holds the runner's other fetches back.
fn gate_failed(gate: &SharedGate, dep: &Dependency, e: &FetchError) {
    let outage = recovery::is_outage(e);
    if gate.send_if_modified(|g| g.failed(dep, outage, Instant::now(), rand::random())) {
        if outage {
            tracing::warn!(target: "template", dependency = ?dep, "Vault is unavailable: this fetch probes it, the others wait");
        } else {
            log_release(gate, dep);
        }
    }
}

fn log_release(gate: &SharedGate, dep: &Dependency) {
    if let Some(at) = gate.borrow().release_at() {
        let delay = at.saturating_duration_since(Instant::now());
        tracing::info!(target: "template", dependency = ?dep, "Vault answers again: the held refreshes go at their next scheduled points (those without one in {delay:?})");
    }
}

/// agent.md §7.3: a restored lease becomes the dependency's answer when one renewal succeeds now
/// (agent.md §5.5's first renewal); the answer with the renewed duration and the lease left.
/// `None` (expired, revoked, refused, not renewable any more): fetch anew.
async fn adopt(
    client: &Client,
    dep: &Dependency,
    seed: HeldLease,
) -> Option<(Arc<Secret>, Duration)> {
    let s = &seed.secret;
    if seed.remaining(fetch::unix_now()).is_none() {
        tracing::info!(target: "template", dependency = ?dep, "the restored lease has run out: fetching anew");
        return None;
    }
    match client.renew_lease(&s.lease_id, 0).await {
        Ok(r) if r.renewable && r.lease_duration > 0 => {
            tracing::info!(target: "template", dependency = ?dep, lease_id = %s.lease_id, "renewed the lease restored from the persistent cache");
            let mut updated = (**s).clone();
            updated.lease_duration = r.lease_duration;
            updated.renewable = r.renewable;
            let remaining = Duration::from_secs(r.lease_duration as u64);
            Some((Arc::new(updated), remaining))
        }
        Ok(_) => {
            tracing::info!(target: "template", dependency = ?dep, "the restored lease cannot be renewed: fetching anew");
            None
        }
        Err(e) => {
            tracing::warn!(target: "template", dependency = ?dep, lease_id = %s.lease_id, "cannot renew the restored lease, fetching anew: {e}");
            None
        }
    }
}

/// agent.md §5.5: renew the lease of `s` (`remaining` left now) until renewal fails, stops being
/// renewable or reaches its max TTL.
async fn renew_lease(
    client: &Client,
    s: &Arc<Secret>,
    remaining: Duration,
    store: &Store,
    held: &Held,
    dep: &Dependency,
) {
    if !s.renewable {
        return;
    }
    let lease = Duration::from_secs(s.lease_duration.max(0) as u64);
    let mut remaining = remaining;
    let u: f64 = rand::random();
    loop {
        tokio::time::sleep(schedule::renew_after(remaining, lease, u)).await;
        match client.renew_lease(&s.lease_id, 0).await {
            Ok(r) if r.renewable && r.lease_duration > 0 => {
                remaining = Duration::from_secs(r.lease_duration as u64);
                let mut updated = (**s).clone();
                updated.lease_duration = r.lease_duration;
                let updated = Arc::new(updated);
                store
                    .lock()
                    .expect("store lock")
                    .insert(dep.clone(), Fetched::Secret(Some(updated.clone())));
                let l = HeldLease {
                    secret: updated,
                    granted_at: fetch::unix_now(),
                };
                held.lock().expect("held lock").insert(dep.clone(), l);
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
async fn watch_file(path: &str, dep: &Dependency, store: &Store, tx: &mpsc::Sender<Event>) {
    let mut last: Option<(u64, Option<SystemTime>)> = None;
    loop {
        if let Ok(m) = std::fs::metadata(path) {
            let sig = (m.len(), m.modified().ok());
            if last != Some(sig)
                && let Ok(text) = std::fs::read_to_string(path)
            {
                last = Some(sig);
                store
                    .lock()
                    .expect("store lock")
                    .insert(dep.clone(), Fetched::File(text));
                if tx.send(Event::Updated(Some(dep.clone()))).await.is_err() {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::command::CommandRun;
    use crate::template::Options;
    use vaultlet_shared::vault::ClientConfig;

    fn settings(input: &std::path::Path, out: &std::path::Path) -> RunnerSettings {
        RunnerSettings {
            jobs: vec![TemplateJob {
                source: None,
                text: format!("{{{{ file \"{}\" }}}}", input.display()),
                options: Options::default(),
                write: write::WriteSpec {
                    path: out.to_path_buf(),
                    create_dest_dirs: true,
                    ..write::WriteSpec::default()
                },
                command: None,
                handlebars: false,
                wait: None,
                env: None,
            }],
            refresh: Refresh::default(),
            retries: 0,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(60),
            command_env: Vec::new(),
            environment: Default::default(),
        }
    }

    fn client() -> Client {
        Client::new(ClientConfig::default()).unwrap()
    }

    fn refusals() -> TokenRefusals {
        crate::token::check::Refusals::channel().0.for_token("t")
    }

    #[tokio::test]
    async fn init_mode_renders_runs_the_command_and_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (input, out, log) = (
            dir.path().join("in"),
            dir.path().join("sub/out"),
            dir.path().join("log"),
        );
        std::fs::write(&input, "v1").unwrap();
        let mut s = settings(&input, &out);
        s.jobs[0].command = Some(CommandRun {
            argv: vec![format!("echo ran >> {}", log.display())],
            timeout: Duration::from_secs(10),
        });
        let (_stop, shutdown) = watch::channel(false);
        run(
            client(),
            s,
            true,
            shutdown,
            refusals(),
            watch::channel(false).0,
            None,
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "v1");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\n");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sidecar_holds_a_change_for_its_wait_then_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (input, out) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&input, "v1").unwrap();
        let mut s = settings(&input, &out);
        s.jobs[0].wait = Some((Duration::from_secs(5), Duration::from_secs(30)));
        let (stop, shutdown) = watch::channel(false);
        let (rendered_tx, rendered) = watch::channel(false);
        let runner = tokio::spawn(run(
            client(),
            s,
            false,
            shutdown,
            refusals(),
            rendered_tx,
            None,
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "v1", "not held");
        assert!(*rendered.borrow(), "every template rendered once");
        std::fs::write(&input, "v2 longer").unwrap();
        // `file` is polled every 2 s; the change is then held 5 s.
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "v1", "held");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "v2 longer");
        stop.send(true).unwrap();
        runner.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_execution_error_later_stops_the_runner_and_keeps_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (input, out) = (dir.path().join("in"), dir.path().join("out"));
        std::fs::write(&input, r#"{"k":{"deeper":"v1"}}"#).unwrap();
        let mut s = settings(&input, &out);
        s.jobs[0].text = format!(
            "{{{{ with file \"{}\" }}}}{{{{ (parseJSON .).k.deeper }}}}{{{{ end }}}}",
            input.display()
        );
        let (_stop, shutdown) = watch::channel(false);
        let runner = tokio::spawn(run(
            client(),
            s,
            false,
            shutdown,
            refusals(),
            watch::channel(false).0,
            None,
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "v1");
        std::fs::write(&input, r#"{"j":1}"#).unwrap();
        let e = runner.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("nil pointer evaluating"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "v1",
            "never blanked"
        );
    }

    #[tokio::test]
    async fn a_failed_write_stops_the_runner_with_its_error() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::write(&input, "v1").unwrap();
        let mut s = settings(&input, &dir.path().join("missing/out"));
        s.jobs[0].write.create_dest_dirs = false;
        let (_stop, shutdown) = watch::channel(false);
        let e = run(
            client(),
            s,
            false,
            shutdown,
            refusals(),
            watch::channel(false).0,
            None,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, RenderError::Write(_)), "{e:?}");
        assert!(e.to_string().contains("parent directory is missing"), "{e}");
    }
}
