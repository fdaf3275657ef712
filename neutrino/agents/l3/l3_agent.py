"""The L3 agent: router events in, one loop reconciles routers through the driver.

An admin-down router is applied as a disabled plan (see ``router_plan``): its
ports stay plugged, it routes nothing, its floating IPs go DOWN.

Sources of work, all funnelled into one queue: the ``l3_agent`` fanout
(``routers_updated`` -> sync those routers, ``router_deleted`` -> that
router), a gap in its numbering or the periodic timer (full sync), and link
events in the node (ovs-vswitchd re-created a qr-/qg- port: re-wire that
router) and the death of a router's metadata proxy (apply again, which
restarts it). The loop drains the queue, coalesces, asks ``sync_routers`` for the
routers it needs and hands each plan to the driver; routers the server no
longer returns are removed. Floating IP statuses go back with
``update_floatingip_statuses``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from neutrino.agents.base import RESYNC, QueueAgent
from neutrino.agents.l3.router_plan import RouterPlan, build_plan

LOG = logging.getLogger(__name__)

AGENT_TYPE = "L3 agent"
BINARY = "neutrino-l3-agent"
TOPIC = "l3_agent"
PLUGIN_TOPIC = "q-l3-plugin"
ACTIVE, DOWN, ERROR = "ACTIVE", "DOWN", "ERROR"


class L3Agent(QueueAgent):
    topic = TOPIC
    plugin_topic = PLUGIN_TOPIC
    thread_prefix = "l3"

    def __init__(self, host: str, transport_url: str, driver: Any,
                 report_interval: float = 5, resync_interval: float = 60,
                 rpc_timeout: float = 10, watch_links: bool = False):
        super().__init__(host, transport_url, report_interval=report_interval,
                         resync_interval=resync_interval, rpc_timeout=rpc_timeout)
        self.driver = driver
        self.watch_links = watch_links
        self._fips: dict[str, dict[str, str]] = {}     # router id -> {fip id: status sent}
        self._devices: dict[str, str] = {}             # qr-/qg- name -> router id
        self._counts = {"routers": 0, "ex_gw_ports": 0, "interfaces": 0, "floating_ips": 0}
        self.links = self.proxies = None
        self.synced = threading.Event()                # set after each full sync
        self.idle = threading.Event()

    def _open_sources(self) -> list:
        """Metadata proxy deaths and (``watch_links``) new qr-/qg- links in the node."""
        from neutrino.linux.dnsmasq import DeathWatcher     # a generic pidfd watcher
        self.proxies = DeathWatcher(self._on_proxy_death)
        if self.watch_links:
            from neutrino.agents.dhcp.link_watch import LinkWatcher
            self.links = LinkWatcher(self._on_new_link, netns=self.driver.node_netns,
                                     prefix="q", on_lost=lambda: self._queue.put(RESYNC))
        return [self.links, self.proxies]

    def _closed(self) -> None:
        """Routers and their metadata proxies keep working; the driver stops announcing."""
        close = getattr(self.driver, "close", None)
        if close:
            close()

    # -- event sources --------------------------------------------------------

    def _on_notification(self, topic: str, event: str, payload: dict, meta: dict) -> None:
        if meta.get("gap"):
            LOG.info("notification gap on %s (seq %s): full sync", topic, meta.get("seq"))
            self._queue.put(RESYNC)
        if event == "routers_updated":
            for router_id in payload.get("router_ids") or []:
                self._queue.put(router_id)
        elif event == "router_deleted" and payload.get("router_id"):
            self._queue.put(payload["router_id"])

    def _on_new_link(self, name: str) -> None:
        router_id = self._devices.get(name)
        if router_id:
            self._queue.put(("full", router_id))

    def _on_proxy_death(self, router_id: str) -> None:
        if router_id in self._fips:
            LOG.warning("router %s: metadata proxy exited, restarting it", router_id)
            self._queue.put(router_id)

    def state(self, start_flag: bool = False) -> dict:
        return {"binary": BINARY, "host": self.host, "agent_type": AGENT_TYPE,
                "topic": TOPIC, "start_flag": start_flag,
                "configurations": {"agent_mode": "legacy", **self._counts,
                                   "interface_driver": "openvswitch",
                                   "handle_internal_only_routers": True,
                                   "external_network_bridge": "",
                                   "log_agent_heartbeats": False}}

    # -- the loop -------------------------------------------------------------

    def _loop(self) -> None:
        while (items := self._drain(before_block=self.idle.set,
                                    after_block=self.idle.clear)) is not None:
            if RESYNC in items:
                self._sync(None)
                continue
            full = {i[1] for i in items if isinstance(i, tuple)}
            ids = list(dict.fromkeys(i[1] if isinstance(i, tuple) else i for i in items))
            self._sync(ids, full)

    def _sync(self, router_ids: list[str] | None, full: set[str] = frozenset()) -> None:
        started = time.monotonic()
        try:
            routers = self.plugin.call("sync_routers", host=self.host, router_ids=router_ids)
        except Exception as exc:
            LOG.warning("sync_routers failed, retrying: %s", exc)
            if router_ids is None:
                self._later(RESYNC)
            else:
                for router_id in router_ids:
                    self._later(("full", router_id) if router_id in full else router_id)
            return
        LOG.debug("sync_routers %s: %d routers in %.0f ms", router_ids or "(all)",
                  len(routers or []), 1000 * (time.monotonic() - started))
        wanted = {r["id"]: r for r in routers or []}
        for router_id, router in wanted.items():
            self._apply(router, full=router_ids is None or router_id in full)
        owned = self.driver.routers()
        gone = owned - set(wanted) if router_ids is None else \
            {r for r in router_ids if r not in wanted and r in owned | set(self._fips)}
        for router_id in sorted(gone):
            self._remove(router_id)
        if router_ids is None:
            self._counts = {
                "routers": len(wanted),
                "ex_gw_ports": sum(1 for r in wanted.values() if r.get("gw_port")),
                "interfaces": sum(len(r.get("_interfaces") or []) for r in wanted.values()),
                "floating_ips": sum(len(r.get("_floatingips") or []) for r in wanted.values())}
            self.synced.set()

    def _apply(self, router: dict, full: bool) -> None:
        router_id = router["id"]
        try:
            plan = build_plan(router)
        except (KeyError, ValueError, TypeError) as exc:
            LOG.error("router %s: unusable router dict: %s", router_id, exc)
            return
        if not plan.enabled:
            self.proxies.unwatch(router_id)     # the driver stops it on purpose
        try:
            started = time.monotonic()
            result = self.driver.apply(plan, full=full)
            LOG.info("router %s applied in %.0f ms%s: %s", router_id,
                     1000 * (time.monotonic() - started), " (full)" if full else "", result)
            pid = self.driver.proxy_pid(router_id) if plan.enabled else None
            if pid:
                self.proxies.watch(router_id, pid)
            statuses = {f.id: ACTIVE for f in plan.floating_ips}
        except Exception:
            LOG.exception("router %s: apply failed, retrying", router_id)
            statuses = {f.id: ERROR for f in plan.floating_ips}
            self._later(("full", router_id))
        for port in plan.ports:
            self._devices[port.name] = router_id
        self._report_fips(router_id, plan, statuses)

    def _report_fips(self, router_id: str, plan: RouterPlan, statuses: dict[str, str]) -> None:
        """Send the statuses that changed; floating IPs this router dropped go DOWN."""
        sent = self._fips.get(router_id, {})
        server_view = {f.id: f.status for f in plan.floating_ips}
        changed = {fid: st for fid, st in statuses.items()
                   if sent.get(fid) != st or server_view.get(fid) != st}
        for fid in set(sent) - set(statuses):
            changed[fid] = DOWN
        self._fips[router_id] = dict(statuses)
        if not changed:
            return
        try:
            self.plugin.call("update_floatingip_statuses", router_id=router_id,
                             fip_statuses=changed)
        except Exception as exc:
            LOG.warning("router %s: update_floatingip_statuses failed: %s", router_id, exc)
            self._fips[router_id] = {k: v for k, v in statuses.items() if k not in changed}

    def _remove(self, router_id: str) -> None:
        sent = self._fips.pop(router_id, {})
        self.proxies.unwatch(router_id)
        self._devices = {k: v for k, v in self._devices.items() if v != router_id}
        try:
            self.driver.remove(router_id)
            LOG.info("router %s removed", router_id)
        except Exception:
            LOG.exception("router %s: removal failed, retrying", router_id)
            self._later(router_id)
            self._fips[router_id] = sent
            return
        if sent:
            try:
                self.plugin.call("update_floatingip_statuses", router_id=router_id,
                                 fip_statuses={fid: DOWN for fid in sent})
            except Exception as exc:
                LOG.warning("router %s: update_floatingip_statuses failed: %s", router_id, exc)
