"""The start/stop skeleton the DHCP and L3 agents share.

Both agents collect work into one queue and reconcile from one loop thread; a
heartbeat thread reports their state and queues the periodic full sync. What
differs is given by the subclass: its fanout topic and plugin topic, the extra
event sources it opens (``_open_sources``, stopped with the listener), its
state dict (``state``), the notification callback and the loop.
"""
from __future__ import annotations

import datetime
import logging
import queue
import threading
from typing import Any

from neutrino.rpc import NotificationListener, RpcClient

LOG = logging.getLogger(__name__)

RESYNC = "resync"
STOP = None
RETRY_DELAY = 1.0


class QueueAgent:
    topic = ""              # the fanout topic the agent listens to
    plugin_topic = "q-plugin"
    thread_prefix = "agent"

    def __init__(self, host: str, transport_url: str, report_interval: float = 5,
                 resync_interval: float = 60, rpc_timeout: float = 10):
        self.host = host
        self.url = transport_url
        self.report_interval = report_interval
        self.resync_interval = resync_interval
        self.rpc_timeout = rpc_timeout
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sources: list[Any] = []
        self.plugin = self.reports = self.listener = None

    # -- what a subclass gives ------------------------------------------------

    def _open_sources(self) -> list[Any]:
        """Event sources besides the fanout (each with ``stop()``), opened before it."""
        return []

    def _on_notification(self, topic: str, event: str, payload: dict, meta: dict) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        raise NotImplementedError

    def state(self, start_flag: bool = False) -> dict:
        raise NotImplementedError

    def _closed(self) -> None:
        """Called last by ``stop``."""

    # -- life cycle -----------------------------------------------------------

    def start(self):
        try:
            self.plugin = RpcClient(self.url, self.plugin_topic, timeout=self.rpc_timeout)
            self.reports = RpcClient(self.url, "q-reports-plugin", timeout=self.rpc_timeout)
            self._sources = self._open_sources()
            # Listen before the first full sync, so nothing falls in between.
            self.listener = NotificationListener(self.url, [self.topic], self._on_notification,
                                                 host=self.host).start()
        except BaseException:
            self.stop()
            raise
        self._queue.put(RESYNC)
        for target, name in ((self._loop, "loop"), (self._heartbeat, "heartbeat")):
            thread = threading.Thread(target=target, name=f"{self.thread_prefix}-{name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the threads and event sources; what the agent set up keeps working."""
        self._stop.set()
        self._queue.put(STOP)
        for thread in self._threads:
            thread.join(10)
        for part in (self.listener, *self._sources):
            if part is not None:
                part.stop()
        for client in (self.plugin, self.reports):
            if client is not None:
                client.close()
        self._closed()

    def request_stop(self) -> None:
        """Safe from a signal handler: ``wait`` returns, then call ``stop``."""
        self._stop.set()

    def wait(self) -> None:
        self._stop.wait()

    # -- helpers --------------------------------------------------------------

    def _drain(self, before_block=None, after_block=None) -> list | None:
        """Wait for work and take everything queued; None when the agent stops."""
        if before_block:
            before_block()
        items = [self._queue.get()]
        if after_block:
            after_block()
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if STOP in items or self._stop.is_set():
            return None
        return items

    def _later(self, item) -> None:
        timer = threading.Timer(RETRY_DELAY, self._queue.put, args=(item,))
        timer.daemon = True
        timer.start()

    def _heartbeat(self) -> None:
        start_flag = True
        elapsed, next_resync = 0.0, self.resync_interval
        while not self._stop.is_set():
            try:
                self.reports.call("report_state", agent_state=self.state(start_flag),
                                  time=datetime.datetime.now(datetime.timezone.utc).isoformat())
                start_flag = False
            except Exception as exc:
                LOG.warning("report_state failed: %s", exc)
            if self._stop.wait(self.report_interval):
                return
            elapsed += self.report_interval
            if elapsed >= next_resync:
                next_resync += self.resync_interval
                self._queue.put(RESYNC)
