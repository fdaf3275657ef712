"""The hybrid plug on the compute node: tap -> qbr -> qvb =veth= qvo.

The qbr bridge is where the iptables firewall filters (``physdev`` matches):
when the node has security-group chains, the packet is walked through the
live FORWARD chain on paper (``agents.firewall.trace``) and the deciding rule
named, with its security-group rule id when the server can tell it.
"""
from __future__ import annotations

import dataclasses

from neutrino.agents.firewall import trace as fwtrace
from neutrino.diagnose import security_groups
from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import Endpoint
from neutrino.diagnose.path import Hop
from neutrino.lab.plug import VifNames
from neutrino.linux.iptables import parse_save


def _device_hop(ctx: Ctx, node_name: str, dev: str, what: str, master: str | None,
                direction: str, mtu: int | None) -> Hop:
    node = ctx.snap.nodes[node_name]
    hop = Hop(node_name, dev, what, direction=direction)
    link = node.link(dev)
    if link is None:
        return hop.fail(f"{dev} does not exist on {node_name}",
                        f"neutrino lab up --name {ctx.lab.name}  # then re-create the instance "
                        "if its plug is gone")
    if not link.up:
        return hop.fail(f"{dev} is down", ctx.on_node(node_name, f"ip link set {dev} up"))
    if master and link.master != master:
        return hop.fail(f"{dev} is not a port of {master} (master: {link.master})",
                        ctx.on_node(node_name, f"ip link set {dev} master {master}"))
    hop.what = f"{what}, mtu {link.mtu}"
    if mtu and link.mtu < mtu:
        return hop.fail(f"{dev} MTU {link.mtu} is below the network MTU {mtu}",
                        ctx.on_node(node_name, f"ip link set {dev} mtu {mtu}"))
    return hop


def _firewall_hop(ctx: Ctx, ep: Endpoint, names: VifNames, packet: fwtrace.Packet,
                  direction: str, leaving: bool) -> Hop | None:
    node = ctx.snap.nodes[ep.host]
    tables = parse_save(node.iptables)
    rules = tables.get("filter").rules if "filter" in tables else {}
    if not any(c.startswith("neutron-openvswi-") for c in rules):
        return None
    if leaving:
        packet = dataclasses.replace(packet, physdev_in=names.tap, physdev_out=names.qvb)
    else:
        packet = dataclasses.replace(packet, physdev_in=names.qvb, physdev_out=names.tap)
    result = fwtrace.trace(rules, "FORWARD", packet, node.ipsets)
    step = result.deciding
    # The port chain's RETURN is where a security-group rule let the packet through.
    allowed = [m for m in result.matched if m.rule.rstrip().endswith("-j RETURN")
               and m.chain.startswith(("neutron-openvswi-i", "neutron-openvswi-o"))]
    if result.verdict == "ACCEPT" and allowed:
        step = allowed[-1]
    way = "egress (leaving the instance)" if leaving else "ingress (to the instance)"
    hop = Hop(ep.host, names.qbr, "", direction=direction)
    where = f"{step.chain} rule {step.position}: {step.rule}" if step else "chain policy"
    sg = security_groups.origin(ctx, ep, step, leaving) if step else None
    hop.detail = {"chain": step.chain if step else None, "rule": step.rule if step else None,
                  "position": step.position if step else None, "verdict": result.verdict,
                  "sg_rule_ids": list(sg["rule_ids"]) if sg else []}
    hop.what = f"iptables {way}: {result.verdict} by {where}" + (
        f" (security group rule {', '.join(sg['rule_ids'])})" if sg and sg["rule_ids"] else "")
    if result.verdict in ("DROP", "REJECT"):
        reason, fix, fix_api = security_groups.explain_drop(ctx, ep, packet, step, leaving)
        hop.fail(f"{way} {result.verdict} by {where}: {reason}", fix, fix_api)
    return hop


def _packet(ctx: Ctx, src_ip: str, dst_ip: str, src_mac: str | None,
            direction: str) -> fwtrace.Packet:
    """The packet as iptables sees it; a reply belongs to the connection conntrack saw."""
    proto = ctx.proto
    return fwtrace.Packet(src=src_ip, dst=dst_ip, proto=proto,
                          state="ESTABLISHED" if direction == "reply" else "NEW",
                          sport=40000 if proto in ("tcp", "udp") else None,
                          dport=ctx.port if proto in ("tcp", "udp") else None,
                          icmp_type=8 if proto == "icmp" else None,
                          icmp_code=0 if proto == "icmp" else None, src_mac=src_mac)


def egress(ctx: Ctx, ep: Endpoint, dst_ip: str, direction: str = "forward") -> list[Hop]:
    """From the instance's tap to its qvo on br-int."""
    if not ctx.snap.nodes[ep.host].alive:
        return [Hop(ep.host, "-", "", direction=direction).fail(
            f"node {ep.host} is down", ctx.lab_up)]
    names = VifNames.for_port(ep.port_id)
    mtu = ctx.network_mtu(ep.network_id)
    hops = [_device_hop(ctx, ep.host, names.tap, f"tap of {ep.instance}, port of {names.qbr}",
                        names.qbr, direction, mtu)]
    fw = _firewall_hop(ctx, ep, names, _packet(ctx, ep.ip, dst_ip, ep.mac, direction), direction, True)
    if fw is None:
        hops.append(_device_hop(ctx, ep.host, names.qbr, "Linux bridge (no iptables rules)",
                                None, direction, None))
    else:
        hops.append(fw)
    hops.append(_device_hop(ctx, ep.host, names.qvb, f"veth into {names.qbr}", names.qbr,
                            direction, mtu))
    hops.append(_device_hop(ctx, ep.host, names.qvo, f"veth peer of {names.qvb}", None,
                            direction, mtu))
    return hops


def ingress(ctx: Ctx, ep: Endpoint, src_ip: str, src_mac: str | None,
            direction: str = "forward") -> list[Hop]:
    """From the instance's qvo on br-int to its tap."""
    names = VifNames.for_port(ep.port_id)
    mtu = ctx.network_mtu(ep.network_id)
    hops = [_device_hop(ctx, ep.host, names.qvo, "out of br-int", None, direction, mtu),
            _device_hop(ctx, ep.host, names.qvb, f"veth into {names.qbr}", names.qbr,
                        direction, mtu)]
    fw = _firewall_hop(ctx, ep, names, _packet(ctx, src_ip, ep.ip, src_mac, direction), direction, False)
    if fw is None:
        hops.append(_device_hop(ctx, ep.host, names.qbr, "Linux bridge (no iptables rules)",
                                None, direction, None))
    else:
        hops.append(fw)
    hops.append(_device_hop(ctx, ep.host, names.tap, f"tap of {ep.instance}", names.qbr,
                            direction, mtu))
    return hops
