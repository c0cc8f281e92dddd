//! `vaultlet-agent signal <SIGNAL> <process>` (extension, injector.md §1.4) on real processes: a
//! local process with a distinctive name gets the signal, by its command name or, past the 15
//! bytes the kernel keeps of it, by its executable's name; no match and a bad signal fail clearly;
//! and as a template's argv command (agent.md §5.9) under the agent against a real OpenBao, the
//! process is signalled after each render of a changed secret.

// Tests write their fixtures directly (clippy.toml's atomic-write rule is for the product).
#![allow(clippy::disallowed_methods)]

mod agent_common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent_common::{AgentRun, BIN, command};
use serde_json::json;
use vaultlet_tests::OpenBao;

/// Copies `/bin/<prog>` into `dir` as `name`, so the process has that name.
fn copy_as(dir: &Path, prog: &str, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(Path::new("/bin").join(prog), &to).unwrap();
    to
}

/// Spawns `cmd`, retrying while the kernel says "text file busy": a copy made a moment ago can
/// still be open for writing in a child another test thread forked meanwhile (it closes at exec).
fn spawn(cmd: &mut Command) -> Child {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match cmd.spawn() {
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy && Instant::now() < end =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r.unwrap(),
        }
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Waits until `/proc/<pid>/comm` shows the program (exec done), so a scan can see it.
fn wait_started(child: &Child, name: &str) {
    let comm = format!("/proc/{}/comm", child.id());
    let want: String = name.chars().take(15).collect();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if std::fs::read_to_string(&comm).is_ok_and(|c| c.trim_end() == want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{name} did not start");
}

fn signal(args: &[&str]) -> std::process::Output {
    command().arg("signal").args(args).output().unwrap()
}

#[test]
fn a_process_named_like_the_target_gets_the_signal() {
    let dir = tempfile::tempdir().unwrap();
    // Short name: matched by comm (and exe).
    let short = format!("vsig-{}", std::process::id());
    let mut a = spawn(Command::new(copy_as(dir.path(), "sleep", &short)).arg("30"));
    wait_started(&a, &short);
    let out = signal(&["HUP", &short]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("sent SIGHUP to 1 process named {short:?}\n")
    );
    let st = wait_exit(&mut a, Duration::from_secs(5)).expect("sleep got SIGHUP and ended");
    assert_eq!(st.signal(), Some(1), "{st:?}");

    // Longer than comm's 15 bytes: matched by the executable's name; SIGTERM by number.
    let long = format!("vaultlet-sigtest-{}", std::process::id());
    let mut b = spawn(Command::new(copy_as(dir.path(), "sleep", &long)).arg("30"));
    wait_started(&b, &long);
    let out = signal(&["15", &long]);
    assert!(out.status.success(), "{out:?}");
    let st = wait_exit(&mut b, Duration::from_secs(5)).expect("sleep got SIGTERM and ended");
    assert_eq!(st.signal(), Some(15), "{st:?}");
}

#[test]
fn no_match_and_a_bad_signal_fail_with_a_clear_error() {
    let name = format!("vsig-none-{}", std::process::id());
    let out = signal(&["HUP", &name]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("Error: no process named {name:?} found")),
        "{err}"
    );
    let out = signal(&["SIGBOGUS", "init"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"SIGBOGUS\" is not a signal"), "{err}");
}

#[test]
fn a_template_change_signals_the_app_through_an_argv_command() {
    let bao = OpenBao::start();
    bao.kv_put("secret", "app", json!({"password": "one"}));
    let dir = tempfile::tempdir().unwrap();
    // The "app": a copy of sh named like the target that appends a line per SIGHUP.
    let name = format!("vsig-app-{}", std::process::id());
    let hups = dir.path().join("hups");
    let script = format!(
        "trap 'echo hup >> {}' HUP; while :; do sleep 0.05; done",
        hups.display()
    );
    let mut app = spawn(
        Command::new(copy_as(dir.path(), "sh", &name))
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::null()),
    );
    wait_started(&app, &name);
    let tok = dir.path().join("token");
    std::fs::write(&tok, bao.root_token()).unwrap();
    let dest = dir.path().join("out/app.txt");
    let cfg = json!({
        "auto_auth": {
            "method": {"type": "token_file", "config": {"token_file_path": tok.to_str().unwrap()}},
        },
        "vault": {"address": bao.addr()},
        "template": [{"destination": dest.to_str().unwrap(),
                      "contents": "{{ with secret \"secret/app\" }}{{ .Data.data.password }}{{ end }}",
                      "exec": {"command": [BIN, "signal", "HUP", name]}}],
        "template_config": {"static_secret_render_interval": "1s", "exit_on_retry_failure": true},
    });
    let run = AgentRun::start(dir, &cfg, &[]);
    run.wait_file(&dest, Duration::from_secs(20), |s| s == "one");
    run.wait_file(&hups, Duration::from_secs(10), |s| s.lines().count() == 1);
    bao.kv_put("secret", "app", json!({"password": "two"}));
    run.wait_file(&dest, Duration::from_secs(10), |s| s == "two");
    run.wait_file(&hups, Duration::from_secs(10), |s| s.lines().count() == 2);
    // The app is still running: it handled the signal.
    assert!(app.try_wait().unwrap().is_none(), "log:\n{}", run.log());
    let _ = app.kill();
    let _ = app.wait();
}
