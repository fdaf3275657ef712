"""dnsmasq's death watch (any process will do: it watches pids) and its reload."""
import os
import secrets
import subprocess
import sys
import threading
import time

import pytest

from neutrino.linux import dnsmasq, ip
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


@pytest.fixture
def served(tmp_path):
    """A real dnsmasq serving DHCP on a veth in a namespace of its own."""
    ns = f"nt-dnsm-{secrets.token_hex(3)}"
    hosts = tmp_path / "host"
    hosts.write_text("fa:16:3e:00:00:01,host-10-77-0-5,10.77.0.5\n")
    tmp_path.chmod(0o755)
    pid_file = tmp_path / "pid"
    try:
        ip.netns_add(ns)
        ip.veth_add("d0", "d1", netns=ns)
        ip.addr_add("d0", "10.77.0.2/24", netns=ns)
        ip.set_up("d0", netns=ns)
        started = time.monotonic()
        pid = dnsmasq.start(["dnsmasq", "--no-hosts", "--no-resolv", "--port=0",
                             "--interface=d0", "--bind-interfaces", "--user=root",
                             "--dhcp-range=10.77.0.0,static,255.255.255.0",
                             f"--dhcp-hostsfile={hosts}", f"--pid-file={pid_file}",
                             f"--dhcp-leasefile={tmp_path / 'leases'}"], netns=ns,
                            reread=[str(hosts)], timeout=5)
        assert time.monotonic() - started < 4          # it read its hosts: no wait for the timeout
        yield pid, hosts
    finally:
        dnsmasq.stop(str(pid_file))
        ip.netns_delete(ns)


@pytest.mark.dataplane
def test_a_reload_returns_once_dnsmasq_has_read_the_new_hosts(served):
    pid, hosts = served
    tmp = hosts.with_suffix(".tmp")
    tmp.write_text("fa:16:3e:00:00:02,host-10-77-0-6,10.77.0.6\n")
    os.replace(tmp, hosts)
    assert dnsmasq.reload(pid, reread=[str(hosts)], timeout=5) is True


def test_a_reload_not_followed_by_a_read_gives_up_after_its_timeout(tmp_path):
    unread = tmp_path / "host"
    unread.write_text("")
    deaf = subprocess.Popen([sys.executable, "-c",
                             "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN);"
                             " print(flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        deaf.stdout.readline()                     # SIGHUP is ignored from now on
        started = time.monotonic()
        assert dnsmasq.reload(deaf.pid, reread=[str(unread)], timeout=0.3) is False
        assert time.monotonic() - started >= 0.3
    finally:
        deaf.kill()
        deaf.wait()
