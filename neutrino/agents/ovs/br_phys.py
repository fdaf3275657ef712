"""Flows of a provider bridge (``bridge_mappings``, e.g. extnet:br-ex)."""
from __future__ import annotations

from neutrino.agents.ovs.br_int import PhysNet, set_vlan
from neutrino.linux.openflow import Flow

LOCAL_SWITCHING = 0


def patch_names(bridge: str) -> tuple[str, str]:
    """(port on br-int, port on the provider bridge): int-br-ex, phy-br-ex."""
    return f"int-{bridge}"[:15], f"phy-{bridge}"[:15]


def flows(cookie: int, phy_ofport: int, nets: list[PhysNet]) -> list[Flow]:
    out = [Flow(LOCAL_SWITCHING, 0, "", "NORMAL", cookie)]
    if phy_ofport <= 0:
        return out
    out.append(Flow(LOCAL_SWITCHING, 2, f"in_port={phy_ofport}", "drop", cookie))
    for net in nets:
        match = f"in_port={phy_ofport},dl_vlan={net.lvid}"
        if net.network_type == "flat":
            out.append(Flow(LOCAL_SWITCHING, 4, match, "pop_vlan,NORMAL", cookie))
        else:
            out.append(Flow(LOCAL_SWITCHING, 4, match,
                            f"{set_vlan(net.segmentation_id)},NORMAL", cookie))
    return out
