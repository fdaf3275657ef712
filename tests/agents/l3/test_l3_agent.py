"""The agent's event handling over memory:// against a fake q-l3-plugin and a recording driver."""
import time
import uuid

import pytest

from neutrino.agents.l3.l3_agent import L3Agent
from neutrino.rpc import Notifier, RpcServer

from tests.agents.l3.fakes import FIP, ROUTER, FakeL3Plugin, RecordingDriver, router

OTHER = "9a9a9a9a-0000-4000-8000-00000000000b"


def wait_for(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def env():
    url = f"memory://l3-agent-{uuid.uuid4().hex[:8]}"
    plugin = FakeL3Plugin([router()])
    servers = [RpcServer(url, "q-l3-plugin", plugin).start(),
               RpcServer(url, "q-reports-plugin", plugin).start()]
    driver = RecordingDriver()
    agent = L3Agent("controller", url, driver, report_interval=0.2, resync_interval=1000)
    notifier = Notifier(url)
    try:
        yield plugin, driver, agent, notifier
    finally:
        agent.stop()
        notifier.close()
        for server in servers:
            server.stop()


def test_full_sync_applies_routers_reports_state_and_fip_status(env):
    plugin, driver, agent, _ = env
    agent.start()
    assert agent.synced.wait(5)
    assert plugin.sync_calls[0] is None
    assert driver.calls[0] == ("apply", ROUTER, True)
    plan = driver.plans[ROUTER]
    assert plan.gateway_ip == "172.24.4.10"
    wait_for(lambda: plugin.statuses, "floating IP status")
    assert plugin.statuses[0] == (ROUTER, {FIP: "ACTIVE"})
    wait_for(lambda: plugin.reports and plugin.reports[-1]["configurations"]["routers"] == 1,
             "report_state after the sync")
    assert {k: plugin.reports[-1]["configurations"][k] for k in (
        "routers", "ex_gw_ports", "interfaces", "floating_ips")} == {
        "routers": 1, "ex_gw_ports": 1, "interfaces": 1, "floating_ips": 1}
    report = plugin.reports[0]
    assert report["agent_type"] == "L3 agent" and report["binary"] == "neutrino-l3-agent"
    assert report["topic"] == "l3_agent" and report["start_flag"] is True
    assert report["host"] == "controller"


def test_routers_updated_syncs_only_those_and_unchanged_status_is_not_resent(env):
    plugin, driver, agent, notifier = env
    agent.start()
    assert agent.synced.wait(5)
    wait_for(lambda: plugin.statuses, "first status")
    plugin.routers[OTHER] = router(router_id=OTHER, fips=())
    notifier.notify("l3_agent", "routers_updated", {"router_ids": [OTHER, ROUTER]})
    wait_for(lambda: OTHER in driver.plans and len(plugin.sync_calls) >= 2, "update")
    assert plugin.sync_calls[-1] == [OTHER, ROUTER]
    assert ("apply", OTHER, False) in driver.calls
    agent.idle.wait(2)
    assert len(plugin.statuses) == 1     # ROUTER's floating IP is still ACTIVE


def test_disassociated_floating_ip_goes_down(env):
    plugin, driver, agent, notifier = env
    agent.start()
    wait_for(lambda: plugin.statuses, "first status")
    plugin.routers[ROUTER]["_floatingips"] = []
    notifier.notify("l3_agent", "routers_updated", {"router_ids": [ROUTER]})
    wait_for(lambda: len(plugin.statuses) == 2, "DOWN status")
    assert plugin.statuses[1] == (ROUTER, {FIP: "DOWN"})
    assert driver.plans[ROUTER].floating_ips == ()


def test_router_deleted_and_router_missing_from_sync_are_removed(env):
    plugin, driver, agent, notifier = env
    plugin.routers[OTHER] = router(router_id=OTHER, fips=())
    agent.start()
    assert agent.synced.wait(5)
    assert set(driver.plans) == {ROUTER, OTHER}
    del plugin.routers[OTHER]
    notifier.notify("l3_agent", "router_deleted", {"router_id": OTHER})
    wait_for(lambda: ("remove", OTHER) in driver.calls, "removal")
    assert set(driver.plans) == {ROUTER}
    # A router the agent never had is not "removed".
    notifier.notify("l3_agent", "router_deleted", {"router_id": "never-had"})
    wait_for(lambda: plugin.sync_calls[-1] == ["never-had"], "sync of unknown router")
    agent.idle.wait(2)
    assert ("remove", "never-had") not in driver.calls


def test_full_sync_drops_stale_and_admin_down_router_is_applied_disabled(env):
    plugin, driver, agent, notifier = env
    driver.plans["stale-router"] = object()       # left by an earlier run
    agent.start()
    assert agent.synced.wait(5)
    assert ("remove", "stale-router") in driver.calls
    wait_for(lambda: plugin.statuses and plugin.statuses[-1] == (ROUTER, {FIP: "ACTIVE"}),
             "ACTIVE")
    plugin.routers[ROUTER]["admin_state_up"] = False
    notifier.notify("l3_agent", "routers_updated", {"router_ids": [ROUTER]})
    wait_for(lambda: plugin.statuses and plugin.statuses[-1] == (ROUTER, {FIP: "DOWN"}),
             "DOWN once disabled")
    plan = driver.plans[ROUTER]
    assert not plan.enabled and plan.ports and not plan.floating_ips
    assert ("remove", ROUTER) not in driver.calls


def test_gap_triggers_full_sync(env):
    plugin, driver, agent, _ = env
    agent.start()
    assert agent.synced.wait(5)
    agent.synced.clear()
    agent._on_notification("l3_agent", "routers_updated", {"router_ids": []},
                           {"gap": True, "seq": 7})
    assert agent.synced.wait(5)
    assert plugin.sync_calls.count(None) == 2


def test_failed_apply_marks_floating_ips_error_and_retries(env):
    plugin, driver, agent, _ = env
    driver.fail.add(ROUTER)
    agent.start()
    wait_for(lambda: plugin.statuses, "ERROR status")
    assert plugin.statuses[0] == (ROUTER, {FIP: "ERROR"})
    driver.fail.clear()
    wait_for(lambda: ROUTER in driver.plans, "retry", timeout=5)
    assert ("apply", ROUTER, True) in driver.calls[1:]
    wait_for(lambda: plugin.statuses[-1] == (ROUTER, {FIP: "ACTIVE"}), "ACTIVE after retry")
