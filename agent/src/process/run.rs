//! The agent's run loop: given auto-auth, the sinks, the listeners (API proxy, quit, metrics) and
//! the persistent cache from the settings step, imports a cached token (sidecar) or arranges to
//! store it (init); binds the listeners, writes the PID file, runs the login loop, the sink
//! server, the listeners, the template runtime and, in process-supervisor mode, the child
//! together, and decides when to stop (agent.md §6 init mode, agent.md §7.1 quit, §8.2 signals,
//! agent.md §1.11 the child's exit). The child is stopped before `run` returns. As an app
//! container's `-wrapper=exec` (agent.md §1.11.1) it returns what the agent is to become instead.
//!
//! The agent arrives assembled from resolved settings ([`crate::settings`]): every check is done
//! before this module runs. The template runtime plugs in as a
//! [`crate::render::handoff::TemplateRuntime`] (its contract is documented there).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{Notify, oneshot, watch};

use super::pid_file::PidFile;
use super::ready::{self, ReadyFile};
use crate::auth::method::Method;
use crate::auth::{AuthError, AuthHandler, LoopSettings};
use crate::cache::{CacheError, LeaseRecord, PersistentCache};
use crate::connection::Connection;
use crate::metrics::Metrics;
use crate::proxy::{self, ListenerSpec, ProxyError, ProxyState, TokenMode};
use crate::render::RenderError;
use crate::render::handoff::{
    CachedLeases, RenderSettings, TemplateFuture, TemplateHandoff, TemplateRuntime,
};
use crate::settings::AgentSettings;
use crate::shutdown::shutdown_requested;
use crate::sink::{self, Sink};
use crate::supervise::{self, Outcome, Replacement, SuperviseError, SuperviseSettings};
use crate::token::check::Refusals;
use crate::token::{AuthToken, TokenApi};

/// Why the agent stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Writing the PID file failed.
    #[error("error writing pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Auto-auth gave up (`exit_on_err`).
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// The template runtime failed.
    #[error("template server: {0}")]
    Templates(Box<RenderError>),
    /// A listener could not start.
    #[error("{0}")]
    Listener(#[from] ProxyError),
    /// The persistent cache failed and `persist.exit_on_err` is set.
    #[error("{0} (exiting with error as exit_on_err is set to true)")]
    Cache(#[from] CacheError),
    /// Process-supervisor mode: the child exited on its own; the agent exits with its code
    /// (agent.md §1.11: −1, a signal, is 255; 0 is a success).
    #[error("process exited with {0}")]
    ChildExited(i32),
    /// Process-supervisor mode: the child could not be (re)started.
    #[error("{0}")]
    Supervise(#[from] SuperviseError),
}

impl RunError {
    /// The destination of the template whose failure stopped the agent: the log line names it
    /// beside upstream's error text, which names only the source or `(dynamic)`.
    pub fn template_destination(&self) -> Option<&str> {
        match self {
            RunError::Templates(e) => match e.as_ref() {
                RenderError::Template { destination, .. } => Some(destination),
                _ => None,
            },
            _ => None,
        }
    }
}

/// How a run that did not fail ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// Done (init mode), stopped (a signal, quit), or the child exited 0.
    Done,
    /// `-wrapper=exec` (agent.md §1.11.1): the env templates rendered; the caller `execve`s this
    /// once the runtime is down.
    Replace(Replacement),
}

/// The agent assembled from its config, ready to run.
pub struct Agent<A> {
    pub api: A,
    pub method: Method,
    pub settings: LoopSettings,
    pub sinks: Vec<Sink>,
    pub exit_after_auth: bool,
    pub pid_file: Option<PathBuf>,
    pub metrics: Arc<Metrics>,
    pub connection: Arc<Connection>,
    /// The `listener` blocks (API proxy, quit, metrics).
    pub listeners: Vec<ListenerSpec>,
    /// Whether proxied requests get the auto-auth token.
    pub token_mode: TokenMode,
    /// `cache { persist … }`: the init container stores its token, the sidecar imports it.
    pub persist: Option<PersistentCache>,
    /// API-proxy retries: `vault.retry.num_retries` (effective); `VAULT_MAX_RETRIES` replaces it.
    pub proxy_retries: u32,
    /// The template runtime's settings (no jobs: nothing to render).
    pub templates: Arc<RenderSettings>,
    /// Process-supervisor mode (agent.md §1.11).
    pub supervise: Option<SuperviseSettings>,
}

impl<A: TokenApi> Agent<A> {
    /// The agent for resolved `settings`, talking to Vault through `api` at `connection`.
    pub fn new(settings: AgentSettings, connection: Connection, api: A) -> Self {
        Self {
            api,
            method: settings.method,
            settings: settings.auth_loop,
            sinks: settings.sinks,
            exit_after_auth: settings.exit_after_auth,
            pid_file: settings.pid_file,
            metrics: Arc::new(Metrics::default()),
            connection: Arc::new(connection),
            listeners: settings.listeners,
            token_mode: settings.token_mode,
            persist: settings.persist,
            proxy_retries: settings.proxy_retries,
            templates: Arc::new(settings.templates),
            supervise: settings.supervise,
        }
    }

    /// Runs until done: init mode ⇒ after auth + sinks + templates rendered once; sidecar ⇒ until
    /// `shutdown` turns true. The caller owns the shutdown sender (signals).
    pub async fn run(
        self,
        shutdown: watch::Receiver<bool>,
        templates: Option<TemplateRuntime>,
    ) -> Result<Finished, RunError> {
        let (preloaded, restored_leases, persist_store) = self.open_persistent_cache()?;
        // agent.md §7.3: init mode stores the leases its templates rendered with beside the token.
        let (lease_report, mut lease_rx) = match &persist_store {
            Some(_) => {
                let (tx, rx) = oneshot::channel();
                (Some(tx), Some(rx))
            }
            None => (None, None),
        };
        let lease_store = persist_store.clone();
        let bound = proxy::bind(self.listeners.clone()).await?;
        let _pid = match &self.pid_file {
            Some(path) => Some(PidFile::write(path, std::process::id()).map_err(|source| {
                RunError::PidFile {
                    path: path.clone(),
                    source,
                }
            })?),
            None => None,
        };
        let (token_tx, token_rx) = watch::channel::<Option<AuthToken>>(None);
        let (written_tx, mut written_rx) = watch::channel(0u64);
        // Refusals of the token seen by the templates and the proxy, checked by auto-auth (agent.md §3.6).
        let (refusals, refusal_inbox) = Refusals::channel();
        let quit = Arc::new(Notify::new());
        let listeners_future: Pin<Box<dyn Future<Output = ()>>> = if bound.is_empty() {
            Box::pin(std::future::pending())
        } else {
            let state = ProxyState::new(
                &self.connection,
                token_rx.clone(),
                self.token_mode,
                quit.clone(),
                self.metrics.clone(),
                self.proxy_retries,
                refusals.clone(),
            )?;
            Box::pin(proxy::serve(bound, Arc::new(state), shutdown.clone()))
        };
        let (persisted_tx, mut persisted_rx) = watch::channel(persist_store.is_none());
        let persist_future = persist_tokens(persist_store, token_rx.clone(), persisted_tx);
        let renders = templates.is_some() && !self.templates.runner.jobs.is_empty();
        let (rendered_tx, rendered_rx) = watch::channel(!renders);
        // A long-running agent marks itself ready for `probe` (injector.md §4.10).
        let ready_path = match (&self.pid_file, self.exit_after_auth) {
            (Some(p), false) => Some(ready::path_for(p)),
            _ => None,
        };
        let ready_future = mark_ready(
            ready_path,
            (!self.sinks.is_empty()).then(|| written_rx.clone()),
            token_rx.clone(),
            rendered_rx,
        );
        // Process-supervisor mode: the runtime's env values drive the child, which is stopped
        // (`stop_child`) before `run` returns, whatever ended it.
        let (env_tx, env_rx) = watch::channel(None);
        let (stop_child, child_stop_rx) = watch::channel(false);
        let supervise_settings = self.supervise.clone();
        let mut supervising = supervise_settings.is_some();
        let supervisor = async {
            match &supervise_settings {
                Some(s) => supervise::run(s, env_rx, child_stop_rx).await,
                None => std::future::pending().await,
            }
        };
        let handoff = TemplateHandoff {
            settings: self.templates.clone(),
            tokens: token_rx.clone(),
            shutdown: shutdown.clone(),
            refusals,
            exit_after_auth: self.exit_after_auth,
            connection: self.connection.clone(),
            rendered: rendered_tx,
            restored_leases: preloaded.clone().map(|token| CachedLeases {
                token,
                leases: restored_leases,
            }),
            lease_report,
            env: supervising.then_some(env_tx),
        };
        let template_future: TemplateFuture = match templates {
            Some(runtime) if !self.templates.runner.jobs.is_empty() => runtime(handoff),
            _ => Box::pin(async { Ok(()) }),
        };
        let metrics = self.metrics.clone();
        let api = self.api;
        let handler = AuthHandler {
            api: &api,
            method: self.method,
            settings: self.settings,
            tokens: token_tx,
            refusals: refusal_inbox,
            metrics: metrics.clone(),
            preloaded,
        };
        let auth = handler.run(shutdown.clone());
        let sinks = sink::serve(&api, self.sinks, token_rx, written_tx, shutdown.clone());
        tokio::pin!(
            auth,
            sinks,
            template_future,
            listeners_future,
            persist_future,
            ready_future,
            supervisor
        );
        // The child's own exit ends the agent (agent.md §1.11).
        let child_outcome = |r: Result<Outcome, SuperviseError>| match r {
            Ok(Outcome::Exited(code)) => Err(RunError::ChildExited(code)),
            Ok(Outcome::Stopped) => Ok(Finished::Done),
            Ok(Outcome::Replace(r)) => Ok(Finished::Replace(r)),
            Err(e) => Err(RunError::Supervise(e)),
        };

        let result = if self.exit_after_auth {
            // Both at once (the runtime renders while the sinks are written); a template error
            // ends the wait at once.
            let done = async {
                let sinks_written = async {
                    let _ = written_rx.wait_for(|n| *n >= 1).await;
                    let _ = persisted_rx.wait_for(|done| *done).await;
                    Ok::<(), RenderError>(())
                };
                tokio::try_join!(sinks_written, &mut template_future).map(|_| ())
            };
            tokio::select! {
                r = &mut auth => r.map(|()| Finished::Done).map_err(RunError::from),
                r = done => match r {
                    Ok(()) => {
                        store_leases(lease_store.as_ref(), lease_rx.as_mut())?;
                        tracing::info!(target: "agent", "exit_after_auth: token written and templates rendered, exiting");
                        Ok(Finished::Done)
                    }
                    Err(e) => Err(RunError::Templates(Box::new(e))),
                },
                () = &mut sinks => Ok(Finished::Done),
                () = &mut listeners_future => Ok(Finished::Done),
                r = &mut persist_future => r.map(|()| Finished::Done).map_err(RunError::from),
                () = quit.notified() => Ok(Finished::Done),
                r = &mut supervisor, if supervising => { supervising = false; child_outcome(r) }
            }
        } else {
            let mut shutdown_wait = shutdown.clone();
            let templates_failed = async {
                match (&mut template_future).await {
                    Err(e) => e,
                    Ok(()) => std::future::pending().await,
                }
            };
            tokio::select! {
                r = &mut auth => r.map(|()| Finished::Done).map_err(RunError::from),
                e = templates_failed => Err(RunError::Templates(Box::new(e))),
                () = &mut sinks => Ok(Finished::Done),
                () = shutdown_requested(&mut shutdown_wait) => Ok(Finished::Done),
                () = &mut ready_future => Ok(Finished::Done),
                () = &mut listeners_future => Ok(Finished::Done),
                r = &mut persist_future => r.map(|()| Finished::Done).map_err(RunError::from),
                () = quit.notified() => Ok(Finished::Done),
                r = &mut supervisor, if supervising => { supervising = false; child_outcome(r) }
            }
        };
        if supervising {
            let _ = stop_child.send(true);
            if let Err(e) = (&mut supervisor).await {
                tracing::error!(target: "exec", error = %e, "error stopping the process");
            }
        }
        metrics.shut_down();
        tracing::debug!(target: "agent", auth_success = metrics.successes(), auth_failure = metrics.failures(), renewals = metrics.renewals(), "final counters");
        result
    }
}

impl<A> Agent<A> {
    /// agent.md §7.3: a cache file present ⇒ import its token and template leases (the sidecar);
    /// none and init mode ⇒ the store to write the token to. Import errors are logged, fatal only
    /// with `exit_on_err`.
    fn open_persistent_cache(&self) -> Result<Opened, RunError> {
        let Some(pc) = &self.persist else {
            return Ok((None, Vec::new(), None));
        };
        if pc.exists() {
            return match pc.import() {
                Ok(i) => {
                    tracing::info!(target: "cache", file = %pc.file.display(), found = i.token.is_some(), leases = i.leases.len(), "imported the persistent cache");
                    Ok((i.token, i.leases, None))
                }
                Err(e) => {
                    tracing::error!(target: "cache", error = %e, "error restoring the persistent cache");
                    if pc.exit_on_err {
                        Err(RunError::Cache(e))
                    } else {
                        Ok((None, Vec::new(), None))
                    }
                }
            };
        }
        Ok((None, Vec::new(), self.exit_after_auth.then(|| pc.clone())))
    }
}

/// What opening the persistent cache gives: the preloaded token, its template leases, and (init
/// mode) the store to write to.
type Opened = (Option<String>, Vec<LeaseRecord>, Option<PersistentCache>);

/// Init mode, every template rendered: stores the leases the runtime reported with the token it
/// rendered with (agent.md §7.3). Nothing reported, or no leases: the file keeps the token alone.
/// A failure is logged, fatal only with `exit_on_err`.
fn store_leases(
    store: Option<&PersistentCache>,
    report: Option<&mut oneshot::Receiver<CachedLeases>>,
) -> Result<(), RunError> {
    let (Some(store), Some(report)) = (store, report) else {
        return Ok(());
    };
    let Ok(report) = report.try_recv() else {
        return Ok(());
    };
    if report.leases.is_empty() {
        return Ok(());
    }
    match store.store(&report.token, &report.leases) {
        Ok(()) => {
            tracing::info!(target: "cache", file = %store.file.display(), leases = report.leases.len(), "stored the template leases in the persistent cache");
            Ok(())
        }
        Err(e) => {
            tracing::error!(target: "cache", error = %e, "error writing the persistent cache");
            if store.exit_on_err {
                Err(RunError::Cache(e))
            } else {
                Ok(())
            }
        }
    }
}

/// Writes the readiness marker at `path` once there is a token, the sinks (when `written` is
/// given) wrote it and every template was rendered once, then holds it (removed when this future
/// is dropped, at exit). Never resolves; a marker that cannot be written is logged (the probe then
/// keeps failing and says why).
async fn mark_ready(
    path: Option<PathBuf>,
    written: Option<watch::Receiver<u64>>,
    mut tokens: watch::Receiver<Option<AuthToken>>,
    mut rendered: watch::Receiver<bool>,
) {
    let Some(path) = path else {
        return std::future::pending().await;
    };
    let ready = async {
        tokens.wait_for(Option::is_some).await.ok()?;
        if let Some(mut w) = written {
            w.wait_for(|n| *n >= 1).await.ok()?;
        }
        rendered.wait_for(|r| *r).await.ok()
    };
    let _marker = match ready.await {
        Some(_) => match ReadyFile::write(&path) {
            Ok(m) => {
                tracing::info!(target: "agent", path = %path.display(), "token written and templates rendered: ready");
                Some(m)
            }
            Err(e) => {
                tracing::error!(target: "agent", path = %path.display(), error = %e, "cannot write the readiness marker");
                None
            }
        },
        None => None,
    };
    std::future::pending().await
}

/// Writes every new auto-auth token to the persistent cache (init mode); `persisted` turns true
/// once the current token is stored. Without a store it never resolves.
async fn persist_tokens(
    store: Option<PersistentCache>,
    mut tokens: watch::Receiver<Option<AuthToken>>,
    persisted: watch::Sender<bool>,
) -> Result<(), CacheError> {
    let Some(store) = store else {
        return std::future::pending().await;
    };
    loop {
        if tokens.changed().await.is_err() {
            return std::future::pending().await;
        }
        let token = tokens.borrow_and_update().clone();
        let Some(token) = token else { continue };
        match store.store(token.client_token(), &[]) {
            Ok(()) => {
                tracing::info!(target: "cache", file = %store.file.display(), "stored the auto-auth token in the persistent cache");
                let _ = persisted.send(true);
            }
            Err(e) => {
                tracing::error!(target: "cache", error = %e, "error writing the persistent cache");
                if store.exit_on_err {
                    return Err(e);
                }
                let _ = persisted.send(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::ApiError;
    use serde_json::{Value, json};
    use std::time::Duration;
    use vaultlet_shared::config::AgentConfig;

    struct Fake;

    impl TokenApi for Fake {
        async fn login(&self, _: &str, _: &Value) -> Result<AuthToken, ApiError> {
            Ok(AuthToken::new(
                "tok-1",
                "acc",
                Duration::from_secs(3600),
                true,
                vec![],
                "service",
            ))
        }
        async fn lookup_self(&self, _: &str) -> Result<AuthToken, ApiError> {
            unreachable!()
        }
        async fn renew_self(&self, t: &str) -> Result<AuthToken, ApiError> {
            Ok(AuthToken::new(
                t,
                "acc",
                Duration::from_secs(3600),
                true,
                vec![],
                "service",
            ))
        }
    }

    fn agent(dir: &std::path::Path, exit_after_auth: bool, with_template: bool) -> Agent<Fake> {
        let jwt = dir.join("jwt");
        std::fs::write(&jwt, "x.y.z").unwrap();
        let sink = dir.join("sink");
        let mut cfg = json!({
            "auto_auth": {"method": {"type": "jwt", "config": {"path": jwt.to_str().unwrap(), "role": "r", "remove_jwt_after_reading": false}},
                          "sink": [{"type": "file", "config": {"path": sink.to_str().unwrap()}}]},
            "pid_file": dir.join("pid").to_str().unwrap(),
        });
        if with_template {
            cfg["template"] =
                json!([{"destination": dir.join("out").to_str().unwrap(), "contents": "x"}]);
        }
        let config = AgentConfig::from_json_str(&cfg.to_string()).unwrap().config;
        let settings =
            AgentSettings::from_config(&config, &Connection::default(), Some(exit_after_auth))
                .unwrap();
        Agent::new(settings, Connection::default(), Fake)
    }

    #[tokio::test]
    async fn init_mode_waits_for_the_sink_and_the_templates() {
        let dir = tempfile::tempdir().unwrap();
        let a = agent(dir.path(), true, true);
        let (_tx, rx) = watch::channel(false);
        let seen = Arc::new(std::sync::Mutex::new(None));
        let seen2 = seen.clone();
        let runtime: TemplateRuntime = Box::new(move |mut h: TemplateHandoff| {
            Box::pin(async move {
                assert!(h.exit_after_auth);
                let t = h
                    .tokens
                    .wait_for(Option::is_some)
                    .await
                    .map_err(|_| RenderError::AuthStopped)?;
                *seen2.lock().unwrap() = Some(t.as_ref().unwrap().client_token().to_string());
                Ok(())
            })
        });
        a.run(rx, Some(runtime)).await.unwrap();
        assert_eq!(seen.lock().unwrap().as_deref(), Some("tok-1"));
        assert_eq!(std::fs::read(dir.path().join("sink")).unwrap(), b"tok-1");
        assert!(
            !dir.path().join("pid").exists(),
            "pid file removed when run returns"
        );
    }

    #[tokio::test]
    async fn init_mode_stores_the_reported_leases_beside_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = agent(dir.path(), true, true);
        let cache_dir = dir.path().join("cache");
        std::fs::create_dir_all(&cache_dir).unwrap();
        a.persist = Some(
            PersistentCache::from_config(&vaultlet_shared::config::Persist {
                persist_type: "kubernetes".into(),
                path: cache_dir.to_str().unwrap().into(),
                service_account_token_file: Some(dir.path().join("jwt").to_str().unwrap().into()),
                ..Default::default()
            })
            .unwrap(),
        );
        let record = LeaseRecord {
            kind: "read".into(),
            path: "database/creds/app".into(),
            params: vec![],
            response: r#"{"lease_id":"database/creds/app/x","lease_duration":60,"renewable":true}"#
                .into(),
            fetched_at: 1,
        };
        let sent = record.clone();
        let runtime: TemplateRuntime = Box::new(move |mut h: TemplateHandoff| {
            Box::pin(async move {
                assert!(
                    h.restored_leases.is_none(),
                    "nothing to restore in init mode"
                );
                let t = h.tokens.wait_for(Option::is_some).await.unwrap().clone();
                let report = h
                    .lease_report
                    .take()
                    .expect("init mode with a cache reports");
                let token = t.unwrap().client_token().to_string();
                let _ = report.send(CachedLeases {
                    token,
                    leases: vec![sent],
                });
                Ok(())
            })
        });
        let (_tx, rx) = watch::channel(false);
        let pc = a.persist.clone().unwrap();
        a.run(rx, Some(runtime)).await.unwrap();
        let got = pc.import().unwrap();
        assert_eq!(got.token.as_deref(), Some("tok-1"));
        assert_eq!(got.leases, vec![record]);
    }

    #[tokio::test]
    async fn init_mode_without_templates_exits_after_the_sink() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        agent(dir.path(), true, false).run(rx, None).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("sink")).unwrap(), b"tok-1");
    }

    #[tokio::test]
    async fn a_template_failure_stops_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        let runtime: TemplateRuntime =
            Box::new(|_h| Box::pin(async { Err(RenderError::AuthStopped) }));
        let err = agent(dir.path(), false, true)
            .run(rx, Some(runtime))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("auto-auth stopped"), "{err}");
    }

    #[tokio::test]
    async fn init_mode_template_error_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        let runtime: TemplateRuntime =
            Box::new(|_h| Box::pin(async { Err(RenderError::AuthStopped) }));
        let err = agent(dir.path(), true, true)
            .run(rx, Some(runtime))
            .await
            .unwrap_err();
        assert!(matches!(err, RunError::Templates(_)), "{err}");
    }

    #[tokio::test]
    async fn sidecar_runs_until_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let a = agent(dir.path(), false, false);
        let (tx, rx) = watch::channel(false);
        let sink = dir.path().join("sink");
        let stop = async {
            while std::fs::read(&sink).is_err() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(dir.path().join("pid").exists());
            tx.send(true).unwrap();
        };
        let (r, ()) = tokio::join!(a.run(rx, None), stop);
        r.unwrap();
        assert!(!dir.path().join("pid").exists());
    }
}
