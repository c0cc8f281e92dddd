#!/usr/bin/env python3
"""vaultlet's local demo, run by scripts/demo (which builds the binaries first).

1. Starts an OpenBao dev server on 127.0.0.1 and a Kubernetes TokenReview stand-in (for Vault's
   `kubernetes` auth method), seeds secrets, a PKI role and the auth roles.
2. Starts vaultlet-injector over HTTPS with a freshly made CA + serving certificate.
3. Sends it an AdmissionReview for the HashiCorp tutorial's `orgchart` pod, prints what the patch
   adds, applies the patch, and runs the injected `vault-agent-init` container exactly as Kubernetes
   would (its command, args and env; the paths of its volume mounts mapped under a temp dir), then
   prints the rendered /vault/secrets/database-config.txt.
4. Does the same for a Consul server pod: gossip key from KV v2, server certificate and key from one
   PKI issuance (and checks that they match), and the CA.

Everything runs on loopback; everything started is stopped at the end. Standard library only, plus
the `openssl` CLI.
"""
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")
LIB = os.path.join(ROOT, "tests", "conformance", "lib")
BAO = os.environ.get("VAULTLET_BAO") or shutil.which("bao") or "bao"
ROOT_TOKEN = "root"

PROCS = []


def say(msg):
    print(f"==> {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def start(args, log, env=None):
    p = subprocess.Popen(args, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env,
                         stdin=subprocess.DEVNULL)
    PROCS.append(p)
    return p


def stop_all():
    for p in reversed(PROCS):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_http(url, ctx=None, proc=None, log=None, tries=200):
    for _ in range(tries):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"process exited early; its log:\n{open(log).read()}")
        try:
            urllib.request.urlopen(url, context=ctx, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {url}" + (f"; log:\n{open(log).read()}" if log else ""))


class Bao:
    def __init__(self, addr):
        self.addr = addr

    def api(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.addr}/v1/{path}", data=data, method=method,
                                     headers={"X-Vault-Token": ROOT_TOKEN})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise SystemExit(f"seeding failed: {method} {path}: HTTP {e.code}: {e.read().decode()}")
        return json.loads(raw) if raw else None


def openssl_ca_and_leaf(work, name, san):
    """A CA and a leaf certificate signed by it (so a strict TLS client accepts the leaf)."""
    ca_key, ca_crt = f"{work}/{name}-ca.key", f"{work}/{name}-ca.crt"
    key, csr, crt = f"{work}/{name}.key", f"{work}/{name}.csr", f"{work}/{name}.crt"
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "2", "-subj", f"/CN={name} demo CA", "-keyout", ca_key, "-out", ca_crt)
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    ext = f"{work}/{name}.ext"
    with open(ext, "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", crt)
    return ca_crt, crt, key


# --- JSON patch (RFC 6902), the operations an admission patch uses -----------------------
def _pointer(path):
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def apply_patch(doc, ops):
    for op in ops:
        parts = _pointer(op["path"])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            if kind == "add":
                if last == "-":
                    parent.append(op["value"])
                else:
                    parent.insert(int(last), op["value"])
            elif kind == "remove":
                del parent[int(last)]
            elif kind == "replace":
                parent[int(last)] = op["value"]
            else:
                raise SystemExit(f"unsupported patch op {kind}")
        else:
            if kind in ("add", "replace"):
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            else:
                raise SystemExit(f"unsupported patch op {kind}")
    return doc


def describe(op):
    v = op.get("value")
    what = ""
    if isinstance(v, dict) and "name" in v:
        what = f" {v['name']}"
    elif isinstance(v, list):
        names = [x.get("name") for x in v if isinstance(x, dict) and "name" in x]
        what = f" [{', '.join(names)}]" if names else ""
    elif isinstance(v, str):
        what = f" {v!r}"
    return f"    {op['op']:<7} {op['path']}{what}"


# --- running an injected container as a local process --------------------------------------
def run_container(c, pod, sandbox, sa_jwt, timeout=90):
    """Runs container `c` of `pod` as Kubernetes would, with every volume mount mapped under
    `sandbox`. Returns (exit code, log text)."""
    mounts = sorted((m["mountPath"] for m in c.get("volumeMounts", [])), key=len, reverse=True)

    def host(path):
        for m in mounts:
            if path == m or path.startswith(m.rstrip("/") + "/"):
                return sandbox + path
        return path

    for m in mounts:
        os.makedirs(sandbox + m, exist_ok=True)
    # The kubelet's projected service-account token.
    sa_dir = sandbox + "/var/run/secrets/kubernetes.io/serviceaccount"
    os.makedirs(sa_dir, exist_ok=True)
    with open(sa_dir + "/token", "w") as f:
        f.write(sa_jwt)

    def remap(v):
        if isinstance(v, str):
            return host(v) if v.startswith("/") else v
        if isinstance(v, list):
            return [remap(x) for x in v]
        if isinstance(v, dict):
            return {k: remap(x) for k, x in v.items()}
        return v

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": sandbox + "/home/vault"}
    field = {"metadata.namespace": pod["metadata"]["namespace"], "status.hostIP": "127.0.0.1",
             "status.podIP": "127.0.0.1", "metadata.name": pod["metadata"].get("name", "demo")}
    for e in c.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "valueFrom" in e and "fieldRef" in e["valueFrom"]:
            env[e["name"]] = field.get(e["valueFrom"]["fieldRef"]["fieldPath"], "")
    for key in ("VAULT_CONFIG", "BAO_CONFIG"):
        if key in env:
            cfg = json.loads(base64.b64decode(env[key]))
            env[key] = base64.b64encode(json.dumps(remap(cfg)).encode()).decode()
    argv = list(c.get("command", [])) + list(c.get("args", []))
    if not argv:
        raise SystemExit(f"container {c['name']} has no command")
    exe = os.path.basename(argv[0])
    if exe in ("vaultlet-agent", "vault", "bao"):
        argv[0] = os.path.join(BIN, "vaultlet-agent")
    else:
        raise SystemExit(f"container {c['name']} runs {argv[0]!r}, which this demo cannot map to a local binary")
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout + p.stderr


def mutate(injector_url, ca, pod):
    review = {
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"], "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod, "dryRun": False,
        },
    }
    ctx = ssl.create_default_context(cafile=ca)
    req = urllib.request.Request(f"{injector_url}/mutate", data=json.dumps(review).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        resp = json.loads(r.read())["response"]
    if not resp.get("allowed"):
        raise SystemExit(f"the injector refused the pod: {resp.get('status')}")
    return json.loads(base64.b64decode(resp["patch"])) if resp.get("patch") else []


def sa_volume(name):
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                        "fieldPath": "metadata.namespace"}}]}}]}}


SA_MOUNT = {"name": "kube-api-access-demo", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "readOnly": True}

ORGCHART_POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "orgchart-69697d9598-", "namespace": "default", "labels": {"app": "orgchart"},
                 "annotations": {
                     "vault.hashicorp.com/agent-inject": "true",
                     "vault.hashicorp.com/role": "internal-app",
                     "vault.hashicorp.com/agent-inject-secret-database-config.txt": "internal/data/database/config",
                 }},
    "spec": {"serviceAccountName": "internal-app",
             "containers": [{"name": "orgchart", "image": "jweissig/app:0.0.1", "volumeMounts": [SA_MOUNT]}],
             "volumes": [sa_volume("kube-api-access-demo")]},
}

CONSUL_PARAMS = ('"common_name=server.dc1.consul" "ttl=24h" '
                 '"alt_names=localhost,consul-server,*.consul-server,*.consul-server.consul,consul-server.consul,'
                 '*.consul-server.consul.svc,consul-server.consul.svc,*.server.dc1.consul" "ip_sans=127.0.0.1"')
CONSUL_POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "consul-server-0", "namespace": "consul",
                 "labels": {"app": "consul", "component": "server"},
                 "annotations": {
                     "vault.hashicorp.com/agent-inject": "true",
                     "vault.hashicorp.com/agent-init-first": "true",
                     "vault.hashicorp.com/role": "consul-server",
                     "vault.hashicorp.com/agent-inject-secret-gossip.txt": "consul-kv/data/secret/gossip",
                     "vault.hashicorp.com/agent-inject-template-gossip.txt":
                         '{{- with secret "consul-kv/data/secret/gossip" -}}{{- .Data.data.gossip -}}{{- end -}}',
                     "vault.hashicorp.com/agent-inject-secret-servercert.crt": "pki/issue/consul-server",
                     "vault.hashicorp.com/agent-inject-template-servercert.crt":
                         '{{- with secret "pki/issue/consul-server" ' + CONSUL_PARAMS + ' -}}'
                         '{{- .Data.certificate -}}{{- end -}}',
                     "vault.hashicorp.com/agent-inject-secret-servercert.key": "pki/issue/consul-server",
                     "vault.hashicorp.com/agent-inject-template-servercert.key":
                         '{{- with secret "pki/issue/consul-server" ' + CONSUL_PARAMS + ' -}}'
                         '{{- .Data.private_key -}}{{- end -}}',
                     "vault.hashicorp.com/agent-inject-secret-serverca.crt": "pki/cert/ca",
                     "vault.hashicorp.com/agent-inject-template-serverca.crt":
                         '{{- with secret "pki/cert/ca" -}}{{- .Data.certificate -}}{{- end -}}',
                 }},
    "spec": {"serviceAccountName": "consul-server",
             "containers": [{"name": "consul", "image": "hashicorp/consul:1.20",
                             "volumeMounts": [SA_MOUNT, {"name": "data-consul", "mountPath": "/consul/data"}]}],
             "volumes": [sa_volume("kube-api-access-demo"), {"name": "data-consul", "emptyDir": {}}]},
}


def seed(bao, work, tr_port):
    # orgchart (HashiCorp's injector tutorial)
    bao.api("POST", "sys/mounts/internal", {"type": "kv", "options": {"version": "2"}})
    bao.api("POST", "internal/data/database/config",
            {"data": {"username": "db-readonly-username", "password": "db-secret-password"}})
    bao.api("PUT", "sys/policies/acl/internal-app",
            {"policy": 'path "internal/data/database/config" { capabilities = ["read"] }'})
    # Consul server
    bao.api("POST", "sys/mounts/consul-kv", {"type": "kv", "options": {"version": "2"}})
    gossip = base64.b64encode(os.urandom(32)).decode()
    bao.api("POST", "consul-kv/data/secret/gossip", {"data": {"gossip": gossip}})
    bao.api("POST", "sys/mounts/pki", {"type": "pki", "config": {"max_lease_ttl": "87600h"}})
    bao.api("POST", "pki/root/generate/internal", {"common_name": "dc1.consul", "ttl": "87600h"})
    bao.api("POST", "pki/roles/consul-server", {
        "allowed_domains": "dc1.consul,consul-server,consul-server.consul,consul-server.consul.svc",
        "allow_subdomains": True, "allow_bare_domains": True, "allow_localhost": True,
        "generate_lease": True, "max_ttl": "720h"})
    bao.api("PUT", "sys/policies/acl/consul-server", {"policy": (
        'path "consul-kv/data/secret/gossip" { capabilities = ["read"] }\n'
        'path "pki/issue/consul-server" { capabilities = ["create", "update"] }\n'
        'path "pki/cert/ca" { capabilities = ["read"] }\n')})
    # Kubernetes auth through the TokenReview stand-in
    bao.api("POST", "sys/auth/kubernetes", {"type": "kubernetes"})
    bao.api("POST", "auth/kubernetes/config", {
        "kubernetes_host": f"https://127.0.0.1:{tr_port}",
        "kubernetes_ca_cert": open(f"{work}/k8s-tls.crt").read(), "disable_local_ca_jwt": True})
    bao.api("POST", "auth/kubernetes/role/internal-app", {
        "bound_service_account_names": "internal-app", "bound_service_account_namespaces": "default",
        "policies": "internal-app", "ttl": "24h"})
    bao.api("POST", "auth/kubernetes/role/consul-server", {
        "bound_service_account_names": "consul-server", "bound_service_account_namespaces": "consul",
        "policies": "consul-server", "ttl": "24h"})
    return gossip


def mint(work, ns, sa):
    return run(sys.executable, f"{LIB}/mint-sa-jwt.py", "--key", f"{work}/sa.key", "--namespace", ns,
               "--sa", sa, "--ttl", "3600").strip()


def inject_and_run(title, injector_url, ca, pod, work, files):
    say(f"{title}: sending the pod to the injector (POST /mutate over HTTPS, CA verified)")
    ops = mutate(injector_url, ca, pod)
    print(f"    the patch has {len(ops)} operations:")
    for op in ops:
        print(describe(op))
    patched = apply_patch(json.loads(json.dumps(pod)), ops)
    inits = [c for c in patched["spec"].get("initContainers", []) if c["name"] == "vault-agent-init"]
    if not inits:
        raise SystemExit("the patched pod has no vault-agent-init container")
    init = inits[0]
    sidecars = [c["name"] for c in patched["spec"]["containers"] if c["name"] == "vault-agent"]
    print(f"    patched pod: init containers {[c['name'] for c in patched['spec']['initContainers']]}, "
          f"containers {[c['name'] for c in patched['spec']['containers']]}, "
          f"volumes {[v['name'] for v in patched['spec']['volumes']]}")
    print(f"    {init['name']} runs: {json.dumps(init.get('command', []) + init.get('args', []))}")
    sandbox = os.path.join(work, pod["metadata"].get("name") or pod["metadata"]["generateName"].rstrip("-"))
    jwt = mint(work, pod["metadata"]["namespace"], pod["spec"]["serviceAccountName"])
    say(f"{title}: running {init['name']} as a local process (mounts under {sandbox})")
    t0 = time.time()
    rc, log = run_container(init, patched, sandbox, jwt)
    if rc != 0:
        raise SystemExit(f"{init['name']} exited {rc}; its log:\n{log}")
    print(f"    {init['name']} exited 0 after {time.time() - t0:.2f}s"
          + (f" (the sidecar {sidecars[0]} would now keep them fresh)" if sidecars else ""))
    out = {}
    for f in files:
        path = sandbox + "/vault/secrets/" + f
        mode = oct(os.stat(path).st_mode & 0o777)
        out[f] = path
        body = open(path).read()
        print(f"--- /vault/secrets/{f} (mode {mode}) ---")
        if "PRIVATE KEY" in body:
            print("    (private key, not shown: " + str(len(body)) + " bytes)")
        else:
            print(body if body.endswith("\n") else body + "\n", end="")
    return out


def main():
    work = tempfile.mkdtemp(prefix="vaultlet-demo-")
    try:
        bao_port, tr_port, inj_port = free_port(), free_port(), free_port()
        bao_addr = f"http://127.0.0.1:{bao_port}"
        say(f"work dir {work}")
        run("openssl", "genrsa", "-out", f"{work}/sa.key", "2048")
        run("openssl", "rsa", "-in", f"{work}/sa.key", "-pubout", "-out", f"{work}/sa.pub")
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kubernetes",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", f"{work}/k8s-tls.key", "-out", f"{work}/k8s-tls.crt")

        say(f"starting OpenBao dev server on {bao_addr} ({BAO})")
        p = start([BAO, "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}",
                   f"-dev-listen-address=127.0.0.1:{bao_port}"], f"{work}/openbao.log")
        wait_http(f"{bao_addr}/v1/sys/health", proc=p, log=f"{work}/openbao.log")
        say(f"starting the Kubernetes TokenReview stand-in on https://127.0.0.1:{tr_port}")
        p = start([sys.executable, f"{LIB}/tokenreview.py", "--port", str(tr_port), "--pubkey", f"{work}/sa.pub",
                   "--tls-cert", f"{work}/k8s-tls.crt", "--tls-key", f"{work}/k8s-tls.key"],
                  f"{work}/tokenreview.log")
        wait_http(f"https://127.0.0.1:{tr_port}/healthz", ctx=ssl._create_unverified_context(), proc=p,
                  log=f"{work}/tokenreview.log")
        say("seeding: KV v2 secrets, a PKI role, policies, kubernetes auth roles")
        bao = Bao(bao_addr)
        gossip = seed(bao, work, tr_port)

        ca, crt, key = openssl_ca_and_leaf(work, "injector", "IP:127.0.0.1,DNS:localhost")
        injector_url = f"https://127.0.0.1:{inj_port}"
        say(f"starting vaultlet-injector on {injector_url}")
        p = start([os.path.join(BIN, "vaultlet-injector"), "agent-inject", f"-listen=127.0.0.1:{inj_port}",
                   f"-tls-cert-file={crt}", f"-tls-key-file={key}", f"-vault-address={bao_addr}"],
                  f"{work}/injector.log", env=dict(os.environ))
        wait_http(f"{injector_url}/health/ready", ctx=ssl.create_default_context(cafile=ca), proc=p,
                  log=f"{work}/injector.log")

        inject_and_run("orgchart", injector_url, ca, ORGCHART_POD, work, ["database-config.txt"])

        out = inject_and_run("consul-server", injector_url, ca, CONSUL_POD, work,
                             ["gossip.txt", "servercert.crt", "servercert.key", "serverca.crt"])
        if open(out["gossip.txt"]).read() != gossip:
            raise SystemExit("gossip.txt does not hold the seeded gossip key")
        subj = run("openssl", "x509", "-in", out["servercert.crt"], "-noout", "-subject", "-ext",
                   "subjectAltName").strip()
        print("    server certificate: " + subj.replace("\n", " "))
        cert_pub = run("openssl", "x509", "-in", out["servercert.crt"], "-noout", "-pubkey")
        key_pub = run("openssl", "pkey", "-in", out["servercert.key"], "-pubout")
        if cert_pub != key_pub:
            raise SystemExit("servercert.key does not match servercert.crt: they came from two issuances")
        print("    servercert.key matches servercert.crt (one PKI issuance shared by both templates)")
        run("openssl", "verify", "-CAfile", out["serverca.crt"], out["servercert.crt"])
        print("    servercert.crt verifies against serverca.crt")
        say("demo finished: stopping everything it started")
    finally:
        stop_all()
        if os.environ.get("KEEP_DEMO_DIR") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
