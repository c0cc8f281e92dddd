#!/usr/bin/env python3
"""Writes agent/link/hot-text.ld: the agent's functions that run in a typical life, to be linked
together at the front of its code.

Why: the kernel maps an executable's code 64 KiB at a time around each page it faults in, so a
function that runs costs the process its whole 64 KiB neighbourhood of resident memory. Linked in
the compiler's order, the ~750 KB of code an agent runs is spread over ~2.7 MB of blocks; packed
together it fills ~1 MB. Every pod carries the agent, so that is memory saved per pod.

How: builds the agent exactly as the image does, plus a linker map, and runs it under
`valgrind --tool=callgrind --dump-instr=yes` against OpenBao dev servers on 127.0.0.1, over plain
HTTP and over TLS: an init run and a sidecar run of the Consul-style config (jwt auth, KV v1/v2,
PKI, a few refresh passes). Each executed instruction is mapped through the linker map to its
function's section; those sections become the input-section list of a GNU ld / lld linker script
that `INSERT`s an output section `.text.agent_hot` before `.text`: first by exact name (code every
run used first), then as globs without what a rebuild changes (the legacy mangling's
`17h<hash>E`, v0 crate disambiguators, LTO clone suffixes), so the file stays useful across
ordinary code changes. A function it does not name is simply linked in the usual place.
Regenerate after large changes: `bench/hot-text` (needs valgrind; see bench/README.md).

Usage: bench/hot-text   (the wrapper builds the agent and its map, then runs this)
"""
import bisect
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench as ab  # noqa: E402

ROOT = ab.ROOT
OUT = os.path.join(ROOT, "agent", "link", "hot-text.ld")
SIDECAR_SECONDS = 20


# Read-only data every run touches, linked at the front of the read-only segment, whose first
# 64 KiB block every run faults in anyway. musl's own tables (malloc's size classes, sysconf's
# values) are read at every start and would otherwise sit at the end of .rodata, beside
# .eh_frame_hdr, keeping a 64 KiB block of tables the agent does not read (the Ed25519 base
# tables, libunwind's strings) resident; so does aws-lc's CPU-feature start-up string. Found with
# bench/rss-sections (see bench/results/agent-issue15-rss.md).
RODATA_HOT = """SECTIONS
{
  .rodata.agent_hot ALIGN(CONSTANT (MAXPAGESIZE)) :
  {
    *self-contained/libc.a:*(.rodata .rodata.*)
    *(.rodata.aws_lc_*_OPENSSL_cpuid_setup.str1.1)
  }
}
INSERT BEFORE .rodata;
"""


def callgrind(agent, cfg_path, out_file, seconds=None):
    cmd = ["valgrind", "--tool=callgrind", "--dump-instr=yes", f"--callgrind-out-file={out_file}",
           agent, "agent", f"-config={cfg_path}"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if seconds is None:
        _, err = p.communicate(timeout=300)
        if p.returncode != 0:
            raise SystemExit(f"init run failed ({p.returncode}):\n{err.decode(errors='replace')[-3000:]}")
        return
    time.sleep(seconds)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    if not os.path.exists(out_file):
        raise SystemExit(f"sidecar run left no profile:\n{err.decode(errors='replace')[-3000:]}")


def native_faults(agent, cfg_path, seconds=None):
    """Code addresses (link-time) the agent faulted on when run natively, or an empty set when
    perf cannot count page faults here. Native runs take paths valgrind's do not (CPU features,
    timing), and one stray function costs a whole 64 KiB block."""
    data = cfg_path + ".perf"
    cmd = ["perf", "record", "-q", "-e", "page-faults", "-c", "1", "-d", "-o", data,
           agent, "agent", f"-config={cfg_path}"]
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return set()
    if seconds is None:
        p.wait(timeout=120)
    else:
        time.sleep(seconds)
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
    if not os.path.exists(data):
        return set()
    mmaps = subprocess.run(["perf", "script", "-i", data, "--show-mmap-events"],
                           capture_output=True, text=True).stdout
    base = None
    for line in mmaps.splitlines():
        m = re.search(r"PERF_RECORD_MMAP2? \d+/\d+: \[(0x[0-9a-f]+)\(0x[0-9a-f]+\) @ (0x[0-9a-f]+|0) .*\]: r\S*p (\S+)$", line)
        if m and os.path.realpath(m.group(3)) == os.path.realpath(agent):
            start, off = int(m.group(1), 16), int(m.group(2), 16)
            base = start - off if base is None else min(base, start - off)
    if base is None:
        return set()
    faults = subprocess.run(["perf", "script", "-i", data, "-F", "ip,addr"], capture_output=True, text=True).stdout
    addrs = set()
    for line in faults.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == parts[1]:  # an instruction fetch: the fault is at the ip
            addrs.add(int(parts[0], 16) - base)
    return addrs


def executed_addresses(out_file):
    """Every instruction address a callgrind profile (--dump-instr=yes) shows executed, and the
    targets of calls among them, per object (`ob=` / `cob=`): {object: (addresses, targets)}.
    Valgrind may report one executable under two objects with different address bases (an
    unnamed `???` object at the static-pie's load address, and later the named file at link-time
    addresses), so each object gets its own base (see load_base)."""
    objs, ob, cob, cur = {}, None, None, 0
    with open(out_file) as f:
        for line in f:
            c = line[0]
            if c == "0" and line.startswith("0x"):
                cur = int(line.split()[0], 16)
            elif c in "+-":
                cur += int(line.split()[0])
            elif c == "*":
                pass
            elif line.startswith("ob="):
                ob, cob = line.split()[0][3:], None
                continue
            elif line.startswith("cob="):
                cob = line.split()[0][4:]
                continue
            elif line.startswith("calls="):
                t = int(line.split()[1], 16)
                addrs, targets = objs.setdefault(cob or ob, (set(), set()))
                addrs.add(t)
                targets.add(t)
                cob = None
                continue
            else:
                continue
            objs.setdefault(ob, (set(), set()))[0].add(cur)
    return objs


def text_sections(map_file):
    """(start, end, name) of every code input section in a GNU ld / lld map file, sorted."""
    secs, pending = [], None
    with open(map_file) as f:
        for line in f:
            m = re.match(r"^ (\.text\.\S+)(?:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+)?$", line.rstrip("\n"))
            if m:
                if m.group(2):
                    a, n = int(m.group(2), 16), int(m.group(3), 16)
                    if n:
                        secs.append((a, a + n, m.group(1)))
                    pending = None
                else:
                    pending = m.group(1)
                continue
            m = re.match(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+\S+$", line.rstrip("\n"))
            if m and pending:
                a, n = int(m.group(1), 16), int(m.group(2), 16)
                if n:
                    secs.append((a, a + n, pending))
            pending = None
    secs.sort()
    return secs


def load_base(targets, secs):
    """Where valgrind loaded the executable: the offset that makes the most call targets land on
    the first byte of a function's section (0x108000 for a static-pie, 0 for a fixed address or
    link-time addresses); None when neither makes call targets land on functions (an object that
    is not the agent)."""
    firsts = {a for a, _, _ in secs}
    hits = {b: sum((t - b) in firsts for t in targets) for b in (0x108000, 0)}
    best = max(hits, key=hits.get)
    return best if targets and hits[best] * 2 >= len(targets) else None


def sections_run_profile(objs, secs):
    """The sections a callgrind profile executed, over all of its objects."""
    hit = set()
    for addrs, targets in objs.values():
        base = load_base(targets, secs)
        if base is not None:
            hit |= sections_run(addrs, secs, base)
    return hit


def sections_run(addrs, secs, base):
    """The sections holding the addresses (run-time addresses, loaded at `base`)."""
    starts = [s[0] for s in secs]
    hit = set()
    for a in addrs:
        i = bisect.bisect_right(starts, a - base) - 1
        if i >= 0 and secs[i][0] <= a - base < secs[i][1]:
            hit.add(secs[i][2])
    return hit


def pattern(section):
    """A glob for a section that a later build may have renamed; None if not a plain symbol."""
    name = section[len(".text."):]
    if not re.fullmatch(r"[A-Za-z0-9_$.]+", name):
        return None
    name = re.sub(r"\.(llvm\.)?\d+$", "", name)          # LTO / local clones
    name = re.sub(r"17h[0-9a-f]{16}E$", "17h*E", name)   # legacy mangling's hash
    name = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", name)      # v0 crate disambiguators
    return f".text.{name}*"


def main():
    agent = os.environ.get("VAULTLET_AGENT_BIN")
    link_map = os.environ.get("VAULTLET_AGENT_MAP")
    bao = os.environ.get("VAULTLET_BAO")
    if not agent or not bao or not link_map:
        raise SystemExit("need VAULTLET_AGENT_BIN, VAULTLET_AGENT_MAP and VAULTLET_BAO (run via bench/hot-text)")
    secs = text_sections(link_map)
    runs = []  # the sections each profiled run executed
    with tempfile.TemporaryDirectory(prefix="vaultlet-hot-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as top:
        for tls in (False, True):
            work = os.path.join(top, "tls" if tls else "http")
            os.makedirs(work)
            srv = ab.Server(bao, work, tls=tls)
            try:
                ab.seed(srv, work, 1)
                for mode in ("init", "sidecar"):
                    cfg = ab.prepare(srv, work, os.path.join(work, mode), ab.CONSUL10, init=mode == "init")
                    prof = os.path.join(work, f"{mode}.callgrind")
                    callgrind(agent, cfg, prof, None if mode == "init" else SIDECAR_SECONDS)
                    got = sections_run_profile(executed_addresses(prof), secs)
                    native = sections_run(native_faults(agent, cfg, None if mode == "init" else 6), secs, 0)
                    print(f"{'https' if tls else 'http'} {mode}: {len(got)} functions ran; "
                          f"{len(native - got)} more faulted in natively", file=sys.stderr)
                    runs.append(got | native)
            finally:
                srv.stop()
    ran = set().union(*runs)
    # Sections in the order of the set of runs that used them, read as a binary number with the
    # first run (plain-HTTP init) as its highest bit: code every run uses first, code only TLS runs
    # use last, so each kind of run touches one stretch at the front of the section rather than
    # every block of it. First the sections by exact name, which a build of the same sources,
    # lockfile and toolchain names alike; then globs, which catch what a later build renamed (and
    # other instances of generic functions) and place them after.
    def mask(sec):
        return sum(1 << (len(runs) - 1 - i) for i, r in enumerate(runs) if sec in r)
    rank = {sec: mask(sec) for sec in ran if pattern(sec)}
    exact = sorted(rank, key=lambda p: (-rank[p], p))
    globs = {}
    for sec in exact:
        g = pattern(sec)
        globs[g] = max(globs.get(g, 0), rank[sec])
    glob_order = sorted(globs, key=lambda p: (-globs[p], p))
    sizes = {}
    for a, e, n in secs:
        if n in rank:
            sizes[rank[n]] = sizes.get(rank[n], 0) + e - a
    print("KiB by runs (http-init http-sidecar https-init https-sidecar): " +
          ", ".join(f"{m:04b}={sizes[m] / 1024:.0f}" for m in sorted(sizes, reverse=True)), file=sys.stderr)
    size = sum(e - a for a, e, n in secs if n in ran)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write("/* Generated by bench/hot-text from callgrind runs of the agent (see bench/hot_text.py):\n"
                "   the functions an agent runs, linked together so their code shares 64 KiB blocks.\n"
                "   Linked in by the image and bench builds with -C link-arg=-Wl,-T,agent/link/hot-text.ld. */\n")
        f.write("SECTIONS\n{\n  .text.agent_hot :\n  {\n")
        # The musl that rustup bundles (self-contained) is not built with function sections; what
        # the agent links of it is small, and it all runs. (A glibc build keeps its libc in place.)
        f.write("    *self-contained/*crt1.o(.text .text.*)\n    *self-contained/libc.a:*(.text .text.*)\n")
        for p in exact + glob_order:
            f.write(f"    *({p})\n")
        f.write("  }\n}\nINSERT BEFORE .text;\n")
        f.write(RODATA_HOT)
    print(f"{OUT}: {len(exact)} sections ({size / 1024:.0f} KiB) and {len(glob_order)} globs", file=sys.stderr)


if __name__ == "__main__":
    main()
