//! A real OpenBao server on 127.0.0.1, with seeding helpers: a dev server (`bao server -dev`,
//! memory storage, root token `root`), or one with raft storage on disk that survives a restart
//! ([`OpenBao::start_raft`]: a single node, a one-key Shamir seal, initialised and unsealed here).
//!
//! Raw API calls go through `curl` (present wherever the tests run), so a test can send JSON
//! exactly as written — number literals included — without this crate needing an async runtime.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{JwtIssuer, TokenReviewer, bao_binary, free_port, within};

/// A running OpenBao server; stopped (by PID) when dropped.
pub struct OpenBao {
    child: Option<Child>,
    port: u16,
    tls: bool,
    dir: tempfile::TempDir,
    addr: String,
    /// The root token: `root` in dev mode, the one `sys/init` gave with raft storage.
    root: String,
    /// Raft storage instead of dev mode.
    raft: Option<Raft>,
}

/// What a raft-backed server needs across restarts.
struct Raft {
    cluster_port: u16,
    /// The one unseal key (base64), once initialised.
    unseal_key: Option<String>,
}

impl OpenBao {
    /// Starts a plain-HTTP dev server with root token `root` and waits until it answers.
    pub fn start() -> OpenBao {
        Self::start_with(false)
    }

    /// Starts a dev server with `-dev-tls` (a CA and a certificate for 127.0.0.1 made by the
    /// server itself; see [`OpenBao::ca_cert_path`]).
    pub fn start_tls() -> OpenBao {
        Self::start_with(true)
    }

    /// Starts a server with raft storage in its scratch directory (a single node, plain HTTP, a
    /// one-key Shamir seal), initialises and unseals it and waits until it is active. Its data
    /// survives [`OpenBao::restart`] (and [`OpenBao::crash`]); [`OpenBao::reset`] wipes it. Requests
    /// are written to a file audit device, [`OpenBao::audit_log`]. Nothing is mounted: the caller
    /// seeds (there is no `secret/` as in dev mode).
    pub fn start_raft() -> OpenBao {
        Self::start_mode(false, true)
    }

    fn start_with(tls: bool) -> OpenBao {
        Self::start_mode(tls, false)
    }

    fn start_mode(tls: bool, raft: bool) -> OpenBao {
        let mut dir = tempfile::Builder::new()
            .prefix("vaultlet-bao-")
            .tempdir()
            .expect("tempdir");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port();
            let scheme = if tls { "https" } else { "http" };
            let mut bao = OpenBao {
                child: None,
                port,
                tls,
                addr: format!("{scheme}://127.0.0.1:{port}"),
                dir,
                root: "root".to_string(),
                raft: raft.then(|| Raft {
                    cluster_port: free_port(),
                    unseal_key: None,
                }),
            };
            match bao.spawn() {
                Ok(()) => return bao,
                Err(log) => {
                    last_log = log;
                    dir = bao.take_dir();
                    if !last_log.contains("address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("bao server did not start; its log:\n{last_log}");
    }

    fn take_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let placeholder = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, placeholder)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn spawn(&mut self) -> Result<(), String> {
        // The dev server's log: a plain file in the harness's own tempdir.
        #[allow(clippy::disallowed_methods)]
        let log = std::fs::File::create(self.log_path()).expect("server log");
        let mut cmd = Command::new(bao_binary());
        cmd.arg("server");
        if let Some(raft) = &self.raft {
            let data = self.dir.path().join("raft");
            std::fs::create_dir_all(&data).expect("raft dir");
            let config = self.dir.path().join("server.hcl");
            std::fs::write(
                &config,
                format!(
                    "storage \"raft\" {{\n  path = \"{data}\"\n  node_id = \"node1\"\n  performance_multiplier = 1\n}}\n\
                     listener \"tcp\" {{\n  address = \"127.0.0.1:{port}\"\n  tls_disable = true\n}}\n\
                     api_addr = \"http://127.0.0.1:{port}\"\ncluster_addr = \"http://127.0.0.1:{cluster}\"\n\
                     audit \"file\" \"requests\" {{\n  options = {{\n    file_path = \"{audit}\"\n  }}\n}}\n",
                    data = data.display(),
                    port = self.port,
                    cluster = raft.cluster_port,
                    audit = self.audit_log().display(),
                ),
            )
            .expect("server config");
            cmd.arg(format!("-config={}", config.display()));
        } else {
            cmd.arg("-dev")
                .arg("-dev-root-token-id=root")
                .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port));
        }
        if self.tls {
            let certs = self.dir.path().join("tls");
            std::fs::create_dir_all(&certs).expect("tls dir");
            cmd.arg("-dev-tls")
                .arg(format!("-dev-tls-cert-dir={}", certs.display()));
        }
        // HOME keeps the dev server from overwriting the user's ~/.vault-token.
        cmd.env("HOME", self.dir.path())
            .env_remove("VAULT_ADDR")
            .env_remove("BAO_ADDR")
            .env_remove("VAULT_TOKEN")
            .env_remove("BAO_TOKEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log);
        self.child = Some(
            cmd.spawn()
                .map_err(|e| format!("cannot run {}: {e}", bao_binary().display()))?,
        );
        let up = within(Duration::from_secs(30), || {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                return Some(Err(status));
            }
            self.ready().then_some(Ok(()))
        });
        match up {
            Some(Ok(())) => Ok(()),
            Some(Err(status)) => {
                self.child = None;
                Err(format!("exited with {status}\n{}", self.log()))
            }
            None => {
                let log = self.log();
                self.kill();
                Err(format!("not ready after 30s\n{log}"))
            }
        }
    }

    fn ready(&mut self) -> bool {
        if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            return false;
        }
        if self.tls && !self.ca_cert_path().is_some_and(|p| p.exists()) {
            return false;
        }
        match self.curl("GET", "sys/health", None) {
            Ok((200, _)) => true,
            // Raft storage: 501 not initialised, 503 sealed (429 standby: wait).
            Ok((501, _)) if self.raft.is_some() => {
                self.initialise();
                false
            }
            Ok((503, _)) if self.raft.is_some() => {
                self.unseal();
                false
            }
            _ => false,
        }
    }

    /// `sys/init` with one key share; keeps the unseal key and the root token.
    fn initialise(&mut self) {
        let body = json!({"secret_shares": 1, "secret_threshold": 1}).to_string();
        let Ok((200, text)) = self.curl("PUT", "sys/init", Some(&body)) else {
            return;
        };
        let v: Value = serde_json::from_str(&text).expect("sys/init answer");
        let key = v["keys_base64"][0].as_str().expect("an unseal key");
        self.root = v["root_token"].as_str().expect("a root token").to_string();
        if let Some(raft) = self.raft.as_mut() {
            raft.unseal_key = Some(key.to_string());
        }
    }

    fn unseal(&self) {
        if let Some(key) = self.raft.as_ref().and_then(|r| r.unseal_key.as_deref()) {
            let body = json!({ "key": key }).to_string();
            let _ = self.curl("PUT", "sys/unseal", Some(&body));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `http://127.0.0.1:PORT` (or `https://…` for [`OpenBao::start_tls`]).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The root token (`root` for a dev server).
    pub fn root_token(&self) -> &str {
        &self.root
    }

    /// The file audit device's log of a raft-backed server (one JSON object a line, a
    /// `request` and a `response` entry per request).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    /// The CA that signed a `-dev-tls` server's certificate.
    pub fn ca_cert_path(&self) -> Option<PathBuf> {
        self.tls
            .then(|| self.dir.path().join("tls").join("vault-ca.pem"))
    }

    /// A scratch directory that lives as long as the server (handy for test files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the server (SIGTERM, then SIGKILL), keeping its port for [`OpenBao::restart`].
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Kills the server with SIGKILL (no shutdown), keeping its port for [`OpenBao::restart`].
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops a raft-backed server and starts it on the same port with its storage wiped: a new
    /// root token and unseal key, every token, mount and policy gone; the caller reseeds.
    pub fn reset(&mut self) {
        assert!(self.raft.is_some(), "reset needs raft storage");
        self.kill();
        let _ = std::fs::remove_dir_all(self.dir.path().join("raft"));
        if let Some(raft) = self.raft.as_mut() {
            raft.unseal_key = None;
        }
        self.restart();
    }

    /// Starts the server again on the same port. Dev mode keeps nothing: the caller reseeds;
    /// raft storage keeps everything and is unsealed again.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return,
                Err(log) if log.contains("address already in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(log) => panic!("bao server did not restart on port {}:\n{log}", self.port),
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            if within(Duration::from_secs(5), || child.try_wait().ok().flatten()).is_some() {
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs the `bao` CLI against this server with the root token; returns stdout, panics with
    /// stderr when it fails.
    pub fn bao(&self, args: &[&str]) -> String {
        self.try_bao(args)
            .unwrap_or_else(|e| panic!("bao {} failed: {e}", args.join(" ")))
    }

    /// Like [`OpenBao::bao`], returning stderr as the error.
    pub fn try_bao(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(bao_binary());
        cmd.args(args)
            .env("BAO_ADDR", &self.addr)
            .env("BAO_TOKEN", &self.root)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null());
        if let Some(ca) = self.ca_cert_path() {
            cmd.env("BAO_CACERT", ca);
        }
        let out = cmd.output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A raw API call with the root token (`path` without `/v1/`, e.g. `sys/mounts`). Returns
    /// the JSON answer (`null` for an empty one); panics on a non-2xx status.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string());
        match self.curl(method, path, body.as_deref()) {
            Ok((code, text)) if (200..300).contains(&code) => {
                if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("{method} {path}: bad JSON ({e}): {text}"))
                }
            }
            Ok((code, text)) => panic!("{method} {path}: HTTP {code}: {text}"),
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// A raw API call with a body given as text (kept byte for byte); returns (status, body).
    pub fn api_raw(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.curl(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn curl(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String), String> {
        self.curl_ns(method, path, body, None)
    }

    fn curl_ns(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        ns: Option<&str>,
    ) -> Result<(u16, String), String> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-X", method, "-w", "\n%{http_code}"])
            .arg("-H")
            .arg(format!("X-Vault-Token: {}", self.root));
        if let Some(ns) = ns {
            cmd.arg("-H").arg(format!("X-Vault-Namespace: {ns}"));
        }
        if let Some(ca) = self.ca_cert_path() {
            cmd.arg("--cacert").arg(ca);
        }
        if body.is_some() {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        cmd.arg(format!("{}/v1/{}", self.addr, path.trim_start_matches('/')));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| format!("cannot run curl: {e}"))?;
        {
            let mut stdin = child.stdin.take().expect("stdin");
            if let Some(b) = body {
                stdin.write_all(b.as_bytes()).map_err(|e| e.to_string())?;
            }
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        let code = code
            .trim()
            .parse()
            .map_err(|_| format!("no status in curl output: {text}"))?;
        Ok((code, body.to_string()))
    }

    // --- seeding -------------------------------------------------------------------------

    /// Mounts a KV secrets engine of the given version (1 or 2) at `mount`.
    pub fn enable_kv(&self, mount: &str, version: u8) {
        self.api(
            "POST",
            &format!("sys/mounts/{mount}"),
            Some(json!({"type": "kv", "options": {"version": version.to_string()}})),
        );
    }

    /// Writes `data` at `path` under a KV mount, in the v1 or v2 shape as the mount is.
    pub fn kv_put(&self, mount: &str, path: &str, data: Value) {
        let body = data.to_string();
        self.kv_put_raw(mount, path, &body);
    }

    /// Like [`OpenBao::kv_put`] with the data object given as JSON text (number literals kept).
    pub fn kv_put_raw(&self, mount: &str, path: &str, data_json: &str) {
        let mounts = self.api("GET", "sys/mounts", None);
        let key = format!("{}/", mount.trim_matches('/'));
        let entry = mounts
            .get("data")
            .and_then(|d| d.get(&key))
            .or_else(|| mounts.get(&key));
        let v2 = entry
            .and_then(|m| m.pointer("/options/version"))
            .and_then(Value::as_str)
            == Some("2");
        let (path, body) = if v2 {
            (
                format!("{mount}/data/{path}"),
                format!("{{\"data\": {data_json}}}"),
            )
        } else {
            (format!("{mount}/{path}"), data_json.to_string())
        };
        let (code, text) = self.api_raw("POST", &path, Some(&body));
        assert!(
            (200..300).contains(&code),
            "kv put {path}: HTTP {code}: {text}"
        );
    }

    /// Mounts PKI at `mount`, generates a root CA (returns its PEM) and a role `role` that allows
    /// `allowed_domains`, their subdomains, bare domains, localhost and IP SANs.
    pub fn enable_pki(&self, mount: &str, role: &str, allowed_domains: &[&str]) -> String {
        self.api(
            "POST",
            &format!("sys/mounts/{mount}"),
            Some(json!({"type": "pki", "config": {"max_lease_ttl": "87600h"}})),
        );
        let root = self.api(
            "POST",
            &format!("{mount}/root/generate/internal"),
            Some(json!({"common_name": "vaultlet test root", "ttl": "87600h"})),
        );
        self.api(
            "POST",
            &format!("{mount}/roles/{role}"),
            Some(json!({
                "allowed_domains": allowed_domains.join(","),
                "allow_subdomains": true, "allow_bare_domains": true, "allow_localhost": true,
                "allow_ip_sans": true, "generate_lease": true, "max_ttl": "720h",
            })),
        );
        root.pointer("/data/certificate")
            .and_then(Value::as_str)
            .expect("root CA certificate")
            .to_string()
    }

    /// Writes an ACL policy.
    pub fn write_policy(&self, name: &str, hcl: &str) {
        self.api(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({"policy": hcl})),
        );
    }

    /// Enables the `jwt` auth method at `mount`, trusting `issuer`'s key and issuer name.
    pub fn enable_jwt_auth(&self, mount: &str, issuer: &JwtIssuer) {
        self.api(
            "POST",
            &format!("sys/auth/{mount}"),
            Some(json!({"type": "jwt"})),
        );
        self.api(
            "POST",
            &format!("auth/{mount}/config"),
            Some(json!({
                "jwt_validation_pubkeys": [issuer.public_key_pem()],
                "bound_issuer": issuer.issuer(),
            })),
        );
    }

    /// A `jwt` role bound to `bound_subject` (e.g. `system:serviceaccount:ns:sa`) and
    /// `audiences`; `extra` (an object) is merged into the role body (e.g. `token_ttl`).
    pub fn jwt_role(
        &self,
        mount: &str,
        role: &str,
        bound_subject: &str,
        audiences: &[&str],
        policies: &[&str],
        extra: Value,
    ) {
        let mut body = json!({
            "role_type": "jwt", "user_claim": "sub", "bound_subject": bound_subject,
            "bound_audiences": audiences, "policies": policies,
        });
        merge(&mut body, extra);
        self.api("POST", &format!("auth/{mount}/role/{role}"), Some(body));
    }

    /// Enables the `kubernetes` auth method at `mount`, pointed at the TokenReview responder.
    pub fn enable_kubernetes_auth(&self, mount: &str, reviewer: &TokenReviewer) {
        self.api(
            "POST",
            &format!("sys/auth/{mount}"),
            Some(json!({"type": "kubernetes"})),
        );
        self.api(
            "POST",
            &format!("auth/{mount}/config"),
            Some(json!({
                "kubernetes_host": reviewer.url(),
                "kubernetes_ca_cert": reviewer.ca_pem(),
                "disable_local_ca_jwt": true,
                "token_reviewer_jwt": reviewer.reviewer_jwt(),
            })),
        );
    }

    /// A `kubernetes` role; `extra` (an object) is merged into the role body.
    pub fn kubernetes_role(
        &self,
        mount: &str,
        role: &str,
        sa_names: &[&str],
        namespaces: &[&str],
        policies: &[&str],
        extra: Value,
    ) {
        let mut body = json!({
            "bound_service_account_names": sa_names,
            "bound_service_account_namespaces": namespaces,
            "policies": policies,
        });
        merge(&mut body, extra);
        self.api("POST", &format!("auth/{mount}/role/{role}"), Some(body));
    }

    /// Creates a namespace (OpenBao supports them on the dev server).
    pub fn create_namespace(&self, ns: &str) {
        self.api("POST", &format!("sys/namespaces/{ns}"), Some(json!({})));
    }

    /// A raw API call inside namespace `ns` (sent as `X-Vault-Namespace`); panics on non-2xx.
    pub fn api_in_namespace(
        &self,
        ns: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let body = body.map(|b| b.to_string());
        match self.curl_ns(method, path, body.as_deref(), Some(ns)) {
            Ok((code, text)) if (200..300).contains(&code) => {
                serde_json::from_str(&text).unwrap_or(Value::Null)
            }
            Ok((code, text)) => panic!("[{ns}] {method} {path}: HTTP {code}: {text}"),
            Err(e) => panic!("[{ns}] {method} {path}: {e}"),
        }
    }
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        self.kill();
    }
}
