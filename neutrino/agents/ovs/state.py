"""Desired state of a node's OVS as plain data, and the agent's settings.

The pure functions of ``desired.py`` build a ``DesiredState``; ``differ.py``
compares it with an ``ovs.Snapshot`` and the dumped flows; a driver applies the
difference. Nothing here talks to OVS.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from neutrino.linux.openflow import Flow

DEAD_VLAN_TAG = 4095
MANAGER = "ptcp:6640:127.0.0.1"
PROTOCOLS = ("OpenFlow10", "OpenFlow13")
BRIDGE_OTHER_CONFIG = {"disable-in-band": "true"}


@dataclass(frozen=True)
class AgentConfig:
    host: str
    local_ip: str
    bridge_mappings: dict = field(default_factory=dict)
    integration_bridge: str = "br-int"
    tunnel_bridge: str = "br-tun"
    datapath_type: str = "netdev"
    int_peer_patch_port: str = "patch-tun"
    tun_peer_patch_port: str = "patch-int"

    @property
    def agent_id(self) -> str:
        return f"ovs-agent-{self.host}"


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    datapath_type: str
    fail_mode: str = "secure"
    protocols: tuple = PROTOCOLS
    other_config: dict = field(default_factory=lambda: dict(BRIDGE_OTHER_CONFIG))


@dataclass(frozen=True)
class PortSpec:
    """A port the agent owns (patch, tunnel): created and kept as specified."""
    bridge: str
    name: str
    type: str
    options: dict


@dataclass(frozen=True)
class Binding:
    """What a device port (iface-id on br-int) must carry: tag + other_config."""
    name: str
    port_id: str
    tag: int
    other_config: dict
    up: bool   # wired on a live local VLAN: report it up to the server
    network_id: str | None = None


@dataclass
class DesiredState:
    bridges: dict[str, BridgeSpec] = field(default_factory=dict)
    ports: dict[str, PortSpec] = field(default_factory=dict)
    bindings: dict[str, Binding] = field(default_factory=dict)
    flows: dict[str, list[Flow]] = field(default_factory=dict)
    manager: str | None = MANAGER
