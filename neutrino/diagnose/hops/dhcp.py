"""The DHCP server of a network: qdhcp namespace, its tap, dnsmasq and its host entries."""
from __future__ import annotations

import os

from neutrino.diagnose.context import DHCP_AGENT, Ctx
from neutrino.diagnose.endpoints import Endpoint
from neutrino.diagnose.path import Hop


def subnet_check(ctx: Ctx, network_id: str | None, direction: str = "forward") -> Hop | None:
    """A failing hop when no subnet of the network has DHCP enabled."""
    subnets = ctx.subnets_of(network_id)
    if subnets and not any(s.get("enable_dhcp") for s in subnets):
        s = subnets[0]
        return Hop("controller", "dnsmasq", "", direction=direction).fail(
            f"DHCP is disabled on subnet {s.get('name') or s['id']} ({s['cidr']}): "
            "no DHCP server answers on this network",
            f"openstack subnet set --dhcp {s.get('name') or s['id']}",
            {"method": "PUT", "path": f"/v2.0/subnets/{s['id']}",
             "body": {"subnet": {"enable_dhcp": True}}})
    return None


def _agent_note(ctx: Ctx, host: str) -> tuple[str, bool]:
    dead = not ctx.agent_process_alive(host, "dhcp") or ctx.agent_alive(host, DHCP_AGENT) is False
    return (f"; the DHCP agent on {host} is not running" if dead else ""), dead


def service(ctx: Ctx, dhcp: Endpoint, client: Endpoint, direction: str = "forward") -> list[Hop]:
    """The DHCP port's tap in qdhcp and dnsmasq answering ``client``."""
    host = dhcp.host or "controller"
    node = ctx.snap.nodes.get(host)
    ns_name = dhcp.netns or ""
    note, _ = _agent_note(ctx, host)
    hop = Hop(host, dhcp.ovs_port or "tap", "", direction=direction)
    if node is None or not node.alive:
        return [hop.fail(f"node {host} is down", ctx.lab_up)]
    ns = node.namespaces.get(ns_name)
    if ns is None:
        return [hop.fail(f"namespace {ns_name} does not exist on {host}{note}", ctx.lab_up)]
    tap = ns.links.get(dhcp.ovs_port or "")
    if tap is None or not tap.up or not tap.addrs:
        return [hop.fail(f"{dhcp.ovs_port} in {ns_name} is missing, down or has no address"
                         f"{note}", ctx.lab_up)]
    hop.what = f"into {ns_name}: {dhcp.ovs_port} {', '.join(tap.addrs)} mtu {tap.mtu}"
    hop.detail = {"netns": ns_name}
    hops = [hop]
    d = Hop(host, "dnsmasq", "", direction=direction)
    hops.append(d)
    proc = node.dnsmasq.get(dhcp.network_id or "")
    if not proc or not proc["alive"]:
        return hops[:-1] + [d.fail(f"dnsmasq for network {ctx.network_name(dhcp.network_id)} is "
                                   f"not running in {ns_name}{note}", ctx.lab_up)]
    host_file = os.path.join(os.path.dirname(proc["pid_file"]), "host")
    entry = None
    try:
        with open(host_file) as f:
            for line in f:
                if client.mac and line.lower().startswith(client.mac.lower()):
                    entry = line.strip()
    except OSError:
        pass
    if client.kind == "instance" and entry is None:
        return hops[:-1] + [d.fail(f"dnsmasq has no host entry for {client.mac} in {host_file}"
                                   f"{note}", ctx.lab_up)]
    d.what = f"pid {proc['pid']} running" + (f"; host entry {entry}" if entry else "")
    d.detail = {"pid": proc["pid"], "host_entry": entry}
    return hops


def egress(ctx: Ctx, dhcp: Endpoint, direction: str = "reply") -> list[Hop]:
    """The answer leaving qdhcp by its tap (an OVS internal port of br-int)."""
    host = dhcp.host or "controller"
    return [Hop(host, dhcp.ovs_port or "tap", f"out of {dhcp.netns} into br-int",
                direction=direction, detail={"netns": dhcp.netns})]
