"""Live state of a lab, read from the system in one pass (not from the database).

Each node is read by one shell script run inside the node (``nsenter`` into its
network and mount namespaces): OVSDB tables as JSON, the datapath port map,
every link with its addresses in the node and in each namespace of the node
(qdhcp-, qrouter-), their routes, iptables and the dnsmasq pid files. The
instances' namespaces are read the same way from the root namespace. Nodes
are read in parallel, so a snapshot of the demo lab takes a few hundred ms.
The API's view (ports, networks, subnets, agents) is read alongside, so
callers can compare both.
"""
from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from neutrino.errors import NeutrinoError
from neutrino.lab import instances as lab_instances
from neutrino.lab import lifecycle
from neutrino.lab import node as lab_node
from neutrino.diagnose.api import DiagnoseApi
from neutrino.lab.layout import Lab, tunnel_ip

MARK = "@@neutrino@@"
READ_TIMEOUT = 10

NODE_SCRIPT = f"""
s() {{ echo "{MARK} $1"; }}
s ovsdb; ovs-vsctl --timeout=2 -f json --columns=name,ports list Bridge \
  -- --columns=_uuid,name,tag,other_config,interfaces list Port \
  -- --columns=_uuid,name,type,options,external_ids,ofport,link_state list Interface
s dpif; ovs-appctl -t ovs-vswitchd --timeout=2 dpif/show
s links; ip -j -d addr
s routes; ip -j route
s netns; ip netns list
for ns in $(ip netns list | cut -d' ' -f1); do
  s "nslinks $ns"; ip -n "$ns" -j -d addr
  s "nsroutes $ns"; ip -n "$ns" -j route
  s "nssysctl $ns"; ip netns exec "$ns" cat /proc/sys/net/ipv4/ip_forward
  case "$ns" in qrouter-*) s "nsnat $ns"; ip netns exec "$ns" iptables-save -t nat 2>/dev/null;; esac
done
s iptables; iptables-save -t filter 2>/dev/null
s ipset; ipset save 2>/dev/null
s dnsmasq
for f in $(find {{state}} -path '*/dhcp/*/pid' 2>/dev/null); do
  pid=$(cat "$f" 2>/dev/null); alive=0
  [ -n "$pid" ] && grep -qa dnsmasq "/proc/$pid/cmdline" 2>/dev/null && alive=1
  echo "$f $pid $alive"
done
"""

INSTANCE_SCRIPT = f"""
for ns in "$@"; do
  echo "{MARK} links $ns"; ip -n "$ns" -j -d addr
  echo "{MARK} routes $ns"; ip -n "$ns" -j route
  echo "{MARK} neigh $ns"; ip -n "$ns" -j neigh
done
"""


@dataclass
class Link:
    name: str
    kind: str | None          # veth, bridge, tun, openvswitch, vxlan, None
    mtu: int
    up: bool
    mac: str | None
    addrs: list[str]
    master: str | None
    peer: str | None          # veth peer in the same namespace

    @classmethod
    def from_ip(cls, d: dict) -> "Link":
        info = d.get("linkinfo") or {}
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in d.get("addr_info", [])
                 if a.get("family") == "inet"]
        return cls(d["ifname"], info.get("info_kind"), d.get("mtu", 0),
                   "UP" in d.get("flags", []) and d.get("operstate") != "DOWN",
                   d.get("address"), addrs, d.get("master"), d.get("link"))


@dataclass
class Namespace:
    name: str
    links: dict[str, Link] = field(default_factory=dict)
    routes: list[dict] = field(default_factory=list)
    neigh: list[dict] = field(default_factory=list)
    ip_forward: bool | None = None
    nat: str = ""             # iptables-save -t nat (router namespaces)


@dataclass
class OvsPort:
    name: str
    bridge: str
    type: str
    tag: int | None
    other_config: dict
    options: dict
    external_ids: dict
    ofport: int | None
    odp: int | None = None


@dataclass
class Node:
    name: str
    tunnel_ip: str
    alive: bool
    ovs_ok: bool = False
    bridges: dict[str, list[str]] = field(default_factory=dict)     # bridge -> port names
    ports: dict[str, OvsPort] = field(default_factory=dict)
    root: Namespace = field(default_factory=lambda: Namespace(""))
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    iptables: str = ""
    ipsets: dict[str, set] = field(default_factory=dict)
    dnsmasq: dict[str, dict] = field(default_factory=dict)          # network id -> pid, alive
    error: str | None = None

    def port(self, name: str) -> OvsPort | None:
        return self.ports.get(name)

    def link(self, name: str) -> Link | None:
        return self.root.links.get(name)


@dataclass
class Instance:
    name: str
    host: str
    port_id: str
    mac: str
    ips: list[str]
    network_id: str
    netns: Namespace | None


@dataclass
class Snapshot:
    lab: Lab
    nodes: dict[str, Node]
    instances: dict[str, Instance]
    api_ok: bool = False
    ports: list[dict] = field(default_factory=list)
    networks: dict[str, dict] = field(default_factory=dict)
    subnets: dict[str, dict] = field(default_factory=dict)
    agents: list[dict] = field(default_factory=list)
    routers: list[dict] = field(default_factory=list)
    floatingips: list[dict] = field(default_factory=list)
    security_groups: list[dict] = field(default_factory=list)
    api_error: str | None = None

    def agent(self, host: str, agent_type: str) -> dict | None:
        for a in self.agents:
            if a.get("host") == host and a.get("agent_type") == agent_type:
                return a
        return None

    def port_by_id(self, port_id: str) -> dict | None:
        for p in self.ports:
            if p["id"] == port_id:
                return p
        return None


def _sections(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith(MARK):
            out.append((line[len(MARK):].strip(), []))
        elif out:
            out[-1][1].append(line)
    return [(k, "\n".join(v)) for k, v in out]


def _ovs_value(v):
    """OVSDB JSON cell -> Python: ["map", [...]] -> dict, ["set", []] -> None."""
    if isinstance(v, list) and v:
        if v[0] == "map":
            return {k: _ovs_value(x) for k, x in v[1]}
        if v[0] == "set":
            return [_ovs_value(x) for x in v[1]] or None
        if v[0] == "uuid":
            return v[1]
    return v


def _ovs_rows(text: str) -> list[dict]:
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    heads = doc.get("headings", [])
    return [{h: _ovs_value(c) for h, c in zip(heads, row)} for row in doc.get("data", [])]


def _json(text: str) -> list:
    try:
        return json.loads(text) if text.strip() else []
    except ValueError:
        return []


def _links(text: str) -> dict[str, Link]:
    return {d["ifname"]: Link.from_ip(d) for d in _json(text) if "ifname" in d}


def _as_list(v) -> list:
    if v is None:
        return []
    return v if isinstance(v, list) else [v]


def parse_node(name: str, text: str) -> Node:
    node = Node(name, tunnel_ip(name), alive=True)
    sec = _sections(text)
    data = dict(sec)
    docs = [line for line in data.get("ovsdb", "").splitlines() if line.startswith("{")]
    docs += [""] * (3 - len(docs))
    bridges = _ovs_rows(docs[0])
    port_rows = {r["_uuid"]: r for r in _ovs_rows(docs[1])}
    ifaces = {r["_uuid"]: r for r in _ovs_rows(docs[2])}
    node.ovs_ok = bool(bridges)
    for br in bridges:
        names = []
        for pu in _as_list(br.get("ports")):
            prow = port_rows.get(pu)
            if not prow:
                continue
            iface = next((ifaces[i] for i in _as_list(prow.get("interfaces")) if i in ifaces), {})
            ofport = iface.get("ofport")
            node.ports[prow["name"]] = OvsPort(
                prow["name"], br["name"], iface.get("type") or "system",
                prow.get("tag") if isinstance(prow.get("tag"), int) else None,
                prow.get("other_config") or {}, iface.get("options") or {},
                iface.get("external_ids") or {},
                ofport if isinstance(ofport, int) and ofport > 0 else None)
            names.append(prow["name"])
        node.bridges[br["name"]] = sorted(names)
    for line in data.get("dpif", "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and "/" in parts[1] and parts[0] in node.ports:
            odp = parts[1].rstrip(":").split("/")[1]
            if odp.isdigit():
                node.ports[parts[0]].odp = int(odp)
    node.root = Namespace("", _links(data.get("links", "")), _json(data.get("routes", "")))
    for key, body in sec:
        kind, _, ns = key.partition(" ")
        if kind == "nslinks":
            node.namespaces[ns] = Namespace(ns, _links(body))
        elif kind == "nsroutes" and ns in node.namespaces:
            node.namespaces[ns].routes = _json(body)
        elif kind == "nssysctl" and ns in node.namespaces:
            node.namespaces[ns].ip_forward = body.strip() == "1"
        elif kind == "nsnat" and ns in node.namespaces:
            node.namespaces[ns].nat = body
    node.iptables = data.get("iptables", "")
    for line in data.get("ipset", "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "create":
            node.ipsets.setdefault(parts[1], set())
        elif len(parts) >= 3 and parts[0] == "add":
            node.ipsets.setdefault(parts[1], set()).add(parts[2])
    for line in data.get("dnsmasq", "").splitlines():
        parts = line.split()
        if len(parts) == 3:
            net = parts[0].rstrip("/").split("/")[-2]
            node.dnsmasq[net] = {"pid_file": parts[0], "pid": parts[1], "alive": parts[2] == "1"}
    return node


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=READ_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise NeutrinoError(f"reading live state timed out: {argv[-1][:60]}") from None
    return out.stdout


def read_node(lab: Lab, name: str) -> Node:
    if not lab_node.node_alive(lab, name):
        return Node(name, tunnel_ip(name), alive=False, error="node namespace missing")
    script = NODE_SCRIPT.replace("{state}", lab.node_dir(name, "agent"))
    node = parse_node(name, _run(lab_node.enter_argv(lab, name, ["sh", "-c", script])))
    if not node.ovs_ok:
        node.error = "OVSDB does not answer"
    return node


def read_instances(lab: Lab) -> dict[str, Instance]:
    records = lab_instances.all_instances(lab)
    names = [r["netns"] for r in records if r.get("netns")]
    text = _run(["sh", "-c", INSTANCE_SCRIPT, "sh", *names]) if names else ""
    spaces: dict[str, Namespace] = {}
    for key, body in _sections(text):
        kind, _, ns = key.partition(" ")
        space = spaces.setdefault(ns, Namespace(ns))
        if kind == "links":
            space.links = _links(body)
        elif kind == "routes":
            space.routes = _json(body)
        elif kind == "neigh":
            space.neigh = _json(body)
    out = {}
    for r in records:
        space = spaces.get(r.get("netns"))
        if space is not None and not space.links:
            space = None          # `ip -n` failed: the namespace is gone
        out[r["name"]] = Instance(r["name"], r["host"], r.get("port_id") or "", r.get("mac", ""),
                                  r.get("ips") or [], r.get("network_id", ""), space)
    return out


def _read_api(lab: Lab, snap: Snapshot) -> None:
    try:
        api = DiagnoseApi.for_lab(lab, timeout=3)
    except NeutrinoError as exc:
        snap.api_error = str(exc)
        return
    try:
        snap.ports = api.get("/v2.0/ports")["ports"]
        snap.networks = {n["id"]: n for n in api.get("/v2.0/networks")["networks"]}
        snap.subnets = {s["id"]: s for s in api.get("/v2.0/subnets")["subnets"]}
        snap.agents = api.get("/v2.0/agents")["agents"]
        for coll in ("routers", "floatingips", "security-groups"):
            attr = coll.replace("-", "_")
            try:
                setattr(snap, attr, api.get(f"/v2.0/{coll}").get(attr, []))
            except NeutrinoError:
                pass                  # the L3 service is not there (yet)
        snap.api_ok = True
    except NeutrinoError as exc:
        snap.api_error = str(exc)
    finally:
        api.close()


def take(lab: Lab, api: bool = True) -> Snapshot:
    """The whole lab as it is now."""
    info = lifecycle.read_info(lab)
    if not info:
        raise NeutrinoError(f"lab {lab.name} is not up (no {lab.status_file})")
    names = info["nodes"]
    snap = Snapshot(lab, {}, {})
    with ThreadPoolExecutor(max_workers=len(names) + 2) as pool:
        futures = {n: pool.submit(read_node, lab, n) for n in names}
        inst = pool.submit(read_instances, lab)
        api_f = pool.submit(_read_api, lab, snap) if api else None
        snap.nodes = {n: f.result() for n, f in futures.items()}
        snap.instances = inst.result()
        if api_f:
            api_f.result()
    return snap
