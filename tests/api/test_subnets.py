import pytest


@pytest.fixture
def net(api):
    return api.create("network", name="private")


def test_subnet_defaults_and_dhcp_port(api, net, notifier):
    sub = api.create("subnet", name="s", network_id=net["id"], cidr="10.11.11.0/24",
                     ip_version=4)
    assert sub["gateway_ip"] == "10.11.11.1"
    assert sub["allocation_pools"] == [{"start": "10.11.11.2", "end": "10.11.11.254"}]
    assert sub["enable_dhcp"] is True
    assert sub["dns_nameservers"] == [] and sub["host_routes"] == []
    assert sub["ipv6_ra_mode"] is None and sub["ipv6_address_mode"] is None
    assert sub["project_id"] == "admin" and sub["tags"] == []
    ports = api.get("/v2.0/ports").json()["ports"]
    assert len(ports) == 1
    dhcp = ports[0]
    assert dhcp["device_owner"] == "network:dhcp"
    assert dhcp["device_id"] == "reserved_dhcp_port"
    assert dhcp["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.11.11.2"}]
    shown = api.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert shown["subnets"] == [sub["id"]]
    assert shown["revision_number"] == 1
    assert "subnet_create_end" in notifier.events("dhcp_agent")


def test_second_dhcp_subnet_adds_address_and_removal(api, net):
    a = api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    b = api.create("subnet", network_id=net["id"], cidr="10.0.1.0/24", ip_version=4)
    (dhcp,) = api.get("/v2.0/ports?device_owner=network:dhcp").json()["ports"]
    assert [ip["ip_address"] for ip in dhcp["fixed_ips"]] == ["10.0.0.2", "10.0.1.2"]
    r = api.put(f"/v2.0/subnets/{a['id']}", {"subnet": {"enable_dhcp": False}})
    assert r.status_code == 200
    (dhcp,) = api.get("/v2.0/ports?device_owner=network:dhcp").json()["ports"]
    assert dhcp["fixed_ips"] == [{"subnet_id": b["id"], "ip_address": "10.0.1.2"}]
    assert api.delete(f"/v2.0/subnets/{b['id']}").status_code == 204
    assert api.get("/v2.0/ports").json()["ports"] == []
    r = api.put(f"/v2.0/subnets/{a['id']}", {"subnet": {"enable_dhcp": True}})
    (dhcp,) = api.get("/v2.0/ports").json()["ports"]
    assert dhcp["fixed_ips"][0]["ip_address"] == "10.0.0.2"


def test_no_dhcp_explicit_gateway_and_pools(api, net):
    sub = api.create("subnet", network_id=net["id"], cidr="192.168.100.0/24", ip_version=4,
                     enable_dhcp=False, gateway_ip="192.168.100.1",
                     allocation_pools=[{"start": "192.168.100.10", "end": "192.168.100.20"}])
    assert sub["allocation_pools"] == [{"start": "192.168.100.10", "end": "192.168.100.20"}]
    assert api.get("/v2.0/ports").json()["ports"] == []
    port = api.create("port", network_id=net["id"])
    assert port["fixed_ips"][0]["ip_address"] == "192.168.100.10"


def test_gateway_in_the_middle_and_null_gateway(api, net):
    sub = api.create("subnet", network_id=net["id"], cidr="10.1.0.0/28", ip_version=4,
                     gateway_ip="10.1.0.5")
    assert sub["allocation_pools"] == [{"start": "10.1.0.1", "end": "10.1.0.4"},
                                       {"start": "10.1.0.6", "end": "10.1.0.14"}]
    other = api.create("network")
    sub = api.create("subnet", network_id=other["id"], cidr="10.2.0.0/29", ip_version=4,
                     gateway_ip=None)
    assert sub["gateway_ip"] is None
    assert sub["allocation_pools"] == [{"start": "10.2.0.1", "end": "10.2.0.6"}]


@pytest.mark.parametrize("attrs,error_type", [
    ({"cidr": "10.0.0.0/33"}, "HTTPBadRequest"),
    ({"cidr": "banana"}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.1/24"}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/32"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/31"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "ip_version": 6}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "ip_version": 5}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.1.1"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.255"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "gateway_ip": "nope"}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]},
     "OutOfBoundsAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.0", "end": "10.0.0.9"}]},
     "OutOfBoundsAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]},
     "InvalidAllocationPool"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"},
                                                  {"start": "10.0.0.5", "end": "10.0.0.20"}]},
     "OverlappingAllocationPools"),
    ({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2"}]}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": ["1.1.1.1", "x"]}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/24", "dns_nameservers": [f"10.9.9.{i}" for i in range(6)]},
     "DNSNameServersExhausted"),
    ({"cidr": "10.0.0.0/24", "host_routes": [{"destination": "10.5.0.0/16"}]},
     "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/24", "ipv6_ra_mode": "slaac"}, "InvalidInput"),
    ({"cidr": "10.0.0.0/24", "enable_dhcp": "maybe"}, "HTTPBadRequest"),
    ({"cidr": "10.0.0.0/24", "color": "blue"}, "HTTPBadRequest"),
    ({"ip_version": 4}, "HTTPBadRequest"),
])
def test_bad_subnets_are_400(api, net, attrs, error_type):
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                              **attrs}})
    assert r.status_code == (409 if error_type == "OverlappingAllocationPools" else 400), r.text
    assert r.json()["NeutronError"]["type"] == error_type
    assert r.json()["NeutronError"]["message"]
    assert api.get("/v2.0/subnets").json()["subnets"] == []
    assert api.get("/v2.0/ports").json()["ports"] == []


def test_error_names_the_attribute(api, net):
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "1.2.3.4/99"}})
    assert "cidr" in r.json()["NeutronError"]["message"]


def test_gateway_conflicting_with_pool_is_409(api, net):
    r = api.post("/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.5",
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]}})
    assert r.status_code == 409
    assert r.json()["NeutronError"]["type"] == "GatewayConflictWithAllocationPools"


def test_overlap_refused_within_network_allowed_across(api, net):
    api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.0.0.128/25",
                                              "ip_version": 4}})
    assert r.status_code == 400
    assert "overlaps" in r.json()["NeutronError"]["message"]
    other = api.as_project("p2").create("network")
    api.as_project("p2").create("subnet", network_id=other["id"], cidr="10.0.0.0/24",
                                ip_version=4)


def test_ipv6_subnet_accepted(api, net):
    sub = api.create("subnet", network_id=net["id"], cidr="fd00:1::/64", ip_version=6,
                     ipv6_ra_mode="slaac", ipv6_address_mode="slaac", enable_dhcp=False)
    assert sub["gateway_ip"] == "fd00:1::1"
    assert sub["allocation_pools"] == [{"start": "fd00:1::2",
                                        "end": "fd00:1::ffff:ffff:ffff:ffff"}]


def test_subnet_in_use(api, net):
    sub = api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    port = api.create("port", network_id=net["id"])
    r = api.delete(f"/v2.0/subnets/{sub['id']}")
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "SubnetInUse"
    api.delete(f"/v2.0/ports/{port['id']}")
    assert api.delete(f"/v2.0/subnets/{sub['id']}").status_code == 204
    assert api.get(f"/v2.0/networks/{net['id']}").json()["network"]["subnets"] == []


def test_update_subnet(api, net):
    sub = api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    r = api.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {
        "name": "n", "dns_nameservers": ["8.8.8.8"],
        "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "10.0.0.254"}],
        "allocation_pools": [{"start": "10.0.0.100", "end": "10.0.0.200"}]}})
    assert r.status_code == 200, r.text
    got = r.json()["subnet"]
    assert got["dns_nameservers"] == ["8.8.8.8"]
    assert got["allocation_pools"] == [{"start": "10.0.0.100", "end": "10.0.0.200"}]
    assert got["revision_number"] == 1
    r = api.put(f"/v2.0/subnets/{sub['id']}", {"subnet": {"cidr": "10.1.0.0/24"}})
    assert r.status_code == 400


def test_shared_filter_follows_the_network_and_is_not_an_attribute(api, net):
    public = api.create("network", name="shared-net", shared=True)
    mine = api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    shared = api.create("subnet", network_id=public["id"], cidr="10.0.1.0/24", ip_version=4)
    assert "shared" not in shared
    ids = lambda client, value: [s["id"] for s in client.get(          # noqa: E731
        "/v2.0/subnets", params={"shared": value}).json()["subnets"]]
    assert ids(api, "True") == [shared["id"]]
    assert ids(api, "false") == [mine["id"]]
    demo = api.as_project("demo")
    assert ids(demo, "true") == [shared["id"]]
    assert ids(demo, "false") == []
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.0.2.0/24",
                                              "ip_version": 4, "shared": True}})
    assert r.status_code == 400
    assert api.get("/v2.0/subnets", params={"shared": "maybe"}).status_code == 400
