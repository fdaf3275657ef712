"""Parsing ``ovs-ofctl dump-flows`` and building add/delete lines."""
import os

import pytest

from neutrino.errors import NeutrinoError
from neutrino.linux import proc
from neutrino.linux.openflow import Flow, OpenFlowBridge, match_key, parse_dump, parse_flow

DUMP = """OFPST_FLOW reply (OF1.3) (xid=0x2):
 cookie=0x1234, duration=0.011s, table=0, n_packets=3, n_bytes=180, priority=65535,vlan_tci=0x0fff/0x1fff actions=drop
 cookie=0x1234, duration=0.020s, table=0, n_packets=0, n_bytes=0, priority=10,icmp6,in_port=2,icmp_type=136 actions=goto_table:24
 cookie=0x1234, duration=0.018s, table=2, n_packets=0, n_bytes=0, priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=goto_table:22
 cookie=0x1234, duration=0.03s, table=20, n_packets=4, n_bytes=392, hard_timeout=300, idle_age=2, priority=1,vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:2c:6b:01 actions=load:0->NXM_OF_VLAN_TCI[],load:0x6ab->NXM_NX_TUN_ID[],output:3
 cookie=0x1234, duration=0.019s, table=60, n_packets=0, n_bytes=0, priority=1 actions=NORMAL
"""


def test_parse_dump_reads_every_flow():
    flows = parse_dump(DUMP)
    assert len(flows) == 5
    assert flows[0] == Flow(0, 65535, "vlan_tci=0x0fff/0x1fff", "drop", 0x1234)
    assert flows[0].n_packets == 3
    assert flows[1].match == "icmp6,in_port=2,icmp_type=136"
    assert flows[4].match == "" and flows[4].actions == "NORMAL"


def test_learned_flow_is_recognised_by_its_timeout():
    flows = parse_dump(DUMP)
    assert flows[3].learned and flows[3].hard_timeout == 300
    assert not any(f.learned for f in flows[:3])


def test_default_priority_and_table():
    flow = parse_flow(" cookie=0x0, duration=1s, n_packets=0, n_bytes=0, in_port=1 actions=drop")
    assert (flow.table, flow.priority, flow.match) == (0, 32768, "in_port=1")


def test_key_ignores_match_order_and_actions():
    a = Flow(0, 10, "arp,in_port=2", "goto_table:24", 1)
    b = Flow(0, 10, "in_port=2,arp", "drop", 2)
    assert a.key == b.key
    assert match_key("b=1,a=2") == ("a=2", "b=1")


def test_spec_and_strict_match_lines():
    flow = Flow(22, 1, "dl_vlan=3", "pop_vlan,output:2", cookie=0xab)
    assert flow.spec() == "cookie=0xab,table=22,priority=1,dl_vlan=3,actions=pop_vlan,output:2"
    assert flow.strict_match() == "table=22,priority=1,dl_vlan=3"
    assert Flow(23, 0, "", "drop").strict_match() == "table=23,priority=0"


def test_not_a_flow_is_an_error():
    with pytest.raises(NeutrinoError):
        parse_flow("garbage")


def test_bridge_target_is_the_management_socket():
    assert OpenFlowBridge("br-int", "/tmp/x").target == "unix:/tmp/x/br-int.mgmt"


@pytest.mark.dataplane
def test_calls_never_ask_the_switch_for_port_names(one_switch):
    """Without ``--no-names`` every ``ovs-ofctl`` call starts with a port
    description request, ~10x the switch's CPU of the flow mods themselves."""
    ns, rundir = one_switch
    env = ["env", f"OVS_RUNDIR={rundir}"]
    proc.run([*env, "ovs-vsctl", "--timeout=10", "add-br", "br-of", "--",
              "set", "Bridge", "br-of", "datapath_type=netdev"], netns=ns)
    proc.run([*env, "ovs-appctl", "-t", "ovs-vswitchd", "vlog/set", "vconn:file:dbg"], netns=ns)
    bridge = OpenFlowBridge("br-of", rundir)
    flow = Flow(3, 10, "in_port=1,dl_src=fa:16:3e:00:00:01", "drop", 7)
    bridge.apply([flow], [])
    assert bridge.dump(3) == [flow]
    bridge.apply([], [flow])
    assert bridge.dump(3) == []
    with open(f"{os.path.dirname(rundir)}/log/ovs-vswitchd.log") as f:
        log = f.read()
    assert "OFPT_FLOW_MOD" in log, "the switch's message log is not on"
    assert "PORT_DESC" not in log
