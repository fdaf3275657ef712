"""Issue 4 on the real data plane: routers, SNAT, floating IPs and metadata.

The shared lab gets an external network (flat on extnet, 192.168.100.0/24
behind the controller's em4, the lab's upstream as gateway .1) and:

    router ns-r1 (admin project)   -- ns-a 10.20.1.0/24: n1 (compute01, floating IP),
                                                        n2 (compute02)
                                   -- ns-b 10.20.2.0/24: n3 (compute02)
    router ns-rx (project nsx)     -- ns-x 10.30.0.0/24: x1 (compute01, floating IP)
    router ns-ry (project nsy)     -- ns-y 10.30.0.0/24: y1 (compute02, floating IP)

Every instance serves TCP 22 answering its own name, so the upstream side
knows whom a floating IP reached; 203.0.113.10 answers HTTP with the source
address it saw, so an instance knows how it left. Each test that changes the
cloud puts it back as it found it.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from neutrino.lab import instances, node
from neutrino.linux import proc

pytestmark = pytest.mark.dataplane

OUTSIDE = "203.0.113.10"
METADATA = "http://169.254.169.254"
PORT = 22
ECHO_PORT = 7000

# Answers every connection on port 22 with the instance's name; says when it listens.
NAME_SERVER = ("import socket,sys\n"
               "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
               "s.bind(('0.0.0.0',22)); s.listen(16)\n"
               "print('listening',flush=True)\n"
               "while True:\n"
               "    c,a=s.accept(); c.sendall((sys.argv[1]+'\\n').encode()); c.close()\n")
# Echoes every line on port 7000 (upstream side of the agent-restart test); says when it listens.
ECHO_SERVER = ("import socket,threading\n"
               "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
               "s.bind(('0.0.0.0',7000)); s.listen(4)\n"
               "print('listening',flush=True)\n"
               "def serve(c):\n"
               "    while (d:=c.recv(4096)): c.sendall(d)\n"
               "while True:\n"
               "    threading.Thread(target=serve,args=(s.accept()[0],),daemon=True).start()\n")
# One connection kept busy (a line every 0.2 s, each echo awaited) until stdin speaks.
STREAM_CLIENT = ("import select,socket,sys\n"
                 "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=5)\n"
                 "n=0\n"
                 "while True:\n"
                 "    s.sendall(b'x\\n'); assert s.recv(16)==b'x\\n'; n+=1\n"
                 "    if n==1: print('connected',flush=True)\n"
                 "    if select.select([sys.stdin],[],[],0.2)[0]: break\n"
                 "print('echoes',n,flush=True)\n")


def wait_for(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


class NorthSouth:
    def __init__(self, cloud):
        self.cloud = cloud
        self.vms: dict[str, dict] = {}
        self.ips: dict[str, str] = {}
        self.servers: list[subprocess.Popen] = []

    # -- API as a project --------------------------------------------------------
    def client(self, project: str | None) -> httpx.Client:
        """The lab's admin (None), or a member of ``project``."""
        if project is None:
            return self.cloud.api
        return self.cloud.member_api(project)

    @staticmethod
    def post(api: httpx.Client, collection: str, **body) -> dict:
        singular = collection[:-1].replace("-", "_")
        resp = api.post(f"/v2.0/{collection}", json={singular: body})
        assert resp.status_code == 201, resp.text
        return resp.json()[singular]

    def router_put(self, router_id: str, action: str, **body) -> httpx.Response:
        return self.cloud.api.put(f"/v2.0/routers/{router_id}/{action}", json=body)

    def gateway_ip(self, router_id: str) -> str:
        info = self.cloud.get("routers", router_id)["external_gateway_info"]
        return info["external_fixed_ips"][0]["ip_address"]

    def qg(self, router_id: str) -> str:
        ports = self.cloud.api.get("/v2.0/ports", params={
            "device_id": router_id, "device_owner": "network:router_gateway"}).json()["ports"]
        return f"qg-{ports[0]['id'][:11]}"

    def fip_to(self, fip: dict, vm: str | None) -> None:
        self.cloud.update("floatingips", fip["id"],
                          port_id=self.vms[vm]["port_id"] if vm else None)

    # -- building ----------------------------------------------------------------
    def external(self) -> dict:
        found = self.cloud.api.get("/v2.0/networks",
                                   params={"router:external": True}).json()["networks"]
        if found:
            return found[0]
        ext = self.cloud.create("networks", name="ns-public", **{
            "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "extnet"})
        self.cloud.create("subnets", network_id=ext["id"], cidr="192.168.100.0/24",
                          gateway_ip="192.168.100.1", enable_dhcp=False, ip_version=4,
                          allocation_pools=[{"start": "192.168.100.100",
                                             "end": "192.168.100.200"}])
        return ext

    def tenant(self, project: str | None, name: str, cidr: str) -> tuple[dict, dict]:
        api = self.client(project)
        net = self.post(api, "networks", name=name)
        subnet = self.post(api, "subnets", network_id=net["id"], cidr=cidr, ip_version=4)
        return net, subnet

    def router(self, project: str | None, name: str, ext: dict, subnets: list[dict]) -> dict:
        api = self.client(project)
        router = self.post(api, "routers", name=name,
                           external_gateway_info={"network_id": ext["id"]})
        for subnet in subnets:
            resp = api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                           json={"subnet_id": subnet["id"]})
            assert resp.status_code == 200, resp.text
        return router

    def open_group(self, project: str | None) -> dict:
        api = self.client(project)
        group = self.post(api, "security-groups", name="ns-open")
        for rule in ({"protocol": "icmp"}, {"protocol": "tcp"}):
            self.post(api, "security-group-rules", security_group_id=group["id"],
                      direction="ingress", ethertype="IPv4", **rule)
        return group

    def boot(self, name: str, network: str, host: str, group: dict,
             project: str | None = None) -> None:
        project_id = self.cloud.project_id(project) if project else None
        self.vms[name] = instances.create(self.cloud.lab, name, network, host=host,
                                          say=lambda text: None, project_id=project_id)
        self.cloud.update("ports", self.vms[name]["port_id"], security_groups=[group["id"]])

    def serve(self, name: str) -> None:
        server = self.spawn_in(name, NAME_SERVER, name, stdout=subprocess.PIPE, text=True)
        self.servers.append(server)
        assert server.stdout.readline().strip() == "listening", f"no name server in {name}"

    def spawn_in(self, name: str, script: str, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(instances.exec_argv(self.cloud.lab, name, [
            sys.executable, "-c", script, *args]), **kw)

    # -- probes --------------------------------------------------------------------
    def seen_outside(self, vm: str) -> str:
        """Source address 203.0.113.10 saw from ``vm`` ('' when it was not reached)."""
        out = self.cloud.in_vm(vm, "curl", "-s", "-m", "3", f"http://{OUTSIDE}/").stdout
        return out.strip().removeprefix("you are ")

    def upstream(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(node.exec_argv(self.cloud.lab, "upstream", list(cmd)),
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def reached_from_outside(self, address: str) -> str:
        """Name of the instance answering TCP 22 at ``address`` from upstream ('' none)."""
        return self.upstream("busybox", "nc", "-w", "2", address, str(PORT)).stdout.strip()

    def pinged_from_outside(self, address: str) -> bool:
        return self.upstream("ping", "-c", "1", "-W", "1", address).returncode == 0

    def tcp_east_west(self, src: str, dst: str) -> str:
        return self.cloud.in_vm(src, "busybox", "nc", "-w", "2", self.ips[dst],
                                str(PORT)).stdout.strip()

    def metadata(self, vm: str, path: str, *headers: str) -> str:
        extra = [arg for header in headers for arg in ("-H", header)]
        return self.cloud.in_vm(vm, "curl", "-s", "-m", "5", *extra,
                                f"{METADATA}{path}").stdout.strip()

    def router_iptables(self, router_id: str) -> str:
        text = self.cloud.on_node("controller", "ip", "netns", "exec", f"qrouter-{router_id}",
                                  "iptables-save")
        return "\n".join(re.sub(r"^:(\S+ \S+) \[\d+:\d+\]$", r":\1", line)
                         for line in text.splitlines() if not line.startswith("#"))


@pytest.fixture(scope="module")
def ns(cloud):
    s = NorthSouth(cloud)
    try:
        s.ext = s.external()
        _, sub_a = s.tenant(None, "ns-a", "10.20.1.0/24")
        _, sub_b = s.tenant(None, "ns-b", "10.20.2.0/24")
        s.subnet_b = sub_b
        s.r1 = s.router(None, "ns-r1", s.ext, [sub_a, sub_b])
        group = s.open_group(None)
        for name, net, host in (("n1", "ns-a", "compute01"), ("n2", "ns-a", "compute02"),
                                ("n3", "ns-b", "compute02")):
            s.boot(name, net, host, group)
        s.routers = {}
        for project, vm, host in (("nsx", "x1", "compute01"), ("nsy", "y1", "compute02")):
            _, sub = s.tenant(project, f"ns-{project[-1]}", "10.30.0.0/24")
            s.routers[vm] = s.router(project, f"ns-r{project[-1]}", s.ext, [sub])
            s.boot(vm, f"ns-{project[-1]}", host, s.open_group(project), project=project)
        s.ips = {name: cloud.lease(name, timeout=60) for name in s.vms}
        for name in s.vms:
            s.serve(name)
        s.fips = {}
        for vm, project in (("n1", None), ("x1", "nsx"), ("y1", "nsy")):
            s.fips[vm] = s.post(s.client(project), "floatingips",
                                floating_network_id=s.ext["id"],
                                port_id=s.vms[vm]["port_id"])
        yield s
    finally:
        for server in s.servers:
            server.kill()
            server.wait()


def address(fip: dict) -> str:
    return fip["floating_ip_address"]


def test_snat_and_floating_ip_as_the_outside_sees_them(ns):
    gateway = ns.gateway_ip(ns.r1["id"])
    fip = address(ns.fips["n1"])
    assert wait_for(lambda: ns.seen_outside("n2") == gateway), ns.seen_outside("n2")
    assert wait_for(lambda: ns.seen_outside("n3") == gateway), ns.seen_outside("n3")
    assert wait_for(lambda: ns.seen_outside("n1") == fip), ns.seen_outside("n1")
    assert wait_for(lambda: ns.pinged_from_outside(fip)), f"upstream cannot ping {fip}"
    assert wait_for(lambda: ns.reached_from_outside(fip) == "n1"), ns.reached_from_outside(fip)
    status = ns.cloud.get("floatingips", ns.fips["n1"]["id"])["status"]
    assert status == "ACTIVE"


def test_nat_table_reads_like_the_seed(ns):
    rules = ns.router_iptables(ns.r1["id"])
    gateway, fip = ns.gateway_ip(ns.r1["id"]), address(ns.fips["n1"])
    assert f"-A neutron-l3-agent-snat -o {ns.qg(ns.r1['id'])} -j SNAT --to-source {gateway}" \
        in rules
    assert f"-A neutron-l3-agent-PREROUTING -d {fip}/32 -j DNAT --to-destination " \
           f"{ns.ips['n1']}" in rules
    assert f"-A neutron-l3-agent-float-snat -s {ns.ips['n1']}/32 -j SNAT --to-source {fip}" \
        in rules
    assert "-A neutron-l3-agent-PREROUTING -d 169.254.169.254/32 -i qr-+ -p tcp -m tcp " \
           "--dport 80 -j REDIRECT --to-ports 9697" in rules


def test_instances_read_their_own_metadata(ns):
    for vm in ("n1", "n2", "n3", "x1", "y1"):
        want = ns.vms[vm]["id"]
        assert wait_for(lambda: ns.metadata(vm, "/latest/meta-data/instance-id") == want,
                        10), vm
        assert ns.metadata(vm, "/latest/meta-data/local-ipv4") == ns.ips[vm]


def test_metadata_answers_only_for_the_asking_instance(ns):
    # x1 and y1 hold the same address in the same CIDR behind different routers.
    assert ns.ips["x1"] == ns.ips["y1"]
    assert ns.metadata("x1", "/latest/meta-data/instance-id") == ns.vms["x1"]["id"]
    assert ns.metadata("y1", "/latest/meta-data/instance-id") == ns.vms["y1"]["id"]
    forged = f"X-Forwarded-For: {ns.ips['n1']}"
    assert ns.metadata("n2", "/latest/meta-data/instance-id", forged) == ns.vms["n2"]["id"]
    forged_router = f"X-Neutron-Router-ID: {ns.routers['x1']['id']}"
    assert ns.metadata("y1", "/latest/meta-data/instance-id", forged_router) \
        == ns.vms["y1"]["id"]
    assert ns.metadata("n2", "/latest/meta-data/public-ipv4") != address(ns.fips["n1"])
    assert ns.metadata("n1", "/latest/meta-data/public-ipv4") == address(ns.fips["n1"])


def test_east_west_between_two_networks_through_the_router(ns):
    assert wait_for(lambda: ns.cloud.ping("n1", ns.ips["n3"], count=1)), "n1 -> n3"
    assert ns.cloud.ping("n3", ns.ips["n2"], count=1), "n3 -> n2"
    assert ns.tcp_east_west("n1", "n3") == "n3"
    assert ns.tcp_east_west("n3", "n1") == "n1"


def test_two_projects_with_one_cidr_both_reach_out_and_in(ns):
    for vm in ("x1", "y1"):
        gateway = ns.gateway_ip(ns.routers[vm]["id"])
        assert wait_for(lambda: ns.seen_outside(vm) == address(ns.fips[vm])), vm
        fip = address(ns.fips[vm])
        assert wait_for(lambda: ns.reached_from_outside(fip) == vm), (vm, fip)
        assert gateway != fip
    assert address(ns.fips["x1"]) != address(ns.fips["y1"])


def test_disassociating_stops_inbound_and_moving_moves_it(ns):
    fip, gateway = address(ns.fips["n1"]), ns.gateway_ip(ns.r1["id"])
    assert wait_for(lambda: ns.reached_from_outside(fip) == "n1")
    try:
        ns.fip_to(ns.fips["n1"], None)
        assert wait_for(lambda: not ns.pinged_from_outside(fip)), "still answers unassociated"
        assert ns.reached_from_outside(fip) == ""
        assert wait_for(lambda: ns.seen_outside("n1") == gateway), "n1 not back on SNAT"
        ns.fip_to(ns.fips["n1"], "n2")
        assert wait_for(lambda: ns.reached_from_outside(fip) == "n2"), "the move did not land"
        assert wait_for(lambda: ns.seen_outside("n2") == fip)
        assert ns.seen_outside("n1") == gateway
    finally:
        ns.fip_to(ns.fips["n1"], "n1")
    assert wait_for(lambda: ns.reached_from_outside(fip) == "n1")


def test_removing_an_interface_cuts_exactly_that_network(ns):
    subnet = ns.subnet_b["id"]
    resp = ns.router_put(ns.r1["id"], "remove_router_interface", subnet_id=subnet)
    assert resp.status_code == 200, resp.text
    try:
        assert wait_for(lambda: not ns.cloud.ping("n1", ns.ips["n3"], count=1)), \
            "n3's network still routed"
        assert ns.seen_outside("n3") == ""
        assert ns.seen_outside("n2") == ns.gateway_ip(ns.r1["id"])
        assert ns.reached_from_outside(address(ns.fips["n1"])) == "n1"
    finally:
        resp = ns.router_put(ns.r1["id"], "add_router_interface", subnet_id=subnet)
        assert resp.status_code == 200, resp.text
    assert wait_for(lambda: ns.cloud.ping("n3", ns.ips["n1"], count=1)), "not restored"


def test_removing_the_gateway_cuts_the_outside_only(ns):
    router_id = ns.r1["id"]
    ns.fip_to(ns.fips["n1"], None)            # Neutron refuses while a floating IP uses it
    try:
        ns.cloud.update("routers", router_id, external_gateway_info={})
        assert wait_for(lambda: ns.seen_outside("n2") == ""), "n2 still gets out"
        assert ns.seen_outside("n3") == ""
        assert ns.cloud.ping("n1", ns.ips["n3"], count=1), "east-west cut too"
        assert ns.tcp_east_west("n3", "n2") == "n2"
    finally:
        ns.cloud.update("routers", router_id,
                        external_gateway_info={"network_id": ns.ext["id"]})
        ns.fip_to(ns.fips["n1"], "n1")
    gateway = ns.gateway_ip(router_id)
    assert wait_for(lambda: ns.seen_outside("n2") == gateway), "the way out did not come back"
    assert wait_for(lambda: ns.reached_from_outside(address(ns.fips["n1"])) == "n1")


def test_snat_disabled_leaves_only_floating_ips_out(ns):
    router_id = ns.r1["id"]
    try:
        ns.cloud.update("routers", router_id, external_gateway_info={
            "network_id": ns.ext["id"], "enable_snat": False})
        assert wait_for(lambda: ns.seen_outside("n2") == ""), "n2 still SNATed"
        assert ns.seen_outside("n1") == address(ns.fips["n1"])
        assert ns.reached_from_outside(address(ns.fips["n1"])) == "n1"
        rules = ns.router_iptables(router_id)
        assert f"-o {ns.qg(router_id)} -j SNAT" not in rules
        assert f"-A neutron-l3-agent-float-snat -s {ns.ips['n1']}/32 -j SNAT" in rules
    finally:
        ns.cloud.update("routers", router_id, external_gateway_info={
            "network_id": ns.ext["id"], "enable_snat": True})
    assert wait_for(lambda: ns.seen_outside("n2") == ns.gateway_ip(router_id))


def test_deleting_a_router_removes_its_namespace_and_ports(ns):
    cloud = ns.cloud
    _, subnet = ns.tenant(None, "ns-c", "10.20.3.0/24")
    router = ns.router(None, "ns-tmp", ns.ext, [subnet])
    ports = cloud.api.get("/v2.0/ports", params={"device_id": router["id"]}).json()["ports"]
    devices = {("qg-" if p["device_owner"] == "network:router_gateway" else "qr-") + p["id"][:11]
               for p in ports}
    assert len(devices) == 2

    def wired() -> set:
        return devices & set(cloud.on_node("controller", "ovs-vsctl", "list-ports",
                                           "br-int").split())

    def namespaces() -> str:
        return cloud.on_node("controller", "ip", "netns", "list")

    assert wait_for(lambda: wired() == devices and f"qrouter-{router['id']}" in namespaces())
    resp = ns.router_put(router["id"], "remove_router_interface", subnet_id=subnet["id"])
    assert resp.status_code == 200, resp.text
    cloud.delete("routers", router["id"])
    assert wait_for(lambda: not wired() and f"qrouter-{router['id']}" not in namespaces()), \
        (wired(), namespaces())
    assert cloud.api.get("/v2.0/ports",
                         params={"device_id": router["id"]}).json()["ports"] == []


def test_l3_agent_restart_keeps_connections_and_rules(ns):
    cloud, router_id = ns.cloud, ns.r1["id"]
    echo = subprocess.Popen(node.exec_argv(cloud.lab, "upstream", [
        sys.executable, "-c", ECHO_SERVER]), stdout=subprocess.PIPE, text=True)
    stream = None
    try:
        assert echo.stdout.readline().strip() == "listening", "the echo server did not start"
        assert wait_for(lambda: ns.seen_outside("n2") == ns.gateway_ip(router_id))
        before = ns.router_iptables(router_id)
        stream = ns.spawn_in("n2", STREAM_CLIENT, OUTSIDE, str(ECHO_PORT),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        assert stream.stdout.readline().strip() == "connected", stream.stderr.read()
        log = cloud.lab.node_dir("controller", "log", "agent-l3.log")
        with open(log) as f:
            offset = len(f.read())
        old = cloud.pid("agent-l3@controller")
        os.kill(old, signal.SIGTERM)
        assert wait_for(lambda: not proc.pid_alive(old), 15), "the L3 agent did not stop"
        cloud.restart_missing()

        def resynced() -> bool:
            with open(log) as f:
                return f"router {router_id} applied" in f.read()[offset:]
        assert wait_for(resynced, 30), "the restarted agent never applied the router"
        time.sleep(1)                       # the connection keeps going across the sync
        out, err = stream.communicate("stop\n", timeout=30)
        assert stream.returncode == 0 and out.startswith("echoes"), out + err
        assert ns.router_iptables(router_id) == before
        assert ns.seen_outside("n2") == ns.gateway_ip(router_id)
        assert ns.reached_from_outside(address(ns.fips["n1"])) == "n1"
    finally:
        for p in (stream, echo):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_floating_ip_answers_only_what_the_group_allows(ns):
    """Issue 5 beside the seed's mistake: port security stays on; the group decides."""
    fip, port = address(ns.fips["n1"]), ns.vms["n1"]["port_id"]
    open_group = ns.cloud.get("ports", port)["security_groups"]
    only_ssh = ns.post(ns.cloud.api, "security-groups", name="ns-only-ssh")
    ns.post(ns.cloud.api, "security-group-rules", security_group_id=only_ssh["id"],
            direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=PORT, port_range_max=PORT)
    only_icmp = ns.post(ns.cloud.api, "security-groups", name="ns-only-icmp")
    ns.post(ns.cloud.api, "security-group-rules", security_group_id=only_icmp["id"],
            direction="ingress", ethertype="IPv4", protocol="icmp")
    try:
        assert ns.cloud.get("ports", port)["port_security_enabled"] is True
        ns.cloud.update("ports", port, security_groups=[only_ssh["id"]])
        assert wait_for(lambda: not ns.pinged_from_outside(fip)), "ICMP not in the group"
        assert wait_for(lambda: ns.reached_from_outside(fip) == "n1"), "TCP 22 is allowed"
        ns.cloud.update("ports", port, security_groups=[only_icmp["id"]])
        assert wait_for(lambda: ns.reached_from_outside(fip) == ""), "TCP 22 not in the group"
        assert wait_for(lambda: ns.pinged_from_outside(fip)), "ICMP is allowed"
        project = ns.cloud.get("ports", port)["project_id"]
        default = ns.cloud.api.get("/v2.0/security-groups", params={
            "name": "default", "project_id": project}).json()["security_groups"]
        ns.cloud.update("ports", port, security_groups=[default[0]["id"]])
        assert wait_for(lambda: not ns.pinged_from_outside(fip) and
                        ns.reached_from_outside(fip) == ""), \
            "the default group lets in only its own members"
    finally:
        ns.cloud.update("ports", port, security_groups=open_group)
        for group in (only_ssh, only_icmp):
            ns.cloud.api.delete(f"/v2.0/security-groups/{group['id']}")
    assert wait_for(lambda: ns.reached_from_outside(fip) == "n1")
