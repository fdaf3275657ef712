"""The lab's accounts without a lab: password files, openrc, and tokens from a fake Keystone."""
import json
import os
import subprocess

import pytest

from labkit import FakeKeystone, free_port
from neutrino.errors import NeutrinoError
from neutrino.lab import accounts, info
from neutrino.lab.layout import Lab


@pytest.fixture
def lab(tmp_path):
    lab = Lab("unitacct", str(tmp_path / "state"))
    os.makedirs(lab.state_dir)
    port = free_port()
    info.write_info(lab, {"port": 9, "endpoint": "http://127.0.0.1:9", "identity_port": port,
                          "identity_url": info.identity_url_of(port)})
    return lab


def mode(path: str) -> int:
    return os.stat(path).st_mode & 0o777


def test_passwords_are_random_private_and_kept(lab, tmp_path):
    with pytest.raises(NeutrinoError, match="no accounts yet"):
        accounts.read_passwords(lab)
    first = accounts.ensure_passwords(lab)
    assert set(first) == {"admin", "demo"} and first["admin"] != first["demo"]
    assert all(len(pw) >= 20 for pw in first.values())
    assert mode(lab.passwords_file) == 0o600 and mode(lab.auth_dir) == 0o700
    assert accounts.ensure_passwords(lab) == first == accounts.read_passwords(lab)
    other = Lab("unitacct2", str(tmp_path / "other"))
    assert accounts.ensure_passwords(other)["admin"] != first["admin"]


def test_clouds_yaml_is_private(lab):
    passwords = accounts.ensure_passwords(lab)
    accounts.write_clouds_yaml(lab, info.identity_url(lab), passwords)
    text = open(lab.clouds_yaml).read()
    assert mode(lab.clouds_yaml) == 0o600
    assert "neutrino-admin:" in text and "neutrino-demo:" in text
    assert json.dumps(passwords["demo"]) in text


def test_openrc_is_devstacks_and_checks_the_user(lab):
    passwords = accounts.ensure_passwords(lab)
    script = accounts.openrc(lab, "demo") + "env | grep ^OS_ | sort"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    env = dict(line.split("=", 1) for line in out.stdout.splitlines())
    assert env == {"OS_AUTH_URL": info.identity_url(lab), "OS_AUTH_TYPE": "password",
                   "OS_IDENTITY_API_VERSION": "3", "OS_USERNAME": "demo",
                   "OS_PASSWORD": passwords["demo"], "OS_PROJECT_NAME": "demo",
                   "OS_USER_DOMAIN_ID": "default", "OS_USER_DOMAIN_NAME": "Default",
                   "OS_PROJECT_DOMAIN_ID": "default", "OS_PROJECT_DOMAIN_NAME": "Default",
                   "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public"}
    with pytest.raises(NeutrinoError, match="no lab user 'root'"):
        accounts.openrc(lab, "root")


def test_credentials_cache_the_token_and_renew_it(lab):
    passwords = accounts.ensure_passwords(lab)
    keystone = FakeKeystone(info.read_info(lab)["identity_port"], passwords)
    try:
        creds = accounts.credentials(lab, "demo")
        token = creds.token()
        assert keystone.tokens == {token}
        assert creds.token() == token                      # memory
        assert accounts.credentials(lab, "demo").token() == token   # the 0600 file
        assert mode(lab.token_file("demo")) == 0o600
        renewed = creds.token(renew=True)
        assert renewed != token and keystone.tokens == {token, renewed}
        # A cached token about to expire is not used.
        with open(lab.token_file("demo"), "w") as f:
            json.dump({"token": "old", "expires_at": "2000-01-01T00:00:00+00:00"}, f)
        assert accounts.credentials(lab, "demo").token() not in ("old", token, renewed)
        keystone.passwords = {"admin": "changed", "demo": "changed"}
        with pytest.raises(NeutrinoError, match="no token for user admin"):
            accounts.credentials(lab, "admin").token()
    finally:
        keystone.close()
    with pytest.raises(NeutrinoError, match="cannot reach the lab's identity service"):
        accounts.credentials(lab, "admin").token()
