"""The two things the RPC and notification classes need from a broker.

A driver publishes a JSON body to a shared queue, to a private (reply) queue
or to a fanout exchange, and runs consumers: one thread each, calling
``on_message(binding_name, body)`` for every message of its bindings.
``memory://`` is an in-process broker (kombu's memory transport only polls and
has no real fanout between connections); every other URL goes through kombu.
"""
import json
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from neutrino.rpc.errors import TransportError

QUEUE = "queue"    # shared queue, competing consumers (RPC topics)
REPLY = "reply"    # private queue of one consumer (RPC replies, wake-ups)
FANOUT = "fanout"  # exchange: every bound consumer gets its own copy

OnMessage = Callable[[str, dict], None]


@dataclass(frozen=True)
class Binding:
    kind: str
    name: str


class Consumer(Protocol):
    def wait_ready(self, timeout: float) -> None: ...
    def stop(self) -> None: ...


class Driver(Protocol):
    def publish(self, kind: str, name: str, body: dict) -> None: ...
    def consume(self, bindings: list[Binding], on_message: OnMessage,
                on_reconnect: Optional[Callable[[], None]] = None) -> Consumer: ...
    def close(self) -> None: ...


def encode(body: dict) -> str:
    """JSON-encode a message; non-JSON payloads fail here, in the sender."""
    try:
        return json.dumps(body)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"message is not JSON serialisable: {exc}") from None


KOMBU_SCHEMES = ("redis", "rediss", "redis+socket", "amqp", "amqps", "pyamqp")


def open_driver(url: str) -> Driver:
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "memory":
        from neutrino.rpc.memory_transport import MemoryDriver
        return MemoryDriver(url)
    if scheme in KOMBU_SCHEMES:
        from neutrino.rpc.kombu_transport import KombuDriver
        return KombuDriver(url)
    raise TransportError(
        f"unsupported transport URL {url!r}: use memory://, redis://HOST:PORT/DB, "
        "redis+socket:///PATH or amqp://USER:PW@HOST//")
