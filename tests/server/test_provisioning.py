"""Provisioning blocks: a port turns ACTIVE when the L2 agent reported it up and
the DHCP agent serves its address, whichever comes last, exactly once."""
import datetime
import threading
import uuid

import pytest
from sqlalchemy import select, update

from neutrino.db.models import Agent, ProvisioningBlock
from neutrino.server import nova
from neutrino.server.context import Context
from neutrino.server.notify import DHCP_AGENT
from neutrino.server.rpc import RpcEndpoint

ADMIN = Context.admin()


def report(plugin, agent_type, host):
    plugin.report_state({"agent_type": agent_type, "binary": "x", "host": host,
                         "topic": "N/A", "configurations": {}, "start_flag": True})


@pytest.fixture
def rpc(plugin):
    report(plugin, "Open vSwitch agent", "c1")
    return RpcEndpoint(plugin)


@pytest.fixture
def dhcp_agent(plugin):
    report(plugin, "DHCP agent", "controller")


def make_net(plugin, enable_dhcp=True, cidr="10.12.0.0/24"):
    net = plugin.create_network(ADMIN, {"name": "private"})
    subnet = plugin.create_subnet(ADMIN, {"network_id": net["id"], "cidr": cidr,
                                          "ip_version": 4, "enable_dhcp": enable_dhcp})
    return net, subnet


@pytest.fixture
def net(plugin):
    return make_net(plugin)[0]


def new_port(plugin, net, **attrs):
    body = {"network_id": net["id"], "binding:host_id": "c1", "device_owner": "compute:nova",
            "device_id": str(uuid.uuid4()), **attrs}
    return plugin.create_port(ADMIN, body)


def blocks(plugin, port_id):
    with plugin.db.reader() as session:
        return set(session.scalars(select(ProvisioningBlock.entity)
                                   .where(ProvisioningBlock.port_id == port_id)))


def status(plugin, port):
    return plugin.get_port(ADMIN, port["id"])["status"]


def nova_events(notifier):
    return [(e, p) for t, e, p in notifier.sent if t == nova.NOVA]


def status_updates(notifier, port_id):
    return [p["port"]["status"] for t, e, p in notifier.sent
            if t == DHCP_AGENT and e == "port_update_end" and p["port"]["id"] == port_id]


def test_a_port_served_by_dhcp_is_blocked_by_dhcp_and_l2(rpc, plugin, net, dhcp_agent):
    port = new_port(plugin, net)
    assert port["status"] == "DOWN"
    assert blocks(plugin, port["id"]) == {"DHCP", "L2"}


@pytest.mark.parametrize("dhcp_first", [False, True])
def test_active_only_after_l2_up_and_dhcp_ready(rpc, plugin, net, dhcp_agent, notifier,
                                               dhcp_first):
    port = new_port(plugin, net)
    notifier.clear()
    first, second = ((lambda: rpc.dhcp_ready_on_ports(port_ids=[port["id"]]),
                      lambda: rpc.update_device_list(devices_up=[port["id"]], host="c1"))
                     if dhcp_first else
                     (lambda: rpc.update_device_list(devices_up=[port["id"]], host="c1"),
                      lambda: rpc.dhcp_ready_on_ports(port_ids=[port["id"]])))
    first()
    assert status(plugin, port) == "DOWN"
    assert blocks(plugin, port["id"]) == ({"L2"} if dhcp_first else {"DHCP"})
    assert notifier.sent == []
    second()
    after = plugin.get_port(ADMIN, port["id"])
    assert after["status"] == "ACTIVE"
    assert after["revision_number"] == port["revision_number"] + 1
    assert blocks(plugin, port["id"]) == set()
    assert status_updates(notifier, port["id"]) == ["ACTIVE"]
    assert nova_events(notifier) == [(nova.VIF_PLUGGED, {
        "name": "network-vif-plugged", "server_uuid": port["device_id"], "tag": port["id"],
        "status": "completed"})]
    notifier.clear()
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    rpc.dhcp_ready_on_ports(port_ids=[port["id"]])
    assert notifier.sent == []
    assert plugin.get_port(ADMIN, port["id"]) == after


def test_many_ports_in_one_call_each_change_once(rpc, plugin, net, dhcp_agent, notifier):
    ports = [new_port(plugin, net) for _ in range(4)]
    ids = [p["id"] for p in ports]
    rpc.dhcp_ready_on_ports(port_ids=ids[:2])
    notifier.clear()
    rpc.update_device_list(devices_up=ids, host="c1")
    assert [status(plugin, p) for p in ports] == ["ACTIVE", "ACTIVE", "DOWN", "DOWN"]
    rpc.dhcp_ready_on_ports(port_ids=ids + ids)
    assert [status(plugin, p) for p in ports] == ["ACTIVE"] * 4
    assert sorted(p["tag"] for _, p in nova_events(notifier)) == sorted(ids)
    assert sorted(p["port"]["id"] for p in notifier.payloads("port_update_end")) == sorted(ids)


def test_no_block_without_an_alive_dhcp_agent(rpc, plugin, net, notifier):
    lone = new_port(plugin, net)
    assert blocks(plugin, lone["id"]) == set()
    report(plugin, "DHCP agent", "controller")
    with plugin.db.writer() as session:
        session.execute(update(Agent).where(Agent.agent_type == "DHCP agent").values(
            heartbeat_timestamp=datetime.datetime(2000, 1, 1)))
    stale = new_port(plugin, net)
    assert blocks(plugin, stale["id"]) == set()
    rpc.update_device_list(devices_up=[lone["id"], stale["id"]], host="c1")
    assert status(plugin, lone) == status(plugin, stale) == "ACTIVE"


def test_no_block_without_a_dhcp_subnet(rpc, plugin, dhcp_agent):
    net, _ = make_net(plugin, enable_dhcp=False)
    port = new_port(plugin, net)
    assert blocks(plugin, port["id"]) == set()
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    assert status(plugin, port) == "ACTIVE"


def test_the_dhcp_port_is_not_blocked(rpc, plugin, net, dhcp_agent):
    port = plugin.create_port(ADMIN, {"network_id": net["id"], "device_owner": "network:dhcp",
                                      "binding:host_id": "c1"})
    assert blocks(plugin, port["id"]) == set()
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    assert status(plugin, port) == "ACTIVE"


def test_device_down_is_down_at_once_and_waits_for_l2_again(rpc, plugin, net, dhcp_agent,
                                                            notifier):
    port = new_port(plugin, net)
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    rpc.dhcp_ready_on_ports(port_ids=[port["id"]])
    notifier.clear()
    rpc.update_device_list(devices_down=[port["id"]], host="c1")
    assert status(plugin, port) == "DOWN"
    assert [e for e, _ in nova_events(notifier)] == [nova.VIF_UNPLUGGED]
    blocked = new_port(plugin, net)
    rpc.update_device_list(devices_up=[blocked["id"]], host="c1")
    rpc.update_device_list(devices_down=[blocked["id"]], host="c1")
    assert blocks(plugin, blocked["id"]) == {"DHCP", "L2"}
    rpc.dhcp_ready_on_ports(port_ids=[blocked["id"]])
    assert status(plugin, blocked) == "DOWN"
    rpc.update_device_list(devices_up=[blocked["id"]], host="c1")
    assert status(plugin, blocked) == "ACTIVE"


def test_new_fixed_ips_wait_for_dhcp_again(rpc, plugin, net, dhcp_agent):
    port = new_port(plugin, net)
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    rpc.dhcp_ready_on_ports(port_ids=[port["id"]])
    subnet_id = port["fixed_ips"][0]["subnet_id"]
    plugin.update_port(ADMIN, port["id"], {"fixed_ips": [{"subnet_id": subnet_id,
                                                          "ip_address": "10.12.0.77"}]})
    assert status(plugin, port) == "ACTIVE"
    assert blocks(plugin, port["id"]) == {"DHCP"}
    plugin.update_port(ADMIN, port["id"], {"name": "renamed"})
    assert blocks(plugin, port["id"]) == {"DHCP"}
    rpc.update_device_list(devices_down=[port["id"]], host="c1")
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    assert status(plugin, port) == "DOWN"
    rpc.dhcp_ready_on_ports(port_ids=[port["id"]])
    assert status(plugin, port) == "ACTIVE"


def test_a_new_host_is_down_and_waits_for_its_l2_agent(rpc, plugin, net, dhcp_agent, notifier):
    report(plugin, "Open vSwitch agent", "c2")
    port = new_port(plugin, net)
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    plugin.update_port(ADMIN, port["id"], {"mac_address": "fa:16:3e:00:00:77"})
    notifier.clear()
    plugin.update_port(ADMIN, port["id"], {"binding:host_id": "c2"})
    assert blocks(plugin, port["id"]) == {"DHCP", "L2"}
    rpc.dhcp_ready_on_ports(port_ids=[port["id"]])
    assert status(plugin, port) == "DOWN"
    rpc.update_device_list(devices_up=[port["id"]], host="c2")
    assert status(plugin, port) == "ACTIVE"
    assert [e for e, _ in nova_events(notifier)] == [nova.VIF_PLUGGED]


def test_blocks_go_with_their_port(rpc, plugin, net, dhcp_agent, notifier):
    port = new_port(plugin, net)
    notifier.clear()
    plugin.delete_port(ADMIN, port["id"])
    assert blocks(plugin, port["id"]) == set()
    assert nova_events(notifier) == [(nova.VIF_DELETED, {
        "name": "network-vif-deleted", "server_uuid": port["device_id"], "tag": port["id"],
        "status": "completed"})]
    rpc.dhcp_ready_on_ports(port_ids=[port["id"], "unknown"])
    assert rpc.update_device_list(devices_up=[port["id"]], host="c1")["devices_up"] == [
        port["id"]]


@pytest.mark.parametrize("attrs", [{"device_owner": "network:router_interface"},
                                   {"device_id": "not-a-uuid"}, {"device_id": ""}])
def test_nova_hears_of_instance_ports_only(rpc, plugin, net, notifier, attrs):
    port = new_port(plugin, net, **attrs)
    rpc.update_device_list(devices_up=[port["id"]], host="c1")
    rpc.update_device_list(devices_down=[port["id"]], host="c1")
    plugin.delete_port(ADMIN, port["id"])
    assert status_updates(notifier, port["id"]) == ["ACTIVE", "DOWN"]
    assert nova_events(notifier) == []


def test_l2_up_and_dhcp_ready_at_the_same_time(rpc, plugin, net, dhcp_agent, notifier):
    """Each call removes its own block and looks at what remains: run together,
    one must see the other's removal (PostgreSQL: row locks), never both miss it."""
    ports = [new_port(plugin, net)["id"] for _ in range(12)]
    notifier.clear()
    for port_id in ports:
        start = threading.Barrier(2)
        calls = [lambda: rpc.update_device_list(devices_up=[port_id], host="c1"),
                 lambda: rpc.dhcp_ready_on_ports(port_ids=[port_id])]
        threads = [threading.Thread(target=lambda c=c: (start.wait(), c())) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [p["status"] for p in plugin.get_ports(ADMIN, {"id": ports})] == ["ACTIVE"] * 12
    assert sorted(p["tag"] for _, p in nova_events(notifier)) == sorted(ports)
