"""RPC client: ``call`` waits for the reply, ``cast`` does not.

One client (and every client ``prepare`` derives from it) shares one
publishing connection and one reply queue whose consumer thread hands each
reply to the waiting call by message id.
"""
import threading
import time
import uuid
from typing import Any, Optional

from neutrino.rpc.errors import RemoteError, RpcTimeout
from neutrino.rpc.transport import QUEUE, REPLY, Binding, open_driver

READY_TIMEOUT = 10.0


class _Waiter:
    __slots__ = ("event", "reply")

    def __init__(self):
        self.event = threading.Event()
        self.reply: Optional[dict] = None


class _ClientCore:
    def __init__(self, url: str):
        self.url = url
        self.driver = open_driver(url)
        self.reply_queue = f"reply_{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._waiters: dict[str, _Waiter] = {}
        self._consumer = None

    def _ensure_consumer(self) -> None:
        with self._lock:
            if self._consumer is None:
                consumer = self.driver.consume([Binding(REPLY, self.reply_queue)], self._on_reply)
                consumer.wait_ready(READY_TIMEOUT)
                self._consumer = consumer

    def _on_reply(self, _name: str, body: dict) -> None:
        waiter = self._waiters.pop(body.get("msg_id"), None)
        if waiter is not None:
            waiter.reply = body
            waiter.event.set()

    def call(self, target: str, method: str, args: dict, timeout: float) -> Any:
        self._ensure_consumer()
        msg_id = uuid.uuid4().hex
        waiter = _Waiter()
        self._waiters[msg_id] = waiter
        try:
            self.driver.publish(QUEUE, target, {
                "method": method, "args": args, "msg_id": msg_id,
                "reply_to": self.reply_queue, "deadline": time.time() + timeout})
            if not waiter.event.wait(timeout):
                raise RpcTimeout(f"no reply to {method!r} on topic {target!r} within {timeout:g}s")
        finally:
            self._waiters.pop(msg_id, None)
        reply = waiter.reply
        if "error" in reply:
            err = reply["error"]
            raise RemoteError(err.get("type", "Exception"), err.get("message", ""))
        return reply.get("result")

    def cast(self, target: str, method: str, args: dict) -> None:
        self.driver.publish(QUEUE, target, {"method": method, "args": args})

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.stop()
        self.driver.close()


class RpcClient:
    """Calls methods of the ``RpcServer`` consuming ``topic`` (or ``topic.host``)."""

    def __init__(self, url: str, topic: str, timeout: float = 30, host: Optional[str] = None,
                 _core: Optional[_ClientCore] = None):
        self.url = url
        self.topic = topic
        self.timeout = timeout
        self.host = host
        self._core = _core or _ClientCore(url)

    @property
    def target(self) -> str:
        return f"{self.topic}.{self.host}" if self.host else self.topic

    def prepare(self, host: Optional[str] = None, timeout: Optional[float] = None) -> "RpcClient":
        """A client for the same topic aimed at one host; it shares this client's connection."""
        return RpcClient(self.url, self.topic, self.timeout if timeout is None else timeout,
                         host if host is not None else self.host, _core=self._core)

    def call(self, method: str, **kwargs) -> Any:
        return self._core.call(self.target, method, kwargs, self.timeout)

    def cast(self, method: str, **kwargs) -> None:
        self._core.cast(self.target, method, kwargs)

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
