#!/usr/bin/env python3
"""vaultlet-injector against the webhook floor (bench/webhook-floor), in the same batch.

Both servers get the same Consul-server AdmissionReview (webhook-floor/gen-body.py) over HTTPS on
127.0.0.1, from `oha` (crates.io) as the load generator, at concurrency 1, 16 and 64 with
keep-alive, in alternation (floor, vaultlet, floor, vaultlet …). Each run is bounded by oha's own
deadline (-z) and by `timeout`. Reported: requests/s, p50 and p99 latency (oha's whole-run
percentiles, after a warm-up run), and the server's RSS at the end of the run, with the ratio
vaultlet/floor (throughput) and floor/vaultlet (latency).

Usage: bench/injector-bench [--reps 3] [--secs 10] [--conc 1,16,64]
Results: stdout and bench/results/injector-latest.md.
"""
import argparse
import datetime
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOOR = os.path.join(ROOT, "bench", "webhook-floor")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, deadline=15):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server exited {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit("server did not listen")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def start(kind, port, certs, log):
    if kind == "floor":
        cmd = [os.path.join(FLOOR, "target", "release", "webhook-floor"), f"127.0.0.1:{port}",
               f"{certs}/ec.crt", f"{certs}/ec.key"]
        env = None
    else:
        cmd = [os.environ.get("VAULTLET_INJECTOR_BIN") or os.path.join(ROOT, "target", "release", "vaultlet-injector"), "agent-inject",
               f"-listen=127.0.0.1:{port}", f"-tls-cert-file={certs}/ec.crt", f"-tls-key-file={certs}/ec.key",
               "-vault-address=https://vault.vault.svc:8200", "-log-level=warn",
               "-shutdown-delay=0"]  # stop at once between runs (the default waits 5 s)
        env = dict(os.environ)
    p = subprocess.Popen(cmd, stdout=open(log, "a"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    wait_port(port, p)
    return p


def cpu_secs(pid):
    """User+system CPU seconds the process has used (utime+stime from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def oha(url, ca, body, conc, secs):
    cmd = ["timeout", "-k", "2", str(secs + 10), "oha", "-z", f"{secs}s", "--no-tui", "-m", "POST", "-D", body,
           "-H", "Content-Type: application/json", "--cacert", ca, "--output-format", "json", "-c", str(conc), url]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"oha failed: {out.stderr[-2000:]}")
    d = json.loads(out.stdout)
    codes = d.get("statusCodeDistribution", {})
    if set(codes) - {"200"}:
        raise SystemExit(f"non-200 answers: {codes}")
    total = sum(int(v) for v in codes.values())
    return d["summary"]["requestsPerSec"], d["latencyPercentiles"]["p50"], d["latencyPercentiles"]["p99"], total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--conc", default="1,16,64")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="vaultlet-injbench-")
    certs = os.path.join(work, "certs")
    subprocess.run(["bash", os.path.join(FLOOR, "gen-cert.sh"), certs], check=True, capture_output=True)
    body = os.path.join(work, "body.json")
    subprocess.run(["python3", os.path.join(FLOOR, "gen-body.py"), body], check=True)
    ca = os.path.join(certs, "ca-ec.crt")
    res = {}
    for rep in range(a.reps):
        for conc in [int(c) for c in a.conc.split(",")]:
            for kind in ("floor", "vaultlet"):
                port = free_port()
                p = start(kind, port, certs, os.path.join(work, f"{kind}.log"))
                try:
                    url = f"https://127.0.0.1:{port}/mutate"
                    oha(url, ca, body, conc, 2)  # warm-up
                    cpu0 = cpu_secs(p.pid)
                    rps, p50, p99, n = oha(url, ca, body, conc, a.secs)
                    cpu_us = (cpu_secs(p.pid) - cpu0) * 1e6 / max(n, 1)
                    rss = rss_mib(p.pid)
                finally:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        p.kill()
                res.setdefault((kind, conc), []).append((rps, p50 * 1e3, p99 * 1e3, rss, cpu_us))
                print(f"rep {rep} c={conc} {kind}: {rps:.0f} req/s p50 {p50 * 1e3:.3f} ms p99 {p99 * 1e3:.3f} ms "
                      f"RSS {rss:.1f} MiB, server CPU {cpu_us:.0f} us/req", flush=True)
    med = lambda xs: statistics.median(xs)  # noqa: E731
    lines = [f"# injector benchmark, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"{os.cpu_count()} cpus, oha on the same cores; {a.reps} reps × {a.secs} s; medians (min..max)", "",
             "| c | server | req/s | p50 ms | p99 ms | RSS MiB | server CPU µs/req | throughput vs floor | p99 vs floor "
             "| CPU/req vs floor |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for conc in [int(c) for c in a.conc.split(",")]:
        fl, ours = res[("floor", conc)], res[("vaultlet", conc)]
        for kind, rows in (("floor", fl), ("vaultlet", ours)):
            cols = []
            for i, f in enumerate(("{:.0f}", "{:.3f}", "{:.3f}", "{:.1f}", "{:.0f}")):
                xs = [r[i] for r in rows]
                cols.append(f"{f.format(med(xs))} ({f.format(min(xs))}..{f.format(max(xs))})")
            ratio_t = med([r[0] for r in rows]) / med([r[0] for r in fl])
            ratio_p = med([r[2] for r in rows]) / med([r[2] for r in fl])
            ratio_c = med([r[4] for r in fl]) / med([r[4] for r in rows])
            lines.append(f"| {conc} | {kind} | {' | '.join(cols)} | {ratio_t:.2f}× | {ratio_p:.2f}× | {ratio_c:.2f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "injector-latest.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
