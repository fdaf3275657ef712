"""The instance's namespace: eth0 state, address, MTU and the route it picks."""
from __future__ import annotations

import ipaddress

from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import Endpoint
from neutrino.diagnose.path import Hop
from neutrino.diagnose.snapshot import Namespace


def route_lookup(ns: Namespace, dst: str) -> dict | None:
    """Longest-prefix match over the namespace's main table (what `ip route get` does)."""
    best, best_len = None, -1
    addr = ipaddress.ip_address(dst)
    for route in ns.routes:
        prefix = route.get("dst")
        net = ipaddress.ip_network("0.0.0.0/0" if prefix == "default" else prefix, strict=False)
        if net.version == addr.version and addr in net and net.prefixlen > best_len:
            best, best_len = route, net.prefixlen
    return best


def _gateway(ctx: Ctx, ep: Endpoint) -> str | None:
    for subnet in ctx.subnets_of(ep.network_id):
        if subnet.get("gateway_ip"):
            return subnet["gateway_ip"]
    return None


def egress(ctx: Ctx, ep: Endpoint, dst_ip: str) -> tuple[list[Hop], str | None]:
    """The hop leaving the instance, and the next-hop address (None when dropped)."""
    inst = ctx.snap.instances[ep.instance]
    hop = Hop(ep.instance, "eth0", "")
    if inst.netns is None:
        return [hop.fail(f"the instance's namespace is gone",
                         f"neutrino instance delete --name {ctx.lab.name} {ep.instance}")], None
    eth0 = inst.netns.links.get("eth0")
    if eth0 is None:
        return [hop.fail("the instance has no eth0 (unplugged)")], None
    if not eth0.up:
        return [hop.fail("eth0 is down", ctx.in_instance(ep.instance, "ip link set eth0 up"))], None
    if not eth0.addrs:
        return [hop.fail("eth0 has no IPv4 address (no DHCP lease)",
                         ctx.in_instance(ep.instance, "busybox udhcpc -n -q -i eth0"))], None
    mtu = ctx.network_mtu(ep.network_id)
    port = ctx.snap.port_by_id(ep.port_id or "")
    status = port.get("status") if port else "?"
    route = route_lookup(inst.netns, dst_ip) if dst_ip else None
    via = route.get("gateway") if route else None
    hop.what = (f"{', '.join(eth0.addrs)} {eth0.mac} mtu {eth0.mtu}; port {status}; "
                + (f"route {route.get('dst')} {'via ' + via if via else 'on-link'} dev "
                   f"{route.get('dev')}" if route else f"no route to {dst_ip}"))
    hop.detail = {"mtu": eth0.mtu, "network_mtu": mtu, "route": route, "port_status": status}
    if mtu and eth0.mtu > mtu:
        return [hop.fail(f"eth0 MTU {eth0.mtu} is larger than the network MTU {mtu} (VXLAN "
                         f"takes 50 bytes): packets over {mtu} bytes are dropped at the tap, "
                         "large pings and TCP transfers stall",
                         ctx.in_instance(ep.instance, f"ip link set eth0 mtu {mtu}"))], None
    if route is None:
        gw = _gateway(ctx, ep)
        fix = ctx.in_instance(ep.instance, f"ip route add default via {gw} dev eth0") if gw \
            else None
        why = "no route to " + dst_ip + (" (the default route is missing)" if gw else
                                         " (its subnet has no gateway)")
        return [hop.fail(why, fix)], None
    return [hop], via or dst_ip


def ingress(ctx: Ctx, ep: Endpoint, direction: str = "forward") -> list[Hop]:
    inst = ctx.snap.instances[ep.instance]
    hop = Hop(ep.instance, "eth0", "", direction=direction)
    if inst.netns is None:
        return [hop.fail("the instance's namespace is gone")]
    eth0 = inst.netns.links.get("eth0")
    if eth0 is None or not eth0.up:
        return [hop.fail("eth0 is missing or down",
                         ctx.in_instance(ep.instance, "ip link set eth0 up"))]
    if not any(a.split("/")[0] == ep.ip for a in eth0.addrs):
        return [hop.fail(f"eth0 does not hold {ep.ip} (no DHCP lease)",
                         ctx.in_instance(ep.instance, "busybox udhcpc -n -q -i eth0"))]
    hop.what = f"delivered to {ep.instance} eth0 {ep.ip} ({eth0.mac}, mtu {eth0.mtu})"
    return [hop]
