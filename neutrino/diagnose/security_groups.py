"""Security groups behind an iptables verdict: the rule ids, the reason, the fix.

The rule ids come from rebuilding the node's firewall plan from the API's
ports and groups (``agents.firewall.hybrid.build``, the agent's own pure
function) and matching the deciding rule's text.
"""
from __future__ import annotations

from neutrino.agents.firewall import comments, hybrid
from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import Endpoint


def _groups(ctx: Ctx) -> dict[str, dict]:
    return {g["id"]: g for g in ctx.snap.security_groups}


def _members(ctx: Ctx) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for port in ctx.snap.ports:
        for sg in port.get("security_groups") or []:
            out.setdefault(sg, []).extend(f["ip_address"] for f in port.get("fixed_ips", []))
    return out


def origin(ctx: Ctx, ep: Endpoint, step, leaving: bool) -> dict | None:
    port = ctx.snap.port_by_id(ep.port_id or "")
    if port is None or not ctx.snap.security_groups:
        return None
    try:
        plan = hybrid.build([port], _groups(ctx), _members(ctx))
    except Exception:       # an API shape the builder does not take: no ids, still a verdict
        return None
    for ref in plan.port_rules.get(port["id"], []):
        if ref.rule == step.rule and ref.sg_rule_ids:
            return {"rule_ids": ref.sg_rule_ids}
    return {"rule_ids": ()}


def _group_names(ctx: Ctx, ep: Endpoint) -> list[str]:
    port = ctx.snap.port_by_id(ep.port_id or "") or {}
    groups = _groups(ctx)
    return [groups.get(g, {}).get("name") or g for g in port.get("security_groups") or []]


def explain_drop(ctx: Ctx, ep: Endpoint, packet, step, leaving: bool):
    """(reason, fix command, fix as an API request) for a DROP at ``ep``'s bridge."""
    port = ctx.snap.port_by_id(ep.port_id or "") or {}
    rule = step.rule if step else ""
    anti_spoofing = step is not None and (step.chain.startswith("neutron-openvswi-s")
                                          or comments.PAIR_DROP in rule)
    if leaving and anti_spoofing:
        reason = (f"source {packet.src} / {packet.src_mac} is not one of the port's addresses: "
                  "port security (anti-spoofing) drops what the instance forwards")
        fix = (f"openstack port set --allowed-address ip-address={packet.src} "
               f"{ep.port_id}")
        return reason, fix, {"method": "PUT", "path": f"/v2.0/ports/{ep.port_id}",
                             "body": {"port": {"allowed_address_pairs": [
                                 {"ip_address": packet.src}]}}}
    groups = port.get("security_groups") or []
    names = _group_names(ctx, ep)
    way = "egress" if leaving else "ingress"
    what = packet.proto + (f" port {packet.dport}" if packet.dport else "")
    reason = (f"no rule of security group(s) {', '.join(names) or 'none'} allows {way} "
              f"{what} {'to' if leaving else 'from'} {packet.dst if leaving else packet.src}")
    group = groups[0] if groups else "default"
    label = names[0] if names else "default"
    opts = f"--{way} --protocol {packet.proto}"
    if packet.dport:
        opts += f" --dst-port {packet.dport}"
    fix = f"openstack security group rule create {opts} {label}"
    body = {"security_group_id": group, "direction": way, "ethertype": "IPv4",
            "protocol": packet.proto}
    if packet.dport:
        body.update(port_range_min=packet.dport, port_range_max=packet.dport)
    return reason, fix, {"method": "POST", "path": "/v2.0/security-group-rules",
                         "body": {"security_group_rule": body}}
