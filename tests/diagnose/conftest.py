"""A real lab with the demo's cloud for the diagnosis tests.

Random name, state under /tmp, always taken down (even when a test fails).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time

import httpx
import pytest

from neutrino.lab import accounts, instances, lifecycle, node, teardown
from neutrino.lab.layout import Lab

BIN = os.path.join(os.path.dirname(sys.executable), "neutrino")
OUTSIDE = "203.0.113.10"       # the lab upstream's "Internet host"


class Demo:
    def __init__(self, lab: Lab, info: dict):
        self.lab = lab
        self.api = httpx.Client(base_url=info["endpoint"], timeout=15,
                                auth=accounts.credentials(lab, "admin"))
        self.leases: dict[str, str] = {}

    def neutrino(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)

    def explain(self, src: str, dst: str, *extra: str) -> dict:
        out = self.neutrino("explain", "--name", self.lab.name, src, dst, "--json", *extra)
        assert out.returncode in (0, 3), out.stderr
        return json.loads(out.stdout)

    def in_vm(self, name: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(instances.exec_argv(self.lab, name, list(cmd)),
                              capture_output=True, text=True, timeout=timeout)

    def ping(self, src: str, dst_ip: str, size: int = 56) -> bool:
        return self.in_vm(src, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", str(size),
                          "-M", "do", dst_ip).returncode == 0

    def l3(self, private: dict) -> dict:
        """The seed's way out: `public` (flat on extnet, gateway 192.168.100.1 in the
        lab's upstream) and router r1 between it and `private`."""
        ext = self.api.post("/v2.0/networks", json={"network": {
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "extnet"}}).json()["network"]
        self.api.post("/v2.0/subnets", json={"subnet": {
            "network_id": ext["id"], "name": "public-subnet", "cidr": "192.168.100.0/24",
            "gateway_ip": "192.168.100.1", "enable_dhcp": False, "ip_version": 4,
            "allocation_pools": [{"start": "192.168.100.100", "end": "192.168.100.200"}]}})
        router = self.api.post("/v2.0/routers", json={"router": {
            "name": "r1", "external_gateway_info": {"network_id": ext["id"]}}}).json()["router"]
        subnet = self.api.get("/v2.0/subnets", params={"name": "private-subnet"}).json()
        resp = self.api.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                            json={"subnet_id": subnet["subnets"][0]["id"]})
        assert resp.status_code == 200, resp.text
        vm1 = instances.load(self.lab, "vm1")
        self.fip = self.api.post("/v2.0/floatingips", json={"floatingip": {
            "floating_network_id": ext["id"], "port_id": vm1["port_id"]}}).json()["floatingip"]
        group = self.api.get("/v2.0/security-groups", params={"name": "default"}).json()
        self.api.post("/v2.0/security-group-rules", json={"security_group_rule": {
            "security_group_id": group["security_groups"][0]["id"], "direction": "ingress",
            "ethertype": "IPv4", "protocol": "icmp"}})       # 409 when it exists: fine
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (self.ping("vm1", OUTSIDE)
                                                   and self.from_outside(self.fip_address)):
            time.sleep(0.2)
        return router

    @property
    def fip_address(self) -> str:
        """vm1's floating IP now (a fix may have associated another one)."""
        vm1 = instances.load(self.lab, "vm1")
        fips = self.api.get("/v2.0/floatingips", params={"port_id": vm1["port_id"]}).json()
        return fips["floatingips"][0]["floating_ip_address"] if fips["floatingips"] else ""

    def from_outside(self, address: str) -> bool:
        """Ping from the lab's upstream (the Internet host's namespace)."""
        if not address:
            return False
        return subprocess.run(node.exec_argv(self.lab, "upstream", [
            "ping", "-c", "2", "-i", "0.2", "-W", "2", address]),
            capture_output=True, timeout=30).returncode == 0

    def lease(self, name: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.in_vm(name, "ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
            found = re.search(r"inet (\S+)/", out)
            if found:
                return found.group(1)
            time.sleep(0.1)
        raise AssertionError(f"{name} got no DHCP lease in {timeout} s")


@pytest.fixture(scope="session")
def demo():
    name = f"d{secrets.token_hex(4)}"
    lab = Lab.locate(name, f"/tmp/nlab-{name}")
    try:
        info = lifecycle.up(lab, computes=2, say=print)
        d = Demo(lab, info)
        net = d.api.post("/v2.0/networks", json={"network": {"name": "private"}}).json()["network"]
        d.api.post("/v2.0/subnets", json={"subnet": {"network_id": net["id"], "name": "private-subnet",
                                                      "cidr": "10.11.11.0/24", "ip_version": 4}})
        for vm, host in (("vm1", "compute01"), ("vm2", "compute02"), ("vm3", "compute01")):
            instances.create(lab, vm, "private", host=host, say=lambda text: None)
        d.leases = {vm: d.lease(vm) for vm in ("vm1", "vm2", "vm3")}
        d.router = d.l3(net)
        yield d
    finally:
        teardown.down(lab)
