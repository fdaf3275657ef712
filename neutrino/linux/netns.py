"""Namespaces beyond netlink: persistent mount namespaces, entering, finding.

A lab node is a network namespace plus a persistent mount namespace (a file
bind-mounted to ``/proc/PID/ns/mnt`` by ``unshare --mount=FILE``). The mount
namespace gives the node its own ``/run`` (with ``/run/netns`` and
``/run/openvswitch`` bound from the node's directories) and a ``/sys``
mounted for the node's network namespace, so tools run there see the node only.
"""
from __future__ import annotations

import os

from neutrino.errors import NeutrinoError
from neutrino.linux import proc


def ns_inode(path: str) -> int | None:
    """Inode of the namespace bound at ``path`` (a /run/netns entry, a mnt file),
    None when ``path`` is missing or is a plain file (namespace gone)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino if st.st_dev == os.stat("/proc/self/ns/net").st_dev else None


def is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(_unescape(line.split()[4]) == real for line in f)


def _unescape(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n") \
        .replace("\\134", "\\")


def mounts_under(path: str) -> list[str]:
    """Mount points at or below ``path``."""
    real = os.path.realpath(path).rstrip("/")
    with open("/proc/self/mountinfo") as f:
        points = [_unescape(line.split()[4]) for line in f]
    return [m for m in points if m == real or m.startswith(real + "/")]


def make_private_mount(path: str) -> None:
    """Make ``path`` a private bind mount of itself (needed to hold mnt ns files)."""
    os.makedirs(path, exist_ok=True)
    if not is_mountpoint(path):
        proc.run(["mount", "--bind", path, path])
    proc.run(["mount", "--make-private", path])


def mount_source(path: str) -> tuple[str, str] | None:
    """(filesystem type, source) of the mount at ``path``, None when none is there."""
    real = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields, _, rest = line.partition(" - ")
            if _unescape(fields.split()[4]) == real:
                fstype, source = rest.split()[:2]
                found = (fstype, _unescape(source))      # the last one stacked wins
    return found


def mount_tmpfs(path: str, source: str) -> None:
    """A fresh tmpfs on the directory ``path``; ``source`` names it in mountinfo."""
    proc.run(["mount", "-t", "tmpfs", "-o", "mode=0755", source, path])


def umount(path: str) -> None:
    """Lazily unmount ``path`` and every mount stacked on it; absent is fine."""
    while is_mountpoint(path):
        proc.run(["umount", "-l", path])


def mount_ns_create(path: str, netns: str | None, script: str,
                    uts_path: str | None = None) -> None:
    """Create a persistent private mount namespace at ``path``, prepared by ``script``.

    ``script`` (sh) runs inside the new mount namespace and inside ``netns``,
    so a sysfs it mounts shows that network namespace. With ``uts_path`` a
    persistent UTS namespace is made too (for the node's hostname). The
    directory holding the files must be a private mount (make_private_mount).
    """
    cmd = ["unshare", f"--mount={path}", "--propagation", "private"]
    open(path, "a").close()
    if uts_path:
        open(uts_path, "a").close()
        cmd.append(f"--uts={uts_path}")
    try:
        proc.run([*cmd, "--", "sh", "-ec", script], netns=netns)
    except NeutrinoError:
        umount(path)
        if uts_path:
            umount(uts_path)
        raise


def enter_argv(cmd: list[str], net: str | None = None, mnt: str | None = None,
               uts: str | None = None) -> list[str]:
    """``cmd`` prefixed to run in the namespaces at paths ``net``, ``mnt``, ``uts``."""
    pre = ["nsenter"]
    if net:
        pre.append(f"--net={net}")
    if mnt:
        pre.append(f"--mount={mnt}")
    if uts:
        pre.append(f"--uts={uts}")
    return [*pre, "--", *cmd] if len(pre) > 1 else list(cmd)


def netns_inodes_in_mount_ns(mnt: str) -> dict[str, int]:
    """Network namespaces listed in /run/netns as seen inside mount namespace ``mnt``."""
    script = 'for f in /run/netns/*; do [ -e "$f" ] && stat -L -c "%i %n" "$f"; done; true'
    res = proc.run(["nsenter", f"--mount={mnt}", "--", "sh", "-c", script], check=False)
    found = {}
    for line in res.out.splitlines():
        inode, _, name = line.partition(" ")
        if inode.isdigit():
            found[os.path.basename(name)] = int(inode)
    return found


def pids_in(net_inodes: set[int] = frozenset(), mnt_inodes: set[int] = frozenset(),
            env_tag: str | None = None) -> set[int]:
    """Pids whose network or mount namespace is one of the given inodes, or
    whose environment holds ``env_tag`` (a ``KEY=value`` string)."""
    me = os.getpid()
    tag = env_tag.encode() if env_tag else None
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            if net_inodes and os.stat(f"/proc/{pid}/ns/net").st_ino in net_inodes:
                found.add(pid)
                continue
            if mnt_inodes and os.stat(f"/proc/{pid}/ns/mnt").st_ino in mnt_inodes:
                found.add(pid)
                continue
            if tag:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if tag in f.read().split(b"\0"):
                        found.add(pid)
        except OSError:
            continue
    return found
