"""Neutron's default roles and ownership rules, through the API (noauth headers)."""
import pytest


@pytest.fixture
def member(api):
    return api.as_project("proj-a", "member,reader")


@pytest.fixture
def reader(api):
    return api.as_project("proj-a", "reader")


@pytest.fixture
def other(api):
    return api.as_project("proj-b", "member,reader")


def test_reader_reads_but_cannot_write(api, member, reader):
    net = member.create("network", name="n")
    sub = member.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    port = member.create("port", network_id=net["id"])
    assert [n["id"] for n in reader.get("/v2.0/networks").json()["networks"]] == [net["id"]]
    assert reader.get(f"/v2.0/ports/{port['id']}").status_code == 200
    r = reader.post("/v2.0/networks", {"network": {"name": "x"}})
    assert r.status_code == 403 and r.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
    assert reader.post("/v2.0/ports", {"port": {"network_id": net["id"]}}).status_code == 403
    assert reader.post("/v2.0/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                                    "cidr": "10.1.0.0/24"}}).status_code == 403
    for path, body in ((f"/v2.0/networks/{net['id']}", {"network": {"name": "y"}}),
                       (f"/v2.0/subnets/{sub['id']}", {"subnet": {"name": "y"}}),
                       (f"/v2.0/ports/{port['id']}", {"port": {"name": "y"}})):
        assert reader.put(path, body).status_code == 403
        assert reader.delete(path).status_code == 403
    assert reader.put(f"/v2.0/networks/{net['id']}/tags/t").status_code == 403
    assert member.get(f"/v2.0/networks/{net['id']}").json()["network"]["name"] == "n"


def test_reader_of_another_project_gets_404_not_403(member, api):
    net = member.create("network")
    stranger = api.as_project("proj-c", "reader")
    assert stranger.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "z"}}).status_code == 404
    assert stranger.delete(f"/v2.0/networks/{net['id']}").status_code == 404


def test_member_may_send_default_values_of_admin_only_attributes(member):
    net = member.create("network", shared=False, **{"router:external": False})
    assert net["shared"] is False and net["router:external"] is False
    r = member.post("/v2.0/networks", {"network": {"router:external": True}})
    assert r.status_code == 403
    r = member.put(f"/v2.0/networks/{net['id']}", {"network": {"shared": False}})
    assert r.status_code == 403


def test_shared_network_not_owned_is_403_to_change_but_usable(api, member, other):
    shared = api.create("network", name="shared", shared=True)
    api.create("subnet", network_id=shared["id"], cidr="10.5.0.0/24", ip_version=4)
    r = member.put(f"/v2.0/networks/{shared['id']}", {"network": {"name": "mine"}})
    assert r.status_code == 403
    assert member.delete(f"/v2.0/networks/{shared['id']}").status_code == 403
    port = member.create("port", network_id=shared["id"])
    assert other.get(f"/v2.0/ports/{port['id']}").status_code == 404
    assert other.delete(f"/v2.0/ports/{port['id']}").status_code == 404


def test_provider_attributes_hidden_from_lists_and_fields(api, member):
    api.create("network", name="ext", **{"router:external": True})
    mine = member.create("network", name="m")
    for net in member.get("/v2.0/networks").json()["networks"]:
        assert not any(k.startswith("provider:") for k in net)
    r = member.get(f"/v2.0/networks/{mine['id']}?fields=id&fields=provider:network_type")
    assert r.json()["network"] == {"id": mine["id"]}
    admin_view = api.get(f"/v2.0/networks/{mine['id']}").json()["network"]
    assert admin_view["provider:network_type"] == "vxlan"


def test_admin_role_in_any_project_is_cloud_admin(api, member):
    net = member.create("network")
    admin_elsewhere = api.as_project("ops", "admin")
    assert admin_elsewhere.get(f"/v2.0/networks/{net['id']}").status_code == 200
    assert admin_elsewhere.put(f"/v2.0/networks/{net['id']}",
                               {"network": {"name": "fixed"}}).status_code == 200


def test_port_on_someone_elses_shared_network_cannot_choose_addresses(api, member):
    shared = api.create("network", name="shared", shared=True)
    sub = api.create("subnet", network_id=shared["id"], cidr="10.6.0.0/24", ip_version=4)
    for attrs in ({"allowed_address_pairs": [{"ip_address": "1.1.1.1"}]},
                  {"fixed_ips": [{"subnet_id": sub["id"], "ip_address": "10.6.0.20"}]},
                  {"mac_address": "fa:16:3e:00:00:01"}, {"port_security_enabled": False},
                  {"device_owner": "network:router_interface"}):
        r = member.post("/v2.0/ports", {"port": dict(network_id=shared["id"], **attrs)})
        assert r.status_code == 403, (attrs, r.text)
    port = member.create("port", network_id=shared["id"],
                         fixed_ips=[{"subnet_id": sub["id"]}], device_owner="compute:nova")
    r = member.put(f"/v2.0/ports/{port['id']}",
                   {"port": {"allowed_address_pairs": [{"ip_address": "1.1.1.1"}]}})
    assert r.status_code == 403
    assert member.put(f"/v2.0/ports/{port['id']}", {"port": {"name": "p"}}).status_code == 200
    assert api.create("port", network_id=shared["id"], project_id="proj-a",
                      allowed_address_pairs=[{"ip_address": "1.1.1.1"}])["project_id"] == "proj-a"


def test_network_owner_chooses_addresses_on_its_own_network(member):
    net = member.create("network")
    sub = member.create("subnet", network_id=net["id"], cidr="10.7.0.0/24", ip_version=4)
    port = member.create("port", network_id=net["id"], mac_address="fa:16:3e:00:00:02",
                         fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.7.0.20"}],
                         allowed_address_pairs=[{"ip_address": "1.1.1.1"}])
    assert port["fixed_ips"][0]["ip_address"] == "10.7.0.20"
