"""The iptables_hybrid ruleset as a pure function of ports and security groups.

Inputs are plain data, shaped like what the server hands the agent:

* ports: dicts with ``id``, ``mac_address``, ``fixed_ips`` (dicts with
  ``ip_address`` or plain strings), ``device_owner``,
  ``port_security_enabled``, ``security_groups``, ``allowed_address_pairs``;
* groups: security group id -> ``{"stateful": bool, "security_group_rules":
  [rule dicts with Neutron's fields]}`` (see ``normalise_groups`` for the
  other shapes accepted);
* members: security group id -> IPs (and CIDRs) of the ports in that group
  (fixed IPs and address-pair IPs, as the server collects them).

The output is what Neutron's OVSHybridIptablesFirewallDriver would leave in
``iptables-save`` (section 5 of the ML2/OVS reference), the ipsets to create,
and for every rule the port it belongs to and the security-group rule ids it
came from.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from neutrino.agents.firewall import comments as ic
from neutrino.agents.firewall.sg_rules import IPV4, IPV6, normal_prefix, rule_args
from neutrino.errors import NeutrinoError
from neutrino.linux.iptables import COMPUTE_WRAPPED, Ruleset, Table, new_ruleset
from neutrino.linux.ipset import IpSet, canonical_members

PREFIX = "neutron-openvswi"
SG_CHAIN = "sg-chain"
FALLBACK_CHAIN = "sg-fallback"
DEV_NAME_LEN = 14
IPSET_NAME_LEN = 29
ZONE_MIN, ZONE_MAX = 4097, 65535
FAMILY_ETHERTYPE = {"ipv4": IPV4, "ipv6": IPV6}
# ICMPv6 types let in (MLD query, NS, NA) and let out from :: (DAD).
ICMPV6_INGRESS_TYPES = (130, 135, 136)
ICMPV6_UNSPEC_TYPES = (131, 135, 143)
ICMPV6_TYPE_RA = 134
DHCP_PORTS = {"ipv4": (67, 68), "ipv6": (547, 546)}  # server, client


def tap_name(port_id: str) -> str:
    return ("tap" + port_id)[:DEV_NAME_LEN]


def qvb_name(port_id: str) -> str:
    return ("qvb" + port_id)[:DEV_NAME_LEN]


def ipset_name(sg_id: str, ethertype: str) -> str:
    """``NIPv4<sg id>`` cut so that the ``-n`` swap set still fits 31 chars."""
    return ("N" + ethertype + sg_id)[:IPSET_NAME_LEN]


def chain_name(kind: str, port_id: str) -> str:
    """``i``/``o``/``s`` + port id, unwrapped (the table wraps and cuts it)."""
    return kind + port_id


@dataclass(frozen=True)
class RuleRef:
    """One rendered rule and where it came from."""
    family: str
    table: str
    chain: str
    rule: str
    sg_rule_ids: tuple[str, ...] = ()


@dataclass
class FirewallPlan:
    ruleset: Ruleset
    ipsets: dict[str, IpSet] = field(default_factory=dict)
    port_rules: dict[str, list[RuleRef]] = field(default_factory=dict)
    zones: dict[str, int] = field(default_factory=dict)


def allocate_zones(port_ids, current: dict[str, int] | None = None) -> dict[str, int]:
    """Conntrack zones: kept for known ports, lowest free from 4097 for new."""
    current = current or {}
    wanted = sorted(set(port_ids))
    zones = {p: current[p] for p in wanted if p in current}
    used = set(zones.values())
    free = (z for z in range(ZONE_MIN, ZONE_MAX + 1) if z not in used)
    for port_id in wanted:
        if port_id not in zones:
            try:
                zones[port_id] = next(free)
            except StopIteration:
                raise NeutrinoError("no free conntrack zone left") from None
    return zones


def _ips(port: dict) -> list[str]:
    return [ip["ip_address"] if isinstance(ip, dict) else str(ip)
            for ip in port.get("fixed_ips") or []]


def _family(address: str) -> str:
    return "ipv4" if normal_prefix(address)[0] == 4 else "ipv6"


def _cidr(address: str) -> str:
    return normal_prefix(address)[1]


def _mac(mac: str) -> str:
    return mac.upper()


def _eui64_lla(mac: str) -> str:
    octets = [int(b, 16) for b in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui)))


def is_trusted(port: dict) -> bool:
    return (port.get("device_owner") or "").startswith("network:")


def is_filtered(port: dict) -> bool:
    return port.get("port_security_enabled", True) is not False


def normalise_port(port: dict) -> dict:
    """The port with ``id`` set, also from a device dict (``port_id``/``device``)."""
    pid = port.get("id") or port.get("port_id") or port.get("device")
    if not pid:
        raise NeutrinoError(f"port without id: {port!r}")
    if pid == port.get("id"):
        return port
    return dict(port, id=pid)


def normalise_groups(groups) -> dict[str, dict]:
    """sg id -> {"stateful", "security_group_rules"}.

    Accepts that mapping, a list of group dicts with ``id``, or Neutron's
    agent shape ``{sg_id: [rules]}`` (stateful unless a rule says otherwise).
    """
    if not isinstance(groups, dict):
        groups = {g["id"]: g for g in groups or []}
    out = {}
    for sg_id, group in groups.items():
        if isinstance(group, dict):
            out[sg_id] = group
        else:
            rules = list(group)
            stateful = all(r.get("stateful", True) is not False for r in rules)
            out[sg_id] = {"stateful": stateful, "security_group_rules": rules}
    return out


def member_ips(value) -> list[str]:
    """IPs of a group's members: a list of IPs or (ip, mac) pairs, or Neutron's
    ``{"IPv4": [...], "IPv6": [...]}``."""
    if isinstance(value, dict):
        value = [ip for ips in value.values() for ip in ips or []]
    return [m[0] if isinstance(m, (list, tuple)) else m for m in value or []]


class _Builder:
    def __init__(self, ports, groups, members, zones, prefix, use_ipv6):
        self.ports = sorted((normalise_port(p) for p in ports), key=lambda p: p["id"])
        self.groups = normalise_groups(groups)
        self.members = members or {}
        self._sets: dict[tuple[str, str], IpSet | None] = {}
        self.rs = new_ruleset(prefix, COMPUTE_WRAPPED, use_ipv6)
        filtered = [p["id"] for p in self.ports if is_filtered(p) and not is_trusted(p)]
        self.zones = allocate_zones(filtered, zones)
        self.plan = FirewallPlan(self.rs, zones=self.zones)

    def table(self, family: str, name: str) -> Table:
        return self.rs.tables[family][name]

    def add(self, port_id, family, table, chain, rule, wrap=True, top=False,
            comment=None, origin=()):
        tbl = self.table(family, table)
        text = tbl.add_rule(chain, rule, wrap=wrap, top=top, comment=comment)
        if port_id is not None:
            ref = RuleRef(family, table, tbl.full_name(chain, wrap), text, tuple(origin))
            self.plan.port_rules.setdefault(port_id, []).append(ref)

    def build(self) -> FirewallPlan:
        for fam in self.rs.families:
            self.table(fam, "filter").add_chain(FALLBACK_CHAIN)
            self.add(None, fam, "filter", FALLBACK_CHAIN, "-j DROP", comment=ic.UNMATCH_DROP)
            self.table(fam, "filter").add_chain(SG_CHAIN)
        for port in self.ports:
            if is_trusted(port):
                self._trusted(port)
        for port in self.ports:
            if is_filtered(port) and not is_trusted(port):
                self._filtered(port)
        for fam in self.rs.families:
            self.add(None, fam, "filter", SG_CHAIN, "-j ACCEPT")
        for port in self.ports:
            if not is_filtered(port) and not is_trusted(port):
                self._unfiltered(port)
        for port in self.ports:
            if not is_trusted(port):
                self._nat_short_circuit(port)
        return self.plan

    # -- port kinds ---------------------------------------------------------

    def _trusted(self, port):
        tap = tap_name(port["id"])
        for fam in self.rs.families:
            for way in ("physdev-out", "physdev-in"):
                self.add(port["id"], fam, "filter", "FORWARD",
                         f"-m physdev --{way} {tap} --physdev-is-bridged -j ACCEPT",
                         comment=ic.TRUSTED_ACCEPT)

    def _unfiltered(self, port):
        tap = tap_name(port["id"])
        for fam in self.rs.families:
            for chain, way in (("FORWARD", "physdev-out"), ("FORWARD", "physdev-in"),
                               ("INPUT", "physdev-in")):
                self.add(port["id"], fam, "filter", chain,
                         f"-m physdev --{way} {tap} --physdev-is-bridged -j ACCEPT",
                         comment=ic.PORT_SEC_ACCEPT)

    def _nat_short_circuit(self, port):
        tap = tap_name(port["id"])
        for fam in self.rs.families:
            for way in ("physdev-out", "physdev-in"):
                self.add(port["id"], fam, "nat", "PREROUTING",
                         f"-m physdev --{way} {tap} -j ACCEPT", comment=ic.TRUSTED_ACCEPT)

    def _filtered(self, port):
        pid = port["id"]
        tap = tap_name(pid)
        self._zone_rules(port)
        for fam in self.rs.families:
            filt = self.table(fam, "filter")
            for direction, way, kind in (("ingress", "physdev-out", "i"),
                                         ("egress", "physdev-in", "o")):
                chain = chain_name(kind, pid)
                filt.add_chain(chain)
                self.add(pid, fam, "filter", "FORWARD",
                         f"-m physdev --{way} {tap} --physdev-is-bridged -j ${SG_CHAIN}",
                         top=True, comment=ic.VM_INT_SG)
                self.add(pid, fam, "filter", SG_CHAIN,
                         f"-m physdev --{way} {tap} --physdev-is-bridged -j ${chain}",
                         comment=ic.SG_TO_VM_SG)
                if direction == "egress":
                    self.add(pid, fam, "filter", "INPUT",
                             f"-m physdev --{way} {tap} --physdev-is-bridged -j ${chain}",
                             comment=ic.INPUT_TO_SG)
                    self._egress_fixed(port, fam)
                else:
                    if fam == "ipv6":
                        for t in ICMPV6_INGRESS_TYPES:
                            self.add(pid, fam, "filter", chain,
                                     f"-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN")
                self._group_rules(port, fam, direction, chain)

    def _zone_rules(self, port):
        pid = port["id"]
        if self._stateful(port):
            comment, action = f"Set zone for {pid}", f"CT --zone {self.zones[pid]}"
        else:
            comment, action = f"Make {pid} stateless", "CT --notrack"
        qvb, tap = qvb_name(pid), tap_name(pid)
        for fam in self.rs.families:
            for match in (f"-m physdev --physdev-in {qvb}", f"-i {qvb}",
                          f"-m physdev --physdev-in {tap}"):
                self.add(pid, fam, "raw", "PREROUTING", f'{match} -m comment --comment '
                         f'"{comment}" -j {action}')

    def _stateful(self, port) -> bool:
        sgs = port.get("security_groups") or []
        if not sgs:
            return True
        return self.groups.get(sgs[0], {}).get("stateful", True) is not False

    # -- egress fixed rules and anti-spoofing -------------------------------

    def _spoof_pairs(self, port, fam) -> list[tuple[str, str | None]]:
        pairs: list[tuple[str, str | None]] = []
        port_mac = port["mac_address"]
        candidates = [((p.get("mac_address") or port_mac), p["ip_address"])
                      for p in port.get("allowed_address_pairs") or []]
        candidates += [(port_mac, ip) for ip in _ips(port)]
        for mac, ip in candidates:
            if _family(ip) != fam:
                continue
            pair = (_mac(mac), _cidr(ip))
            if pair not in pairs:
                pairs.append(pair)
            if fam == "ipv6":
                lla = (_mac(mac), _eui64_lla(mac) + "/128")
                if lla not in pairs:
                    pairs.append(lla)
        if not _ips(port):
            pairs.append((_mac(port_mac), None))
        return pairs

    def _egress_fixed(self, port, fam):
        pid = port["id"]
        out = chain_name("o", pid)
        server, client = DHCP_PORTS[fam]
        if fam == "ipv4":
            self.add(pid, fam, "filter", out, "-s 0.0.0.0/32 -d 255.255.255.255/32 -p udp "
                     f"-m udp --sport {client} --dport {server} -j RETURN",
                     comment=ic.DHCP_CLIENT)
        else:
            for t in ICMPV6_UNSPEC_TYPES:
                self.add(pid, fam, "filter", out, "-s ::/128 -d ff02::/16 -p ipv6-icmp "
                         f"-m icmp6 --icmpv6-type {t} -j RETURN", comment=ic.IPV6_ICMP_ALLOW)
        pairs = self._spoof_pairs(port, fam)
        if pairs:
            spoof = chain_name("s", pid)
            self.table(fam, "filter").add_chain(spoof)
            for mac, ip in pairs:
                # iptables-save drops a /0 source, so the rule must not carry it.
                any_source = ip is None or ip.endswith("/0")
                match = (f"-m mac --mac-source {mac}" if any_source
                         else f"-s {ip} -m mac --mac-source {mac}")
                self.add(pid, fam, "filter", spoof, f"{match} -j RETURN", comment=ic.PAIR_ALLOW)
            self.add(pid, fam, "filter", spoof, "-j DROP", comment=ic.PAIR_DROP)
            self.add(pid, fam, "filter", out, f"-j ${spoof}")
        if fam == "ipv4":
            self.add(pid, fam, "filter", out, f"-p udp -m udp --sport {client} "
                     f"--dport {server} -j RETURN", comment=ic.DHCP_CLIENT)
        else:
            self.add(pid, fam, "filter", out, f"-p ipv6-icmp -m icmp6 --icmpv6-type "
                     f"{ICMPV6_TYPE_RA} -j DROP", comment=ic.IPV6_RA_DROP)
            self.add(pid, fam, "filter", out, "-p ipv6-icmp -j RETURN",
                     comment=ic.IPV6_ICMP_ALLOW)
            self.add(pid, fam, "filter", out, f"-p udp -m udp --sport {client} "
                     f"--dport {server} -j RETURN", comment=ic.DHCP_CLIENT)
        self.add(pid, fam, "filter", out, f"-p udp -m udp --sport {server} "
                 f"--dport {client} -j DROP", comment=ic.DHCP_SPOOF)

    # -- security group rules -----------------------------------------------

    def _provider_rules(self, port, fam, direction) -> list[dict]:
        """DHCP replies the server side adds to every port's ingress rules."""
        if direction != "ingress":
            return []
        server, client = DHCP_PORTS[fam]
        dests = [_cidr(ip) for ip in _ips(port) if _family(ip) == fam]
        dests.append("255.255.255.255/32" if fam == "ipv4" else "fe80::/64")
        return [{"direction": "ingress", "ethertype": FAMILY_ETHERTYPE[fam],
                 "protocol": "udp", "source_port_range_min": server,
                 "source_port_range_max": server, "port_range_min": client,
                 "port_range_max": client, "dest_ip_prefix": d} for d in dests]

    def _member_set(self, sg_id: str, fam: str) -> IpSet | None:
        """The ipset of a remote group (computed once per build, not per port)."""
        key = (sg_id, fam)
        if key not in self._sets:
            family = "inet" if fam == "ipv4" else "inet6"
            members = canonical_members(member_ips(self.members.get(sg_id)), family)
            self._sets[key] = IpSet(family, members) if members else None
        return self._sets[key]

    def _group_rules(self, port, fam, direction, chain):
        pid = port["id"]
        ethertype = FAMILY_ETHERTYPE[fam]
        rendered: list[tuple[str, list[str]]] = []
        index: dict[str, int] = {}

        def emit(text, rule_id):
            if text in index:
                if rule_id:
                    rendered[index[text]][1].append(rule_id)
                return
            index[text] = len(rendered)
            rendered.append((text, [rule_id] if rule_id else []))

        for rule in self._provider_rules(port, fam, direction):
            emit(rule_args(rule), None)
        for sg_id in port.get("security_groups") or []:
            group = self.groups.get(sg_id)
            if group is None:
                continue
            for rule in group.get("security_group_rules") or []:
                if rule.get("direction") != direction or rule.get("ethertype", IPV4) != ethertype:
                    continue
                text = self._convert(rule, fam, direction)
                if text:
                    emit(text, rule.get("id"))
        self.add(pid, fam, "filter", chain, "-m state --state RELATED,ESTABLISHED -j RETURN",
                 comment=ic.ALLOW_ASSOC)
        for text, ids in rendered:
            self.add(pid, fam, "filter", chain, text, origin=ids)
        self.add(pid, fam, "filter", chain, "-m state --state INVALID -j DROP",
                 comment=ic.INVALID_DROP)
        self.add(pid, fam, "filter", chain, f"-j ${FALLBACK_CHAIN}", comment=ic.UNMATCHED)

    def _convert(self, rule, fam, direction) -> str | None:
        remote_group = rule.get("remote_group_id")
        if remote_group:
            members = self._member_set(remote_group, fam)
            if members is None:
                return None  # Neutron creates no set for an empty group.
            name = ipset_name(remote_group, FAMILY_ETHERTYPE[fam])
            self.plan.ipsets[name] = members
            return rule_args(rule, ipset_name=name)
        expanded = dict(rule)
        prefix = rule.get("remote_ip_prefix")
        if prefix:
            if _family(prefix) != fam:
                return None
            key = "source_ip_prefix" if direction == "ingress" else "dest_ip_prefix"
            expanded[key] = prefix
        return rule_args(expanded)


def build(ports, groups, members, zones: dict[str, int] | None = None,
          prefix: str = PREFIX, use_ipv6: bool = True) -> FirewallPlan:
    """The desired ruleset, ipsets and rule origins for these ports.

    ``zones`` maps port ids to conntrack zones already in use; new filtered
    ports get the lowest free zone from 4097 (see ``plan.zones``).
    """
    return _Builder(ports, groups, members, zones, prefix, use_ipv6).build()
