"""From the outside to an instance through its floating IP: the lab's upstream,
em4, br-ex, the router's qg- (DNAT to the fixed IP), qr-, then the instance's
network and security groups, where the seed's missing ingress rule shows up."""
from __future__ import annotations

from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import ROUTER_OWNERS, Endpoint
from neutrino.diagnose.hops.instance import route_lookup
from neutrino.diagnose.hops.router import UPLINK, _nat_rules, disabled
from neutrino.diagnose.path import Hop

UPSTREAM = "upstream"


def floating_ip_of(ctx: Ctx, ep: Endpoint) -> dict | None:
    return next((f for f in ctx.snap.floatingips if f.get("port_id") == ep.port_id), None)


def missing_fip(ctx: Ctx, ep: Endpoint) -> Hop:
    ext = next((n for n in ctx.snap.networks.values() if n.get("router:external")), None)
    ext_name = (ext.get("name") or ext["id"]) if ext else "EXTERNAL_NETWORK"
    free = next((f for f in ctx.snap.floatingips if not f.get("port_id")), None)
    if free:
        fix = f"openstack floating ip set --port {ep.port_id} {free['floating_ip_address']}"
        api = {"method": "PUT", "path": f"/v2.0/floatingips/{free['id']}",
               "body": {"floatingip": {"port_id": ep.port_id}}}
    else:
        fix = f"openstack floating ip create --port {ep.port_id} {ext_name}"
        api = ({"method": "POST", "path": "/v2.0/floatingips",
                "body": {"floatingip": {"floating_network_id": ext["id"],
                                        "port_id": ep.port_id}}} if ext else None)
    return Hop(UPSTREAM, "floating IP", "").fail(
        f"{ep.instance} has no floating IP associated: nothing outside can reach it", fix, api)


def to_router(ctx: Ctx, outside_ip: str, ep: Endpoint, fip: dict) -> tuple[list[Hop], Endpoint | None]:
    """Outside -> em4 -> br-ex -> qg- (DNAT) -> the qr- facing the instance."""
    addr = fip["floating_ip_address"]
    hops = [Hop(UPSTREAM, "eth0", f"{outside_ip} -> {addr} (floating IP {fip['id']}) via em4")]
    router_id = fip.get("router_id")
    rports = [p for p in ctx.snap.ports if p.get("device_id") == router_id
              and p.get("device_owner") in ROUTER_OWNERS]
    host = next((p.get("binding:host_id") for p in rports if p.get("binding:host_id")), None)
    node = ctx.snap.nodes.get(host or "")
    if node is None:
        hops.append(Hop("?", "qg-", "").fail(
            f"router {router_id} of floating IP {addr} is not hosted on any node", ctx.lab_up))
        return hops, None
    em4 = node.link(UPLINK)
    up = Hop(host, UPLINK, "uplink into br-ex")
    hops.append(up)
    if em4 is None or not em4.up:
        up.fail(f"{UPLINK} is down", ctx.on_node(host, f"ip link set {UPLINK} up"))
        return hops, None
    hops.append(Hop(host, "br-ex", "phy-br-ex -> int-br-ex -> br-int (provider network)"))
    ns_name = f"qrouter-{router_id}"
    ns = node.namespaces.get(ns_name)
    gw = next((p for p in rports if p.get("device_owner") == "network:router_gateway"), None)
    qg = ("qg-" + gw["id"])[:14] if gw else "qg-"
    dnat = Hop(host, qg, "")
    hops.append(dnat)
    info = next((r for r in ctx.snap.routers if r["id"] == router_id), {"id": router_id})
    if disabled(info, dnat):
        return hops, None
    if ns is None:
        dnat.fail(f"router namespace {ns_name} is missing on {host}", ctx.lab_up)
        return hops, None
    want = f"-d {addr}/32 -j DNAT --to-destination {fip['fixed_ip_address']}"
    if not any(r.startswith(want) for r in _nat_rules(ns)):
        dnat.fail(f"no DNAT rule for floating IP {addr} in {ns_name}", ctx.lab_up)
        return hops, None
    dnat.what = (f"DNAT {addr} -> {fip['fixed_ip_address']} (floating IP {fip['id']}) "
                 f"in {ns_name}")
    route = route_lookup(ns, fip["fixed_ip_address"])
    dev = (route or {}).get("dev", "")
    qr = next((p for p in rports if ("qr-" + p["id"])[:14] == dev), None)
    fwd = Hop(host, ns_name, "")
    hops.append(fwd)
    if qr is None:
        fwd.fail(f"router has no interface toward {fip['fixed_ip_address']}",
                 f"openstack router add subnet {router_id} SUBNET")
        return hops, None
    if ns.ip_forward is False:
        fwd.fail(f"IP forwarding is off in {ns_name}",
                 ctx.on_node(host, f"ip netns exec {ns_name} sysctl -w net.ipv4.ip_forward=1"))
        return hops, None
    fwd.what = f"route {route.get('dst')} dev {dev}"
    router_ep = Endpoint("router", f"router({router_id})", outside_ip, qr["mac_address"], host,
                         qr["network_id"], qr["id"], netns=ns_name)
    return hops, router_ep
