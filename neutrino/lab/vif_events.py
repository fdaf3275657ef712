"""Nova's wait for ``network-vif-plugged``, for the lab's instance boots.

Neutron tells Nova when a compute port turns ACTIVE (the server event
``network-vif-plugged``); Neutrino's server publishes that event on the
``nova`` fanout topic (docs/design.md). A boot says it expects events before
it creates its port, so none can be missed, then waits for its port's.

One listener per lab serves every boot of this process (20 boots at once
used to poll the API every 50 ms, a fifth of the server's CPU during the
burst); it stops a while after the last boot. The API is asked after a gap in
the notifications, once by a boot that began before the listener was
subscribed and, as a safety net, when a wait lasts ``RECHECK`` seconds (a
server that does not send the event, or a bus the lab cannot listen to, still
works, slowly).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from neutrino.rpc import NotificationListener

LOG = logging.getLogger(__name__)

TOPIC = "nova"
PLUGGED = "network-vif-plugged"
RECHECK = 2.0          # seconds without the event before asking the API
LINGER = 3.0           # seconds a listener stays up after its last boot
REMEMBER = 120.0       # seconds a plugged port is remembered for a late waiter


class _Lab:
    """The listener of one lab's bus and the ports it heard were plugged."""

    def __init__(self, url: str):
        self.url = url
        self.users = 0
        self.plugged: dict[str, float] = {}            # port id -> when heard
        self.waiters: dict[str, threading.Event] = {}  # port id -> woken on news
        self.listener: NotificationListener | None = None
        self.stopper: threading.Timer | None = None
        self.ready = threading.Event()     # subscribed, or failed (then ``error``)
        self.error: Exception | None = None


class VifEvents:
    def __init__(self, listener_factory: Callable = NotificationListener):
        self._factory = listener_factory
        self._lock = threading.Lock()
        self._labs: dict[str, _Lab] = {}

    def expecting(self, url: str) -> "Expectation":
        """Listen to ``url``'s bus until the expectation is closed. Returns at
        once: the listener subscribes meanwhile (20 boots at once waited
        0.3 s for it before creating their ports); a boot that began before
        it was subscribed asks the API once when it waits."""
        with self._lock:
            lab = self._labs.get(url)
            if lab is None:
                lab = self._labs[url] = _Lab(url)
            lab.users += 1
            if lab.stopper is not None:
                lab.stopper.cancel()
                lab.stopper = None
            if lab.listener is None:
                lab.listener = self._factory(url, [TOPIC], self._callback(lab))
                threading.Thread(target=self._subscribe, args=(lab, lab.listener),
                                 name="vif-events-subscribe", daemon=True).start()
            fresh = not lab.ready.is_set()
        return Expectation(self, lab, fresh)

    def listening(self, url: str, timeout: float = 10) -> "Expectation":
        """Listen to ``url``'s bus from now until the result is closed, as a
        running nova-compute does: returns once subscribed (or after
        ``timeout``), so boots made meanwhile find the listener up."""
        held = self.expecting(url)
        held._lab.ready.wait(timeout)
        return held

    @staticmethod
    def _subscribe(lab: _Lab, listener) -> None:
        try:
            listener.start()
        except Exception as exc:           # the boots fall back to asking the API
            LOG.warning("cannot listen to %s: %s", lab.url, exc)
            lab.error = exc
        lab.ready.set()

    def _callback(self, lab: _Lab):
        def on_event(_topic: str, event: str, payload: dict, meta: dict) -> None:
            with self._lock:
                if meta.get("gap"):
                    for waiter in lab.waiters.values():     # ask the API now
                        waiter.set()
                if event != PLUGGED or payload.get("status") != "completed":
                    return
                port_id = payload.get("tag")
                now = time.monotonic()
                lab.plugged = {p: t for p, t in lab.plugged.items() if now - t < REMEMBER}
                lab.plugged[port_id] = now
                waiter = lab.waiters.get(port_id)
            if waiter is not None:
                waiter.set()
        return on_event

    def _release(self, lab: _Lab) -> None:
        with self._lock:
            lab.users -= 1
            if lab.users or lab.listener is None:
                return
            lab.stopper = threading.Timer(LINGER, self._stop, args=(lab,))
            lab.stopper.daemon = True
            lab.stopper.start()

    def _stop(self, lab: _Lab, now: bool = False) -> None:
        with self._lock:
            if (lab.users and not now) or lab.listener is None:
                return
            if lab.stopper is not None:
                lab.stopper.cancel()
                lab.stopper = None
            listener, lab.listener = lab.listener, None
            lab.plugged.clear()
            self._labs.pop(lab.url, None)
        lab.ready.wait(10)              # a subscription under way ends first
        listener.stop()

    def stop(self, url: str) -> None:
        """Stop listening to ``url``'s bus now (its lab goes down)."""
        with self._lock:
            lab = self._labs.get(url)
        if lab is not None:
            self._stop(lab, now=True)


class Expectation:
    """One boot's interest in its lab's vif events (a context manager)."""

    def __init__(self, events: VifEvents, lab: _Lab, fresh: bool = False):
        self._events = events
        self._lab = lab
        self._fresh = fresh        # begun before the listener was subscribed
        self._closed = False

    def __enter__(self) -> "Expectation":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._events._release(self._lab)

    def wait(self, port_id: str, timeout: float, is_active: Callable[[str], bool]) -> bool:
        """True once ``port_id`` was plugged (by event, or ``is_active`` asked
        after a gap or ``RECHECK`` seconds); False after ``timeout``."""
        lab, lock = self._lab, self._events._lock
        deadline = time.monotonic() + timeout
        lab.ready.wait(timeout)
        woken = threading.Event()
        with lock:
            if port_id in lab.plugged:
                return True
            lab.waiters[port_id] = woken
        try:
            if (self._fresh or lab.error is not None) and _asked(is_active, port_id):
                return True
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if woken.wait(min(RECHECK, left)):
                    with lock:
                        if port_id in lab.plugged:
                            return True
                        woken.clear()
                if _asked(is_active, port_id):
                    return True
        finally:
            with lock:
                if lab.waiters.get(port_id) is woken:
                    del lab.waiters[port_id]


def _asked(is_active: Callable[[str], bool], port_id: str) -> bool:
    try:
        return is_active(port_id)
    except Exception as exc:           # the API is down: the event may still come
        LOG.warning("port %s status: %s", port_id, exc)
        return False


EVENTS = VifEvents()      # this process's listeners, one per lab
