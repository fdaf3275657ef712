"""The node's OVSDB through ovsdbapp: a snapshot of rows, edits, and a monitor.

One ``Ovsdb`` holds one IDL connection. The IDL keeps a live in-memory copy of
the tables we register (only the columns we use, so interface statistics never
wake us up); ``snapshot()`` turns it into plain data (through a mirror that
converts a row again only when the IDL reports it changed), ``apply(edits)`` commits
a list of edits in one transaction (waiting until ovs-vswitchd has applied it,
so new interfaces have their ofport), and ``on_change`` is called from the IDL
thread whenever a watched row changes: the agent's event source, no polling.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable

from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import connection as ovs_connection
from ovsdbapp.backend.ovs_idl import idlutils
from ovsdbapp.schema.open_vswitch import impl_idl

from neutrino.errors import NeutrinoError

LOG = logging.getLogger(__name__)

COLUMNS = {
    "Open_vSwitch": ["bridges", "manager_options", "cur_cfg", "next_cfg"],
    "Bridge": ["name", "ports", "datapath_type", "fail_mode", "protocols",
               "other_config", "external_ids"],
    "Port": ["name", "interfaces", "tag", "other_config", "vlan_mode", "trunks"],
    "Interface": ["name", "type", "options", "external_ids", "ofport"],
    "Manager": ["target"],
}


# ---- read side ---------------------------------------------------------------

@dataclass(frozen=True)
class PortRow:
    """A Port with its (single) Interface, as the agent needs it."""
    name: str
    bridge: str
    type: str = ""
    options: dict = field(default_factory=dict)
    external_ids: dict = field(default_factory=dict)
    tag: int | None = None
    other_config: dict = field(default_factory=dict)
    ofport: int = -1
    vlan_mode: str | None = None
    trunks: tuple = ()

    @property
    def iface_id(self) -> str | None:
        return self.external_ids.get("iface-id")


@dataclass(frozen=True)
class BridgeRow:
    name: str
    datapath_type: str = ""
    fail_mode: str | None = None
    protocols: tuple = ()
    other_config: dict = field(default_factory=dict)
    ports: tuple = ()


@dataclass
class Snapshot:
    """What OVSDB holds: bridges, ports by name, manager targets."""
    bridges: dict[str, BridgeRow] = field(default_factory=dict)
    ports: dict[str, PortRow] = field(default_factory=dict)
    managers: list[str] = field(default_factory=list)

    def ports_on(self, bridge: str) -> list[PortRow]:
        return [p for p in self.ports.values() if p.bridge == bridge]

    def ofport(self, name: str) -> int:
        row = self.ports.get(name)
        return row.ofport if row else -1


# ---- write side --------------------------------------------------------------

@dataclass(frozen=True)
class AddManager:
    target: str


@dataclass(frozen=True)
class AddBridge:
    name: str
    datapath_type: str
    fail_mode: str
    protocols: tuple
    other_config: dict


@dataclass(frozen=True)
class SetBridge:
    name: str
    columns: dict


@dataclass(frozen=True)
class AddPort:
    bridge: str
    name: str
    type: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SetInterface:
    name: str
    type: str
    options: dict


@dataclass(frozen=True)
class SetPort:
    """Tag (None = untagged) and other_config; vlan_mode and trunks cleared."""
    name: str
    tag: int | None
    other_config: dict


@dataclass(frozen=True)
class DelPort:
    bridge: str
    name: str


Edit = AddManager | AddBridge | SetBridge | AddPort | SetInterface | SetPort | DelPort


def _one(value):
    """Optional scalar columns read as [] or [x]."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _opt(value) -> list:
    return [] if value is None else [value]


# The tables in which each kind of edit looks rows up by name.
_LOOKS_UP = {SetBridge: ("Bridge",), AddPort: ("Bridge",), SetInterface: ("Interface",),
             SetPort: ("Port",), DelPort: ("Bridge", "Port")}


class _ApplyEdits(ovs_command.BaseCommand):
    """All edits of one plan as a single ovsdbapp command (one transaction)."""

    def __init__(self, api, edits: list, mirror: _Mirror):
        super().__init__(api)
        self.edits = edits
        self.mirror = mirror
        self._names: dict[str, dict] = {}

    def _row(self, table: str, name: str):
        """The row named ``name``, found through the mirror's names rather
        than by reading every row's name from the IDL; a row this transaction
        inserted is not in the mirror and is found by a scan."""
        rows = self.api.tables[table].rows
        row = self._names.get(table, {}).get(name)
        if row is None or rows.get(row.uuid) is not row:
            row = next((r for r in rows.values() if r.name == name), None)
        if row is None:
            raise NeutrinoError(f"OVSDB has no {table} {name!r}")
        return row

    def _new_port(self, txn, bridge_row, name: str, type_: str, options: dict):
        iface = txn.insert(self.api.tables["Interface"])
        iface.name = name
        if type_:
            iface.type = type_
        if options:
            iface.options = options
        port = txn.insert(self.api.tables["Port"])
        port.name = name
        port.interfaces = [iface]
        bridge_row.addvalue("ports", port)
        txn.expected_ifaces.add(iface.uuid)
        return port

    def run_idl(self, txn):
        # Before any edit: rows changed or inserted by this transaction read
        # as their new values, which the mirror must not keep.
        needed = {table for edit in self.edits for table in _LOOKS_UP.get(type(edit), ())}
        self._names = {table: self.mirror.rows_by_name(self.api.tables, table)
                       for table in needed}
        root = self.api._ovs
        for edit in self.edits:
            if isinstance(edit, AddManager):
                mgr = txn.insert(self.api.tables["Manager"])
                mgr.target = edit.target
                root.addvalue("manager_options", mgr)
            elif isinstance(edit, AddBridge):
                br = txn.insert(self.api.tables["Bridge"])
                br.name = edit.name
                br.datapath_type = edit.datapath_type
                br.fail_mode = [edit.fail_mode]
                br.protocols = list(edit.protocols)
                br.other_config = dict(edit.other_config)
                root.addvalue("bridges", br)
                self._new_port(txn, br, edit.name, "internal", {})
            elif isinstance(edit, SetBridge):
                br = self._row("Bridge", edit.name)
                for column, value in edit.columns.items():
                    setattr(br, column, value)
            elif isinstance(edit, AddPort):
                self._new_port(txn, self._row("Bridge", edit.bridge), edit.name,
                               edit.type, edit.options)
            elif isinstance(edit, SetInterface):
                iface = self._row("Interface", edit.name)
                iface.type = edit.type
                iface.options = dict(edit.options)
            elif isinstance(edit, SetPort):
                port = self._row("Port", edit.name)
                port.tag = _opt(edit.tag)
                port.other_config = dict(edit.other_config)
                if _one(getattr(port, "vlan_mode", [])) is not None:
                    port.vlan_mode = []
                if getattr(port, "trunks", []):
                    port.trunks = []
            elif isinstance(edit, DelPort):
                port = self._row("Port", edit.name)
                br = self._row("Bridge", edit.bridge)
                br.delvalue("ports", port)
                port.delete()
            else:
                raise NeutrinoError(f"unknown OVSDB edit {edit!r}")


class Ovsdb:
    """One monitored connection to the node's ovsdb-server."""

    def __init__(self, remote: str, timeout: float = 10,
                 on_change: Callable[[str, str, str], None] | None = None):
        self.remote = remote
        self.timeout = timeout
        self.on_change = on_change
        self._conn = None
        self._api = None
        self._mirror = _Mirror()

    def start(self) -> None:
        quiet = logging.getLogger(idlutils.__name__)
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)      # our own error below says it once
        try:
            helper = idlutils.get_schema_helper(self.remote, "Open_vSwitch")
        except Exception as exc:
            raise NeutrinoError(f"cannot reach OVSDB at {self.remote}: {exc}") from None
        finally:
            quiet.setLevel(level)
        for table, columns in COLUMNS.items():
            helper.register_columns(table, columns)
        idl = _WatchingIdl(self.remote, helper)
        idl.owner = self
        self._conn = ovs_connection.Connection(idl, timeout=self.timeout)
        # ovsdbapp keeps the connection on the class: one subclass per node.
        api_class = type("NodeOvsdb", (impl_idl.OvsdbIdl,), {})
        self._api = api_class(self._conn)

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.stop(timeout=5)
            self._conn = None

    @property
    def lock(self) -> threading.RLock:
        return self._conn.lock

    def snapshot(self) -> Snapshot:
        with self._conn.lock:
            return self._mirror.snapshot(self._api.tables)

    def apply(self, edits: list) -> None:
        if not edits:
            return
        with self._api.transaction(check_error=True) as txn:
            txn.add(_ApplyEdits(self._api, list(edits), self._mirror))

    def _notify(self, table: str, event: str, name: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(table, event, name)
            except Exception:
                LOG.exception("OVSDB change callback failed")


class _WatchingIdl(ovs_connection.OvsdbIdl):
    """The IDL calls ``notify`` on its thread for every row change it applies
    (with the connection lock held: ovsdbapp runs the IDL under it)."""
    owner: Ovsdb | None = None

    def notify(self, event, row, updates=None):
        if self.owner is not None:
            table = row._table.name
            self.owner._mirror.changed(table, row.uuid)
            name = "" if table in ("Open_vSwitch", "Manager") else getattr(row, "name", "")
            self.owner._notify(table, event, name)


# ---- the mirror: IDL rows as plain values ---------------------------------------

def _refs(row, column: str) -> list:
    """The UUIDs (as ints) a reference column holds, sorted as the IDL sorts
    its rows.

    Reading the column through the IDL drops references to rows it does not
    hold (yet); the raw UUIDs let the snapshot resolve them when it is taken,
    so a row arriving later is found without its referrer having changed."""
    return sorted(uuid.int for uuid in row._data[column].as_list())


def _bridge_values(br) -> tuple:
    return (br.name, _refs(br, "ports"), br.datapath_type, _one(br.fail_mode),
            tuple(br.protocols), dict(br.other_config))


def _port_values(port) -> tuple:
    return (port.name, _refs(port, "interfaces"), _one(port.tag), dict(port.other_config),
            _one(port.vlan_mode), tuple(port.trunks))


def _iface_values(iface) -> tuple:
    return (iface.name, iface.type, dict(iface.options), dict(iface.external_ids),
            _one(iface.ofport) or -1)


def _manager_values(mgr) -> tuple:
    return (mgr.target,)


class _TableCache:
    """One table's rows converted to plain values, each converted again only
    when the IDL reported it changed (or replaced it, as after a reconnect)."""

    def __init__(self, convert: Callable):
        self._convert = convert
        self._entries: dict = {}            # uuid.int -> (IDL row, values)
        self.dirty: set = set()

    def values(self, rows) -> dict:
        """uuid.int -> values for every row the IDL holds now, in its order."""
        old, dirty, convert = self._entries, self.dirty, self._convert
        entries, out = {}, {}
        for uuid, row in rows.items():
            key = uuid.int
            entry = old.get(key)
            if entry is None or entry[0] is not row or (dirty and key in dirty):
                entry = (row, convert(row))
            entries[key] = entry
            out[key] = entry[1]
        self._entries = entries
        dirty.clear()
        return out

    def entries(self):
        """(IDL row, values) pairs as of the last ``values``."""
        return self._entries.values()


class _Mirror:
    """Plain copies of the watched rows, kept for the life of a connection.

    Each read of an IDL row's column converts its Datum afresh; converting
    every row for every snapshot was a third of the agent's CPU. The mirror
    converts a row once and again only after ``changed`` (the IDL's notify)
    named it. All calls run with the connection lock held."""

    def __init__(self):
        self._tables = {"Bridge": _TableCache(_bridge_values),
                        "Port": _TableCache(_port_values),
                        "Interface": _TableCache(_iface_values),
                        "Manager": _TableCache(_manager_values)}

    def changed(self, table: str, uuid) -> None:
        cache = self._tables.get(table)
        if cache is not None:
            cache.dirty.add(uuid.int)

    def _values(self, tables, table: str) -> dict:
        return self._tables[table].values(tables[table].rows)

    def rows_by_name(self, tables, table: str) -> dict:
        """name -> IDL row (the first of a name, as a scan would find it)."""
        cache = self._tables[table]
        cache.values(tables[table].rows)
        names = {}
        for row, values in cache.entries():
            names.setdefault(values[0], row)
        return names

    def snapshot(self, tables) -> Snapshot:
        ifaces = self._values(tables, "Interface")
        ports = self._values(tables, "Port")
        snap = Snapshot()
        for br_name, port_uuids, datapath_type, fail_mode, protocols, br_other in \
                self._values(tables, "Bridge").values():
            names = []
            for port_uuid in port_uuids:
                port = ports.get(port_uuid)
                if port is None:
                    continue
                name, iface_uuids, tag, other_config, vlan_mode, trunks = port
                names.append(name)
                iface = next((ifaces[u] for u in iface_uuids if u in ifaces), None)
                if iface is None:
                    row = PortRow(name=name, bridge=br_name, tag=tag,
                                  other_config=dict(other_config), vlan_mode=vlan_mode,
                                  trunks=trunks)
                else:
                    row = PortRow(name=name, bridge=br_name, type=iface[1],
                                  options=dict(iface[2]), external_ids=dict(iface[3]),
                                  tag=tag, other_config=dict(other_config), ofport=iface[4],
                                  vlan_mode=vlan_mode, trunks=trunks)
                snap.ports[name] = row
            snap.bridges[br_name] = BridgeRow(
                name=br_name, datapath_type=datapath_type, fail_mode=fail_mode,
                protocols=protocols, other_config=dict(br_other),
                ports=tuple(sorted(names)))
        snap.managers = sorted(v[0] for v in self._values(tables, "Manager").values())
        return snap
