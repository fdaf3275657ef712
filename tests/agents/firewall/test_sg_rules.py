"""Security-group rule -> iptables match text, as iptables-save prints it."""
import pytest

from neutrino.agents.firewall.sg_rules import protocol_name, rule_args


def rule(**kw):
    base = {"direction": "ingress", "ethertype": "IPv4", "protocol": None,
            "port_range_min": None, "port_range_max": None}
    base.update(kw)
    return base


@pytest.mark.parametrize("proto,ethertype,name", [
    ("tcp", "IPv4", "tcp"), ("6", "IPv4", "tcp"), ("17", "IPv4", "udp"),
    ("112", "IPv4", "vrrp"), ("47", "IPv4", "gre"), (1, "IPv4", "icmp"),
    ("icmp", "IPv6", "ipv6-icmp"), ("icmpv6", "IPv6", "ipv6-icmp"), ("58", "IPv6", "ipv6-icmp"),
    ("0", "IPv4", None), (None, "IPv4", None), ("any", "IPv4", None),
    ("250", "IPv4", "250"),
])
def test_protocol_names(proto, ethertype, name):
    assert protocol_name(proto, ethertype) == name


@pytest.mark.parametrize("fields,text", [
    ({}, "-j RETURN"),
    ({"protocol": "tcp"}, "-p tcp -j RETURN"),
    ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
     "-p tcp -m tcp --dport 22 -j RETURN"),
    ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65535},
     "-p tcp -m tcp -m multiport --dports 1:65535 -j RETURN"),
    ({"protocol": "udplite", "port_range_min": 5, "port_range_max": 5},
     "-p udplite -m multiport --dports 5 -j RETURN"),
    ({"protocol": "icmp"}, "-p icmp -j RETURN"),
    ({"protocol": "icmp", "port_range_min": 8}, "-p icmp -m icmp --icmp-type 8 -j RETURN"),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
     "-p icmp -m icmp --icmp-type 8/0 -j RETURN"),
    ({"ethertype": "IPv6", "protocol": "ipv6-icmp", "port_range_min": 128},
     "-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j RETURN"),
    ({"source_ip_prefix": "10.0.0.7/24", "protocol": "udp"}, "-s 10.0.0.0/24 -p udp -j RETURN"),
    ({"source_ip_prefix": "0.0.0.0/0", "protocol": "udp"}, "-p udp -j RETURN"),
    ({"dest_ip_prefix": "10.0.0.5", "protocol": "udp", "port_range_min": 68,
      "port_range_max": 68, "source_port_range_min": 67, "source_port_range_max": 67},
     "-d 10.0.0.5/32 -p udp -m udp --sport 67 --dport 68 -j RETURN"),
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, "-p gre -j RETURN"),
])
def test_rule_text(fields, text):
    assert rule_args(rule(**fields)) == text


def test_remote_group_matches_the_set_by_direction():
    assert rule_args(rule(protocol="tcp", port_range_min=80, port_range_max=80),
                     ipset_name="NIPv4sg") == \
        "-p tcp -m tcp --dport 80 -m set --match-set NIPv4sg src -j RETURN"
    assert rule_args(rule(direction="egress"), ipset_name="NIPv4sg") == \
        "-m set --match-set NIPv4sg dst -j RETURN"
