"""OVSDB transactions without an IDL, against a real ovsdb-server and ovs-vswitchd."""
import pytest

from neutrino.errors import NeutrinoError
from neutrino.linux import ovs_daemons, ovsdb_transact
from neutrino.linux.ovsdb_transact import NewPort


@pytest.fixture
def switch(one_switch):
    """A switch with br-int: (rundir, database socket)."""
    _, rundir = one_switch
    ovs_daemons.vsctl(rundir, "add-br", "br-int", "--", "set", "bridge", "br-int",
                      "datapath_type=netdev")
    return rundir, ovs_daemons.db_sock(rundir)


def external_ids(rundir, name):
    return ovs_daemons.vsctl(rundir, "get", "Interface", name, "external_ids").strip()


@pytest.mark.dataplane
def test_ports_added_in_one_transaction_as_ovs_vsctl_shows_them(switch):
    rundir, sock = switch
    ovsdb_transact.add_ports(sock, "br-int", [
        NewPort("qvo-a", {"iface-id": "a", "attached-mac": "fa:16:3e:00:00:0a"}),
        NewPort("qvo-b", {"iface-id": "b"})])
    assert ovs_daemons.vsctl(rundir, "list-ports", "br-int").split() == ["qvo-a", "qvo-b"]
    assert external_ids(rundir, "qvo-a") == '{attached-mac="fa:16:3e:00:00:0a", iface-id=a}'
    assert ovs_daemons.vsctl(rundir, "port-to-br", "qvo-b").strip() == "br-int"


@pytest.mark.dataplane
def test_an_existing_port_is_kept_and_gets_the_new_external_ids(switch):
    rundir, sock = switch
    ovs_daemons.vsctl(rundir, "add-port", "br-int", "qvo-c", "--", "set", "Interface", "qvo-c",
                      "external_ids:iface-id=old", "external_ids:other=kept")
    uuid_before = ovs_daemons.vsctl(rundir, "get", "Port", "qvo-c", "_uuid").strip()
    ovsdb_transact.add_ports(sock, "br-int", [NewPort("qvo-c", {"iface-id": "new"}),
                                              NewPort("qvo-d", {"iface-id": "d"})])
    assert ovs_daemons.vsctl(rundir, "list-ports", "br-int").split() == ["qvo-c", "qvo-d"]
    assert ovs_daemons.vsctl(rundir, "get", "Port", "qvo-c", "_uuid").strip() == uuid_before
    assert external_ids(rundir, "qvo-c") == "{iface-id=new, other=kept}"
    assert external_ids(rundir, "qvo-d") == "{iface-id=d}"


@pytest.mark.dataplane
def test_a_missing_bridge_is_named_and_nothing_is_written(switch):
    rundir, sock = switch
    with pytest.raises(NeutrinoError, match="no bridge named br-nope"):
        ovsdb_transact.add_ports(sock, "br-nope", [NewPort("qvo-e", {"iface-id": "e"})])
    assert "qvo-e" not in ovs_daemons.vsctl(rundir, "--columns=name", "list", "Interface")


@pytest.mark.dataplane
def test_a_refused_operation_is_reported_with_its_index(switch):
    _, sock = switch
    with pytest.raises(ovsdb_transact.TransactError) as caught:
        ovsdb_transact.transact(sock, [
            {"op": "select", "table": "Bridge", "where": [], "columns": ["name"]},
            {"op": "insert", "table": "No_Such_Table", "row": {}}])
    assert caught.value.index == 1


def test_an_absent_server_is_a_clear_error(tmp_path):
    with pytest.raises(NeutrinoError, match="cannot reach OVSDB"):
        ovsdb_transact.transact(str(tmp_path / "db.sock"), [], timeout=1)
