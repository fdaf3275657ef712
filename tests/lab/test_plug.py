"""The hybrid plug's grouping of add-ports (no OVS needed: the OVSDB transaction faked)."""
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from neutrino.errors import CommandFailed, NeutrinoError
from neutrino.lab import plug
from neutrino.linux.ovsdb_transact import NewPort


@pytest.fixture
def vsctl(monkeypatch):
    """Records each add-port transaction; the first one waits until ``release``."""
    calls, release = [], threading.Event()
    entered = threading.Event()

    def fake(sock, bridge, new_ports, timeout=10):
        calls.append((os.path.dirname(sock), tuple(p.name for p in new_ports)))
        if len(calls) == 1:
            entered.set()
            assert release.wait(5)
        if any(p.name == "bad" for p in new_ports):
            raise NeutrinoError("OVSDB: cannot add bad")
    monkeypatch.setattr(plug.ovsdb_transact, "add_ports", fake)
    return calls, release, entered


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def ports(*names):
    return [NewPort(name, {"iface-id": name}) for name in names]


def test_add_ports_queued_meanwhile_go_in_one_transaction(vsctl):
    calls, release, entered = vsctl
    adder = plug._PortAdder()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(adder.add, "/run/a", ports("qvo1")[0])
        assert entered.wait(5)
        later = [pool.submit(adder.add, "/run/a", p) for p in ports("qvo2", "qvo3")]
        other = pool.submit(adder.add, "/run/b", ports("qvo9")[0])
        other.result(timeout=5)               # another node does not wait
        wait_until(lambda: len(adder._pending.get("/run/a") or []) == 2)
        release.set()
        for f in [first, *later]:
            f.result(timeout=5)
    node_a = [args for rundir, args in calls if rundir == "/run/a"]
    assert node_a == [("qvo1",), ("qvo2", "qvo3")]


def test_a_failed_batch_gives_each_plug_its_own_result(vsctl):
    calls, release, entered = vsctl
    release.set()
    adder = plug._PortAdder()
    adder._pending["/run/a"] = []             # a batch is being run: these queue up
    results = {}

    def add(name):
        try:
            adder.add("/run/a", ports(name)[0])
            results[name] = "ok"
        except NeutrinoError as exc:
            results[name] = str(exc)
    threads = [threading.Thread(target=add, args=(n,)) for n in ("qvo1", "bad")]
    for t in threads:
        t.start()
    wait_until(lambda: len(adder._pending["/run/a"]) == 2)
    threading.Thread(target=adder._run, args=("/run/a",)).start()
    for t in threads:
        t.join(5)
    assert results == {"qvo1": "ok", "bad": "OVSDB: cannot add bad"}
    assert len(calls) == 3                    # the batch, then one each


def test_a_failed_plug_is_one_line(monkeypatch):
    def fails(cmd, netns=None, **kwargs):
        raise CommandFailed(cmd, 2, 'RTNETLINK answers: File exists\nCommand failed -:2\n', netns)
    monkeypatch.setattr(plug.ip.proc, "run", fails)
    monkeypatch.setattr(plug.ip, "netns_exists", lambda name: True)
    names = plug.VifNames.for_port("0123456789abcdef")
    with pytest.raises(NeutrinoError) as err:
        plug._node_devices(names, "nlab-x-compute01", 1450, "fa:16:3e:00:00:01", "nlab-x-vm-a")
    assert str(err.value) == ("hybrid plug of tap0123456789a in nlab-x-compute01: ip link add "
                              "qvb0123456789a mtu 1450 type veth peer name qvo0123456789a mtu 1450"
                              " in netns nlab-x-compute01: RTNETLINK answers: File exists")
