"""Fanout notifications with sequence numbers, so listeners notice losses.

Every ``Notifier`` picks an epoch id when created and numbers its messages per
topic from 1. A listener remembers the last number per (topic, epoch) and sets
``meta["gap"]`` when a number was skipped, when a new epoch appears after it
has seen another one (the server restarted), or on the first message after
its broker connection was re-established. The first message a listener sees
on a topic is not a gap: start the listener *before* the initial full sync.
"""
import threading
import uuid
from collections import OrderedDict
from typing import Callable, Iterable, Optional

from neutrino.rpc.client import READY_TIMEOUT
from neutrino.rpc.transport import FANOUT, Binding, open_driver

MAX_EPOCHS = 16

Callback = Callable[[str, str, dict, dict], None]


class Notifier:
    def __init__(self, url: str):
        self.url = url
        self.epoch = uuid.uuid4().hex
        self._driver = open_driver(url)
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}

    def notify(self, topic: str, event: str, payload: dict) -> int:
        """Fan ``event`` out on exchange ``topic``; returns its sequence number.

        A number is used even when publishing fails, so listeners see the gap.
        """
        with self._lock:
            seq = self._seq.get(topic, 0) + 1
            self._seq[topic] = seq
            self._driver.publish(FANOUT, topic, {"topic": topic, "event": event,
                                                 "payload": payload, "seq": seq,
                                                 "epoch": self.epoch})
        return seq

    def close(self) -> None:
        self._driver.close()


class _Sequence:
    """Last number seen per epoch on one exchange."""

    def __init__(self):
        self.epochs: OrderedDict[str, int] = OrderedDict()

    def gap(self, epoch: str, seq: int) -> bool:
        last = self.epochs.get(epoch)
        if last is None:
            new_epoch_after_other = bool(self.epochs)
            self.epochs[epoch] = seq
            if len(self.epochs) > MAX_EPOCHS:
                self.epochs.popitem(last=False)
            return new_epoch_after_other
        self.epochs.move_to_end(epoch)
        if seq <= last:
            return False
        self.epochs[epoch] = seq
        return seq != last + 1


class NotificationListener:
    """Calls ``callback(topic, event, payload, meta)`` for every notification.

    With ``host``, also listens to the host-only exchanges ``<topic>.<host>``
    (reported under the plain topic name). The callback runs on the listener's
    thread; an exception in it is logged and the listener goes on.
    """

    def __init__(self, url: str, topics: Iterable[str], callback: Callback,
                 host: Optional[str] = None):
        self.url = url
        self.topics = list(topics)
        self.callback = callback
        self.host = host
        self._driver = None
        self._consumer = None
        self._names: dict[str, str] = {}
        for topic in self.topics:
            self._names[topic] = topic
            if host:
                self._names[f"{topic}.{host}"] = topic
        self._seqs: dict[str, _Sequence] = {}
        self._lost = False

    def start(self) -> "NotificationListener":
        if self._consumer is not None:
            return self
        self._driver = open_driver(self.url)
        bindings = [Binding(FANOUT, name) for name in self._names]
        self._consumer = self._driver.consume(bindings, self._on_message, self._on_reconnect)
        self._consumer.wait_ready(READY_TIMEOUT)
        return self

    def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.stop()
        if self._driver is not None:
            self._driver.close()

    def __enter__(self) -> "NotificationListener":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _on_reconnect(self) -> None:
        self._lost = True

    def _on_message(self, exchange: str, body: dict) -> None:
        seq, epoch = body.get("seq"), body.get("epoch")
        gap = self._seqs.setdefault(exchange, _Sequence()).gap(epoch, seq)
        if self._lost:
            gap, self._lost = True, False
        meta = {"seq": seq, "epoch": epoch, "gap": gap}
        self.callback(self._names.get(exchange, exchange), body.get("event"),
                      body.get("payload") or {}, meta)
