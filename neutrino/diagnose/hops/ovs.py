"""Open vSwitch: br-int (local VLAN, OpenFlow tables) and br-tun (VNI, tunnel port),
on the sending node and, across VXLAN, on the receiving one.

Each bridge is traced live with ``ofproto/trace``; when the trace does not
reach the expected port, the port's OVSDB state (tag, other_config, tunnel
ports) and the node's OVS agent say why.
"""
from __future__ import annotations

from neutrino.agents.ovs.br_tun import tunnel_port_name
from neutrino.diagnose import ofproto
from neutrino.diagnose.context import OVS_AGENT, Ctx
from neutrino.diagnose.endpoints import Endpoint
from neutrino.diagnose.path import Hop
from neutrino.lab.layout import tunnel_ip

DEAD_VLAN = 4095


def network_lvid(ctx: Ctx, node: str, network_id: str | None, skip: str = "") -> int | None:
    """The local VLAN of a network on a node, from the ports the agent wired."""
    for port in ctx.snap.nodes[node].ports.values():
        if port.name != skip and port.other_config.get("net_uuid") == network_id \
                and port.tag is not None:
            return port.tag
    return None


def _agent_fix(ctx: Ctx, node: str) -> tuple[str, str | None]:
    """(what the agent's state adds to a reason, the fix when the agent is the cause)."""
    if not ctx.agent_process_alive(node, "ovs") or ctx.agent_alive(node, OVS_AGENT) is False:
        return f"; the OVS agent on {node} is not running", ctx.lab_up
    return "", None


def port_state(ctx: Ctx, node: str, name: str, network_id: str | None) -> tuple[str | None, str | None]:
    """(problem, fix) of a device port on br-int, None when it looks wired."""
    port = ctx.snap.nodes[node].port(name)
    agent_note, agent_fix = _agent_fix(ctx, node)
    if port is None or port.bridge != "br-int":
        return f"{name} is not on br-int{agent_note}", agent_fix or ctx.lab_up
    lvid = network_lvid(ctx, node, network_id, skip=name)
    if port.tag is None:
        return (f"{name} has no local VLAN tag: the OVS agent has not wired it{agent_note}",
                agent_fix or ctx.lab_up)
    if port.tag == DEAD_VLAN:
        return (f"{name} is on the dead VLAN 4095 (binding failed or port disabled)"
                f"{agent_note}", agent_fix or
                f"openstack port set --enable {port.external_ids.get('iface-id', name)}")
    want = port.other_config.get("tag")
    if (want and str(port.tag) != want) or (lvid is not None and port.tag != lvid):
        right = want or lvid
        return (f"{name} has local VLAN tag {port.tag}, but network "
                f"{ctx.network_name(network_id)} uses VLAN {right} on {node}{agent_note}",
                agent_fix or ctx.on_node(node, f"ovs-vsctl set Port {name} tag={right}"))
    return None, None


def _stale_output(ctx: Ctx, node: str, tr: ofproto.OfTrace) -> int | None:
    """The OpenFlow port a br-tun flow outputs to when no port has that number."""
    ofports = {p.ofport for p in ctx.snap.nodes[node].ports.values() if p.bridge == "br-tun"}
    for br in tr.bridges:
        if br.bridge != "br-tun":
            continue
        for hit in br.hits:
            for act in hit.actions:
                if act.startswith("output:") and act[7:].isdigit() \
                        and int(act[7:]) not in ofports:
                    return int(act[7:])
    return None


def _odp_names(ctx: Ctx, node: str) -> dict[int, str]:
    return {p.odp: p.name for p in ctx.snap.nodes[node].ports.values()
            if p.odp is not None and p.type != "vxlan"}


def across(ctx: Ctx, src: Endpoint, dst: Endpoint, dst_mac: str, direction: str
           ) -> list[Hop]:
    """From ``src``'s port on br-int to ``dst``'s port on br-int (maybe on another node)."""
    hops: list[Hop] = []
    node = src.host
    in_port = src.ovs_port
    hop = Hop(node, "br-int", "", direction=direction)
    hops.append(hop)
    problem, fix = port_state(ctx, node, in_port, src.network_id)
    if problem:
        hop.fail(problem, fix)
        return hops
    tag = ctx.snap.nodes[node].port(in_port).tag
    spec = ofproto.flow_spec(in_port, ctx.proto, src.mac, dst_mac, src.ip, dst.ip, ctx.port)
    tr = ctx.trace(node, "br-int", spec)
    hop.what = f"{in_port} tag {tag} (local VLAN); tables {tr.summary('br-int')}"
    hop.detail = {"trace": tr.summary("br-int"), "datapath_actions": tr.datapath_actions}
    same_node = dst.host == node
    if same_node:
        want = ctx.snap.nodes[node].port(dst.ovs_port or "")
        names = [_odp_names(ctx, node).get(o, str(o)) for o in tr.outputs]
        if want is not None and want.odp in tr.outputs:
            hop.what += f"; out {dst.ovs_port} (same node)"
            return hops
        problem, fix = port_state(ctx, node, dst.ovs_port or "?", dst.network_id)
        last = tr.last_hit()
        hop.fail(problem or (f"OpenFlow does not forward to {dst.ovs_port}: "
                             f"{'dropped in table %d' % last[1].table if last else 'no trace'}"
                             f" (datapath actions: {tr.datapath_actions or 'none'}; outputs "
                             f"{', '.join(names) or 'none'})"), fix or ctx.lab_up)
        return hops
    # across VXLAN
    remote_ip = tunnel_ip(dst.host)
    tun_name = tunnel_port_name(remote_ip)
    tun = next((t for t in tr.tunnels if t["remote_ip"] == remote_ip), None)
    br_tun = Hop(node, "br-tun", "", direction=direction)
    hops.append(br_tun)
    if tr.dropped and tr.last_hit() and tr.last_hit()[0] == "br-int":
        last = tr.last_hit()[1]
        hop.fail(f"dropped by br-int table {last.table} ({last.match})", ctx.lab_up)
        hops.pop()
        return hops
    if tun is None:
        note, agent_fix = _agent_fix(ctx, node)
        if tun_name not in ctx.snap.nodes[node].bridges.get("br-tun", []):
            br_tun.fail(f"no tunnel port {tun_name} to {dst.host} ({remote_ip}) on br-tun{note}",
                        agent_fix or ctx.lab_up)
        else:
            stale = _stale_output(ctx, node, tr)
            if stale is not None:
                br_tun.fail(f"br-tun table 20 learned {dst_mac} behind port {stale}, which no "
                            f"longer exists (the tunnel port was re-created): unicast is "
                            f"dropped until the entry expires (300 s) or is learned again",
                            ctx.on_node(node, "ovs-ofctl -O OpenFlow13 del-flows br-tun "
                                              f"table=20,dl_dst={dst_mac}"))
            else:
                br_tun.fail(f"br-tun does not send the packet to {dst.host}: datapath "
                            f"actions {tr.datapath_actions or 'drop'}{note}",
                            agent_fix or ctx.lab_up)
        return hops
    vni = tun["vni"]
    br_tun.what = (f"patch-int; tables {tr.summary('br-tun').split(' [')[0]}: VLAN {tag} -> "
                   f"VNI {vni}, out {tun_name} to {remote_ip}")
    br_tun.detail = {"vni": vni, "tunnel_port": tun_name, "remote_ip": remote_ip}
    hops.append(Hop(node, "br-phy", f"VXLAN/UDP 4789 {tunnel_ip(node)} -> {remote_ip} "
                    f"via eth1 (underlay)", direction=direction))
    # the far node
    far = dst.host
    far_tun = tunnel_port_name(tunnel_ip(node))
    far_hop = Hop(far, "br-tun", "", direction=direction)
    hops.append(far_hop)
    if not ctx.snap.nodes[far].alive:
        far_hop.fail(f"node {far} is down", ctx.lab_up)
        return hops
    if far_tun not in ctx.snap.nodes[far].bridges.get("br-tun", []):
        note, agent_fix = _agent_fix(ctx, far)
        far_hop.fail(f"no tunnel port {far_tun} from {node} on br-tun of {far}{note}",
                     agent_fix or ctx.lab_up)
        return hops
    spec = ofproto.flow_spec(far_tun, ctx.proto, src.mac, dst_mac, src.ip, dst.ip, ctx.port,
                             tun_id=vni)
    ftr = ctx.trace(far, "br-tun", spec)
    lvid = ftr.vlan_set()
    far_hop.what = (f"{far_tun} VNI {vni} -> local VLAN {lvid}; tables "
                    f"{ftr.summary('br-tun').split(' [')[0]}")
    far_hop.detail = {"vni": vni, "lvid": lvid}
    int_hop = Hop(far, "br-int", "", direction=direction)
    hops.append(int_hop)
    want = ctx.snap.nodes[far].port(dst.ovs_port or "")
    if lvid is None:
        note, agent_fix = _agent_fix(ctx, far)
        far_hop.fail(f"br-tun of {far} has no flow for VNI {vni}{note}", agent_fix or ctx.lab_up)
        hops.pop()
        return hops
    int_hop.what = f"patch-tun VLAN {lvid}; tables {ftr.summary('br-int')}"
    if want is not None and want.odp in ftr.outputs:
        int_hop.what += f"; out {dst.ovs_port}"
        return hops
    problem, fix = port_state(ctx, far, dst.ovs_port or "?", dst.network_id)
    int_hop.fail(problem or f"br-int of {far} does not forward to {dst.ovs_port} "
                 f"(datapath actions: {ftr.datapath_actions or 'drop'})", fix or ctx.lab_up)
    return hops


def prefetch(ctx: Ctx, src: Endpoint, dst: Endpoint, dst_mac: str | None) -> None:
    """Start the traces ``across`` will ask for (VNI from the network's segment)."""
    if not (src.host in ctx.snap.nodes and dst.host in ctx.snap.nodes and src.ovs_port
            and src.mac and dst_mac):
        return
    if ctx.tracer is None:
        ctx.tracer = ofproto.Tracer(ctx.lab)
    ctx.tracer.prefetch(src.host, "br-int", ofproto.flow_spec(
        src.ovs_port, ctx.proto, src.mac, dst_mac, src.ip, dst.ip, ctx.port))
    vni = (ctx.snap.networks.get(src.network_id or "") or {}).get("provider:segmentation_id")
    if dst.host != src.host and isinstance(vni, int):
        far_tun = tunnel_port_name(tunnel_ip(src.host))
        ctx.tracer.prefetch(dst.host, "br-tun", ofproto.flow_spec(
            far_tun, ctx.proto, src.mac, dst_mac, src.ip, dst.ip, ctx.port, tun_id=vni))
