"""Walk a packet through iptables rules, on paper.

For ``explain`` (issue 6): given the rules of a table (from iptables-save or
from a :class:`~neutrino.agents.firewall.hybrid.FirewallPlan`), the ipset
members and a packet as the qbr bridge sees it, :func:`trace` follows jumps
and returns every rule that matched and the verdict, so the hop that drops a
packet can name the chain, the rule and (through ``FirewallPlan.port_rules``)
the security-group rule it came from.

It understands the matches this firewall writes (addresses, protocol, ports,
multiport, ICMP type, physdev, in/out interface, mac, state/conntrack, set,
comment). A rule using anything else is reported as not evaluable and
treated as not matching.
"""
from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field

from neutrino.agents.firewall.hybrid import qvb_name, tap_name
from neutrino.agents.firewall.sg_rules import protocol_name
from neutrino.errors import NeutrinoError

TERMINAL = ("ACCEPT", "DROP", "REJECT")
NON_TERMINAL = ("CT", "LOG", "MARK", "CONNMARK", "CHECKSUM", "NOTRACK")


@dataclass
class Packet:
    """A packet as seen by one bridge: addresses, ports and conntrack state."""
    src: str
    dst: str
    proto: str | None = None
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    src_mac: str | None = None
    state: str = "NEW"
    physdev_in: str | None = None
    physdev_out: str | None = None
    in_iface: str | None = None
    out_iface: str | None = None

    @property
    def family(self) -> str:
        return "ipv4" if ipaddress.ip_address(self.src).version == 4 else "ipv6"


@dataclass
class Step:
    chain: str
    position: int  # 1-based, as iptables -L --line-numbers shows it
    rule: str


@dataclass
class Trace:
    verdict: str
    matched: list[Step] = field(default_factory=list)
    unknown: list[Step] = field(default_factory=list)

    @property
    def deciding(self) -> Step | None:
        """The rule that gave the verdict (None: the chain policy did)."""
        return self.matched[-1] if self.matched and self.verdict in TERMINAL else None


class _Unknown(Exception):
    pass


def _in_net(address: str, prefix: str) -> bool:
    return ipaddress.ip_address(address) in ipaddress.ip_network(prefix, strict=False)


def _port_in(port: int | None, spec: str) -> bool:
    if port is None:
        return False
    for part in spec.split(","):
        low, _, high = part.partition(":")
        if int(low or 0) <= port <= int(high or low or 65535):
            return True
    return False


def _icmp_matches(packet: Packet, spec: str) -> bool:
    if spec == "any":
        return True
    t, _, c = spec.partition("/")
    if not t.isdigit():
        raise _Unknown(spec)
    if packet.icmp_type != int(t):
        return False
    return not c or packet.icmp_code == int(c)


def _member(address: str, members) -> bool:
    return any(_in_net(address, m) for m in members)


def matches(rule: str, packet: Packet, ipsets: dict | None = None) -> bool:
    """Whether ``rule`` (iptables-save text, without ``-A chain``) matches."""
    tokens = shlex.split(rule)
    ipsets = ipsets or {}
    i = 0
    proto = protocol_name(packet.proto, "IPv6" if packet.family == "ipv6" else "IPv4")
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("-j", "-g"):
            return True
        if tok == "!":
            raise _Unknown("negation")
        arg = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok == "-m":
            i += 2
            continue
        if tok == "--physdev-is-bridged":
            if not (packet.physdev_in or packet.physdev_out):
                return False
            i += 1
            continue
        ok: bool
        if tok == "-s":
            ok = _in_net(packet.src, arg)
        elif tok == "-d":
            ok = _in_net(packet.dst, arg)
        elif tok == "-p":
            ok = protocol_name(arg) == proto or (arg == "all")
        elif tok == "-i":
            ok = arg == packet.in_iface
        elif tok == "-o":
            ok = arg == packet.out_iface
        elif tok == "--physdev-in":
            ok = arg == packet.physdev_in
        elif tok == "--physdev-out":
            ok = arg == packet.physdev_out
        elif tok == "--mac-source":
            ok = bool(packet.src_mac) and arg.lower() == packet.src_mac.lower()
        elif tok in ("--state", "--ctstate"):
            ok = packet.state in arg.split(",")
        elif tok == "--comment":
            ok = True
        elif tok in ("--sport", "--sports", "--source-ports"):
            ok = _port_in(packet.sport, arg)
        elif tok in ("--dport", "--dports", "--destination-ports"):
            ok = _port_in(packet.dport, arg)
        elif tok in ("--icmp-type", "--icmpv6-type"):
            ok = _icmp_matches(packet, arg)
        elif tok == "--match-set":
            if arg not in ipsets:
                raise _Unknown(f"set {arg}")
            way = tokens[i + 2]
            ok = _member(packet.src if way == "src" else packet.dst, ipsets[arg])
            i += 1
        else:
            raise _Unknown(tok)
        if not ok:
            return False
        i += 2
    return True


def _target(rule: str) -> str | None:
    tokens = shlex.split(rule)
    for flag in ("-j", "-g"):
        if flag in tokens:
            return tokens[tokens.index(flag) + 1]
    return None


def trace(rules: dict[str, list[str]], chain: str, packet: Packet,
          ipsets: dict | None = None, policy: str = "ACCEPT") -> Trace:
    """Follow ``packet`` from ``chain`` through ``rules`` (chain -> rule texts)."""
    result = Trace(verdict=policy)
    stack: list[tuple[str, int]] = []
    current, index = chain, 0
    for _ in range(100000):
        chain_rules = rules.get(current, [])
        if index >= len(chain_rules):
            if not stack:
                return result
            current, index = stack.pop()
            continue
        rule = chain_rules[index]
        step = Step(current, index + 1, rule)
        index += 1
        try:
            hit = matches(rule, packet, ipsets)
        except _Unknown:
            result.unknown.append(step)
            continue
        if not hit:
            continue
        result.matched.append(step)
        target = _target(rule)
        if target in TERMINAL:
            result.verdict = target
            return result
        if target == "RETURN":
            if not stack:
                return result
            current, index = stack.pop()
        elif target in rules:
            stack.append((current, index))
            current, index = target, 0
        elif target in NON_TERMINAL or target is None:
            continue
        else:
            raise NeutrinoError(f"rule jumps to unknown chain {target!r}: {rule}")
    raise NeutrinoError("iptables trace did not end (a jump loop?)")


def hybrid_hops(packet: Packet, src_port: str | None, dst_port: str | None) -> list[Packet]:
    """The packet as each qbr bridge on its way sees it.

    Leaving an instance it crosses ``qbr`` of ``src_port`` from tap to qvb;
    reaching one it crosses ``qbr`` of ``dst_port`` from qvb to tap. Each
    copy is what :func:`trace` needs for the FORWARD chain of that bridge.
    """
    hops = []
    if src_port:
        hops.append(_copy(packet, tap_name(src_port), qvb_name(src_port)))
    if dst_port:
        hops.append(_copy(packet, qvb_name(dst_port), tap_name(dst_port)))
    return hops


def _copy(packet: Packet, physdev_in: str, physdev_out: str) -> Packet:
    fields = dict(packet.__dict__, physdev_in=physdev_in, physdev_out=physdev_out)
    return Packet(**fields)


def plan_rules(plan, family: str = "ipv4", table: str = "filter") -> dict[str, list[str]]:
    """chain -> rules of one table of a FirewallPlan (what the node should hold)."""
    tbl = plan.ruleset.tables[family][table]
    return {name: tbl.rules(name) for name in tbl.chains}


def plan_ipsets(plan) -> dict[str, set[str]]:
    return {name: s.members for name, s in plan.ipsets.items()}


def origin(plan, port_id: str, step: Step) -> tuple[str, ...]:
    """The security-group rule ids behind a matched step of ``port_id``."""
    for ref in plan.port_rules.get(port_id, []):
        if ref.chain == step.chain and ref.rule == step.rule:
            return ref.sg_rule_ids
    return ()
