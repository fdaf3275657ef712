"""Netlink link events of one namespace: who created which device, as it happens.

The DHCP agent needs it for one case: ovs-vswitchd restarted and created the
internal port ``tap<id11>`` again in the node's namespace, while the old
device in ``qdhcp-<net>`` is no longer attached to anything.

A plain NETLINK_ROUTE socket subscribed to RTMGRP_LINK is used rather than
pyroute2: pyroute2 buffers messages internally, which does not mix with
waiting on the socket with ``select`` (events would sit unread).
"""
from __future__ import annotations

import logging
import os
import select
import socket
import struct
import threading
from typing import Callable

from neutrino.errors import NeutrinoError
from neutrino.linux import ip

LOG = logging.getLogger(__name__)

RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFLA_IFNAME = 3
NLMSG_HDR = struct.Struct("=IHHII")
IFINFOMSG_LEN = 16
RTA_HDR = struct.Struct("=HH")


def new_link_names(data: bytes) -> list[str]:
    """Names of the devices in the RTM_NEWLINK messages of one netlink read."""
    names, offset = [], 0
    while offset + NLMSG_HDR.size <= len(data):
        length, msg_type, _, _, _ = NLMSG_HDR.unpack_from(data, offset)
        if length < NLMSG_HDR.size:
            break
        if msg_type == RTM_NEWLINK:
            attr = offset + NLMSG_HDR.size + IFINFOMSG_LEN
            end = offset + length
            while attr + RTA_HDR.size <= end:
                rta_len, rta_type = RTA_HDR.unpack_from(data, attr)
                if rta_len < RTA_HDR.size:
                    break
                if rta_type == IFLA_IFNAME:
                    raw = data[attr + RTA_HDR.size:attr + rta_len]
                    names.append(raw.split(b"\0", 1)[0].decode())
                    break
                attr += (rta_len + 3) & ~3
        offset += (length + 3) & ~3
    return names


def _socket_in(netns: str | None) -> socket.socket:
    """A link-event socket opened inside ``netns`` (switching only this thread)."""
    def open_socket():
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.bind((0, RTMGRP_LINK))
        return sock
    return ip.made_in(netns, open_socket)


class LinkWatcher:
    """Calls ``on_new_link(name)`` for every RTM_NEWLINK of a device named ``prefix*``."""

    def __init__(self, on_new_link: Callable[[str], None], netns: str | None = None,
                 prefix: str = "tap", on_lost: Callable[[], None] | None = None):
        self._on_new_link = on_new_link
        self._on_lost = on_lost
        self._prefix = prefix
        self._sock: socket.socket | None = None
        self._error: Exception | None = None
        self._ready = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        # setns() switches the calling thread only: open the socket in the watcher thread.
        self._thread = threading.Thread(target=self._run, args=(netns,), daemon=True,
                                        name="dhcp-links")
        self._thread.start()
        self._ready.wait(10)
        if self._sock is None:
            self.stop()
            where = f" in {netns}" if netns else ""
            raise NeutrinoError(f"cannot watch links{where}: {self._error or 'timed out'}")

    def _run(self, netns: str | None) -> None:
        try:
            self._sock = _socket_in(netns)
        except Exception as exc:
            self._error = exc
            return
        finally:
            self._ready.set()
        try:
            self._watch()
        finally:
            self._sock.close()

    def _watch(self) -> None:
        while not self._stopped:
            ready, _, _ = select.select([self._sock, self._wake_r], [], [])
            if self._stopped:
                return
            if self._sock not in ready:
                continue
            try:
                data = self._sock.recv(1 << 16)
            except OSError as exc:
                # ENOBUFS: the kernel dropped events; whoever listens must recheck.
                LOG.warning("link events lost: %s", exc)
                if self._on_lost:
                    self._on_lost()
                continue
            for name in new_link_names(data):
                if name.startswith(self._prefix):
                    try:
                        self._on_new_link(name)
                    except Exception:
                        LOG.exception("link event handler failed")

    def stop(self) -> None:
        self._stopped = True
        os.write(self._wake_w, b"x")
        self._thread.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)
