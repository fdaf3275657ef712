"""The plugin side of security groups: the agents' RPC answer, notifications, races."""
import threading

import pytest

from neutrino.server import exceptions as exc
from neutrino.server import securitygroup_errors as sg_exc
from neutrino.server.context import Context
from neutrino.server.rpc import RpcEndpoint
from neutrino.server.securitygroups import MEMBER_UPDATED, RULE_UPDATED, SECURITY_GROUP_UPDATE

ADMIN = Context.admin()
ALICE = Context.member("alice")


@pytest.fixture
def net(plugin):
    net = plugin.create_network(ALICE, {"name": "private"})
    v4 = plugin.create_subnet(ALICE, {"network_id": net["id"], "cidr": "10.0.0.0/24",
                                      "ip_version": 4})
    v6 = plugin.create_subnet(ALICE, {"network_id": net["id"], "cidr": "fd00::/64",
                                      "ip_version": 6})
    return net, v4, v6


def default_group(plugin, ctx=ALICE) -> dict:
    (group,) = [g for g in plugin.get_security_groups(ctx) if g["name"] == "default"]
    return group


def addresses(port: dict) -> list[str]:
    return [ip["ip_address"] for ip in port["fixed_ips"]]


def sg_events(notifier) -> list[tuple[str, list[str]]]:
    return [(e, p["security_groups"]) for t, e, p in notifier.sent if t == SECURITY_GROUP_UPDATE]


def test_rpc_answer_shape(plugin, net):
    network, _v4, _v6 = net
    web = plugin.create_security_group(ALICE, {"name": "web"})
    default = default_group(plugin)
    ssh = plugin.create_security_group_rule(ALICE, {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_group_id": default["id"]})
    a = plugin.create_port(ALICE, {"network_id": network["id"], "allowed_address_pairs": [
        {"ip_address": "10.0.0.200"}, {"ip_address": "10.9.0.0/24"}]})
    b = plugin.create_port(ALICE, {"network_id": network["id"],
                                   "security_groups": [web["id"], default["id"]]})
    loose = plugin.create_port(ALICE, {"network_id": network["id"],
                                       "port_security_enabled": False})

    info = RpcEndpoint(plugin).security_group_info_for_devices(
        devices=[a["id"], b["id"], loose["id"], "no-such-port"])

    assert set(info) == {"devices", "security_groups", "sg_member_ips", "stateful"}
    assert set(info["devices"]) == {a["id"], b["id"], loose["id"]}
    device = info["devices"][a["id"]]
    for key in ("security_groups", "allowed_address_pairs", "port_security_enabled",
                "fixed_ips", "mac_address", "device_owner"):
        assert device[key] == a[key], key
    assert info["devices"][loose["id"]]["security_groups"] == []
    assert info["devices"][loose["id"]]["port_security_enabled"] is False
    assert set(info["security_groups"]) == {web["id"], default["id"]}
    web_rules = {r["id"]: r for r in info["security_groups"][web["id"]]}
    assert web_rules[ssh["id"]] == ssh
    assert len(web_rules) == 3
    assert len(info["security_groups"][default["id"]]) == 4
    assert info["stateful"] == {web["id"]: True, default["id"]: True}
    assert set(info["sg_member_ips"]) == {default["id"]}
    members = info["sg_member_ips"][default["id"]]
    assert members["IPv4"] == sorted(
        [addresses(a)[0], addresses(b)[0], "10.0.0.200"],
        key=lambda ip: tuple(int(x) for x in ip.split("."))) + ["10.9.0.0/24"]
    assert sorted(members["IPv6"]) == sorted([addresses(a)[1], addresses(b)[1]])
    assert RpcEndpoint(plugin).security_group_info_for_devices(devices=[]) == {
        "devices": {}, "security_groups": {}, "sg_member_ips": {}, "stateful": {}}


def test_rpc_stateless_group(plugin, net):
    network = net[0]
    group = plugin.create_security_group(ALICE, {"name": "udp", "stateful": False})
    port = plugin.create_port(ALICE, {"network_id": network["id"],
                                      "security_groups": [group["id"]]})
    info = plugin.security_group_info_for_devices([port["id"]])
    assert info["stateful"] == {group["id"]: False}
    assert info["sg_member_ips"] == {}


def test_rule_notifications(plugin, notifier):
    web = plugin.create_security_group(ALICE, {"name": "web"})
    notifier.clear()
    rule = plugin.create_security_group_rule(ALICE, {
        "security_group_id": web["id"], "direction": "ingress", "protocol": "icmp"})
    assert sg_events(notifier) == [(RULE_UPDATED, [web["id"]])]
    notifier.clear()
    with pytest.raises(sg_exc.SecurityGroupRuleExists):
        plugin.create_security_group_rule(ALICE, {
            "security_group_id": web["id"], "direction": "ingress", "protocol": "1"})
    assert notifier.sent == []
    plugin.update_security_group_rule(ALICE, rule["id"], {"description": "ping"})
    assert sg_events(notifier) == []
    plugin.delete_security_group_rule(ALICE, rule["id"])
    assert sg_events(notifier) == [(RULE_UPDATED, [web["id"]])]


def test_deleting_a_remote_group_notifies_the_groups_that_named_it(plugin, notifier):
    web = plugin.create_security_group(ALICE, {"name": "web"})
    db = plugin.create_security_group(ALICE, {"name": "db"})
    plugin.create_security_group_rule(ALICE, {
        "security_group_id": db["id"], "direction": "ingress", "remote_group_id": web["id"]})
    notifier.clear()
    plugin.delete_security_group(ALICE, web["id"])
    assert sg_events(notifier) == [(RULE_UPDATED, [db["id"]])]
    assert plugin.get_security_group(ALICE, db["id"])["revision_number"] == 2


def test_member_notifications(plugin, net, notifier):
    network, v4, _v6 = net
    default = default_group(plugin)
    web = plugin.create_security_group(ALICE, {"name": "web"})
    notifier.clear()
    port = plugin.create_port(ALICE, {"network_id": network["id"]})
    assert sg_events(notifier) == [(MEMBER_UPDATED, [default["id"]])]

    notifier.clear()
    plugin.update_port(ALICE, port["id"], {"name": "renamed"})
    assert sg_events(notifier) == []
    assert notifier.events("q-agent-notifier-port-update") == ["port_update"]

    notifier.clear()
    plugin.update_port(ALICE, port["id"], {"security_groups": [web["id"]]})
    assert sg_events(notifier) == [(MEMBER_UPDATED, sorted([default["id"], web["id"]]))]
    assert notifier.payloads("port_update")[-1]["port"]["security_groups"] == [web["id"]]

    notifier.clear()
    plugin.update_port(ALICE, port["id"], {"fixed_ips": [
        {"subnet_id": v4["id"], "ip_address": "10.0.0.50"}]})
    assert sg_events(notifier) == [(MEMBER_UPDATED, [web["id"]])]

    notifier.clear()
    plugin.update_port(ALICE, port["id"], {"allowed_address_pairs": [
        {"ip_address": "10.0.0.99"}]})
    assert sg_events(notifier) == [(MEMBER_UPDATED, [web["id"]])]

    notifier.clear()
    plugin.update_port(ALICE, port["id"], {"port_security_enabled": False,
                                           "security_groups": [],
                                           "allowed_address_pairs": []})
    assert sg_events(notifier) == [(MEMBER_UPDATED, [web["id"]])]
    assert notifier.payloads("port_update")[-1]["port"]["port_security_enabled"] is False

    plugin.update_port(ALICE, port["id"], {"port_security_enabled": True,
                                           "security_groups": [default["id"]]})
    notifier.clear()
    plugin.delete_port(ALICE, port["id"])
    assert sg_events(notifier) == [(MEMBER_UPDATED, [default["id"]])]


def test_refused_port_change_sends_nothing(plugin, net, notifier):
    port = plugin.create_port(ALICE, {"network_id": net[0]["id"]})
    notifier.clear()
    with pytest.raises(sg_exc.PortSecurityPortHasSecurityGroup):
        plugin.update_port(ALICE, port["id"], {"port_security_enabled": False})
    with pytest.raises(exc.AddressPairAndPortSecurityRequired):
        plugin.update_port(ALICE, port["id"], {
            "port_security_enabled": False, "security_groups": [],
            "allowed_address_pairs": [{"ip_address": "10.0.0.9"}]})
    assert notifier.sent == []
    assert plugin.get_port(ALICE, port["id"])["revision_number"] == port["revision_number"]


def test_default_group_created_once_under_concurrency(plugin, db_url):
    ctx = Context.member("racer")
    errors, barrier = [], threading.Barrier(6)

    def work():
        try:
            barrier.wait()
            plugin.get_security_groups(ctx)
        except Exception as error:  # reported below
            errors.append(error)
    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [g["name"] for g in plugin.get_security_groups(ctx)] == ["default"]
    assert [g["name"] for g in plugin.get_security_groups(ADMIN, {"project_id": ["racer"]})] \
        == ["default"]


def test_port_create_makes_the_default_group_of_the_ports_project(plugin, net):
    port = plugin.create_port(ADMIN, {"network_id": net[0]["id"], "project_id": "carol"})
    (group,) = plugin.get_security_groups(Context.member("carol"))
    assert port["security_groups"] == [group["id"]]
    assert group["project_id"] == "carol"


def test_member_addresses_sort_by_version_address_and_prefix():
    from neutrino.server.securitygroups import _address_order
    found = sorted(["fd00::2", "10.0.0.10", "10.0.0.9", "10.0.0.9/32", "10.0.0.0",
                    "10.0.0.0/24", "fd00::/64"], key=_address_order)
    assert found[:3] == ["10.0.0.0/24", "10.0.0.0", "10.0.0.9"]
    assert found[4:] == ["10.0.0.10", "fd00::/64", "fd00::2"]
    assert _address_order("10.0.0.9") == _address_order("10.0.0.9/32")
