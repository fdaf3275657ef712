"""Local VLAN ids (lvid) per network on this host, as Neutron's VLAN manager.

Numbers 1..4094, allocated on the first port of a network and freed when its
last port leaves. A restarted agent rebuilds the map from Port other_config
(``net_uuid`` + ``tag``) so working ports keep their tag.
"""
from __future__ import annotations

from neutrino.agents.ovs.state import DEAD_VLAN_TAG
from neutrino.errors import NeutrinoError

MIN_VLAN = 1
MAX_VLAN = 4094


class LocalVlans:
    def __init__(self) -> None:
        self.by_network: dict[str, int] = {}

    def restore(self, ports) -> None:
        """Adopt the tags that bound ports carry (``ovs.PortRow`` list)."""
        for port in ports:
            net = port.other_config.get("net_uuid")
            tag = port.tag
            if not net or tag is None or tag == DEAD_VLAN_TAG:
                continue
            if str(tag) != port.other_config.get("tag", str(tag)):
                continue
            if net not in self.by_network and tag not in self.by_network.values():
                self.by_network[net] = tag

    def get(self, network_id: str) -> int:
        lvid = self.by_network.get(network_id)
        if lvid is None:
            used = set(self.by_network.values())
            for candidate in range(MIN_VLAN, MAX_VLAN + 1):
                if candidate not in used:
                    lvid = candidate
                    break
            else:
                raise NeutrinoError("no free local VLAN on this host")
            self.by_network[network_id] = lvid
        return lvid

    def keep_only(self, network_ids) -> None:
        """Free the lvids of networks that no longer have ports here."""
        wanted = set(network_ids)
        for net in list(self.by_network):
            if net not in wanted:
                del self.by_network[net]
