"""Paper trace of packets through the hybrid ruleset."""
import pytest

from neutrino.agents.firewall.hybrid import build
from neutrino.agents.firewall.trace import (Packet, hybrid_hops, matches, origin, plan_ipsets,
                                            plan_rules, trace)

from .test_hybrid import DEFAULT_GROUP, PEER_ID, PORT_ID, SG, port, sg_rule

A_MAC, B_MAC = "fa:16:3e:99:44:9e", "fa:16:3e:00:00:02"


def plan(groups=DEFAULT_GROUP, members=None):
    ports = [port(), port(PEER_ID, "10.0.0.6", mac=B_MAC)]
    return build(ports, groups, members if members is not None else {SG: ["10.0.0.5", "10.0.0.6"]})


def run(p, packet, src=PORT_ID, dst=PEER_ID):
    return [trace(plan_rules(p), "FORWARD", hop, plan_ipsets(p))
            for hop in hybrid_hops(packet, src, dst)]


def ping(src="10.0.0.5", dst="10.0.0.6", mac=A_MAC, state="NEW"):
    return Packet(src, dst, "icmp", icmp_type=8, icmp_code=0, src_mac=mac, state=state)


@pytest.mark.parametrize("rule,ok", [
    ("-s 10.0.0.0/24 -p icmp -m icmp --icmp-type 8/0 -j RETURN", True),
    ("-s 10.0.1.0/24 -p icmp -j RETURN", False),
    ("-p icmp -m icmp --icmp-type 0 -j RETURN", False),
    ("-p tcp -j RETURN", False),
    ("-m state --state RELATED,ESTABLISHED -j RETURN", False),
    ("-m mac --mac-source FA:16:3E:99:44:9E -j RETURN", True),
    ('-m comment --comment "hello world" -j DROP', True),
    ("-m physdev --physdev-in tapX --physdev-is-bridged -j ACCEPT", False),
])
def test_single_rule_matches(rule, ok):
    assert matches(rule, ping()) is ok


def test_ports_and_multiport():
    syn = Packet("10.0.0.5", "10.0.0.6", "tcp", sport=40000, dport=443)
    assert matches("-p tcp -m tcp -m multiport --dports 80:443 -j RETURN", syn)
    assert matches("-p tcp -m tcp --dport 443 -j RETURN", syn)
    assert not matches("-p tcp -m tcp --dport 22 -j RETURN", syn)
    assert not matches("-p udp -m udp --dport 443 -j RETURN", syn)
    assert matches("-p udp -m multiport --dports 1,443,5 -j RETURN",
                   Packet("10.0.0.5", "10.0.0.6", "udp", dport=443))


def test_default_group_lets_members_talk():
    out, into = run(plan(), ping())
    assert out.verdict == "ACCEPT" and into.verdict == "ACCEPT"
    assert into.matched[-2].rule.startswith("-m set --match-set NIPv4")
    assert origin(plan(), PEER_ID, into.matched[-2]) == ("in4",)


def test_forged_source_dropped_in_the_spoof_chain():
    out, _ = run(plan(), ping(src="10.0.0.99"))
    assert out.verdict == "DROP"
    assert out.deciding.chain == "neutron-openvswi-s0695f2ca-b"
    assert "Drop traffic without an IP/MAC allow rule." in out.deciding.rule


def test_no_ingress_rule_falls_back_to_drop_but_replies_pass():
    groups = {SG: {"stateful": True, "security_group_rules": [sg_rule("eg", "egress")]}}
    p = plan(groups, {})
    _, into = run(p, ping())
    assert into.verdict == "DROP"
    assert into.deciding.chain == "neutron-openvswi-sg-fallback"
    assert into.matched[-2].rule.endswith("-j neutron-openvswi-sg-fallback")
    _, reply = run(p, ping(state="ESTABLISHED"))
    assert reply.verdict == "ACCEPT"


def test_rogue_dhcp_server_dropped_at_the_source():
    offer = Packet("10.0.0.5", "10.0.0.6", "udp", sport=67, dport=68, src_mac=A_MAC)
    out, _ = run(plan(), offer)
    assert out.verdict == "DROP"
    assert "Prevent DHCP Spoofing by VM." in out.deciding.rule


def test_port_security_off_accepts():
    p = build([port(port_security_enabled=False, groups=())], {}, {})
    (out,) = [trace(plan_rules(p), "FORWARD", hop, {})
              for hop in hybrid_hops(ping(src="10.9.9.9"), PORT_ID, None)]
    assert out.verdict == "ACCEPT"
    assert "port security is disabled" in out.deciding.rule
