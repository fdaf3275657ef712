import re

import pytest

MAC_RE = re.compile(r"^fa:16:3e(:[0-9a-f]{2}){3}$")


@pytest.fixture
def net(api):
    return api.create("network", name="private")


@pytest.fixture
def sub(api, net):
    return api.create("subnet", network_id=net["id"], cidr="10.11.11.0/24", ip_version=4)


def test_port_defaults(api, net, sub, notifier):
    port = api.create("port", network_id=net["id"], name="port1")
    assert MAC_RE.match(port["mac_address"])
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.11.11.3"}]
    assert port["status"] == "DOWN"
    assert port["admin_state_up"] is True
    assert port["device_id"] == "" and port["device_owner"] == ""
    (default,) = api.get("/v2.0/security-groups?name=default").json()["security_groups"]
    assert port["security_groups"] == [default["id"]]
    assert port["allowed_address_pairs"] == [] and port["extra_dhcp_opts"] == []
    assert port["port_security_enabled"] is True
    assert port["binding:host_id"] == ""
    assert port["binding:vif_type"] == "unbound"
    assert port["binding:vif_details"] == {}
    assert port["binding:profile"] == {}
    assert port["binding:vnic_type"] == "normal"
    assert port["tags"] == [] and port["revision_number"] == 0
    created = [p["port"]["id"] for p in notifier.payloads("port_create_end")]
    assert port["id"] in created


def test_fixed_ip_by_address_and_by_subnet(api, net, sub):
    port = api.create("port", network_id=net["id"],
                      fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.11.11.50"}])
    assert port["fixed_ips"][0]["ip_address"] == "10.11.11.50"
    port = api.create("port", network_id=net["id"], fixed_ips=[{"ip_address": "10.11.11.51"}])
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.11.11.51"}]
    port = api.create("port", network_id=net["id"], fixed_ips=[{"subnet_id": sub["id"]}])
    assert port["fixed_ips"][0]["ip_address"] == "10.11.11.3"


@pytest.mark.parametrize("fixed_ips,code,error_type", [
    ([{"ip_address": "10.11.11.2"}], 409, "IpAddressInUse"),
    ([{"ip_address": "10.11.11.1"}], 409, "IpAddressInUse"),
    ([{"ip_address": "10.99.0.5"}], 400, "InvalidIpForNetwork"),
    ([{"ip_address": "10.11.11.255"}], 400, "InvalidIpForNetwork"),
    ([{"ip_address": "10.11.11.400"}], 400, "HTTPBadRequest"),
    ([{"subnet_id": "not-a-uuid"}], 400, "HTTPBadRequest"),
    ([{"subnet_id": "00000000-0000-0000-0000-000000000000"}], 400, "InvalidInput"),
    ([{"ip_address": "10.11.11.9"}, {"ip_address": "10.11.11.9"}], 409, "IpAddressInUse"),
])
def test_bad_fixed_ips(api, net, sub, fixed_ips, code, error_type):
    before = api.get("/v2.0/ports").json()["ports"]
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": fixed_ips}})
    assert r.status_code == code, r.text
    assert r.json()["NeutronError"]["type"] == error_type
    assert api.get("/v2.0/ports").json()["ports"] == before


def test_ip_for_wrong_subnet(api, net, sub):
    other = api.create("subnet", network_id=net["id"], cidr="10.12.0.0/24", ip_version=4)
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": other["id"], "ip_address": "10.11.11.40"}]}})
    assert r.status_code == 400
    assert r.json()["NeutronError"]["type"] == "InvalidIpForSubnet"


def test_router_interface_may_take_gateway(api, net, sub):
    port = api.create("port", network_id=net["id"], device_owner="network:router_interface",
                      fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.11.11.1"}])
    assert port["fixed_ips"][0]["ip_address"] == "10.11.11.1"


def test_mac_address(api, net, sub):
    port = api.create("port", network_id=net["id"], mac_address="FA:16:3E:00:00:01")
    assert port["mac_address"] == "fa:16:3e:00:00:01"
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                          "mac_address": "fa:16:3e:00:00:01"}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "MacAddressInUse"
    for bad in ("zz:16:3e:00:00:01", "01:00:5e:00:00:01", "fa:16:3e"):
        r = api.post("/v2.0/ports", {"port": {"network_id": net["id"], "mac_address": bad}})
        assert r.status_code == 400, bad
        assert "mac_address" in r.json()["NeutronError"]["message"]


def test_port_on_network_without_subnet(api, net):
    port = api.create("port", network_id=net["id"])
    assert port["fixed_ips"] == []


def test_port_on_unknown_network(api):
    r = api.post("/v2.0/ports", {"port": {"network_id": "00000000-0000-0000-0000-000000000001"}})
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "NetworkNotFound"
    r = api.post("/v2.0/ports", {"port": {"network_id": "nope"}})
    assert r.status_code == 400
    r = api.post("/v2.0/ports", {"port": {}})
    assert r.status_code == 400 and "network_id" in r.json()["NeutronError"]["message"]


def test_pool_exhaustion(api, net):
    api.create("subnet", network_id=net["id"], cidr="10.0.0.0/29", ip_version=4,
               enable_dhcp=False)
    addresses = [api.create("port", network_id=net["id"])["fixed_ips"][0]["ip_address"]
                 for _ in range(5)]
    assert addresses == [f"10.0.0.{i}" for i in range(2, 7)]
    r = api.post("/v2.0/ports", {"port": {"network_id": net["id"]}})
    assert r.status_code == 409
    assert r.json()["NeutronError"]["type"] == "IpAddressGenerationFailure"


def test_update_port_fixed_ips_and_attrs(api, net, sub, notifier):
    port = api.create("port", network_id=net["id"])
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "name": "p", "fixed_ips": [{"ip_address": "10.11.11.3"}, {"ip_address": "10.11.11.77"}],
        "allowed_address_pairs": [{"ip_address": "10.11.11.200"}],
        "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": "1400"}],
        "binding:profile": {"a": 1}, "device_id": "vm1", "device_owner": "compute:nova"}})
    assert r.status_code == 200, r.text
    got = r.json()["port"]
    assert [i["ip_address"] for i in got["fixed_ips"]] == ["10.11.11.3", "10.11.11.77"]
    assert got["allowed_address_pairs"] == [{"ip_address": "10.11.11.200",
                                             "mac_address": port["mac_address"]}]
    assert got["extra_dhcp_opts"] == [{"opt_name": "mtu", "opt_value": "1400", "ip_version": 4}]
    assert got["revision_number"] == 1
    assert notifier.payloads("port_update")[-1]["port"]["id"] == port["id"]
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"fixed_ips": [
        {"ip_address": "10.11.11.77"}]}})
    assert [i["ip_address"] for i in r.json()["port"]["fixed_ips"]] == ["10.11.11.77"]
    other = api.create("port", network_id=net["id"])
    assert other["fixed_ips"][0]["ip_address"] == "10.11.11.3"
    for read_only in ({"status": "ACTIVE"}, {"network_id": net["id"]},
                      {"binding:vif_type": "ovs"}):
        r = api.put(f"/v2.0/ports/{port['id']}", {"port": read_only})
        assert r.status_code == 400


def test_port_security_conflicts(api, net, sub):
    r = api.post("/v2.0/ports", {"port": {
        "network_id": net["id"], "port_security_enabled": False,
        "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}})
    assert r.status_code == 409
    port = api.create("port", network_id=net["id"], port_security_enabled=False)
    assert port["port_security_enabled"] is False
    nosec = api.create("network", port_security_enabled=False)
    assert api.create("port", network_id=nosec["id"])["port_security_enabled"] is False


def test_delete_port(api, net, sub, notifier):
    port = api.create("port", network_id=net["id"])
    assert api.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert api.get(f"/v2.0/ports/{port['id']}").status_code == 404
    assert {"port_id": port["id"], "network_id": net["id"]} in notifier.payloads("port_delete")
    assert api.create("port", network_id=net["id"])["fixed_ips"][0]["ip_address"] == "10.11.11.3"


def test_binding_host(api, net, sub, plugin):
    port = api.create("port", network_id=net["id"], **{"binding:host_id": "compute1"})
    assert port["binding:vif_type"] == "binding_failed"
    plugin.report_state({"agent_type": "Open vSwitch agent", "binary": "neutrino-ovs-agent",
                         "host": "compute1", "topic": "N/A", "configurations": {},
                         "start_flag": True})
    port = api.create("port", network_id=net["id"], **{"binding:host_id": "compute1"})
    assert port["binding:vif_type"] == "ovs"
    assert port["binding:vif_details"] == {
        "port_filter": True, "connectivity": "l2", "ovs_hybrid_plug": True,
        "datapath_type": "netdev", "bridge_name": "br-int"}
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {"binding:host_id": ""}})
    assert r.json()["port"]["binding:vif_type"] == "unbound"


def test_null_clears_lists_and_binding(api, net, sub):
    port = api.create("port", network_id=net["id"], **{
        "binding:host_id": "h", "binding:profile": {"x": 1},
        "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": "1400"}]})
    r = api.put(f"/v2.0/ports/{port['id']}", {"port": {
        "binding:host_id": None, "binding:profile": None, "extra_dhcp_opts": None}})
    assert r.status_code == 200, r.text
    got = r.json()["port"]
    assert got["binding:host_id"] == "" and got["binding:profile"] == {}
    assert got["extra_dhcp_opts"] == [] and got["binding:vif_type"] == "unbound"
