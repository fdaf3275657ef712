"""The real openstack CLI against a lab, signed in the two ways the README shows:
`eval "$(neutrino lab openrc demo)"` and `--os-cloud neutrino-demo` with the lab's clouds.yaml."""
import json
import os
import secrets
import subprocess
import sys

import httpx
import pytest

from neutrino.lab import accounts, lifecycle, teardown
from neutrino.lab.layout import Lab
from tests.clients.conftest import COMMAND_TIMEOUT

pytestmark = [pytest.mark.clients, pytest.mark.dataplane]
NEUTRINO = os.path.join(os.path.dirname(sys.executable), "neutrino")


@pytest.fixture(scope="module")
def lab_with_networks():
    """A lab (server and controller only) where the admin made a private and a shared network."""
    name = f"c{secrets.token_hex(4)}"
    lab = Lab.locate(name, f"/tmp/nlab-{name}")
    try:
        info = lifecycle.up(lab, computes=0, agents=False, say=print)
        with httpx.Client(base_url=info["endpoint"], timeout=15,
                          auth=accounts.credentials(lab, "admin")) as admin:
            for body in ({"name": "admin-only"}, {"name": "everyone", "shared": True}):
                resp = admin.post("/v2.0/networks", json={"network": body})
                assert resp.status_code == 201, resp.text
        yield lab
    finally:
        teardown.down(lab)


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("OS_")}


def network_names(out: subprocess.CompletedProcess) -> set[str]:
    assert out.returncode == 0, out.stderr
    assert out.stderr.strip() == "", f"the client warned: {out.stderr}"
    return {row["Name"] for row in json.loads(out.stdout)}


def test_openrc_sourced_in_bash(clients_venv, lab_with_networks):
    lab = lab_with_networks
    script = (f'eval "$({NEUTRINO} lab openrc demo --name {lab.name})" && '
              f'{clients_venv / "bin" / "openstack"} network list -f json')
    out = subprocess.run(["bash", "-c", script], env=clean_env(), capture_output=True,
                         text=True, timeout=COMMAND_TIMEOUT)
    assert network_names(out) == {"everyone"}


def test_os_cloud_from_the_labs_clouds_yaml(clients_venv, lab_with_networks):
    lab = lab_with_networks
    env = dict(clean_env(), OS_CLIENT_CONFIG_FILE=lab.clouds_yaml)
    osc = str(clients_venv / "bin" / "openstack")
    seen = {cloud: network_names(subprocess.run(
        [osc, "--os-cloud", cloud, "network", "list", "-f", "json"], env=env,
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT))
        for cloud in ("neutrino-demo", "neutrino-admin")}
    assert seen == {"neutrino-demo": {"everyone"}, "neutrino-admin": {"admin-only", "everyone"}}
