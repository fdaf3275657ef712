"""The DHCP agent: events in, one loop reconciles networks through the driver.

Sources of work, all funnelled into one queue: the ``dhcp_agent`` fanout
(any event -> refetch that network), a gap in it or the periodic timer (full
resync), and the dnsmasq death watcher (re-apply that network, which starts
dnsmasq again). The loop drains the queue and coalesces duplicates.
"""
from __future__ import annotations

import datetime
import logging
import queue
import threading
from typing import Any

from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.netns_driver import DhcpDriver
from neutrino.linux.dnsmasq import DeathWatcher
from neutrino.rpc import NotificationListener, RpcClient

LOG = logging.getLogger(__name__)

AGENT_TYPE = "DHCP agent"
BINARY = "neutrino-dhcp-agent"
TOPIC = "dhcp_agent"
RESYNC = "resync"
FULL = "full"      # (FULL, network id): re-check that network's devices too
RETRY_DELAY = 1.0


def network_id_of(payload: dict) -> str | None:
    if payload.get("network_id"):
        return payload["network_id"]
    for key in ("port", "subnet"):
        if isinstance(payload.get(key), dict) and payload[key].get("network_id"):
            return payload[key]["network_id"]
    if isinstance(payload.get("network"), dict):
        return payload["network"].get("id")
    return None


class DhcpAgent:
    def __init__(self, host: str, transport_url: str, state_dir: str,
                 driver: Any = None, report_interval: float = 5,
                 resync_interval: float = 60, rpc_timeout: float = 10):
        self.host = host
        self.url = transport_url
        self.state_dir = state_dir
        self.driver = driver or DhcpDriver()
        self.report_interval = report_interval
        self.resync_interval = resync_interval
        self.rpc_timeout = rpc_timeout
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ready_ports: dict[str, set[str]] = {}
        self._interfaces: dict[str, str] = {}      # tap name -> network id
        self.devices = None
        self._stats = {"networks": 0, "subnets": 0, "ports": 0}
        self.plugin = self.reports = self.listener = self.watcher = None
        self.synced = threading.Event()     # set after each completed full resync

    # -- life cycle -----------------------------------------------------------

    def start(self) -> "DhcpAgent":
        try:
            self.plugin = RpcClient(self.url, "q-plugin", timeout=self.rpc_timeout)
            self.reports = RpcClient(self.url, "q-reports-plugin", timeout=self.rpc_timeout)
            self.watcher = DeathWatcher(lambda net: self._queue.put(net))
            self.devices = self.driver.watch_devices(self._on_new_device,
                                                     on_lost=lambda: self._queue.put(RESYNC))
            # Listen before the first full sync, so nothing falls in between.
            self.listener = NotificationListener(self.url, [TOPIC], self._on_notification,
                                                 host=self.host).start()
        except BaseException:
            self.stop()
            raise
        self._queue.put(RESYNC)
        for target, name in ((self._loop, "dhcp-loop"), (self._heartbeat, "dhcp-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop the agent; dnsmasq keeps serving (as with Neutron's agent)."""
        self._stop.set()
        self._queue.put(None)
        for thread in self._threads:
            thread.join(10)
        for part in (self.listener, self.watcher, self.devices):
            if part is not None:
                part.stop()
        for client in (self.plugin, self.reports):
            if client is not None:
                client.close()

    def request_stop(self) -> None:
        """Safe from a signal handler: ``wait`` returns, then call ``stop``."""
        self._stop.set()

    def wait(self) -> None:
        self._stop.wait()

    # -- event sources --------------------------------------------------------

    def _on_notification(self, topic: str, event: str, payload: dict, meta: dict) -> None:
        if meta.get("gap"):
            LOG.info("notification gap on %s (seq %s): full resync", topic, meta.get("seq"))
            self._queue.put(RESYNC)
        network_id = network_id_of(payload)
        if network_id:
            self._queue.put(network_id)

    def _on_new_device(self, name: str) -> None:
        network_id = self._interfaces.get(name)
        if network_id:
            self._queue.put((FULL, network_id))

    def _later(self, item) -> None:
        timer = threading.Timer(RETRY_DELAY, self._queue.put, args=(item,))
        timer.daemon = True
        timer.start()

    def _heartbeat(self) -> None:
        start_flag = True
        next_resync = self.resync_interval
        elapsed = 0.0
        while not self._stop.is_set():
            try:
                self.reports.call("report_state", agent_state=self._state(start_flag),
                                  time=datetime.datetime.now(datetime.timezone.utc).isoformat())
                start_flag = False
            except Exception as exc:
                LOG.warning("report_state failed: %s", exc)
            if self._stop.wait(self.report_interval):
                return
            elapsed += self.report_interval
            if elapsed >= next_resync:
                next_resync += self.resync_interval
                self._queue.put(RESYNC)

    def _state(self, start_flag: bool) -> dict:
        return {"binary": BINARY, "host": self.host, "agent_type": AGENT_TYPE,
                "topic": TOPIC, "start_flag": start_flag,
                "configurations": {"dhcp_driver": "neutrino.linux.dnsmasq",
                                   "dhcp_lease_duration": cfg.LEASE_SECONDS,
                                   "log_agent_heartbeats": False, **self._stats}}

    # -- the loop -------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if None in items or self._stop.is_set():
                return
            if RESYNC in items:
                self._resync()
                continue
            full = {item[1] for item in items if isinstance(item, tuple)}
            for network_id in dict.fromkeys(i[1] if isinstance(i, tuple) else i for i in items):
                self._reconcile(network_id, full=network_id in full)

    def _resync(self) -> None:
        try:
            networks = self.plugin.call("get_active_networks_info", host=self.host)
        except Exception as exc:
            LOG.warning("full resync failed, retrying: %s", exc)
            self._later(RESYNC)
            return
        active = {net["id"] for net in networks}
        for network in networks:
            self._apply(network, full=True)
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
            self._later((FULL, network_id) if full else network_id)
            return
        if network is None:
            self._remove(network_id)
        else:
            self._apply(network, full=full)

    def _remove(self, network_id: str) -> None:
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
        return port

    def _apply(self, network: dict, full: bool = False) -> None:
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
            self._interfaces[plan.interface] = network_id
            applied = self.driver.apply(plan, network, full=full)
            self.watcher.watch(network_id, applied.pid)
            LOG.info("network %s: dnsmasq %s (pid %s)", network_id, applied.dnsmasq, applied.pid)
            ready = set(plan.port_ids) - self._ready_ports.get(network_id, set())
            self._ready_ports[network_id] = set(plan.port_ids)
            if ready:
                self.plugin.cast("dhcp_ready_on_ports", port_ids=sorted(ready))
        except Exception:
            LOG.exception("network %s: DHCP set-up failed, retrying", network_id)
            self._later((FULL, network_id))
