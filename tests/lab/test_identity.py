"""A lab turns Keystone on: tokens required, DevStack's admin and demo, private files."""
import glob
import json
import os
import subprocess
import sys

import httpx
import pytest

from labkit import new_lab
from neutrino.lab import accounts, lifecycle, services, teardown
from neutrino.lab.api import LabApi

pytestmark = pytest.mark.dataplane
NEUTRINO = os.path.join(os.path.dirname(sys.executable), "neutrino")


@pytest.fixture(scope="module")
def klab():
    """The server and the controller node only: what identity needs, quickly."""
    lab = new_lab("k")
    lines: list[str] = []
    try:
        info = lifecycle.up(lab, computes=0, agents=False, say=lines.append)
        yield lab, info, lines
    finally:
        teardown.down(lab)


def client(info: dict, token: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=info["endpoint"], timeout=15,
                        headers={"X-Auth-Token": token} if token else {})


def test_the_api_wants_a_token(klab):
    lab, info, _ = klab
    assert info["identity_url"] == f"http://127.0.0.1:{info['identity_port']}/v3"
    assert info["identity_port"] != 5000            # a named lab picks a free port
    with client(info) as anonymous, client(info, "not-a-token") as forged, \
            client(info, accounts.token(lab)) as admin:
        assert anonymous.get("/v2.0/networks").status_code == 401
        assert forged.get("/v2.0/networks").status_code == 401
        assert admin.get("/v2.0/networks").status_code == 200
    api = LabApi.for_lab(lab)
    try:
        assert api.answers()
    finally:
        api.close()
    assert not LabApi(info["endpoint"]).answers()     # no credentials, no answer


def test_demo_sees_its_own_and_the_shared_and_external_networks(klab):
    lab, info, _ = klab
    with client(info, accounts.token(lab, "admin")) as admin, \
            client(info, accounts.token(lab, "demo")) as demo:
        def make(api, **body):
            resp = api.post("/v2.0/networks", json={"network": body})
            assert resp.status_code == 201, resp.text
            return resp.json()["network"]
        private = make(admin, name="adm-private")
        shared = make(admin, name="adm-shared", shared=True)
        external = make(admin, name="adm-ext", **{"router:external": True})
        own = make(demo, name="demo-net")
        seen = {n["name"] for n in demo.get("/v2.0/networks").json()["networks"]}
        assert seen == {"demo-net", "adm-shared", "adm-ext"}
        assert demo.get(f"/v2.0/networks/{private['id']}").status_code == 404
        assert demo.delete(f"/v2.0/networks/{shared['id']}").status_code in (403, 404)
        assert admin.get(f"/v2.0/networks/{own['id']}").json()["network"]["project_id"] \
            == own["project_id"] != private["project_id"]
        assert {"adm-private", "demo-net"} <= {
            n["name"] for n in admin.get("/v2.0/networks").json()["networks"]}
        for net in (private, shared, external, own):
            assert admin.delete(f"/v2.0/networks/{net['id']}").status_code == 204


def test_up_again_keeps_passwords_and_server(klab):
    lab, info, _ = klab
    passwords = accounts.read_passwords(lab)
    server = services.read_pids(lab)["server"]
    again = lifecycle.up(lab, computes=0, agents=False, say=lambda text: None)
    assert again["identity_port"] == info["identity_port"] and again["port"] == info["port"]
    assert accounts.read_passwords(lab) == passwords
    assert services.read_pids(lab)["server"] == server
    for user in ("admin", "demo"):
        assert accounts.credentials(lab, user).token(renew=True)
    for path in (lab.passwords_file, lab.clouds_yaml, lab.token_file("admin")):
        assert os.stat(path).st_mode & 0o777 == 0o600, path
    assert os.stat(lab.auth_dir).st_mode & 0o777 == 0o700


def test_openrc_cli(klab):
    lab, info, _ = klab
    out = subprocess.run([NEUTRINO, "lab", "openrc", "demo", "--name", lab.name],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    # The exported variables sign the demo user in (what a client does with them).
    script = out.stdout + (
        'body=$(printf \'{"auth":{"identity":{"methods":["password"],"password":{"user":'
        '{"name":"%s","domain":{"id":"%s"},"password":"%s"}}},"scope":{"project":'
        '{"name":"%s","domain":{"name":"%s"}}}}}\' "$OS_USERNAME" "$OS_USER_DOMAIN_ID" '
        '"$OS_PASSWORD" "$OS_PROJECT_NAME" "$OS_PROJECT_DOMAIN_NAME")\n'
        'curl -s -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" '
        '-d "$body" "$OS_AUTH_URL/auth/tokens"')
    signed_in = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                               timeout=30)
    assert signed_in.stdout == "201", signed_in.stderr
    bad = subprocess.run([NEUTRINO, "lab", "openrc", "root", "--name", lab.name],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "no lab user 'root'" in bad.stderr
    status = subprocess.run([NEUTRINO, "lab", "status", "--name", lab.name, "-f", "json"],
                            capture_output=True, text=True, timeout=30)
    assert json.loads(status.stdout)["identity_url"] == info["identity_url"]


def test_up_restarts_a_server_from_before_identity(klab):
    """A lab.json without identity (a lab made by an older `lab up`): its server is
    replaced by one with Keystone on, the passwords stay."""
    lab, info, _ = klab
    passwords = accounts.read_passwords(lab)
    old_server = services.read_pids(lab)["server"]
    stale = {k: v for k, v in lifecycle.read_info(lab).items()
             if k not in ("identity_port", "identity_url")}
    lifecycle.write_info(lab, stale)
    lines: list[str] = []
    again = lifecycle.up(lab, computes=0, agents=False, say=lines.append)
    assert any("server without identity stopped" in line for line in lines)
    assert services.read_pids(lab)["server"] != old_server
    assert again["port"] == info["port"] and accounts.read_passwords(lab) == passwords
    with client(again, accounts.credentials(lab, "demo").token(renew=True)) as demo:
        assert demo.get("/v2.0/networks").status_code == 200


def test_passwords_are_never_logged(klab):
    """Run last in this module: the other tests have used both accounts by then."""
    lab, _, up_lines = klab
    passwords = accounts.read_passwords(lab).values()
    logs = [p for p in glob.glob(lab.path("**", "*.log"), recursive=True) if os.path.isfile(p)]
    assert lab.path("log", "server.log") in logs
    places = {p: open(p, errors="replace").read() for p in logs}
    places["lab up output"] = "\n".join(up_lines)
    places["lab.json"] = open(lab.status_file).read()
    with open(f"/proc/{services.read_pids(lab)['server']}/cmdline", "rb") as f:
        places["server command line"] = f.read().decode(errors="replace")
    for where, text in places.items():
        for password in passwords:
            assert password not in text, f"a password in {where}"
