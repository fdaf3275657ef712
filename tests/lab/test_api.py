"""LabApi signs in: the lab's admin token on every call, renewed once when refused."""
import os

import pytest

from labkit import FakeKeystone, FakeNeutron, free_port
from neutrino.errors import NeutrinoError
from neutrino.lab import accounts, info
from neutrino.lab.api import LabApi
from neutrino.lab.layout import Lab


@pytest.fixture
def fake_lab(tmp_path):
    """A lab.json pointing at a fake API and a fake Keystone that knows the lab's passwords."""
    lab = Lab("unitapi", str(tmp_path / "state"))
    os.makedirs(lab.state_dir)
    keystone_port = free_port()
    keystone = FakeKeystone(keystone_port, accounts.ensure_passwords(lab))
    api = FakeNeutron(keystone=keystone)
    info.write_info(lab, {"port": api.port, "endpoint": f"http://127.0.0.1:{api.port}",
                          "identity_port": keystone_port,
                          "identity_url": info.identity_url_of(keystone_port)})
    try:
        yield lab, api
    finally:
        api.close()
        keystone.close()


def test_calls_carry_the_admin_token_and_a_refused_one_is_renewed(fake_lab):
    lab, fake = fake_lab
    fake.add_network("net1")
    api = LabApi.for_lab(lab)
    try:
        assert api.network("net1")["name"] == "net1"
        assert fake.refused == 0 and len(fake.keystone.tokens) == 1
        fake.keystone.tokens.clear()                   # the server forgot it (revoked)
        assert api.network("net1")["name"] == "net1"
        assert fake.refused == 1 and len(fake.keystone.tokens) == 1
    finally:
        api.close()
    with pytest.raises(NeutrinoError, match="401"):
        LabApi(info.endpoint(lab)).network("net1")     # no credentials: refused


def test_for_endpoint_shares_the_admin_credentials_of_for_lab(fake_lab):
    lab, _ = fake_lab
    api = LabApi.for_lab(lab)
    other = LabApi.for_endpoint(api.endpoint + "/")
    assert other.credentials is api.credentials and other.credentials.user == "admin"
    assert LabApi.for_endpoint("http://127.0.0.1:1").credentials is None
    assert LabApi.for_lab(lab, "demo").credentials.user == "demo"
    assert LabApi.for_endpoint(api.endpoint).credentials.user == "admin"


def test_a_network_is_found_in_one_request_by_name_or_by_id(fake_lab):
    lab, fake = fake_lab
    net = fake.add_network("net2")
    api = LabApi.for_lab(lab)
    try:
        for key in ("net2", net["id"]):
            fake.gets.clear()
            assert api.network(key)["id"] == net["id"]
            assert len(fake.gets) == 1, fake.gets
        with pytest.raises(NeutrinoError, match="no network"):
            api.network("nosuch")
    finally:
        api.close()
