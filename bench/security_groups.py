"""Benchmarks of security groups (issue 5): prints numbers, asserts nothing.

    .venv/bin/python bench/security_groups.py [--ports 200] [--lab-instances 30]

* agent restart with N ports (default 200) on one node: the OVS agent's code
  and the real iptables_hybrid firewall in a throwaway namespace, a stand-in
  server answering the agent's calls and an in-memory switch (a lab compute
  with 200 userspace-datapath ports is OVS's benchmark, not the firewall's):
  - restart with the chains in place: start -> first firewall sync done;
  - restart after every chain and ipset was wiped: start -> all N ports'
    ``neutron-openvswi-i<id10>`` chains back (the resync time);
* on a real lab: TCP throughput between two instances on two computes
  (iperf3, 3 s) with the firewall on and with port security off on both
  ports, then again with --lab-instances more filtered instances on compute01
  (their rules sit in front in the FORWARD chain).

The lab is randomly named under /tmp and taken down.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from neutrino.agents.firewall import FirewallDriver  # noqa: E402
from neutrino.agents.ovs.agent import Agent  # noqa: E402
from neutrino.agents.ovs.driver import RecordingDriver  # noqa: E402
from neutrino.agents.ovs.firewall_hook import FirewallHook  # noqa: E402
from neutrino.agents.ovs.reconcile import Reconciler  # noqa: E402
from neutrino.agents.ovs.state import AgentConfig  # noqa: E402
from neutrino.lab import instances, lifecycle, node, teardown  # noqa: E402
from neutrino.lab.api import LabApi  # noqa: E402
from neutrino.lab.layout import Lab  # noqa: E402
from neutrino.linux import proc  # noqa: E402

SG = str(uuid.uuid4())


def quiet(_text: str) -> None:
    pass


def wait(predicate, timeout: float, interval: float = 0.02) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    return None


# -- agent restart on one node, N ports ---------------------------------------------

class StandInServer:
    """Answers the OVS agent's calls for N compute ports in one default-like group."""

    def __init__(self, count: int):
        self.ports = {}
        for n in range(count):
            pid = str(uuid.uuid4())
            self.ports[pid] = {
                "device": pid, "port_id": pid, "network_id": "net", "network_type": "vxlan",
                "segmentation_id": 77, "physical_network": None, "mtu": 1450,
                "mac_address": f"fa:16:3e:00:{n >> 8:02x}:{n & 255:02x}",
                "admin_state_up": True, "binding_vif_type": "ovs",
                "fixed_ips": [{"subnet_id": "s", "ip_address": f"10.1.{n >> 8}.{n & 255 or 254}"}],
                "device_owner": "compute:nova", "device_id": "vm", "revision_number": 1,
                "port_security_enabled": True, "security_groups": [SG],
                "allowed_address_pairs": []}
        self.rules = [{"id": "in", "direction": "ingress", "ethertype": "IPv4",
                       "remote_group_id": SG},
                      {"id": "out", "direction": "egress", "ethertype": "IPv4"}]

    def get_devices_details_list(self, devices):
        return [self.ports.get(d) or {"device": d, "no_such_port": True} for d in devices]

    def security_group_info_for_devices(self, devices):
        ips = [p["fixed_ips"][0]["ip_address"] for p in self.ports.values()]
        return {"devices": {d: self.ports[d] for d in devices if d in self.ports},
                "security_groups": {SG: self.rules}, "stateful": {SG: True},
                "sg_member_ips": {SG: {"IPv4": ips, "IPv6": []}}}

    def update_device_list(self, devices_up, devices_down):
        return {"devices_up": devices_up, "devices_down": devices_down,
                "failed_devices_up": [], "failed_devices_down": []}

    def tunnel_sync(self, tunnel_ip):
        return {"tunnels": []}

    def get_ports_on_host(self):
        return list(self.ports)

    def report_state(self, agent_state):
        return "alive"


def chains_in(netns: str) -> int:
    return proc.run(["iptables-save", "-t", "filter"], netns=netns).out.count(
        ":neutron-openvswi-i")


def agent_start(netns: str, server: StandInServer, switch: RecordingDriver,
                want_chains: int) -> tuple[float | None, float | None]:
    """(start -> first firewall sync, start -> ``want_chains`` chains in the kernel)."""
    config = AgentConfig(host="bench", local_ip="10.168.7.11")
    hook = FirewallHook(server, FirewallDriver(netns=netns), bridge_netfilter=lambda: None)
    agent = Agent(config, switch, server, check_interval=60, report_interval=60,
                  firewall=hook)
    started = time.monotonic()
    agent.start()
    try:
        synced = wait(lambda: hook.applied > 0, 120)
        back = wait(lambda: chains_in(netns) >= want_chains, 120)
        return synced, (time.monotonic() - started if back is not None else None)
    finally:
        agent.stop()


def bench_agent_restart(count: int) -> None:
    netns = f"nt-bsg-{secrets.token_hex(3)}"
    server = StandInServer(count)
    switch = RecordingDriver()
    Reconciler(AgentConfig(host="bench", local_ip="10.168.7.11"), switch, server).run()
    for pid, port in server.ports.items():
        switch.plug("qvo" + pid[:11], pid, port["mac_address"])
    proc.run(["ip", "netns", "add", netns])
    try:
        first, _ = agent_start(netns, server, switch, count)
        print(f"{count} ports, fresh node: first firewall sync after {first:.2f} s")
        synced, back = agent_start(netns, server, switch, count)
        print(f"agent restart, chains in place: first firewall sync after {synced:.2f} s,"
              f" {chains_in(netns)} ingress chains")
        FirewallDriver(netns=netns).remove_all()
        assert chains_in(netns) == 0
        synced, back = agent_start(netns, server, switch, count)
        print(f"agent restart after wiping every chain and ipset: all {count} chains back"
              f" after {back:.2f} s" if back is not None else "chains not back in 120 s")
    finally:
        proc.run(["ip", "netns", "del", netns], check=False)


# -- throughput on a real lab --------------------------------------------------------

def on_node(lab: Lab, host: str, *cmd: str) -> str:
    return subprocess.run(node.exec_argv(lab, host, list(cmd)), capture_output=True,
                          text=True, timeout=120).stdout


def iperf(lab: Lab, client: str, server: str) -> float:
    srv, cli = instances.load(lab, server), instances.load(lab, client)
    address = instances.lease(lab, server)["ip"]
    daemon = subprocess.Popen(["ip", "netns", "exec", srv["netns"], "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(["ip", "netns", "exec", cli["netns"], "iperf3", "-c", address,
                              "-t", "3", "-J"], capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        daemon.kill()
        daemon.wait()


def bench_throughput(extra: int) -> None:
    name = f"bs{secrets.token_hex(3)}"
    lab = Lab.locate(name, f"/tmp/nlab-{name}")
    try:
        lifecycle.up(lab, computes=2, say=quiet)
        api = LabApi.for_lab(lab)
        net = api._call("POST", "/v2.0/networks", {"network": {"name": "bench"}})["network"]
        api._call("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"],
                                                       "cidr": "10.20.0.0/22", "ip_version": 4}})
        for vm, host in (("t1", "compute01"), ("t2", "compute02")):
            instances.create(lab, vm, "bench", host=host, say=quiet)
        wait(lambda: instances.lease(lab, "t1") and instances.lease(lab, "t2"), 30)
        on = iperf(lab, "t1", "t2")
        ports = [instances.load(lab, vm)["port_id"] for vm in ("t1", "t2")]
        for port in ports:
            api._call("PUT", f"/v2.0/ports/{port}", {"port": {
                "security_groups": [], "port_security_enabled": False}})
        wait(lambda: "-o" + ports[0][:10] not in on_node(lab, "compute01", "iptables-save"), 10)
        off = iperf(lab, "t1", "t2")
        print(f"TCP t1 (compute01) -> t2 (compute02) across VXLAN: firewall on {on:.0f} Mbit/s,"
              f" port security off {off:.0f} Mbit/s")
        default = api._call("GET", "/v2.0/security-groups?name=default")["security_groups"]
        for port in ports:
            api._call("PUT", f"/v2.0/ports/{port}", {"port": {
                "port_security_enabled": True, "security_groups": [default[0]["id"]]}})
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda i: instances.create(lab, f"p{i}", "bench", host="compute01",
                                                     vif_timeout=60, say=quiet),
                          range(extra)))
        wait(lambda: "-o" + ports[0][:10] in on_node(lab, "compute01", "iptables-save"), 10)
        loaded = iperf(lab, "t1", "t2")
        print(f"TCP t1 -> t2 with {extra} more filtered instances on compute01:"
              f" {loaded:.0f} Mbit/s")
        api.close()
    finally:
        teardown.down(lab)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--lab-instances", type=int, default=30)
    args = parser.parse_args()
    print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    bench_agent_restart(args.ports)
    bench_throughput(args.lab_instances)
    return 0


if __name__ == "__main__":
    sys.exit(main())
