"""FirewallDriver: order of ipset and iptables batches, zones across restarts,
rule origins, conntrack clean-up decisions. The kernel is a recorder here; the
dataplane test drives the real one."""
from neutrino.agents.firewall.driver import FirewallDriver
from neutrino.linux.iptables import IptablesManager
from neutrino.linux.ipset import IpsetManager

from .test_hybrid import DEFAULT_GROUP, PEER_ID, PORT_ID, SG, port, sg_rule


class Recorder:
    """Answers the save commands with canned text and records every call."""

    def __init__(self, saves=None, ipsets=""):
        self.saves = saves or {}
        self.ipsets = ipsets
        self.calls = []

    def __call__(self, cmd, input):
        self.calls.append((cmd[0] if cmd[0] != "ipset" else f"ipset {cmd[1]}", input))
        if cmd[0].endswith("-save"):
            return self.saves.get(cmd[0], "")
        if cmd[:2] == ["ipset", "save"]:
            return self.ipsets
        return ""

    def names(self):
        return [name for name, _ in self.calls]


def driver(rec, **kw):
    return FirewallDriver(iptables=IptablesManager("neutron-openvswi", runner=rec,
                                                   remember=True),
                          ipsets=IpsetManager(runner=rec), flush_conntrack=False, **kw)


def per_family(names):
    """The calls in order, IPv4 and IPv6 iptables calls apart (they run side by side)."""
    return ([n for n in names if not n.startswith("ip6")],
            [n for n in names if n.startswith("ip6")])


def test_sets_before_rules_stale_sets_after():
    stale_set = "create NIPv4deadbeef hash:net family inet\nadd NIPv4deadbeef 10.9.9.9\n"
    rec = Recorder(ipsets=stale_set)
    driver(rec).update([port()], DEFAULT_GROUP, {SG: ["10.0.0.5", "10.0.0.6"]})
    # The first update reads the kernel once: the raw table (zones in use),
    # which the IPv4 apply then plans against, the IPv6 tables and the sets.
    assert per_family(rec.names()) == (
        ["iptables-save", "ipset save", "ipset restore", "iptables-restore", "ipset restore"],
        ["ip6tables-save", "ip6tables-restore"])
    assert rec.calls[2][1].startswith("create NIPv4e7b85005-a11b-405e-a60f- hash:net")
    assert rec.calls[-1][1] == "destroy NIPv4deadbeef\n"
    restore = next(text for name, text in rec.calls if name == "iptables-restore")
    assert restore.count("*filter") == 1 and restore.count("COMMIT") == 3


def test_zones_survive_an_agent_restart():
    raw = ("*raw\n:PREROUTING ACCEPT [0:0]\n:neutron-openvswi-PREROUTING - [0:0]\n"
           "-A neutron-openvswi-PREROUTING -m physdev --physdev-in tap0695f2ca-bf -m comment"
           ' --comment "Set zone for x" -j CT --zone 4200\nCOMMIT\n')
    rec = Recorder(saves={"iptables-save": raw})
    plan = driver(rec).update([port(), port(PEER_ID, "10.0.0.6")], DEFAULT_GROUP, {})
    assert plan.zones == {PORT_ID: 4200, PEER_ID: 4097}


def test_rules_for_port_names_the_security_group_rule():
    groups = {SG: {"stateful": True, "security_group_rules": [
        sg_rule("ssh", "ingress", protocol="tcp", port_range_min=22, port_range_max=22)]}}
    drv = driver(Recorder())
    assert drv.rules_for_port(PORT_ID) == []
    drv.update([port()], groups, {})
    rules = drv.rules_for_port(PORT_ID)
    ssh = [r for r in rules if r["security_group_rule_ids"]]
    assert ssh == [
        {"family": "ipv4", "table": "filter", "chain": "neutron-openvswi-i0695f2ca-b",
         "rule": "-p tcp -m tcp --dport 22 -j RETURN", "security_group_rule_ids": ["ssh"]}]
    assert drv.rules_for_port("unknown") == []


def test_connections_are_forgotten_only_when_something_was_taken_away(monkeypatch):
    from neutrino.agents.firewall import driver as driver_module
    from neutrino.linux.proc import Result
    deleted = []

    def fake_run(cmd, netns=None, check=True, input=None, timeout=30):
        assert cmd[:2] == ["conntrack", "-D"]
        deleted.append(cmd[2:])
        return Result(1, "", "0 flow entries have been deleted.")

    monkeypatch.setattr(driver_module.proc, "run", fake_run)
    drv = driver(Recorder())
    drv.flush_conntrack = True
    icmp = sg_rule("icmp", "ingress", protocol="icmp")
    base = {SG: {"stateful": True, "security_group_rules": [
        sg_rule("eg", "egress"), sg_rule("rg", "ingress", remote_group_id=SG)]}}
    more = {SG: dict(base[SG], security_group_rules=base[SG]["security_group_rules"] + [icmp])}
    drv.update([port()], base, {SG: ["10.0.0.5", "10.0.0.6"]})
    drv.update([port()], more, {SG: ["10.0.0.5", "10.0.0.6", "10.0.0.7"]})
    assert deleted == []
    drv.update([port()], base, {SG: ["10.0.0.5", "10.0.0.6", "10.0.0.7"]})
    assert deleted == [["-f", "ipv4", "-w", "4097", "-p", "icmp"]]
    drv.update([port()], base, {SG: ["10.0.0.5"]})
    assert deleted[1:] == [["-f", "ipv4", "-w", "4097", "-s", "10.0.0.6"],
                           ["-f", "ipv4", "-w", "4097", "-s", "10.0.0.7"]]
    drv.update([], {}, {})
    assert deleted[3:] == [["-f", "ipv4", "-w", "4097"], ["-f", "ipv6", "-w", "4097"]]


def test_member_change_alone_is_one_ipset_batch_and_resync_rereads_the_kernel():
    rec = Recorder()
    drv = driver(rec)
    drv.update([port()], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    rec.calls.clear()
    drv.update([port()], DEFAULT_GROUP, {SG: ["10.0.0.5", "10.0.0.6"]})
    assert rec.names() == ["ipset restore"]
    rec.calls.clear()
    drv.resync([port()], DEFAULT_GROUP, {SG: ["10.0.0.5", "10.0.0.6"]})
    # The recorder's kernel is empty, so what the reads found is put back.
    assert {"iptables-save", "ip6tables-save", "ipset save"} <= set(rec.names())


def test_a_failed_apply_makes_the_next_update_reread_the_kernel():
    import pytest
    from neutrino.errors import CommandFailed

    class Refusing(Recorder):
        refuse = True

        def __call__(self, cmd, input):
            if cmd[0] == "iptables-restore" and self.refuse:
                raise CommandFailed(cmd, 2, "Error occurred at line: 2")
            return super().__call__(cmd, input)

    rec = Refusing()
    drv = driver(rec)
    with pytest.raises(Exception, match="refused line"):
        drv.update([port()], DEFAULT_GROUP, {})
    assert drv.plan is None
    rec.refuse = False
    rec.calls.clear()
    drv.update([port()], DEFAULT_GROUP, {})
    assert "iptables-restore" in rec.names()
    assert {"iptables-save", "ip6tables-save", "ipset save"} <= set(rec.names())


def test_a_refused_update_after_good_ones_rereads_everything_next_time():
    import pytest
    from neutrino.errors import CommandFailed

    class Refusing(Recorder):
        refuse = False

        def __call__(self, cmd, input):
            if cmd[0].endswith("-restore") and self.refuse:
                raise CommandFailed(cmd, 2, "Error occurred at line: 2")
            return super().__call__(cmd, input)

    rec = Refusing()
    drv = driver(rec)
    drv.update([port()], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    rec.refuse = True
    rec.calls.clear()
    with pytest.raises(Exception, match="refused line"):
        drv.update([port(), port(PEER_ID, "10.0.0.6")], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    # Refused from memory, planned again from a fresh read, refused again.
    assert rec.names().count("iptables-save") == 1
    rec.refuse = False
    rec.calls.clear()
    drv.update([port(), port(PEER_ID, "10.0.0.6")], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    assert {"iptables-save", "ip6tables-save", "ipset save"} <= set(rec.names())


def test_adding_an_eleventh_port_reads_nothing_from_the_kernel():
    def ports(n):
        return [port(f"0695f2ca-bf12-4c2e-9a1b-{i:012x}", f"10.0.0.{10 + i}") for i in range(n)]

    def members(n):
        return {SG: [f"10.0.0.{10 + i}" for i in range(n)]}

    rec = Recorder()
    drv = driver(rec)
    drv.update(ports(10), DEFAULT_GROUP, members(10))
    rec.calls.clear()
    drv.update(ports(11), DEFAULT_GROUP, members(11))
    assert sorted(rec.names()) == ["ip6tables-restore", "ipset restore", "iptables-restore"]
    rec.calls.clear()
    drv.resync(ports(11), DEFAULT_GROUP, members(11))
    assert {"iptables-save", "ip6tables-save", "ipset save"} <= set(rec.names())
    assert rec.names().count("ipset save") == 1
