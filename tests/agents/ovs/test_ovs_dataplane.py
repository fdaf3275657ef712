"""Two nodes, each a namespace with its own OVS and its own agent, on real OVS.

Instances are namespaces plugged the hybrid way (tap - qbr - qvb/qvo - br-int)
and ping each other across VXLAN. The agents run in this process against a
fake server; OVS is reached through each node's run directory.
"""
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time

import pytest

from neutrino.agents.ovs.agent import Agent
from neutrino.agents.ovs.driver import OvsDriver
from neutrino.agents.ovs.state import AgentConfig
from neutrino.linux import ovs_daemons, proc
from neutrino.linux.openflow import OpenFlowBridge
from neutrino.linux.ovs import Ovsdb

pytestmark = pytest.mark.dataplane

UNDERLAY = "10.168.{}.{}"


def sh(netns, *cmd, check=True):
    return proc.run(list(cmd), netns=netns, check=check)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Node:
    """A namespace with its own OVS, an underlay NIC on br-phy, and an agent."""

    def __init__(self, name, tmp, local_ip, server):
        self.name, self.local_ip, self.server = name, local_ip, server
        self.rundir = os.path.join(tmp, name[-1], "run")
        self.tmp = os.path.join(tmp, name[-1])
        self.agent = self.ovsdb = None

    def vsctl(self, *args):
        return sh(self.name, "env", f"OVS_RUNDIR={self.rundir}", "ovs-vsctl",
                  "--timeout=10", *args).out

    def ofctl(self, *args):
        return sh(self.name, "ovs-ofctl", "-O", "OpenFlow13", *args[:1],
                  f"unix:{self.rundir}/{args[1]}.mgmt", *args[2:]).out

    def start_ovs(self):
        ovs_daemons.start_ovs(self.rundir, os.path.join(self.tmp, "db"),
                              os.path.join(self.tmp, "log"), netns=self.name)

    def start_agent(self):
        config = AgentConfig(host=self.name, local_ip=self.local_ip,
                             bridge_mappings={"extnet": "br-ex"})
        self.ovsdb = Ovsdb(f"unix:{self.rundir}/db.sock",
                           on_change=lambda *e: self.agent.on_ovsdb_change(*e))
        self.agent = Agent(config, OvsDriver(self.ovsdb, self.rundir), self.server,
                           check_interval=0.5, report_interval=5)
        self.ovsdb.start()
        self.agent.start()

    def stop_agent(self):
        if self.agent:
            self.agent.stop()
            self.agent = None
        if self.ovsdb:
            self.ovsdb.stop()
            self.ovsdb = None

    def flows(self, bridge):
        return OpenFlowBridge(bridge, self.rundir).dump()


def quiet_node(netns):
    """Make a node's kernel leave its OVS alone, as a compute host's does.

    With IPv6 on, every device made here (underlay, provider wire, each hybrid
    plug's qbr/qvb/qvo/tap) gets a link-local address whose duplicate address
    detection ends 1-2 s later with new routes; ovs-vswitchd answers every
    route change by reloading its routing table, updating its ports and
    revalidating each datapath flow, right while the tests measure pings
    (measured: 15 route changes and 6 port updates on each node in the 3 s
    after boot). The underlay NIC carries no address: with arp_ignore=1 the
    kernel stops answering ARP for the tunnel IP on it with its own MAC, which
    OVS's tunnel neighbour snooping could otherwise pick up.
    """
    sh(netns, "sh", "-c", "for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 "
       "/proc/sys/net/ipv6/conf/default/disable_ipv6 "
       "/proc/sys/net/ipv4/conf/all/arp_ignore; do echo 1 > $f; done")


@pytest.fixture
def lab(server_factory):
    suffix = secrets.token_hex(3)
    tmp = tempfile.mkdtemp(prefix="nt-ovs-")
    third = 200 + secrets.randbelow(50)
    ips = [UNDERLAY.format(third, 1), UNDERLAY.format(third, 2)]
    server = server_factory(ips)
    nodes = [Node(f"nt-ovsag-{suffix}-{x}", tmp, ip_, server)
             for x, ip_ in zip("ab", ips)]
    namespaces = [n.name for n in nodes]
    try:
        for node in nodes:
            sh(None, "ip", "netns", "add", node.name)
            sh(node.name, "ip", "link", "set", "lo", "up")
            quiet_node(node.name)
        a, b = nodes
        for link in ("ul0", "ex0"):        # tunnel underlay, provider network wire
            sh(a.name, "ip", "link", "add", link, "type", "veth", "peer", "name", link,
               "netns", b.name)
        for node in nodes:
            for link in ("ul0", "ex0"):
                sh(node.name, "ethtool", "-K", link, "tx", "off")
                sh(node.name, "ip", "link", "set", link, "up")
            node.start_ovs()
            node.vsctl("add-br", "br-phy", "--", "set", "bridge", "br-phy",
                       "datapath_type=netdev", "--", "add-port", "br-phy", "ul0")
            sh(node.name, "ip", "addr", "add", f"{node.local_ip}/24", "dev", "br-phy")
            sh(node.name, "ip", "link", "set", "br-phy", "up")
        # Node a's host set-up made br-ex (the agent adopts it); node b's agent creates it.
        a.vsctl("add-br", "br-ex", "--", "set", "bridge", "br-ex", "datapath_type=netdev",
                "--", "add-port", "br-ex", "ex0")
        for node in nodes:
            node.start_agent()
        assert wait_for(lambda: "br-ex" in b.vsctl("list-br").split())
        b.vsctl("add-port", "br-ex", "ex0")
        yield Lab(nodes, server, namespaces)
    finally:
        for node in nodes:
            node.stop_agent()
            ovs_daemons.stop_ovs(node.rundir)
        for ns in namespaces:
            sh(None, "ip", "netns", "del", ns, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


class Lab:
    def __init__(self, nodes, server, namespaces):
        self.nodes, self.server, self.namespaces = nodes, server, namespaces
        self.net = server.network(segmentation_id=1707)

    def boot(self, node, ip, name, net=None):
        """Nova's hybrid plug of a new port into ``node``; returns (port, vm ns)."""
        port = self.server.port(net or self.net, ip=ip)
        mac = self.server.ports[port]["mac_address"]
        id11 = port[:11]
        vm = f"{node.name}-{name}"
        self.namespaces.append(vm)
        sh(None, "ip", "netns", "add", vm)
        n = node.name
        sh(n, "ip", "link", "add", f"qbr{id11}", "type", "bridge")
        sh(n, "ip", "link", "add", f"tap{id11}", "mtu", "1450", "type", "veth",
           "peer", "name", "eth0", "netns", vm)
        sh(n, "ip", "link", "add", f"qvb{id11}", "mtu", "1450", "type", "veth",
           "peer", "name", f"qvo{id11}")
        for dev in (f"tap{id11}", f"qvb{id11}"):
            sh(n, "ip", "link", "set", dev, "master", f"qbr{id11}", "up")
        for dev in (f"qbr{id11}", f"qvo{id11}"):
            sh(n, "ip", "link", "set", dev, "up")
        sh(vm, "ip", "link", "set", "eth0", "address", mac, "mtu", "1450", "up")
        sh(vm, "ethtool", "-K", "eth0", "tx", "off")
        sh(vm, "ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        node.vsctl("add-port", "br-int", f"qvo{id11}", "--", "set", "Interface",
                   f"qvo{id11}", f"external_ids:iface-id={port}",
                   "external_ids:iface-status=active", f"external_ids:attached-mac={mac}",
                   f"external_ids:vm-uuid={vm}")
        return port, vm


def ping(vm, ip, count=3, wait=2):
    return sh(vm, "ping", "-c", str(count), "-W", str(wait), "-i", "0.2", ip, check=False)


def test_two_nodes_wired_per_neutron_and_instances_ping_across_vxlan(lab):
    a, b = lab.nodes
    for node in lab.nodes:
        assert wait_for(lambda: "patch-int" in node.vsctl("list-ports", "br-tun"))
    started = time.monotonic()
    p1, vm1 = lab.boot(a, "10.0.0.11", "vm1")
    p2, vm2 = lab.boot(b, "10.0.0.12", "vm2")
    assert lab.server.wait_up(p1, timeout=5) and lab.server.wait_up(p2, timeout=5)
    assert time.monotonic() - started < 3

    remote = "vxlan-" + "".join(f"{int(x):02x}" for x in b.local_ip.split("."))
    assert a.vsctl("get", "Interface", remote, "type").strip() == "vxlan"
    options = a.vsctl("get", "Interface", remote, "options").strip()
    assert options == (f'{{df_default="true", egress_pkt_mark="0", in_key=flow, '
                       f'local_ip="{a.local_ip}", out_key=flow, remote_ip="{b.local_ip}"}}')
    assert a.vsctl("get", "Bridge", "br-int", "fail_mode").strip() == "secure"
    assert a.vsctl("get", "Bridge", "br-int", "datapath_type").strip() == "netdev"
    assert a.vsctl("get", "Interface", "patch-tun", "options").strip() == "{peer=patch-int}"
    assert a.vsctl("get-manager").split() == ["ptcp:6640:127.0.0.1"]
    qvo = "qvo" + p1[:11]
    assert a.vsctl("get", "Port", qvo, "tag").strip() == "1"
    other = a.vsctl("get", "Port", qvo, "other_config").strip()
    assert f'net_uuid="{lab.net}"' in other and 'segmentation_id="1707"' in other
    assert 'network_type=vxlan' in other and 'tag="1"' in other

    assert ping(vm1, "10.0.0.12").rc == 0
    tun = {(f.table, f.priority, f.match) for f in a.flows("br-tun")}
    assert (4, 1, "tun_id=0x6ab") in tun
    assert any(t == 20 and p == 1 for t, p, _ in tun)      # learned from vm2's reply
    cookies = {f.cookie for f in a.flows("br-int") + a.flows("br-tun")}
    assert len(cookies) == 1


def test_unknown_port_is_dead_and_spoofed_source_is_dropped(lab):
    a, b = lab.nodes
    p1, vm1 = lab.boot(a, "10.0.0.21", "vm1")
    p2, vm2 = lab.boot(b, "10.0.0.22", "vm2")
    assert lab.server.wait_up(p1) and lab.server.wait_up(p2)
    assert ping(vm1, "10.0.0.22").rc == 0
    sh(vm1, "ip", "link", "set", "eth0", "address", "fa:16:3e:66:66:66")
    sh(vm1, "ip", "neigh", "flush", "all")
    assert ping(vm1, "10.0.0.22", count=2, wait=1).rc != 0
    a.vsctl("add-port", "br-int", "qvostranger-0", "--", "set", "Interface",
            "qvostranger-0", "type=internal", "external_ids:iface-id=not-a-port")
    assert wait_for(lambda: a.vsctl("get", "Port", "qvostranger-0", "tag").strip() == "4095")


def _flow_ids(node):
    return {b: sorted((f.table, f.priority, f.match, f.actions, f.cookie)
                      for f in node.flows(b) if not f.learned) for b in ("br-int", "br-tun")}


def test_agent_restart_loses_no_ping_and_changes_no_flow(lab):
    a, b = lab.nodes
    p1, vm1 = lab.boot(a, "10.0.0.31", "vm1")
    p2, vm2 = lab.boot(b, "10.0.0.32", "vm2")
    assert lab.server.wait_up(p1) and lab.server.wait_up(p2)
    assert ping(vm1, "10.0.0.32").rc == 0
    before = _flow_ids(a)
    durations = {f.key: f for f in a.flows("br-int")}
    next_cfg = a.vsctl("get", "Open_vSwitch", ".", "next_cfg")
    pinger = subprocess.Popen(proc.in_netns(["ping", "-i", "0.01", "-c", "300", "-W", "1",
                                             "10.0.0.32"], vm1),
                              stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        a.stop_agent()
        a.start_agent()
        assert lab.server.wait_up(p1)
        assert wait_for(lambda: a.agent.passes >= 1 and a.agent.idle.is_set())
        out, _ = pinger.communicate(timeout=30)
    finally:
        if pinger.poll() is None:
            pinger.kill()
    loss = re.search(r"(\d+(?:\.\d+)?)% packet loss", out)
    assert loss and float(loss.group(1)) == 0.0, out
    assert _flow_ids(a) == before
    # Not one OVSDB transaction (each would make ovs-vswitchd reconfigure).
    assert a.vsctl("get", "Open_vSwitch", ".", "next_cfg") == next_cfg
    # Nothing was re-added: no flow's counters were reset by the new agent.
    assert all(f.n_packets >= durations[f.key].n_packets for f in a.flows("br-int"))


def tunnel_ports(node):
    out = sh(node.name, "env", f"OVS_RUNDIR={node.rundir}", "ovs-vsctl", "--timeout=10",
             "list-ports", "br-tun", check=False).out
    return [p for p in out.split() if p.startswith("vxlan-")]


def test_vswitchd_restart_and_hand_deletions_are_repaired(lab):
    a, b = lab.nodes
    p1, vm1 = lab.boot(a, "10.0.0.41", "vm1")
    p2, vm2 = lab.boot(b, "10.0.0.42", "vm2")
    assert lab.server.wait_up(p1) and lab.server.wait_up(p2)
    assert ping(vm1, "10.0.0.42").rc == 0
    before = _flow_ids(a)

    a.ofctl("del-flows", "br-tun", "--strict", "table=4,priority=1,tun_id=0x6ab")
    assert wait_for(lambda: _flow_ids(a) == before, timeout=5)

    a.vsctl("del-port", "br-tun", "patch-int")
    assert wait_for(lambda: "patch-int" in a.vsctl("list-ports", "br-tun"), timeout=5)
    assert wait_for(lambda: ping(vm1, "10.0.0.42", count=1, wait=1).rc == 0, timeout=10)

    a.vsctl("del-br", "br-tun")
    assert wait_for(lambda: tunnel_ports(a), timeout=5)
    assert wait_for(lambda: ping(vm1, "10.0.0.42", count=1, wait=1).rc == 0, timeout=10)

    pid = ovs_daemons.ovs_pids(a.rundir)["ovs-vswitchd"]
    proc.kill_and_wait(pid)
    sh(a.name, "env", f"OVS_RUNDIR={a.rundir}", "ovs-vswitchd",
       f"unix:{a.rundir}/db.sock", f"--pidfile={a.rundir}/ovs-vswitchd.pid",
       f"--log-file={a.tmp}/log/ovs-vswitchd.log", "--detach", "--no-chdir")
    assert wait_for(lambda: len(_flow_ids(a)["br-int"]) == len(before["br-int"]), timeout=10)
    assert wait_for(lambda: ping(vm1, "10.0.0.42", count=1, wait=1).rc == 0, timeout=10)


def test_flat_network_through_provider_bridges(lab):
    a, b = lab.nodes
    flat = lab.server.network("flat", None, "extnet")
    p1, vm1 = lab.boot(a, "192.168.50.11", "vm1", net=flat)
    p2, vm2 = lab.boot(b, "192.168.50.12", "vm2", net=flat)
    assert lab.server.wait_up(p1) and lab.server.wait_up(p2)
    assert a.vsctl("get", "Bridge", "br-ex", "fail_mode").strip() == "secure"
    assert a.vsctl("get", "Interface", "int-br-ex", "options").strip() == "{peer=phy-br-ex}"
    phy = int(a.vsctl("get", "Interface", "phy-br-ex", "ofport"))
    ex_flows = {(f.priority, f.match, f.actions) for f in a.flows("br-ex")}
    assert (4, f"in_port={phy},dl_vlan=1", "pop_vlan,NORMAL") in ex_flows
    assert (2, f"in_port={phy}", "drop") in ex_flows
    assert ping(vm1, "192.168.50.12").rc == 0
    tunnel_flows = [f for f in a.flows("br-tun") if f.table == 22 and f.priority == 1]
    assert tunnel_flows == []          # a flat network never floods into tunnels
