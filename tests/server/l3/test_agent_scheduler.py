"""l3_agent_scheduler over the API: which agent hosts a router, moving it (admin only)."""
import pytest

from neutrino.server.context import Context

ADMIN = Context.admin()


def l3_state(host: str) -> dict:
    return {"agent_type": "L3 agent", "binary": "neutrino-l3-agent", "host": host,
            "topic": "l3_agent", "configurations": {}, "start_flag": True}


@pytest.fixture
def agents(plugin):
    plugin.report_state(l3_state("net1"))
    plugin.report_state(l3_state("net2"))
    plugin.report_state({"agent_type": "DHCP agent", "binary": "neutrino-dhcp-agent",
                         "host": "net1", "topic": "dhcp_agent", "configurations": {}})
    by = {(a["agent_type"], a["host"]): a for a in plugin.get_agents(ADMIN)}
    return by[("L3 agent", "net1")], by[("L3 agent", "net2")], by[("DHCP agent", "net1")]


def test_hosting_and_moving(api, agents, notifier):
    net1, net2, dhcp = agents
    net = api.create("network", name="n")
    sub = api.create("subnet", network_id=net["id"], cidr="10.1.0.0/24")
    router = api.create("router", name="r")
    api.put(f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
    hosting = api.get(f"/v2.0/routers/{router['id']}/l3-agents").json()["agents"]
    assert [a["id"] for a in hosting] == [net1["id"]]
    routers = api.get(f"/v2.0/agents/{net1['id']}/l3-routers").json()["routers"]
    assert [r["id"] for r in routers] == [router["id"]]
    assert api.get(f"/v2.0/agents/{net2['id']}/l3-routers").json()["routers"] == []

    r = api.post(f"/v2.0/agents/{net2['id']}/l3-routers", {"router_id": router["id"]})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RouterHostedByL3Agent"
    r = api.delete(f"/v2.0/agents/{net2['id']}/l3-routers/{router['id']}")
    assert r.status_code == 404
    assert r.json()["NeutronError"]["type"] == "RouterNotHostedByL3Agent"
    notifier.clear()
    assert api.delete(f"/v2.0/agents/{net1['id']}/l3-routers/{router['id']}").status_code == 204
    assert notifier.payloads("routers_updated") == [{"router_ids": [router["id"]]}]
    assert api.get(f"/v2.0/routers/{router['id']}/l3-agents").json()["agents"] == []
    (port,) = api.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"]
    assert port["binding:host_id"] == ""
    r = api.post(f"/v2.0/agents/{net2['id']}/l3-routers", {"router_id": router["id"]})
    assert r.status_code == 201
    (port,) = api.get(f"/v2.0/ports?device_id={router['id']}").json()["ports"]
    assert port["binding:host_id"] == "net2"
    r = api.post(f"/v2.0/agents/{dhcp['id']}/l3-routers", {"router_id": router["id"]})
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "InvalidL3Agent"
    r = api.post(f"/v2.0/agents/{net1['id']}/l3-routers", {"router": router["id"]})
    assert r.status_code == 400


def test_admin_only(api, agents):
    net1 = agents[0]
    demo = api.as_project("demo")
    router = demo.create("router", name="r")
    r = demo.get(f"/v2.0/routers/{router['id']}/l3-agents")
    assert r.status_code == 403
    assert demo.get(f"/v2.0/agents/{net1['id']}/l3-routers").status_code == 403
    r = demo.post(f"/v2.0/agents/{net1['id']}/l3-routers", {"router_id": router["id"]})
    assert r.status_code == 403
    aliases = {e["alias"] for e in api.get("/v2.0/extensions").json()["extensions"]}
    assert "l3_agent_scheduler" in aliases
