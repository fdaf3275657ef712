"""Which port status changes Nova hears of, and how (neutron/notifiers/nova.py's rules)."""
import uuid
from collections import namedtuple

import pytest

from neutrino.server import nova

P = namedtuple("P", "id device_id device_owner")
SERVER = str(uuid.uuid4())
INSTANCE_PORT = P("port-1", SERVER, "compute:nova")


@pytest.mark.parametrize("old,new,name,status", [
    ("DOWN", "ACTIVE", nova.VIF_PLUGGED, "completed"),
    ("BUILD", "ACTIVE", nova.VIF_PLUGGED, "completed"),
    (None, "ACTIVE", nova.VIF_PLUGGED, "completed"),
    ("DOWN", "ERROR", nova.VIF_PLUGGED, "failed"),
    ("ACTIVE", "DOWN", nova.VIF_UNPLUGGED, "completed"),
])
def test_plugs_and_unplugs(old, new, name, status):
    assert nova.status_event(INSTANCE_PORT, old, new) == {
        "name": name, "server_uuid": SERVER, "tag": "port-1", "status": status}


@pytest.mark.parametrize("old,new", [("ACTIVE", "ERROR"), ("ERROR", "DOWN"), ("DOWN", "BUILD"),
                                     (None, "DOWN"), ("ACTIVE", "BUILD"), ("ERROR", "ACTIVE")])
def test_other_changes_are_of_no_interest(old, new):
    assert nova.status_event(INSTANCE_PORT, old, new) is None


@pytest.mark.parametrize("port", [P("p", SERVER, "network:dhcp"), P("p", SERVER, ""),
                                  P("p", "vm1", "compute:nova"), P("p", "", "compute:az1")])
def test_only_instance_ports(port):
    assert nova.status_event(port, "DOWN", "ACTIVE") is None
    assert nova.delete_event(port) is None


def test_device_id_in_any_uuid_spelling():
    port = P("p", SERVER.replace("-", "").upper(), "compute:az1")
    assert nova.status_event(port, "DOWN", "ACTIVE")["server_uuid"] == port.device_id
    assert nova.delete_event(port) == {"name": nova.VIF_DELETED, "server_uuid": port.device_id,
                                       "tag": "p", "status": "completed"}
