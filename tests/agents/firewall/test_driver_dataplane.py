"""The hybrid firewall with real packets.

A throwaway "compute" namespace holds the hybrid plug of two instances built
from plain Linux pieces: instance eth0 <-> tap<id11> (veth) in qbr<id11>,
qvb<id11>/qvo<id11> (veth) from qbr to a Linux bridge standing in for br-int.
br_netfilter hands the bridged packets to the iptables the driver writes.
"""
import subprocess
import uuid

import pytest

from neutrino.agents.firewall.driver import FirewallDriver
from neutrino.agents.firewall.hybrid import PREFIX, tap_name
from neutrino.agents.firewall.trace import Packet, hybrid_hops, origin, trace
from neutrino.linux import proc
from neutrino.linux.iptables import SAVE_CMD as SAVE
from neutrino.linux.iptables import IptablesManager, parse_save
from neutrino.linux.ipset import IpsetManager

pytestmark = pytest.mark.dataplane

SUBNET = "10.0.0.{}/24"
VIP = "10.0.0.99"


def sh(*cmd, netns=None):
    return proc.run(list(cmd), netns=netns).out


class Lab:
    def __init__(self):
        sfx = uuid.uuid4().hex[:8]
        self.compute = f"nt-fwc-{sfx}"
        self.names = [self.compute]
        self.ports = []
        self.restores = []

    def build(self):
        sh("ip", "netns", "add", self.compute)
        sh("ip", "link", "add", "brint", "type", "bridge", netns=self.compute)
        sh("ip", "link", "set", "brint", "up", netns=self.compute)
        sh("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1",
           "net.bridge.bridge-nf-call-ip6tables=1", netns=self.compute)
        for n in (1, 2):
            self._instance(n)

    def _instance(self, n):
        pid = str(uuid.uuid4())
        mac = "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3])
        ns = f"{self.compute}-vm{n}"
        self.names.append(ns)
        sh("ip", "netns", "add", ns)
        c = self.compute
        qbr, qvb, qvo, tap = (f"{p}{pid[:11]}" for p in ("qbr", "qvb", "qvo", "tap"))
        sh("ip", "link", "add", qbr, "type", "bridge", netns=c)
        sh("ip", "link", "add", qvb, "type", "veth", "peer", "name", qvo, netns=c)
        sh("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", ns,
           netns=c)
        sh("ip", "link", "set", qvb, "master", qbr, netns=c)
        sh("ip", "link", "set", tap, "master", qbr, netns=c)
        sh("ip", "link", "set", qvo, "master", "brint", netns=c)
        for dev in (qbr, qvb, qvo, tap):
            sh("ip", "link", "set", dev, "up", netns=c)
        sh("ip", "link", "set", "eth0", "address", mac, netns=ns)
        sh("ip", "addr", "add", SUBNET.format(n), "dev", "eth0", netns=ns)
        sh("ip", "link", "set", "eth0", "up", netns=ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
        self.ports.append({"id": pid, "mac_address": mac, "ns": ns, "ip": f"10.0.0.{n}"})

    def destroy(self):
        for ns in reversed(self.names):
            proc.run(["ip", "netns", "del", ns], check=False)

    def port(self, n, groups=(), security=True, pairs=()):
        p = self.ports[n]
        return {"id": p["id"], "mac_address": p["mac_address"],
                "fixed_ips": [{"subnet_id": "sub", "ip_address": p["ip"]}],
                "device_owner": "compute:nova", "port_security_enabled": security,
                "security_groups": list(groups),
                "allowed_address_pairs": [{"ip_address": ip} for ip in pairs]}

    def ping(self, src, dst, source_ip=None) -> bool:
        cmd = ["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2"]
        if source_ip:
            cmd += ["-I", source_ip]
        done = proc.run(cmd + [self.ports[dst]["ip"]], netns=self.ports[src]["ns"],
                        check=False)
        return done.rc == 0

    def udp_reaches(self, src, dst, sport, dport, sentinel=6799) -> bool:
        """Send UDP sport->dport from instance ``src``, then a sentinel from
        port ``sentinel`` that the group lets through; True if ``dst`` got the
        first before the sentinel (no timing guess involved)."""
        listen = ("import socket\ns=socket.socket(2,2)\n"
                  "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                  f"s.bind(('0.0.0.0',{dport}))\ns.settimeout(20)\nprint('ready',flush=True)\n"
                  "while True:\n  _,(_,port)=s.recvfrom(100)\n  print(port,flush=True)\n"
                  f"  if port=={sentinel}: break\n")
        rx = subprocess.Popen(proc.in_netns(["python3", "-c", listen], self.ports[dst]["ns"]),
                              stdout=subprocess.PIPE, text=True)
        try:
            assert rx.stdout.readline().strip() == "ready"
            send = ("import socket\n"
                    f"for port in ({sport},{sport},{sport},{sentinel}):\n"
                    "  s=socket.socket(2,2)\n"
                    "  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                    "  s.bind(('0.0.0.0',port))\n"
                    f"  s.sendto(b'hello',('{self.ports[dst]['ip']}',{dport}))\n"
                    "  s.close()\n")
            proc.run(["python3", "-c", send], netns=self.ports[src]["ns"])
            out, _ = rx.communicate(timeout=25)
        finally:
            if rx.poll() is None:
                rx.kill()
                rx.wait()
        ports = [int(line) for line in out.split()]
        assert ports and ports[-1] == sentinel, f"the sentinel never arrived: {ports}"
        return sport in ports

    def counter(self, chain, target="DROP") -> int:
        out = sh("iptables", "-w", "-L", chain, "-n", "-v", "-x", netns=self.compute)
        rows = [ln.split() for ln in out.splitlines()[2:] if ln.split()]
        return sum(int(r[0]) for r in rows if r[2] == target)

    def paper_verdicts(self, src, dst, source_ip=None, state="NEW"):
        """What trace() says of an ICMP echo, read from the live rules and sets."""
        rules = parse_save(sh("iptables-save", netns=self.compute))["filter"].rules
        sets = {n: s.members for n, s in IpsetManager(netns=self.compute).list_sets().items()}
        packet = Packet(source_ip or self.ports[src]["ip"], self.ports[dst]["ip"], "icmp",
                        icmp_type=8, icmp_code=0, src_mac=self.ports[src]["mac_address"],
                        state=state)
        return [trace(rules, "FORWARD", hop, sets)
                for hop in hybrid_hops(packet, self.ports[src]["id"], self.ports[dst]["id"])]

    def save(self, family="ipv4"):
        cmd = "iptables-save" if family == "ipv4" else "ip6tables-save"
        return [ln for ln in sh(cmd, netns=self.compute).splitlines() if not ln.startswith("#")]


@pytest.fixture(scope="module")
def lab():
    lab = Lab()
    try:
        lab.build()
        yield lab
    finally:
        lab.destroy()


@pytest.fixture
def driver(lab):
    def runner(cmd, input):
        if "restore" in cmd[0]:
            lab.restores.append(cmd[0])
        return proc.run(cmd, netns=lab.compute, input=input).out
    drv = FirewallDriver(netns=lab.compute,
                         iptables=IptablesManager(PREFIX, netns=lab.compute, runner=runner,
                                                  remember=True),
                         ipsets=IpsetManager(netns=lab.compute))
    try:
        yield drv
    finally:
        drv.remove_all()


def rule(rid, direction, **kw):
    r = {"id": rid, "direction": direction, "ethertype": "IPv4", "protocol": None,
         "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
         "remote_group_id": None}
    r.update(kw)
    return r


def group(*rules, stateful=True):
    return {"stateful": stateful, "security_group_rules": list(rules)}


DEFAULT = {"default": group(rule("eg", "egress"), rule("in", "ingress", remote_group_id="default"))}


def test_default_group_members_talk_and_membership_is_followed(lab, driver):
    ports = [lab.port(0, ["default"]), lab.port(1, ["default"])]
    driver.update(ports, DEFAULT, {"default": ["10.0.0.1", "10.0.0.2"]})
    assert lab.ping(0, 1) and lab.ping(1, 0)
    # vm2 leaves the group's member list: vm1 no longer accepts it.
    driver.update(ports, DEFAULT, {"default": ["10.0.0.1"]})
    assert lab.ping(0, 1)
    assert not lab.ping(1, 0)


def test_reapplying_the_same_state_changes_nothing(lab, driver):
    ports = [lab.port(0, ["default"]), lab.port(1, ["default"])]
    members = {"default": ["10.0.0.1", "10.0.0.2"]}
    driver.update(ports, DEFAULT, members)
    before = lab.save("ipv4"), lab.save("ipv6")
    restores = len(lab.restores)
    assert driver.iptables.apply() == {"ipv4": [], "ipv6": []}
    driver.update(ports, DEFAULT, members)
    assert len(lab.restores) == restores
    strip = lambda lines: [ln.split(" [")[0] for ln in lines]  # noqa: E731  (counters)
    assert strip(lab.save("ipv4")) == strip(before[0])
    assert strip(lab.save("ipv6")) == strip(before[1])
    tap = tap_name(lab.ports[0]["id"])
    assert any(f"--physdev-out {tap} --physdev-is-bridged" in ln for ln in before[0])


def test_agent_restart_rebuilds_the_same_ruleset_without_touching_it(lab, driver):
    ports = sorted([lab.port(0, ["default"]), lab.port(1, ["default"])], key=lambda p: p["id"])
    members = {"default": ["10.0.0.1", "10.0.0.2"]}
    # The larger id comes first and takes the first zone: a restart that
    # allocated afresh (by id) would swap the zones.
    driver.update(ports[1:], DEFAULT, members)
    driver.update(ports, DEFAULT, members)
    assert driver.plan.zones[ports[1]["id"]] < driver.plan.zones[ports[0]["id"]]
    before = lab.save("ipv4"), lab.save("ipv6")
    calls = []

    def runner(cmd, input):
        calls.append(cmd[0])
        return proc.run(cmd, netns=lab.compute, input=input).out
    restarted = FirewallDriver(netns=lab.compute, ipsets=IpsetManager(netns=lab.compute),
                               iptables=IptablesManager(PREFIX, netns=lab.compute,
                                                        runner=runner, remember=True))
    plan = restarted.update(list(reversed(ports)), DEFAULT, members)
    assert plan.zones == driver.plan.zones
    assert "iptables-restore" not in calls and "ip6tables-restore" not in calls
    strip = lambda lines: [ln.split(" [")[0] for ln in lines]  # noqa: E731
    assert strip(lab.save("ipv4")) == strip(before[0])
    assert strip(lab.save("ipv6")) == strip(before[1])
    assert lab.ping(0, 1) and lab.ping(1, 0)


def test_resync_repairs_rules_removed_behind_its_back(lab, driver):
    ports = [lab.port(0, ["default"]), lab.port(1, ["default"])]
    members = {"default": ["10.0.0.1", "10.0.0.2"]}
    driver.update(ports, DEFAULT, members)
    sg_chain = f"{PREFIX}-i{lab.ports[1]['id'][:10]}"
    sh("iptables", "-w", "-F", sg_chain, netns=lab.compute)
    sh("iptables", "-w", "-A", sg_chain, "-j", "DROP", netns=lab.compute)
    assert not lab.ping(0, 1)
    driver.resync(ports, DEFAULT, members)
    assert lab.ping(0, 1)


def fake_port(n, groups=("default",)):
    """A port with no devices behind it: rules only."""
    return {"id": str(uuid.UUID(int=0x5eed0000 + n)), "mac_address": "FA:16:3E:00:10:%02X" % n,
            "fixed_ips": [{"subnet_id": "sub", "ip_address": f"10.0.1.{n}"},
                          {"subnet_id": "sub6", "ip_address": f"2001:db8::{n:x}"}],
            "device_owner": "compute:nova", "port_security_enabled": True,
            "security_groups": list(groups), "allowed_address_pairs": []}


def test_the_managers_memory_is_what_the_kernel_prints(lab, driver):
    """After every update the memory the next one plans against equals a
    fresh iptables-save / ip6tables-save / ipset save."""
    def kernel_tables(family):
        return parse_save(proc.run([SAVE[family]], netns=lab.compute).out)

    def assert_exact(step):
        for family in ("ipv4", "ipv6"):
            assert driver.iptables.remembered(family) == kernel_tables(family), (step, family)
        assert driver.ipsets.remembered() == IpsetManager(netns=lab.compute).list_sets(), step

    web = {"web": group(rule("eg", "egress"),
                        rule("http", "ingress", protocol="tcp", port_range_min=80,
                             port_range_max=80, remote_group_id="default"),
                        rule("v6", "ingress", ethertype="IPv6", protocol="ipv6-icmp"))}
    groups = dict(DEFAULT, **web)
    members = {"default": ["10.0.0.1", "10.0.0.2", "2001:db8::1"]}
    restores = len(lab.restores)
    driver.update([lab.port(0, ["default"])], groups, members)
    assert_exact("first")
    ports = [lab.port(0, ["default"]), lab.port(1, ["default", "web"])]
    steps = [("port added", ports),
             ("ten more", ports + [fake_port(n) for n in range(10)]),
             ("one removed", ports + [fake_port(n) for n in range(1, 10)]),
             ("groups changed", ports + [fake_port(n, ["web"]) for n in range(1, 10)])]
    for step, wanted in steps:
        driver.update(wanted, groups, members)
        assert_exact(step)
    groups["web"]["security_group_rules"].append(rule("ssh", "ingress", protocol="tcp",
                                                      port_range_min=22, port_range_max=22))
    driver.update(wanted, groups, {"default": [f"10.0.0.{n}" for n in range(1, 9)]})
    assert_exact("rule and members changed")
    assert len(lab.restores) > restores
    foreign = ["-s", "192.0.2.77/32", "-j", "DROP"]
    sh("iptables", "-w", "-I", "FORWARD", "1", *foreign, netns=lab.compute)
    try:
        driver.update(ports, groups, members)
        # Not in the memory until the next verify; untouched in the kernel.
        live = kernel_tables("ipv4")
        assert live["filter"].rules["FORWARD"][0] == " ".join(foreign)
        del live["filter"].rules["FORWARD"][0]
        assert driver.iptables.remembered("ipv4") == live
        driver.resync(ports, groups, members)
        assert_exact("verified")
        assert driver.iptables.remembered("ipv4")["filter"].rules["FORWARD"][0] == \
            " ".join(foreign)
        driver.update([], {}, {})
        assert_exact("all removed")
    finally:
        proc.run(["iptables", "-w", "-D", "FORWARD", *foreign], netns=lab.compute, check=False)


def test_stateful_replies_and_a_new_rule_in_one_apply(lab, driver):
    groups = {"open": group(rule("eg1", "egress"),
                            rule("icmp-in", "ingress", protocol="icmp",
                                 remote_ip_prefix="10.0.0.0/24")),
              "closed": group(rule("eg2", "egress"),
                              rule("ssh", "ingress", protocol="tcp", port_range_min=22,
                                   port_range_max=22))}
    ports = [lab.port(0, ["open"]), lab.port(1, ["closed"])]
    driver.update(ports, groups, {})
    assert not lab.ping(0, 1), "vm2's group has no ingress ICMP"
    assert lab.ping(1, 0), "replies to vm2's own pings must come back (stateful)"
    out, into = lab.paper_verdicts(0, 1)
    assert (out.verdict, into.verdict) == ("ACCEPT", "DROP")
    assert into.deciding.chain == f"{PREFIX}-sg-fallback"

    groups["closed"]["security_group_rules"].append(rule("icmp-new", "ingress", protocol="icmp"))
    before = len(lab.restores)
    driver.update(ports, groups, {})
    assert lab.restores[before:] == ["iptables-restore"], "one restore; IPv6 had no change"
    assert lab.ping(0, 1)
    refs = [r for r in driver.rules_for_port(lab.ports[1]["id"])
            if r["rule"] == "-p icmp -j RETURN"]
    assert refs[0]["security_group_rule_ids"] == ["icmp-new"]
    _, into = lab.paper_verdicts(0, 1)
    assert into.verdict == "ACCEPT"
    assert origin(driver.plan, lab.ports[1]["id"], into.matched[-2]) == ("icmp-new",)


def test_forged_source_is_dropped_and_an_address_pair_lets_it_through(lab, driver):
    members = {"default": ["10.0.0.1", "10.0.0.2", VIP]}
    ports = [lab.port(0, ["default"]), lab.port(1, ["default"])]
    proc.run(["ip", "addr", "add", f"{VIP}/32", "dev", "eth0"], netns=lab.ports[0]["ns"])
    try:
        driver.update(ports, DEFAULT, members)
        spoof = f"{PREFIX}-s{lab.ports[0]['id'][:10]}"
        dropped = lab.counter(spoof)
        assert not lab.ping(0, 1, source_ip=VIP)
        assert lab.counter(spoof) > dropped
        out, _ = lab.paper_verdicts(0, 1, source_ip=VIP)
        assert (out.verdict, out.deciding.chain) == ("DROP", spoof)
        assert lab.ping(0, 1)

        ports[0] = lab.port(0, ["default"], pairs=[VIP])
        driver.update(ports, DEFAULT, members)
        assert lab.ping(0, 1, source_ip=VIP)
    finally:
        proc.run(["ip", "addr", "del", f"{VIP}/32", "dev", "eth0"], netns=lab.ports[0]["ns"],
                 check=False)


def test_dhcp_server_replies_from_an_instance_are_dropped(lab, driver):
    ports = [lab.port(0, ["default"]), lab.port(1, ["default"])]
    driver.update(ports, DEFAULT, {"default": ["10.0.0.1", "10.0.0.2"]})
    assert lab.udp_reaches(0, 1, sport=6700, dport=68), "control: any other source port passes"
    assert not lab.udp_reaches(0, 1, sport=67, dport=68)


def test_port_security_off_lets_everything_through(lab, driver):
    ports = [lab.port(0, security=False), lab.port(1, security=False)]
    proc.run(["ip", "addr", "add", f"{VIP}/32", "dev", "eth0"], netns=lab.ports[0]["ns"])
    try:
        driver.update(ports, {}, {})
        assert lab.ping(0, 1) and lab.ping(1, 0)
        assert lab.ping(0, 1, source_ip=VIP)
        assert lab.udp_reaches(0, 1, sport=67, dport=68)
        assert not any(f"{PREFIX}-i{lab.ports[0]['id'][:10]}" in ln for ln in lab.save())
    finally:
        proc.run(["ip", "addr", "del", f"{VIP}/32", "dev", "eth0"], netns=lab.ports[0]["ns"],
                 check=False)


def test_removing_every_port_removes_every_chain_and_set(lab, driver):
    driver.update([lab.port(0, ["default"]), lab.port(1, ["default"])], DEFAULT,
                  {"default": ["10.0.0.1"]})
    driver.remove_all()
    saved = lab.save()
    ids = [p["id"][:10] for p in lab.ports]
    assert not any(f"{PREFIX}-{kind}{i}" in ln for ln in saved for kind in "ios" for i in ids)
    assert not any(tap_name(p["id"]) in ln for ln in saved for p in lab.ports)
    assert not any("CT --zone" in ln for ln in saved)
    assert IpsetManager(netns=lab.compute).list_sets() == {}


def test_every_rule_shape_is_written_in_canonical_form(lab):
    """Apply a ruleset using every kind of rule the builder writes, in a fresh
    namespace; the kernel must print back exactly what was rendered, so the
    second apply finds nothing to do."""
    netns = f"{lab.compute}-shapes"
    proc.run(["ip", "netns", "add", netns])
    lab.names.append(netns)
    sg, other = "5b1c7a7e-0f6e-4c1b-9b3a-2f5d8e9a0c11", "b0b0b0b0-0f6e-4c1b-9b3a-2f5d8e9a0c12"
    protos = [("tcp", 22, 22), ("tcp", 1, 65535), ("udp", 53, 53), ("udp", 1000, 2000),
              ("icmp", 8, 0), ("icmp", 3, None), ("icmp", None, None), ("112", None, None),
              ("47", None, None), ("sctp", 9, 9), ("dccp", 5, 6), ("udplite", 7, 7),
              ("17", 67, 68), (None, None, None)]
    rules = []
    for n, (proto, low, high) in enumerate(protos):
        for direction in ("ingress", "egress"):
            rules.append(rule(f"{direction}{n}", direction, protocol=proto, port_range_min=low,
                              port_range_max=high, remote_ip_prefix=f"192.0.2.{n}/{24 + n % 8}"))
    rules += [rule("rg-in", "ingress", protocol="tcp", port_range_min=80, port_range_max=80,
                   remote_group_id=other),
              rule("rg-out", "egress", remote_group_id=sg),
              rule("v6-icmp", "ingress", ethertype="IPv6", protocol="ipv6-icmp",
                   port_range_min=128, port_range_max=0),
              rule("v6-icmp-legacy", "ingress", ethertype="IPv6", protocol="icmp"),
              rule("v6-any", "egress", ethertype="IPv6", remote_ip_prefix="::/0"),
              rule("v6-ssh", "ingress", ethertype="IPv6", protocol="tcp", port_range_min=22,
                   port_range_max=22, remote_ip_prefix="2001:db8::/48"),
              rule("rg6", "ingress", ethertype="IPv6", remote_group_id=sg)]
    groups = {sg: group(*rules), other: group(rule("x", "egress"), stateful=False)}
    ports = [{"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:ab:cd:01",
              "fixed_ips": [{"ip_address": "10.0.0.5"}, {"ip_address": "2001:db8::5"}],
              "port_security_enabled": True, "security_groups": [sg, other],
              "allowed_address_pairs": [{"ip_address": "0.0.0.0/0"},
                                        {"ip_address": "10.1.0.0/16",
                                         "mac_address": "fa:16:3e:ab:cd:99"},
                                        {"ip_address": "2001:db8:1::/64"}]},
             {"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:ab:cd:02", "fixed_ips": [],
              "security_groups": [other]},
             {"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:ab:cd:03",
              "fixed_ips": [{"ip_address": "10.0.0.7"}], "port_security_enabled": False},
             {"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:ab:cd:04",
              "fixed_ips": [{"ip_address": "10.0.0.2"}], "device_owner": "network:dhcp"}]
    members = {sg: ["10.0.0.5", "2001:db8::5", "10.1.0.0/16", "0.0.0.0/0"],
               other: {"IPv4": ["10.0.0.9"], "IPv6": []}}
    drv = FirewallDriver(netns=netns)
    drv.update(ports, groups, members)
    assert drv.iptables.apply(verify=True) == {"ipv4": [], "ipv6": []}
    assert drv.ipsets.apply(drv.plan.ipsets, verify=True) == []
    for family in ("ipv4", "ipv6"):
        cmd = "iptables-save" if family == "ipv4" else "ip6tables-save"
        live = parse_save(proc.run([cmd], netns=netns).out)
        rendered = parse_save(drv.plan.ruleset.render(family))
        for table in ("filter", "raw", "nat"):
            for chain_name, want in rendered[table].rules.items():
                have = live[table].rules.get(chain_name, [])
                assert [r.lower() for r in have] == [r.lower() for r in want], chain_name
