"""Links, addresses, routes and network namespaces through netlink (pyroute2).

One IPRoute socket is kept per namespace, so hot paths never fork ``ip``.
``netns=None`` means the namespace this process runs in; any other value is a
name in the current ``/run/netns`` view. Failures raise NeutrinoError with the
device and namespace in the message.
"""
from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import functools
import inspect
import ipaddress
import os
import queue
import socket
import struct
import threading
from concurrent.futures import Future
from typing import Callable, TypeVar

from neutrino.errors import CommandFailed, NeutrinoError
from neutrino.linux import libc, proc

NETNS_DIR = proc.NETNS_DIR
T = TypeVar("T")

_workers: dict = {}
_registry = threading.Lock()

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20


def _pyroute2():
    """pyroute2 takes 0.2 s to import: load it on first use only, so commands
    that never touch netlink (``lab exec``) start fast."""
    import pyroute2.netlink.exceptions
    return pyroute2


def _netlink_error():
    return _pyroute2().netlink.exceptions.NetlinkError


class _NetnsWorker:
    """One thread per namespace, living inside it, that makes every netlink
    call for that namespace through one IPRoute.

    pyroute2 0.9 opens a socket per IPRoute *per calling thread*, and for a
    namespace it forks a child to open each one (and another to create a
    namespace). With 20 instances created at once from 20 threads that was
    ~60 forks of a many-threaded process, each holding the GIL while it
    copies the address space: the boots queued on them. A namespace belongs
    to a thread (setns/unshare) and a socket stays in the namespace it was
    made in, so a thread that entered the namespace opens a plain socket, no
    fork. Calls for one namespace run one at a time (a pyroute2 socket is not
    safe to share); different namespaces run in parallel.
    """

    def __init__(self, netns: str | None, create: bool = False):
        self.netns = netns
        self._ipr = None
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        started: Future = Future()
        self.thread = threading.Thread(target=self._run, args=(create, started),
                                       name=f"netns-{netns}", daemon=True)
        self.thread.start()
        started.result()

    def _enter(self, create: bool) -> None:
        if self.netns is None:
            return
        libc = _libc()
        path = f"{NETNS_DIR}/{self.netns}"
        if create:
            if libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
            own = f"/proc/self/task/{threading.get_native_id()}/ns/net"
            if libc.mount(own.encode(), path.encode(), b"none", MS_BIND, None) != 0:
                raise OSError(ctypes.get_errno(), f"bind {path}")
            _set_up("lo")           # a new namespace starts with lo down
            return
        _setns_to(path)

    @property
    def ipr(self):
        """The namespace's IPRoute, opened on first use (on this thread): an
        instance's namespace never needs one."""
        if self._ipr is None:
            self._ipr = _pyroute2().IPRoute()
        return self._ipr

    def _run(self, create: bool, started: Future) -> None:
        try:
            self._enter(create)
        except BaseException as exc:             # handed to the creating thread
            started.set_exception(exc)
            return
        started.set_result(None)
        while True:
            job = self._jobs.get()
            if job is None:
                break
            fn, args, kwargs, done = job
            if not done.set_running_or_notify_cancel():
                continue
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                done.set_exception(exc)
        if self._ipr is not None:
            self._ipr.close()

    def call(self, fn, *args, **kwargs):
        if threading.current_thread() is self.thread:
            return fn(*args, **kwargs)
        done: Future = Future()
        self._jobs.put((fn, args, kwargs, done))
        return done.result()

    def stop(self) -> None:
        self._jobs.put(None)
        if threading.current_thread() is not self.thread:
            self.thread.join()


def _worker(netns: str | None) -> _NetnsWorker:
    with _registry:
        worker = _workers.get(netns)
        if worker is None:
            if netns is not None and not netns_exists(netns):
                raise NeutrinoError(f"no network namespace {netns!r}")
            worker = _workers[netns] = _NetnsWorker(netns)
        return worker


def _locked(fn):
    """Run ``fn`` on the thread of its ``netns`` argument (see _NetnsWorker)."""
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
        return _worker(netns).call(fn, *args, **kwargs)
    return wrapper


def _where(netns: str | None) -> str:
    return f" in netns {netns}" if netns else ""


def _ipr(netns: str | None):
    """The IPRoute of ``netns``; only ever called on that namespace's thread."""
    return _worker(netns).ipr


def _forget(netns: str | None) -> None:
    with _registry:
        worker = _workers.pop(netns, None)
    if worker is not None:
        worker.stop()


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
    path = f"{NETNS_DIR}/{name}"
    try:
        _share_netns_dir()
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    except OSError as exc:
        raise NeutrinoError(f"netns add {name}: {exc}") from None
    with _registry:
        try:
            _workers[name] = _NetnsWorker(name, create=True)
        except OSError as exc:
            os.unlink(path)
            raise NeutrinoError(f"netns add {name}: {exc}") from None


def _share_netns_dir() -> None:
    """/run/netns exists and is a shared mount, as iproute2 makes it, so a
    namespace bound there is seen from every mount namespace sharing it."""
    libc = _libc()
    os.makedirs(NETNS_DIR, exist_ok=True)
    target = NETNS_DIR.encode()
    if libc.mount(b"", target, b"none", MS_SHARED | MS_REC, None) == 0:
        return
    if libc.mount(target, target, b"none", MS_BIND | MS_REC, None) != 0 \
            or libc.mount(b"", target, b"none", MS_SHARED | MS_REC, None) != 0:
        raise OSError(ctypes.get_errno(), f"make {NETNS_DIR} a shared mount")


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
_libc = libc.libc


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
    """Create veth ``name`` in ``netns`` whose peer ``peer`` lands in ``peer_netns``
    (None: beside ``name``).

    One netlink request: the MTU of both ends and the peer's namespace are
    attributes of the creation.
    """
    _check_ifname(name)
    _check_ifname(peer)
    ipr = _ipr(netns)
    peer_info: dict = {"ifname": peer}
    extra: dict = {}
    if mtu:
        extra["mtu"] = peer_info["mtu"] = int(mtu)
    fd = None
    if peer_netns is not None and peer_netns != netns:
        if not netns_exists(peer_netns):
            raise NeutrinoError(f"no network namespace {peer_netns!r}")
        fd = os.open(f"{NETNS_DIR}/{peer_netns}", os.O_RDONLY)
        peer_info["net_ns_fd"] = fd
    try:
        _call(f"veth add {name}/{peer}", netns, ipr.link, "add", ifname=name,
              kind="veth", peer=peer_info, **extra)
    finally:
        if fd is not None:
            os.close(fd)


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
    if up is not None:
        attrs["state"] = "up" if up else "down"
    if attrs:       # one request: the kernel sets master and MTU before the flags
        _call(f"link set {name}{' up' if up else ' down' if up is False else ''}", netns,
              ipr.link, "set", index=idx, **attrs)
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
    """Several sysctl writes, made by the namespace's thread: /proc/sys/net
    shows the network namespace of the thread that opens it, so no fork."""
    if netns is None:
        for key, value in values.items():
            sysctl(key, value)
        return
    _worker(netns).call(_write_sysctls, values, netns)


def _write_sysctls(values: dict, netns: str) -> None:
    for key, value in values.items():
        path = "/proc/sys/" + (key.replace(".", "/") if "/" not in key else key)
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as exc:
            raise NeutrinoError(f"sysctl {key}={value}{_where(netns)}: {exc.strerror}") from None


def _setns_to(path: str) -> None:
    """Move the calling thread into the network namespace bound at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc().setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def made_in(netns: str | None, make: Callable[[], T]) -> T:
    """``make()`` run by the calling thread switched into ``netns``, then
    back. For a socket that must be created inside a namespace (it stays
    there) by a thread that must not stay there, without the namespace's
    long-lived worker thread (``socket_in``): a router's or a network's
    namespace is deleted while the agent runs on, and a thread inside one
    would keep it and its devices alive."""
    if not netns:
        return make()
    _check_name(netns)
    own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    try:
        try:
            _setns_to(f"{NETNS_DIR}/{netns}")
        except FileNotFoundError:
            raise NeutrinoError(f"no network namespace {netns!r}") from None
        try:
            return make()
        finally:
            if _libc().setns(own, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(own)


def socket_in(netns: str | None, family: int, kind: int, proto: int = 0) -> socket.socket:
    """A socket made in ``netns`` (by its thread): it stays in that namespace
    whichever thread uses it, so a caller talks from inside without a fork."""
    return _worker(netns).call(socket.socket, family, kind, proto)


def spawn_in(netns: str | None, cmd: list[str], log_path: str | None = None,
             env: dict | None = None) -> int:
    """``proc.spawn`` made by the namespace's thread: a child inherits the
    namespaces of the thread that forks it, so it starts inside without an
    ``nsenter`` exec in front of it."""
    return _worker(netns).call(proc.spawn, cmd, log_path=log_path, env=env)


SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def batch(commands: list[str], netns: str | None = None) -> None:
    """Run several ``ip`` commands as one ``ip -batch`` process in ``netns``.

    For a burst of plugs: one fork does a dozen netlink requests, outside this
    process and its interpreter lock. It stops at the first command that
    fails; the error names it.
    """
    if not commands:
        return
    cmd = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    if netns:
        _check_name(netns)
    try:
        proc.run(cmd, input="\n".join(commands) + "\n")
    except CommandFailed as exc:
        lines = [line for line in (exc.stderr or "").splitlines() if line.strip()]
        where = next((line for line in lines if line.startswith("Command failed -:")), "")
        reason = next((line for line in lines if not line.startswith("Command failed")),
                      f"exit {exc.returncode}")
        try:
            failed = commands[int(where.rsplit(":", 1)[1]) - 1]
        except (IndexError, ValueError):
            failed = "?"
        if netns and not netns_exists(netns):
            reason = "no such network namespace"
        raise NeutrinoError(f"ip {failed}{_where(netns)}: {reason}") from None


@_locked
def set_up(name: str, netns: str | None = None) -> None:
    """Bring ``name`` up with one ioctl from the namespace's thread (no
    netlink socket: an instance's namespace never needs one)."""
    _check_ifname(name)
    try:
        _set_up(name)
    except OSError as exc:
        raise NeutrinoError(f"link set {name} up{_where(netns)}: {exc.strerror}") from None


def _set_up(name: str) -> None:
    """Bring ``name`` up with an ioctl in the calling thread's namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, struct.pack("16sH22x", name.encode(), 0))
        flags = struct.unpack("16sH22x", ifreq)[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS,
                    struct.pack("16sH22x", name.encode(), flags | IFF_UP))


@_locked
def tx_offload_off(name: str, netns: str | None = None) -> None:
    """Turn off tx checksum offload (see lab-facts: userspace OVS and veth):
    what ``ethtool -K DEV tx off`` does, as one ioctl from the namespace's
    thread instead of a fork."""
    _check_ifname(name)
    value = array.array("I", [ETHTOOL_STXCSUM, 0])
    ifreq = struct.pack("16sP16x", name.encode(), value.buffer_info()[0])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
        except OSError as exc:
            raise NeutrinoError(f"tx offload off {name}{_where(netns)}: "
                                f"{exc.strerror}") from None
