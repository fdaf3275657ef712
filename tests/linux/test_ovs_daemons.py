import os
import secrets

import pytest

from neutrino.linux import ip, ovs_daemons, proc


@pytest.fixture
def ovs_ns(tmp_path):
    name = f"nt-ovs-{secrets.token_hex(3)}"
    rundir = str(tmp_path / "run")
    ip.netns_add(name)
    try:
        yield name, rundir, tmp_path
    finally:
        ovs_daemons.stop_ovs(rundir)
        ip.netns_delete(name)


@pytest.mark.dataplane
def test_start_use_and_stop(ovs_ns):
    name, rundir, tmp = ovs_ns
    db_pid, sw_pid = ovs_daemons.start_ovs(rundir, str(tmp / "db"), str(tmp / "log"),
                                           netns=name, manager="ptcp:6640:127.0.0.1")
    assert proc.pid_alive(db_pid) and proc.pid_alive(sw_pid)
    assert os.path.exists(tmp / "db" / "conf.db")
    ns_inode = os.stat(f"/run/netns/{name}").st_ino
    assert os.stat(f"/proc/{sw_pid}/ns/net").st_ino == ns_inode
    env = [f"OVS_RUNDIR={rundir}"]
    proc.run(["env", *env, "ovs-vsctl", "--timeout=5", "add-br", "br-nt", "--", "set",
              "bridge", "br-nt", "datapath_type=netdev"], netns=name)
    assert ip.link_exists("br-nt", netns=name)            # vswitchd runs in the netns
    assert not ip.link_exists("br-nt")
    show = proc.run(["env", *env, "ovs-vsctl", "--timeout=5", "show"], netns=name).out
    assert 'Manager "ptcp:6640:127.0.0.1"' in show
    assert ovs_daemons.ovs_pids(rundir) == {"ovsdb-server": db_pid, "ovs-vswitchd": sw_pid}

    ovs_daemons.stop_ovs(rundir)
    assert not proc.pid_alive(db_pid) and not proc.pid_alive(sw_pid)
    assert ovs_daemons.ovs_pids(rundir) == {"ovsdb-server": None, "ovs-vswitchd": None}

    # A restart keeps the database (the bridge survives).
    ovs_daemons.start_ovs(rundir, str(tmp / "db"), str(tmp / "log"), netns=name)
    br = proc.run(["env", *env, "ovs-vsctl", "--timeout=5", "list-br"], netns=name).out
    assert br.split() == ["br-nt"]


def test_stop_without_daemons_is_fine(tmp_path):
    ovs_daemons.stop_ovs(str(tmp_path / "nothing"))
