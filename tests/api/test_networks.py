import pytest


def test_create_network_defaults(api, notifier):
    net = api.create("network", name="private")
    assert net["name"] == "private"
    assert net["admin_state_up"] is True
    assert net["status"] == "ACTIVE"
    assert net["shared"] is False
    assert net["router:external"] is False
    assert net["port_security_enabled"] is True
    assert net["mtu"] == 1450
    assert net["subnets"] == []
    assert net["tags"] == []
    assert net["description"] == ""
    assert net["revision_number"] == 0
    assert net["project_id"] == net["tenant_id"] == "admin"
    assert net["provider:network_type"] == "vxlan"
    assert net["provider:physical_network"] is None
    assert 1 <= net["provider:segmentation_id"] <= 1000
    assert net["created_at"].endswith("Z") and len(net["created_at"]) == 20
    assert notifier.events("dhcp_agent") == ["network_create_end"]


def test_show_list_update_delete(api, notifier):
    net = api.create("network", name="a")
    r = api.get(f"/v2.0/networks/{net['id']}")
    assert r.status_code == 200 and r.json()["network"] == net
    assert [n["id"] for n in api.get("/v2.0/networks").json()["networks"]] == [net["id"]]
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "b"}})
    assert r.status_code == 200
    assert r.json()["network"]["name"] == "b"
    assert r.json()["network"]["revision_number"] == 1
    assert ("q-agent-notifier-network-update", "network_update") in [
        (t, e) for t, e, _ in notifier.sent]
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert api.get(f"/v2.0/networks/{net['id']}").status_code == 404
    assert notifier.payloads("network_delete") == [{"network_id": net["id"]}]


def test_unknown_name_or_id_is_404(api):
    r = api.get("/v2.0/networks/private")
    assert r.status_code == 404
    assert r.json()["NeutronError"]["type"] == "NetworkNotFound"
    assert api.delete("/v2.0/networks/00000000-0000-0000-0000-000000000000").status_code == 404


def test_flat_provider_network(api):
    net = api.create("network", name="public", **{
        "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "extnet"})
    assert net["provider:network_type"] == "flat"
    assert net["provider:physical_network"] == "extnet"
    assert net["provider:segmentation_id"] is None
    assert net["mtu"] == 1500
    assert net["router:external"] is True
    again = api.create("network", status=409, **{"provider:network_type": "flat",
                                                "provider:physical_network": "extnet"})
    assert again["NeutronError"]["type"] == "FlatNetworkInUse"
    api.delete(f"/v2.0/networks/{net['id']}")
    api.create("network", **{"provider:network_type": "flat",
                             "provider:physical_network": "extnet"})


@pytest.mark.parametrize("attrs", [
    {"provider:network_type": "flat", "provider:physical_network": "other"},
    {"provider:network_type": "flat"},
    {"provider:network_type": "vlan", "provider:physical_network": "extnet"},
    {"provider:network_type": "vxlan", "provider:physical_network": "extnet"},
    {"provider:network_type": "flat", "provider:physical_network": "extnet",
     "provider:segmentation_id": 3},
    {"mtu": 1500},
])
def test_bad_provider_requests(api, attrs):
    body = api.create("network", status=400, **attrs)
    assert body["NeutronError"]["type"] == "InvalidInput"
    assert api.get("/v2.0/networks").json()["networks"] == []


def test_vxlan_segmentation_id_and_release(api):
    net = api.create("network", **{"provider:network_type": "vxlan",
                                   "provider:segmentation_id": 77})
    assert net["provider:segmentation_id"] == 77
    dup = api.create("network", status=409, **{"provider:network_type": "vxlan",
                                               "provider:segmentation_id": 77})
    assert dup["NeutronError"]["type"] == "TunnelIdInUse"
    outside = api.create("network", **{"provider:network_type": "vxlan",
                                       "provider:segmentation_id": 5000})
    assert outside["provider:segmentation_id"] == 5000
    tenant = api.create("network")
    assert tenant["provider:segmentation_id"] == 1
    api.delete(f"/v2.0/networks/{net['id']}")
    api.delete(f"/v2.0/networks/{outside['id']}")
    api.create("network", **{"provider:network_type": "vxlan",
                             "provider:segmentation_id": 5000})


def test_provider_attributes_are_not_updatable(api):
    net = api.create("network")
    r = api.put(f"/v2.0/networks/{net['id']}",
                {"network": {"provider:segmentation_id": net["provider:segmentation_id"] + 1}})
    assert r.status_code == 400
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 1400}})
    assert r.status_code == 200 and r.json()["network"]["mtu"] == 1400


def test_network_in_use_and_dhcp_port_removed(api, notifier):
    net = api.create("network")
    sub = api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    port = api.create("port", network_id=net["id"])
    r = api.delete(f"/v2.0/networks/{net['id']}")
    assert r.status_code == 409
    assert r.json()["NeutronError"]["type"] == "NetworkInUse"
    api.delete(f"/v2.0/ports/{port['id']}")
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert api.get(f"/v2.0/subnets/{sub['id']}").status_code == 404
    assert api.get("/v2.0/ports").json()["ports"] == []
    assert "port_delete" in notifier.events()


def test_bulk_create_is_all_or_nothing(api):
    r = api.post("/v2.0/networks", {"networks": [{"name": "a"}, {"name": "b"}]})
    assert r.status_code == 201
    assert [n["name"] for n in r.json()["networks"]] == ["a", "b"]
    r = api.post("/v2.0/networks", {"networks": [{"name": "c"}, {"mtu": 9000}]})
    assert r.status_code == 400
    names = sorted(n["name"] for n in api.get("/v2.0/networks").json()["networks"])
    assert names == ["a", "b"]


def test_if_match_revision(api):
    net = api.create("network")
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}},
                headers={"If-Match": "revision_number=5"})
    assert r.status_code == 412
    assert r.json()["NeutronError"]["type"] == "RevisionNumberConstraintFailed"
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}},
                headers={"If-Match": "revision_number=0"})
    assert r.status_code == 200 and r.json()["network"]["revision_number"] == 1


def test_mtu_below_a_subnets_minimum_is_a_conflict_as_in_neutron(api):
    tiny = api.create("network", mtu=67)
    assert tiny["mtu"] == 67
    r = api.post("/v2.0/subnets", {"subnet": {"network_id": tiny["id"], "cidr": "10.0.0.0/24",
                                              "ip_version": 4}})
    assert r.status_code == 409
    assert r.json()["NeutronError"]["type"] == "NetworkMTUSubnetConflict"
    assert api.get("/v2.0/subnets").json()["subnets"] == []

    net = api.create("network", mtu=1280)
    api.create("subnet", network_id=net["id"], cidr="10.0.1.0/24", ip_version=4)
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 67}})
    assert r.status_code == 409
    assert r.json()["NeutronError"]["type"] == "NetworkMTUSubnetConflict"
    api.create("subnet", network_id=net["id"], cidr="2001:db8::/64", ip_version=6)
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"mtu": 1279}})
    assert r.status_code == 409
    assert api.get(f"/v2.0/networks/{net['id']}").json()["network"]["mtu"] == 1280
    r = api.put(f"/v2.0/networks/{tiny['id']}", {"network": {"mtu": 60}})
    assert r.status_code == 200                 # no subnet: any MTU
