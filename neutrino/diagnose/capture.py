"""Packet capture at one hop of an instance's path (tcpdump -e -n inside the right
node or namespace).

Hops that are devices (tap, qbr, qvb, qvo, the qdhcp tap, qr-, qg-, br-ex,
em4) are captured directly. The VXLAN hop is the node's underlay NIC (eth1)
filtered on UDP 4789; tcpdump decodes the inner frame. A patch port has no
device on the userspace datapath, and a mirror selecting a patch port sees
nothing there (patch output never reaches the datapath), so the ``patch``
hop mirrors all of br-int to a temporary internal port (what ``ovs-tcpdump``
does) and keeps the 802.1Q-tagged frames: they carry the local VLAN exactly
as they cross patch-tun. The mirror and the port are removed afterwards.
"""
from __future__ import annotations

import secrets
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass

from neutrino.errors import NeutrinoError
from neutrino.lab import instances
from neutrino.lab import node as lab_node
from neutrino.lab.layout import Lab
from neutrino.lab.plug import VifNames
from neutrino.linux import ovs_daemons

HOPS = ("tap", "qbr", "qvb", "qvo", "patch", "vxlan", "qr", "qg", "br-ex", "em4")


@dataclass
class Where:
    node: str | None          # lab node; None for the instance's own namespace
    device: str
    netns: str | None = None  # a namespace inside the node (qrouter-, qdhcp-)
    bpf: str = ""
    instance: str | None = None


def tcpdump_argv(lab: Lab, where: Where, count: int | None, extra: list[str] = ()) -> list[str]:
    cmd = ["tcpdump", "-e", "-n", "-l", "-U", "-i", where.device]
    if count:
        cmd += ["-c", str(count)]
    cmd += list(extra)
    if where.bpf:
        cmd += where.bpf.split()
    if where.instance:
        return instances.exec_argv(lab, where.instance, cmd)
    if where.netns:
        cmd = ["ip", "netns", "exec", where.netns, *cmd]
    return lab_node.enter_argv(lab, where.node, cmd)


def _router_ns(lab: Lab, host: str = "controller") -> str | None:
    out = subprocess.run(lab_node.enter_argv(lab, host, ["ip", "netns", "list"]),
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if line.startswith("qrouter-"):
            return line.split()[0]
    return None


def _device_in(lab: Lab, host: str, netns: str, prefix: str) -> str | None:
    out = subprocess.run(lab_node.enter_argv(lab, host, ["ip", "-n", netns, "-o", "link"]),
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith(prefix):
            return name
    return None


def locate(lab: Lab, instance: str, hop: str) -> Where:
    if hop not in HOPS:
        raise NeutrinoError(f"--hop must be one of {', '.join(HOPS)}")
    inst = instances.load(lab, instance)
    names = VifNames.for_port(inst["port_id"])
    host = inst["host"]
    if hop in ("tap", "qbr", "qvb", "qvo"):
        return Where(host, getattr(names, hop))
    if hop == "patch":
        return Where(host, "patch-tun", bpf="vlan")
    if hop == "vxlan":
        return Where(host, "eth1", bpf="udp port 4789")
    if hop in ("qr", "qg"):
        ns = _router_ns(lab)
        dev = _device_in(lab, "controller", ns, hop + "-") if ns else None
        if not dev:
            raise NeutrinoError(f"lab {lab.name} has no router with a {hop}- port")
        return Where("controller", dev, netns=ns)
    return Where("controller", hop)


@contextmanager
def mirror(lab: Lab, node: str, port: str, bridge: str = "br-int"):
    """A temporary internal port of ``bridge`` receiving a copy of ``port``'s traffic."""
    name = "mi" + secrets.token_hex(4)
    rundir = lab.ovs_rundir(node)
    tport = [] if port == "*" else ["--", "--id=@t", "get", "Port", port]
    ovs_daemons.vsctl(rundir, "--", "add-port", bridge, name,
                      "--", "set", "Interface", name, "type=internal",
                      "--", "--id=@p", "get", "Port", name, *tport,
                      "--", "--id=@m", "create", "Mirror", f"name={name}",
                      *(["select-all=true"] if port == "*" else
                        [f"select-src-port=@t", "select-dst-port=@t"]),
                      "output-port=@p",
                      "--", "add", "Bridge", bridge, "mirrors", "@m")
    try:
        # A silent port: no IPv6 autoconfiguration noise in the capture.
        subprocess.run(lab_node.enter_argv(lab, node, [
            "sh", "-c", f"sysctl -qw net.ipv6.conf.{name}.disable_ipv6=1; "
                        f"ip link set {name} up"]), capture_output=True, timeout=10)
        yield name
    finally:
        ovs_daemons.vsctl(rundir, "--", "--id=@m", "get", "Mirror", name,
                          "--", "remove", "Bridge", bridge, "mirrors", "@m",
                          "--", "--if-exists", "del-port", bridge, name)


def capture(lab: Lab, instance: str, hop: str, count: int = 10, timeout: float = 10,
            out=None) -> int:
    """Print decoded packets at ``hop`` until ``count`` were seen or ``timeout`` passed."""
    where = locate(lab, instance, hop)

    def run(w: Where) -> int:
        argv = ["timeout", str(int(timeout)), *tcpdump_argv(lab, w, count)]
        res = subprocess.run(argv, text=True, stdout=out, stderr=subprocess.PIPE)
        if res.returncode not in (0, 124):
            raise NeutrinoError(f"tcpdump on {w.node}/{w.device}: "
                                f"{res.stderr.strip().splitlines()[-1:] or res.returncode}")
        return 0

    if hop == "patch":
        with mirror(lab, where.node, "*") as port:
            return run(Where(where.node, port, bpf=where.bpf))
    return run(where)
