#!/usr/bin/env python3
"""A fleet of agents against one OpenBao: server load per agent, the herd after a restart, memory.

One OpenBao server on 127.0.0.1 with raft storage, one node (not -dev: a restart keeps tokens and leases),
initialised and unsealed through the API with one key share, the file audit device on (every
request is counted by path from it). Kubernetes auth goes through the TokenReview stand-in
(tests/conformance/lib/tokenreview.py, run with a Python that has `cryptography`), and every agent
has its own service-account JWT (same service account, its own pod name, jti and uid).

Each run starts N agents of one kind (vaultlet-agent or `bao agent`) as sidecars on the Consul-style
config of bench/agent_bench.py (CONSUL10: 10 templates, KV v2 + KV v1 + PKI issue + CA read,
`static_secret_render_interval` = --refresh, 10 s by default), their starts spread evenly over
--stagger seconds (one refresh interval by default: pods do not all start in the same second, and a
fleet started at one instant refreshes in one burst), and measures:

  start     requests and server time (audit: response time − request time) from the start of the
            N agents until every file of every agent is rendered, per agent;
  steady    over --window seconds after --warmup: Vault requests per agent per minute by kind
            (login, renew, token lookup, mount lookup, read, PKI issue, other), the server's CPU
            (utime+stime of the bao server process) per agent, the agents' own CPU, and each agent's
            RSS and PSS (/proc/PID/smaps_rollup) at the end of the window;
  change    a KV value changed at the end of the window: time until every agent's file shows it
            (target: within 1.2 × the refresh interval);
  restart   the server stopped (SIGTERM), kept down --down seconds, started and unsealed; right
            after the unseal a KV value is changed; reported: time from "Vault ready" (unsealed and
            answering) until every agent's file shows the new value (a current file needs a working
            token), the peak requests per second at Vault during the recovery (from the audit
            timestamps) against the steady rate, the requests of the recovery by kind, whether any
            file was ever missing or empty (every file of every agent sampled every 0.2 s from before
            the stop until the end), and whether any agent exited.

Pod start (--podstart K): K pods started one after another, each as the mode it runs in: `bao agent`
as a classic vault-k8s pod (an init run with exit_after_auth, then the sidecar), vaultlet-agent as
the project recommends (one native sidecar): requests and server time from the first start until
the sidecar has rendered every file (+1 s).

Runs alternate kinds (the order of --runs), one server for all. Everything is bounded: each
child gets PR_SET_PDEATHSIG, the wrapper runs this under `timeout`, and every process started here
is stopped at the end, also on error.

Usage (through bench/fleet, which builds the agent):
  bench/fleet --runs bao:25,ours:25,ours:100 [--window 120] [--refresh 10] [--stagger 10] [--podstart 3]
  bench/fleet --agent main=/tmp/agent-main --runs main:100,ours:100   (another vaultlet-agent build as a kind)
Results: stdout and bench/results/fleet.md (or --out).
"""
import argparse
import concurrent.futures
import ctypes
import datetime
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_bench import CONSUL10  # noqa: E402  (the same templates as bench/agent-bench)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "tests", "conformance", "lib")
CLK_TCK = os.sysconf("SC_CLK_TCK")
LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
PROCS = []  # every process started here, stopped in cleanup()


def die_with_parent():
    LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no agent or server outlives this script


def spawn(args, log, **kw):
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         preexec_fn=die_with_parent, **kw)
    PROCS.append(p)
    return p


def stop(p, timeout=15):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in PROCS:
        PROCS.remove(p)


def cleanup():
    for p in list(PROCS):
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + 15
    for p in list(PROCS):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    PROCS.clear()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except OSError:
        return 0.0


def smaps(pid):
    """(RSS, PSS) in KiB from /proc/PID/smaps_rollup."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


class Server:
    """OpenBao with raft storage on 127.0.0.1; init once, unseal at every start."""

    def __init__(self, bao, work):
        self.bao, self.work = bao, work
        self.port = free_port()
        self.addr = f"http://127.0.0.1:{self.port}"
        self.audit = os.path.join(work, "audit.log")
        self.cfg = os.path.join(work, "server.hcl")
        with open(self.cfg, "w") as f:
            # OpenBao 2.7 has no `file` storage any more: single-node raft.
            f.write(f'storage "raft" {{\n  path = "{work}/data"\n  node_id = "fleet"\n}}\n'
                    f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  tls_disable = true\n}}\n'
                    f'api_addr = "{self.addr}"\ncluster_addr = "http://127.0.0.1:{free_port()}"\n'
                    # OpenBao enables audit devices declaratively (config file), not through the API.
                    f'audit "file" "bench" {{\n  options = {{\n    file_path = "{self.audit}"\n  }}\n}}\n')
        os.makedirs(f"{work}/data", exist_ok=True)
        self.token = None
        self.unseal_key = None
        self.proc = None

    def start(self):
        self.proc = spawn([self.bao, "server", f"-config={self.cfg}"],
                          open(os.path.join(self.work, "openbao.log"), "a"))
        for _ in range(600):
            try:
                urllib.request.urlopen(self.addr + "/v1/sys/seal-status", timeout=1)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise SystemExit("OpenBao exited; see openbao.log")
                time.sleep(0.02)
        raise SystemExit("OpenBao did not start")

    def init_unseal(self):
        if self.unseal_key is None:
            r = self.api("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=False)
            self.unseal_key, self.token = r["keys_base64"][0], r["root_token"]
        r = self.api("PUT", "sys/unseal", {"key": self.unseal_key}, token=False)
        if r["sealed"]:
            raise SystemExit("still sealed")
        t0 = time.time()
        while time.time() - t0 < 60:  # ready = unsealed and active (raft elects itself leader)
            try:
                urllib.request.urlopen(self.addr + "/v1/sys/health", timeout=1)
                return
            except Exception:
                time.sleep(0.01)
        raise SystemExit("OpenBao did not become active")

    def api(self, method, path, body=None, token=True):
        req = urllib.request.Request(f"{self.addr}/v1/{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"X-Vault-Token": self.token} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{method} {path}: HTTP {e.code} {e.read().decode()}")
        return json.loads(raw) if raw else None

    def stop(self):
        stop(self.proc, timeout=30)


def seed(srv, work, tr_port, token_ttl, token_max_ttl=None):
    srv.api("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    srv.api("POST", "secret/data/consul/gossip", {"data": {"key": "Ac0vrQoKuDOyD8e8VvWzBUyzMWi8cMIKjjlmrGOVm8g="}})
    srv.api("POST", "secret/data/database/config", {"data": {"username": "db-readonly", "password": "p@ss",
                                                              "host": "postgres.svc", "port": 5432}})
    srv.api("POST", "secret/data/app/env", {"data": {f"VAR_{i}": f"value-{i}" for i in range(12)}})
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
    srv.api("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
    # No reviewer JWT: the client's own JWT is the bearer of its TokenReview.
    srv.api("POST", "auth/kubernetes/config", {"kubernetes_host": f"https://127.0.0.1:{tr_port}",
                                               "kubernetes_ca_cert": open(f"{work}/k8s-tls.crt").read(),
                                               "disable_local_ca_jwt": True})
    srv.api("POST", "auth/kubernetes/role/fleet", {
        "bound_service_account_names": "fleet", "bound_service_account_namespaces": "bench",
        "policies": "bench", "token_ttl": token_ttl,
        **({"token_max_ttl": token_max_ttl} if token_max_ttl else {})})


def mint(work, n):
    """One service-account JWT per agent: same SA, its own pod (name, uid) and jti."""
    os.makedirs(f"{work}/jwt", exist_ok=True)

    def one(i):
        path = f"{work}/jwt/{i}"
        if not os.path.exists(path):
            tok = subprocess.run([sys.executable, f"{LIB}/mint-sa-jwt.py", "--key", f"{work}/sa.key",
                                  "--namespace", "bench", "--sa", "fleet", "--pod", f"fleet-{i}",
                                  "--ttl", "86400"], check=True, capture_output=True, text=True).stdout
            with open(path, "w") as f:
                f.write(tok)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(one, range(n)))


def agent_config(srv, work, out, i, refresh, init):
    # The service-account token in its own directory, as Kubernetes mounts it.
    os.makedirs(f"{out}/sa", exist_ok=True)
    shutil.copyfile(f"{work}/jwt/{i}", f"{out}/sa/token")
    return {
        "auto_auth": {"method": {"type": "kubernetes", "mount_path": "auth/kubernetes",
                                 "config": {"role": "fleet", "token_path": f"{out}/sa/token"}},
                      "sink": [{"type": "file", "config": {"path": f"{out}/.vault-token"}}]},
        "exit_after_auth": init,
        "pid_file": f"{out}/.pid",
        "vault": {"address": srv.addr},
        "template": [{"destination": f"{out}/secrets/{name}", "contents": body,
                      "left_delimiter": "{{", "right_delimiter": "}}"} for name, body in CONSUL10.items()],
        "template_config": {"exit_on_retry_failure": True, "static_secret_render_interval": f"{refresh}s"},
    }


def prepare(srv, work, out, i, refresh, init=False):
    os.makedirs(out + "/secrets", exist_ok=True)
    cfg = os.path.join(out, "agent-init.json" if init else "agent.json")
    with open(cfg, "w") as f:
        json.dump(agent_config(srv, work, out, i, refresh, init), f)
    return cfg


# --- audit log -----------------------------------------------------------------------------------

KINDS = ["login", "renew", "token lookup", "mount lookup", "read", "PKI issue", "other"]


def kind_of(path, op):
    if path.startswith("auth/") and path.endswith("/login"):
        return "login"
    if path in ("auth/token/renew-self", "auth/token/renew", "auth/token/renew-accessor") \
            or path.startswith("sys/leases/renew") or path.startswith("sys/renew"):
        return "renew"
    if path.startswith("auth/token/lookup"):
        return "token lookup"
    if path.startswith("sys/internal/ui/mounts"):
        return "mount lookup"
    if path.startswith("pki/issue/"):
        return "PKI issue"
    if op in ("read", "list") and path.split("/")[0] in ("secret", "kv1", "pki"):
        return "read"
    return "other"


def ts(s):
    # RFC 3339 with nanoseconds; fromisoformat takes at most microseconds.
    s = s.replace("Z", "")
    if "." in s:
        a, b = s.split(".", 1)
        s = a + "." + b[:6]
    return datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc).timestamp()


class Audit:
    def __init__(self, path):
        self.path = path

    def offset(self):
        time.sleep(0.05)  # let the device write what it has
        return os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def read(self, start, end=None):
        """Requests as (time, kind, path) and the server time (Σ response − request) of [start, end)."""
        reqs, t_req, server, errors = [], {}, 0.0, 0
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read() if end is None else f.read(end - start)
        for line in data.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            r = e.get("request") or {}
            if r.get("path") in ("sys/health", "sys/seal-status", "sys/unseal", "sys/init") \
                    or (r.get("path") == "secret/data/consul/gossip" and r.get("operation") != "read"):
                continue  # the harness's own requests (the value it changes), not an agent's
            t = ts(e["time"])
            if e.get("type") == "request":
                reqs.append((t, kind_of(r.get("path", ""), r.get("operation", "")), r.get("path", "")))
                t_req[r.get("id")] = t
            elif e.get("type") == "response":
                if r.get("id") in t_req:
                    server += t - t_req.pop(r.get("id"))
                if e.get("error"):
                    errors += 1
        return reqs, server, errors


def by_kind(reqs):
    c = {k: 0 for k in KINDS}
    for _, k, _ in reqs:
        c[k] += 1
    return c


def per_second(reqs, t0, t1):
    b = [0] * max(1, int(t1 - t0) + 1)
    for t, _, _ in reqs:
        if t0 <= t < t1:
            b[int(t - t0)] += 1
    return b


# --- the fleet -----------------------------------------------------------------------------------

def read_file(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def all_rendered(outs):
    return all(os.path.exists(f"{o}/secrets/{n}") and os.path.getsize(f"{o}/secrets/{n}") > 0
               for o in outs for n in CONSUL10)


def wait_value(outs, value, timeout):
    """Seconds until every agent's gossip.txt holds `value` (None on timeout), and how many did."""
    t0 = time.time()
    want = value.encode()
    pending = set(outs)
    while pending and time.time() - t0 < timeout:
        pending = {o for o in pending if read_file(f"{o}/secrets/gossip.txt") != want}
        if pending:
            time.sleep(0.05)
    return (None if pending else time.time() - t0), len(outs) - len(pending)


class Sampler(threading.Thread):
    """Reads every file of every agent every 0.2 s; records any that is missing or empty."""

    def __init__(self, outs):
        super().__init__(daemon=True)
        self.outs, self.bad, self.passes, self.halt = outs, [], 0, threading.Event()

    def run(self):
        while not self.halt.is_set():
            for o in self.outs:
                for n in CONSUL10:
                    try:
                        if os.path.getsize(f"{o}/secrets/{n}") == 0:
                            self.bad.append((time.time(), o, n, "empty"))
                    except OSError:
                        self.bad.append((time.time(), o, n, "missing"))
            self.passes += 1
            self.halt.wait(0.2)


def fleet_run(a, srv, audit, work, kind, cmd, n, label):
    print(f"== {label}: {n} × {kind}", flush=True)
    res = {"label": label, "kind": kind, "n": n}
    base = os.path.join(work, label)
    outs = [os.path.join(base, f"a{i}") for i in range(n)]
    cfgs = [prepare(srv, work, o, i, a.refresh) for i, o in enumerate(outs)]
    agents = []
    try:
        off0, scpu0, t0 = audit.offset(), proc_cpu(srv.proc.pid), time.time()
        # Pods do not all start in the same second: starts are spread evenly over --stagger seconds
        # (one refresh interval by default), so the steady state is not one synchronised burst.
        for i, (o, c) in enumerate(zip(outs, cfgs)):
            time.sleep(max(0.0, t0 + i * a.stagger / n - time.time()))
            agents.append(spawn(cmd + [f"-config={c}"], open(f"{o}/agent.log", "w")))
        while not all_rendered(outs):
            if time.time() - t0 > a.start_timeout:
                raise SystemExit(f"{label}: not every agent rendered within {a.start_timeout}s")
            dead = [p for p in agents if p.poll() is not None]
            if dead:
                raise SystemExit(f"{label}: {len(dead)} agents exited during start (see {base}/a*/agent.log)")
            time.sleep(0.1)
        res["start_s"] = time.time() - t0
        time.sleep(1)
        reqs, server, _ = audit.read(off0, audit.offset())
        res["start_reqs"] = by_kind(reqs)
        res["start_server_s"] = server
        res["start_server_cpu"] = proc_cpu(srv.proc.pid) - scpu0
        print(f"   all rendered in {res['start_s']:.1f}s; start requests {sum(res['start_reqs'].values())}", flush=True)

        time.sleep(a.warmup)
        off1, scpu1, acpu1, t1 = audit.offset(), proc_cpu(srv.proc.pid), sum(proc_cpu(p.pid) for p in agents), time.time()
        time.sleep(a.window)
        scpu2, acpu2 = proc_cpu(srv.proc.pid), sum(proc_cpu(p.pid) for p in agents)
        t2 = time.time()
        mem = [smaps(p.pid) for p in agents]
        off2 = audit.offset()
        reqs, server, errors = audit.read(off1, off2)
        span = t2 - t1
        res["window_s"] = span
        res["steady"] = by_kind(reqs)
        res["steady_total"] = len(reqs)
        res["steady_errors"] = errors
        res["steady_rate"] = len(reqs) / span
        secs = per_second(reqs, t1, t2)
        res["steady_peak_1s"] = max(secs[:-1] or secs)
        res["steady_server_cpu"] = scpu2 - scpu1
        res["steady_agent_cpu"] = acpu2 - acpu1
        res["rss_kib"] = [m[0] for m in mem]
        res["pss_kib"] = [m[1] for m in mem]
        res["paths"] = {}
        for _, k, p in reqs:
            key = (k, p)
            res["paths"][key] = res["paths"].get(key, 0) + 1
        print(f"   steady: {len(reqs) / n / span * 60:.2f} req/agent-min {res['steady']}", flush=True)

        # A change reaches every agent within ... (target 1.2 × refresh)
        v = f"steady-{int(time.time())}"
        srv.api("POST", "secret/data/consul/gossip", {"data": {"key": v}})
        res["change_s"], _ = wait_value(outs, v, a.refresh * 3)
        print(f"   change visible everywhere after {res['change_s']}", flush=True)

        # Restart: stop, keep down, start, unseal; change a value right after.
        time.sleep(2)
        sampler = Sampler(outs)
        sampler.start()
        time.sleep(0.5)
        off3, t_stop = audit.offset(), time.time()
        srv.stop()
        time.sleep(a.down)
        srv.start()
        srv.init_unseal()
        t_ready = time.time()
        v = f"restart-{int(t_ready)}"
        srv.api("POST", "secret/data/consul/gossip", {"data": {"key": v}})
        res["restart_down_s"] = t_ready - t_stop
        res["recover_s"], res["recovered"] = wait_value(outs, v, a.recovery_timeout)
        t_end = time.time()
        time.sleep(5)
        sampler.halt.set()
        sampler.join()
        reqs, server, errors = audit.read(off3, audit.offset())
        rec = [r for r in reqs if r[0] >= t_ready - 1]
        secs = per_second(rec, t_ready, t_end + 5)
        res["recovery_peak_1s"] = max(secs)
        res["recovery_peak_at"] = secs.index(max(secs))
        res["recovery_secs"] = secs[:30]
        res["recovery_reqs"] = by_kind([r for r in rec if r[0] < t_end + 5])
        res["recovery_span"] = t_end + 5 - t_ready
        res["recovery_errors"] = errors
        res["blanked"] = sampler.bad
        res["sampler_passes"] = sampler.passes
        res["exited"] = sum(1 for p in agents if p.poll() is not None)
        print(f"   restart: down {res['restart_down_s']:.1f}s, all current {res['recover_s']} s after ready "
              f"({res['recovered']}/{n}); peak {res['recovery_peak_1s']}/s (steady {res['steady_rate']:.1f}/s, "
              f"steady 1-s peak {res['steady_peak_1s']}); blanked {len(sampler.bad)}; exited {res['exited']}",
              flush=True)
        print(f"   recovery per second from ready: {secs[:20]}", flush=True)
    finally:
        for p in agents:
            stop(p)
        if not os.environ.get("FLEET_KEEP"):  # else kept with the work directory (agent logs)
            shutil.rmtree(base, ignore_errors=True)
    return res


def pod_start(a, srv, audit, work, kind, cmd, k):
    """K pods, one after another: classic (init run + sidecar) for bao, one native sidecar for ours."""
    out = []
    for j in range(k):
        o = os.path.join(work, f"pod-{kind}-{j}")
        i = j % a.jwts
        off, cpu0, t0 = audit.offset(), proc_cpu(srv.proc.pid), time.time()
        if kind == "bao":
            c = prepare(srv, work, o, i, a.refresh, init=True)
            p = spawn(cmd + [f"-config={c}"], open(f"{o}/init.log", "w"))
            if p.wait(timeout=60) != 0:
                raise SystemExit(f"bao init exited {p.returncode}")
            PROCS.remove(p)
            # the sidecar's first render leaves identical files: give it a fixed 3 s
            c = prepare(srv, work, o, i, a.refresh)
            p = spawn(cmd + [f"-config={c}"], open(f"{o}/agent.log", "w"))
            time.sleep(3)
        else:
            c = prepare(srv, work, o, i, a.refresh)
            p = spawn(cmd + [f"-config={c}"], open(f"{o}/agent.log", "w"))
            while not all_rendered([o]) and time.time() - t0 < 30:
                time.sleep(0.02)
            time.sleep(1)
        cpu1 = proc_cpu(srv.proc.pid)
        stop(p)
        reqs, server, _ = audit.read(off, audit.offset())
        out.append({"reqs": by_kind(reqs), "total": len(reqs), "server": server, "server_cpu": cpu1 - cpu0})
        shutil.rmtree(o, ignore_errors=True)
    return out


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def report(a, runs, pods, cmdline, bao_version, build):
    L = [f"# fleet benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC", "",
         f"Command: `{cmdline}`", "",
         f"Machine: {os.cpu_count()} CPUs (shared with other jobs: CPU and time figures are noisy), "
         f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB. {bao_version}; "
         f"vaultlet-agent: {build}. OpenBao with raft storage (one node), 1 unseal key, file audit device; "
         f"kubernetes auth through the TokenReview stand-in, one SA JWT per agent; CONSUL10 config, "
         f"{a.refresh} s static refresh, role token_ttl {a.token_ttl}"
         f"{'' if not a.token_max_ttl else ', token_max_ttl ' + a.token_max_ttl}; steady window {a.window} s after "
         f"{a.warmup} s warm-up; agent starts spread over {a.stagger} s; restart = SIGTERM, {a.down} s down, start, unseal.", ""]
    L.append("## Steady state: Vault requests per agent per minute, by kind")
    L.append("")
    L.append("| run | " + " | ".join(KINDS) + " | total | server CPU / agent-min | agent CPU / agent-min | "
             "RSS / agent (median) | PSS / agent (median) | Σ PSS |")
    L.append("|---|" + "---|" * (len(KINDS) + 6))
    for r in runs:
        m = r["n"] * r["window_s"] / 60
        rss = sorted(r["rss_kib"])[len(r["rss_kib"]) // 2] / 1024
        pss = sorted(r["pss_kib"])[len(r["pss_kib"]) // 2] / 1024
        L.append(f"| {r['label']} | " + " | ".join(f"{r['steady'][k] / m:.2f}" for k in KINDS)
                 + f" | **{r['steady_total'] / m:.2f}** | {r['steady_server_cpu'] / m * 1000:.1f} ms "
                 f"| {r['steady_agent_cpu'] / m * 1000:.1f} ms | {rss:.2f} MiB | {pss:.2f} MiB "
                 f"| {sum(r['pss_kib']) / 1024:.1f} MiB |")
    L.append("")
    L.append("Paths seen in the steady window (requests per agent-minute):")
    L.append("")
    for r in runs:
        m = r["n"] * r["window_s"] / 60
        L.append(f"- {r['label']}: " + "; ".join(f"{k} `{p}` {c / m:.2f}" for (k, p), c in
                                                 sorted(r["paths"].items(), key=lambda x: -x[1])))
    L.append("")
    L.append("## Start, change, restart")
    L.append("")
    L.append("| run | start: all rendered (from the first start) | start: requests / agent (reads include "
             "refreshes until the last agent rendered) | start: server time / agent (includes queueing) | "
             "change seen by all (s) | restart: down | all current after ready | steady rate (1-s peak) | "
             "recovery peak (s after ready) | peak / steady | recovery requests / agent | files blanked | "
             "agents exited |")
    L.append("|---|" + "---|" * 12)
    for r in runs:
        n = r["n"]
        rec = ", ".join(f"{k} {v / n:.1f}" for k, v in r["recovery_reqs"].items() if v)
        st = ", ".join(f"{k} {v / n:.2f}" for k, v in r["start_reqs"].items() if v)
        L.append(f"| {r['label']} | {r['start_s']:.1f} s | {sum(r['start_reqs'].values()) / n:.1f} ({st}) | "
                 f"{r['start_server_s'] / n * 1000:.1f} ms | {r['change_s'] if r['change_s'] is None else round(r['change_s'], 2)} | "
                 f"{r['restart_down_s']:.1f} s | "
                 f"{'NOT ALL (%d/%d)' % (r['recovered'], n) if r['recover_s'] is None else '%.2f s' % r['recover_s']} | "
                 f"{r['steady_rate']:.1f}/s ({r['steady_peak_1s']}) | {r['recovery_peak_1s']}/s ({r['recovery_peak_at']}) | "
                 f"{r['recovery_peak_1s'] / r['steady_rate']:.2f}× | {rec}; errors {r['recovery_errors'] / n:.1f} | {len(r['blanked'])} "
                 f"(in {r['sampler_passes']} passes) | {r['exited']} |")
    L.append("")
    L.append("Requests per second at Vault from the moment it was ready (first 30 s):")
    L.append("")
    for r in runs:
        L.append(f"- {r['label']}: {r['recovery_secs']}")
    if pods:
        L.append("")
        L.append("## Pod start (login + first render), one pod at a time")
        L.append("")
        L.append("| agent (mode) | pods | requests / pod (by kind) | server time / pod (audit) | server CPU / pod |")
        L.append("|---|---|---|---|---|")
        for kind, ps in pods.items():
            mode = "classic: init + sidecar" if kind == "bao" else "native sidecar (recommended)"
            kinds = {k: mean([p["reqs"][k] for p in ps]) for k in KINDS}
            L.append(f"| {kind} ({mode}) | {len(ps)} | {mean([p['total'] for p in ps]):.1f} ("
                     + ", ".join(f"{k} {v:.1f}" for k, v in kinds.items() if v) + ") | "
                     f"{mean([p['server'] for p in ps]) * 1000:.1f} ms | {mean([p['server_cpu'] for p in ps]) * 1000:.0f} ms |")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="bao:25,ours:25,ours:100")
    ap.add_argument("--window", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--refresh", type=int, default=10)
    ap.add_argument("--token-ttl", default="1h")
    ap.add_argument("--token-max-ttl", default=None,
                    help="the role's token_max_ttl: a token cannot be renewed past it, so every agent logs in "
                         "again once per this long (the re-login wave; default: the mount's, 32 days)")
    ap.add_argument("--stagger", type=float, default=None,
                    help="agent starts spread over this many seconds (default: --refresh; 0 = all at once)")
    ap.add_argument("--down", type=float, default=5)
    ap.add_argument("--recovery-timeout", type=int, default=90)
    ap.add_argument("--start-timeout", type=int, default=180)
    ap.add_argument("--podstart", type=int, default=0, help="pods started one at a time per agent kind")
    ap.add_argument("--agent", action="append", default=[], metavar="KIND=PATH",
                    help="another vaultlet-agent executable, run as KIND in --runs (e.g. an older build)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "fleet.md"))
    a = ap.parse_args()
    if a.stagger is None:
        a.stagger = a.refresh
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ours = os.environ.get("VAULTLET_AGENT_BIN")
    bao = os.environ.get("VAULTLET_BAO")
    if not ours or not bao:
        raise SystemExit("need VAULTLET_AGENT_BIN and VAULTLET_BAO (run via bench/fleet)")
    cmds = {"ours": [ours, "agent"], "bao": [bao, "agent"]}
    for spec in a.agent:
        k, _, path = spec.partition("=")
        if not k or not os.access(path, os.X_OK) or k in cmds:
            raise SystemExit(f"--agent {spec}: want KIND=PATH, a new kind and an executable")
        cmds[k] = [os.path.abspath(path), "agent"]
    plan = [(k, int(n)) for k, n in (x.split(":") for x in a.runs.split(",") if x)]
    unknown = sorted({k for k, _ in plan} - set(cmds))
    if unknown:
        raise SystemExit(f"--runs: unknown kind {', '.join(unknown)} (known: {', '.join(cmds)})")
    a.jwts = max([n for _, n in plan] + [1])
    shm = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    work = tempfile.mkdtemp(prefix="vaultlet-fleet-", dir=shm)
    runs, pods = [], {}
    try:
        subprocess.run(["openssl", "genrsa", "-out", f"{work}/sa.key", "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", f"{work}/sa.key", "-pubout", "-out", f"{work}/sa.pub"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", f"{work}/k8s-tls.key", "-out", f"{work}/k8s-tls.crt"],
                       check=True, capture_output=True)
        tr_port = free_port()
        # The stand-in checks signatures with `cryptography` when it has it (else ~20 ms of openssl a call).
        spawn([os.environ.get("VAULTLET_TR_PYTHON", "python3"), f"{LIB}/tokenreview.py", "--port", str(tr_port), "--pubkey", f"{work}/sa.pub",
               "--tls-cert", f"{work}/k8s-tls.crt", "--tls-key", f"{work}/k8s-tls.key"],
              open(f"{work}/tokenreview.out", "w"))
        srv = Server(bao, work)
        srv.start()
        srv.init_unseal()
        seed(srv, work, tr_port, a.token_ttl, a.token_max_ttl)
        mint(work, a.jwts)
        audit = Audit(srv.audit)
        bao_version = subprocess.run([bao, "version"], capture_output=True, text=True).stdout.strip()
        stopped = False
        for i, (kind, n) in enumerate(plan):
            try:
                runs.append(fleet_run(a, srv, audit, work, kind, cmds[kind], n, f"{kind}-{n}-#{i + 1}"))
            except SystemExit as e:  # a run that failed (or the time limit): report the others
                print(f"run {kind}:{n} failed: {e}", file=sys.stderr, flush=True)
                if e.code == 143:
                    stopped = True
                    break
        if a.podstart and not stopped:
            for kind in ("bao", "ours"):
                pods[kind] = pod_start(a, srv, audit, work, kind, cmds[kind], a.podstart)
                print(f"== pod start {kind}: {pods[kind]}", flush=True)
    finally:
        cleanup()
        if os.environ.get("FLEET_KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    build = os.environ.get("VAULTLET_AGENT_BUILD", ours)
    if a.agent:
        build += "; " + ", ".join(f"`{k}` = {p}" for k, _, p in (x.partition("=") for x in a.agent))
    text = report(a, runs, pods, "bench/fleet " + " ".join(sys.argv[1:]), bao_version, build)
    print(text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
