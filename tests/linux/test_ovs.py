"""linux.ovs against a private ovsdb-server + ovs-vswitchd in a namespace."""
import secrets
import shutil
import tempfile
import threading

import pytest

from neutrino.errors import NeutrinoError
from neutrino.linux import ovs, ovs_daemons, proc


@pytest.fixture
def two_switches():
    """Two independent OVS instances (two nodes in one process)."""
    tmp = tempfile.mkdtemp(prefix="nt-ovsdb-")
    nodes = []
    try:
        for i in range(2):
            ns = f"nt-ovsdb-{secrets.token_hex(3)}"
            proc.run(["ip", "netns", "add", ns])
            rundir = f"{tmp}/{i}/run"
            nodes.append((ns, rundir))
            ovs_daemons.start_ovs(rundir, f"{tmp}/{i}/db", f"{tmp}/{i}/log", netns=ns)
        yield nodes
    finally:
        for ns, rundir in nodes:
            ovs_daemons.stop_ovs(rundir)
            proc.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def vsctl(node, *args):
    ns, rundir = node
    return proc.run(["env", f"OVS_RUNDIR={rundir}", "ovs-vsctl", "--timeout=10", *args],
                    netns=ns).out


@pytest.mark.dataplane
def test_edits_snapshot_and_events(two_switches):
    first, second = two_switches
    events = []
    seen = threading.Event()

    def on_change(table, event, name):
        events.append((table, event, name))
        if name == "qvo-by-nova":
            seen.set()

    db = ovs.Ovsdb(f"unix:{first[1]}/db.sock", on_change=on_change)
    other = ovs.Ovsdb(f"unix:{second[1]}/db.sock")
    db.start()
    other.start()
    try:
        db.apply([ovs.AddManager("ptcp:6640:127.0.0.1"),
                  ovs.AddBridge("br-a", "netdev", "secure", ("OpenFlow10", "OpenFlow13"),
                                {"disable-in-band": "true"}),
                  ovs.AddBridge("br-b", "netdev", "secure", ("OpenFlow13",), {}),
                  ovs.AddPort("br-a", "pa", "patch", {"peer": "pb"}),
                  ovs.AddPort("br-b", "pb", "patch", {"peer": "pa"}),
                  ovs.SetPort("pa", 5, {"net_uuid": "n"})])
        snap = db.snapshot()
        assert snap.managers == ["ptcp:6640:127.0.0.1"]
        assert snap.bridges["br-a"].fail_mode == "secure"
        assert snap.bridges["br-a"].ports == ("br-a", "pa")
        assert snap.ports["pa"].tag == 5 and snap.ports["pa"].other_config == {"net_uuid": "n"}
        assert snap.ports["pa"].ofport > 0          # vswitchd applied it before we returned
        assert snap.ports["br-a"].type == "internal"
        assert vsctl(first, "get", "Interface", "pa", "options").strip() == "{peer=pb}"
        assert "br-a" not in other.snapshot().bridges      # a separate switch

        vsctl(first, "add-port", "br-a", "qvo-by-nova", "--", "set", "Interface",
              "qvo-by-nova", "type=internal", "external_ids:iface-id=port-1")
        assert seen.wait(5)
        assert db.snapshot().ports["qvo-by-nova"].iface_id == "port-1"

        db.apply([ovs.SetPort("pa", None, {}), ovs.SetInterface("pb", "patch", {"peer": "x"}),
                  ovs.SetBridge("br-b", {"protocols": ["OpenFlow10", "OpenFlow13"]}),
                  ovs.DelPort("br-a", "qvo-by-nova")])
        snap = db.snapshot()
        assert snap.ports["pa"].tag is None and snap.ports["pb"].options == {"peer": "x"}
        assert snap.bridges["br-b"].protocols == ("OpenFlow10", "OpenFlow13")
        assert "qvo-by-nova" not in snap.ports
        assert vsctl(first, "list-ports", "br-a").split() == ["pa"]
        with pytest.raises(NeutrinoError):
            db.apply([ovs.SetPort("no-such-port", 1, {})])
    finally:
        db.stop()
        other.stop()


def test_unreachable_ovsdb_is_a_clear_error(tmp_path):
    with pytest.raises(NeutrinoError, match="cannot reach OVSDB"):
        ovs.Ovsdb(f"unix:{tmp_path}/nothing.sock", timeout=1).start()
