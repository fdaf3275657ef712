"""The hybrid plug, done the way nova/os-vif does it on a compute node.

    instance eth0 =veth= tap<id11> -[qbr<id11>]- qvb<id11> =veth= qvo<id11> -[br-int]

qbr<id11>: Linux bridge, MAC ageing 0, IPv6 off, arp_ignore=1, arp_announce=2.
IPv6 is off on qvb, qvo and tap as well, set before they come up: a link-local
address on them would end its duplicate address detection a second later
with new routes in the compute node, and the node's ovs-vswitchd answers each
route change by reloading its routing table and revalidating every datapath
flow (four devices a boot: a burst of boots kept it busy, beside the traffic
of the instances already running).
qvb/qvo carry the network MTU; qvo goes on br-int with the Interface
external_ids Nova sets (iface-id, iface-status, attached-mac, vm-uuid), which
is what the OVS agent looks for. The instance side (eth0 with the port's MAC,
tx checksum offload off) is what libvirt would make of the tap.
"""
from __future__ import annotations

from dataclasses import dataclass

from neutrino.errors import NeutrinoError
from neutrino.lab.layout import Lab
from neutrino.linux import ip, ovs_daemons

INTEGRATION_BRIDGE = "br-int"
DEV_LEN = 14


@dataclass(frozen=True)
class VifNames:
    tap: str
    qbr: str
    qvb: str
    qvo: str

    @classmethod
    def for_port(cls, port_id: str) -> "VifNames":
        return cls(*((prefix + port_id)[:DEV_LEN] for prefix in ("tap", "qbr", "qvb", "qvo")))


def plug(lab: Lab, node: str, port_id: str, mac: str, mtu: int, vm_uuid: str,
         instance_netns: str) -> VifNames:
    """Wire port ``port_id`` of the instance in ``instance_netns`` on ``node``."""
    ns = lab.netns(node)
    rundir = lab.ovs_rundir(node)
    names = VifNames.for_port(port_id)
    try:
        ip.bridge_add(names.qbr, netns=ns, ageing_time=0)
        ip.veth_add(names.qvb, names.qvo, netns=ns, mtu=mtu)
        ip.veth_add("eth0", names.tap, netns=instance_netns, peer_netns=ns)
        ip.sysctls({**{f"net.ipv6.conf.{dev}.disable_ipv6": 1
                       for dev in (names.qbr, names.qvb, names.qvo, names.tap)},
                    f"net.ipv4.conf.{names.qbr}.arp_ignore": 1,
                    f"net.ipv4.conf.{names.qbr}.arp_announce": 2}, netns=ns)
        ip.link_set(names.qbr, netns=ns, up=True)
        ip.link_set(names.qvb, netns=ns, master=names.qbr, up=True)
        ip.link_set(names.qvo, netns=ns, up=True)
        ip.link_set(names.tap, netns=ns, mtu=mtu, master=names.qbr, up=True)
        ip.link_set("eth0", netns=instance_netns, mac=mac, up=True)
        ip.tx_offload_off("eth0", netns=instance_netns)
        try:
            ovs_daemons.vsctl(
                rundir, "--", "--may-exist", "add-port", INTEGRATION_BRIDGE, names.qvo,
                "--", "set", "Interface", names.qvo,
                f"external_ids:iface-id={port_id}", "external_ids:iface-status=active",
                f"external_ids:attached-mac={mac}", f"external_ids:vm-uuid={vm_uuid}")
        except NeutrinoError as exc:
            if f"no bridge named {INTEGRATION_BRIDGE}" in str(exc):
                raise NeutrinoError(f"{node} has no {INTEGRATION_BRIDGE}: "
                                    "is its OVS agent running?") from None
            raise
    except NeutrinoError:
        unplug(lab, node, port_id)
        raise
    return names


def unplug(lab: Lab, node: str, port_id: str) -> None:
    """Remove every device of the port's hybrid plug on ``node``; missing ones are fine."""
    ns = lab.netns(node)
    names = VifNames.for_port(port_id)
    if ip.netns_exists(ns):
        try:
            ovs_daemons.vsctl(lab.ovs_rundir(node), "--if-exists", "del-port",
                              INTEGRATION_BRIDGE, names.qvo)
        except NeutrinoError:
            pass                       # OVS down: the port row goes with the node
        for dev in (names.tap, names.qvb, names.qvo, names.qbr):
            ip.link_delete(dev, netns=ns)
