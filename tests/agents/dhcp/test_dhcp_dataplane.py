"""The DHCP agent on a real data plane: private OVS pair, dnsmasq, udhcpc clients."""
import copy
import os
import shutil
import signal
import tempfile
import time
import uuid

import pytest

from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.dhcp_agent import DhcpAgent
from neutrino.agents.dhcp.netns_driver import DhcpDriver
from neutrino.linux import dnsmasq, ip, ovs_daemons, proc
from neutrino.rpc import Notifier, RpcServer

pytestmark = pytest.mark.dataplane

TAG = "5"
UDHCPC_SCRIPT = '#!/bin/sh\n[ "$1" = bound ] && env > "$LEASE_OUT"\nexit 0\n'


class FakeServer:
    def __init__(self, network):
        self.network = network
        self.fetches = 0

    def report_state(self, agent_state, time):
        return "alive"

    def get_active_networks_info(self, host):
        return [copy.deepcopy(self.network)]

    def get_network_info(self, network_id, host):
        self.fetches += 1
        return copy.deepcopy(self.network) if network_id == self.network["id"] else None

    def update_dhcp_port(self, port_id, port):
        for p in self.network["ports"]:
            if p["id"] == port_id:
                p.update(port)
                return copy.deepcopy(p)
        raise LookupError(port_id)

    def dhcp_ready_on_ports(self, port_ids):
        return None


def port(net_id, subnet_id, ip_address, mac, owner="compute:nova"):
    """A port dict as the server's get_network_info and port events carry it."""
    return {"id": str(uuid.uuid4()), "network_id": net_id, "revision_number": 0,
            "mac_address": mac, "device_owner": owner,
            "device_id": "reserved_dhcp_port" if owner == "network:dhcp" else "vm",
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": ip_address}]}


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def lab():
    if os.geteuid() != 0 or not shutil.which("ovs-vswitchd") or not shutil.which("dnsmasq"):
        pytest.skip("needs root, Open vSwitch and dnsmasq")
    sfx = uuid.uuid4().hex[:6]
    base = tempfile.mkdtemp(prefix=f"ntdhcp-{sfx}-")
    os.chmod(base, 0o755)   # dnsmasq re-reads its files as nobody
    node = f"ntdhcp-node-{sfx}"
    env = {"sfx": sfx, "base": base, "node": node, "rundir": f"{base}/run",
           "clients": [], "namespaces": [node]}
    try:
        ip.netns_add(node)
        ovs_daemons.start_ovs(env["rundir"], f"{base}/db", f"{base}/log", netns=node)
        ovs_daemons.vsctl(env["rundir"], "add-br", "br-int", "--", "set", "Bridge", "br-int",
                          "datapath_type=netdev")
        yield env
    finally:
        for ns in env["namespaces"]:
            if ns.startswith("qdhcp-") and os.path.isdir(f"{base}/state/dhcp"):
                for net_id in os.listdir(f"{base}/state/dhcp"):
                    dnsmasq.stop(f"{base}/state/dhcp/{net_id}/pid")
        ovs_daemons.stop_ovs(env["rundir"])
        for ns in env["namespaces"]:
            ip.netns_delete(ns)
        shutil.rmtree(base, ignore_errors=True)


def plug_client(env, name, mac):
    """A client namespace whose eth0 sits on br-int with the DHCP tap's tag."""
    ns = f"ntdhcp-{name}-{env['sfx']}"
    outer = f"v{name}{env['sfx']}"[:15]
    ip.netns_add(ns)
    env["namespaces"].append(ns)
    ip.veth_add(outer, "eth0", netns=env["node"], peer_netns=ns)
    ip.link_set("eth0", netns=ns, mac=mac, up=True)
    ip.link_set(outer, netns=env["node"], up=True)
    ip.tx_offload_off("eth0", netns=ns)
    ovs_daemons.vsctl(env["rundir"], "add-port", "br-int", outer, "tag=" + TAG)
    return ns


def lease(env, ns):
    script = f"{env['base']}/udhcpc.sh"
    with open(script, "w") as f:
        f.write(UDHCPC_SCRIPT)
    os.chmod(script, 0o755)
    out = f"{env['base']}/{ns}.lease"
    proc.run(["env", f"LEASE_OUT={out}", "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
              "-t", "5", "-T", "1", "-O", "mtu", "-s", script], netns=ns, timeout=30)
    with open(out) as f:
        return dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)


def test_agent_serves_leases_reloads_and_restarts_dnsmasq(lab):
    net_id, sub_id = str(uuid.uuid4()), str(uuid.uuid4())
    dhcp_port = port(net_id, sub_id, "10.77.0.2", "fa:16:3e:00:77:02", owner="network:dhcp")
    vm1 = port(net_id, sub_id, "10.77.0.11", "fa:16:3e:00:77:11")
    network = {"id": net_id, "admin_state_up": True, "mtu": 1450,
               "subnets": [{"id": sub_id, "cidr": "10.77.0.0/24", "ip_version": 4,
                            "enable_dhcp": True, "gateway_ip": "10.77.0.1",
                            "dns_nameservers": [], "host_routes": []}],
               "ports": [dhcp_port, vm1]}
    qdhcp = cfg.namespace_name(net_id)
    lab["namespaces"].append(qdhcp)
    url = f"memory://dhcp-dataplane-{lab['sfx']}"
    server = FakeServer(network)
    rpc = RpcServer(url, "q-plugin", server).start()
    reports = RpcServer(url, "q-reports-plugin", server).start()
    driver = DhcpDriver(ovs_db=f"unix:{ovs_daemons.db_sock(lab['rundir'])}",
                        node_netns=lab["node"])
    state = f"{lab['base']}/state"
    agent = DhcpAgent("controller", url, state, driver=driver, report_interval=1,
                      resync_interval=1000)
    notifier = Notifier(url)
    try:
        agent.start()
        assert agent.synced.wait(30)
        tap = cfg.tap_name(dhcp_port["id"])
        ids = ovs_daemons.vsctl(lab["rundir"], "get", "Interface", tap, "external_ids")
        assert f'iface-id="{dhcp_port["id"]}"' in ids
        assert 'attached-mac="fa:16:3e:00:77:02"' in ids and "iface-status=active" in ids
        ovs_daemons.vsctl(lab["rundir"], "set", "Port", tap, f"tag={TAG}")
        assert ip.addr_list(tap, qdhcp)[0] == "10.77.0.2/24"
        assert ip.link_info(tap, qdhcp)["mtu"] == 1450
        assert {"dst": "default", "gateway": "10.77.0.1", "dev": tap} in ip.route_list(qdhcp)
        mangle = proc.run(["iptables", "-t", "mangle", "-S"], netns=qdhcp).out
        assert "-A neutron-dhcp-age-POSTROUTING -p udp -m udp --dport 68 " \
               "-j CHECKSUM --checksum-fill" in mangle
        pid_file = f"{state}/dhcp/{net_id}/pid"
        pid = dnsmasq.running_pid(pid_file)
        assert pid and tuple(dnsmasq.cmdline_of(pid)) == \
            cfg.build_plan(network, dhcp_port, state).cmdline

        c1 = plug_client(lab, "c1", vm1["mac_address"])
        got = lease(lab, c1)
        assert got["ip"] == "10.77.0.11"
        assert got["router"].split()[0] == "10.77.0.1"
        assert got["mtu"] == "1450"
        assert got["subnet"] == "255.255.255.0"

        # A new port (from the event alone, no fetch): files rewritten, dnsmasq
        # reloaded by SIGHUP (same pid).
        vm2 = port(net_id, sub_id, "10.77.0.12", "fa:16:3e:00:77:12")
        network["ports"].append(vm2)
        notifier.notify("dhcp_agent", "port_create_end", {"network_id": net_id, "port": vm2})
        wait_until(lambda: "10.77.0.12" in open(f"{state}/dhcp/{net_id}/host").read(), 5,
                   "host file update")
        c2 = plug_client(lab, "c2", vm2["mac_address"])
        assert lease(lab, c2)["ip"] == "10.77.0.12"
        assert dnsmasq.running_pid(pid_file) == pid

        # A deleted port's lease is released in dnsmasq (dhcp_release), not left for 24 h.
        vm3 = port(net_id, sub_id, "10.77.0.13", "fa:16:3e:00:77:13")
        network["ports"].append(vm3)
        notifier.notify("dhcp_agent", "port_create_end", {"network_id": net_id, "port": vm3})
        wait_until(lambda: "10.77.0.13" in open(f"{state}/dhcp/{net_id}/host").read(), 5,
                   "host file update")
        assert lease(lab, plug_client(lab, "c3", vm3["mac_address"]))["ip"] == "10.77.0.13"
        leases = f"{state}/dhcp/{net_id}/leases"
        wait_until(lambda: "10.77.0.13" in open(leases).read(), 5, "dnsmasq records the lease")
        network["ports"].remove(vm3)
        notifier.notify("dhcp_agent", "port_delete_end", {"network_id": net_id,
                                                          "port": dict(vm3, revision_number=1)})
        wait_until(lambda: "10.77.0.13" not in open(leases).read(), 5, "lease release")
        assert "10.77.0.12" in open(leases).read()
        assert dnsmasq.running_pid(pid_file) == pid
        assert server.fetches == 0      # port events are applied from their payload

        # A new subnet changes the command line: dnsmasq is restarted.
        sub2 = str(uuid.uuid4())
        network["subnets"].append({"id": sub2, "cidr": "10.78.0.0/24", "ip_version": 4,
                                   "enable_dhcp": True, "gateway_ip": "10.78.0.1"})
        dhcp_port["fixed_ips"].append({"subnet_id": sub2, "ip_address": "10.78.0.2"})
        notifier.notify("dhcp_agent", "subnet_create_end", {"subnet": {"id": sub2,
                                                                       "network_id": net_id}})
        wait_until(lambda: dnsmasq.running_pid(pid_file) not in (None, pid), 5, "restart")
        pid = dnsmasq.running_pid(pid_file)
        assert f"--dhcp-range=set:subnet-{sub2},10.78.0.0,static,255.255.255.0,86400s" \
            in dnsmasq.cmdline_of(pid)
        assert sorted(ip.addr_list(tap, qdhcp))[:2] == ["10.77.0.2/24", "10.78.0.2/24"]

        # A restarted agent adopts the running dnsmasq instead of restarting it.
        agent.stop()
        agent = DhcpAgent("controller", url, state, driver=DhcpDriver(
            ovs_db=f"unix:{ovs_daemons.db_sock(lab['rundir'])}", node_netns=lab["node"]),
            report_interval=1, resync_interval=1000)
        agent.start()
        assert agent.synced.wait(30)
        assert dnsmasq.running_pid(pid_file) == pid

        # A killed dnsmasq is back within about a second.
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: dnsmasq.running_pid(pid_file) not in (None, pid), 3, "dnsmasq restart")
        print(f"dnsmasq back {1000 * (time.monotonic() - killed):.0f} ms after SIGKILL")
        assert time.monotonic() - killed < 1.5
        assert lease(lab, c1)["ip"] == "10.77.0.11"

        # ovs-vswitchd restarts and creates the tap again in the node: the agent
        # replaces the orphan in the namespace with it.
        ovs_daemons.stop_ovs(lab["rundir"])
        ovs_daemons.start_ovs(lab["rundir"], f"{lab['base']}/db", f"{lab['base']}/log",
                              netns=lab["node"])
        wait_until(lambda: ip.link_exists(tap, qdhcp) and not ip.link_exists(tap, lab["node"])
                   and "10.77.0.2/24" in ip.addr_list(tap, qdhcp), 10, "tap back in qdhcp")
        assert lease(lab, c2)["ip"] == "10.77.0.12"

        # The network goes away: namespace, tap and files go with it.
        server.network = {"id": "other"}
        notifier.notify("dhcp_agent", "network_delete_end", {"network_id": net_id})
        wait_until(lambda: not ip.netns_exists(qdhcp), 10, "namespace removal")
        assert tap not in ovs_daemons.vsctl(lab["rundir"], "list-ports", "br-int").split()
        # The files go last (they mark the network as this agent's until then).
        wait_until(lambda: not os.path.exists(f"{state}/dhcp/{net_id}"), 10, "files removal")
    finally:
        agent.stop()
        notifier.close()
        rpc.stop()
        reports.stop()
