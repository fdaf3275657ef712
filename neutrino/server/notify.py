"""Where the plugin's notifications go.

The real notifier is ``neutrino.rpc.Notifier`` (fanout over kombu); anything
with ``notify(topic, event, payload)`` works, e.g. ``RecordingNotifier`` in tests.
"""
import threading
from typing import Protocol


class NotifierLike(Protocol):
    def notify(self, topic: str, event: str, payload: dict) -> None: ...


class NullNotifier:
    def notify(self, topic: str, event: str, payload: dict) -> None:
        pass


class RecordingNotifier:
    """Keeps every notification, in order, for tests and tools."""

    def __init__(self):
        self._lock = threading.Lock()
        self.sent: list[tuple[str, str, dict]] = []

    def notify(self, topic: str, event: str, payload: dict) -> None:
        with self._lock:
            self.sent.append((topic, event, payload))

    def events(self, topic: str | None = None) -> list[str]:
        with self._lock:
            return [e for t, e, _ in self.sent if topic is None or t == topic]

    def payloads(self, event: str) -> list[dict]:
        with self._lock:
            return [p for _, e, p in self.sent if e == event]

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()


PORT_UPDATE = "q-agent-notifier-port-update"
PORT_DELETE = "q-agent-notifier-port-delete"
NETWORK_UPDATE = "q-agent-notifier-network-update"
NETWORK_DELETE = "q-agent-notifier-network-delete"
TUNNEL_UPDATE = "q-agent-notifier-tunnel-update"
DHCP_AGENT = "dhcp_agent"
