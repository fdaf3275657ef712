"""Benchmark: the seed's scenario through the real `openstack` CLI, and Neutrino's share of it.

    bench/clients.py [--rounds N]

Runs ../shared/clients/cli-smoke.sh (the seed's scenario: networks, subnets,
router, ports, floating IP, security group; list, show, delete) against a
temporary ``neutrino server --auth keystone``. Every `openstack` call goes
through a wrapper that adds ``--timing`` (keystoneauth's record of each HTTP
request, the token request included), strips that table from the output the
script parses, and logs the call's wall time and its HTTP time. Prints the
scenario's wall time, the calls' wall time, and how much of it was spent
waiting for Neutrino (Keystone + Networking API) versus the client itself
(interpreter start-up, imports, plugin loading). Needs the clients venv that
``make test`` builds (tests/clients, default /var/cache/neutrino/clients-venv).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HARNESS = Path(os.environ.get("NEUTRINO_CLIENTS_HARNESS", HERE.parents[1] / "shared" / "clients"))
VENV_ROOT = Path(os.environ.get("NEUTRINO_CLIENTS_VENV_ROOT", "/var/cache/neutrino"))
TOTAL = re.compile(r'^(?:\|\s*Total\s*\||"Total",)\s*([0-9.]+)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split_timing(out: str) -> tuple[str, float | None]:
    """The command's own output, and the Total seconds of the --timing report
    after it: a blank line, then a table (``| URL | Seconds |``) or, when the
    command asked for -f json/value/yaml/shell, CSV (``"URL","Seconds"``)."""
    lines = out.splitlines(keepends=True)
    for i in range(len(lines) - 1, 0, -1):
        csv = lines[i].startswith('"URL","Seconds"')
        table = lines[i].startswith("| URL") and lines[i - 1].startswith("+")
        if csv or table:
            start = i if csv else i - 1
            if start and not lines[start - 1].strip():
                start -= 1
            total = next((float(m.group(1)) for m in map(TOTAL.match, lines[i:]) if m), None)
            return "".join(lines[:start]), total
    return out, None


def wrap(real: str, log: str, args: list[str]) -> int:
    """Act as `openstack`: run the real one with --timing, log wall and HTTP time."""
    t0 = time.monotonic()
    done = subprocess.run([real, "--timing", *args], capture_output=True, text=True)
    wall = time.monotonic() - t0
    out, http = split_timing(done.stdout)
    sys.stdout.write(out)
    sys.stderr.write(done.stderr)
    with open(log, "a") as f:
        f.write(json.dumps({"args": args[:3], "wall": wall, "http": http,
                            "rc": done.returncode}) + "\n")
    return done.returncode


def wait_up(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            sys.exit(f"bench: neutrino server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                sys.exit(f"bench: nothing listens on port {port}")
            time.sleep(0.05)


def one_round(osc: Path, workdir: Path, round_no: int) -> dict:
    password = secrets.token_urlsafe(12)
    api_port, ks_port = free_port(), free_port()
    state = workdir / f"state{round_no}"
    log = workdir / f"calls{round_no}.jsonl"
    wrapper = workdir / "openstack"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} --wrap "
                       f"{osc} {log} -- \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD=password,
               NEUTRINO_BOOTSTRAP_DEMO_PASSWORD=password)
    server = subprocess.Popen(
        [sys.executable, "-m", "neutrino.cli.main", "server", "--auth", "keystone",
         "--bind", f"127.0.0.1:{api_port}", "--identity-bind", f"127.0.0.1:{ks_port}",
         "--state-dir", str(state), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        wait_up(ks_port, server, deadline)
        wait_up(api_port, server, deadline)
        t0 = time.monotonic()
        smoke = subprocess.run(
            ["bash", str(HARNESS / "cli-smoke.sh"), f"http://127.0.0.1:{ks_port}/v3"],
            env=dict(os.environ, OSC=str(wrapper), SMOKE_ADMIN_PASSWORD=password,
                     SMOKE_USER="demo", SMOKE_PASSWORD=password, SMOKE_PROJECT="demo"),
            capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - t0
    finally:
        server.terminate()
        server.wait(timeout=15)
    last = (smoke.stdout.strip().splitlines() or ["?"])[-1]
    if smoke.returncode != 0:
        fails = [line for line in smoke.stdout.splitlines() if line.startswith("FAIL")]
        sys.exit(f"bench: cli-smoke.sh failed ({last})\n" + "\n".join(fails[:5]))
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return {"wall": wall, "result": last, "calls": calls}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--wrap"]:
        return wrap(argv[1], argv[2], argv[4:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    rounds = parser.parse_args(argv).rounds
    osc = VENV_ROOT / "clients-venv" / "bin" / "openstack"
    if not osc.exists() or not (HARNESS / "cli-smoke.sh").exists():
        print(f"bench: needs {osc} (built by `make test`) and {HARNESS}/cli-smoke.sh",
              file=sys.stderr)
        return 2
    print(f"the seed's scenario through the real openstack CLI (cli-smoke.sh), load "
          f"{os.getloadavg()[0]:.1f}:")
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp:
        for n in range(rounds):
            r = one_round(osc, Path(tmp), n)
            calls = r["calls"]
            in_calls = sum(c["wall"] for c in calls)
            http = sum(c["http"] or 0.0 for c in calls)
            untimed = sum(1 for c in calls if c["http"] is None)
            print(f"  round {n + 1}: {r['result']}; scenario {r['wall']:.1f} s wall, "
                  f"{len(calls)} openstack calls taking {in_calls:.1f} s")
            print(f"    waiting for Neutrino (Keystone + API, every HTTP request): {http:.2f} s "
                  f"= {100 * http / in_calls:.1f} % of the calls' time, "
                  f"{1000 * http / len(calls):.0f} ms per call"
                  + (f" ({untimed} calls printed no timing)" if untimed else ""))
            print(f"    the client itself (start-up, imports, plugins): {in_calls - http:.1f} s, "
                  f"{1000 * (in_calls - http) / len(calls):.0f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
