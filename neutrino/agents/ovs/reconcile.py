"""One pass of the agent: compute the desired state, diff, apply, report.

The pass is the same for a port that appeared, a notification, a periodic
check and a full resync; only what is forgotten beforehand differs. It never
tears down what already matches, so a restarted agent changes nothing on a
node that is right.

Order inside a pass (OVSDB transactions, ``ovs-ofctl`` and the firewall each
wait on something else, so what can overlap does): snapshot, then the
server's details; the firewall then runs beside the compute and the wiring.
The wiring applies the OVSDB edits and the flows side by side when the edits
only retag ports that have an ofport and do not leave the dead VLAN, else the
edits first and the flows after (why that is safe: ``Reconciler._wire``); the
bridges' flows go out side by side. Ports are reported up only once all of it
is done.
"""
from __future__ import annotations

import logging
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from neutrino.agents.ovs import br_int, desired
from neutrino.agents.ovs.differ import FlowChanges, flow_changes, ovsdb_edits
from neutrino.agents.ovs.state import DEAD_VLAN_TAG, AgentConfig
from neutrino.agents.ovs.vlans import LocalVlans
from neutrino.linux import ovs

LOG = logging.getLogger(__name__)


@dataclass
class PassResult:
    edits: int = 0
    flows_added: int = 0
    flows_deleted: int = 0
    devices_up: list = field(default_factory=list)
    devices_down: list = field(default_factory=list)
    # phase -> wall time, for the log. Phases may overlap: "ovsdb" beside
    # "flows" (which includes "dump", the longest bridge dump), "firewall"
    # beside both.
    seconds: dict = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.edits or self.flows_added or self.flows_deleted)

    def timed(self, phase: str, started: float) -> float:
        """Add the time since ``started`` to ``phase``; returns now."""
        now = time.monotonic()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - started
        return now

    def timings(self) -> str:
        return ", ".join(f"{phase} {sec * 1000:.0f} ms" for phase, sec in self.seconds.items())


class Reconciler:
    def __init__(self, config: AgentConfig, driver, server, firewall=None):
        """``firewall``: a ``FirewallHook`` (None: no security groups here)."""
        self.config = config
        self.driver = driver
        self.server = server
        self.firewall = firewall
        self.vlans = LocalVlans()
        self.devices: dict[str, dict] = {}   # port id -> details from the server
        # Details from before a full resync: used (and asked again) while the
        # server does not answer, so a resync during a server outage does not
        # strip the ports' anti-spoofing flows and security groups.
        self._previous: dict[str, dict] = {}
        self.remotes: set[str] = set()
        self.tunnels_synced = False
        self.cookie: int | None = None
        self.reported_up: set[str] = set()
        self.reported_down: set[str] = set()
        self.device_count = 0
        self._started = False
        self._written: dict[str, list] = {}   # bridge -> flows this agent last made true
        self._beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovs-agent-fw")
        self._reporter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovs-agent-up")
        # The OVSDB transaction and the flows of all bridges but one wait on
        # ovs-vswitchd here while the pass thread applies the remaining flows.
        self._switch = ThreadPoolExecutor(max_workers=3, thread_name_prefix="ovs-agent-sw")
        self._reporting = None     # (up, down, future) of the report in flight

    # -- inputs from events
    def forget_port(self, port_id: str) -> None:
        self.devices.pop(port_id, None)

    def forget_network(self, network_id: str) -> None:
        for port_id, details in list(self.devices.items()):
            if details.get("network_id") == network_id:
                del self.devices[port_id]

    def add_tunnel(self, ip: str) -> None:
        if ip and ip != self.config.local_ip:
            self.remotes.add(ip)

    def forget_all(self) -> None:
        """Full resync: ask the server again for everything."""
        self.flush_report()
        self._previous.update(self.devices)
        self.devices.clear()
        self.tunnels_synced = False
        self.reported_up.clear()
        self.reported_down.clear()
        if self.firewall is not None:
            self.firewall.invalidate()

    def forget_unwired(self) -> None:
        """Ports the server did not know or could not bind are asked again."""
        for port_id, details in list(self.devices.items()):
            if not desired.wireable(self.config, details):
                del self.devices[port_id]

    # -- the pass
    def _start(self, snap) -> None:
        self.vlans.restore(desired.device_ports(self.config, snap))
        # Keep the tunnels already there until the server says which endpoints exist.
        for port in snap.ports_on(self.config.tunnel_bridge):
            if port.type == "vxlan" and port.options.get("local_ip") == self.config.local_ip:
                self.add_tunnel(port.options.get("remote_ip"))
        self.cookie = self._previous_cookie(snap) or random.getrandbits(63) | 1
        self._started = True

    def _previous_cookie(self, snap) -> int | None:
        """Keep the cookie of the flows already there (the canary's), if any."""
        if self.config.integration_bridge not in snap.bridges:
            return None
        try:
            canary = self.driver.dump_flows(self.config.integration_bridge,
                                            br_int.CANARY_TABLE)
        except Exception:
            return None
        return canary[0].cookie if canary else None

    def canary_missing(self) -> bool:
        try:
            return not self.driver.dump_flows(self.config.integration_bridge,
                                              br_int.CANARY_TABLE)
        except Exception:
            return True

    def _sync_tunnels(self) -> None:
        if self.tunnels_synced:
            return
        try:
            reply = self.server.tunnel_sync(self.config.local_ip) or {}
        except Exception as exc:
            LOG.warning("tunnel_sync failed: %s", exc)
            return
        self.remotes = set()              # the server's list replaces what we kept
        for tunnel in reply.get("tunnels", []):
            self.add_tunnel(tunnel.get("ip_address"))
        self.tunnels_synced = True

    def _fetch_details(self, snap) -> set[str]:
        """Ask the server about plugged ports not known yet; returns the
        plugged ports this pass knows or asked about."""
        plugged = {p.iface_id for p in desired.device_ports(self.config, snap)}
        for port_id in list(self.devices):
            if port_id not in plugged:
                del self.devices[port_id]
        for port_id in list(self._previous):
            if port_id not in plugged:
                del self._previous[port_id]
        missing = sorted((plugged - set(self.devices)) | set(self._previous))
        if not missing:
            return plugged
        try:
            answer = self.server.get_devices_details_list(missing) or []
        except Exception as exc:
            LOG.warning("get_devices_details_list failed: %s", exc)
            for port_id in missing:
                if port_id in self._previous:
                    self.devices[port_id] = self._previous[port_id]
            return plugged
        for details in answer:
            self.devices[details["device"]] = details
            self._previous.pop(details["device"], None)
        return plugged

    def run(self, verify: bool = True, wait_report: bool = True) -> PassResult:
        """One pass. ``verify`` dumps every bridge's flows to catch drift;
        without it a bridge whose flows this agent wrote is diffed against
        what it wrote (an event pass then costs no dump at all). Without
        ``wait_report`` the pass returns while its report to the server is
        in flight (see ``_report``)."""
        result = PassResult()
        t = time.monotonic()
        snap = self.driver.snapshot()
        if not self._started:
            self._start(snap)
        self._sync_tunnels()
        t = result.timed("snapshot", t)
        asked = self._fetch_details(snap)
        t = result.timed("details", t)
        # The firewall (a server call, iptables-restore) runs beside the
        # compute, OVSDB edits and flows (waits on ovs-vswitchd): the pass
        # takes the longer of the two, not their sum. It needs the details
        # only, which nothing changes until the next pass. Its ports are
        # those this pass asked about; one plugged meanwhile is the next
        # pass's.
        firewall = None
        if self.firewall is not None:
            firewall = self._beside.submit(self._sync_firewall, asked, verify)
        try:
            want = desired.compute(self.config, snap, self.devices, self.vlans,
                                   self.remotes, self.cookie)
            edits = ovsdb_edits(want, snap)
            t = result.timed("compute", t)
            want, snap = self._wire(want, snap, edits, verify, result)
        finally:
            unfiltered, fw_seconds = firewall.result() if firewall else (set(), 0.0)
        if firewall:
            result.seconds["firewall"] = fw_seconds
        t = time.monotonic()
        self._report(want, snap, result, unfiltered, wait_report)
        result.timed("report", t)
        return result

    def _sync_firewall(self, asked: set[str], verify: bool) -> tuple[set[str], float]:
        started = time.monotonic()
        unfiltered = self.firewall.sync(set(asked), self.devices, verify)
        return unfiltered, time.monotonic() - started

    def _wire(self, want, snap, edits, verify: bool, result: PassResult):
        """OVSDB edits and the flows of every bridge; returns the desired
        state and a snapshot taken after the edits.

        When the edits only change existing ports (``SetPort``: a port's tag
        and other_config, the usual pass of a burst of plugs), the flows do
        not depend on them: the ports' ofports are in ``snap`` already and
        ``desired.compute`` would give the same flows after the edits (a port
        plugged meanwhile is the next pass's, as for the firewall). So the
        flows go out while the OVSDB transaction waits for ovs-vswitchd, and
        the pass skips computing again. This opens nothing early: a port's
        own flows only restrict what it may send (anti-spoofing, or the drop
        of a dead port); which ports and networks it reaches is its tag, and
        until the tag lands the port stays where it was (as plugged, or in
        its former VLAN). A port leaving the dead VLAN 4095 is the exception
        (its flows remove the drop that keeps it silent there), so a pass
        with one keeps the order below. Ports are reported up only after
        both are done (``run``), against a snapshot taken after the edits.

        Other edits (bridges, ports or interfaces added, deleted or changed:
        a changed interface may be renumbered) come first: the flows need the
        ofports ovs-vswitchd gives the new rows, read from a new snapshot.
        """
        for edit in edits:
            if isinstance(edit, ovs.AddBridge):
                self._written.pop(edit.name, None)
        if edits and self._retag_only(edits, snap):
            pending = self._switch.submit(self._timed, self.driver.apply_ovsdb, edits)
            try:
                self.vlans.keep_only(desired.networks_in_use(want))
                self._apply_flows(want, snap, verify, result)
            finally:
                wait([pending])
            result.seconds["ovsdb"] = pending.result()
            result.edits = len(edits)
            snap = self.driver.snapshot()
        else:
            if edits:
                t = time.monotonic()
                self.driver.apply_ovsdb(edits)
                result.edits = len(edits)
                t = result.timed("ovsdb", t)
                snap = self.driver.snapshot()
                want = desired.compute(self.config, snap, self.devices, self.vlans,
                                       self.remotes, self.cookie)
                result.timed("compute", t)
            self.vlans.keep_only(desired.networks_in_use(want))
            self._apply_flows(want, snap, verify, result)
        self.device_count = len(want.bindings)
        return want, snap

    @staticmethod
    def _retag_only(edits, snap) -> bool:
        """True when ``edits`` only set the tag/other_config of ports that
        have their ofport already and do not leave the dead VLAN: their
        flows need not wait for the edits (see ``_wire``)."""
        def early_flows_safe(edit) -> bool:
            row = snap.ports.get(edit.name) if isinstance(edit, ovs.SetPort) else None
            return (row is not None and row.ofport > 0
                    and (row.tag != DEAD_VLAN_TAG or edit.tag == DEAD_VLAN_TAG))
        return all(early_flows_safe(edit) for edit in edits)

    @staticmethod
    def _timed(call, *args) -> float:
        started = time.monotonic()
        call(*args)
        return time.monotonic() - started

    def _apply_flows(self, want, snap, verify: bool, result: PassResult) -> None:
        """The flows of every bridge in ``snap``. Bridges that need
        ``ovs-ofctl`` (a dump, or changes to apply) go side by side: each
        bridge is its own table and its own call, none waits for another.
        Waits for all of them, even when one fails."""
        t = time.monotonic()
        calls = []
        for bridge, flows in want.flows.items():
            if bridge not in snap.bridges:
                continue
            written = None if verify else self._written.get(bridge)
            changes = None if written is None else flow_changes(flows, written)
            if changes is None or changes:
                calls.append((bridge, flows, changes))
        if not calls:
            return
        *beside, last = calls
        pending: list[Future] = [self._switch.submit(self._sync_bridge, *call)
                                 for call in beside]
        try:
            done = [self._sync_bridge(*last)]
        finally:
            wait(pending)
        done += [future.result() for future in pending]
        for added, deleted, dumped in done:
            result.flows_added += added
            result.flows_deleted += deleted
            if dumped:
                result.seconds["dump"] = max(result.seconds.get("dump", 0.0), dumped)
        result.timed("flows", t)

    def _sync_bridge(self, bridge: str, flows: list,
                     changes: FlowChanges | None) -> tuple[int, int, float]:
        """Make ``bridge``'s flows ``flows`` by applying ``changes`` (from
        the flows this agent wrote last) or, when None, the difference with
        a dump; returns (added, deleted, seconds spent dumping)."""
        dumped = 0.0
        if changes is None:
            started = time.monotonic()
            changes = flow_changes(flows, self.driver.dump_flows(bridge))
            dumped = time.monotonic() - started
        if changes:
            self._written.pop(bridge, None)
            self.driver.apply_flows(bridge, changes)
        self._written[bridge] = list(flows)
        return len(changes.add), len(changes.delete), dumped

    def _report(self, want, snap, result: PassResult, unfiltered: set[str],
                wait: bool = True) -> None:
        """Ports wired (and filtered, when they must be) are up, others down.

        Without ``wait`` the call to the server goes on while the next pass
        starts (the agent's loop): that pass first takes its answer into
        account, so nothing is reported twice.
        """
        self.flush_report()
        up_now = {b.port_id for b in want.bindings.values()
                  if b.up and snap.ports.get(b.name) is not None
                  and snap.ports[b.name].tag == b.tag and b.port_id not in unfiltered}
        result.devices_up = sorted(up_now - self.reported_up)
        result.devices_down = sorted(self.reported_up - up_now)
        if not (result.devices_up or result.devices_down):
            return
        up, down = list(result.devices_up), list(result.devices_down)
        self._reporting = (up, down, self._reporter.submit(
            self.server.update_device_list, up, down))
        if wait:
            self.flush_report()

    def flush_report(self) -> None:
        """Wait for the report in flight, if any, and record what it changed."""
        if self._reporting is None:
            return
        sent_up, sent_down, call = self._reporting
        self._reporting = None
        try:
            reply = call.result()
        except Exception as exc:
            LOG.warning("update_device_list failed: %s", exc)
            return
        reply = reply if isinstance(reply, dict) else {}
        # Devices the server could not update are reported again by the next pass.
        up = set(sent_up) - set(reply.get("failed_devices_up") or [])
        down = set(sent_down) - set(reply.get("failed_devices_down") or [])
        self.reported_up = (self.reported_up | up) - down
        self.reported_down = (self.reported_down | down) - up

    def report_unplugged(self) -> None:
        """After a resync: ports bound here but not plugged are DOWN."""
        self.flush_report()
        try:
            bound = set(self.server.get_ports_on_host() or [])
        except Exception as exc:
            LOG.warning("get_ports_on_host failed: %s", exc)
            return
        plugged = {p.iface_id for p in desired.device_ports(self.config,
                                                            self.driver.snapshot())}
        down = sorted(bound - plugged - self.reported_down)
        if down:
            try:
                self.server.update_device_list([], down)
            except Exception as exc:
                LOG.warning("update_device_list failed: %s", exc)
                return
            self.reported_down |= set(down)
