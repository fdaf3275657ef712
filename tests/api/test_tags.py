def test_tags_lifecycle(api):
    net = api.create("network")
    base = f"/v2.0/networks/{net['id']}/tags"
    assert api.put(f"{base}/red").status_code == 201
    assert api.put(f"{base}/blue").status_code == 201
    assert api.get(base).json() == {"tags": ["red", "blue"]}
    assert api.get(f"{base}/red").status_code == 204
    assert api.get(f"{base}/green").status_code == 404
    shown = api.get(f"/v2.0/networks/{net['id']}").json()["network"]
    assert shown["tags"] == ["red", "blue"] and shown["revision_number"] == 2
    r = api.put(base, {"tags": ["x", "y"]})
    assert r.status_code == 200 and r.json() == {"tags": ["x", "y"]}
    assert api.delete(f"{base}/x").status_code == 204
    assert api.delete(f"{base}/x").status_code == 404
    assert api.delete(base).status_code == 204
    assert api.get(base).json() == {"tags": []}
    assert api.put(base, {"tags": "x"}).status_code == 400


def test_tag_filters(api):
    a, b, c = (api.create("network", name=n) for n in "abc")
    api.put(f"/v2.0/networks/{a['id']}/tags", {"tags": ["red", "big"]})
    api.put(f"/v2.0/networks/{b['id']}/tags", {"tags": ["red"]})

    def names(query):
        return sorted(n["name"] for n in api.get(f"/v2.0/networks?{query}").json()["networks"])
    assert names("tags=red,big") == ["a"]
    assert names("tags=red") == ["a", "b"]
    assert names("tags-any=big,none") == ["a"]
    assert names("not-tags=red") == ["c"]
    assert names("not-tags-any=big") == ["b", "c"]


def test_tags_on_ports_subnets_and_other_projects(api):
    net = api.create("network")
    sub = api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    assert api.put(f"/v2.0/subnets/{sub['id']}/tags/t").status_code == 201
    assert api.as_project("eve").put(f"/v2.0/networks/{net['id']}/tags/t").status_code == 404
