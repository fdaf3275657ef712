"""RPC server: runs ``endpoint.<method>(**args)`` for messages on its topic."""
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from neutrino.rpc.client import READY_TIMEOUT
from neutrino.rpc.transport import QUEUE, REPLY, Binding, open_driver

LOG = logging.getLogger(__name__)


class NoSuchMethod(Exception):
    """The endpoint has no public method of that name."""


class RpcServer:
    """Consumes queue ``topic`` (and ``topic.host`` when ``host`` is given).

    ``workers`` > 1 runs calls on a thread pool (order of casts is then not kept);
    the default handles one message at a time on the consumer thread.
    """

    def __init__(self, url: str, topic: str, endpoint: Any, host: Optional[str] = None,
                 workers: int = 1):
        self.url = url
        self.topic = topic
        self.endpoint = endpoint
        self.host = host
        self.workers = workers
        self._driver = None
        self._consumer = None
        self._pool: Optional[ThreadPoolExecutor] = None

    def start(self) -> "RpcServer":
        if self._consumer is not None:
            return self
        self._driver = open_driver(self.url)
        bindings = [Binding(QUEUE, self.topic)]
        if self.host:
            bindings.append(Binding(QUEUE, f"{self.topic}.{self.host}"))
        if self.workers > 1:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"rpc-{self.topic}")
        self._consumer = self._driver.consume(bindings, self._on_message)
        self._consumer.wait_ready(READY_TIMEOUT)
        return self

    def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._driver is not None:
            self._driver.close()

    def __enter__(self) -> "RpcServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _on_message(self, _queue: str, body: dict) -> None:
        if self._pool is not None:
            self._pool.submit(self._dispatch, body)
        else:
            self._dispatch(body)

    def _method(self, name: Any):
        ok = isinstance(name, str) and name and not name.startswith("_")
        fn = getattr(self.endpoint, name, None) if ok else None
        if not callable(fn):
            raise NoSuchMethod(f"{type(self.endpoint).__name__} has no method {name!r}")
        return fn

    def _dispatch(self, body: dict) -> None:
        reply_to = body.get("reply_to")
        deadline = body.get("deadline")
        if reply_to and deadline and time.time() > deadline:
            LOG.warning("dropping call %r: its caller stopped waiting", body.get("method"))
            return
        try:
            result = self._method(body.get("method"))(**(body.get("args") or {}))
            reply = {"msg_id": body.get("msg_id"), "result": result}
        except Exception as exc:
            if not reply_to:
                LOG.exception("cast %r failed", body.get("method"))
            reply = {"msg_id": body.get("msg_id"), "error": _error(exc)}
        if not reply_to:
            return
        try:
            self._driver.publish(REPLY, reply_to, reply)
        except TypeError as exc:
            self._driver.publish(REPLY, reply_to,
                                 {"msg_id": body.get("msg_id"), "error": _error(exc)})


def _error(exc: Exception) -> dict:
    return {"type": type(exc).__name__, "message": str(exc)}
