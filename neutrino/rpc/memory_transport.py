"""In-process broker for ``memory://[name]``: threads of one process only.

Each distinct ``name`` is its own broker, so tests can isolate themselves.
Delivery is event driven (a condition variable), messages are JSON-encoded
on the way in exactly as on a real broker.
"""
import itertools
import json
import logging
import threading
import uuid
from collections import deque
from typing import Callable, Optional

from neutrino.rpc.transport import FANOUT, REPLY, Binding, OnMessage, encode

LOG = logging.getLogger(__name__)


class _Broker:
    def __init__(self):
        self.cond = threading.Condition()
        self.queues: dict[str, deque] = {}
        self.fanout: dict[str, set[str]] = {}

    def put(self, kind: str, name: str, data: str) -> None:
        with self.cond:
            if kind == FANOUT:
                for qname in self.fanout.get(name, ()):
                    self.queues[qname].append((name, data))
            elif kind == REPLY:
                # A reply to a consumer that is gone is dropped, as on AMQP.
                if name in self.queues:
                    self.queues[name].append((name, data))
            else:
                self.queues.setdefault(name, deque()).append((name, data))
            self.cond.notify_all()


_BROKERS: dict[str, _Broker] = {}
_BROKERS_LOCK = threading.Lock()


def _broker(url: str) -> _Broker:
    key = url.split("://", 1)[1]
    with _BROKERS_LOCK:
        return _BROKERS.setdefault(key, _Broker())


class _MemoryConsumer:
    def __init__(self, broker: _Broker, bindings: list[Binding], on_message: OnMessage):
        self._broker = broker
        self._on_message = on_message
        self._stopped = False
        self._private: list[tuple[str, str]] = []   # (exchange, private queue)
        self._queues: list[str] = []
        with broker.cond:
            for b in bindings:
                if b.kind == FANOUT:
                    qname = f"{b.name}.fanout.{uuid.uuid4().hex}"
                    broker.queues[qname] = deque()
                    broker.fanout.setdefault(b.name, set()).add(qname)
                    self._private.append((b.name, qname))
                    self._queues.append(qname)
                else:
                    broker.queues.setdefault(b.name, deque())
                    if b.kind == REPLY:
                        self._private.append(("", b.name))
                    self._queues.append(b.name)
        self._next = itertools.cycle(range(len(self._queues)))
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"rpc-memory-{self._queues[0]}")
        self._thread.start()

    def wait_ready(self, timeout: float) -> None:
        """Bindings exist from the constructor on: nothing to wait for."""

    def _take(self):
        for _ in range(len(self._queues)):
            q = self._broker.queues.get(self._queues[next(self._next)])
            if q:
                return q.popleft()
        return None

    def _run(self) -> None:
        cond = self._broker.cond
        while True:
            with cond:
                item = None
                while not self._stopped:
                    item = self._take()
                    if item is not None:
                        break
                    cond.wait()
                if item is None:
                    return
            name, data = item
            try:
                self._on_message(name, json.loads(data))
            except Exception:
                LOG.exception("message handler failed for %s", name)

    def stop(self) -> None:
        with self._broker.cond:
            self._stopped = True
            for exchange, qname in self._private:
                if exchange:
                    self._broker.fanout.get(exchange, set()).discard(qname)
                self._broker.queues.pop(qname, None)
            self._broker.cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)


class MemoryDriver:
    def __init__(self, url: str):
        self._broker = _broker(url)

    def publish(self, kind: str, name: str, body: dict) -> None:
        self._broker.put(kind, name, encode(body))

    def consume(self, bindings: list[Binding], on_message: OnMessage,
                on_reconnect: Optional[Callable[[], None]] = None) -> _MemoryConsumer:
        return _MemoryConsumer(self._broker, bindings, on_message)

    def close(self) -> None:
        """Nothing to release: the broker lives as long as the process."""


