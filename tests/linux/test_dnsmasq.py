"""dnsmasq's death watch (any process will do: it watches pids)."""
import subprocess
import threading

from neutrino.linux.dnsmasq import DeathWatcher


def sleeper() -> subprocess.Popen:
    return subprocess.Popen(["sleep", "60"])


def test_a_death_is_reported_once_and_a_replaced_or_unwatched_pid_not_at_all():
    deaths, seen = [], threading.Event()

    def on_death(key):
        deaths.append(key)
        seen.set()
    watcher = DeathWatcher(on_death)
    procs = [sleeper() for _ in range(4)]
    try:
        first, second, other, last = procs
        for _ in range(50):             # fds given up and reused while the watcher polls
            watcher.watch("net-a", first.pid)
            watcher.watch("net-a", second.pid)
            watcher.watch("net-b", other.pid)
            watcher.unwatch("net-b")
        watcher.watch("net-c", last.pid)
        first.kill()
        first.wait()
        other.kill()
        other.wait()
        last.kill()
        last.wait()
        assert seen.wait(5)
        seen.clear()
        assert not seen.wait(0.3)           # no second report, none for first or other
        assert deaths == ["net-c"]
        second.kill()
        second.wait()
        assert seen.wait(5)
        assert deaths == ["net-c", "net-a"]
    finally:
        watcher.stop()
        for p in procs:
            p.kill()
            p.wait()
