"""Two projects and an admin: who sees and changes what."""
import pytest


@pytest.fixture
def alice(api):
    return api.as_project("alice")


@pytest.fixture
def bob(api):
    return api.as_project("bob")


def test_projects_see_only_their_own(api, alice, bob):
    a = alice.create("network", name="a")
    b = bob.create("network", name="b")
    assert a["project_id"] == "alice"
    assert [n["id"] for n in alice.get("/v2.0/networks").json()["networks"]] == [a["id"]]
    assert alice.get(f"/v2.0/networks/{b['id']}").status_code == 404
    assert alice.put(f"/v2.0/networks/{b['id']}", {"network": {"name": "x"}}).status_code == 404
    assert alice.delete(f"/v2.0/networks/{b['id']}").status_code == 404
    assert alice.post("/v2.0/ports", {"port": {"network_id": b["id"]}}).status_code == 404
    assert alice.post("/v2.0/subnets", {"subnet": {"network_id": b["id"], "cidr": "10.0.0.0/24",
                                                   "ip_version": 4}}).status_code == 404
    assert len(api.get("/v2.0/networks").json()["networks"]) == 2


def test_provider_attributes_admin_only(api, alice):
    net = alice.create("network")
    assert "provider:network_type" not in net
    assert "provider:segmentation_id" not in alice.get(
        f"/v2.0/networks/{net['id']}").json()["network"]
    assert "provider:segmentation_id" in api.get(f"/v2.0/networks/{net['id']}").json()["network"]
    r = alice.post("/v2.0/networks", {"network": {"provider:network_type": "vxlan"}})
    assert r.status_code == 403
    r = alice.post("/v2.0/networks", {"network": {"shared": True}})
    assert r.status_code == 403
    r = alice.post("/v2.0/networks", {"network": {"project_id": "bob"}})
    assert r.status_code == 400
    port = alice.create("port", network_id=net["id"])
    assert "binding:host_id" not in port and "binding:vnic_type" in port


def test_shared_and_external_networks(api, alice, bob):
    shared = api.create("network", name="shared", shared=True)
    ext = api.create("network", name="public", **{"router:external": True})
    api.create("subnet", network_id=shared["id"], cidr="10.0.0.0/24", ip_version=4)
    ext_sub = api.create("subnet", network_id=ext["id"], cidr="192.168.100.0/24", ip_version=4,
                         enable_dhcp=False)
    seen = {n["name"] for n in alice.get("/v2.0/networks").json()["networks"]}
    assert seen == {"shared", "public"}
    subnets = alice.get("/v2.0/subnets").json()["subnets"]
    assert [s["network_id"] for s in subnets] == [shared["id"]]
    assert alice.get(f"/v2.0/subnets/{ext_sub['id']}").status_code == 404
    port = alice.create("port", network_id=shared["id"])
    assert port["project_id"] == "alice"
    assert [p["id"] for p in bob.get("/v2.0/ports").json()["ports"]] == []
    assert bob.get(f"/v2.0/ports/{port['id']}").status_code == 404
    r = alice.put(f"/v2.0/networks/{shared['id']}", {"network": {"name": "mine"}})
    assert r.status_code == 403
    r = alice.post("/v2.0/subnets", {"subnet": {"network_id": shared["id"],
                                                "cidr": "10.1.0.0/24", "ip_version": 4}})
    assert r.status_code == 403
    assert api.get("/v2.0/networks?shared=True").json()["networks"][0]["id"] == shared["id"]


def test_network_owner_sees_ports_on_its_network(api, alice):
    net = alice.create("network")
    admin_port = api.create("port", network_id=net["id"], project_id="admin")
    assert admin_port["id"] in [p["id"] for p in alice.get("/v2.0/ports").json()["ports"]]


def test_port_list_scoped_even_with_ip_filter(api, alice, bob):
    shared = api.create("network", shared=True)
    api.create("subnet", network_id=shared["id"], cidr="10.0.0.0/24", ip_version=4,
               enable_dhcp=False)
    bob.create("port", network_id=shared["id"])
    r = alice.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.2")
    assert r.json()["ports"] == []


def test_agents_are_admin_only(api, alice, plugin):
    plugin.report_state({"agent_type": "DHCP agent", "binary": "neutrino-dhcp-agent",
                         "host": "controller", "topic": "dhcp_agent", "configurations": {}})
    assert alice.get("/v2.0/agents").json()["agents"] == []
    (agent,) = api.get("/v2.0/agents").json()["agents"]
    assert alice.get(f"/v2.0/agents/{agent['id']}").status_code == 404
