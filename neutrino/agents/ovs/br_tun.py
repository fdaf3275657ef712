"""Flows of the tunnel bridge (Neutron 2023.1+ table layout, no DVR, no l2pop)."""
from __future__ import annotations

from neutrino.agents.ovs.br_int import goto, set_vlan
from neutrino.linux.openflow import Flow

LOCAL_SWITCHING = 0
PATCH_LV_TO_TUN = 2
GRE_TUN_TO_LV = 3
VXLAN_TUN_TO_LV = 4
GENEVE_TUN_TO_LV = 6
LEARN_FROM_TUN = 10
UCAST_TO_TUN = 20
FLOOD_TO_TUN = 22
LEARN_HARD_TIMEOUT = 300

UNICAST = "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00"
MULTICAST = "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"


def learn_action(cookie: int, patch_int_ofport: int) -> str:
    """Table 10: remember which tunnel a MAC lives behind, then go to br-int."""
    return (f"learn(table={UCAST_TO_TUN},hard_timeout={LEARN_HARD_TIMEOUT},priority=1,"
            f"cookie={cookie:#x},NXM_OF_VLAN_TCI[0..11],"
            "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],"
            "load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),"
            f"output:{patch_int_ofport}")


def base_flows(cookie: int, patch_int_ofport: int) -> list[Flow]:
    flows = [
        Flow(LOCAL_SWITCHING, 0, "", "drop", cookie),
        Flow(PATCH_LV_TO_TUN, 0, UNICAST, goto(UCAST_TO_TUN), cookie),
        Flow(PATCH_LV_TO_TUN, 0, MULTICAST, goto(FLOOD_TO_TUN), cookie),
        Flow(GRE_TUN_TO_LV, 0, "", "drop", cookie),
        Flow(VXLAN_TUN_TO_LV, 0, "", "drop", cookie),
        Flow(GENEVE_TUN_TO_LV, 0, "", "drop", cookie),
        Flow(UCAST_TO_TUN, 0, "", goto(FLOOD_TO_TUN), cookie),
        Flow(FLOOD_TO_TUN, 0, "", "drop", cookie),
    ]
    if patch_int_ofport > 0:
        flows += [
            Flow(LOCAL_SWITCHING, 1, f"in_port={patch_int_ofport}",
                 goto(PATCH_LV_TO_TUN), cookie),
            Flow(LEARN_FROM_TUN, 1, "", learn_action(cookie, patch_int_ofport), cookie),
        ]
    return flows


def tunnel_port_flows(cookie: int, ofport: int) -> list[Flow]:
    return [Flow(LOCAL_SWITCHING, 1, f"in_port={ofport}", goto(VXLAN_TUN_TO_LV), cookie)]


def network_flows(cookie: int, lvid: int, vni: int, tunnel_ofports: list[int]) -> list[Flow]:
    """VNI -> lvid on the way in; lvid -> VNI flooded to every tunnel on the way out."""
    flows = [Flow(VXLAN_TUN_TO_LV, 1, f"tun_id={vni:#x}",
                  f"push_vlan:0x8100,{set_vlan(lvid)},{goto(LEARN_FROM_TUN)}", cookie)]
    if tunnel_ofports:
        outputs = ",".join(f"output:{p}" for p in sorted(tunnel_ofports))
        flows.append(Flow(FLOOD_TO_TUN, 1, f"dl_vlan={lvid}",
                          f"pop_vlan,set_field:{vni:#x}->tun_id,{outputs}", cookie))
    return flows


def tunnel_port_name(remote_ip: str, tunnel_type: str = "vxlan") -> str:
    """``vxlan-0aa80711`` for 10.168.7.17 (``get_tunnel_name``)."""
    hexip = "".join(f"{int(octet):02x}" for octet in remote_ip.split("."))
    return f"{tunnel_type}-{hexip}"


def tunnel_options(local_ip: str, remote_ip: str) -> dict:
    return {"df_default": "true", "egress_pkt_mark": "0", "in_key": "flow",
            "local_ip": local_ip, "out_key": "flow", "remote_ip": remote_ip}
