"""Benchmarks of the lab (issue 3): prints numbers, asserts nothing.

    .venv/bin/python bench/lab.py [--instances 20] [--rounds 3]

* `lab up` wall time for controller + 2 computes (fresh lab, several rounds);
* instance create -> port ACTIVE, -> DHCP lease, -> first ping (to the DHCP
  port, across VXLAN): p50/p99 over N instances created one after another,
  N created at once on a fresh lab, and N more at once beside the first N;
* memory of the whole lab with the demo's instances running (sum of PSS, and
  of peak RSS, over every process of the lab);
* TCP throughput vm1 -> vm2 across VXLAN beside a bare veth pair.

Each run uses its own randomly named lab under /tmp and takes it down.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext as nothing

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from neutrino.lab import instances, lifecycle, teardown, vif_events  # noqa: E402
from neutrino.lab.api import LabApi  # noqa: E402
from neutrino.lab.layout import Lab  # noqa: E402
from neutrino.linux import ip  # noqa: E402


IN_MEMORY = True
"""The labs' state on a tmpfs, as ``lab up`` makes it (``--state-on-disk``: not)."""


def new_lab() -> Lab:
    name = f"bn{secrets.token_hex(3)}"
    return Lab.locate(name, f"/tmp/nlab-{name}")


def quiet(_text: str) -> None:
    pass


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores, {cpu}, kernel {platform.release()}"


def bench_lab_up(rounds: int) -> None:
    times = []
    for _ in range(rounds):
        lab = new_lab()
        try:
            t0 = time.monotonic()
            lifecycle.up(lab, computes=2, say=quiet, state_in_memory=IN_MEMORY)
            times.append(time.monotonic() - t0)
        finally:
            teardown.down(lab)
    print(f"lab up (controller + 2 computes, server and 6 agents alive): "
          f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s over {rounds} rounds (target <= 10 s)")


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def ping_once(netns: str, address: str, timeout: float = 0.2) -> bool:
    """One ICMP echo from inside ``netns``, sent and awaited by this process
    through a raw socket made in the namespace: the 20 boots' pings (a
    ``ping`` fork each, through nsenter) ran beside the boots they measure."""
    ident = secrets.randbits(16)
    head = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
    payload = b"neutrino-bench"
    packet = struct.pack("!BBHHH", 8, 0, _checksum(head + payload), ident, 1) + payload
    with ip.socket_in(netns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            sock.sendto(packet, (address, 0))
        except OSError:                      # no address or route yet
            time.sleep(timeout)
            return False
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, peer = sock.recvfrom(2048)
            except (socket.timeout, OSError):
                return False
            offset = (data[0] & 0x0F) * 4
            kind, _, _, got = struct.unpack("!BBHH", data[offset:offset + 6])
            if peer[0] == address and kind == 0 and got == ident:
                return True
    return False


def boot_and_time(lab: Lab, name: str, network: str, host: str, target: str) -> dict:
    """Seconds from the create call to port ACTIVE (create returns once Nova's
    wait for the vif is over), to the DHCP lease, and to the first ping."""
    t0 = time.monotonic()
    inst = instances.create(lab, name, network, host=host, say=quiet)
    active = time.monotonic() - t0
    while not instances.lease(lab, name):
        if time.monotonic() - t0 > 30:
            raise RuntimeError(f"{name}: no lease in 30 s")
        time.sleep(0.02)    # 20 threads polling faster slowed the creates beside them
    leased = time.monotonic() - t0
    while not ping_once(inst["netns"], target):
        if time.monotonic() - t0 > 30:
            raise RuntimeError(f"{name}: no ping in 30 s")
    return {"active": active, "lease": leased, "ping": time.monotonic() - t0}


def report(kind: str, rows: list[dict]) -> None:
    for key, label in (("active", "port ACTIVE"), ("lease", "DHCP lease"), ("ping", "first ping")):
        values = [r[key] for r in rows]
        print(f"  {kind:<20} create -> {label:<12} p50 {pct(values, .5) * 1000:6.0f} ms"
              f"   p99 {pct(values, .99) * 1000:6.0f} ms   (n={len(values)})")


def _label(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().decode(errors="replace").split("\0")
    except OSError:
        return "?"
    words = [a for a in argv if a and not a.startswith("-")]
    if "neutrino" in " ".join(words[:2]):
        host = argv[argv.index("--host") + 1] if "--host" in argv else ""
        rest = [w for w in words if w in ("server", "ovs", "dhcp", "l3", "metadata")]
        return f"neutrino {' '.join(rest[:2])} {host}".strip()
    return os.path.basename(words[0]) if words else "?"


def cpu_seconds(pids) -> dict[int, tuple[str, float]]:
    """CPU time (user + system, own and reaped children) of each process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (_label(pid), sum(int(x) for x in fields[11:15]) / tick)
    return out


def busy_seconds() -> float:
    """CPU time the whole machine spent not idle, all cores."""
    with open("/proc/stat") as f:
        values = [int(x) for x in f.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cpu_report(before: dict, after: dict, busy: float, wall: float) -> None:
    """Where the CPU went during a burst: per process kind, and the rest."""
    by_label: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        used = seconds - before.get(pid, (label, 0.0))[1]
        by_label[label] = by_label.get(label, 0.0) + used
    ranked = sorted(by_label.items(), key=lambda item: -item[1])
    print(f"  CPU during the burst: {busy:.2f} s busy on {os.cpu_count()} cores in {wall:.2f} s"
          f" wall (load average {os.getloadavg()[0]:.2f}); by process (children included):")
    for label, seconds in ranked:
        if seconds >= 0.05:
            print(f"    {seconds:6.2f} s  {label}")
    print(f"    {busy - sum(by_label.values()):6.2f} s  everything else on the machine")


def slowest_passes(lab: Lab, node: str, since: str, top: int = 3) -> list[str]:
    """The OVS agent's longest logged passes on ``node`` after time ``since``."""
    passes = []
    try:
        with open(lab.node_dir(node, "log", "agent-ovs.log")) as f:
            for line in f:
                if line[:23] >= since and " pass " in line and " ms" in line:
                    phases = line.rsplit("(", 1)[1].rstrip(")\n")
                    total = sum(float(p.split()[-2]) for p in phases.split(", "))
                    passes.append((total, line[11:23], phases))
    except OSError:
        return []
    passes.sort(reverse=True)
    return [f"{total:5.0f} ms at {when}: {phases}" for total, when, phases in passes[:top]] + \
        [f"({len(passes)} passes that changed something)"]


class Phases:
    """Wall time of the steps of each create, by thread (``--profile``): the
    port create call, the hybrid plug, and Nova's wait for the vif."""

    STEPS = (("create_port", LabApi, "create_port"), ("plug", instances.plug, "plug"),
             ("vif wait", vif_events.Expectation, "wait"))

    def __init__(self):
        self.seconds: dict[str, list[float]] = {name: [] for name, _, _ in self.STEPS}
        self._saved = []

    def __enter__(self):
        for name, owner, attr in self.STEPS:
            original = getattr(owner, attr)
            self._saved.append((owner, attr, original))
            setattr(owner, attr, self._timed(name, original))
        return self

    def _timed(self, name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name].append(time.monotonic() - t0)
        return wrapper

    def __exit__(self, *exc):
        for owner, attr, original in self._saved:
            setattr(owner, attr, original)

    def report(self) -> None:
        print("  steps of each create: " + ", ".join(
            f"{name} p50 {pct(v, .5) * 1000:.0f} ms (max {max(v) * 1000:.0f})"
            for name, v in self.seconds.items() if v))


HOSTS = ("compute01", "compute02")
DHCP_IP = "10.20.0.2"


def bench_lab(name: str = "bench", cidr: str = "10.20.0.0/22") -> tuple[Lab, str]:
    """A fresh lab with network ``name`` (subnet ``cidr``); returns it and the
    network id. The caller takes the lab down (which stops the listener).

    The boots' Nova side is a running service, as nova-compute is: its
    listener for ``network-vif-plugged`` is subscribed before the first boot
    (started by the first boot instead, its imports and connection cost
    ~0.15 s of CPU inside the burst being measured)."""
    lab = new_lab()
    try:
        lifecycle.up(lab, computes=2, say=quiet, state_in_memory=IN_MEMORY)
        api = LabApi.for_lab(lab)
        net = api._call("POST", "/v2.0/networks", {"network": {"name": name}})["network"]
        api._call("POST", "/v2.0/subnets", {"subnet": {"network_id": net["id"], "cidr": cidr,
                                                       "ip_version": 4}})
        api.close()
        vif_events.EVENTS.listening(lab.transport_url)
    except BaseException:
        teardown.down(lab)
        raise
    return lab, net["id"]


def burst(lab: Lab, network: str, count: int, prefix: str, label: str, profile: bool) -> None:
    """``count`` creates at once, each timed from its own create call."""
    pids = teardown.lab_pids(lab) | {os.getpid()}
    since = time.strftime("%Y-%m-%d %H:%M:%S")
    phases = Phases()
    cpu0, busy0, t0 = cpu_seconds(pids), busy_seconds(), time.monotonic()
    with ThreadPoolExecutor(max_workers=count) as pool, phases if profile else nothing():
        par = list(pool.map(lambda i: boot_and_time(lab, f"{prefix}{i}", network, HOSTS[i % 2],
                                                    DHCP_IP), range(count)))
    wall, busy = time.monotonic() - t0, busy_seconds() - busy0
    report(label, par)
    if profile:
        phases.report()
        cpu_report(cpu0, cpu_seconds(pids), busy, wall)
        for host in HOSTS:
            print(f"  {host}: slowest OVS agent passes of the burst:")
            for line in slowest_passes(lab, host, since):
                print(f"    {line}")


def bench_instances(count: int, modes=("seq", "burst"), profile: bool = False) -> None:
    """One by one on a fresh lab, then at once beside those; and at once on a
    fresh lab of its own (each measured from its own create call)."""
    print(f"instance boot timings, {count} instances each way (ping target: the DHCP port"
          f" on the controller, across VXLAN):")
    print(f"  load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "burst" in modes:
        lab, network = bench_lab()
        try:
            burst(lab, network, count, "p", "all at once", profile)
        finally:
            teardown.down(lab)
    if "seq" in modes:
        lab, network = bench_lab()
        try:
            seq = [boot_and_time(lab, f"s{i}", network, HOSTS[i % 2], DHCP_IP)
                   for i in range(count)]
            report("one by one", seq)
            if "burst" in modes:
                burst(lab, network, count, "q", f"at once, {count} running", profile)
        finally:
            teardown.down(lab)
    print(f"  load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def memory_of(pids: set[int]) -> tuple[float, float, int]:
    pss = hwm = 0
    seen = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
            seen += 1
        except OSError:
            continue
    return pss / 1024, hwm / 1024, seen


def iperf(client_ns: str, server_ns: str, address: str) -> float:
    server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = subprocess.run(["ip", "netns", "exec", client_ns, "iperf3", "-c", address,
                              "-t", "3", "-J"], capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9
    finally:
        server.kill()
        server.wait()


def bench_memory_and_throughput() -> None:
    lab, _ = bench_lab("private", "10.11.11.0/24")
    try:
        for name, host in (("vm1", "compute01"), ("vm2", "compute02"), ("vm3", "compute01")):
            instances.create(lab, name, "private", host=host, say=quiet)
        for name in ("vm1", "vm2", "vm3"):
            while not instances.lease(lab, name):
                time.sleep(0.05)
        vm1, vm2 = instances.load(lab, "vm1"), instances.load(lab, "vm2")
        gbits = iperf(vm1["netns"], vm2["netns"], instances.lease(lab, "vm2")["ip"])
        pss, hwm, count = memory_of(teardown.lab_pids(lab))
        fs = os.statvfs(lab.state_dir)
        files = (fs.f_blocks - fs.f_bfree) * fs.f_frsize / 2**20 if IN_MEMORY else 0.0
        print(f"memory of the lab with the demo running ({count} processes: server, redis,"
              f" 6 agents, 3x ovsdb-server + ovs-vswitchd, dnsmasq, metadata proxies, DHCP clients):"
              f" PSS {pss:.0f} MB, sum of peak RSS {hwm:.0f} MB, plus {files:.0f} MB of state"
              f" files on tmpfs: {pss + files:.0f} MB (target <= 400 MB)")
    finally:
        teardown.down(lab)
    a, b = f"nt-bv-{secrets.token_hex(3)}", f"nt-bw-{secrets.token_hex(3)}"
    try:
        ip.netns_add(a)
        ip.netns_add(b)
        ip.veth_add("v0", "v1", netns=a, peer_netns=b)
        ip.addr_add("v0", "10.99.0.1/24", netns=a)
        ip.addr_add("v1", "10.99.0.2/24", netns=b)
        ip.link_set("v0", netns=a, up=True)
        ip.link_set("v1", netns=b, up=True)
        bare = iperf(a, b, "10.99.0.2")
    finally:
        ip.netns_delete(a)
        ip.netns_delete(b)
    print(f"TCP throughput vm1 -> vm2 across VXLAN (qbr + userspace OVS + VXLAN, MTU 1450):"
          f" {gbits:.2f} Gbit/s; bare veth pair: {bare:.2f} Gbit/s")


def main() -> int:
    global IN_MEMORY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("up", "boot", "memory"))
    parser.add_argument("--boots", choices=("both", "seq", "burst"), default="both",
                        help="instance boots one by one, all at once, or both (default)")
    parser.add_argument("--profile", action="store_true",
                        help="print where the CPU went during the all-at-once boots")
    parser.add_argument("--state-on-disk", action="store_true",
                        help="the labs' state on this machine's disk instead of a tmpfs")
    args = parser.parse_args()
    IN_MEMORY = not args.state_on_disk
    print(f"machine: {machine()}; lab state {'in memory (tmpfs)' if IN_MEMORY else 'on disk'}")
    if args.only in (None, "up"):
        bench_lab_up(args.rounds)
    if args.only in (None, "boot"):
        modes = ("seq", "burst") if args.boots == "both" else (args.boots,)
        bench_instances(args.instances, modes, args.profile)
    if args.only in (None, "memory"):
        bench_memory_and_throughput()
    return 0


if __name__ == "__main__":
    sys.exit(main())
