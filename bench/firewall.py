"""Benchmark the iptables_hybrid firewall: a 1,000-rule group on one port.

Runs in a throwaway network namespace (needs root) and prints, in ms:
* apply: from nothing to the port filtered by the 1,000-rule group;
* change one rule: one rule of the group edited, the update applied;
* re-apply unchanged: the same state again (diff finds nothing to do);
* build only: the pure ruleset computation, without touching the kernel;
then, for scale, N ports (default 200) in a default-like group: the first
apply (an agent restart on a fresh node), one member added, and a resync
that finds nothing to do (what the OVS agent's periodic check costs).

Usage: .venv/bin/python bench/firewall.py [--rules N] [--ports N] [--repeat R]
"""
from __future__ import annotations

import argparse
import statistics
import time
import uuid

from neutrino.agents.firewall.driver import FirewallDriver
from neutrino.agents.firewall.hybrid import build
from neutrino.linux import proc

SG = str(uuid.uuid4())


def group(n: int, changed: int | None = None) -> dict:
    rules = [{"id": f"r{i}", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
              "port_range_min": 1000 + i, "port_range_max": 1000 + i,
              "remote_ip_prefix": f"10.{i // 250}.{i % 250}.0/24"} for i in range(n)]
    rules.append({"id": "egress", "direction": "egress", "ethertype": "IPv4"})
    if changed is not None:
        rules[changed] = dict(rules[changed], protocol="udp")
    return {SG: {"stateful": True, "security_group_rules": rules}}


def port(n: int = 5) -> dict:
    """A port whose id, like a real UUID, differs in its first characters."""
    return {"id": f"{n:08x}-1b2a-4c5d-8e7f-0123456789ab",
            "mac_address": f"fa:16:3e:00:{n >> 8:02x}:{n & 255:02x}",
            "fixed_ips": [{"ip_address": f"10.0.{n >> 8}.{n & 255}"}],
            "device_owner": "compute:nova", "port_security_enabled": True,
            "security_groups": [SG], "allowed_address_pairs": []}


DEFAULT = {SG: {"stateful": True, "security_group_rules": [
    {"id": "eg", "direction": "egress", "ethertype": "IPv4"},
    {"id": "in", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": SG}]}}


def many_ports(netns: str, count: int) -> dict[str, float]:
    ports = [port(n) for n in range(1, count + 1)]
    members = {SG: [p["fixed_ips"][0]["ip_address"] for p in ports]}
    drv = FirewallDriver(netns=netns)
    try:
        first = timed(lambda: drv.update(ports, DEFAULT, members))
        members[SG].append("10.9.9.9")
        member = timed(lambda: drv.update(ports, DEFAULT, members))
        resync = timed(lambda: drv.resync(ports, DEFAULT, members))
    finally:
        drv.remove_all()
    return {f"{count} ports: first apply": first, f"{count} ports: member added": member,
            f"{count} ports: resync unchanged (agent's periodic check)": resync}


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    netns = f"nt-fwbench-{uuid.uuid4().hex[:8]}"
    proc.run(["ip", "netns", "add", netns])
    results: dict[str, list[float]] = {"apply": [], "change one rule": [],
                                       "re-apply unchanged": [], "build only": []}
    try:
        for i in range(args.repeat):
            drv = FirewallDriver(netns=netns)
            base, changed = group(args.rules), group(args.rules, changed=(i * 37) % args.rules)
            results["apply"].append(timed(lambda: drv.update([port()], base, {})))
            results["change one rule"].append(timed(lambda: drv.update([port()], changed, {})))
            results["re-apply unchanged"].append(timed(lambda: drv.update([port()], changed, {})))
            results["build only"].append(timed(lambda: build([port()], changed, {})))
            chain = f"neutron-openvswi-i{port()['id'][:10]}"
            count = proc.run(["iptables-save", "-t", "filter"], netns=netns).out.count(
                f"-A {chain} ")
            assert count >= args.rules, f"only {count} rules in {chain}"
            drv.remove_all()
        scale = many_ports(netns, args.ports)
    finally:
        proc.run(["ip", "netns", "del", netns], check=False)
    print(f"iptables_hybrid, one port, a group of {args.rules} rules, "
          f"median of {args.repeat} runs:")
    for what, values in results.items():
        print(f"  {what:20s} {statistics.median(values):8.1f} ms"
              f"   (min {min(values):.1f}, max {max(values):.1f})")
    for what, value in scale.items():
        print(f"  {what:28s} {value:8.1f} ms")


if __name__ == "__main__":
    main()
