"""``lab down``: remove every process, namespace, mount and file of a lab.

It trusts nothing the lab recorded about processes (they may have been
killed with -9, or pids reused): it looks the lab's namespaces up by name,
takes their inodes, and ends every process living in one of them (network
namespaces of nodes, of instances, and of the namespaces made inside nodes
such as qdhcp-*; the nodes' mount namespaces), plus every process carrying
the lab's tag in its environment (redis, server, agents).
"""
from __future__ import annotations

import glob
import os
import shutil
import signal

from neutrino.lab import services
from neutrino.lab.layout import LABS_DIR, Lab, lab_name_of_netns
from neutrino.linux import ip, netns, proc

TERM_GRACE = 3.0


def lab_netns(lab: Lab) -> list[str]:
    return [n for n in ip.netns_list() if n.startswith(lab.netns_prefix)]


def _ns_files(lab: Lab) -> list[str]:
    return sorted(glob.glob(lab.path("ns", "*.mnt")) + glob.glob(lab.path("ns", "*.uts")))


def lab_pids(lab: Lab) -> set[int]:
    """Every process that belongs to ``lab``."""
    net_inodes: set[int] = set()
    for name in lab_netns(lab):
        inode = netns.ns_inode(f"{ip.NETNS_DIR}/{name}")
        if inode:
            net_inodes.add(inode)
    mnt_inodes: set[int] = set()
    for path in glob.glob(lab.path("ns", "*.mnt")):
        inode = netns.ns_inode(path)
        if inode:
            mnt_inodes.add(inode)
            net_inodes.update(netns.netns_inodes_in_mount_ns(path).values())
    found = netns.pids_in(net_inodes, mnt_inodes, env_tag=lab.env_tag)
    return found | _recorded_pids(lab)


def _recorded_pids(lab: Lab, want=lambda key: True) -> set[int]:
    """Pids in pids.json that still run a command naming the state directory
    (redis rewrites its environment when it sets its title, so the tag alone
    does not find it)."""
    mark = (lab.state_dir.rstrip("/") + "/").encode()
    found = set()
    for key, pid in services.read_pids(lab).items():
        if not want(key):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if mark in f.read():
                    found.add(pid)
        except (OSError, TypeError):
            continue
    return found


def kill_all(pids: set[int], grace: float = TERM_GRACE) -> None:
    """SIGTERM everyone at once, then SIGKILL whoever outlives ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in pids if proc.pid_alive(p)]
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        for pid in alive:
            proc.wait_exit(pid, grace if sig == signal.SIGTERM else 2.0)
        grace = 0


def down(lab: Lab, say=lambda text: None) -> None:
    """Tear ``lab`` down completely; safe to repeat and after any crash."""
    # Agents first, while the transport and OVS are still there: they then
    # stop in a fraction of a second instead of retrying a vanished broker.
    agents = _recorded_pids(lab, lambda key: key.startswith("agent-"))
    if agents:
        say(f"stopping {len(agents)} agents")
        kill_all(agents)
    # Namespaces made inside nodes after a kill -9 may hold processes that
    # were started after the first scan (an agent restarting dnsmasq), so
    # scan again until nothing is left.
    for _ in range(3):
        pids = lab_pids(lab)
        if not pids:
            break
        say(f"stopping {len(pids)} processes")
        kill_all(pids)
    for path in _ns_files(lab):
        netns.umount(path)
    for name in lab_netns(lab):
        ip.netns_delete(name)
    netns.umount(lab.path("ns"))
    for path in glob.glob(lab.path("nodes", "*", "netns")):
        # Entries here were nsfs bind mounts inside a node's (now gone) view.
        netns.umount(path)
    if os.path.islink(lab.registry_link) or (
            os.path.isdir(lab.registry_link)
            and os.path.realpath(lab.registry_link) == lab.state_dir):
        _remove(lab.registry_link)
    _remove(lab.state_dir)
    _remove_empty_parents()


def _remove(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        if any(netns.is_mountpoint(m) for m in _mounts_under(path)):
            raise_msg = f"{path} still has mounts; not removing it"
            from neutrino.errors import NeutrinoError
            raise NeutrinoError(raise_msg)
        shutil.rmtree(path)


def _mounts_under(path: str) -> list[str]:
    real = os.path.realpath(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if (line.split()[4] + "/").startswith(real)]


def _remove_empty_parents() -> None:
    for path in (LABS_DIR, os.path.dirname(LABS_DIR)):
        try:
            os.rmdir(path)
        except OSError:
            return


def known_labs() -> set[str]:
    """Names of labs with a state directory or with namespaces left on the machine."""
    names = set()
    if os.path.isdir(LABS_DIR):
        names.update(os.listdir(LABS_DIR))
    for name in ip.netns_list():
        owner = lab_name_of_netns(name)
        if owner:
            names.add(owner)
    return names
