"""A router built by the driver on a real data plane.

One throwaway node namespace runs its own OVS: br-int in NORMAL mode (the
test tags qr-/qg- as the OVS agent would: internal network VLAN 1, external
VLAN 2) and br-ex joined by int-br-ex (access port, VLAN 2) / phy-br-ex. An
"upstream" namespace on br-ex is the external gateway 172.24.4.1 and the
Internet host 203.0.113.10; two instance namespaces sit on the internal
network, vm1 with a floating IP. The metadata service runs in this process
against a fake q-l3-plugin on memory://.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from neutrino.agents.l3.netns_driver import RouterDriver
from neutrino.agents.l3.router_plan import build_plan
from neutrino.agents.metadata.service import MetadataService, Resolver
from neutrino.linux import ip, ovs_daemons, proc
from neutrino.rpc import RpcClient, RpcServer

from tests.agents.l3.fakes import FakeL3Plugin, router

pytestmark = pytest.mark.dataplane

HERE = os.path.dirname(os.path.abspath(__file__))
INTERNET = "203.0.113.10"
EXT_GW, GW_IP, FIP_IP = "172.24.4.1", "172.24.4.10", "172.24.4.20"
VM1_IP, VM2_IP = "10.0.0.57", "10.0.0.58"


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def tcp(netns, address, port, payload=b"", timeout=3):
    """Connect from ``netns`` and return what the server sent (None: no connection)."""
    script = ("import socket,sys\n"
              "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=float(sys.argv[3]))\n"
              "s.sendall(sys.argv[4].encode()); s.shutdown(socket.SHUT_WR)\n"
              "out=b''\n"
              "while (d:=s.recv(4096)): out+=d\n"
              "sys.stdout.write(out.decode())\n")
    res = proc.run([sys.executable, "-c", script, address, str(port), str(timeout),
                    payload.decode()], netns=netns, check=False, timeout=timeout + 10)
    return res.out.strip() if res.rc == 0 else None


def ping(netns, address, count=1, wait=2):
    return proc.run(["ping", "-c", str(count), "-W", str(wait), address], netns=netns,
                    check=False, timeout=count * wait + 10).rc == 0


@pytest.fixture
def lab():
    if os.geteuid() != 0 or not shutil.which("ovs-vswitchd"):
        pytest.skip("needs root and Open vSwitch")
    sfx = uuid.uuid4().hex[:6]
    base = tempfile.mkdtemp(prefix=f"ntl3-{sfx}-")
    env = {"sfx": sfx, "base": base, "node": f"ntl3-node-{sfx}", "rundir": f"{base}/run",
           "namespaces": [], "pids": [], "drivers": [], "routers": []}
    try:
        node = env["node"]
        ip.netns_add(node)
        env["namespaces"].append(node)
        ovs_daemons.start_ovs(env["rundir"], f"{base}/db", f"{base}/log", netns=node)
        vsctl = lambda *a: ovs_daemons.vsctl(env["rundir"], *a)     # noqa: E731
        env["vsctl"] = vsctl
        for bridge in ("br-int", "br-ex"):
            vsctl("add-br", bridge, "--", "set", "Bridge", bridge, "datapath_type=netdev")
        vsctl("add-port", "br-int", "int-br-ex", "tag=2", "--", "set", "Interface",
              "int-br-ex", "type=patch", "options:peer=phy-br-ex", "--",
              "add-port", "br-ex", "phy-br-ex", "--", "set", "Interface", "phy-br-ex",
              "type=patch", "options:peer=int-br-ex")
        yield env
    finally:
        for driver in env["drivers"]:
            driver.close()
            for router_id in env["routers"]:
                driver.remove(router_id)
        for pid in env["pids"]:
            proc.kill_and_wait(pid)
        ovs_daemons.stop_ovs(env["rundir"])
        for ns in env["namespaces"]:
            ip.netns_delete(ns)
        shutil.rmtree(base, ignore_errors=True)


def plug(env, name, bridge, tag, cidr, gateway=None, mtu=1500):
    """A namespace whose eth0 is a veth into ``bridge`` of the node."""
    ns = f"ntl3-{name}-{env['sfx']}"
    outer = f"v{name}{env['sfx']}"[:15]
    ip.netns_add(ns)
    env["namespaces"].append(ns)
    ip.veth_add(outer, "eth0", netns=env["node"], peer_netns=ns, mtu=mtu)
    ip.link_set("eth0", netns=ns, up=True)
    ip.link_set(outer, netns=env["node"], up=True)
    ip.tx_offload_off("eth0", netns=ns)
    ip.addr_add("eth0", cidr, ns)
    if gateway:
        ip.route_add("default", gateway=gateway, netns=ns)
    args = ["add-port", bridge, outer] + ([f"tag={tag}"] if tag else [])
    env["vsctl"](*args)
    return ns


def serve(env, ns, mode, address, port):
    """Start tests/agents/l3/peer_server.py in ``ns``; return once it listens."""
    child = subprocess.Popen(proc.in_netns([sys.executable, os.path.join(HERE, "peer_server.py"),
                                            mode, address, str(port)], ns),
                             stdout=subprocess.PIPE, text=True)
    env["pids"].append(child.pid)
    assert child.stdout.readline().strip() == "ready"


def tag_router_ports(env, plan):
    """What the OVS agent does from the ports' device details."""
    for port in plan.internal:
        env["vsctl"]("set", "Port", port.name, "tag=1")
    if plan.gateway:
        env["vsctl"]("set", "Port", plan.gateway.name, "tag=2")


def v4(name, ns):
    return sorted(a for a in ip.addr_list(name, ns) if ":" not in a)


def nat_rules(ns):
    return proc.run(["iptables-save", "-t", "nat"], netns=ns).out


def test_router_snat_floating_ip_metadata_restart_and_removal(lab):
    router_id = str(uuid.uuid4())
    r = router(router_id=router_id, gw_port=str(uuid.uuid4()), qr_port=str(uuid.uuid4()),
               gateway=GW_IP, fips=((FIP_IP, VM1_IP),), ext_gateway=EXT_GW)
    lab["routers"].append(router_id)
    url = f"memory://l3-dataplane-{lab['sfx']}"
    plugin = FakeL3Plugin([r])
    plugin.metadata_ports[(router_id, VM1_IP)] = [
        {"port_id": r["_floatingips"][0]["port_id"], "device_id": "instance-vm1",
         "project_id": "p1", "network_id": "int-net", "name": "vm1"}]
    rpc = RpcServer(url, "q-l3-plugin", plugin).start()
    client = RpcClient(url, "q-l3-plugin", timeout=5)
    state = f"{lab['base']}/state"
    metadata = MetadataService(f"{state}/metadata_proxy",
                               Resolver(client.call, "controller")).start()
    try:
        upstream = plug(lab, "up", "br-ex", None, f"{EXT_GW}/24")
        ip.addr_add("lo", f"{INTERNET}/32", upstream)
        vm1 = plug(lab, "vm1", "br-int", 1, f"{VM1_IP}/24", "10.0.0.1", mtu=1450)
        vm2 = plug(lab, "vm2", "br-int", 1, f"{VM2_IP}/24", "10.0.0.1", mtu=1450)
        serve(lab, upstream, "peer", INTERNET, 80)
        serve(lab, upstream, "echo", INTERNET, 7)
        serve(lab, vm1, "peer", "0.0.0.0", 22)

        driver = RouterDriver(state, ovs_db=f"unix:{ovs_daemons.db_sock(lab['rundir'])}",
                              node_netns=lab["node"])
        lab["drivers"].append(driver)
        plan = build_plan(r)
        started = time.monotonic()
        applied = driver.apply(plan)
        tag_router_ports(lab, plan)
        ns = plan.namespace
        print(f"router applied in {1000 * (time.monotonic() - started):.0f} ms: {applied}")
        assert applied.namespace_created and applied.proxy_started
        assert sorted(applied.plugged) == sorted(p.name for p in plan.ports)

        # Namespace contents as Neutron leaves them.
        qr, qg = plan.internal[0].name, plan.gateway.name
        assert v4(qg, ns) == sorted([f"{GW_IP}/24", f"{FIP_IP}/32"])
        assert v4(qr, ns) == ["10.0.0.1/24"]
        assert ip.link_info(qr, ns)["mtu"] == 1450
        assert ip.link_info(qr, ns)["mac"] == plan.internal[0].mac
        assert {"dst": "default", "gateway": EXT_GW, "dev": qg} in ip.route_list(ns)
        assert proc.run(["sysctl", "-n", "net.ipv4.ip_forward"], netns=ns).out.strip() == "1"
        ids = lab["vsctl"]("get", "Interface", qr, "external_ids")
        assert f'iface-id="{plan.internal[0].port_id}"' in ids and "iface-status=active" in ids
        assert f'attached-mac="{plan.internal[0].mac}"' in ids
        saved = nat_rules(ns)
        assert f"-A neutron-l3-agent-snat -o {qg} -j SNAT --to-source {GW_IP} --random-fully" \
            in saved
        assert f"-A neutron-l3-agent-PREROUTING -d {FIP_IP}/32 -j DNAT --to-destination " \
               f"{VM1_IP}" in saved

        # SNAT: vm2 (no floating IP) reaches the Internet host as the gateway address.
        assert ping(vm2, INTERNET)
        assert tcp(vm2, INTERNET, 80) == GW_IP
        # Floating IP: vm1 goes out as its floating IP, and is reached through it.
        assert tcp(vm1, INTERNET, 80) == FIP_IP
        assert ping(upstream, FIP_IP)
        assert tcp(upstream, FIP_IP, 22) == EXT_GW
        # East-west hairpin: vm2 reaches vm1 through vm1's floating IP.
        assert tcp(vm2, FIP_IP, 22) == GW_IP

        # Metadata through the proxy in the namespace.
        answer = wait_until(lambda: tcp(vm1, "169.254.169.254", 80,
                                        b"GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n"),
                            10, "metadata answer")
        assert answer.endswith("instance-vm1")
        other = tcp(vm2, "169.254.169.254", 80,
                    b"GET /latest/meta-data/instance-id HTTP/1.0\r\n"
                    b"X-Forwarded-For: 10.0.0.57\r\n\r\n")
        assert other.startswith("HTTP/1.0 404")           # vm2 is unknown, forging fails
        public = tcp(vm1, "169.254.169.254", 80,
                     b"GET /latest/meta-data/public-ipv4 HTTP/1.0\r\n\r\n")
        assert public.endswith(FIP_IP)

        # A long-lived connection, then a "restarted agent" (a fresh driver) re-applies:
        # nothing changes and the connection lives on.
        script = ("import socket,sys,time\n"
                  "s=socket.create_connection((sys.argv[1],7),timeout=5)\n"
                  "s.sendall(b'one\\n'); print(s.recv(100).decode().strip(), flush=True)\n"
                  "sys.stdin.readline()\n"
                  "s.sendall(b'two\\n'); print(s.recv(100).decode().strip(), flush=True)\n")
        talker = subprocess.Popen(proc.in_netns([sys.executable, "-c", script, INTERNET], vm2),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        lab["pids"].append(talker.pid)
        assert talker.stdout.readline().strip() == "one"
        proxy_pid = driver.proxy_pid(router_id)
        restarted = RouterDriver(state, ovs_db=f"unix:{ovs_daemons.db_sock(lab['rundir'])}",
                                 node_netns=lab["node"])
        lab["drivers"].append(restarted)
        again = restarted.apply(plan)
        assert not again.namespace_created and not again.plugged and not again.unplugged
        assert again.iptables_lines == 0 and not again.addresses_added
        assert not again.addresses_removed and not again.proxy_started
        assert restarted.proxy_pid(router_id) == proxy_pid
        assert nat_rules(ns).count("-j SNAT") == saved.count("-j SNAT")
        talker.stdin.write("go\n")
        talker.stdin.flush()
        assert talker.stdout.readline().strip() == "two"
        talker.wait(5)

        # enable_snat false: only instances with a floating IP still get out.
        r["enable_snat"] = False
        no_snat = restarted.apply(build_plan(r))
        assert no_snat.iptables_lines > 0
        assert tcp(vm2, INTERNET, 80, timeout=1) is None
        assert tcp(vm1, INTERNET, 80) == FIP_IP

        # Moving the floating IP to vm2 moves the inbound path; the /32 stays on qg-.
        r["enable_snat"] = True
        r["_floatingips"][0]["fixed_ip_address"] = VM2_IP
        to_vm1 = ["conntrack", "-L", "-d", FIP_IP, "-r", VM1_IP]
        assert proc.run(to_vm1, netns=ns).out.strip()      # earlier inbound connections
        restarted.apply(build_plan(r))
        assert not proc.run(to_vm1, netns=ns).out.strip()  # forgotten with the move
        serve(lab, vm2, "peer", "0.0.0.0", 22)
        assert tcp(vm2, INTERNET, 80) == FIP_IP
        assert tcp(vm1, INTERNET, 80) == GW_IP
        assert tcp(upstream, FIP_IP, 22) == EXT_GW        # now answered by vm2's server

        # A second floating IP is announced by gratuitous ARP: the upstream side
        # (accepting unsolicited ARP) learns qg-'s MAC without asking.
        proc.run(["sysctl", "-w", "net.ipv4.conf.eth0.arp_accept=1"], netns=upstream)
        r["_floatingips"].append({"id": "fip-2", "floating_ip_address": "172.24.4.21",
                                  "fixed_ip_address": VM1_IP, "port_id": "p", "status": "DOWN"})
        restarted.apply(build_plan(r))
        wait_until(lambda: plan.gateway.mac in proc.run(
            ["ip", "neigh", "show", "172.24.4.21"], netns=upstream).out, 5, "GARP")

        # East-west through a second interface, and an extra route.
        qr2 = {**r["_interfaces"][0], "id": str(uuid.uuid4()), "mac_address": "fa:16:3e:bb:00:02",
               "fixed_ips": [{"subnet_id": "s2", "ip_address": "10.1.0.1"}],
               "subnets": [{"id": "s2", "cidr": "10.1.0.0/24", "gateway_ip": "10.1.0.1"}]}
        r["_interfaces"].append(qr2)
        r["routes"] = [{"destination": "10.9.0.0/16", "nexthop": "10.1.0.200"}]
        plan2 = build_plan(r)
        restarted.apply(plan2)
        lab["vsctl"]("set", "Port", plan2.internal[[p.port_id for p in plan2.internal]
                                                   .index(qr2["id"])].name, "tag=3")
        vm3 = plug(lab, "vm3", "br-int", 3, "10.1.0.7/24", "10.1.0.1", mtu=1450)
        assert tcp(vm3, VM1_IP, 22) == "10.1.0.7"          # routed, not NATed
        assert {"dst": "10.9.0.0/16", "gateway": "10.1.0.200", "dev": None} in [
            {**x, "dev": None} for x in ip.route_list(ns)]

        # Disassociating removes the /32s and the inbound path; the route goes too.
        r["_floatingips"] = []
        r["routes"] = []
        restarted.apply(build_plan(r))
        assert v4(qg, ns) == [f"{GW_IP}/24"]
        assert not ping(upstream, FIP_IP, wait=1)
        assert tcp(vm1, INTERNET, 80) == GW_IP
        assert not [x for x in ip.route_list(ns) if x["dst"] == "10.9.0.0/16"]

        # Removing the gateway cuts the way out and nothing else.
        r["gw_port"] = r["external_gateway_info"] = None
        gone = restarted.apply(build_plan(r))
        assert gone.unplugged == [qg] and not ip.link_exists(qg, ns)
        assert qg not in lab["vsctl"]("list-ports", "br-int").split()
        assert not [x for x in ip.route_list(ns) if x["dst"] == "default"]
        assert "SNAT" not in nat_rules(ns)
        assert tcp(vm1, INTERNET, 80, timeout=1) is None
        assert tcp(vm3, VM1_IP, 22) == "10.1.0.7"

        # Removal: namespace, OVS ports and proxy go.
        restarted.remove(router_id)
        assert not ip.netns_exists(ns)
        ports = lab["vsctl"]("list-ports", "br-int").split()
        assert qr not in ports and qg not in ports
        assert not proc.pid_alive(proxy_pid)
        assert router_id not in restarted.routers()
    finally:
        metadata.stop()
        client.close()
        rpc.stop()


def test_agent_wires_router_reports_active_survives_vswitchd_restart_and_deletes(lab):
    """The whole agent (fake server on memory://): full sync, statuses, link events, deletion."""
    from neutrino.agents.l3.l3_agent import L3Agent
    from neutrino.rpc import Notifier

    router_id = str(uuid.uuid4())
    r = router(router_id=router_id, gw_port=str(uuid.uuid4()), qr_port=str(uuid.uuid4()),
               gateway=GW_IP, fips=((FIP_IP, VM1_IP),), ext_gateway=EXT_GW)
    lab["routers"].append(router_id)
    url = f"memory://l3-agent-dataplane-{lab['sfx']}"
    plugin = FakeL3Plugin([r])
    servers = [RpcServer(url, "q-l3-plugin", plugin).start(),
               RpcServer(url, "q-reports-plugin", plugin).start()]
    db = f"unix:{ovs_daemons.db_sock(lab['rundir'])}"
    driver = RouterDriver(f"{lab['base']}/state", ovs_db=db, node_netns=lab["node"])
    lab["drivers"].append(driver)
    agent = L3Agent("controller", url, driver, report_interval=1, resync_interval=1000,
                    watch_links=True)
    notifier = Notifier(url)
    plan = build_plan(r)
    ns, qr, qg = plan.namespace, plan.internal[0].name, plan.gateway.name
    try:
        agent.start()
        assert agent.synced.wait(30)
        wait_until(lambda: plugin.statuses, 5, "floating IP status")
        assert plugin.statuses[0][1] == {r["_floatingips"][0]["id"]: "ACTIVE"}
        assert f"{FIP_IP}/32" in ip.addr_list(qg, ns)
        tag_router_ports(lab, plan)

        # A killed metadata proxy is started again at once.
        pid = wait_until(lambda: driver.proxy_pid(router_id), 5, "proxy pid")
        os.kill(pid, 9)
        wait_until(lambda: driver.proxy_pid(router_id) not in (None, pid), 5, "proxy restart")

        # ovs-vswitchd restarts and creates qr-/qg- again in the node: the agent
        # replaces the orphans in the router namespace and re-adds the addresses.
        ovs_daemons.stop_ovs(lab["rundir"])
        ovs_daemons.start_ovs(lab["rundir"], f"{lab['base']}/db", f"{lab['base']}/log",
                              netns=lab["node"])
        wait_until(lambda: all(ip.link_exists(d, ns) and not ip.link_exists(d, lab["node"])
                               for d in (qr, qg))
                   and f"{FIP_IP}/32" in ip.addr_list(qg, ns)
                   and "10.0.0.1/24" in ip.addr_list(qr, ns), 15, "ports back in qrouter")
        vm1 = plug(lab, "vm1", "br-int", 1, f"{VM1_IP}/24", "10.0.0.1", mtu=1450)
        assert ping(vm1, GW_IP)

        # The router is deleted on the server: namespace and ports go.
        del plugin.routers[router_id]
        notifier.notify("l3_agent", "router_deleted", {"router_id": router_id})
        wait_until(lambda: not ip.netns_exists(ns), 10, "namespace removal")
        ports = lab["vsctl"]("list-ports", "br-int").split()
        assert qr not in ports and qg not in ports
    finally:
        agent.stop()
        notifier.close()
        for server in servers:
            server.stop()


def test_admin_down_router_keeps_its_ports_plugged_and_routes_nothing(lab):
    """admin_state_up false: ports stay on br-int (links down, no address), no NAT, no
    proxy, forwarding off; admin_state_up true again restores the router."""
    router_id = str(uuid.uuid4())
    r = router(router_id=router_id, gw_port=str(uuid.uuid4()), qr_port=str(uuid.uuid4()),
               gateway=GW_IP, fips=((FIP_IP, VM1_IP),), ext_gateway=EXT_GW)
    lab["routers"].append(router_id)
    upstream = plug(lab, "up", "br-ex", None, f"{EXT_GW}/24")
    vm1 = plug(lab, "vm1", "br-int", 1, f"{VM1_IP}/24", "10.0.0.1", mtu=1450)
    driver = RouterDriver(f"{lab['base']}/state",
                          ovs_db=f"unix:{ovs_daemons.db_sock(lab['rundir'])}",
                          node_netns=lab["node"])
    lab["drivers"].append(driver)
    plan = build_plan(r)
    driver.apply(plan)
    tag_router_ports(lab, plan)
    ns, qr, qg = plan.namespace, plan.internal[0].name, plan.gateway.name
    assert ping(vm1, "10.0.0.1") and ping(upstream, FIP_IP)
    proxy_pid = wait_until(lambda: driver.proxy_pid(router_id), 10, "the metadata proxy")

    r["admin_state_up"] = False
    down = driver.apply(build_plan(r))
    assert not down.unplugged and not down.proxy_started
    ports = lab["vsctl"]("list-ports", "br-int").split()
    assert qr in ports and qg in ports
    for name in (qr, qg):
        assert ip.link_exists(name, ns) and not ip.link_info(name, ns)["up"]
        assert v4(name, ns) == []
    assert not [x for x in ip.route_list(ns) if x["dst"] == "default"]
    assert proc.run(["sysctl", "-n", "net.ipv4.ip_forward"], netns=ns).out.strip() == "0"
    assert "DNAT" not in nat_rules(ns) and "REDIRECT" not in nat_rules(ns)
    assert not proc.pid_alive(proxy_pid) and driver.proxy_pid(router_id) is None
    assert not ping(vm1, "10.0.0.1", wait=1) and not ping(upstream, FIP_IP, wait=1)

    r["admin_state_up"] = True
    up = driver.apply(build_plan(r))
    assert up.proxy_started and not up.plugged
    assert v4(qg, ns) == sorted([f"{GW_IP}/24", f"{FIP_IP}/32"])
    assert ip.link_info(qr, ns)["up"] and ip.link_info(qg, ns)["up"]
    assert ping(vm1, "10.0.0.1") and ping(upstream, FIP_IP)
