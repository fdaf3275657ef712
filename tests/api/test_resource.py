"""Generic collection behaviour tempest checks: If-Match with any revision number."""


def test_if_match_with_a_negative_stale_revision_is_412(api):
    net = api.create("network", name="n")
    assert net["revision_number"] == 0
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}},
                headers={"If-Match": "revision_number=-1"})
    assert r.status_code == 412
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}},
                headers={"If-Match": "revision_number=abc"})
    assert r.status_code == 400
    r = api.put(f"/v2.0/networks/{net['id']}", {"network": {"name": "x"}},
                headers={"If-Match": "revision_number=0"})
    assert r.status_code == 200 and r.json()["network"]["revision_number"] == 1
