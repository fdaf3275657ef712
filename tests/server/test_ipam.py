import ipaddress

import pytest

from neutrino.server import exceptions as exc
from neutrino.server import ipam

NET = ipaddress.ip_network("10.0.0.0/24")


def ints(*addresses):
    return sorted(int(ipaddress.ip_address(a)) for a in addresses)


def test_default_pools():
    assert ipam.default_pools(NET, "10.0.0.1") == [{"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert ipam.default_pools(NET, None) == [{"start": "10.0.0.1", "end": "10.0.0.254"}]
    assert ipam.default_pools(NET, "10.0.0.254") == [{"start": "10.0.0.1", "end": "10.0.0.253"}]
    assert ipam.default_pools(ipaddress.ip_network("10.0.0.0/30"), "10.0.0.1") == [
        {"start": "10.0.0.2", "end": "10.0.0.2"}]


def test_first_free_skips_used_and_gateway():
    pools = [{"start": "10.0.0.1", "end": "10.0.0.10"}]
    assert ipam.first_free(pools, [], "10.0.0.1") == "10.0.0.2"
    assert ipam.first_free(pools, ints("10.0.0.2", "10.0.0.3", "10.0.0.5"), "10.0.0.1") == \
        "10.0.0.4"
    used = ints(*(f"10.0.0.{i}" for i in range(2, 11)))
    assert ipam.first_free(pools, used, "10.0.0.1") is None


def test_first_free_crosses_pools():
    pools = [{"start": "10.0.0.2", "end": "10.0.0.3"}, {"start": "10.0.0.100", "end": "10.0.0.101"}]
    assert ipam.first_free(pools, ints("10.0.0.2", "10.0.0.3"), None) == "10.0.0.100"
    assert ipam.first_free(pools, ints("10.0.0.2", "10.0.0.3", "10.0.0.100"), None) == \
        "10.0.0.101"


def test_validate_pools_sorts_and_rejects():
    pools = [{"start": "10.0.0.50", "end": "10.0.0.60"}, {"start": "10.0.0.2", "end": "10.0.0.9"}]
    assert ipam.validate_pools(NET, pools, "10.0.0.1")[0]["start"] == "10.0.0.2"
    with pytest.raises(exc.OverlappingAllocationPools):
        ipam.validate_pools(NET, pools + [{"start": "10.0.0.5", "end": "10.0.0.7"}], None)
    with pytest.raises(exc.OutOfBoundsAllocationPool):
        ipam.validate_pools(NET, [{"start": "10.0.0.2", "end": "10.0.0.255"}], None)
    with pytest.raises(exc.GatewayConflictWithAllocationPools):
        ipam.validate_pools(NET, pools, "10.0.0.55")
    with pytest.raises(exc.InvalidAllocationPool):
        ipam.validate_pools(NET, [{"start": "fd00::1", "end": "fd00::2"}], None)


def test_address_in_subnet():
    assert ipam.address_in_subnet("10.0.0.7", NET)
    assert not ipam.address_in_subnet("10.0.0.0", NET)
    assert not ipam.address_in_subnet("10.0.0.255", NET)
    assert not ipam.address_in_subnet("10.0.1.7", NET)
    assert not ipam.address_in_subnet("fd00::7", NET)
