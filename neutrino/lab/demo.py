"""`make demo`: bring up the seed's cloud and prove it works.

It drives Neutrino the way a user would: `neutrino lab up`, the Networking
API over HTTP, `neutrino instance create`, then real packets between the
instances. Every check prints one line; any failed check makes the demo exit
non-zero. The lab is left running for exploring.

Who does what is DevStack's: the admin owns the external network `public`
and its subnet; the `demo` user builds the tenant side in the demo project
with its own token (network `private`, router1, the floating IP, the default
group's rules), and the instances' ports are made as Nova makes them (by the
admin, in the demo project). `openstack --os-cloud neutrino-demo network
list` then shows private and public.
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
PUBLIC, PUBLIC_CIDR, PUBLIC_GW = "public", "192.168.100.0/24", "192.168.100.1"
TENANT = "demo"                   # DevStack's demo user and project
ROUTER = "router1"
OUTSIDE = "203.0.113.10"          # the lab upstream's "Internet host"
METADATA = "http://169.254.169.254/latest/meta-data/instance-id"
# One connection on port 22 (opened on the default group), answered with a greeting.
LISTENER = ("import socket\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind(('0.0.0.0',22)); s.listen(1); s.settimeout(60)\n"
            "c,a=s.accept(); c.sendall(('hello '+a[0]+'\\n').encode()); c.close()\n")


class Demo:
    def __init__(self, lab: str | None = None):
        self.lab_args = ["--name", lab] if lab else []
        self.failures: list[str] = []
        self.t0 = time.monotonic()
        self.admin: httpx.Client | None = None     # the cloud's admin
        self.tenant: httpx.Client | None = None    # the demo user, in the demo project
        self.network_id: str | None = None

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
        from neutrino.lab import accounts, info
        from neutrino.lab.layout import Lab
        lab = Lab.locate(self.lab_args[1] if self.lab_args else None)
        # DevStack's `source openrc admin admin` and `source openrc demo demo`.
        self.admin, self.tenant = (
            httpx.Client(base_url=info.endpoint(lab), timeout=10,
                         auth=accounts.credentials(lab, user)) for user in ("admin", TENANT))

    @staticmethod
    def find_or_create(api: httpx.Client, collection: str, name: str, body: dict) -> dict:
        """``name`` as ``api``'s user sees it (the demo user: its own project's,
        shared and external ones), made in that user's project when missing."""
        singular = collection[:-1]
        resp = api.get(f"/v2.0/{collection}", params={"name": name})
        resp.raise_for_status()
        found = resp.json()[collection]
        if found:
            return found[0]
        resp = api.post(f"/v2.0/{collection}", json={singular: {"name": name, **body}})
        resp.raise_for_status()
        return resp.json()[singular]

    def network(self) -> None:
        net = self.find_or_create(self.tenant, "networks", NETWORK, {})
        self.find_or_create(self.tenant, "subnets", f"{NETWORK}-subnet",
                            {"network_id": net["id"], "cidr": CIDR, "ip_version": 4})
        self.network_id = net["id"]
        # The provider attributes are the admin's to see.
        net = self.admin.get(f"/v2.0/networks/{net['id']}").json()["network"]
        self.say(f"network {NETWORK} {net['id']} (VNI {net.get('provider:segmentation_id')},"
                 f" MTU {net['mtu']}), subnet {CIDR}")

    def boot(self) -> dict:
        existing = {i["name"]: i for i in json.loads(
            self.neutrino("instance", "list", *self.lab_args, "-f", "json"))}
        for name, host in INSTANCES:
            if name not in existing:
                # As Nova: the port in the instance's (demo) project, on the
                # tenant's network by id (the admin sees every project's names).
                self.neutrino("instance", "create", *self.lab_args, name,
                              "--network", self.network_id, "--host", host,
                              "--project", TENANT)
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
        groups = self.tenant.get("/v2.0/security-groups",
                                 params={"name": "default"}).json()["security_groups"]
        if not self.check(bool(groups), "the project has its default security group"):
            return
        for what, rule in (("ICMP", {"protocol": "icmp"}),
                           ("TCP 22", {"protocol": "tcp", "port_range_min": 22,
                                       "port_range_max": 22})):
            body = {"security_group_id": groups[0]["id"], "direction": "ingress",
                    "ethertype": "IPv4", "remote_ip_prefix": "0.0.0.0/0", **rule}
            resp = self.tenant.post("/v2.0/security-group-rules",
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

    def north_south(self) -> None:
        """The seed's way out: the admin's `public`; the demo user's router1
        with SNAT and a floating IP for vm1."""
        ext = self.find_or_create(self.admin, "networks", PUBLIC, {
            "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": "extnet"})
        self.find_or_create(self.admin, "subnets", f"{PUBLIC}-subnet", {
            "network_id": ext["id"], "cidr": PUBLIC_CIDR, "ip_version": 4,
            "gateway_ip": PUBLIC_GW, "enable_dhcp": False,
            "allocation_pools": [{"start": "192.168.100.100", "end": "192.168.100.200"}]})
        router = self.find_or_create(self.tenant, "routers", ROUTER, {
            "external_gateway_info": {"network_id": ext["id"]}})
        private = self.tenant.get("/v2.0/subnets", params={
            "name": f"{NETWORK}-subnet", "network_id": self.network_id}).json()["subnets"][0]
        attached = self.tenant.get("/v2.0/ports", params={
            "device_id": router["id"], "device_owner": "network:router_interface"}).json()
        if not attached["ports"]:
            self.tenant.put(f"/v2.0/routers/{router['id']}/add_router_interface",
                            json={"subnet_id": private["id"]}).raise_for_status()
        router = self.tenant.get(f"/v2.0/routers/{router['id']}").json()["router"]
        gateway = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        vm1 = self.instance("vm1")
        fips = self.tenant.get("/v2.0/floatingips",
                               params={"port_id": vm1["port"]}).json()["floatingips"]
        if not fips:
            resp = self.tenant.post("/v2.0/floatingips", json={"floatingip": {
                "floating_network_id": ext["id"], "port_id": vm1["port"]}})
            resp.raise_for_status()
            fips = [resp.json()["floatingip"]]
        fip = fips[0]["floating_ip_address"]
        self.say(f"external network {PUBLIC} {PUBLIC_CIDR} (flat, extnet), router {ROUTER}"
                 f" {router['id']} gateway {gateway}, vm1's floating IP {fip}")
        self.router_id = router["id"]
        seen = self.until(lambda: self.outside_sees("vm2") == gateway)
        self.check(seen, f"vm2 reaches {OUTSIDE} by SNAT: it saw {self.outside_sees('vm2')}"
                         f" (router gateway {gateway})")
        seen = self.until(lambda: self.outside_sees("vm1") == fip)
        self.check(seen, f"vm1 reaches {OUTSIDE} by its floating IP: it saw"
                         f" {self.outside_sees('vm1')}")
        pinged = self.until(lambda: self.on_upstream("ping", "-c", "1", "-W", "1", fip))
        self.check(pinged, f"upstream pings vm1 at its floating IP {fip}")
        greeting = self.tcp_from_upstream("vm1", fip, 22)
        self.check(greeting == "hello 192.168.100.1",
                   f"upstream opens TCP 22 on {fip}: vm1 answered {greeting!r}")
        for name in ("vm1", "vm2"):
            got = self.in_instance(name, "curl", "-s", "-m", "5", METADATA).stdout.strip()
            want = self.port_device(self.instance(name)["port"])
            self.check(got == want, f"{name} reads its instance-id {got or 'nothing'}"
                                    f" from 169.254.169.254")

    def instance(self, name: str) -> dict:
        listing = json.loads(self.neutrino("instance", "list", *self.lab_args, "-f", "json"))
        return next(i for i in listing if i["name"] == name)

    def port_device(self, port_id: str) -> str:
        return self.tenant.get(f"/v2.0/ports/{port_id}").json()["port"]["device_id"]

    @staticmethod
    def until(probe, timeout: float = 30) -> bool:
        """Bounded wait for the agents to wire a path the API already has."""
        deadline = time.monotonic() + timeout
        while not probe():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def outside_sees(self, name: str) -> str:
        out = self.in_instance(name, "curl", "-s", "-m", "3", f"http://{OUTSIDE}/").stdout
        return out.strip().removeprefix("you are ")

    def on_upstream(self, *cmd: str) -> bool:
        return subprocess.run([BIN, "lab", "exec", *self.lab_args, "upstream", "--", *cmd],
                              capture_output=True, timeout=30).returncode == 0

    def tcp_from_upstream(self, name: str, address: str, port: int) -> str:
        listener = subprocess.Popen([BIN, "instance", "exec", *self.lab_args, name, "--",
                                     sys.executable, "-c", LISTENER],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = ["nc", "-w", "3", address, str(port)]
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                out = subprocess.run([BIN, "lab", "exec", *self.lab_args, "upstream", "--",
                                      "busybox", *client], capture_output=True, text=True,
                                     stdin=subprocess.DEVNULL, timeout=30)
                if out.stdout.strip():
                    return out.stdout.strip()
                time.sleep(0.2)
            return ""
        finally:
            listener.kill()
            listener.wait()

    def show_router(self) -> None:
        if not getattr(self, "router_id", None):
            return
        for cmd in (["ip", "netns", "exec", f"qrouter-{self.router_id}",
                     "iptables", "-t", "nat", "-nvL"], ["ovs-vsctl", "show"]):
            print(f"\n[root@controller ~]# {' '.join(cmd)}")
            print(self.on_node("controller", *cmd).rstrip())

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
        self.north_south()
        self.show()
        self.show_firewall()
        self.show_router()
        lab = self.lab_args[1] if self.lab_args else None
        name = f" --name {lab}" if lab else ""
        if self.failures:
            self.say(f"{len(self.failures)} check(s) failed: " + "; ".join(self.failures))
        else:
            self.say("all checks passed")
        print(f"OpenStack CLI: eval \"$(.venv/bin/neutrino lab openrc demo{name})\"; "
              "openstack network list   (or OS_CLOUD=neutrino-demo, see lab up)")
        print(f"Explore: .venv/bin/neutrino lab exec{name} compute01   "
              f"(a shell on the node), .venv/bin/neutrino instance exec{name} vm1 -- ip a")
        print(f"Tear down: .venv/bin/neutrino lab down{name}")
        return 1 if self.failures else 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    return Demo(argv[0] if argv else None).run()


if __name__ == "__main__":
    sys.exit(main())
