"""The OVS agent's security groups against the real server plugin over memory://.

The server answers ``security_group_info_for_devices`` and fans out the
rule/member events for real; the firewall is a recording one, whose input
then goes through the real ruleset builder.
"""
import time
import uuid

import pytest

from neutrino.agents.firewall.hybrid import build
from neutrino.agents.ovs import rpc
from neutrino.agents.ovs.agent import Agent
from neutrino.agents.ovs.driver import RecordingDriver
from neutrino.agents.ovs.firewall_hook import FirewallHook
from neutrino.agents.ovs.state import AgentConfig
from neutrino.rpc import Notifier, RpcServer

HOST = "compute01"


@pytest.fixture
def bus():
    return f"memory://ovs-contract-{uuid.uuid4().hex}"


@pytest.fixture
def notifier(bus):
    """Overrides the shared RecordingNotifier: the server fans out for real."""
    real = Notifier(bus)
    yield real
    real.close()


@pytest.fixture
def agent(bus, service, fw):
    from neutrino.server.rpc import RpcEndpoint
    endpoint = RpcEndpoint(service.plugin)
    servers = [RpcServer(bus, "q-plugin", endpoint).start(),
               RpcServer(bus, "q-reports-plugin", endpoint).start()]
    config = AgentConfig(host=HOST, local_ip="10.168.7.11")
    api = rpc.PluginApi(bus, HOST, config.agent_id, timeout=5)
    agent = Agent(config, RecordingDriver(), api, listen=lambda cb: rpc.listen(bus, HOST, cb),
                  check_interval=60, report_interval=0.2,
                  firewall=FirewallHook(api, fw, bridge_netfilter=lambda: None))
    agent.start()
    try:
        yield agent
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


def create(api, path, resource, **body):
    resp = api.post(f"/v2.0/{path}", {resource: body})
    assert resp.status_code == 201, resp.text
    return resp.json()[resource]


def boot(api, agent, net, ip, **extra):
    port = api.create("port", network_id=net["id"], device_owner="compute:nova",
                      device_id=str(uuid.uuid4()), fixed_ips=[{"ip_address": ip}],
                      **{"binding:host_id": HOST}, **extra)
    name = "qvo" + port["id"][:11]
    agent.reconciler.driver.plug(name, port["id"], port["mac_address"])
    agent.on_ovsdb_change("Interface", "create", name)
    return port


def test_server_info_builds_the_ports_firewall_and_events_reach_it(api, agent, fw):
    net = api.create("network", name="n")
    api.create("subnet", network_id=net["id"], cidr="10.0.0.0/24", ip_version=4)
    web = create(api, "security-groups", "security_group", name="web")
    create(api, "security-group-rules", "security_group_rule", security_group_id=web["id"],
           direction="ingress", ethertype="IPv4", protocol="tcp", port_range_min=80,
           port_range_max=80, remote_group_id=web["id"])
    a = boot(api, agent, net, "10.0.0.5", security_groups=[web["id"]])
    b = boot(api, agent, net, "10.0.0.6", security_groups=[web["id"]])
    assert wait_for(lambda: fw.calls and set(fw.calls[-1][1]) == {a["id"], b["id"]})
    assert wait_for(lambda: api.get(f"/v2.0/ports/{a['id']}").json()["port"]["status"]
                    == "ACTIVE")
    _, _, groups, members = fw.calls[-1]
    ports = [api.get(f"/v2.0/ports/{p['id']}").json()["port"] for p in (a, b)]
    plan = build(ports, groups, members)
    rules = [r.rule for r in plan.port_rules[a["id"]]]
    assert any(f"--match-set NIPv4{web['id'][:24]} src" in r and "--dport 80" in r
               for r in rules)
    assert plan.ipsets[f"NIPv4{web['id'][:24]}"].members == {"10.0.0.5", "10.0.0.6"}

    started = time.monotonic()
    rule = create(api, "security-group-rules", "security_group_rule",
                  security_group_id=web["id"], direction="ingress", ethertype="IPv4",
                  protocol="icmp")
    assert wait_for(lambda: any(r["id"] == rule["id"]
                                for r in fw.calls[-1][2][web["id"]]["security_group_rules"]))
    assert time.monotonic() - started < 1.0
    # b leaves the group: a's remote-group members follow.
    api.put(f"/v2.0/ports/{b['id']}", {"port": {"security_groups": []}})
    assert wait_for(lambda: fw.calls[-1][3].get(web["id"], {}).get("IPv4") == ["10.0.0.5"])
