"""The metadata service on a unix socket: who is asking, then what they get.

Each request must carry ``X-Forwarded-For`` (the instance's address, set by
the proxy) and ``X-Neutron-Router-ID`` or ``X-Neutron-Network-ID``. The
port is looked up with ``get_ports_for_metadata``; anything but exactly one
port is 404, so a missing or forged header never yields another instance's
data. The floating IP (``public-ipv4``) is looked up only for the paths
that show it: from the port dict when the server puts
``floating_ip_address`` there, else from the router's ``_floatingips`` in
``sync_routers`` (asked as ``host``, which must be the L3 agent's host:
that call also schedules routers nobody hosts yet).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from typing import Callable

from neutrino.agents.metadata.answers import Instance, answer, needs_public_ipv4

LOG = logging.getLogger(__name__)
MAX_REFUSED_BODY = 1 << 16

Call = Callable[..., object]


class Resolver:
    """Finds the asking instance through the server (``call(method, **kwargs)``)."""

    def __init__(self, call: Call, host: str):
        self.call = call
        self.host = host

    def instance(self, headers, public: bool = True) -> Instance | None:
        address = (headers.get("X-Forwarded-For") or "").strip()
        router_id = (headers.get("X-Neutron-Router-ID") or "").strip()
        network_id = (headers.get("X-Neutron-Network-ID") or "").strip()
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            return None
        if bool(router_id) == bool(network_id):
            return None
        key = {"router_id": router_id} if router_id else {"network_id": network_id}
        ports = self.call("get_ports_for_metadata", ip_address=address, **key) or []
        if len(ports) != 1:
            if len(ports) > 1:
                LOG.warning("%s on %s matches %d ports: refused", address, key, len(ports))
            return None
        port = ports[0]
        floating = port.get("floating_ip_address")
        if floating is None and public:
            floating = self._floating_ip(router_id, port["port_id"], address)
        return Instance(port_id=port["port_id"], device_id=port.get("device_id") or "",
                        project_id=port.get("project_id") or "",
                        network_id=port.get("network_id") or "",
                        name=port.get("name") or "", local_ipv4=address,
                        public_ipv4=floating)

    def _floating_ip(self, router_id: str, port_id: str, address: str) -> str | None:
        if not router_id:
            return None
        routers = self.call("sync_routers", host=self.host, router_ids=[router_id]) or []
        for router in routers:
            for fip in router.get("_floatingips") or []:
                if fip.get("port_id") == port_id and fip.get("fixed_ip_address") == address:
                    return fip.get("floating_ip_address")
        return None


class _Handler(BaseHTTPRequestHandler):
    server_version = "neutrino-metadata"
    resolver: Resolver

    def address_string(self) -> str:          # unix socket: no peer address
        return self.headers.get("X-Forwarded-For", "-") if self.headers else "-"

    def log_message(self, fmt, *args) -> None:
        LOG.info("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, ctype: str, body: bytes, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def _serve(self, head_only: bool) -> None:
        try:
            instance = self.server.resolver.instance(self.headers,
                                                     public=needs_public_ipv4(self.path))
        except Exception as exc:
            LOG.warning("metadata lookup failed: %s", exc)
            self._send(500, "text/plain", b"500 Internal Server Error\n", head_only)
            return
        if instance is None:
            self._send(404, "text/plain", b"404 Not Found\n", head_only)
            return
        self._send(*answer(self.path, instance), head_only=head_only)

    def do_GET(self) -> None:
        self._serve(False)

    def do_HEAD(self) -> None:
        self._serve(True)

    def _refuse(self) -> None:
        # Read the body first: closing with it unread can reset the
        # connection before the client has sent it, and it never sees the 405.
        try:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_REFUSED_BODY)
        except ValueError:
            length = 0
        if length > 0:
            self.rfile.read(length)
        self._send(405, "text/plain", b"405 Method Not Allowed\n")

    do_POST = do_PUT = do_DELETE = _refuse


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class MetadataService:
    """An HTTP server on ``socket_path``; ``start`` binds and serves in a thread."""

    def __init__(self, socket_path: str, resolver: Resolver):
        self.socket_path = socket_path
        self.resolver = resolver
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "MetadataService":
        os.makedirs(os.path.dirname(os.path.abspath(self.socket_path)), exist_ok=True)
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        self._server = _Server(self.socket_path, _Handler)
        self._server.resolver = self.resolver
        os.chmod(self.socket_path, 0o666)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="metadata-http")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            try:
                os.unlink(self.socket_path)
            except FileNotFoundError:
                pass
