"""Which conntrack entries to delete when a permission is taken away.

A stateful firewall returns RELATED,ESTABLISHED packets before looking at
any rule, so removing a rule (or a member of a remote group) would leave the
flows it let in running for as long as they stay busy. Like Neutron, the
driver deletes the matching entries in the port's zone:

* a security-group rule removed: entries of that protocol / destination
  port / remote address (``-s`` for ingress, ``-d`` for egress);
* a member removed from a remote group's ipset: entries from (ingress) or to
  (egress) that address, for every port whose rules use the set;
* a port no longer filtered (gone, or port security turned off): its whole
  zone.
"""
from __future__ import annotations

from neutrino.agents.firewall.hybrid import FirewallPlan, RuleRef

CONNTRACK_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ipv6-icmp": "icmpv6",
                       "sctp": "sctp", "dccp": "dccp", "udplite": "udplite"}
WITH_PORTS = ("tcp", "udp", "sctp", "dccp", "udplite")


def _value(tokens: list[str], flag: str) -> str | None:
    if flag in tokens and tokens.index(flag) + 1 < len(tokens):
        return tokens[tokens.index(flag) + 1]
    return None


def rule_filter(ref: RuleRef, zone: int) -> list[str]:
    """``conntrack -D`` arguments matching the flows ``ref`` let through."""
    tokens = ref.rule.split()
    args = ["-f", ref.family, "-w", str(zone)]
    proto = CONNTRACK_PROTOCOLS.get(_value(tokens, "-p") or "")
    if proto:
        args += ["-p", proto]
        port = _value(tokens, "--dport")
        if proto in WITH_PORTS and port and port.isdigit():
            args += ["--dport", port]
    for flag in ("-s", "-d"):
        remote = _value(tokens, flag)
        if remote:
            args += [flag, remote]
    return args


def _set_users(refs: list[RuleRef]) -> dict[str, str]:
    """ipset name -> ``src``/``dst`` for the rules of one port that use a set."""
    users: dict[str, str] = {}
    for ref in refs:
        name = _value(ref.rule.split(), "--match-set")
        if name:
            users[name] = ref.rule.split()[ref.rule.split().index(name) + 1]
    return users


def deletions(before: FirewallPlan, after: FirewallPlan) -> list[list[str]]:
    """The ``conntrack -D`` argument lists for going from ``before`` to ``after``."""
    out: list[list[str]] = []
    shrunk = {name: old.members - (after.ipsets[name].members if name in after.ipsets else set())
              for name, old in before.ipsets.items()}
    families = sorted({ref.family for refs in before.port_rules.values() for ref in refs})
    for port_id, zone in sorted(before.zones.items()):
        if port_id not in after.zones:
            out += [["-f", fam, "-w", str(zone)] for fam in families]
            continue
        refs = before.port_rules.get(port_id, [])
        kept = {(r.family, r.chain, r.rule) for r in after.port_rules.get(port_id, [])}
        for ref in refs:
            if ref.sg_rule_ids and (ref.family, ref.chain, ref.rule) not in kept:
                out.append(rule_filter(ref, zone))
        for name, way in _set_users(refs).items():
            family = "ipv4" if name.startswith("NIPv4") else "ipv6"
            for member in sorted(shrunk.get(name, ())):
                out.append(["-f", family, "-w", str(zone),
                            "-s" if way == "src" else "-d", member])
    unique: list[list[str]] = []
    for args in out:
        if args not in unique:
            unique.append(args)
    return unique
