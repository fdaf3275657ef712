"""Flows of the integration bridge (Neutron 2023.1+ table layout).

Every builder returns ``Flow`` values written as ``ovs-ofctl -O OpenFlow13``
prints them (``goto_table``, ``set_field``), so they compare equal to a dump.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from neutrino.linux.openflow import Flow

LOCAL_SWITCHING = 0
CANARY_TABLE = 23
ARP_SPOOF_TABLE = 24
MAC_SPOOF_TABLE = 25
LOCAL_EGRESS_TABLE = 30
LOCAL_IP_TABLE = 31
PACKET_RATE_LIMIT = 58
BANDWIDTH_RATE_LIMIT = 59
TRANSIENT_TABLE = 60
TRANSIENT_EGRESS_TABLE = 62


@dataclass(frozen=True)
class Protected:
    """A port under ARP/MAC spoofing protection (tables 24/25)."""
    ofport: int
    ips: tuple      # addresses or CIDRs, v4 and v6
    macs: tuple


@dataclass(frozen=True)
class PhysNet:
    """A flat/vlan network reaching br-int through the int-<bridge> patch."""
    lvid: int
    network_type: str
    segmentation_id: int | None


def goto(table: int) -> str:
    return f"goto_table:{table}"


def set_vlan(vid: int) -> str:
    return f"set_field:{4096 | vid}->vlan_vid"


def base_flows(cookie: int) -> list[Flow]:
    """The skeleton: dead-VLAN drop, canary, defaults of every table."""
    return [
        Flow(LOCAL_SWITCHING, 65535, "vlan_tci=0x0fff/0x1fff", "drop", cookie),
        Flow(LOCAL_SWITCHING, 0, "", goto(PACKET_RATE_LIMIT), cookie),
        Flow(CANARY_TABLE, 0, "", "drop", cookie),
        Flow(ARP_SPOOF_TABLE, 0, "", "drop", cookie),
        Flow(LOCAL_EGRESS_TABLE, 0, "", goto(PACKET_RATE_LIMIT), cookie),
        Flow(LOCAL_IP_TABLE, 0, "", goto(PACKET_RATE_LIMIT), cookie),
        Flow(PACKET_RATE_LIMIT, 0, "", goto(BANDWIDTH_RATE_LIMIT), cookie),
        Flow(BANDWIDTH_RATE_LIMIT, 0, "", goto(TRANSIENT_TABLE), cookie),
        Flow(TRANSIENT_TABLE, 1, "", "NORMAL", cookie),
        Flow(TRANSIENT_EGRESS_TABLE, 3, "", "NORMAL", cookie),
    ]


def dead_port_flows(cookie: int, ofport: int) -> list[Flow]:
    return [Flow(LOCAL_SWITCHING, 2, f"in_port={ofport}", "drop", cookie)]


def _ip_match(address: str) -> tuple[int, str]:
    net = ipaddress.ip_network(address, strict=False)
    if net.prefixlen == net.max_prefixlen:
        return net.version, str(net.network_address)
    return net.version, str(net)


def link_local(mac: str) -> str:
    """EUI-64 IPv6 link-local address of a MAC."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui)))


def spoofing_flows(cookie: int, port: Protected) -> list[Flow]:
    """ARP/ND/MAC anti-spoofing (``setup_arp_spoofing_protection``)."""
    p = port.ofport
    flows = [
        Flow(LOCAL_SWITCHING, 10, f"arp,in_port={p}", goto(ARP_SPOOF_TABLE), cookie),
        Flow(LOCAL_SWITCHING, 10, f"icmp6,in_port={p},icmp_type=136",
             goto(ARP_SPOOF_TABLE), cookie),
        Flow(LOCAL_SWITCHING, 9, f"in_port={p}", goto(MAC_SPOOF_TABLE), cookie),
    ]
    v6 = {link_local(mac) for mac in port.macs}
    for address in port.ips:
        version, text = _ip_match(address)
        if version == 4:
            flows.append(Flow(ARP_SPOOF_TABLE, 2, f"arp,in_port={p},arp_spa={text}",
                              goto(MAC_SPOOF_TABLE), cookie))
        elif "/" not in text:
            v6.add(text)
    for address in sorted(v6):
        flows.append(Flow(ARP_SPOOF_TABLE, 2,
                          f"icmp6,in_port={p},icmp_type=136,nd_target={address}",
                          goto(PACKET_RATE_LIMIT), cookie))
    for mac in sorted(set(port.macs)):
        flows.append(Flow(MAC_SPOOF_TABLE, 2, f"in_port={p},dl_src={mac}",
                          goto(LOCAL_EGRESS_TABLE), cookie))
    return flows


def physical_flows(cookie: int, int_ofport: int, nets: list[PhysNet]) -> list[Flow]:
    """Traffic from a provider bridge: drop by default, translate known nets."""
    flows = [Flow(LOCAL_SWITCHING, 2, f"in_port={int_ofport}", "drop", cookie)]
    for net in nets:
        if net.network_type == "flat":
            flows.append(Flow(LOCAL_SWITCHING, 3,
                              f"in_port={int_ofport},vlan_tci=0x0000/0x1fff",
                              f"push_vlan:0x8100,{set_vlan(net.lvid)},"
                              f"{goto(PACKET_RATE_LIMIT)}", cookie))
        else:
            flows.append(Flow(LOCAL_SWITCHING, 3,
                              f"in_port={int_ofport},dl_vlan={net.segmentation_id}",
                              f"{set_vlan(net.lvid)},{goto(PACKET_RATE_LIMIT)}", cookie))
    return flows
