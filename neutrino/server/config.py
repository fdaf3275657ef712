"""Server options (what `neutrino server` flags set), with Neutron's defaults."""
from dataclasses import dataclass, field

from neutrino.errors import NeutrinoError


@dataclass
class ServerOptions:
    vni_ranges: list[tuple[int, int]] = field(default_factory=lambda: [(1, 1000)])
    flat_networks: list[str] = field(default_factory=lambda: ["extnet"])
    global_physnet_mtu: int = 1500
    agent_down_time: int = 75
    max_dns_nameservers: int = 5
    max_subnet_host_routes: int = 20
    base_mac: str = "fa:16:3e:00:00:00"

    def flat_allowed(self, physnet: str) -> bool:
        return "*" in self.flat_networks or physnet in self.flat_networks


VXLAN_OVERHEAD = 50
MAX_VNI = 2 ** 24 - 1


def parse_vni_ranges(text: str) -> list[tuple[int, int]]:
    """``"1:1000,2000:2100"`` -> [(1, 1000), (2000, 2100)] (Neutron's vni_ranges)."""
    ranges = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            lo, hi = (int(x) for x in part.split(":"))
        except ValueError:
            raise NeutrinoError(f"bad VNI range {part!r}: expected MIN:MAX") from None
        if not 1 <= lo <= hi <= MAX_VNI:
            raise NeutrinoError(f"bad VNI range {part!r}: need 1 <= MIN <= MAX <= {MAX_VNI}")
        ranges.append((lo, hi))
    return ranges


def parse_flat_networks(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]
