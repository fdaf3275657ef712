"""SRC and DST of ``explain``: instance names, fixed IPs, the DHCP server,
floating IPs or outside addresses, resolved against a snapshot."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from neutrino.diagnose.snapshot import Snapshot
from neutrino.errors import NeutrinoError

DHCP_OWNER = "network:dhcp"
ROUTER_OWNERS = ("network:router_interface", "network:router_gateway",
                 "network:router_interface_distributed")


@dataclass
class Endpoint:
    kind: str                  # instance | dhcp | router | outside
    label: str
    ip: str
    mac: str | None = None
    host: str | None = None    # lab node
    network_id: str | None = None
    port_id: str | None = None
    instance: str | None = None
    netns: str | None = None   # namespace of a network service (qdhcp-, qrouter-)

    @property
    def ovs_port(self) -> str | None:
        """The port of this endpoint on br-int."""
        if not self.port_id:
            return None
        prefix = "qvo" if self.kind == "instance" else (
            "tap" if self.kind == "dhcp" else "qr-")
        return (prefix + self.port_id)[:14]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _instance_endpoint(snap: Snapshot, name: str) -> Endpoint:
    inst = snap.instances[name]
    ip = inst.ips[0] if inst.ips else ""
    return Endpoint("instance", name, ip, inst.mac, inst.host, inst.network_id, inst.port_id,
                    instance=name)


def _port_endpoint(snap: Snapshot, port: dict, ip: str) -> Endpoint | None:
    owner = port.get("device_owner") or ""
    if owner == DHCP_OWNER:
        return Endpoint("dhcp", f"dhcp({ip})", ip, port["mac_address"],
                        port.get("binding:host_id"), port["network_id"], port["id"],
                        netns=f"qdhcp-{port['network_id']}")
    if owner in ROUTER_OWNERS:
        return Endpoint("router", f"router({ip})", ip, port["mac_address"],
                        port.get("binding:host_id"), port["network_id"], port["id"],
                        netns=f"qrouter-{port['device_id']}")
    return None


def dhcp_of(snap: Snapshot, network_id: str) -> Endpoint | None:
    for port in snap.ports:
        if port.get("network_id") == network_id and port.get("device_owner") == DHCP_OWNER:
            ips = [f["ip_address"] for f in port.get("fixed_ips", [])]
            if ips:
                return _port_endpoint(snap, port, ips[0])
    return None


def resolve(snap: Snapshot, text: str, peer: Endpoint | None = None) -> Endpoint:
    """``text``: instance name, ``NAME:IP`` (the instance sending from another source
    address, as one that forwards does), ``dhcp``, or an IP address."""
    if text in snap.instances:
        return _instance_endpoint(snap, text)
    name, _, source = text.partition(":")
    if source and name in snap.instances:
        if not _is_ip(source):
            raise NeutrinoError(f"bad source address {source!r} in {text!r}")
        ep = _instance_endpoint(snap, name)
        ep.ip = source
        return ep
    if text == "dhcp":
        if peer is None or not peer.network_id:
            raise NeutrinoError("`dhcp` names the DHCP server of SRC's network: SRC must be "
                                "an instance")
        found = dhcp_of(snap, peer.network_id)
        if found is None:
            net = snap.networks.get(peer.network_id, {}).get("name") or peer.network_id
            return Endpoint("dhcp", f"dhcp({net})", "", network_id=peer.network_id)
        return found
    if not _is_ip(text):
        names = ", ".join(sorted(snap.instances)) or "none"
        raise NeutrinoError(f"{text!r} is neither an instance (instances: {names}), "
                            "`dhcp`, nor an IP address")
    for name, inst in snap.instances.items():
        if text in inst.ips:
            return _instance_endpoint(snap, name)
    for fip in snap.floatingips:
        if fip.get("floating_ip_address") == text:
            ep = Endpoint("floating", f"floating({text})", text, port_id=fip.get("port_id"))
            return ep
    for port in snap.ports:
        if any(f["ip_address"] == text for f in port.get("fixed_ips", [])):
            found = _port_endpoint(snap, port, text)
            if found:
                return found
            for name, inst in snap.instances.items():
                if inst.port_id == port["id"]:
                    return _instance_endpoint(snap, name)
    return Endpoint("outside", text, text)
