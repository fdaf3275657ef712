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

from neutrino.errors import NeutrinoError
from neutrino.lab import services, vif_events
from neutrino.lab.layout import LABS_DIR, STATE_TMPFS, Lab, lab_name_of_netns
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
    vif_events.EVENTS.stop(lab.transport_url)     # this process's listener on its bus
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
    if os.path.islink(lab.registry_link) and os.path.realpath(lab.registry_link) == lab.state_dir:
        os.unlink(lab.registry_link)
    _remove_state(lab, say)
    _remove_empty_parents()


# What a lab writes in its state directory. Only these are removed, so a
# --state-dir pointing at a directory with other files in it loses nothing else.
STATE_ENTRIES = ("lab.json*", "pids.json*", "faults.json*", "redis.sock", "clouds.yaml",
                 "udhcpc.script*", "neutrino.db*", "dump.rdb", "log", "ns", "nodes", "server",
                 "instances", "auth")


def _remove_state(lab: Lab, say) -> None:
    for pattern in STATE_ENTRIES:
        for path in glob.glob(lab.path(pattern)):
            if netns.mounts_under(path):
                raise NeutrinoError(f"{path} still has mounts; not removing it")
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    if netns.mount_source(lab.state_dir) == ("tmpfs", STATE_TMPFS):
        if os.listdir(lab.state_dir):
            say(f"note: {lab.state_dir} holds files the lab did not make; its tmpfs is "
                "left mounted")
            return
        netns.umount(lab.state_dir)
    try:
        os.rmdir(lab.state_dir)
    except FileNotFoundError:
        pass
    except OSError:
        say(f"note: {lab.state_dir} holds files the lab did not make; left in place")


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
