"""The router: qr- in qrouter-<id>, forwarding, the route out, NAT, qg-, br-ex, em4.

Names and NAT rules follow ``agents.l3`` (Neutron's): SNAT in the ``snat``
chain ``-o qg-... -j SNAT --to-source <gateway IP>``, per floating IP a DNAT
in PREROUTING and an SNAT ``-s <fixed>/32 -j SNAT --to-source <floating IP>``
in ``float-snat``.
"""
from __future__ import annotations

import re

from neutrino.diagnose.context import L3_AGENT, Ctx
from neutrino.diagnose.endpoints import Endpoint
from neutrino.diagnose.hops.instance import route_lookup
from neutrino.diagnose.path import Hop
from neutrino.linux.iptables import parse_save

EXTERNAL_BRIDGE = "br-ex"
UPLINK = "em4"


def _router(ctx: Ctx, router_id: str) -> dict:
    return next((r for r in ctx.snap.routers if r["id"] == router_id), {"id": router_id})


def _label(router: dict) -> str:
    return router.get("name") or router["id"]


def _nat_rules(ns) -> list[str]:
    tables = parse_save(ns.nat or "")
    nat = tables.get("nat")
    return [r for rules in (nat.rules.values() if nat else []) for r in rules]


def _agent_note(ctx: Ctx, host: str) -> str:
    alive = ctx.agent_alive(host, L3_AGENT)
    return f"; the L3 agent on {host} is not alive" if alive is False else ""


def disabled(info: dict, hop: Hop) -> bool:
    """Fail ``hop`` when the router is administratively down (the L3 agent then
    keeps its namespace and ports, links down, and routes nothing)."""
    if info.get("admin_state_up") is not False:
        return False
    name = _label(info)
    hop.fail(f"router {name} is administratively down (admin_state_up false): its ports are "
             "down and it routes nothing", f"openstack router set --enable {name}",
             {"method": "PUT", "path": f"/v2.0/routers/{info['id']}",
              "body": {"router": {"admin_state_up": True}}})
    return True


def hops(ctx: Ctx, src: Endpoint, router: Endpoint, dst_ip: str) -> list[Hop]:
    """From the router's qr- port to the way out (the outside or another subnet)."""
    router_id = (router.netns or "qrouter-")[len("qrouter-"):]
    info = _router(ctx, router_id)
    name = _label(info)
    host = router.host
    node = ctx.snap.nodes[host]
    out: list[Hop] = []
    qr = ("qr-" + (router.port_id or ""))[:14]
    hop = Hop(host, qr, "")
    out.append(hop)
    if disabled(info, hop):
        return out
    ns = node.namespaces.get(router.netns or "")
    if ns is None:
        hop.fail(f"router {name} has no namespace {router.netns} on {host}"
                 f"{_agent_note(ctx, host)}", ctx.lab_up)
        return out
    link = ns.links.get(qr)
    if link is None or not link.up:
        hop.fail(f"{qr} is missing or down in {router.netns}{_agent_note(ctx, host)}",
                 ctx.lab_up)
        return out
    hop.what = f"into {router.netns} (router {name}): {qr} {', '.join(link.addrs)}"
    fwd = Hop(host, router.netns or "qrouter", "")
    out.append(fwd)
    if ns.ip_forward is False:
        fwd.fail(f"IP forwarding is off in {router.netns}",
                 ctx.on_node(host, f"ip netns exec {router.netns} sysctl -w "
                                   "net.ipv4.ip_forward=1"))
        return out
    route = route_lookup(ns, dst_ip)
    if route is None:
        fix = fix_api = None
        if not info.get("external_gateway_info"):
            ext = next((n for n in ctx.snap.networks.values() if n.get("router:external")),
                       None)
            ext_name = (ext.get("name") or ext["id"]) if ext else "EXTERNAL_NETWORK"
            fix = f"openstack router set --external-gateway {ext_name} {name}"
            if ext:
                fix_api = {"method": "PUT", "path": f"/v2.0/routers/{router_id}",
                           "body": {"router": {"external_gateway_info": {
                               "network_id": ext["id"]}}}}
        fwd.fail(f"router {name} has no route to {dst_ip}"
                 + (" (it has no external gateway)" if not info.get("external_gateway_info")
                    else ""), fix, fix_api)
        return out
    dev = route.get("dev", "")
    fwd.what = (f"ip_forward on; route {route.get('dst')}"
                + (f" via {route['gateway']}" if route.get("gateway") else "") + f" dev {dev}")
    if not dev.startswith("qg-"):
        fwd.what += " (east-west, no NAT)"
        return out
    # leaving by the gateway: NAT
    rules = _nat_rules(ns)
    fip = next((f for f in ctx.snap.floatingips if f.get("fixed_ip_address") == src.ip
                and f.get("router_id") in (None, router_id) and f.get("port_id")), None)
    nat = Hop(host, dev, "")
    out.append(nat)
    if fip:
        want = f"-s {src.ip}/32 -j SNAT --to-source {fip['floating_ip_address']}"
        if not any(r.startswith(want) for r in rules):
            nat.fail(f"no SNAT rule for floating IP {fip['floating_ip_address']} "
                     f"({fip['id']}) in {router.netns}{_agent_note(ctx, host)}", ctx.lab_up)
            return out
        nat.what = (f"SNAT {src.ip} -> floating IP {fip['floating_ip_address']} "
                    f"(floating IP {fip['id']})")
    else:
        snat = [r for r in rules if re.search(rf"-o {re.escape(dev)} -j SNAT --to-source", r)]
        gw = info.get("external_gateway_info") or {}
        if not snat:
            if gw.get("enable_snat") is False:
                nat.fail(f"SNAT is disabled on router {name} and {src.ip} has no floating IP: "
                         "replies from outside cannot come back",
                         f"openstack router set --enable-snat --external-gateway "
                         f"{gw.get('network_id')} {name}",
                         {"method": "PUT", "path": f"/v2.0/routers/{router_id}",
                          "body": {"router": {"external_gateway_info": {
                              "network_id": gw.get("network_id"), "enable_snat": True}}}})
            else:
                nat.fail(f"no SNAT rule for {dev} in {router.netns}{_agent_note(ctx, host)}",
                         ctx.lab_up)
            return out
        nat.what = f"SNAT {src.ip} -> {snat[0].split('--to-source ')[1].split()[0]} ({dev})"
    out += _uplink(ctx, host)
    return out


def _uplink(ctx: Ctx, host: str) -> list[Hop]:
    node = ctx.snap.nodes[host]
    hop = Hop(host, EXTERNAL_BRIDGE, "")
    if "int-br-ex" not in node.bridges.get("br-int", []):
        return [hop.fail(f"br-int of {host} has no patch to {EXTERNAL_BRIDGE}", ctx.lab_up)]
    hop.what = "br-int int-br-ex -> phy-br-ex (provider network, flat)"
    out = [hop]
    em4 = node.link(UPLINK)
    if em4 is not None or UPLINK in node.bridges.get(EXTERNAL_BRIDGE, []):
        up = Hop(host, UPLINK, "")
        out.append(up)
        if em4 is None or not em4.up:
            up.fail(f"{UPLINK} (the uplink of {EXTERNAL_BRIDGE}) is down",
                    ctx.on_node(host, f"ip link set {UPLINK} up"))
        else:
            up.what = f"uplink of {EXTERNAL_BRIDGE} to the outside, mtu {em4.mtu}"
    return out
