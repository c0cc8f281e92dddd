"""The README's first command, `scripts/demo`, runs green and shows the secrets it promises.

It starts its own OpenBao dev server, TokenReview stand-in and injector on 127.0.0.1, so this test
needs nothing else; it checks the output and that nothing the demo started is left running.
"""
import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def running_under(path_fragment: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if path_fragment in line]


def test_demo_runs_and_prints_the_rendered_secrets() -> None:
    p = subprocess.run([os.path.join(ROOT, "scripts", "demo")], capture_output=True, text=True,
                       timeout=900, cwd=ROOT)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    work = re.search(r"==> work dir (\S+)", out)
    assert work, out
    # orgchart: the tutorial's default template output.
    assert "--- /vault/secrets/database-config.txt (mode 0o644) ---" in out
    assert "data: map[password:db-secret-password username:db-readonly-username]" in out
    # Consul server: gossip key, and cert + key from one PKI issuance.
    assert "--- /vault/secrets/gossip.txt" in out
    assert "servercert.key matches servercert.crt (one PKI issuance shared by both templates)" in out
    assert "servercert.crt verifies against serverca.crt" in out
    assert "PRIVATE KEY-----" not in out, "the demo must not print a private key"
    assert "==> demo finished" in out
    # Everything it started is stopped, and its temp dir is gone.
    assert running_under(work.group(1)) == []
    assert not os.path.exists(work.group(1))
