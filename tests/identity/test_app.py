"""Keystone's HTTP API as keystoneauth, the openstack CLI and tempest use it."""
import pytest

from tests.identity.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, password_body


def test_version_documents(cloud):
    v3 = cloud.keystone.get("/v3").json()["version"]
    assert v3["id"].startswith("v3.") and v3["status"] == "stable"
    assert v3["links"][0]["href"] == "http://keystone.test:5000/v3/"
    root = cloud.keystone.get("/")
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"] == v3["id"]


def test_password_token_by_names_has_catalog(cloud):
    r = cloud.keystone.post("/v3/auth/tokens", json=password_body("demo", DEMO_PASSWORD, "demo"))
    assert r.status_code == 201
    assert r.headers["X-Subject-Token"]
    token = r.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "demo" and token["user"]["domain"]["name"] == "Default"
    assert token["project"]["id"] == cloud.accounts["demo"]["project_id"]
    assert {r["name"] for r in token["roles"]} == {"member", "reader"}
    assert token["expires_at"].endswith("Z") and token["issued_at"] < token["expires_at"]
    services = {s["type"]: s for s in token["catalog"]}
    network = services["network"]["endpoints"]
    assert {e["interface"] for e in network} == {"public", "internal", "admin"}
    assert {e["url"] for e in network} == {"http://neutrino.test:9696"}
    assert all(e["region_id"] == e["region"] == "RegionOne" for e in network)
    assert services["identity"]["endpoints"][0]["url"] == "http://keystone.test:5000/v3"
    assert DEMO_PASSWORD not in r.text


def test_token_by_ids_and_default_project(cloud):
    demo = cloud.accounts["demo"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": demo["user_id"], "password": DEMO_PASSWORD}}},
        "scope": {"project": {"id": demo["project_id"]}}}}
    r = cloud.keystone.post("/v3/auth/tokens", json=body)
    assert r.status_code == 201 and r.json()["token"]["project"]["name"] == "demo"
    del body["auth"]["scope"]
    r = cloud.keystone.post("/v3/auth/tokens?nocatalog", json=body)
    token = r.json()["token"]
    assert token["project"]["id"] == demo["project_id"] and "catalog" not in token


def test_unscoped_then_rescoped(cloud):
    store = cloud.store
    store.update_user(cloud.accounts["demo"]["user_id"], {"default_project_id": None})
    r = cloud.keystone.post("/v3/auth/tokens", json=password_body("demo", DEMO_PASSWORD))
    assert r.status_code == 201 and "project" not in r.json()["token"]
    unscoped = r.headers["X-Subject-Token"]
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}},
                     "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    r = cloud.keystone.post("/v3/auth/tokens", json=body)
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["project"]["name"] == "demo" and token["methods"] == ["token"]
    assert token["expires_at"] <= cloud.keystone.get(
        "/v3/auth/tokens", headers={"X-Auth-Token": unscoped,
                                    "X-Subject-Token": unscoped}).json()["token"]["expires_at"]


@pytest.mark.parametrize("user,password,project", [
    ("demo", "wrong", "demo"), ("nobody", DEMO_PASSWORD, "demo"), ("demo", DEMO_PASSWORD, "admin"),
    ("demo", DEMO_PASSWORD, "no-such-project")])
def test_bad_credentials_or_scope_are_401_without_reason(cloud, user, password, project):
    r = cloud.keystone.post("/v3/auth/tokens", json=password_body(user, password, project))
    assert r.status_code == 401
    assert r.json() == {"error": {"code": 401, "title": "Unauthorized", "message":
                                  "The request you have made requires authentication."}}


def test_malformed_auth_request_is_400(cloud):
    assert cloud.keystone.post("/v3/auth/tokens", content=b"{").status_code == 400
    assert cloud.keystone.post("/v3/auth/tokens", json={"auth": {}}).status_code == 400


def test_validate_check_and_revoke(cloud):
    admin, demo = cloud.admin_token(), cloud.token()
    headers = {"X-Auth-Token": admin, "X-Subject-Token": demo}
    r = cloud.keystone.get("/v3/auth/tokens", headers=headers)
    assert r.status_code == 200 and r.json()["token"]["user"]["name"] == "demo"
    assert cloud.keystone.head("/v3/auth/tokens", headers=headers).status_code == 200
    assert cloud.keystone.delete("/v3/auth/tokens", headers=headers).status_code == 204
    assert cloud.keystone.get("/v3/auth/tokens", headers=headers).status_code == 404
    assert cloud.keystone.get("/v3/projects", headers={"X-Auth-Token": demo}).status_code == 401


def test_user_may_check_only_its_own_tokens(cloud):
    demo, other = cloud.token(), cloud.admin_token()
    r = cloud.keystone.get("/v3/auth/tokens", headers={"X-Auth-Token": demo,
                                                       "X-Subject-Token": other})
    assert r.status_code == 403
    r = cloud.keystone.get("/v3/auth/tokens", headers={"X-Auth-Token": demo,
                                                       "X-Subject-Token": demo})
    assert r.status_code == 200


def test_admin_manages_projects_users_and_roles(cloud):
    ks, h = cloud.keystone, {"X-Auth-Token": cloud.admin_token()}
    assert ks.get("/v3/domains?name=Default", headers=h).json()["domains"][0]["id"] == "default"
    assert ks.get("/v3/domains?name=Other", headers=h).json()["domains"] == []
    assert ks.get("/v3/domains/default", headers=h).status_code == 200
    r = ks.post("/v3/projects", headers=h, json={"project": {"name": "p1", "domain_id": "default",
                                                             "description": "d"}})
    assert r.status_code == 201
    project = r.json()["project"]
    assert project["domain_id"] == "default" and project["links"]["self"].endswith(project["id"])
    assert ks.post("/v3/projects", headers=h, json={"project": {"name": "p1"}}).status_code == 409
    assert [p["id"] for p in ks.get("/v3/projects?name=p1", headers=h).json()["projects"]] == [
        project["id"]]
    assert ks.get("/v3/projects/p1", headers=h).status_code == 404
    r = ks.post("/v3/users", headers=h, json={"user": {"name": "u1", "password": "pw-u1",
                                                       "default_project_id": project["id"]}})
    assert r.status_code == 201 and "password" not in r.json()["user"]
    user = r.json()["user"]
    (member,) = ks.get("/v3/roles?name=member", headers=h).json()["roles"]
    grant = f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member['id']}"
    assert ks.head(grant, headers=h).status_code == 404
    assert ks.put(grant, headers=h).status_code == 204
    assert ks.head(grant, headers=h).status_code == 204
    listed = ks.get(f"/v3/role_assignments?scope.project.id={project['id']}&include_names=True",
                    headers=h).json()["role_assignments"]
    assert [(a["user"]["name"], a["role"]["name"], a["scope"]["project"]["name"])
            for a in listed] == [("u1", "member", "p1")]
    r = ks.post("/v3/auth/tokens", json=password_body("u1", "pw-u1", "p1"))
    assert r.status_code == 201
    u1 = r.headers["X-Subject-Token"]
    assert cloud.api.get("/v2.0/networks", headers={"X-Auth-Token": u1}).status_code == 200
    assert ks.delete(grant, headers=h).status_code == 204
    assert cloud.api.get("/v2.0/networks", headers={"X-Auth-Token": u1}).status_code == 401
    assert ks.patch(f"/v3/projects/{project['id']}", headers=h,
                    json={"project": {"description": "e"}}).json()["project"]["description"] == "e"
    assert ks.delete(f"/v3/users/{user['id']}", headers=h).status_code == 204
    assert ks.delete(f"/v3/projects/{project['id']}", headers=h).status_code == 204
    assert ks.get(f"/v3/projects/{project['id']}", headers=h).status_code == 404


def test_members_cannot_administer(cloud):
    ks, h = cloud.keystone, {"X-Auth-Token": cloud.token()}
    assert ks.get("/v3/projects", headers=h).status_code == 403
    assert ks.get("/v3/users", headers=h).status_code == 403
    assert ks.post("/v3/projects", headers=h, json={"project": {"name": "x"}}).status_code == 403
    demo = cloud.accounts["demo"]
    assert ks.get(f"/v3/users/{demo['user_id']}", headers=h).status_code == 200
    assert ks.get(f"/v3/users/{cloud.accounts['admin']['user_id']}",
                  headers=h).status_code == 403
    mine = ks.get(f"/v3/users/{demo['user_id']}/projects", headers=h).json()["projects"]
    assert [p["name"] for p in mine] == ["demo"]
    assert ks.get(f"/v3/projects/{demo['project_id']}", headers=h).status_code == 200


def test_admin_password_never_in_any_answer(cloud):
    h = {"X-Auth-Token": cloud.admin_token()}
    for path in ("/v3/users", f"/v3/users/{cloud.accounts['admin']['user_id']}"):
        text = cloud.keystone.get(path, headers=h).text
        assert ADMIN_PASSWORD not in text and "scrypt" not in text
