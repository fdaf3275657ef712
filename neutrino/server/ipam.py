"""IP address management arithmetic: pools, gateways, the lowest free address.

Pure functions over ``ipaddress`` objects; the plugin feeds them the used set
of a subnet (one query) and stores the result.
"""
import ipaddress
import socket
from bisect import bisect_left

from neutrino.server import exceptions as exc

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def pool_str(pool: dict) -> str:
    return f"{pool['start']}-{pool['end']}"


def to_int(address: str) -> int:
    """Integer value of an address string, fast (IPAM converts a subnet's used set per call)."""
    if ":" in address:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, address), "big")
    return int.from_bytes(socket.inet_aton(address), "big")


def default_gateway(net: IPNetwork) -> str:
    return str(net.network_address + 1)


def usable_bounds(net: IPNetwork) -> tuple[int, int]:
    """First and last address a port may hold (IPv4 skips network and broadcast)."""
    first = int(net.network_address)
    last = int(net.broadcast_address)
    if net.version == 4:
        return first + 1, last - 1
    return first + 1, last


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict]:
    lo, hi = usable_bounds(net)
    cls = type(net.network_address)
    gw = int(ipaddress.ip_address(gateway)) if gateway else None
    ranges = [(lo, hi)]
    if gw is not None and lo <= gw <= hi:
        ranges = [(lo, gw - 1), (gw + 1, hi)]
    return [{"start": str(cls(a)), "end": str(cls(b))} for a, b in ranges if a <= b]


def validate_pools(net: IPNetwork, pools: list[dict], gateway: str | None) -> list[dict]:
    """Check pools lie in the CIDR, do not overlap and avoid the gateway; return them sorted."""
    lo, hi = usable_bounds(net)
    ranges = []
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        if start.version != net.version or end.version != net.version or start > end:
            raise exc.InvalidAllocationPool(pool=pool_str(pool))
        if int(start) < lo or int(end) > hi:
            raise exc.OutOfBoundsAllocationPool(pool=pool_str(pool), subnet_cidr=str(net))
        ranges.append((int(start), int(end), {"start": str(start), "end": str(end)}))
    ranges.sort(key=lambda r: r[0])
    for (_, a_end, a), (b_start, _, b) in zip(ranges, ranges[1:]):
        if b_start <= a_end:
            raise exc.OverlappingAllocationPools(pool_1=pool_str(a), pool_2=pool_str(b),
                                                 subnet_cidr=str(net))
    if gateway:
        gw = int(ipaddress.ip_address(gateway))
        for start, end, pool in ranges:
            if start <= gw <= end:
                raise exc.GatewayConflictWithAllocationPools(ip_address=gateway,
                                                             pool=pool_str(pool))
    return [r[2] for r in ranges]


def first_free(pools: list[dict], used: list[int], gateway: str | None) -> str | None:
    """The lowest address of the pools that is not in ``used`` (sorted) nor the gateway.

    Walks the sorted used list with bisection, so the cost grows with the
    length of the run of taken addresses at the front, not with the pool size.
    """
    gw = int(ipaddress.ip_address(gateway)) if gateway else None
    for pool in pools:
        start = ipaddress.ip_address(pool["start"])
        candidate, end = int(start), int(ipaddress.ip_address(pool["end"]))
        i = bisect_left(used, candidate)
        while candidate <= end:
            if i < len(used) and used[i] == candidate:
                candidate += 1
                i += 1
            elif candidate == gw:
                candidate += 1
            else:
                return str(type(start)(candidate))
    return None


def address_in_subnet(address: str, net: IPNetwork) -> bool:
    ip = ipaddress.ip_address(address)
    if ip.version != net.version or ip not in net:
        return False
    lo, hi = usable_bounds(net)
    return lo <= int(ip) <= hi
