"""`neutrino server`: argument errors are one line; the server serves and stops cleanly."""
import os
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest

from neutrino.cli import server
from neutrino.errors import NeutrinoError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("argv,words", [
    (["--bind", "nowhere"], "--bind"),
    (["--bind", "127.0.0.1:99999"], "--bind"),
    (["--vni-ranges", "9:1"], "VNI range"),
    (["--db", "nosuchdb://x"], "database"),
])
def test_bad_arguments(tmp_path, argv, words):
    with pytest.raises(NeutrinoError, match=words):
        server.main(["--state-dir", str(tmp_path), "--bind", f"127.0.0.1:{free_port()}",
                     "--auth", "noauth"] + argv)


def test_port_in_use(tmp_path):
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        with pytest.raises(NeutrinoError, match="cannot listen"):
            server.main(["--state-dir", str(tmp_path), "--bind", f"127.0.0.1:{port}",
                         "--auth", "noauth"])


def test_cli_prints_one_line_and_fails(tmp_path):
    r = subprocess.run([sys.executable, "-m", "neutrino.cli.main", "server", "--bind", "x",
                        "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "--bind" in r.stderr


def test_server_serves_with_default_sqlite(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "neutrino.cli.main", "server", "--bind",
                             f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state"),
                             "--auth", "noauth", "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                r = httpx.post(f"http://127.0.0.1:{port}/v2.0/networks",
                               json={"network": {"name": "n"}}, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not answer"
                time.sleep(0.05)
        assert r.status_code == 201
        assert (tmp_path / "state" / "neutrino.db").exists()
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) in (0, -15)  # uvicorn re-raises SIGTERM after shutdown


def test_identity_is_on_by_default_with_a_generated_admin_password(tmp_path):
    """Without --auth the server requires tokens; a first start with no account
    makes `admin` a random password kept in the state directory (0600)."""
    port, identity = free_port(), free_port()
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEUTRINO_BOOTSTRAP")}
    proc = subprocess.Popen([sys.executable, "-m", "neutrino.cli.main", "server", "--bind",
                             f"127.0.0.1:{port}", "--identity-bind", f"127.0.0.1:{identity}",
                             "--state-dir", str(state), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v2.0/networks", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not answer"
                time.sleep(0.05)
        assert r.status_code == 401
        secret = state / "admin-password"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        password = secret.read_text().strip()
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "password": password, "domain": {"id": "default"}}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        t = httpx.post(f"http://127.0.0.1:{identity}/v3/auth/tokens", json=body, timeout=10)
        assert t.status_code == 201, t.text
        r = httpx.get(f"http://127.0.0.1:{port}/v2.0/networks", timeout=5,
                      headers={"X-Auth-Token": t.headers["X-Subject-Token"]})
        assert r.status_code == 200
    finally:
        proc.terminate()
        err = proc.communicate(timeout=15)[1].decode()
    assert password not in err
