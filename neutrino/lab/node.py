"""One lab node: a network namespace with a private mount (and UTS) view,
its own OVS daemons, and a tunnel NIC on the lab underlay.

Every step checks what is there first, so bringing up a node that already
runs does nothing, and a half-built node is completed.
"""
from __future__ import annotations

import os
import shlex

from neutrino.lab.layout import (EXTERNAL_BRIDGE, TUNNEL_BRIDGE, TUNNEL_NIC, UNDERLAY_BRIDGE,
                                 UNDERLAY_CIDR, Lab, tunnel_ip)
from neutrino.linux import ip, netns, ovs_daemons

OVSDB_MANAGER = "ptcp:6640:127.0.0.1"
UNDERLAY_MTU = 1500
# A node is an IPv4 host: without IPv6, new devices bring no address
# autoconfiguration and route churn that ovs-vswitchd reacts to by
# revalidating; with arp_ignore=1 only br-phy (which holds the tunnel IP)
# answers ARP for it, never eth1, the OVS port beneath it.
NODE_SYSCTLS = {"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1,
                "net.ipv4.conf.all.arp_ignore": 1}


def ensure_underlay(lab: Lab) -> None:
    """The namespace holding the Linux bridge that joins every node's eth1."""
    name = lab.underlay_netns
    if not ip.netns_exists(name):
        ip.netns_add(name)
    if not ip.link_exists(UNDERLAY_BRIDGE, netns=name):
        ip.bridge_add(UNDERLAY_BRIDGE, netns=name)
    ip.link_set(UNDERLAY_BRIDGE, netns=name, up=True)


def _view_script(lab: Lab, node: str) -> str:
    """sh run inside the node's new mount/UTS namespaces to give it a private view."""
    q = shlex.quote
    return "\n".join([
        f"hostname {q(node)}",
        f"mount -t tmpfs -o mode=755 {q(lab.netns(node) + '-run')} /run",
        "mkdir -p /run/netns /run/openvswitch /run/lock",
        f"mount --bind {q(lab.node_dir(node, 'netns'))} /run/netns",
        f"mount --bind {q(lab.ovs_rundir(node))} /run/openvswitch",
        "umount -l /sys",
        f"mount -t sysfs {q(lab.netns(node) + '-sys')} /sys",
    ])


def uts_file(lab: Lab, node: str) -> str:
    return lab.path("ns", f"{node}.uts")


def ensure_node(lab: Lab, node: str) -> dict:
    """Build (or complete) ``node``; return {"ovsdb-server": pid, "ovs-vswitchd": pid}."""
    for sub in ("netns", "ovs-run", "ovs-db", "log", "agent"):
        os.makedirs(lab.node_dir(node, sub), exist_ok=True)
    name = lab.netns(node)
    if not ip.netns_exists(name):
        ip.netns_add(name)
        ip.sysctls(NODE_SYSCTLS, netns=name)
    if netns.ns_inode(lab.mnt_file(node)) is None:
        netns.mount_ns_create(lab.mnt_file(node), name, _view_script(lab, node),
                              uts_path=uts_file(lab, node))
    _ensure_underlay_link(lab, node)
    rundir = lab.ovs_rundir(node)
    pids = ovs_daemons.ovs_pids(rundir)
    if not all(pids.values()):
        ovs_daemons.stop_ovs(rundir)
        db_pid, sw_pid = ovs_daemons.start_ovs(rundir, lab.node_dir(node, "ovs-db"),
                                               lab.node_dir(node, "log"), netns=name,
                                               manager=OVSDB_MANAGER)
        pids = {"ovsdb-server": db_pid, "ovs-vswitchd": sw_pid}
    _ensure_bridges(lab, node)
    return pids


def _ensure_underlay_link(lab: Lab, node: str) -> None:
    name, under = lab.netns(node), lab.underlay_netns
    if ip.link_exists(TUNNEL_NIC, netns=name):
        return
    ip.link_delete(node, netns=under)      # a half-made pair from an earlier attempt
    ip.veth_add(node, TUNNEL_NIC, netns=under, peer_netns=name, mtu=UNDERLAY_MTU)
    ip.link_set(node, netns=under, master=UNDERLAY_BRIDGE, up=True)
    ip.link_set(TUNNEL_NIC, netns=name, up=True)
    # lab-facts: veth ends feeding the userspace datapath need tx offload off.
    ip.tx_offload_off(node, netns=under)
    ip.tx_offload_off(TUNNEL_NIC, netns=name)


def _ensure_bridges(lab: Lab, node: str) -> None:
    """br-phy holding eth1 and the tunnel IP; br-ex on the controller."""
    args = ["--", "--may-exist", "add-br", TUNNEL_BRIDGE,
            "--", "set", "Bridge", TUNNEL_BRIDGE, "datapath_type=netdev",
            "--", "--may-exist", "add-port", TUNNEL_BRIDGE, TUNNEL_NIC]
    if node == "controller":
        args += ["--", "--may-exist", "add-br", EXTERNAL_BRIDGE,
                 "--", "set", "Bridge", EXTERNAL_BRIDGE, "datapath_type=netdev"]
    ovs_daemons.vsctl(lab.ovs_rundir(node), *args)
    name = lab.netns(node)
    ip.link_set(TUNNEL_BRIDGE, netns=name, up=True, mtu=UNDERLAY_MTU)
    ip.addr_add(TUNNEL_BRIDGE, f"{tunnel_ip(node)}/{UNDERLAY_CIDR.prefixlen}", netns=name)
    if node == "controller":
        ip.link_set(EXTERNAL_BRIDGE, netns=name, up=True)


def enter_argv(lab: Lab, node: str, cmd: list[str]) -> list[str]:
    """``cmd`` run inside ``node`` (network, mount and UTS namespaces)."""
    return netns.enter_argv(cmd, net=f"{ip.NETNS_DIR}/{lab.netns(node)}",
                            mnt=lab.mnt_file(node), uts=uts_file(lab, node))


def node_alive(lab: Lab, node: str) -> bool:
    return ip.netns_exists(lab.netns(node)) and netns.ns_inode(lab.mnt_file(node)) is not None


def exec_argv(lab: Lab, node: str, cmd: list[str]) -> list[str]:
    """``cmd`` run on ``node``; a lab namespace that is not a node (such as
    ``upstream``, issue 4) is entered by its network namespace only."""
    if node_alive(lab, node):
        return enter_argv(lab, node, cmd)
    extra = lab.netns(node)
    if node not in ("underlay",) and not node.startswith("vm-") and ip.netns_exists(extra):
        return netns.enter_argv(cmd, net=f"{ip.NETNS_DIR}/{extra}")
    from neutrino.errors import NeutrinoError
    raise NeutrinoError(f"lab {lab.name} has no node {node!r}")
