"""One real lab (server, agents, OVS per node) shared by the end-to-end tests.

The lab has a random name and lives under /tmp, so it cannot collide with a
lab a user left running; it is always taken down, even when a test fails.
The tests talk to the API as the lab's admin (a Keystone token), or as a
member of a project of their own (``Cloud.member_api``).
"""
from __future__ import annotations

import glob
import os
import re
import secrets
import shutil
import subprocess
import time

import httpx
import pytest

from neutrino.lab import accounts, instances, lifecycle, node, services, teardown
from neutrino.lab.layout import Lab


class Cloud:
    """A running lab seen the way a test wants it: API, nodes, instances."""

    def __init__(self, lab: Lab, info: dict):
        self.lab = lab
        self.info = info
        self.api = httpx.Client(base_url=info["endpoint"], timeout=15,
                                auth=accounts.credentials(lab, "admin"))
        self.members: dict[str, tuple[str, httpx.Client]] = {}

    # -- projects ---------------------------------------------------------------
    def member_api(self, project: str) -> httpx.Client:
        """The API as a member of ``project`` (made in the lab's Keystone on first use)."""
        if project not in self.members:
            self.members[project] = self._make_member(project)
        return self.members[project][1]

    def project_id(self, project: str) -> str:
        self.member_api(project)
        return self.members[project][0]

    def _make_member(self, project: str) -> tuple[str, httpx.Client]:
        admin = {"X-Auth-Token": accounts.token(self.lab, "admin")}
        with httpx.Client(base_url=self.info["identity_url"] + "/", timeout=15,
                          headers=admin) as ks:
            def made(path: str, body: dict) -> dict:
                resp = ks.post(path, json=body)
                assert resp.status_code == 201, resp.text
                return resp.json()
            project_id = made("projects", {"project": {
                "name": project, "domain_id": "default"}})["project"]["id"]
            password = secrets.token_urlsafe(12)
            user_id = made("users", {"user": {
                "name": f"{project}-member", "password": password, "domain_id": "default",
                "default_project_id": project_id}})["user"]["id"]
            member = ks.get("roles", params={"name": "member"}).json()["roles"][0]["id"]
            resp = ks.put(f"projects/{project_id}/users/{user_id}/roles/{member}")
            assert resp.status_code == 204, resp.text
        creds = accounts.Credentials(self.info["identity_url"], f"{project}-member", password,
                                     project=project)
        return project_id, httpx.Client(base_url=self.info["endpoint"], timeout=15, auth=creds)

    # -- API ------------------------------------------------------------------
    def create(self, collection: str, **body) -> dict:
        singular = collection[:-1]
        resp = self.api.post(f"/v2.0/{collection}", json={singular: body})
        assert resp.status_code == 201, resp.text
        return resp.json()[singular]

    def get(self, collection: str, ident: str) -> dict | None:
        resp = self.api.get(f"/v2.0/{collection}/{ident}")
        return resp.json()[collection[:-1]] if resp.status_code == 200 else None

    def update(self, collection: str, ident: str, **body) -> dict:
        singular = collection[:-1]
        resp = self.api.put(f"/v2.0/{collection}/{ident}", json={singular: body})
        assert resp.status_code == 200, resp.text
        return resp.json()[singular]

    def delete(self, collection: str, ident: str) -> None:
        resp = self.api.delete(f"/v2.0/{collection}/{ident}")
        assert resp.status_code == 204, resp.text

    def network(self, name: str, cidr: str) -> dict:
        net = self.create("networks", name=name)
        self.create("subnets", network_id=net["id"], cidr=cidr, ip_version=4)
        return net

    # -- processes --------------------------------------------------------------
    def on_node(self, host: str, *cmd: str, check: bool = True) -> str:
        out = subprocess.run(node.exec_argv(self.lab, host, list(cmd)),
                             capture_output=True, text=True, timeout=60)
        if check:
            assert out.returncode == 0, f"{host}: {cmd}: {out.stderr}"
        return out.stdout

    def in_vm(self, name: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(instances.exec_argv(self.lab, name, list(cmd)),
                              capture_output=True, text=True, timeout=timeout)

    def boot(self, name: str, network: str, host: str) -> dict:
        return instances.create(self.lab, name, network, host=host, say=lambda text: None)

    def lease(self, name: str, timeout: float = 20) -> str:
        """The address the instance's DHCP client configured on eth0."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.in_vm(name, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
            found = re.search(r"inet (\S+)/", out)
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"{name} got no DHCP lease in {timeout} s")

    def ping(self, src: str, dst_ip: str, count: int = 3) -> bool:
        return self.in_vm(src, "ping", "-c", str(count), "-i", "0.2", "-W", "2",
                          dst_ip).returncode == 0

    def pid(self, key: str) -> int:
        return services.read_pids(self.lab)[key]

    def restart_missing(self) -> None:
        """What `neutrino lab up` does on a running lab: start what died."""
        lifecycle.up(self.lab, computes=2, say=lambda text: None)


def keep_logs(lab: Lab) -> str:
    """Copy the lab's logs (server, redis, every node's agents and OVS) out of
    the state directory, which ``lab down`` removes; return where they are."""
    kept = f"{lab.state_dir}-logs"
    shutil.copytree(lab.path("log"), os.path.join(kept, "log"), dirs_exist_ok=True)
    for node_log in glob.glob(lab.path("nodes", "*", "log")):
        node_name = os.path.basename(os.path.dirname(node_log))
        shutil.copytree(node_log, os.path.join(kept, "nodes", node_name, "log"),
                        dirs_exist_ok=True)
    return kept


@pytest.fixture(scope="session")
def cloud(request):
    name = f"e{secrets.token_hex(4)}"
    lab = Lab.locate(name, f"/tmp/nlab-{name}")
    started = False
    try:
        info = lifecycle.up(lab, computes=2, say=print)
        started = True
        yield Cloud(lab, info)
    finally:
        if (request.session.testsfailed or not started) and os.path.isdir(lab.path("log")):
            print(f"\nlab {name}: logs kept in {keep_logs(lab)}")
        teardown.down(lab)
