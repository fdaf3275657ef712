"""Routers over the API: attributes, gateway, interfaces, extra routes, errors, projects."""
import pytest

EXT = {"router:external": True, "provider:network_type": "flat",
       "provider:physical_network": "extnet"}


def error(r, code: int, type_: str) -> str:
    assert r.status_code == code, r.text
    assert r.json()["NeutronError"]["type"] == type_, r.text
    return r.json()["NeutronError"]["message"]


@pytest.fixture
def public(api):
    net = api.create("network", name="public", **EXT)
    sub = api.create("subnet", network_id=net["id"], cidr="192.168.100.0/24",
                     gateway_ip="192.168.100.1", enable_dhcp=False,
                     allocation_pools=[{"start": "192.168.100.2", "end": "192.168.100.254"}])
    return net, sub


@pytest.fixture
def private(api):
    net = api.create("network", name="private")
    sub = api.create("subnet", network_id=net["id"], cidr="10.11.11.0/24", ip_version=4)
    return net, sub


def add_interface(api, router_id, **body):
    return api.put(f"/v2.0/routers/{router_id}/add_router_interface", body)


def remove_interface(api, router_id, **body):
    return api.put(f"/v2.0/routers/{router_id}/remove_router_interface", body)


def test_router_defaults(api, notifier):
    router = api.create("router", name="router1")
    assert router["name"] == "router1" and router["description"] == ""
    assert router["admin_state_up"] is True and router["status"] == "ACTIVE"
    assert router["external_gateway_info"] is None and router["routes"] == []
    assert router["tags"] == [] and router["revision_number"] == 0
    assert router["project_id"] == router["tenant_id"] == "admin"
    assert router["created_at"].endswith("Z") and router["updated_at"].endswith("Z")
    assert {"router_ids": [router["id"]]} in notifier.payloads("routers_updated")
    assert api.get(f"/v2.0/routers/{router['id']}").json()["router"] == router
    assert api.get("/v2.0/routers").json()["routers"] == [router]


def test_router_attributes_on_create_and_update(api):
    router = api.create("router", name="r", description="d", admin_state_up=False)
    assert router["description"] == "d" and router["admin_state_up"] is False
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"name": "r2",
                                                             "admin_state_up": True}})
    assert r.status_code == 200
    updated = r.json()["router"]
    assert updated["name"] == "r2" and updated["admin_state_up"] is True
    assert updated["revision_number"] == 1
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"name": "r3"}},
                headers={"If-Match": "revision_number=0"})
    error(r, 412, "RevisionNumberConstraintFailed")
    for body in ({"status": "DOWN"}, {"routes": []}, {"bogus": 1}):
        r = api.post("/v2.0/routers", {"router": body})
        error(r, 400, "HTTPBadRequest")
    error(api.get("/v2.0/routers/00000000-0000-0000-0000-000000000000"), 404, "RouterNotFound")
    error(api.get("/v2.0/routers/router1"), 404, "RouterNotFound")


def test_gateway_set_and_clear(api, public, notifier):
    net, sub = public
    router = api.create("router", name="r", external_gateway_info={"network_id": net["id"]})
    info = router["external_gateway_info"]
    assert info == {"network_id": net["id"], "enable_snat": True,
                    "external_fixed_ips": [{"subnet_id": sub["id"],
                                            "ip_address": "192.168.100.2"}]}
    (port,) = api.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"]
    assert port["device_owner"] == "network:router_gateway"
    assert port["project_id"] == "" and port["name"] == ""
    assert port["fixed_ips"] == info["external_fixed_ips"]
    r = api.put(f"/v2.0/routers/{router['id']}",
                {"router": {"external_gateway_info": {"network_id": net["id"],
                                                      "enable_snat": False}}})
    assert r.json()["router"]["external_gateway_info"]["enable_snat"] is False
    assert r.json()["router"]["external_gateway_info"]["external_fixed_ips"] == \
        info["external_fixed_ips"]
    notifier.clear()
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {}}})
    assert r.status_code == 200 and r.json()["router"]["external_gateway_info"] is None
    assert api.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"] == []
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    assert port["id"] in [p["port_id"] for p in notifier.payloads("port_delete")]
    r = api.put(f"/v2.0/routers/{router['id']}",
                {"router": {"external_gateway_info": {
                    "network_id": net["id"],
                    "external_fixed_ips": [{"ip_address": "192.168.100.77"}]}}})
    assert r.json()["router"]["external_gateway_info"]["external_fixed_ips"] == [
        {"subnet_id": sub["id"], "ip_address": "192.168.100.77"}]
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": None}})
    assert r.json()["router"]["external_gateway_info"] is None


def test_gateway_errors(api, public, private):
    router = api.create("router", name="r")
    r = api.put(f"/v2.0/routers/{router['id']}",
                {"router": {"external_gateway_info": {"network_id": private[0]["id"]}}})
    assert "is not an external network" in error(r, 400, "BadRequest")
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": "00000000-0000-0000-0000-000000000000"}}})
    error(r, 404, "NetworkNotFound")
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "enable_snat": True}}})
    error(r, 400, "HTTPBadRequest")
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": public[0]["id"],
        "external_fixed_ips": [{"ip_address": "192.168.100.1"}]}}})
    error(r, 409, "IpAddressInUse")
    assert api.get(f"/v2.0/routers/{router['id']}").json()["router"][
        "external_gateway_info"] is None


def test_non_admin_gateway_policy(api, public):
    demo = api.as_project("demo")
    nets = demo.get("/v2.0/networks?router%3Aexternal=True").json()["networks"]
    assert [n["id"] for n in nets] == [public[0]["id"]]
    router = demo.create("router", name="r")
    assert router["project_id"] == "demo"
    for extra in ({"enable_snat": False},
                  {"external_fixed_ips": [{"ip_address": "192.168.100.9"}]}):
        r = demo.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
            "network_id": public[0]["id"], **extra}}})
        error(r, 403, "PolicyNotAuthorized")
        r = demo.post("/v2.0/routers", {"router": {"external_gateway_info": {
            "network_id": public[0]["id"], **extra}}})
        error(r, 403, "PolicyNotAuthorized")
    r = demo.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": public[0]["id"]}}})
    assert r.status_code == 200
    assert r.json()["router"]["external_gateway_info"]["external_fixed_ips"][0][
        "ip_address"] == "192.168.100.2"
    assert demo.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"] == []


def test_external_flag_kept_while_gateways_use_it(api, public):
    api.create("router", name="r", external_gateway_info={"network_id": public[0]["id"]})
    r = api.put(f"/v2.0/networks/{public[0]['id']}", {"network": {"router:external": False}})
    error(r, 409, "ExternalNetworkInUse")
    error(api.delete(f"/v2.0/networks/{public[0]['id']}"), 409, "NetworkInUse")


def test_add_and_remove_interface_by_subnet(api, private, notifier):
    net, sub = private
    router = api.create("router", name="r")
    notifier.clear()
    r = add_interface(api, router["id"], subnet_id=sub["id"])
    assert r.status_code == 200, r.text
    info = r.json()
    assert set(info) == {"id", "tenant_id", "project_id", "port_id", "network_id",
                         "subnet_id", "subnet_ids"}
    assert info["id"] == router["id"] and info["network_id"] == net["id"]
    assert info["subnet_id"] == sub["id"] and info["subnet_ids"] == [sub["id"]]
    assert info["project_id"] == info["tenant_id"] == "admin"
    port = api.get(f"/v2.0/ports/{info['port_id']}").json()["port"]
    assert port["device_owner"] == "network:router_interface"
    assert port["device_id"] == router["id"] and port["name"] == ""
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.11.11.1"}]
    assert port["binding:host_id"] == "" and port["binding:vif_type"] == "unbound"
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    assert info["port_id"] in [p["port"]["id"] for p in notifier.payloads("port_create_end")]
    shown = api.get(f"/v2.0/routers/{router['id']}").json()["router"]
    assert shown["revision_number"] == router["revision_number"] + 1

    error(add_interface(api, router["id"], subnet_id=sub["id"]), 400, "BadRequest")
    error(api.delete(f"/v2.0/routers/{router['id']}"), 409, "RouterInUse")
    error(api.delete(f"/v2.0/ports/{info['port_id']}"), 409, "ServicePortInUse")
    error(api.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    error(api.delete(f"/v2.0/subnets/{sub['id']}"), 409, "SubnetInUse")

    notifier.clear()
    r = remove_interface(api, router["id"], subnet_id=sub["id"])
    assert r.status_code == 200 and r.json() == info
    error(api.get(f"/v2.0/ports/{info['port_id']}"), 404, "PortNotFound")
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    error(remove_interface(api, router["id"], subnet_id=sub["id"]), 404,
          "RouterInterfaceNotFoundForSubnet")
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert {"router_id": router["id"]} in notifier.payloads("router_deleted")
    error(api.get(f"/v2.0/routers/{router['id']}"), 404, "RouterNotFound")


def test_add_and_remove_interface_by_port(api, private):
    net, sub = private
    router = api.create("router", name="r")
    port = api.create("port", network_id=net["id"],
                      fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.11.11.254"}])
    r = add_interface(api, router["id"], port_id=port["id"])
    assert r.status_code == 200, r.text
    assert r.json()["port_id"] == port["id"] and r.json()["subnet_ids"] == [sub["id"]]
    shown = api.get(f"/v2.0/ports/{port['id']}").json()["port"]
    assert shown["device_owner"] == "network:router_interface"
    assert shown["device_id"] == router["id"]
    other = api.create("router", name="other")
    error(add_interface(api, other["id"], port_id=port["id"]), 409, "PortInUse")
    error(remove_interface(api, router["id"], port_id=port["id"],
                           subnet_id="00000000-0000-0000-0000-000000000000"),
          400, "SubnetMismatchForPort")
    error(remove_interface(api, other["id"], port_id=port["id"]), 404,
          "RouterInterfaceNotFound")
    r = remove_interface(api, router["id"], port_id=port["id"])
    assert r.status_code == 200 and r.json()["port_id"] == port["id"]
    error(api.get(f"/v2.0/ports/{port['id']}"), 404, "PortNotFound")


def test_interface_errors(api, private, public):
    net, sub = private
    router = api.create("router", name="r", external_gateway_info={"network_id": public[0]["id"]})
    assert "Either subnet_id or port_id" in error(add_interface(api, router["id"]), 400,
                                                  "BadRequest")
    error(add_interface(api, router["id"], subnet_id=sub["id"], port_id=sub["id"]), 400,
          "BadRequest")
    error(add_interface(api, router["id"], subnet_id="nope"), 400, "BadRequest")
    error(add_interface(api, router["id"], subnet_id="00000000-0000-0000-0000-000000000000"),
          404, "SubnetNotFound")
    error(add_interface(api, "00000000-0000-0000-0000-000000000000", subnet_id=sub["id"]),
          404, "RouterNotFound")
    no_gw = api.create("subnet", network_id=net["id"], cidr="10.12.0.0/24", gateway_ip=None)
    assert "must have a gateway IP" in error(add_interface(api, router["id"],
                                                           subnet_id=no_gw["id"]),
                                             400, "BadRequest")
    bare = api.create("port", network_id=net["id"], fixed_ips=[])
    assert "at least one fixed IP" in error(add_interface(api, router["id"],
                                                          port_id=bare["id"]),
                                            400, "BadRequest")
    two = api.create("port", network_id=net["id"],
                     fixed_ips=[{"subnet_id": sub["id"]}, {"subnet_id": no_gw["id"]}])
    error(add_interface(api, router["id"], port_id=two["id"]), 400, "BadRequest")
    assert add_interface(api, router["id"], subnet_id=sub["id"]).status_code == 200
    other_net = api.create("network", name="other")
    overlap = api.create("subnet", network_id=other_net["id"], cidr="10.11.0.0/16")
    assert "overlaps with cidr" in error(add_interface(api, router["id"],
                                                       subnet_id=overlap["id"]),
                                         400, "BadRequest")
    ext_overlap = api.create("subnet", network_id=other_net["id"], cidr="192.168.100.0/25")
    error(add_interface(api, router["id"], subnet_id=ext_overlap["id"]), 400, "BadRequest")
    second = api.create("router", name="second")
    error(add_interface(api, second["id"], subnet_id=sub["id"]), 409, "IpAddressInUse")


def test_extra_routes(api, private, notifier):
    net, sub = private
    router = api.create("router", name="r")
    add_interface(api, router["id"], subnet_id=sub["id"])
    url = f"/v2.0/routers/{router['id']}"
    route = {"destination": "172.16.0.0/16", "nexthop": "10.11.11.9"}
    r = api.put(url, {"router": {"routes": [route, route]}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == [route]
    r = api.put(url, {"router": {"routes": [{"destination": "172.17.0.0/16",
                                             "nexthop": "10.99.0.1"}]}})
    assert "not connected" in error(r, 400, "InvalidRoutes")
    r = api.put(url, {"router": {"routes": [{"destination": "172.17.0.0/16",
                                             "nexthop": "10.11.11.1"}]}})
    assert "used by router" in error(r, 400, "InvalidRoutes")
    r = api.put(url, {"router": {"routes": [{"destination": "172.17.0.0/16",
                                             "nexthop": "bad"}]}})
    error(r, 400, "HTTPBadRequest")
    many = [{"destination": f"172.18.{i}.0/24", "nexthop": "10.11.11.9"} for i in range(31)]
    error(api.put(url, {"router": {"routes": many}}), 400, "RoutesExhausted")
    other = {"destination": "172.20.0.0/16", "nexthop": "10.11.11.10"}
    notifier.clear()
    r = api.put(url + "/add_extraroutes", {"router": {"routes": [other, route]}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == [route, other]
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    r = api.put(url + "/remove_extraroutes", {"router": {"routes": [route]}})
    assert r.status_code == 200 and r.json()["router"]["routes"] == [other]
    error(api.put(url + "/add_extraroutes", {"routes": [route]}), 400, "HTTPBadRequest")
    error(remove_interface(api, router["id"], subnet_id=sub["id"]), 409,
          "RouterInterfaceInUseByRoute")
    r = api.put(url, {"router": {"routes": None}})
    assert r.json()["router"]["routes"] == []
    assert remove_interface(api, router["id"], subnet_id=sub["id"]).status_code == 200


def test_projects_do_not_see_each_other(api, private):
    net, sub = private
    demo, alt = api.as_project("demo"), api.as_project("alt")
    demo_net = demo.create("network", name="d")
    demo_sub = demo.create("subnet", network_id=demo_net["id"], cidr="10.20.0.0/24")
    router = demo.create("router", name="r")
    assert alt.get("/v2.0/routers").json()["routers"] == []
    error(alt.get(f"/v2.0/routers/{router['id']}"), 404, "RouterNotFound")
    error(alt.put(f"/v2.0/routers/{router['id']}", {"router": {"name": "x"}}), 404,
          "RouterNotFound")
    error(alt.delete(f"/v2.0/routers/{router['id']}"), 404, "RouterNotFound")
    error(add_interface(alt, router["id"], subnet_id=demo_sub["id"]), 404, "RouterNotFound")
    alt_router = alt.create("router", name="a")
    error(add_interface(alt, alt_router["id"], subnet_id=demo_sub["id"]), 404,
          "SubnetNotFound")
    error(add_interface(demo, router["id"], subnet_id=sub["id"]), 404, "SubnetNotFound")
    demo_port = demo.create("port", network_id=demo_net["id"])
    error(add_interface(alt, alt_router["id"], port_id=demo_port["id"]), 404, "PortNotFound")
    r = add_interface(demo, router["id"], subnet_id=demo_sub["id"])
    assert r.status_code == 200 and r.json()["project_id"] == "demo"
    ports = demo.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"]
    assert [p["device_owner"] for p in ports] == ["network:router_interface"]
    assert [r["id"] for r in api.get("/v2.0/routers").json()["routers"]] == [
        router["id"], alt_router["id"]]


def test_shared_subnet_of_other_project_refused(api):
    shared = api.create("network", name="shared", shared=True)
    sub = api.create("subnet", network_id=shared["id"], cidr="10.30.0.0/24")
    demo = api.as_project("demo")
    router = demo.create("router", name="r")
    assert "not owned by project" in error(add_interface(demo, router["id"],
                                                         subnet_id=sub["id"]),
                                           400, "BadRequest")


def test_tags_filters_and_bulk(api):
    r = api.post("/v2.0/routers", {"routers": [{"name": "a"}, {"name": "b"}]})
    assert r.status_code == 201
    a, b = r.json()["routers"]
    assert api.put(f"/v2.0/routers/{a['id']}/tags/blue").status_code == 201
    assert api.get(f"/v2.0/routers/{a['id']}").json()["router"]["tags"] == ["blue"]
    assert [x["id"] for x in api.get("/v2.0/routers?tags=blue").json()["routers"]] == [a["id"]]
    assert [x["id"] for x in api.get("/v2.0/routers?name=b").json()["routers"]] == [b["id"]]
    listed = api.get("/v2.0/routers?fields=id&fields=name&sort_key=name&sort_dir=desc")
    assert listed.json()["routers"] == [{"id": b["id"], "name": "b"},
                                        {"id": a["id"], "name": "a"}]
    error(api.get("/v2.0/routers?external_gateway_info=x"), 400, "HTTPBadRequest")
    r = api.post("/v2.0/routers", {"routers": [{"name": "c"}, {"name": "d", "bogus": 1}]})
    assert r.status_code == 400
    assert len(api.get("/v2.0/routers").json()["routers"]) == 2


def test_extensions_advertised(api):
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert {"router", "ext-gw-mode", "extraroute", "extraroute-atomic",
            "fip-port-details"} <= aliases
    ext = api.get("/v2.0/extensions/router").json()["extension"]
    assert ext["name"] == "Neutron L3 Router"
    names = {r["name"] for r in api.get("/v2.0/").json()["resources"]}
    assert {"router", "floatingip"} <= names


def test_readers_only_read(api):
    demo, reader = api.as_project("demo"), api.as_project("demo", roles="reader")
    net = demo.create("network", name="d")
    sub = demo.create("subnet", network_id=net["id"], cidr="10.20.0.0/24")
    router = demo.create("router", name="r")
    url = f"/v2.0/routers/{router['id']}"
    assert [r["id"] for r in reader.get("/v2.0/routers").json()["routers"]] == [router["id"]]
    assert reader.get(url).status_code == 200
    error(reader.post("/v2.0/routers", {"router": {"name": "x"}}), 403, "PolicyNotAuthorized")
    error(reader.put(url, {"router": {"name": "x"}}), 403, "PolicyNotAuthorized")
    error(add_interface(reader, router["id"], subnet_id=sub["id"]), 403, "PolicyNotAuthorized")
    error(reader.put(url + "/add_extraroutes", {"router": {"routes": []}}), 403,
          "PolicyNotAuthorized")
    error(reader.delete(url), 403, "PolicyNotAuthorized")
    assert add_interface(demo, router["id"], subnet_id=sub["id"]).status_code == 200
    error(remove_interface(reader, router["id"], subnet_id=sub["id"]), 403,
          "PolicyNotAuthorized")


def test_router_quota(api):
    r = api.put("/v2.0/quotas/demo", {"quota": {"router": 1}})
    assert r.status_code == 200, r.text
    demo = api.as_project("demo")
    demo.create("router", name="one")
    error(demo.post("/v2.0/routers", {"router": {"name": "two"}}), 409, "OverQuota")
    assert len(demo.get("/v2.0/routers").json()["routers"]) == 1


def test_racing_routers_for_one_subnet(live_server, service):
    """Eight routers ask for the same subnet at once: one gets it, the others 409."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    with httpx.Client(base_url=live_server, timeout=60) as client:
        def post(coll, body):
            r = client.post(f"/v2.0/{coll}s", json={coll: body})
            assert r.status_code == 201, r.text
            return r.json()[coll]
        net = post("network", {"name": "n"})
        sub = post("subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24"})
        routers = [post("router", {"name": f"r{i}"}) for i in range(8)]
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda r: client.put(
                f"/v2.0/routers/{r['id']}/add_router_interface",
                json={"subnet_id": sub["id"]}), routers))
        codes = sorted(r.status_code for r in results)
        assert codes == [200] + [409] * 7, [r.text for r in results]
        ports = client.get("/v2.0/ports?device_owner=network:router_interface").json()["ports"]
        assert len(ports) == 1
        assert ports[0]["device_id"] == next(
            r["id"] for r, res in zip(routers, results) if res.status_code == 200)


def test_gateway_ip_held_by_a_router_interface(api):
    net = api.create("network", name="n")
    sub = api.create("subnet", network_id=net["id"], cidr="10.11.11.0/24",
                     allocation_pools=[{"start": "10.11.11.10", "end": "10.11.11.200"}])
    url = f"/v2.0/subnets/{sub['id']}"
    r = api.put(url, {"subnet": {"gateway_ip": "10.11.11.1", "name": "same"}})
    assert r.status_code == 200
    router = api.create("router", name="r")
    assert add_interface(api, router["id"], subnet_id=sub["id"]).status_code == 200
    by_port = api.create("port", network_id=net["id"],
                         fixed_ips=[{"subnet_id": sub["id"], "ip_address": "10.11.11.100"}])
    other = api.create("router", name="other")
    assert add_interface(api, other["id"], port_id=by_port["id"]).status_code == 200
    assert api.put(url, {"subnet": {"gateway_ip": "10.11.11.1"}}).status_code == 200
    assert "already in use by port" in error(
        api.put(url, {"subnet": {"gateway_ip": "10.11.11.2"}}), 409, "GatewayIpInUse")
    error(api.put(url, {"subnet": {"gateway_ip": None}}), 409, "GatewayIpInUse")
    assert api.get(url).json()["subnet"]["gateway_ip"] == "10.11.11.1"
