import os
import secrets
import subprocess
import time

import pytest

from neutrino.linux import ip, netns, proc


def test_enter_argv():
    assert netns.enter_argv(["ls"]) == ["ls"]
    assert netns.enter_argv(["ls"], net="/run/netns/a", mnt="/x/m", uts="/x/u") == \
        ["nsenter", "--net=/run/netns/a", "--mount=/x/m", "--uts=/x/u", "--", "ls"]


def test_ns_inode_only_for_namespaces(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("")
    assert netns.ns_inode(str(plain)) is None
    assert netns.ns_inode(str(tmp_path / "missing")) is None
    assert netns.ns_inode("/proc/self/ns/net") == os.stat("/proc/self/ns/net").st_ino


def test_pids_in_finds_by_env_tag(tmp_path):
    tag = f"NEUTRINO_TEST_TAG={secrets.token_hex(4)}"
    key, _, value = tag.partition("=")
    pid = proc.spawn(["sleep", "30"], env={key: value})
    other = proc.spawn(["sleep", "30"])
    try:
        found = netns.pids_in(env_tag=tag)
        assert pid in found and other not in found
    finally:
        proc.kill_and_wait(pid)
        proc.kill_and_wait(other)


@pytest.mark.dataplane
def test_mount_namespace_view_and_pids_by_inode(tmp_path):
    name = f"nt-mnt-{secrets.token_hex(3)}"
    holder = tmp_path / "ns"
    own_run = tmp_path / "run-netns"
    own_run.mkdir()
    mnt = str(holder / "node.mnt")
    uts = str(holder / "node.uts")
    pid = None
    ip.netns_add(name)
    try:
        netns.make_private_mount(str(holder))
        assert netns.is_mountpoint(str(holder))
        netns.mount_ns_create(mnt, name, "\n".join([
            "hostname view-test",
            "mount -t tmpfs -o mode=755 nt-run /run",
            "mkdir -p /run/netns",
            f"mount --bind {own_run} /run/netns",
            "umount -l /sys",
            "mount -t sysfs nt-sys /sys"]), uts_path=uts)
        mnt_inode = netns.ns_inode(mnt)
        assert mnt_inode and mnt_inode != os.stat("/proc/self/ns/mnt").st_ino
        enter = netns.enter_argv(["sh", "-c", "hostname; ls /sys/class/net; ls /run/netns"],
                                 net=f"/run/netns/{name}", mnt=mnt, uts=uts)
        out = subprocess.run(enter, capture_output=True, text=True).stdout.split()
        assert out == ["view-test", "lo"]           # the namespace's devices, its own /run
        assert os.uname().nodename != "view-test"

        # A namespace made inside the view is found by its inode from outside.
        subprocess.run(netns.enter_argv(["ip", "netns", "add", "inner"], mnt=mnt), check=True)
        inner = netns.netns_inodes_in_mount_ns(mnt)
        assert list(inner) == ["inner"]
        assert "inner" not in ip.netns_list()
        pid = proc.spawn(netns.enter_argv(["ip", "netns", "exec", "inner", "sleep", "30"],
                                          mnt=mnt))
        found = set()
        deadline = time.monotonic() + 5
        while pid not in found and time.monotonic() < deadline:
            time.sleep(0.02)                 # until `ip netns exec` has entered "inner"
            found = netns.pids_in(net_inodes=set(inner.values()))
        assert pid in found
    finally:
        if pid:
            proc.kill_and_wait(pid)
        for path in (mnt, uts):
            netns.umount(path)
        netns.umount(str(holder))
        ip.netns_delete(name)
    assert not netns.is_mountpoint(str(holder))
