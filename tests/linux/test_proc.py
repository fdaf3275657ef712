import os
import time

import pytest

from neutrino.errors import CommandFailed, NeutrinoError
from neutrino.linux import proc


def test_run_returns_output_and_code():
    res = proc.run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (res.rc, res.out, res.err) == (3, "out\n", "err\n")


def test_run_check_raises_with_stderr():
    with pytest.raises(CommandFailed) as info:
        proc.run(["sh", "-c", "echo boom >&2; exit 2"])
    assert info.value.returncode == 2
    assert "boom" in str(info.value)


def test_run_feeds_input():
    assert proc.run(["cat"], input="hello").out == "hello"


def test_run_missing_program_and_timeout():
    with pytest.raises(NeutrinoError, match="not found"):
        proc.run(["no-such-program-neutrino"])
    with pytest.raises(NeutrinoError, match="timed out"):
        proc.run(["sleep", "5"], timeout=0.2)


def test_run_in_missing_netns_says_so():
    with pytest.raises(CommandFailed, match="no network namespace"):
        proc.run(["true"], netns="neutrino-missing-ns-xyz")


def test_in_netns_prefix():
    assert proc.in_netns(["ip", "a"], None) == ["ip", "a"]
    assert proc.in_netns(["ip", "a"], "n1") == ["nsenter", "--net=/run/netns/n1", "--", "ip", "a"]


def test_spawn_detaches_and_logs(tmp_path):
    log = tmp_path / "d.log"
    pid = proc.spawn(["sh", "-c", 'echo "$FOO"; echo started; exec sleep 30'],
                     log_path=str(log), env={"FOO": "bar"})
    try:
        assert proc.pid_alive(pid)
        assert os.getsid(pid) == pid          # own session
        deadline = time.monotonic() + 5
        while "started" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert log.read_text() == "bar\nstarted\n"
    finally:
        assert proc.kill_and_wait(pid)
    assert not proc.pid_alive(pid)


def test_kill_and_wait_escalates_to_sigkill(tmp_path):
    log = tmp_path / "log"
    pid = proc.spawn(["python3", "-c",
                      "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                      "print('ready', flush=True); time.sleep(60)"], log_path=str(log))
    deadline = time.monotonic() + 10
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    assert proc.kill_and_wait(pid, timeout=0.3)
    assert 0.25 < time.monotonic() - start < 3
    assert not proc.pid_alive(pid)


def test_pid_alive_false_for_dead_and_bogus():
    pid = proc.spawn(["true"])
    assert proc.wait_exit(pid, 5)
    assert not proc.pid_alive(pid)
    assert not proc.pid_alive(0)
    assert not proc.pid_alive(2 ** 22 + 7)
