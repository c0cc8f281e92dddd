//! The fault suite (issue 16): the agent in sidecar (or init) mode against a real OpenBao with raft
//! storage, logging in with `kubernetes` auth through the TokenReview stand-in, while something
//! goes wrong — Vault killed and restarted, Vault reset, the token revoked, a policy losing a
//! path, the service-account key rotated, a full tmpfs, a proxy answering 500/503, a slow one, a
//! silent one, SIGTERM. Every rendered file is read every 50 ms throughout and must always hold
//! one of its complete values; each scenario then checks its own guarantee (listed in
//! `docs/reliability.md`, "Fault scenarios") and prints its figures as one `FAULT …` line.
//!
//! Short form (plain `cargo test`, hence `scripts/test`): the scenarios not marked `#[ignore]`,
//! with short windows. Full form: `scripts/faults` (`VAULTLET_FAULTS=full`, every scenario with
//! long windows, and the same scenarios run under the real `bao agent`, whose figures are printed
//! beside ours but not judged).

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vaultlet_tests::faults::{
    Agent, FaultProxy, Kind, Mode, Report, Sampler, audit_requests, full, pick,
};
use vaultlet_tests::{JwtIssuer, KUBERNETES_API, KubernetesAuth, OpenBao, TokenReviewer, within};

const NAMESPACE: &str = "default";
const ACCOUNT: &str = "app";
const ROLE: &str = "app";
/// The two secrets every scenario renders.
const SECRETS: [&str; 2] = ["app", "other"];
const POLICY_BOTH: &str = r#"
path "secret/data/app" { capabilities = ["read"] }
path "secret/data/other" { capabilities = ["read"] }
"#;
const POLICY_APP_ONLY: &str = r#"
path "secret/data/app" { capabilities = ["read"] }
"#;

/// The value of secret `name` at generation `n`: long enough that a partial write shows.
fn value(name: &str, n: u32) -> String {
    format!("{name}-{n}-{}", "x".repeat(4000))
}

/// What the template of secret `name` renders at generation `n`.
fn rendered(name: &str, n: u32) -> String {
    match name {
        "app" => value(name, n),
        _ => json!({ "v": value(name, n) }).to_string(),
    }
}

fn template_of(name: &str) -> &'static str {
    match name {
        "app" => r#"{{ with secret "secret/data/app" }}{{ .Data.data.v }}{{ end }}"#,
        _ => r#"{{ with secret "secret/data/other" }}{{ .Data.data | toJSON }}{{ end }}"#,
    }
}

/// How a scenario's world is set up.
#[derive(Clone)]
struct Setup {
    /// Put the fault proxy between the agent and Vault.
    proxy: bool,
    /// `exit_after_auth` (init mode) instead of a sidecar.
    init: bool,
    /// Merged into the kubernetes role (`token_ttl`, …).
    role_extra: Value,
    /// Extra environment for the agent.
    env: Vec<(&'static str, &'static str)>,
    /// Mount a tmpfs of this size on the secrets directory before the agent starts.
    tmpfs: Option<&'static str>,
    /// Delay every proxied answer from the start (init-mode SIGTERM).
    initial_mode: Mode,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            proxy: false,
            init: false,
            role_extra: json!({}),
            env: Vec::new(),
            tmpfs: None,
            initial_mode: Mode::Pass,
        }
    }
}

/// A running scenario: server, auth, agent, sampler, figures.
struct World {
    k8s: KubernetesAuth,
    proxy: Option<FaultProxy>,
    work: tempfile::TempDir,
    agent: Agent,
    kind: Kind,
    config: Value,
    setup: Setup,
    sampler: Option<Sampler>,
    report: Report,
    failures: Vec<String>,
    generation: [u32; 2],
    rss_start: Option<u64>,
    _mount: Option<Tmpfs>,
}

/// A tmpfs mounted for a scenario; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`; `Err` says why not (not root, no mount).
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if uid != "0" {
            return Err(format!("not root (uid {uid})"));
        }
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn agent_config(addr: &str, work: &Path, init: bool) -> Value {
    let templates: Vec<Value> = SECRETS
        .iter()
        .map(|s| {
            json!({
                "destination": work.join("secrets").join(file_of(s)).to_str().unwrap(),
                "contents": template_of(s),
            })
        })
        .collect();
    json!({
        "auto_auth": {
            "method": {
                "type": "kubernetes", "mount_path": "auth/kubernetes",
                "config": {"role": ROLE, "token_path": work.join("sa-token").to_str().unwrap()}
            },
            "sink": [{"type": "file", "config": {"path": work.join("token").to_str().unwrap()}}]
        },
        "exit_after_auth": init,
        "vault": {"address": addr},
        "template": templates,
        "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
    })
}

fn file_of(secret: &str) -> &'static str {
    match secret {
        "app" => "app.txt",
        _ => "other.json",
    }
}

/// Writes `jwt` to `path` as the kubelet does: a new file renamed over the old one.
fn write_jwt(path: &Path, jwt: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, jwt).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The KV v2 mount and both secrets, as a fresh server needs them.
fn seed(k8s: &KubernetesAuth, generation: [u32; 2]) {
    k8s.bao.enable_kv("secret", 2);
    for (i, s) in SECRETS.iter().enumerate() {
        put_secret(&k8s.bao, s, generation[i]);
    }
}

/// Writes generation `n` of secret `name`, waiting out the moments after a KV v2 mount is made or
/// the server restarts, when it refuses writes ("Upgrading from non-versioned to versioned data").
fn put_secret(bao: &OpenBao, name: &str, n: u32) {
    let body = json!({ "data": { "v": value(name, n) } }).to_string();
    let mut last = (0, String::new());
    let ok = within(Duration::from_secs(30), || {
        last = bao.api_raw("POST", &format!("secret/data/{name}"), Some(&body));
        (200..300).contains(&last.0)
    });
    assert!(
        ok.is_some(),
        "writing secret/{name}: HTTP {}: {}",
        last.0,
        last.1
    );
}

impl World {
    /// Sets everything up, starts the agent and waits for both files (sidecar), then starts
    /// sampling. In init mode nothing is awaited and every file may be absent.
    fn start(scenario: &str, kind: Kind, setup: Setup) -> Result<World, String> {
        let work = tempfile::Builder::new()
            .prefix("vaultlet-faults-")
            .tempdir()
            .unwrap();
        let mount = match setup.tmpfs {
            Some(size) => Some(
                Tmpfs::mount(&work.path().join("secrets"), size)
                    .map_err(|e| format!("skip: {scenario}: cannot mount a tmpfs: {e}"))?,
            ),
            None => None,
        };
        let k8s = KubernetesAuth::start_on(OpenBao::start_raft());
        seed(&k8s, [0, 0]);
        k8s.role(
            ROLE,
            NAMESPACE,
            ACCOUNT,
            Some(POLICY_BOTH),
            setup.role_extra.clone(),
        );
        write_jwt(&work.path().join("sa-token"), &k8s.jwt(NAMESPACE, ACCOUNT));
        let proxy = setup.proxy.then(|| FaultProxy::start(k8s.bao.addr()));
        if let Some(p) = &proxy {
            p.set(setup.initial_mode);
        }
        let addr = proxy
            .as_ref()
            .map_or(k8s.bao.addr().to_string(), |p| p.url().to_string());
        let config = agent_config(&addr, work.path(), setup.init);
        let agent = Agent::start(kind, work.path(), &config, &setup.env);
        let mut w = World {
            k8s,
            proxy,
            work,
            agent,
            kind,
            config,
            setup,
            sampler: None,
            report: Report::new(scenario, kind),
            failures: Vec::new(),
            generation: [0, 0],
            rss_start: None,
            _mount: mount,
        };
        let files: Vec<(PathBuf, Vec<String>)> = SECRETS
            .iter()
            .map(|s| (w.path(s), vec![rendered(s, 0)]))
            .collect();
        if !w.setup.init {
            let t0 = Instant::now();
            for s in SECRETS {
                if w.wait_rendered(s, 0, Duration::from_secs(30)).is_none() {
                    return Err(format!(
                        "{} never rendered {s}; log:\n{}",
                        kind.name(),
                        w.agent.log()
                    ));
                }
            }
            w.report.set("first_render_ms", t0.elapsed().as_millis());
            w.rss_start = w.agent.rss_kb();
        }
        let refs: Vec<(&Path, &[String])> = files
            .iter()
            .map(|(p, v)| (p.as_path(), v.as_slice()))
            .collect();
        let sampler = Sampler::start(&refs);
        if w.setup.init {
            for (p, _) in &files {
                sampler.allow_absent(p);
            }
        }
        w.sampler = Some(sampler);
        Ok(w)
    }

    fn path(&self, secret: &str) -> PathBuf {
        self.work.path().join("secrets").join(file_of(secret))
    }

    fn index(secret: &str) -> usize {
        SECRETS.iter().position(|s| *s == secret).unwrap()
    }

    fn sampler(&self) -> &Sampler {
        self.sampler.as_ref().unwrap()
    }

    /// Writes the next generation of `secret` to Vault; the file may hold it from now on
    /// (`allowed`) or must not (`!allowed`: a path the agent lost). Returns the generation.
    fn bump(&mut self, secret: &str, allowed: bool) -> u32 {
        let i = Self::index(secret);
        self.generation[i] += 1;
        let n = self.generation[i];
        if allowed {
            self.sampler()
                .allow(&self.path(secret), &rendered(secret, n));
        }
        put_secret(&self.k8s.bao, secret, n);
        n
    }

    /// Waits until the file of `secret` holds generation `n`; how long that took.
    fn wait_rendered(&self, secret: &str, n: u32, timeout: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        let want = rendered(secret, n);
        let path = self.path(secret);
        within(timeout, || {
            std::fs::read(&path).is_ok_and(|b| b == want.as_bytes())
        })
        .map(|()| t0.elapsed())
    }

    /// Records a failed expectation (judged for our agent only).
    fn fail(&mut self, what: impl Into<String>) {
        self.failures.push(what.into());
    }

    /// Requests per second the server's audit log saw from the agent since `(t0, count0)`.
    fn audit_mark(&self) -> (Instant, u64) {
        (Instant::now(), audit_requests(&self.k8s.bao.audit_log()))
    }

    fn set_audit_rate(&mut self, key: &str, mark: (Instant, u64)) {
        let n = audit_requests(&self.k8s.bao.audit_log()).saturating_sub(mark.1);
        let secs = mark.0.elapsed().as_secs_f64();
        self.report.set(key, format!("{:.2}", n as f64 / secs));
    }

    /// Stops sampling, adds the sampler's and memory figures, prints the line; the failures.
    fn finish(mut self) -> Outcome {
        let samples = self.sampler.take().unwrap().stop();
        self.report.set("samples", samples.samples);
        self.report.set("violations", samples.violations);
        if samples.violations > 0 {
            self.failures.push(format!(
                "{} bad samples of {}: {:?}",
                samples.violations, samples.samples, samples.first
            ));
        }
        if let (Some(a), Some(b)) = (self.rss_start, self.agent.rss_kb()) {
            self.report.set("rss_start_kb", a);
            self.report.set("rss_end_kb", b);
            self.report.set("rss_growth_kb", b as i64 - a as i64);
        }
        match self.agent.exited() {
            Some(s) => self
                .report
                .set("exit", s.code().map_or("signal".into(), |c| c.to_string())),
            None => self.report.set("exit", "running"),
        }
        // On a line of its own, also when the harness prints `test … ` without a newline.
        println!("\n{}", self.report.line());
        Outcome {
            kind: self.kind,
            failures: self.failures,
            log: self.agent.log(),
        }
    }
}

struct Outcome {
    kind: Kind,
    failures: Vec<String>,
    log: String,
}

/// Runs `scenario` for our agent (judged) and, in the full form, for `bao agent` (figures only).
fn judge(scenario: fn(Kind) -> Result<Outcome, String>) {
    let ours = scenario(Kind::Vaultlet);
    if full() {
        match scenario(Kind::Bao) {
            Ok(o) if !o.failures.is_empty() => {
                println!("FAULT-NOTE agent=bao misses: {:?}", o.failures)
            }
            Ok(_) => {}
            Err(e) => println!("FAULT-NOTE agent=bao could not run the scenario: {e}"),
        }
    }
    let o = match ours {
        Ok(o) => o,
        Err(e) if e.starts_with("skip:") => {
            println!("{e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(o.kind, Kind::Vaultlet);
    assert!(
        o.failures.is_empty(),
        "{}; agent log:\n{}",
        o.failures.join("; "),
        o.log
    );
}

/// Bound on a recovery, generous for a loaded 2-core machine.
fn recovery_bound() -> Duration {
    Duration::from_secs(pick(20, 45))
}

// --- Vault itself ------------------------------------------------------------------------------

fn vault_killed_and_restarted(kind: Kind) -> Result<Outcome, String> {
    let mut w = World::start("vault-restart", kind, Setup::default())?;
    let down = Duration::from_secs(pick(2, 15));
    let mark = w.audit_mark();
    w.k8s.bao.crash();
    std::thread::sleep(down);
    w.k8s.bao.restart();
    let t_back = Instant::now();
    // Unsealed, the KV v2 mount still takes a moment to load before it takes writes.
    let back = within(Duration::from_secs(20), || {
        w.k8s.bao.api_raw("GET", "secret/data/app", None).0 == 200
    });
    if back.is_none() {
        return Err("the KV mount never came back after the restart".into());
    }
    w.report.set("kv_ready_ms", t_back.elapsed().as_millis());
    let n = w.bump("app", true);
    let took = w.wait_rendered("app", n, recovery_bound());
    w.report.set("down_ms", down.as_millis());
    w.report.set_ms("recovery_ms", took);
    w.set_audit_rate("rps", mark);
    if took.is_none() {
        w.fail("a change after the restart never reached the file");
    }
    Ok(w.finish())
}

#[test]
fn vault_killed_and_restarted_same_data() {
    judge(vault_killed_and_restarted);
}

fn vault_reset(kind: Kind) -> Result<Outcome, String> {
    let mut w = World::start("vault-reset", kind, Setup::default())?;
    let mark = w.audit_mark();
    w.k8s.bao.reset();
    // The same configuration on an empty server: every token is gone, the data is new.
    w.generation = [1, 1];
    for s in SECRETS {
        w.sampler().allow(&w.path(s), &rendered(s, 1));
    }
    seed(&w.k8s, w.generation);
    w.k8s
        .bao
        .enable_kubernetes_auth(KubernetesAuth::MOUNT, &w.k8s.reviewer);
    w.k8s
        .role(ROLE, NAMESPACE, ACCOUNT, Some(POLICY_BOTH), json!({}));
    let t0 = Instant::now();
    let ok = SECRETS
        .iter()
        .all(|s| w.wait_rendered(s, 1, recovery_bound()).is_some());
    w.report.set_ms("recovery_ms", ok.then(|| t0.elapsed()));
    w.set_audit_rate("rps", mark);
    if !ok {
        w.fail("after the reset the agent did not log in again and render the new data");
    }
    Ok(w.finish())
}

#[test]
fn vault_reset_all_tokens_gone() {
    judge(vault_reset);
}

fn token_revoked(kind: Kind) -> Result<Outcome, String> {
    let mut w = World::start("token-revoked", kind, Setup::default())?;
    let token = std::fs::read_to_string(w.work.path().join("token")).unwrap();
    let mark = w.audit_mark();
    w.k8s.bao.api(
        "POST",
        "auth/token/revoke",
        Some(json!({ "token": token.trim() })),
    );
    let n = w.bump("app", true);
    let took = w.wait_rendered("app", n, recovery_bound());
    w.report.set_ms("recovery_ms", took);
    w.set_audit_rate("rps", mark);
    if took.is_none() {
        w.fail("after the revocation the agent did not log in again and render the change");
    }
    Ok(w.finish())
}

#[test]
fn token_revoked_by_an_operator() {
    judge(token_revoked);
}

fn policy_loses_a_path(kind: Kind) -> Result<Outcome, String> {
    let mut w = World::start("policy-loses-path", kind, Setup::default())?;
    let mark = w.audit_mark();
    w.k8s.bao.write_policy(ROLE, POLICY_APP_ONLY);
    // The lost secret changes too: its file must keep the last value it was allowed to read.
    w.bump("other", false);
    let n = w.bump("app", true);
    let took = w.wait_rendered("app", n, recovery_bound());
    w.report.set_ms("recovery_ms", took);
    if took.is_none() {
        w.fail("the secret still allowed stopped being refreshed");
    }
    std::thread::sleep(Duration::from_secs(pick(2, 20)));
    let n = w.bump("app", true);
    if w.wait_rendered("app", n, recovery_bound()).is_none() {
        w.fail("the secret still allowed stopped being refreshed later");
    }
    w.set_audit_rate("rps", mark);
    if w.agent.exited().is_some() {
        w.fail("the agent exited within the window");
    }
    Ok(w.finish())
}

#[test]
fn a_policy_losing_one_path_keeps_the_other_file_fresh_and_this_one_intact() {
    judge(policy_loses_a_path);
}

fn jwt_rotated(kind: Kind) -> Result<Outcome, String> {
    // Short tokens, so that the agent logs in again within the scenario.
    let setup = Setup {
        role_extra: json!({"token_ttl": "6s", "token_max_ttl": "6s"}),
        ..Setup::default()
    };
    let mut w = World::start("jwt-rotated", kind, setup)?;
    let mark = w.audit_mark();
    // The cluster's signing key changes: the kubelet writes a token signed with the new key, and
    // the API server (a new TokenReview stand-in) refuses tokens signed with the old one.
    let issuer = JwtIssuer::new(KUBERNETES_API);
    let reviewer_jwt = issuer.mint_service_account(
        "kube-system",
        "vault-reviewer",
        &[KUBERNETES_API],
        Duration::from_secs(3600),
    );
    let reviewer = TokenReviewer::start(&issuer, &reviewer_jwt);
    let t0 = Instant::now();
    write_jwt(
        &w.work.path().join("sa-token"),
        &issuer.mint_service_account(
            NAMESPACE,
            ACCOUNT,
            &[KUBERNETES_API],
            Duration::from_secs(3600),
        ),
    );
    w.k8s.bao.api(
        "POST",
        "auth/kubernetes/config",
        Some(json!({
            "kubernetes_host": reviewer.url(),
            "kubernetes_ca_cert": reviewer.ca_pem(),
            "disable_local_ca_jwt": true,
            "token_reviewer_jwt": reviewer.reviewer_jwt(),
        })),
    );
    w.k8s.issuer = issuer;
    w.k8s.reviewer = reviewer;
    // The first login with the new token.
    let login = within(Duration::from_secs(pick(20, 30)), || {
        w.k8s.reviewer.requests() > 0
    })
    .map(|()| t0.elapsed());
    w.report.set_ms("relogin_ms", login);
    if login.is_none() {
        w.fail("no login with the rotated token");
    }
    // Past the old token's life: renders still flow.
    std::thread::sleep(Duration::from_secs(pick(7, 20)));
    let n = w.bump("app", true);
    let took = w.wait_rendered("app", n, recovery_bound());
    w.report.set_ms("recovery_ms", took);
    w.set_audit_rate("rps", mark);
    if took.is_none() {
        w.fail("after the rotation a change never reached the file");
    }
    Ok(w.finish())
}

#[test]
#[ignore = "full fault suite (scripts/faults)"]
fn jwt_rotated_and_the_old_key_refused() {
    judge(jwt_rotated);
}

// --- the node ----------------------------------------------------------------------------------

fn full_tmpfs(kind: Kind) -> Result<Outcome, String> {
    let setup = Setup {
        tmpfs: Some("1m"),
        ..Setup::default()
    };
    let mut w = World::start("full-tmpfs", kind, setup)?;
    // Fill the filesystem to the last byte.
    let filler = w.work.path().join("secrets/filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&[0u8]);
    }
    let n = w.bump("app", true);
    let window = Duration::from_secs(pick(3, 15));
    std::thread::sleep(window);
    let exited_when_full = w.agent.exited();
    w.report.set(
        "exit_when_full",
        exited_when_full.map_or("running".to_string(), |s| format!("{:?}", s.code())),
    );
    std::fs::remove_file(&filler).unwrap();
    let t0 = Instant::now();
    if exited_when_full.is_some() {
        // The kubelet restarts a container that exited: so do we, on the same files.
        w.agent = Agent::start(kind, w.work.path(), &w.config, &w.setup.env);
        w.report.set("restarted", true);
    }
    let took = w
        .wait_rendered("app", n, recovery_bound())
        .map(|_| t0.elapsed());
    w.report.set_ms("recovery_ms", took);
    if took.is_none() {
        w.fail("once space was back the change never reached the file");
    }
    Ok(w.finish())
}

#[test]
#[ignore = "full fault suite (scripts/faults)"]
fn a_full_tmpfs_never_leaves_a_partial_file() {
    judge(full_tmpfs);
}

// --- the network -------------------------------------------------------------------------------

/// Runs a proxy fault for `window`, a change written at its start; the change must reach the file
/// within the bound after the window ends, or, for a slow proxy, already during the window.
fn proxy_fault(
    name: &str,
    kind: Kind,
    mode: Mode,
    window: Duration,
    env: Vec<(&'static str, &'static str)>,
) -> Result<Outcome, String> {
    let setup = Setup {
        proxy: true,
        env,
        ..Setup::default()
    };
    let mut w = World::start(name, kind, setup)?;
    let proxy = w.proxy.take().unwrap();
    let r0 = proxy.requests();
    let t0 = Instant::now();
    proxy.set(mode);
    let n = w.bump("app", true);
    let early = w.wait_rendered("app", n, window);
    std::thread::sleep(window.saturating_sub(t0.elapsed()));
    let during = proxy.requests() - r0;
    let secs = t0.elapsed().as_secs_f64();
    w.report.set("window_ms", window.as_millis());
    w.report
        .set("proxy_rps", format!("{:.2}", during as f64 / secs));
    let rss_window = w.agent.rss_kb();
    proxy.set(Mode::Pass);
    let took = match early {
        Some(_) => Some(Duration::ZERO),
        None => w.wait_rendered("app", n, recovery_bound()),
    };
    w.report.set_ms("change_in_window_ms", early);
    w.report.set_ms("recovery_ms", took);
    match mode {
        Mode::Delay(_) if early.is_none() => {
            w.fail("a slow server's answer never reached the file during the window")
        }
        Mode::Fail | Mode::Silent if early.is_some() => {
            w.fail("the change got through during the fault: the proxy is not in the path")
        }
        _ => {}
    }
    if let (Some(a), Some(b)) = (w.rss_start, rss_window) {
        w.report.set("rss_growth_window_kb", b as i64 - a as i64);
    }
    if took.is_none() {
        w.fail(format!(
            "after the {name} window the change never reached the file"
        ));
    }
    if w.agent.exited().is_some() {
        w.fail("the agent exited");
    }
    w.proxy = Some(proxy);
    Ok(w.finish())
}

fn proxy_500s(kind: Kind) -> Result<Outcome, String> {
    proxy_fault(
        "proxy-500-503",
        kind,
        Mode::Fail,
        Duration::from_secs(pick(3, 60)),
        vec![],
    )
}

#[test]
fn a_storm_of_500_and_503_answers() {
    judge(proxy_500s);
}

fn proxy_slow(kind: Kind) -> Result<Outcome, String> {
    proxy_fault(
        "proxy-slow",
        kind,
        Mode::Delay(Duration::from_secs(pick(2, 5))),
        Duration::from_secs(pick(6, 30)),
        vec![],
    )
}

#[test]
#[ignore = "full fault suite (scripts/faults)"]
fn a_proxy_delaying_every_answer() {
    judge(proxy_slow);
}

fn proxy_silent(kind: Kind) -> Result<Outcome, String> {
    // The client timeout an injected agent gets from `agent-client-timeout` (default 60 s).
    proxy_fault(
        "proxy-silent",
        kind,
        Mode::Silent,
        Duration::from_secs(pick(4, 30)),
        vec![("VAULT_CLIENT_TIMEOUT", "5s"), ("BAO_CLIENT_TIMEOUT", "5s")],
    )
}

#[test]
#[ignore = "full fault suite (scripts/faults)"]
fn a_proxy_that_never_answers() {
    judge(proxy_silent);
}

// --- signals -----------------------------------------------------------------------------------

fn sigterm_sidecar(kind: Kind) -> Result<Outcome, String> {
    let mut w = World::start("sigterm-sidecar", kind, Setup::default())?;
    std::thread::sleep(Duration::from_secs(pick(1, 5)));
    let t0 = Instant::now();
    w.agent.signal("TERM");
    let status = w.agent.wait_exit(Duration::from_secs(10));
    w.report.set_ms("exit_ms", status.map(|_| t0.elapsed()));
    // The files outlive the agent, whole.
    std::thread::sleep(Duration::from_millis(300));
    match status {
        Some(s) if s.code() == Some(0) => {}
        other => w.fail(format!("SIGTERM: wanted exit 0 within 10 s, got {other:?}")),
    }
    Ok(w.finish())
}

#[test]
fn sigterm_in_sidecar_mode() {
    judge(sigterm_sidecar);
}

fn sigterm_init(kind: Kind) -> Result<Outcome, String> {
    // Every answer held back, so that the signal lands in the middle of the init run.
    let setup = Setup {
        proxy: true,
        init: true,
        initial_mode: Mode::Delay(Duration::from_millis(700)),
        ..Setup::default()
    };
    let mut w = World::start("sigterm-init", kind, setup)?;
    std::thread::sleep(Duration::from_millis(1500));
    let t0 = Instant::now();
    w.agent.signal("TERM");
    let status = w.agent.wait_exit(Duration::from_secs(10));
    w.report.set_ms("exit_ms", status.map(|_| t0.elapsed()));
    let written = SECRETS.iter().filter(|s| w.path(s).exists()).count();
    w.report.set("files_written", written);
    std::thread::sleep(Duration::from_millis(300));
    match status {
        Some(s) if s.code() == Some(0) => {}
        other => w.fail(format!("SIGTERM: wanted exit 0 within 10 s, got {other:?}")),
    }
    Ok(w.finish())
}

#[test]
fn sigterm_in_init_mode() {
    judge(sigterm_init);
}
