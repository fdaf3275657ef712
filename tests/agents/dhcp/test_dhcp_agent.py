"""The agent's event handling against a fake server (memory://) and a recording driver."""
import copy
import os
import threading
import time
import uuid

import pytest

from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.dhcp_agent import DhcpAgent, network_id_of
from neutrino.agents.dhcp.netns_driver import Applied
from neutrino.rpc import Notifier, RpcServer

HOST = "controller"


def make_network(n=1):
    net_id, sub_id, port_id = (str(uuid.uuid4()) for _ in range(3))
    return {"id": net_id, "admin_state_up": True, "mtu": 1450,
            "subnets": [{"id": sub_id, "cidr": f"10.{n}.0.0/24", "ip_version": 4,
                         "enable_dhcp": True, "gateway_ip": f"10.{n}.0.1"}],
            "ports": [{"id": port_id, "mac_address": "fa:16:3e:00:00:02", "network_id": net_id,
                       "revision_number": 0,
                       "device_owner": "network:dhcp", "device_id": "reserved_dhcp_port",
                       "fixed_ips": [{"subnet_id": sub_id, "ip_address": f"10.{n}.0.2"}]}]}


class NoWatch:
    def stop(self):
        pass


class FakeServer:
    def __init__(self, networks):
        self.networks = {n["id"]: n for n in networks}
        self.calls = []
        self.reports = []
        self.ready = []
        self.lock = threading.Lock()

    def report_state(self, agent_state, time):
        self.reports.append(agent_state)
        return "alive"

    def get_active_networks_info(self, host):
        self.calls.append(("active", host))
        return [copy.deepcopy(n) for n in self.networks.values()]

    def get_network_info(self, network_id, host):
        self.calls.append(("info", network_id))
        n = self.networks.get(network_id)
        return copy.deepcopy(n) if n else None

    def update_dhcp_port(self, port_id, port):
        self.calls.append(("update_dhcp_port", port_id, port))
        for net in self.networks.values():
            for p in net["ports"]:
                if p["id"] == port_id:
                    p["device_id"] = port["device_id"]
                    p["binding:host_id"] = port["binding:host_id"]
                    p["revision_number"] += 1
                    return copy.deepcopy(p)
        raise LookupError(port_id)

    def dhcp_ready_on_ports(self, port_ids):
        self.ready.append(sorted(port_ids))


class RecordingDriver:
    def __init__(self):
        self.applied = {}
        self.removed = []
        self.served = set()
        self.full = []
        self.changed = threading.Condition()

    def apply(self, plan, network, full=False):
        with self.changed:
            self.applied[plan.network_id] = plan
            self.served.add(plan.network_id)
            self.full.append(full)
            self.changed.notify_all()
        return Applied("started", os.getpid(), True)

    def remove(self, network_id, state_dir):
        with self.changed:
            self.removed.append(network_id)
            self.served.discard(network_id)
            self.changed.notify_all()

    def watch_devices(self, on_new_device, on_lost=None):
        return NoWatch()

    def served_networks(self, state_dir):
        return set(self.served)

    def wait_for(self, predicate, timeout=5):
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), "driver never got there"


@pytest.fixture
def setup(tmp_path):
    url = f"memory://dhcp-{uuid.uuid4().hex}"
    nets = [make_network(1), make_network(2)]
    server = FakeServer(nets)
    rpc = [RpcServer(url, "q-plugin", server).start(),
           RpcServer(url, "q-reports-plugin", server).start()]
    driver = RecordingDriver()
    driver.served.add("gone-network")
    agent = DhcpAgent(HOST, url, str(tmp_path), driver=driver, report_interval=0.1,
                      resync_interval=1000, rpc_timeout=2)
    notifier = Notifier(url)
    try:
        yield url, server, driver, agent.start(), notifier, nets
    finally:
        agent.stop()
        notifier.close()
        for r in rpc:
            r.stop()


def test_start_serves_every_network_and_claims_ports(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    assert set(driver.applied) == {n["id"] for n in nets}
    assert driver.removed == ["gone-network"]
    claims = [c for c in server.calls if c[0] == "update_dhcp_port"]
    assert {c[1] for c in claims} == {n["ports"][0]["id"] for n in nets}
    for c in claims:
        net_id = next(n["id"] for n in nets if n["ports"][0]["id"] == c[1])
        assert c[2] == {"device_id": cfg.agent_device_id(HOST, net_id), "binding:host_id": HOST}
    plan = driver.applied[nets[0]["id"]]
    assert plan.interface == cfg.tap_name(nets[0]["ports"][0]["id"])
    deadline = time.monotonic() + 5
    while len(server.reports) < 2 or len(server.ready) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first, later = server.reports[0], server.reports[1]
    assert first["agent_type"] == "DHCP agent" and first["binary"] == "neutrino-dhcp-agent"
    assert first["topic"] == "dhcp_agent" and first["host"] == HOST
    assert first["start_flag"] is True and later["start_flag"] is False


def test_port_event_refreshes_that_network(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = server.networks[nets[0]["id"]]
    vm = {"id": str(uuid.uuid4()), "mac_address": "fa:16:3e:aa:bb:cc", "network_id": net["id"],
          "device_owner": "compute:nova",
          "fixed_ips": [{"subnet_id": net["subnets"][0]["id"], "ip_address": "10.1.0.50"}]}
    net["ports"].append(vm)
    notifier.notify("dhcp_agent", "port_create_end", {"port": vm})
    driver.wait_for(lambda: "10.1.0.50" in driver.applied[net["id"]].files["host"])
    assert driver.full[-1] is False
    deadline = time.monotonic() + 5
    while [vm["id"]] not in server.ready:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_network_delete_removes_it(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    gone = nets[1]["id"]
    del server.networks[gone]
    notifier.notify("dhcp_agent", "network_delete_end", {"network_id": gone})
    driver.wait_for(lambda: gone in driver.removed)


def test_gap_triggers_full_resync(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    agent.synced.clear()
    notifier.notify("dhcp_agent", "port_update_end", {"network_id": nets[0]["id"]})
    other = Notifier(url)   # a restarted server: new epoch
    try:
        other.notify("dhcp_agent", "port_update_end", {"network_id": nets[0]["id"]})
        assert agent.synced.wait(5)
        assert sum(1 for c in server.calls if c[0] == "active") == 2
    finally:
        other.close()


def test_network_id_of_payloads():
    assert network_id_of({"network_id": "n1"}) == "n1"
    assert network_id_of({"port": {"network_id": "n2"}}) == "n2"
    assert network_id_of({"subnet": {"network_id": "n3"}}) == "n3"
    assert network_id_of({"network": {"id": "n4"}}) == "n4"
    assert network_id_of({}) is None


def vm_port(net, i, rev=0):
    """A compute port as the server's port events carry it."""
    return {"id": str(uuid.uuid4()), "mac_address": f"fa:16:3e:10:00:{i:02x}",
            "network_id": net["id"], "device_owner": "compute:nova", "revision_number": rev,
            "fixed_ips": [{"subnet_id": net["subnets"][0]["id"],
                           "ip_address": f"10.{net['subnets'][0]['cidr'].split('.')[1]}.0.{100 + i}"}]}


def create(server, notifier, net, port):
    server.networks[net["id"]]["ports"].append(copy.deepcopy(port))
    notifier.notify("dhcp_agent", "port_create_end", {"network_id": net["id"], "port": port})


def host_file(driver, net):
    return driver.applied[net["id"]].files["host"]


def handled(server, notifier, driver, net, i):
    """Wait until a new port's create is served: the agent's loop has handled
    every event sent before it."""
    marker = vm_port(net, i)
    create(server, notifier, net, marker)
    driver.wait_for(lambda: marker["mac_address"] in host_file(driver, net))


def fetches(server):
    return [c for c in server.calls if c[0] in ("info", "active")]


def test_port_creates_are_served_from_the_cache(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    calls = len(fetches(server))
    net = nets[0]
    ports = [vm_port(net, i) for i in range(20)]
    for port in ports:
        create(server, notifier, net, port)
    driver.wait_for(lambda: all(p["mac_address"] in host_file(driver, net) for p in ports))
    for p in ports:
        ip = p["fixed_ips"][0]["ip_address"]
        assert f"{p['mac_address']},host-{ip.replace('.', '-')}.openstacklocal,{ip}\n" \
            in host_file(driver, net)
    assert fetches(server)[calls:] == []
    deadline = time.monotonic() + 5
    while not {p["id"] for p in ports} <= {i for ready in server.ready for i in ready}:
        assert time.monotonic() < deadline, "dhcp_ready_on_ports missed ports"
        time.sleep(0.02)
    assert len([c for c in server.calls if c[0] == "update_dhcp_port"]) == 2   # claimed once


def test_older_port_revision_is_ignored(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = nets[0]
    port = vm_port(net, 1, rev=3)
    create(server, notifier, net, port)
    driver.wait_for(lambda: port["mac_address"] in host_file(driver, net))
    older = dict(port, revision_number=2, mac_address="fa:16:3e:99:99:99")
    notifier.notify("dhcp_agent", "port_update_end", {"network_id": net["id"], "port": older})
    handled(server, notifier, driver, net, 2)
    assert port["mac_address"] in host_file(driver, net)
    assert older["mac_address"] not in host_file(driver, net)
    newer = dict(port, revision_number=4, mac_address="fa:16:3e:99:99:98")
    notifier.notify("dhcp_agent", "port_update_end", {"network_id": net["id"], "port": newer})
    driver.wait_for(lambda: newer["mac_address"] in host_file(driver, net))
    assert port["mac_address"] not in host_file(driver, net)
    assert not any(c[0] == "info" for c in server.calls)


def test_late_update_of_a_deleted_port_stays_deleted(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = nets[0]
    port = vm_port(net, 1, rev=0)
    create(server, notifier, net, port)
    driver.wait_for(lambda: port["mac_address"] in host_file(driver, net))
    server.networks[net["id"]]["ports"].pop()
    deleted = dict(port, revision_number=2)
    notifier.notify("dhcp_agent", "port_delete_end", {"network_id": net["id"], "port": deleted})
    driver.wait_for(lambda: port["mac_address"] not in host_file(driver, net))
    late = dict(port, revision_number=1, status="ACTIVE")
    notifier.notify("dhcp_agent", "port_update_end", {"network_id": net["id"], "port": late})
    handled(server, notifier, driver, net, 2)
    assert port["mac_address"] not in host_file(driver, net)
    assert not any(c[0] == "info" for c in server.calls)


def test_subnet_event_refetches_the_network(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = nets[0]
    subnet = server.networks[net["id"]]["subnets"][0]
    subnet["dns_nameservers"] = ["192.0.2.53"]
    notifier.notify("dhcp_agent", "subnet_update_end",
                    {"network_id": net["id"], "subnet": copy.deepcopy(subnet)})
    driver.wait_for(lambda: "192.0.2.53" in driver.applied[net["id"]].files["opts"])
    assert ("info", net["id"]) in server.calls


@pytest.mark.parametrize("payload", [
    lambda net, port: {"network_id": net["id"]},
    lambda net, port: {"network_id": net["id"], "port": dict(port, network_id="elsewhere")},
], ids=["no-port-dict", "port-of-another-network"])
def test_port_event_that_cannot_be_applied_refetches(setup, payload):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = nets[0]
    port = vm_port(net, 1)
    server.networks[net["id"]]["ports"].append(port)
    notifier.notify("dhcp_agent", "port_create_end", payload(net, port))
    driver.wait_for(lambda: port["mac_address"] in host_file(driver, net))
    assert ("info", net["id"]) in server.calls


def test_port_event_of_an_uncached_network_refetches(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = make_network(3)
    server.networks[net["id"]] = net
    port = vm_port(net, 1)
    create(server, notifier, net, port)
    driver.wait_for(lambda: net["id"] in driver.applied
                    and port["mac_address"] in host_file(driver, net))
    assert [c for c in server.calls if c[0] == "info"] == [("info", net["id"])]
    second = vm_port(net, 2)
    create(server, notifier, net, second)
    driver.wait_for(lambda: second["mac_address"] in host_file(driver, net))
    assert [c for c in server.calls if c[0] == "info"] == [("info", net["id"])]


def test_gap_refetches_everything_and_the_cache_follows(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = nets[0]
    first = vm_port(net, 4)
    create(server, notifier, net, first)
    driver.wait_for(lambda: first["mac_address"] in host_file(driver, net))
    agent.synced.clear()
    missed = vm_port(net, 1)      # created while this agent's notifications were lost
    server.networks[net["id"]]["ports"].append(missed)
    other = Notifier(url)         # a restarted server: new epoch
    try:
        port = vm_port(net, 2)
        server.networks[net["id"]]["ports"].append(copy.deepcopy(port))
        other.notify("dhcp_agent", "port_create_end", {"network_id": net["id"], "port": port})
        assert agent.synced.wait(5)
        assert sum(1 for c in server.calls if c[0] == "active") == 2
        driver.wait_for(lambda: missed["mac_address"] in host_file(driver, net)
                        and port["mac_address"] in host_file(driver, net))
        handled(server, other, driver, net, 3)
        assert missed["mac_address"] in host_file(driver, net)
    finally:
        other.close()


class CountingWatcher:
    def __init__(self, on_death):
        self.on_death = on_death
        self.watched = []

    def watch(self, key, pid):
        self.watched.append((key, pid))

    def unwatch(self, key):
        pass


def test_dnsmasq_is_watched_again_only_after_it_died(setup):
    url, server, driver, agent, notifier, nets = setup
    assert agent.synced.wait(5)
    net = nets[0]
    watcher = agent.watcher = CountingWatcher(agent._on_death)
    first = vm_port(net, 1)
    create(server, notifier, net, first)
    driver.wait_for(lambda: first["mac_address"] in host_file(driver, net))
    assert watcher.watched == []          # same dnsmasq pid: no new pidfd
    watcher.on_death(net["id"])
    deadline = time.monotonic() + 5
    while not watcher.watched:
        assert time.monotonic() < deadline, "the restarted dnsmasq is not watched"
        time.sleep(0.02)
    assert watcher.watched == [(net["id"], os.getpid())]
    second = vm_port(net, 2)
    create(server, notifier, net, second)
    driver.wait_for(lambda: second["mac_address"] in host_file(driver, net))
    assert watcher.watched == [(net["id"], os.getpid())]


class Caster:
    def __init__(self):
        self.casts = []

    def cast(self, method, **kwargs):
        self.casts.append((method, kwargs))


def test_a_cached_network_whose_plan_did_not_change_is_not_applied_again(tmp_path):
    """No thread runs here: _apply is called as the loop would."""
    net = make_network(1)
    dhcp = net["ports"][0]
    dhcp.update({"device_id": cfg.agent_device_id(HOST, net["id"]), "binding:host_id": HOST})
    port = vm_port(net, 1)
    net["ports"].append(port)
    driver = RecordingDriver()
    agent = DhcpAgent(HOST, "memory://unused", str(tmp_path), driver=driver)
    agent.watcher, agent.plugin = CountingWatcher(None), Caster()
    agent._apply(copy.deepcopy(net), cached=True)
    assert len(driver.full) == 1 and agent.plugin.casts == [
        ("dhcp_ready_on_ports", {"port_ids": sorted([dhcp["id"], port["id"]])})]
    active = copy.deepcopy(net)
    active["ports"][1].update(status="ACTIVE", revision_number=1)
    agent._apply(active, cached=True)           # nothing dnsmasq serves changed
    assert len(driver.full) == 1
    agent._apply(active)                        # fetched: always applied (repairs)
    agent._apply(active, full=True, cached=True)
    assert driver.full[1:] == [False, True]
    moved = copy.deepcopy(active)
    moved["ports"][1]["fixed_ips"][0]["ip_address"] = "10.1.0.99"
    agent._apply(moved, cached=True)
    assert len(driver.full) == 4 and "10.1.0.99" in driver.applied[net["id"]].files["host"]
    # a new address is ready again once served (the server blocks the port on it)
    assert agent.plugin.casts[1:] == [("dhcp_ready_on_ports", {"port_ids": [port["id"]]})]
    new_mac = copy.deepcopy(moved)
    new_mac["ports"][1]["mac_address"] = "fa:16:3e:10:00:77"
    agent._apply(new_mac, cached=True)
    agent._apply(new_mac, cached=True)
    assert agent.plugin.casts[2:] == [("dhcp_ready_on_ports", {"port_ids": [port["id"]]})]
