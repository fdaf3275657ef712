"""`neutrino server --auth keystone` as a process: both listeners, bootstrap, clean stop."""
import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from tests.identity.conftest import password_body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"{url} did not come up"
            time.sleep(0.05)


def test_keystone_server_process(tmp_path):
    api_port, ks_port = free_port(), free_port()
    env = dict(os.environ, NEUTRINO_BOOTSTRAP_ADMIN_PASSWORD="Proc-Admin-1",
               NEUTRINO_BOOTSTRAP_DEMO_PASSWORD="Proc-Demo-2")
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "neutrino.cli.main", "server", "--auth", "keystone",
             "--bind", f"127.0.0.1:{api_port}", "--identity-bind", f"127.0.0.1:{ks_port}",
             "--state-dir", str(tmp_path / "state"), "--access-log", "--log-level", "debug"],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_up(f"http://127.0.0.1:{ks_port}/v3", proc)
        wait_up(f"http://127.0.0.1:{api_port}/", proc)
        r = httpx.post(f"http://127.0.0.1:{ks_port}/v3/auth/tokens",
                       json=password_body("demo", "Proc-Demo-2", "demo"))
        assert r.status_code == 201
        network = next(s for s in r.json()["token"]["catalog"] if s["type"] == "network")
        assert network["endpoints"][0]["url"] == f"http://127.0.0.1:{api_port}"
        token = r.headers["X-Subject-Token"]
        r = httpx.get(f"http://127.0.0.1:{api_port}/v2.0/networks",
                      headers={"X-Auth-Token": token})
        assert r.status_code == 200 and r.json() == {"networks": []}
        assert httpx.get(f"http://127.0.0.1:{api_port}/v2.0/networks").status_code == 401
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "Proc-Admin-1" not in text and "Proc-Demo-2" not in text
    assert "POST /v3/auth/tokens" in text
    for port in (api_port, ks_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0
