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
            "ports": [{"id": port_id, "mac_address": "fa:16:3e:00:00:02",
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
