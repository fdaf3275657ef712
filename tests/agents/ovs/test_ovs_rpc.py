"""The agent against the real messaging layer (memory://) and a fake server."""
import time
import uuid

import pytest

from neutrino.agents.ovs import rpc
from neutrino.agents.ovs.agent import Agent
from neutrino.agents.ovs.driver import RecordingDriver
from neutrino.agents.ovs.firewall_hook import FirewallHook
from neutrino.rpc import Notifier, RpcServer


class Endpoint:
    """The server's q-plugin / q-reports-plugin methods with the contract's arguments."""

    def __init__(self, fake):
        self.fake = fake
        self.seen = []

    def get_devices_details_list(self, devices, agent_id, host):
        self.seen.append(("details", agent_id, host))
        return self.fake.get_devices_details_list(devices)

    def update_device_list(self, devices_up, devices_down, agent_id, host):
        self.seen.append(("update", agent_id, host))
        return self.fake.update_device_list(devices_up, devices_down)

    def tunnel_sync(self, tunnel_ip, tunnel_type, host):
        self.seen.append(("tunnel_sync", tunnel_type, host))
        return self.fake.tunnel_sync(tunnel_ip)

    def get_ports_on_host(self, host):
        return self.fake.get_ports_on_host()

    def report_state(self, agent_state, time):
        self.seen.append(("report", time))
        return self.fake.report_state(agent_state)

    def security_group_info_for_devices(self, devices):
        self.seen.append(("security_group_info_for_devices",))
        return self.fake.security_group_info_for_devices(devices)


@pytest.fixture
def wired(config, server, fw):
    url = f"memory://ovs-agent-{uuid.uuid4().hex}"
    endpoint = Endpoint(server)
    servers = [RpcServer(url, "q-plugin", endpoint).start(),
               RpcServer(url, "q-reports-plugin", endpoint).start()]
    api = rpc.PluginApi(url, config.host, config.agent_id, timeout=5)
    driver = RecordingDriver()
    agent = Agent(config, driver, api, listen=lambda cb: rpc.listen(url, config.host, cb),
                  check_interval=30, report_interval=0.2,
                  firewall=FirewallHook(api, fw, bridge_netfilter=lambda: None))
    agent.start()
    try:
        yield agent, driver, endpoint, Notifier(url)
    finally:
        agent.stop()
        api.close()
        for s in servers:
            s.stop()


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_calls_carry_agent_id_and_host(wired, server):
    agent, driver, endpoint, _ = wired
    assert wait_for(lambda: "br-int" in driver.snapshot().bridges)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    agent.on_ovsdb_change("Interface", "create", "qvo" + port[:11])
    assert server.wait_up(port)
    assert ("details", "ovs-agent-compute01", "compute01") in endpoint.seen
    assert ("update", "ovs-agent-compute01", "compute01") in endpoint.seen
    assert ("tunnel_sync", "vxlan", "compute01") in endpoint.seen
    assert wait_for(lambda: any(s[0] == "report" and "T" in s[1] for s in endpoint.seen))


def test_fanout_tunnel_update_and_port_update_reach_the_agent(wired, server):
    agent, driver, _, notifier = wired
    assert wait_for(lambda: "br-int" in driver.snapshot().bridges)
    notifier.notify("q-agent-notifier-tunnel-update", "tunnel_update",
                    {"tunnel_ip": "10.168.7.99", "tunnel_type": "vxlan", "host": "c9"})
    assert wait_for(lambda: "vxlan-0aa80763" in driver.snapshot().ports)
    port = server.port(server.network(), binding_vif_type="binding_failed")
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    agent.on_ovsdb_change("Interface", "create", "qvo" + port[:11])
    assert wait_for(lambda: driver.snapshot().ports["qvo" + port[:11]].tag == 4095)
    server.ports[port]["binding_vif_type"] = "ovs"
    notifier.notify("q-agent-notifier-port-update", "port_update",
                    {"port": {"id": port, "revision_number": 2}})
    assert server.wait_up(port)


def test_security_group_info_and_events_over_the_transport(wired, server, fw):
    agent, driver, endpoint, notifier = wired
    assert wait_for(lambda: "br-int" in driver.snapshot().bridges)
    sg = server.group([{"direction": "egress", "ethertype": "IPv4"}])
    port = server.port(server.network(), security_groups=[sg])
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    agent.on_ovsdb_change("Interface", "create", "qvo" + port[:11])
    assert server.wait_up(port)
    assert ("security_group_info_for_devices",) in endpoint.seen
    assert fw.calls[-1][1] == [port] and sg in fw.calls[-1][2]
    server.groups[sg]["rules"].append({"id": "r2", "direction": "ingress",
                                       "ethertype": "IPv4", "protocol": "icmp"})
    notifier.notify("q-agent-notifier-security_group-update", "security_groups_rule_updated",
                    {"security_groups": [sg]})
    assert wait_for(lambda: any(r["id"] == "r2" for r in
                                fw.calls[-1][2][sg]["security_group_rules"]))
