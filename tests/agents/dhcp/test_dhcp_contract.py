"""The DHCP agent against the real server plugin over memory:// (the contract of design.md)."""
import threading
import time
import uuid

import pytest

from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.dhcp_agent import DhcpAgent
from neutrino.agents.dhcp.netns_driver import Applied
from neutrino.rpc import Notifier, RpcServer

HOST = "controller"


@pytest.fixture
def bus():
    return f"memory://dhcp-contract-{uuid.uuid4().hex}"


@pytest.fixture
def notifier(bus):
    """Overrides the shared RecordingNotifier: the server fans out for real."""
    real = Notifier(bus)
    yield real
    real.close()


class NoWatch:
    def stop(self):
        pass


class Driver:
    def __init__(self):
        self.plans = {}
        self.removed = []
        self.cond = threading.Condition()

    def apply(self, plan, network, full=False):
        with self.cond:
            self.plans[plan.network_id] = plan
            self.cond.notify_all()
        return Applied("started", 1, True)

    def remove(self, network_id, state_dir):
        with self.cond:
            self.plans.pop(network_id, None)
            self.removed.append(network_id)
            self.cond.notify_all()

    def watch_devices(self, on_new_device, on_lost=None):
        return NoWatch()

    def served_networks(self, state_dir):
        return set(self.plans)

    def wait(self, predicate, what):
        with self.cond:
            assert self.cond.wait_for(predicate, 10), what


@pytest.fixture
def agent(bus, service, tmp_path):
    from neutrino.server.rpc import RpcEndpoint
    endpoint = RpcEndpoint(service.plugin)
    servers = [RpcServer(bus, "q-plugin", endpoint).start(),
               RpcServer(bus, "q-reports-plugin", endpoint).start()]
    driver = Driver()
    dhcp = DhcpAgent(HOST, bus, str(tmp_path), driver=driver, report_interval=0.2,
                     resync_interval=1000, rpc_timeout=5)
    dhcp.start()
    try:
        assert dhcp.synced.wait(10)
        yield dhcp, driver
    finally:
        dhcp.stop()
        for s in servers:
            s.stop()


def test_network_lifecycle_reaches_dnsmasq_plan(agent, api):
    _, driver = agent
    net = api.create("network", name="private")
    subnet = api.create("subnet", network_id=net["id"], cidr="10.11.11.0/24", ip_version=4)
    driver.wait(lambda: net["id"] in driver.plans, "no plan for the new network")

    dhcp_ports = api.get(f"/v2.0/ports?network_id={net['id']}&device_owner=network:dhcp")
    port = dhcp_ports.json()["ports"][0]
    assert port["device_id"] == cfg.agent_device_id(HOST, net["id"])
    assert port["binding:host_id"] == HOST
    plan = driver.plans[net["id"]]
    dhcp_ip = port["fixed_ips"][0]["ip_address"]
    assert plan.addresses == (f"{dhcp_ip}/24",)
    assert plan.interface == cfg.tap_name(port["id"])
    assert f"option:router,{subnet['gateway_ip']}" in plan.files["opts"]
    assert f"--dhcp-option-force=option:mtu,{net['mtu']}" in plan.cmdline

    vm = api.create("port", network_id=net["id"], device_owner="compute:nova")
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    line = f"{vm['mac_address']},host-{vm_ip.replace('.', '-')}.openstacklocal,{vm_ip}"
    driver.wait(lambda: line in driver.plans[net["id"]].files["host"], "port not in host file")

    assert api.delete(f"/v2.0/ports/{vm['id']}").status_code == 204
    driver.wait(lambda: line not in driver.plans[net["id"]].files["host"],
                "deleted port still in host file")

    assert api.delete(f"/v2.0/networks/{net['id']}").status_code == 204
    driver.wait(lambda: net["id"] in driver.removed, "network not removed")


def test_agent_is_listed(agent, api):
    deadline = time.monotonic() + 5
    while True:
        agents = api.get("/v2.0/agents").json().get("agents", [])
        dhcp = [a for a in agents if a["agent_type"] == "DHCP agent"]
        if dhcp or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert dhcp and dhcp[0]["host"] == HOST and dhcp[0]["binary"] == "neutrino-dhcp-agent"
    assert dhcp[0]["alive"] is True
