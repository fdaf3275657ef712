"""Issue 5 on the real data plane: security groups and port security.

Four instances on network `sgnet` 10.21.0.0/24 (a1, a2 on compute01; b1, c1
on compute02) run a small echo responder (TCP 5001, UDP 5002). Their ports
are put in groups the way a user would (API calls):

* SRV (a2, b1): ingress ICMP from a1's address (CIDR), TCP 5001 from members
  of CLI (remote group), UDP 5002 from 10.21.0.0/24 (CIDR);
* CLI (a1) and OTHER (c1): only the two egress rules of a new group.

Allowed traffic must pass and get its replies back (stateful: no group lets
anything in to a1 or c1); denied traffic must not pass, on one node and
across VXLAN.
"""
from __future__ import annotations

import difflib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from neutrino.lab import instances
from neutrino.linux import proc

pytestmark = pytest.mark.dataplane

CIDR, CIDR2 = "10.21.0.0/24", "10.22.0.0/24"
TCP_PORT, UDP_PORT = 5001, 5002
VIP = "10.21.0.99"

TOOL = r'''
"""Echo responder, probes and a long-lived stream, for the SG end-to-end tests."""
import socket, sys, threading, time

def serve(log):
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", %(tcp)d)); tcp.listen(64)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", %(udp)d))

    def echo(conn):
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                conn.sendall(data)

    def accept():
        while True:
            conn, _ = tcp.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
    threading.Thread(target=accept, daemon=True).start()
    print("ready", flush=True)
    while True:
        data, addr = udp.recvfrom(4096)
        with open(log, "a") as f:
            f.write("%%s %%s\n" %% (addr[0], data.decode(errors="replace")))
        udp.sendto(data, addr)

def probe(proto, host, timeout, src, token):
    try:
        if proto == "tcp":
            s = socket.create_connection((host, %(tcp)d), timeout=float(timeout),
                                         source_address=(src, 0) if src else None)
            s.sendall(token.encode())
            ok = s.recv(64) == token.encode()
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(float(timeout))
            if src:
                s.bind((src, 0))
            s.sendto(token.encode(), (host, %(udp)d))
            ok = s.recvfrom(64)[0] == token.encode()
    except OSError:
        ok = False
    sys.exit(0 if ok else 1)

def stream(host, seconds):
    s = socket.create_connection((host, %(tcp)d), timeout=3)
    s.settimeout(3)
    print("connected", flush=True)
    end, n = time.monotonic() + float(seconds), 0
    while time.monotonic() < end:
        s.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = s.recv(4 - len(got))
            if not chunk:
                print("closed after %%d" %% n, flush=True); sys.exit(1)
            got += chunk
        n += 1
        time.sleep(0.05)
    print("echoes %%d" %% n, flush=True)

if __name__ == "__main__":
    {"serve": serve, "probe": probe, "stream": stream}[sys.argv[1]](*sys.argv[2:])
''' % {"tcp": TCP_PORT, "udp": UDP_PORT}


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Sg:
    """The instances, their groups, and the probes between them."""

    def __init__(self, cloud, tmp):
        self.cloud = cloud
        self.tmp = tmp
        self.tool = os.path.join(tmp, "sgtool.py")
        with open(self.tool, "w") as f:
            f.write(TOOL)
        self.vms: dict[str, dict] = {}
        self.ips: dict[str, str] = {}
        self.responders: list[subprocess.Popen] = []

    # -- API, as a user would call it ------------------------------------------
    def group(self, name: str) -> dict:
        resp = self.cloud.api.post("/v2.0/security-groups",
                                   json={"security_group": {"name": name}})
        assert resp.status_code == 201, resp.text
        return resp.json()["security_group"]

    def rule(self, sg: dict, **body) -> dict:
        body = {"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
                **body}
        resp = self.cloud.api.post("/v2.0/security-group-rules",
                                   json={"security_group_rule": body})
        assert resp.status_code == 201, resp.text
        return resp.json()["security_group_rule"]

    def delete_rule(self, rule: dict) -> None:
        self.cloud.delete("security-group-rules", rule["id"])

    def port(self, name: str) -> dict:
        return self.cloud.get("ports", self.vms[name]["port_id"])

    def set_port(self, name: str, **body) -> dict:
        return self.cloud.update("ports", self.vms[name]["port_id"], **body)

    # -- instances -------------------------------------------------------------
    def boot(self, name: str, network: str, host: str) -> None:
        self.vms[name] = self.cloud.boot(name, network, host)
        self.ips[name] = self.cloud.lease(name)

    def serve(self, name: str) -> None:
        log = self.log(name)
        open(log, "w").close()
        proc = subprocess.Popen(
            instances.exec_argv(self.cloud.lab, name, [sys.executable, self.tool, "serve", log]),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.responders.append(proc)
        assert proc.stdout.readline().strip() == "ready"

    def pin_neighbours(self, name: str, *peers: str) -> None:
        """Permanent ARP entries in ``name`` for ``peers``: a datagram from a
        forged source then leaves at once instead of waiting in the neighbour
        queue behind an ARP request (which carries the forged address, is
        dropped by br-int, and would let the datagram out later, once allowed)."""
        for peer in peers:
            assert self.cloud.in_vm(name, "ip", "neigh", "replace", self.ips[peer], "lladdr",
                                    self.vms[peer]["mac"], "dev", "eth0",
                                    "nud", "permanent").returncode == 0

    def unpin_neighbours(self, name: str, *peers: str) -> None:
        for peer in peers:
            self.cloud.in_vm(name, "ip", "neigh", "del", self.ips[peer], "dev", "eth0")

    def log(self, name: str) -> str:
        return os.path.join(self.tmp, f"{name}.udp.log")

    def received(self, name: str) -> str:
        with open(self.log(name)) as f:
            return f.read()

    def probe(self, src: str, dst: str, proto: str, timeout: float = 1.0,
              src_ip: str | None = None, token: str | None = None) -> bool:
        if proto == "icmp":
            cmd = ["ping", "-c", "1", "-W", f"{timeout:g}", self.ips[dst]]
            if src_ip:
                cmd[1:1] = ["-I", src_ip]
        else:
            cmd = [sys.executable, self.tool, "probe", proto, self.ips[dst], str(timeout),
                   src_ip or "", token or uuid.uuid4().hex[:8]]
        return self.cloud.in_vm(src, *cmd, timeout=30).returncode == 0

    def matrix(self, cells) -> dict:
        """{(src, dst, proto): passed} for every cell, probed in parallel (a 2 s
        wait, so that a loaded machine does not turn an allowed cell into a deny)."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(lambda c: self.probe(*c, timeout=2.0), cells)
            return dict(zip(cells, results))

    # -- the compute nodes -------------------------------------------------------
    def chain(self, name: str, kind: str) -> str:
        """``iptables -S`` of the instance port's i/o chain on its node ('' if none)."""
        vm = self.vms[name]
        return self.cloud.on_node(vm["host"], "iptables", "-S",
                                  f"neutron-openvswi-{kind}{vm['port_id'][:10]}", check=False)

    def save(self, host: str) -> str:
        """The node's iptables-save (v4 and v6) and ipsets, without counters."""
        text = "".join(self.cloud.on_node(host, cmd) for cmd in ("iptables-save",
                                                                  "ip6tables-save"))
        text += self.cloud.on_node(host, "ipset", "save")
        lines = [re.sub(r" \[\d+:\d+\]$", "", line) for line in text.splitlines()
                 if not line.startswith("#")]
        return "\n".join(lines)


@pytest.fixture(scope="module")
def sg(cloud, tmp_path_factory):
    """The instances and groups of the module docstring, wired and verified."""
    s = Sg(cloud, str(tmp_path_factory.mktemp("sg")))
    os.chmod(s.tmp, 0o755)
    try:
        cloud.network("sgnet", CIDR)
        for name, host in (("a1", "compute01"), ("a2", "compute01"),
                           ("b1", "compute02"), ("c1", "compute02")):
            s.boot(name, "sgnet", host)
        s.srv, s.cli, s.other = s.group("SRV"), s.group("CLI"), s.group("OTHER")
        s.rule(s.srv, protocol="icmp", remote_ip_prefix=f"{s.ips['a1']}/32")
        s.rule(s.srv, protocol="tcp", port_range_min=TCP_PORT, port_range_max=TCP_PORT,
               remote_group_id=s.cli["id"])
        s.rule(s.srv, protocol="udp", port_range_min=UDP_PORT, port_range_max=UDP_PORT,
               remote_ip_prefix=CIDR)
        for name, group in (("a1", s.cli), ("a2", s.srv), ("b1", s.srv), ("c1", s.other)):
            s.set_port(name, security_groups=[group["id"]])
        for name in ("a2", "b1"):
            assert wait_for(lambda: "match-set NIPv4" in s.chain(name, "i"), 5), name
        for name in ("a1", "c1"):        # out of default: no ingress rule left
            assert wait_for(lambda: "RELATED" in s.chain(name, "i")
                            and "match-set" not in s.chain(name, "i"), 5), name
        for name in s.vms:
            s.serve(name)
        yield s
    finally:
        for proc in s.responders:
            proc.kill()
            proc.wait()


def test_reachability_matrix(sg):
    yes, no = True, False
    expect = {
        # same node (compute01) and across VXLAN: a1 is in CLI and is a1
        ("a1", "a2", "icmp"): yes, ("a1", "a2", "tcp"): yes, ("a1", "a2", "udp"): yes,
        ("a1", "b1", "icmp"): yes, ("a1", "b1", "tcp"): yes, ("a1", "b1", "udp"): yes,
        # c1 is neither a1 nor in CLI: only the CIDR rule lets it in
        ("c1", "b1", "icmp"): no, ("c1", "b1", "tcp"): no, ("c1", "b1", "udp"): yes,
        ("c1", "a2", "icmp"): no, ("c1", "a2", "tcp"): no, ("c1", "a2", "udp"): yes,
        # SRV to SRV: only the CIDR
        ("b1", "a2", "icmp"): no, ("b1", "a2", "tcp"): no, ("b1", "a2", "udp"): yes,
        # nothing gets in to a1 or c1; their replies above came back on state
        ("a2", "a1", "icmp"): no, ("a2", "a1", "tcp"): no, ("a2", "a1", "udp"): no,
        ("b1", "c1", "icmp"): no, ("b1", "c1", "udp"): no,
    }
    got = sg.matrix(list(expect))
    wrong = {cell: got[cell] for cell in expect if got[cell] != expect[cell]}
    assert not wrong, f"cells that differ (True = passed): {wrong}"


def test_chains_read_like_neutrons(sg):
    ingress, egress = sg.chain("a2", "i"), sg.chain("a2", "o")
    id10 = sg.vms["a2"]["port_id"][:10]
    assert f"-A neutron-openvswi-i{id10} -m state --state RELATED,ESTABLISHED" in ingress
    assert f"-s {sg.ips['a1']}/32 -p icmp -j RETURN" in ingress
    assert f"-m set --match-set NIPv4{sg.cli['id'][:24]} src" in ingress
    assert f"-j neutron-openvswi-s{id10}" in egress
    assert "--sport 67 --dport 68" in egress and "-j DROP" in egress
    ipset = sg.cloud.on_node("compute02", "ipset", "list", f"NIPv4{sg.cli['id'][:24]}")
    assert sg.ips["a1"] in ipset


def test_forged_source_ip_and_mac_are_dropped(sg):
    forged = "10.21.0.222"
    assert sg.cloud.in_vm("c1", "ip", "addr", "add", f"{forged}/32", "dev", "eth0").returncode == 0
    sg.pin_neighbours("c1", "a2", "b1")
    try:
        assert not sg.probe("c1", "a2", "udp", src_ip=forged, token="forgedip")
        assert not sg.probe("c1", "b1", "udp", src_ip=forged, token="forgedip2")
        time.sleep(0.3)
        assert "forgedip" not in sg.received("a2") + sg.received("b1")
    finally:
        sg.unpin_neighbours("c1", "a2", "b1")
        sg.cloud.in_vm("c1", "ip", "addr", "del", f"{forged}/32", "dev", "eth0")
    real = sg.vms["c1"]["mac"]
    assert sg.cloud.in_vm("c1", "ip", "link", "set", "eth0", "address",
                          "fa:16:3e:de:ad:01").returncode == 0
    try:
        sg.cloud.in_vm("c1", "ip", "neigh", "flush", "all")
        assert not sg.probe("c1", "b1", "udp", token="forgedmac")
        assert not sg.probe("c1", "a2", "udp", token="forgedmac2")
        time.sleep(0.3)
        assert "forgedmac" not in sg.received("a2") + sg.received("b1")
    finally:
        sg.cloud.in_vm("c1", "ip", "link", "set", "eth0", "address", real)
    assert wait_for(lambda: sg.probe("c1", "b1", "udp", token="realmac"), 5)


def test_allowed_address_pair_lets_a_virtual_ip_through(sg):
    assert sg.cloud.in_vm("c1", "ip", "addr", "add", f"{VIP}/32", "dev", "eth0").returncode == 0
    sg.pin_neighbours("c1", "a2")
    try:
        assert not sg.probe("c1", "a2", "udp", src_ip=VIP, token="vipbefore")
        sg.set_port("c1", allowed_address_pairs=[{"ip_address": VIP}])
        try:
            assert wait_for(lambda: sg.probe("c1", "a2", "udp", src_ip=VIP,
                                             token="vipafter"), 5)
            assert f"{VIP} vipafter" in sg.received("a2")
            assert f"{VIP} vipbefore" not in sg.received("a2")
        finally:
            sg.set_port("c1", allowed_address_pairs=[])
        assert wait_for(lambda: not sg.probe("c1", "a2", "udp", src_ip=VIP), 5), \
            "the virtual IP still passes after the pair was removed"
    finally:
        sg.unpin_neighbours("c1", "a2")
        sg.cloud.in_vm("c1", "ip", "addr", "del", f"{VIP}/32", "dev", "eth0")


def test_dhcp_server_in_an_instance_reaches_nobody(sg):
    """a2 runs udhcpd (its group lets DHCP requests in); a1 and b1 ask for a lease."""
    rule = sg.rule(sg.srv, protocol="udp", port_range_min=67, port_range_max=67)
    conf = os.path.join(sg.tmp, "udhcpd.conf")
    with open(conf, "w") as f:
        f.write(f"start 10.21.0.200\nend 10.21.0.210\ninterface eth0\n"
                f"lease_file {sg.tmp}/udhcpd.leases\npidfile {sg.tmp}/udhcpd.pid\n"
                "option subnet 255.255.255.0\n")
    open(os.path.join(sg.tmp, "udhcpd.leases"), "w").close()
    rogue = subprocess.Popen(instances.exec_argv(sg.cloud.lab, "a2", [
        "busybox", "udhcpd", "-f", conf]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    captures = {}
    try:
        def capture(name, seconds=4):
            captures[name] = sg.cloud.in_vm(name, "timeout", str(seconds), "tcpdump", "-l",
                                            "-n", "-i", "any", "udp", "src", "port", "67",
                                            timeout=30).stdout
        threads = [threading.Thread(target=capture, args=(n,)) for n in ("a1", "b1", "a2")]
        for t in threads:
            t.start()
        time.sleep(1)
        for name in ("a1", "b1"):
            sg.cloud.in_vm(name, "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "2",
                           "-T", "1", "-s", "/bin/true", timeout=30)
        for t in threads:
            t.join()
    finally:
        rogue.kill()
        rogue.wait()
        sg.delete_rule(rule)
    rogue_ip = sg.ips["a2"]
    assert f"IP {rogue_ip}.67 >" in captures["a2"], "udhcpd never answered: nothing tested"
    for name in ("a1", "b1"):
        assert "10.21.0.2.67 >" in captures[name], f"{name} saw no reply from the real DHCP"
        assert f"{rogue_ip}.67 >" not in captures[name], f"{name} got the rogue's offer"


def test_remote_group_membership_opens_and_closes_on_other_nodes(sg):
    assert not sg.probe("c1", "a2", "tcp")
    sg.set_port("c1", security_groups=[sg.other["id"], sg.cli["id"]])
    try:
        assert wait_for(lambda: sg.probe("c1", "a2", "tcp"), 5), "joining CLI opened nothing"
        assert sg.probe("c1", "b1", "tcp")
    finally:
        sg.set_port("c1", security_groups=[sg.other["id"]])
    assert wait_for(lambda: not sg.probe("c1", "a2", "tcp", timeout=0.5), 5)
    assert not sg.probe("c1", "b1", "tcp")


def _first_success(probe, want: bool, limit: float) -> float | None:
    """Seconds from now until a probe *sent* then gave ``want``."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        sent = time.monotonic()
        if probe() == want:
            return sent - started
    return None


def test_rule_change_takes_effect_within_a_second(sg):
    assert not sg.probe("c1", "a2", "icmp")
    started = time.monotonic()
    rule = sg.rule(sg.srv, protocol="icmp", remote_ip_prefix=f"{sg.ips['c1']}/32")
    took = _first_success(lambda: sg.probe("c1", "a2", "icmp", timeout=0.3), True, 5)
    assert took is not None, "the new rule never took effect"
    api = time.monotonic() - started - took
    print(f"rule added: ICMP passes {took:.2f} s after the API answered ({api:.2f} s)")
    assert took < 1.0
    sg.delete_rule(rule)
    took = _first_success(lambda: sg.probe("c1", "a2", "icmp", timeout=0.3), False, 5)
    assert took is not None and took < 1.0, f"rule removal took {took}"


def test_port_security_off_lets_an_instance_route(sg, cloud):
    """rt has a port on sgnet and one on sgnet2; a1 and d1 route through it."""
    cloud.network("sgnet2", CIDR2)
    sg.boot("d1", "sgnet2", "compute02")
    sg.boot("rt", "sgnet", "compute01")
    sg.boot("rt_b", "sgnet2", "compute01")
    # rt_b's eth0 becomes rt's second NIC (a two-port instance).
    rt_b = sg.vms["rt_b"]
    os.kill(rt_b["pid"], signal.SIGTERM)
    assert cloud.in_vm("rt_b", "ip", "link", "set", "eth0", "down", "name",
                       "eth1").returncode == 0
    subprocess.run(["ip", "-n", rt_b["netns"], "link", "set", "eth1", "netns",
                    sg.vms["rt"]["netns"]], check=True)
    for cmd in (["ip", "addr", "add", f"{sg.ips['rt_b']}/24", "dev", "eth1"],
                ["ip", "link", "set", "eth1", "up"],
                ["sysctl", "-qw", "net.ipv4.ip_forward=1"]):
        assert cloud.in_vm("rt", *cmd).returncode == 0, cmd
    allow = sg.group("ALLOW")
    sg.rule(allow, remote_ip_prefix="0.0.0.0/0")
    for name in ("rt", "rt_b", "d1"):
        sg.set_port(name, security_groups=[allow["id"]])
    assert cloud.in_vm("a1", "ip", "route", "replace", CIDR2, "via", sg.ips["rt"]).returncode == 0
    assert cloud.in_vm("d1", "ip", "route", "replace", CIDR, "via",
                       sg.ips["rt_b"]).returncode == 0
    assert wait_for(lambda: cloud.ping("rt", sg.ips["d1"], count=1), 5), "rt cannot reach d1"
    assert not cloud.ping("a1", sg.ips["d1"], count=2), "routed with port security on"
    for name in ("rt", "rt_b"):
        sg.set_port(name, security_groups=[], port_security_enabled=False)
    assert wait_for(lambda: cloud.ping("a1", sg.ips["d1"], count=1), 5), \
        "no routing with port security off"
    assert sg.chain("rt", "i") == "" and sg.chain("rt", "o") == ""
    for name in ("rt", "rt_b"):
        sg.set_port(name, port_security_enabled=True, security_groups=[allow["id"]])
    assert wait_for(lambda: not cloud.ping("a1", sg.ips["d1"], count=1), 5), \
        "port security back on still routes"


def test_agent_restart_keeps_connections_and_the_same_ruleset(sg, cloud):
    host = "compute01"
    before = sg.save(host)
    log = cloud.lab.node_dir(host, "log", "agent-ovs.log")
    with open(log) as f:
        applied = f.read().count("firewall:")
    stream = subprocess.Popen(instances.exec_argv(cloud.lab, "a1", [
        sys.executable, sg.tool, "stream", sg.ips["a2"], "6"]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert stream.stdout.readline().strip() == "connected"
        old = cloud.pid(f"agent-ovs@{host}")
        os.kill(old, signal.SIGTERM)
        assert wait_for(lambda: not proc.pid_alive(old), 10), "the agent did not stop"
        cloud.restart_missing()

        def reapplied():
            with open(log) as f:
                return f.read().count("firewall:") > applied
        assert wait_for(reapplied, 10), "the restarted agent never synced its firewall"
        out, err = stream.communicate(timeout=30)
    finally:
        if stream.poll() is None:
            stream.kill()
    assert stream.returncode == 0 and out.startswith("echoes"), out + err
    after = sg.save(host)
    assert after == before, "\n".join(difflib.unified_diff(
        before.splitlines(), after.splitlines(), lineterm=""))
