"""Drivers: apply OVSDB edits and flow changes to a node, or record them.

``OvsDriver`` talks to the real switch (``linux.ovs`` + ``linux.openflow``);
``RecordingDriver`` keeps an in-memory model of the switch, applies the same
edits to it and records every call, so unit tests check both what was done
and that a second pass finds nothing left to do. A pass may call it from
several threads at once (OVSDB edits beside the flows, bridges side by side):
it keeps its model consistent under a lock, and ``calls`` is in the order the
calls began.
"""
from __future__ import annotations

import itertools
import threading
from dataclasses import replace

from neutrino.agents.ovs.differ import FlowChanges
from neutrino.errors import NeutrinoError
from neutrino.linux import ovs
from neutrino.linux.openflow import Flow, OpenFlowBridge


class OvsDriver:
    def __init__(self, ovsdb: ovs.Ovsdb, rundir: str | None = None):
        self.ovsdb = ovsdb
        self.rundir = rundir
        self._bridges: dict[str, OpenFlowBridge] = {}

    def _of(self, bridge: str) -> OpenFlowBridge:
        if bridge not in self._bridges:
            self._bridges[bridge] = OpenFlowBridge(bridge, self.rundir)
        return self._bridges[bridge]

    def snapshot(self) -> ovs.Snapshot:
        return self.ovsdb.snapshot()

    def dump_flows(self, bridge: str, table: int | None = None) -> list[Flow]:
        return self._of(bridge).dump(table)

    def apply_ovsdb(self, edits: list) -> None:
        self.ovsdb.apply(edits)

    def apply_flows(self, bridge: str, changes: FlowChanges) -> None:
        self._of(bridge).apply(changes.add, changes.delete)


class RecordingDriver:
    """A fake switch: OVSDB rows and flow tables in memory, calls recorded."""

    def __init__(self, snapshot: ovs.Snapshot | None = None):
        self.snap = snapshot or ovs.Snapshot()
        self.flows: dict[str, dict[tuple, Flow]] = {}
        self.calls: list[tuple] = []
        self.dumps = 0
        self._ofports = itertools.count(1)
        self._lock = threading.RLock()

    # -- the driver interface
    def snapshot(self) -> ovs.Snapshot:
        with self._lock:
            return ovs.Snapshot(dict(self.snap.bridges), dict(self.snap.ports),
                                list(self.snap.managers))

    def dump_flows(self, bridge: str, table: int | None = None) -> list[Flow]:
        with self._lock:
            if bridge not in self.snap.bridges:
                raise NeutrinoError(f"no bridge {bridge}")
            self.dumps += 1
            flows = self.flows.get(bridge, {}).values()
            return [f for f in flows if table is None or f.table == table]

    def apply_ovsdb(self, edits: list) -> None:
        with self._lock:
            self.calls.append(("ovsdb", list(edits)))
            for edit in edits:
                self._edit(edit)

    def apply_flows(self, bridge: str, changes: FlowChanges) -> None:
        with self._lock:
            self.calls.append(("flows", bridge, list(changes.add), list(changes.delete)))
            table = self.flows.setdefault(bridge, {})
            for flow in changes.delete:
                table.pop(flow.key, None)
            for flow in changes.add:
                table[flow.key] = flow

    # -- helpers for tests: what a hypervisor or a person would do
    def plug(self, name: str, iface_id: str, mac: str, bridge: str = "br-int") -> None:
        """A port plugged by someone else (Nova's qvo, the DHCP agent's tap)."""
        self._add_port(bridge, name, "", {}, {"iface-id": iface_id, "attached-mac": mac,
                                              "iface-status": "active"})

    def unplug(self, name: str) -> None:
        self._edit(ovs.DelPort(self.snap.ports[name].bridge, name))

    def delete_bridge(self, name: str) -> None:
        for port in self.snap.bridges.pop(name).ports:
            del self.snap.ports[port]
        self.flows.pop(name, None)

    def restart_vswitchd(self) -> None:
        self.flows.clear()

    def _add_port(self, bridge, name, type_, options, external_ids=None):
        self.snap.ports[name] = ovs.PortRow(name=name, bridge=bridge, type=type_,
                                            options=dict(options),
                                            external_ids=dict(external_ids or {}),
                                            ofport=next(self._ofports))
        br = self.snap.bridges[bridge]
        self.snap.bridges[bridge] = replace(br, ports=tuple(sorted({*br.ports, name})))

    def _edit(self, edit) -> None:
        snap = self.snap
        if isinstance(edit, ovs.AddManager):
            snap.managers.append(edit.target)
        elif isinstance(edit, ovs.AddBridge):
            snap.bridges[edit.name] = ovs.BridgeRow(
                edit.name, edit.datapath_type, edit.fail_mode, tuple(edit.protocols),
                dict(edit.other_config))
            self._add_port(edit.name, edit.name, "internal", {})
            snap.ports[edit.name] = replace(snap.ports[edit.name], ofport=65534)
        elif isinstance(edit, ovs.SetBridge):
            cols = dict(edit.columns)
            if "fail_mode" in cols:
                cols["fail_mode"] = cols["fail_mode"][0]
            if "protocols" in cols:
                cols["protocols"] = tuple(cols["protocols"])
            snap.bridges[edit.name] = replace(snap.bridges[edit.name], **cols)
        elif isinstance(edit, ovs.AddPort):
            self._add_port(edit.bridge, edit.name, edit.type, edit.options)
        elif isinstance(edit, ovs.SetInterface):
            snap.ports[edit.name] = replace(snap.ports[edit.name], type=edit.type,
                                            options=dict(edit.options))
        elif isinstance(edit, ovs.SetPort):
            snap.ports[edit.name] = replace(snap.ports[edit.name], tag=edit.tag,
                                            other_config=dict(edit.other_config),
                                            vlan_mode=None, trunks=())
        elif isinstance(edit, ovs.DelPort):
            del snap.ports[edit.name]
            br = snap.bridges[edit.bridge]
            snap.bridges[edit.bridge] = replace(
                br, ports=tuple(p for p in br.ports if p != edit.name))
        else:
            raise NeutrinoError(f"unknown edit {edit!r}")
