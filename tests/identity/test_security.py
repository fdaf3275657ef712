"""The Networking API under keystone auth: projects are isolated, tokens must be valid."""
import datetime
import logging

import pytest
from sqlalchemy import update

from neutrino.db.models import Token
from neutrino.identity.store import digest

from tests.identity.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, password_body

UNAUTHORIZED = {"NeutronError": {"type": "HTTPUnauthorized",
                                 "message": "Authentication required", "detail": ""}}


@pytest.fixture
def admin(cloud):
    return {"X-Auth-Token": cloud.admin_token()}


@pytest.fixture
def demo(cloud):
    return {"X-Auth-Token": cloud.token()}


def test_demo_cannot_touch_admin_resources(cloud, admin, demo):
    api = cloud.api
    net = api.post("/v2.0/networks", headers=admin, json={"network": {"name": "adm"}}).json()
    nid = net["network"]["id"]
    sub = api.post("/v2.0/subnets", headers=admin, json={"subnet": {
        "network_id": nid, "cidr": "10.9.0.0/24", "ip_version": 4}}).json()["subnet"]
    port = api.post("/v2.0/ports", headers=admin,
                    json={"port": {"network_id": nid}}).json()["port"]
    for kind, obj in (("networks", net["network"]), ("subnets", sub), ("ports", port)):
        assert api.get(f"/v2.0/{kind}/{obj['id']}", headers=demo).status_code == 404
        singular = kind[:-1]
        assert api.put(f"/v2.0/{kind}/{obj['id']}", headers=demo,
                       json={singular: {"name": "mine"}}).status_code == 404
        assert api.delete(f"/v2.0/{kind}/{obj['id']}", headers=demo).status_code == 404
        assert api.get(f"/v2.0/{kind}", headers=demo).json()[kind] == []
    assert api.post("/v2.0/ports", headers=demo,
                    json={"port": {"network_id": nid}}).status_code == 404
    assert api.get(f"/v2.0/networks/{nid}", headers=admin).json()["network"]["name"] == "adm"


def test_demo_cannot_create_external_or_provider_networks(cloud, demo):
    api = cloud.api
    r = api.post("/v2.0/networks", headers=demo, json={"network": {"router:external": True}})
    assert r.status_code == 403
    r = api.post("/v2.0/networks", headers=demo, json={"network": {
        "provider:network_type": "flat", "provider:physical_network": "extnet"}})
    assert r.status_code == 403
    r = api.post("/v2.0/networks", headers=demo, json={"network": {"shared": True}})
    assert r.status_code == 403
    net = api.post("/v2.0/networks", headers=demo, json={"network": {"name": "ok"}})
    assert net.status_code == 201
    assert "provider:network_type" not in net.json()["network"]
    r = api.put(f"/v2.0/networks/{net.json()['network']['id']}", headers=demo,
                json={"network": {"router:external": True}})
    assert r.status_code == 403
    assert api.get("/v2.0/networks", headers=demo).json()["networks"][0]["project_id"] == \
        cloud.accounts["demo"]["project_id"]


def test_admin_creates_external_network_demo_sees_it_without_provider_attrs(cloud, admin, demo):
    api = cloud.api
    r = api.post("/v2.0/networks", headers=admin, json={"network": {
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "extnet"}})
    assert r.status_code == 201 and r.json()["network"]["provider:network_type"] == "flat"
    (seen,) = api.get("/v2.0/networks?router%3Aexternal=True", headers=demo).json()["networks"]
    assert seen["name"] == "public" and "provider:physical_network" not in seen


def bad_token_answers(cloud, token):
    r = cloud.api.get("/v2.0/networks", headers={"X-Auth-Token": token} if token else {})
    return r.status_code, r.json()


def test_missing_bad_expired_and_revoked_tokens_are_401_alike(cloud, demo):
    assert bad_token_answers(cloud, None) == (401, UNAUTHORIZED)
    assert bad_token_answers(cloud, "not-a-token") == (401, UNAUTHORIZED)
    token = demo["X-Auth-Token"]
    assert cloud.api.get("/v2.0/networks", headers=demo).status_code == 200
    h = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert cloud.keystone.delete("/v3/auth/tokens", headers=h).status_code == 204
    assert bad_token_answers(cloud, token) == (401, UNAUTHORIZED)
    expiring = cloud.token()
    assert cloud.api.get("/v2.0/networks", headers={"X-Auth-Token": expiring}).status_code == 200
    with cloud.service.db.writer() as session:
        session.execute(update(Token).where(Token.digest == digest(expiring)).values(
            expires_at=datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            - datetime.timedelta(seconds=1)))
    cloud.store.forget_cached()
    assert bad_token_answers(cloud, expiring) == (401, UNAUTHORIZED)


def test_extensions_and_quotas_need_a_token(cloud):
    assert cloud.api.get("/v2.0/extensions").status_code == 401
    assert cloud.api.get("/v2.0/quotas/x").status_code == 401
    assert cloud.api.get("/").status_code == 200


def test_passwords_never_logged_or_returned(cloud, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = []
    for user, password, project in (("demo", DEMO_PASSWORD, "demo"),
                                    ("admin", ADMIN_PASSWORD, "admin"),
                                    ("demo", "Wrong-Guess-9", "demo")):
        r = cloud.keystone.post("/v3/auth/tokens", json=password_body(user, password, project))
        bodies.append(r.text)
    admin = {"X-Auth-Token": cloud.admin_token()}
    r = cloud.keystone.post("/v3/users", headers=admin,
                            json={"user": {"name": "u9", "password": "New-User-Pw-7"}})
    bodies.append(r.text)
    bodies.append(cloud.keystone.get(f"/v3/users/{r.json()['user']['id']}", headers=admin).text)
    for secret in (DEMO_PASSWORD, ADMIN_PASSWORD, "Wrong-Guess-9", "New-User-Pw-7"):
        assert secret not in caplog.text
        assert all(secret not in body for body in bodies)


def test_demo_cannot_use_admin_subnets_or_ports_for_routers_and_floating_ips(cloud, admin, demo):
    api = cloud.api
    public = api.post("/v2.0/networks", headers=admin, json={"network": {
        "name": "public", "router:external": True}}).json()["network"]
    api.post("/v2.0/subnets", headers=admin, json={"subnet": {
        "network_id": public["id"], "cidr": "192.168.100.0/24", "ip_version": 4,
        "enable_dhcp": False}})
    private = api.post("/v2.0/networks", headers=admin,
                       json={"network": {"name": "adm"}}).json()["network"]
    admin_subnet = api.post("/v2.0/subnets", headers=admin, json={"subnet": {
        "network_id": private["id"], "cidr": "10.8.0.0/24", "ip_version": 4}}).json()["subnet"]
    admin_port = api.post("/v2.0/ports", headers=admin,
                          json={"port": {"network_id": private["id"]}}).json()["port"]
    router = api.post("/v2.0/routers", headers=demo, json={"router": {"name": "r"}})
    assert router.status_code == 201, router.text
    rid = router.json()["router"]["id"]
    r = api.put(f"/v2.0/routers/{rid}/add_router_interface", headers=demo,
                json={"subnet_id": admin_subnet["id"]})
    assert r.status_code == 404
    r = api.put(f"/v2.0/routers/{rid}/add_router_interface", headers=demo,
                json={"port_id": admin_port["id"]})
    assert r.status_code == 404
    fip = api.post("/v2.0/floatingips", headers=demo,
                   json={"floatingip": {"floating_network_id": public["id"]}})
    assert fip.status_code == 201, fip.text
    r = api.put(f"/v2.0/floatingips/{fip.json()['floatingip']['id']}", headers=demo,
                json={"floatingip": {"port_id": admin_port["id"]}})
    assert r.status_code == 404
    assert api.get(f"/v2.0/ports/{admin_port['id']}", headers=admin).json()["port"][
        "device_owner"] == ""
