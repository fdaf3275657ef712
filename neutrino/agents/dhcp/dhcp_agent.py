"""The DHCP agent: events in, one loop reconciles networks through the driver.

Sources of work, all funnelled into one queue: the ``dhcp_agent`` fanout
(a port event updates the cached network, which is then served from the
cache; any other event refetches that network), a gap in it or the periodic
timer (full resync), and the dnsmasq death watcher (re-apply that network,
which starts dnsmasq again). The loop drains the queue and coalesces
duplicates: a burst of port events costs no RPC at all.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from neutrino.agents.base import RESYNC, QueueAgent
from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.netns_driver import DhcpDriver
from neutrino.agents.dhcp.network_cache import PORT_EVENTS, NetworkCache, Outcome, PortEvent
from neutrino.linux.dnsmasq import DeathWatcher

LOG = logging.getLogger(__name__)

AGENT_TYPE = "DHCP agent"
BINARY = "neutrino-dhcp-agent"
TOPIC = "dhcp_agent"
FULL = "full"      # (FULL, network id): refetch, re-check that network's devices too
DEVICE = "device"  # (DEVICE, network id): its tap showed up: re-check its devices


def network_id_of(payload: dict) -> str | None:
    if payload.get("network_id"):
        return payload["network_id"]
    for key in ("port", "subnet"):
        if isinstance(payload.get(key), dict) and payload[key].get("network_id"):
            return payload[key]["network_id"]
    if isinstance(payload.get("network"), dict):
        return payload["network"].get("id")
    return None


class DhcpAgent(QueueAgent):
    topic = TOPIC
    thread_prefix = "dhcp"

    def __init__(self, host: str, transport_url: str, state_dir: str,
                 driver: Any = None, report_interval: float = 5,
                 resync_interval: float = 60, rpc_timeout: float = 10):
        super().__init__(host, transport_url, report_interval=report_interval,
                         resync_interval=resync_interval, rpc_timeout=rpc_timeout)
        self.state_dir = state_dir
        self.driver = driver or DhcpDriver()
        self._ready_ports: dict[str, set[tuple]] = {}   # network id -> _served_entries
        self._interfaces: dict[str, str] = {}      # tap name -> network id
        self._stats = {"networks": 0, "subnets": 0, "ports": 0}
        self.watcher = self.devices = None
        self._watched: dict[str, int] = {}          # network id -> dnsmasq pid watched
        self._applied: dict[str, cfg.DhcpPlan] = {}  # network id -> last plan applied
        self.cache = NetworkCache()     # touched by the loop thread only
        self.synced = threading.Event()     # set after each completed full resync

    def _open_sources(self) -> list:
        """dnsmasq deaths and new tap devices; dnsmasq keeps serving when the agent stops."""
        self.watcher = DeathWatcher(self._on_death)
        self.devices = self.driver.watch_devices(self._on_new_device,
                                                 on_lost=lambda: self._queue.put(RESYNC))
        return [self.watcher, self.devices]

    # -- event sources --------------------------------------------------------

    def _on_notification(self, topic: str, event: str, payload: dict, meta: dict) -> None:
        if meta.get("gap"):
            LOG.info("notification gap on %s (seq %s): full resync", topic, meta.get("seq"))
            self._queue.put(RESYNC)
        network_id = network_id_of(payload)
        if not network_id:
            return
        if event in PORT_EVENTS:
            self._queue.put(PortEvent(event, network_id, payload.get("port")))
        else:
            self._queue.put(network_id)

    def _on_death(self, network_id: str) -> None:
        self._watched.pop(network_id, None)
        self._queue.put(network_id)

    def _on_new_device(self, name: str) -> None:
        network_id = self._interfaces.get(name)
        if network_id:
            self._queue.put((DEVICE, network_id))

    def state(self, start_flag: bool = False) -> dict:
        return {"binary": BINARY, "host": self.host, "agent_type": AGENT_TYPE,
                "topic": TOPIC, "start_flag": start_flag,
                "configurations": {"dhcp_driver": "neutrino.linux.dnsmasq",
                                   "dhcp_lease_duration": cfg.LEASE_SECONDS,
                                   "log_agent_heartbeats": False, **self._stats}}

    # -- the loop -------------------------------------------------------------

    def _loop(self) -> None:
        while (items := self._drain()) is not None:
            work, full = self._take(items)
            if RESYNC in items:
                self._resync()
                continue
            for network_id, fetch in work.items():
                network = None if fetch else self.cache.get(network_id)
                if network is None:
                    self._reconcile(network_id, full=network_id in full)
                else:
                    self._apply(network, full=network_id in full, cached=True)

    def _take(self, items: list) -> tuple[dict[str, bool], set[str]]:
        """Port events into the cache, in order; which networks need work.

        Returns {network id: fetch it (else serve it from the cache)} in the
        order the items came, and the networks whose devices to re-check.
        Port events are applied even when a resync follows, so that the
        deleted ports they name are remembered.
        """
        work: dict[str, bool] = {}
        full: set[str] = set()
        for item in items:
            if isinstance(item, PortEvent):
                outcome = self.cache.apply(item)
                if outcome is Outcome.UNCHANGED:
                    continue
                network_id, fetch = item.network_id, outcome is Outcome.REFETCH
            elif isinstance(item, tuple):
                network_id, fetch = item[1], item[0] == FULL
                full.add(network_id)
            elif item == RESYNC:
                continue
            else:
                network_id, fetch = item, True
            work[network_id] = work.get(network_id, False) or fetch
        return work, full

    def _resync(self) -> None:
        try:
            networks = self.plugin.call("get_active_networks_info", host=self.host)
        except Exception as exc:
            LOG.warning("full resync failed, retrying: %s", exc)
            self.cache.retain(set())    # until it works, every event refetches
            self._later(RESYNC)
            return
        active = {net["id"] for net in networks}
        self.cache.retain(active)
        for network in networks:
            self.cache.put(network)
            self._apply(self.cache.get(network["id"]), full=True)
        for network_id in self.driver.served_networks(self.state_dir) - active:
            self._remove(network_id)
        self._stats = {"networks": len(networks),
                       "subnets": sum(len(cfg.dhcp_subnets(n)) for n in networks),
                       "ports": sum(len(n.get("ports", [])) for n in networks)}
        self.synced.set()

    def _reconcile(self, network_id: str, full: bool = False) -> None:
        try:
            network = self.plugin.call("get_network_info", network_id=network_id, host=self.host)
        except Exception as exc:
            LOG.warning("get_network_info %s failed, retrying: %s", network_id, exc)
            self.cache.remove(network_id)   # possibly stale now: the next event refetches
            self._later((FULL, network_id) if full else network_id)
            return
        if network is None:
            self.cache.remove(network_id)
            self._remove(network_id)
        else:
            self.cache.put(network)
            self._apply(self.cache.get(network_id), full=full)

    def _remove(self, network_id: str) -> None:
        self._watched.pop(network_id, None)
        self._applied.pop(network_id, None)
        self.watcher.unwatch(network_id)
        self._interfaces = {k: v for k, v in self._interfaces.items() if v != network_id}
        self._ready_ports.pop(network_id, None)
        try:
            self.driver.remove(network_id, self.state_dir)
            LOG.info("network %s: DHCP removed", network_id)
        except Exception:
            LOG.exception("network %s: removing DHCP failed", network_id)

    def _claim(self, network: dict) -> dict | None:
        port = cfg.find_dhcp_port(network, self.host)
        if port is None:
            LOG.warning("network %s has no DHCP port for this agent", network["id"])
            return None
        device_id = cfg.agent_device_id(self.host, network["id"])
        if port.get("device_id") != device_id or port.get("binding:host_id") != self.host:
            port = self.plugin.call("update_dhcp_port", port_id=port["id"],
                                    port={"device_id": device_id, "binding:host_id": self.host})
            self.cache.put_port(network["id"], port)
        return port

    def _apply(self, network: dict, full: bool = False, cached: bool = False) -> None:
        """Serve ``network``; ``cached``: a copy updated by port events, whose plan
        is not applied again when it did not change (a port went ACTIVE, say).
        A fetched network is always applied: that is how a dead dnsmasq or a
        vanished namespace gets repaired."""
        network_id = network["id"]
        try:
            if not cfg.dhcp_subnets(network) or not network.get("admin_state_up", True):
                if network_id in self.driver.served_networks(self.state_dir):
                    self._remove(network_id)
                return
            port = self._claim(network)
            if port is None:
                return
            plan = cfg.build_plan(network, port, self.state_dir)
            if cached and not full and self._applied.get(network_id) == plan:
                return
            self._interfaces[plan.interface] = network_id
            self._applied.pop(network_id, None)
            applied = self.driver.apply(plan, network, full=full)
            self._applied[network_id] = plan
            if self._watched.get(network_id) != applied.pid:
                # A new pidfd only for a new dnsmasq: applies are frequent.
                self._watched[network_id] = applied.pid
                self.watcher.watch(network_id, applied.pid)
            LOG.info("network %s: dnsmasq %s (pid %s)", network_id, applied.dnsmasq, applied.pid)
            served = _served_entries(network, plan)
            ready = {entry[0] for entry in served - self._ready_ports.get(network_id, set())}
            self._ready_ports[network_id] = served
            if ready:
                self.plugin.cast("dhcp_ready_on_ports", port_ids=sorted(ready))
        except Exception:
            LOG.exception("network %s: DHCP set-up failed, retrying", network_id)
            self._applied.pop(network_id, None)
            self._later((FULL, network_id))


def _served_entries(network: dict, plan) -> set[tuple]:
    """(port id, MAC, addresses) of each port dnsmasq has a host entry for.

    A port is ready again when its MAC or addresses change: the server blocks
    it on DHCP again then (a provisioning block) until this agent says so.
    """
    ids = set(plan.port_ids)
    return {(p["id"], p.get("mac_address"),
             tuple(sorted(f.get("ip_address", "") for f in p.get("fixed_ips", []))))
            for p in network.get("ports", []) if p["id"] in ids}
