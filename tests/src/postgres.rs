//! A real PostgreSQL server for tests of dynamic secrets: `initdb` + `pg_ctl` on a temporary
//! directory and a free 127.0.0.1 port, password (SCRAM) authentication over TCP, stopped when
//! the handle drops. [`Postgres::database_engine`] points OpenBao's database secrets engine
//! (`postgresql-database-plugin`, built into `bao`) at it with a role that creates users with a
//! renewable lease.
//!
//! The binaries come from Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, the
//! highest version), else from `PATH`. `initdb` refuses to run as root, so as root the server runs
//! as the package's `postgres` user through `runuser`. When PostgreSQL is missing or does not
//! start, [`Postgres::start`] says why and the test skips loudly ([`skip_or_fail`]); with
//! `VAULTLET_REQUIRE_POSTGRES=1` (CI sets it) that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::{OpenBao, free_port, within};

/// The superuser's name and password (the database engine connects with them).
const SUPERUSER: &str = "postgres";

/// A running PostgreSQL server; stopped when dropped.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    password: String,
    /// `Some(user)` when the server runs as another user (running as root).
    run_as: Option<String>,
    _dir: tempfile::TempDir,
}

/// The directory holding `initdb`, `pg_ctl` and `psql`, if PostgreSQL is installed.
pub fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    #[allow(clippy::disallowed_methods)] // the test harness's own lookup
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
}

/// A test that needs PostgreSQL and cannot have it: prints why and returns (the test skips), or
/// panics when `VAULTLET_REQUIRE_POSTGRES=1`.
pub fn skip_or_fail(test: &str, why: &str) {
    #[allow(clippy::disallowed_methods)] // the test harness's own setting
    let required = std::env::var("VAULTLET_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
    if required {
        panic!("{test}: PostgreSQL is required (VAULTLET_REQUIRE_POSTGRES=1) but {why}");
    }
    eprintln!("SKIPPED {test}: {why} (install the Debian package `postgresql`; .ci/run does)");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Postgres {
    /// Starts a server, or says why it cannot.
    pub fn start() -> Result<Postgres, String> {
        let bin = postgres_bin().ok_or("no initdb found (/usr/lib/postgresql/*/bin, PATH)")?;
        let run_as = if is_root() {
            let known = Command::new("id")
                .arg(SUPERUSER)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !known {
                return Err(format!(
                    "running as root and there is no `{SUPERUSER}` user to run initdb as"
                ));
            }
            Some(SUPERUSER.to_string())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("vaultlet-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let password = format!("pg-{:016x}", rand::random::<u64>());
        let pwfile = dir.path().join("pw");
        // A fixture in the harness's own tempdir.
        #[allow(clippy::disallowed_methods)]
        std::fs::write(&pwfile, &password).map_err(|e| e.to_string())?;
        if let Some(user) = &run_as {
            chown_tree(dir.path(), user)?;
        }
        let data = dir.path().join("data");
        let mut pg = Postgres {
            bin,
            data,
            port: 0,
            password,
            run_as,
            _dir: dir,
        };
        pg.run(
            "initdb",
            &[
                "-D",
                path_str(&pg.data),
                "-U",
                SUPERUSER,
                "--pwfile",
                path_str(&pwfile),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )?;
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = free_port();
            let opts = format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
                pg.port,
                path_str(&pg.data)
            );
            let log = pg.data.join("server.log");
            match pg.run(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&pg.data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &opts,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
            ) {
                Ok(_) => break,
                Err(e) => {
                    last = format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
                    if !last.contains("already in use") {
                        return Err(format!("pg_ctl start failed: {last}"));
                    }
                    pg.port = 0;
                }
            }
        }
        if pg.port == 0 {
            return Err(format!("pg_ctl start failed: {last}"));
        }
        let up = within(Duration::from_secs(20), || {
            pg.query_as(SUPERUSER, &pg.password.clone(), "select 1")
                .is_ok()
        });
        if up.is_none() {
            return Err("the server does not answer on 127.0.0.1".into());
        }
        Ok(pg)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` with `psql` over TCP as `user`/`password`; returns the unaligned, tuples-only
    /// output, or psql's error.
    pub fn query_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                "postgres",
                "-c",
                sql,
            ])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "5")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Runs `sql` as the superuser.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        self.query_as(SUPERUSER, &self.password, sql)
    }

    /// Mounts the database secrets engine at `mount` with connection `pg` to this server and role
    /// `role`, whose users live `default_ttl` (renewable up to `max_ttl`).
    pub fn database_engine(
        &self,
        bao: &OpenBao,
        mount: &str,
        role: &str,
        default_ttl: &str,
        max_ttl: &str,
    ) {
        bao.api(
            "POST",
            &format!("sys/mounts/{mount}"),
            Some(json!({"type": "database"})),
        );
        bao.api(
            "POST",
            &format!("{mount}/config/pg"),
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!(
                    "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/postgres?sslmode=disable",
                    self.port
                ),
                "username": SUPERUSER,
                "password": self.password,
                "allowed_roles": [role],
                "verify_connection": true,
            })),
        );
        bao.api(
            "POST",
            &format!("{mount}/roles/{role}"),
            Some(json!({
                "db_name": "pg",
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
                ],
                "default_ttl": default_ttl,
                "max_ttl": max_ttl,
            })),
        );
    }

    /// Runs one of the server's programs (as the server's user when running as root).
    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let exe = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{program} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// Hands `dir` (and what is in it) to `user`, so that the server may write there.
fn chown_tree(dir: &Path, user: &str) -> Result<(), String> {
    let st = Command::new("chown")
        .args(["-R", user])
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("chown -R {user} {} failed", dir.display()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.port != 0 {
            let _ = self.run(
                "pg_ctl",
                &["-D", path_str(&self.data), "-m", "immediate", "-w", "stop"],
            );
        }
    }
}
