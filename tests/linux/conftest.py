"""Fixtures shared by the tests of neutrino.linux."""
import secrets
import shutil
import tempfile

import pytest

from neutrino.linux import ovs_daemons, proc


@pytest.fixture
def one_switch():
    """A private ovsdb-server + ovs-vswitchd in a namespace: (netns, rundir)."""
    tmp = tempfile.mkdtemp(prefix="nt-ovsdb-")
    ns = f"nt-ovsdb-{secrets.token_hex(3)}"
    rundir = f"{tmp}/run"
    try:
        proc.run(["ip", "netns", "add", ns])
        ovs_daemons.start_ovs(rundir, f"{tmp}/db", f"{tmp}/log", netns=ns)
        yield ns, rundir
    finally:
        ovs_daemons.stop_ovs(rundir)
        proc.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
