"""dnsmasq processes: start (daemonised, as Neutron runs it), reload, stop, watch.

dnsmasq forks into the background and its parent exits only once the daemon
is set up, so ``start`` returns with the daemon ready (or with its error) and
reads the pid from ``--pid-file``. ``DeathWatcher`` waits on pidfds and calls
back the moment a watched dnsmasq exits: no polling.
"""
from __future__ import annotations

import logging
import os
import select
import signal
import struct
import threading
import time
from typing import Callable, Hashable

from neutrino.errors import NeutrinoError
from neutrino.linux import libc, proc

LOG = logging.getLogger(__name__)


def pid_file_of(cmdline: list[str] | tuple[str, ...]) -> str:
    for arg in cmdline:
        if arg.startswith("--pid-file="):
            return arg.split("=", 1)[1]
    raise NeutrinoError("dnsmasq command line has no --pid-file")


def read_pid(pid_file: str) -> int | None:
    try:
        with open(pid_file) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def cmdline_of(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def running_pid(pid_file: str) -> int | None:
    """Pid of the live dnsmasq that wrote ``pid_file`` (None if gone or recycled)."""
    pid = read_pid(pid_file)
    if not pid or not proc.pid_alive(pid):
        return None
    args = cmdline_of(pid)
    if not args or os.path.basename(args[0]) != "dnsmasq" or f"--pid-file={pid_file}" not in args:
        return None
    return pid


def start(cmdline: list[str] | tuple[str, ...], netns: str | None = None,
          reread: list[str] | tuple[str, ...] = (), timeout: float = 1.0) -> int:
    """Run dnsmasq (it daemonises itself) and return the daemon's pid; with
    ``reread``, once it has read each of those files too (see ``reload``)."""
    pid_file = pid_file_of(cmdline)
    try:
        os.unlink(pid_file)
    except FileNotFoundError:
        pass
    with _CloseWatch(reread) as watch:
        proc.run(list(cmdline), netns=netns, timeout=15)
        pid = running_pid(pid_file)
        if pid is None:
            raise NeutrinoError(f"dnsmasq did not stay up (pid file {pid_file})")
        if not watch.wait(timeout):
            LOG.warning("dnsmasq %s started without reading %s within %g s", pid,
                        ", ".join(map(os.path.basename, reread)), timeout)
    return pid


def reload(pid: int, reread: list[str] | tuple[str, ...] = (), timeout: float = 1.0) -> bool:
    """SIGHUP: dnsmasq re-reads its host, addn-hosts and opts files.

    With ``reread`` (files it re-reads on SIGHUP), returns once dnsmasq has
    read each of them, seen by inotify as it closes a file it only read, or
    after ``timeout`` (then False). dnsmasq is single-threaded and updates its
    hosts right after reading, so a request it takes from then on sees them:
    the DHCP agent says a port is ready only then. (Said at the signal, a
    client quick enough met the old hosts, got no offer and waited a second
    for its retry.)
    """
    with _CloseWatch(reread) as watch:
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            raise NeutrinoError(f"dnsmasq {pid} is gone") from None
        return watch.wait(timeout)


IN_CLOSE_NOWRITE = 0x10
_EVENT = struct.Struct("iIII")        # struct inotify_event, before its name


class _CloseWatch:
    """inotify on files, for the close of a read-only open of each (a
    context manager; with no files it opens nothing and waits for nothing)."""

    def __init__(self, paths):
        self.fd = -1
        self.pending: set[int] = set()
        if not paths:
            return
        lib = libc.libc()
        self.fd = lib.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise NeutrinoError(f"inotify: {os.strerror(libc.errno())}")
        for path in paths:
            wd = lib.inotify_add_watch(self.fd, os.fsencode(path), IN_CLOSE_NOWRITE)
            if wd < 0:
                self.close()
                raise NeutrinoError(f"inotify on {path}: {os.strerror(libc.errno())}")
            self.pending.add(wd)

    def wait(self, timeout: float) -> bool:
        """True once every file was read (at once when there are none)."""
        if not self.pending:
            return True
        deadline = time.monotonic() + timeout
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return False
            data = os.read(self.fd, 4096)
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                if mask & IN_CLOSE_NOWRITE:
                    self.pending.discard(wd)
                offset += _EVENT.size + length
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "_CloseWatch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stop(pid_file: str) -> None:
    pid = running_pid(pid_file)
    if pid is not None:
        proc.kill_and_wait(pid)


class DeathWatcher:
    """Calls ``on_death(key)`` on its own thread when a watched pid exits.

    A pidfd given up by ``watch`` or ``unwatch`` is closed by the watching
    thread, between two polls: closed by the caller while a poll had it, its
    number could be reused at once by a new pidfd or socket, and that one's
    readiness taken for the death of whatever the number then stood for.
    """

    def __init__(self, on_death: Callable[[Hashable], None]):
        self._on_death = on_death
        self._lock = threading.Lock()
        self._fds: dict[int, tuple[Hashable, int]] = {}     # fd -> (key, pid)
        self._by_key: dict[Hashable, int] = {}
        self._retired: list[int] = []      # fds to close before the next poll
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="dnsmasq-watch")
        self._thread.start()

    def watch(self, key: Hashable, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._on_death(key)
            return
        with self._lock:
            old = self._by_key.pop(key, None)
            if old is not None:
                self._fds.pop(old, None)
                self._retired.append(old)
            self._fds[fd] = (key, pid)
            self._by_key[key] = fd
        os.write(self._wake_w, b"x")

    def unwatch(self, key: Hashable) -> None:
        with self._lock:
            fd = self._by_key.pop(key, None)
            if fd is not None:
                self._fds.pop(fd, None)
                self._retired.append(fd)
        os.write(self._wake_w, b"x")

    def stop(self) -> None:
        self._stopped = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        with self._lock:
            for fd in [*self._fds, *self._retired]:
                os.close(fd)
            self._fds.clear()
            self._by_key.clear()
            self._retired.clear()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _run(self) -> None:
        while not self._stopped:
            poller = select.poll()
            poller.register(self._wake_r, select.POLLIN)
            with self._lock:
                for fd in self._retired:
                    os.close(fd)
                self._retired.clear()
                for fd in self._fds:
                    poller.register(fd, select.POLLIN)
            dead = []
            for fd, _ in poller.poll():
                if fd == self._wake_r:
                    os.read(self._wake_r, 4096)
                    continue
                with self._lock:
                    entry = self._fds.pop(fd, None)
                    if entry is not None:
                        self._by_key.pop(entry[0], None)
                        os.close(fd)
                if entry is not None:
                    dead.append(entry)
            for key, pid in dead:
                LOG.warning("dnsmasq %s (pid %s) exited", key, pid)
                try:
                    self._on_death(key)
                except Exception:
                    LOG.exception("dnsmasq death handler failed")
