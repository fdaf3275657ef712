"""The OVS agent's firewall hook: what it asks the server and hands the firewall."""
import time

import pytest

from neutrino.agents.firewall.hybrid import build
from neutrino.agents.ovs import firewall_hook
from neutrino.agents.ovs.agent import Agent
from neutrino.agents.ovs.driver import RecordingDriver
from neutrino.agents.ovs.firewall_hook import FirewallHook
from neutrino.rpc.errors import RemoteError

SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
       "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}
EGRESS = {"direction": "egress", "ethertype": "IPv4"}


@pytest.fixture
def hook(server, fw):
    return FirewallHook(server, fw, bridge_netfilter=lambda: None)


def details(server, *ports):
    return {p: dict(server.ports[p]) for p in ports}


def test_only_compute_ports_are_fetched_and_filtered(server, hook, fw):
    sg = server.group([SSH, EGRESS])
    net = server.network()
    vm = server.port(net, ip="10.0.0.5", security_groups=[sg])
    dhcp = server.port(net, ip="10.0.0.2", device_owner="network:dhcp")
    assert hook.sync({vm, dhcp}, details(server, vm, dhcp)) == set()
    assert server.calls_of("security_group_info_for_devices") == [{"devices": [vm]}]
    kind, ports, groups, _ = fw.calls[-1]
    assert (kind, ports) == ("update", [vm])
    assert groups[sg]["stateful"] is True
    assert [r["port_range_min"] for r in groups[sg]["security_group_rules"]
            if r["direction"] == "ingress"] == [22]
    assert hook.filtered == {vm}


def test_nothing_changed_means_no_call_and_verify_resyncs(server, hook, fw):
    vm = server.port(server.network(), security_groups=[server.group([EGRESS])])
    hook.sync({vm}, details(server, vm))
    hook.sync({vm}, details(server, vm))
    assert len(fw.calls) == 1
    assert len(server.calls_of("security_group_info_for_devices")) == 1
    hook.sync({vm}, details(server, vm), verify=True)
    assert fw.calls[-1][0] == "resync"
    assert len(server.calls_of("security_group_info_for_devices")) == 1


def test_kernel_is_reread_at_most_every_verify_interval(server, fw):
    now = [100.0]
    hook = FirewallHook(server, fw, bridge_netfilter=lambda: None, verify_interval=30,
                        clock=lambda: now[0])
    vm = server.port(server.network())
    hook.sync({vm}, details(server, vm), verify=True)
    assert [c[0] for c in fw.calls] == ["resync"]
    now[0] += 3
    hook.sync({vm}, details(server, vm), verify=True)
    assert len(fw.calls) == 1
    now[0] += 30
    hook.sync({vm}, details(server, vm), verify=True)
    assert [c[0] for c in fw.calls] == ["resync", "resync"]
    now[0] += 3
    hook.invalidate()                    # a full resync re-reads at once
    hook.sync({vm}, details(server, vm), verify=True)
    assert [c[0] for c in fw.calls] == ["resync", "resync", "resync"]


def test_port_change_refetches(server, hook, fw):
    vm = server.port(server.network(), security_groups=[server.group([EGRESS])])
    hook.sync({vm}, details(server, vm))
    server.ports[vm]["allowed_address_pairs"] = [{"ip_address": "10.0.0.99"}]
    server.ports[vm]["revision_number"] += 1
    hook.sync({vm}, details(server, vm))
    assert len(server.calls_of("security_group_info_for_devices")) == 2
    assert len(fw.calls) == 2


def test_unplugged_port_leaves_the_firewall(server, hook, fw):
    net = server.network()
    a, b = (server.port(net, ip=ip) for ip in ("10.0.0.5", "10.0.0.6"))
    hook.sync({a, b}, details(server, a, b))
    hook.sync({a}, details(server, a))
    assert fw.calls[-1][1] == [a]
    assert hook.filtered == {a}


def test_group_events_refetch_only_for_groups_in_use(server, hook, fw):
    remote = server.group([EGRESS])
    sg = server.group([dict(SSH, remote_ip_prefix=None, remote_group_id=remote)])
    net = server.network()
    vm = server.port(net, ip="10.0.0.5", security_groups=[sg])
    other = server.port(net, ip="10.0.0.6", security_groups=[remote])
    hook.sync({vm}, details(server, vm))
    assert fw.calls[-1][3] == {remote: {"IPv4": ["10.0.0.6"], "IPv6": []}}
    hook.groups_changed([server.group()])           # some other project's group
    hook.sync({vm}, details(server, vm))
    assert len(fw.calls) == 1
    server.ports[other]["security_groups"] = []     # other leaves the remote group
    hook.groups_changed([remote])
    hook.sync({vm}, details(server, vm))
    assert fw.calls[-1][3] == {remote: {"IPv4": [], "IPv6": []}}
    hook.groups_changed([sg])                       # a rule of the port's own group
    hook.sync({vm}, details(server, vm))
    assert len(fw.calls) == 3


def test_hook_output_builds_neutrons_chains(server, hook, fw):
    remote = server.group([EGRESS])
    sg = server.group([dict(SSH, remote_ip_prefix=None, remote_group_id=remote), EGRESS])
    net = server.network()
    vm = server.port(net, ip="10.0.0.5", security_groups=[sg])
    server.port(net, ip="10.0.0.6", security_groups=[remote])
    hook.sync({vm}, details(server, vm))
    _, _, groups, members = fw.calls[-1]
    plan = build([server.ports[vm]], groups, members)
    rules = [r.rule for r in plan.port_rules[vm]]
    assert any(f"--match-set NIPv4{remote[:24]} src" in r and "--dport 22" in r
               for r in rules)
    assert plan.ipsets[f"NIPv4{remote[:24]}"].members == {"10.0.0.6"}


def test_server_down_filters_nothing_new_and_keeps_what_is_there(server, hook, fw):
    net = server.network()
    vm = server.port(net)
    server.fail = True
    assert hook.sync({vm}, details(server, vm)) == {vm}
    assert fw.calls == []
    server.fail = False
    assert hook.sync({vm}, details(server, vm)) == set()
    # A restarted agent whose server is down knows no details: no partial picture.
    fresh = FirewallHook(server, fw, bridge_netfilter=lambda: None)
    assert fresh.sync({vm}, {}) == set()
    assert len(fw.calls) == 1
    # A known port whose details are being refetched keeps its filter.
    new = server.port(net, ip="10.0.0.7")
    hook.sync({vm, new}, details(server, new))
    assert set(fw.calls[-1][1]) == {vm, new}


def test_failed_apply_is_retried(server, hook, fw):
    vm = server.port(server.network())
    fw.fail = True
    assert hook.sync({vm}, details(server, vm)) == {vm}
    fw.fail = False
    assert hook.sync({vm}, details(server, vm)) == set()
    assert fw.calls[-1][1] == [vm]


def test_server_without_security_groups(server, hook, fw):
    vm = server.port(server.network())

    def missing(devices):
        raise RemoteError("NoSuchMethod", "no method 'security_group_info_for_devices'")
    server.security_group_info_for_devices = missing
    assert hook.sync({vm}, details(server, vm)) == set()
    assert fw.calls == [] and not hook.supported


def test_bridge_netfilter_switched_on(tmp_path):
    paths = [tmp_path / "iptables", tmp_path / "ip6tables"]
    paths[0].write_text("0\n")
    paths[1].write_text("1\n")
    firewall_hook.enable_bridge_netfilter([str(p) for p in paths])
    assert [p.read_text().strip() for p in paths] == ["1", "1"]
    firewall_hook.enable_bridge_netfilter([str(tmp_path / "missing")])   # only logs


# -- in the agent's loop ---------------------------------------------------------

def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def agent(config, server, fw):
    callbacks = []
    hook = FirewallHook(server, fw, bridge_netfilter=lambda: None)
    agent = Agent(config, RecordingDriver(), server, listen=lambda cb: callbacks.append(cb)
                  or (lambda: None), check_interval=60, report_interval=60, firewall=hook)
    agent.start()
    agent.notify = lambda event, payload: callbacks[0](
        "q-agent-notifier-security_group-update", event, payload, {"seq": 1, "gap": False})
    try:
        # the skeleton, before any port, and the bridges (made beside it)
        assert wait_for(lambda: fw.calls and agent.passes >= 1)
        yield agent
    finally:
        agent.stop()


def plug(agent, server, port):
    driver = agent.reconciler.driver
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    agent.on_ovsdb_change("Interface", "create", "qvo" + port[:11])


def test_port_is_up_only_once_filtered(agent, server, fw):
    vm = server.port(server.network(), security_groups=[server.group([EGRESS])])
    fw.fail = True
    plug(agent, server, vm)
    assert wait_for(lambda: server.calls_of("security_group_info_for_devices"))
    assert wait_for(lambda: agent.idle.is_set())
    assert vm not in server.up
    fw.fail = False
    agent.events.put(("resync", None))
    assert server.wait_up(vm)
    assert vm in fw.calls[-1][1]


def test_rule_event_reaches_the_firewall_within_a_second(agent, server, fw):
    sg = server.group([EGRESS])
    vm = server.port(server.network(), security_groups=[sg])
    plug(agent, server, vm)
    assert server.wait_up(vm)
    before = len(fw.calls)
    server.groups[sg]["rules"].append(dict(SSH, id="r-ssh"))
    started = time.monotonic()
    agent.notify("security_groups_rule_updated", {"security_groups": [sg]})
    assert wait_for(lambda: any(r.get("id") == "r-ssh" for r in
                                fw.calls[-1][2][sg]["security_group_rules"]), 1.0)
    assert time.monotonic() - started < 1.0
    assert len(fw.calls) == before + 1
