"""Benchmark of the Networking API over plain HTTP.

    bench/api.py [URL] [--ports N]

With a URL, talks to any Neutron-compatible server (noauth, or set
OS_TOKEN to send X-Auth-Token). Without one, starts a temporary
``neutrino server`` on a free port with a temporary SQLite database and stops
it afterwards. Prints ops/s, p50 and p99 for each operation, and for a
temporary server also the server's CPU time per operation (a figure that a
busy machine does not inflate the way it inflates latencies).
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager

import httpx


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, client: httpx.Client, server_pid: int | None = None):
        self.client = client
        self.server_pid = server_pid
        self.rows = []

    def call(self, method: str, path: str, expect: int, **kwargs) -> httpx.Response:
        r = self.client.request(method, path, **kwargs)
        if r.status_code != expect:
            sys.exit(f"bench: {method} {path} answered {r.status_code}: {r.text[:300]}")
        return r

    def measure(self, name: str, count: int, op) -> list:
        times, results = [], []
        cpu0 = process_cpu(self.server_pid) if self.server_pid else None
        start = time.perf_counter()
        for i in range(count):
            t0 = time.perf_counter()
            results.append(op(i))
            times.append(time.perf_counter() - t0)
        total = time.perf_counter() - start
        cpu = (process_cpu(self.server_pid) - cpu0) / count * 1000 if cpu0 is not None else None
        self.rows.append((name, count, count / total, statistics.median(times) * 1000,
                          percentile(times, 99) * 1000, cpu))
        return results

    def report(self) -> None:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        cpu_head = f"{'server cpu ms/op':>18}" if self.server_pid else ""
        print(f"{'operation':<28}{'count':>7}{'ops/s':>10}{'p50 ms':>10}{'p99 ms':>10}{cpu_head}")
        for name, count, rate, p50, p99, cpu in self.rows:
            cpu_col = f"{cpu:>18.2f}" if cpu is not None else ""
            print(f"{name:<28}{count:>7}{rate:>10.1f}{p50:>10.2f}{p99:>10.2f}{cpu_col}")


def run(url: str, ports: int, server_pid: int | None = None) -> None:
    headers = {"X-Auth-Token": os.environ["OS_TOKEN"]} if os.environ.get("OS_TOKEN") else {}
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60) as client:
        b = Bench(client, server_pid)
        nets = b.measure("create network", 20, lambda i: b.call(
            "POST", "/v2.0/networks", 201,
            json={"network": {"name": f"bench-net-{i}"}}).json()["network"]["id"])
        b.measure("create subnet", 20, lambda i: b.call(
            "POST", "/v2.0/subnets", 201,
            json={"subnet": {"network_id": nets[i], "ip_version": 4,
                             "cidr": f"10.{100 + i // 250}.{i % 250}.0/24"}}))
        big = nets[0]
        project = b.call("GET", f"/v2.0/networks/{big}", 200).json()["network"]["project_id"]
        client.put(f"/v2.0/quotas/{project}", json={"quota": {"port": -1}})
        b.call("POST", "/v2.0/subnets", 201, json={"subnet": {
            "network_id": big, "ip_version": 4, "cidr": "172.20.0.0/22", "enable_dhcp": False}})
        port_ids = b.measure(f"create port ({ports})", ports, lambda i: b.call(
            "POST", "/v2.0/ports", 201,
            json={"port": {"network_id": big, "name": f"p{i}"}}).json()["port"]["id"])

        def list_ports(_):
            listed = b.call("GET", f"/v2.0/ports?network_id={big}", 200).json()["ports"]
            if len(listed) < ports:
                sys.exit(f"bench: listed {len(listed)} ports, expected {ports}")
        b.measure(f"list {ports} ports", 20, list_ports)
        b.measure("show port", 200, lambda i: b.call("GET", f"/v2.0/ports/{port_ids[i]}", 200))
        b.measure("update port", 200, lambda i: b.call(
            "PUT", f"/v2.0/ports/{port_ids[i]}", 200, json={"port": {"name": f"u{i}"}}))
        b.measure("delete port", 200, lambda i: b.call(
            "DELETE", f"/v2.0/ports/{port_ids[i]}", 204))
        for port_id in port_ids[200:]:
            b.call("DELETE", f"/v2.0/ports/{port_id}", 204)
        for net in nets:
            b.call("DELETE", f"/v2.0/networks/{net}", 204)
        b.report()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def temporary_server():
    with tempfile.TemporaryDirectory(prefix="neutrino-bench-") as state:
        port = free_port()
        cmd = [sys.executable, "-m", "neutrino.cli.main", "server", "--bind",
               f"127.0.0.1:{port}", "--state-dir", state, "--auth", "noauth",
               "--log-level", "warning"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    sys.exit(f"bench: server exited: {proc.stderr.read().decode()[-500:]}")
                try:
                    httpx.get(url + "/", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        sys.exit("bench: server did not start in 30 s")
                    time.sleep(0.05)
            yield url, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url", nargs="?", help="API endpoint, e.g. http://127.0.0.1:9696")
    p.add_argument("--ports", type=int, default=1000)
    args = p.parse_args()
    if args.ports < 200:
        p.error("--ports must be at least 200")
    if args.url:
        run(args.url, args.ports)
        return
    with temporary_server() as (url, pid):
        print(f"temporary neutrino server at {url} (SQLite)")
        run(url, args.ports, pid)


if __name__ == "__main__":
    main()
