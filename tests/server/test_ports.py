"""Ports as the agents see them: device details, status reports, notification payloads."""
import pytest

from neutrino.server.context import Context
from neutrino.server.notify import DHCP_AGENT, PORT_UPDATE
from neutrino.server.rpc import RpcEndpoint

ADMIN = Context.admin()


@pytest.fixture
def rpc(plugin):
    plugin.report_state({"agent_type": "Open vSwitch agent", "binary": "x", "host": "c1",
                         "topic": "N/A", "configurations": {}, "start_flag": True})
    return RpcEndpoint(plugin)


@pytest.fixture
def net(plugin):
    net = plugin.create_network(ADMIN, {"name": "private"})
    plugin.create_subnet(ADMIN, {"network_id": net["id"], "cidr": "10.12.0.0/24",
                                 "ip_version": 4})
    return net


def new_port(plugin, net, **attrs):
    return plugin.create_port(ADMIN, {"network_id": net["id"], "binding:host_id": "c1",
                                      "device_owner": "compute:nova", **attrs})


def test_details_of_bound_ports_keep_their_revision(rpc, plugin, net):
    a, b = new_port(plugin, net), new_port(plugin, net, allowed_address_pairs=[
        {"ip_address": "10.9.0.0/24"}])
    assert a["binding:vif_type"] == "ovs"
    got = rpc.get_devices_details_list(devices=[b["id"], "gone", a["id"], b["id"]], host="c1")
    assert [d["device"] for d in got] == [b["id"], "gone", a["id"], b["id"]]
    assert got[1] == {"device": "gone", "no_such_port": True}
    assert got[0] == got[3]
    assert got[0]["revision_number"] == b["revision_number"]
    assert got[0]["allowed_address_pairs"] == b["allowed_address_pairs"]
    assert got[2]["fixed_ips"] == a["fixed_ips"]
    assert got[2]["security_groups"] == a["security_groups"] != []
    assert plugin.get_port(ADMIN, a["id"]) == a


def test_details_bind_a_network_port_once(rpc, plugin, net):
    dhcp = plugin.create_port(ADMIN, {"network_id": net["id"], "device_owner": "network:dhcp"})
    assert dhcp["binding:vif_type"] == "unbound"
    (first,) = rpc.get_devices_details_list(devices=[dhcp["id"]], host="c1")
    (second,) = rpc.get_devices_details_list(devices=[dhcp["id"]], host="c1")
    assert first["binding_vif_type"] == "ovs"
    assert first["revision_number"] == second["revision_number"] == dhcp["revision_number"] + 1
    assert plugin.get_port(ADMIN, dhcp["id"])["binding:host_id"] == "c1"


def test_status_reports_in_one_call(rpc, plugin, net, notifier):
    a, b, other = new_port(plugin, net), new_port(plugin, net), new_port(plugin, net)
    plugin.update_port(ADMIN, other["id"], {"binding:host_id": "c2"})
    notifier.clear()
    result = rpc.update_device_list(devices_up=[a["id"], a["id"], other["id"], "gone"],
                                    devices_down=[b["id"], a["id"]], host="c1")
    assert result == {"devices_up": [a["id"], a["id"], "gone"],
                      "devices_down": [b["id"], a["id"]],
                      "failed_devices_up": [other["id"]], "failed_devices_down": []}
    after = {p["id"]: p for p in plugin.get_ports(ADMIN, {"id": [a["id"], b["id"]]})}
    assert after[a["id"]]["status"] == "DOWN"
    assert after[a["id"]]["revision_number"] == a["revision_number"] + 2
    assert after[b["id"]]["status"] == "DOWN"
    assert after[b["id"]]["revision_number"] == b["revision_number"]
    sent = notifier.payloads("port_update_end")
    assert [p["port"]["id"] for p in sent] == [a["id"], a["id"]]
    assert sent[0]["port"] == after[a["id"]]


def test_update_sends_one_port_dict_to_agents_and_dhcp(plugin, net, notifier):
    port = new_port(plugin, net)
    notifier.clear()
    updated = plugin.update_port(ADMIN, port["id"], {"name": "renamed"})
    (agent,) = [p for t, e, p in notifier.sent if t == PORT_UPDATE]
    (dhcp,) = [p for t, e, p in notifier.sent if t == DHCP_AGENT]
    assert agent["port"] == dhcp["port"] == updated == plugin.get_port(ADMIN, port["id"])
    assert updated["name"] == "renamed"


def test_a_list_leaves_out_ports_made_while_it_reads(plugin, net, monkeypatch):
    from neutrino.server import ports as ports_module
    before = new_port(plugin, net)
    made = []
    real = ports_module.port_records

    class MakesAPortAfterTheFirstQuery:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, *args, **kwargs):
            rows = self.conn.execute(*args, **kwargs).all()
            if not made:
                made.append(new_port(plugin, net))
            return rows

    monkeypatch.setattr(ports_module, "port_records",
                        lambda conn, query, ids=None: real(MakesAPortAfterTheFirstQuery(conn),
                                                           query, ids))
    listed = {p["id"]: p for p in plugin.get_ports(ADMIN, {"network_id": [net["id"]]})}
    assert made and made[0]["id"] not in listed
    assert listed[before["id"]]["fixed_ips"] == before["fixed_ips"]
