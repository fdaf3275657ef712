import os
import shutil
import subprocess
import tempfile
import time

import pytest


@pytest.fixture
def redis_url():
    """A redis-server on a unix socket in a private temp dir, as the lab runs it."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    tmpdir = tempfile.mkdtemp(prefix="neutrino-l3-redis-")
    sock = os.path.join(tmpdir, "redis.sock")
    server = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                               "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert server.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.01)
        yield f"redis+socket://{sock}"
    finally:
        server.kill()
        server.wait(5)
        shutil.rmtree(tmpdir, ignore_errors=True)
