"""Benchmarks of security groups on a real lab (issue 5): prints numbers, asserts nothing.

    .venv/bin/python bench/security_groups.py [--ports 200]

* TCP throughput between two instances on two computes (iperf3, 3 s) with
  the iptables_hybrid firewall on, and with port security off on both ports;
* N instances on compute01 (default group), then the OVS agent there restarted:
  - with its chains in place: restart -> first firewall sync done;
  - after its chains and ipsets were wiped: restart -> every port's
    ``neutron-openvswi-i<id10>`` chain is back (the resync time);
* the throughput again, with the N ports' rules in compute01's FORWARD chain.

Uses its own randomly named lab under /tmp and takes it down.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from neutrino.lab import instances, lifecycle, node, services, teardown  # noqa: E402
from neutrino.lab.api import LabApi  # noqa: E402
from neutrino.lab.layout import Lab  # noqa: E402

WIPE = ("from neutrino.agents.firewall import FirewallDriver; "
        "FirewallDriver().remove_all()")


def quiet(_text: str) -> None:
    pass


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


def wait(predicate, timeout: float, interval: float = 0.05) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(interval)
    return None


def input_chains(lab: Lab, host: str) -> int:
    return on_node(lab, host, "iptables-save", "-t", "filter").count(":neutron-openvswi-i")


def restart_agent(lab: Lab, host: str, chains: int, wipe: bool) -> float | None:
    """Seconds from the agent's start until its firewall synced (``wipe``:
    until all ``chains`` ingress chains are back); None after 120 s."""
    key = f"agent-ovs@{host}"
    log = lab.node_dir(host, "log", "agent-ovs.log")
    os.kill(services.read_pids(lab)[key], signal.SIGTERM)
    while services.alive(services.read_pids(lab), key):
        time.sleep(0.05)
    if wipe:
        on_node(lab, host, sys.executable, "-c", WIPE)
    with open(log) as f:
        synced = f.read().count("firewall:")
    started = time.monotonic()
    pids = services.read_pids(lab)
    pids[key] = services.start_agent(lab, host, "ovs")
    services.write_pids(lab, pids)

    def done():
        with open(log) as f:
            if f.read().count("firewall:") <= synced:
                return False
        return not wipe or input_chains(lab, host) >= chains
    return time.monotonic() - started if wait(done, 120) is not None else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=200)
    args = parser.parse_args()
    name = f"bs{secrets.token_hex(3)}"
    lab = Lab.locate(name, f"/tmp/nlab-{name}")
    try:
        info = lifecycle.up(lab, computes=2, say=quiet)
        api = LabApi(info["endpoint"])
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

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda i: instances.create(lab, f"p{i}", "bench", host="compute01",
                                                     vif_timeout=60, say=quiet),
                          range(args.ports)))
        print(f"{args.ports} instances on compute01 booted (port ACTIVE, i.e. filtered) in"
              f" {time.monotonic() - started:.1f} s")
        chains = input_chains(lab, "compute01")
        lines = on_node(lab, "compute01", "iptables-save").count("\n")
        print(f"compute01: {chains} ingress chains, {lines} iptables lines")
        took = restart_agent(lab, "compute01", chains, wipe=False)
        print(f"agent restart, chains in place: first firewall sync after {took:.2f} s"
              if took is not None else "agent restart: no firewall sync in 120 s")
        took = restart_agent(lab, "compute01", chains, wipe=True)
        print(f"agent restart after wiping every chain and ipset: all {chains} chains back"
              f" after {took:.2f} s" if took is not None else
              "agent restart after wipe: chains not back in 120 s")
        loaded = iperf(lab, "t1", "t2")
        print(f"TCP t1 -> t2 with {args.ports} more filtered ports on compute01:"
              f" {loaded:.0f} Mbit/s")
        api.close()
    finally:
        teardown.down(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
