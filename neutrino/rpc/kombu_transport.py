"""kombu-backed driver for redis://, redis+socket:// and amqp:// URLs.

kombu connections are not thread safe, so a driver keeps one publishing
connection (behind a lock) and every consumer owns its connection and thread.
A consumer also listens on a private wake-up queue so ``stop`` returns at once
instead of waiting for a drain timeout. Connection loss is survived: the
publisher reconnects and retries, a consumer reconnects with a short backoff
and reports it through ``on_reconnect`` (fanout messages may have been lost).
redis URLs go through ``kombu_redis.Transport``, kombu's redis transport
without its per-message costs; amqp:// uses kombu's own.
"""
import logging
import socket
import threading
import time
import uuid
from typing import Callable, Optional

from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import KombuError

from neutrino.rpc import kombu_redis
from neutrino.rpc.errors import TransportError
from neutrino.rpc.transport import FANOUT, QUEUE, REPLY, Binding, OnMessage, encode

LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
PUBLISH_ATTEMPTS = 4
IDLE_DRAIN = 10.0
PROBE = "neutrino-probe"
PROBE_INTERVAL = 0.02
DEFAULT_EXCHANGE = Exchange("")
REDIS_TRANSPORTS = ("redis", "rediss")


def _errors(conn: Connection) -> tuple:
    return tuple(conn.connection_errors) + tuple(conn.channel_errors) + (OSError, KombuError)


def _connect(url: str) -> Connection:
    conn = Connection(url, connect_timeout=CONNECT_TIMEOUT,
                      transport_options={"socket_connect_timeout": CONNECT_TIMEOUT})
    if conn.transport_cls in REDIS_TRANSPORTS:
        conn.transport_cls = kombu_redis.Transport
    try:
        conn.ensure_connection(max_retries=1, interval_start=0.05, interval_step=0,
                               timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        conn.release()
        raise TransportError(f"cannot reach the message broker at {url}: {exc}") from None
    return conn


def shared_queue(name: str) -> Queue:
    return Queue(name, DEFAULT_EXCHANGE, routing_key=name, durable=False, auto_delete=False)


def private_queue(name: str) -> Queue:
    return Queue(name, DEFAULT_EXCHANGE, routing_key=name, durable=False, auto_delete=True)


def fanout_exchange(name: str) -> Exchange:
    return Exchange(name, type="fanout", durable=False, auto_delete=False)


def _drop_undecodable(message, exc) -> None:
    LOG.warning("dropping a message that is not JSON: %s", exc)
    message.ack()


class _KombuConsumer:
    def __init__(self, driver: "KombuDriver", bindings: list[Binding], on_message: OnMessage,
                 on_reconnect: Optional[Callable[[], None]]):
        self._driver = driver
        self._on_message = on_message
        self._on_reconnect = on_reconnect
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: Optional[Exception] = None
        self._probes: set[str] = set()
        self._connected = False
        self._wake = f"neutrino.wake.{uuid.uuid4().hex}"
        suffix = uuid.uuid4().hex[:12]
        self._queues: list[tuple[str, Queue]] = []
        for b in bindings:
            if b.kind == QUEUE:
                self._queues.append((b.name, shared_queue(b.name)))
            elif b.kind == REPLY:
                self._queues.append((b.name, private_queue(b.name)))
            else:
                q = Queue(f"{b.name}.fanout.{suffix}", fanout_exchange(b.name),
                          durable=False, auto_delete=True)
                self._queues.append((b.name, q))
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"rpc-kombu-{bindings[0].name}")
        self._thread.start()

    def wait_ready(self, timeout: float) -> None:
        """Return once consuming; a broker unreachable at the first attempt fails at once."""
        if not self._ready.wait(timeout) or self._error is not None and not self._connected:
            self.stop()
            raise TransportError(f"cannot reach the message broker at {self._driver.url}: "
                                 f"{self._error or 'timed out'}")

    def _handler(self, name: str):
        def deliver(body, message):
            message.ack()
            if isinstance(body, dict) and PROBE in body:
                self._probes.discard(body[PROBE])
                return
            try:
                self._on_message(name, body)
            except Exception:
                LOG.exception("message handler failed for %s", name)
        return deliver

    def _serve(self, conn: Connection) -> None:
        channel = conn.default_channel
        consumers = [Consumer(channel, queues=[q], callbacks=[self._handler(name)],
                              accept=["json"], on_decode_error=_drop_undecodable)
                     for name, q in self._queues]
        consumers.append(Consumer(channel, queues=[private_queue(self._wake)],
                                  callbacks=[lambda body, message: message.ack()],
                                  accept=["json"], on_decode_error=_drop_undecodable))
        for c in consumers:
            c.consume()
        self._probe_fanout(conn)
        first = not self._connected
        self._connected = True
        self._ready.set()
        if not first and self._on_reconnect:
            self._on_reconnect()
        while not self._stop.is_set():
            try:
                conn.drain_events(timeout=IDLE_DRAIN)
            except socket.timeout:
                continue
        for c in consumers:
            c.cancel()
        for q in [q for _, q in self._queues if q.auto_delete] + [private_queue(self._wake)]:
            try:
                q.bind(channel).delete()
            except Exception:
                LOG.debug("could not delete queue %s", q.name)

    def _probe_fanout(self, conn: Connection) -> None:
        """Return once every fanout binding really receives messages.

        kombu's redis transport subscribes lazily, on the next event-loop turn,
        so a notification sent right after ``consume()`` could be lost. Each
        fanout exchange gets probe messages (ignored by every listener) until
        this consumer sees its own come back.
        """
        self._probes = {f"{uuid.uuid4().hex}:{b}" for b, q in self._queues
                        if q.exchange.type == "fanout"}
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while self._probes:
            if time.monotonic() > deadline:
                raise TransportError("fanout subscription never became active")
            for probe in list(self._probes):
                self._driver.publish(FANOUT, probe.split(":", 1)[1], {PROBE: probe})
            try:
                conn.drain_events(timeout=PROBE_INTERVAL)
            except socket.timeout:
                pass

    def _run(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            conn = None
            try:
                conn = _connect(self._driver.url)
                backoff = 0.05
                self._serve(conn)
            except Exception as exc:
                self._error = exc
                if not self._connected:
                    # Never connected: report to wait_ready instead of retrying.
                    self._ready.set()
                    return
                if self._stop.is_set():
                    break
                LOG.warning("consumer connection to %s lost (%s); reconnecting",
                            self._driver.url, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                if conn is not None:
                    conn.release()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if threading.current_thread() is self._thread:
            return
        try:
            self._driver.publish(REPLY, self._wake, {"wake": True})
        except Exception:
            pass
        self._thread.join(5)


class KombuDriver:
    """Publishes through one connection; consumers get their own (see the module doc).

    Queues and fanout exchanges are declared once per connection, on their
    first publish: building and binding kombu entities on every publish cost
    more CPU than the broker command itself.
    """

    def __init__(self, url: str):
        self.url = url
        self._lock = threading.Lock()
        self._conn: Optional[Connection] = None
        self._producer: Optional[Producer] = None
        self._exchanges: dict[tuple[str, str], Exchange] = {}

    def _reset(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception:
                pass
        self._conn = self._producer = None
        self._exchanges.clear()

    def _exchange(self, kind: str, name: str) -> Exchange:
        """The exchange to publish to, declaring what the message needs on first use."""
        if kind == REPLY:
            return DEFAULT_EXCHANGE
        exchange = self._exchanges.get((kind, name))
        if exchange is None:
            if kind == FANOUT:
                exchange = fanout_exchange(name)
                self._producer.maybe_declare(exchange)
            else:
                exchange = DEFAULT_EXCHANGE
                self._producer.maybe_declare(shared_queue(name))
            self._exchanges[(kind, name)] = exchange
        return exchange

    def publish(self, kind: str, name: str, body: dict) -> None:
        data = encode(body)
        routing_key = "" if kind == FANOUT else name
        with self._lock:
            last: Optional[Exception] = None
            for attempt in range(PUBLISH_ATTEMPTS):
                try:
                    if self._producer is None:
                        self._conn = _connect(self.url)
                        self._producer = Producer(self._conn.default_channel)
                    self._producer.publish(data, content_type="application/json",
                                           content_encoding="utf-8", retry=False,
                                           exchange=self._exchange(kind, name),
                                           routing_key=routing_key)
                    return
                except Exception as exc:
                    last = exc
                    self._reset()
                    time.sleep(0.05 * (2 ** attempt))
            raise TransportError(f"cannot publish to {self.url}: {last}")

    def consume(self, bindings: list[Binding], on_message: OnMessage,
                on_reconnect: Optional[Callable[[], None]] = None) -> _KombuConsumer:
        return _KombuConsumer(self, bindings, on_message, on_reconnect)

    def close(self) -> None:
        with self._lock:
            self._reset()
