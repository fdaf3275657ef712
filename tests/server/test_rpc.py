"""The agents' view of the server: the RPC endpoint over the real plugin."""
import pytest

from neutrino.server.context import Context
from neutrino.server.rpc import RpcEndpoint

ADMIN = Context.admin()


@pytest.fixture
def rpc(plugin):
    return RpcEndpoint(plugin)


@pytest.fixture
def net(plugin):
    net = plugin.create_network(ADMIN, {"name": "private"})
    sub = plugin.create_subnet(ADMIN, {"network_id": net["id"], "cidr": "10.11.11.0/24",
                                       "ip_version": 4})
    return net, sub


def ovs_state(host, start=True):
    return {"agent_type": "Open vSwitch agent", "binary": "neutrino-openvswitch-agent",
            "host": host, "topic": "N/A", "configurations": {"tunnel_types": ["vxlan"]},
            "start_flag": start}


def test_report_state(rpc, plugin):
    assert rpc.report_state(agent_state=ovs_state("c1"), time="2026-01-01T00:00:00") == "alive"
    assert rpc.report_state(agent_state=ovs_state("c1", start=False)) == "alive"
    (agent,) = plugin.get_agents(ADMIN)
    assert agent["host"] == "c1" and agent["alive"]


def test_device_details_bind_and_status(rpc, plugin, net, notifier):
    network, sub = net
    port = plugin.create_port(ADMIN, {"network_id": network["id"], "binding:host_id": "c1"})
    assert port["binding:vif_type"] == "binding_failed"
    (details, missing) = rpc.get_devices_details_list(
        devices=[port["id"], "nope"], agent_id="ovs-c1", host="c1")
    assert missing == {"device": "nope", "no_such_port": True}
    assert details["device"] == details["port_id"] == port["id"]
    assert details["binding_vif_type"] == "ovs"
    assert details["network_type"] == "vxlan"
    assert details["segmentation_id"] == network["provider:segmentation_id"]
    assert details["mtu"] == 1450 and details["physical_network"] is None
    assert details["fixed_ips"] == port["fixed_ips"]
    assert details["mac_address"] == port["mac_address"]
    assert details["revision_number"] > port["revision_number"]
    for key in ("admin_state_up", "device_owner", "device_id", "port_security_enabled",
                "security_groups", "allowed_address_pairs"):
        assert key in details
    assert plugin.get_port(ADMIN, port["id"])["binding:vif_type"] == "ovs"

    result = rpc.update_device_list(devices_up=[port["id"]], devices_down=[], agent_id="a",
                                    host="c1")
    assert result == {"devices_up": [port["id"]], "devices_down": [],
                      "failed_devices_up": [], "failed_devices_down": []}
    assert plugin.get_port(ADMIN, port["id"])["status"] == "ACTIVE"
    result = rpc.update_device_list(devices_up=[port["id"]], devices_down=[], host="c2")
    assert result["failed_devices_up"] == [port["id"]]
    rpc.update_device_list(devices_up=[], devices_down=[port["id"]], host="c1")
    assert plugin.get_port(ADMIN, port["id"])["status"] == "DOWN"


def test_port_for_other_host_is_not_bound(rpc, plugin, net):
    network, _ = net
    port = plugin.create_port(ADMIN, {"network_id": network["id"], "binding:host_id": "c2"})
    (details,) = rpc.get_devices_details_list(devices=[port["id"]], host="c1")
    assert details["binding_vif_type"] == "binding_failed"
    assert plugin.get_port(ADMIN, port["id"])["binding:host_id"] == "c2"


def test_tunnel_sync(rpc, notifier):
    assert rpc.tunnel_sync(tunnel_ip="10.0.0.1", tunnel_type="vxlan", host="c1") == {
        "tunnels": [{"ip_address": "10.0.0.1", "host": "c1"}]}
    got = rpc.tunnel_sync(tunnel_ip="10.0.0.2", tunnel_type="vxlan", host="c2")
    assert sorted(t["host"] for t in got["tunnels"]) == ["c1", "c2"]
    got = rpc.tunnel_sync(tunnel_ip="10.0.0.9", tunnel_type="vxlan", host="c1")
    assert {t["host"]: t["ip_address"] for t in got["tunnels"]} == {"c1": "10.0.0.9",
                                                                     "c2": "10.0.0.2"}
    assert notifier.payloads("tunnel_update")[-1] == {"tunnel_ip": "10.0.0.9",
                                                      "tunnel_type": "vxlan", "host": "c1"}


def test_dhcp_agent_calls(rpc, plugin, net, notifier):
    network, sub = net
    plugin.create_network(ADMIN, {"name": "no-subnets"})
    (info,) = rpc.get_active_networks_info(host="controller")
    assert info["id"] == network["id"] and info["mtu"] == 1450
    assert info["provider:network_type"] == "vxlan"
    assert info["subnets"][0]["cidr"] == "10.11.11.0/24"
    assert info["subnets"][0]["enable_dhcp"] is True
    (dhcp_port,) = info["ports"]
    assert dhcp_port["device_owner"] == "network:dhcp"
    assert dhcp_port["fixed_ips"][0]["ip_address"] == "10.11.11.2"
    assert rpc.get_network_info(network_id=network["id"], host="controller") == info
    assert rpc.get_network_info(network_id="gone", host="controller") is None

    rpc.report_state(agent_state=ovs_state("controller"))
    claimed = rpc.update_dhcp_port(port_id=dhcp_port["id"], port={
        "device_id": "dhcpxxx-" + network["id"], "binding:host_id": "controller"})
    assert claimed["device_id"].startswith("dhcpxxx-")
    assert claimed["binding:host_id"] == "controller"
    assert claimed["binding:vif_type"] == "ovs"
    assert claimed["fixed_ips"] == dhcp_port["fixed_ips"]
    assert rpc.get_ports_on_host(host="controller") == [dhcp_port["id"]]
    assert rpc.dhcp_ready_on_ports(port_ids=[dhcp_port["id"]]) is None


def test_notification_payloads_match_design(plugin, net, notifier):
    network, sub = net
    port = plugin.create_port(ADMIN, {"network_id": network["id"]})
    plugin.update_port(ADMIN, port["id"], {"name": "x"})
    plugin.delete_port(ADMIN, port["id"])
    plugin.update_network(ADMIN, network["id"], {"name": "y"})
    topics = {(t, e) for t, e, _ in notifier.sent}
    assert {("q-agent-notifier-port-update", "port_update"),
            ("q-agent-notifier-port-delete", "port_delete"),
            ("q-agent-notifier-network-update", "network_update"),
            ("dhcp_agent", "port_create_end"), ("dhcp_agent", "port_update_end"),
            ("dhcp_agent", "port_delete_end"), ("dhcp_agent", "subnet_create_end"),
            ("dhcp_agent", "network_update_end")} <= topics
    for topic, event, payload in notifier.sent:
        if topic == "dhcp_agent":
            assert payload["network_id"] == network["id"]
        for key in ("port", "network", "subnet"):
            if key in payload:
                assert "id" in payload[key] and "revision_number" in payload[key]
    update = notifier.payloads("port_update")[-1]["port"]
    assert update["name"] == "x" and update["revision_number"] == 1


def test_failed_write_sends_nothing(plugin, net, notifier):
    network, _ = net
    notifier.clear()
    with pytest.raises(Exception):
        plugin.create_port(ADMIN, {"network_id": network["id"],
                                   "fixed_ips": [{"ip_address": "10.11.11.2"}]})
    assert notifier.sent == []


def test_endpoint_over_messaging(plugin, net):
    """The endpoint served as the server serves it: agents' calls over memory://."""
    rpc_mod = pytest.importorskip("neutrino.rpc")
    network, _ = net
    url = "memory://"
    port = plugin.create_port(ADMIN, {"network_id": network["id"], "binding:host_id": "c9"})
    server = rpc_mod.RpcServer(url, "q-plugin", RpcEndpoint(plugin), workers=4).start()
    try:
        client = rpc_mod.RpcClient(url, "q-plugin", timeout=30)
        (details,) = client.call("get_devices_details_list", devices=[port["id"]],
                                 agent_id="ovs-c9", host="c9")
        assert details["binding_vif_type"] == "ovs"
        got = client.call("update_device_list", devices_up=[port["id"]], devices_down=[],
                          agent_id="ovs-c9", host="c9")
        assert got["devices_up"] == [port["id"]]
        with pytest.raises(rpc_mod.RemoteError):
            client.call("tunnel_sync", tunnel_ip="10.0.0.1", tunnel_type="gre", host="c9")
    finally:
        server.stop()
    assert plugin.get_port(ADMIN, port["id"])["status"] == "ACTIVE"
