"""The L3 agent's view of the server: q-l3-plugin calls over the real plugins."""
import pytest

from neutrino.server.context import Context
from neutrino.server.l3 import L3RpcEndpoint
from neutrino.server.rpc import RpcEndpoint

ADMIN = Context.admin()
EXT = {"router:external": True, "provider:network_type": "flat",
       "provider:physical_network": "extnet"}


def agent_state(agent_type: str, host: str) -> dict:
    binary = {"L3 agent": "neutrino-l3-agent",
              "Open vSwitch agent": "neutrino-openvswitch-agent"}[agent_type]
    return {"agent_type": agent_type, "binary": binary, "host": host,
            "topic": "l3_agent" if agent_type == "L3 agent" else "N/A",
            "configurations": {}, "start_flag": True}


@pytest.fixture
def l3(service):
    return service.l3


@pytest.fixture
def rpc(l3):
    return L3RpcEndpoint(l3)


@pytest.fixture
def core_rpc(plugin):
    return RpcEndpoint(plugin)


@pytest.fixture
def topology(plugin, l3):
    """public (flat extnet) + private behind router1, a VM port with a floating IP."""
    pub = plugin.create_network(ADMIN, {"name": "public", **EXT})
    pub_sub = plugin.create_subnet(ADMIN, {
        "network_id": pub["id"], "cidr": "192.168.100.0/24", "gateway_ip": "192.168.100.1",
        "enable_dhcp": False})
    net = plugin.create_network(ADMIN, {"name": "private"})
    sub = plugin.create_subnet(ADMIN, {"network_id": net["id"], "cidr": "10.11.11.0/24"})
    router = l3.create_router(ADMIN, {"name": "router1",
                                      "external_gateway_info": {"network_id": pub["id"]}})
    info = l3.add_router_interface(ADMIN, router["id"], {"subnet_id": sub["id"]})
    vm = plugin.create_port(ADMIN, {"network_id": net["id"], "device_id": "vm1",
                                    "device_owner": "compute:nova", "name": "vm1-port"})
    fip = l3.create_floatingip(ADMIN, {"floating_network_id": pub["id"],
                                       "port_id": vm["id"]})
    return {"pub": pub, "pub_sub": pub_sub, "net": net, "sub": sub, "router": router,
            "interface": info, "vm": vm, "fip": fip}


def router_ports(plugin, router_id):
    return plugin.get_ports(ADMIN, {"device_id": [router_id]})


def test_unscheduled_router_goes_to_the_first_agent_that_syncs(rpc, core_rpc, plugin,
                                                                topology, notifier):
    router = topology["router"]
    ports = router_ports(plugin, router["id"])
    assert len(ports) == 2
    assert all(p["binding:host_id"] == "" and p["binding:vif_type"] == "unbound"
               for p in ports)
    core_rpc.report_state(agent_state=agent_state("Open vSwitch agent", "controller"))
    core_rpc.report_state(agent_state=agent_state("L3 agent", "controller"))
    notifier.clear()
    (synced,) = rpc.sync_routers(host="controller")
    assert synced["id"] == router["id"]
    ports = router_ports(plugin, router["id"])
    assert all(p["binding:host_id"] == "controller" and p["binding:vif_type"] == "ovs"
               for p in ports)
    updated = {p["port"]["id"] for p in notifier.payloads("port_update")}
    assert updated == {p["id"] for p in ports}
    assert rpc.sync_routers(host="compute1") == []
    assert [r["id"] for r in rpc.sync_routers(host="controller",
                                              router_ids=[router["id"]])] == [router["id"]]
    assert rpc.sync_routers(host="controller", router_ids=[]) == []
    assert rpc.get_router_ids(host="controller") == [router["id"]]


def test_router_dict_for_the_agent(rpc, topology):
    t = topology
    (router,) = rpc.sync_routers(host="controller", router_ids=None)
    for key in ("id", "name", "project_id", "admin_state_up", "status", "revision_number",
                "external_gateway_info", "enable_snat", "routes", "gw_port", "_interfaces",
                "_floatingips"):
        assert key in router, key
    assert router["name"] == "router1" and router["enable_snat"] is True
    assert router["routes"] == [] and router["admin_state_up"] is True
    gw = router["gw_port"]
    assert gw["device_owner"] == "network:router_gateway"
    assert gw["network_id"] == t["pub"]["id"] and gw["mtu"] == 1500
    assert gw["subnets"] == [{"id": t["pub_sub"]["id"], "cidr": "192.168.100.0/24",
                              "gateway_ip": "192.168.100.1"}]
    assert gw["fixed_ips"] == router["external_gateway_info"]["external_fixed_ips"]
    (intf,) = router["_interfaces"]
    assert intf["id"] == t["interface"]["port_id"] and intf["mtu"] == 1450
    assert intf["subnets"] == [{"id": t["sub"]["id"], "cidr": "10.11.11.0/24",
                                "gateway_ip": "10.11.11.1"}]
    assert intf["fixed_ips"] == [{"subnet_id": t["sub"]["id"], "ip_address": "10.11.11.1"}]
    assert intf["mac_address"].startswith("fa:16:3e")
    assert router["_floatingips"] == [{
        "id": t["fip"]["id"], "floating_ip_address": t["fip"]["floating_ip_address"],
        "fixed_ip_address": t["vm"]["fixed_ips"][0]["ip_address"],
        "port_id": t["vm"]["id"], "status": "DOWN"}]


def test_router_scheduled_at_creation_when_an_agent_is_alive(core_rpc, plugin, l3):
    core_rpc.report_state(agent_state=agent_state("L3 agent", "net1"))
    net = plugin.create_network(ADMIN, {"name": "n"})
    sub = plugin.create_subnet(ADMIN, {"network_id": net["id"], "cidr": "10.1.0.0/24"})
    router = l3.create_router(ADMIN, {"name": "r"})
    l3.add_router_interface(ADMIN, router["id"], {"subnet_id": sub["id"]})
    (port,) = router_ports(plugin, router["id"])
    assert port["binding:host_id"] == "net1"
    assert port["binding:vif_type"] == "binding_failed"  # no OVS agent on net1 yet
    assert l3.router_ids_on_host("net1") == [router["id"]]


def test_gateway_port_device_details(core_rpc, rpc, plugin, topology):
    (router,) = rpc.sync_routers(host="controller")
    gw_id = router["gw_port"]["id"]
    intf_id = router["_interfaces"][0]["id"]
    gw, intf = core_rpc.get_devices_details_list(devices=[gw_id, intf_id], host="controller")
    assert gw["network_type"] == "flat" and gw["physical_network"] == "extnet"
    assert gw["segmentation_id"] is None and gw["binding_vif_type"] == "ovs"
    assert gw["device_owner"] == "network:router_gateway"
    assert intf["network_type"] == "vxlan"
    assert intf["segmentation_id"] == topology["net"]["provider:segmentation_id"]
    core_rpc.update_device_list(devices_up=[gw_id, intf_id], host="controller")
    assert {p["status"] for p in router_ports(plugin, router["id"])} == {"ACTIVE"}


def test_floating_ip_statuses(rpc, l3, topology, core_rpc):
    fip, router = topology["fip"], topology["router"]
    assert rpc.update_floatingip_statuses(router_id=router["id"],
                                          fip_statuses={fip["id"]: "ACTIVE",
                                                        "missing": "ACTIVE"}) is None
    shown = l3.get_floatingip(ADMIN, fip["id"])
    assert shown["status"] == "ACTIVE"
    assert shown["revision_number"] == fip["revision_number"] + 1
    rpc.update_floatingip_statuses(router_id="another-router",
                                   fip_statuses={fip["id"]: "DOWN"})
    assert l3.get_floatingip(ADMIN, fip["id"])["status"] == "ACTIVE"
    rpc.update_floatingip_statuses(router_id=router["id"], fip_statuses={fip["id"]: "bogus"})
    assert l3.get_floatingip(ADMIN, fip["id"])["status"] == "ACTIVE"
    l3.update_floatingip(ADMIN, fip["id"], {"port_id": None})
    assert l3.get_floatingip(ADMIN, fip["id"])["status"] == "DOWN"
    rpc.update_floatingip_statuses(router_id=router["id"], fip_statuses={fip["id"]: "ACTIVE"})
    assert l3.get_floatingip(ADMIN, fip["id"])["status"] == "DOWN"
    (synced,) = rpc.sync_routers(host="controller")
    assert synced["_floatingips"] == []


def test_ports_for_metadata(rpc, plugin, topology):
    t = topology
    address = t["vm"]["fixed_ips"][0]["ip_address"]
    expected = [{"port_id": t["vm"]["id"], "device_id": "vm1", "project_id": "admin",
                 "network_id": t["net"]["id"], "name": "vm1-port"}]
    assert rpc.get_ports_for_metadata(router_id=t["router"]["id"],
                                      ip_address=address) == expected
    assert rpc.get_ports_for_metadata(network_id=t["net"]["id"],
                                      ip_address=address) == expected
    assert rpc.get_ports_for_metadata(router_id=t["router"]["id"],
                                      ip_address="10.11.11.1") == []
    assert rpc.get_ports_for_metadata(router_id="nope", ip_address=address) == []
    other = plugin.create_network(ADMIN, {"name": "other"})
    plugin.create_subnet(ADMIN, {"network_id": other["id"], "cidr": "10.11.11.0/24"})
    twin = plugin.create_port(ADMIN, {"network_id": other["id"],
                                      "fixed_ips": [{"ip_address": address}]})
    assert rpc.get_ports_for_metadata(router_id=t["router"]["id"],
                                      ip_address=address) == expected
    assert rpc.get_ports_for_metadata(network_id=other["id"], ip_address=address)[0][
        "port_id"] == twin["id"]


def test_notifications_after_commit_only(l3, topology, notifier):
    router = topology["router"]
    notifier.clear()
    with pytest.raises(Exception):
        l3.add_router_interface(ADMIN, router["id"], {"subnet_id": topology["sub"]["id"]})
    assert notifier.sent == []
    l3.update_router(ADMIN, router["id"], {"name": "renamed"})
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    notifier.clear()
    l3.delete_floatingip(ADMIN, topology["fip"]["id"])
    l3.remove_router_interface(ADMIN, router["id"], {"subnet_id": topology["sub"]["id"]})
    l3.delete_router(ADMIN, router["id"])
    assert notifier.events("l3_agent") == ["routers_updated", "routers_updated",
                                           "router_deleted"]
    assert notifier.payloads("router_deleted") == [{"router_id": router["id"]}]
    deleted = {p["port_id"] for p in notifier.payloads("port_delete")}
    assert topology["interface"]["port_id"] in deleted


def test_admin_down_router_is_synced_with_its_ports_bound(rpc, core_rpc, plugin, l3, topology):
    """The agent keeps an admin-down router disabled, so its ports still get bound."""
    router = topology["router"]
    l3.update_router(ADMIN, router["id"], {"admin_state_up": False})
    core_rpc.report_state(agent_state=agent_state("L3 agent", "controller"))
    (synced,) = rpc.sync_routers(host="controller")
    assert synced["id"] == router["id"] and synced["admin_state_up"] is False
    assert synced["_interfaces"] and synced["gw_port"]
    assert all(p["binding:host_id"] == "controller"
               for p in router_ports(plugin, router["id"]))
