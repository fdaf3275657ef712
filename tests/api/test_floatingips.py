"""Floating IPs over the API: allocation, association, router derivation, errors, projects."""
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


def tenant(api, project: str, cidr: str, public_net: dict | None):
    """A project's network behind its own router (gateway on public when given)."""
    client = api.as_project(project) if project != "admin" else api
    net = client.create("network", name=f"{project}-net")
    sub = client.create("subnet", network_id=net["id"], cidr=cidr)
    gw = {"external_gateway_info": {"network_id": public_net["id"]}} if public_net else {}
    router = client.create("router", name=f"{project}-router", **gw)
    r = client.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                   {"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    return client, net, sub, router


def test_floatingip_defaults(api, public, notifier):
    net, sub = public
    fip = api.create("floatingip", floating_network_id=net["id"])
    assert fip["floating_ip_address"] == "192.168.100.2"
    assert fip["floating_network_id"] == net["id"]
    assert fip["status"] == "DOWN"
    assert fip["router_id"] is None and fip["port_id"] is None
    assert fip["fixed_ip_address"] is None and fip["port_details"] is None
    assert fip["description"] == "" and fip["tags"] == [] and fip["revision_number"] == 0
    assert fip["project_id"] == fip["tenant_id"] == "admin"
    assert "name" not in fip
    (port,) = api.get(f"/v2.0/ports?device_id={fip['id']}").json()["ports"]
    assert port["device_owner"] == "network:floatingip" and port["project_id"] == ""
    assert port["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "192.168.100.2"}]
    assert notifier.payloads("routers_updated") == []
    assert api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"] == fip
    listed = api.get("/v2.0/floatingips").json()["floatingips"]
    assert [f["floating_ip_address"] for f in listed] == ["192.168.100.2"]
    error(api.delete(f"/v2.0/ports/{port['id']}"), 409, "ServicePortInUse")
    assert api.delete(f"/v2.0/floatingips/{fip['id']}").status_code == 204
    error(api.get(f"/v2.0/ports/{port['id']}"), 404, "PortNotFound")
    error(api.get(f"/v2.0/floatingips/{fip['id']}"), 404, "FloatingIPNotFound")


def test_associate_derives_router(api, public, notifier):
    net, _ = public
    _, tnet, tsub, router = tenant(api, "admin", "10.11.11.0/24", net)
    vm = api.create("port", network_id=tnet["id"], device_id="vm1", device_owner="compute:nova")
    notifier.clear()
    fip = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"])
    assert fip["router_id"] == router["id"] and fip["port_id"] == vm["id"]
    assert fip["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]
    assert fip["status"] == "DOWN"
    assert fip["port_details"] == {
        "name": "", "network_id": tnet["id"], "mac_address": vm["mac_address"],
        "admin_state_up": True, "status": "DOWN", "device_id": "vm1",
        "device_owner": "compute:nova"}
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]

    notifier.clear()
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    assert r.status_code == 200
    body = r.json()["floatingip"]
    assert body["port_id"] is None and body["router_id"] is None
    assert body["fixed_ip_address"] is None and body["status"] == "DOWN"
    assert body["revision_number"] == fip["revision_number"] + 1
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": vm["id"]}})
    assert r.json()["floatingip"]["router_id"] == router["id"]
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"description": "web"}})
    assert r.json()["floatingip"]["description"] == "web"
    assert r.json()["floatingip"]["port_id"] == vm["id"]
    error(api.put(f"/v2.0/floatingips/{fip['id']}",
                  {"floatingip": {"floating_ip_address": "192.168.100.9"}}),
          400, "HTTPBadRequest")

    filtered = api.get(f"/v2.0/floatingips?port_id={vm['id']}").json()["floatingips"]
    assert [f["id"] for f in filtered] == [fip["id"]]
    assert api.get("/v2.0/floatingips?router_id=" + router["id"]).json()["floatingips"]

    notifier.clear()
    assert api.delete(f"/v2.0/ports/{vm['id']}").status_code == 204
    after = api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]
    assert after["port_id"] is None and after["router_id"] is None
    assert {"router_ids": [router["id"]]} in notifier.payloads("routers_updated")


def test_no_router_to_external_network(api, public):
    net, _ = public
    private = api.create("network", name="lonely")
    sub = api.create("subnet", network_id=private["id"], cidr="10.50.0.0/24")
    vm = api.create("port", network_id=private["id"])
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                      "port_id": vm["id"]}})
    assert "is not reachable from subnet" in error(r, 404,
                                                   "ExternalGatewayForFloatingIPNotFound")
    router = api.create("router", name="no-gw")
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                      "port_id": vm["id"]}})
    error(r, 404, "ExternalGatewayForFloatingIPNotFound")
    assert api.get("/v2.0/floatingips").json()["floatingips"] == []
    assert api.get("/v2.0/ports?device_owner=network:floatingip").json()["ports"] == []


def test_port_with_several_fixed_ips(api, public):
    net, _ = public
    _, tnet, tsub, router = tenant(api, "admin", "10.11.11.0/24", net)
    vm = api.create("port", network_id=tnet["id"],
                    fixed_ips=[{"subnet_id": tsub["id"]}, {"subnet_id": tsub["id"]}])
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                      "port_id": vm["id"]}})
    assert "multiple fixed IPv4 addresses" in error(r, 400, "BadRequest")
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                      "port_id": vm["id"],
                                                      "fixed_ip_address": "10.11.11.99"}})
    assert "does not have fixed ip" in error(r, 400, "BadRequest")
    second = vm["fixed_ips"][1]["ip_address"]
    fip = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"],
                     fixed_ip_address=second)
    assert fip["fixed_ip_address"] == second and fip["router_id"] == router["id"]
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                      "port_id": vm["id"],
                                                      "fixed_ip_address": second}})
    error(r, 409, "FloatingIPPortAlreadyAssociated")
    first = vm["fixed_ips"][0]["ip_address"]
    other = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"],
                       fixed_ip_address=first)
    assert other["fixed_ip_address"] == first


def test_create_errors(api, public):
    net, sub = public
    private = api.create("network", name="private")
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": private["id"]}})
    assert "is not a valid external network" in error(r, 400, "BadRequest")
    r = api.post("/v2.0/floatingips", {"floatingip": {
        "floating_network_id": "00000000-0000-0000-0000-000000000000"}})
    error(r, 404, "NetworkNotFound")
    error(api.post("/v2.0/floatingips", {"floatingip": {}}), 400, "HTTPBadRequest")
    error(api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                        "router_id": net["id"]}}),
          400, "HTTPBadRequest")
    fip = api.create("floatingip", floating_network_id=net["id"],
                     floating_ip_address="192.168.100.50")
    assert fip["floating_ip_address"] == "192.168.100.50"
    for address, code, type_ in (("192.168.100.50", 409, "IpAddressInUse"),
                                 ("192.168.100.1", 409, "IpAddressInUse"),
                                 ("10.0.0.1", 400, "InvalidIpForNetwork")):
        r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                          "floating_ip_address": address}})
        error(r, code, type_)
    by_subnet = api.create("floatingip", floating_network_id=net["id"], subnet_id=sub["id"])
    assert by_subnet["floating_ip_address"] == "192.168.100.2"
    empty = api.create("network", name="empty-ext", **{"router:external": True})
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": empty["id"]}})
    assert "does not contain any IPv4 subnet" in error(r, 400, "BadRequest")


def test_pool_exhausted(api):
    net = api.create("network", name="tiny", **EXT)
    api.create("subnet", network_id=net["id"], cidr="192.168.7.0/30", enable_dhcp=False)
    api.create("floatingip", floating_network_id=net["id"])
    r = api.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"]}})
    error(r, 409, "IpAddressGenerationFailure")


def test_interfaces_and_gateway_kept_while_floating_ips_need_them(api, public):
    net, _ = public
    _, tnet, tsub, router = tenant(api, "admin", "10.11.11.0/24", net)
    vm = api.create("port", network_id=tnet["id"])
    fip = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"])
    r = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                {"subnet_id": tsub["id"]})
    error(r, 409, "RouterInterfaceInUseByFloatingIP")
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {}}})
    error(r, 409, "RouterExternalGatewayInUseByFloatingIp")
    error(api.delete(f"/v2.0/routers/{router['id']}"), 409, "RouterInUse")
    api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    r = api.put(f"/v2.0/routers/{router['id']}/remove_router_interface",
                {"subnet_id": tsub["id"]})
    assert r.status_code == 200
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {}}})
    assert r.status_code == 200
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert api.get(f"/v2.0/floatingips/{fip['id']}").status_code == 404   # went with it


def test_projects(api, public):
    net, _ = public
    demo, dnet, _, drouter = tenant(api, "demo", "10.0.0.0/24", net)
    alt, anet, _, arouter = tenant(api, "alt", "10.0.0.0/24", net)
    dvm = demo.create("port", network_id=dnet["id"])
    avm = alt.create("port", network_id=anet["id"])
    r = demo.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                       "floating_ip_address": "192.168.100.9"}})
    error(r, 403, "PolicyNotAuthorized")
    dfip = demo.create("floatingip", floating_network_id=net["id"], port_id=dvm["id"])
    afip = alt.create("floatingip", floating_network_id=net["id"], port_id=avm["id"])
    assert dfip["router_id"] == drouter["id"] and afip["router_id"] == arouter["id"]
    assert dfip["fixed_ip_address"] == afip["fixed_ip_address"]
    assert [f["id"] for f in demo.get("/v2.0/floatingips").json()["floatingips"]] == [
        dfip["id"]]
    error(alt.get(f"/v2.0/floatingips/{dfip['id']}"), 404, "FloatingIPNotFound")
    error(alt.put(f"/v2.0/floatingips/{dfip['id']}", {"floatingip": {"port_id": None}}),
          404, "FloatingIPNotFound")
    error(alt.delete(f"/v2.0/floatingips/{dfip['id']}"), 404, "FloatingIPNotFound")
    r = alt.put(f"/v2.0/floatingips/{afip['id']}", {"floatingip": {"port_id": dvm["id"]}})
    error(r, 404, "PortNotFound")
    r = alt.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"],
                                                      "port_id": dvm["id"]}})
    error(r, 404, "PortNotFound")
    assert len(api.get("/v2.0/floatingips").json()["floatingips"]) == 2
    admin_fip = api.create("floatingip", floating_network_id=net["id"], project_id="demo")
    assert admin_fip["project_id"] == "demo"
    assert len(demo.get("/v2.0/floatingips").json()["floatingips"]) == 2


def test_other_projects_port_on_own_network_refused(api, public):
    net, _ = public
    demo, dnet, _, _ = tenant(api, "demo", "10.0.0.0/24", net)
    foreign = api.create("port", network_id=dnet["id"], project_id="alt")
    fip = demo.create("floatingip", floating_network_id=net["id"])
    r = demo.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": foreign["id"]}})
    assert "owned by a different tenant" in error(r, 400, "BadRequest")


def test_tags_and_bulk(api, public):
    net, _ = public
    r = api.post("/v2.0/floatingips", {"floatingips": [{"floating_network_id": net["id"]},
                                                       {"floating_network_id": net["id"]}]})
    assert r.status_code == 201
    a, b = r.json()["floatingips"]
    assert {a["floating_ip_address"], b["floating_ip_address"]} == {"192.168.100.2",
                                                                  "192.168.100.3"}
    r = api.put(f"/v2.0/floatingips/{a['id']}/tags", {"tags": ["x", "y"]})
    assert r.json() == {"tags": ["x", "y"]}
    got = api.get("/v2.0/floatingips?tags-any=y").json()["floatingips"]
    assert [f["id"] for f in got] == [a["id"]]
    r = api.get("/v2.0/floatingips?floating_ip_address=192.168.100.3&fields=id")
    assert r.json()["floatingips"] == [{"id": b["id"]}]


def test_readers_only_read(api, public):
    net, _ = public
    demo, reader = api.as_project("demo"), api.as_project("demo", roles="reader")
    fip = demo.create("floatingip", floating_network_id=net["id"])
    url = f"/v2.0/floatingips/{fip['id']}"
    assert reader.get(url).json()["floatingip"]["id"] == fip["id"]
    error(reader.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": net["id"]}}),
          403, "PolicyNotAuthorized")
    error(reader.put(url, {"floatingip": {"description": "x"}}), 403, "PolicyNotAuthorized")
    error(reader.delete(url), 403, "PolicyNotAuthorized")


def test_floatingip_quota(api, public):
    assert api.put("/v2.0/quotas/demo", {"quota": {"floatingip": 1}}).status_code == 200
    demo = api.as_project("demo")
    demo.create("floatingip", floating_network_id=public[0]["id"])
    r = demo.post("/v2.0/floatingips", {"floatingip": {"floating_network_id": public[0]["id"]}})
    error(r, 409, "OverQuota")
    ports = api.get("/v2.0/ports?device_owner=network:floatingip").json()["ports"]
    assert len(ports) == 1


def test_fixed_ip_leaving_the_port_disassociates(api, public, notifier):
    net, _ = public
    _, tnet, tsub, router = tenant(api, "admin", "10.11.11.0/24", net)
    vm = api.create("port", network_id=tnet["id"])
    fip = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"])
    notifier.clear()
    r = api.put(f"/v2.0/ports/{vm['id']}", {"port": {"name": "renamed"}})
    assert r.status_code == 200
    assert notifier.payloads("routers_updated") == []
    assert api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"][
        "port_details"]["name"] == "renamed"
    r = api.put(f"/v2.0/ports/{vm['id']}", {"port": {"fixed_ips": [
        {"subnet_id": tsub["id"], "ip_address": "10.11.11.200"}]}})
    assert r.status_code == 200
    after = api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]
    assert after["port_id"] is None and after["fixed_ip_address"] is None
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]


def test_racing_floating_ips(live_server, service):
    """Concurrent creates get distinct addresses; concurrent associations to one port: one wins."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx
    with httpx.Client(base_url=live_server, timeout=60) as client:
        def post(coll, body):
            r = client.post(f"/v2.0/{coll}s", json={coll: body})
            assert r.status_code == 201, r.text
            return r.json()[coll]
        pub = post("network", {"name": "public", **EXT})
        post("subnet", {"network_id": pub["id"], "cidr": "192.168.100.0/28",
                        "enable_dhcp": False})
        net = post("network", {"name": "n"})
        sub = post("subnet", {"network_id": net["id"], "cidr": "10.0.0.0/24"})
        router = post("router", {"name": "r", "external_gateway_info": {
            "network_id": pub["id"]}})
        client.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                   json={"subnet_id": sub["id"]})
        vm = post("port", {"network_id": net["id"]})
        with ThreadPoolExecutor(8) as pool:
            created = list(pool.map(lambda _: client.post("/v2.0/floatingips", json={
                "floatingip": {"floating_network_id": pub["id"]}}), range(16)))
        codes = sorted(r.status_code for r in created)
        assert codes == [201] * 12 + [409] * 4, [r.text for r in created]
        fips = [r.json()["floatingip"] for r in created if r.status_code == 201]
        assert len({f["floating_ip_address"] for f in fips}) == 12
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda f: client.put(
                f"/v2.0/floatingips/{f['id']}", json={"floatingip": {"port_id": vm["id"]}}),
                fips[:8]))
        codes = sorted(r.status_code for r in results)
        assert codes == [200] + [409] * 7, [r.text for r in results]
        assert {r.json()["NeutronError"]["type"] for r in results if r.status_code == 409} == {
            "FloatingIPPortAlreadyAssociated"}
        listed = client.get(f"/v2.0/floatingips?port_id={vm['id']}").json()["floatingips"]
        assert len(listed) == 1


def test_empty_update_clears_the_association(api, public):
    net, _ = public
    _, tnet, _, _ = tenant(api, "admin", "10.11.11.0/24", net)
    vm = api.create("port", network_id=tnet["id"])
    fip = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"],
                     description="d1")
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"description": "d2"}})
    assert r.json()["floatingip"]["port_id"] == vm["id"]
    r = api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {}})
    assert r.status_code == 200
    assert r.json()["floatingip"]["port_id"] is None
    assert r.json()["floatingip"]["description"] == "d2"


def test_deleting_the_external_network_deletes_its_unassociated_floating_ips(api, public):
    net, sub = public
    free = api.create("floatingip", floating_network_id=net["id"])
    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    assert api.get(f"/v2.0/floatingips/{free['id']}").status_code == 404
    assert api.get(f"/v2.0/subnets/{sub['id']}").status_code == 404
    assert api.get("/v2.0/ports").json()["ports"] == []


def test_an_associated_floating_ip_keeps_its_external_network_in_use(api, public):
    net, _ = public
    _, tnet, _, _ = tenant(api, "admin", "10.11.11.0/24", net)
    vm = api.create("port", network_id=tnet["id"], device_id="vm1", device_owner="compute:nova")
    fip = api.create("floatingip", floating_network_id=net["id"], port_id=vm["id"])
    free = api.create("floatingip", floating_network_id=net["id"])
    error(api.delete(f"/v2.0/networks/{net['id']}"), 409, "NetworkInUse")
    assert api.get(f"/v2.0/floatingips/{fip['id']}").status_code == 200
    assert api.get(f"/v2.0/floatingips/{free['id']}").status_code == 200   # rolled back
