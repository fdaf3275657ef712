"""Brokers for the messaging tests: an in-process one and a real redis-server."""
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest


class RedisServer:
    """redis-server on a unix socket in a temp dir, as the lab runs it."""

    def __init__(self, tmpdir: str):
        self.sock = os.path.join(tmpdir, "redis.sock")
        self.url = f"redis+socket://{self.sock}"
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.sock, "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if os.path.exists(self.sock):
            os.unlink(self.sock)


@pytest.fixture(scope="module")
def redis_server():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    tmpdir = tempfile.mkdtemp(prefix="neutrino-rpc-")
    server = RedisServer(tmpdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.fixture(params=["memory", "redis"])
def url(request):
    if request.param == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    return request.getfixturevalue("redis_server").url
