"""One security-group rule -> the match part of an iptables rule.

The text must be what iptables-save prints, in its order: source, dest,
protocol, ``-m <proto>``, ports or ICMP type, then the ipset match. Protocol
numbers become names from /etc/protocols, as iptables-save shows them.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

IPV4, IPV6 = "IPv4", "IPv6"
# Protocols whose ports iptables can match, and the one that needs multiport.
PORT_PROTOCOLS = ("tcp", "udp", "dccp", "sctp", "udplite")
MULTIPORT_ONLY = ("udplite",)
# "-m <module>" iptables-save shows after "-p <proto>" once a port/type is given.
PROTOCOL_MODULE = {"tcp": "tcp", "udp": "udp", "dccp": "dccp", "sctp": "sctp",
                   "icmp": "icmp", "ipv6-icmp": "icmp6"}
NAME_ALIASES = {"icmpv6": "ipv6-icmp", "ipv6-encap": "ipv6", "ipv6-hopopt": "hopopt"}
IPSET_DIRECTION = {"ingress": "src", "egress": "dst"}


@lru_cache(maxsize=1)
def _protocol_numbers() -> dict[str, str]:
    names: dict[str, str] = {}
    try:
        with open("/etc/protocols") as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) >= 2 and words[1].isdigit():
                    names.setdefault(words[1], words[0])
    except OSError:
        pass
    return names


def protocol_name(protocol, ethertype: str = IPV4) -> str | None:
    """The name iptables-save prints for ``protocol`` (None: any protocol)."""
    if protocol is None:
        return None
    value = str(protocol).strip().lower()
    if value in ("", "0", "any"):
        return None
    if ethertype == IPV6 and value in ("icmp", "icmpv6", "ipv6-icmp", "58"):
        return "ipv6-icmp"
    if value.isdigit():
        return _protocol_numbers().get(value, value)
    return NAME_ALIASES.get(value, value)


@lru_cache(maxsize=8192)
def normal_prefix(prefix: str) -> tuple[int, str, int]:
    """(IP version, network as iptables prints it, prefix length)."""
    net = ipaddress.ip_network(prefix, strict=False)
    return net.version, str(net), net.prefixlen


def prefix_arg(flag: str, prefix) -> list[str]:
    """``-s``/``-d`` with the prefix as iptables prints it; /0 means no match."""
    if not prefix:
        return []
    _version, text, length = normal_prefix(str(prefix))
    return [flag, text] if length else []


def _port_arg(direction: str, proto: str | None, low, high) -> list[str]:
    if low is None or proto is None:
        return []
    high = low if high is None and proto not in ("icmp", "ipv6-icmp") else high
    if proto in ("icmp", "ipv6-icmp"):
        flag = "--icmpv6-type" if proto == "ipv6-icmp" else "--icmp-type"
        return [flag, f"{low}/{high}" if high is not None else f"{low}"]
    if proto not in PORT_PROTOCOLS:
        return []
    if int(low) == int(high):
        if proto in MULTIPORT_ONLY:
            return ["-m", "multiport", f"--{direction}s", f"{low}"]
        return [f"--{direction}", f"{low}"]
    return ["-m", "multiport", f"--{direction}s", f"{low}:{high}"]


def protocol_and_port_args(rule: dict) -> list[str]:
    ethertype = rule.get("ethertype", IPV4)
    proto = protocol_name(rule.get("protocol"), ethertype)
    if proto is None:
        return []
    args = ["-p", proto]
    has_port = (rule.get("port_range_min") is not None
                or rule.get("source_port_range_min") is not None)
    if has_port and proto in PROTOCOL_MODULE:
        args += ["-m", PROTOCOL_MODULE[proto]]
    args += _port_arg("sport", proto, rule.get("source_port_range_min"),
                      rule.get("source_port_range_max"))
    args += _port_arg("dport", proto, rule.get("port_range_min"),
                      rule.get("port_range_max"))
    return args


def rule_args(rule: dict, ipset_name: str | None = None) -> str:
    """The iptables text of an (expanded) rule, ending in ``-j RETURN``.

    ``rule`` holds Neutron's fields plus, as the agent shim fills them,
    ``source_ip_prefix``/``dest_ip_prefix`` (from remote_ip_prefix by
    direction) or, for a remote group, the ipset to match.
    """
    args: list[str] = []
    if ipset_name is None:
        args += prefix_arg("-s", rule.get("source_ip_prefix"))
        args += prefix_arg("-d", rule.get("dest_ip_prefix"))
    args += protocol_and_port_args(rule)
    if ipset_name is not None:
        args += ["-m", "set", "--match-set", ipset_name,
                 IPSET_DIRECTION[rule["direction"]]]
    args += ["-j", "RETURN"]
    return " ".join(args)
