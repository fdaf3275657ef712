"""The hybrid plug, done the way nova/os-vif does it on a compute node.

    instance eth0 =veth= tap<id11> -[qbr<id11>]- qvb<id11> =veth= qvo<id11> -[br-int]

qbr<id11>: Linux bridge, MAC ageing 0, IPv6 off, arp_ignore=1, arp_announce=2.
IPv6 is off on qvb, qvo and tap as well, from before they come up: a link-local
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

import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from neutrino.errors import NeutrinoError
from neutrino.lab.layout import Lab
from neutrino.linux import ip, ovs_daemons, ovsdb_transact

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
        _node_devices(names, ns, mtu, mac, instance_netns)
        _instance_side(instance_netns)
        try:
            _port_adder.add(rundir, ovsdb_transact.NewPort(names.qvo, {
                "iface-id": port_id, "iface-status": "active", "attached-mac": mac,
                "vm-uuid": vm_uuid}))
        except NeutrinoError as exc:
            if f"no bridge named {INTEGRATION_BRIDGE}" in str(exc):
                raise NeutrinoError(f"{node} has no {INTEGRATION_BRIDGE}: "
                                    "is its OVS agent running?") from None
            raise
    except NeutrinoError:
        unplug(lab, node, port_id)
        raise
    return names


class _PortAdder:
    """The qvo add-ports of plugs running at once, grouped per node: one
    thread per node writes every port queued meanwhile as one OVSDB
    transaction (each transaction makes ovs-vswitchd reconfigure every port
    of the node; 20 boots at once made ~80 reconfigurations per compute).
    It talks to the node's ovsdb-server from this process, as os-vif's
    native interface does, where an ``ovs-vsctl`` fork per batch waited for
    a core in a burst. A batch that fails is run again one port at a time, so
    each plug gets its own error. Like os-vif, the plug does not wait for
    ovs-vswitchd to apply it: the OVS agent sees the port when it is in the
    database and wires it once vswitchd gave it an ofport."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: dict[str, list[tuple[ovsdb_transact.NewPort, Future]]] = {}

    def add(self, rundir: str, port: ovsdb_transact.NewPort) -> None:
        done: Future = Future()
        with self._lock:
            first = rundir not in self._pending
            self._pending.setdefault(rundir, []).append((port, done))
        if first:
            threading.Thread(target=self._run, args=(rundir,), daemon=True,
                             name=f"add-port-{os.path.basename(os.path.dirname(rundir))}").start()
        done.result()

    def _run(self, rundir: str) -> None:
        sock = ovs_daemons.db_sock(rundir)
        while True:
            with self._lock:
                batch = self._pending.get(rundir) or []
                if not batch:
                    self._pending.pop(rundir, None)
                    return
                self._pending[rundir] = []
            try:
                ovsdb_transact.add_ports(sock, INTEGRATION_BRIDGE, [port for port, _ in batch])
            except NeutrinoError as exc:
                if len(batch) == 1:
                    batch[0][1].set_exception(exc)
                    continue
                for port, done in batch:
                    try:
                        ovsdb_transact.add_ports(sock, INTEGRATION_BRIDGE, [port])
                    except NeutrinoError as one:
                        done.set_exception(one)
                    else:
                        done.set_result(None)
                continue
            except Exception as exc:          # a plug must not wait forever
                for _, done in batch:
                    done.set_exception(NeutrinoError(f"add-port on {rundir}: {exc}"))
                continue
            for _, done in batch:
                done.set_result(None)


_port_adder = _PortAdder()


def _node_devices(names: VifNames, ns: str, mtu: int, mac: str, instance_netns: str) -> None:
    """qbr, qvb/qvo and tap (its peer eth0 made in the instance with the
    port's MAC), all up but eth0: one ``ip -batch`` (a fork, where a shell
    running iproute2 took eight: 20 boots at once spent ~0.4 s of CPU on
    them), then the sysctls from this process's thread in the node, without
    a fork. IPv6 is off on the node's new devices from birth (the lab node's
    default, lab/node.py); it is written here again for each, with qbr's ARP
    settings. (Done by netlink in this process instead, a boot's dozen
    requests each queued for its interpreter lock behind the other boots'
    threads: 20 boots at once spent ~1 s each in the plug.)"""
    mtu = int(mtu)
    try:
        ip.batch([
            f"link add {names.qbr} type bridge ageing_time 0",
            f"link add {names.qvb} mtu {mtu} type veth peer name {names.qvo} mtu {mtu}",
            f"link add {names.tap} mtu {mtu} type veth peer name eth0 netns {instance_netns}"
            f" address {mac} mtu {mtu}",
            f"link set {names.qbr} up",
            f"link set {names.qvb} master {names.qbr} up",
            f"link set {names.qvo} up",
            f"link set {names.tap} master {names.qbr} up",
        ], netns=ns)
        ip.sysctls({**{f"net/ipv6/conf/{dev}/disable_ipv6": 1
                       for dev in (names.qbr, names.qvb, names.qvo, names.tap)},
                    f"net/ipv4/conf/{names.qbr}/arp_ignore": 1,
                    f"net/ipv4/conf/{names.qbr}/arp_announce": 2}, netns=ns)
    except NeutrinoError as exc:
        raise NeutrinoError(f"hybrid plug of {names.tap} in {ns}: {exc}") from None


def _instance_side(instance_netns: str) -> None:
    """eth0 as libvirt leaves the guest's NIC: tx checksum offload off, up,
    from this process's thread in the instance (no fork). Its IPv6 is off:
    with a link-local address its first packets (duplicate address
    detection, router solicitation) met the port while it was still in the
    dead VLAN, and the datapath's cached drop could then eat the DHCPDISCOVER
    sent right after the port turned ACTIVE (the first boot on a new network
    waited a 1 s retry). Up only when the DHCP client starts, its carrier
    reached qbr after the DHCP exchange had begun (the kernel handles carrier
    changes late in a burst) and qbr dropped the first packets."""
    ip.tx_offload_off("eth0", netns=instance_netns)
    ip.sysctls({"net/ipv6/conf/eth0/disable_ipv6": 1}, netns=instance_netns)
    ip.set_up("eth0", netns=instance_netns)


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
