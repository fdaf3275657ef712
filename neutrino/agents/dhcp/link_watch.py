"""Netlink link events of one namespace: who created which device, as it happens.

The DHCP agent needs it for one case: ovs-vswitchd restarted and created the
internal port ``tap<id11>`` again in the node's namespace, while the old
device in ``qdhcp-<net>`` is no longer attached to anything.
"""
from __future__ import annotations

import logging
import os
import select
import threading
from typing import Callable

from pyroute2 import IPRoute

from neutrino.errors import NeutrinoError

LOG = logging.getLogger(__name__)


class LinkWatcher:
    """Calls ``on_new_link(name)`` for every RTM_NEWLINK of a device named ``prefix*``."""

    def __init__(self, on_new_link: Callable[[str], None], netns: str | None = None,
                 prefix: str = "tap"):
        self._on_new_link = on_new_link
        self._prefix = prefix
        self._netns = netns
        self._ipr = None
        self._error: Exception | None = None
        self._bound = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, daemon=True, name="dhcp-links")
        self._thread.start()
        self._bound.wait(10)
        if self._error is not None:
            self.stop()
            raise NeutrinoError(f"cannot watch links{' in ' + netns if netns else ''}: "
                                f"{self._error}")

    def _run(self) -> None:
        # pyroute2 sockets belong to the thread that made them: open it here.
        try:
            self._ipr = IPRoute(netns=self._netns, flags=0) if self._netns else IPRoute()
            self._ipr.bind()
        except Exception as exc:
            self._error = exc
            return
        finally:
            self._bound.set()
        try:
            self._watch()
        finally:
            self._ipr.close()

    def _watch(self) -> None:
        fd = self._ipr.fileno()
        while not self._stopped:
            ready, _, _ = select.select([fd, self._wake_r], [], [])
            if self._stopped:
                return
            if fd not in ready:
                continue
            try:
                messages = self._ipr.get()
            except Exception:
                LOG.exception("reading link events failed")
                return
            for msg in messages:
                if msg.get("event") != "RTM_NEWLINK":
                    continue
                name = msg.get_attr("IFLA_IFNAME")
                if name and name.startswith(self._prefix):
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
