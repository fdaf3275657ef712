"""A whole lab: server, agents, instances with DHCP over VXLAN (real data plane)."""
import json
import os
import subprocess
import sys
import time

import pytest

from neutrino.lab import instances
from neutrino.lab.api import LabApi
from neutrino.lab.plug import VifNames
from neutrino.linux import ip, ovs_daemons

pytestmark = pytest.mark.dataplane
NEUTRINO = os.path.join(os.path.dirname(sys.executable), "neutrino")


def cli(lab, group, action, *args, timeout=60):
    return subprocess.run([NEUTRINO, group, action, "--name", lab.name, *args], text=True,
                          capture_output=True, timeout=timeout)


def wait_lease(lab, name, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = instances.lease(lab, name)
        if got:
            return got
        time.sleep(0.05)
    return None


def test_agents_are_listed_alive(lab):
    api = LabApi.for_lab(lab)
    try:
        seen = {(a["host"], a["agent_type"]) for a in api.agents() if a["alive"]}
    finally:
        api.close()
    assert seen >= {("controller", "Open vSwitch agent"), ("controller", "DHCP agent"),
                    ("compute01", "Open vSwitch agent"), ("compute02", "Open vSwitch agent")}
    status = cli(lab, "lab", "status", "-f", "json")
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert all(d["alive"] for d in st["daemons"])
    assert len(st["agents"]) >= 4


def test_instances_get_their_port_ip_and_talk_across_nodes(lab):
    api = LabApi.for_lab(lab)
    try:
        net = api._call("POST", "/v2.0/networks", {"network": {"name": "lab-test-net"}})["network"]
        api._call("POST", "/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": "10.33.0.0/24", "ip_version": 4}})
    finally:
        api.close()
    for name, host in (("t-vm1", "compute01"), ("t-vm2", "compute02")):
        out = cli(lab, "instance", "create", name, "--network", net["id"], "--host", host)
        assert out.returncode == 0, out.stderr
    try:
        rows = {r["name"]: r for r in json.loads(
            cli(lab, "instance", "list", "-f", "json").stdout)}
        for name in ("t-vm1", "t-vm2"):
            lease = wait_lease(lab, name)
            assert lease, f"{name} got no lease"
            assert [lease["ip"]] == rows[name]["ips"]
            assert lease["mtu"] == "1450"
            assert rows[name]["status"] == "ACTIVE"
        vm2_ip = instances.lease(lab, "t-vm2")["ip"]
        ping = cli(lab, "instance", "exec", "t-vm1", "--", "ping", "-c", "2", "-i", "0.2",
                   "-W", "2", vm2_ip)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        vm1 = instances.load(lab, "t-vm1")
    finally:
        out = cli(lab, "instance", "delete", "t-vm1", "t-vm2")
    assert out.returncode == 0, out.stderr
    names = VifNames.for_port(vm1["port_id"])
    assert not ip.link_exists(names.qbr, netns=lab.netns("compute01"))
    assert names.qvo not in ovs_daemons.vsctl(lab.ovs_rundir("compute01"), "list-ports",
                                              "br-int")
