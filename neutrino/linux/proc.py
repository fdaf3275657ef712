"""Running commands and daemons, optionally inside a network namespace.

``netns`` is a name in the current ``/run/netns`` view (inside a lab node that
is the node's own view). Commands enter it with ``nsenter --net`` rather than
``ip netns exec``: no extra mount namespace and no /sys remount per call.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
from dataclasses import dataclass

from neutrino.errors import CommandFailed, NeutrinoError

NETNS_DIR = "/run/netns"


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str


def in_netns(cmd: list[str], netns: str | None) -> list[str]:
    """``cmd`` prefixed so that it runs in network namespace ``netns``."""
    if not netns:
        return list(cmd)
    return ["nsenter", f"--net={NETNS_DIR}/{netns}", "--", *cmd]


def run(cmd: list[str], netns: str | None = None, check: bool = True,
        input: str | None = None, timeout: float = 30) -> Result:
    """Run ``cmd`` to completion and return its exit code and output.

    Raises CommandFailed when ``check`` and the exit code is not 0, and
    NeutrinoError when the program is missing or the timeout passes.
    """
    full = in_netns(cmd, netns)
    try:
        done = subprocess.run(full, input=input, capture_output=True, text=True,
                              timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise NeutrinoError(f"{full[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise NeutrinoError(f"{' '.join(cmd)} timed out after {timeout} s") from None
    if netns and done.returncode != 0 and not os.path.exists(f"{NETNS_DIR}/{netns}"):
        raise CommandFailed(cmd, done.returncode, f"no network namespace {netns!r}", netns)
    if check and done.returncode != 0:
        raise CommandFailed(cmd, done.returncode, done.stderr, netns)
    return Result(done.returncode, done.stdout, done.stderr)


def spawn(cmd: list[str], log_path: str | None = None, env: dict | None = None,
          netns: str | None = None) -> int:
    """Start ``cmd`` as a detached daemon in its own session; return its pid.

    stdout and stderr go to ``log_path`` (appended) or /dev/null. ``env`` is
    added to the current environment.
    """
    full = in_netns(cmd, netns)
    environ = dict(os.environ, **(env or {}))
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    try:
        child = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=environ,
                                 start_new_session=True, close_fds=True)
    except FileNotFoundError:
        raise NeutrinoError(f"{full[0]}: command not found") from None
    finally:
        if log_path:
            out.close()
    _children[child.pid] = child
    return child.pid


_children: dict[int, subprocess.Popen] = {}


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie counts as dead)."""
    if pid <= 0:
        return False
    _reap(pid)
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_exit(pid: int, timeout: float) -> bool:
    """Block until ``pid`` exits (via a pidfd, no polling); True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(0, int(timeout * 1000)))
    finally:
        os.close(fd)
    return not pid_alive(pid)


def kill_and_wait(pid: int, timeout: float = 5) -> bool:
    """SIGTERM ``pid``, SIGKILL it if it outlives ``timeout``; True once gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        if not pid_alive(pid):
            return True
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        if wait_exit(pid, wait):
            return True
    return not pid_alive(pid)
