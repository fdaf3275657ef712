import pytest

from neutrino.agents.ovs.vlans import LocalVlans
from neutrino.errors import NeutrinoError
from neutrino.linux.ovs import PortRow


def test_allocates_lowest_free_and_frees():
    vlans = LocalVlans()
    assert vlans.get("a") == 1 and vlans.get("b") == 2 and vlans.get("a") == 1
    vlans.keep_only({"b"})
    assert vlans.get("c") == 1


def test_restore_from_port_other_config_skips_dead_and_inconsistent():
    vlans = LocalVlans()
    vlans.restore([
        PortRow("qvo1", "br-int", tag=7, other_config={"net_uuid": "n1", "tag": "7"}),
        PortRow("qvo2", "br-int", tag=4095, other_config={"net_uuid": "n2", "tag": "4095"}),
        PortRow("qvo3", "br-int", tag=9, other_config={"net_uuid": "n3", "tag": "8"}),
        PortRow("qvo4", "br-int", tag=None, other_config={}),
    ])
    assert vlans.by_network == {"n1": 7}
    assert vlans.get("n4") == 1


def test_exhaustion_is_an_error():
    vlans = LocalVlans()
    vlans.by_network = {f"n{i}": i for i in range(1, 4095)}
    with pytest.raises(NeutrinoError):
        vlans.get("one-too-many")
