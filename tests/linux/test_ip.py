import os
import secrets
import socket
import threading

import pytest

from neutrino.errors import NeutrinoError
from neutrino.linux import ip, proc


def test_bad_names_rejected_without_touching_the_system():
    with pytest.raises(NeutrinoError, match="bad device name"):
        ip.veth_add("x" * 16, "y")
    with pytest.raises(NeutrinoError, match="bad network namespace"):
        ip.netns_add("a/b")
    with pytest.raises(NeutrinoError, match="prefix length"):
        ip.addr_add("lo", "10.0.0.1")
    with pytest.raises(NeutrinoError, match="no network namespace"):
        ip.link_exists("lo", netns="neutrino-missing-" + secrets.token_hex(3))


@pytest.fixture
def two_ns():
    names = [f"nt-ip-{secrets.token_hex(3)}-{i}" for i in (1, 2)]
    try:
        for n in names:
            ip.netns_add(n)
        yield names
    finally:
        for n in names:
            ip.netns_delete(n)


@pytest.mark.dataplane
def test_netns_lifecycle():
    name = f"nt-ip-{secrets.token_hex(3)}"
    try:
        ip.netns_add(name)
        assert ip.netns_exists(name) and name in ip.netns_list()
        assert ip.link_info("lo", netns=name)["up"]
        with pytest.raises(NeutrinoError, match="exists"):
            ip.netns_add(name)
    finally:
        ip.netns_delete(name)
    assert not ip.netns_exists(name)
    ip.netns_delete(name)                      # idempotent


@pytest.mark.dataplane
def test_veth_bridge_addr_route(two_ns):
    a, b = two_ns
    ip.veth_add("nt-a", "nt-b", netns=a, peer_netns=b, mtu=1450)
    assert ip.link_exists("nt-a", netns=a) and not ip.link_exists("nt-b", netns=a)
    assert ip.link_info("nt-b", netns=b)["mtu"] == ip.link_info("nt-a", netns=a)["mtu"] == 1450
    ip.bridge_add("nt-br", netns=a)
    ip.link_set("nt-a", netns=a, master="nt-br", up=True)
    ip.link_set("nt-br", netns=a, up=True, mac="fa:16:3e:00:00:01", mtu=1400)
    info = ip.link_info("nt-a", netns=a)
    assert info["master"] == "nt-br" and info["up"] and info["kind"] == "veth"
    assert ip.link_info("nt-br", netns=a)["mac"] == "fa:16:3e:00:00:01"
    ip.link_set("nt-a", netns=a, master="")
    assert ip.link_info("nt-a", netns=a)["master"] is None

    ip.link_set("nt-b", netns=b, up=True)
    ip.addr_add("nt-b", "10.77.0.2/24", netns=b)
    ip.addr_add("nt-b", "10.77.0.2/24", netns=b)
    assert "10.77.0.2/24" in ip.addr_list("nt-b", netns=b)
    ip.route_add("default", gateway="10.77.0.1", netns=b)
    ip.route_add("10.99.0.0/16", dev="nt-b", netns=b)
    routes = ip.route_list(netns=b)
    assert {"dst": "default", "gateway": "10.77.0.1", "dev": "nt-b"} in routes
    assert {"dst": "10.99.0.0/16", "gateway": None, "dev": "nt-b"} in routes
    assert not any(r["dev"] == "nt-b" for r in ip.route_list())

    ip.link_delete("nt-a", netns=a)
    assert not ip.link_exists("nt-b", netns=b)   # the peer dies with it
    ip.link_delete("nt-a", netns=a)              # already gone is fine


@pytest.mark.dataplane
def test_move_sysctl_and_offload(two_ns):
    a, b = two_ns
    ip.veth_add("nt-x", "nt-y", netns=a)
    ip.link_set("nt-y", netns=a, to_netns=b)
    assert ip.link_exists("nt-y", netns=b)
    with pytest.raises(NeutrinoError, match="no network namespace"):
        ip.link_set("nt-x", netns=a, to_netns="neutrino-missing-ns")
    before = open("/proc/sys/net/ipv4/ip_forward").read()
    ip.sysctl("net.ipv4.ip_forward", 1, netns=b)
    assert open("/proc/sys/net/ipv4/ip_forward").read() == before
    from neutrino.linux import proc
    assert proc.run(["cat", "/proc/sys/net/ipv4/ip_forward"], netns=b).out.strip() == "1"
    ip.tx_offload_off("nt-y", netns=b)
    out = proc.run(["ethtool", "-k", "nt-y"], netns=b).out
    assert "tx-checksumming: off" in out


@pytest.mark.dataplane
def test_sysctls_are_written_in_the_namespace_only(two_ns):
    a, b = two_ns
    root = open("/proc/sys/net/ipv4/conf/all/arp_ignore").read().strip()
    fresh = proc.run(["cat", "/proc/sys/net/ipv4/conf/all/arp_ignore"], netns=b).out.strip()
    ip.veth_add("nt-s", "nt-t", netns=a)
    ip.sysctls({"net.ipv6.conf.nt-s.disable_ipv6": 1, "net.ipv4.conf.all.arp_ignore": 1},
               netns=a)
    read = "cat /proc/sys/net/ipv6/conf/nt-s/disable_ipv6 /proc/sys/net/ipv4/conf/all/arp_ignore"
    assert proc.run(["sh", "-c", read], netns=a).out.split() == ["1", "1"]
    assert proc.run(["cat", "/proc/sys/net/ipv4/conf/all/arp_ignore"], netns=b).out.strip() == fresh
    assert open("/proc/sys/net/ipv4/conf/all/arp_ignore").read().strip() == root
    with pytest.raises(NeutrinoError, match="nt-missing"):
        ip.sysctls({"net.ipv6.conf.nt-missing.disable_ipv6": 1}, netns=a)


@pytest.mark.dataplane
def test_tx_offload_off_of_a_missing_device_is_an_error(two_ns):
    a, _ = two_ns
    with pytest.raises(NeutrinoError, match="nt-none"):
        ip.tx_offload_off("nt-none", netns=a)


@pytest.mark.dataplane
def test_a_batch_runs_in_its_namespace_and_names_the_line_that_failed(two_ns):
    a, b = two_ns
    ip.batch(["link add nt-b0 type bridge ageing_time 0",
              f"link add nt-v0 mtu 1400 type veth peer name eth0 netns {b} address 02:00:00:00:00:07",
              "link set nt-v0 master nt-b0 up"], netns=a)
    assert ip.link_exists("nt-b0", netns=a) and not ip.link_exists("nt-b0")
    shown = proc.run(["ip", "-o", "link", "show", "nt-v0"], netns=a).out
    assert "master nt-b0" in shown and "mtu 1400" in shown and "state" in shown
    assert "02:00:00:00:00:07" in proc.run(["ip", "-o", "link", "show", "eth0"], netns=b).out
    with pytest.raises(NeutrinoError) as err:
        ip.batch(["link set nt-b0 up", "link add nt-b0 type bridge", "link set nt-v0 down"],
                 netns=a)
    assert str(err.value).startswith(f"ip link add nt-b0 type bridge in netns {a}: ")
    assert "UP" in proc.run(["ip", "-o", "link", "show", "nt-v0"], netns=a).out  # stopped there


@pytest.mark.dataplane
def test_set_up_brings_a_device_up_in_its_namespace(two_ns):
    a, b = two_ns
    ip.veth_add("nt-u", "nt-w", netns=a)
    ip.set_up("nt-u", netns=a)
    flags = proc.run(["ip", "-o", "link", "show", "nt-u"], netns=a).out.split("<")[1].split(">")[0]
    assert "UP" in flags.split(",")
    with pytest.raises(NeutrinoError, match="nt-u"):
        ip.set_up("nt-u", netns=b)


@pytest.mark.dataplane
def test_a_socket_made_in_a_namespace_stays_there(two_ns):
    a, b = two_ns
    ip.veth_add("nt-s", "nt-t", netns=a)
    ip.addr_add("nt-s", "10.254.7.1/24", netns=a)
    with ip.socket_in(a, socket.AF_INET, socket.SOCK_DGRAM) as inside:
        inside.bind(("10.254.7.1", 0))              # the address exists in a only
    with ip.socket_in(b, socket.AF_INET, socket.SOCK_DGRAM) as other:
        with pytest.raises(OSError):
            other.bind(("10.254.7.1", 0))


@pytest.mark.dataplane
def test_made_in_builds_inside_and_leaves_the_thread_at_home(two_ns):
    a, _ = two_ns
    ip.veth_add("nt-m", "nt-n", netns=a)
    ip.addr_add("nt-m", "10.254.8.1/24", netns=a)
    home = os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino

    def make():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("10.254.8.1", 0))               # the address exists in a only
        return sock
    with ip.made_in(a, make) as inside:
        assert inside.getsockname()[0] == "10.254.8.1"
    assert os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino == home
    with pytest.raises(OSError):
        make()                                      # back home: no such address here
    with pytest.raises(NeutrinoError, match="no network namespace"):
        ip.made_in("neutrino-missing-" + secrets.token_hex(3), make)
    assert os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino == home


@pytest.mark.dataplane
def test_a_process_spawned_by_a_namespaces_thread_starts_inside_it(two_ns, tmp_path):
    a, _ = two_ns
    out = tmp_path / "ns"
    pid = ip.spawn_in(a, ["sh", "-c", f"readlink /proc/self/ns/net > {out}.tmp && mv {out}.tmp {out}"])
    assert proc.wait_exit(pid, 5)
    inode = os.stat(f"{proc.NETNS_DIR}/{a}").st_ino
    assert out.read_text().strip() == f"net:[{inode}]"
