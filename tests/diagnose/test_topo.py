"""Differences between the database and the nodes, over a made-up snapshot."""
from neutrino.diagnose import topo
from neutrino.diagnose.snapshot import Instance, Link, Namespace, Node, OvsPort, Snapshot
from neutrino.lab.layout import Lab


def _snap():
    c1 = Node("compute01", "10.168.7.11", True, True, bridges={"br-int": ["qvoaaaaaaaa-aa"]})
    c1.ports["qvoaaaaaaaa-aa"] = OvsPort("qvoaaaaaaaa-aa", "br-int", "system", 1, {}, {},
                                         {"iface-id": "aaaaaaaa-aaaa"}, 2)
    c1.root.links["tapaaaaaaaa-aa"] = Link("tapaaaaaaaa-aa", "veth", 1450, True, None, [],
                                           "qbraaaaaaaa-aa", None)
    snap = Snapshot(Lab("x", "/tmp/x"), {"compute01": c1}, {})
    snap.instances["vm1"] = Instance("vm1", "compute01", "aaaaaaaa-aaaa", "m", ["10.0.0.3"],
                                     "net", Namespace("vm", {}))
    snap.instances["vm2"] = Instance("vm2", "compute01", "bbbbbbbb-bbbb", "m", ["10.0.0.4"],
                                     "net", None)
    snap.api_ok = True
    snap.ports = [{"id": "aaaaaaaa-aaaa", "status": "ACTIVE", "binding:host_id": "compute01",
                   "device_owner": "compute:nova"},
                  {"id": "bbbbbbbb-bbbb", "status": "ACTIVE", "binding:host_id": "compute01",
                   "device_owner": "compute:nova"}]
    snap.agents = [{"host": "compute01", "agent_type": "Open vSwitch agent", "alive": False,
                    "heartbeat_timestamp": "t"}]
    return snap


def test_problems_list_what_disagrees():
    found = topo.problems(_snap())
    assert any("bbbbbbbb-bbbb" in p and "no qvo on br-int" in p for p in found)
    assert not any("aaaaaaaa-aaaa" in p and "no qvo" in p for p in found)
    assert any(p.startswith("instance vm2") and "namespace is gone" in p for p in found)
    assert any("tapbbbbbbbb-bb is missing" in p for p in found)
    assert any("Open vSwitch agent is dead" in p for p in found)


def test_text_and_dot_name_the_devices():
    data = topo.build(_snap())
    text = topo.to_text(data)
    assert "qvoaaaaaaaa-aa   tag 1 [vm1]" in text
    dot = topo.to_dot(data)
    assert '"compute01/qvoaaaaaaaa-aa"' in dot and "cluster_compute01" in dot
