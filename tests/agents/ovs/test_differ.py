from neutrino.agents.ovs.differ import flow_changes, ovsdb_edits
from neutrino.agents.ovs.state import Binding, BridgeSpec, DesiredState, PortSpec
from neutrino.linux import ovs
from neutrino.linux.openflow import Flow


def test_flow_changes_add_missing_replace_changed_delete_stale_keep_learned():
    wanted = [Flow(0, 1, "in_port=1", "goto_table:2", 5), Flow(23, 0, "", "drop", 5),
              Flow(22, 1, "dl_vlan=1", "output:3", 5)]
    actual = [Flow(0, 1, "in_port=1", "goto_table:2", 5),       # same: untouched
              Flow(22, 1, "dl_vlan=1", "output:2", 5),          # actions changed
              Flow(0, 7, "in_port=9", "drop", 9),               # not wanted
              Flow(20, 1, "dl_dst=fa:16:3e:00:00:01", "output:2", 5, hard_timeout=300)]
    changes = flow_changes(wanted, actual)
    assert sorted(f.table for f in changes.add) == [22, 23]
    assert changes.delete == [actual[2]]
    assert not flow_changes(wanted, wanted)


def test_foreign_cookie_is_replaced_in_place():
    changes = flow_changes([Flow(23, 0, "", "drop", 5)], [Flow(23, 0, "", "drop", 6)])
    assert changes.add == [Flow(23, 0, "", "drop", 5)] and changes.delete == []


def test_ovsdb_edits_only_what_differs():
    want = DesiredState()
    want.bridges["br-int"] = BridgeSpec("br-int", "netdev")
    want.ports["patch-tun"] = PortSpec("br-int", "patch-tun", "patch", {"peer": "patch-int"})
    want.bindings["qvo1"] = Binding("qvo1", "p1", 3, {"net_uuid": "n", "tag": "3"}, True, "n")
    snap = ovs.Snapshot(
        bridges={"br-int": ovs.BridgeRow("br-int", "netdev", "secure",
                                         ("OpenFlow10", "OpenFlow13"),
                                         {"disable-in-band": "true"})},
        ports={"patch-tun": ovs.PortRow("patch-tun", "br-int", "patch", {"peer": "x"}),
               "qvo1": ovs.PortRow("qvo1", "br-int", tag=3,
                                   other_config={"net_uuid": "n", "tag": "3", "mine": "1"})},
        managers=["ptcp:6640:127.0.0.1"])
    edits = ovsdb_edits(want, snap)
    assert edits == [ovs.SetInterface("patch-tun", "patch", {"peer": "patch-int"})]
