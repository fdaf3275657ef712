"""What every hop module gets: the snapshot, the packet, and fix helpers."""
from __future__ import annotations

from dataclasses import dataclass, field

from neutrino.diagnose.ofproto import OfTrace, Tracer

from neutrino.diagnose.snapshot import Snapshot
from neutrino.lab.layout import Lab

OVS_AGENT = "Open vSwitch agent"
DHCP_AGENT = "DHCP agent"
L3_AGENT = "L3 agent"


@dataclass
class Ctx:
    lab: Lab
    snap: Snapshot
    proto: str = "icmp"
    port: int | None = None
    tracer: Tracer | None = field(default=None, repr=False)

    def trace(self, node: str, bridge: str, spec: str) -> OfTrace:
        if self.tracer is None:
            self.tracer = Tracer(self.lab)
        return self.tracer.trace(node, bridge, spec)

    @property
    def lab_up(self) -> str:
        """The command that restarts whatever of the lab died (agents, dnsmasq via its agent)."""
        return f"neutrino lab up --name {self.lab.name}"

    def on_node(self, node: str, cmd: str) -> str:
        return f"neutrino lab exec --name {self.lab.name} {node} -- {cmd}"

    def in_instance(self, name: str, cmd: str) -> str:
        return f"neutrino instance exec --name {self.lab.name} {name} -- {cmd}"

    def agent_alive(self, host: str, agent_type: str) -> bool | None:
        """True/False from the API's agent list; None when the API did not answer."""
        if not self.snap.api_ok:
            return None
        agent = self.snap.agent(host, agent_type)
        return bool(agent and agent.get("alive"))

    def agent_process_alive(self, host: str, kind: str) -> bool:
        """Whether the lab's process of that agent runs (faster than the heartbeat)."""
        from neutrino.lab import services
        return bool(services.alive(services.read_pids(self.lab), f"agent-{kind}@{host}"))

    def network_mtu(self, network_id: str | None) -> int | None:
        net = self.snap.networks.get(network_id or "")
        return net.get("mtu") if net else None

    def network_name(self, network_id: str | None) -> str:
        net = self.snap.networks.get(network_id or "")
        return (net.get("name") or net["id"]) if net else (network_id or "?")

    def subnets_of(self, network_id: str | None) -> list[dict]:
        return [s for s in self.snap.subnets.values() if s.get("network_id") == network_id]
