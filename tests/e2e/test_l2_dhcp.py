"""Issue 3 on the real data plane: the seed's L2 and DHCP path, end to end.

Instances on two computes and one network get their leases from dnsmasq on
the controller across VXLAN, talk on one node and across nodes, and the
wiring reads like the seed's (`ovs-vsctl show`, `brctl show`, `ip netns`).
"""
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from neutrino.lab import instances
from neutrino.linux import proc

pytestmark = pytest.mark.dataplane


@pytest.fixture(scope="module")
def seed(cloud):
    """The demo's cloud: `private` 10.11.11.0/24, vm1+vm3 on compute01, vm2 on compute02."""
    net = cloud.network("private", "10.11.11.0/24")
    vms = {}
    for name, host in (("vm1", "compute01"), ("vm2", "compute02"), ("vm3", "compute01")):
        vms[name] = cloud.boot(name, "private", host)
    leases = {name: cloud.lease(name) for name in vms}
    return {"net": net, "vms": vms, "leases": leases}


def test_each_lease_is_the_ports_fixed_ip_and_mtu_is_1450(cloud, seed):
    for name, inst in seed["vms"].items():
        port = cloud.get("ports", inst["port_id"])
        assert seed["leases"][name] == port["fixed_ips"][0]["ip_address"]
        assert port["status"] == "ACTIVE"
        assert port["binding:vif_type"] == "ovs"
        assert port["binding:host_id"] == inst["host"]
        link = cloud.in_vm(name, "ip", "link", "show", "eth0").stdout
        assert "mtu 1450" in link
        route = cloud.in_vm(name, "ip", "route", "show", "default").stdout
        assert "via 10.11.11.1" in route


def test_dhcp_port_takes_the_first_pool_address(cloud, seed):
    ports = cloud.api.get("/v2.0/ports", params={"network_id": seed["net"]["id"],
                                                  "device_owner": "network:dhcp"}).json()["ports"]
    assert [p["fixed_ips"][0]["ip_address"] for p in ports] == ["10.11.11.2"]
    assert ports[0]["binding:host_id"] == "controller"
    assert ports[0]["status"] == "ACTIVE"


def test_ping_on_one_node_and_across_vxlan(cloud, seed):
    leases = seed["leases"]
    assert cloud.ping("vm1", leases["vm3"]), "vm1 -> vm3 on compute01"
    assert cloud.ping("vm1", leases["vm2"]), "vm1 -> vm2 across VXLAN"
    assert cloud.ping("vm2", leases["vm3"]), "vm2 -> vm3 across VXLAN"


def test_tcp_across_nodes_and_on_one_node(cloud, seed):
    for server, client in (("vm2", "vm1"), ("vm3", "vm1")):
        assert cloud.in_vm(server, "iperf3", "-s", "-1", "-D").returncode == 0
        time.sleep(0.2)
        out = cloud.in_vm(client, "iperf3", "-c", seed["leases"][server], "-t", "1", "-J")
        assert out.returncode == 0, out.stdout + out.stderr
        received = json.loads(out.stdout)["end"]["sum_received"]["bytes"]
        assert received > 1_000_000, f"{client} -> {server}: only {received} bytes"


def test_wiring_reads_like_the_seed(cloud, seed):
    vm1 = seed["vms"]["vm1"]
    id11 = vm1["port_id"][:11]
    show = cloud.on_node("compute01", "ovs-vsctl", "show")
    assert re.search(rf'Port "?qvo{id11}"?\n\s+tag: \d+', show)
    for remote in ("0aa8070a", "0aa8070c"):  # controller .10, compute02 .12
        assert re.search(
            rf'Port "?vxlan-{remote}"?\n\s+Interface "?vxlan-{remote}"?\n\s+type: vxlan\n\s+'
            r'options: \{df_default="true", egress_pkt_mark="0", in_key=flow, '
            r'local_ip="10\.168\.7\.11", out_key=flow, remote_ip="10\.168\.7\.\d+"\}', show), remote
    assert "Port patch-tun" in show and "options: {peer=patch-int}" in show
    ids = cloud.on_node("compute01", "ovs-vsctl", "--bare", "--columns=external_ids", "list",
                        "Interface", f"qvo{id11}")
    for key in (f"iface-id={vm1['port_id']}", "iface-status=active",
                f"attached-mac=\"{vm1['mac']}\"", f"vm-uuid={vm1['id']}"):
        assert key.replace('"', "") in ids.replace('"', ""), key
    brctl = cloud.on_node("compute01", "brctl", "show")
    assert re.search(rf"qbr{id11}\s.*qvb{id11}", brctl)
    assert f"tap{id11}" in brctl
    netns = cloud.on_node("controller", "ip", "netns", "list")
    assert f"qdhcp-{seed['net']['id']}" in netns
    # private views: a compute does not see the controller's namespaces
    assert "qdhcp-" not in cloud.on_node("compute01", "ip", "netns", "list")


def test_same_cidr_on_two_networks_stays_isolated(cloud):
    cloud.network("iso-a", "10.50.0.0/24")
    cloud.network("iso-b", "10.50.0.0/24")
    cloud.boot("isoa1", "iso-a", "compute01")
    a2 = cloud.boot("isoa2", "iso-a", "compute02")
    a1_ip, a2_ip = cloud.lease("isoa1"), cloud.lease("isoa2")
    # on network b: one instance with a2's very address, one with an address a lacks
    b1 = instances.create(cloud.lab, "isob1", "iso-b", host="compute02", fixed_ip=a2_ip,
                          say=lambda text: None)
    instances.create(cloud.lab, "isob2", "iso-b", host="compute01", fixed_ip="10.50.0.20",
                     say=lambda text: None)
    assert cloud.lease("isob1") == a2_ip and cloud.lease("isob2") == "10.50.0.20"
    assert cloud.ping("isob2", a2_ip), "b2 reaches b1 at the shared address"
    assert cloud.ping("isoa1", a2_ip), "a1 reaches a2"
    neigh = cloud.in_vm("isoa1", "ip", "neigh", "show", a2_ip).stdout.lower()
    assert a2["mac"].lower() in neigh and b1["mac"].lower() not in neigh
    assert not cloud.ping("isoa1", "10.50.0.20", count=2), "a1 must not reach network b"
    assert a1_ip not in cloud.in_vm("isob1", "ip", "neigh", "show").stdout


def test_deleting_an_instance_removes_devices_and_dhcp_host(cloud):
    net = cloud.network("gone", "10.60.0.0/24")
    inst = cloud.boot("gone1", "gone", "compute02")
    addr = cloud.lease("gone1")
    id11 = inst["port_id"][:11]
    hosts_file = f"{cloud.lab.state_dir}"
    instances.delete(cloud.lab, "gone1")
    links = cloud.on_node("compute02", "ip", "-o", "link", "show")
    for prefix in ("tap", "qbr", "qvb", "qvo"):
        assert f"{prefix}{id11}" not in links
    assert f"qvo{id11}" not in cloud.on_node("compute02", "ovs-vsctl", "list-ports", "br-int")
    assert cloud.get("ports", inst["port_id"]) is None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        hosts = cloud.on_node("controller", "sh", "-c",
                              f"cat $(find {hosts_file} -path '*{net['id']}*' -name host)")
        if addr not in hosts:
            break
        time.sleep(0.1)
    assert addr not in hosts


def _ping_loss(cloud, src: str, dst: str, action) -> tuple[int, int]:
    """Run a steady ping from src to dst while ``action`` runs; (sent, received)."""
    result = {}

    def pinger():
        out = cloud.in_vm(src, "ping", "-c", "40", "-i", "0.1", "-W", "1", dst, timeout=60)
        sent = re.search(r"(\d+) packets transmitted, (\d+) received", out.stdout)
        result["counts"] = (int(sent.group(1)), int(sent.group(2))) if sent else (0, 0)

    thread = threading.Thread(target=pinger)
    thread.start()
    time.sleep(0.5)
    action()
    thread.join()
    return result["counts"]


def test_restarting_the_ovs_agents_loses_no_ping(cloud, seed):
    def restart():
        # `lab up` starts what is not running: wait (bounded) until the old
        # agents have exited, which takes seconds on a loaded machine.
        old = [cloud.pid(f"agent-ovs@{host}") for host in ("compute01", "compute02")]
        for pid in old:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(proc.pid_alive(pid) for pid in old) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(proc.pid_alive(pid) for pid in old), "an OVS agent ignored SIGTERM"
        cloud.restart_missing()

    sent, received = _ping_loss(cloud, "vm1", seed["leases"]["vm2"], restart)
    print(f"agent restart: {sent} pings sent, {received} received, {sent - received} lost")
    assert sent == 40 and received == sent


def test_killed_dnsmasq_comes_back_and_leases_still_work(cloud, seed):
    pidfile = subprocess.run(
        ["find", cloud.lab.state_dir, "-path", f"*{seed['net']['id']}*", "-name", "pid"],
        capture_output=True, text=True).stdout.split()
    assert pidfile, "dnsmasq pid file of the seed network"
    old = int(open(pidfile[0]).read().strip())
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    new = old
    while time.monotonic() < deadline:
        try:
            new = int(open(pidfile[0]).read().strip())
            if new != old and os.path.exists(f"/proc/{new}"):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    assert new != old, "dnsmasq was not restarted"
    cloud.boot("late1", "private", "compute02")
    port = cloud.get("ports", instances.load(cloud.lab, "late1")["port_id"])
    assert cloud.lease("late1") == port["fixed_ips"][0]["ip_address"]


def test_ovs_vswitchd_restart_is_repaired(cloud, seed):
    rundir = cloud.lab.ovs_rundir("compute02")
    before = cloud.on_node("compute02", "ovs-ofctl", "dump-flows", "br-tun", "--no-stats")
    pid = int(open(os.path.join(rundir, "ovs-vswitchd.pid")).read())
    os.kill(pid, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: on a loaded machine the daemon can
    # still look alive to `lab up`, which would then not start a new one.
    assert proc.wait_exit(pid, 10), "ovs-vswitchd outlived SIGKILL"
    cloud.restart_missing()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if cloud.ping("vm1", seed["leases"]["vm2"], count=1):
            break
        time.sleep(0.2)
    assert cloud.ping("vm1", seed["leases"]["vm2"]), "vm1 -> vm2 after vswitchd restart"
    after = cloud.on_node("compute02", "ovs-ofctl", "dump-flows", "br-tun", "--no-stats")

    def static(dump):
        return sorted(re.sub(r"cookie=\S+ ", "", line).strip() for line in dump.splitlines()
                      if "table=20" not in line and "NXST" not in line and line.strip())

    assert static(after) == static(before)
