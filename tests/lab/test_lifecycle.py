"""lab up / down / exec on the real data plane (no server: nodes, underlay, OVS)."""
import os
import signal
import subprocess
import sys
import time

import pytest

from labkit import host_snapshot, lab_leftovers, new_lab
from neutrino.lab import lifecycle, services, teardown
from neutrino.lab.layout import LABS_DIR, STATE_TMPFS
from neutrino.linux import ip, netns, ovs_daemons, proc

pytestmark = pytest.mark.dataplane
NEUTRINO = os.path.join(os.path.dirname(sys.executable), "neutrino")


def lab_cli(lab, *args, check=True):
    return subprocess.run([NEUTRINO, "lab", *args, "--name", lab.name], text=True,
                          capture_output=True, check=check, timeout=60)


def on_node(lab, node, *cmd):
    return subprocess.run([NEUTRINO, "lab", "exec", node, "--name", lab.name, "--", *cmd],
                          text=True, capture_output=True, timeout=30)


def lab_processes(lab):
    return teardown.lab_pids(lab)


def assert_gone(lab, before):
    assert lab_leftovers(lab, before) == {"netns": [], "links": [], "mounts": []}
    assert not os.path.exists(lab.state_dir)
    assert not os.path.lexists(os.path.join(LABS_DIR, lab.name))
    assert not lab_processes(lab)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    assert lab.state_dir.encode() not in f.read()
            except OSError:
                pass


def test_up_then_down_leaves_nothing():
    lab = new_lab()
    before = host_snapshot()
    try:
        out = subprocess.run([NEUTRINO, "lab", "up", "--name", lab.name, "--state-dir",
                              lab.state_dir, "--computes", "1", "--no-server"],
                             text=True, capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "node compute01" in out.stdout and "endpoint http://127.0.0.1:" in out.stdout
        info = lifecycle.read_info(lab)
        assert info["nodes"] == ["controller", "compute01"]
        assert {lab.netns("controller"), lab.netns("compute01"), lab.underlay_netns} \
            <= set(ip.netns_list())
        assert lab_leftovers(lab, before)["links"] == []      # nothing in the root namespace
        assert lab_leftovers(lab, before)["mounts"]           # the check sees the lab's mounts
        assert netns.mount_source(lab.state_dir) == ("tmpfs", STATE_TMPFS)   # state in memory
        assert os.path.islink(os.path.join(LABS_DIR, lab.name))
        status = lab_cli(lab, "status").stdout
        assert "compute01" in status and "dead" not in status
        clouds = open(lab.clouds_yaml).read()
        assert "neutrino-admin:" in clouds and "neutrino-demo:" in clouds
        assert f"auth_url: \"{info['identity_url']}\"" in clouds
        # The underlay carries traffic between the nodes' br-phy ports.
        ping = on_node(lab, "compute01", "ping", "-c", "1", "-W", "2", "10.168.7.10")
        assert ping.returncode == 0, ping.stdout + ping.stderr
    finally:
        down = subprocess.run([NEUTRINO, "lab", "down", "--name", lab.name], text=True,
                              capture_output=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert_gone(lab, before)


def test_up_is_idempotent_and_completes_a_broken_lab(bare_lab):
    lab = bare_lab
    pids_before = {n: ovs_daemons.ovs_pids(lab.ovs_rundir(n)) for n in ("controller", "compute01")}
    lines = []
    lifecycle.up(lab, computes=2, server=False, say=lines.append)
    assert {n: ovs_daemons.ovs_pids(lab.ovs_rundir(n)) for n in pids_before} == pids_before
    assert not any("redis on" in line for line in lines)
    # Kill one node's vswitchd: the next `up` restarts exactly that.
    victim = pids_before["compute01"]["ovs-vswitchd"]
    os.kill(victim, signal.SIGKILL)
    proc.wait_exit(victim, 5)
    lifecycle.up(lab, computes=2, server=False, say=lines.append)
    now = ovs_daemons.ovs_pids(lab.ovs_rundir("compute01"))
    assert now["ovs-vswitchd"] and now["ovs-vswitchd"] != victim
    assert ovs_daemons.ovs_pids(lab.ovs_rundir("controller")) == pids_before["controller"]
    ping = on_node(lab, "controller", "ping", "-c", "1", "-W", "2", "10.168.7.11")
    assert ping.returncode == 0, ping.stdout


def test_node_has_a_private_view(bare_lab):
    lab = bare_lab
    assert on_node(lab, "compute01", "hostname").stdout.strip() == "compute01"
    show = on_node(lab, "compute01", "ovs-vsctl", "--timeout=5", "list-br").stdout.split()
    assert show == ["br-phy"]
    assert on_node(lab, "controller", "ovs-vsctl", "--timeout=5", "list-br").stdout.split() \
        == ["br-ex", "br-phy"]
    # A namespace made inside a node is listed there only.
    inner = "qdhcp-view-test"
    assert on_node(lab, "controller", "ip", "netns", "add", inner).returncode == 0
    try:
        assert on_node(lab, "controller", "ip", "netns", "list").stdout.split()[0] == inner
        assert inner not in on_node(lab, "compute01", "ip", "netns", "list").stdout
        assert inner not in ip.netns_list()
        # brctl reads /sys: it must show the node's bridges only.
        assert on_node(lab, "compute02", "ip", "link", "add", "br-view", "type",
                       "bridge").returncode == 0
        assert "br-view" in on_node(lab, "compute02", "brctl", "show").stdout
        assert "br-view" not in on_node(lab, "compute01", "brctl", "show").stdout
        assert not ip.link_exists("br-view")
        links = on_node(lab, "compute01", "ip", "-o", "link").stdout
        assert "eth1" in links and "br-phy" in links and "eth0" not in links
        assert "ovs-vswitchd" in on_node(lab, "compute01", "ovs-appctl", "-t", "ovs-vswitchd",
                                         "version").stdout
        # An IPv4 host: no IPv6 on the node's devices, ARP answered by br-phy only.
        flags = on_node(lab, "compute01", "cat", "/proc/sys/net/ipv6/conf/br-phy/disable_ipv6",
                        "/proc/sys/net/ipv4/conf/all/arp_ignore").stdout.split()
        assert flags == ["1", "1"]
    finally:
        on_node(lab, "controller", "ip", "netns", "delete", inner)
        on_node(lab, "compute02", "ip", "link", "delete", "br-view")


def test_exec_errors_are_one_line():
    lab = new_lab()
    out = subprocess.run([NEUTRINO, "lab", "exec", "controller", "--name", lab.name, "--",
                          "true"], text=True, capture_output=True)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "no node" in out.stderr


def test_two_labs_coexist_and_down_after_kill_9(bare_lab):
    before = host_snapshot()
    other = new_lab()
    try:
        lifecycle.up(other, computes=1, server=False, say=lambda text: None)
        for lab in (bare_lab, other):
            assert on_node(lab, "compute01", "ping", "-c", "1", "-W", "2",
                           "10.168.7.10").returncode == 0
        # Same names inside, different nodes: each lab sees its own bridges.
        on_node(other, "compute01", "ovs-vsctl", "--timeout=5", "add-br", "br-only-other",
                "--", "set", "bridge", "br-only-other", "datapath_type=netdev")
        assert "br-only-other" not in on_node(bare_lab, "compute01", "ovs-vsctl",
                                               "--timeout=5", "list-br").stdout
        # A namespace made inside a node, with a process in it, like a qdhcp + dnsmasq.
        assert on_node(other, "controller", "ip", "netns", "add", "qdhcp-k9").returncode == 0
        on_node(other, "controller", "sh", "-c",
                "ip netns exec qdhcp-k9 setsid sleep 300 >/dev/null 2>&1 < /dev/null &")
        pids = lab_processes(other)
        assert len(pids) >= 5      # redis, 2 x (ovsdb-server, ovs-vswitchd), sleep
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            proc.wait_exit(pid, 5)
    finally:
        teardown.down(other)
    assert_gone(other, before)
    # The first lab is untouched.
    assert on_node(bare_lab, "compute02", "ping", "-c", "1", "-W", "2",
                   "10.168.7.10").returncode == 0
    assert all(services.alive(services.read_pids(bare_lab), k) for k in ("redis",))


def test_down_keeps_files_the_lab_did_not_make(tmp_path):
    lab = new_lab()
    state = tmp_path / "state"
    state.mkdir()
    (state / "mine.txt").write_text("keep me")
    lab = type(lab)(lab.name, str(state))
    before = host_snapshot()
    try:
        lifecycle.up(lab, computes=0, server=False, say=lambda text: None)
        assert (state / "lab.json").exists()
        assert netns.mount_source(str(state)) is None          # not hidden under a tmpfs
    finally:
        lines = []
        teardown.down(lab, say=lines.append)
    assert (state / "mine.txt").read_text() == "keep me"
    assert sorted(os.listdir(state)) == ["mine.txt"]
    assert any("did not make" in line for line in lines)
    assert lab_leftovers(lab, before) == {"netns": [], "links": [], "mounts": []}


def test_state_on_disk_when_asked(tmp_path):
    lab = new_lab()
    lab = type(lab)(lab.name, str(tmp_path / "state"))
    before = host_snapshot()
    lines = []
    try:
        lifecycle.up(lab, computes=0, server=False, say=lines.append, state_in_memory=False)
        assert (tmp_path / "state" / "lab.json").exists()
        assert netns.mount_source(lab.state_dir) is None
        assert not any("(tmpfs)" in line for line in lines)
    finally:
        teardown.down(lab)
    assert not os.path.exists(lab.state_dir)
    assert lab_leftovers(lab, before) == {"netns": [], "links": [], "mounts": []}


def test_upstream_behind_em4(bare_lab):
    """The outside world of issue 4: reachable from br-ex through em4, answers
    ping and HTTP with the source address it saw, and routes nowhere else."""
    lab = bare_lab
    from neutrino.lab import upstream
    assert "em4" in on_node(lab, "controller", "ovs-vsctl", "--timeout=5", "list-ports",
                            "br-ex").stdout.split()
    assert on_node(lab, "upstream", "ip", "-4", "route").stdout.split("\n")[0].startswith(
        "192.168.100.0/24")
    assert "default" not in on_node(lab, "upstream", "ip", "route").stdout
    # A host on the external network: an OVS internal port on br-ex in a namespace.
    rundir = lab.ovs_rundir("controller")
    probe = "ext-probe"
    ovs_daemons.vsctl(rundir, "--may-exist", "add-port", "br-ex", probe, "--", "set",
                      "Interface", probe, "type=internal")
    node_ns = lab.netns("controller")
    try:
        ip.link_set(probe, netns=node_ns, up=True)
        ip.addr_add(probe, "192.168.100.50/24", netns=node_ns)
        ip.route_add("203.0.113.0/24", gateway="192.168.100.1", netns=node_ns)
        ip.tx_offload_off(probe, netns=node_ns)
        ping = on_node(lab, "controller", "ping", "-c", "1", "-W", "2", upstream.INTERNET_HOST)
        assert ping.returncode == 0, ping.stdout
        deadline = time.monotonic() + 10
        while True:
            got = on_node(lab, "controller", "curl", "-s", "-m", "2",
                          f"http://{upstream.INTERNET_HOST}/")
            if got.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)                   # the responder may still be starting
        assert got.stdout == "you are 192.168.100.50\n"
    finally:
        ovs_daemons.vsctl(rundir, "--if-exists", "del-port", "br-ex", probe)


def test_lab_up_restarts_an_agent_that_was_stopping_and_blames_one_it_started(monkeypatch):
    """`lab up` right after a SIGTERM finds the old agent still running; when it
    exits during the wait, up starts it again instead of failing."""
    from neutrino.errors import NeutrinoError
    from neutrino.lab.layout import Lab
    running, started = {101}, []
    monkeypatch.setattr(services, "alive",
                        lambda pids, key: pids.get(key) if pids.get(key) in running else None)
    monkeypatch.setattr(services, "start_agent",
                        lambda lab, node, kind: started.append((node, kind)) or 202)
    monkeypatch.setattr(services, "write_pids", lambda lab, pids: None)
    lab = Lab.locate("unitlab", "/tmp/nlab-unitlab-never-made")
    key, pids, fresh = "agent-ovs@compute02", {"agent-ovs@compute02": 101}, set()
    assert lifecycle._gone(pids, key, lab, fresh) is False
    running.clear()                                  # the stopping agent exits
    assert lifecycle._gone(pids, key, lab, fresh) is True
    assert started == [("compute02", "ovs")] and pids[key] == 202 and key in fresh
    running.add(202)
    assert lifecycle._gone(pids, key, lab, fresh) is False
    running.clear()                                  # the one up started dies: an error
    with pytest.raises(NeutrinoError, match="agent-ovs@compute02 died during lab up"):
        lifecycle._gone(pids, key, lab, fresh)
    assert started == [("compute02", "ovs")]
