import datetime

from sqlalchemy import update

from neutrino.db.models import Agent


def report(plugin, host="compute1", agent_type="Open vSwitch agent", **extra):
    plugin.report_state({"agent_type": agent_type, "binary": "neutrino-openvswitch-agent",
                         "host": host, "topic": "N/A", "start_flag": True,
                         "configurations": {"tunneling_ip": "10.0.0.1"}, **extra})


def test_agent_list_show_update_delete(api, plugin):
    report(plugin)
    (agent,) = api.get("/v2.0/agents").json()["agents"]
    assert agent["agent_type"] == "Open vSwitch agent"
    assert agent["host"] == "compute1" and agent["alive"] is True
    assert agent["admin_state_up"] is True
    assert agent["configurations"] == {"tunneling_ip": "10.0.0.1"}
    for key in ("id", "binary", "topic", "heartbeat_timestamp", "started_at", "created_at",
                "availability_zone", "description"):
        assert key in agent
    assert api.get(f"/v2.0/agents/{agent['id']}").json()["agent"]["id"] == agent["id"]
    r = api.put(f"/v2.0/agents/{agent['id']}", {"agent": {"admin_state_up": False,
                                                         "description": "d"}})
    assert r.status_code == 200 and r.json()["agent"]["admin_state_up"] is False
    assert api.put(f"/v2.0/agents/{agent['id']}", {"agent": {"host": "x"}}).status_code == 400
    assert api.get("/v2.0/agents?agent_type=DHCP%20agent").json()["agents"] == []
    assert api.delete(f"/v2.0/agents/{agent['id']}").status_code == 204
    assert api.get("/v2.0/agents").json()["agents"] == []


def test_agent_dies_after_down_time(api, plugin, service):
    report(plugin)
    old = datetime.datetime(2020, 1, 1)
    with service.db.writer() as session:
        session.execute(update(Agent).values(heartbeat_timestamp=old))
    (agent,) = api.get("/v2.0/agents").json()["agents"]
    assert agent["alive"] is False
    assert api.get("/v2.0/agents?alive=False").json()["agents"][0]["id"] == agent["id"]
    report(plugin)
    assert api.get("/v2.0/agents").json()["agents"][0]["alive"] is True
