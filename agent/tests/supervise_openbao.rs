//! Process-supervisor mode end to end (agent.md §1.11): one `exec` + `env_template` config run by
//! the built agent and by the real `bao agent` (the oracle) side by side against a real OpenBao
//! dev server. The child is a small shell script that records its environment, each start with
//! the secret it got, and the signals it receives. Both agents must give it the same environment,
//! restart it on a change (and not without one), stop it with the configured signal, exit with its
//! code, and refuse the same bad configs with the same message. As PID 1 of a new PID namespace,
//! vaultlet reaps orphaned processes (upstream leaves them as zombies: the control).

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::json;
use vaultlet_tests::{OpenBao, bao_binary, within};

const OURS: &str = env!("CARGO_BIN_EXE_vaultlet-agent");

/// The child: writes its environment (NUL-separated) to `env.<n>`, appends `start <APP_PASS>` to
/// `starts`, logs the signals it traps, and exits with `$EXIT_CODE` (`kill`: by SIGKILL) after
/// half a second when that is set; it also ends when its parent is gone (no leak if a test fails).
const CHILD: &str = r#"#!/bin/sh
n=$(( $(cat starts 2>/dev/null | grep -c '^start') + 1 ))
env -0 > "env.$n"
echo "start $APP_PASS" >> starts
trap 'echo "TERM $APP_PASS" >> starts; exit 0' TERM
trap 'echo "USR1 $APP_PASS" >> starts; exit 0' USR1
trap 'echo "HUP $APP_PASS" >> starts' HUP
if [ -n "$ORPHAN" ]; then ( sleep 0.3 & ); echo orphaned >> starts; fi
if [ -n "$EXIT_CODE" ]; then
  sleep 0.5
  if [ "$EXIT_CODE" = kill ]; then kill -KILL $$; fi
  exit "$EXIT_CODE"
fi
parent=$PPID
while kill -0 "$parent" 2>/dev/null; do sleep 0.1; done
"#;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Ours,
    Bao,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Ours => "ours",
            Which::Bao => "bao",
        }
    }
}

/// One agent process: its working directory is `<root>/<name>`, where the child writes.
struct Agent {
    which: Which,
    dir: PathBuf,
    child: Child,
}

impl Agent {
    /// Starts the agent on `config` with a clean environment plus `env`; `wrap` prefixes the
    /// command (e.g. `unshare …`).
    fn start(
        which: Which,
        root: &Path,
        config: &Path,
        env: &[(&str, &str)],
        wrap: &[&str],
    ) -> Agent {
        let dir = root.join(which.name());
        std::fs::create_dir_all(&dir).unwrap();
        let log = std::fs::File::create(dir.join("agent.log")).unwrap();
        let (bin, extra): (PathBuf, &[&str]) = match which {
            Which::Ours => (PathBuf::from(OURS), &["-log-level=debug"]),
            Which::Bao => (bao_binary(), &[]),
        };
        let mut argv: Vec<String> = wrap.iter().map(|s| s.to_string()).collect();
        argv.push(bin.display().to_string());
        argv.push("agent".into());
        argv.push(format!("-config={}", config.display()));
        argv.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", root)
            .env("APP_OVERRIDE", "from-the-agent")
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Agent { which, dir, child }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// The child's `starts` file, one entry per line.
    fn starts(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("starts"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Waits until `starts` holds exactly `want`.
    fn wait_starts(&self, want: &[&str], timeout: Duration) {
        if within(timeout, || self.starts() == want).is_none() {
            panic!(
                "{}: starts {:?}, want {want:?}; agent log:\n{}",
                self.which.name(),
                self.starts(),
                self.log()
            );
        }
    }

    /// The environment of the child's `n`-th start.
    fn env(&self, n: usize) -> BTreeMap<String, String> {
        let raw = std::fs::read(self.dir.join(format!("env.{n}"))).unwrap();
        raw.split(|b| *b == 0)
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let kv = String::from_utf8_lossy(kv);
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    /// The same, byte for byte (a value need not be UTF-8).
    fn env_raw(&self, n: usize) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let raw = std::fs::read(self.dir.join(format!("env.{n}"))).unwrap();
        raw.split(|b| *b == 0)
            .filter(|kv| !kv.is_empty() && !kv.starts_with(b"PWD="))
            .map(|kv| {
                let eq = kv.iter().position(|b| *b == b'=').unwrap();
                (kv[..eq].to_vec(), kv[eq + 1..].to_vec())
            })
            .collect()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        within(timeout, || self.child.try_wait().unwrap()).unwrap_or_else(|| {
            panic!(
                "{}: still running after {timeout:?}; log:\n{}",
                self.which.name(),
                self.log()
            )
        })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A test's files: the child script, the token, the config.
struct Setup {
    root: tempfile::TempDir,
    config: PathBuf,
}

/// Writes the child script, the root token and an HCL config with `body` (env templates and
/// `exec`, `{child}` standing for the script's path).
fn setup(bao: &OpenBao, body: &str) -> Setup {
    setup_with_sink(bao, body, false)
}

/// [`setup`], with a token sink when `sink`.
fn setup_with_sink(bao: &OpenBao, body: &str, sink: bool) -> Setup {
    let root = tempfile::tempdir().unwrap();
    let child = root.path().join("child.sh");
    std::fs::write(&child, CHILD).unwrap();
    std::fs::set_permissions(&child, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = root.path().join("token");
    std::fs::write(&token, bao.root_token()).unwrap();
    let config = root.path().join("agent.hcl");
    let sink = if sink {
        format!(
            "  sink \"file\" {{\n    config = {{\n      path = \"{}\"\n    }}\n  }}\n",
            root.path().join("sink").display()
        )
    } else {
        String::new()
    };
    let text = format!(
        "vault {{\n  address = \"{addr}\"\n}}\nauto_auth {{\n  method \"token_file\" {{\n    config = {{\n      token_file_path = \"{token}\"\n    }}\n  }}\n{sink}}}\ntemplate_config {{\n  static_secret_render_interval = \"1s\"\n}}\n{body}",
        addr = bao.addr(),
        token = token.display(),
        body = body.replace("{child}", &child.display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    Setup { root, config }
}

/// `env_template "APP_PASS"` reading `kv/app`.
const APP_PASS: &str = "env_template \"APP_PASS\" {\n  contents = \"{{ with secret \\\"kv/data/app\\\" }}{{ .Data.data.pass }}{{ end }}\"\n}\n";

fn seeded() -> OpenBao {
    let bao = OpenBao::start();
    bao.enable_kv("kv", 2);
    bao.kv_put("kv", "app", json!({"user": "me", "pass": "p1"}));
    bao
}

#[test]
fn both_agents_give_the_child_the_same_environment_and_restart_it_on_a_change_only() {
    let bao = seeded();
    let source_dir = tempfile::tempdir().unwrap();
    let source = source_dir.path().join("user.tmpl");
    std::fs::write(
        &source,
        "{{ with secret \"kv/data/app\" }}{{ .Data.data.user }}-from-source{{ end }}",
    )
    .unwrap();
    let body = format!(
        "{APP_PASS}\
env_template \"APP_USER\" {{\n  contents = \"[[ with secret \\\"kv/data/app\\\" ]][[ .Data.data.user ]][[ end ]]\"\n  left_delimiter = \"[[\"\n  right_delimiter = \"]]\"\n}}\n\
env_template \"APP_SOURCE\" {{\n  source = \"{src}\"\n}}\n\
env_template \"APP_MISSING\" {{\n  contents = \"{{{{ with secret \\\"kv/data/app\\\" }}}}{{{{ .Data.data.nokey }}}}{{{{ end }}}}\"\n  error_on_missing_key = false\n}}\n\
env_template \"APP_OVERRIDE\" {{\n  contents = \"line one\\nfrom the template, home {{{{ env \\\"HOME\\\" }}}}\"\n}}\n\
env_template \"APP_BIN\" {{\n  contents = \"{{{{ base64Decode \\\"Yf/+Yg==\\\" }}}}\"\n}}\n\
exec {{\n  command = [\"{{child}}\"]\n}}\n",
        src = source.display()
    );
    let s = setup(&bao, &body);
    let agents =
        [Which::Ours, Which::Bao].map(|w| Agent::start(w, s.root.path(), &s.config, &[], &[]));
    for a in &agents {
        a.wait_starts(&["start p1"], Duration::from_secs(30));
    }
    let (ours, theirs) = (agents[0].env(1), agents[1].env(1));
    assert_eq!(ours.get("APP_PASS").map(String::as_str), Some("p1"));
    assert_eq!(ours.get("APP_USER").map(String::as_str), Some("me"));
    assert_eq!(
        ours.get("APP_SOURCE").map(String::as_str),
        Some("me-from-source")
    );
    assert!(
        ours["APP_OVERRIDE"].starts_with("line one\nfrom the template"),
        "the template's value replaces the agent's: {:?}",
        ours["APP_OVERRIDE"]
    );
    // `PWD` is the child's working directory, the agent's own (one per agent here).
    let without_pwd = |mut e: BTreeMap<String, String>| {
        e.remove("PWD");
        e
    };
    assert_eq!(
        without_pwd(ours),
        without_pwd(theirs),
        "the child's whole environment, ours vs bao agent"
    );
    // A value that is not UTF-8 reaches the child as its bytes, as with bao agent.
    assert_eq!(
        agents[0].env_raw(1).get(&b"APP_BIN"[..]).map(Vec::as_slice),
        Some(&b"a\xff\xfeb"[..])
    );
    assert_eq!(
        agents[0].env_raw(1),
        agents[1].env_raw(1),
        "the child's whole environment byte for byte, ours vs bao agent"
    );

    // Refreshes every second render the same values: no restart.
    std::thread::sleep(Duration::from_secs(5));
    for a in &agents {
        assert_eq!(
            a.starts(),
            ["start p1"],
            "{}: restarted without a change",
            a.which.name()
        );
    }

    bao.kv_put("kv", "app", json!({"user": "me", "pass": "p2"}));
    for a in &agents {
        a.wait_starts(
            &["start p1", "TERM p1", "start p2"],
            Duration::from_secs(30),
        );
    }
    assert_eq!(agents[0].env(2)["APP_PASS"], "p2");
    assert_eq!(without_pwd(agents[0].env(2)), without_pwd(agents[1].env(2)));
}

#[test]
fn the_stop_signal_reaches_the_child_and_never_keeps_it_running() {
    let bao = seeded();
    let body = format!(
        "{APP_PASS}exec {{\n  command = [\"{{child}}\"]\n  restart_on_secret_changes = \"never\"\n  restart_stop_signal = \"SIGUSR1\"\n}}\n"
    );
    let s = setup(&bao, &body);
    let mut agents =
        [Which::Ours, Which::Bao].map(|w| Agent::start(w, s.root.path(), &s.config, &[], &[]));
    for a in &agents {
        a.wait_starts(&["start p1"], Duration::from_secs(30));
    }
    bao.kv_put("kv", "app", json!({"user": "me", "pass": "p2"}));
    std::thread::sleep(Duration::from_secs(5));
    // SIGHUP reloads the agent's config; it is not passed on to the child (as upstream).
    for a in &agents {
        a.signal("HUP");
    }
    std::thread::sleep(Duration::from_secs(1));
    for a in &agents {
        assert_eq!(
            a.starts(),
            ["start p1"],
            "{}: never restarts",
            a.which.name()
        );
        a.signal("TERM");
    }
    for a in &mut agents {
        let st = a.wait_exit(Duration::from_secs(20));
        assert_eq!(st.code(), Some(0), "{}: {}", a.which.name(), a.log());
        assert_eq!(a.starts(), ["start p1", "USR1 p1"], "{}", a.which.name());
    }
}

#[test]
fn the_agent_exits_with_the_childs_exit_code() {
    let bao = seeded();
    let body = format!("{APP_PASS}exec {{\n  command = [\"{{child}}\"]\n}}\n");
    let s = setup(&bao, &body);
    // A signal ends the child: upstream reports −1, so the agent exits 255.
    for (code, want) in [("0", 0), ("3", 3), ("kill", 255)] {
        let root = s.root.path().join(format!("exit-{code}"));
        let mut agents = [Which::Ours, Which::Bao]
            .map(|w| Agent::start(w, &root, &s.config, &[("EXIT_CODE", code)], &[]));
        for a in &mut agents {
            let st = a.wait_exit(Duration::from_secs(30));
            assert_eq!(
                st.code(),
                Some(want),
                "{} with EXIT_CODE={code}; log:\n{}",
                a.which.name(),
                a.log()
            );
            assert_eq!(a.starts(), ["start p1"], "{}", a.which.name());
        }
    }
}

#[test]
fn bad_configs_are_refused_with_upstreams_messages() {
    let bao = OpenBao::start();
    let env = "env_template \"A\" {\n  contents = \"x\"\n}\n";
    let exec = "exec {\n  command = [\"/bin/true\"]\n}\n";
    let cases: Vec<(String, &str)> = vec![
        (
            env.into(),
            "a top-level 'exec' element must be specified with 'env_template' entries",
        ),
        (
            format!("{exec}#sink"),
            "must specify at least one 'env_template' element with a top-level 'exec' element",
        ),
        (
            format!("{env}{exec}template {{\n  destination = \"/tmp/x\"\n  contents = \"x\"\n}}\n"),
            "'template' cannot be specified with 'env_template' entries",
        ),
        (
            format!(
                "{env}{exec}api_proxy {{\n  use_auto_auth_token = true\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:1\"\n  tls_disable = true\n}}\n"
            ),
            "'api_proxy' cannot be specified with 'env_template' entries",
        ),
        (
            format!("{env}exec {{\n  command = []\n}}\n"),
            "'exec' requires a non-empty 'command' field",
        ),
        (
            format!(
                "{env}exec {{\n  command = [\"a\"]\n  restart_on_secret_changes = \"sometimes\"\n}}\n"
            ),
            "'exec.restart_on_secret_changes' unexpected value: \"sometimes\"",
        ),
        (
            format!(
                "{env}exec {{\n  command = [\"a\"]\n  restart_stop_signal = \"notasignal\"\n}}\n"
            ),
            "invalid signal \"notasignal\" - valid signals are [\"SIGABRT\"",
        ),
        (
            format!("{env}{exec}env_template \"A\" {{\n  contents = \"y\"\n}}\n"),
            "duplicate environment variable name: \"A\"",
        ),
        (
            format!("{exec}env_template \"A\" {{\n  error_on_missing_key = true\n}}\n"),
            "env_template[A]: either 'contents' or 'source' must be specified",
        ),
        (
            format!("{exec}env_template \"A\" {{\n  contents = \"x\"\n  source = \"/tmp/x\"\n}}\n"),
            "env_template[A]: 'contents' and 'source' cannot be specified together",
        ),
        (
            format!("{exec}env_template {{\n  contents = \"x\"\n}}\n"),
            "expected one and only one environment variable name, got 0",
        ),
        // Two keys an env template may not use: the one upstream checks first is named.
        (
            format!(
                "{exec}env_template \"A\" {{\n  contents = \"x\"\n  destination = \"/x\"\n  create_dest_dirs = true\n}}\n"
            ),
            "env_template[A]: 'create_dest_dirs' is not allowed",
        ),
        (
            // (Not `perms`, `wait` or `exec`: upstream's HCL decoder fails on those before its
            // own check, with a decoding error; vaultlet names the key.)
            format!("{exec}env_template \"A\" {{\n  contents = \"x\"\n  backup = true\n}}\n"),
            "env_template[A]: 'backup' is not allowed",
        ),
        (
            format!("{exec}env_template \"A\" {{\n  contents = \"x\"\n  user = \"nobody\"\n}}\n"),
            "env_template[A]: 'user' is not allowed",
        ),
        (
            format!("{exec}env_template \"A\" {{\n  contents = \"x\"\n  command = [\"x\"]\n}}\n"),
            "env_template[A]: 'command' is not allowed",
        ),
        (
            format!("{exec}env_template \"A\" {{\n  contents = \"x\"\n  gid = 1000\n}}\n"),
            "env_template[A]: 'gid' is not allowed",
        ),
        (
            format!(
                "{exec}env_template \"A\" {{\n  contents = \"x\"\n  command_timeout = \"1s\"\n}}\n"
            ),
            "env_template[A]: 'command_timeout' is not allowed",
        ),
        (
            format!(
                "{exec}env_template \"A\" {{\n  contents = \"x\"\n  sandbox_path = \"/x\"\n}}\n"
            ),
            "env_template[A]: 'sandbox_path' is not allowed",
        ),
    ];
    for (i, (body, phrase)) in cases.iter().enumerate() {
        let s = setup_with_sink(&bao, body, body.contains("#sink"));
        for which in [Which::Ours, Which::Bao] {
            let mut a = Agent::start(which, s.root.path(), &s.config, &[], &[]);
            let st = a.wait_exit(Duration::from_secs(20));
            // Config errors: 64 in vaultlet (agent.md §0), 1 upstream.
            let want = if which == Which::Ours { 64 } else { 1 };
            let log = a.log();
            assert_eq!(
                st.code(),
                Some(want),
                "case {i} ({phrase}), {}:\n{log}",
                which.name()
            );
            assert!(
                log.contains(phrase),
                "case {i}, {}: want {phrase:?} in:\n{log}",
                which.name()
            );
        }
    }
}

/// The IDs of `parent`'s children in state Z (zombies), from /proc.
fn zombies_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) S ppid …`: the command may hold spaces and parentheses.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next(), f.next().and_then(|p| p.parse::<u32>().ok()));
        if state == Some("Z") && ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// The agent's host PID under `unshare --fork`: the one child of the `unshare` process.
fn forked_child(unshare: u32) -> Option<u32> {
    let kids = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
    kids.split_whitespace().next()?.parse().ok()
}

#[test]
fn as_pid_1_the_agent_reaps_orphans_that_bao_agent_leaves_as_zombies() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!(
            "skipped: `unshare --pid --fork --mount-proc` is not permitted here (needs root)"
        );
        return;
    }
    let bao = seeded();
    let body = format!("{APP_PASS}exec {{\n  command = [\"{{child}}\"]\n}}\n");
    let s = setup(&bao, &body);
    // `--kill-child`: the namespace goes when the test kills `unshare`.
    let unshare = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"];
    let agents = [Which::Ours, Which::Bao]
        .map(|w| Agent::start(w, s.root.path(), &s.config, &[("ORPHAN", "1")], &unshare));
    for a in &agents {
        a.wait_starts(&["start p1", "orphaned"], Duration::from_secs(30));
    }
    let pid_of = |a: &Agent| {
        within(Duration::from_secs(5), || forked_child(a.child.id()))
            .expect("the agent under unshare")
    };
    // The control: upstream does not reap the orphan, which stays a zombie of PID 1.
    let theirs = pid_of(&agents[1]);
    assert!(
        within(Duration::from_secs(10), || !zombies_of(theirs).is_empty()).is_some(),
        "expected a zombie under bao agent (the control)"
    );
    let ours = pid_of(&agents[0]);
    assert!(
        within(Duration::from_secs(10), || agents[0]
            .log()
            .contains("reaped an orphaned process"))
        .is_some(),
        "log:\n{}",
        agents[0].log()
    );
    for _ in 0..20 {
        assert_eq!(
            zombies_of(ours),
            Vec::<u32>::new(),
            "zombies under vaultlet"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
