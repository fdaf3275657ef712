import pytest


@pytest.fixture
def nets(api):
    made = [api.create("network", name=n, admin_state_up=up)
            for n, up in (("a", True), ("b", False), ("c", True), ("d", True), ("e", False))]
    return {n["name"]: n for n in made}


def names(r):
    assert r.status_code == 200, r.text
    return [n["name"] for n in r.json()["networks"]]


def test_filters_repeat_is_or_different_is_and(api, nets):
    assert sorted(names(api.get("/v2.0/networks?name=a&name=c"))) == ["a", "c"]
    assert names(api.get("/v2.0/networks?name=a&name=b&admin_state_up=False")) == ["b"]
    assert sorted(names(api.get("/v2.0/networks?admin_state_up=false"))) == ["b", "e"]
    assert names(api.get("/v2.0/networks?name=zzz")) == []


def test_boolean_filter_as_the_cli_sends_it(api, nets):
    ext = api.create("network", name="public", **{"router:external": True})
    r = api.get("/v2.0/networks?router%3Aexternal=True")
    assert [n["id"] for n in r.json()["networks"]] == [ext["id"]]
    assert len(names(api.get("/v2.0/networks?router:external=False"))) == 5


def test_bad_filters(api, nets):
    r = api.get("/v2.0/networks?color=blue")
    assert r.status_code == 400 and "color" in r.json()["NeutronError"]["message"]
    assert api.get("/v2.0/networks?admin_state_up=perhaps").status_code == 400


def test_empty_string_filter(api):
    net = api.create("network")
    a = api.create("port", network_id=net["id"])
    api.create("port", network_id=net["id"], device_id="vm")
    r = api.get("/v2.0/ports?device_id=")
    assert [p["id"] for p in r.json()["ports"]] == [a["id"]]


def test_fixed_ips_filter(api):
    net = api.create("network")
    api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4,
               enable_dhcp=False)
    a = api.create("port", network_id=net["id"])
    api.create("port", network_id=net["id"])
    r = api.get("/v2.0/ports?fixed_ips=ip_address%3D10.0.0.2")
    assert [p["id"] for p in r.json()["ports"]] == [a["id"]]


def test_fields_exact_keys(api, nets):
    r = api.get("/v2.0/networks?fields=id&fields=name")
    assert all(set(n) == {"id", "name"} for n in r.json()["networks"])
    r = api.get(f"/v2.0/networks/{nets['a']['id']}?fields=mtu")
    assert r.json()["network"] == {"mtu": 1450}


def test_sorting(api, nets):
    assert names(api.get("/v2.0/networks?sort_key=name&sort_dir=desc")) == list("edcba")
    got = names(api.get("/v2.0/networks?sort_key=admin_state_up&sort_dir=asc"
                        "&sort_key=name&sort_dir=desc"))
    assert got == ["e", "b", "d", "c", "a"]
    assert api.get("/v2.0/networks?sort_key=bogus").status_code == 400
    assert api.get("/v2.0/networks?sort_key=name&sort_dir=up").status_code == 400


def test_pagination_with_links(api, nets):
    r = api.get("/v2.0/networks?limit=2&sort_key=name&sort_dir=asc")
    body = r.json()
    assert [n["name"] for n in body["networks"]] == ["a", "b"]
    (nxt,) = [link for link in body["networks_links"] if link["rel"] == "next"]
    assert f"marker={nets['b']['id']}" in nxt["href"] and "limit=2" in nxt["href"]
    page2 = api.get(nxt["href"]).json()
    assert [n["name"] for n in page2["networks"]] == ["c", "d"]
    rels = {link["rel"]: link["href"] for link in page2["networks_links"]}
    assert set(rels) == {"next", "previous"}
    back = api.get(rels["previous"]).json()
    assert [n["name"] for n in back["networks"]] == ["a", "b"]
    page3 = api.get(rels["next"]).json()
    assert [n["name"] for n in page3["networks"]] == ["e"]
    assert [link["rel"] for link in page3["networks_links"]] == ["previous"]
    assert api.get("/v2.0/networks?limit=-1").status_code == 400
    assert api.get("/v2.0/networks?limit=x").status_code == 400


def test_default_paging_order_is_by_id(api, nets):
    ids = sorted(n["id"] for n in nets.values())
    r = api.get("/v2.0/networks?limit=3").json()
    assert [n["id"] for n in r["networks"]] == ids[:3]


def test_json_suffix(api, nets):
    assert len(api.get("/v2.0/networks.json").json()["networks"]) == 5
