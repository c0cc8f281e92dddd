#!/usr/bin/env python3
"""Where an agent's init-run memory is: resident KiB per ELF section and per anonymous mapping,
read while the agent is held at its exit.

Each binary runs bench/agent-bench's init case (same OpenBao dev server, seed and config as
bench/agent_bench.py) under `strace --seccomp-bpf -e inject=exit_group:delay_enter=…`, which holds the agent
in exit_group(2) after its work is done and before the kernel frees anything. While it waits this
reads /proc/PID/status (VmHWM = peak RSS, VmRSS = now), /proc/PID/smaps (Rss per mapping) and
/proc/PID/pagemap (present bit per page) against the binary's section table (`readelf -SW`), so
each section's resident KiB is counted: .text.agent_hot, .text, .rodata, .data.rel.ro, .data,
.bss, … A page shared by two sections counts for both (the sum can exceed the file mapping's Rss
by a page per boundary). Copy binaries to /dev/shm first: on ext4 a file's page cache can hold
large folios and a fault maps the whole folio (bench/results/agent-issue14-rss-fix.md).

Usage: bench/rss-sections [--variant consul10] [--rounds 3] NAME=BINARY [NAME=BINARY ...]
Needs strace (with --seccomp-bpf) and readelf. Prints one Markdown table: per measure, the median
(min..max) of the rounds per binary; binaries alternate within each round. With
RSS_SECTIONS_PAGES=FILE it also appends, per run and section, the link-time addresses of the resident
pages (to read against a linker map, e.g. bench/hot-text's target/hot-text/vaultlet-agent.map).
"""
import argparse
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench as ab  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
HOLD_US = 3_000_000


def sections(binary):
    """[(name, vaddr, size)] of the allocated sections (flag A), from readelf -SW."""
    out = subprocess.run(["readelf", "-SW", binary], check=True, capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\S+\s+(\S*)", line)
        if m and "A" in m.group(4) and int(m.group(3), 16) > 0:
            res.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
    return res


def first_load_vaddr(binary):
    out = subprocess.run(["readelf", "-lW", binary], check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            return int(f[2], 16) & ~(PAGE - 1)
    raise SystemExit(f"{binary}: no PT_LOAD")


def smaps(pid):
    """[(start, end, name, rss_kib)] per mapping."""
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3).strip(), 0]
                maps.append(cur)
            elif line.startswith("Rss:"):
                cur[3] = int(line.split()[1])
    return [tuple(x) for x in maps]


def present_pages(pid, start, end):
    """Set of page numbers in [start, end) that are present (pagemap bit 63) or swapped (bit 62)."""
    first, last = start // PAGE, (end + PAGE - 1) // PAGE
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(first * 8)
        raw = f.read((last - first) * 8)
    res = set()
    for i, (e,) in enumerate(struct.iter_unpack("<Q", raw)):
        if e & (3 << 62):
            res.add(first + i)
    return res


def status(pid):
    res = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                res[k] = int(v.split()[0])
    return res


def agent_pid(strace_pid, binary):
    """The agent: strace's child that runs the binary (strace forks test children of its own first)."""
    real = os.path.realpath(binary)
    for _ in range(2000):
        try:
            with open(f"/proc/{strace_pid}/task/{strace_pid}/children") as f:
                for kid in f.read().split():
                    if os.path.realpath(f"/proc/{kid}/exe") == real:
                        return int(kid)
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    raise SystemExit("strace started no agent")


def in_exit_group(pid):
    """Whether a thread of pid is in exit_group(2) (x86_64 syscall 231): strace holds it there."""
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/syscall") as f:
                if f.read().split()[0] == "231":
                    return True
    except (FileNotFoundError, ProcessLookupError, IndexError):
        pass
    return False


def measure(binary, cfg_path):
    """One held init run: {measure name: KiB}."""
    real = os.path.realpath(binary)
    secs = sections(binary)
    p = subprocess.Popen(["strace", "-f", "-qq", "--seccomp-bpf", "-o", "/dev/null", "-e", "trace=exit_group",
                          "-e", f"inject=exit_group:delay_enter={HOLD_US}", binary, "agent", f"-config={cfg_path}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    pid = agent_pid(p.pid, binary)
    deadline = time.time() + 60
    while not in_exit_group(pid):
        if time.time() > deadline or p.poll() is not None:
            p.kill()
            err = p.communicate()[1].decode(errors="replace")
            raise SystemExit(f"{binary} did not stop in exit_group:\n{err[-3000:]}")
        time.sleep(0.005)
    time.sleep(0.05)
    st = status(pid)
    maps = smaps(pid)
    # The load base: the lowest mapping of the binary's file (static-pie) minus its first PT_LOAD.
    base = min(s for s, e, n, r in maps if n and os.path.realpath(n) == real) - first_load_vaddr(binary)
    res = {"VmHWM (peak)": st["VmHWM"], "VmRSS (at exit)": st["VmRSS"], "RssAnon": st["RssAnon"],
           "RssFile": st["RssFile"]}
    for name, addr, size in secs:
        pages = present_pages(pid, base + addr, base + addr + size)
        res[f"section {name}"] = len(pages) * PAGE // 1024
        if os.environ.get("RSS_SECTIONS_PAGES"):  # link-time addresses of the resident pages
            with open(os.environ["RSS_SECTIONS_PAGES"], "a") as f:
                f.write(f"{binary} {name} " + " ".join(hex(p * PAGE - base) for p in sorted(pages)) + "\n")
    for s, e, n, r in maps:
        if n and os.path.realpath(n) == real:
            continue
        key = f"map {n or '[anon]'}"
        res[key] = res.get(key, 0) + r
    _, err = p.communicate(timeout=HOLD_US / 1e6 + 30)
    if p.returncode != 0:
        raise SystemExit(f"{binary} exited {p.returncode}:\n{err.decode(errors='replace')[-3000:]}")
    return res


def cell(vals):
    """median (min..max), or the one value when all rounds agree."""
    m = statistics.median(vals)
    return f"{m:g}" if min(vals) == max(vals) else f"{m:g} ({min(vals)}..{max(vals)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--variant", default="consul10", choices=["consul10", "nopki7"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("bins", nargs="+", help="NAME=BINARY")
    a = ap.parse_args()
    bins = [b.split("=", 1) for b in a.bins]
    bao = os.environ.get("VAULTLET_BAO")
    if not bao:
        raise SystemExit("need VAULTLET_BAO (run via bench/rss-sections)")
    templates = {"consul10": ab.CONSUL10, "nopki7": ab.NOPKI7}[a.variant]
    work = tempfile.mkdtemp(prefix="rss-sections-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    srv = ab.Server(bao, work)
    results = {name: [] for name, _ in bins}
    try:
        ab.seed(srv, work, 0)
        for r in range(a.rounds):
            for name, binary in bins:  # alternated, as agent-bench does
                cfg = ab.prepare(srv, work, os.path.join(work, f"{name}-{r}"), templates)
                results[name].append(measure(binary, cfg))
    finally:
        srv.stop()
        subprocess.run(["rm", "-rf", work])
    keys = []
    for name, _ in bins:
        for run in results[name]:
            keys += [k for k in run if k not in keys]
    print(f"{a.variant}, median (min..max) of {a.rounds} rounds, KiB resident while held in exit_group")
    print("| measure | " + " | ".join(name for name, _ in bins) + " |")
    print("|---|" + "---:|" * len(bins))
    for k in keys:
        cols = [[run.get(k, 0) for run in results[name]] for name, _ in bins]
        if any(any(c) for c in cols):
            print(f"| {k} | " + " | ".join(cell(c) for c in cols) + " |")


if __name__ == "__main__":
    main()
