"""A keystone-mode server stack: identity app and Networking API on one database."""
from dataclasses import dataclass

import pytest

ADMIN_PASSWORD = "admin-Secret-1"
DEMO_PASSWORD = "demo-Secret-2"


def password_body(user: str, password: str, project: str | None = None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "password": password, "domain": {"name": "Default"}}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return {"auth": auth}


@dataclass
class Cloud:
    service: object
    keystone: object
    api: object
    accounts: dict

    @property
    def store(self):
        return self.service.identity

    def token(self, user: str = "demo", password: str = DEMO_PASSWORD,
              project: str | None = "demo") -> str:
        r = self.keystone.post("/v3/auth/tokens", json=password_body(user, password, project))
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def admin_token(self) -> str:
        return self.token("admin", ADMIN_PASSWORD, "admin")


@pytest.fixture
def cloud(db_url):
    from starlette.testclient import TestClient

    from neutrino.identity.app import create_identity_app
    from neutrino.identity.bootstrap import bootstrap
    from neutrino.server.service import build
    service = build(db_url, auth="keystone")
    try:
        accounts = bootstrap(service.identity, ADMIN_PASSWORD, DEMO_PASSWORD)
        identity = create_identity_app(service.identity, "http://neutrino.test:9696")
        with TestClient(identity, base_url="http://keystone.test:5000") as keystone, \
                TestClient(service.app, base_url="http://neutrino.test:9696") as api:
            yield Cloud(service, keystone, api, accounts)
    finally:
        service.close()
