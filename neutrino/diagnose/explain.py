"""``explain SRC DST``: the hops a packet takes, simulated over live state.

The walk is a simulator over what the nodes hold right now (recommendation 8
of the style anchors): the instance's routes and MTU, the hybrid plug's
devices and the live iptables rules, ``ofproto/trace`` per bridge on each
node (which follows patch ports), the far node's tunnel and local VLAN, the
DHCP namespace and dnsmasq. The first hop that fails is the verdict, with
its reason and a fix. Each hop kind lives in ``neutrino.diagnose.hops``.
"""
from __future__ import annotations

import time

from neutrino.diagnose import snapshot as snapshot_mod
from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import Endpoint, resolve
from neutrino.diagnose.hops import dhcp, gateway, hybrid, inbound, instance, ovs, router
from neutrino.diagnose.path import Explanation, Hop
from neutrino.errors import NeutrinoError
from neutrino.lab.layout import Lab

PROTOS = ("icmp", "tcp", "udp")


class _Walk:
    def __init__(self, ctx: Ctx, exp: Explanation):
        self.ctx, self.exp = ctx, exp

    def add(self, hops: list[Hop], direction: str) -> bool:
        for hop in hops:
            hop.direction = direction
            self.exp.hops.append(hop)
            if not hop.ok:
                return False
        return True

    def instance_to_port(self, src: Endpoint, dst: Endpoint, direction: str) -> bool:
        """src instance -> its plug -> OVS -> dst's port on br-int."""
        ctx = self.ctx
        return (self.add(hybrid.egress(ctx, src, dst.ip, direction), direction)
                and self.add(ovs.across(ctx, src, dst, dst.mac, direction), direction))

    def into(self, dst: Endpoint, src: Endpoint, direction: str) -> bool:
        ctx = self.ctx
        if dst.kind == "instance":
            return (self.add(hybrid.ingress(ctx, dst, src.ip, src.mac, direction), direction)
                    and self.add(instance.ingress(ctx, dst), direction))
        if dst.kind == "dhcp":
            return self.add(dhcp.service(ctx, dst, src), direction)
        return True

    def l2(self, src: Endpoint, dst: Endpoint) -> None:
        ovs.prefetch(self.ctx, src, dst, dst.mac)
        ovs.prefetch(self.ctx, dst, src, src.mac)
        if not (self.instance_to_port(src, dst, "forward") and self.into(dst, src, "forward")):
            return
        # the reply
        if dst.kind == "instance":
            hops, _ = instance.egress(self.ctx, dst, src.ip)
            if not self.add(hops, "reply") or not self.instance_to_port(dst, src, "reply"):
                return
        elif dst.kind == "dhcp":
            if not (self.add(dhcp.egress(self.ctx, dst), "reply")
                    and self.add(ovs.across(self.ctx, dst, src, src.mac, "reply"), "reply")):
                return
        else:
            return
        self.add(hybrid.ingress(self.ctx, src, dst.ip, dst.mac, "reply"), "reply")
        if self.exp.failed is None:
            self.add(instance.ingress(self.ctx, src), "reply")

    def from_outside(self, outside_ip: str, dst: Endpoint) -> None:
        """Outside -> floating IP -> router (DNAT) -> the instance."""
        ctx = self.ctx
        fip = inbound.floating_ip_of(ctx, dst)
        if fip is None:
            self.add([inbound.missing_fip(ctx, dst)], "forward")
            return
        hops, router_ep = inbound.to_router(ctx, outside_ip, dst, fip)
        if not self.add(hops, "forward") or router_ep is None:
            return
        # The router's qr- sends the frame; the IP header keeps the outside source.
        if self.add(ovs.across(ctx, router_ep, dst, dst.mac, "forward"), "forward"):
            self.into(dst, router_ep, "forward")
        if self.exp.failed is None:
            self.exp.notes.append("the reply goes back through the router's conntrack "
                                  "(SNAT to the floating IP)")

    def off_link(self, src: Endpoint, dst: Endpoint, gateway_ip: str) -> None:
        ctx = self.ctx
        if not self.add(hybrid.egress(ctx, src, dst.ip), "forward"):
            return
        hop, port = gateway.check(ctx, src, gateway_ip, dst.ip)
        if not self.add([hop], "forward") or port is None:
            return
        router_ep = Endpoint("router", f"router({gateway_ip})", gateway_ip,
                             port["mac_address"], port.get("binding:host_id"),
                             port["network_id"], port["id"],
                             netns=f"qrouter-{port['device_id']}")
        if not router_ep.host or router_ep.host not in ctx.snap.nodes:
            self.add([Hop("?", router_ep.ovs_port or "qr-", "").fail(
                f"router port {port['id']} is not bound to a node (no L3 agent?)",
                ctx.lab_up)], "forward")
            return
        # The frame goes to the router's MAC; the IP header still says dst.
        towards = Endpoint("router", router_ep.label, dst.ip, router_ep.mac, router_ep.host,
                           router_ep.network_id, router_ep.port_id)
        if not self.add(ovs.across(ctx, src, towards, router_ep.mac, "forward"), "forward"):
            return
        self.add(router.hops(ctx, src, router_ep, dst.ip), "forward")


def explain(lab: Lab, src: str, dst: str, proto: str = "icmp", port: int | None = None,
            snap=None) -> Explanation:
    if proto not in PROTOS:
        raise NeutrinoError(f"--proto must be one of {', '.join(PROTOS)}")
    if proto != "icmp" and not port:
        raise NeutrinoError(f"--proto {proto} needs --port N")
    if port is not None and not 0 < port < 65536:
        raise NeutrinoError(f"bad --port {port}: 1..65535")
    t0 = time.monotonic()
    snap = snap or snapshot_mod.take(lab)
    if not snap.api_ok:
        raise NeutrinoError(f"the lab's API does not answer: {snap.api_error}")
    ctx = Ctx(lab, snap, proto, port)
    s = resolve(snap, src)
    d = resolve(snap, dst, peer=s if s.kind == "instance" else None)
    if s.kind == "outside":
        if d.kind == "floating" and d.port_id:
            d = next((resolve(snap, n) for n, i in snap.instances.items()
                      if i.port_id == d.port_id), d)
        if d.kind != "instance":
            raise NeutrinoError(f"from an outside address, DST must be an instance or its "
                                f"floating IP (got {d.label})")
        exp = Explanation(s.label, d.instance, proto, port, src_ip=s.ip, dst_ip=d.ip)
        _Walk(Ctx(lab, snap, proto, port), exp).from_outside(s.ip, d)
        exp.elapsed = time.monotonic() - t0
        return exp
    if s.kind != "instance":
        raise NeutrinoError(f"SRC must be an instance or an outside address (got {s.label})")
    exp = Explanation(s.label, d.label if d.kind != "instance" else d.instance, proto, port,
                      src_ip=s.ip, dst_ip=d.ip)
    walk = _Walk(ctx, exp)
    if d.kind == "dhcp":
        check = dhcp.subnet_check(ctx, s.network_id)
        if check is None and not d.port_id:
            check = Hop("controller", "dnsmasq", "").fail(
                f"network {ctx.network_name(s.network_id)} has no DHCP port", ctx.lab_up)
        if check is not None:
            first, _ = instance.egress(ctx, s, s.ip)
            walk.add(first, "forward")
            walk.add([check], "forward")
            exp.elapsed = time.monotonic() - t0
            return exp
    hops, nexthop = instance.egress(ctx, s, d.ip)
    try:
        if walk.add(hops, "forward"):
            if nexthop == d.ip and d.kind in ("instance", "dhcp", "router") \
                    and d.network_id == s.network_id:
                walk.l2(s, d)
            else:
                walk.off_link(s, d, nexthop)
    finally:
        if ctx.tracer is not None:
            ctx.tracer.close()
    exp.elapsed = time.monotonic() - t0
    return exp
