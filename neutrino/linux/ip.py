"""Links, addresses, routes and network namespaces through netlink (pyroute2).

One IPRoute socket is kept per namespace, so hot paths never fork ``ip``.
``netns=None`` means the namespace this process runs in; any other value is a
name in the current ``/run/netns`` view. Failures raise NeutrinoError with the
device and namespace in the message.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import functools
import inspect
import ipaddress
import os
import threading

from neutrino.errors import NeutrinoError
from neutrino.linux import proc

NETNS_DIR = proc.NETNS_DIR

_sockets: dict = {}
_ns_locks: dict = {}
_registry = threading.Lock()


def _pyroute2():
    """pyroute2 takes 0.2 s to import: load it on first use only, so commands
    that never touch netlink (``lab exec``) start fast."""
    import pyroute2.netlink.exceptions
    import pyroute2.netns
    return pyroute2


def _netlink_error():
    return _pyroute2().netlink.exceptions.NetlinkError


def _ns_lock(netns: str | None) -> threading.RLock:
    with _registry:
        lock = _ns_locks.get(netns)
        if lock is None:
            lock = _ns_locks[netns] = threading.RLock()
        return lock


def _locked(fn):
    """One call at a time per namespace: a pyroute2 socket is not safe to share
    between threads, but different namespaces (instances being plugged in
    parallel) do not wait for each other."""
    params = list(inspect.signature(fn).parameters)
    position = params.index("netns") if "netns" in params else None

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if "netns" in kwargs:
            netns = kwargs["netns"]
        elif position is not None and position < len(args):
            netns = args[position]
        else:
            netns = None
        with _ns_lock(netns):
            return fn(*args, **kwargs)
    return wrapper


def _where(netns: str | None) -> str:
    return f" in netns {netns}" if netns else ""


def _ipr(netns: str | None):
    """The socket of ``netns``; the caller holds that namespace's lock."""
    sock = _sockets.get(netns)
    if sock is None:
        if netns is not None and not netns_exists(netns):
            raise NeutrinoError(f"no network namespace {netns!r}")
        # flags=0: never let pyroute2 create a missing namespace.
        iproute = _pyroute2().IPRoute
        sock = iproute(netns=netns, flags=0) if netns else iproute()
        _sockets[netns] = sock
    return sock


def _forget(netns: str | None) -> None:
    with _ns_lock(netns):
        sock = _sockets.pop(netns, None)
        if sock is not None:
            sock.close()


def _index(name: str, netns: str | None) -> int:
    found = _ipr(netns).link_lookup(ifname=name)
    if not found:
        raise NeutrinoError(f"no device {name!r}{_where(netns)}")
    return found[0]


def _call(what: str, netns: str | None, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except _netlink_error() as exc:
        raise NeutrinoError(f"{what}{_where(netns)}: {os.strerror(exc.code)}") from None


# -- namespaces ---------------------------------------------------------------

def netns_list() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def netns_exists(name: str) -> bool:
    return os.path.exists(f"{NETNS_DIR}/{name}")


def netns_add(name: str) -> None:
    """Create network namespace ``name`` (an error if it exists)."""
    _check_name(name)
    if netns_exists(name):
        raise NeutrinoError(f"network namespace {name!r} exists")
    try:
        _pyroute2().netns.create(f"{NETNS_DIR}/{name}")
    except OSError as exc:
        raise NeutrinoError(f"netns add {name}: {exc}") from None
    # A new namespace starts with lo down; everything expects it up.
    link_set("lo", netns=name, up=True)


def netns_delete(name: str) -> None:
    """Remove ``name``; devices in it die with it once no process holds it.

    Done with umount2 + unlink directly: no pyroute2 import for a clean-up.
    """
    _check_name(name)
    _forget(name)
    path = f"{NETNS_DIR}/{name}"
    if not os.path.exists(path):
        return
    libc = _libc()
    if libc.umount2(path.encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):     # EINVAL: not a mount point
            raise NeutrinoError(f"netns delete {name}: {os.strerror(err)}")
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


MNT_DETACH = 2
_libc_handle = None


def _libc():
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return _libc_handle


def _check_name(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise NeutrinoError(f"bad network namespace name {name!r}")


# -- links --------------------------------------------------------------------

@_locked
def link_exists(name: str, netns: str | None = None) -> bool:
    return bool(_ipr(netns).link_lookup(ifname=name))


@_locked
def link_list(netns: str | None = None) -> list[str]:
    return sorted(link.get_attr("IFLA_IFNAME") for link in _ipr(netns).get_links())


@_locked
def veth_add(name: str, peer: str, netns: str | None = None,
             peer_netns: str | None = None, mtu: int | None = None) -> None:
    """Create veth ``name`` in ``netns`` whose peer ``peer`` lands in ``peer_netns``."""
    _check_ifname(name)
    _check_ifname(peer)
    ipr = _ipr(netns)
    _call(f"veth add {name}/{peer}", netns, ipr.link, "add", ifname=name,
          kind="veth", peer={"ifname": peer})
    try:
        if mtu:
            link_set(name, netns=netns, mtu=mtu)
            link_set(peer, netns=netns, mtu=mtu)
        if peer_netns != netns:
            link_set(peer, netns=netns, to_netns=peer_netns)
    except NeutrinoError:
        link_delete(name, netns=netns)
        raise


@_locked
def bridge_add(name: str, netns: str | None = None, *, ageing_time: int | None = None) -> None:
    """Create Linux bridge ``name`` (down; bring it up with link_set).

    ``ageing_time`` is in hundredths of a second, as the kernel takes it
    (os-vif makes qbr bridges with 0: never learn, always flood).
    """
    _check_ifname(name)
    extra = {} if ageing_time is None else {"br_ageing_time": int(ageing_time)}
    _call(f"bridge add {name}", netns, _ipr(netns).link, "add", ifname=name,
          kind="bridge", **extra)


@_locked
def link_set(name: str, netns: str | None = None, up: bool | None = None,
             mtu: int | None = None, mac: str | None = None,
             master: str | None = None, to_netns: str | None = None) -> None:
    """Change a device; ``to_netns`` moves it (last, after the other changes).

    ``master=""`` takes the device out of its bridge.
    """
    ipr = _ipr(netns)
    idx = _index(name, netns)
    attrs: dict = {}
    if mtu is not None:
        attrs["mtu"] = int(mtu)
    if mac is not None:
        attrs["address"] = mac
    if master is not None:
        attrs["master"] = _index(master, netns) if master else 0
    if attrs:
        _call(f"link set {name}", netns, ipr.link, "set", index=idx, **attrs)
    if up is not None:
        _call(f"link set {name} {'up' if up else 'down'}", netns, ipr.link, "set",
              index=idx, state="up" if up else "down")
    if to_netns is not None:
        fd = os.open(f"{NETNS_DIR}/{to_netns}", os.O_RDONLY) if netns_exists(to_netns) else None
        if fd is None:
            raise NeutrinoError(f"no network namespace {to_netns!r}")
        try:
            _call(f"link set {name} netns {to_netns}", netns, ipr.link, "set",
                  index=idx, net_ns_fd=fd)
        finally:
            os.close(fd)


@_locked
def link_delete(name: str, netns: str | None = None) -> None:
    """Delete ``name``; a device that is already gone is fine."""
    ipr = _ipr(netns)
    found = ipr.link_lookup(ifname=name)
    if not found:
        return
    try:
        ipr.link("del", index=found[0])
    except _netlink_error() as exc:
        if exc.code != errno.ENODEV:
            raise NeutrinoError(f"link delete {name}{_where(netns)}: "
                                f"{os.strerror(exc.code)}") from None


@_locked
def link_info(name: str, netns: str | None = None) -> dict:
    """mtu, mac, up, master (name or None), kind of device ``name``."""
    ipr = _ipr(netns)
    link = ipr.get_links(_index(name, netns))[0]
    master = link.get_attr("IFLA_MASTER")
    linkinfo = link.get_attr("IFLA_LINKINFO")
    kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None
    master_name = None
    if master:
        found = ipr.get_links(master)
        master_name = found[0].get_attr("IFLA_IFNAME") if found else None
    return {"name": name, "mtu": link.get_attr("IFLA_MTU"),
            "mac": link.get_attr("IFLA_ADDRESS"), "up": bool(link["flags"] & 1),
            "master": master_name, "kind": kind}


def _check_ifname(name: str) -> None:
    if not name or len(name) > 15 or "/" in name or " " in name:
        raise NeutrinoError(f"bad device name {name!r} (1 to 15 characters)")


# -- addresses and routes -----------------------------------------------------

@_locked
def addr_add(name: str, cidr: str, netns: str | None = None) -> None:
    """Add ``cidr`` (e.g. 10.0.0.5/24) to ``name``; an address already there is fine."""
    iface = _parse_iface(cidr)
    ipr = _ipr(netns)
    idx = _index(name, netns)
    try:
        ipr.addr("add", index=idx, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    except _netlink_error() as exc:
        if exc.code != errno.EEXIST:
            raise NeutrinoError(f"addr add {cidr} dev {name}{_where(netns)}: "
                                f"{os.strerror(exc.code)}") from None


@_locked
def addr_list(name: str, netns: str | None = None) -> list[str]:
    """Addresses of ``name`` as CIDR strings (IPv4 and IPv6)."""
    ipr = _ipr(netns)
    idx = _index(name, netns)
    return [f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}" for a in ipr.get_addr(index=idx)]


@_locked
def route_add(dst: str, gateway: str | None = None, dev: str | None = None,
              netns: str | None = None) -> None:
    """Add a route; ``dst`` may be "default". An identical route already there is fine."""
    if not gateway and not dev:
        raise NeutrinoError("route_add needs a gateway or a device")
    ipr = _ipr(netns)
    spec: dict = {}
    if dst == "default":
        spec["dst"] = "0.0.0.0/0"
    else:
        spec["dst"] = str(ipaddress.ip_network(dst, strict=False))
    if gateway:
        spec["gateway"] = str(ipaddress.ip_address(gateway))
    if dev:
        spec["oif"] = _index(dev, netns)
    try:
        ipr.route("add", **spec)
    except _netlink_error() as exc:
        if exc.code != errno.EEXIST:
            raise NeutrinoError(f"route add {dst}{_where(netns)}: "
                                f"{os.strerror(exc.code)}") from None


@_locked
def route_list(netns: str | None = None) -> list[dict]:
    """IPv4 routes of the main table as {dst, gateway, dev}."""
    ipr = _ipr(netns)
    names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    out = []
    for r in ipr.get_routes(family=2, table=254):
        dst = r.get_attr("RTA_DST")
        out.append({"dst": f"{dst}/{r['dst_len']}" if dst else "default",
                    "gateway": r.get_attr("RTA_GATEWAY"),
                    "dev": names.get(r.get_attr("RTA_OIF"))})
    return out


def _parse_iface(cidr: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if "/" not in cidr:
        raise NeutrinoError(f"address {cidr!r} needs a prefix length (e.g. /24)")
    try:
        return ipaddress.ip_interface(cidr)
    except ValueError:
        raise NeutrinoError(f"bad address {cidr!r}") from None


# -- knobs ----------------------------------------------------------------------

def sysctl(key: str, value, netns: str | None = None) -> None:
    """Write /proc/sys/``key`` (dots or slashes) as seen from ``netns``."""
    path = "/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key
    if netns is None:
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as exc:
            raise NeutrinoError(f"sysctl {key}={value}: {exc.strerror}") from None
        return
    # /proc/sys/net follows the writer's network namespace: write from inside.
    proc.run(["sh", "-c", 'printf "%s" "$1" > "$2"', "sysctl", str(value), path], netns=netns)


def sysctls(values: dict, netns: str | None = None) -> None:
    """Several sysctl writes; inside a namespace in a single fork."""
    if netns is None:
        for key, value in values.items():
            sysctl(key, value)
        return
    script = 'while [ $# -gt 0 ]; do printf "%s" "$2" > "$1" || exit 1; shift 2; done'
    args = []
    for key, value in values.items():
        args += ["/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key,
                 str(value)]
    proc.run(["sh", "-c", script, "sysctls", *args], netns=netns)


def tx_offload_off(name: str, netns: str | None = None) -> None:
    """Turn off tx checksum offload (see lab-facts: userspace OVS and veth)."""
    proc.run(["ethtool", "-K", name, "tx", "off"], netns=netns)
