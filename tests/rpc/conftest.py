"""Brokers for the messaging tests: an in-process one and a real redis-server."""
import os
import shutil
import threading
import subprocess
import tempfile
import time
import uuid

import pytest
import redis


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


class CommandLog:
    """Records the commands redis-server runs (MONITOR) between two markers."""

    def __init__(self, sock: str):
        self._client = redis.Redis(unix_socket_path=sock)
        self._monitor = self._client.monitor().__enter__()
        self._done = f"done-{uuid.uuid4().hex}"
        self.commands: list[str] = []
        started = f"started-{uuid.uuid4().hex}"
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(started,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._started.wait(0.05):
            assert time.monotonic() < deadline, "MONITOR never saw its start marker"
            self._client.echo(started)

    def _read(self, started: str) -> None:
        while True:
            command = self._monitor.next_command()["command"]
            if started in command:
                self._started.set()
            elif self._done in command:
                return
            elif self._started.is_set():
                self.commands.append(command.split(" ", 1)[0].upper())

    def stop(self) -> list[str]:
        if self._client is None:
            return self.commands
        self._client.echo(self._done)
        self._thread.join(10)
        self._monitor.__exit__(None, None, None)
        self._client.close()
        self._client = None
        return self.commands


@pytest.fixture
def redis_commands(redis_server):
    """``redis_commands()`` starts a CommandLog on the test's redis; ``.stop()`` returns it."""
    logs = []

    def start() -> CommandLog:
        logs.append(CommandLog(redis_server.sock))
        return logs[-1]

    yield start
    for log in logs:
        log.stop()
