"""security-groups and security-group-rules over HTTP, with Neutron's rules and errors."""
import pytest

SG = "/v2.0/security-groups"
RULES = "/v2.0/security-group-rules"


def error_type(r) -> str:
    return r.json()["NeutronError"]["type"]


def rule_shape(rule: dict) -> tuple:
    return (rule["direction"], rule["ethertype"], rule["protocol"],
            rule["remote_group_id"] is not None)


@pytest.fixture
def alice(api):
    return api.as_project("alice")


@pytest.fixture
def bob(api):
    return api.as_project("bob")


def groups(client, **params) -> list[dict]:
    r = client.get(SG, params=params)
    assert r.status_code == 200, r.text
    return r.json()["security_groups"]


def new_group(client, name="web", **attrs) -> dict:
    r = client.post(SG, {"security_group": {"name": name, **attrs}})
    assert r.status_code == 201, r.text
    return r.json()["security_group"]


def add_rule(client, sg_id: str, status: int = 201, **attrs):
    body = {"security_group_id": sg_id, "direction": "ingress", **attrs}
    r = client.post(RULES, {"security_group_rule": body})
    assert r.status_code == status, r.text
    return r.json()["security_group_rule"] if status == 201 else r


def test_default_group_created_on_first_list(alice):
    (default,) = groups(alice)
    assert default["name"] == "default"
    assert default["description"] == "Default security group"
    assert default["project_id"] == default["tenant_id"] == "alice"
    assert default["stateful"] is True and default["shared"] is False
    assert default["tags"] == [] and default["revision_number"] == 0
    assert default["created_at"].endswith("Z")
    shapes = sorted(rule_shape(r) for r in default["security_group_rules"])
    assert shapes == [("egress", "IPv4", None, False), ("egress", "IPv6", None, False),
                      ("ingress", "IPv4", None, True), ("ingress", "IPv6", None, True)]
    for rule in default["security_group_rules"]:
        assert rule["remote_group_id"] in (None, default["id"])
        assert rule["remote_ip_prefix"] is None and rule["normalized_cidr"] is None
        assert rule["belongs_to_default_sg"] is True
        assert rule["security_group_id"] == default["id"]
        assert rule["project_id"] == "alice"
    assert [g["id"] for g in groups(alice)] == [default["id"]]


def test_admin_list_for_new_project_creates_its_default(api):
    (default,) = groups(api, project_id="fresh")
    assert default["project_id"] == "fresh" and default["name"] == "default"
    assert [g["id"] for g in groups(api.as_project("fresh"))] == [default["id"]]
    member_default = groups(api.as_project("other"), project_id="fresh")
    assert [g["project_id"] for g in member_default] == []


def test_new_group_has_only_egress_rules(alice):
    r = alice.post(SG, {"security_group": {"name": "web", "description": "web"}})
    assert r.status_code == 201, r.text
    web = r.json()["security_group"]
    assert web["description"] == "web" and web["stateful"] is True
    assert sorted(rule_shape(r) for r in web["security_group_rules"]) == [
        ("egress", "IPv4", None, False), ("egress", "IPv6", None, False)]
    assert not any(r["belongs_to_default_sg"] for r in web["security_group_rules"])
    assert sorted(g["name"] for g in groups(alice)) == ["default", "web"]
    stateless = new_group(alice, "udp-only", stateful=False)
    assert stateless["stateful"] is False
    assert alice.get(f"{SG}/{web['id']}").json()["security_group"] == web


def test_group_name_default_is_reserved(alice):
    r = alice.post(SG, {"security_group": {"name": "Default"}})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupDefaultAlreadyExists"
    web = new_group(alice)
    r = alice.put(f"{SG}/{web['id']}", {"security_group": {"name": "default"}})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupDefaultAlreadyExists"


def test_default_group_cannot_be_renamed_or_deleted_by_owner(api, alice):
    (default,) = groups(alice)
    r = alice.put(f"{SG}/{default['id']}", {"security_group": {"name": "mine"}})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupCannotUpdateDefault"
    r = alice.put(f"{SG}/{default['id']}", {"security_group": {"description": "d2"}})
    assert r.status_code == 200 and r.json()["security_group"]["description"] == "d2"
    r = alice.delete(f"{SG}/{default['id']}")
    assert r.status_code == 409 and error_type(r) == "SecurityGroupCannotRemoveDefault"
    assert api.delete(f"{SG}/{default['id']}").status_code == 204
    (again,) = groups(alice)
    assert again["name"] == "default" and again["id"] != default["id"]


def test_update_group(alice):
    web = new_group(alice)
    r = alice.put(f"{SG}/{web['id']}", {"security_group": {
        "name": "www", "description": "d", "stateful": False}})
    assert r.status_code == 200, r.text
    got = r.json()["security_group"]
    assert (got["name"], got["description"], got["stateful"]) == ("www", "d", False)
    assert got["revision_number"] == web["revision_number"] + 1
    r = alice.put(f"{SG}/{web['id']}", {"security_group": {"name": "x"}},
                  headers={"If-Match": "revision_number=0"})
    assert r.status_code == 412
    r = alice.put(f"{SG}/{web['id']}", {"security_group": {"security_group_rules": []}})
    assert r.status_code == 400


def test_stateful_cannot_change_while_in_use(api, alice):
    net = alice.create("network")
    alice.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    web = new_group(alice)
    alice.create("port", network_id=net["id"], security_groups=[web["id"]])
    r = alice.put(f"{SG}/{web['id']}", {"security_group": {"stateful": False}})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupInUse"


def test_delete_group_in_use(alice):
    net = alice.create("network")
    alice.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    web = new_group(alice)
    port = alice.create("port", network_id=net["id"], security_groups=[web["id"]])
    r = alice.delete(f"{SG}/{web['id']}")
    assert r.status_code == 409 and error_type(r) == "SecurityGroupInUse"
    assert r.json()["NeutronError"]["message"] == f"Security Group {web['id']} in use."
    assert alice.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert alice.delete(f"{SG}/{web['id']}").status_code == 204
    assert alice.get(f"{SG}/{web['id']}").status_code == 404
    assert alice.get(RULES, params={"security_group_id": web["id"]}).json()[
        "security_group_rules"] == []


def test_deleting_a_remote_group_removes_the_rules_naming_it(alice):
    web, db = new_group(alice, "web"), new_group(alice, "db")
    add_rule(alice, db["id"], protocol="tcp", port_range_min=5432, port_range_max=5432,
             remote_group_id=web["id"])
    assert alice.delete(f"{SG}/{web['id']}").status_code == 204
    rules = alice.get(f"{SG}/{db['id']}").json()["security_group"]["security_group_rules"]
    assert [r["direction"] for r in rules] == ["egress", "egress"]


def test_openstack_client_rule_create(alice):
    web = new_group(alice)
    icmp = add_rule(alice, web["id"], ethertype="IPv4", protocol="icmp",
                    remote_ip_prefix="0.0.0.0/0")
    assert icmp["protocol"] == "icmp" and icmp["remote_ip_prefix"] == "0.0.0.0/0"
    assert icmp["normalized_cidr"] == "0.0.0.0/0"
    assert icmp["port_range_min"] is None and icmp["port_range_max"] is None
    ssh = add_rule(alice, web["id"], ethertype="IPv4", protocol="tcp", port_range_min=22,
                   port_range_max=22, remote_ip_prefix="0.0.0.0/0", description="ssh")
    assert (ssh["port_range_min"], ssh["port_range_max"], ssh["description"]) == (22, 22, "ssh")
    assert ssh["belongs_to_default_sg"] is False
    assert ssh["remote_address_group_id"] is None and ssh["revision_number"] == 0
    listed = alice.get(RULES, params={"security_group_id": web["id"]}).json()
    assert {icmp["id"], ssh["id"]} <= {r["id"] for r in listed["security_group_rules"]}
    assert len(listed["security_group_rules"]) == 4
    assert alice.get(f"{RULES}/{ssh['id']}").json()["security_group_rule"] == ssh
    got = alice.get(f"{SG}/{web['id']}").json()["security_group"]
    assert got["revision_number"] == web["revision_number"] + 2
    assert ssh in got["security_group_rules"]


NORMALISED = [
    ({"protocol": "TCP"}, {"protocol": "tcp"}),
    ({"protocol": 6}, {"protocol": "6"}),
    ({"protocol": "17"}, {"protocol": "17"}),
    ({"protocol": "any"}, {"protocol": None}),
    ({"protocol": None}, {"protocol": None}),
    ({"protocol": "icmp", "ethertype": "IPv6"}, {"protocol": "ipv6-icmp"}),
    ({"protocol": "icmpv6", "ethertype": "IPv6"}, {"protocol": "ipv6-icmp"}),
    ({"protocol": "58", "ethertype": "IPv6"}, {"protocol": "58"}),
    ({"ethertype": "ipv6"}, {"ethertype": "IPv6"}),
    ({}, {"ethertype": "IPv4", "protocol": None}),
    ({"remote_ip_prefix": "10.0.0.5/24"},
     {"remote_ip_prefix": "10.0.0.5/24", "normalized_cidr": "10.0.0.0/24"}),
    ({"remote_ip_prefix": "10.1.1.1"},
     {"remote_ip_prefix": "10.1.1.1/32", "normalized_cidr": "10.1.1.1/32"}),
    ({"ethertype": "IPv6", "remote_ip_prefix": "2001:DB8::/32"},
     {"remote_ip_prefix": "2001:db8::/32"}),
    ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65535},
     {"port_range_min": None, "port_range_max": None}),
    ({"protocol": "udp", "port_range_min": "53", "port_range_max": 53},
     {"port_range_min": 53, "port_range_max": 53}),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
     {"port_range_min": 8, "port_range_max": 0}),
    ({"protocol": "icmp", "port_range_min": 0}, {"port_range_min": 0, "port_range_max": None}),
    ({"protocol": "6", "port_range_min": 80, "port_range_max": 90},
     {"port_range_min": 80, "port_range_max": 90}),
    ({"direction": "egress", "protocol": "udp"}, {"direction": "egress"}),
]


def unlimited(api, project: str) -> None:
    r = api.put(f"/v2.0/quotas/{project}", {"quota": {"security_group": -1,
                                                      "security_group_rule": -1}})
    assert r.status_code == 200, r.text


def test_rule_normalisation(api, alice):
    """Each case in a fresh group (one server for all: PostgreSQL set-up is slow)."""
    unlimited(api, "alice")
    for attrs, expected in NORMALISED:
        web = new_group(alice)
        rule = add_rule(alice, web["id"], **{"direction": "ingress", **attrs})
        assert {k: rule[k] for k in expected} == expected, attrs


INVALID = [
    ({"direction": "sideways"}, 400, "HTTPBadRequest"),
    ({"ethertype": "IPv5"}, 400, "HTTPBadRequest"),
    ({"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": 256}, 400, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": -1}, 400, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}, 400,
     "SecurityGroupInvalidPortValue"),
    ({"protocol": "tcp", "port_range_min": "ssh"}, 400, "SecurityGroupInvalidPortValue"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400,
     "SecurityGroupInvalidPortValue"),
    ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, 400,
     "SecurityGroupInvalidPortRange"),
    ({"protocol": "tcp", "port_range_min": 90}, 400, "SecurityGroupInvalidPortRange"),
    ({"port_range_min": 22, "port_range_max": 22}, 400,
     "SecurityGroupProtocolRequiredWithPorts"),
    ({"protocol": "gre", "port_range_min": 22, "port_range_max": 22}, 400,
     "SecurityGroupInvalidProtocolForPort"),
    ({"protocol": "icmp", "port_range_min": 256}, 400, "SecurityGroupInvalidIcmpValue"),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 300}, 400,
     "SecurityGroupInvalidIcmpValue"),
    ({"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType"),
    ({"protocol": "ipv6-icmp", "ethertype": "IPv4"}, 400,
     "SecurityGroupEthertypeConflictWithProtocol"),
    ({"protocol": "58", "ethertype": "IPv4"}, 400,
     "SecurityGroupEthertypeConflictWithProtocol"),
    ({"remote_ip_prefix": "2001:db8::/32"}, 400, "SecurityGroupRuleParameterConflict"),
    ({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}, 400,
     "SecurityGroupRuleParameterConflict"),
    ({"remote_ip_prefix": "10.0.0.300/8"}, 400, "InvalidCIDR"),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "SELF"}, 400,
     "SecurityGroupRemoteGroupAndRemoteIpPrefix"),
    ({"remote_group_id": "00000000-0000-0000-0000-000000000000"}, 404,
     "SecurityGroupNotFound"),
    ({"remote_group_id": "nope"}, 404, "SecurityGroupNotFound"),
    ({"port_range_max": 22, "protocol": "tcp", "unknown": 1}, 400, "HTTPBadRequest"),
    ({"normalized_cidr": "10.0.0.0/8"}, 400, "HTTPBadRequest"),
]


def test_rule_validation(alice):
    web = new_group(alice)
    for attrs, code, etype in INVALID:
        attrs = {k: (web["id"] if v == "SELF" else v) for k, v in attrs.items()}
        r = add_rule(alice, web["id"], status=code, **attrs)
        assert error_type(r) == etype, (attrs, r.text)
    rules = alice.get(f"{SG}/{web['id']}").json()["security_group"]["security_group_rules"]
    assert len(rules) == 2


def test_rule_needs_group_and_direction(alice):
    r = alice.post(RULES, {"security_group_rule": {"direction": "ingress"}})
    assert r.status_code == 400
    web = new_group(alice)
    r = alice.post(RULES, {"security_group_rule": {"security_group_id": web["id"]}})
    assert r.status_code == 400
    for missing in ("00000000-0000-0000-0000-000000000000", "bad_group_id"):
        r = alice.post(RULES, {"security_group_rule": {
            "security_group_id": missing, "direction": "ingress"}})
        assert r.status_code == 404 and error_type(r) == "SecurityGroupNotFound"


DUPLICATES = [
    ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
     {"protocol": "6", "port_range_min": 22, "port_range_max": 22}),
    ({"protocol": "icmp"}, {"protocol": "ICMP", "remote_ip_prefix": "0.0.0.0/0"}),
    ({"remote_ip_prefix": "10.0.0.0/24"}, {"remote_ip_prefix": "10.0.0.7/24"}),
    ({"ethertype": "IPv6", "protocol": "icmp"}, {"ethertype": "IPv6", "protocol": "ipv6-icmp"}),
]


def test_duplicate_rule(api, alice):
    unlimited(api, "alice")
    for first, second in DUPLICATES:
        web = new_group(alice)
        rule = add_rule(alice, web["id"], **first)
        r = add_rule(alice, web["id"], status=409, **second)
        assert error_type(r) == "SecurityGroupRuleExists", (first, second)
        assert rule["id"] in r.json()["NeutronError"]["message"]


def test_default_egress_rule_is_a_duplicate(alice):
    web = new_group(alice)
    r = add_rule(alice, web["id"], status=409, direction="egress", ethertype="IPv4",
                 remote_ip_prefix="0.0.0.0/0")
    assert error_type(r) == "SecurityGroupRuleExists"


def test_delete_and_update_rule(alice):
    web = new_group(alice)
    rule = add_rule(alice, web["id"], protocol="tcp", port_range_min=80, port_range_max=80)
    r = alice.put(f"{RULES}/{rule['id']}", {"security_group_rule": {"description": "http"}})
    assert r.status_code == 200
    assert r.json()["security_group_rule"]["description"] == "http"
    assert r.json()["security_group_rule"]["revision_number"] == 1
    r = alice.put(f"{RULES}/{rule['id']}", {"security_group_rule": {"port_range_min": 81}})
    assert r.status_code == 400
    revision = alice.get(f"{SG}/{web['id']}").json()["security_group"]["revision_number"]
    assert alice.delete(f"{RULES}/{rule['id']}").status_code == 204
    assert alice.get(f"{RULES}/{rule['id']}").status_code == 404
    r = alice.delete(f"{RULES}/{rule['id']}")
    assert r.status_code == 404 and error_type(r) == "SecurityGroupRuleNotFound"
    got = alice.get(f"{SG}/{web['id']}").json()["security_group"]
    assert got["revision_number"] == revision + 1
    add_rule(alice, web["id"], protocol="tcp", port_range_min=80, port_range_max=80)


def test_visibility_between_projects(api, alice, bob):
    web = new_group(alice)
    rule = add_rule(alice, web["id"], protocol="tcp", port_range_min=80, port_range_max=80)
    assert web["id"] not in [g["id"] for g in groups(bob)]
    assert [g["name"] for g in groups(bob)] == ["default"]
    r = bob.get(f"{SG}/{web['id']}")
    assert r.status_code == 404 and error_type(r) == "SecurityGroupNotFound"
    assert bob.get(f"{RULES}/{rule['id']}").status_code == 404
    assert rule["id"] not in [r["id"] for r in bob.get(RULES).json()["security_group_rules"]]
    assert bob.put(f"{SG}/{web['id']}", {"security_group": {"name": "x"}}).status_code == 404
    assert bob.delete(f"{SG}/{web['id']}").status_code == 404
    assert bob.delete(f"{RULES}/{rule['id']}").status_code == 404
    r = add_rule(bob, web["id"], status=404)
    assert error_type(r) == "SecurityGroupNotFound"
    (bob_default,) = groups(bob)
    r = add_rule(bob, bob_default["id"], status=404, remote_group_id=web["id"])
    assert error_type(r) == "SecurityGroupNotFound"
    r = bob.post(SG, {"security_group": {"name": "x", "project_id": "alice"}})
    assert r.status_code == 400
    everything = {g["id"] for g in groups(api)}
    assert {web["id"], bob_default["id"]} <= everything
    assert api.get(f"{RULES}/{rule['id']}").status_code == 200
    admin_rule = add_rule(api, web["id"], protocol="udp")
    assert admin_rule["project_id"] == "alice"
    assert admin_rule["id"] in [r["id"] for r in alice.get(RULES).json()["security_group_rules"]]
    owned = api.post(SG, {"security_group": {"name": "for-bob", "project_id": "bob"}})
    assert owned.status_code == 201 and owned.json()["security_group"]["project_id"] == "bob"


def test_list_filters_and_fields(alice):
    web = new_group(alice, "web")
    new_group(alice, "db")
    r = alice.get(SG, params=[("fields", "id"), ("fields", "name"), ("name", "web")])
    assert r.json()["security_groups"] == [{"id": web["id"], "name": "web"}]
    listed = alice.get(RULES, params={"direction": "egress",
                                      "security_group_id": web["id"]}).json()
    assert {r["ethertype"] for r in listed["security_group_rules"]} == {"IPv4", "IPv6"}
    assert alice.get(RULES, params={"bogus": "1"}).status_code == 400


def test_group_tags(alice):
    web = new_group(alice)
    assert alice.put(f"{SG}/{web['id']}/tags/red").status_code == 201
    assert alice.get(f"{SG}/{web['id']}").json()["security_group"]["tags"] == ["red"]
    assert [g["id"] for g in alice.get(SG, params={"tags": "red"}).json()[
        "security_groups"]] == [web["id"]]


def test_bulk_rule_create(alice):
    web = new_group(alice)
    body = {"security_group_rules": [
        {"security_group_id": web["id"], "direction": "ingress", "protocol": p}
        for p in ("tcp", "udp")]}
    r = alice.post(RULES, body)
    assert r.status_code == 201, r.text
    assert [x["protocol"] for x in r.json()["security_group_rules"]] == ["tcp", "udp"]
    body = {"security_group_rules": [
        {"security_group_id": web["id"], "direction": "ingress", "protocol": "sctp"},
        {"security_group_id": web["id"], "direction": "ingress", "protocol": "tcp"}]}
    r = alice.post(RULES, body)
    assert r.status_code == 409
    protocols = [x["protocol"] for x in alice.get(RULES, params={
        "security_group_id": web["id"]}).json()["security_group_rules"]]
    assert "sctp" not in protocols


def test_bulk_group_create_with_wrapped_items(alice):
    r = alice.post(SG, {"security_groups": [{"security_group": {"name": "one"}},
                                            {"name": "two", "stateful": False}]})
    assert r.status_code == 201, r.text
    made = r.json()["security_groups"]
    assert [(g["name"], g["stateful"]) for g in made] == [("one", True), ("two", False)]


def test_admin_rule_with_null_project_goes_to_the_groups_project(api, alice):
    web = new_group(alice)
    rule = add_rule(api, web["id"], protocol="sctp", project_id=None)
    assert rule["project_id"] == "alice"


def test_extensions_advertised(api):
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {"security-group", "stateful-security-group", "port-security",
            "allowed-address-pairs"} <= aliases
    ext = api.get("/v2.0/extensions/security-group").json()["extension"]
    assert ext["description"] == "The security groups extension."
    names = {r["collection"] for r in api.get("/v2.0/").json()["resources"]}
    assert {"security_groups", "security_group_rules"} <= names


# -- ports ------------------------------------------------------------------------


@pytest.fixture
def net(alice):
    net = alice.create("network", name="private")
    alice.create("subnet", network_id=net["id"], cidr="10.20.0.0/24", ip_version=4)
    return net


def test_port_joins_default_group(api, alice, net):
    port = alice.create("port", network_id=net["id"])
    (default,) = groups(alice)
    assert port["security_groups"] == [default["id"]]
    for_bob = api.create("port", network_id=net["id"], project_id="bob")
    (bob_default,) = groups(api.as_project("bob"))
    assert for_bob["security_groups"] == [bob_default["id"]]


def test_port_groups_explicit_and_checked(alice, bob, net):
    web, db = new_group(alice, "web"), new_group(alice, "db")
    port = alice.create("port", network_id=net["id"], security_groups=[web["id"], db["id"]])
    assert port["security_groups"] == [web["id"], db["id"]]
    assert alice.create("port", network_id=net["id"], security_groups=[])["security_groups"] == []
    theirs = new_group(bob, "theirs")
    r = alice.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                            "security_groups": [web["id"], theirs["id"]]}})
    assert r.status_code == 404 and error_type(r) == "SecurityGroupNotFound"
    assert theirs["id"] in r.json()["NeutronError"]["message"]
    r = alice.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": [theirs["id"]]}})
    assert r.status_code == 404
    r = alice.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": [db["id"]]}})
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == [db["id"]]
    r = alice.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": [web["id"],
                                                                              web["id"]]}})
    assert r.status_code == 400
    stateless = new_group(alice, "stateless", stateful=False)
    r = alice.put(f"/v2.0/ports/{port['id']}", {"port": {"security_groups": [
        web["id"], stateless["id"]]}})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupConflict"
    r = alice.post("/v2.0/ports", {"port": {"network_id": net["id"], "security_groups": [
        stateless["id"], db["id"]]}})
    assert r.status_code == 409 and error_type(r) == "SecurityGroupConflict"
    assert alice.get(f"/v2.0/ports/{port['id']}").json()["port"]["security_groups"] == [
        db["id"]]


def test_network_ports_get_no_group(api, alice, net):
    (dhcp,) = api.get("/v2.0/ports", params={"device_owner": "network:dhcp"}).json()["ports"]
    assert dhcp["security_groups"] == []
    router_port = alice.create("port", network_id=net["id"],
                               device_owner="network:router_interface")
    assert router_port["security_groups"] == []


def test_port_security_off(alice, net):
    port = alice.create("port", network_id=net["id"], port_security_enabled=False)
    assert port["security_groups"] == [] and port["port_security_enabled"] is False
    web = new_group(alice)
    r = alice.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                            "port_security_enabled": False,
                                            "security_groups": [web["id"]]}})
    assert r.status_code == 400 and error_type(r) == "PortSecurityAndIPRequiredForSecurityGroups"
    r = alice.post("/v2.0/ports", {"port": {"network_id": net["id"],
                                            "port_security_enabled": False,
                                            "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]}})
    assert r.status_code == 409 and error_type(r) == "AddressPairAndPortSecurityRequired"
    nosec = alice.create("network", port_security_enabled=False)
    alice.create("subnet", network_id=nosec["id"], cidr="10.30.0.0/24", ip_version=4)
    inherited = alice.create("port", network_id=nosec["id"])
    assert inherited["port_security_enabled"] is False and inherited["security_groups"] == []
    secured = alice.create("port", network_id=nosec["id"], port_security_enabled=True)
    assert len(secured["security_groups"]) == 1


def test_turning_port_security_off_needs_clearing(alice, net):
    port = alice.create("port", network_id=net["id"],
                        allowed_address_pairs=[{"ip_address": "10.20.0.100"}])
    path = f"/v2.0/ports/{port['id']}"
    r = alice.put(path, {"port": {"port_security_enabled": False}})
    assert r.status_code == 409 and error_type(r) == "PortSecurityPortHasSecurityGroup"
    r = alice.put(path, {"port": {"port_security_enabled": False, "security_groups": []}})
    assert r.status_code == 409 and error_type(r) == "AddressPairAndPortSecurityRequired"
    r = alice.put(path, {"port": {"port_security_enabled": False,
                                  "security_groups": port["security_groups"],
                                  "allowed_address_pairs": []}})
    assert r.status_code == 400 and error_type(r) == "PortSecurityAndIPRequiredForSecurityGroups"
    assert alice.get(path).json()["port"]["port_security_enabled"] is True
    r = alice.put(path, {"port": {"port_security_enabled": False, "security_groups": [],
                                  "allowed_address_pairs": []}})
    assert r.status_code == 200, r.text
    got = r.json()["port"]
    assert (got["port_security_enabled"], got["security_groups"],
            got["allowed_address_pairs"]) == (False, [], [])
    r = alice.put(path, {"port": {"security_groups": port["security_groups"]}})
    assert r.status_code == 400 and error_type(r) == "PortSecurityAndIPRequiredForSecurityGroups"
    r = alice.put(path, {"port": {"port_security_enabled": True}})
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == []


def test_allowed_address_pairs(alice, net):
    port = alice.create("port", network_id=net["id"], allowed_address_pairs=[
        {"ip_address": "10.20.0.100"},
        {"ip_address": "10.40.0.0/24", "mac_address": "fa:16:3e:00:00:01"}])
    assert port["allowed_address_pairs"] == [
        {"ip_address": "10.20.0.100", "mac_address": port["mac_address"]},
        {"ip_address": "10.40.0.0/24", "mac_address": "fa:16:3e:00:00:01"}]
    path = f"/v2.0/ports/{port['id']}"
    r = alice.put(path, {"port": {"allowed_address_pairs": [
        {"ip_address": "10.20.0.101"}, {"ip_address": "10.20.0.101",
                                        "mac_address": port["mac_address"]}]}})
    assert r.status_code == 400 and error_type(r) == "DuplicateAddressPairInRequest"
    r = alice.put(path, {"port": {"allowed_address_pairs": [
        {"ip_address": f"10.20.0.{i}"} for i in range(100, 111)]}})
    assert r.status_code == 400 and error_type(r) == "AllowedAddressPairExhausted"
    for bad in ([{"mac_address": "fa:16:3e:00:00:01"}], [{"ip_address": "nope"}],
                [{"ip_address": "10.0.0.1", "mac_address": "zz"}], {"ip_address": "10.0.0.1"}):
        r = alice.put(path, {"port": {"allowed_address_pairs": bad}})
        assert r.status_code == 400, bad
    r = alice.put(path, {"port": {"allowed_address_pairs": None}})
    assert r.status_code == 200 and r.json()["port"]["allowed_address_pairs"] == []


def test_quotas_count_groups_and_rules(api, alice):
    r = api.put("/v2.0/quotas/alice", {"quota": {"security_group": 2,
                                                 "security_group_rule": 7}})
    assert r.status_code == 200, r.text
    groups(alice)
    web = new_group(alice)
    r = alice.post(SG, {"security_group": {"name": "third"}})
    assert r.status_code == 409 and error_type(r) == "OverQuota"
    add_rule(alice, web["id"], protocol="tcp")
    r = add_rule(alice, web["id"], status=409, protocol="udp")
    assert error_type(r) == "OverQuota"
    assert len(alice.get(RULES).json()["security_group_rules"]) == 7


def test_a_new_groups_own_rules_need_rule_quota(api, alice):
    groups(alice)                                   # the default group and its rules
    r = api.put("/v2.0/quotas/alice", {"quota": {"security_group_rule": 0}})
    assert r.status_code == 200, r.text
    r = alice.post(SG, {"security_group": {"name": "no-room"}})
    assert r.status_code == 409 and error_type(r) == "OverQuota"
    assert [g["name"] for g in groups(alice)] == ["default"]
    api.put("/v2.0/quotas/alice", {"quota": {"security_group_rule": -1}})
    assert new_group(alice)["security_group_rules"]
