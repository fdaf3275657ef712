"""``ovs-appctl ofproto/trace`` on a lab node, read into plain data.

A trace follows patch ports, so one call from br-int reaches br-tun (and
br-phy for the tunnel's underlay hop). Each bridge section becomes a list of
matched tables; the datapath actions name the ports the packet leaves by
(datapath port numbers, mapped to names with ``dpif/show``) and the
tunnel header pushed (remote IP, VNI).
"""
from __future__ import annotations

import re
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from neutrino.lab import node as lab_node
from neutrino.lab.layout import Lab

TRACE_TIMEOUT = 5


@dataclass
class TableHit:
    table: int
    match: str          # the flow's match as printed ("No match" when none)
    actions: list[str]


@dataclass
class BridgeTrace:
    bridge: str
    hits: list[TableHit] = field(default_factory=list)


@dataclass
class OfTrace:
    flow: str
    bridges: list[BridgeTrace]
    datapath_actions: str
    outputs: list[int]                 # datapath ports
    tunnels: list[dict]                # {"remote_ip", "vni", "odp"} per tunnel header pushed
    raw: str

    @property
    def tunnel(self) -> dict | None:
        return self.tunnels[0] if self.tunnels else None

    @property
    def dropped(self) -> bool:
        return not self.outputs and not self.tunnels

    def last_hit(self) -> tuple[str, TableHit] | None:
        for br in reversed(self.bridges):
            if br.hits:
                return br.bridge, br.hits[-1]
        return None

    def vlan_set(self) -> int | None:
        for br in self.bridges:
            for hit in br.hits:
                for act in hit.actions:
                    m = re.match(r"set_field:(\d+)->vlan_vid", act)
                    if m:
                        return int(m.group(1)) & 0xFFF
        return None

    def summary(self, bridge: str) -> str:
        """``table 0 (in_port=2) -> 25 -> 30 -> 60 NORMAL`` for one bridge."""
        for br in self.bridges:
            if br.bridge == bridge:
                return " -> ".join(f"t{h.table}" + ("" if h.match != "No match" else " no match")
                                   for h in br.hits) + (
                    f" [{br.hits[-1].actions[-1]}]" if br.hits and br.hits[-1].actions else "")
        return ""


_SECTION = re.compile(r'^bridge\("([^"]+)"\)')
_TABLE = re.compile(r"^\s*(\d+)\. (.*)$")


def parse(text: str) -> OfTrace:
    flow, actions = "", ""
    bridges: list[BridgeTrace] = []
    for line in text.splitlines():
        if line.startswith("Flow: ") and not flow:
            flow = line[6:]
            continue
        if line.startswith("Datapath actions: "):
            actions = line[len("Datapath actions: "):].strip()
            continue
        m = _SECTION.match(line)
        if m:
            bridges.append(BridgeTrace(m.group(1)))
            continue
        if not bridges or not line.strip() or line.startswith("---"):
            continue
        if line.startswith(("Final flow", "Megaflow")):
            continue
        m = _TABLE.match(line)
        if m and not line.startswith("     "):
            match = m.group(2)
            match = "No match" if match.startswith("No match") else match.split(", priority")[0]
            bridges[-1].hits.append(TableHit(int(m.group(1)), match, []))
        elif bridges[-1].hits:
            bridges[-1].hits[-1].actions.append(line.strip())
    tunnels = [{"odp": int(m.group(1)), "remote_ip": m.group(2), "vni": int(m.group(3), 16)}
               for m in re.finditer(r"tnl_push\(tnl_port\((\d+)\).*?ipv4\(src=[\d.]+,"
                                    r"dst=([\d.]+).*?vni=(0x[0-9a-f]+)", actions)]
    plain = re.sub(r"tnl_push\(.*?out_port\(\d+\)\),\d+", "", actions)
    outputs = [int(x) for x in re.findall(r"(?:^|,)(\d+)(?=,|$)", plain)]
    return OfTrace(flow, bridges, actions, outputs, tunnels, text)


def flow_spec(in_port: str, proto: str, src_mac: str, dst_mac: str, src_ip: str, dst_ip: str,
              dport: int | None = None, tun_id: int | None = None) -> str:
    parts = [f"in_port={in_port}"]
    if tun_id is not None:
        parts.append(f"tun_id={tun_id:#x}")
    parts += [proto, f"dl_src={src_mac}", f"dl_dst={dst_mac}", f"nw_src={src_ip}",
              f"nw_dst={dst_ip}", "nw_ttl=64"]
    if proto in ("tcp", "udp"):
        parts += [f"{proto}_src=40000", f"{proto}_dst={dport or 0}"]
    elif proto == "icmp":
        parts += ["icmp_type=8"]
    return ",".join(parts)


def trace(lab: Lab, node: str, bridge: str, spec: str) -> OfTrace:
    argv = lab_node.enter_argv(lab, node, ["ovs-appctl", "--timeout=3", "ofproto/trace",
                                           bridge, spec])
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=TRACE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return parse("")
    return parse(out.stdout if out.returncode == 0 else "")


class Tracer:
    """Traces memoised by (node, bridge, flow); ``prefetch`` runs them in parallel
    so an explain pays for the slowest trace, not for their sum."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.pool = ThreadPoolExecutor(max_workers=6)
        self.lock = threading.Lock()
        self.futures: dict[tuple[str, str, str], Future] = {}

    def _future(self, node: str, bridge: str, spec: str) -> Future:
        key = (node, bridge, spec)
        with self.lock:
            if key not in self.futures:
                self.futures[key] = self.pool.submit(trace, self.lab, node, bridge, spec)
            return self.futures[key]

    def prefetch(self, node: str, bridge: str, spec: str) -> None:
        self._future(node, bridge, spec)

    def trace(self, node: str, bridge: str, spec: str) -> OfTrace:
        return self._future(node, bridge, spec).result()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
