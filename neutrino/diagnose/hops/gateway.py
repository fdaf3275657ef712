"""Leaving the subnet: the gateway must be a router's interface.

The router's own hops (qrouter routing, SNAT/DNAT, qg-, br-ex) come from
``hops.router`` once routers exist in the lab.
"""
from __future__ import annotations

from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import ROUTER_OWNERS, Endpoint
from neutrino.diagnose.path import Hop


def router_port(ctx: Ctx, network_id: str | None, ip: str) -> dict | None:
    for port in ctx.snap.ports:
        if port.get("network_id") == network_id and port.get("device_owner") in ROUTER_OWNERS \
                and any(f["ip_address"] == ip for f in port.get("fixed_ips", [])):
            return port
    return None


def check(ctx: Ctx, src: Endpoint, gateway_ip: str, dst_ip: str) -> tuple[Hop, dict | None]:
    """The hop to the gateway and the router port found there (None: dropped)."""
    port = router_port(ctx, src.network_id, gateway_ip)
    hop = Hop(src.host or "?", "gateway", f"{dst_ip} is off-link: next hop {gateway_ip}")
    if port is None:
        subnet = next((s for s in ctx.subnets_of(src.network_id)
                       if s.get("gateway_ip") == gateway_ip), None)
        sname = (subnet.get("name") or subnet["id"]) if subnet else "SUBNET"
        routers = ctx.snap.routers
        if routers:
            r = routers[0]
            fix = f"openstack router add subnet {r.get('name') or r['id']} {sname}"
            api = {"method": "PUT", "path": f"/v2.0/routers/{r['id']}/add_router_interface",
                   "body": {"subnet_id": subnet["id"] if subnet else None}}
        else:
            fix = f"openstack router create r1 && openstack router add subnet r1 {sname}"
            api = None
        hop.fail(f"no router interface holds the gateway {gateway_ip} of subnet {sname}: "
                 "the subnet is not attached to a router", fix, api)
        return hop, None
    hop.what += f" = router {port['device_id']} port {port['id'][:11]} ({port['mac_address']})"
    return hop, port
