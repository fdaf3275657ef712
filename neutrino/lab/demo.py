"""`make demo`: bring up the seed's cloud and prove it works.

It drives Neutrino the way a user would: `neutrino lab up`, the Networking
API over HTTP, `neutrino instance create`, then real packets between the
instances. Every check prints one line; any failed check makes the demo exit
non-zero. The lab is left running for exploring.
"""
import json
import os
import re
import subprocess
import sys
import time

import httpx

BIN = os.path.join(os.path.dirname(sys.executable), "neutrino")
NETWORK, CIDR = "private", "10.11.11.0/24"
INSTANCES = (("vm1", "compute01"), ("vm2", "compute02"), ("vm3", "compute01"))


class Demo:
    def __init__(self, lab: str | None = None):
        self.lab_args = ["--name", lab] if lab else []
        self.failures: list[str] = []
        self.t0 = time.monotonic()
        self.api: httpx.Client | None = None

    # -- plumbing -----------------------------------------------------------
    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", flush=True)

    def check(self, ok: bool, text: str) -> bool:
        self.say(("ok    " if ok else "FAIL  ") + text)
        if not ok:
            self.failures.append(text)
        return ok

    def neutrino(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run([BIN, *args], capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise SystemExit(f"demo: `neutrino {' '.join(args)}` failed:\n{proc.stderr.strip()}")
        return proc.stdout

    def in_instance(self, name: str, *cmd: str, timeout: int = 30) -> subprocess.CompletedProcess:
        return subprocess.run([BIN, "instance", "exec", *self.lab_args, name, "--", *cmd],
                              capture_output=True, text=True, timeout=timeout)

    def on_node(self, node: str, *cmd: str) -> str:
        return self.neutrino("lab", "exec", *self.lab_args, node, "--", *cmd)

    # -- steps --------------------------------------------------------------
    def lab_up(self) -> None:
        self.say("bringing the lab up: controller, compute01, compute02")
        out = subprocess.run([BIN, "lab", "up", *self.lab_args], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        print(out.stdout, end="")
        if out.returncode != 0:
            raise SystemExit("demo: `neutrino lab up` failed")
        match = re.search(r"(http://127\.0\.0\.1:\d+)", out.stdout)
        endpoint = match.group(1) if match else "http://127.0.0.1:9696"
        self.api = httpx.Client(base_url=endpoint, timeout=10)

    def find_or_create(self, collection: str, name: str, body: dict) -> dict:
        singular = collection[:-1]
        found = self.api.get(f"/v2.0/{collection}", params={"name": name}).json()[collection]
        if found:
            return found[0]
        resp = self.api.post(f"/v2.0/{collection}", json={singular: {"name": name, **body}})
        resp.raise_for_status()
        return resp.json()[singular]

    def network(self) -> None:
        net = self.find_or_create("networks", NETWORK, {})
        self.find_or_create("subnets", f"{NETWORK}-subnet",
                            {"network_id": net["id"], "cidr": CIDR, "ip_version": 4})
        self.say(f"network {NETWORK} {net['id']} (VNI {net.get('provider:segmentation_id')},"
                 f" MTU {net['mtu']}), subnet {CIDR}")

    def boot(self) -> dict:
        existing = {i["name"]: i for i in json.loads(
            self.neutrino("instance", "list", *self.lab_args, "-f", "json"))}
        for name, host in INSTANCES:
            if name not in existing:
                self.neutrino("instance", "create", *self.lab_args, name,
                              "--network", NETWORK, "--host", host)
        self.say("instances booted: " + ", ".join(f"{n} on {h}" for n, h in INSTANCES))
        deadline = time.monotonic() + 30
        leases: dict = {}
        while time.monotonic() < deadline and len(leases) < len(INSTANCES):
            for name, _ in INSTANCES:
                if name not in leases:
                    lease = self.lease(name)
                    if lease:
                        leases[name] = lease
            time.sleep(0.1)
        listing = {i["name"]: i for i in json.loads(
            self.neutrino("instance", "list", *self.lab_args, "-f", "json"))}
        for name, host in INSTANCES:
            ips = listing[name]["ips"]
            want = ips[0] if isinstance(ips, list) else str(ips).split(",")[0].strip()
            got = leases.get(name)
            self.check(got is not None and got[0] == want,
                       f"{name} on {host}: DHCP lease {got[0] if got else 'none'}"
                       f" (port {want}), MTU {got[1] if got else '?'}")
            if got:
                self.check(got[1] == "1450", f"{name}: MTU 1450 from DHCP option 26")
        return leases

    def lease(self, name: str):
        out = self.in_instance(name, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
        addr = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out.stdout)
        if not addr:
            return None
        mtu = re.search(r"mtu (\d+)", self.in_instance(name, "ip", "link", "show", "eth0").stdout)
        return addr.group(1), mtu.group(1) if mtu else "?"

    def traffic(self, leases: dict) -> None:
        if not {"vm1", "vm2", "vm3"} <= set(leases):
            return
        for dst, how in (("vm2", "across VXLAN"), ("vm3", "same node")):
            out = self.in_instance("vm1", "ping", "-c", "3", "-i", "0.2", "-W", "2", leases[dst][0])
            self.check(out.returncode == 0, f"ping vm1 -> {dst} {leases[dst][0]} ({how})")
        self.in_instance("vm2", "iperf3", "-s", "-1", "-D")
        time.sleep(0.3)
        out = self.in_instance("vm1", "iperf3", "-c", leases["vm2"][0], "-t", "2", "-J", timeout=30)
        ok = out.returncode == 0
        rate = ""
        if ok:
            bits = json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]
            rate = f": {bits / 1e6:.0f} Mbit/s"
            ok = bits > 0
        self.check(ok, f"TCP transfer vm1 -> vm2 across nodes{rate}")

    def open_default_group(self) -> None:
        """Allow ICMP and SSH in on the default group, as a user would."""
        groups = self.api.get("/v2.0/security-groups",
                              params={"name": "default"}).json()["security_groups"]
        if not self.check(bool(groups), "the project has its default security group"):
            return
        for what, rule in (("ICMP", {"protocol": "icmp"}),
                           ("TCP 22", {"protocol": "tcp", "port_range_min": 22,
                                       "port_range_max": 22})):
            body = {"security_group_id": groups[0]["id"], "direction": "ingress",
                    "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0", **rule}
            resp = self.api.post("/v2.0/security-group-rules",
                                 json={"security_group_rule": body})
            self.check(resp.status_code in (201, 409),
                       f"default group: ingress {what} from anywhere"
                       + (" (already there)" if resp.status_code == 409 else ""))

    def show_firewall(self) -> None:
        listing = json.loads(self.neutrino("instance", "list", *self.lab_args, "-f", "json"))
        vm1 = next((i for i in listing if i["name"] == "vm1"), None)
        if vm1 is None or not vm1.get("port"):
            return
        for kind in ("i", "o"):
            cmd = ["iptables", "-nvL", f"neutron-openvswi-{kind}{vm1['port'][:10]}"]
            print(f"\n[root@compute01 ~]# {' '.join(cmd)}")
            print(self.on_node("compute01", *cmd).rstrip())

    def show(self) -> None:
        for node, cmd in (("compute01", ["ovs-vsctl", "show"]), ("compute01", ["brctl", "show"]),
                          ("controller", ["ip", "netns", "list"])):
            print(f"\n[root@{node} ~]# {' '.join(cmd)}")
            print(self.on_node(node, *cmd).rstrip())
        print()

    def run(self) -> int:
        self.lab_up()
        self.network()
        leases = self.boot()
        self.traffic(leases)
        self.open_default_group()
        self.show()
        self.show_firewall()
        lab = self.lab_args[1] if self.lab_args else None
        name = f" --name {lab}" if lab else ""
        if self.failures:
            self.say(f"{len(self.failures)} check(s) failed: " + "; ".join(self.failures))
        else:
            self.say("all checks passed")
        print(f"Explore: .venv/bin/neutrino lab exec{name} compute01   "
              f"(a shell on the node), .venv/bin/neutrino instance exec{name} vm1 -- ip a")
        print(f"Tear down: .venv/bin/neutrino lab down{name}")
        return 1 if self.failures else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return Demo(argv[0] if argv else None).run()


if __name__ == "__main__":
    sys.exit(main())
