"""Pure computation of a node's desired OVS state.

Inputs: the agent's settings, what OVSDB holds (for ofports and for which
device ports are plugged), the server's device details, the local VLAN
allocator, the tunnel endpoints and the agent cookie. Output: ``DesiredState``.
"""
from __future__ import annotations

from neutrino.agents.ovs import br_int, br_phys, br_tun
from neutrino.agents.ovs.state import (DEAD_VLAN_TAG, AgentConfig, Binding, BridgeSpec,
                                       DesiredState, PortSpec)
from neutrino.agents.ovs.vlans import LocalVlans
from neutrino.linux.ovs import Snapshot

TUNNEL_TYPES = ("vxlan",)
OTHER_CONFIG_KEYS = ("net_uuid", "network_type", "physical_network",
                     "segmentation_id", "tag")


def agent_port_names(config: AgentConfig) -> set[str]:
    names = {config.int_peer_patch_port, config.tun_peer_patch_port}
    for bridge in config.bridge_mappings.values():
        names.update(br_phys.patch_names(bridge))
    return names


def device_ports(config: AgentConfig, snap: Snapshot):
    """Ports on br-int that carry a Neutron port (external_ids:iface-id)."""
    own = agent_port_names(config)
    return sorted((p for p in snap.ports_on(config.integration_bridge)
                   if p.iface_id and p.name not in own), key=lambda p: p.name)


def wireable(config: AgentConfig, details: dict) -> bool:
    if details.get("no_such_port") or not details.get("admin_state_up", True):
        return False
    if details.get("binding_vif_type", "ovs") != "ovs":
        return False
    net_type = details.get("network_type")
    if net_type in TUNNEL_TYPES:
        return details.get("segmentation_id") is not None
    if net_type in ("flat", "vlan"):
        return details.get("physical_network") in config.bridge_mappings
    return False


def other_config(details: dict, lvid: int) -> dict:
    """Port other_config as Neutron writes it (all strings, None as "None")."""
    return {"net_uuid": details["network_id"],
            "network_type": details["network_type"],
            "physical_network": str(details.get("physical_network")),
            "segmentation_id": str(details.get("segmentation_id")),
            "tag": str(lvid)}


def details_from_other_config(config: dict) -> dict:
    """The network part of a device's details, as a bound port records it."""
    def value(key):
        text = config.get(key)
        return None if text in (None, "None") else text
    segment = value("segmentation_id")
    return {"network_id": config["net_uuid"], "network_type": config["network_type"],
            "physical_network": value("physical_network"),
            "segmentation_id": int(segment) if segment is not None else None}


def protected(details: dict, ofport: int) -> br_int.Protected | None:
    """Anti-spoofing applies to ports with port security, not network-owned."""
    if not details.get("port_security_enabled", True):
        return None
    if (details.get("device_owner") or "").startswith("network:"):
        return None
    ips = [ip["ip_address"] for ip in details.get("fixed_ips", [])]
    macs = [details["mac_address"]]
    for pair in details.get("allowed_address_pairs", []):
        ips.append(pair["ip_address"])
        macs.append(pair.get("mac_address") or details["mac_address"])
    if any(ip.endswith("/0") for ip in ips):
        return None
    return br_int.Protected(ofport, tuple(ips), tuple(macs))


def compute(config: AgentConfig, snap: Snapshot, devices: dict, vlans: LocalVlans,
            remotes, cookie: int) -> DesiredState:
    """``devices`` maps port id -> details dict, absent when not (yet) known."""
    want = DesiredState()
    _infrastructure(want, config, remotes)
    nets: dict[str, dict] = {}
    int_flows = br_int.base_flows(cookie)
    for port in device_ports(config, snap):
        binding, net = _bind(config, port, devices.get(port.iface_id), vlans)
        want.bindings[port.name] = binding
        if net is not None:
            nets.setdefault(binding.network_id, net)
        if port.ofport <= 0:
            continue
        if binding.tag == DEAD_VLAN_TAG:
            int_flows += br_int.dead_port_flows(cookie, port.ofport)
        elif devices.get(port.iface_id):
            guard = protected(devices[port.iface_id], port.ofport)
            if guard is not None:
                int_flows += br_int.spoofing_flows(cookie, guard)
    _network_flows(want, config, snap, nets, vlans, cookie, int_flows)
    return want


def _infrastructure(want: DesiredState, config: AgentConfig, remotes) -> None:
    """Bridges, patch pairs and the VXLAN full mesh."""
    int_br, tun_br = config.integration_bridge, config.tunnel_bridge
    for name in (int_br, tun_br, *config.bridge_mappings.values()):
        want.bridges[name] = BridgeSpec(name, config.datapath_type)

    def patch(bridge, name, peer):
        want.ports[name] = PortSpec(bridge, name, "patch", {"peer": peer})

    patch(int_br, config.int_peer_patch_port, config.tun_peer_patch_port)
    patch(tun_br, config.tun_peer_patch_port, config.int_peer_patch_port)
    for bridge in config.bridge_mappings.values():
        int_name, phy_name = br_phys.patch_names(bridge)
        patch(int_br, int_name, phy_name)
        patch(bridge, phy_name, int_name)
    for remote in sorted(set(remotes) - {config.local_ip}):
        name = br_tun.tunnel_port_name(remote)
        want.ports[name] = PortSpec(tun_br, name, "vxlan",
                                    br_tun.tunnel_options(config.local_ip, remote))


def _bind(config: AgentConfig, port, details: dict | None,
          vlans: LocalVlans) -> tuple[Binding, dict | None]:
    """The port's tag and other_config, and its network's details if it is live."""
    if details is None:
        # Not known (server unreachable): a bound port stays as it is.
        tag = port.tag if port.tag is not None else DEAD_VLAN_TAG
        keep = {k: v for k, v in port.other_config.items() if k in OTHER_CONFIG_KEYS}
        net = None
        if tag != DEAD_VLAN_TAG and keep.get("net_uuid") and keep.get("network_type"):
            try:
                net = details_from_other_config(keep)
            except ValueError:
                net = None
        if net is not None and vlans.by_network.setdefault(net["network_id"], tag) == tag:
            return Binding(port.name, port.iface_id, tag, keep, False, net["network_id"]), net
        return Binding(port.name, port.iface_id, tag, keep, False), None
    if not wireable(config, details):
        return Binding(port.name, port.iface_id, DEAD_VLAN_TAG, {}, False), None
    lvid = vlans.get(details["network_id"])
    return Binding(port.name, port.iface_id, lvid, other_config(details, lvid),
                   port.ofport > 0, details["network_id"]), details


def _network_flows(want: DesiredState, config: AgentConfig, snap: Snapshot, nets: dict,
                   vlans: LocalVlans, cookie: int, int_flows: list) -> None:
    """br-tun and provider-bridge flows for the networks with ports here."""
    tun_ofports = sorted(snap.ofport(p.name) for p in want.ports.values()
                         if p.type == "vxlan" and snap.ofport(p.name) > 0)
    tun_flows = br_tun.base_flows(cookie, snap.ofport(config.tun_peer_patch_port))
    for ofport in tun_ofports:
        tun_flows += br_tun.tunnel_port_flows(cookie, ofport)
    phys: dict[str, list[br_int.PhysNet]] = {p: [] for p in config.bridge_mappings}
    for net_id, details in sorted(nets.items()):
        lvid = vlans.by_network[net_id]
        if details["network_type"] in TUNNEL_TYPES:
            tun_flows += br_tun.network_flows(cookie, lvid, int(details["segmentation_id"]),
                                              tun_ofports)
        elif details.get("physical_network") in phys:
            phys[details["physical_network"]].append(
                br_int.PhysNet(lvid, details["network_type"], details.get("segmentation_id")))
    for physnet, bridge in config.bridge_mappings.items():
        int_name, phy_name = br_phys.patch_names(bridge)
        if snap.ofport(int_name) > 0:
            int_flows += br_int.physical_flows(cookie, snap.ofport(int_name), phys[physnet])
        want.flows[bridge] = br_phys.flows(cookie, snap.ofport(phy_name), phys[physnet])
    want.flows[config.integration_bridge] = int_flows
    want.flows[config.tunnel_bridge] = tun_flows


def networks_in_use(want: DesiredState) -> set[str]:
    return {b.network_id for b in want.bindings.values() if b.network_id}
