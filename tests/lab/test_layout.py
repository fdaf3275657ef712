import pytest

from neutrino.errors import NeutrinoError
from neutrino.lab import layout
from neutrino.lab.layout import Lab
from neutrino.lab.plug import VifNames


def test_node_names_and_tunnel_ips():
    assert layout.node_names(2) == ["controller", "compute01", "compute02"]
    assert layout.node_names(0) == ["controller"]
    assert layout.tunnel_ip("controller") == "10.168.7.10"
    assert layout.tunnel_ip("compute01") == "10.168.7.11"
    assert layout.tunnel_ip("compute12") == "10.168.7.22"
    with pytest.raises(NeutrinoError):
        layout.node_names(-1)
    with pytest.raises(NeutrinoError):
        layout.node_names(layout.MAX_COMPUTES + 1)
    with pytest.raises(NeutrinoError, match="no such lab node"):
        layout.tunnel_ip("upstream")


@pytest.mark.parametrize("bad", ["", "UPPER", "has-dash", "x" * 13, "a/b", "a b"])
def test_bad_lab_names(bad):
    with pytest.raises(NeutrinoError, match="bad lab name"):
        layout.check_lab_name(bad)


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "a b", "x" * 33, ".hidden"])
def test_bad_instance_names(bad):
    with pytest.raises(NeutrinoError, match="bad instance name"):
        layout.check_instance_name(bad)


def test_names_carry_the_lab_name():
    lab = Lab.locate("abc", "/tmp/somewhere")
    assert lab.netns("controller") == "nlab-abc-controller"
    assert lab.underlay_netns == "nlab-abc-underlay"
    assert lab.instance_netns("vm1") == "nlab-abc-vm-vm1"
    assert lab.transport_url == "redis+socket:///tmp/somewhere/redis.sock"
    assert lab.db_url == "sqlite:////tmp/somewhere/neutrino.db"
    assert lab.env_tag == "NEUTRINO_LAB_STATE=/tmp/somewhere"
    assert layout.lab_name_of_netns("nlab-abc-vm-vm1") == "abc"
    assert layout.lab_name_of_netns("qdhcp-1234") is None
    assert layout.lab_name_of_netns("nlab-BAD-x") is None


def test_default_lab_lives_in_labs_dir():
    lab = Lab.locate(None)
    assert lab.name == "default" and lab.is_default
    assert lab.state_dir.endswith("/default")
    assert Lab.locate("x1").state_dir.endswith("/x1")


def test_vif_names_follow_os_vif():
    names = VifNames.for_port("3e399bf2-3131-4f8e-9e7f-1a2b3c4d5e6f")
    assert names == VifNames("tap3e399bf2-31", "qbr3e399bf2-31", "qvb3e399bf2-31",
                             "qvo3e399bf2-31")
