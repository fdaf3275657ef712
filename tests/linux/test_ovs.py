"""linux.ovs against a private ovsdb-server + ovs-vswitchd in a namespace."""
import secrets
import shutil
import tempfile
import threading
import time
import uuid

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


def fresh_read(db: ovs.Ovsdb) -> ovs.Snapshot:
    """What a snapshot converting every IDL row anew returns."""
    with db.lock:
        return ovs._Mirror().snapshot(db._api.tables)


def assert_current(db: ovs.Ovsdb) -> ovs.Snapshot:
    """The (cached) snapshot equals a fresh conversion, orders included."""
    snap, fresh = db.snapshot(), fresh_read(db)
    assert snap == fresh
    assert list(snap.ports) == list(fresh.ports)
    assert list(snap.bridges) == list(fresh.bridges)
    return snap


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.mark.dataplane
def test_snapshot_sees_rows_changed_in_place(one_switch):
    """Cached row values are converted again when the IDL changes a row in
    place: a tag, external_ids, a type or an ofport set after the fact."""
    db = ovs.Ovsdb(f"unix:{one_switch[1]}/db.sock")
    db.start()
    try:
        db.apply([ovs.AddBridge("br-a", "netdev", "secure", ("OpenFlow13",), {}),
                  ovs.AddPort("br-a", "p1", "internal", {}),
                  ovs.AddPort("br-a", "p2", "internal", {})])
        before = assert_current(db)
        assert before.ports["p1"].tag is None and before.ports["p1"].iface_id is None
        first_ofport = before.ports["p1"].ofport
        assert first_ofport > 0

        vsctl(one_switch, "set", "Port", "p1", "tag=7")
        wait_for(lambda: db.snapshot().ports["p1"].tag == 7)
        vsctl(one_switch, "set", "Interface", "p1", "external_ids:iface-id=port-1")
        wait_for(lambda: db.snapshot().ports["p1"].iface_id == "port-1")
        # vswitchd gives the interface a new ofport: an in-place update of a
        # row the port refers to, the port itself unchanged.
        vsctl(one_switch, "set", "Interface", "p1", "ofport_request=77")
        wait_for(lambda: db.snapshot().ports["p1"].ofport == 77)
        vsctl(one_switch, "set", "Bridge", "br-a", "fail_mode=standalone")
        wait_for(lambda: db.snapshot().bridges["br-a"].fail_mode == "standalone")
        after = assert_current(db)
        assert after.ports["p2"] == before.ports["p2"]
        assert after.ports["p1"].tag == 7 and after.ports["p1"].ofport == 77

        vsctl(one_switch, "del-port", "br-a", "p2")
        wait_for(lambda: "p2" not in db.snapshot().ports)
        assert assert_current(db).bridges["br-a"].ports == ("br-a", "p1")

        # Each snapshot is its own data: changing one does not change the next.
        after.ports["p1"].external_ids["iface-id"] = "changed"
        after.bridges["br-a"].other_config["x"] = "y"
        again = db.snapshot()
        assert again.ports["p1"].iface_id == "port-1"
        assert again.bridges["br-a"].other_config == {}
    finally:
        db.stop()


@pytest.mark.dataplane
def test_apply_finds_rows_inserted_or_deleted_in_the_same_batch(one_switch):
    db = ovs.Ovsdb(f"unix:{one_switch[1]}/db.sock")
    db.start()
    try:
        db.snapshot()
        db.apply([ovs.AddBridge("br-new", "netdev", "secure", ("OpenFlow13",), {}),
                  ovs.AddPort("br-new", "p1", "internal", {}),
                  ovs.SetBridge("br-new", {"fail_mode": ["standalone"]})])
        snap = assert_current(db)
        assert snap.bridges["br-new"].ports == ("br-new", "p1")
        assert snap.bridges["br-new"].fail_mode == "standalone"
        with pytest.raises(NeutrinoError, match="no Port 'p1'"):
            db.apply([ovs.DelPort("br-new", "p1"), ovs.SetPort("p1", 3, {})])
        assert "p1" in assert_current(db).ports          # the failed batch changed nothing

        vsctl(one_switch, "del-port", "br-new", "p1")    # gone behind our back
        wait_for(lambda: "p1" not in db.snapshot().ports)
        with pytest.raises(NeutrinoError, match="no Port 'p1'"):
            db.apply([ovs.SetPort("p1", 3, {})])
        vsctl(one_switch, "add-port", "br-new", "p1")    # back, as a new row
        wait_for(lambda: "p1" in db.snapshot().ports)
        db.apply([ovs.SetPort("p1", 3, {"net_uuid": "n"})])
        assert assert_current(db).ports["p1"].tag == 3
    finally:
        db.stop()


def test_table_cache_converts_a_row_again_only_when_changed_or_replaced():
    converted = []

    def convert(row):
        converted.append(row["name"])
        return (row["name"],)

    cache = ovs._TableCache(convert)
    a, b = uuid.uuid4(), uuid.uuid4()
    row_a, row_b = {"name": "a"}, {"name": "b"}
    rows = {a: row_a, b: row_b}
    assert cache.values(rows) == {a.int: ("a",), b.int: ("b",)}
    assert cache.values(rows) == {a.int: ("a",), b.int: ("b",)}
    assert converted == ["a", "b"]                 # the second read converted nothing

    row_a["name"] = "a2"                           # changed in place, as the IDL does
    assert cache.values(rows)[a.int] == ("a",)     # unseen until notified...
    cache.dirty.add(a.int)
    assert cache.values(rows) == {a.int: ("a2",), b.int: ("b",)}
    assert converted == ["a", "b", "a2"]

    rows[b] = {"name": "b2"}                       # a new row object, same uuid (reconnect)
    del rows[a]
    assert cache.values(rows) == {b.int: ("b2",)}
    assert list(cache.values({a: row_a, **rows})) == [a.int, b.int]   # the IDL's order
    assert converted == ["a", "b", "a2", "b2", "a2"]


def test_the_idl_parses_json_in_c_when_the_system_has_the_parser():
    """scripts/setup.sh links Debian's C JSON parser into the venv's ``ovs``
    (PyPI's has none): the IDL parses every OVSDB update with it."""
    import glob
    import sysconfig

    import ovs.json
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if not glob.glob(f"/usr/lib/python3/dist-packages/ovs/_json{suffix}"):
        pytest.skip("no C JSON parser for this Python on the system")
    assert ovs.json.PARSER == ovs.json.PARSER_C
    parser = ovs.json.Parser()
    text = '{"method": "update", "params": [null, {"Port": {"u": {"new": {"tag": 5}}}}], "id": 1}'
    assert parser.feed(text) == len(text)
    assert parser.finish() == {"method": "update", "id": 1,
                               "params": [None, {"Port": {"u": {"new": {"tag": 5}}}}]}
