"""Which conntrack entries go when a rule or a member is taken away."""
from neutrino.agents.firewall.conntrack import deletions, rule_filter
from neutrino.agents.firewall.hybrid import RuleRef, build

from .test_hybrid import DEFAULT_GROUP, PEER_ID, PORT_ID, SG, port, sg_rule

WEB = "web-group"


def test_rule_filter_from_rule_text():
    ref = RuleRef("ipv4", "filter", "neutron-openvswi-ix", "-s 203.0.113.0/24 -p tcp -m tcp"
                  " --dport 22 -j RETURN", ("r1",))
    assert rule_filter(ref, 4097) == ["-f", "ipv4", "-w", "4097", "-p", "tcp", "--dport", "22",
                                      "-s", "203.0.113.0/24"]
    ranged = RuleRef("ipv4", "filter", "c", "-d 10.0.0.7/32 -p udp -m udp -m multiport"
                     " --dports 1:99 -j RETURN", ("r2",))
    assert rule_filter(ranged, 5) == ["-f", "ipv4", "-w", "5", "-p", "udp", "-d", "10.0.0.7/32"]
    icmp6 = RuleRef("ipv6", "filter", "c", "-p ipv6-icmp -j RETURN", ("r3",))
    assert rule_filter(icmp6, 5) == ["-f", "ipv6", "-w", "5", "-p", "icmpv6"]


def test_removed_rule_of_one_group_kept_by_another_deletes_nothing():
    ssh = dict(protocol="tcp", port_range_min=22, port_range_max=22)
    two = {SG: {"security_group_rules": [sg_rule("a", "ingress", **ssh)]},
           WEB: {"security_group_rules": [sg_rule("b", "ingress", sg=WEB, **ssh)]}}
    one = {SG: {"security_group_rules": []}, WEB: two[WEB]}
    before = build([port(groups=(SG, WEB))], two, {})
    after = build([port(groups=(SG, WEB))], one, {})
    assert deletions(before, after) == []
    gone = build([port(groups=(SG, WEB))], {SG: one[SG], WEB: one[SG]}, {})
    assert deletions(before, gone) == [["-f", "ipv4", "-w", "4097", "-p", "tcp",
                                        "--dport", "22"]]


def test_members_leaving_a_group_are_forgotten_by_every_port_using_it():
    ports = [port(), port(PEER_ID, "10.0.0.6")]
    before = build(ports, DEFAULT_GROUP, {SG: ["10.0.0.5", "10.0.0.6", "10.0.0.9"]})
    after = build(ports, DEFAULT_GROUP, {SG: ["10.0.0.5", "10.0.0.6"]})
    assert deletions(before, after) == [["-f", "ipv4", "-w", "4097", "-s", "10.0.0.9"],
                                        ["-f", "ipv4", "-w", "4098", "-s", "10.0.0.9"]]


def test_port_losing_its_filter_loses_its_zone():
    before = build([port()], DEFAULT_GROUP, {})
    after = build([port(port_security_enabled=False, groups=())], {}, {})
    assert deletions(before, after) == [["-f", "ipv4", "-w", "4097"],
                                        ["-f", "ipv6", "-w", "4097"]]
    assert PORT_ID in before.zones
