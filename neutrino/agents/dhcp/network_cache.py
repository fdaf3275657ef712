"""The DHCP agent's copy of the networks it knows, kept current from port events.

Every ``port_*_end`` notification carries the whole port dict, so the agent
updates its copy of that network instead of asking the server for all of its
ports again (Neutron's DHCP agent keeps a ``NetworkCache`` for the same
reason). A fetched network (``get_network_info``, a full resync) replaces the
copy; everything else that can change a network (network and subnet events,
a gap) is answered by a fetch, as before.

Only the agent's loop thread touches the cache, so a fetch is always sent
after every event the cache has taken and its reply is at least as new.
Port events, though, may arrive out of order (the server sends them from
concurrent requests): a port is never replaced by an older revision of it,
and a deleted port id is remembered for a while so that a late update does
not bring the port back.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable

DELETED_PORT_MAX_AGE = 600.0    # seconds; late events come within seconds
PORT_EVENTS = ("port_create_end", "port_update_end", "port_delete_end")


class Outcome(enum.Enum):
    CHANGED = "changed"         # the cached network changed: serve it from the cache
    UNCHANGED = "unchanged"     # stale or identical event: nothing to do
    REFETCH = "refetch"         # the event cannot be applied: ask the server


@dataclass
class PortEvent:
    """A port notification queued for the agent's loop."""
    event: str
    network_id: str
    port: dict | None


@dataclass
class _Entry:
    network: dict                                           # without "ports"
    ports: dict[str, dict] = field(default_factory=dict)   # port id -> port dict


def _revision(port: dict) -> int | None:
    rev = port.get("revision_number")
    return rev if isinstance(rev, int) and not isinstance(rev, bool) else None


class NetworkCache:
    def __init__(self, deleted_max_age: float = DELETED_PORT_MAX_AGE,
                 clock: Callable[[], float] = time.monotonic):
        self._entries: dict[str, _Entry] = {}
        self._deleted: dict[str, tuple[int, float]] = {}  # port id -> (revision, when), oldest first
        self._max_age = deleted_max_age
        self._clock = clock

    def __contains__(self, network_id: str) -> bool:
        return network_id in self._entries

    def network_ids(self) -> set[str]:
        return set(self._entries)

    def get(self, network_id: str) -> dict | None:
        """The network dict as ``get_network_info`` would give it (a fresh top-level dict)."""
        entry = self._entries.get(network_id)
        if entry is None:
            return None
        return {**entry.network, "ports": list(entry.ports.values())}

    def put(self, network: dict) -> None:
        """Take a fetched network; a cached port newer than the fetched one stays."""
        old = self._entries.get(network["id"])
        ports = {}
        for port in network.get("ports", []):
            cached = old.ports.get(port["id"]) if old else None
            if cached is not None and (_revision(cached) or 0) > (_revision(port) or 0):
                port = cached
            ports[port["id"]] = port
            self._deleted.pop(port["id"], None)   # the server has it: it exists
        self._entries[network["id"]] = _Entry(
            {k: v for k, v in network.items() if k != "ports"}, ports)

    def remove(self, network_id: str) -> None:
        self._entries.pop(network_id, None)

    def retain(self, network_ids: set[str]) -> None:
        """Forget every network but these (after a full resync)."""
        for network_id in set(self._entries) - network_ids:
            del self._entries[network_id]

    def put_port(self, network_id: str, port: dict) -> None:
        """A port of a cached network the agent got back from the server (its claimed DHCP port)."""
        entry = self._entries.get(network_id)
        if entry is None:
            return
        cached = entry.ports.get(port["id"])
        if cached is None or (_revision(cached) or 0) <= (_revision(port) or 0):
            entry.ports[port["id"]] = port

    def apply(self, event: PortEvent) -> Outcome:
        """Apply one port notification to the cached network."""
        entry = self._entries.get(event.network_id)
        port = event.port
        if (entry is None or not isinstance(port, dict) or not port.get("id")
                or port.get("network_id") != event.network_id or _revision(port) is None
                or event.event not in PORT_EVENTS):
            return Outcome.REFETCH
        if event.event == "port_delete_end":
            self._forget(port)
            return Outcome.CHANGED if entry.ports.pop(port["id"], None) else Outcome.UNCHANGED
        deleted = self._deleted.get(port["id"])
        if deleted is not None:
            if event.event == "port_update_end" and _revision(port) <= deleted[0]:
                return Outcome.UNCHANGED      # a late update of a deleted port
            return Outcome.REFETCH            # the same id again? the server knows
        cached = entry.ports.get(port["id"])
        if cached is not None and ((_revision(cached) or 0) > _revision(port) or cached == port):
            return Outcome.UNCHANGED
        entry.ports[port["id"]] = port
        return Outcome.CHANGED

    def _forget(self, port: dict) -> None:
        now = self._clock()
        self._deleted.pop(port["id"], None)
        self._deleted[port["id"]] = (_revision(port) or 0, now)
        while self._deleted:
            oldest, (_, when) = next(iter(self._deleted.items()))
            if now - when < self._max_age:
                break
            del self._deleted[oldest]
