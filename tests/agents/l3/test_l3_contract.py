"""The L3 agent and the metadata resolver against the real server over memory:// (design.md)."""
import threading
import time
import uuid

import pytest

from neutrino.agents.l3.l3_agent import L3Agent
from neutrino.agents.metadata.service import Resolver
from neutrino.rpc import Notifier, RpcClient, RpcServer

HOST = "controller"
EXT = {"router:external": True, "provider:network_type": "flat",
       "provider:physical_network": "extnet"}


@pytest.fixture
def bus():
    return f"memory://l3-contract-{uuid.uuid4().hex}"


@pytest.fixture
def notifier(bus):
    """Overrides the shared RecordingNotifier: the server fans out for real."""
    real = Notifier(bus)
    yield real
    real.close()


class Driver:
    """Records plans, as the real driver would get them."""

    def __init__(self):
        self.plans = {}
        self.removed = []
        self.node_netns = None
        self.cond = threading.Condition()

    def routers(self):
        return set(self.plans)

    def apply(self, plan, full=False):
        with self.cond:
            self.plans[plan.router_id] = plan
            self.cond.notify_all()

    def proxy_pid(self, router_id):
        return None

    def remove(self, router_id):
        with self.cond:
            self.plans.pop(router_id, None)
            self.removed.append(router_id)
            self.cond.notify_all()

    def wait(self, predicate, what):
        with self.cond:
            assert self.cond.wait_for(predicate, 10), what


def wait_for(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


@pytest.fixture
def agent(bus, service):
    from neutrino.server.l3 import L3RpcEndpoint
    from neutrino.server.rpc import RpcEndpoint
    endpoint = RpcEndpoint(service.plugin)
    servers = [RpcServer(bus, "q-plugin", endpoint).start(),
               RpcServer(bus, "q-reports-plugin", endpoint).start(),
               RpcServer(bus, "q-l3-plugin", L3RpcEndpoint(service.l3)).start()]
    driver = Driver()
    l3 = L3Agent(HOST, bus, driver, report_interval=0.2, resync_interval=1000, rpc_timeout=5)
    client = RpcClient(bus, "q-l3-plugin", timeout=5)
    l3.start()
    try:
        assert l3.synced.wait(10)
        yield l3, driver, Resolver(client.call, HOST)
    finally:
        l3.stop()
        client.close()
        for s in servers:
            s.stop()


def test_router_floating_ip_and_metadata_through_the_real_server(agent, api):
    _, driver, resolver = agent
    public = api.create("network", name="public", **EXT)
    api.create("subnet", network_id=public["id"], cidr="192.168.100.0/24",
               gateway_ip="192.168.100.1", enable_dhcp=False,
               allocation_pools=[{"start": "192.168.100.10", "end": "192.168.100.254"}])
    private = api.create("network", name="private")
    sub = api.create("subnet", network_id=private["id"], cidr="10.0.0.0/24")
    router = api.create("router", name="router1",
                        external_gateway_info={"network_id": public["id"]})
    r = api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    assert r.status_code == 200, r.text
    vm = api.create("port", network_id=private["id"], name="vm1", device_id="instance-1",
                    device_owner="compute:nova", **{"binding:host_id": "compute01"})
    vm_ip = vm["fixed_ips"][0]["ip_address"]
    fip = api.create("floatingip", floating_network_id=public["id"], port_id=vm["id"])

    driver.wait(lambda: router["id"] in driver.plans and driver.plans[router["id"]].floating_ips,
                "router plan with its floating IP")
    plan = driver.plans[router["id"]]
    gw_ip = plan.gateway_ip
    assert plan.default_gateway == "192.168.100.1" and gw_ip.startswith("192.168.100.")
    assert plan.gateway.cidrs == (f"{gw_ip}/24",)
    assert [p.cidrs for p in plan.internal] == [(f"{sub['gateway_ip']}/24",)]
    assert plan.internal[0].mtu == private["mtu"] and plan.gateway.mtu == public["mtu"]
    assert [(f.floating_ip, f.fixed_ip) for f in plan.floating_ips] == [
        (fip["floating_ip_address"], vm_ip)]
    assert plan.enable_snat
    ports = {p["device_owner"]: p for p in api.get(
        f"/v2.0/ports?device_id={router['id']}").json()["ports"]}
    assert ports["network:router_gateway"]["binding:host_id"] == HOST
    assert ports["network:router_interface"]["binding:host_id"] == HOST
    wait_for(lambda: api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["status"]
             == "ACTIVE", "floating IP ACTIVE")

    # The metadata service's view of the same instance.
    inst = resolver.instance({"X-Forwarded-For": vm_ip, "X-Neutron-Router-ID": router["id"]})
    assert (inst.device_id, inst.name, inst.local_ipv4, inst.public_ipv4) == (
        "instance-1", "vm1", vm_ip, fip["floating_ip_address"])
    assert resolver.instance({"X-Forwarded-For": sub["gateway_ip"],
                              "X-Neutron-Router-ID": router["id"]}) is None
    assert resolver.instance({"X-Forwarded-For": vm_ip,
                              "X-Neutron-Router-ID": str(uuid.uuid4())}) is None

    # enable_snat false reaches the plan.
    r = api.put(f"/v2.0/routers/{router['id']}", {"router": {"external_gateway_info": {
        "network_id": public["id"], "enable_snat": False}}})
    assert r.status_code == 200, r.text
    driver.wait(lambda: not driver.plans[router["id"]].enable_snat, "enable_snat false")

    # Disassociating: the plan loses it and the status goes DOWN.
    api.put(f"/v2.0/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
    driver.wait(lambda: not driver.plans[router["id"]].floating_ips, "floating IP removed")
    wait_for(lambda: api.get(f"/v2.0/floatingips/{fip['id']}").json()["floatingip"]["status"]
             == "DOWN", "floating IP DOWN")

    # Removing the interface, then deleting the router.
    api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    driver.wait(lambda: not driver.plans[router["id"]].internal, "interface removed")
    assert api.delete(f"/v2.0/routers/{router['id']}").status_code == 204
    driver.wait(lambda: router["id"] in driver.removed, "router removed")


def test_l3_agent_is_listed(agent, api):
    agents = wait_for(lambda: [a for a in api.get("/v2.0/agents").json().get("agents", [])
                               if a["agent_type"] == "L3 agent"], "L3 agent listed")
    assert agents[0]["host"] == HOST and agents[0]["binary"] == "neutrino-l3-agent"
    assert agents[0]["alive"] is True and agents[0]["topic"] == "l3_agent"
