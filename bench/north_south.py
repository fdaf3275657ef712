"""Benchmarks of the north-south path (issue 4): prints numbers, asserts nothing.

    .venv/bin/python bench/north_south.py [--rounds 20] [--router-rounds 5]

* floating IP associate (the PUT) -> first ping from the lab's upstream that
  the instance answers through the floating IP: p50/p99 over N rounds
  (target p50 <= 1 s);
* router create (with its gateway) + interface -> first ping from an instance
  behind it to the "Internet host" 203.0.113.10: p50 over M rounds.

Pings are 1-per-probe with a 0.2 s wait, so a result is late by at most about
that much. The run uses its own randomly named lab under /tmp and takes it down.
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from neutrino.lab import accounts, instances, lifecycle, teardown  # noqa: E402
from neutrino.lab.layout import Lab  # noqa: E402

OUTSIDE = "203.0.113.10"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ping_once(netns: str, address: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "0.2", address],
                          capture_output=True).returncode == 0


def until(probe, timeout: float = 30) -> float | None:
    """Seconds until ``probe()`` is true (None: not within ``timeout``)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if probe():
            return time.monotonic() - t0
    return None


class Bench:
    def __init__(self, lab: Lab, info: dict):
        self.lab = lab
        self.api = httpx.Client(base_url=info["endpoint"], timeout=30,
                                auth=accounts.credentials(lab, "admin"))

    def post(self, collection: str, **body) -> dict:
        singular = collection[:-1].replace("-", "_")
        resp = self.api.post(f"/v2.0/{collection}", json={singular: body})
        resp.raise_for_status()
        return resp.json()[singular]

    def put(self, path: str, body: dict) -> dict:
        resp = self.api.put(f"/v2.0/{path}", json=body)
        resp.raise_for_status()
        return resp.json()

    def setup(self) -> None:
        self.ext = self.post("networks", name="public", **{
            "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "extnet"})
        self.post("subnets", network_id=self.ext["id"], cidr="192.168.100.0/24",
                  gateway_ip="192.168.100.1", enable_dhcp=False, ip_version=4,
                  allocation_pools=[{"start": "192.168.100.100", "end": "192.168.100.200"}])
        group = self.api.get("/v2.0/security-groups",
                             params={"name": "default"}).json()["security_groups"][0]
        self.post("security-group-rules", security_group_id=group["id"], direction="ingress",
                  ethertype="IPv4", protocol="icmp")
        self.subnets = {}
        for name, cidr in (("fipnet", "10.40.0.0/24"), ("rtnet", "10.41.0.0/24")):
            net = self.post("networks", name=name)
            self.subnets[name] = self.post("subnets", network_id=net["id"], cidr=cidr,
                                           ip_version=4)
        self.vms = {name: instances.create(self.lab, name, net, host="compute01",
                                           say=lambda text: None)
                    for name, net in (("fipvm", "fipnet"), ("rtvm", "rtnet"))}
        for name in self.vms:
            instances_lease(self.lab, name)

    def bench_fip(self, rounds: int) -> None:
        router = self.post("routers", name="fip-router",
                           external_gateway_info={"network_id": self.ext["id"]})
        self.put(f"routers/{router['id']}/add_router_interface",
                 {"subnet_id": self.subnets["fipnet"]["id"]})
        fip = self.post("floatingips", floating_network_id=self.ext["id"])
        address, port = fip["floating_ip_address"], self.vms["fipvm"]["port_id"]
        upstream = self.lab.netns("upstream")
        times, misses = [], 0
        for _ in range(rounds):
            t0 = time.monotonic()
            self.put(f"floatingips/{fip['id']}", {"floatingip": {"port_id": port}})
            took = until(lambda: ping_once(upstream, address))
            if took is None:
                misses += 1
            else:
                times.append(time.monotonic() - t0)
            self.put(f"floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
            until(lambda: not ping_once(upstream, address))
        if times:
            print(f"floating IP associate -> first inbound ping: p50 {pct(times, 0.5):.2f} s, "
                  f"p99 {pct(times, 0.99):.2f} s, min {min(times):.2f} s over {len(times)} "
                  f"rounds (target p50 <= 1 s)" + (f", {misses} never answered" if misses else ""))
        else:
            print(f"floating IP associate -> first inbound ping: no answer in {rounds} rounds")

    def bench_router(self, rounds: int) -> None:
        vm_ns = self.vms["rtvm"]["netns"]
        subnet = self.subnets["rtnet"]["id"]
        times, misses = [], 0
        for i in range(rounds):
            t0 = time.monotonic()
            router = self.post("routers", name=f"bench-r{i}",
                               external_gateway_info={"network_id": self.ext["id"]})
            self.put(f"routers/{router['id']}/add_router_interface", {"subnet_id": subnet})
            took = until(lambda: ping_once(vm_ns, OUTSIDE))
            if took is None:
                misses += 1
            else:
                times.append(time.monotonic() - t0)
            self.put(f"routers/{router['id']}/remove_router_interface", {"subnet_id": subnet})
            self.api.delete(f"/v2.0/routers/{router['id']}").raise_for_status()
            until(lambda: not ping_once(vm_ns, OUTSIDE))
        if times:
            print(f"router create + gateway + interface -> instance reaches {OUTSIDE}: "
                  f"p50 {pct(times, 0.5):.2f} s, max {max(times):.2f} s over {len(times)} rounds"
                  + (f", {misses} never reached it" if misses else ""))
        else:
            print(f"router create + gateway + interface: never reached {OUTSIDE} in {rounds}")


def instances_lease(lab: Lab, name: str, timeout: float = 60) -> None:
    inst = instances.load(lab, name)
    until(lambda: b"inet " in subprocess.run(
        ["ip", "netns", "exec", inst["netns"], "ip", "-4", "addr", "show", "dev", "eth0"],
        capture_output=True).stdout, timeout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--router-rounds", type=int, default=5)
    args = ap.parse_args(argv)
    name = f"bns{secrets.token_hex(3)}"
    lab = Lab.locate(name, f"/tmp/nlab-{name}")
    try:
        bench = Bench(lab, lifecycle.up(lab, computes=2, say=lambda text: None))
        bench.setup()
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        bench.bench_fip(args.rounds)
        bench.bench_router(args.router_rounds)
    finally:
        teardown.down(lab)
    return 0


if __name__ == "__main__":
    sys.exit(main())
