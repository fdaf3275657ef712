"""The agent's event loop with the recording driver and a fake server."""
import time

import pytest

from neutrino.agents.ovs.agent import Agent
from neutrino.agents.ovs.driver import RecordingDriver


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Listener:
    """Stands in for the fanout listener: the test delivers notifications."""

    def __init__(self):
        self.callback = None
        self.stopped = False

    def __call__(self, callback):
        self.callback = callback
        return self.stop

    def stop(self):
        self.stopped = True


@pytest.fixture
def start_agent(config, server):
    agents = []

    def start(check_interval):
        driver = RecordingDriver()
        listener = Listener()
        agent = Agent(config, driver, server, listen=listener,
                      check_interval=check_interval, report_interval=0.1)
        agents.append((agent, listener))
        agent.start()
        assert wait_for(lambda: "br-int" in driver.snapshot().bridges)
        return agent, driver, listener

    yield start
    for agent, listener in agents:
        agent.stop()
        assert listener.stopped


@pytest.fixture
def running(start_agent):
    """An agent whose periodic check never fires during a test."""
    return start_agent(60)


def test_new_port_event_wires_and_reports_up(running, server):
    agent, driver, _ = running
    port = server.port(server.network())
    started = time.monotonic()
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    agent.on_ovsdb_change("Interface", "create", "qvo" + port[:11])
    assert server.wait_up(port)
    assert time.monotonic() - started < 1.0    # polling every 2 s could not
    assert driver.snapshot().ports["qvo" + port[:11]].tag == 1


def test_port_update_refetches_details(running, server):
    agent, driver, listener = running
    port = server.port(server.network())
    server.ports[port]["binding_vif_type"] = "binding_failed"
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    agent.on_ovsdb_change("Interface", "create", "qvo" + port[:11])
    assert wait_for(lambda: driver.snapshot().ports["qvo" + port[:11]].tag == 4095)
    server.ports[port]["binding_vif_type"] = "ovs"
    listener.callback("q-agent-notifier-port-update", "port_update",
                      {"port": {"id": port}}, {"seq": 1, "epoch": "e"})
    assert server.wait_up(port)
    assert driver.snapshot().ports["qvo" + port[:11]].tag == 1


def test_tunnel_update_builds_a_tunnel(running):
    agent, driver, listener = running
    listener.callback("q-agent-notifier-tunnel-update", "tunnel_update",
                      {"tunnel_ip": "10.168.7.40", "tunnel_type": "vxlan", "host": "c9"},
                      {"seq": 1, "epoch": "e"})
    assert wait_for(lambda: "vxlan-0aa80728" in driver.snapshot().ports)


def test_gap_triggers_a_resync(running, server):
    agent, driver, listener = running
    syncs = len(server.calls_of("tunnel_sync"))
    listener.callback("q-agent-notifier-port-update", "port_update", {"port": {"id": "x"}},
                      {"seq": 7, "epoch": "e", "gap": True})
    assert wait_for(lambda: len(server.calls_of("tunnel_sync")) > syncs)
    assert wait_for(lambda: server.calls_of("get_ports_on_host"))


def test_periodic_check_restores_flows_after_vswitchd_restart(start_agent):
    agent, driver, _ = start_agent(0.2)
    assert wait_for(lambda: driver.dump_flows("br-int", 23))
    driver.restart_vswitchd()
    # The bridges' flows go out side by side: br-tun may land after br-int.
    assert wait_for(lambda: driver.dump_flows("br-int", 23) and driver.dump_flows("br-tun"),
                    timeout=3)


def test_periodic_check_still_runs_under_a_stream_of_events(start_agent):
    """Put off while events come, but not forever: vswitchd's restart is seen."""
    agent, driver, _ = start_agent(0.2)
    assert wait_for(lambda: driver.dump_flows("br-int", 23))
    snapshot = driver.snapshot

    def busy_snapshot():            # every pass queues the next event: never idle
        agent.on_ovsdb_change("Interface", "update", "qvo-stream")
        return snapshot()
    driver.snapshot = busy_snapshot
    agent.on_ovsdb_change("Interface", "update", "qvo-stream")
    driver.restart_vswitchd()
    assert wait_for(lambda: driver.flows.get("br-int"), timeout=5)
    assert driver.dump_flows("br-int", 23)


def test_report_state_says_what_neutron_says(running, server):
    agent, _, _ = running
    assert wait_for(lambda: len(server.reports) >= 2)
    first, later = server.reports[0], server.reports[-1]
    assert first["start_flag"] is True and later["start_flag"] is False
    assert first["agent_type"] == "Open vSwitch agent"
    assert first["binary"] == "neutrino-openvswitch-agent"
    assert first["topic"] == "N/A" and first["host"] == "compute01"
    conf = first["configurations"]
    assert conf["tunnel_types"] == ["vxlan"] and conf["tunneling_ip"] == "10.168.7.11"
    assert conf["bridge_mappings"] == {"extnet": "br-ex"}
    assert conf["datapath_type"] == "netdev" and conf["ovs_hybrid_plug"] is True
    assert conf["l2_population"] is False and conf["arp_responder_enabled"] is False
    assert conf["integration_bridge"] == "br-int" and "devices" in conf
