import json


def test_versions(api):
    body = api.get("/").json()
    (v,) = body["versions"]
    assert v["id"] == "v2.0" and v["status"] == "CURRENT"
    assert v["links"][0]["href"].endswith("/v2.0/")


def test_resources(api):
    for path in ("/v2.0", "/v2.0/"):
        names = {r["name"] for r in api.get(path).json()["resources"]}
        assert {"network", "subnet", "port"} <= names


def test_extensions(api):
    exts = api.get("/v2.0/extensions").json()["extensions"]
    aliases = [e["alias"] for e in exts]
    for alias in ("provider", "binding", "external-net", "agent", "pagination", "sorting",
                  "standard-attr-tag", "revision-if-match", "net-mtu", "port-security",
                  "security-group", "stateful-security-group", "allowed-address-pairs"):
        assert alias in aliases
    for gone in ("l3-ha", "dvr", "tag-ports-during-bulk-creation"):
        assert gone not in aliases
    for ext in exts:
        assert set(ext) == {"alias", "name", "description", "updated", "links"}
        assert api.get(f"/v2.0/extensions/{ext['alias']}").json() == {"extension": ext}
    r = api.get("/v2.0/extensions/tag-ports-during-bulk-creation")
    assert r.status_code == 404
    assert r.json()["NeutronError"]["type"] == "ExtensionNotFound"


def test_bodies_that_are_not_valid(api):
    for raw in (b"{", b"", b"[]", b'{"net": {}}', b'{"network": 5}'):
        r = api.request("POST", "/v2.0/networks", content=raw,
                        headers={"Content-Type": "application/json"})
        assert r.status_code == 400, raw
        err = r.json()["NeutronError"]
        assert err["detail"] == "" and err["message"] and err["type"] == "HTTPBadRequest"
    r = api.post("/v2.0/networks", {"network": {"name": 5}})
    assert "name" in r.json()["NeutronError"]["message"]
    r = api.post("/v2.0/networks", {"network": {"status": "DOWN"}})
    assert r.status_code == 400
    r = api.post("/v2.0/networks", {"network": {"id": "not-uuid"}})
    assert r.status_code == 400
    assert api.get("/v2.0/networks").json() == {"networks": []}


def test_unknown_path_and_method(api):
    r = api.get("/v2.0/bogus")
    assert r.status_code == 404 and json.loads(r.text)["NeutronError"]["type"] == "HTTPNotFound"
    r = api.request("PATCH", "/v2.0/networks")
    assert r.status_code == 405


def test_any_token_accepted(api):
    r = api.get("/v2.0/networks", headers={"X-Auth-Token": "whatever"})
    assert r.status_code == 200
