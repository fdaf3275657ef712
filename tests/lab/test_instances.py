"""Instances on a lab without agents: a fake API plays the server, br-int is made
by hand, and a dnsmasq on br-int plays the DHCP agent. This checks the hybrid
plug, the external_ids the OVS agent keys on, and the DHCP client's script."""
import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest

from labkit import FakeKeystone, FakeNeutron
from neutrino.errors import NeutrinoError
from neutrino.lab import accounts, instances, lifecycle
from neutrino.lab.plug import VifNames
from neutrino.linux import ip, ovs_daemons, proc

pytestmark = pytest.mark.dataplane
NEUTRINO = os.path.join(os.path.dirname(sys.executable), "neutrino")
NODE = "compute01"


@pytest.fixture
def dhcp_net(bare_lab, tmp_path):
    """br-int on compute01 with a dnsmasq behind it serving 10.50.0.0/24 from a hosts file."""
    lab = bare_lab
    rundir = lab.ovs_rundir(NODE)
    node_ns = lab.netns(NODE)
    dhcp_ns = f"nt-dhcp-{secrets.token_hex(3)}"
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    state = {"pid": None}

    def add_host(port):
        with open(hosts, "a") as f:
            f.write(f"{port['mac_address']},{port['fixed_ips'][0]['ip_address']}\n")
        os.kill(state["pid"], signal.SIGHUP)

    info = lifecycle.read_info(lab)
    keystone = FakeKeystone(info["identity_port"], accounts.read_passwords(lab))
    api = FakeNeutron(info["port"], on_port_create=add_host, keystone=keystone)
    try:
        ovs_daemons.vsctl(rundir, "--may-exist", "add-br", "br-int", "--", "set", "bridge",
                          "br-int", "datapath_type=netdev")
        ip.netns_add(dhcp_ns)
        ip.veth_add("dhcpv", "dh0", netns=node_ns, peer_netns=dhcp_ns)
        ip.link_set("dhcpv", netns=node_ns, up=True)
        ovs_daemons.vsctl(rundir, "add-port", "br-int", "dhcpv")
        ip.link_set("dh0", netns=dhcp_ns, up=True)
        ip.addr_add("dh0", "10.50.0.2/24", netns=dhcp_ns)
        ip.tx_offload_off("dh0", netns=dhcp_ns)
        state["pid"] = proc.spawn(
            ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--port=0",
             "--bind-interfaces", "--interface=dh0", "--except-interface=lo", "--user=root",
             "--dhcp-range=10.50.0.0,static,255.255.255.0,1h",
             "--dhcp-option=option:router,10.50.0.1", "--dhcp-option-force=26,1450",
             f"--dhcp-hostsfile={hosts}", f"--dhcp-leasefile={tmp_path / 'leases'}",
             f"--pid-file={tmp_path / 'pid'}"],
            log_path=str(tmp_path / "dnsmasq.log"), netns=dhcp_ns)
        # A SIGHUP before dnsmasq set its handlers would kill it: wait until it listens.
        deadline = time.monotonic() + 10
        while ":67 " not in proc.run(["ss", "-uln"], netns=dhcp_ns).out:
            assert time.monotonic() < deadline and proc.pid_alive(state["pid"]), "no dnsmasq"
            time.sleep(0.02)
        yield lab, api, api.add_network("private"), tmp_path / "leases"
    finally:
        for inst in instances.all_instances(lab):
            try:
                instances.delete(lab, inst["name"])
            except NeutrinoError:
                pass
        if state["pid"]:
            proc.kill_and_wait(state["pid"])
        api.close()
        keystone.close()
        ip.netns_delete(dhcp_ns)
        ip.link_delete("dhcpv", netns=node_ns)
        ovs_daemons.vsctl(rundir, "--if-exists", "del-br", "br-int")


def wait_lease(lab, name, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = instances.lease(lab, name)
        if got:
            return got
        time.sleep(0.05)
    return None


def in_instance(lab, name, *cmd):
    return subprocess.run([NEUTRINO, "instance", "exec", name, "--name", lab.name, "--", *cmd],
                          text=True, capture_output=True, timeout=30)


def test_create_plugs_like_os_vif_and_gets_a_lease(dhcp_net):
    lab, api, net, _ = dhcp_net
    out = subprocess.run([NEUTRINO, "instance", "create", "vm1", "--network", "private",
                          "--host", NODE, "--name", lab.name, "--vif-timeout", "0"],
                         text=True, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    inst = instances.load(lab, "vm1")
    port = api.ports[inst["port_id"]]
    assert port["device_owner"] == "compute:nova"
    assert port["device_id"] == inst["id"] and port["binding:host_id"] == NODE
    names = VifNames.for_port(port["id"])
    node_ns = lab.netns(NODE)

    qbr = ip.link_info(names.qbr, netns=node_ns)
    assert qbr["kind"] == "bridge" and qbr["up"]
    assert ip.link_info(names.qvb, netns=node_ns)["master"] == names.qbr
    assert ip.link_info(names.tap, netns=node_ns)["master"] == names.qbr
    assert ip.link_info(names.qvo, netns=node_ns)["mtu"] == 1450
    assert ip.link_info(names.tap, netns=node_ns)["mtu"] == 1450
    sysctl = proc.run(["cat", *(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"
                                for dev in (names.qbr, names.qvb, names.qvo, names.tap))],
                      netns=node_ns)
    assert sysctl.out.split() == ["1"] * 4      # no IPv6 route churn on the node
    ext = ovs_daemons.vsctl(lab.ovs_rundir(NODE), "get", "Interface", names.qvo,
                            "external_ids")
    for item in (f'iface-id="{port["id"]}"', "iface-status=active",
                 f'attached-mac="{port["mac_address"]}"', f'vm-uuid="{inst["id"]}"'):
        assert item in ext
    assert names.qvo in ovs_daemons.vsctl(lab.ovs_rundir(NODE), "list-ports", "br-int")

    eth0 = ip.link_info("eth0", netns=inst["netns"])
    assert eth0["mac"] == port["mac_address"]
    assert "tx-checksumming: off" in proc.run(["ethtool", "-k", "eth0"],
                                               netns=inst["netns"]).out

    lease = wait_lease(lab, "vm1")
    assert lease and lease["ip"] == port["fixed_ips"][0]["ip_address"]
    assert ip.link_info("eth0", netns=inst["netns"])["mtu"] == 1450
    assert f"{lease['ip']}/24" in ip.addr_list("eth0", netns=inst["netns"])
    assert {"dst": "default", "gateway": "10.50.0.1", "dev": "eth0"} in \
        ip.route_list(netns=inst["netns"])
    ping = in_instance(lab, "vm1", "ping", "-c", "1", "-W", "2", "10.50.0.2")
    assert ping.returncode == 0, ping.stdout

    rows = json.loads(subprocess.run([NEUTRINO, "instance", "list", "-f", "json", "--name",
                                      lab.name], text=True, capture_output=True).stdout)
    assert [(r["name"], r["host"], r["port"], r["ips"], r["status"], r["lease"])
            for r in rows] == [("vm1", NODE, port["id"], [lease["ip"]], "DOWN", lease["ip"])]


def test_a_refused_token_is_renewed_once(dhcp_net):
    """A cached token the API no longer takes (401) is replaced, and the call goes on."""
    lab, api, net, _ = dhcp_net
    with open(lab.token_file("admin"), "w") as f:
        json.dump({"token": "stale", "expires_at": "2999-01-01T00:00:00+00:00"}, f)
    refused = api.refused
    inst = instances.create(lab, "vm1", net["id"], host=NODE, vif_timeout=0,
                            say=lambda t: None)
    assert inst["port_id"] in api.ports
    assert api.refused == refused + 1
    assert json.load(open(lab.token_file("admin")))["token"] in api.keystone.tokens
    assert os.stat(lab.token_file("admin")).st_mode & 0o777 == 0o600
    instances.delete(lab, "vm1")
    assert api.ports == {}


def test_two_instances_same_node_fixed_ip_and_delete(dhcp_net):
    lab, api, net, leases = dhcp_net
    instances.create(lab, "vm1", net["id"], host=NODE, vif_timeout=0, say=lambda t: None)
    instances.create(lab, "vm2", "private", host=NODE, fixed_ip="10.50.0.77", vif_timeout=0,
                     say=lambda t: None)
    with pytest.raises(NeutrinoError, match="exists"):
        instances.create(lab, "vm2", "private", host=NODE, vif_timeout=0)
    with pytest.raises(NeutrinoError, match="no node"):
        instances.create(lab, "vm3", "private", host="compute09", vif_timeout=0)
    with pytest.raises(NeutrinoError, match="no network"):
        instances.create(lab, "vm3", "nonet", host=NODE, vif_timeout=0)
    assert not os.path.exists(lab.path("instances", "vm3.json"))
    assert wait_lease(lab, "vm2")["ip"] == "10.50.0.77"
    assert wait_lease(lab, "vm1")
    assert in_instance(lab, "vm1", "ping", "-c", "1", "-W", "2", "10.50.0.77").returncode == 0

    vm2 = instances.load(lab, "vm2")
    names = VifNames.for_port(vm2["port_id"])
    node_ns = lab.netns(NODE)
    client = vm2["pid"]
    out = subprocess.run([NEUTRINO, "instance", "delete", "vm2", "--name", lab.name],
                         text=True, capture_output=True)
    assert out.returncode == 0, out.stderr
    for dev in (names.tap, names.qbr, names.qvb, names.qvo):
        assert not ip.link_exists(dev, netns=node_ns)
    assert names.qvo not in ovs_daemons.vsctl(lab.ovs_rundir(NODE), "list-ports", "br-int")
    assert not ip.netns_exists(vm2["netns"])
    assert vm2["port_id"] not in api.ports
    assert not proc.pid_alive(client)
    # The client released its lease as it stopped: the address is free in dnsmasq.
    deadline = time.monotonic() + 5
    while "10.50.0.77" in leases.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "10.50.0.77" not in leases.read_text()
    assert [i["name"] for i in instances.all_instances(lab)] == ["vm1"]


def test_default_host_spreads_over_computes(bare_lab, tmp_path):
    lab = bare_lab
    nodes = lifecycle.read_info(lab)["nodes"]
    assert instances.pick_host(lab, nodes) == "compute01"
    os.makedirs(lab.path("instances"), exist_ok=True)
    fake = lab.path("instances", "spread-test.json")
    try:
        with open(fake, "w") as f:
            json.dump({"name": "spread-test", "host": "compute01"}, f)
        assert instances.pick_host(lab, nodes) == "compute02"
    finally:
        os.unlink(fake)
    assert instances.pick_host(lab, ["controller"]) == "controller"


def test_create_many_in_parallel_and_clear_failures(dhcp_net):
    lab, api, net, _ = dhcp_net
    made = instances.create_many(lab, ["m1", "m2", "m3"], "private", host=NODE,
                                 vif_timeout=0, say=lambda t: None)
    assert sorted(i["name"] for i in made) == ["m1", "m2", "m3"]
    assert len({i["port_id"] for i in made}) == 3
    for inst in made:
        assert wait_lease(lab, inst["name"])["ip"] == inst["ips"][0]
    # compute02 has no br-int (no agent here): the error says so, nothing is left behind.
    with pytest.raises(NeutrinoError, match="compute02 has no br-int"):
        instances.create_many(lab, ["m4", "m5"], "private", host="compute02", vif_timeout=0,
                              say=lambda t: None)
    assert sorted(i["name"] for i in instances.all_instances(lab)) == ["m1", "m2", "m3"]
    assert not ip.netns_exists(lab.instance_netns("m4"))
    assert not ip.netns_exists(lab.instance_netns("m5"))
    assert len(api.ports) == 3
    with pytest.raises(NeutrinoError, match="twice"):
        instances.create_many(lab, ["x1", "x1"], "private", host=NODE)


def test_the_dhcp_client_script_is_written_once_by_creates_racing(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    from neutrino.lab.layout import Lab
    lab = Lab.locate("t" + secrets.token_hex(3), str(tmp_path))
    with ThreadPoolExecutor(20) as pool:
        paths = set(pool.map(lambda _: instances._script(lab), range(40)))
    assert paths == {lab.path("udhcpc.script")}
    assert os.access(lab.path("udhcpc.script"), os.X_OK)
    assert sorted(os.listdir(tmp_path)) == ["udhcpc.script"]
