"""`neutrino server`: argument errors are one line; the server serves and stops cleanly."""
import socket
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
        server.main(["--state-dir", str(tmp_path), "--bind", f"127.0.0.1:{free_port()}"] + argv)


def test_port_in_use(tmp_path):
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        with pytest.raises(NeutrinoError, match="cannot listen"):
            server.main(["--state-dir", str(tmp_path), "--bind", f"127.0.0.1:{port}"])


def test_cli_prints_one_line_and_fails(tmp_path):
    r = subprocess.run([sys.executable, "-m", "neutrino.cli.main", "server", "--bind", "x",
                        "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0 and "--bind" in r.stderr


def test_server_serves_with_default_sqlite(tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "neutrino.cli.main", "server", "--bind",
                             f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state"),
                             "--log-level", "warning"],
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
