"""One OVSDB transaction over the database's JSON-RPC socket, without an IDL.

For a process that writes a few rows and watches nothing: Nova's side of the
lab plug adds its qvo ports this way, as os-vif's native interface talks to
OVSDB instead of forking ``ovs-vsctl``. In a burst of 20 boots each
``ovs-vsctl`` fork cost ~11 ms of CPU and waited 40-200 ms for a core; an IDL
would download and then follow the whole database. The wire format is the
``ovs`` library's JSON-RPC (RFC 7047 ``transact``).
"""
from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field

from neutrino.errors import NeutrinoError

DATABASE = "Open_vSwitch"


class TransactError(NeutrinoError):
    """The database refused the transaction; ``index`` is the failed operation."""

    def __init__(self, message: str, index: int | None = None, error: str = ""):
        super().__init__(message)
        self.index = index
        self.error = error


def transact(sock_path: str, ops: list[dict], timeout: float = 10) -> list[dict]:
    """Run ``ops`` as one transaction on the ovsdb-server at ``sock_path``;
    returns the result of each operation. Raises TransactError naming the
    first operation that failed (the transaction then changed nothing)."""
    import ovs.jsonrpc
    import ovs.poller
    import ovs.stream

    error, stream = ovs.stream.Stream.open_block(
        ovs.stream.Stream.open(f"unix:{sock_path}"), int(timeout * 1000))
    if error:
        raise NeutrinoError(f"cannot reach OVSDB at {sock_path}: {_reason(error)}")
    rpc = ovs.jsonrpc.Connection(stream)
    try:
        request = ovs.jsonrpc.Message.create_request("transact", [DATABASE, *ops])
        error = rpc.send(request)
        deadline = time.monotonic() + timeout
        while not error:
            error, reply = rpc.recv()
            if error == errno.EAGAIN:
                error = 0
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NeutrinoError(f"OVSDB at {sock_path}: no answer in {timeout:g} s")
                rpc.run()
                poller = ovs.poller.Poller()
                rpc.wait(poller)
                rpc.recv_wait(poller)
                poller.timer_wait(int(left * 1000) + 1)
                poller.block()
                continue
            if reply is not None and reply.id == request.id:
                if reply.type == ovs.jsonrpc.Message.T_ERROR:
                    raise TransactError(f"OVSDB refused the transaction: {reply.error}")
                return _checked(reply.result, ops)
        raise NeutrinoError(f"OVSDB at {sock_path}: {_reason(error)}")
    finally:
        rpc.close()


def _checked(results: list, ops: list[dict]) -> list[dict]:
    for index, result in enumerate(results):
        if isinstance(result, dict) and "error" in result:
            what = ops[index]["op"] if index < len(ops) else "commit"
            details = f" ({result['details']})" if result.get("details") else ""
            raise TransactError(f"OVSDB {what} failed: {result['error']}{details}",
                                index, result["error"])
    return results


def _reason(error: int) -> str:
    """An ``ovs`` library error number in words (-1 is its end of file)."""
    return "connection closed" if error == -1 else errno.errorcode.get(error, str(error))


@dataclass(frozen=True)
class NewPort:
    """A port with one interface of the same name, for ``add_ports``."""
    name: str
    external_ids: dict = field(default_factory=dict)


def _ovs_map(values: dict) -> list:
    return ["map", [[k, str(v)] for k, v in sorted(values.items())]]


def add_ports(sock_path: str, bridge: str, ports: list[NewPort], timeout: float = 10) -> None:
    """Add ``ports`` to ``bridge`` in one transaction, like ``ovs-vsctl
    --no-wait --may-exist add-port`` with ``set Interface external_ids:...``:
    a port that exists keeps its rows and gets the given external_ids (unlike
    ovs-vsctl, a port of that name on another bridge is not an error).
    Does not wait for ovs-vswitchd (``next_cfg`` is left alone)."""
    ops: list[dict] = [_bridge_exists(bridge)]
    for i, port in enumerate(ports):
        ops += [_absent(port.name),
                {"op": "insert", "table": "Interface", "uuid-name": f"iface{i}",
                 "row": {"name": port.name, "external_ids": _ovs_map(port.external_ids)}},
                {"op": "insert", "table": "Port", "uuid-name": f"port{i}",
                 "row": {"name": port.name, "interfaces": ["named-uuid", f"iface{i}"]}},
                {"op": "mutate", "table": "Bridge", "where": [["name", "==", bridge]],
                 "mutations": [["ports", "insert", ["set", [["named-uuid", f"port{i}"]]]]]}]
    try:
        transact(sock_path, ops, timeout)
    except TransactError as exc:
        if exc.index == 0:
            raise NeutrinoError(f"no bridge named {bridge}") from None
        if exc.index is None or ops[exc.index].get("op") != "wait":
            raise
        if len(ports) > 1:         # one of them exists: each on its own
            for port in ports:
                add_ports(sock_path, bridge, [port], timeout)
            return
        _set_external_ids(sock_path, bridge, ports[0], timeout)


def _bridge_exists(bridge: str) -> dict:
    return {"op": "wait", "table": "Bridge", "where": [["name", "==", bridge]],
            "columns": ["name"], "until": "==", "rows": [{"name": bridge}], "timeout": 0}


def _absent(name: str) -> dict:
    return {"op": "wait", "table": "Port", "where": [["name", "==", name]],
            "columns": ["name"], "until": "==", "rows": [], "timeout": 0}


def _set_external_ids(sock_path: str, bridge: str, port: NewPort, timeout: float) -> None:
    """The ``--may-exist`` case: the port is there; its interface's
    external_ids get the given keys (others are kept)."""
    where = [["name", "==", port.name]]
    ops = [{"op": "wait", "table": "Port", "where": where, "columns": ["name"],
            "until": "!=", "rows": [], "timeout": 0}]
    if port.external_ids:
        ops.append({"op": "mutate", "table": "Interface", "where": where, "mutations": [
            ["external_ids", "delete", ["set", sorted(port.external_ids)]],
            ["external_ids", "insert", _ovs_map(port.external_ids)]]})
    transact(sock_path, ops, timeout)
