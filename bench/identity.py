"""Benchmark of the identity service: token issue and token validation.

    bench/identity.py [--count N]

Starts a temporary ``neutrino server --auth keystone`` (free ports, temporary
SQLite database, bootstrap admin/demo) and measures over HTTP:
  * POST /v3/auth/tokens (password, project scope by name): what every
    ``openstack`` command does first; dominated by the scrypt password check;
  * GET /v3/auth/tokens (explicit validation by the identity API);
  * GET /v2.0/networks with X-Auth-Token (validation inside the Networking API,
    first request per token and repeated requests).
Prints count, p50 and p99 in milliseconds.
"""
import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def wait_up(url: str, proc: subprocess.Popen, deadline: float) -> None:
    while True:
        if proc.poll() is not None:
            sys.exit(f"bench: neutrino server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                sys.exit(f"bench: {url} did not come up")
            time.sleep(0.05)


def timed(count: int, op) -> list[float]:
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        op(i)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    count = parser.parse_args().count
    password = secrets.token_urlsafe(12)
    api_port, ks_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as state:
        env = dict(os.environ, NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD=password,
                   NEUTRINO_BOOTSTRAP_DEMO_PASSWORD=password)
        proc = subprocess.Popen(
            [sys.executable, "-m", "neutrino.cli.main", "server", "--auth", "keystone",
             "--bind", f"127.0.0.1:{api_port}", "--identity-bind", f"127.0.0.1:{ks_port}",
             "--state-dir", state, "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            wait_up(f"http://127.0.0.1:{ks_port}/v3", proc, deadline)
            wait_up(f"http://127.0.0.1:{api_port}/", proc, deadline)
            run(f"http://127.0.0.1:{ks_port}", f"http://127.0.0.1:{api_port}", password, count)
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def run(keystone: str, network: str, password: str, count: int) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": "demo", "domain": {"name": "Default"}}}}}
    rows = []
    with httpx.Client(base_url=keystone, timeout=60) as ks, \
            httpx.Client(base_url=network, timeout=60) as api:
        tokens = []

        def issue(_i):
            r = ks.post("/v3/auth/tokens", json=body)
            assert r.status_code == 201, r.text
            tokens.append(r.headers["X-Subject-Token"])
        rows.append(("POST /v3/auth/tokens", timed(count, issue)))
        admin = tokens[0]

        def validate(i):
            r = ks.get("/v3/auth/tokens", headers={"X-Auth-Token": admin,
                                                   "X-Subject-Token": tokens[i]})
            assert r.status_code == 200, r.text
        rows.append(("GET /v3/auth/tokens", timed(count, validate)))

        def first_use(i):
            r = api.get("/v2.0/networks", headers={"X-Auth-Token": tokens[i]})
            assert r.status_code == 200, r.text
        rows.append(("API call, token first seen", timed(count, first_use)))
        rows.append(("API call, token cached", timed(count, first_use)))

        def unauthenticated(_i):
            assert api.get("/v2.0/networks").status_code == 401
        rows.append(("API call, no token (401)", timed(count, unauthenticated)))
    print(f"{'operation':<30}{'count':>7}{'p50 ms':>10}{'p99 ms':>10}")
    for name, times in rows:
        print(f"{name:<30}{len(times):>7}{statistics.median(times) * 1000:>10.2f}"
              f"{percentile(times, 99) * 1000:>10.2f}")


if __name__ == "__main__":
    main()
