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


def _wireable(config: AgentConfig, details: dict) -> bool:
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

    nets: dict[str, dict] = {}
    int_flows = br_int.base_flows(cookie)
    for port in device_ports(config, snap):
        details = devices.get(port.iface_id)
        if details is None:
            # Not known yet (server unreachable): leave a bound port as it is.
            tag = port.tag if port.tag is not None else DEAD_VLAN_TAG
            keep = {k: v for k, v in port.other_config.items() if k in OTHER_CONFIG_KEYS}
            net = keep.get("net_uuid") if tag != DEAD_VLAN_TAG else None
            if net and keep.get("network_type"):
                vlans.by_network.setdefault(net, tag)
                nets.setdefault(net, details_from_other_config(keep))
            want.bindings[port.name] = Binding(port.name, port.iface_id, tag, keep, False, net)
            if tag == DEAD_VLAN_TAG and port.ofport > 0:
                int_flows += br_int.dead_port_flows(cookie, port.ofport)
            continue
        if not _wireable(config, details):
            want.bindings[port.name] = Binding(port.name, port.iface_id, DEAD_VLAN_TAG,
                                               {}, False)
            if port.ofport > 0:
                int_flows += br_int.dead_port_flows(cookie, port.ofport)
            continue
        net_id = details["network_id"]
        lvid = vlans.get(net_id)
        nets[net_id] = details
        want.bindings[port.name] = Binding(port.name, port.iface_id, lvid,
                                           other_config(details, lvid), port.ofport > 0,
                                           net_id)
        guard = protected(details, port.ofport)
        if guard is not None and port.ofport > 0:
            int_flows += br_int.spoofing_flows(cookie, guard)

    tun_ofports = [snap.ofport(p.name) for p in want.ports.values()
                   if p.type == "vxlan" and snap.ofport(p.name) > 0]
    tun_flows = br_tun.base_flows(cookie, snap.ofport(config.tun_peer_patch_port))
    for ofport in sorted(tun_ofports):
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
    want.flows[int_br] = int_flows
    want.flows[tun_br] = tun_flows
    return want


def networks_in_use(want: DesiredState) -> set[str]:
    return {b.network_id for b in want.bindings.values() if b.network_id}
