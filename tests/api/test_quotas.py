"""Quotas: Neutron's API and defaults, and OverQuota on create (also under concurrency)."""
import threading

import httpx
import pytest

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100}


@pytest.fixture
def alice(api):
    return api.as_project("alice")


def test_defaults_and_show(api, alice):
    assert api.get("/v2.0/quotas/alice/default").json()["quota"] == DEFAULTS
    assert alice.get("/v2.0/quotas/alice").json()["quota"] == DEFAULTS
    assert alice.get("/v2.0/quotas/alice/default").json()["quota"] == DEFAULTS
    assert alice.get("/v2.0/quotas/tenant").json() == {"tenant": {"tenant_id": "alice"}}
    assert alice.get("/v2.0/quotas/project").json() == {"project": {"project_id": "alice"}}


def test_update_list_and_reset(api):
    r = api.put("/v2.0/quotas/alice", {"quota": {"network": 3, "port": "-1", "force": True}})
    assert r.status_code == 200
    assert r.json()["quota"] == dict(DEFAULTS, network=3, port=-1)
    r = api.put("/v2.0/quotas/alice", {"quota": {"subnet": 2 ** 31 - 1}})
    assert r.json()["quota"]["subnet"] == 2 ** 31 - 1
    assert api.get("/v2.0/quotas/alice").json()["quota"]["network"] == 3
    (entry,) = api.get("/v2.0/quotas").json()["quotas"]
    assert entry["project_id"] == entry["tenant_id"] == "alice" and entry["network"] == 3
    assert api.delete("/v2.0/quotas/alice").status_code == 204
    assert api.get("/v2.0/quotas/alice").json()["quota"] == DEFAULTS
    assert api.get("/v2.0/quotas").json()["quotas"] == []


@pytest.mark.parametrize("body", [{"quota": {"network": -2}}, {"quota": {"network": "many"}},
                                  {"quota": {"network": 2 ** 31}},
                                  {"quota": {"bogus": 1}}, {"quota": {"network": True}},
                                  {"network": 1}])
def test_bad_updates_are_400(api, body):
    assert api.put("/v2.0/quotas/alice", body).status_code == 400


def test_non_admin_reads_only_its_own_and_cannot_change(api, alice):
    assert alice.get("/v2.0/quotas/bob").status_code == 403
    assert alice.get("/v2.0/quotas/bob/details").status_code == 403
    assert alice.get("/v2.0/quotas").status_code == 403
    assert alice.put("/v2.0/quotas/alice", {"quota": {"network": 500}}).status_code == 403
    assert alice.delete("/v2.0/quotas/alice").status_code == 403


def test_details_count_usage(api, alice):
    net = alice.create("network")
    alice.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4,
                 enable_dhcp=False)
    alice.create("port", network_id=net["id"])
    details = alice.get("/v2.0/quotas/alice/details").json()["quota"]
    assert details["network"] == {"limit": 100, "used": 1, "reserved": 0}
    assert details["subnet"]["used"] == 1 and details["port"]["used"] == 1


def test_over_quota_is_409_and_creates_nothing(api, alice):
    api.put("/v2.0/quotas/alice", {"quota": {"network": 2, "port": 1}})
    first = alice.create("network")
    alice.create("network")
    r = alice.post("/v2.0/networks", {"network": {"name": "third"}})
    assert r.status_code == 409
    assert r.json()["NeutronError"]["type"] == "OverQuota"
    assert "network" in r.json()["NeutronError"]["message"]
    assert len(alice.get("/v2.0/networks").json()["networks"]) == 2
    alice.create("port", network_id=first["id"])
    assert alice.post("/v2.0/ports", {"port": {"network_id": first["id"]}}).status_code == 409
    assert len(alice.get("/v2.0/ports").json()["ports"]) == 1
    assert api.create("network", project_id="bob")["project_id"] == "bob"


def test_bulk_create_over_quota_creates_none(api, alice):
    api.put("/v2.0/quotas/alice", {"quota": {"network": 2}})
    alice.create("network")
    r = alice.post("/v2.0/networks", {"networks": [{"name": "a"}, {"name": "b"}]})
    assert r.status_code == 409
    assert len(alice.get("/v2.0/networks").json()["networks"]) == 1


def test_unlimited_and_zero(api, alice):
    api.put("/v2.0/quotas/alice", {"quota": {"network": 0}})
    assert alice.post("/v2.0/networks", {"network": {}}).status_code == 409
    api.put("/v2.0/quotas/alice", {"quota": {"network": -1}})
    assert alice.post("/v2.0/networks", {"network": {}}).status_code == 201


def test_concurrent_creates_never_pass_the_limit(live_server, api):
    limit, attempts = 4, 16
    api.put("/v2.0/quotas/racer", {"quota": {"network": limit}})
    statuses, barrier = [], threading.Barrier(attempts)

    def create(i):
        with httpx.Client(base_url=live_server, timeout=60) as client:
            barrier.wait()
            r = client.post("/v2.0/networks", json={"network": {"name": f"n{i}"}},
                            headers={"X-Project-Id": "racer", "X-Roles": "member"})
            statuses.append(r.status_code)
    threads = [threading.Thread(target=create, args=(i,)) for i in range(attempts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] * limit + [409] * (attempts - limit)
    nets = api.get("/v2.0/networks?project_id=racer").json()["networks"]
    assert len(nets) == limit


def test_router_and_floatingip_quotas_use_the_same_hook(api, alice):
    api.put("/v2.0/quotas/alice", {"quota": {"router": 1}})
    alice.create("router", name="r1")
    r = alice.post("/v2.0/routers", {"router": {"name": "r2"}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "OverQuota"
    assert len(alice.get("/v2.0/routers").json()["routers"]) == 1
    assert alice.get("/v2.0/quotas/alice/details").json()["quota"]["router"]["used"] == 1


def test_check_limit_refuses_a_limit_below_usage(api, alice):
    api.put("/v2.0/quotas/alice", {"quota": {"network": 3}})
    alice.create("network")
    alice.create("network")
    r = api.put("/v2.0/quotas/alice", {"quota": {"network": 1, "check_limit": True}})
    assert r.status_code == 400 and "network" in r.json()["NeutronError"]["message"]
    assert api.get("/v2.0/quotas/alice").json()["quota"]["network"] == 3
    r = api.put("/v2.0/quotas/alice", {"quota": {"network": 1}})
    assert r.status_code == 200 and r.json()["quota"]["network"] == 1
    assert alice.post("/v2.0/networks", {"network": {}}).status_code == 409


def test_subnet_quota_with_ip_version_as_text(api):
    """neutron-tempest-plugin's quota tests send ip_version as the string '4'."""
    api.put("/v2.0/quotas/carol", {"quota": {"subnet": 1}})
    net = api.create("network", project_id="carol")
    body = {"network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": "4",
            "project_id": "carol"}
    assert api.create("subnet", **body)["ip_version"] == 4
    r = api.post("/v2.0/subnets", {"subnet": dict(body, cidr="10.1.0.0/24")})
    assert r.status_code == 409
    assert api.post("/v2.0/subnets", {"subnet": dict(body, ip_version="5")}).status_code == 400
