"""The DHCP agent's network cache: port events applied, stale ones refused."""
import pytest

from neutrino.agents.dhcp.network_cache import NetworkCache, Outcome, PortEvent

NET = "net-1"


def port(port_id, rev, ip="10.0.0.5", network_id=NET, **extra):
    return {"id": port_id, "network_id": network_id, "revision_number": rev,
            "mac_address": "fa:16:3e:00:00:05", "device_owner": "compute:nova",
            "fixed_ips": [{"subnet_id": "sub-1", "ip_address": ip}], **extra}


def network(*ports, mtu=1450):
    return {"id": NET, "admin_state_up": True, "mtu": mtu, "revision_number": 1,
            "subnets": [{"id": "sub-1", "cidr": "10.0.0.0/24", "enable_dhcp": True}],
            "ports": list(ports)}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def cache():
    c = NetworkCache()
    c.put(network(port("dhcp", 1, ip="10.0.0.2", device_owner="network:dhcp")))
    return c


def ips(cache):
    return {p["id"]: p["fixed_ips"][0]["ip_address"] for p in cache.get(NET)["ports"]}


def test_get_gives_the_network_as_put():
    cache = NetworkCache()
    assert cache.get(NET) is None and NET not in cache
    net = network(port("a", 0), port("b", 3, ip="10.0.0.6"), mtu=1400)
    cache.put(net)
    assert NET in cache and cache.network_ids() == {NET}
    assert cache.get(NET) == net
    cache.remove(NET)
    assert cache.get(NET) is None


def test_create_update_delete_change_the_ports(cache):
    assert cache.apply(PortEvent("port_create_end", NET, port("vm", 0))) is Outcome.CHANGED
    assert ips(cache) == {"dhcp": "10.0.0.2", "vm": "10.0.0.5"}
    moved = port("vm", 1, ip="10.0.0.9")
    assert cache.apply(PortEvent("port_update_end", NET, moved)) is Outcome.CHANGED
    assert ips(cache)["vm"] == "10.0.0.9"
    assert cache.apply(PortEvent("port_delete_end", NET, moved)) is Outcome.CHANGED
    assert ips(cache) == {"dhcp": "10.0.0.2"}


def test_older_revision_is_ignored(cache):
    cache.apply(PortEvent("port_update_end", NET, port("vm", 4, ip="10.0.0.4")))
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 3, ip="10.0.0.3"))) \
        is Outcome.UNCHANGED
    assert cache.apply(PortEvent("port_create_end", NET, port("vm", 0, ip="10.0.0.3"))) \
        is Outcome.UNCHANGED
    assert ips(cache)["vm"] == "10.0.0.4"


def test_same_port_again_is_unchanged(cache):
    cache.apply(PortEvent("port_create_end", NET, port("vm", 2)))
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 2))) is Outcome.UNCHANGED
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 2, status="ACTIVE"))) \
        is Outcome.CHANGED


def test_late_update_of_a_deleted_port_stays_deleted(cache):
    cache.apply(PortEvent("port_create_end", NET, port("vm", 0)))
    assert cache.apply(PortEvent("port_delete_end", NET, port("vm", 2))) is Outcome.CHANGED
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 1))) is Outcome.UNCHANGED
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 2))) is Outcome.UNCHANGED
    assert "vm" not in ips(cache)


def test_delete_of_an_unknown_port_is_remembered(cache):
    assert cache.apply(PortEvent("port_delete_end", NET, port("vm", 3))) is Outcome.UNCHANGED
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 2))) is Outcome.UNCHANGED
    assert "vm" not in ips(cache)


def test_a_deleted_id_seen_again_asks_the_server(cache):
    """A create of a deleted id (a port made again with a given id) or a newer
    update cannot be a late event: only the server can tell."""
    cache.apply(PortEvent("port_delete_end", NET, port("vm", 2)))
    assert cache.apply(PortEvent("port_create_end", NET, port("vm", 0))) is Outcome.REFETCH
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 3))) is Outcome.REFETCH
    cache.put(network(port("vm", 0)))       # the server has it again
    assert cache.apply(PortEvent("port_update_end", NET, port("vm", 1, ip="10.0.0.7"))) \
        is Outcome.CHANGED
    assert ips(cache) == {"vm": "10.0.0.7"}


def test_deleted_ports_are_forgotten_after_a_while():
    clock = Clock()
    cache = NetworkCache(deleted_max_age=60, clock=clock)
    cache.put(network())
    cache.apply(PortEvent("port_delete_end", NET, port("old", 5)))
    clock.now += 30
    cache.apply(PortEvent("port_delete_end", NET, port("young", 5)))
    clock.now += 31
    cache.apply(PortEvent("port_delete_end", NET, port("other", 1)))   # purges "old"
    assert cache.apply(PortEvent("port_update_end", NET, port("young", 4))) is Outcome.UNCHANGED
    assert cache.apply(PortEvent("port_update_end", NET, port("old", 4))) is Outcome.CHANGED


@pytest.mark.parametrize("event", [
    PortEvent("port_create_end", "other-net", port("vm", 0, network_id="other-net")),
    PortEvent("port_create_end", NET, None),
    PortEvent("port_create_end", NET, {"network_id": NET, "revision_number": 0}),
    PortEvent("port_create_end", NET, port("vm", 0, network_id="other-net")),
    PortEvent("port_update_end", NET, {k: v for k, v in port("vm", 0).items()
                                       if k != "revision_number"}),
    PortEvent("port_delete_end", NET, port("vm", "3")),
    PortEvent("subnet_update_end", NET, port("vm", 0)),
], ids=["network-not-cached", "no-port", "no-id", "other-network", "no-revision",
        "bad-revision", "not-a-port-event"])
def test_what_cannot_be_applied_is_refetched(cache, event):
    before = cache.get(NET)
    assert cache.apply(event) is Outcome.REFETCH
    assert cache.get(NET) == before


def test_fetch_keeps_a_newer_cached_port(cache):
    cache.apply(PortEvent("port_update_end", NET, port("vm", 5, ip="10.0.0.50")))
    cache.put(network(port("vm", 4, ip="10.0.0.40"), port("new", 0, ip="10.0.0.60")))
    assert ips(cache) == {"vm": "10.0.0.50", "new": "10.0.0.60"}
    cache.put(network(port("vm", 6, ip="10.0.0.66")))
    assert ips(cache) == {"vm": "10.0.0.66"}


def test_fetch_replaces_the_network_attributes(cache):
    cache.put(network(mtu=1300))
    assert cache.get(NET)["mtu"] == 1300 and cache.get(NET)["ports"] == []


def test_put_port_keeps_the_newest(cache):
    cache.put_port(NET, port("dhcp", 2, ip="10.0.0.3", device_owner="network:dhcp"))
    assert ips(cache) == {"dhcp": "10.0.0.3"}
    cache.put_port(NET, port("dhcp", 1, ip="10.0.0.2", device_owner="network:dhcp"))
    assert ips(cache) == {"dhcp": "10.0.0.3"}
    cache.put_port("unknown-net", port("x", 0))
    assert "unknown-net" not in cache


def test_retain_forgets_the_other_networks(cache):
    cache.put({**network(), "id": "net-2"})
    cache.retain({"net-2"})
    assert cache.network_ids() == {"net-2"}
    cache.retain(set())
    assert cache.network_ids() == set()
