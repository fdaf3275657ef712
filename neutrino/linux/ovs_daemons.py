"""Starting and stopping one private ovsdb-server + ovs-vswitchd pair.

Each lab node (and each data-plane test) runs its own pair with its own run,
database and log directories. ``OVS_RUNDIR`` must be set for both daemons and
for ``ovs-appctl`` (lab-facts), so every call here passes the directories in
the environment. Both daemons use ``--detach``: the command returns once the
daemon is ready (ovsdb-server listening, ovs-vswitchd configured from the
database), which is the readiness signal, with no polling.
"""
from __future__ import annotations

import os

from neutrino.errors import NeutrinoError
from neutrino.linux import proc

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
START_TIMEOUT = 20


def ovs_env(rundir: str, dbdir: str | None = None, logdir: str | None = None) -> dict:
    """Environment for OVS tools talking to the daemons of ``rundir``."""
    env = {"OVS_RUNDIR": rundir}
    if dbdir:
        env["OVS_DBDIR"] = dbdir
    if logdir:
        env["OVS_LOGDIR"] = logdir
    return env


def db_sock(rundir: str) -> str:
    return os.path.join(rundir, "db.sock")


def _run(cmd, env, netns, timeout=START_TIMEOUT):
    return proc.run(["env", *(f"{k}={v}" for k, v in env.items()), *cmd],
                    netns=netns, timeout=timeout)


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


# ovs-ctl starts both daemons at nice -10 (--ovsdb-server-priority,
# --ovs-vswitchd-priority): the switch goes before the work that feeds it.
NICE = ("nice", "-n", "-10")


def start_ovs(rundir: str, dbdir: str, logdir: str, netns: str | None = None,
              *, manager: str | None = None) -> tuple[int, int]:
    """Start ovsdb-server and ovs-vswitchd; return (ovsdb_pid, vswitchd_pid).

    The database ``dbdir/conf.db`` is created from the installed schema when
    absent. ``manager`` (e.g. "ptcp:6640:127.0.0.1") is set as the OVSDB
    manager. Raises NeutrinoError when a daemon does not come up.
    """
    for d in (rundir, dbdir, logdir):
        os.makedirs(d, exist_ok=True)
    env = ovs_env(rundir, dbdir, logdir)
    conf = os.path.join(dbdir, "conf.db")
    if not os.path.exists(conf):
        proc.run(["ovsdb-tool", "create", conf, SCHEMA])
    sock = db_sock(rundir)
    _run([*NICE, "ovsdb-server", conf, f"--remote=punix:{sock}",
          "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
          f"--pidfile={rundir}/ovsdb-server.pid",
          f"--log-file={logdir}/ovsdb-server.log", "--detach", "--no-chdir"], env, netns)
    ovsdb_pid = _read_pid(f"{rundir}/ovsdb-server.pid")
    init = ["ovs-vsctl", f"--db=unix:{sock}", "--no-wait", "--timeout=10", "init"]
    if manager:
        init += ["--", "set-manager", manager]
    try:
        _run(init, env, netns)
        _run([*NICE, "ovs-vswitchd", f"unix:{sock}",
              f"--pidfile={rundir}/ovs-vswitchd.pid",
              f"--log-file={logdir}/ovs-vswitchd.log", "--detach", "--no-chdir"], env, netns)
        vswitchd_pid = _read_pid(f"{rundir}/ovs-vswitchd.pid")
        _run(["ovs-appctl", "-t", "ovs-vswitchd", "version"], env, netns,
             timeout=10)
    except NeutrinoError:
        stop_ovs(rundir)
        raise
    if not ovsdb_pid or not vswitchd_pid:
        stop_ovs(rundir)
        raise NeutrinoError(f"OVS daemons in {rundir} did not write their pid files")
    return ovsdb_pid, vswitchd_pid


def ovs_pids(rundir: str) -> dict[str, int | None]:
    """Pids from the pid files of ``rundir`` (None when absent or dead)."""
    out = {}
    for name in ("ovsdb-server", "ovs-vswitchd"):
        pid = _read_pid(f"{rundir}/{name}.pid")
        out[name] = pid if pid and proc.pid_alive(pid) else None
    return out


def stop_ovs(rundir: str) -> None:
    """Stop the daemons of ``rundir`` (vswitchd first); missing ones are fine."""
    for name in ("ovs-vswitchd", "ovsdb-server"):
        pid = _read_pid(f"{rundir}/{name}.pid")
        if pid and _is_ovs(pid, name):
            proc.kill_and_wait(pid)
        for leftover in (f"{name}.pid", f"{name}.{pid}.ctl"):
            try:
                os.unlink(os.path.join(rundir, leftover))
            except FileNotFoundError:
                pass


def _is_ovs(pid: int, name: str) -> bool:
    """Guard against a stale pid file pointing at a recycled pid."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == name[:15]
    except OSError:
        return False


def vsctl(rundir: str, *args: str, timeout: int = 30, wait: bool = True) -> str:
    """Run ``ovs-vsctl`` against the database of ``rundir``; return its output.

    With ``wait`` (the default) it returns once ovs-vswitchd applied the change.
    """
    cmd = ["ovs-vsctl", f"--db=unix:{db_sock(rundir)}", f"--timeout={timeout}"]
    if not wait:
        cmd.append("--no-wait")
    return proc.run([*cmd, *args], timeout=timeout + 5).out
