#!/usr/bin/env python3
"""Side-by-side benchmark: vaultlet-agent against the real `bao agent` (OpenBao 2.7.2).

Both agents run the same config against one OpenBao dev server on 127.0.0.1, in alternation
(A B A B ...), so drift of the machine hits both alike. Reported per metric: median, spread
(min..max) and the ratio bao/vaultlet (how many times better vaultlet is).

Metrics
  init mode (exit_after_auth): wall time, peak RSS, user+sys CPU. Measured with wait4(2) on the
      child — the same rusage `/usr/bin/time -v` prints;
      peak RSS from GNU time itself, since a child forked from Python inherits Python's max RSS.
  init mode, PKI variant: the agent's own share = wall − the time the server spent on the
      agent's requests. The server time comes from OpenBao's file audit device (each request's
      response time minus its request time), summed per run.
  sidecar (exit_after_auth=false, static_secret_render_interval short): RSS (VmRSS) at the end
      of the window and CPU seconds used during the window (after a warm-up), from /proc.
  binary size.
Everything the agents write (rendered files, token sink, pid file) and the service-account token
live on tmpfs (/dev/shm), as in a pod, where the injector mounts memory volumes for them.
Variants: `consul10` (10 templates: KV v2 default template, gossip key, DB config, env export
range, toJSON, base64, PKI server cert + key + CA, KV v1), `nopki7` (the 7 without PKI), and
`scale1`, `scale10`, `scale50`, `scale100` (N distinct KV v2 secrets, one template each;
`scale50` is the 50-template config issue 4 asks for).

Usage: bench/agent-bench [--rounds 5] [--sidecar-seconds 120] [--sidecar-rounds 2]
                         [--sidecar-variants consul10,...] [--skip-sidecar] [--only VARIANT,...]
Results go to stdout and bench/results/agent-latest.md.
"""
import argparse
import base64
import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "tests", "conformance", "lib")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
TIME = "/usr/bin/time"  # GNU time (Debian package `time`)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


class Server:
    def __init__(self, bao, work, tls=False):
        self.port = free_port()
        scheme = "https" if tls else "http"
        self.addr = f"{scheme}://127.0.0.1:{self.port}"
        self.audit = os.path.join(work, "audit.log")
        # With tls, the dev server makes its own CA and certificate in `work` (vault-ca.pem).
        self.ca = os.path.join(work, "vault-ca.pem") if tls else None
        self.ctx = None
        # OpenBao only enables audit devices declaratively (config file), not through the API.
        cfg = os.path.join(work, "server.hcl")
        with open(cfg, "w") as f:
            f.write('audit "file" "bench" {\n  options = {\n    file_path = "%s"\n  }\n}\n' % self.audit)
        tls_args = ["-dev-tls", f"-dev-tls-cert-dir={work}"] if tls else []
        self.proc = subprocess.Popen([bao, "server", "-dev", "-dev-root-token-id=root",
                                      f"-dev-listen-address=127.0.0.1:{self.port}", f"-config={cfg}"] + tls_args,
                                     stdout=open(os.path.join(work, "openbao.log"), "w"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if tls and self.ctx is None:
                    self.ctx = ssl.create_default_context(cafile=self.ca)  # once the server wrote it
                urllib.request.urlopen(self.addr + "/v1/sys/health", timeout=1, context=self.ctx)
                break
            except Exception:
                time.sleep(0.05)
        else:
            raise SystemExit("OpenBao did not start")

    def api(self, method, path, body=None):
        req = urllib.request.Request(f"{self.addr}/v1/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-Vault-Token": "root"})
        try:
            with urllib.request.urlopen(req, timeout=30, context=self.ctx) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {path}: HTTP {e.code} {e.read().decode()}")
        return json.loads(raw) if raw else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def seed(srv, work, scale_max):
    run("openssl", "genrsa", "-out", f"{work}/sa.key", "2048")
    run("openssl", "rsa", "-in", f"{work}/sa.key", "-pubout", "-out", f"{work}/sa.pub")
    srv.api("POST", "secret/data/consul/gossip", {"data": {"key": "Ac0vrQoKuDOyD8e8VvWzBUyzMWi8cMIKjjlmrGOVm8g="}})
    srv.api("POST", "secret/data/database/config", {"data": {"username": "db-readonly", "password": "p@ss",
                                                              "host": "postgres.svc", "port": 5432}})
    srv.api("POST", "secret/data/app/env", {"data": {f"VAR_{i}": f"value-{i}" for i in range(12)}})
    for i in range(scale_max):
        srv.api("POST", f"secret/data/scale/s{i}", {"data": {"username": f"user{i}", "password": f"pw{i}"}})
    srv.api("POST", "sys/mounts/kv1", {"type": "kv", "options": {"version": "1"}})
    srv.api("POST", "kv1/app/config", {"username": "legacy-user", "password": "legacy-pass", "port": 8080})
    srv.api("POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    srv.api("POST", "pki/root/generate/internal", {"common_name": "Bench Root CA", "ttl": "87600h"})
    srv.api("POST", "pki/roles/consul-server", {
        "allowed_domains": "consul,dc1.consul,consul-server,consul-server.consul,consul-server.consul.svc",
        "allow_subdomains": True, "allow_bare_domains": True, "allow_localhost": True,
        "generate_lease": True, "max_ttl": "720h"})
    srv.api("PUT", "sys/policies/acl/bench", {"policy": (
        'path "secret/*" { capabilities = ["read", "list"] }\n'
        'path "kv1/*" { capabilities = ["read", "list"] }\n'
        'path "pki/*" { capabilities = ["read", "create", "update"] }\n')})
    srv.api("POST", "sys/auth/jwt", {"type": "jwt"})
    srv.api("POST", "auth/jwt/config", {"jwt_validation_pubkeys": [open(f"{work}/sa.pub").read()],
                                        "bound_issuer": "https://kubernetes.default.svc.cluster.local"})
    srv.api("POST", "auth/jwt/role/bench", {
        "role_type": "jwt", "user_claim": "sub", "bound_audiences": "vault",
        "bound_subject": "system:serviceaccount:bench:bench", "policies": "bench", "token_ttl": "1h"})
    jwt = run(sys.executable, f"{LIB}/mint-sa-jwt.py", "--key", f"{work}/sa.key", "--namespace", "bench",
              "--sa", "bench", "--aud", "vault", "--ttl", "86400").strip()
    # In its own directory, as Kubernetes mounts it: the jwt method watches the token's directory.
    os.makedirs(f"{work}/serviceaccount", exist_ok=True)
    with open(f"{work}/serviceaccount/token", "w") as f:
        f.write(jwt)


PKI = ('"pki/issue/consul-server" "common_name=server.dc1.consul" "ttl=24h" '
       '"alt_names=localhost,consul-server,consul-server.consul,consul-server.consul.svc" "ip_sans=127.0.0.1"')
NOPKI7 = {
    "kv2-default": '{{ with secret "secret/data/database/config" }}{{ range $k, $v := .Data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}',
    "gossip.txt": '{{- with secret "secret/data/consul/gossip" -}}{{- .Data.data.key -}}{{- end -}}',
    "db-config.txt": '{{- with secret "secret/data/database/config" -}}\npostgresql://{{ .Data.data.username }}:{{ .Data.data.password }}@{{ .Data.data.host }}:{{ .Data.data.port }}/app\n{{- end }}\n',
    "env.sh": '{{ with secret "secret/data/app/env" }}{{ range $k, $v := .Data.data }}export {{ $k }}="{{ $v }}"\n{{ end }}{{ end }}',
    "data.json": '{{ with secret "secret/data/database/config" }}{{ .Data.data | toJSON }}\n{{ end }}',
    "b64.txt": '{{ with secret "secret/data/consul/gossip" }}{{ .Data.data.key | base64Encode }}{{ end }}',
    "kv1.txt": '{{ with secret "kv1/app/config" }}{{ range $k, $v := .Data }}{{ $k }}={{ $v }}\n{{ end }}{{ end }}',
}
CONSUL10 = dict(NOPKI7)
CONSUL10["servercert.crt"] = '{{- with secret ' + PKI + ' -}}{{- .Data.certificate -}}{{- end -}}'
CONSUL10["servercert.key"] = '{{- with secret ' + PKI + ' -}}{{- .Data.private_key -}}{{- end -}}'
CONSUL10["serverca.crt"] = '{{- with secret "pki/cert/ca" -}}{{- .Data.certificate -}}{{- end -}}'


def scale(n):
    return {f"s{i}.txt": '{{ with secret "secret/data/scale/s%d" }}{{ range $k, $v := .Data.data }}{{ $k }}: {{ $v }}\n{{ end }}{{ end }}' % i
            for i in range(n)}


def config(srv, work, out, templates, init=True):
    return {
        "auto_auth": {"method": {"type": "jwt", "mount_path": "auth/jwt",
                                 "config": {"role": "bench", "path": f"{work}/serviceaccount/token",
                                            "remove_jwt_after_reading": False}},
                      "sink": [{"type": "file", "config": {"path": f"{out}/.vault-token"}}]},
        "exit_after_auth": init,
        "pid_file": f"{out}/.pid",
        "vault": {"address": srv.addr, **({"ca_cert": srv.ca} if srv.ca else {})},
        "template": [{"destination": f"{out}/secrets/{name}", "contents": body,
                      "left_delimiter": "{{", "right_delimiter": "}}"} for name, body in templates.items()],
        "template_config": {"exit_on_retry_failure": True, "static_secret_render_interval": "2s"},
    }


def prepare(srv, work, out, templates, init=True):
    """Makes `out` (with its secrets/ directory), writes the agent config there, returns its path."""
    os.makedirs(out + "/secrets")
    cfg = os.path.join(out, "agent.json")
    with open(cfg, "w") as f:
        json.dump(config(srv, work, out, templates, init), f)
    return cfg


def audit_server_seconds(path, start_offset):
    """Sum over requests logged after start_offset of (response time − request time)."""
    req, total = {}, 0.0
    with open(path) as f:
        f.seek(start_offset)
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            rid = e.get("request", {}).get("id")
            t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
            if e.get("type") == "request":
                req[rid] = t
            elif e.get("type") == "response" and rid in req:
                total += t - req.pop(rid)
    return total


def run_init(cmd, cfg_path, srv):
    off = os.path.getsize(srv.audit) if os.path.exists(srv.audit) else 0
    # Peak RSS comes from GNU time (a small C program that forks the agent itself): ru_maxrss
    # of a child forked from this Python process would carry Python's own RSS across exec.
    rss_file = cfg_path + ".maxrss"
    t0 = time.perf_counter()
    p = subprocess.Popen([TIME, "-f", "%M", "-o", rss_file] + cmd + [f"-config={cfg_path}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    with open(rss_file) as f:
        rss_kib = int(f.read().split()[-1])
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} exited {p.returncode}:\n{err[-3000:]}")
    time.sleep(0.05)  # let the audit device flush
    server = audit_server_seconds(srv.audit, off)
    return {"wall": wall, "rss_mib": rss_kib / 1024, "cpu": ru.ru_utime + ru.ru_stime,
            "own": max(wall - server, 0.0), "server": server}


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mib(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def run_sidecar(cmd, cfg_path, seconds, warmup=10):
    p = subprocess.Popen(cmd + [f"-config={cfg_path}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        if p.poll() is not None:
            raise SystemExit(f"{cmd[0]} sidecar exited {p.returncode} during warm-up")
        c0 = proc_cpu(p.pid)
        time.sleep(seconds)
        if p.poll() is not None:
            raise SystemExit(f"{cmd[0]} sidecar exited {p.returncode}")
        return {"rss_mib": proc_rss_mib(p.pid), "cpu": proc_cpu(p.pid) - c0}
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def summary(vals):
    return statistics.median(vals), min(vals), max(vals)


def fmt_row(metric, unit, ours, theirs, target=None):
    m1, lo1, hi1 = summary(ours)
    m2, lo2, hi2 = summary(theirs)
    ratio = m2 / m1 if m1 > 0 else float("inf")
    tgt = ""
    if target is not None:
        tgt = f" | ≥{target}× {'met' if ratio >= target else 'MISSED'}"
    else:
        tgt = " | "
    return (f"| {metric} | {m1:.3f} {unit} ({lo1:.3f}..{hi1:.3f}) | {m2:.3f} {unit} ({lo2:.3f}..{hi2:.3f}) "
            f"| {ratio:.1f}×{tgt} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sidecar-seconds", type=int, default=120)
    ap.add_argument("--skip-sidecar", action="store_true")
    ap.add_argument("--sidecar-variants", default="consul10",
                    help="variants run as sidecars (consul10 is the issue's config; nopki7 also works)")
    ap.add_argument("--sidecar-rounds", type=int, default=2)
    ap.add_argument("--only", default="consul10,nopki7,scale1,scale10,scale50,scale100")
    a = ap.parse_args()
    ours_bin = os.environ.get("VAULTLET_AGENT_BIN", os.path.join(ROOT, "target", "release", "vaultlet-agent"))
    bao = os.environ.get("VAULTLET_BAO") or shutil.which("bao")
    if not bao or not os.path.exists(ours_bin):
        raise SystemExit("need VAULTLET_AGENT_BIN and VAULTLET_BAO (run via bench/agent-bench)")
    agents = {"vaultlet": [ours_bin, "agent"], "bao": [bao, "agent"]}
    variants = {"consul10": CONSUL10, "nopki7": NOPKI7, "scale1": scale(1), "scale10": scale(10), "scale50": scale(50),
                "scale100": scale(100)}
    chosen = [v for v in a.only.split(",") if v]
    # On tmpfs when there is one: the injector mounts /vault/secrets and the token sink's home as
    # memory volumes, so in a pod both agents write (and fsync) to RAM, not to a disk.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    work = tempfile.mkdtemp(prefix="vaultlet-bench-", dir=shm)
    srv = Server(bao, work)
    lines = []
    try:
        seed(srv, work, 100)
        lines.append(f"# agent benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
        lines.append(f"machine: {os.cpu_count()} cpus; bao: {run(bao, 'version').strip()}; rounds: {a.rounds}")
        lines.append(f"vaultlet-agent: {os.environ.get('VAULTLET_AGENT_BUILD', ours_bin)}")
        lines.append("")
        lines.append("| metric | vaultlet-agent median (min..max) | bao agent median (min..max) | ratio | target |")
        lines.append("|---|---|---|---|---|")
        size_ours, size_bao = os.path.getsize(ours_bin), os.path.getsize(os.path.realpath(bao))
        lines.append(f"| binary size | {size_ours / 1e6:.2f} MB | {size_bao / 1e6:.2f} MB | "
                     f"{size_bao / size_ours:.1f}× | ≤ 9 MB {'met' if size_ours <= 9e6 else 'MISSED'} |")
        for v in chosen:
            res = {k: [] for k in agents}
            for r in range(a.rounds):
                for name, cmd in agents.items():
                    cfg = prepare(srv, work, os.path.join(work, f"{v}-{name}-{r}"), variants[v])
                    res[name].append(run_init(cmd, cfg, srv))
                # the two agents must have rendered the same bytes (PKI output differs per issuance)
                for fname in variants[v]:
                    if fname.startswith("server"):
                        continue
                    mine = open(os.path.join(work, f"{v}-vaultlet-{r}/secrets/{fname}"), "rb").read()
                    theirs = open(os.path.join(work, f"{v}-bao-{r}/secrets/{fname}"), "rb").read()
                    if mine != theirs:
                        print(f"WARNING: {v}/{fname} differs between the agents", file=sys.stderr)
            o, t = res["vaultlet"], res["bao"]
            lines.append(fmt_row(f"{v} init wall", "s", [x["wall"] for x in o], [x["wall"] for x in t],
                                 5 if v == "nopki7" else None))
            if v == "consul10":
                lines.append(fmt_row(f"{v} init own share (wall − server)", "s", [x["own"] for x in o],
                                     [x["own"] for x in t], 10))
            lines.append(fmt_row(f"{v} init peak RSS", "MiB", [x["rss_mib"] for x in o],
                                 [x["rss_mib"] for x in t], 20 if v == "consul10" else None))
            lines.append(fmt_row(f"{v} init user+sys CPU", "s", [x["cpu"] for x in o], [x["cpu"] for x in t],
                                 10 if v == "consul10" else None))
            print("\n".join(lines[-3:]), flush=True)
        if not a.skip_sidecar:
            for v in [v for v in a.sidecar_variants.split(",") if v]:
                res = {k: [] for k in agents}
                for r in range(a.sidecar_rounds):
                    for name, cmd in agents.items():
                        out = os.path.join(work, f"sidecar-{v}-{name}-{r}")
                        cfg = prepare(srv, work, out, variants[v], init=False)
                        res[name].append(run_sidecar(cmd, cfg, a.sidecar_seconds))
                o, t = res["vaultlet"], res["bao"]
                lines.append(fmt_row(f"{v} sidecar RSS after {a.sidecar_seconds}s (2s refresh)", "MiB",
                                     [x["rss_mib"] for x in o], [x["rss_mib"] for x in t], 10))
                lines.append(fmt_row(f"{v} sidecar CPU over {a.sidecar_seconds}s", "s", [x["cpu"] for x in o],
                                     [x["cpu"] for x in t], 10))
                print("\n".join(lines[-2:]), flush=True)
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "agent-latest.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
