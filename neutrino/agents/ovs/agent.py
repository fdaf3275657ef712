"""The agent process: one queue of events, one loop draining it.

Events come from the OVSDB monitor (a port, interface or bridge changed), the
fanout notifications (port/network update or delete, tunnel update, security
group rule or member update, or a gap in their numbering) and a periodic check (every ``check_interval`` seconds:
canary flow present? anything drifted?), put off while events keep coming
(one more interval at most). Each wake-up drains the queue, then runs one
reconcile pass, so a burst of events costs one pass.
"""
from __future__ import annotations

import logging
import queue
import threading
import time

from neutrino.agents.ovs.reconcile import Reconciler
from neutrino.agents.ovs.state import AgentConfig

LOG = logging.getLogger(__name__)

AGENT_TYPE = "Open vSwitch agent"
BINARY = "neutrino-openvswitch-agent"
WATCHED_TABLES = ("Bridge", "Port", "Interface")
SG_EVENTS = ("security_groups_rule_updated", "security_groups_member_updated")


class Agent:
    def __init__(self, config: AgentConfig, driver, server, listen=None,
                 check_interval: float = 3.0, report_interval: float = 5.0,
                 firewall=None):
        """``listen(callback) -> stop`` subscribes to the fanout notifications;
        ``firewall`` is a ``FirewallHook`` (None: ports are not filtered)."""
        self.config = config
        self.server = server
        self.firewall = firewall
        self.reconciler = Reconciler(config, driver, server, self.firewall)
        self.listen = listen
        self.check_interval = check_interval
        self.report_interval = report_interval
        self.events: queue.Queue = queue.Queue()
        self.passes = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._stop_listening = None
        self._first_report = True
        self.idle = threading.Event()

    # -- event sources (called from other threads)
    def on_ovsdb_change(self, table: str, event: str, name: str) -> None:
        if table in WATCHED_TABLES:
            self.events.put(("ovsdb", None))

    def on_notification(self, topic: str, event: str, payload: dict, meta: dict) -> None:
        if meta.get("gap"):
            self.events.put(("resync", None))
        if event == "port_update":
            self.events.put(("port", (payload.get("port") or {}).get("id")))
        elif event == "port_delete":
            self.events.put(("port", payload.get("port_id")))
        elif event in ("network_update", "network_delete"):
            network = payload.get("network") or {}
            self.events.put(("network", payload.get("network_id") or network.get("id")))
        elif event == "tunnel_update":
            self.events.put(("tunnel", payload.get("tunnel_ip")))
        elif event in SG_EVENTS:
            self.events.put(("security_groups", payload.get("security_groups") or []))

    # -- life cycle
    def start(self) -> None:
        if self.listen is not None:
            self._stop_listening = self.listen(self.on_notification)
        self.events.put(("resync", None))
        for target, name in ((self._loop, "ovs-agent-loop"),
                             (self._report_loop, "ovs-agent-report")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.events.put(("stop", None))
        if self._stop_listening is not None:
            self._stop_listening()
        for thread in self._threads:
            thread.join(timeout=10)

    def request_stop(self) -> None:
        """Ask ``wait`` to return (safe from a signal handler)."""
        self._stop.set()

    def wait(self) -> None:
        """Block until stopped (the CLI's main thread)."""
        while not self._stop.wait(3600):
            pass

    # -- the loop
    def _drain(self, first) -> tuple[bool, bool]:
        """Apply queued events to the reconciler; (resync, stop)."""
        resync = stop = False
        item = first
        while item is not None:
            kind, value = item
            if kind == "stop":
                stop = True
            elif kind == "resync":
                resync = True
            elif kind == "port" and value:
                self.reconciler.forget_port(value)
            elif kind == "network" and value:
                self.reconciler.forget_network(value)
            elif kind == "tunnel":
                self.reconciler.add_tunnel(value)
            elif kind == "security_groups" and self.firewall is not None:
                self.firewall.groups_changed(value)
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                item = None
        return resync, stop

    def _loop(self) -> None:
        next_check = time.monotonic() + self.check_interval
        while not self._stop.is_set():
            self.idle.set()
            try:
                item = self.events.get(timeout=max(0.0, next_check - time.monotonic()))
            except queue.Empty:
                item = None
            self.idle.clear()
            resync, stop = self._drain(item)
            if stop:
                break
            # The check (a dump of every bridge, a firewall re-read) waits for
            # a moment without events, one interval at most: during a burst of
            # plugs it would hold back the passes wiring the new ports.
            now = time.monotonic()
            periodic = now >= next_check and (item is None
                                              or now >= next_check + self.check_interval)
            if periodic:
                next_check = time.monotonic() + self.check_interval
                if self.reconciler.canary_missing():
                    LOG.warning("canary flow missing (ovs-vswitchd restarted?): full resync")
                    resync = True
                else:
                    self.reconciler.forget_unwired()
            if resync:
                self.reconciler.forget_all()
            try:
                # The report of a pass goes to the server while the next
                # pass starts (a burst of plugs: the server is slow then).
                result = self.reconciler.run(verify=resync or periodic, wait_report=False)
                self.passes += 1
                if result.changed or result.devices_up or result.devices_down:
                    LOG.info("pass %d: %d OVSDB edits, +%d/-%d flows, up %s, down %s (%s)",
                             self.passes, result.edits, result.flows_added,
                             result.flows_deleted, result.devices_up, result.devices_down,
                             result.timings())
                if resync:
                    self.reconciler.report_unplugged()
            except Exception:
                LOG.exception("reconcile pass failed; retrying at the next check")

    # -- heartbeat
    def state(self) -> dict:
        return {
            "binary": BINARY, "host": self.config.host, "agent_type": AGENT_TYPE,
            "topic": "N/A", "start_flag": self._first_report,
            "configurations": {
                "bridge_mappings": dict(self.config.bridge_mappings),
                "tunnel_types": ["vxlan"],
                "tunneling_ip": self.config.local_ip,
                "integration_bridge": self.config.integration_bridge,
                "datapath_type": self.config.datapath_type,
                "ovs_hybrid_plug": True,
                "devices": self.reconciler.device_count,
                "l2_population": False,
                "arp_responder_enabled": False,
                "enable_distributed_routing": False,
            },
        }

    def _report_loop(self) -> None:
        while True:
            try:
                self.server.report_state(self.state())
                self._first_report = False
            except Exception as exc:
                LOG.warning("report_state failed: %s", exc)
            if self._stop.wait(self.report_interval):
                return
