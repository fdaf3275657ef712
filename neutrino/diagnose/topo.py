"""The live topology of a lab (read from the nodes, not from the database),
drawn as text, Graphviz dot/SVG or JSON, with what the database and the
nodes disagree about.

Graph node ids are ``<node>/<device>`` (``vm1/eth0`` for an instance), the
same names ``explain`` gives its hops, so a path can be drawn on the diagram.
"""
from __future__ import annotations

import subprocess

from neutrino.diagnose.snapshot import Node, Snapshot
from neutrino.errors import NeutrinoError
from neutrino.lab.layout import tunnel_ip

COMPUTE_OWNER = "compute:"


def _node_of_ip(snap: Snapshot, ip: str) -> str | None:
    for name in snap.nodes:
        if tunnel_ip(name) == ip:
            return name
    return None


def _port_owner(snap: Snapshot, iface_id: str | None) -> str | None:
    if not iface_id:
        return None
    for inst in snap.instances.values():
        if inst.port_id == iface_id:
            return inst.name
    port = snap.port_by_id(iface_id)
    return port.get("device_owner") if port else None


def _node_json(snap: Snapshot, node: Node) -> dict:
    bridges = []
    for br, names in sorted(node.bridges.items()):
        ports = []
        for name in names:
            p = node.ports[name]
            entry = {"name": name, "type": p.type, "tag": p.tag, "ofport": p.ofport}
            if p.type == "patch":
                entry["peer"] = p.options.get("peer")
            if p.type == "vxlan":
                entry["remote_ip"] = p.options.get("remote_ip")
                entry["remote_node"] = _node_of_ip(snap, p.options.get("remote_ip", ""))
            if p.external_ids.get("iface-id"):
                entry["iface_id"] = p.external_ids["iface-id"]
                entry["owner"] = _port_owner(snap, p.external_ids["iface-id"])
            if p.other_config.get("segmentation_id"):
                entry["vni"] = p.other_config["segmentation_id"]
            ports.append(entry)
        bridges.append({"name": br, "ports": ports})
    links = node.root.links
    linux_bridges = [{"name": ln.name, "members": sorted(m.name for m in links.values()
                                                        if m.master == ln.name)}
                     for ln in links.values() if ln.kind == "bridge"]
    veths = sorted({tuple(sorted((ln.name, ln.peer))) for ln in links.values()
                    if ln.kind == "veth" and ln.peer and ln.peer in links})
    namespaces = []
    for ns in sorted(node.namespaces.values(), key=lambda n: n.name):
        namespaces.append({"name": ns.name, "ip_forward": ns.ip_forward,
                           "links": [{"name": ln.name, "addrs": ln.addrs, "mtu": ln.mtu,
                                      "up": ln.up} for ln in ns.links.values()
                                     if ln.name != "lo"],
                           "routes": [f"{r.get('dst')}"
                                      + (f" via {r['gateway']}" if r.get("gateway") else "")
                                      + f" dev {r.get('dev')}" for r in ns.routes]})
    return {"name": node.name, "tunnel_ip": node.tunnel_ip, "alive": node.alive,
            "error": node.error, "bridges": bridges, "linux_bridges": sorted(
                linux_bridges, key=lambda b: b["name"]),
            "veths": [list(v) for v in veths], "namespaces": namespaces,
            "dnsmasq": node.dnsmasq,
            "links": {ln.name: {"mtu": ln.mtu, "up": ln.up, "addrs": ln.addrs}
                      for ln in links.values() if ln.name != "lo"}}


def problems(snap: Snapshot) -> list[str]:
    """What the database and the nodes disagree about (and dead agents)."""
    out = []
    wired: dict[str, set[str]] = {}
    for name, node in snap.nodes.items():
        if not node.alive or node.error:
            out.append(f"node {name}: {node.error or 'down'}")
        for p in node.ports.values():
            iface = p.external_ids.get("iface-id")
            if iface:
                wired.setdefault(iface, set()).add(name)
                if snap.api_ok and snap.port_by_id(iface) is None:
                    out.append(f"{name}: {p.name} on {p.bridge} belongs to port {iface}, "
                               "which the server does not know (stale)")
                if p.tag == 4095:
                    out.append(f"{name}: {p.name} is on the dead VLAN 4095")
    if snap.api_ok:
        for port in snap.ports:
            host = port.get("binding:host_id")
            if port.get("status") == "ACTIVE" and host in snap.nodes \
                    and host not in wired.get(port["id"], set()):
                kind = "qvo" if (port.get("device_owner") or "").startswith(COMPUTE_OWNER) \
                    else "port"
                out.append(f"{host}: port {port['id']} ({port.get('device_owner')}) is ACTIVE "
                           f"in the server but has no {kind} on br-int")
        nets = snap.networks
        routers = {r["id"] for r in snap.routers}
        for name, node in snap.nodes.items():
            for ns in node.namespaces:
                if ns.startswith("qdhcp-") and ns[6:] not in nets:
                    out.append(f"{name}: namespace {ns} is stale (no such network)")
                if ns.startswith("qrouter-") and ns[8:] not in routers:
                    out.append(f"{name}: namespace {ns} is stale (no such router)")
        for a in snap.agents:
            if not a.get("alive"):
                out.append(f"{a.get('host')}: {a.get('agent_type')} is dead "
                           f"(last report {a.get('heartbeat_timestamp')})")
    for inst in snap.instances.values():
        host = snap.nodes.get(inst.host)
        tap = ("tap" + inst.port_id)[:14]
        if inst.netns is None:
            out.append(f"instance {inst.name}: its namespace is gone")
        if host and host.alive and tap not in host.root.links:
            out.append(f"instance {inst.name}: {tap} is missing on {inst.host}")
    return out


def build(snap: Snapshot, only_node: str | None = None) -> dict:
    if only_node and only_node not in snap.nodes:
        raise NeutrinoError(f"lab {snap.lab.name} has no node {only_node!r} "
                            f"(nodes: {', '.join(snap.nodes)})")
    nodes = [_node_json(snap, n) for n in snap.nodes.values()
             if not only_node or n.name == only_node]
    insts = []
    for inst in snap.instances.values():
        if only_node and inst.host != only_node:
            continue
        eth0 = inst.netns.links.get("eth0") if inst.netns else None
        insts.append({"name": inst.name, "host": inst.host, "port_id": inst.port_id,
                      "network_id": inst.network_id, "tap": ("tap" + inst.port_id)[:14],
                      "eth0": {"mac": eth0.mac, "mtu": eth0.mtu, "addrs": eth0.addrs,
                               "up": eth0.up} if eth0 else None})
    nets = {nid: {"name": n.get("name"), "vni": n.get("provider:segmentation_id"),
                  "type": n.get("provider:network_type"), "mtu": n.get("mtu")}
            for nid, n in snap.networks.items()}
    return {"lab": snap.lab.name, "nodes": nodes, "instances": insts, "networks": nets,
            "problems": problems(snap)}


# -- renderings -----------------------------------------------------------------------

def to_text(topo: dict) -> str:
    lines = [f"lab {topo['lab']}"]
    by_host: dict[str, list[dict]] = {}
    for inst in topo["instances"]:
        by_host.setdefault(inst["host"], []).append(inst)
    tap_owner = {i["tap"]: i for i in topo["instances"]}
    for node in topo["nodes"]:
        lines.append(f"node {node['name']}  tunnel {node['tunnel_ip']}"
                     + ("" if node["alive"] else "  DOWN") + (f"  ({node['error']})"
                                                               if node["error"] else ""))
        for br in node["bridges"]:
            lines.append(f"  {br['name']} (ovs)")
            for p in br["ports"]:
                extra = []
                if p["tag"] is not None:
                    extra.append(f"tag {p['tag']}")
                if p.get("peer"):
                    extra.append(f"patch -> {p['peer']}")
                if p.get("remote_ip"):
                    extra.append(f"vxlan -> {p['remote_ip']} ({p.get('remote_node') or '?'})")
                if p.get("vni"):
                    extra.append(f"VNI {p['vni']}")
                if p.get("owner"):
                    extra.append(f"[{p['owner']}]")
                if p["type"] not in ("system", "patch", "vxlan"):
                    extra.append(p["type"])
                lines.append(f"    {p['name']:<16} {' '.join(extra)}")
        for lb in node["linux_bridges"]:
            members = []
            for m in lb["members"]:
                inst = tap_owner.get(m)
                members.append(f"{m} (= {inst['name']} eth0 "
                               f"{', '.join(inst['eth0']['addrs']) if inst['eth0'] else '?'})"
                               if inst else m)
            lines.append(f"  {lb['name']} (linux bridge): {', '.join(members) or 'no ports'}")
        for a, b in node["veths"]:
            lines.append(f"  veth {a} = {b}")
        for ns in node["namespaces"]:
            lines.append(f"  netns {ns['name']}"
                         + (" ip_forward on" if ns["ip_forward"] else ""))
            for ln in ns["links"]:
                lines.append(f"    {ln['name']:<16} {', '.join(ln['addrs'])} mtu {ln['mtu']}"
                             + ("" if ln["up"] else " DOWN"))
        for net, d in node["dnsmasq"].items():
            lines.append(f"  dnsmasq for {net}: pid {d['pid']} "
                         + ("running" if d["alive"] else "NOT RUNNING"))
        for inst in by_host.get(node["name"], []):
            e = inst["eth0"]
            lines.append(f"  instance {inst['name']}: eth0 "
                         + (f"{', '.join(e['addrs'])} {e['mac']} mtu {e['mtu']}" if e
                            else "MISSING") + f" <-> {inst['tap']}")
    lines.append("problems:" if topo["problems"] else "problems: none")
    lines += [f"  {p}" for p in topo["problems"]]
    return "\n".join(lines)


def _q(text: str) -> str:
    return '"' + str(text).replace('"', '\\"') + '"'


def to_dot(topo: dict) -> str:
    """Figure 2 of the seed: nodes as boxes, bridges and namespaces inside, tags and VNIs
    on the links."""
    out = ["digraph neutrino {", "  rankdir=TB; compound=true; newrank=true;",
           '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", '
           'fontsize=10];', '  edge [dir=none, fontname="Helvetica", fontsize=9];']
    edges: list[str] = []
    def nid(node: str, dev: str) -> str:
        return _q(f"{node}/{dev}")

    for node in topo["nodes"]:
        n = node["name"]
        out.append(f"  subgraph {_q('cluster_' + n)} {{")
        fill = _q("#f4f4f4" if node["alive"] else "#ffdddd")
        out.append(f"    label={_q(n + '  ' + node['tunnel_ip'])}; style=filled; "
                   f"fillcolor={fill};")
        out.append(f"    id={_q('node:' + n)};")
        for inst in topo["instances"]:
            if inst["host"] != n:
                continue
            e = inst["eth0"]
            label = f"{inst['name']}\\neth0 {', '.join(e['addrs']) if e else 'missing'}"
            out.append(f"    {nid(inst['name'], 'eth0')} [label={_q(label)}, id={nid(inst['name'], 'eth0')}, "
                       f"shape=box3d, fillcolor=\"#dde8ff\"];")
            edges.append(f"  {nid(inst['name'], 'eth0')} -> {nid(n, inst['tap'])};")
        for lb in node["linux_bridges"]:
            out.append(f"    subgraph {_q('cluster_' + n + lb['name'])} {{ label={_q(lb['name'] + ' (linux bridge)')}; "
                       f"style=filled; fillcolor=\"#fff6dd\"; id={_q(n + '/' + lb['name'])};")
            for m in lb["members"]:
                out.append(f"      {nid(n, m)} [label={_q(m)}, id={nid(n, m)}];")
            taps = [m for m in lb["members"] if m.startswith("tap")]
            for t in taps:
                for m in lb["members"]:
                    if m != t:
                        edges.append(f"  {nid(n, t)} -> {nid(n, m)} [style=dotted];")
            out.append("    }")
        for br in node["bridges"]:
            out.append(f"    subgraph {_q('cluster_' + n + br['name'])} {{ label={_q(br['name'])}; "
                       f"style=filled; fillcolor=\"#e6f5e6\"; id={_q(n + '/' + br['name'])};")
            ports = [p for p in br["ports"] if p["name"] != br["name"]] or br["ports"]
            trunk = [p for p in ports if p["type"] in ("patch", "vxlan")
                     or p["name"] == "eth1"]
            for p in ports:
                if p not in trunk:
                    for t in trunk[:1]:
                        edges.append(f"  {nid(n, p['name'])} -> {nid(n, t['name'])} "
                                     "[style=invis];")
            for a, b in zip(trunk, trunk[1:]):
                if a["type"] != b["type"]:
                    edges.append(f"  {nid(n, a['name'])} -> {nid(n, b['name'])} [style=invis];")
            for p in ports:
                label = p["name"] + (f"\\ntag {p['tag']}" if p["tag"] is not None else "")
                out.append(f"      {nid(n, p['name'])} [label={_q(label)}, id={nid(n, p['name'])}];")
                if p.get("peer") and p["name"] < p["peer"]:
                    edges.append(f"  {nid(n, p['name'])} -> {nid(n, p['peer'])} "
                                 f"[style=dashed, label=\"patch\"];")
                if p.get("remote_node") and n < p["remote_node"]:
                    back = [q for b in next((x for x in topo["nodes"] if x["name"] ==
                                             p["remote_node"]), {"bridges": []})["bridges"]
                            for q in b["ports"] if q.get("remote_node") == n]
                    if back:
                        vnis = sorted({str(v["vni"]) for v in topo["networks"].values()
                                       if v.get("vni") and v.get("type") == "vxlan"})
                        edges.append(f"  {nid(n, p['name'])} -> {nid(p['remote_node'], back[0]['name'])} "
                                     f"[color=\"#2060c0\", penwidth=2, label={_q('VXLAN VNI ' + ','.join(vnis))}];")
            out.append("    }")
        for a, b in node["veths"]:
            edges.append(f"  {nid(n, a)} -> {nid(n, b)} [label=\"veth\"];")
        for ns in node["namespaces"]:
            out.append(f"    subgraph {_q('cluster_' + n + ns['name'])} {{ label={_q(ns['name'][:22])}; "
                       f"style=filled; fillcolor=\"#f0e6ff\"; id={_q(n + '/' + ns['name'])};")
            for ln in ns["links"]:
                label = ln["name"] + (f"\\n{', '.join(ln['addrs'])}" if ln["addrs"] else "")
                out.append(f"      {_q(n + '/' + ns['name'] + '/' + ln['name'])} "
                           f"[label={_q(label)}, id={nid(n, ln['name'])}];")
                for br in node["bridges"]:
                    if any(p["name"] == ln["name"] for p in br["ports"]):
                        edges.append(f"  {_q(n + '/' + ns['name'] + '/' + ln['name'])} -> "
                                     f"{nid(n, ln['name'])} [style=dotted];")
            out.append("    }")
        out.append("  }")
    out += edges
    out.append("}")
    return "\n".join(out)


def to_svg(topo: dict) -> str:
    try:
        res = subprocess.run(["dot", "-Tsvg"], input=to_dot(topo), capture_output=True,
                             text=True, timeout=20)
    except FileNotFoundError:
        raise NeutrinoError("Graphviz `dot` is not installed (apt-get install graphviz)") from None
    if res.returncode != 0:
        raise NeutrinoError(f"dot failed: {res.stderr.strip()[:200]}")
    return res.stdout
